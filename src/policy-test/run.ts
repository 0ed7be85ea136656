// Runs expectations against a loaded policy: the whole-range verdict from
// the flow model (./evaluate), and for each failure one witness flow that
// explain (src/analysis/explain.ts) answers in the catalog's words: the
// deciding rules, their catalog rows and profile lines, and with a target
// the lines of its output that decide it (explain --target).

import { AddrRange, Cidr, Family, formatAddress, rangeToCidrs } from '../addresses';
import { explainFlow, Explanation, targetLines } from '../analysis/explain';
import { TRANSPORTS } from '../analysis/flows';
import type { OutputEntry } from '../compile';
import type { PortRange } from '../ports';
import { carries, Transport } from '../transports';
import { allowedRects, allowedWithin, deniedWithin, PolicyContext, policyContext, portPieces, Rect, roleOf } from './evaluate';
import type { Expectation } from './expectations';
import { describePorts, explainQuery } from './ports';

/** One way an expectation fails: flows allowed that should not be, or
 * flows denied that should be allowed, on some ports of one transport. */
export interface Finding {
  /** allowed: should be denied; denied: should be allowed. */
  problem: 'allowed' | 'denied';
  family: Family;
  transport: Transport;
  ports: PortRange[];
  /** The offending pairs: sources x destinations (minimal CIDRs, capped). */
  sources: string[];
  destinations: string[];
  /** One of those flows, explained, per role that decides it. */
  example: { from: string; to: string; port: string; explanations: { role?: string; explanation: Explanation }[] };
}

export interface ExpectationResult {
  expectation: Expectation;
  ok: boolean;
  /** Set when the expectation covers no address pair at all. */
  vacuous?: string;
  findings: Finding[];
  /** Findings not listed (beyond the first 50). */
  more?: number;
}

export interface RunOptions {
  /** The files of one target (render(loaded, [target])): failures name its deciding lines. */
  targetFiles?: OutputEntry[];
}

const MAX_FINDINGS = 50;
const MAX_CIDRS = 8;

/** cidrTexts' answers of one run: many findings name the same ranges
 * (everywhere but the nodes), and splitting a wide IPv6 range into CIDRs
 * is the costliest step of a run of many expectations. */
type CidrMemo = Map<string, string[]>;

/** At most MAX_CIDRS CIDRs, '…' for more. Depends on the first MAX_CIDRS + 1
 * ranges only (each gives one CIDR at least), so those are its memo key. */
function cidrTexts(ranges: AddrRange[], family: Family, memo?: CidrMemo): string[] {
  const key = memo && `${family}|${ranges.length > MAX_CIDRS + 1}|${ranges.slice(0, MAX_CIDRS + 1).map((r) => `${r.lo}-${r.hi}`).join(',')}`;
  const known = key === undefined ? undefined : memo!.get(key);
  if (known) return [...known];
  const texts = cidrTextsOf(ranges, family);
  if (key !== undefined) memo!.set(key, texts);
  return [...texts];
}

function cidrTextsOf(ranges: AddrRange[], family: Family): string[] {
  const out: Cidr[] = [];
  for (const r of ranges) {
    for (const c of rangeToCidrs(r, family)) {
      out.push(c);
      if (out.length > MAX_CIDRS) break;
    }
    if (out.length > MAX_CIDRS) break;
  }
  const texts = out.slice(0, MAX_CIDRS).map(formatAddress);
  if (out.length > MAX_CIDRS) texts.push('…');
  return texts;
}

const addressText = (family: Family, v: bigint) => formatAddress({ family, base: v, prefix: family === 'ipv4' ? 32 : 128 });

/** explain on one flow, per role that decides it (the destination's role
 * for the way in, the source's for the way out). */
function explainPair(ctx: PolicyContext, family: Family, s: bigint, d: bigint, transport: Transport, port: number, files?: OutputEntry[]) {
  const from = addressText(family, s);
  const to = addressText(family, d);
  const query = explainQuery(transport, port);
  const rd = roleOf(ctx, family, d);
  const rs = roleOf(ctx, family, s);
  const sides = [rd, rs].filter((r, i, a) => r >= 0 && a.indexOf(r) === i);
  if (!sides.length) sides.push(0);
  const multi = ctx.irs.length > 1;
  const explanations = sides.map((i) => {
    const ir = ctx.irs[i];
    // That role's own answer (explain alone would combine both ends):
    // a failure names what each deciding role does.
    const e = explainFlow({ ...ctx.loaded, ir, roles: [ir] }, { from, to, port: query });
    if (files) {
      // Several roles: each role's files are under <target>/<role>/.
      const own = multi ? files.filter((f) => f.path.split('/')[2] === ir.host) : [];
      e.target_lines = targetLines(e, own.length ? own : files);
    }
    return { ...(multi ? { role: ir.host } : {}), explanation: e };
  });
  return { from, to, port: query, explanations };
}

function families(x: Expectation): Family[] {
  return (['ipv4', 'ipv6'] as Family[]).filter((f) => x.from.ranges[f].length && x.to.ranges[f].length);
}

