// Diagnostics: every user-facing error carries a file position, is printed as
// `FILE:LINE:COL: error: MESSAGE`, then the source line with a caret, then a
// hint. User errors are values (CompileError), never stack traces.

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
}

/** Thrown for bad input; carries every diagnostic found. */
export class CompileError extends Error {
  constructor(readonly diagnostics: Diagnostic[]) {
    super(diagnostics.map((d) => `${d.file}:${d.pos?.line ?? 0}:${d.pos?.col ?? 0}: ${d.message}`).join('\n'));
    this.name = 'CompileError';
  }
}

/** A loaded text with its path, kept so diagnostics can quote lines. */
export class SourceText {
  private lineStarts: number[] | undefined;
  constructor(
    readonly path: string,
    readonly text: string,
  ) {}

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

  lineText(line: number): string {
    const s = this.starts();
    const start = s[line - 1] ?? this.text.length;
    const end = line < s.length ? s[line] - 1 : this.text.length;
    return this.text.slice(start, end).replace(/\r$/, '');
  }

  diagnostic(pos: Position | undefined, message: string, hint?: string): Diagnostic {
    return {
      level: 'error',
      file: this.path,
      pos,
      message,
      hint,
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
  const where = d.pos ? `${d.file}:${d.pos.line}:${d.pos.col}` : d.file;
  const lines = [`${where}: ${d.level}: ${d.message}`];
  if (d.pos && d.sourceLine !== undefined) {
    const gutter = String(d.pos.line);
    // A long line (a flow list of thousands of addresses) is shown as a
    // window around the caret, marked with "…" where it is cut.
    const LONG = 240;
    const WIDTH = 160;
    let text = d.sourceLine;
    let col = d.pos.col - 1;
    if (text.length > LONG) {
      const start = Math.max(0, Math.min(col - 60, text.length - WIDTH));
      const cut = text.slice(start, start + WIDTH);
      text = (start > 0 ? '…' : '') + cut + (start + WIDTH < d.sourceLine.length ? '…' : '');
      col = col - start + (start > 0 ? 1 : 0);
    }
    // Tabs are kept so the caret lines up under the same columns.
    const pad = text.slice(0, col).replace(/[^\t]/g, ' ');
    lines.push(`  ${gutter} | ${text}`);
    lines.push(`  ${' '.repeat(gutter.length)} | ${pad}^`);
  }
  if (d.hint) lines.push(`  hint: ${d.hint}`);
  return lines.join('\n');
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
