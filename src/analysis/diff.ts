// `portcullis diff`: compares the allowed-flow sets two IRs denote, not
// their text. A flow (s, d, p) is allowed when it touches a node and every
// node on it lets it through:
//   s not in N, d in N:  In(s, p)              -> (S_p \ N) x N
//   s in N, d not in N:  Eg(d, p)              -> N x (D_p \ N)
//   s in N, d in N:      In(s, p) and Eg(d, p) -> (S_p ∩ N) x (D_p ∩ N)
// (N: node addresses; S_p: sources the ingress rules admit on port p; D_p:
// destinations the egress rules admit, everything under egress: allow).
// Each side is a union of disjoint products per port segment; their
// differences are products again, joined over adjacent segments into
// changes. Off-host rules (neither end a node) are outside this model.

import { AddrRange, Family, intersectRanges, mergeRanges, rangesToStrings, subtractRanges } from '../addresses';
import { roleIRs, type Loaded } from '../compile';
import type { Direction, IR, Rule, Transport } from '../ir/types';
import { formatPortRange, PortRange } from '../ports';
import { buildFlowModel, elementarySegments, FAMILIES, FlowModel, Segment, setRanges, TRANSPORTS } from './flows';
import { compareText } from '../order';
import { visibleLine } from '../terminal';
import { markdownCell } from './markdown';
import { hasPorts, isIcmp } from '../transports';
import { matchFields, matchText } from './match';

export interface ChangeRow {
  ref: string;
  heading: string;
  row?: number;
  service: string;
}

export interface Change {
  /** Catalogs with several roles only: the role whose policy changed. */
  role?: string;
  direction: 'ingress' | 'egress';
  transport: Transport;
  /** Destination ports ("22", "4852-4853") of tcp, udp and sctp; empty for
   * the others (ICMP types are in icmp_types, a portless protocol is whole). */
  ports: string[];
  /** ICMP and ICMPv6 only: the message types, by name where they have one
   * ("echo-request", "3", "19-40"); ["any"] for every type. */
  icmp_types?: string[];
  /** The flow's match as the tools print it: "tcp 22, 80", "icmp echo-request", "esp". */
  match: string;
  sources: string[];
  destinations: string[];
  rows: ChangeRow[];
  reason: string;
}

export interface PolicyDiff {
  /** Catalogs with several roles (on either side) only: every role
   * compared, in order (the new side's, then the old side's others). */
  roles?: string[];
  opened: Change[];
  closed: Change[];
}

interface Side {
  loaded: Loaded;
  /** The role's policy compared (the only one of a one-role catalog). */
  ir: IR;
  model: FlowModel;
  /** The role is not on this side at all: it allows nothing. */
  absent?: boolean;
  /** A one-role side compared role by role: the role it stands for (its
   * own policy, on the addresses that have that role on the other side). */
  asRole?: string;
}

/** In a family where the profile lists no node address, N stands for the
 * nodes' own unlisted addresses: a range no real address falls in. */
const UNLISTED: AddrRange = { lo: -1n, hi: -1n };

function side(loaded: Loaded, ir: IR = loaded.ir, hosts?: Record<Family, AddrRange[]>): Side {
  return { loaded, ir, model: buildFlowModel(ir, hosts ?? { ipv4: setRanges(ir, `${ir.host}_v4`), ipv6: setRanges(ir, `${ir.host}_v6`) }) };
}

/** A role one side does not have: no hosts, no flows. */
function absentSide(loaded: Loaded): Side {
  const ir = loaded.ir;
  return { loaded, ir, absent: true, model: { ir, host: { ipv4: [], ipv6: [] }, hostListed: { ipv4: false, ipv6: false }, segments: () => [] } };
}

function nodesOf(s: Side, family: Family): AddrRange[] {
  return s.model.hostListed[family] ? s.model.host[family] : [UNLISTED];
}

function segmentAt(segs: Segment[], port: number): Segment | undefined {
  return segs.find((x) => x.ports.lo <= port && port <= x.ports.hi);
}

interface Product {
  src: AddrRange[];
  dst: AddrRange[];
  direction: Direction;
}

/** Allowed flows of one side on one port segment, as disjoint products. */
function allowedAt(s: Side, transport: Transport, family: Family, port: number): Product[] {
  const n = nodesOf(s, family);
  const S = segmentAt(s.model.segments('ingress', transport, family), port)?.peers ?? [];
  const D = segmentAt(s.model.segments('egress', transport, family), port)?.peers ?? [];
  return [
    { src: subtractRanges(S, n), dst: n, direction: 'ingress' as const },
    { src: n, dst: subtractRanges(D, n), direction: 'egress' as const },
    { src: intersectRanges(S, n), dst: intersectRanges(D, n), direction: 'ingress' as const },
  ].filter((p) => p.src.length && p.dst.length);
}

