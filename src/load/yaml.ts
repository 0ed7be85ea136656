// YAML (and JSON, which js-yaml reads as YAML) with source positions.
// js-yaml has no AST; its `listener` reports each node opening and closing,
// and from those events we rebuild a tree of nodes with start offsets, then
// index it by JSON pointer so later phases can point at any value or key.

import * as yaml from 'js-yaml';
import { CompileError, Position, SourceText } from '../diagnostics';
import { itemStarts, maskLists, ScannedList } from './yaml-lists';

export type PathSeg = string | number;

export interface DocSnapshot {
  value: unknown;
  valuePos: [string, number, number][];
  keyPos: [string, number, number][];
}

interface RawNode {
  start: number;
  result: unknown;
  /** Absent for a leaf (most nodes: a leaner tree for big documents). */
  children?: RawNode[];
  /** A mapping's keys to the index of their key node in children, made on
   * the first lookup. */
  keys?: Map<string, number>;
  /** A list read by maskLists: its items become children when first asked for. */
  list?: ScannedList;
}

const NO_CHILDREN: RawNode[] = [];

/** A node's children; a scanned list's are made here, on the first call. */
function childrenOf(text: string, node: RawNode): RawNode[] {
  const list = node.list;
  if (list) {
    const starts = itemStarts(text, list);
    node.children = list.values.map((result, i) => ({ start: starts[i], result }));
    node.list = undefined;
  }
  return node.children ?? NO_CHILDREN;
}

/** Where values and keys are, by path: offsets into the text. */
interface Positions {
  /** Offsets of the value at path and of each ancestor, as far down as the
   * document goes: [root, child, ...]. */
  valueChain(path: readonly PathSeg[]): number[];
  key(path: readonly PathSeg[]): number | undefined;
  count(): number;
}

/** Positions looked up in the parser's node tree when asked for: nothing is
 * indexed up front (documents hold tens of thousands of addresses, and only
 * an error or an explanation asks where one of them is). */
class TreePositions implements Positions {
  private counted?: number;
  constructor(
    private readonly text: string,
    private readonly root: RawNode,
  ) {}

  private offset(node: RawNode): number {
    // A null value (`key:` with nothing after it) has no token of its own; the
    // skip would land on the next line, so stay on the original line.
    const at = node.result === null || node.result === undefined ? node.start : firstToken(this.text, node.start);
    return Math.min(at, this.text.length);
  }

  /** The child holding the value at seg, and for a mapping its key node. */
  private child(node: RawNode, seg: PathSeg): { value: RawNode; key?: RawNode } | undefined {
    const children = childrenOf(this.text, node);
    const result = node.result;
    if (Array.isArray(result)) {
      const s = String(seg);
      const i = Number(s);
      return Number.isInteger(i) && i >= 0 && String(i) === s && i < children.length ? { value: children[i] } : undefined;
    }
    if (result === null || typeof result !== 'object') return undefined;
    if (!node.keys) {
      node.keys = new Map();
      // A repeated key: the last one, as the value has it.
      for (let i = 0; i + 1 < children.length; i += 2) node.keys.set(String(unwrap(children[i]).result), i);
    }
    const i = node.keys.get(String(seg));
    return i === undefined ? undefined : { value: children[i + 1], key: unwrap(children[i]) };
  }

  valueChain(path: readonly PathSeg[]): number[] {
    let node = unwrap(this.root);
    const chain = [this.offset(node)];
    for (const seg of path) {
      const c = this.child(node, seg);
      if (!c) break;
      node = unwrap(c.value);
      chain.push(this.offset(node));
    }
    return chain;
  }

  key(path: readonly PathSeg[]): number | undefined {
    if (!path.length) return undefined;
    let node = unwrap(this.root);
    for (let n = 0; n < path.length; n++) {
      const c = this.child(node, path[n]);
      if (!c) return undefined;
      if (n === path.length - 1) return c.key && Math.min(firstToken(this.text, c.key.start), this.text.length);
      node = unwrap(c.value);
    }
    return undefined;
  }

  count(): number {
    if (this.counted === undefined) {
      let n = 0;
      const walk = (raw: RawNode): void => {
        const node = unwrap(raw);
        n++;
        if (node.list) {
          n += node.list.values.length;
          return;
        }
        const children = childrenOf(this.text, node);
        if (Array.isArray(node.result)) for (const c of children) walk(c);
        else if (node.result !== null && typeof node.result === 'object') for (let i = 0; i + 1 < children.length; i += 2) walk(children[i + 1]);
      };
      walk(this.root);
      this.counted = n;
    }
    return this.counted;
  }
}

