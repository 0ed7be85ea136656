#!/usr/bin/env node
// Build step 3 (after tsc): bundle the CLI into one file, dist/portcullis.js.
// Node resolves and compiles one module instead of a hundred; commands'
// heavy parts stay behind lazy require() calls, which esbuild keeps lazy.
'use strict';
const path = require('path');
const esbuild = require('esbuild');
const fs = require('fs');

const root = path.resolve(__dirname, '..');
esbuild
  .build({
    entryPoints: [path.join(root, 'src', 'bundle.ts')],
    outfile: path.join(root, 'dist', 'portcullis.js'),
    bundle: true,
    platform: 'node',
    target: 'node20',
    format: 'cjs',
    legalComments: 'none',
    minify: true,
    keepNames: false,
    // The bundle has precompiled templates and standalone validators: the
    // handlebars compiler and ajv itself are only fallbacks of the tsc
    // build, left out here (their require() is never reached).
    plugins: [
      {
        name: 'fallbacks-external',
        setup(build) {
          build.onResolve({ filter: /^(handlebars|ajv)$/ }, (args) => ({ path: args.path, external: true }));
        },
      },
      {
        // The built-in catalog, parsed and schema-checked now (with the tsc
        // build of the loader) instead of at every start.
        name: 'builtin-catalog',
        setup(build) {
          build.onResolve({ filter: /^portcullis:builtin-catalog$/ }, (args) => ({ path: args.path, namespace: 'portcullis' }));
          build.onLoad({ filter: /.*/, namespace: 'portcullis' }, () => {
            const { SourceText } = require(path.join(root, 'build', 'src', 'diagnostics.js'));
            const { parseYaml } = require(path.join(root, 'build', 'src', 'load', 'yaml.js'));
            const { validateCatalogShape } = require(path.join(root, 'build', 'src', 'load', 'validate.js'));
            const text = fs.readFileSync(path.join(root, 'catalog', 'thoughtspot.yaml'), 'utf8');
            const doc = parseYaml(new SourceText('catalog/thoughtspot.yaml', text));
            const problems = validateCatalogShape(doc);
            if (problems.length) throw new Error(`the built-in catalog is invalid: ${problems[0].message}`);
            return { contents: `module.exports = ${JSON.stringify({ text, doc: doc.snapshot() })};`, loader: 'js' };
          });
        },
      },
    ],
    logLevel: 'warning',
  })
  .then(() => {
    // V8 code cache for bin/portcullis.js: record what one real compile of
    // the example (all targets) parses and compiles.
    const { spawnSync } = require('child_process');
    const os = require('os');
    const cache = path.join(root, 'dist', 'portcullis.js.cache');
    fs.rmSync(cache, { force: true });
    const out = fs.mkdtempSync(path.join(os.tmpdir(), 'pc-cache-'));
    const r = spawnSync(
      process.execPath,
      [path.join(root, 'bin', 'portcullis.js'), 'compile', '--profile', path.join(root, 'fixtures', 'profiles', 'example.yaml'), '--target', 'all', '--out-dir', out],
      { env: { ...process.env, PORTCULLIS_WRITE_CODE_CACHE: cache }, encoding: 'utf8' },
    );
    fs.rmSync(out, { recursive: true, force: true });
    if (r.status !== 0) throw new Error(`code cache run failed: ${r.stderr}`);
  })
  .catch((e) => {
    console.error(e.message ?? e);
    process.exit(1);
  });