/** p minus q for products: at most two products. */
function productMinus(p: Product, q: Product): Product[] {
  const srcOverlap = intersectRanges(p.src, q.src);
  const dstOverlap = intersectRanges(p.dst, q.dst);
  if (!srcOverlap.length || !dstOverlap.length) return [p];
  return [
    { src: subtractRanges(p.src, q.src), dst: p.dst, direction: p.direction },
    { src: srcOverlap, dst: subtractRanges(p.dst, q.dst), direction: p.direction },
  ].filter((x) => x.src.length && x.dst.length);
}

interface RawChange extends Product {
  ports: PortRange[];
  rules: Rule[];
}

/** Flows allowed by `a` and not by `b`, for one transport and family. */
function minus(a: Side, b: Side, transport: Transport, family: Family): RawChange[] {
  const segs = [a, b].flatMap((x) => [...x.model.segments('ingress', transport, family), ...x.model.segments('egress', transport, family)]);
  const out: RawChange[] = [];
  for (const ports of elementarySegments(segs.map((x) => x.ports))) {
    let rest = allowedAt(a, transport, family, ports.lo);
    for (const q of allowedAt(b, transport, family, ports.lo)) rest = rest.flatMap((p) => productMinus(p, q));
    for (const p of rest) {
      const rules = rulesFor(a, p, transport, family, ports.lo);
      // Changes with the same addresses are one change over several ports.
      const c = out.find((x) => x.direction === p.direction && same(x.src, p.src) && same(x.dst, p.dst));
      if (!c) {
        out.push({ ...p, ports: [ports], rules });
        continue;
      }
      const last = c.ports[c.ports.length - 1];
      if (last.hi + 1 === ports.lo) c.ports[c.ports.length - 1] = { lo: last.lo, hi: ports.hi };
      else c.ports.push(ports);
      for (const r of rules) if (!c.rules.includes(r)) c.rules.push(r);
    }
  }
  return out;
}

/** The rules of a side that allow some of the product's flows on the port. */
function rulesFor(s: Side, p: Product, transport: Transport, family: Family, port: number): Rule[] {
  const seg = segmentAt(s.model.segments(p.direction, transport, family), port);
  const peers = p.direction === 'ingress' ? p.src : p.dst;
  return (seg?.rules ?? []).filter((r) => intersectRanges(setRanges(s.ir, p.direction === 'ingress' ? r.source : r.destination), peers).length > 0);
}

function same(a: AddrRange[], b: AddrRange[]): boolean {
  return a.length === b.length && a.every((r, i) => r.lo === b[i].lo && r.hi === b[i].hi);
}

function describeReason(raw: RawChange, gained: Side, lost: Side, family: Family, opened: boolean): string {
  const ir = gained.ir;
  const verb = opened ? 'opened' : 'closed';
  if (lost.absent) return `role '${ir.host}' is ${opened ? 'new' : 'gone'}: every flow of its policy is ${verb}`;
  const hostSide = raw.direction === 'ingress' ? raw.dst : raw.src;
  if (!same(intersectRanges(hostSide, nodesOf(lost, family)), hostSide)) return `node addresses ${opened ? 'added to' : 'removed from'} group '${ir.host}'`;
  const peers = raw.direction === 'ingress' ? raw.src : raw.dst;
  const suffix = family === 'ipv4' ? 'v4' : 'v6';
  const groups = [...new Set(raw.rules.map((r) => (raw.direction === 'ingress' ? r.sourceGroup : r.destinationGroup)))];
  const unions = ir.unions ?? {};
  for (const g of groups)
    // A union's addresses are its members': name the member that changed.
    for (const m of [...(unions[g] ?? []), g]) {
      const added = subtractRanges(groupRanges(gained, `${m}_${suffix}`), groupRanges(lost, `${m}_${suffix}`));
      if (added.length && same(intersectRanges(peers, added), peers)) {
        const lines = profileLinesFor(gained.loaded, m, family, peers);
        return `addresses ${opened ? 'added to' : 'removed from'} group '${m}'${m !== g ? ` (of '${g}')` : ''}${lines.length ? ` (${lines.join(', ')})` : ''}`;
      }
    }
  if (raw.direction === 'egress' && ir.egress !== lost.ir.egress) return `egress: ${lost.ir.egress} -> ${opened ? ir.egress : lost.ir.egress === 'allow' ? 'restrict' : 'allow'}`;
  const ids = raw.rules.map((r) => r.id);
  if (raw.rules.length && raw.rules.every((r) => r.destinationGroup === 'host baseline') && ir.hostPolicy.platform !== lost.ir.hostPolicy.platform)
    return `host.platform: ${opened ? `${lost.ir.hostPolicy.platform} -> ${ir.hostPolicy.platform}` : `${ir.hostPolicy.platform} -> ${lost.ir.hostPolicy.platform}`}`;
  const what = !raw.rules.length || hasPorts(raw.rules[0].transport) ? 'ports' : isIcmp(raw.rules[0].transport) ? 'ICMP types' : 'protocol';
  const split = gained.asRole ?? lost.asRole;
  const by = `${what} ${verb} by ${ids.length ? ids.join(', ') : `egress: ${ir.egress}`}`;
  if (split === undefined) return by;
  const mapped = gained.asRole ? gained : lost;
  // opened: gained is the new side; closed: gained is the old one.
  const old = (mapped === gained) !== opened;
  return `${by} (the hosts of role '${split}' ${old ? 'were' : 'are'} '${mapped.ir.host}' in the ${old ? 'old' : 'new'} catalog)`;
}

