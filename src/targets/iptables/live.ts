// iptables on a running host (src/targets/live.ts). What is ours (issue 14):
// the chains PORTCULLIS-INPUT / PORTCULLIS-OUTPUT in the filter table of
// iptables and ip6tables, the jumps into them from INPUT / OUTPUT with their
// positions, and the ipsets named pc-… (render.ts, ipsetName). Never another
// chain, rule, policy or set.
//
//   check    the live commands of host.ts in a throwaway network namespace
//            (ipsets are per namespace too), so nothing on this host changes
//   save     iptables-save -c -t filter / ip6tables-save -c -t filter: our
//            chains, their rules, the jumps with their index; `ipset save`
//            of our sets
//   apply    the live commands of host.ts (the ipsets file fills each set
//            under a staging name and swaps it in, so its contents are
//            exactly the file's), then destroys pc- sets the file no longer
//            has and nothing references
//   restore  sets first (created, or staged and swapped), one
//            iptables-restore --noflush -c per family (chains, rules, jumps
//            at their saved index, chains we added since removed), then the
//            sets we added since destroyed
//   read     the same listings parsed into flow rules, other lines, unmapped
//            (every transport in the IR's terms: `-p` by name or number,
//            ports of tcp/udp/sctp, ICMP types, [0-0] for a portless one);
//            a chain of ours without an unconditional verdict ends in an
//            accept-all flow (what it leaves to INPUT / OUTPUT is not denied
//            by portcullis: egress allow, or a default deny deleted by hand)
//   expected the same read of the tree loaded in a throwaway network
//            namespace, so live and expected compare like with like.

import * as path from 'path';
import { AddrRange, cidrRange, Family, FULL_RANGE, intersectRanges, mergeRanges, parseAddress } from '../../addresses';
import { TRANSPORTS as AUDITED_TRANSPORTS } from '../../analysis/flows';
import type { Direction, Transport } from '../../ir/types';
import { intersectPorts, mergePorts, PortRange } from '../../ports';
import { ANY_ICMP_TYPE, carries, parseIcmpType, PORTLESS, TRANSPORT_FACTS, TRANSPORTS, transportKind } from '../../transports';
import { HostShell, LiveFlowRule, LiveRead, LiveTarget, runOk, SavedState, ToolRejected, oneLine } from '../live';
import { INPUT_CHAIN, LIVE_COMMANDS, OUTPUT_CHAIN } from './host';

/** The prefix of every set portcullis renders (render.ts, ipsetName). */
export const IPSET_PREFIX = 'pc-';
const OUR_CHAINS = [INPUT_CHAIN, OUTPUT_CHAIN];
/** The built-in chains we hook into, and the one of ours each hooks. */
const HOOKS: Record<string, string> = { INPUT: INPUT_CHAIN, OUTPUT: OUTPUT_CHAIN };
const FILES = ['ipsets', 'rules.v4', 'rules.v6'];

interface Tool {
  family: Family;
  save: string;
  restore: string;
}

const TOOLS: Tool[] = [
  { family: 'ipv4', save: 'iptables-save', restore: 'iptables-restore' },
  { family: 'ipv6', save: 'ip6tables-save', restore: 'ip6tables-restore' },
];

/** Loads the tree "$1" the way the live apply does, in whatever network
 * namespace it runs (a fresh one: `unshare --net`). */
const LOAD_SCRIPT = `cd "$1" && ${LIVE_COMMANDS.join(' && ')}`;
const SEPARATOR = '--- portcullis: next listing ---';
/** LOAD_SCRIPT, then the three listings read() reads, separated. */
const EXPECTED_SCRIPT = `${LOAD_SCRIPT} && iptables-save -c -t filter && echo '${SEPARATOR}' && ip6tables-save -c -t filter && echo '${SEPARATOR}' && ipset save`;


/** Runs argv; on failure throws ToolRejected naming `what` (not a long
 * script) with the tool's own message. */
function runStep(sh: HostShell, argv: readonly string[], what: string, options?: { input?: string; cwd?: string }): string {
  const r = sh.run(argv, options);
  if (r.code !== 0) throw new ToolRejected(`${what} failed (exit ${r.code}): ${(r.stderr || r.stdout).trim()}`);
  return r.stdout;
}

/** A live command as errors name it: the pipelines are long. */
function stepName(cmd: string): string {
  const m = /\| (ip6?tables-restore --noflush)$/.exec(cmd);
  const file = /rules\.v[46]/.exec(cmd)?.[0];
  return m && file ? `\`${m[1]}\` of ${file}` : `\`${cmd}\``;
}

// ---------------------------------------------------------------- listings

/** A word of a listing line; quoted words are never options. */
interface Word {
  text: string;
  quoted: boolean;
}

interface Line {
  /** The line as the tool printed it, counters included. */
  raw: string;
  words: Word[];
}

/** Splits a listing into lines of words as iptables-save quotes them
 * (libxtables xtables_save_string: double quotes, backslash escapes inside):
 * a line feed inside quotes belongs to the word, so a comment cannot fake
 * a line of its own. A hand loop over char codes: listings hold 10,000 set
 * elements. */
