#!/usr/bin/env node
// Build step 3 (after tsc): bundle the CLI into one file, dist/portcullis.js.
// Node resolves and compiles one module instead of a hundred; commands'
// heavy parts stay behind lazy require() calls, which esbuild keeps lazy.
'use strict';
const path = require('path');
const esbuild = require('esbuild');

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
    ],
    logLevel: 'warning',
  })
  .catch(() => process.exit(1));