/** A group's addresses on a side: from any of its roles' policies (a role's
 * policy has sets only of the groups its rules use). */
function groupRanges(s: Side, name: string): AddrRange[] {
  const irs = roleIRs(s.loaded);
  return irs.length === 1 ? setRanges(irs[0], name) : mergeRanges(irs.flatMap((x) => setRanges(x, name)));
}

function profileLinesFor(loaded: Loaded, group: string, family: Family, peers: AddrRange[]): string[] {
  const entries = loaded.profile.groups.get(group) ?? [];
  const bits = family === 'ipv4' ? 32 : 128;
  return entries
    .filter((e) => e.cidr.family === family)
    .filter((e) => intersectRanges([{ lo: e.cidr.base, hi: e.cidr.base + (1n << BigInt(bits - e.cidr.prefix)) - 1n }], peers).length > 0)
    .map((e) => `${loaded.profile.doc.source.path}:${loaded.profile.doc.pos(e.path).line}`);
}

function toChange(raw: RawChange, gained: Side, lost: Side, transport: Transport, family: Family, opened: boolean, role?: string): Change {
  const fmt = (r: AddrRange[]) => rangesToStrings(r.filter((x) => x.lo >= 0n), family);
  const rows = new Map<string, ChangeRow>();
  const touches = (ports: PortRange[]) => ports.some((p) => raw.ports.some((q) => p.lo <= q.hi && q.lo <= p.hi));
  for (const r of raw.rules)
    for (const p of r.provenance) if (touches(p.ports)) rows.set(p.ref, { ref: p.ref, heading: p.heading, row: p.row, service: p.service });
  let reason = describeReason(raw, gained, lost, family, opened);
  if ([...raw.src, ...raw.dst].some((x) => x.lo < 0n)) reason += `; the profile lists no ${family} node address: to/from the nodes' own ${family} addresses`;
  return {
    ...(role !== undefined ? { role } : {}),
    direction: raw.direction,
    transport,
    ...matchFields(transport, raw.ports, (p) => formatPortRange(p)),
    sources: fmt(raw.src),
    destinations: fmt(raw.dst),
    rows: [...rows.values()].sort((a, b) => compareText(a.ref.split('.')[0], b.ref.split('.')[0]) || (a.row ?? Infinity) - (b.row ?? Infinity)),
    reason,
  };
}

/** The match of a change for text and markdown, long lists shortened. */
function changeMatch(c: Change, max: number): string {
  return matchText(c.transport, hasPorts(c.transport) ? c.ports : c.icmp_types ?? [], (xs) => shortList(xs, max));
}

export function diffPolicies(oldLoaded: Loaded, newLoaded: Loaded): PolicyDiff {
  const pairs = rolePairs(oldLoaded, newLoaded);
  const multi = pairs.length > 1 || pairs[0].role !== undefined;
  const opened: Change[] = [];
  const closed: Change[] = [];
  for (const { role, a, b } of pairs)
    for (const transport of TRANSPORTS)
      for (const family of FAMILIES) {
        for (const raw of minus(b, a, transport, family)) opened.push(toChange(raw, b, a, transport, family, true, role));
        for (const raw of minus(a, b, transport, family)) closed.push(toChange(raw, a, b, transport, family, false, role));
      }
  const roles = pairs.map((p) => p.role);
  const order = (x: Change, y: Change) => roles.indexOf(x.role) - roles.indexOf(y.role) || (x.direction === y.direction ? 0 : x.direction === 'ingress' ? -1 : 1);
  return { ...(multi ? { roles: roles as string[] } : {}), opened: opened.sort(order), closed: closed.sort(order) };
}