function splitListing(text: string): Line[] {
  const lines: Line[] = [];
  let words: Word[] = [];
  let cur = '';
  let curQuoted = false;
  let started = false;
  let quoted = false;
  let lineStart = 0;
  const endWord = () => {
    if (started) words.push({ text: cur, quoted: curQuoted });
    cur = '';
    curQuoted = false;
    started = false;
  };
  for (let i = 0; i <= text.length; i++) {
    const c = i < text.length ? text.charCodeAt(i) : 10;
    if (quoted) {
      if (c === 92 /* \ */ && i + 1 < text.length) cur += text[++i];
      else if (c === 34 /* " */) quoted = false;
      else if (i < text.length) cur += text[i];
      else quoted = false;
      continue;
    }
    if (c === 34) {
      quoted = true;
      curQuoted = true;
      started = true;
    } else if (c === 32 || c === 9) endWord();
    else if (c === 10) {
      endWord();
      if (words.length) lines.push({ raw: text.slice(lineStart, i), words });
      words = [];
      lineStart = i + 1;
    } else {
      cur += text[i];
      started = true;
    }
  }
  return lines;
}

/** A rule of one of our chains, or a jump into one of them. */
interface SavedRule {
  /** "[packets:bytes]" as saved, or '' without counters. */
  counters: string;
  /** The rule as iptables-save prints it, without counters: "-A CHAIN …". */
  text: string;
}

interface Jump extends SavedRule {
  /** INPUT or OUTPUT. */
  chain: string;
  /** 1-based position among all the rules of that chain. */
  index: number;
}

interface FilterState {
  /** Our chains that exist, in listing order. */
  chains: string[];
  /** Their rules in order (each chain's rules in evaluation order). */
  rules: SavedRule[];
  /** Every rule of INPUT / OUTPUT that jumps (or goes) into a chain of ours. */
  jumps: Jump[];
  /** How many rules INPUT and OUTPUT hold, ours included. */
  lengths: Record<string, number>;
}

interface IpSet {
  name: string;
  /** The `create` line as `ipset save` prints it. */
  create: string;
  /** Its `add` lines. */
  adds: string[];
}

interface SavedData {
  ipv4: FilterState;
  ipv6: FilterState;
  ipsets: IpSet[];
}

interface ParsedRule {
  chain: string;
  /** Words after `-A CHAIN`. */
  args: Word[];
  rule: SavedRule;
}

interface ParsedFilter {
  state: FilterState;
  /** Our chains' rules with their words, for read(). */
  parsed: ParsedRule[];
}

const COUNTERS = /^\[\d+:\d+\]$/;

/** The filter table of `iptables-save -c -t filter` (or without -c). */
function parseFilter(text: string): ParsedFilter {
  const state: FilterState = { chains: [], rules: [], jumps: [], lengths: { INPUT: 0, OUTPUT: 0 } };
  const parsed: ParsedRule[] = [];
  let table = '';
  for (const line of splitListing(text)) {
    const w = line.words;
    const first = w[0].text;
    if (first.startsWith('#') && !w[0].quoted) continue;
    if (first.startsWith('*')) {
      table = first.slice(1);
      continue;
    }
    if (table !== 'filter') continue;
    if (first.startsWith(':')) {
      const name = first.slice(1);
      if (OUR_CHAINS.includes(name)) state.chains.push(name);
      continue;
    }
    let k = 0;
    let counters = '';
    if (COUNTERS.test(first)) {
      counters = first;
      k = 1;
    }
    if (w[k]?.text !== '-A' || w.length < k + 2) continue;
    const chain = w[k + 1].text;
    const rest = line.raw.trimStart();
    const ruleText = counters ? rest.slice(rest.indexOf(counters) + counters.length).trimStart() : rest;
    const args = w.slice(k + 2);
    if (OUR_CHAINS.includes(chain)) {
      const rule = { counters, text: ruleText };
      state.rules.push(rule);
      parsed.push({ chain, args, rule });
    } else if (chain in HOOKS) {
      state.lengths[chain]++;
      if (jumpTarget(args).some((t) => OUR_CHAINS.includes(t))) state.jumps.push({ chain, index: state.lengths[chain], counters, text: ruleText });
    }
  }
  return { state, parsed };
}

/** The -j / -g targets of a rule's words. */
function jumpTarget(args: Word[]): string[] {
  const out: string[] = [];
  for (let i = 0; i + 1 < args.length; i++) if (!args[i].quoted && (args[i].text === '-j' || args[i].text === '-g')) out.push(args[i + 1].text);
  return out;
}

