// A small, deterministic YAML writer for catalogs, in the style of the
// built-in catalog: top-level blocks, short values in flow style, strings
// double-quoted, identifiers plain, comments one line each.
//
// Every text may come from a hostile input, so a string is always a complete
// double-quoted scalar on one line, and a comment never holds a line break:
// YAML breaks lines at LF and CR (YAML 1.1 readers also at U+0085, U+2028
// and U+2029), and a comment ends at the first of them.

const RESERVED = new Set(['true', 'false', 'null', 'yes', 'no', 'on', 'off', 'y', 'n']);

/** Characters written as \uXXXX inside a double-quoted string, beyond the C0
 * controls JSON already escapes: DEL and C1 (U+0085 among them), the line
 * and paragraph separators, bidi controls (so the file reads in an editor as
 * it loads), the BOM and the non-characters YAML does not allow. */
// eslint-disable-next-line no-control-regex
const ESCAPE_IN_STRING = /[\u007f-\u009f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069\ufeff\ufffe\uffff]/g;

const hex4 = (c: string) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`;

/** Any string as a YAML double-quoted scalar on one line. JSON's escapes are
 * YAML's (JSON.stringify also escapes lone surrogates); the rest are added. */
export function quoted(s: string): string {
  return JSON.stringify(s).replace(ESCAPE_IN_STRING, hex4);
}

export function scalar(v: unknown): string {
  if (typeof v === 'number') {
    if (Number.isNaN(v)) return '.nan';
    if (!Number.isFinite(v)) return v > 0 ? '.inf' : '-.inf';
    return String(v);
  }
  if (typeof v === 'boolean') return String(v);
  if (v === null || v === undefined) return 'null';
  const s = String(v);
  if (/^[A-Za-z][A-Za-z0-9_./-]*$/.test(s) && !RESERVED.has(s.toLowerCase())) return s;
  return quoted(s);
}

export function key(k: string): string {
  return /^[A-Za-z_][A-Za-z0-9_]*$/.test(k) && !RESERVED.has(k.toLowerCase()) ? k : quoted(k);
}

export function flow(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map(flow).join(', ')}]`;
  if (v !== null && typeof v === 'object') {
    const e = Object.entries(v as Record<string, unknown>).filter(([, x]) => x !== undefined);
    return e.length ? `{ ${e.map(([k, x]) => `${key(k)}: ${flow(x)}`).join(', ')} }` : '{}';
  }
  return scalar(v);
}

/** A mapping of mappings, one level of block style: `name:\n  k: v`. */
export function blockOfBlocks(name: string, value: Record<string, Record<string, unknown>>, order: string[]): string[] {
  const out = [`${name}:`];
  for (const [k, inner] of Object.entries(value)) {
    if (!Object.values(inner).some((x) => x !== undefined)) {
      out.push(`  ${key(k)}: {}`);
      continue;
    }
    out.push(`  ${key(k)}:`);
    const keys = [...order.filter((o) => o in inner), ...Object.keys(inner).filter((o) => !order.includes(o))];
    for (const ik of keys) if (inner[ik] !== undefined) out.push(`    ${key(ik)}: ${flow(inner[ik])}`);
  }
  return out;
}

// ---- comments ---------------------------------------------------------------

/** Longest comment line written, indentation included. */
export const COMMENT_WIDTH = 160;
/** Lines one comment may take; the rest of a longer text is cut ("…"). */
export const COMMENT_LINES = 4;

// Line breaks of any YAML version, tabs, VT and FF become a space.
const SPACES = /\r\n|[\t\n\r\u000b\u000c\u0085\u2028\u2029]/g;
// Then every other control, bidi mark, BOM, non-character or lone surrogate
// is written visibly as \xNN or \uNNNN.
// eslint-disable-next-line no-control-regex
const UNSAFE_IN_COMMENT = /[\u0000-\u0008\u000e-\u001f\u007f-\u009f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069\ufeff\ufffe\uffff]|[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/g;

/** A text as it may stand in a comment: one line, nothing invisible. */
export function commentText(text: string): string {
  return text.replace(SPACES, ' ').replace(UNSAFE_IN_COMMENT, (c) => {
    const code = c.charCodeAt(0);
    return code <= 0xff ? `\\x${code.toString(16).padStart(2, '0')}` : hex4(c);
  });
}

/** `text` as comment lines `INDENT# ...`: one line when it fits, else
 * wrapped at spaces (or cut between characters) into at most COMMENT_LINES
 * lines of at most COMMENT_WIDTH characters. `lead` is what follows `#`
 * (' ' normally; '' keeps a base catalog's own comment text as it was). */
export function comment(text: string, indent = '', lead = ' '): string[] {
  let rest = commentText(text);
  const lines: string[] = [];
  for (;;) {
    const first = !lines.length;
    const pre = `${indent}#${first ? lead : ' '}`;
    const room = COMMENT_WIDTH - pre.length;
    if (rest.length <= room || lines.length === COMMENT_LINES - 1) {
      if (rest.length > room) rest = rest.slice(0, splitPoint(rest, room - 1)).trimEnd() + '…';
      lines.push(rest ? pre + rest : `${indent}#`);
      return lines;
    }
    let cut = rest.lastIndexOf(' ', room);
    if (cut <= 0) cut = splitPoint(rest, room);
    lines.push(pre + rest.slice(0, cut).trimEnd());
    rest = rest.slice(cut).trimStart();
  }
}

/** An index at most `n` that does not split a surrogate pair. */
function splitPoint(s: string, n: number): number {
  const c = s.charCodeAt(n - 1);
  return c >= 0xd800 && c <= 0xdbff ? n - 1 : n;
}
