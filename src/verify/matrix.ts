// What `portcullis verify` probes and what each probe must show, derived
// from the IR alone (never from a backend's output):
//
// Addresses. The node under test gets one IPv4 and one IPv6 address: the
// first usable one of the host group's set in that family, else one in
// documentation space in no group (192.0.2.0/24, 2001:db8:ffff::/64 first).
// Every group that is the peer of a host rule (sources of ingress rules,
// destinations of egress rules) gets one peer address per family, preferably
// in no other group; for the host group that is another node (the node
// under test excluded). The outsider is an address in no group at all (none
// when the groups cover the whole family, e.g. users = 0.0.0.0/0). Egress
// also probes one "non-listed" destination, in no egress destination group:
// the outsider when there is one. Only addresses inside the namespaces
// verify creates are ever used, and reserved ranges (loopback, link-local,
// multicast, 0/8, v4-mapped) never.
//
// Ports. Per direction and transport, the sample of every rule's port
// ranges, over both families: a single port p gives p-1, p, p+1; a range
// lo-hi gives lo-1, lo, lo+1, the middle, hi-1, hi, hi+1 (within 1..65535).
// So for tcp, udp and sctp. ICMP and ICMPv6 (their "ports" are types):
// per rule, one type it allows and one it does not (one the host baseline
// does not allow either, when there is such a type), chosen among the types
// connection tracking lets start a flow (IPv4: echo-request,
// timestamp-request, info-request, address-mask-request; IPv6:
// echo-request, node information query): any other type (an echo-reply, a
// destination-unreachable) passes a stateful firewall only as the reply or
// error of a flow it let through (ct state established,related) and is
// invalid on its own, so it is noted, not probed. A portless protocol
// (esp, ah, gre, ipip, vrrp) is sampled once, as the whole protocol (its
// pseudo port 0). A transport is probed in a direction only when some rule
// of that direction uses it, in the families it exists in (icmp: IPv4,
// icmpv6: IPv6).
//
// Matrix. Every ingress peer (the groups' addresses and the outsider) times
// every ingress sample port of every transport, towards the node's address
// of the peer's family; and the node towards every egress peer times every
// egress sample port, the egress peers being, with `egress: restrict`, the
// destination groups' addresses and the non-listed one, and with `egress:
// allow` (everything open) the non-listed one alone. So each allowed port
// is probed from every group (allowed from its own, denied from the
// others), with its neighbours, and the outsider probes every port.
//
// Roles. With a catalog of several roles verify runs once per role, each
// with that role's IR (ir.host is the role) and a context of the other
// roles' own address sets (planContext): their groups count for a peer's
// groups, the node's fallback address and the outsider (in no group of the
// whole policy), and every role of the catalog gets a peer of its own when
// no peer chosen so far is one of its hosts (the node under test aside):
// probed inbound, and outbound with `egress: restrict`. So a server is
// probed from an agent (agent -> server 6443 allowed, etcd denied) and an
// agent from another agent, whichever groups the rules name. The ports (ICMP
// types, protocols) the other roles' host rules open are sampled too, per
// direction and transport, so a port open on one role is probed on all of
// them (the agents' NodePorts must be closed on a server; the reason then
// names the rows that open it on the other role). The verdicts still come
// from the role's IR alone. With one role the context is empty
// and the plan is exactly what it was.
//
// Baseline. Every rule of the IR's host baseline (what a host needs and no
// catalog lists) is probed too, after the catalog matrix: once as the rule
// describes it (its transport, first source port when it names any, first
// port), from and to addresses it covers: link-local source or destination
// (the DHCPv6 reply, fe80::/10 -> fe80::/10) means the world's and the
// node's link-local addresses on the veth pair (fe80::2, fe80::1); a rule
// with no address means any address (the non-listed peer outbound, the
// outsider inbound); named unicast addresses (platform endpoints) get a
// peer of their own. And once from outside the rule's addresses, with the
// same ports: inbound from the outsider to the node's global address,
// outbound to the non-listed peer (when those exist). A rule towards a
// multicast group (the DHCPv6 solicit to ff02::1:2) is not probed: a round
// trip there needs a server answering from another address (noted).
//
// Verdicts. A probe must connect iff some host rule of its direction,
// family and transport covers the port and its peer set contains the peer
// ADDRESS: an address in several groups (an admin inside users 0.0.0.0/0)
// gets the union of their rules, or (an ICMP type) the IR's host ICMP
// policy (ir.icmp: echo-request and the errors inbound, neighbour
// discovery) accepts the type from anyone, or some baseline rule covers its
// addresses, transport, ports and source port (a probe from an ephemeral
// port matches only a rule that names no source port). Egress with
// `egress: allow` must always connect. The rows cited are the catalog rows (IR provenance) that open
// the port; for a denied probe, the rows that open it to other groups.