/** Our sets from `ipset save`: a hand loop over lines (10,000 elements). */
function parseIpsets(text: string): IpSet[] {
  const sets = new Map<string, IpSet>();
  let pos = 0;
  while (pos < text.length) {
    let end = text.indexOf('\n', pos);
    if (end < 0) end = text.length;
    const line = text.slice(pos, end);
    pos = end + 1;
    const isCreate = line.startsWith('create ');
    if (!isCreate && !line.startsWith('add ')) continue;
    const nameStart = isCreate ? 7 : 4;
    let nameEnd = line.indexOf(' ', nameStart);
    if (nameEnd < 0) nameEnd = line.length;
    const name = line.slice(nameStart, nameEnd);
    if (!name.startsWith(IPSET_PREFIX)) continue;
    if (isCreate) sets.set(name, { name, create: line, adds: [] });
    else sets.get(name)?.adds.push(line);
  }
  return [...sets.values()];
}

interface HostListing {
  filters: Record<Family, ParsedFilter>;
  ipsets: IpSet[];
}

function listHost(sh: HostShell): HostListing {
  const v4 = parseFilter(runOk(sh, [TOOLS[0].save, '-c', '-t', 'filter']));
  const v6 = parseFilter(runOk(sh, [TOOLS[1].save, '-c', '-t', 'filter']));
  return { filters: { ipv4: v4, ipv6: v6 }, ipsets: parseIpsets(runOk(sh, ['ipset', 'save'])) };
}

function isEmpty(d: SavedData): boolean {
  return !d.ipsets.length && TOOLS.every(({ family }) => !d[family].chains.length && !d[family].jumps.length && !d[family].rules.length);
}

function savedData(saved: SavedState): SavedData {
  const d = saved.data as Partial<SavedData> | null;
  const okFilter = (f: unknown) => !!f && Array.isArray((f as FilterState).chains) && Array.isArray((f as FilterState).rules) && Array.isArray((f as FilterState).jumps);
  if (saved.target !== 'iptables' || !d || !okFilter(d.ipv4) || !okFilter(d.ipv6) || !Array.isArray(d.ipsets)) throw new Error('internal: not a saved iptables state');
  for (const s of d.ipsets) if (!s.name.startsWith(IPSET_PREFIX)) throw new Error(`internal: a saved iptables state holds a set not of ours: ${s.name}`);
  return d as SavedData;
}

// ---------------------------------------------------------------- canonical text

/** A set's create line without what changes while nothing is applied:
 * hashsize grows with the elements, initval is random per (staged) set. */
function canonicalCreate(create: string): string {
  return create.replace(/ hashsize \d+/, '').replace(/ initval 0x[0-9a-fA-F]+/, '');
}

function canonicalAdd(add: string): string {
  return add.replace(/ packets \d+ bytes \d+/, '').replace(/ timeout \d+/, '');
}

function stateText(d: SavedData): string {
  const out: string[] = [];
  for (const { family } of TOOLS) {
    const f = d[family];
    for (const c of f.chains) out.push(`${family} chain ${c}`);
    for (const r of f.rules) out.push(`${family} ${r.text}`);
    for (const j of f.jumps) out.push(`${family} jump ${j.chain} ${j.index}: ${j.text}`);
  }
  // By name: a set restore had to create takes the kernel's first free
  // index, so `ipset save` may list it elsewhere than before.
  for (const s of [...d.ipsets].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0))) {
    out.push(canonicalCreate(s.create));
    out.push(...s.adds.map(canonicalAdd).sort());
  }
  return out.join('\n');
}

// ---------------------------------------------------------------- restore

/** A set name of ours not in `taken`, for staging (at most 31 characters). */
function stagingName(taken: Set<string>): string {
  for (let i = 0; ; i++) {
    const name = `${IPSET_PREFIX}restore-${i}`;
    if (!taken.has(name)) {
      taken.add(name);
      return name;
    }
  }
}

/** `create NAME rest` with NAME replaced. */
function renameSetLine(line: string, verb: string, from: string, to: string): string {
  return `${verb} ${to}${line.slice(verb.length + 1 + from.length)}`;
}

/** ipset restore input that makes the saved sets exist with exactly their
 * saved members: a set that exists is filled under a staging name and
 * swapped in (rules keep matching it meanwhile), a missing one created. */
function setsScript(saved: IpSet[], live: IpSet[]): string {
  const liveNames = new Set(live.map((s) => s.name));
  const taken = new Set([...liveNames, ...saved.map((s) => s.name)]);
  const out: string[] = [];
  for (const s of saved) {
    if (!liveNames.has(s.name)) {
      out.push(s.create, ...s.adds);
      continue;
    }
    const tmp = stagingName(taken);
    out.push(renameSetLine(s.create, 'create', s.name, tmp), ...s.adds.map((a) => renameSetLine(a, 'add', s.name, tmp)), `swap ${tmp} ${s.name}`, `destroy ${tmp}`);
  }
  return out.length ? out.join('\n') + '\n' : '';
}

/** iptables-restore --noflush -c input that puts back one family's saved
 * chains, rules and jumps, given what is live now: one atomic commit. */
