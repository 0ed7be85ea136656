// Long lists of address-like scalars, read by a scan rather than by js-yaml.
// A profile of 10,000 nodes is mostly three such lists, and js-yaml, cold at
// start-up, spends longer on them than a compile spends on anything else.
//
// The scan accepts only a strict subset whose meaning is certain: items that
// are quoted without escapes, or plain and unable to resolve to anything but
// a string, in a flow list `[a, b]` or a block list of `- a` lines. Each list
// is replaced in the text by an empty flow list `[ ]` padded with spaces, so
// every other offset stays where it was. parseYaml (yaml.ts) parses that
// masked text and keeps the result only if js-yaml read every `[ ]` as a
// value at that offset; otherwise, or on any error, it parses the original
// text. A document reads the same, with the same positions and errors,
// either way. Whole lists are matched by regular expressions (compiled code
// from the first run, where a loop over characters is interpreted).

/** Fewer items than this are left to js-yaml: nothing to gain. */
export const MIN_SCANNED_ITEMS = 32;

export interface ScannedList {
  /** Offset of the masked list's `[`: the original's `[`, or its first `-`. */
  open: number;
  /** The text the list's items are in. */
  from: number;
  to: number;
  values: string[];
}

export interface MaskedText {
  text: string;
  lists: ScannedList[];
}

// Items: hex digits, '.', ':' and '/' (addresses and CIDRs). A plain item
// must not start with '.' or '/' (no '...' document marker) nor end in ':'
// (a key), and holds ':' or '/' or two dots, which no null, bool, int or
// float of the loader's schema does: it can only be a string.
const C = '0-9A-Fa-f.:/';
const PLAIN = `(?![./])(?=[${C}]*?(?:[:/]|\\.[${C}]*?\\.))[${C}]*[0-9A-Fa-f./]`;
const ITEM = `(?:"[${C}]+"|'[${C}]+'|${PLAIN})`;
/** Inside a flow list: spaces, line breaks, and comments after either (a
 * comment only as a whole line's rest: no shorter reading to backtrack to). */