import {
  AddrRange,
  BITS,
  Cidr,
  cidrRange,
  containsAddress,
  Family,
  formatAddress,
  FULL_RANGE,
  intersectRanges,
  mergeRanges,
  parseAddress,
  subtractRanges,
} from '../addresses';
import type { AddressSet, BaselineRule, Direction, IR, Provenance, Rule, Transport } from '../ir/types';
import type { PortRange } from '../ports';
import { carries, describeMatch, icmpTypeName, isIcmp, parseIcmpType, transportKind, TRANSPORTS } from '../transports';
import { NODE_LINK_LOCAL, WORLD_IF, WORLD_LINK_LOCAL } from './topology';

export const FAMILIES: Family[] = ['ipv4', 'ipv6'];
/** ICMP types connection tracking lets start a flow (nf_conntrack's
 * valid_new): the only ones a stateful firewall can admit on their own. */
export const ICMP_NEW_TYPES: Record<'icmp' | 'icmpv6', readonly number[]> = { icmp: [8, 13, 15, 17], icmpv6: [128, 139] };
const FAMILY_NAME: Record<Family, string> = { ipv4: 'IPv4', ipv6: 'IPv6' };

function ranges(cidrs: readonly string[]): Record<Family, AddrRange[]> {
  const out: Record<Family, AddrRange[]> = { ipv4: [], ipv6: [] };
  for (const text of cidrs) {
    const p = parseAddress(text);
    if (!p.ok) throw new Error(`internal: bad address ${text}`);
    out[p.cidr.family].push(cidrRange(p.cidr));
  }
  return { ipv4: mergeRanges(out.ipv4), ipv6: mergeRanges(out.ipv6) };
}

/** Never used as a probe address. */
const RESERVED = ranges(['0.0.0.0/8', '127.0.0.0/8', '169.254.0.0/16', '224.0.0.0/3', '::/127', '::ffff:0:0/96', 'fe80::/10', 'ff00::/8']);
/** Where an address is picked first, when the choice is free. */
const PREFERRED = {
  peer: ['192.0.2.0/24', '198.51.100.0/24', '203.0.113.0/24', '10.0.0.0/8', '172.16.0.0/12', '192.168.0.0/16', '2001:db8::/32', 'fd00::/8'],
  node: ['192.0.2.0/24', '198.51.100.0/24', '203.0.113.0/24', '2001:db8:ffff::/64', '2001:db8::/32', 'fd00::/8'],
};

export function addressText(family: Family, value: bigint): string {
  return formatAddress({ family, base: value, prefix: BITS[family] });
}

/** The first address of `space` inside the first preferred range (in the
 * order given) that meets it, else anywhere; an address with an all-zero
 * last byte (IPv4) or group (IPv6) only when nothing else is left there:
 * 192.0.2.0/24 gives 192.0.2.1. */
function pick(space: AddrRange[], family: Family, prefer: readonly string[]): bigint | undefined {
  const zero = (v: bigint) => v % (family === 'ipv4' ? 256n : 65536n) === 0n;
  for (const within of [...prefer.map((p) => ranges([p])[family]).filter((r) => r.length), [FULL_RANGE[family]]]) {
    const found = intersectRanges(space, within);
    if (!found.length) continue;
    for (const r of found) {
      if (!zero(r.lo)) return r.lo;
      if (r.hi > r.lo) return r.lo + 1n;
    }
    return found[0].lo;
  }
  return undefined;
}