function filterScript(saved: FilterState, live: FilterState): string {
  const out = ['*filter'];
  const gone = live.chains.filter((c) => !saved.chains.includes(c));
  // A declaration creates the chain or, with --noflush, empties it.
  for (const c of saved.chains) out.push(`:${c} - [0:0]`);
  for (const c of gone) out.push(`-F ${c}`);
  // Deleted by rule text: a rule changed meanwhile fails the whole commit.
  for (const j of live.jumps) out.push(`-D ${j.text.slice(3)}`);
  for (const c of gone) out.push(`-X ${c}`);
  for (const r of saved.rules) out.push(`${r.counters ? `${r.counters} ` : ''}${r.text}`);
  const others: Record<string, number> = {};
  for (const chain of Object.keys(HOOKS)) others[chain] = live.lengths[chain] - live.jumps.filter((j) => j.chain === chain).length;
  // In index order, each where it was; where other rules have gone since,
  // the end of the chain.
  for (const j of [...saved.jumps].sort((a, b) => a.index - b.index)) {
    const at = Math.min(j.index, others[j.chain] + 1);
    others[j.chain]++;
    const body = j.text.slice(`-A ${j.chain} `.length);
    out.push(`${j.counters ? `${j.counters} ` : ''}-I ${j.chain} ${at} ${body}`);
  }
  out.push('COMMIT');
  return out.join('\n') + '\n';
}

/** Destroys each set named; one still in use (another manager's rule
 * matches it) is left, as the kernel refuses it, and one gone meanwhile is
 * fine. */
function destroySets(sh: HostShell, names: string[]): void {
  for (const name of names) {
    const r = sh.run(['ipset', 'destroy', name]);
    if (r.code !== 0 && !/in use|does not exist/i.test(r.stderr)) throw new ToolRejected(`\`ipset destroy ${name}\` failed (exit ${r.code}): ${(r.stderr || r.stdout).trim()}`);
  }
}

// ---------------------------------------------------------------- read

/** The transports a family carries (ICMP only IPv4, ICMPv6 only IPv6). */
const FAMILY_TRANSPORTS: Record<Family, Transport[]> = {
  ipv4: TRANSPORTS.filter((t) => carries(t, 'ipv4')),
  ipv6: TRANSPORTS.filter((t) => carries(t, 'ipv6')),
};
/** The transports whose flows the audit evaluates (src/analysis/flows.ts).
 * A rule whose flows are all on other transports is compared as a line
 * instead (as every rule the flows cannot show), so a rule added by hand
 * is drift either way; once the audit evaluates every transport, every
 * rule the reader models is a flow. */
const AUDITED = new Set<Transport>(AUDITED_TRANSPORTS);
const ALL_PORTS: PortRange[] = [{ lo: 1, hi: 65535 }];

type MatchKind = 'peer' | 'host-addr' | 'l4proto' | 'dport' | 'sport' | 'ct-state' | 'lo' | 'ifname' | 'icmp' | 'limit' | 'comment' | 'other';

class Unmodelled extends Error {}

function parsePorts(text: string): PortRange[] {
  const out: PortRange[] = [];
  for (const part of text.split(',')) {
    const m = /^(\d*)(?::(\d*))?$/.exec(part);
    if (!m || (m[1] === '' && m[2] === undefined)) throw new Unmodelled();
    const lo = m[1] === '' ? 0 : Number(m[1]);
    const hi = m[2] === undefined ? lo : m[2] === '' ? 65535 : Number(m[2]);
    if (lo > hi || hi > 65535) throw new Unmodelled();
    out.push({ lo, hi });
  }
  return mergePorts(out);
}

function addrRange(text: string, family: Family): AddrRange {
  const dash = text.indexOf('-');
  if (dash > 0) {
    const lo = addrRange(text.slice(0, dash), family);
    const hi = addrRange(text.slice(dash + 1), family);
    if (lo.lo > hi.hi) throw new Unmodelled();
    return { lo: lo.lo, hi: hi.hi };
  }
  const r = parseAddress(text);
  if (!r.ok || r.cidr.family !== family) throw new Unmodelled();
  return cidrRange(r.cidr);
}

/** Element options that do not change what an element matches. */
const NEUTRAL_ELEMENT_OPTIONS = new Set(['timeout', 'packets', 'bytes', 'comment', 'skbmark', 'skbprio', 'skbqueue']);

/** Our sets by name, resolved to address ranges on first use (a set of
 * 10,000 nodes is referenced by several rules). */
class SetResolver {
  private readonly byName: Map<string, IpSet>;
  private readonly cache = new Map<string, AddrRange[] | 'unmodelled'>();
  constructor(sets: IpSet[]) {
    this.byName = new Map(sets.map((s) => [s.name, s]));
  }

  ranges(name: string, family: Family): AddrRange[] {
    const key = `${family} ${name}`;
    let hit = this.cache.get(key);
    if (hit === undefined) {
      try {
        hit = this.resolve(name, family);
      } catch (e) {
        if (!(e instanceof Unmodelled)) throw e;
        hit = 'unmodelled';
      }
      this.cache.set(key, hit);
    }
    if (hit === 'unmodelled') throw new Unmodelled();
    return hit;
  }

