#!/usr/bin/env node
// Moved: the prober is src/verify/prober.ts (built to
// build/src/verify/prober.js); this path keeps working for old callers.
'use strict';
require('../../build/src/verify/prober.js').main(process.argv.slice(2));