export interface Peer {
  address: string;
  family: Family;
  value: bigint;
  /** A group name, "outsider" or "non-listed". */
  role: string;
  /** Every IR group whose set (of this family) contains the address. */
  groups: string[];
}

export interface Case {
  direction: Direction;
  family: Family;
  transport: Transport;
  src: string;
  dst: string;
  port: number;
  /** The peer (source of ingress, destination of egress). */
  peer: Peer;
  expect: boolean;
  /** Why, with catalog rows: "T1.5 Orion master HTTP (admins)". */
  why: string;
  /** The local port the probe binds (baseline probes); absent: ephemeral. */
  sourcePort?: number;
  /** The baseline rule this probe checks (its id), for baseline probes. */
  baseline?: string;
}

/** What a role's plan knows of the rest of a multi-role policy. */
export interface PlanContext {
  /** Every role of the catalog, in catalog order (ir.host among them). */
  roles: readonly string[];
  /** Every role's own address sets, from the roles' IRs. */
  roleSets: readonly AddressSet[];
  /** Every role's host rules, with the role whose IR has them. */
  rules: readonly { role: string; rule: Rule }[];
}

/** The context of each role's plan: the roles and their own sets, from
 * every role's IR (empty for a one-role policy). */
export function planContext(irs: readonly IR[]): PlanContext | undefined {
  if (irs.length < 2) return undefined;
  const roles = irs.map((ir) => ir.host);
  const roleSets = irs.flatMap((ir) => ir.sets.filter((s) => roles.includes(s.group)));
  const byName = new Map(roleSets.map((s) => [s.name, s]));
  const rules = irs.flatMap((ir) => ir.rules.filter((r) => r.scope === 'host').map((rule) => ({ role: ir.host, rule })));
  return { roles, roleSets: [...byName.values()], rules };
}

export interface Plan {
  ir: IR;
  /** The role this plan verifies, for a catalog with several (ir.host). */
  role?: string;
  node: Record<Family, { address: string; listed: boolean }>;
  peers: Peer[];
  ingress: Record<Family, Peer[]>;
  egress: Record<Family, Peer[]>;
  /** Per direction and transport: the sampled ports, ICMP types, or [0]
   * for a portless protocol; [] when no rule of that direction uses it. */
  ports: Record<Direction, Record<Transport, number[]>>;
  cases: Case[];
  /** The link-local addresses of the veth pair (see topology.ts). */
  linkLocal: { node: string; world: string };
  /** Things the user should know (no outsider, a group not probed, ...). */
  notes: string[];
}

/** The sample of a rule set's ports (see the header). */
export function samplePorts(portRanges: readonly PortRange[]): number[] {
  const out = new Set<number>();
  for (const { lo, hi } of portRanges) {
    const mid = Math.floor((lo + hi) / 2);
    for (const p of [lo - 1, lo, lo + 1, mid, hi - 1, hi, hi + 1]) if (p >= 1 && p <= 65535) out.add(p);
  }
  return [...out].sort((a, b) => a - b);
}

const hostRules = (ir: IR, direction: Direction) => ir.rules.filter((r) => r.scope === 'host' && r.direction === direction);
const peerSetOf = (r: Rule) => (r.direction === 'ingress' ? r.source : r.destination);
const peerGroupOf = (r: Rule) => (r.direction === 'ingress' ? r.sourceGroup : r.destinationGroup);
const covers = (ports: readonly PortRange[], p: number) => ports.some((r) => r.lo <= p && p <= r.hi);