  private resolve(name: string, family: Family): AddrRange[] {
    const set = this.byName.get(name);
    if (!set) throw new Unmodelled();
    const words = set.create.split(' ');
    const type = words[2];
    const fam = words[words.indexOf('family') + 1];
    if (!(type === 'hash:net' || (type === 'hash:ip' && !words.includes('netmask')))) throw new Unmodelled();
    if (fam !== (family === 'ipv4' ? 'inet' : 'inet6')) throw new Unmodelled();
    const ranges: AddrRange[] = [];
    const skip = 5 + name.length; // "add NAME "
    for (const add of set.adds) {
      let end = add.indexOf(' ', skip);
      if (end < 0) end = add.length;
      else {
        // Options after the element: only those that match the same packets.
        const opts = add.slice(end + 1).split(' ');
        for (let i = 0; i < opts.length; i += 2) if (!NEUTRAL_ELEMENT_OPTIONS.has(opts[i])) throw new Unmodelled();
      }
      ranges.push(addrRange(add.slice(skip, end), family));
    }
    return mergeRanges(ranges);
  }
}

/** What the matches of one rule constrain, when every match is one the
 * flow model has: transport, destination ports or ICMP types, peer address. */
interface Constraint {
  transports: Transport[];
  /** Destination ports (tcp, udp, sctp matches). */
  ports?: PortRange[];
  /** ICMP / ICMPv6 types (the icmp and icmp6 matches). */
  types?: PortRange[];
  peers?: AddrRange[];
}

interface Parsed {
  kinds: MatchKind[];
  /** Set when a deciding match is one the flow model does not have. */
  unmodelled: boolean;
  c: Constraint;
  target?: string;
  comment?: string;
}

/** What `-p` says, as iptables-save prints it: the host's /etc/protocols
 * name for the number where it has one (Debian: esp, ah, gre, ipencap,
 * vrrp; IANA-generated files: ipv4 for 4), else iptables' built-in names
 * (tcp, udp, sctp, icmp, ipv6-icmp, esp, ah, all), else the number. Both
 * names and numbers read; "ipip" is protocol 94, not portcullis' ipip (4),
 * so it is unknown here like every protocol portcullis has no transport for. */
const PROTOCOLS = new Map<string, Transport | 'all'>([
  ['all', 'all'],
  ['0', 'all'],
  ...TRANSPORTS.map((t) => [String(TRANSPORT_FACTS[t].number), t] as const),
  ...TRANSPORTS.filter((t) => t !== 'ipip').map((t) => [t, t] as const),
  ['ipv6-icmp', 'icmpv6'],
  ['ipencap', 'ipip'],
  ['ip-encap', 'ipip'],
  ['ipv4', 'ipip'],
]);

/** An ICMP type as the icmp / icmp6 match prints it: a number, "any", or a
 * name (typed by hand on older versions); a type with a code ("3/1") is
 * narrower than any flow. */
function parseIcmpTypes(transport: 'icmp' | 'icmpv6', text: string): PortRange[] {
  if (text === 'any') return [...ANY_ICMP_TYPE];
  const n = parseIcmpType(transport, text);
  if (n === undefined) throw new Unmodelled();
  return [{ lo: n, hi: n }];
}

/** Options of a match module that take two values. */
const TWO_VALUES = new Set(['--match-set', '--tcp-flags']);

/** Walks a rule's words (after `-A CHAIN`): its matches, their kinds and
 * what they constrain, and its target. */
