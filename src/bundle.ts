// Entry point of the bundled CLI (dist/portcullis.js, built by
// tools/bundle.js): the same CLI, with templates precompiled at build time.
// verify runs its listener and prober as child processes of this same file,
// marked by their role argument; compile's worker threads run it too.
import { usePrecompiledTemplates } from './targets/base';
import { main } from './cli';
import { isCompileWorker, runCompileShare } from './compile-workers';
import { precompiled } from './generated/templates';

const role = process.argv[2];
if (isCompileWorker()) {
  usePrecompiledTemplates(precompiled);
  runCompileShare();
} else if (role === '--portcullis-role=listener') {
  (require('./verify/listener') as typeof import('./verify/listener')).main(process.argv.slice(3));
} else if (role === '--portcullis-role=prober') {
  (require('./verify/prober') as typeof import('./verify/prober')).main(process.argv.slice(3));
} else {
  usePrecompiledTemplates(precompiled);
  process.exitCode = main(process.argv.slice(2));
}
