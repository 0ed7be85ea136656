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

/** Line `n` (1-based) of a file, without its line ending (or a BOM). */
export function fileLine(file: string, n: number): string {
  const text = fs.readFileSync(path.resolve(ROOT, file), 'utf8').replace(/^\uFEFF/, '');
  return (text.split('\n')[n - 1] ?? '').replace(/\r$/, '');
}

/** Characters that must never reach a terminal raw from input: C0 controls
 * (tab and newline aside), DEL, C1 controls, bidi marks, overrides and
 * isolates, line and paragraph separators. */
// eslint-disable-next-line no-control-regex
const RAW_UNSAFE = /[\u0000-\u0008\u000b-\u001f\u007f-\u009f\u061c\u200e\u200f\u202a-\u202e\u2028\u2029\u2066-\u2069]/;

/** How a source line must be shown: each unsafe character as \xNN (up to
 * 0xff) or \uNNNN, tabs kept. */
export function shownLine(raw: string): string {
  let out = '';
  for (const c of raw) {
    const code = c.charCodeAt(0);
    out += c.length === 1 && RAW_UNSAFE.test(c) ? (code <= 0xff ? `\\x${code.toString(16).padStart(2, '0')}` : `\\u${code.toString(16).padStart(4, '0')}`) : c;
  }
  return out;
}

/** The diagnostic quotes the right source line (control characters shown
 * quoted) and puts the caret under its column. */
export function assertCaret(d: ParsedDiagnostic, file: string): void {
  assert.ok(d.source !== undefined, `no source line quoted for ${d.file}:${d.line}:${d.col}`);
  let raw = fileLine(file, d.line);
  let col = d.col - 1;
  // Lines over 240 characters are quoted as a 160-character window that
  // starts 60 before the caret (or ends at the line's end), "…" where cut.
  let before = '';
  let after = '';
  if (raw.length > 240) {
    const start = Math.max(0, Math.min(col - 60, raw.length - 160));
    before = start > 0 ? '…' : '';
    after = start + 160 < raw.length ? '…' : '';
    raw = raw.slice(start, start + 160);
    col -= start;
  }
  assert.is(d.source, before + shownLine(raw) + after, `quoted line of ${d.file}:${d.line}`);
  assert.is(d.caretCol, (before + shownLine(raw.slice(0, col))).length + 1, `caret column of ${d.file}:${d.line}:${d.col}`);
}

/** Nothing unsafe for a terminal in the output, anywhere. */
export function assertTerminalSafe(out: string): void {
  const m = RAW_UNSAFE.exec(out);
  assert.ok(!m, `raw control or bidi character U+${m?.[0].charCodeAt(0).toString(16).padStart(4, '0')} in output:\n${out.slice(0, 2000)}`);
}

/** No JavaScript stack trace or internal error text leaked to the user. */
export function assertNoStack(stderr: string): void {
  assert.not.match(stderr, /^ {4}at /m, `stack trace in stderr:\n${stderr}`);
  assert.not.match(stderr, /\b(TypeError|ReferenceError|RangeError|SyntaxError|ENOTDIR|EISDIR|EACCES)\b/, `internal error in stderr:\n${stderr}`);
  assert.not.match(stderr, /node:internal|Node\.js v\d/, `node crash output in stderr:\n${stderr}`);
}