function parseRule(args: Word[], chain: string, family: Family, sets: SetResolver): Parsed {
  const input = chain === INPUT_CHAIN;
  const p: Parsed = { kinds: [], unmodelled: false, c: { transports: [...FAMILY_TRANSPORTS[family]] } };
  const peer = (ranges: AddrRange[]) => {
    p.c.peers = p.c.peers ? intersectRanges(p.c.peers, ranges) : ranges;
  };
  const ports = (ranges: PortRange[]) => {
    p.c.ports = p.c.ports ? intersectPorts(p.c.ports, ranges) : ranges;
  };
  const types = (transport: 'icmp' | 'icmpv6', ranges: PortRange[]) => {
    p.c.transports = p.c.transports.filter((x) => x === transport);
    p.c.types = p.c.types ? intersectPorts(p.c.types, ranges) : ranges;
  };
  /** Records a kind; `how` constrains, throwing Unmodelled when it cannot. */
  const match = (kind: MatchKind, negated: boolean, how?: () => void) => {
    p.kinds.push(kind);
    if (!how || negated) {
      if (kind !== 'comment') p.unmodelled = true;
      return;
    }
    try {
      how();
    } catch (e) {
      if (!(e instanceof Unmodelled)) throw e;
      p.unmodelled = true;
    }
  };
  let module = '';
  let negated = false;
  let i = 0;
  const value = () => args[++i]?.text ?? '';
  while (i < args.length) {
    const w = args[i];
    const t = w.text;
    if (!w.quoted && t === '!') {
      negated = true;
      i++;
      continue;
    }
    if (w.quoted || !t.startsWith('-')) {
      // A value no option took: nothing this reader knows.
      match('other', negated);
    } else if (t === '-j' || t === '-g') {
      p.target = `${t === '-g' ? 'goto ' : ''}${value()}`;
      break; // the rest are the target's options
    } else if (t === '-s' || t === '-d') {
      const v = value();
      const isPeer = (t === '-s') === input;
      match(isPeer ? 'peer' : 'host-addr', negated, isPeer ? () => peer([addrRange(v, family)]) : undefined);
    } else if (t === '-p') {
      const raw = value().toLowerCase();
      const v = PROTOCOLS.get(raw);
      // IPv6 AH is an extension header: ip6tables-legacy's `-p ah` never
      // matches it, nf_tables' does; no flow either way, so such a rule
      // is compared as a line (rules.v6 uses the ah match, below).
      const never = v === undefined || (v === 'ah' && family === 'ipv6');
      match(v === 'icmp' || v === 'icmpv6' ? 'icmp' : 'l4proto', negated, () => {
        if (never) p.c.transports = [];
        else if (v !== 'all') p.c.transports = p.c.transports.filter((x) => x === v);
      });
    } else if (t === '-i' || t === '-o') {
      const v = value();
      const ours = (t === '-i') === input;
      match(ours && v === 'lo' ? 'lo' : ours ? 'ifname' : 'other', negated);
    } else if (t === '-m') {
      module = value();
      // The ah match without options: every packet with an AH header (how
      // rules.v6 matches AH; in rules.v4 it follows `-p ah`).
      if (module === 'ah') match('l4proto', negated, () => (p.c.transports = p.c.transports.filter((x) => x === 'ah')));
    } else if (module === 'comment' && t === '--comment') {
      p.comment = value();
      match('comment', negated);
    } else if ((module === 'tcp' || module === 'udp' || module === 'sctp') && (t === '--dport' || t === '--destination-port')) {
      const v = value();
      match('dport', negated, () => ports(parsePorts(v)));
    } else if ((module === 'tcp' || module === 'udp' || module === 'sctp') && (t === '--sport' || t === '--source-port')) {
      value();
      match('sport', negated);
    } else if (module === 'multiport' && (t === '--dports' || t === '--destination-ports')) {
      const v = value();
      match('dport', negated, () => ports(parsePorts(v)));
    } else if (module === 'multiport' && (t === '--sports' || t === '--source-ports')) {
      value();
      match('sport', negated);
    } else if (module === 'set' && t === '--match-set') {
      const name = value();
      const dir = value();
      const isPeer = dir === (input ? 'src' : 'dst');
      match(isPeer ? 'peer' : 'other', negated, isPeer ? () => peer(sets.ranges(name, family)) : undefined);
    } else if ((module === 'conntrack' && t === '--ctstate') || (module === 'state' && t === '--state')) {
      value();
      match('ct-state', negated);
    } else if ((module === 'icmp' && t === '--icmp-type') || (module === 'icmp6' && t === '--icmpv6-type')) {
      const v = value();
      const transport = module === 'icmp' ? 'icmp' : 'icmpv6';
      match('icmp', negated, () => types(transport, parseIcmpTypes(transport, v)));
    } else if (module === 'limit' && (t === '--limit' || t === '--limit-burst')) {
      value();
      match('limit', negated);
    } else {
      // Any other option: its values are the words up to the next option.
      if (TWO_VALUES.has(t)) i += 2;
      else while (i + 1 < args.length && (args[i + 1].quoted || !args[i + 1].text.startsWith('-')) && args[i + 1].text !== '!') i++;
      match('other', negated);
    }
    negated = false;
    i++;
  }
  return p;
}

/** A flow's `ports` in the IR's terms (src/transports.ts): destination
 * ports 1-65535 of a port transport, ICMP types 0-255, [0-0] for a portless
 * protocol; empty when the rule's matches leave none (a port match on an
 * ICMP rule cannot be written, but the listing is read as it comes). */
function flowPorts(transport: Transport, c: Pick<Constraint, 'ports' | 'types'>): PortRange[] {
  switch (transportKind(transport)) {
    case 'ports':
      return c.types ? [] : intersectPorts(c.ports ?? ALL_PORTS, ALL_PORTS);
    case 'icmp':
      return c.ports ? [] : (c.types ?? [...ANY_ICMP_TYPE]);
    case 'portless':
      return c.ports || c.types ? [] : [...PORTLESS];
  }
}

/** The built-in chain that jumps into one of ours. */
const builtinOf = (chain: string) => (chain === INPUT_CHAIN ? 'INPUT' : 'OUTPUT');

/** Targets that end a chain's evaluation whatever follows. */
const FINAL_VERDICTS = new Set(['DROP', 'REJECT', 'ACCEPT']);

/** Targets that decide nothing (the packet goes on to the next rule). */
const NON_DECIDING_TARGETS = new Set(['LOG', 'NFLOG']);