export function buildPlan(ir: IR, context?: PlanContext): Plan {
  const notes: string[] = [];
  // The IR's sets, and (several roles) the other roles' own sets it lacks.
  const known = new Set(ir.sets.map((s) => s.name));
  const sets = [...ir.sets, ...(context?.roleSets ?? []).filter((s) => !known.has(s.name))];
  const setRanges = new Map(sets.map((s) => [s.name, mergeRanges(s.cidrs.map(cidrRange))]));
  const groupRanges = (group: string, family: Family) =>
    mergeRanges(sets.filter((s) => s.group === group && s.family === family).flatMap((s) => setRanges.get(s.name)!));
  /** The IR's groups: a group's peer is picked outside the others. */
  const irGroups = [...new Set(ir.sets.map((s) => s.group))].sort();
  /** The whole policy's groups: a peer's groups, the outsider, the node's fallback. */
  const allGroups = [...new Set(sets.map((s) => s.group))].sort();
  const inAny = (family: Family, except?: string, among: readonly string[] = allGroups) =>
    mergeRanges(among.filter((g) => g !== except).flatMap((g) => groupRanges(g, family)));
  const taken: Record<Family, AddrRange[]> = { ipv4: [], ipv6: [] };
  const take = (family: Family, v: bigint) => {
    taken[family] = mergeRanges([...taken[family], { lo: v, hi: v }]);
    return v;
  };
  const usable = (family: Family, space: AddrRange[]) => subtractRanges(subtractRanges(mergeRanges(space), RESERVED[family]), taken[family]);
  const peers: Peer[] = [];
  const peer = (family: Family, value: bigint, role: string): Peer => {
    const p: Peer = {
      address: addressText(family, value),
      family,
      value,
      role,
      groups: allGroups.filter((g) => containsAddress(groupRanges(g, family), value)),
    };
    peers.push(p);
    return p;
  };

  // The node under test.
  const node = {} as Plan['node'];
  for (const family of FAMILIES) {
    const listed = groupRanges(ir.host, family);
    let v = pick(usable(family, listed), family, []);
    const isListed = v !== undefined;
    if (v === undefined) {
      v = pick(usable(family, subtractRanges([FULL_RANGE[family]], inAny(family))), family, PREFERRED.node);
      if (v === undefined) v = pick(usable(family, [FULL_RANGE[family]]), family, PREFERRED.node)!;
      notes.push(
        listed.length
          ? `group '${ir.host}' has no usable ${FAMILY_NAME[family]} address: the node under test uses ${addressText(family, v)}`
          : `the profile lists no ${FAMILY_NAME[family]} address for '${ir.host}': the node under test uses ${addressText(family, v)} (its own rules apply to it all the same)`,
      );
    }
    node[family] = { address: addressText(family, take(family, v)), listed: isListed };
  }

  // One peer per group and family, then the outsider, then the non-listed
  // egress destination.
  const ingress: Plan['ingress'] = { ipv4: [], ipv6: [] };
  const egress: Plan['egress'] = { ipv4: [], ipv6: [] };
  const nonListedOf: Record<Family, Peer | undefined> = { ipv4: undefined, ipv6: undefined };
  for (const family of FAMILIES) {
    const byGroup = new Map<string, Peer>();
    const rulesOf = (d: Direction) => hostRules(ir, d).filter((r) => r.family === family);
    const groupsOf = (d: Direction) => [...new Set(rulesOf(d).map(peerGroupOf))].sort();
    // With `egress: allow` every destination is open: the non-listed one
    // stands for all of them.
    const egressGroups = ir.egress === 'restrict' ? groupsOf('egress') : [];
    for (const group of [...new Set([...groupsOf('ingress'), ...egressGroups])].sort()) {
      const mine = groupRanges(group, family);
      const v = pick(usable(family, subtractRanges(mine, inAny(family, group, irGroups))), family, PREFERRED.peer) ?? pick(usable(family, mine), family, PREFERRED.peer);
      if (v === undefined) {
        notes.push(
          group === ir.host
            ? `'${group}' has no ${FAMILY_NAME[family]} address besides the node under test: ${FAMILY_NAME[family]} rules from and to other nodes are not probed`
            : `group '${group}' has no usable ${FAMILY_NAME[family]} address: its ${FAMILY_NAME[family]} rules are not probed`,
        );
        continue;
      }
      byGroup.set(group, peer(family, take(family, v), group));
    }
    ingress[family] = groupsOf('ingress').flatMap((g) => byGroup.get(g) ?? []);
    egress[family] = egressGroups.flatMap((g) => byGroup.get(g) ?? []);

    const o = pick(usable(family, subtractRanges([FULL_RANGE[family]], inAny(family))), family, PREFERRED.peer);
    let outsider: Peer | undefined;
    if (o !== undefined) {
      outsider = peer(family, take(family, o), 'outsider');
      ingress[family].push(outsider);
    } else {
      const whole = ir.sets.filter((s) => s.family === family && s.cidrs.some((c) => c.prefix === 0)).map((s) => `${s.group} is ${formatAddress(s.cidrs[0])}`);
      notes.push(`no ${FAMILY_NAME[family]} outsider: every usable ${FAMILY_NAME[family]} address is in a group${whole.length ? ` (${whole.join(', ')})` : ''}`);
    }
    // Egress to an address no egress rule names: the outsider, else a peer
    // already chosen that is in no egress destination group, else a new one.
    const destinations = mergeRanges(rulesOf('egress').flatMap((r) => setRanges.get(peerSetOf(r)!) ?? []));
    const free = (p: Peer) => !containsAddress(destinations, p.value);
    let nonListed = outsider ?? peers.find((p) => p.family === family && free(p));
    if (!nonListed) {
      const v = pick(usable(family, subtractRanges([FULL_RANGE[family]], destinations)), family, PREFERRED.peer);
      if (v !== undefined) nonListed = peer(family, take(family, v), 'non-listed');
    }
    nonListedOf[family] = nonListed;
    if (nonListed) egress[family].push(nonListed);
    else notes.push(`no ${FAMILY_NAME[family]} address outside the egress destinations: egress to a non-listed address is not probed`);

    // Several roles: a peer of every role that none of the above is in.
    for (const role of context?.roles ?? []) {
      const mine = groupRanges(role, family);
      if (!mine.length || peers.some((p) => p.family === family && containsAddress(mine, p.value))) continue;
      const v = pick(usable(family, mine), family, PREFERRED.peer);
      if (v === undefined) {
        if (role === ir.host) notes.push(`role '${role}' has no ${FAMILY_NAME[family]} address besides the node under test: no other ${role} host is probed in ${FAMILY_NAME[family]}`);
        else notes.push(`role '${role}' has no usable ${FAMILY_NAME[family]} address: it is not probed in ${FAMILY_NAME[family]}`);
        continue;
      }
      const p = peer(family, take(family, v), role);
      ingress[family].push(p);
      if (ir.egress === 'restrict') egress[family].push(p);
    }
  }

  const offHost = ir.rules.filter((r) => r.scope === 'off-host');
  if (offHost.length)
    notes.push(
      `not probed: ${offHost.map((r) => `${r.id} (${r.sourceGroup} -> ${r.destinationGroup}, ${[...new Set(r.provenance.map((p) => p.ref))].join(' ')})`).join(', ')}: neither end is a node, so no host firewall enforces it`,
    );

  // Ports (types, protocols), then the matrix.
  const ports = { ingress: {}, egress: {} } as Plan['ports'];
  /** The other roles' host rules of a direction and transport. */
  const othersOf = (d: Direction, t: Transport) => (context?.rules ?? []).filter((x) => x.role !== ir.host && x.rule.direction === d && x.rule.transport === t);
  for (const d of ['ingress', 'egress'] as const)
    for (const t of TRANSPORTS)
      ports[d][t] = sampleOf(ir, d, t, notes, othersOf(d, t).map((x) => x.rule));
  if (!hostRules(ir, 'egress').length) ports.egress = ports.ingress; // nothing else to go by

  const cases: Case[] = [];
  for (const direction of ['ingress', 'egress'] as const)
    for (const transport of TRANSPORTS)
      for (const family of FAMILIES.filter((f) => carries(transport, f)))
        for (const p of (direction === 'ingress' ? ingress : egress)[family])
          for (const port of ports[direction][transport]) {
            const [src, dst] = direction === 'ingress' ? [p.address, node[family].address] : [node[family].address, p.address];
            const c = { direction, family, transport, src, dst, port, peer: p };
            const v = caseVerdict(ir, c);
            cases.push({ ...c, ...v, ...(v.expect ? {} : { why: otherRoles(v.why, othersOf(direction, transport), family, port) }) });
          }
  cases.push(...baselineCases(ir, { node, ingress, notes }, nonListedOf, peers, (family, v, role) => peer(family, take(family, v), role), taken));
  return { ir, ...(context ? { role: ir.host } : {}), node, peers, ingress, egress, ports, cases, linkLocal: { node: NODE_LINK_LOCAL, world: WORLD_LINK_LOCAL }, notes };
}

