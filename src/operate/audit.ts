// `portcullis audit`: does the running host still enforce the reviewed
// policy? The target reads its live state back (src/targets/<name>/live.ts)
// and the compiled tree the same way (loaded where it cannot touch the
// host); both become allowed flows by first-match evaluation, and are
// compared like `diff` compares two policies: flows the host allows that the
// policy does not, and the reverse, with the catalog rows concerned. What is
// not a flow (loopback, conntrack, ICMP, hooks, log) is compared line by
// line; a rule the reader cannot model is drift by itself.

import { AddrRange, Family, FULL_RANGE, intersectRanges, mergeRanges, rangesToStrings, subtractRanges, unionRanges } from '../addresses';
import type { Loaded } from '../compile';
import type { Direction, Rule, Transport } from '../ir/types';
import { formatPortRange, PortRange } from '../ports';
import { elementarySegments, FAMILIES, TRANSPORTS } from '../analysis/flows';
import { markdownCell } from '../analysis/markdown';
import { matchFields, matchText } from '../analysis/match';
import { hasPorts } from '../transports';
import { multisetMinus } from '../targets/live';
import type { LiveFlowRule, LiveRead } from '../targets/live';
import { visibleLine } from '../terminal';

export interface AuditFlow {
  direction: Direction;
  transport: Transport;
  family: Family;
  /** Destination ports of tcp, udp and sctp; empty for the other transports. */
  ports: string[];
  /** ICMP and ICMPv6: the message types ("echo-request", "19-40"; ["any"] for all). */
  icmp_types?: string[];
  /** "tcp 22, 80", "icmp echo-request", "esp". */
  match: string;
  /** Sources for ingress, destinations for egress. */
  peers: string[];
  /** Peers inside `peers` that the other side allows too (so not part of the flow). */
  except?: string[];
  /** Catalog rows of the rules concerned ("T1.1 SSH"). */
  rows: string[];
  /** The live (host_allows) or compiled (policy_allows) rules that allow it. */
  origins: string[];
}

export interface AuditReport {
  target: string;
  environment: string;
  in_sync: boolean;
  /** False when nothing of ours is loaded on the host. */
  present: boolean;
  host_allows: AuditFlow[];
  policy_allows: AuditFlow[];
  /** Non-flow lines on the host that the compiled policy does not have, and the reverse. */
  rules_added: string[];
  rules_missing: string[];
  unmapped: string[];
  drift: string[];
}

interface Decided {
  ports: PortRange;
  allowed: AddrRange[];
  /** Accept rules that allow some of `allowed` here. */
  by: LiveFlowRule[];
}

/** First match per elementary port segment: a rule decides the peers no
 * earlier rule decided; accepted peers are the allowed ones. Segments that
 * the same rules cover are decided alike, so each such set of rules is
 * evaluated once (a profile of many ports has hundreds of segments and a
 * handful of distinct sets). */
function evaluate(rules: LiveFlowRule[], direction: Direction, transport: Transport, family: Family, cuts: PortRange[]): Decided[] {
  const mine = rules.filter((r) => r.direction === direction && r.transport === transport && r.family === family);
  const memo = new Map<string, Omit<Decided, 'ports'>>();
  return elementarySegments(cuts).map((ports) => {
    const covering = mine.filter((r) => r.ports.some((p) => p.lo <= ports.lo && ports.hi <= p.hi));
    const key = covering.map((r) => mine.indexOf(r)).join(',');
    let d = memo.get(key);
    if (!d) {
      let decided: AddrRange[] = [];
      let allowed: AddrRange[] = [];
      const by: LiveFlowRule[] = [];
      for (const r of covering) {
        const fresh = subtractRanges(r.peers, decided);
        if (!fresh.length) continue;
        if (r.verdict === 'accept') {
          allowed = unionRanges(allowed, fresh);
          by.push(r);
        }
        decided = unionRanges(decided, fresh);
      }
      d = { allowed, by };
      memo.set(key, d);
    }
    return { ports, ...d };
  });
}

function sameRuleList(a: LiveFlowRule[], b: LiveFlowRule[]): boolean {
  return (
    a.length === b.length &&
    a.every((x, i) => {
      const y = b[i];
      return x.verdict === y.verdict && x.ports.length === y.ports.length && x.ports.every((p, j) => p.lo === y.ports[j].lo && p.hi === y.ports[j].hi) && sameRanges(mergeRanges(x.peers), mergeRanges(y.peers));
    })
  );
}