/** Our own rules that are not flows (the template's loopback, conntrack,
 * ICMP, trusted interfaces, log, and the baseline with source ports), by
 * the kinds of their matches and their target. */
function isOurShape(p: Parsed): boolean {
  const k = new Set(p.kinds.filter((x) => x !== 'comment'));
  const only = (...allowed: MatchKind[]) => [...k].every((x) => allowed.includes(x));
  if (p.target === 'RETURN') return k.size > 0 && only('ifname');
  if (p.target !== 'ACCEPT' && p.target !== 'DROP') return false;
  if (k.has('other')) return false;
  if (k.has('ct-state')) return only('ct-state');
  if (k.has('lo')) return only('lo');
  if (k.has('icmp')) return only('icmp', 'l4proto');
  if (k.has('sport')) return only('sport', 'dport', 'peer', 'host-addr', 'l4proto');
  return false;
}

/** Our comments begin with the rule id ("in-admins-v4-tcp T1.1,…"). */
function ruleIdOf(comment: string | undefined): string | undefined {
  const first = comment?.split(' ')[0];
  return first && /^[A-Za-z0-9_.:-]{1,64}$/.test(first) ? first : undefined;
}

/** The position of a jump as the audit compares it: at either end of the
 * chain it says nothing, because the expected listing (a namespace with
 * only our rules) cannot tell "first" from "last"; in the middle it is
 * drift whichever hook the profile asks for. */
function hookLine(family: Family, j: Jump, length: number): string {
  const at = j.index === 1 || j.index === length ? '' : ` (rule ${j.index} of ${length})`;
  return oneLine(`${family} hook ${j.text}${at}`);
}

function readListing(h: HostListing, audited: ReadonlySet<Transport> = AUDITED): LiveRead {
  const sets = new SetResolver(h.ipsets);
  const flowRules: LiveFlowRule[] = [];
  const other: string[] = [];
  const unmapped: string[] = [];
  let present = h.ipsets.length > 0;
  for (const { family } of TOOLS) {
    const { state, parsed } = h.filters[family];
    if (state.chains.length || state.jumps.length || state.rules.length) present = true;
    for (const c of state.chains) other.push(`${family} chain ${c}`);
    for (const j of state.jumps) other.push(hookLine(family, j, state.lengths[j.chain]));
    // Our chain's end: what no rule decided returns to INPUT / OUTPUT,
    // where other managers' rules and the policy decide, not portcullis.
    // A chain that lost its final DROP (or never had one: egress allow)
    // says so in a line of its own, and its flows end in an accept of
    // everything (below): what the flow model means by egress allow, and
    // "host allows" for a deleted default deny.
    const rules = parsed.map((r) => ({ r, p: parseRule(r.args, r.chain, family, sets) }));
    const decidesAll = (p: Parsed) => !!p.target && FINAL_VERDICTS.has(p.target) && p.kinds.every((k) => k === 'comment');
    const fallsThrough = state.chains.filter((c) => !rules.some(({ r, p }) => r.chain === c && decidesAll(p)));
    for (const c of fallsThrough) other.push(`${family} chain ${c} falls through: what it does not decide goes back to ${builtinOf(c)}`);
    for (const { r, p } of rules) {
      const body = r.rule.text.slice(`-A ${r.chain} `.length);
      const line = () => oneLine(`${family} ${r.rule.text}`);
      if (!p.target || NON_DECIDING_TARGETS.has(p.target)) {
        other.push(line());
        continue;
      }
      const verdict = p.target === 'ACCEPT' ? 'accept' : p.target === 'DROP' || p.target === 'REJECT' ? 'drop' : undefined;
      if (verdict && !p.unmodelled) {
        const direction: Direction = r.chain === INPUT_CHAIN ? 'ingress' : 'egress';
        const peers = p.c.peers ?? [FULL_RANGE[family]];
        const ruleId = ruleIdOf(p.comment);
        const origin = oneLine(`chain ${r.chain}: ${body}`);
        const flows: LiveFlowRule[] = [];
        if (peers.length)
          for (const transport of p.c.transports) {
            const ports = flowPorts(transport, p.c);
            if (ports.length && audited.has(transport)) flows.push({ direction, family, transport, ports, peers, verdict, ...(ruleId ? { ruleId } : {}), origin });
          }
        // A rule that can match no flow (an empty intersection), or only
        // flows of transports the audit does not evaluate, is compared as
        // a line.
        if (flows.length) flowRules.push(...flows);
        else other.push(line());
        continue;
      }
      if (isOurShape(p)) other.push(line());
      else unmapped.push(oneLine(`chain ${r.chain}: ${body}`));
    }
    for (const c of fallsThrough)
      for (const transport of FAMILY_TRANSPORTS[family])
        if (audited.has(transport)) flowRules.push({ direction: c === INPUT_CHAIN ? 'ingress' : 'egress', family, transport, ports: flowPorts(transport, {}), peers: [FULL_RANGE[family]], verdict: 'accept', origin: `chain ${c}: its end (back to ${builtinOf(c)})` });
  }
  for (const s of h.ipsets) other.push(oneLine(`ipset ${canonicalCreate(s.create)}`));
  return { present, flowRules, other, unmapped };
}