/** The policies to compare, role by role. Two one-role catalogs: their
 * one policy each, whatever the role is called (no role in the output).
 * Otherwise every role of either side: a role on both sides is compared
 * with itself; a role on one side only is compared with the other side's
 * single role when that side has one role of another name (a catalog split
 * into roles: the old hosts' policy, on the addresses that now have the
 * role), else with nothing (all its flows opened or closed). */
function rolePairs(oldLoaded: Loaded, newLoaded: Loaded): { role?: string; a: Side; b: Side }[] {
  const olds = roleIRs(oldLoaded);
  const news = roleIRs(newLoaded);
  if (olds.length === 1 && news.length === 1) return [{ a: side(oldLoaded), b: side(newLoaded) }];
  const has = (irs: IR[], role: string) => irs.find((x) => x.host === role);
  // A one-role side whose role the other side does not have stands for all of its roles.
  const single = (irs: IR[], other: IR[]) => (irs.length === 1 && !has(other, irs[0].host) ? irs[0] : undefined);
  const oldSingle = single(olds, news);
  const newSingle = single(news, olds);
  const onRole = (loaded: Loaded, whole: IR, role: IR): Side => {
    const hosts = {
      ipv4: intersectRanges(setRanges(whole, `${whole.host}_v4`), setRanges(role, `${role.host}_v4`)),
      ipv6: intersectRanges(setRanges(whole, `${whole.host}_v6`), setRanges(role, `${role.host}_v6`)),
    };
    return hosts.ipv4.length || hosts.ipv6.length ? { ...side(loaded, whole, hosts), asRole: role.host } : absentSide(loaded);
  };
  const roles = [...news.map((x) => x.host), ...olds.map((x) => x.host).filter((r) => !has(news, r))].filter((r) => r !== oldSingle?.host && r !== newSingle?.host);
  return roles.map((role) => {
    const o = has(olds, role);
    const n = has(news, role);
    const a = o ? side(oldLoaded, o) : oldSingle ? onRole(oldLoaded, oldSingle, n!) : absentSide(oldLoaded);
    const b = n ? side(newLoaded, n) : newSingle ? onRole(newLoaded, newSingle, o!) : absentSide(newLoaded);
    return { role, a, b };
  });
}

export function isEmptyDiff(d: PolicyDiff): boolean {
  return d.opened.length === 0 && d.closed.length === 0;
}

function shortList(items: string[], max = 6): string {
  return items.length > max ? `${items.slice(0, max).join(', ')} (+${items.length - max} more)` : items.join(', ');
}

export function formatDiffText(d: PolicyDiff): string {
  if (isEmptyDiff(d)) return 'no change in allowed flows\n';
  const lines: string[] = [];
  for (const [title, list, mark] of [['opened', d.opened, '+'], ['closed', d.closed, '-']] as const) {
    for (const c of list) {
      lines.push(`${mark} ${title} ${c.role !== undefined ? `[${visibleLine(c.role)}] ` : ''}${c.direction} ${changeMatch(c, 6)}: ${shortList(c.sources)} -> ${shortList(c.destinations)}`);
      lines.push(`    ${visibleLine(c.reason)}${c.rows.length ? `; rows ${c.rows.map((r) => visibleLine(`${r.ref} ${r.service}`)).join('; ')}` : ''}`);
    }
  }
  lines.push(`${d.opened.length} opened, ${d.closed.length} closed`);
  return lines.join('\n') + '\n';
}

export function formatDiffMarkdown(d: PolicyDiff): string {
  if (isEmptyDiff(d)) return '**portcullis:** no change in allowed flows.\n';
  const out = [`**portcullis:** ${d.opened.length} flow change${d.opened.length === 1 ? '' : 's'} opened, ${d.closed.length} closed.`, ''];
  for (const [title, list] of [['Opened', d.opened], ['Closed', d.closed]] as const) {
    if (!list.length) continue;
    const role = d.roles ? ['| role ', '| --- '] : ['', ''];
    out.push(`### ${title}`, '', `${role[0]}| direction | ports | sources | destinations | catalog rows | reason |`, `${role[1]}| --- | --- | --- | --- | --- | --- |`);
    for (const c of list)
      out.push(
        `${d.roles ? `| ${markdownCell(c.role ?? '')} ` : ''}| ${c.direction} | ${markdownCell(hasPorts(c.transport) ? `${c.ports.join(', ')}/${c.transport}` : changeMatch(c, 20))} | ${markdownCell(shortList(c.sources, 10))} | ${markdownCell(shortList(c.destinations, 10))} | ${markdownCell(c.rows.map((r) => `${r.ref} ${r.service}`).join('; '))} | ${markdownCell(c.reason)} |`,
      );
    out.push('');
  }
  return out.join('\n');
}
