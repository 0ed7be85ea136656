// What every backend shares: the backend contract, the handlebars
// environment (no HTML escaping: each target escapes for itself through its
// own helpers), provenance citations, text sanitizing, and line limits: every
// comment line goes through commentLines(), and every target checks its
// files against the line limit of the tool that reads them (checkLines).

import { createHash } from 'crypto';
import * as fs from 'fs';
import * as path from 'path';
// Only the runtime: templates come precompiled in the bundle; the compiler
// is loaded on demand when they do not (tsc build, library use).
import HandlebarsRuntime from 'handlebars/runtime';
import { Cidr, formatAddress } from '../addresses';
import type { IR, Provenance, Rule } from '../ir/types';
import { packagePath } from '../paths';
import { formatPortRange } from '../ports';
import { describeMatch, hasPorts, ICMP_TYPE_NAMES } from '../transports';

export type TargetName = 'nftables' | 'iptables' | 'firewalld' | 'terraform-aws' | 'azure-nsg';

export interface OutputFile {
  /** Relative to the target's own output directory, '/'-separated. */
  path: string;
  content: string;
}

export interface Backend {
  name: TargetName;
  render(ir: IR): OutputFile[];
  /** A catalog with several roles: the policies of all of them in one
   * output (a cloud target's security groups reference each other). A
   * backend without it renders each role into a folder of the role's name. */
  renderRoles?(irs: IR[]): OutputFile[];
}

/** ICMP type numbers by the IR's (nftables') names, for targets that take
 * numbers: src/transports.ts's table turned around, plus the older name
 * mld-listener-reduction. */
export const ICMP_TYPE_NUMBERS: Record<'ipv4' | 'ipv6', Record<string, number>> = {
  ipv4: Object.fromEntries(Object.entries(ICMP_TYPE_NAMES.icmp).map(([n, name]) => [name, Number(n)])),
  ipv6: { ...Object.fromEntries(Object.entries(ICMP_TYPE_NAMES.icmpv6).map(([n, name]) => [name, Number(n)])), 'mld-listener-reduction': 132 },
};

/** The policy is valid but does not fit a target's limits (AWS rule
 * quotas, Azure NSG sizes). compile() reports it as a positioned error on
 * the profile: at the group that overflows, or at `groups:`. */
export class TargetLimitError extends Error {
  constructor(
    readonly target: TargetName,
    message: string,
    readonly hint?: string,
    readonly group?: string,
  ) {
    super(message);
    this.name = 'TargetLimitError';
  }
}

/** A rule uses a transport the target cannot express (Azure has no GRE,
 * NSGs cannot match ICMP types): refusing beats widening or dropping it.
 * compile() positions it at the catalog rule (or profile entry) that
 * asked for it: the first of `ruleIds` it finds. */
export class TransportRefusal extends TargetLimitError {
  constructor(
    target: TargetName,
    /** The IR rule concerned. */
    readonly rule: Rule,
    message: string,
    hint?: string,
  ) {
    super(target, `rule '${rule.id}' (${citeRows(rule.provenance)}): ${message}`, hint);
    this.name = 'TransportRefusal';
  }
}

/** Refuses, for the first rule whose transport `supported` rejects, with
 * the reason it returns. */
export function refuseTransports(target: TargetName, ir: IR, supported: (r: Rule) => { why: string; hint?: string } | undefined): void {
  for (const r of ir.rules) {
    const no = supported(r);
    if (no) throw new TransportRefusal(target, r, no.why, no.hint);
  }
}

type Template = (context: object) => string;
type Helper = (...args: never[]) => unknown;

/** noEscape: HTML escaping is wrong for every target; strict: a typo in a
 * template is an error, not an empty string. tools/generate.js uses the same. */
export const TEMPLATE_OPTIONS = { noEscape: true, strict: true } as const;

let precompiled: Record<string, Record<string, unknown>> = {};

/** The bundle registers the templates tools/generate.js precompiled. */
export function usePrecompiledTemplates(specs: Record<string, Record<string, unknown>>): void {
  precompiled = specs;
}

