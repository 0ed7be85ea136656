// Where the package's own files are: found by walking up from this module,
// so the same code works from build/src/ (tsc) and from dist/ (the bundle).

import * as fs from 'fs';
import * as path from 'path';

let root: string | undefined;

export function packageRoot(): string {
  if (root) return root;
  let dir = __dirname;
  for (;;) {
    if (fs.existsSync(path.join(dir, 'catalog', 'thoughtspot.yaml')) && fs.existsSync(path.join(dir, 'package.json'))) return (root = dir);
    const up = path.dirname(dir);
    if (up === dir) throw new Error(`internal: cannot find the portcullis package root above ${__dirname}`);
    dir = up;
  }
}

export function packagePath(...parts: string[]): string {
  return path.join(packageRoot(), ...parts);
}
