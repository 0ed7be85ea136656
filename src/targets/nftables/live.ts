// nftables on a running host (src/targets/live.ts): everything of ours is
// `table inet portcullis`, so save, apply and restore each work on that one
// table in one nft transaction, and no other table is ever named.
//
//   check    nft -c -f portcullis.nft         (the kernel checks, commits nothing)
//   save     nft list table inet portcullis   (its text reloads as it was)
//   apply    nft -f portcullis.nft            (the file replaces only our table)
//   restore  nft -f -  with  `table …; delete table …; <saved listing>`
//   read     nft -j list table inet portcullis, parsed into flow rules
//            (what the audit compares as flows) and canonical other lines
//   expected the same read of the compiled file loaded in a throwaway
//            network namespace (unshare --net), so live and expected are
//            both the kernel's own listing and compare like with like.

import * as path from 'path';
import { AddrRange, cidrRange, Family, FULL_RANGE, intersectRanges, mergeRanges, parseAddress } from '../../addresses';
import type { Direction, Transport } from '../../ir/types';
import { intersectPorts, mergePorts, PortRange } from '../../ports';
import { TRANSPORTS as AUDITED_TRANSPORTS } from '../../analysis/flows';
import { carries, fullSpace, hasPorts, parseIcmpType, TRANSPORT_FACTS, TRANSPORTS, transportKind } from '../../transports';
import { HostShell, LiveFlowRule, LiveRead, LiveTarget, runOk, SavedState, ToolRejected, oneLine } from '../live';
import { LIVE_ARGV } from './host';

/** Our table. The template (templates/nftables/portcullis.nft.hbs) writes
 * the same name; render.ts has no constant for it, so it is named here. */
export const TABLE_FAMILY = 'inet';
export const TABLE_NAME = 'portcullis';
const TABLE = [TABLE_FAMILY, TABLE_NAME] as const;
const TABLE_TEXT = `table ${TABLE_FAMILY} ${TABLE_NAME}`;
const FILE = 'portcullis.nft';

/** Declaring the table first makes the delete safe when it does not exist:
 * the same preamble the compiled file begins with. */
const REPLACE_PREAMBLE = `${TABLE_TEXT}\ndelete ${TABLE_TEXT}\n`;

/** Loads $1 in a fresh, empty network namespace and lists our table from
 * there: nothing on this host is touched. */
const EXPECTED_SCRIPT = `nft -f "$1" && nft -j list table ${TABLE_FAMILY} ${TABLE_NAME}`;

interface SavedData {
  /** `nft list table inet portcullis` as it was; '' when there was none. */
  listing: string;
}

// ---------------------------------------------------------------- save / restore

/** Whether our table exists, from `nft -j list tables` (which succeeds
 * when there are no tables at all, unlike `list table`). */
function tableExists(sh: HostShell): boolean {
  const out = runOk(sh, ['nft', '-j', 'list', 'tables']);
  const items = parseNftJson(out, 'nft -j list tables');
  return items.some((o) => isRecord(o.table) && o.table.family === TABLE_FAMILY && o.table.name === TABLE_NAME);
}

/** Runs `nft [-j] list table inet portcullis`: its stdout, or undefined
 * when the table does not exist. Any other failure throws. */
function listTable(sh: HostShell, json: boolean): string | undefined {
  const argv = ['nft', ...(json ? ['-j'] : []), 'list', 'table', ...TABLE];
  const r = sh.run(argv);
  if (r.code === 0) return r.stdout;
  // "No such file or directory" is nft's wording for a missing table, but
  // also for other errors: ask the table list instead of the message.
  if (!tableExists(sh)) return undefined;
  throw new ToolRejected(`\`${argv.join(' ')}\` failed (exit ${r.code}): ${(r.stderr || r.stdout).trim()}`);
}

function savedData(saved: SavedState): SavedData {
  const data = saved.data as Partial<SavedData> | null;
  if (saved.target !== 'nftables' || !data || typeof data.listing !== 'string') throw new Error('internal: not a saved nftables state');
  if (!saved.empty && !data.listing.startsWith(`${TABLE_TEXT} {\n`))
    throw new Error(`internal: a saved nftables state must be a listing of ${TABLE_TEXT}`);
  return data as SavedData;
}

