// The allowed-flow model of an IR, shared by `explain` and `diff`: which
// (source, destination, transport, port) flows the compiled policy lets
// through, as address ranges per elementary port segment.
//
// Ingress to the nodes: src in S(p), dst in N.   Egress from the nodes:
// src in N, dst in D(p) (everything when egress: allow). N is the host
// group; in a family where the profile lists no node address, host rules
// still apply to the node's own (unlisted) addresses, so N is the whole
// family there.

import { AddrRange, cidrRange, Family, FULL_RANGE, mergeRanges } from '../addresses';
import type { Direction, IR, Rule, Transport } from '../ir/types';
import { mergePorts, PortRange } from '../ports';
import { carries, fullSpace, isIcmp, parseIcmpType, TRANSPORTS as ALL_TRANSPORTS } from '../transports';

export const FAMILIES: Family[] = ['ipv4', 'ipv6'];
/** Every transport the IR has (src/transports.ts). A segment's `ports` are
 * destination ports, ICMP types, or the pseudo range [0-0] of a portless
 * protocol, as the rules' own `ports` read. */
export const TRANSPORTS: Transport[] = [...ALL_TRANSPORTS];

export interface Segment {
  ports: PortRange;
  /** The peer side: sources for ingress, destinations for egress. */
  peers: AddrRange[];
  /** IR rules that allow it (empty for egress: allow). */
  rules: Rule[];
}

export interface FlowModel {
  ir: IR;
  /** The nodes' addresses per family (whole family when none listed). */
  host: Record<Family, AddrRange[]>;
  /** Whether the profile lists host addresses in that family. */
  hostListed: Record<Family, boolean>;
  segments(direction: Direction, transport: Transport, family: Family): Segment[];
}

const rangeCache = new WeakMap<IR, Map<string, AddrRange[]>>();

/** The addresses of a named set as merged ranges (cached per IR). */
export function setRanges(ir: IR, name: string | undefined): AddrRange[] {
  if (!name) return [];
  let byName = rangeCache.get(ir);
  if (!byName) rangeCache.set(ir, (byName = new Map()));
  let ranges = byName.get(name);
  if (!ranges) {
    const set = ir.sets.find((s) => s.name === name);
    const base = name.startsWith(BASELINE_SET) ? ir.hostPolicy.baseline.find((b) => BASELINE_SET + b.id === name) : undefined;
    ranges = set ? mergeRanges(set.cidrs.map(cidrRange)) : base ? (base.destination ? mergeRanges(base.destination.map(cidrRange)) : [FULL_RANGE[base.family]]) : [];
    byName.set(name, ranges);
  }
  return ranges;
}

/** Cuts the port space at every rule boundary so each segment has one answer. */
export function elementarySegments(ranges: PortRange[]): PortRange[] {
  const cuts = new Set<number>();
  for (const r of ranges) {
    cuts.add(r.lo);
    cuts.add(r.hi + 1);
  }
  const points = [...cuts].sort((a, b) => a - b);
  const out: PortRange[] = [];
  for (let i = 0; i + 1 < points.length; i++) out.push({ lo: points[i], hi: points[i + 1] - 1 });
  return out;
}

/** Pseudo set names of the baseline rules' destinations (no IR set has a colon). */
const BASELINE_SET = 'baseline:';

/** The host baseline's egress rules (DHCP, platform endpoints; present
 * only under restrict) as rules of the model: their source is the nodes,
 * their destination literal. Ingress baseline rules (DHCPv6 replies to the
 * node's link-local address) have a host end outside the nodes' addresses
 * and are the same in every profile: explain answers them, diff need not.
 * Source ports are not modelled (explain says which they are). */
