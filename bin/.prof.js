#!/usr/bin/env node
'use strict';
// Runs the bundled CLI (dist/portcullis.js, from `npm run build`) with V8's
// code cache made at build time (dist/portcullis.js.cache), so start-up
// skips most parsing and compiling; V8 rejects a cache that does not match
// the source or this node, and then simply compiles. Falls back to the
// plain tsc build when there is no bundle.
const fs = require('fs');
const path = require('path');
const bundle = path.join(__dirname, '..', 'dist-prof', 'portcullis.js');
if (!fs.existsSync(bundle)) {
  const workers = require('../build/src/compile-workers.js');
  if (workers.isCompileWorker()) workers.runCompileShare();
  else process.exitCode = require('../build/src/cli.js').main(process.argv.slice(2));
} else {
  const vm = require('vm');
  const Module = require('module');
  const cacheFile = `${bundle}.cache`;
  let cachedData;
  try {
    cachedData = fs.readFileSync(cacheFile);
  } catch {
    cachedData = undefined;
  }
  const script = new vm.Script(Module.wrap(fs.readFileSync(bundle, 'utf8')), { filename: bundle, cachedData });
  const mod = { exports: {}, filename: bundle, id: bundle, loaded: false };
  script.runInThisContext()(mod.exports, Module.createRequire(bundle), mod, bundle, path.dirname(bundle));
  // The build runs one compile with this set, to record what it compiled.
  if (process.env.PORTCULLIS_WRITE_CODE_CACHE === cacheFile && require('worker_threads').isMainThread) {
    process.on('exit', () => fs.writeFileSync(cacheFile, script.createCachedData()));
  }
}