/** Where the item goes when an eachText block is rendered once: characters
 * that any helper transforming the item (escaping, quoting, case) changes,
 * so that only a plain {{this}} leaves it whole. */
const ITEM_MARK = '\u0000&<>"\'`\\$Item-mark\u0001';

interface BlockOptions {
  fn: (context: unknown) => string;
  inverse: (context: unknown) => string;
}

/** {{#eachText list}}…{{this}}…{{/eachText}}: {{#each}} over a list of
 * strings, for blocks that put the item in as a plain {{this}} and do not
 * use @index/@first/@last (sets of thousands of addresses): the block is
 * rendered once with a mark where the item goes, and each item is put in
 * its place. That is exact only for such blocks, so the build
 * (tools/each-text-check.js) refuses any other; here a block whose output
 * does not hold the mark once, as it is (a helper changed it), or differs
 * on the first item, is still rendered item by item. */
export function eachText(this: unknown, items: unknown, options: BlockOptions): string {
  if (!Array.isArray(items)) throw new Error(`internal: eachText needs a list, got ${typeof items}`);
  if (!items.length) return options.inverse(this);
  const shape = options.fn(ITEM_MARK);
  const at = shape.indexOf(ITEM_MARK);
  const before = shape.slice(0, at);
  const after = shape.slice(at + ITEM_MARK.length);
  let strings = at >= 0 && !after.includes(ITEM_MARK);
  for (let i = 0; strings && i < items.length; i++) strings = typeof items[i] === 'string';
  // One join for the whole list: the same text as each item put in its place.
  const joined = strings ? (items as string[]).join(after + before) : '';
  const plain = strings && !joined.includes('\u0000') && before + items[0] + after === options.fn(items[0]);
  return plain ? before + joined + after : items.map((x) => options.fn(x)).join('');
}

/** A handlebars environment for one backend: its helpers, its templates. */
export class TemplateSet {
  private runtime?: typeof HandlebarsRuntime;
  private compiler?: typeof import('handlebars');
  private readonly cache = new Map<string, Template>();

  constructor(
    private readonly backend: TargetName,
    private readonly helpers: Record<string, Helper>,
  ) {}

  render(name: string, context: object): string {
    let t = this.cache.get(name);
    if (!t) {
      const spec = precompiled[this.backend]?.[name];
      if (spec) {
        this.runtime ??= HandlebarsRuntime.create();
        this.runtime.registerHelper({ eachText, ...this.helpers } as never);
        t = this.runtime.template(spec as never) as Template;
      } else {
        // eslint-disable-next-line @typescript-eslint/no-var-requires
        this.compiler ??= (require('handlebars') as typeof import('handlebars')).create();
        this.compiler.registerHelper({ eachText, ...this.helpers } as never);
        t = this.compiler.compile(fs.readFileSync(path.join(packagePath('templates'), this.backend, name), 'utf8'), TEMPLATE_OPTIONS) as Template;
      }
      this.cache.set(name, t);
    }
    return t(context);
  }
}

/** What oneLine would change: a control or line separator, whitespace other
 * than a single inner space. One class for the characters (set difference,
 * flag v): a quarter faster than an alternative per kind, on every text. */
const NOT_ONE_LINE = new RegExp('[[\\u0000-\\u001f\\u007f-\\u009f\\u2028\\u2029][\\s--[ ]]]| {2}|^ | $', 'v');

/** Text that goes into a single-line comment: no line breaks or control
 * characters can survive, so it cannot end the comment early. */
export function oneLine(text: string): string {
  // Most text already is one clean line: nothing to replace or trim.
  if (!NOT_ONE_LINE.test(text)) return text;
  return text
    .replace(/[\u0000-\u001f\u007f-\u009f\u2028\u2029]+/g, ' ')
    .replace(/\s+/g, ' ')
    .trim();
}

// ------------------------------------------------------------ line limits
//
// The real tools read their input a line at a time into fixed buffers
// (iptables-restore 10 KiB, ipset restore 1 KiB: see iptables.ts); a longer
// line is cut and its rest parsed as a new line, so text in a long comment
// would become a live rule. Input text therefore only ever reaches a file as
// comment lines of bounded length (commentLines), and each backend checks its
// files against its reader's limit before returning them (checkLines).