/** Counter values and set element expiry change while nothing is applied. */
function stripVolatile(listing: string): string {
  return listing.replace(/ packets \d+ bytes \d+/g, '').replace(/ expires [0-9a-z]+/g, '');
}

// ---------------------------------------------------------------- JSON listing

type Json = null | boolean | number | string | Json[] | { [k: string]: Json };
type JsonObject = { [k: string]: Json };

function isRecord(v: unknown): v is JsonObject {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function parseNftJson(text: string, what: string): JsonObject[] {
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch (e) {
    throw new ToolRejected(`\`${what}\` printed no JSON: ${(e as Error).message}`);
  }
  if (!isRecord(doc) || !Array.isArray(doc.nftables)) throw new ToolRejected(`\`${what}\` printed JSON without an "nftables" list`);
  return doc.nftables.filter(isRecord);
}

/** Stable text of a JSON value: keys sorted; the elements of an anonymous
 * set sorted too (a hash set lists in the kernel's order). */
function canonical(v: Json, inSet = false): string {
  if (Array.isArray(v)) {
    const items = v.map((x) => canonical(x));
    if (inSet) items.sort();
    return `[${items.join(',')}]`;
  }
  if (isRecord(v))
    return `{${Object.keys(v)
      .sort()
      .map((k) => `${JSON.stringify(k)}:${canonical(v[k], k === 'set')}`)
      .join(',')}}`;
  return JSON.stringify(v);
}

/** A rule's expressions with counter values zeroed. */
function withoutCounts(expr: Json[]): Json[] {
  return expr.map((e) => (isRecord(e) && isRecord(e.counter) && !('name' in e.counter) ? { counter: { packets: 0, bytes: 0 } } : e));
}

// A readable one-line text of a rule, close to nft's own syntax, for
// origins; what it does not know it writes as compact JSON.

function valueText(v: Json): string {
  if (typeof v === 'string') return /^[@A-Za-z0-9_.:/*-]+$/.test(v) ? v : JSON.stringify(v);
  if (typeof v === 'number' || typeof v === 'boolean' || v === null) return String(v);
  if (Array.isArray(v)) return v.map(valueText).join(',');
  if (isRecord(v.set)) return valueText(v.set);
  if (Array.isArray(v.set)) return `{ ${v.set.map(valueText).join(', ')} }`;
  if (isRecord(v.prefix)) return `${valueText(v.prefix.addr)}/${valueText(v.prefix.len)}`;
  if (Array.isArray(v.range) && v.range.length === 2) return `${valueText(v.range[0])}-${valueText(v.range[1])}`;
  if (isRecord(v.elem)) return valueText(v.elem.val);
  return leftText(v);
}

const BARE_META = new Set(['iif', 'oif', 'iifname', 'oifname']);

function leftText(v: Json): string {
  if (isRecord(v)) {
    if (isRecord(v.payload) && typeof v.payload.protocol === 'string') return `${v.payload.protocol} ${valueText(v.payload.field)}`;
    if (isRecord(v.meta) && typeof v.meta.key === 'string') return BARE_META.has(v.meta.key) ? v.meta.key : `meta ${v.meta.key}`;
    if (isRecord(v.ct) && typeof v.ct.key === 'string') return `ct ${v.ct.key}`;
  }
  return JSON.stringify(v);
}

function exprText(e: Json): string {
  if (!isRecord(e)) return JSON.stringify(e);
  const [key] = Object.keys(e);
  const body = e[key];
  switch (key) {
    case 'match':
      if (isRecord(body)) {
        const op = body.op === '==' || body.op === 'in' ? '' : `${valueText(body.op)} `;
        return `${leftText(body.left)} ${op}${valueText(body.right)}`;
      }
      break;
    case 'counter':
      return isRecord(body) && typeof body.name !== 'string' ? 'counter' : `counter ${valueText(body)}`;
    case 'accept':
    case 'drop':
    case 'continue':
    case 'return':
      return key;
    case 'reject':
      return 'reject';
    case 'jump':
    case 'goto':
      if (isRecord(body)) return `${key} ${valueText(body.target)}`;
      break;
    case 'log':
      if (isRecord(body))
        return ['log', ...Object.keys(body).map((k) => `${k} ${typeof body[k] === 'string' ? JSON.stringify(body[k]) : valueText(body[k])}`)].join(' ');
      break;
    case 'limit':
      if (isRecord(body)) return `limit rate ${body.inv ? 'over ' : ''}${valueText(body.rate)}/${valueText(body.per)}`;
      break;
  }
  return JSON.stringify(e);
}


function ruleText(rule: NftRule): string {
  const parts = rule.expr.map(exprText);
  if (rule.comment !== undefined) parts.push(`comment ${JSON.stringify(rule.comment)}`);
  return oneLine(parts.join(' '));
}

// ---------------------------------------------------------------- classifying rules

interface NftRule {
  chain: string;
  comment?: string;
  expr: Json[];
}

interface NftSet {
  type: Json;
  elem: Json[];
}

const FAMILY_OF: Record<string, Family> = { ip: 'ipv4', ip6: 'ipv6' };
const ALL_FAMILIES: Family[] = ['ipv4', 'ipv6'];
const ALL_TRANSPORTS: readonly Transport[] = TRANSPORTS;
const ALL_PORTS: PortRange[] = [{ lo: 1, hi: 65535 }];
const ALL_TYPES: PortRange[] = [{ lo: 0, hi: 255 }];

/** IP protocol numbers by the names nft prints for them: the official
 * names of /etc/protocols (getprotobynumber), which differ between systems
 * (netbase: "ipencap" for 4; IANA-derived lists: "ipv4"). Debian's "ipip"
 * is 94, not IP-in-IP (4). A name not here is a protocol the flow model
 * does not have; a system without /etc/protocols prints numbers. */
const PROTOCOL_NUMBER: Record<string, number> = {
  icmp: 1,
  ipencap: 4,
  ipv4: 4,
  tcp: 6,
  udp: 17,
  gre: 47,
  esp: 50,
  ah: 51,
  'ipv6-icmp': 58,
  icmpv6: 58,
  ipip: 94,
  vrrp: 112,
  sctp: 132,
};

const TRANSPORT_OF_NUMBER = new Map<number, Transport>(TRANSPORTS.map((t) => [TRANSPORT_FACTS[t].number, t]));

/** One value of an l4proto/protocol/nexthdr match as a transport; undefined
 * for a protocol the flow model does not have. */
function transportOf(v: Json): Transport | undefined {
  const n = typeof v === 'number' ? v : typeof v === 'string' ? (/^[0-9]{1,3}$/.test(v) ? Number(v) : PROTOCOL_NUMBER[v]) : undefined;
  return n === undefined ? undefined : TRANSPORT_OF_NUMBER.get(n);
}

/** The transports a protocol match names: one value or an anonymous set. */
function transportsOf(right: Json): Set<Transport> {
  const values = isRecord(right) && Array.isArray(right.set) ? right.set : [right];
  const out = new Set<Transport>();
  for (const v of values) {
    const t = transportOf(v);
    if (t) out.add(t);
  }
  return out;
}

/** What the matches of one rule constrain, when every match is one the
 * flow model has: family, transport, destination ports (tcp, udp, sctp),
 * ICMP types (icmp, icmpv6), peer address. */
interface Constraint {
  families: Set<Family>;
  transports: Set<Transport>;
  ports?: PortRange[];
  types?: PortRange[];
  peers: Partial<Record<Family, AddrRange[]>>;
}

function keepTransports(c: Constraint, keep: (t: Transport) => boolean): void {
  c.transports = new Set([...c.transports].filter(keep));
}

/** Kinds of match in a rule, for recognising our own non-flow rules. */
type MatchKind = 'family' | 'l4proto' | 'peer' | 'host-addr' | 'dport' | 'sport' | 'ct-state' | 'lo' | 'icmp' | 'ifname' | 'other';

class Unmodelled extends Error {}

class Listing {
  readonly sets = new Map<string, NftSet>();
  private readonly addrCache = new Map<string, { family: Family; ranges: AddrRange[] }>();

  /** One address, prefix or range of the given family. */
  private addrRange(v: Json, family: Family): AddrRange {
    const one = (s: Json): AddrRange => {
      const r = typeof s === 'string' ? parseAddress(s) : undefined;
      if (!r?.ok || r.cidr.family !== family || r.cidr.prefix !== (family === 'ipv4' ? 32 : 128)) throw new Unmodelled();
      return { lo: r.cidr.base, hi: r.cidr.base };
    };
    if (typeof v === 'string') return one(v);
    if (isRecord(v)) {
      if (isRecord(v.elem)) return this.addrRange(v.elem.val, family);
      if (isRecord(v.prefix)) {
        const r = parseAddress(`${String(v.prefix.addr)}/${String(v.prefix.len)}`);
        if (!r.ok || r.cidr.family !== family) throw new Unmodelled();
        return cidrRange(r.cidr);
      }
      if (Array.isArray(v.range) && v.range.length === 2) {
        const lo = one(v.range[0]).lo;
        const hi = one(v.range[1]).hi;
        if (lo > hi) throw new Unmodelled();
        return { lo, hi };
      }
    }
    throw new Unmodelled();
  }

  /** A match's right side as address ranges: literal, anonymous set, or
   * @named set resolved from the listing (cached: a set of 10,000 nodes is
   * referenced by several rules). */
  addrs(v: Json, family: Family): AddrRange[] {
    if (typeof v === 'string' && v.startsWith('@')) {
      const name = v.slice(1);
      let hit = this.addrCache.get(name);
      if (!hit) {
        const set = this.sets.get(name);
        const type = family === 'ipv4' ? 'ipv4_addr' : 'ipv6_addr';
        if (!set || set.type !== type) throw new Unmodelled();
        hit = { family, ranges: mergeRanges(set.elem.map((e) => this.addrRange(e, family))) };
        this.addrCache.set(name, hit);
      }
      if (hit.family !== family) throw new Unmodelled();
      return hit.ranges;
    }
    if (isRecord(v) && Array.isArray(v.set)) return mergeRanges(v.set.map((e) => this.addrRange(e, family)));
    return [this.addrRange(v, family)];
  }

  /** One value, element or range of a port or ICMP type match; `value`
   * reads one value (a port number; a type's number or nft's name). */
  private valueRange(v: Json, value: (x: Json) => number | undefined): PortRange {
    const n = value(v);
    if (n !== undefined) return { lo: n, hi: n };
    if (isRecord(v)) {
      if (isRecord(v.elem)) return this.valueRange(v.elem.val, value);
      if (Array.isArray(v.range) && v.range.length === 2) {
        const lo = this.valueRange(v.range[0], value).lo;
        const hi = this.valueRange(v.range[1], value).hi;
        if (lo <= hi) return { lo, hi };
      }
    }
    throw new Unmodelled();
  }

  /** A match's right side as merged ranges of values 0..max: literal,
   * anonymous set, @named set of `setType`, or a comparison with one value
   * (`tcp dport < 1024`). */
  private valueRanges(op: Json, v: Json, max: number, setType: string, value: (x: Json) => number | undefined): PortRange[] {
    let ranges: PortRange[];
    if (typeof v === 'string' && v.startsWith('@')) {
      const set = this.sets.get(v.slice(1));
      if (!set || set.type !== setType) throw new Unmodelled();
      ranges = set.elem.map((e) => this.valueRange(e, value));
    } else if (isRecord(v) && Array.isArray(v.set)) ranges = v.set.map((e) => this.valueRange(e, value));
    else ranges = [this.valueRange(v, value)];
    ranges = mergePorts(ranges);
    if (op === '==' || op === 'in') return ranges;
    if (ranges.length === 1 && ranges[0].lo === ranges[0].hi) {
      const p = ranges[0].lo;
      const span = { '<': [0, p - 1], '<=': [0, p], '>': [p + 1, max], '>=': [p, max] }[String(op)];
      if (span) return span[0] <= span[1] ? [{ lo: span[0], hi: span[1] }] : [];
    }
    throw new Unmodelled();
  }

  ports(op: Json, v: Json): PortRange[] {
    return this.valueRanges(op, v, 65535, 'inet_service', (x) => (typeof x === 'number' && Number.isInteger(x) && x >= 0 && x <= 65535 ? x : undefined));
  }

  /** ICMP types: numbers, or the names nft prints (src/transports.ts has
   * all of them: test/nftables-transports.test.ts checks every type). */
  types(transport: 'icmp' | 'icmpv6', op: Json, v: Json): PortRange[] {
    const setType = transport === 'icmp' ? 'icmp_type' : 'icmpv6_type';
    return this.valueRanges(op, v, 255, setType, (x) =>
      typeof x === 'number' ? (Number.isInteger(x) && x >= 0 && x <= 255 ? x : undefined) : typeof x === 'string' && !x.startsWith('@') ? parseIcmpType(transport, x) : undefined,
    );
  }
}

function positive(op: Json): boolean {
  return op === '==' || op === 'in';
}

/** The kind of one match and what it constrains (into c); throws
 * Unmodelled when it is not a match the flow model has. */
function addMatch(listing: Listing, chain: 'input' | 'output', m: JsonObject, c: Constraint, kinds: MatchKind[]): void {
  const { left, right, op } = m;
  if (isRecord(left) && isRecord(left.meta)) {
    const key = left.meta.key;
    if (key === 'nfproto' && positive(op)) {
      kinds.push('family');
      const fams = (isRecord(right) && Array.isArray(right.set) ? right.set : [right]).map((x) => (x === 'ipv4' || x === 'ipv6' ? x : undefined));
      c.families = new Set([...c.families].filter((f) => fams.includes(f)));
      return;
    }
    if (key === 'l4proto' && positive(op)) {
      kinds.push('l4proto');
      const named = transportsOf(right);
      keepTransports(c, (t) => named.has(t));
      return;
    }
    if ((key === 'iif' || key === 'oif') && right === 'lo') kinds.push('lo');
    else if (key === (chain === 'input' ? 'iifname' : 'oifname')) kinds.push('ifname');
    else kinds.push('other');
    throw new Unmodelled();
  }
  if (isRecord(left) && isRecord(left.ct)) {
    kinds.push(left.ct.key === 'state' ? 'ct-state' : 'other');
    throw new Unmodelled();
  }
  if (isRecord(left) && isRecord(left.payload) && typeof left.payload.protocol === 'string' && typeof left.payload.field === 'string') {
    const { protocol, field } = left.payload;
    const family = FAMILY_OF[protocol];
    if (family && (field === 'saddr' || field === 'daddr')) {
      const peer = field === (chain === 'input' ? 'saddr' : 'daddr');
      kinds.push(peer ? 'peer' : 'host-addr');
      if (!peer || !positive(op)) throw new Unmodelled();
      c.families = new Set([...c.families].filter((f) => f === family));
      const ranges = listing.addrs(right, family);
      const had = c.peers[family];
      c.peers[family] = had ? intersectRanges(mergeRanges(had), mergeRanges(ranges)) : ranges;
      return;
    }
    if (family && (field === 'protocol' || field === 'nexthdr') && positive(op)) {
      kinds.push('l4proto');
      c.families = new Set([...c.families].filter((f) => f === family));
      const named = transportsOf(right);
      keepTransports(c, (t) => named.has(t));
      return;
    }
    // `th dport`: any transport with ports where they are (tcp, udp, sctp).
    const portProtocol = protocol === 'th' || ((TRANSPORTS as readonly string[]).includes(protocol) && hasPorts(protocol as Transport));
    if (portProtocol && field === 'dport') {
      kinds.push('dport');
      keepTransports(c, (t) => (protocol === 'th' ? hasPorts(t) : t === protocol));
      const ports = listing.ports(op, right);
      c.ports = c.ports ? intersectPorts(c.ports, ports) : ports;
      return;
    }
    if ((protocol === 'icmp' || protocol === 'icmpv6') && field === 'type') {
      kinds.push('icmp');
      keepTransports(c, (t) => t === protocol);
      const types = listing.types(protocol, op, right);
      c.types = c.types ? intersectPorts(c.types, types) : types;
      return;
    }
    if (portProtocol && field === 'sport') kinds.push('sport');
    else kinds.push('other');
    throw new Unmodelled();
  }
  kinds.push('other');
  throw new Unmodelled();
}

const NON_DECIDING = new Set(['counter', 'log']);
const TERMINAL = new Set(['accept', 'drop', 'reject', 'jump', 'goto', 'queue', 'return']);

/** Our own rules that are not flows (the template's loopback, conntrack,
 * ICMP, trusted interfaces and the baseline with source ports), by the
 * kinds of their matches. */
function isOurShape(kinds: MatchKind[], chainName: string): boolean {
  const k = new Set(kinds);
  const only = (...allowed: MatchKind[]) => [...k].every((x) => allowed.includes(x));
  if (k.has('other')) return false;
  if (k.has('ct-state')) return only('ct-state');
  if (k.has('lo')) return only('lo');
  if (k.has('icmp')) return only('icmp', 'family', 'l4proto');
  if (k.has('ifname')) return only('ifname') && (chainName === 'input' || chainName === 'output');
  if (k.has('sport')) return only('sport', 'dport', 'peer', 'host-addr', 'family', 'l4proto');
  return false;
}

type Classified = { kind: 'flows'; flows: LiveFlowRule[] } | { kind: 'other' } | { kind: 'unmapped' };

/** A flow's `ports` by the IR's conventions (src/transports.ts):
 * destination ports, ICMP types ([0-255]: any), or [0-0] for a portless
 * protocol. */
function flowPorts(transport: Transport, c: Constraint): PortRange[] {
  switch (transportKind(transport)) {
    case 'ports':
      return intersectPorts(c.ports ?? ALL_PORTS, ALL_PORTS);
    case 'icmp':
      return intersectPorts(c.types ?? ALL_TYPES, ALL_TYPES);
    case 'portless':
      return [fullSpace(transport)];
  }
}

/** Transports `portcullis audit` compares as flows (src/analysis/flows.ts).
 * Until it compares every transport, a flow rule that has flows of others
 * (ICMP, SCTP, ESP, …) is also compared as a line, so that adding, removing
 * or changing it is still drift; with every transport audited this adds
 * nothing. */
const AUDITED = new Set<Transport>(AUDITED_TRANSPORTS);

function classify(listing: Listing, rule: NftRule, chain: 'input' | 'output'): Classified {
  const c: Constraint = { families: new Set(ALL_FAMILIES), transports: new Set(ALL_TRANSPORTS), peers: {} };
  const kinds: MatchKind[] = [];
  let verdict: string | undefined;
  let modelled = true;
  let statementsOk = true;
  for (const e of rule.expr) {
    if (!isRecord(e)) {
      statementsOk = false;
      continue;
    }
    const [key] = Object.keys(e);
    if (key === 'match' && isRecord(e.match)) {
      if (verdict) continue; // after a verdict nothing is evaluated
      try {
        addMatch(listing, chain, e.match, c, kinds);
      } catch (err) {
        if (!(err instanceof Unmodelled)) throw err;
        modelled = false;
      }
    } else if (TERMINAL.has(key)) {
      verdict ??= key;
    } else if (!NON_DECIDING.has(key)) {
      // limit, quota, meta set, nat, …: changes what the rule decides.
      statementsOk = false;
      modelled = false;
    }
  }
  if (!verdict) return { kind: 'other' };
  const flowVerdict = verdict === 'accept' ? 'accept' : verdict === 'drop' || verdict === 'reject' ? 'drop' : undefined;
  if (modelled && flowVerdict) {
    const flows: LiveFlowRule[] = [];
    const direction: Direction = chain === 'input' ? 'ingress' : 'egress';
    const ruleId = ruleIdOf(rule.comment);
    const origin = `chain ${chain}: ${ruleText(rule)}`;
    for (const family of ALL_FAMILIES) {
      if (!c.families.has(family)) continue;
      const peers = c.peers[family] ?? [FULL_RANGE[family]];
      if (!peers.length) continue;
      for (const transport of ALL_TRANSPORTS) {
        if (!c.transports.has(transport) || !carries(transport, family)) continue;
        const ports = flowPorts(transport, c);
        if (!ports.length) continue;
        flows.push({ direction, family, transport, ports, peers, verdict: flowVerdict, ...(ruleId ? { ruleId } : {}), origin });
      }
    }
    // A rule that can match no flow (a protocol the model does not have,
    // an empty intersection) decides nothing the flows show: compared as a line.
    return flows.length ? { kind: 'flows', flows } : { kind: 'other' };
  }
  if (statementsOk && (verdict === 'accept' || verdict === 'drop') && isOurShape(kinds, chain)) return { kind: 'other' };
  return { kind: 'unmapped' };
}

/** Our comments begin with the rule id ("in-admins-v4-tcp T1.1,…"). */
function ruleIdOf(comment: string | undefined): string | undefined {
  const first = comment?.split(' ')[0];
  return first && /^[A-Za-z0-9_.:-]{1,64}$/.test(first) ? first : undefined;
}

const BASE_CHAINS = { input: 'input', output: 'output' } as const;

/** Parses `nft -j list table inet portcullis` output into a LiveRead. */
export function parseRead(json: string, what: string): LiveRead {
  const items = parseNftJson(json, what);
  const listing = new Listing();
  const other: string[] = [];
  const unmapped: string[] = [];
  const flowRules: LiveFlowRule[] = [];
  /** Chains that are our base chains: named input/output and hooked there. */
  const base = new Set<string>();
  const policies = new Map<string, string>();
  for (const o of items) {
    if (isRecord(o.set) && typeof o.set.name === 'string') listing.sets.set(o.set.name, { type: o.set.type, elem: Array.isArray(o.set.elem) ? o.set.elem : [] });
    else if (isRecord(o.table)) {
      const flags = Array.isArray(o.table.flags) && o.table.flags.length ? ` flags ${o.table.flags.map(valueText).join(',')}` : '';
      other.push(`${TABLE_TEXT}${flags}`);
    } else if (isRecord(o.chain) && typeof o.chain.name === 'string') {
      const ch = o.chain;
      const name = ch.name as string;
      const hooked = typeof ch.hook === 'string';
      if (hooked && (BASE_CHAINS as Record<string, string>)[name] === ch.hook && ch.type === 'filter') {
        base.add(name);
        policies.set(name, String(ch.policy ?? 'accept'));
      }
      other.push(
        oneLine(
          hooked
            ? `chain ${name} type ${valueText(ch.type)} hook ${valueText(ch.hook)} priority ${valueText(ch.prio)} policy ${valueText(ch.policy ?? 'accept')}${ch.dev !== undefined ? ` devices ${valueText(ch.dev)}` : ''}`
            : `chain ${name}`,
        ),
      );
    } else if (!isRecord(o.rule) && !isRecord(o.metainfo)) {
      // Named objects (counter, quota, limit, ct helper, flowtable, …).
      const [kind] = Object.keys(o);
      const body = o[kind];
      if (isRecord(body)) {
        const { handle: _h, packets: _p, bytes: _b, used: _u, ...rest } = body;
        other.push(oneLine(`${kind} ${canonical(rest)}`));
      }
    }
  }
  for (const o of items) {
    if (!isRecord(o.rule)) continue;
    const r = o.rule;
    const rule: NftRule = {
      chain: String(r.chain),
      comment: typeof r.comment === 'string' ? r.comment : undefined,
      expr: Array.isArray(r.expr) ? r.expr : [],
    };
    const line = () => oneLine(`rule ${rule.chain} ${canonical({ ...(rule.comment !== undefined ? { comment: rule.comment } : {}), expr: withoutCounts(rule.expr) })}`);
    if (!base.has(rule.chain)) {
      // A chain of ours only by being in our table: reached by a jump
      // (itself unmapped) or hooked elsewhere.
      if (rule.expr.some((e) => isRecord(e) && TERMINAL.has(Object.keys(e)[0]))) unmapped.push(`chain ${oneLine(rule.chain)}: ${ruleText(rule)}`);
      else other.push(line());
      continue;
    }
    const got = classify(listing, rule, rule.chain as 'input' | 'output');
    if (got.kind === 'flows') {
      flowRules.push(...got.flows);
      if (got.flows.some((f) => !AUDITED.has(f.transport))) other.push(line());
    } else if (got.kind === 'other') other.push(line());
    else unmapped.push(`chain ${rule.chain}: ${ruleText(rule)}`);
  }
  // A base chain's end is its policy: `policy accept` (output under egress
  // allow, or a policy changed by hand) lets through what no rule decided,
  // so its flows end in an accept of everything; a drop added by hand
  // before it then takes away flows the policy allows.
  for (const [name, policy] of policies) {
    if (policy !== 'accept') continue;
    const direction: Direction = name === 'input' ? 'ingress' : 'egress';
    for (const family of ALL_FAMILIES)
      for (const transport of ALL_TRANSPORTS)
        if (carries(transport, family))
          flowRules.push({ direction, family, transport, ports: [fullSpace(transport)], peers: [FULL_RANGE[family]], verdict: 'accept', origin: `chain ${name}: policy accept (the chain's end)` });
  }
  // Per direction in evaluation order: input's rules come before output's
  // in the listing, and each chain's rules are in order, the policy last.
  return { present: true, flowRules, other, unmapped };
}

const ABSENT: LiveRead = { present: false, flowRules: [], other: [], unmapped: [] };

function countListing(listing: string): { sets: number; chains: number; rules: number } {
  let sets = 0;
  let chains = 0;
  let rules = 0;
  let inChain = false;
  for (const line of listing.split('\n')) {
    if (/^\tset /.test(line)) sets++;
    if (/^\tchain /.test(line)) {
      chains++;
      inChain = true;
    } else if (/^\t}/.test(line)) inChain = false;
    else if (inChain && /^\t\t\S/.test(line) && !/^\t\ttype /.test(line)) rules++;
  }
  return { sets, chains, rules };
}

export const nftablesLive: LiveTarget = {
  name: 'nftables',
  tools: ['nft', 'unshare'],
  files: [FILE],

  check(sh, dir) {
    runOk(sh, ['nft', '-c', '-f', FILE], { cwd: dir });
  },

  save(sh) {
    const listing = listTable(sh, false);
    return { target: 'nftables', empty: listing === undefined, data: { listing: listing ?? '' } satisfies SavedData };
  },

  apply(sh, dir) {
    runOk(sh, LIVE_ARGV, { cwd: dir });
  },

  restore(sh, saved) {
    const { listing } = savedData(saved);
    // One transaction: our table as it was, or gone if there was none.
    runOk(sh, ['nft', '-f', '-'], { input: REPLACE_PREAMBLE + (saved.empty ? '' : listing) });
  },

  stateKey(saved) {
    const { listing } = savedData(saved);
    return saved.empty ? '' : stripVolatile(listing);
  },

  describe(saved) {
    const { listing } = savedData(saved);
    if (saved.empty) return `no ${TABLE_TEXT} (nothing of ours was loaded)`;
    const n = countListing(listing);
    return `${TABLE_TEXT} (${n.sets} sets, ${n.chains} chains, ${n.rules} rules)`;
  },

  read(sh) {
    const json = listTable(sh, true);
    return json === undefined ? { ...ABSENT } : parseRead(json, `nft -j list table ${TABLE.join(' ')}`);
  },

  readExpected(sh, dir) {
    const file = path.resolve(dir, FILE);
    const out = runOk(sh, ['unshare', '--net', 'sh', '-c', EXPECTED_SCRIPT, 'sh', file], { cwd: dir });
    return parseRead(out, `nft -j list table ${TABLE.join(' ')} (of ${file}, loaded in a new network namespace)`);
  },
};
