// Entry point of the bundled CLI (dist/portcullis.js, built by
// tools/bundle.js): the same CLI, with templates precompiled at build time.
import { usePrecompiledTemplates } from './backends/base';
import { main } from './cli';
import { precompiled } from './generated/templates';

usePrecompiledTemplates(precompiled);
process.exitCode = main(process.argv.slice(2));