/** Findings of one kind on one transport, pieces with the same offending
 * pairs and deciding rules merged into one port list. */
class Collector {
  readonly findings: Finding[] = [];
  readonly byKey = new Map<string, Finding>();
  more = 0;
  add(key: string, make: () => Finding, piece: PortRange): void {
    const f = this.byKey.get(key);
    if (f) {
      const last = f.ports[f.ports.length - 1];
      if (last.hi + 1 === piece.lo) last.hi = piece.hi;
      else f.ports.push({ ...piece });
      return;
    }
    if (this.findings.length >= MAX_FINDINGS) {
      this.more++;
      return;
    }
    const made = make();
    this.byKey.set(key, made);
    this.findings.push(made);
  }
}

export function runExpectations(ctx: PolicyContext, expectations: Expectation[], options: RunOptions = {}): ExpectationResult[] {
  const memo: CidrMemo = new Map();
  return expectations.map((x) => runOne(ctx, x, options, memo));
}

function runOne(ctx: PolicyContext, x: Expectation, options: RunOptions, memo?: CidrMemo): ExpectationResult {
  const fams = families(x);
  if (!fams.length) {
    const empty = [x.from, x.to].filter((e) => !e.ranges.ipv4.length && !e.ranges.ipv6.length).map((e) => `'${e.text}' has no addresses in this profile`);
    const why = empty.length ? empty.join('; ') : `from and to share no address family`;
    return { expectation: x, ok: false, vacuous: `checks no flow: ${why}`, findings: [] };
  }
  const out = new Collector();
  /** Every pair allowed on `piece`? Every pair denied? Adds the findings. */
  const check = (family: Family, transport: Transport, piece: PortRange, want: 'allow' | 'deny') => {
    const F = x.from.ranges[family];
    const T = x.to.ranges[family];
    // What must be denied under only / reaches nothing leaves out the ICMP
    // every host lets through; what must be allowed counts it.
    const rects = allowedRects(ctx, family, transport, piece.lo, { hostIcmp: x.kind === 'port' || want === 'allow' });
    const bad: Rect[] = want === 'deny' ? allowedWithin(rects, F, T) : [deniedWithin(rects, F, T)].filter((r): r is Rect => !!r);
    for (const r of bad) {
      // A flow between two addresses where the pair allows (not a node to itself).
      const s = r.src[0].lo;
      const d = r.dst[0].lo !== s || r.dst[0].hi > s ? (r.dst[0].lo !== s ? r.dst[0].lo : s + 1n) : r.dst[1]?.lo ?? s;
      const example = explainPair(ctx, family, s, d, transport, piece.lo, options.targetFiles);
      const sources = cidrTexts(r.src, family, memo);
      const destinations = cidrTexts(r.dst, family, memo);
      const rules = example.explanations.flatMap((e) => e.explanation.rules.map((ru) => ru.id)).join(',');
      const key = `${want}|${family}|${transport}|${sources.join(',')}|${destinations.join(',')}|${rules}`;
      out.add(key, () => ({ problem: want === 'deny' ? 'allowed' : 'denied', family, transport, ports: [{ ...piece }], sources, destinations, example }), piece);
      if (want === 'deny') mergeRows(out, key, example);
    }
  };
  for (const family of fams) {
    if (x.kind === 'port') {
      const p = x.port!;
      if (!carries(p.transport, family)) continue;
      for (const piece of portPieces(ctx, p.transport, family, [p.range])) if (piece.lo >= p.range.lo && piece.hi <= p.range.hi) check(family, p.transport, piece, x.expect!);
      continue;
    }
    // only / reaches nothing: every transport the model knows, and any the
    // expectation names.
    const listed = x.only ?? [];
    const transports = [...new Set<Transport>([...TRANSPORTS, ...listed.map((p) => p.transport)])];
    for (const t of transports) {
      if (!carries(t, family)) continue;
      const mine = listed.filter((p) => p.transport === t).map((p) => p.range);
      for (const piece of portPieces(ctx, t, family, mine)) check(family, t, piece, mine.some((r) => r.lo <= piece.lo && piece.hi <= r.hi) ? 'allow' : 'deny');
    }
  }
  const findings = out.findings;
  return { expectation: x, ok: !findings.length, findings, ...(out.more ? { more: out.more } : {}) };
}

/** A merged finding lists the rows of every port it covers (explain names
 * only the rows of the port it was asked about). */
function mergeRows(out: Collector, key: string, example: Finding['example']): void {
  const f = out.byKey.get(key);
  if (!f || f.example === example) return;
  f.example.explanations.forEach((e, i) => {
    const other = example.explanations[i]?.explanation;
    if (!other) return;
    for (const rule of e.explanation.rules) {
      const o = other.rules.find((r) => r.id === rule.id);
      if (!o) continue;
      for (const row of o.rows) if (!rule.rows.some((r) => r.ref === row.ref)) rule.rows.push(row);
    }
  });
}

export { policyContext };