/** UTF-8 bytes of comment text on one line, not counting the line's prefix
 * (`# `, an indent, `<!-- `). Below the strictest reader of a comment line
 * (`ipset restore`, 1022 bytes) with room for any prefix; above any line the
 * built-in catalog makes, so only long input text is wrapped. */
export const COMMENT_TEXT_MAX = 480;

/** Continuation lines of a wrapped comment start with this. */
const CONTINUATION = '  ';

export function utf8Length(text: string): number {
  return Buffer.byteLength(text, 'utf8');
}

/** UTF-8 length of one code point as Array.from() yields it (a lone
 * surrogate is written as U+FFFD: 3 bytes). */
function codePointBytes(cp: string): number {
  const c = cp.codePointAt(0)!;
  return c < 0x80 ? 1 : c < 0x800 ? 2 : c < 0x10000 ? 3 : 4;
}

/**
 * Text as comment lines: one line (oneLine), cut into pieces of at most
 * `max` UTF-8 bytes each. A piece ends at its last space (dropped) or after
 * its last comma when that is in its second half, else at a code point
 * boundary; pieces after the first start with two spaces (counted in
 * `max`). Always at least one line.
 */
export function commentLines(text: string, max = COMMENT_TEXT_MAX): string[] {
  return wrapLine(oneLine(text), max);
}

/** commentLines of text that is one line already (oneLine(s) === s). */
export function wrapLine(s: string, max = COMMENT_TEXT_MAX): string[] {
  if (max < CONTINUATION.length + 4) throw new Error(`internal: comment width ${max} cannot hold a character`);
  if (utf8Length(s) <= max) return [s];
  const cps = Array.from(s);
  const out: string[] = [];
  let i = 0;
  while (i < cps.length) {
    const lead = out.length ? CONTINUATION : '';
    const budget = max - lead.length;
    let j = i;
    let bytes = 0;
    let brk = -1;
    while (j < cps.length && bytes + codePointBytes(cps[j]) <= budget) {
      if (cps[j] === ' ' || (j > i && cps[j - 1] === ',')) brk = j;
      bytes += codePointBytes(cps[j]);
      j++;
    }
    if (j < cps.length && (cps[j] === ' ' || cps[j - 1] === ',')) brk = j;
    if (j < cps.length && brk > i + (j - i) / 2) j = brk;
    out.push(lead + cps.slice(i, j).join(''));
    i = j;
    while (cps[i] === ' ') i++;
  }
  return out;
}

/** Several texts as comment lines, each wrapped by commentLines. */
export function commentBlock(texts: readonly string[], max = COMMENT_TEXT_MAX): string[] {
  return texts.flatMap((t) => commentLines(t, max));
}

/** How the tool that reads a file splits it into lines, and the longest line
 * (UTF-8 bytes, without its line feed) it reads whole. */
export interface LineLimit {
  maxBytes: number;
  /** Who reads the file, for the message: "ipset restore (lib/ipset.c, 1024-byte buffer)". */
  reader: string;
  /** Further checks of one line (argument counts, ...); returns a problem or undefined. */
  check?: (line: string) => string | undefined;
  /** The lines check can find a problem in: at least minLength UTF-16
   * units long, or holding a text. Only those are given to it; every line
   * when absent. */
  checkOnly?: { minLength: number } | { holding: string };
}

/** Characters no output line may hold: controls other than tab (a reader
 * might end or split a line at them), and the Unicode line separators. */
const LINE_BREAKING = /[\u0000-\u0008\u000b-\u001f\u007f-\u009f\u2028\u2029]/;

/**
 * The last step of every backend: no line of any file is longer than its
 * reader's limit or holds a character that could break it. The backends
 * make this true by construction (input text reaches files only through
 * commentLines and bounded, sanitized fields), so a failure is a compiler
 * bug: an internal error, never a file that would be read differently.
 */