/** Parses `iptables-save [-c] -t filter`, `ip6tables-save [-c] -t filter`
 * and `ipset save` output into a LiveRead (what read() does after listing).
 * `audited`: the transports read as flows (default: those the audit
 * evaluates); rules on others are compared as lines. */
export function parseRead(iptablesSave: string, ip6tablesSave: string, ipsetSave: string, audited: readonly Transport[] = [...AUDITED]): LiveRead {
  return readListing({ filters: { ipv4: parseFilter(iptablesSave), ipv6: parseFilter(ip6tablesSave) }, ipsets: parseIpsets(ipsetSave) }, new Set(audited));
}

/** Splits the expected script's output into its three listings. */
function splitExpected(out: string): HostListing {
  const parts = out.split(`\n${SEPARATOR}\n`);
  if (parts.length !== 3) throw new ToolRejected('the expected listing (iptables-save, ip6tables-save, ipset save in a new network namespace) did not come in three parts');
  return { filters: { ipv4: parseFilter(parts[0]), ipv6: parseFilter(parts[1]) }, ipsets: parseIpsets(parts[2]) };
}

function toSaved(h: HostListing): SavedState {
  const data: SavedData = { ipv4: h.filters.ipv4.state, ipv6: h.filters.ipv6.state, ipsets: h.ipsets };
  return { target: 'iptables', empty: isEmpty(data), data };
}

export const iptablesLive: LiveTarget = {
  name: 'iptables',
  tools: ['iptables', 'ip6tables', 'iptables-save', 'ip6tables-save', 'iptables-restore', 'ip6tables-restore', 'ipset', 'grep', 'sed', 'unshare'],
  files: FILES,

  check(sh, dir) {
    runStep(sh, ['unshare', '--net', 'sh', '-c', LOAD_SCRIPT, 'sh', path.resolve(dir)], 'loading the tree in a new network namespace (the live apply\'s commands)');
  },

  save(sh) {
    const saved = toSaved(listHost(sh));
    // iptables-restore reads lines: a rule whose comment holds a line feed
    // (typed with `iptables -m comment`) could not be put back, so there
    // would be no way back from an apply.
    const d = saved.data as SavedData;
    for (const { family } of TOOLS)
      for (const r of [...d[family].rules, ...d[family].jumps])
        if (/[\r\n]/.test(r.text)) throw new ToolRejected(`cannot save ${family} rule \`${oneLine(r.text)}\` for a rollback: it holds a line feed, which iptables-restore cannot read back; delete or fix it first`);
    return saved;
  },

  apply(sh, dir) {
    for (const cmd of LIVE_COMMANDS) runStep(sh, ['sh', '-c', cmd], stepName(cmd), { cwd: dir });
    // Sets of ours the file no longer has (a group B dropped): no rule of
    // ours references them after the commits above.
    const file = runOk(sh, ['cat', 'ipsets'], { cwd: dir });
    const wanted = new Set(parseIpsets(file).map((s) => s.name));
    const live = parseIpsets(runOk(sh, ['ipset', 'save']));
    destroySets(
      sh,
      live.map((s) => s.name).filter((n) => !wanted.has(n)),
    );
  },

  restore(sh, saved) {
    const want = savedData(saved);
    const now = listHost(sh);
    const sets = setsScript(want.ipsets, now.ipsets);
    if (sets) runStep(sh, ['ipset', 'restore'], '`ipset restore` of the saved sets', { input: sets });
    for (const t of TOOLS) runStep(sh, [t.restore, '--noflush', '-c'], `\`${t.restore} --noflush -c\` of the saved chains`, { input: filterScript(want[t.family], now.filters[t.family].state) });
    const keep = new Set(want.ipsets.map((s) => s.name));
    destroySets(
      sh,
      now.ipsets.map((s) => s.name).filter((n) => !keep.has(n)),
    );
  },

  stateKey(saved) {
    return stateText(savedData(saved));
  },

  describe(saved) {
    const d = savedData(saved);
    if (saved.empty) return `nothing of portcullis (no PORTCULLIS chains, no ${IPSET_PREFIX} ipsets)`;
    const chains = [...new Set(TOOLS.flatMap(({ family }) => d[family].chains))].sort();
    const rules = TOOLS.reduce((n, { family }) => n + d[family].rules.length, 0);
    const names = chains.length ? `chains ${chains.join('/').replace(/\/PORTCULLIS-/g, '/')}` : 'no PORTCULLIS chains';
    return `${names} (${rules} rules), ${d.ipsets.length} ipsets`;
  },

  read(sh) {
    return readListing(listHost(sh));
  },

  readExpected(sh, dir) {
    const out = runStep(sh, ['unshare', '--net', 'sh', '-c', EXPECTED_SCRIPT, 'sh', path.resolve(dir)], 'loading and listing the tree in a new network namespace');
    return readListing(splitExpected(out));
  },
};
