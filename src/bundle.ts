// Entry point of the bundled CLI (dist/portcullis.js, built by
// tools/bundle.js): the same CLI, with templates precompiled at build time.
// verify runs its listener and prober as child processes of this same file,
// marked by their role argument.
import { usePrecompiledTemplates } from './targets/base';
import { main } from './cli';
import { precompiled } from './generated/templates';

const role = process.argv[2];
if (role === '--portcullis-role=listener') {
  (require('./verify/listener') as typeof import('./verify/listener')).main(process.argv.slice(3));
} else if (role === '--portcullis-role=prober') {
  (require('./verify/prober') as typeof import('./verify/prober')).main(process.argv.slice(3));
} else {
  usePrecompiledTemplates(precompiled);
  process.exitCode = main(process.argv.slice(2));
}
