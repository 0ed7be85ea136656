// Reading inputs named on the command line: a file, or a git object
// `REV:PATH` (as `git show` takes it), so a PR job can compare with main.

import { spawnSync } from 'child_process';
import * as fs from 'fs';
import type { InputText } from './compile';

export class InputError extends Error {}

export function readSpec(spec: string): InputText {
  if (fs.existsSync(spec) || !/^[^:]+:.+$/.test(spec)) return readFile(spec);
  const r = spawnSync('git', ['show', spec], { encoding: 'utf8', maxBuffer: 256 * 1024 * 1024 });
  if (r.error) throw new InputError(`${spec}: error: cannot run git to read it: ${r.error.message}`);
  if (r.status !== 0) throw new InputError(`${spec}: error: not a file, and git cannot read it as REV:PATH: ${r.stderr.trim().split('\n')[0]}`);
  return { path: spec, text: r.stdout };
}

export function readFile(file: string): InputText {
  try {
    return { path: file, text: fs.readFileSync(file, 'utf8') };
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw new InputError(`${file}: error: cannot read file${code === 'ENOENT' ? ': no such file' : code === 'EISDIR' ? ': it is a directory' : `: ${code}`}`);
  }
}