/** Positions from a snapshot: offsets by JSON pointer. */
class MapPositions implements Positions {
  constructor(
    private readonly valueAt: Map<string, number>,
    private readonly keyAt: Map<string, number>,
  ) {}

  valueChain(path: readonly PathSeg[]): number[] {
    const chain: number[] = [];
    let ptr = '';
    for (let n = 0; n <= path.length; n++) {
      if (n > 0) ptr += '/' + escapeSeg(String(path[n - 1]));
      const o = this.valueAt.get(ptr);
      if (o === undefined) break;
      chain.push(o);
    }
    return chain;
  }

  key(path: readonly PathSeg[]): number | undefined {
    return this.keyAt.get(pointer(path));
  }

  count(): number {
    return this.valueAt.size;
  }
}

const NO_POSITIONS: Positions = { valueChain: () => [], key: () => undefined, count: () => 0 };

export class ParsedDoc {
  constructor(
    readonly source: SourceText,
    readonly value: unknown,
    private readonly positions: Positions,
  ) {}

  /** Value and positions as plain data, to rebuild the document without
   * parsing (the bundle carries the built-in catalog this way). */
  snapshot(): DocSnapshot {
    const valuePos: [string, number, number][] = [];
    const keyPos: [string, number, number][] = [];
    const at = (o: number): [number, number] => {
      const p = this.source.positionAt(o);
      return [p.line, p.col];
    };
    const walk = (value: unknown, path: PathSeg[]) => {
      const chain = this.positions.valueChain(path);
      if (chain.length !== path.length + 1) return;
      valuePos.push([pointer(path), ...at(chain[chain.length - 1])]);
      if (path.length) {
        const k = this.positions.key(path);
        if (k !== undefined) keyPos.push([pointer(path), ...at(k)]);
      }
      if (Array.isArray(value)) value.forEach((v, i) => walk(v, [...path, i]));
      else if (value !== null && typeof value === 'object') for (const [k, v] of Object.entries(value)) walk(v, [...path, k]);
    };
    if (this.positions.count()) walk(this.value, []);
    return { value: this.value, valuePos, keyPos };
  }

  static fromSnapshot(source: SourceText, snap: DocSnapshot): ParsedDoc {
    const map = (a: [string, number, number][]) => new Map(a.map(([k, line, col]) => [k, source.offsetAt({ line, col })]));
    return new ParsedDoc(source, snap.value, new MapPositions(map(snap.valuePos), map(snap.keyPos)));
  }

  /** Position of the value at path; falls back to the nearest ancestor. */
  pos(path: readonly PathSeg[]): Position {
    const chain = this.positions.valueChain(path);
    return chain.length ? this.source.positionAt(chain[chain.length - 1]) : { line: 1, col: 1 };
  }

  /** Position of the mapping key that holds the value at path. */
  keyPosOf(path: readonly PathSeg[]): Position {
    const o = this.positions.key(path);
    return o !== undefined ? this.source.positionAt(o) : this.pos(path);
  }

  /** How many values the document holds (keys not counted). */
  get size(): number {
    return this.positions.count();
  }

  /** Offset in the text of the value (or its key) at path, to sort by. */
  offsetOf(path: readonly PathSeg[], atKey = false): number {
    const o = atKey ? this.positions.key(path) : undefined;
    if (o !== undefined) return o;
    const chain = this.positions.valueChain(path);
    return chain.length ? chain[chain.length - 1] : 0;
  }

  error(path: readonly PathSeg[], message: string, hint?: string, atKey = false) {
    return this.source.diagnostic(atKey ? this.keyPosOf(path) : this.pos(path), message, hint);
  }
}

export function pointer(path: readonly PathSeg[]): string {
  let p = '';
  for (const s of path) p += '/' + escapeSeg(String(s));
  return p;
}

/** A document holds at most this many values (mapping keys count as values),
 * with every alias counted as a copy of the node it names: bounds the time
 * and memory of everything after the parser for any input. Generous: the
 * bench profile of 100,000 nodes holds about 210,000 values. */
export const MAX_VALUES = 300_000;
/** Nesting depth, also with aliases expanded (js-yaml checks the text's own). */
export const MAX_DEPTH = 100;