function baselineEntries(ir: IR, transport: Transport, family: Family): { rule: Rule; peers: AddrRange[] }[] {
  return ir.hostPolicy.baseline
    .filter((b) => b.direction === 'egress' && b.transport === transport && b.family === family)
    .map((b) => ({
      rule: {
        id: b.id,
        direction: 'egress',
        scope: 'host',
        family,
        transport,
        destination: BASELINE_SET + b.id,
        sourceGroup: ir.host,
        destinationGroup: 'host baseline',
        ports: b.ports,
        provenance: [{ ruleId: b.id, table: 'baseline', heading: 'host baseline', ref: b.id, service: b.why, description: b.why, ports: b.ports }],
        antiLockout: false,
      },
      peers: setRanges(ir, BASELINE_SET + b.id),
    }));
}

/** The ICMP every host needs (IR.icmp: ping, errors, neighbour
 * discovery), from or to anywhere, as rules of the model: every target
 * renders them, so the live state has them and the model must too. Under
 * egress: allow the outbound ones are covered anyway. */
function icmpBaselineEntries(ir: IR, direction: Direction, transport: Transport, family: Family): { rule: Rule; peers: AddrRange[] }[] {
  if (!isIcmp(transport) || !carries(transport, family)) return [];
  const names = ir.icmp[direction][family];
  const ports = mergePorts(names.map((n) => parseIcmpType(transport as 'icmp' | 'icmpv6', n)).filter((n): n is number => n !== undefined).map((n) => ({ lo: n, hi: n })));
  if (!ports.length) return [];
  const id = `icmp-${direction === 'ingress' ? 'in' : 'out'}-${family === 'ipv4' ? 'v4' : 'v6'}`;
  const why = `the ${family === 'ipv4' ? 'ICMP' : 'ICMPv6'} that ${family === 'ipv4' ? 'IPv4' : 'IPv6'} needs`;
  return [
    {
      rule: {
        id,
        direction,
        scope: 'host',
        family,
        transport,
        sourceGroup: direction === 'ingress' ? 'any' : ir.host,
        destinationGroup: direction === 'ingress' ? ir.host : 'any',
        ports,
        provenance: [{ ruleId: id, table: 'baseline', heading: 'host baseline', ref: id, service: why, description: why, ports }],
        antiLockout: false,
      },
      peers: [FULL_RANGE[family]],
    },
  ];
}

export function buildFlowModel(ir: IR, hostAddresses: Record<Family, AddrRange[]>): FlowModel {
  const hostListed = { ipv4: hostAddresses.ipv4.length > 0, ipv6: hostAddresses.ipv6.length > 0 };
  const host = {
    ipv4: hostListed.ipv4 ? hostAddresses.ipv4 : [FULL_RANGE.ipv4],
    ipv6: hostListed.ipv6 ? hostAddresses.ipv6 : [FULL_RANGE.ipv6],
  };
  const cache = new Map<string, Segment[]>();
  const segments = (direction: Direction, transport: Transport, family: Family): Segment[] => {
    const key = `${direction}/${transport}/${family}`;
    let segs = cache.get(key);
    if (segs) return segs;
    if (!carries(transport, family)) {
      // ICMP is IPv4's, ICMPv6 IPv6's: no flow of the other family.
      segs = [];
    } else if (direction === 'egress' && ir.egress === 'allow') {
      segs = [{ ports: fullSpace(transport), peers: [FULL_RANGE[family]], rules: [] }];
    } else {
      const entries = [
        ...ir.rules
          .filter((r) => r.scope === 'host' && r.direction === direction && r.transport === transport && r.family === family)
          .map((rule) => ({ rule, peers: setRanges(ir, direction === 'ingress' ? rule.source : rule.destination) })),
        ...(direction === 'egress' ? baselineEntries(ir, transport, family) : []),
        ...icmpBaselineEntries(ir, direction, transport, family),
      ];
      segs = [];
      for (const ports of elementarySegments(entries.flatMap((e) => e.rule.ports))) {
        const covering = entries.filter((e) => e.rule.ports.some((p) => p.lo <= ports.lo && ports.hi <= p.hi));
        if (!covering.length) continue;
        segs.push({ ports, peers: mergeRanges(covering.flatMap((e) => e.peers)), rules: covering.map((e) => e.rule) });
      }
    }
    cache.set(key, segs);
    return segs;
  };
  return { ir, host, hostListed, segments };
}