/** A denied probe's reason, with the other roles' rows that open its port
 * (several roles): "no rule opens 30000/tcp; T1.6 NodePort services opens it on agents". */
function otherRoles(why: string, others: readonly { role: string; rule: Rule }[], family: Family, port: number): string {
  const open = others.filter((x) => x.rule.family === family && covers(x.rule.ports, port));
  if (!open.length) return why;
  const roles = [...new Set(open.map((x) => x.role))];
  return `${why}; ${citeRowList(rowsFor(open.map((x) => x.rule), port))} opens it on ${roles.join(', ')}`;
}

/** The sample of one transport in one direction (see the header); `others`:
 * the other roles' rules of that direction and transport (several roles),
 * sampled too. */
function sampleOf(ir: IR, direction: Direction, transport: Transport, notes: string[], others: readonly Rule[] = []): number[] {
  const own = hostRules(ir, direction).filter((r) => r.transport === transport);
  const rules = [...own, ...others];
  if (!rules.length) return [];
  const kind = transportKind(transport);
  if (kind === 'ports') return samplePorts(rules.flatMap((r) => r.ports));
  if (kind === 'portless') return [0];
  const t = transport as 'icmp' | 'icmpv6';
  const candidates = ICMP_NEW_TYPES[t];
  const out = new Set<number>();
  for (const r of rules) {
    const allowed = candidates.find((type) => covers(r.ports, type));
    if (allowed === undefined) {
      // The other roles' rules are noted in their own plans.
      if (!own.includes(r)) continue;
      notes.push(
        `not probed: ${r.id} (${describeMatch(t, r.ports)}, ${[...new Set(r.provenance.map((p) => p.ref))].join(' ')}): connection tracking lets none of these types start a flow; a stateful firewall passes them only as the replies or errors of a flow it let through`,
      );
      continue;
    }
    out.add(allowed);
    const base = baselineIcmpTypes(ir, direction, r.family, t);
    const notAllowed = candidates.find((type) => !covers(r.ports, type) && !base.includes(type)) ?? candidates.find((type) => !covers(r.ports, type));
    if (notAllowed !== undefined) out.add(notAllowed);
  }
  return [...out].sort((a, b) => a - b);
}

