// YAML (and JSON, which js-yaml reads as YAML) with source positions.
// js-yaml has no AST; its `listener` reports each node opening and closing,
// and from those events we rebuild a tree of nodes with start offsets, then
// index it by JSON pointer so later phases can point at any value or key.

import * as yaml from 'js-yaml';
import { CompileError, Position, SourceText } from '../diagnostics';

export type PathSeg = string | number;

export interface DocSnapshot {
  value: unknown;
  valuePos: [string, number, number][];
  keyPos: [string, number, number][];
}

interface RawNode {
  start: number;
  result: unknown;
  children: RawNode[];
}

export class ParsedDoc {
  constructor(
    readonly source: SourceText,
    readonly value: unknown,
    private readonly valuePos: Map<string, Position>,
    private readonly keyPos: Map<string, Position>,
  ) {}

  /** Value and positions as plain data, to rebuild the document without
   * parsing (the bundle carries the built-in catalog this way). */
  snapshot(): DocSnapshot {
    const flat = (m: Map<string, Position>): [string, number, number][] => [...m].map(([k, p]) => [k, p.line, p.col]);
    return { value: this.value, valuePos: flat(this.valuePos), keyPos: flat(this.keyPos) };
  }

  static fromSnapshot(source: SourceText, snap: DocSnapshot): ParsedDoc {
    const map = (a: [string, number, number][]) => new Map(a.map(([k, line, col]) => [k, { line, col }]));
    return new ParsedDoc(source, snap.value, map(snap.valuePos), map(snap.keyPos));
  }

  /** Position of the value at path; falls back to the nearest ancestor. */
  pos(path: readonly PathSeg[]): Position {
    for (let n = path.length; n >= 0; n--) {
      const p = this.valuePos.get(pointer(path.slice(0, n)));
      if (p) return p;
    }
    return { line: 1, col: 1 };
  }

  /** Position of the mapping key that holds the value at path. */
  keyPosOf(path: readonly PathSeg[]): Position {
    return this.keyPos.get(pointer(path)) ?? this.pos(path);
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

export function parseYaml(source: SourceText): ParsedDoc {
  const stack: RawNode[] = [];
  let root: RawNode | undefined;
  let value: unknown;
  try {
    value = yaml.load(source.text, {
      filename: source.path,
      schema: yaml.CORE_SCHEMA, // no timestamps or other implicit types beyond JSON's
      listener(event, state) {
        if (event === 'open') {
          stack.push({ start: state.position, result: undefined, children: [] });
        } else {
          const node = stack.pop()!;
          node.result = state.result;
          if (stack.length) stack[stack.length - 1].children.push(node);
          else root = node;
        }
      },
    });
  } catch (e) {
    if (e instanceof yaml.YAMLException) {
      const mark = (e as yaml.YAMLException & { mark?: { line: number; column: number } }).mark;
      const pos = mark ? { line: mark.line + 1, col: mark.column + 1 } : undefined;
      throw new CompileError([source.diagnostic(pos, `invalid YAML: ${e.reason}`)]);
    }
    throw e;
  }
  const valuePos = new Map<string, Position>();
  const keyPos = new Map<string, Position>();
  if (root) index(source, root, '', valuePos, keyPos);
  return new ParsedDoc(source, value, valuePos, keyPos);
}

/** Block sequence entries and some values are reported twice (a wrapper
 * around the real node holding the same result): skip the wrappers. */
function unwrap(node: RawNode): RawNode {
  while (node.children.length === 1 && node.children[0].result === node.result) node = node.children[0];
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

/** Walks the node tree; `ptr` is the JSON pointer of `raw`, built
 * incrementally (documents hold tens of thousands of addresses). */
function index(source: SourceText, raw: RawNode, ptr: string, valuePos: Map<string, Position>, keyPos: Map<string, Position>): void {
  const node = unwrap(raw);
  // A null value (`key:` with nothing after it) has no token of its own; the
  // skip would land on the next line, so stay on the original line.
  const at = node.result === null || node.result === undefined ? node.start : firstToken(source.text, node.start);
  valuePos.set(ptr, source.positionAt(Math.min(at, source.text.length)));
  const result = node.result;
  if (Array.isArray(result)) {
    for (let i = 0; i < node.children.length; i++) index(source, node.children[i], `${ptr}/${i}`, valuePos, keyPos);
  } else if (result !== null && typeof result === 'object') {
    for (let i = 0; i + 1 < node.children.length; i += 2) {
      const keyNode = unwrap(node.children[i]);
      const childPtr = `${ptr}/${escapeSeg(String(keyNode.result))}`;
      keyPos.set(childPtr, source.positionAt(firstToken(source.text, keyNode.start)));
      index(source, node.children[i + 1], childPtr, valuePos, keyPos);
    }
  }
}