const FLOW_SPACE = '(?:[ \\r\\n]|(?<=[ \\r\\n])#[^\\r\\n]*(?![^\\r\\n]))*';
const FLOW_LIST = new RegExp(`\\[${FLOW_SPACE}${ITEM}(?:${FLOW_SPACE},${FLOW_SPACE}${ITEM})*${FLOW_SPACE}(?:,${FLOW_SPACE})?\\]`, 'y');
/** `- item` lines at n spaces, with blank and comment lines between and after. */
const blockRun = (n: number) => new RegExp(`(?: {${n}}- +${ITEM}(?: +#[^\\r\\n]*| *)(?:\\r?\\n(?: *(?:#[^\\r\\n]*)?\\r?\\n)*|$))+`, 'y');
const BLOCK_RUNS = new Map<number, RegExp>();
/** What is left of a checked list once comments are gone: its values, and its separators. */
const VALUE = /[^ \r\n,"'#[\]-]+/g;
const COMMENT = /#[^\r\n]*/g;
/** An item with its opening quote, or a comment (to step over). */
const ITEM_START = /#[^\r\n]*|["']?[0-9A-Fa-f.:/]+/g;

/** `key:` alone on its line, after any `- ` marks: a plain word or a quoted key. */
const KEY_LINE = /^ *(?:- +)*(?:[A-Za-z0-9_][A-Za-z0-9_.-]*|"[^"\\\r\n]*"|'[^'\r\n]*') *: *$/;

/** A line after which a more indented list is its value: `key:` or `-`
 * marks alone. (After an anchor or a tag, js-yaml places a block list
 * elsewhere than a flow list.) */
const OPENS_LIST = /^(?: *-)+ *$|: *$/;

const SPACE = 32;
const DASH = 45;

function valuesIn(text: string, from: number, to: number): string[] {
  let region = text.slice(from, to);
  if (region.includes('#')) region = region.replace(COMMENT, '');
  return region.match(VALUE) ?? [];
}

/** Offset of each item of a list (its opening quote, if quoted): asked for
 * only when a position is. */
export function itemStarts(text: string, list: ScannedList): number[] {
  const starts: number[] = [];
  ITEM_START.lastIndex = list.from;
  for (let m = ITEM_START.exec(text); m && m.index < list.to; m = ITEM_START.exec(text)) {
    if (m[0].charCodeAt(0) !== 35 /* # */) starts.push(m.index);
  }
  return starts;
}

function indentOf(text: string, s: number): number {
  let i = s;
  while (text.charCodeAt(i) === SPACE) i++;
  return i - s;
}

/** End of the line starting at s: its line break, or the end of the text. */
function lineEnd(text: string, s: number): number {
  const n = text.indexOf('\n', s);
  const e = n < 0 ? text.length : n;
  return e > s && text.charCodeAt(e - 1) === 13 /* \r */ ? e - 1 : e;
}

function nextLine(text: string, s: number): number {
  const n = text.indexOf('\n', s);
  return n < 0 ? text.length : n + 1;
}

function isBlankOrComment(text: string, s: number, e: number): boolean {
  const i = s + indentOf(text, s);
  return i >= e || text.charCodeAt(i) === 35 /* # */;
}

/** Column of a line's content past its `- ` entry marks (of `key` in `- - key:`). */
function contentColumn(text: string, s: number): number {
  let i = s + indentOf(text, s);
  while (text.charCodeAt(i) === DASH && text.charCodeAt(i + 1) === SPACE) i += 2 + indentOf(text, i + 2);
  return i - s;
}

/**
 * The run of `- item` lines from the line at s (indented n): the list, where
 * the run ends (after trailing blank and comment lines), and whether it is
 * the compact form (`key:` at the indentation of the `-` lines), whose mask
 * joins the list onto the key's line. Otherwise the line before must be less
 * indented, and end in `:` or be `-` marks alone. The line after the run must end the list in YAML too: less
 * indented, or in the compact form the parent's next key.
 */
function scanBlock(text: string, s: number, n: number, prevLineStart: number): { list: ScannedList; end: number; compact: boolean } | undefined {
  let compact = false;
  if (prevLineStart >= 0) {
    const prev = text.slice(prevLineStart, lineEnd(text, prevLineStart));
    const column = contentColumn(text, prevLineStart);
    if (column === n) compact = KEY_LINE.test(prev);
    if (column > n || (column === n && !compact) || !OPENS_LIST.test(prev)) return undefined;
  }
  let run = BLOCK_RUNS.get(n);
  if (!run) BLOCK_RUNS.set(n, (run = blockRun(n)));
  run.lastIndex = s;
  if (!run.test(text)) return undefined;
  const end = run.lastIndex;
  if (end < text.length) {
    const next = indentOf(text, end);
    if (!(next < n || (compact && next === n && text.charCodeAt(end + next) !== DASH))) return undefined;
  }
  const values = valuesIn(text, s, end);
  if (values.length < MIN_SCANNED_ITEMS) return undefined;
  return { list: { open: s + n, from: s + n, to: end, values }, end, compact };
}

/**
 * The text with every long list of simple items masked, and the lists; or
 * undefined when there is none. Never wrong, only sometimes unused: parseYaml
 * checks what js-yaml made of each mask.
 */
export function maskLists(text: string): MaskedText | undefined {
  const lists: ScannedList[] = [];
  const out: string[] = [];
  let copied = 0;
  /** text[from, to) as spaces, keeping line breaks unless joined. */
  const blank = (from: number, to: number, join: boolean) => {
    out.push(text.slice(copied, from));
    let at = from;
    if (!join) {
      for (let br = text.indexOf('\n', at); br >= 0 && br < to; br = text.indexOf('\n', at)) {
        const cr = br > at && text.charCodeAt(br - 1) === 13 ? 1 : 0;
        out.push(' '.repeat(br - cr - at), cr ? '\r\n' : '\n');
        at = br + 1;
      }
    }
    out.push(' '.repeat(to - at));
    copied = to;
  };
  let prevLineStart = -1;
  let line = 0;
  let bracket = text.indexOf('[');
  while (line < text.length) {
    const e = lineEnd(text, line);
    const indent = indentOf(text, line);
    if (text.charCodeAt(line + indent) === DASH && text.charCodeAt(line + indent + 1) === SPACE) {
      const block = scanBlock(text, line, indent, prevLineStart);
      if (block) {
        const { list, end, compact } = block;
        // The compact form's list moves up onto its key's line.
        if (compact) blank(lineEnd(text, prevLineStart), list.open, true);
        out.push(text.slice(copied, list.open), '[]');
        copied = list.open + 2;
        blank(copied, end, false);
        lists.push(list);
        prevLineStart = -1;
        line = end;
        continue;
      }
    }
    // A flow list on this line (it may run on over later lines).
    let next = nextLine(text, line);
    // The next '[' of the text, looked for again only once passed: one
    // search per line would make a long text without one quadratic.
    if (bracket >= 0 && bracket < line + indent) bracket = text.indexOf('[', line + indent);
    while (bracket >= 0 && bracket < e) {
      const at = bracket;
      bracket = text.indexOf('[', at + 1);
      FLOW_LIST.lastIndex = at;
      if (!FLOW_LIST.test(text)) continue;
      const close = FLOW_LIST.lastIndex - 1;
      const values = valuesIn(text, at + 1, close);
      if (values.length < MIN_SCANNED_ITEMS) continue;
      blank(at + 1, close, false);
      lists.push({ open: at, from: at + 1, to: close, values });
      next = nextLine(text, close);
      break;
    }
    if (next !== nextLine(text, line)) prevLineStart = -1;
    else if (!isBlankOrComment(text, line, e)) prevLineStart = line;
    line = next;
  }
  if (!lists.length) return undefined;
  out.push(text.slice(copied));
  return { text: out.join(''), lists };
}
