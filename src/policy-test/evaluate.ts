// Whole-range answers from the allowed-flow model (src/analysis/flows.ts):
// for sets of sources and destinations and a port, is some address pair
// allowed, or some pair denied? No sampling: for one elementary port
// segment the allowed pairs are a union of rectangles (source ranges x
// destination ranges) built from each role's segments, and the questions
// are set algebra on those ranges.
//
// Roles (src/compile.ts roleIRs): a flow into an address of role R is
// decided by R's IR (ingress), a flow out of one by its IR (egress), a flow
// between two roles by both; an address in no role leaves the decision to
// the role at the other end. An address listed in two roles counts as the
// first one's (catalog order). Neither end in a role: only the catalog's
// off-host rules and the host baseline's link-local DHCPv6 replies allow
// it, as explain says.

import { AddrRange, cidrRange, Family, FULL_RANGE, intersectRanges, mergeRanges, subtractRanges, unionRanges } from '../addresses';
import { buildFlowModel, elementarySegments, FlowModel, setRanges } from '../analysis/flows';
import { Loaded, roleIRs } from '../compile';
import type { IR, Rule } from '../ir/types';
import type { PortRange } from '../ports';
import { fullSpace, icmpTypeName, isIcmp, parseIcmpType, Transport } from '../transports';
import type { Ranges } from './expectations';

export interface PolicyContext {
  loaded: Loaded;
  irs: IR[];
  models: FlowModel[];
  /** Each role's node addresses (listed families only), disjoint. */
  nodes: Ranges[];
  /** Addresses in no role. */
  outside: Ranges;
}

export interface Rect {
  src: AddrRange[];
  dst: AddrRange[];
}

export function policyContext(loaded: Loaded): PolicyContext {
  const irs = roleIRs(loaded);
  const models = irs.map((ir) => buildFlowModel(ir, { ipv4: setRanges(ir, `${ir.host}_v4`), ipv6: setRanges(ir, `${ir.host}_v6`) }));
  const taken: Ranges = { ipv4: [], ipv6: [] };
  const nodes = models.map((m) => {
    const own: Ranges = { ipv4: [], ipv6: [] };
    for (const f of ['ipv4', 'ipv6'] as Family[]) {
      // As explain: in a family the profile lists no node address of, no
      // address is a node.
      own[f] = m.hostListed[f] ? subtractRanges(m.host[f], taken[f]) : [];
      taken[f] = unionRanges(taken[f], own[f]);
    }
    return own;
  });
  const outside = { ipv4: subtractRanges([FULL_RANGE.ipv4], taken.ipv4), ipv6: subtractRanges([FULL_RANGE.ipv6], taken.ipv6) };
  return { loaded, irs, models, nodes, outside };
}

/** Whether sorted, merged ranges hold v (binary search). */
function inRanges(ranges: AddrRange[], v: bigint): boolean {
  let lo = 0;
  let hi = ranges.length - 1;
  while (lo <= hi) {
    const mid = (lo + hi) >> 1;
    if (ranges[mid].hi < v) lo = mid + 1;
    else if (ranges[mid].lo > v) hi = mid - 1;
    else return true;
  }
  return false;
}

/** Role index of an address, -1 for none. */
export function roleOf(ctx: PolicyContext, family: Family, v: bigint): number {
  return ctx.nodes.findIndex((n) => inRanges(n[family], v));
}

/** The rule the flow model makes of the host ICMP policy (IR.icmp): a
 * baseline entry with no peer set (any address). */
function isHostIcmpEntry(r: Rule, direction: 'ingress' | 'egress'): boolean {
  return isIcmp(r.transport) && r.provenance.every((p) => p.table === 'baseline') && !(direction === 'ingress' ? r.source : r.destination);
}

/** The peers a direction admits on one port; without the host ICMP
 * policy when `hostIcmp` is false (the other entries' peers, united). */
function peersAt(model: FlowModel, direction: 'ingress' | 'egress', transport: Transport, family: Family, port: number, hostIcmp: boolean): AddrRange[] {
  const seg = model.segments(direction, transport, family).find((s) => s.ports.lo <= port && port <= s.ports.hi);
  if (!seg) return [];
  if (hostIcmp || !seg.rules.some((r) => isHostIcmpEntry(r, direction))) return seg.peers;
  let peers: AddrRange[] = [];
  for (const r of seg.rules) if (!isHostIcmpEntry(r, direction)) peers = unionRanges(peers, setRanges(model.ir, direction === 'ingress' ? r.source : r.destination));
  return peers;
}

/** Whether the ICMP every host lets through (IR.icmp: what IPv4/IPv6 need
 * to work, for every address) lets this type through in that direction,
 * as explain answers it (the flow model has it too, as a baseline entry;
 * asked here as well so both readings agree whatever the model holds). */
function hostIcmp(ir: IR, direction: 'ingress' | 'egress', transport: Transport, family: Family, type: number): boolean {
  if (!isIcmp(transport)) return false;
  const name = icmpTypeName(transport as 'icmp' | 'icmpv6', type);
  return !!name && (ir.icmp?.[direction]?.[family] ?? []).includes(name);
}

export interface RectOptions {
  /** Count the host ICMP policy (default true). `only` and `reaches
   * nothing` leave it out of what must be denied: no catalog row opens it,
   * and every host lets it through. */
  hostIcmp?: boolean;
}