export function checkLines(target: TargetName, files: OutputFile[], limitOf: (path: string) => LineLimit): OutputFile[] {
  for (const f of files) {
    const limit = limitOf(f.path);
    // The common case at once: no breaking character anywhere, and every
    // line short enough that its UTF-8 length (at most 3 bytes per UTF-16
    // unit) cannot exceed the limit; only the per-line checks remain.
    if (!LINE_BREAKING.test(f.content) && longestLine(f.content) * 3 <= limit.maxBytes) {
      if (limit.check) {
        const problem = limit.checkOnly ? checkMatchingLines(f.content, limit.check, limit.checkOnly) : checkEveryLine(f.content, limit.check);
        if (problem) throw new Error(`internal: ${target}: ${f.path} line ${problem.line}: ${problem.text}`);
      }
      continue;
    }
    const lines = f.content.split('\n');
    for (let n = 0; n < lines.length; n++) {
      const line = lines[n];
      const where = `internal: ${target}: ${f.path} line ${n + 1}`;
      const bad = LINE_BREAKING.exec(line);
      if (bad) throw new Error(`${where} holds the control character U+${bad[0].charCodeAt(0).toString(16).padStart(4, '0').toUpperCase()}`);
      const bytes = utf8Length(line);
      if (bytes > limit.maxBytes) throw new Error(`${where} is ${bytes} bytes, more than the ${limit.maxBytes} that ${limit.reader} reads as one line`);
      const problem = limit.check?.(line);
      if (problem) throw new Error(`${where}: ${problem}`);
    }
  }
  return files;
}

/** Length (UTF-16 units) of the longest line of text. */
function longestLine(text: string): number {
  let max = 0;
  for (let start = 0; start <= text.length; ) {
    let end = text.indexOf('\n', start);
    if (end < 0) end = text.length;
    if (end - start > max) max = end - start;
    start = end + 1;
  }
  return max;
}

type LineProblem = { line: number; text: string };

function checkEveryLine(content: string, check: (line: string) => string | undefined): LineProblem | undefined {
  const lines = content.split('\n');
  for (let n = 0; n < lines.length; n++) {
    const problem = check(lines[n]);
    if (problem) return { line: n + 1, text: problem };
  }
  return undefined;
}

/** check on the lines `only` picks (each once), found by indexOf: a line
 * of its own for each line would be most of the work in a large file. */
function checkMatchingLines(content: string, check: (line: string) => string | undefined, only: NonNullable<LineLimit['checkOnly']>): LineProblem | undefined {
  const at = (start: number, end: number): LineProblem | undefined => {
    const problem = check(content.slice(start, end));
    return problem ? { line: content.slice(0, start).split('\n').length, text: problem } : undefined;
  };
  if ('holding' in only) {
    for (let hit = content.indexOf(only.holding); hit >= 0; ) {
      const start = content.lastIndexOf('\n', hit) + 1;
      let end = content.indexOf('\n', hit);
      if (end < 0) end = content.length;
      const problem = at(start, end);
      if (problem) return problem;
      hit = content.indexOf(only.holding, end);
    }
    return undefined;
  }
  for (let start = 0; start <= content.length; ) {
    let end = content.indexOf('\n', start);
    if (end < 0) end = content.length;
    if (end - start >= only.minLength) {
      const problem = at(start, end);
      if (problem) return problem;
    }
    start = end + 1;
  }
  return undefined;
}

/** A quoted comment string for tools whose strings have no escapes (nft)
 * or whose quoting is easy to get wrong (iptables-restore): only a safe
 * alphabet, at most `max` characters; full text goes in `#` lines. */
export function safeComment(text: string, max: number): string {
  let s = text.replace(/[^A-Za-z0-9 .,:_+\/-]/g, '_');
  if (s.length > max) s = s.slice(0, max - 3) + '...';
  return `"${s}"`;
}

/** make(key), made once per key and kept: for texts a render cites many times. */
export function cachedBy<K, V>(make: (key: K) => V): (key: K) => V {
  const made = new Map<K, V>();
  return (key) => {
    if (made.has(key)) return made.get(key)!;
    const v = make(key);
    made.set(key, v);
    return v;
  };
}