/** Thrown from the parser's listener to stop the parse at once. */
class TooManyValues {
  constructor(readonly offset: number) {}
}

/** js-yaml's core schema, with its float type told first that a text with
 * two dots is no float: every unquoted IPv4 address would otherwise be tried
 * against the float pattern (a float has at most one dot, so what resolves
 * is unchanged). */
const SCHEMA = (() => {
  // js-yaml exports its types as `types`; @types/js-yaml does not declare it.
  const types = (yaml as unknown as { types: Record<'null' | 'bool' | 'int' | 'float', yaml.Type> }).types;
  const float = types.float;
  const options = (float as unknown as { options: yaml.TypeConstructorOptions }).options;
  const fastFloat = new yaml.Type('tag:yaml.org,2002:float', {
    ...options,
    resolve: (data: string) => {
      const dot = data.indexOf('.');
      return (dot < 0 || data.indexOf('.', dot + 1) < 0) && float.resolve(data);
    },
  });
  return yaml.FAILSAFE_SCHEMA.extend({ implicit: [types.null, types.bool, types.int, fastFloat] });
})();

/** Texts shorter than this are parsed as they are: no list long enough to matter. */
const MASK_FROM_LENGTH = 4096;
/** A masked parse this close to MAX_VALUES is redone on the original text,
 * which counts open wrapper nodes too and so decides the limit exactly. */
const MASK_LIMIT_MARGIN = 10 * MAX_DEPTH;

export function parseYaml(source: SourceText): ParsedDoc {
  return (source.text.length >= MASK_FROM_LENGTH && parseMasked(source)) || parseYamlAsWritten(source);
}

/** The document read with its long lists scanned (yaml-lists.ts), or
 * undefined when there is no such list or the scan's reading is not certain
 * to be js-yaml's; then, and for every error, parseYamlAsWritten decides. */
export function parseMasked(source: SourceText): ParsedDoc | undefined {
  const masked = maskLists(source.text, MAX_VALUES);
  if (!masked) return undefined;
  try {
    const parsed = readDocuments(source, masked.text, { byOpen: masked.lists, original: masked.original });
    return parsed && documentOf(source, parsed);
  } catch {
    return undefined; // the original text's parse gives the error, with its position
  }
}

/** parseYaml without the list scan: js-yaml alone (what the scan is tested against). */
export function parseYamlAsWritten(source: SourceText): ParsedDoc {
  return documentOf(source, readDocuments(source, source.text, undefined)!);
}

interface Parsed {
  docs: unknown[];
  roots: { node: RawNode; end: number }[];
}

/**
 * js-yaml's documents and node tree of input (the source's text, or it with
 * lists masked by maskLists). With lists: each empty flow list js-yaml reads
 * at a list's offset gets that list's items; undefined unless every list was
 * read so, as a value, within the value limit (the caller then parses the
 * original text).
 */
function readDocuments(source: SourceText, input: string, masked: { byOpen: Map<number, ScannedList>; original: (offset: number) => number } | undefined): Parsed | undefined {
  const lists = masked?.byOpen;
  const original = masked?.original;
  const stack: RawNode[] = [];
  /** Where each open node starts in input (the masked text, if masked). */
  const inputStarts: number[] = [];
  const roots: { node: RawNode; end: number }[] = [];
  const filled = new Set<unknown[]>();
  let opened = 0;
  let docs: unknown[];
  try {
    docs = yaml.loadAll(input, null, {
      filename: source.path,
      schema: SCHEMA, // no timestamps or other implicit types beyond JSON's
      maxDepth: MAX_DEPTH,
      listener(event, state) {
        if (event === 'open') {
          if (++opened > MAX_VALUES) throw new TooManyValues(state.position);
          stack.push({ start: original ? original(state.position) : state.position, result: undefined });
          inputStarts.push(state.position);
        } else {
          const node = stack.pop()!;
          const inputStart = inputStarts.pop()!;
          const result = state.result;
          node.result = result;
          if (lists && Array.isArray(result) && result.length === 0) {
            const at = firstToken(input, inputStart);
            const list = lists.get(at);
            if (list) {
              lists.delete(at);
              const values = list.values;
              for (let i = 0; i < values.length; i++) result.push(values[i]);
              node.list = list;
              opened += values.length;
              filled.add(result);
            }
          }
          if (isWrapper(node)) opened--; // not a value of its own
          if (stack.length) (stack[stack.length - 1].children ??= []).push(node);
          else roots.push({ node, end: original ? original(state.position) : state.position });
        }
      },
    } as yaml.LoadOptions);
  } catch (e) {
    if (lists) throw e;
    if (e instanceof TooManyValues)
      throw new CompileError([source.diagnostic(source.positionAt(firstToken(input, e.offset)), `the document holds more than ${MAX_VALUES} values`, 'split it, or list address ranges as CIDRs')]);
    if (e instanceof yaml.YAMLException) throw new CompileError([yamlError(source, e)]);
    throw e;
  }
  if (lists && (lists.size || docs.length !== 1 || opened > MAX_VALUES - MASK_LIMIT_MARGIN || !allValues(docs[0], filled))) return undefined;
  return { docs, roots };
}

