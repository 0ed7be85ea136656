// Writing the imported catalog: all or nothing (a temporary file renamed
// over the target), so a failed write never leaves a truncated catalog.

import * as fs from 'fs';
import * as path from 'path';
import { visibleLine } from '../terminal';

export function writeFileAtomic(file: string, text: string): void {
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
    throw new Error(`${visibleLine(file)}: error: cannot write the catalog: ${code}`);
  }
}
