// The review page's model: per role and direction, a matrix of peer groups
// (sources for ingress to the role's hosts, destinations for egress from
// them) x transport and port segments, built from the IR's host rules, and
// marked with the flows `diff` finds opened or closed. No target output is
// read: the IR is what every target renders.

import { AddrRange, cidrRange, intersectRanges, parseAddress } from '../addresses';
import type { Loaded } from '../compile';
import { roleIRs } from '../compile';
import type { Change, PolicyDiff } from '../analysis/diff';
import { diffPolicies } from '../analysis/diff';
import { elementarySegments, setRanges, TRANSPORTS } from '../analysis/flows';
import { icmpTypeItems } from '../analysis/match';
import type { Direction, IR, Provenance, Rule, Transport } from '../ir/types';
import { formatPortRange, parsePortSpec, PortRange } from '../ports';
import { hasPorts, isIcmp, parseIcmpType } from '../transports';

export type Side = 'new' | 'old';

export interface CellRow {
  ref: string;
  service: string;
  heading: string;
  row?: number;
  ruleId: string;
}

export interface Cell {
  group: string;
  /** Catalog rows (and profile entries) that open this segment to the group, by ref. */
  rows: CellRow[];
  /** IR rule ids, with the family each is in. */
  rules: string[];
  families: string[];
  /** Present in the new (current) policy, the old one (--against), or both. */
  sides: Side[];
  added: boolean;
  removed: boolean;
}

export interface MatrixRow {
  transport: Transport;
  ports: PortRange[];
  /** "22", "20000-65535", "echo-request", "" (portless). */
  label: string;
  cells: Map<string, Cell>;
}

export interface Matrix {
  role: string;
  direction: Direction;
  groups: string[];
  rows: MatrixRow[];
}

export interface RoleView {
  role: string;
  ir: IR;
  oldIr?: IR;
  ingress: Matrix;
  egress: Matrix;
  offHost: Rule[];
  diff?: PolicyDiff;
}

const overlaps = (a: PortRange[], b: PortRange[]) => a.some((p) => b.some((q) => p.lo <= q.hi && q.lo <= p.hi));

function segmentLabel(transport: Transport, ports: PortRange[]): string {
  if (hasPorts(transport)) return ports.map((p) => formatPortRange(p)).join(', ');
  if (isIcmp(transport)) return icmpTypeItems(transport as 'icmp' | 'icmpv6', ports).join(', ');
  return '';
}

/** The ports (or ICMP types) a diff change matches, back as ranges. */
export function changePorts(c: Change): PortRange[] {
  if (hasPorts(c.transport)) return c.ports.map((p) => parsePortSpec(p)).filter((p): p is PortRange => !!p);
  if (isIcmp(c.transport)) {
    const out: PortRange[] = [];
    for (const t of c.icmp_types ?? []) {
      if (t === 'any') out.push({ lo: 0, hi: 255 });
      else if (/^\d+-\d+$/.test(t)) {
        const [lo, hi] = t.split('-').map(Number);
        out.push({ lo, hi });
      } else {
        const n = parseIcmpType(c.transport as 'icmp' | 'icmpv6', t);
        if (n !== undefined) out.push({ lo: n, hi: n });
      }
    }
    return out;
  }
  return [{ lo: 0, hi: 0 }];
}

function cidrsToRanges(list: string[]): AddrRange[] {
  const out: AddrRange[] = [];
  for (const s of list) {
    const r = parseAddress(s);
    if (r.ok) out.push(cidrRange(r.cidr));
  }
  return out;
}

/** The group's addresses in an IR, both families (unions are their own sets). */
function groupRanges(ir: IR, group: string): AddrRange[] {
  return [...setRanges(ir, `${group}_v4`), ...setRanges(ir, `${group}_v6`)];
}

/** Whether a diff change touches a cell: same direction and transport,
 * overlapping ports, peers inside the group, and (when it names rows) a row of the cell. */
function changeHits(c: Change, direction: Direction, transport: Transport, ports: PortRange[], cell: Cell, ir: IR): boolean {
  if (c.direction !== direction || c.transport !== transport) return false;
  if (!overlaps(changePorts(c), ports)) return false;
  const peers = cidrsToRanges(direction === 'ingress' ? c.sources : c.destinations);
  if (peers.length && !intersectRanges(peers, groupRanges(ir, cell.group)).length) return false;
  if (c.rows.length && !c.rows.some((r) => cell.rows.some((x) => x.ref === r.ref))) return false;
  return true;
}

interface Entry {
  side: Side;
  rule: Rule;
}