/** Whether each of lists is reached from value as a value (not only as a key). */
function allValues(value: unknown, lists: Set<unknown[]>): boolean {
  const seen = new Set<object>();
  let found = 0;
  const todo: unknown[] = [value];
  while (todo.length) {
    const v = todo.pop();
    if (v === null || typeof v !== 'object' || seen.has(v)) continue;
    seen.add(v);
    if (lists.has(v as unknown[])) found++;
    else if (Array.isArray(v)) for (const x of v) todo.push(x);
    else for (const x of Object.values(v)) todo.push(x);
  }
  return found === lists.size;
}

function documentOf(source: SourceText, { docs, roots }: Parsed): ParsedDoc {
  const text = source.text;
  if (docs.length > 1) {
    const at = secondDocumentStart(text, roots);
    throw new CompileError([source.diagnostic(source.positionAt(at), 'invalid YAML: a second document starts here; the file must hold exactly one', "remove the '---' line and what follows, or put each document in a file of its own")]);
  }
  const value = docs[0];
  const root = roots[0]?.node;
  if (!root) return new ParsedDoc(source, value, NO_POSITIONS);
  // Without a '*' there is no alias, and nothing expands.
  if (text.includes('*')) checkExpansion(source, root);
  return new ParsedDoc(source, value, new TreePositions(text, root));
}

// js-yaml's own pattern for characters YAML does not allow in the stream.
// eslint-disable-next-line no-control-regex
const NON_PRINTABLE = /[\x00-\x08\x0B\x0C\x0E-\x1F\x7F-\x84\x86-\x9F\uFFFE\uFFFF]|[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?:[^\uD800-\uDBFF]|^)[\uDC00-\uDFFF]/g;

function yamlError(source: SourceText, e: yaml.YAMLException) {
  const mark = (e as yaml.YAMLException & { mark?: { position: number } }).mark;
  let offset = mark ? Math.min(mark.position, source.text.length) : undefined;
  // js-yaml reports a non-printable character at the end of the scalar
  // holding it: point at the character itself (the last one before there).
  if (offset !== undefined && /non-printable/.test(e.reason)) {
    NON_PRINTABLE.lastIndex = 0;
    let last: number | undefined;
    for (let m = NON_PRINTABLE.exec(source.text); m && m.index < offset; m = NON_PRINTABLE.exec(source.text)) {
      last = m.index + (m[0].length === 2 && /[\uDC00-\uDFFF]/.test(m[0][1]) ? 1 : 0);
    }
    if (last !== undefined) offset = last;
  }
  // A tag is reported after its node: point at the tag (`!`, `!!`) itself.
  if (offset !== undefined && /\btag\b/.test(e.reason)) {
    const text = source.text;
    const lineStart = text.lastIndexOf('\n', offset - 1) + 1;
    let bang = text.lastIndexOf('!', offset);
    while (bang > lineStart && text[bang - 1] === '!') bang--;
    if (bang >= lineStart) offset = bang;
  }
  const pos = offset === undefined ? { line: 1, col: 1 } : source.positionAt(offset);
  return source.diagnostic(pos, `invalid YAML: ${e.reason}`);
}

/** Where the second document begins: its `---` line if it has one (after
 * the end of the first document), else its first token. */
function secondDocumentStart(text: string, roots: { node: RawNode; end: number }[]): number {
  const from = roots[0]?.end ?? 0;
  const to = roots[1]?.node.start ?? text.length;
  const m = /^---/m.exec(text.slice(from, to));
  return m ? from + m.index : Math.min(firstToken(text, to), text.length);
}

