// Parses the CLI's diagnostics from stderr:
//   FILE:LINE:COL: error: MESSAGE
//     LINE | source line
//          |     ^
//     hint: HINT
// and checks the quoted line and the caret against the file itself.
import * as fs from 'fs';
import * as path from 'path';
import * as assert from 'uvu/assert';
import { ROOT } from './cli';

export interface ParsedDiagnostic {
  file: string;
  line: number;
  col: number;
  level: string;
  message: string;
  /** The quoted source line, as printed. */
  source?: string;
  /** 1-based column of the caret under the quoted line. */
  caretCol?: number;
  hint?: string;
}

const HEAD = /^(.+?):(\d+):(\d+): (error|warning): (.*)$/;

export function parseDiagnostics(stderr: string): ParsedDiagnostic[] {
  const lines = stderr.split('\n');
  const out: ParsedDiagnostic[] = [];
  for (let i = 0; i < lines.length; i++) {
    const m = HEAD.exec(lines[i]);
    if (!m) continue;
    const d: ParsedDiagnostic = { file: m[1], line: Number(m[2]), col: Number(m[3]), level: m[4], message: m[5] };
    const src = /^  (\d+) \| (.*)$/.exec(lines[i + 1] ?? '');
    if (src && Number(src[1]) === d.line) {
      d.source = src[2];
      const caret = /^  +\| ([ \t]*)\^$/.exec(lines[i + 2] ?? '');
      if (caret) d.caretCol = caret[1].length + 1;
      i += caret ? 2 : 1;
    }
    const hint = /^  hint: (.*)$/.exec(lines[i + 1] ?? '');
    if (hint) {
      d.hint = hint[1];
      i++;
    }
    out.push(d);
  }
  return out;
}

/** Line `n` (1-based) of a file, without its line ending. */
export function fileLine(file: string, n: number): string {
  const text = fs.readFileSync(path.resolve(ROOT, file), 'utf8');
  return (text.split('\n')[n - 1] ?? '').replace(/\r$/, '');
}

/** The diagnostic quotes the right source line and puts the caret at its column. */
export function assertCaret(d: ParsedDiagnostic, file: string): void {
  assert.ok(d.source !== undefined, `no source line quoted for ${d.file}:${d.line}:${d.col}`);
  assert.is(d.source, fileLine(file, d.line), `quoted line of ${d.file}:${d.line}`);
  assert.is(d.caretCol, d.col, `caret column of ${d.file}:${d.line}:${d.col}`);
}

/** No JavaScript stack trace or internal error text leaked to the user. */
export function assertNoStack(stderr: string): void {
  assert.not.match(stderr, /^ {4}at /m, `stack trace in stderr:\n${stderr}`);
  assert.not.match(stderr, /\b(TypeError|ReferenceError|RangeError|SyntaxError|ENOTDIR|EISDIR|EACCES)\b/, `internal error in stderr:\n${stderr}`);
  assert.not.match(stderr, /node:internal|Node\.js v\d/, `node crash output in stderr:\n${stderr}`);
}
