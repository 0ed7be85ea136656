#!/usr/bin/env node
// Moved: the listener is src/verify/listener.ts (built to
// build/src/verify/listener.js); this path keeps working for old callers.
'use strict';
require('../../build/src/verify/listener.js').main(process.argv.slice(2));
