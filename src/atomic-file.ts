// Writing one file all or nothing (a temporary file beside it, renamed over
// it), so a failed write never leaves a truncated file: the catalog that
// `catalog import` writes, the page `report -o` writes.

import * as fs from 'fs';
import * as path from 'path';
import { visibleLine } from './terminal';

/** `what` names the file in the error: "the catalog", "the report". */
export function writeFileAtomic(file: string, text: string, what: string): void {
  const dir = path.dirname(path.resolve(file));
  const tmp = path.join(dir, `.${path.basename(file)}.${process.pid}.tmp`);
  try {
    fs.writeFileSync(tmp, text);
    fs.renameSync(tmp, file);
  } catch (e) {
    try {
      fs.rmSync(tmp, { force: true });
    } catch {
      // nothing to clean
    }
    const code = (e as NodeJS.ErrnoException).code ?? String(e);
    throw new Error(`${visibleLine(file)}: error: cannot write ${what}: ${code}`);
  }
}
