// Diagnostics: every user-facing error carries a file position, is printed as
// `FILE:LINE:COL: error: MESSAGE`, then the source line with a caret, then a
// hint. User errors are values (CompileError), never stack traces.
//
// Input text in a diagnostic is hostile until shown otherwise: values are
// quoted through quoteText()/describeValue() (bounded), every message and
// hint is capped where it is made and again where it is printed, and what
// reaches the terminal has its control and bidi characters quoted visibly.

import { visibleLine } from './terminal';

export interface Position {
  line: number; // 1-based
  col: number; // 1-based
}

export interface Diagnostic {
  level: 'error' | 'warning';
  file: string;
  pos?: Position;
  message: string;
  hint?: string;
  /** The source line the position points into, for the caret display. */
  sourceLine?: string;
  /** This many further errors follow that were counted but not listed (a
   * loader stops describing them after a few hundred). */
  more?: number;
}

/** How many errors the diagnostics stand for (listed and counted). */
export function errorCount(ds: Diagnostic[]): number {
  let n = 0;
  for (const d of ds) if (d.level === 'error') n += 1 + (d.more ?? 0);
  return n;
}

/** Longest message or hint kept, in characters. */
export const MAX_MESSAGE = 600;
/** How many diagnostics formatDiagnostics() prints before "N more". */
export const MAX_PRINTED = 50;

/** Thrown for bad input; carries every diagnostic found. */
export class CompileError extends Error {
  constructor(readonly diagnostics: Diagnostic[]) {
    // The Error's own text (for a library caller's log): the first few only.
    const head = diagnostics.slice(0, 10).map((d) => `${d.file}:${d.pos?.line ?? 0}:${d.pos?.col ?? 0}: ${d.message}`);
    if (diagnostics.length > 10) head.push(`… and ${diagnostics.length - 10} more`);
    super(head.join('\n'));
    this.name = 'CompileError';
  }
}

/** `text` cut to at most `max` characters (not inside a surrogate pair),
 * "…" marking the cut. */
export function clip(text: string, max = MAX_MESSAGE): string {
  if (text.length <= max) return text;
  let end = max - 1;
  const c = text.charCodeAt(end - 1);
  if (c >= 0xd800 && c <= 0xdbff) end--;
  return text.slice(0, end) + '…';
}

/** A string from input, for a message: in double quotes, escaped as JSON and
 * with control and bidi characters quoted, cut to `max` characters with its
 * full length said. The one way input text enters a message. */
export function quoteText(text: string, max = 60): string {
  if (text.length <= max) return visibleLine(JSON.stringify(text));
  const cut = clip(text, max);
  return `${visibleLine(JSON.stringify(cut.slice(0, -1)).slice(0, -1))}…" (${text.length} characters)`;
}

/** A name from input (a key, a group), for a message: in single quotes,
 * cut to `max` characters, control and bidi characters quoted. */
export function quoteName(name: string, max = 60): string {
  return `'${visibleLine(clip(name, max))}'`;
}

/** What a value is, for "must be X, not ...": bounded whatever the value. */
export function describeValue(value: unknown): string {
  if (value === undefined) return 'empty';
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'a list';
  if (typeof value === 'object') return 'a mapping';
  if (typeof value === 'string') return `string ${quoteText(value)}`;
  return `${typeof value} ${clip(String(value), 40)}`;
}

/** A loaded text with its path, kept so diagnostics can quote lines. */
export class SourceText {
  private lineStarts: number[] | undefined;
  readonly text: string;
  constructor(
    readonly path: string,
    text: string,
  ) {
    // A byte order mark is not a column (and js-yaml drops it before
    // counting offsets).
    this.text = text.charCodeAt(0) === 0xfeff ? text.slice(1) : text;
  }

  private starts(): number[] {
    if (!this.lineStarts) {
      const s = [0];
      for (let i = this.text.indexOf('\n'); i >= 0; i = this.text.indexOf('\n', i + 1)) s.push(i + 1);
      this.lineStarts = s;
    }
    return this.lineStarts;
  }

  positionAt(offset: number): Position {
    const s = this.starts();
    let lo = 0;
    let hi = s.length - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if (s[mid] <= offset) lo = mid;
      else hi = mid - 1;
    }
    return { line: lo + 1, col: offset - s[lo] + 1 };
  }

  /** Offset of a position (the inverse of positionAt). */
  offsetAt(pos: Position): number {
    const s = this.starts();
    return Math.min((s[pos.line - 1] ?? this.text.length) + pos.col - 1, this.text.length);
  }

  lineText(line: number): string {
    const s = this.starts();
    const start = s[line - 1] ?? this.text.length;
    let end = line < s.length ? s[line] - 1 : this.text.length;
    if (end > start && this.text.charCodeAt(end - 1) === 13) end--;
    return this.text.slice(start, end);
  }

  diagnostic(pos: Position | undefined, message: string, hint?: string): Diagnostic {
    return {
      level: 'error',
      file: this.path,
      pos,
      message: clip(message),
      hint: hint === undefined ? undefined : clip(hint),
      sourceLine: pos ? this.lineText(pos.line) : undefined,
    };
  }
}