/** The allowed pairs of one port (or type) as rectangles. */
export function allowedRects(ctx: PolicyContext, family: Family, transport: Transport, port: number, options: RectOptions = {}): Rect[] {
  const out: Rect[] = [];
  const push = (src: AddrRange[], dst: AddrRange[]) => {
    if (src.length && dst.length) out.push({ src, dst });
  };
  const O = ctx.outside[family];
  const icmp = options.hostIcmp !== false;
  const ins = ctx.models.map((m, i) => (icmp && hostIcmp(ctx.irs[i], 'ingress', transport, family, port) ? [FULL_RANGE[family]] : peersAt(m, 'ingress', transport, family, port, icmp)));
  const outs = ctx.models.map((m, i) => (icmp && hostIcmp(ctx.irs[i], 'egress', transport, family, port) ? [FULL_RANGE[family]] : peersAt(m, 'egress', transport, family, port, icmp)));
  ctx.nodes.forEach((Nj, j) => push(intersectRanges(O, ins[j]), Nj[family]));
  ctx.nodes.forEach((Ni, i) => push(Ni[family], intersectRanges(O, outs[i])));
  ctx.nodes.forEach((Ni, i) => ctx.nodes.forEach((Nj, j) => push(intersectRanges(Ni[family], ins[j]), intersectRanges(Nj[family], outs[i]))));
  // Off-host rules (IPMI to the BMCs): the first role's, as explain reads them.
  const ir = ctx.irs[0];
  for (const r of ir.rules)
    if (r.scope === 'off-host' && r.direction === 'ingress' && r.family === family && r.transport === transport && r.ports.some((p) => p.lo <= port && port <= p.hi))
      push(intersectRanges(O, setRanges(ir, r.source)), intersectRanges(O, setRanges(ir, r.destination)));
  // The host baseline's ingress rules with literal destinations (DHCPv6
  // replies to the node's own link-local address, which no profile lists):
  // the flow model leaves them out, explain answers them.
  for (const b of ir.hostPolicy.baseline)
    if (b.direction === 'ingress' && b.destination && b.family === family && b.transport === transport && b.ports.some((p) => p.lo <= port && port <= p.hi))
      push(b.source ? mergeRanges(b.source.map(cidrRange)) : [FULL_RANGE[family]], intersectRanges(O, mergeRanges(b.destination.map(cidrRange))));
  return out;
}

/** Port space of a transport cut so that each piece has one answer, and
 * cut at the given ranges too (a piece is inside or outside each). */
export function portPieces(ctx: PolicyContext, transport: Transport, family: Family, cuts: PortRange[]): PortRange[] {
  const all: PortRange[] = [fullSpace(transport), ...cuts];
  for (const m of ctx.models) for (const d of ['ingress', 'egress'] as const) for (const s of m.segments(d, transport, family)) all.push(s.ports);
  for (const r of ctx.irs[0].rules) if (r.scope === 'off-host' && r.transport === transport && r.family === family) all.push(...r.ports);
  for (const b of ctx.irs[0].hostPolicy.baseline) if (b.direction === 'ingress' && b.destination && b.transport === transport && b.family === family) all.push(...b.ports);
  if (isIcmp(transport))
    for (const ir of ctx.irs)
      for (const d of ['ingress', 'egress'] as const)
        for (const name of ir.icmp?.[d]?.[family] ?? []) {
          const t = parseIcmpType(transport as 'icmp' | 'icmpv6', name);
          if (t !== undefined) all.push({ lo: t, hi: t });
        }
  const space = fullSpace(transport);
  return elementarySegments(all).filter((p) => p.lo >= space.lo && p.hi <= space.hi);
}

/** Allowed pairs with a source in F and a destination in T: each rectangle
 * cut down to F x T (empty list: no pair is allowed). */
export function allowedWithin(rects: Rect[], F: AddrRange[], T: AddrRange[]): Rect[] {
  const out: Rect[] = [];
  for (const r of rects) {
    const src = intersectRanges(r.src, F);
    const dst = intersectRanges(r.dst, T);
    if (src.length && dst.length) out.push({ src, dst });
  }
  return out;
}

/** One rectangle of denied pairs inside F x T, or undefined when every
 * pair is allowed: F is cut at every rectangle's source bounds, so each
 * piece of F sees the same destinations allowed throughout. */
export function deniedWithin(rects: Rect[], F: AddrRange[], T: AddrRange[]): Rect | undefined {
  if (!F.length || !T.length) return undefined;
  const cuts = new Set<bigint>();
  for (const r of rects)
    for (const s of r.src) {
      cuts.add(s.lo);
      cuts.add(s.hi + 1n);
    }
  const points = [...cuts].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  const atoms: AddrRange[] = [];
  for (const f of F) {
    let lo = f.lo;
    for (const p of points) {
      if (p <= lo || p > f.hi) continue;
      atoms.push({ lo, hi: p - 1n });
      lo = p;
    }
    atoms.push({ lo, hi: f.hi });
  }
  let found: { src: AddrRange[]; dst: AddrRange[]; key: string } | undefined;
  // Atoms in the same rectangles have the same denied destinations: worked
  // out once per set of rectangles (10,000 nodes make many atoms, few sets).
  const memo = new Map<string, AddrRange[]>();
  for (const a of atoms) {
    const inside = rects.map((r, i) => (inRanges(r.src, a.lo) ? i : -1)).filter((i) => i >= 0);
    const key = inside.join(',');
    let denied = memo.get(key);
    if (!denied) {
      let allowed: AddrRange[] = [];
      for (const i of inside) allowed = unionRanges(allowed, rects[i].dst);
      denied = subtractRanges(T, allowed);
      memo.set(key, denied);
    }
    if (!denied.length) continue;
    if (!found) found = { src: [a], dst: denied, key };
    else if (found.key === key) found.src.push(a);
  }
  return found && { src: mergeRanges(found.src), dst: found.dst };
}