function buildMatrix(role: string, direction: Direction, irs: { side: Side; ir: IR }[], diff: PolicyDiff | undefined, groupOrder: string[]): Matrix {
  const groups = new Set<string>();
  const rows: MatrixRow[] = [];
  for (const transport of TRANSPORTS) {
    const entries: Entry[] = irs.flatMap(({ side, ir }) =>
      ir.rules.filter((r) => r.scope === 'host' && r.direction === direction && r.transport === transport).map((rule) => ({ side, rule })),
    );
    if (!entries.length) continue;
    const segs: { ports: PortRange; cells: Map<string, Cell>; sig: string }[] = [];
    for (const seg of elementarySegments(entries.flatMap((e) => e.rule.ports))) {
      const cells = new Map<string, Cell>();
      for (const { side, rule } of entries) {
        if (!rule.ports.some((p) => p.lo <= seg.lo && seg.hi <= p.hi)) continue;
        const group = direction === 'ingress' ? rule.sourceGroup : rule.destinationGroup;
        groups.add(group);
        let cell = cells.get(group);
        if (!cell) cells.set(group, (cell = { group, rows: [], rules: [], families: [], sides: [], added: false, removed: false }));
        if (!cell.sides.includes(side)) cell.sides.push(side);
        if (!cell.rules.includes(rule.id)) cell.rules.push(rule.id);
        if (!cell.families.includes(rule.family)) cell.families.push(rule.family);
        for (const p of rule.provenance as Provenance[])
          if (overlaps(p.ports, [seg]) && !cell.rows.some((x) => x.ref === p.ref))
            cell.rows.push({ ref: p.ref, service: p.service, heading: p.heading, row: p.row, ruleId: p.ruleId });
      }
      if (!cells.size) continue;
      const sig = JSON.stringify([...cells.values()].map((c) => [c.group, c.sides, c.rows.map((r) => r.ref), c.families]).sort());
      segs.push({ ports: seg, cells, sig });
    }
    // Adjacent segments with the same cells are one row (the IR's merged ranges).
    const merged: { ports: PortRange[]; cells: Map<string, Cell>; sig: string }[] = [];
    for (const s of segs) {
      const last = merged[merged.length - 1];
      if (last && last.sig === s.sig && last.ports[last.ports.length - 1].hi + 1 === s.ports.lo) last.ports[last.ports.length - 1] = { lo: last.ports[last.ports.length - 1].lo, hi: s.ports.hi };
      else merged.push({ ports: [s.ports], cells: s.cells, sig: s.sig });
    }
    for (const m of merged) {
      if (diff)
        for (const cell of m.cells.values()) {
          const newIr = irs.find((x) => x.side === 'new')?.ir;
          const oldIr = irs.find((x) => x.side === 'old')?.ir;
          if (newIr && cell.sides.includes('new')) cell.added = diff.opened.some((c) => changeHits(c, direction, transport, m.ports, cell, newIr));
          if (oldIr && cell.sides.includes('old')) cell.removed = diff.closed.some((c) => changeHits(c, direction, transport, m.ports, cell, oldIr));
        }
      rows.push({ transport, ports: m.ports, label: segmentLabel(transport, m.ports), cells: m.cells });
    }
  }
  const rank = (g: string) => {
    const i = groupOrder.indexOf(g);
    return i < 0 ? groupOrder.length : i;
  };
  return { role, direction, groups: [...groups].sort((a, b) => rank(a) - rank(b) || (a < b ? -1 : a > b ? 1 : 0)), rows };
}

/** One view per role of the current policy; with an old one, each role
 * compared with the old policy's role of the same name. */
export function buildViews(current: Loaded, old?: Loaded): RoleView[] {
  const groupOrder = [...current.catalog.groups.keys()];
  const oldRoles = old ? roleIRs(old) : [];
  return roleIRs(current).map((ir) => {
    const oldIr = oldRoles.find((o) => o.host === ir.host);
    let diff: PolicyDiff | undefined;
    if (old && oldIr) diff = diffPolicies({ ...old, ir: oldIr, roles: [oldIr] }, { ...current, ir, roles: [ir] });
    const irs: { side: Side; ir: IR }[] = [{ side: 'new', ir }, ...(oldIr ? [{ side: 'old' as const, ir: oldIr }] : [])];
    return {
      role: ir.host,
      ir,
      oldIr,
      ingress: buildMatrix(ir.host, 'ingress', irs, diff, groupOrder),
      egress: buildMatrix(ir.host, 'egress', irs, diff, groupOrder),
      offHost: ir.rules.filter((r) => r.scope === 'off-host'),
      diff,
    };
  });
}