/** By position, keeping the order of equal positions; duplicates dropped. */
export function sortDiagnostics(ds: Diagnostic[]): Diagnostic[] {
  const seen = new Set<string>();
  return ds
    .map((d, i) => ({ d, i }))
    .sort((a, b) => (a.d.pos?.line ?? 0) - (b.d.pos?.line ?? 0) || (a.d.pos?.col ?? 0) - (b.d.pos?.col ?? 0) || a.i - b.i)
    .map((x) => x.d)
    .filter((d) => {
      const key = `${d.pos?.line}:${d.pos?.col}:${d.message}`;
      return !seen.has(key) && !!seen.add(key);
    });
}

export function formatDiagnostic(d: Diagnostic): string {
  const file = visibleLine(d.file);
  const where = d.pos ? `${file}:${d.pos.line}:${d.pos.col}` : file;
  const lines = [`${where}: ${d.level}: ${visibleLine(clip(d.message))}`];
  if (d.pos && d.sourceLine !== undefined) {
    const gutter = String(d.pos.line);
    // A long line (a flow list of thousands of addresses) is shown as a
    // window around the caret, marked with "…" where it is cut.
    const LONG = 240;
    const WIDTH = 160;
    let text = d.sourceLine;
    let col = Math.max(0, Math.min(d.pos.col - 1, text.length));
    let before = '';
    let after = '';
    if (text.length > LONG) {
      const start = Math.max(0, Math.min(col - 60, text.length - WIDTH));
      before = start > 0 ? '…' : '';
      after = start + WIDTH < text.length ? '…' : '';
      text = text.slice(start, start + WIDTH);
      col -= start;
    }
    // Control and bidi characters are quoted (one becomes several: the
    // caret is placed under the quoted text); tabs are kept so the caret
    // lines up under the same columns.
    const show = (s: string) => s.split('\t').map(visibleLine).join('\t');
    const head = before + show(text.slice(0, col));
    const pad = head.replace(/[^\t]/g, ' ');
    lines.push(`  ${gutter} | ${head}${show(text.slice(col))}${after}`);
    lines.push(`  ${' '.repeat(gutter.length)} | ${pad}^`);
  }
  if (d.hint) lines.push(`  hint: ${visibleLine(clip(d.hint))}`);
  return lines.join('\n');
}

/** The diagnostics as printed: the first `max`, then a line saying how
 * many more there are. */
export function formatDiagnostics(ds: Diagnostic[], max = MAX_PRINTED): string {
  const shown = ds.slice(0, max).map(formatDiagnostic);
  const hidden = errorCount(ds) - errorCount(ds.slice(0, max)) + ds.slice(max).filter((d) => d.level !== 'error').length;
  if (hidden > 0) shown.push(`… and ${hidden} more not shown`);
  return shown.join('\n');
}

/** Levenshtein distance, for "did you mean" hints. */
function distance(a: string, b: string): number {
  const prev = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i++) {
    let diag = prev[0];
    prev[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const tmp = prev[j];
      prev[j] = Math.min(prev[j] + 1, prev[j - 1] + 1, diag + (a[i - 1] === b[j - 1] ? 0 : 1));
      diag = tmp;
    }
  }
  return prev[b.length];
}

export function didYouMean(word: string, candidates: Iterable<string>): string | undefined {
  // Names are short; a long word is like none of them (and would be slow).
  if (word.length > 64) return undefined;
  let best: string | undefined;
  let bestD = Infinity;
  for (const c of candidates) {
    const d = distance(word.toLowerCase(), c.toLowerCase());
    if (d < bestD) {
      bestD = d;
      best = c;
    }
  }
  if (best === undefined) return undefined;
  return bestD <= Math.max(2, Math.floor(word.length / 3)) ? best : undefined;
}

export function knownList(candidates: Iterable<string>): string {
  return [...candidates].map((c) => `'${c}'`).join(', ');
}

export function suggestion(word: string, candidates: string[]): string {
  const m = didYouMean(word, candidates);
  return m ? `did you mean '${m}'? (known: ${knownList(candidates)})` : `known: ${knownList(candidates)}`;
}