function sameRanges(a: AddrRange[], b: AddrRange[]): boolean {
  return a.length === b.length && a.every((r, i) => r.lo === b[i].lo && r.hi === b[i].hi);
}

function rowsOf(loaded: Loaded, rules: LiveFlowRule[], ports: PortRange[]): string[] {
  const byId = new Map<string, Rule>(loaded.ir.rules.map((r) => [r.id, r]));
  const rows = new Set<string>();
  for (const l of rules) {
    const rule = l.ruleId ? byId.get(l.ruleId) : undefined;
    if (!rule) continue;
    for (const p of rule.provenance) if (p.ports.some((x) => ports.some((q) => x.lo <= q.hi && q.lo <= x.hi))) rows.add(`${p.ref} ${p.service}`);
  }
  return [...rows];
}

/** Flows `a` allows and `b` does not, joined over adjacent port segments with the same peers. */
function minus(loaded: Loaded, a: LiveFlowRule[], b: LiveFlowRule[]): AuditFlow[] {
  const out: AuditFlow[] = [];
  for (const direction of ['ingress', 'egress'] as const)
    for (const transport of TRANSPORTS)
      for (const family of FAMILIES) {
        const ra = a.filter((r) => r.direction === direction && r.transport === transport && r.family === family);
        const rb = b.filter((r) => r.direction === direction && r.transport === transport && r.family === family);
        // The same rules in the same order allow the same flows: the common
        // case of a nightly audit, decided without evaluating 10,000 peers.
        if (sameRuleList(ra, rb)) continue;
        const cuts = [...ra, ...rb].flatMap((r) => r.ports);
        if (!cuts.length) continue;
        const sa = evaluate(a, direction, transport, family, cuts);
        const sb = evaluate(b, direction, transport, family, cuts);
        // One flow per set of peers, over all the port segments where it holds.
        const groups: { ports: PortRange[]; peers: AddrRange[]; except: AddrRange[]; by: Set<LiveFlowRule> }[] = [];
        for (let i = 0; i < sa.length; i++) {
          const extra = subtractRanges(sa[i].allowed, sb[i].allowed);
          if (!extra.length) continue;
          // "Everything but what b already allows" reads better as that.
          // Only where it is the shorter way to say it: one missing address
          // is that address, not "everything except ~32 CIDRs".
          const whole =
            sb[i].allowed.length > 0 &&
            sameRanges(mergeRanges([...extra, ...sb[i].allowed]), [FULL_RANGE[family]]) &&
            rangesToStrings(sb[i].allowed, family).length < rangesToStrings(extra, family).length;
          const peers = whole ? [FULL_RANGE[family]] : extra;
          const except = whole ? sb[i].allowed : [];
          const by = sa[i].by.filter((r) => intersectRanges(r.peers, extra).length > 0);
          const g = groups.find((x) => sameRanges(x.peers, peers) && sameRanges(x.except, except));
          if (!g) {
            groups.push({ ports: [sa[i].ports], peers, except, by: new Set(by) });
            continue;
          }
          const last = g.ports[g.ports.length - 1];
          if (last.hi + 1 === sa[i].ports.lo) g.ports[g.ports.length - 1] = { lo: last.lo, hi: sa[i].ports.hi };
          else g.ports.push(sa[i].ports);
          for (const r of by) g.by.add(r);
        }
        for (const g of groups) {
          const by = [...g.by];
          out.push({
            direction,
            transport,
            family,
            ...matchFields(transport, g.ports, (p) => formatPortRange(p)),
            peers: rangesToStrings(g.peers, family),
            ...(g.except.length ? { except: rangesToStrings(g.except, family) } : {}),
            rows: rowsOf(loaded, by, g.ports),
            origins: by.map((r) => r.origin),
          });
        }
      }
  return out;
}