/** Rejects a document whose value, with every alias expanded, holds more
 * than MAX_VALUES values or nests deeper than MAX_DEPTH ("billion laughs":
 * nine lines of aliases naming lists of aliases make 9^9 values). The value
 * is a DAG (an alias is the very object it names), so sizes are computed
 * once per object; the text is walked in document order to point at the
 * first alias that goes over. */
function checkExpansion(source: SourceText, root: RawNode): void {
  const measure = dagMeasure();
  let total = 0;
  const walk = (raw: RawNode, depth: number): void => {
    const node = unwrap(raw);
    const r = node.result;
    const isAlias = !node.children && r !== null && typeof r === 'object' && source.text.charCodeAt(firstToken(source.text, node.start)) === 42; /* * */
    if (isAlias) {
      const at = () => source.positionAt(firstToken(source.text, node.start));
      let m: { size: number; depth: number };
      try {
        m = measure(r);
      } catch (e) {
        if (!(e instanceof AliasCycle)) throw e;
        throw new CompileError([source.diagnostic(at(), 'this alias names a node that contains it (a cycle)', 'an alias can only name a node that is complete before it')]);
      }
      total += m.size;
      if (total > MAX_VALUES || depth + m.depth > MAX_DEPTH) {
        const what = total > MAX_VALUES ? `the document to more than ${MAX_VALUES} values` : `nesting deeper than ${MAX_DEPTH} levels`;
        throw new CompileError([source.diagnostic(at(), `this alias expands ${what}`, 'aliases are copies of what they name; name fewer copies, or nest them less')]);
      }
      return;
    }
    total += 1;
    if (node.list) total += node.list.values.length; // strings, no alias among them
    else for (const c of node.children ?? NO_CHILDREN) walk(c, depth + 1);
  };
  walk(root, 0);
}

/** Thrown by dagMeasure: js-yaml lets an alias name the node holding it. */
class AliasCycle {}

/** Size (values, keys included) and depth of a value, aliases expanded,
 * memoized per object; iterative, as alias chains can nest deeper than the
 * stack. Sizes stop growing past MAX_VALUES + 1. A cycle (`&a [*a]`, which
 * js-yaml accepts) throws AliasCycle. */
function dagMeasure(): (v: unknown) => { size: number; depth: number } {
  const memo = new Map<object, { size: number; depth: number }>();
  // Objects whose children are being measured: the current path.
  const open = new Set<object>();
  const one = { size: 1, depth: 0 };
  const isObject = (v: unknown): v is object => v !== null && typeof v === 'object';
  return (top: unknown) => {
    if (!isObject(top)) return one;
    const stack: object[] = [top];
    while (stack.length) {
      const o = stack[stack.length - 1];
      if (memo.has(o)) {
        stack.pop();
        continue;
      }
      const kids: unknown[] = Array.isArray(o) ? o : Object.values(o);
      if (!open.has(o)) {
        open.add(o);
        let pending = false;
        for (const k of kids) {
          if (!isObject(k) || memo.has(k)) continue;
          if (open.has(k)) throw new AliasCycle();
          stack.push(k);
          pending = true;
        }
        if (pending) continue;
      }
      let size = 1 + (Array.isArray(o) ? 0 : kids.length);
      let depth = 0;
      for (const k of kids) {
        const m = isObject(k) ? memo.get(k)! : one;
        size = Math.min(size + m.size, MAX_VALUES + 1);
        depth = Math.max(depth, m.depth + 1);
      }
      memo.set(o, { size, depth });
      open.delete(o);
      stack.pop();
    }
    return memo.get(top)!;
  };
}

function isWrapper(node: RawNode): boolean {
  return node.children?.length === 1 && node.children[0].result === node.result;
}

/** Block sequence entries and some values are reported twice (a wrapper
 * around the real node holding the same result): skip the wrappers. */
function unwrap(node: RawNode): RawNode {
  while (isWrapper(node)) node = node.children![0];
  return node;
}

/** The listener reports the offset where the parser started looking, which can
 * be before whitespace or a comment: move to the first real character. */
function firstToken(text: string, offset: number): number {
  let i = offset;
  for (;;) {
    let c = text.charCodeAt(i);
    while (c === 32 || c === 9 || c === 13 || c === 10) c = text.charCodeAt(++i);
    if (c !== 35 /* # */) return i;
    const eol = text.indexOf('\n', i);
    i = eol < 0 ? text.length : eol;
  }
}

function escapeSeg(seg: string): string {
  return seg.includes('~') || seg.includes('/') ? seg.replace(/~/g, '~0').replace(/\//g, '~1') : seg;
}