/** make(key) for a pure function of a text, kept across renders: the texts
 * made from catalog rows (descriptions, comments, citations) are the same
 * in every environment of a many-profile run. Bounded: past `max` keys it
 * starts again, so a long-lived process (a library user) holds at most
 * that many. */
export function memoAcrossRenders<V>(make: (key: string) => V, max = 50_000): (key: string) => V {
  let made = new Map<string, V>();
  return (key) => {
    const had = made.get(key);
    if (had !== undefined) return had;
    const v = make(key);
    if (made.size >= max) made = new Map();
    made.set(key, v);
    return v;
  };
}

/** commentLines(text), kept across renders: most such texts are catalog
 * rows', the same in every environment. */
export const keptCommentLines = memoAcrossRenders((text: string) => commentLines(text));

/** commentBlock(texts), each text's lines kept across renders. */
export function keptCommentBlock(texts: readonly string[]): string[] {
  const lines: string[] = [];
  for (const t of texts) lines.push(...keptCommentLines(t));
  return lines;
}

/** A rule's `#` lines: commentBlock of "<ref> <service>: <description>" per
 * catalog row, kept across renders with one lookup per rule (keyed by the
 * texts, each after its length). */
export function rowNoteLines(rule: Rule): string[] {
  let key = '';
  for (const p of rule.provenance) {
    const text = `${p.ref} ${p.service}: ${p.description}`;
    key += `${text.length}:${text}`;
  }
  return rowNotesOf(key);
}

const rowNotesOf = memoAcrossRenders((key: string): string[] => {
  const lines: string[] = [];
  for (let at = 0; at < key.length; ) {
    const colon = key.indexOf(':', at);
    const end = colon + 1 + Number(key.slice(at, colon));
    lines.push(...commentLines(key.slice(colon + 1, end)));
    at = end;
  }
  return lines;
});

/** "<rule id> <citeRows of its rows>", the one-line citation a target puts
 * in a rule's comment or description, kept across renders. Keyed by the
 * rows' refs (`<table>.<row>` or `<table>.prose`: all citeRows reads), each
 * before a space (table ids have no space, line feed or dot), then a line
 * feed and the id. */
export function ruleCitation(rule: Rule): string {
  let key = '';
  for (const p of rule.provenance) key += p.ref + ' ';
  return ruleCitationOf(key + '\n' + rule.id);
}

const ruleCitationOf = memoAcrossRenders((key: string): string => {
  const end = key.indexOf('\n');
  const cited = key
    .slice(0, end)
    .split(' ')
    .slice(0, -1)
    .map((ref) => {
      const dot = ref.lastIndexOf('.');
      const row = ref.slice(dot + 1);
      return { table: ref.slice(0, dot), row: row === 'prose' ? undefined : Number(row) } as Provenance;
    });
  return `${key.slice(end + 1)} ${citeRows(cited)}`;
});

/** Compact citation of rows: "T1.1 T2.1-16,18-41,prose". */
export function citeRows(provenance: readonly Provenance[]): string {
  // One row, the common case: what the general path below makes of it.
  if (provenance.length === 1) return `${provenance[0].table}.${provenance[0].row ?? 'prose'}`;
  const byTable = new Map<string, { rows: number[]; prose: boolean }>();
  for (const p of provenance) {
    const t = byTable.get(p.table) ?? { rows: [], prose: false };
    if (p.row === undefined) t.prose = true;
    else t.rows.push(p.row);
    byTable.set(p.table, t);
  }
  return [...byTable]
    .map(([table, { rows, prose }]) => {
      const sorted = [...new Set(rows)].sort((a, b) => a - b);
      const parts: string[] = [];
      for (let i = 0; i < sorted.length; ) {
        let j = i;
        while (j + 1 < sorted.length && sorted[j + 1] === sorted[j] + 1) j++;
        parts.push(formatPortRange({ lo: sorted[i], hi: sorted[j] }));
        i = j + 1;
      }
      if (prose) parts.push('prose');
      return `${table}.${parts.join(',')}`;
    })
    .join(' ');
}