export function compareLive(loaded: Loaded, target: string, environment: string, live: LiveRead, expected: LiveRead): AuditReport {
  const host_allows = minus(loaded, live.flowRules, expected.flowRules);
  const policy_allows = minus(loaded, expected.flowRules, live.flowRules);
  const rules_added = multisetMinus(live.other, expected.other);
  const rules_missing = multisetMinus(expected.other, live.other);
  const unmapped = [...live.unmapped];
  const drift = [...(live.present ? [] : [`nothing of portcullis is loaded for ${target}`]), ...(live.drift ?? [])];
  const in_sync = !host_allows.length && !policy_allows.length && !rules_added.length && !rules_missing.length && !unmapped.length && !drift.length;
  return { target, environment, in_sync, present: live.present, host_allows, policy_allows, rules_added, rules_missing, unmapped, drift };
}

function shortList(items: string[], max = 6): string {
  return items.length > max ? `${items.slice(0, max).join(', ')} (+${items.length - max} more)` : items.join(', ');
}

/** The flow's match, long lists shortened: "tcp 22, 80", "icmp echo-request", "esp". */
function flowMatch(f: AuditFlow, max: number): string {
  return matchText(f.transport, hasPorts(f.transport) ? f.ports : f.icmp_types ?? [], (xs) => shortList(xs, max));
}

function flowLine(f: AuditFlow): string {
  const who = f.direction === 'ingress' ? 'from' : 'to';
  return `${f.direction} ${flowMatch(f, 6)} ${who} ${shortList(f.peers)}${f.except ? ` except ${shortList(f.except)}` : ''}`;
}

export function formatAuditText(r: AuditReport): string {
  const lines: string[] = [];
  for (const [title, list] of [
    ['host allows, policy does not', r.host_allows],
    ['policy allows, host does not', r.policy_allows],
  ] as const)
    for (const f of list) {
      lines.push(`${title}: ${flowLine(f)}`);
      if (f.rows.length) lines.push(`    rows ${f.rows.map(visibleLine).join('; ')}`);
      for (const o of f.origins) lines.push(`    ${r.target}: ${visibleLine(o)}`);
    }
  for (const x of r.rules_added) lines.push(`rule on the host, not in the policy: ${visibleLine(x)}`);
  for (const x of r.rules_missing) lines.push(`rule of the policy, missing on the host: ${visibleLine(x)}`);
  for (const x of r.unmapped) lines.push(`rule the audit cannot map to flows: ${visibleLine(x)}`);
  for (const x of r.drift) lines.push(`drift: ${visibleLine(x)}`);
  const n = r.host_allows.length + r.policy_allows.length + r.rules_added.length + r.rules_missing.length + r.unmapped.length + r.drift.length;
  lines.push(r.in_sync ? `${r.target} on this host is in sync with ${visibleLine(r.environment)}` : `${n} difference${n === 1 ? '' : 's'}: ${r.target} on this host drifted from ${visibleLine(r.environment)}`);
  return lines.join('\n') + '\n';
}

export function formatAuditMarkdown(r: AuditReport): string {
  const env = markdownCell(r.environment);
  if (r.in_sync) return `**portcullis audit** (${r.target}, ${env}): in sync.\n`;
  const out = [`**portcullis audit** (${r.target}, ${env}): drift.`, ''];
  const flows = [...r.host_allows.map((f) => ['host allows, policy does not', f] as const), ...r.policy_allows.map((f) => ['policy allows, host does not', f] as const)];
  if (flows.length) {
    out.push('| change | direction | ports | peers | catalog rows | rules |', '| --- | --- | --- | --- | --- | --- |');
    for (const [what, f] of flows)
      out.push(`| ${what} | ${f.direction} | ${markdownCell(hasPorts(f.transport) ? `${f.ports.join(', ')}/${f.transport}` : flowMatch(f, 20))} | ${markdownCell(shortList(f.peers, 10) + (f.except ? ` except ${shortList(f.except, 10)}` : ''))} | ${markdownCell(f.rows.join('; '))} | ${markdownCell(f.origins.join('; '))} |`);
    out.push('');
  }
  for (const [title, list] of [
    ['Rules on the host, not in the policy', r.rules_added],
    ['Rules of the policy, missing on the host', r.rules_missing],
    ['Rules the audit cannot map to flows', r.unmapped],
    ['Other drift', r.drift],
  ] as const) {
    if (!list.length) continue;
    out.push(`### ${title}`, '', ...list.map((x) => `- ${markdownCell(x)}`), '');
  }
  return out.join('\n');
}