/** The ICMP types the IR's host ICMP policy accepts in one direction and family, as numbers. */
function baselineIcmpTypes(ir: IR, direction: Direction, family: Family, t: 'icmp' | 'icmpv6'): number[] {
  if ((t === 'icmp') !== (family === 'ipv4')) return [];
  return ir.icmp[direction][family].flatMap((name) => {
    const n = parseIcmpType(t, name);
    return n === undefined ? [] : [n];
  });
}

/** How a probe's match reads: "22/tcp", "icmp timestamp-request", "esp". */
export function probeText(transport: Transport, port: number): string {
  const kind = transportKind(transport);
  if (kind === 'portless') return transport;
  if (kind === 'icmp') return `${transport} ${icmpTypeName(transport as 'icmp' | 'icmpv6', port) ?? `type ${port}`}`;
  return `${port}/${transport}`;
}

const LINK_LOCAL = ranges(['fe80::/10']).ipv6;
const MULTICAST = { ipv4: ranges(['224.0.0.0/4']).ipv4, ipv6: ranges(['ff00::/8']).ipv6 };
const within = (cidrs: readonly Cidr[], space: AddrRange[]) => cidrs.length > 0 && !subtractRanges(mergeRanges(cidrs.map(cidrRange)), space).length;
const addrValue = (text: string) => {
  const p = parseAddress(text);
  if (!p.ok) throw new Error(`internal: bad address ${text}`);
  return p.cidr.base;
};
/** Link-local ends as the prober sends them: scoped by the world's veth. */
const scoped = (address: string) => `${address}%${WORLD_IF}`;