/** One text per contributing row (unbounded: wrap it with commentBlock). */
export function provenanceLines(rule: Rule): string[] {
  return rule.provenance.map((p) => oneLine(`${p.ref} ${p.service} (${p.ruleId}): ${p.description}`));
}

/** Header texts common to all targets: what produced the file. One text
 * per sentence, unbounded (input text, long port lists): a backend writes
 * them through commentBlock, after its own escaping. */
/** Header texts of several roles' policies in one output (the cloud
 * targets): the lines all of them share (generator, catalog, environment,
 * features, params, egress), then each role's own (what open outbound
 * covers), prefixed with the role. `each` says what every role gets. */
export function rolesHeaderLines(irs: readonly IR[], each: string): string[] {
  const all = irs.map((ir) => headerLines(ir));
  let common = 0;
  while (all.every((h) => common < h.length && h[common] === all[0][common])) common++;
  return [
    ...all[0].slice(0, common),
    `Roles: ${irs.map((ir) => ir.host).join(', ')} (${each})`,
    ...all.flatMap((h, i) => h.slice(common).map((line) => `${irs[i].host}: ${line}`)),
  ];
}

export function headerLines(ir: IR): string[] {
  const features = Object.entries(ir.features)
    .map(([k, v]) => `${k}=${v ? 'on' : 'off'}`)
    .join(' ');
  const params = Object.entries(ir.params)
    .map(([k, v]) => `${k}=${formatPortRange(v)}`)
    .join(' ');
  return [
    `Generated by portcullis; do not edit: change the profile or catalog and recompile.`,
    oneLine(`Catalog: ${ir.catalog.name}${ir.catalog.title ? ` (${ir.catalog.title})` : ''}${ir.catalog.document ? `, from ${ir.catalog.document}` : ''}`),
    `Environment: ${ir.environment}`,
    `Features: ${features || '(none)'}`,
    `Params: ${params || '(none)'}`,
    `Egress: ${ir.egress}`,
    // Under egress: allow the egress rules emit nothing; say which ones a
    // reviewer would otherwise look for.
    ...(ir.egress === 'allow'
      ? ir.rules
          .filter((r) => r.direction === 'egress' && r.scope === 'host' && r.destinationGroup !== ir.host)
          .map((r) => oneLine(`covered by open outbound (egress: allow): ${r.id} ${hasPorts(r.transport) ? `${r.transport} ${r.ports.map((p) => formatPortRange(p)).join(',')}` : describeMatch(r.transport, r.ports)} (${citeRows(r.provenance)})`))
      : []),
  ];
}

/** Entries for an ipset of type hash:net, which cannot hold a /0 (ipset
 * refuses it; firewalld drops it with a mere warning): the whole address
 * space is written as its two /1 halves. */
export function hashNetEntries(cidrs: readonly Cidr[]): string[] {
  const entries: string[] = [];
  for (const c of cidrs) {
    if (c.prefix !== 0) {
      entries.push(formatAddress(c));
      continue;
    }
    const half = 1n << BigInt((c.family === 'ipv4' ? 32 : 128) - 1);
    entries.push(formatAddress({ family: c.family, base: 0n, prefix: 1 }), formatAddress({ family: c.family, base: half, prefix: 1 }));
  }
  return entries;
}

/** `prefix + name` when it fits in `max` characters of [A-Za-z0-9_.-];
 * else a cut-down head and a hash of the full name, so names stay unique
 * and deterministic within a tool's length limit (ipset names: 31). */
export function boundedName(prefix: string, name: string, max: number, hashLength: number): string {
  const plain = prefix + name;
  if (plain.length <= max && /^[A-Za-z0-9_.-]+$/.test(name)) return plain;
  const hash = createHash('sha256').update(name, 'utf8').digest('hex').slice(0, hashLength);
  const head = name.replace(/[^A-Za-z0-9_.-]/g, '_').slice(0, max - prefix.length - 1 - hashLength);
  return `${prefix}${head}-${hash}`;
}
