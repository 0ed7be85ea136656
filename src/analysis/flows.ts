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
import type { PortRange } from '../ports';

export const FAMILIES: Family[] = ['ipv4', 'ipv6'];
export const TRANSPORTS: Transport[] = ['tcp', 'udp'];

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
    ranges = set ? mergeRanges(set.cidrs.map(cidrRange)) : [];
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
    if (direction === 'egress' && ir.egress === 'allow') {
      segs = [{ ports: { lo: 1, hi: 65535 }, peers: [FULL_RANGE[family]], rules: [] }];
    } else {
      const rules = ir.rules.filter((r) => r.scope === 'host' && r.direction === direction && r.transport === transport && r.family === family);
      segs = [];
      for (const ports of elementarySegments(rules.flatMap((r) => r.ports))) {
        const covering = rules.filter((r) => r.ports.some((p) => p.lo <= ports.lo && ports.hi <= p.hi));
        if (!covering.length) continue;
        const peers = mergeRanges(covering.flatMap((r) => setRanges(ir, direction === 'ingress' ? r.source : r.destination)));
        segs.push({ ports, peers, rules: covering });
      }
    }
    cache.set(key, segs);
    return segs;
  };
  return { ir, host, hostListed, segments };
}