/** The baseline probes (see the header). */
function baselineCases(
  ir: IR,
  plan: Pick<Plan, 'node' | 'ingress' | 'notes'>,
  nonListedOf: Record<Family, Peer | undefined>,
  peers: readonly Peer[],
  newPeer: (family: Family, v: bigint, role: string) => Peer,
  taken: Record<Family, AddrRange[]>,
): Case[] {
  const cases: Case[] = [];
  const linkPeer = (address: string, role: string): Peer => ({ address, family: 'ipv6', value: addrValue(address), role, groups: [] });
  const add = (b: BaselineRule, src: string, dst: string, p: Peer) => {
    const c = { direction: b.direction, family: b.family, transport: b.transport, src, dst, port: b.ports[0].lo, peer: p, sourcePort: b.sourcePorts?.[0].lo };
    cases.push({ ...c, ...caseVerdict(ir, c), baseline: b.id });
  };
  for (const b of ir.hostPolicy.baseline) {
    const family = b.family;
    const nodeAddr = plan.node[family].address;
    if (b.direction === 'ingress') {
      const outsider = plan.ingress[family].find((p) => p.role === 'outsider');
      const fromLink = family === 'ipv6' && !!b.source && within(b.source, LINK_LOCAL);
      const toLink = family === 'ipv6' && !!b.destination && within(b.destination, LINK_LOCAL);
      const from = fromLink ? linkPeer(WORLD_LINK_LOCAL, 'link-local') : b.source ? plan.ingress[family].find((p) => containsAddress(mergeRanges(b.source!.map(cidrRange)), p.value)) : outsider;
      if (!from) {
        plan.notes.push(`baseline ${b.id} is not probed: no peer address inside its sources`);
        continue;
      }
      const dst = toLink ? scoped(NODE_LINK_LOCAL) : nodeAddr;
      add(b, fromLink ? scoped(from.address) : from.address, dst, from);
      if (b.source && outsider && !containsAddress(mergeRanges(b.source.map(cidrRange)), outsider.value)) add(b, outsider.address, nodeAddr, outsider);
    } else {
      const nonListed = nonListedOf[family];
      if (b.destination && within(b.destination, MULTICAST[family])) {
        plan.notes.push(`baseline ${b.id} is not probed: its destination is multicast (${b.destination.map(formatAddress).join(', ')}), and a round trip there needs a server that answers from another address`);
        continue;
      }
      let to: Peer | undefined;
      if (!b.destination) to = nonListed;
      else {
        const v = b.destination[0].base;
        to = peers.find((p) => p.family === family && p.value === v);
        if (!to && !containsAddress(taken[family], v)) to = newPeer(family, v, `baseline ${b.id}`);
      }
      if (!to) {
        plan.notes.push(`baseline ${b.id} is not probed: no address to probe it with`);
        continue;
      }
      add(b, nodeAddr, to.address, to);
      if (b.destination && nonListed && !containsAddress(mergeRanges(b.destination.map(cidrRange)), nonListed.value)) add(b, nodeAddr, nonListed.address, nonListed);
    }
  }
  return cases;
}

