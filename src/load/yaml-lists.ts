// Long lists of address-like scalars, read by a scan rather than by js-yaml.
// A profile of 10,000 nodes is mostly three such lists, and js-yaml, cold at
// start-up, spends longer on them than a compile spends on anything else.
//
// The scan accepts only a strict subset whose meaning is certain: items that
// are quoted without escapes, or plain and unable to resolve to anything but
// a string, in a flow list `[a, b]` or a block list of `- a` lines. Each list
// is replaced in the text by an empty flow list `[]` that keeps the list's
// line breaks (every line stays where it was; offsets map back).
// parseYaml (yaml.ts) parses that masked text and keeps the result only if
// js-yaml read every `[]` as a value where the list was; otherwise, or on
// any error, it parses the original text. A document reads the same, with
// the same positions and errors, either way. Whole lists are matched by
// regular expressions (compiled code from the first run, where a loop over
// characters is interpreted).

/** Fewer items than this are left to js-yaml: nothing to gain. */
export const MIN_SCANNED_ITEMS = 32;

export interface ScannedList {
  /** Offset of the list in the original: of its `[`, or of its first `-`. */
  open: number;
  /** The text the list's items are in. */
  from: number;
  to: number;
  values: string[];
}

export interface MaskedText {
  text: string;
  /** Each list by the offset in text of the `[` that stands for it. */
  lists: Map<number, ScannedList>;
  /** An offset in text to the offset in the original it stands for. */
  original: (masked: number) => number;
}

// Items: hex digits, '.', ':' and '/' (addresses and CIDRs). A plain item
// must not start with '.' or '/' (no '...' document marker) nor end in ':'
// (a key), and holds ':' or '/' or two dots, which no null, bool, int or
// float of the loader's schema does: it can only be a string.
const C = '0-9A-Fa-f.:/';
const PLAIN = `(?![./])(?=[${C}]*?(?:[:/]|\\.[${C}]*?\\.))[${C}]*[0-9A-Fa-f./]`;
const ITEM = `(?:"[${C}]+"|'[${C}]+'|${PLAIN})`;
/** Inside a flow list: spaces, line breaks (a CR only before a LF), and
 * comments after either (a comment only as a whole line's rest: no shorter
 * reading to backtrack to). */
const FLOW_SPACE = '(?:[ \\n]|\\r(?=\\n)|(?<=[ \\n])#[^\\r\\n]*(?![^\\r\\n]))*';
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

