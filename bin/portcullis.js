#!/usr/bin/env node
'use strict';
// The bundled CLI (npm run build); the plain tsc build if it is absent.
const fs = require('fs');
const path = require('path');
const bundle = path.join(__dirname, '..', 'dist', 'portcullis.js');
if (fs.existsSync(bundle)) require(bundle);
else process.exitCode = require('../build/src/cli.js').main(process.argv.slice(2));