/** Whether baseline rule b covers a probe (see the header). */
function baselineCovers(b: BaselineRule, c: Omit<Case, 'expect' | 'why'>): boolean {
  if (b.direction !== c.direction || b.family !== c.family || b.transport !== c.transport) return false;
  if (!covers(b.ports, c.port)) return false;
  if (b.sourcePorts && (c.sourcePort === undefined || !covers(b.sourcePorts, c.sourcePort))) return false;
  const inSet = (set: Cidr[] | undefined, address: string) => !set || containsAddress(mergeRanges(set.map(cidrRange)), addrValue(address.split('%')[0]));
  return inSet(b.source, c.src) && inSet(b.destination, c.dst);
}

/** The expected verdict of any probe: the catalog's (verdict()), or a baseline rule's. */
export function caseVerdict(ir: IR, c: Omit<Case, 'expect' | 'why'>): { expect: boolean; why: string } {
  const catalog = verdict(ir, c.direction, c.family, c.transport, c.peer, c.port);
  if (catalog.expect) return catalog;
  const b = ir.hostPolicy.baseline.find((r) => baselineCovers(r, c));
  if (b) return { expect: true, why: `baseline ${b.id}: ${b.why}` };
  if (c.sourcePort !== undefined) return { ...catalog, why: `${catalog.why}; no baseline rule covers it from port ${c.sourcePort}` };
  return catalog;
}

/** The catalog rows of `rules` that open `port`. */
function rowsFor(rules: readonly Rule[], port: number): Provenance[] {
  const seen = new Set<string>();
  return rules
    .flatMap((r) => r.provenance.filter((p) => covers(p.ports, port)))
    .filter((p) => !seen.has(p.ref) && seen.add(p.ref));
}

function citeRowList(rows: readonly Provenance[], max = 4): string {
  const shown = rows.slice(0, max).map((p) => `${p.ref} ${p.service}`);
  return rows.length > max ? `${shown.join('; ')}; +${rows.length - max} more` : shown.join('; ');
}

/** The expected verdict of one probe and its reason (see the header). */
export function verdict(ir: IR, direction: Direction, family: Family, transport: Transport, p: Peer, port: number): { expect: boolean; why: string } {
  const portText = probeText(transport, port);
  if (direction === 'egress' && ir.egress === 'allow') return { expect: true, why: 'egress: allow leaves outbound open' };
  const open = hostRules(ir, direction).filter((r) => r.transport === transport && covers(r.ports, port));
  const sameFamily = open.filter((r) => r.family === family);
  const matching = sameFamily.filter((r) => {
    const set = ir.sets.find((s) => s.name === peerSetOf(r));
    return !!set && containsAddress(mergeRanges(set.cidrs.map(cidrRange)), p.value);
  });
  if (matching.length) {
    const groups = [...new Set(matching.map(peerGroupOf))].join(', ');
    return { expect: true, why: `${citeRowList(rowsFor(matching, port))} (${direction === 'ingress' ? 'from' : 'to'} ${groups})` };
  }
  if (isIcmp(transport) && baselineIcmpTypes(ir, direction, family, transport as 'icmp' | 'icmpv6').includes(port))
    return { expect: true, why: `${portText}: the host ICMP baseline accepts it ${direction === 'ingress' ? 'inbound from' : 'outbound to'} any address (no catalog row)` };
  const whose = p.groups.length ? p.groups.join(', ') : 'no group';
  if (!open.length) return { expect: false, why: `no rule opens ${portText}${direction === 'egress' ? ' outbound' : ''}` };
  const others = [...new Set(sameFamily.map((r) => `${peerGroupOf(r)}`))];
  const peerWord = direction === 'ingress' ? 'from' : 'to';
  return {
    expect: false,
    why: others.length
      ? `${portText} is open ${peerWord} ${others.join(', ')} only (${citeRowList(rowsFor(sameFamily, port))}); ${p.address} is in ${whose}`
      : `${portText} is open only in ${family === 'ipv4' ? 'IPv6' : 'IPv4'} (${citeRowList(rowsFor(open, port))})`,
  };
}