/** How many times ch occurs in text[from, to), counting no further than max + 1. */
function countUpTo(text: string, ch: string, from: number, to: number, max: number): number {
  let n = 0;
  for (let i = text.indexOf(ch, from); i >= 0 && i < to && n <= max; i = text.indexOf(ch, i + 1)) n++;
  return n;
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
function scanBlock(text: string, s: number, n: number, prevLineStart: number, room: number): { list: ScannedList; end: number; compact: boolean } | 'too many' | undefined {
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
  // At most one item per line (of 4 characters at least): no more strings
  // made than there is room for.
  if ((end - s) / 4 + 1 > room && countUpTo(text, '\n', s, end - 1, room) + 1 > room) return 'too many';
  const values = valuesIn(text, s, end);
  if (values.length < MIN_SCANNED_ITEMS) return undefined;
  return { list: { open: s + n, from: s + n, to: end, values }, end, compact };
}

/** A list's text in the original and what stands for it in the masked one. */
interface Piece {
  from: number;
  to: number;
  /** Offsets in the masked text: where the piece starts, its '[' and its end. */
  maskedFrom: number;
  maskedOpen: number;
  maskedTo: number;
  /** Where a node starting at the piece's start is in the original. */
  startsAt: number;
  /** Where the list is in the original (its '[' or first '-'). */
  open: number;
}

/** The line breaks of text[from, to), each with the spaces that begin the
 * line after it when keepIndent: the lines stay, their content goes. */
function breaksOf(text: string, from: number, to: number, keepIndent: boolean): string {
  let out = '';
  for (let br = text.indexOf('\n', from); br >= 0 && br < to; br = text.indexOf('\n', br + 1)) {
    out += br > from && text.charCodeAt(br - 1) === 13 ? '\r\n' : '\n';
    if (keepIndent) out += ' '.repeat(Math.min(indentOf(text, br + 1), to - br - 1));
  }
  return out;
}

/** After a flow list's ']': nothing but spaces, and a comment after a space, to the line's end. */
const LINE_REST_EMPTY = / *(?:\r?\n|$)| +#/y;

/**
 * The text with every long list of simple items replaced by an empty flow
 * list `[]` (its line breaks kept, so every line stays where it was), the
 * lists, and a map from offsets in that text to offsets in the original; or
 * undefined when there is no such list, or when the lists may hold more
 * than maxItems items (js-yaml then reads the text, and stops at its
 * limit: the scan never makes more strings than that). Never wrong, only
 * sometimes unused: parseYaml checks what js-yaml made of each mask.
 */
export function maskLists(text: string, maxItems = Infinity): MaskedText | undefined {
  let room = maxItems;
  const lists = new Map<number, ScannedList>();
  const pieces: Piece[] = [];
  const out: string[] = [];
  let copied = 0;
  let shift = 0; // masked offset - original offset, from `copied` on
  const replace = (list: ScannedList, from: number, to: number, replacement: string, openInReplacement: number) => {
    out.push(text.slice(copied, from), replacement);
    const maskedFrom = from + shift;
    const maskedOpen = maskedFrom + openInReplacement;
    pieces.push({ from, to, maskedFrom, maskedOpen, maskedTo: maskedFrom + replacement.length, startsAt: from, open: list.open });
    lists.set(maskedOpen, list);
    shift += replacement.length - (to - from);
    copied = to;
  };
  let prevLineStart = -1;
  let line = 0;
  let bracket = text.indexOf('[');
  while (line < text.length) {
    const e = lineEnd(text, line);
    const indent = indentOf(text, line);
    if (text.charCodeAt(line + indent) === DASH && text.charCodeAt(line + indent + 1) === SPACE) {
      const block = scanBlock(text, line, indent, prevLineStart, room);
      if (block === 'too many') return undefined;
      if (block) {
        const { list, end, compact } = block;
        room -= list.values.length;
        if (room < 0) return undefined;
        // The compact form's list moves up onto its key's line.
        if (compact) replace(list, lineEnd(text, prevLineStart), end, ' []' + breaksOf(text, list.open, end, false), 1);
        else replace(list, list.open, end, '[]' + breaksOf(text, list.open, end, false), 0);
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
      LINE_REST_EMPTY.lastIndex = close + 1;
      if (!LINE_REST_EMPTY.test(text)) continue;
      // One item more than its commas at most (an item and its comma are 2
      // characters at least): no more strings made than there is room for.
      if ((close - at) / 2 + 1 > room && countUpTo(text, ',', at + 1, close, room) + 1 > room) return undefined;
      const values = valuesIn(text, at + 1, close);
      room -= values.length;
      if (values.length < MIN_SCANNED_ITEMS) continue;
      replace({ open: at, from: at + 1, to: close, values }, at, close + 1, '[' + breaksOf(text, at, close, true) + ']', 0);
      next = nextLine(text, close);
      break;
    }
    if (next !== nextLine(text, line)) prevLineStart = -1;
    else if (!isBlankOrComment(text, line, e)) prevLineStart = line;
    line = next;
  }
  if (!lists.size) return undefined;
  out.push(text.slice(copied));
  return { text: out.join(''), lists, original: originalOffsets(pieces) };
}

/** Offsets in the masked text to offsets in the original: outside the
 * pieces by their shift; inside one, up to its '[' to where the list's
 * node starts, after it to the piece's end (no node starts there). */
function originalOffsets(pieces: Piece[]): (masked: number) => number {
  return (m) => {
    let lo = 0;
    let hi = pieces.length - 1;
    // The last piece starting at or before m.
    while (lo <= hi) {
      const mid = (lo + hi) >> 1;
      if (pieces[mid].maskedFrom <= m) lo = mid + 1;
      else hi = mid - 1;
    }
    if (hi < 0) return m;
    const p = pieces[hi];
    if (m >= p.maskedTo) return m - p.maskedTo + p.to;
    if (m === p.maskedFrom) return p.startsAt;
    return m <= p.maskedOpen ? p.open : p.to;
  };
}
