// `portcullis lint`: findings about a valid profile (and, on request, its
// catalog) that compile would accept but a reviewer should see. Each finding
// has a rule id (src/lint/rules.ts), a level, a message, a hint and the
// position of the offending entry; silencing comments are applied here.

import { ANY_ICMP_TYPE, carries, hasPorts, isIcmp, parseIcmpType, PORTLESS, Transport } from '../transports';
import { HOST_ICMP } from '../ir/build';
import { matchText, icmpTypeItems } from '../analysis/match';
import { AddrRange, BITS, Cidr, cidrRange, formatAddress, parseAddress } from '../addresses';
import type { Loaded } from '../compile';
import type { Position } from '../diagnostics';
import { PROFILE_INGRESS_TABLE } from '../load/catalog';
import type { Catalog, CatalogRule } from '../load/catalog';
import type { ParsedDoc, PathSeg } from '../load/yaml';
import { formatPortRange, intersectPorts, mergePorts, PortRange } from '../ports';
import { DEFAULT_PHRASES, phraseTable, readPhrase, readPortCell } from '../catalog-import/phrases';
import { readDirectives } from './directives';
import { BROAD_V4_PREFIX, BROAD_V6_PREFIX, Level, PRIVILEGED_GROUPS, RULES, ruleById } from './rules';
import { compareText } from '../order';
import { hostBaseline } from '../ir/baseline';

export interface Location {
  file: string;
  pos: Position;
  /** Length of the token at pos, when known (for SARIF endColumn). */
  length?: number;
  sourceLine?: string;
}

export interface Finding {
  ruleId: string;
  level: Level;
  message: string;
  hint?: string;
  location: Location;
  related: (Location & { message: string })[];
  /** Identifies the finding independently of its line, for fingerprints. */
  key: string;
  suppressed?: { reason: string; location: Location };
}

export interface LintOptions {
  /** Also report catalog findings (PC1xx). */
  catalogFindings?: boolean;
}

export interface LintReport {
  findings: Finding[];
  /** Files the findings point into, in order of first use. */
  files: string[];
}

// ---- helpers --------------------------------------------------------------------

function locate(doc: ParsedDoc, path: PathSeg[], atKey = false): Location {
  const pos = atKey ? doc.keyPosOf(path) : doc.pos(path);
  const sourceLine = doc.source.lineText(pos.line);
  return { file: doc.source.path, pos, sourceLine, length: tokenLength(sourceLine, pos.col - 1) };
}

/** Length of the YAML scalar starting at index i of a line (quoted or plain). */
function tokenLength(line: string, i: number): number | undefined {
  if (i >= line.length) return undefined;
  const q = line[i];
  if (q === '"' || q === "'") {
    for (let j = i + 1; j < line.length; j++) {
      if (q === '"' && line[j] === '\\') j++;
      else if (line[j] === q) {
        if (q === "'" && line[j + 1] === "'") j++;
        else return j - i + 1;
      }
    }
    return undefined;
  }
  let j = i;
  while (j < line.length && !/[,\]}#]/.test(line[j]) && !(line[j] === ':' && (j + 1 === line.length || /\s/.test(line[j + 1])))) j++;
  const n = line.slice(i, j).trimEnd().length;
  return n || undefined;
}

function subtractPorts(a: PortRange[], b: PortRange[]): PortRange[] {
  const out: PortRange[] = [];
  for (const r of mergePorts(a)) {
    let lo = r.lo;
    for (const s of mergePorts(b)) {
      if (s.hi < lo || s.lo > r.hi) continue;
      if (s.lo > lo) out.push({ lo, hi: s.lo - 1 });
      lo = s.hi + 1;
      if (lo > r.hi) break;
    }
    if (lo <= r.hi) out.push({ lo, hi: r.hi });
  }
  return out;
}

const orList = (xs: string[]) => (xs.length > 1 ? `${xs.slice(0, -1).join(', ')} or ${xs[xs.length - 1]}` : xs.join(''));

const plural = (n: number, w: string) => `${n} ${w}${n === 1 ? '' : 's'}`;

function shortList(items: string[], max = 8): string {
  return items.length > max ? `${items.slice(0, max).join(', ')} and ${items.length - max} more` : items.join(', ');
}

function ref(r: CatalogRule): string {
  return r.row !== undefined ? `${r.table}.${r.row}` : `${r.table}.prose`;
}

interface Entry {
  group: string;
  text: string;
  cidr: Cidr;
  range: AddrRange;
  location: Location;
  /** Where it comes from: the profile, or a catalog group default. */
  origin: 'profile' | 'catalog';
  index: number;
}

const DOC_RANGES: [string, string][] = [
  ['192.0.2.0/24', 'RFC 5737 TEST-NET-1'],
  ['198.51.100.0/24', 'RFC 5737 TEST-NET-2'],
  ['203.0.113.0/24', 'RFC 5737 TEST-NET-3'],
  ['2001:db8::/32', 'RFC 3849'],
  ['3fff::/20', 'RFC 9637'],
];

function isBroad(c: Cidr): boolean {
  return c.prefix < (c.family === 'ipv4' ? BROAD_V4_PREFIX : BROAD_V6_PREFIX);
}

function within(inner: AddrRange, outer: AddrRange): boolean {
  return outer.lo <= inner.lo && inner.hi <= outer.hi;
}

function describeBroad(e: Entry): string {
  if (e.cidr.prefix === 0) return `the whole ${e.cidr.family === 'ipv4' ? 'IPv4' : 'IPv6'} internet`;
  const bits = BITS[e.cidr.family] - e.cidr.prefix;
  return e.cidr.family === 'ipv4'
    ? `${(2 ** bits).toLocaleString('en-US')} addresses, broader than /${BROAD_V4_PREFIX}`
    : `2^${bits} addresses, broader than /${BROAD_V6_PREFIX}`;
}

// ---- the analysis -------------------------------------------------------------------

interface Active {
  rule: CatalogRule;
  from: string[];
  to: string[];
  /** The rule's destination ports (its port transports'). */
  ports: PortRange[];
  /** What the rule opens per transport, in the IR's convention
   * (src/transports.ts): ports, ICMP types ([0-255]: any), or [0-0] for a
   * protocol without ports. */
  opens: (t: Transport) => PortRange[];
}

/** A rule's match space per transport, as the IR builder reads it. */
function opensOf(rule: CatalogRule, ports: PortRange[]): (t: Transport) => PortRange[] {
  return (t) => {
    if (hasPorts(t)) return ports;
    if (isIcmp(t)) {
      const types = rule.icmpTypes[t as 'icmp' | 'icmpv6'];
      return types ? mergePorts(types.map((n) => ({ lo: n, hi: n }))) : [...ANY_ICMP_TYPE];
    }
    return [...PORTLESS];
  };
}

/** "tcp 22, 80", "icmp echo-request", "icmp any type", "esp" for findings. */
function describeOpen(t: Transport, ranges: PortRange[]): string {
  if (hasPorts(t)) return `${t} ${shortList(ranges.map((p) => formatPortRange(p)))}`;
  return matchText(t, isIcmp(t) ? icmpTypeItems(t as 'icmp' | 'icmpv6', ranges) : [], (xs) => shortList(xs));
}

/** What a source group may reach: "<dst>/<transport>" -> ports, and the rules. */
type Reach = Map<string, { ports: PortRange[]; rules: CatalogRule[] }>;

export function lint(loaded: Loaded, options: LintOptions = {}): LintReport {
  const { catalog, profile } = loaded;
  const findings: Finding[] = [];
  // The firewalled roles (one for a `host:` catalog). A union group
  // (`nodes` = servers + agents) stands for its members: a rule to it is a
  // rule to each, a rule from it one from each, so reach, use and the
  // host-group checks below are per role.
  const roles = catalog.roles;
  const multi = roles.length > 1;
  const members = (g: string) => catalog.unions.get(g) ?? [g];
  const featureOn = (f?: string) => f === undefined || (profile.features.get(f) ?? catalog.features.get(f)?.default) === true;
  const paramValue = (p: string) => profile.params.get(p) ?? catalog.params.get(p)!.default;

  const active: Active[] = [];
  for (const rule of catalog.rules) {
    if (!featureOn(rule.feature)) continue;
    const from = [...new Set(rule.from.filter((g) => featureOn(g.feature)).flatMap((g) => members(g.group)))];
    const to = [...new Set(rule.to.filter((g) => featureOn(g.feature)).flatMap((g) => members(g.group)))];
    if (!from.length || !to.length) continue;
    const ports = mergePorts(rule.ports.map((p) => (p.kind === 'range' ? p.range : paramValue(p.param))));
    active.push({ rule, from, to, ports, opens: opensOf(rule, ports) });
  }
  // The profile's extra_ingress entries: each opens its ports on every role
  // from a group of its own (extra_ingress_N, cited PI.N), as the IR builder
  // reads them. They reach ports, so PC001 sees a broad one; they do not
  // change which ports the catalog keeps for privileged groups.
  const fromProfile = new Set<CatalogRule>();
  for (const e of profile.extraIngress) {
    const rule: CatalogRule = {
      id: e.ruleId,
      table: PROFILE_INGRESS_TABLE,
      row: e.row,
      cells: {},
      service: e.description ?? `extra_ingress entry ${e.row}`,
      description: e.description ?? '',
      ports: e.ports.map((range) => ({ kind: 'range', range })),
      transports: e.transports,
      icmpTypes: e.icmpTypes,
      from: [{ group: e.group }],
      to: roles.map((group) => ({ group })),
      antiLockout: false,
      path: e.path,
    };
    const ports = mergePorts(e.ports);
    fromProfile.add(rule);
    active.push({ rule, from: [e.group], to: [...roles], ports, opens: opensOf(rule, ports) });
  }

  const privileged = new Set([...PRIVILEGED_GROUPS, ...roles]);
  const reachOf = new Map<string, Reach>();
  const open = new Map<string, PortRange[]>();
  const publicPorts = new Map<string, PortRange[]>();
  for (const a of active)
    for (const to of a.to)
      // Every transport: ports, ICMP types, or a whole portless protocol.
      for (const t of a.rule.transports) {
        const k = `${to}/${t}`;
        const opened = a.opens(t);
        if (!fromProfile.has(a.rule)) {
          open.set(k, mergePorts([...(open.get(k) ?? []), ...opened]));
          if (a.from.some((g) => !privileged.has(g))) publicPorts.set(k, mergePorts([...(publicPorts.get(k) ?? []), ...opened]));
        }
        for (const from of a.from) {
          const reach = reachOf.get(from) ?? new Map();
          reachOf.set(from, reach);
          const cur = reach.get(k) ?? { ports: [], rules: [] };
          cur.ports = mergePorts([...cur.ports, ...opened]);
          if (!cur.rules.includes(a.rule)) cur.rules.push(a.rule);
          reach.set(k, cur);
        }
      }
  /** Ports of (dst, transport) that only privileged groups (and the host) reach. */
  // ICMP types every host lets in from anywhere (IR icmp: echo-request,
  // the errors, neighbour discovery) are public whatever the catalog says.
  const hostIcmp = (k: string): PortRange[] => {
    const [dst, t] = k.split('/');
    if (!roles.includes(dst) || (t !== 'icmp' && t !== 'icmpv6')) return [];
    return HOST_ICMP.ingress[t === 'icmp' ? 'ipv4' : 'ipv6'].flatMap((name) => {
      const n = parseIcmpType(t, name);
      return n === undefined ? [] : [{ lo: n, hi: n }];
    });
  };
  const restricted = (k: string) => subtractPorts(open.get(k) ?? [], [...(publicPorts.get(k) ?? []), ...hostIcmp(k)]);
  /** Restricted ports in `reach` (optionally minus what `minus` reaches), described. */
  const restrictedReach = (reach: Reach | undefined, minus: Reach | undefined, family: Cidr['family']): { text: string[]; count: number } => {
    const text: string[] = [];
    let count = 0;
    for (const [k, v] of [...(reach ?? [])].sort(([a], [b]) => compareText(a, b))) {
      const [dst, tt] = k.split('/');
      const t = tt as Transport;
      // An IPv4 entry never sends ICMPv6, an IPv6 one never ICMP.
      if (!carries(t, family)) continue;
      let ports = intersectPorts(v.ports, restricted(k));
      if (minus) ports = subtractPorts(ports, minus.get(k)?.ports ?? []);
      if (!ports.length) continue;
      count += ports.length;
      const rows = v.rules
        .filter((r) => {
          const a = active.find((x) => x.rule === r)!;
          return intersectPorts(a.opens(t), ports).length > 0;
        })
        .map((r) => `${ref(r)} ${r.service}`);
      text.push(`${multi && roles.includes(dst) ? `role ${dst}:` : dst} ${describeOpen(t, ports)} (${shortList([...new Set(rows)], 4)})`);
    }
    return { text, count };
  };

  // Every address entry: the profile's, and catalog defaults of groups the
  // profile leaves out (they are in effect too).
  const entries: Entry[] = [];
  for (const [group, list] of profile.groups)
    list.forEach((a, index) =>
      entries.push({ group, text: a.text, cidr: a.cidr, range: cidrRange(a.cidr), location: locate(profile.doc, a.path), origin: 'profile', index }),
    );
  // The addresses of extra_ingress / extra_egress entries: each entry is a
  // group of its own (extra_ingress_N), linted like any group's addresses.
  for (const x of [...profile.extraIngress.map((e) => ({ group: e.group, addrs: e.from })), ...profile.extraEgress.map((e) => ({ group: e.group, addrs: e.to }))])
    x.addrs.forEach((a, index) =>
      entries.push({ group: x.group, text: a.text, cidr: a.cidr, range: cidrRange(a.cidr), location: locate(profile.doc, a.path), origin: 'profile', index }),
    );
  const rawGroups = (catalog.doc.value as { groups?: Record<string, { default?: string[] }> }).groups ?? {};
  for (const [group, g] of catalog.groups) {
    if (profile.groups.has(group)) continue;
    g.defaults.forEach((cidr, index) =>
      entries.push({
        group,
        text: rawGroups[group]?.default?.[index] ?? formatAddress(cidr),
        cidr,
        range: cidrRange(cidr),
        location: locate(catalog.doc, ['groups', group, 'default', index]),
        origin: 'catalog',
        index,
      }),
    );
  }
  const at = (e: Entry) => `${e.location.file}:${e.location.pos.line}`;
  const entryKey = (e: Entry) => `${e.origin}:${e.group}:${e.cidr.family}:${formatAddress(e.cidr)}`;

  // PC001: broad entries reaching restricted ports.
  for (const e of entries) {
    if (!isBroad(e.cidr)) continue;
    const r = restrictedReach(reachOf.get(e.group), undefined, e.cidr.family);
    if (!r.count) continue;
    findings.push(
      finding('PC001', e.location, `'${e.text}' in group '${e.group}' is ${describeBroad(e)}, and '${e.group}' reaches ports that only ${orList([...privileged])} may reach: ${r.text.join('; ')}`, {
        hint: `list only the networks of the hosts that need these ports (IPv4 /${BROAD_V4_PREFIX} or narrower, IPv6 /${BROAD_V6_PREFIX} or narrower)`,
        key: `PC001:${entryKey(e)}`,
      }),
    );
  }

  // PC002: profile groups no enabled rule uses.
  for (const [group, list] of profile.groups) {
    // A role is the firewalled hosts themselves; a group is used through a union too.
    if (roles.includes(group) || !list.length) continue;
    if (active.some((a) => a.from.includes(group) || a.to.includes(group))) continue;
    const users = catalog.rules.filter((r) => [...r.from, ...r.to].some((g) => members(g.group).includes(group)));
    const gates = new Map<string, CatalogRule[]>();
    for (const r of users) {
      const refGates = [...r.from, ...r.to].filter((g) => members(g.group).includes(group)).map((g) => g.feature);
      for (const f of [r.feature, ...refGates]) if (f && !featureOn(f)) gates.set(f, [...(gates.get(f) ?? []), r]);
    }
    const message = users.length
      ? `group '${group}' is not used by any enabled rule: ${[...gates]
          .map(([f, rs]) => `feature '${f}' is off (it would use '${group}' in ${shortList([...new Set(rs)].map((r) => `${r.id} ${ref(r)}`), 4)})`)
          .join('; ')}`
      : `group '${group}' is not used by any rule of catalog '${catalog.name}'`;
    findings.push(
      finding('PC002', locate(profile.doc, ['groups', group], true), message, {
        hint: gates.size ? `turn on ${[...gates.keys()].map((f) => `features.${f}`).join(' or ')}, or remove groups.${group}` : `remove groups.${group}`,
        key: `PC002:${group}`,
      }),
    );
  }

  // PC003: duplicates and covered entries within a group (the profile's).
  for (const [group] of profile.groups) {
    const mine = entries.filter((e) => e.origin === 'profile' && e.group === group);
    for (const e of mine) {
      const same = mine.find((o) => o !== e && o.range.lo === e.range.lo && o.range.hi === e.range.hi && o.cidr.family === e.cidr.family);
      if (same && same.index < e.index) {
        findings.push(
          finding('PC003', e.location, `'${e.text}' is listed twice in group '${group}' (also '${same.text}' at ${at(same)})`, {
            hint: 'remove one of them',
            key: `PC003:dup:${entryKey(e)}:${e.index}`,
            related: [{ ...same.location, message: `the first '${same.text}'` }],
          }),
        );
        continue;
      }
      const cover = mine
        .filter((o) => o !== e && o.cidr.family === e.cidr.family && within(e.range, o.range) && !(o.range.lo === e.range.lo && o.range.hi === e.range.hi))
        .sort((a, b) => a.cidr.prefix - b.cidr.prefix)[0];
      if (cover)
        findings.push(
          finding('PC003', e.location, `'${e.text}' in group '${group}' is covered by '${cover.text}' (${at(cover)}) of the same group`, {
            hint: `remove '${e.text}', or narrow '${cover.text}' if it is wider than meant`,
            key: `PC003:cover:${entryKey(e)}`,
            related: [{ ...cover.location, message: `the covering entry '${cover.text}'` }],
          }),
        );
    }
  }

  // PC004: an entry inside (or equal to) an entry of another group gains
  // that group's reach; a finding when that adds restricted ports.
  const seenPairs = new Set<string>();
  for (const small of entries) {
    if (isBroad(small.cidr)) continue;
    for (const big of entries) {
      if (big === small || big.group === small.group || big.cidr.family !== small.cidr.family || isBroad(big.cidr)) continue;
      if (!within(small.range, big.range)) continue;
      const equal = small.range.lo === big.range.lo && small.range.hi === big.range.hi;
      const pair = [entryKey(small), entryKey(big)].sort().join('|');
      if (equal && seenPairs.has(pair)) continue;
      const gains = restrictedReach(reachOf.get(big.group), reachOf.get(small.group) ?? new Map(), small.cidr.family);
      let subject = small;
      let other = big;
      let gained = gains;
      if (equal) {
        seenPairs.add(pair);
        const back = restrictedReach(reachOf.get(small.group), reachOf.get(big.group) ?? new Map(), small.cidr.family);
        // Report once, at the later of the two entries.
        const later = compareLocation(small.location, big.location) > 0 ? small : big;
        subject = later;
        other = later === small ? big : small;
        gained = later === small ? gains : back;
        if (!gains.count && !back.count) continue;
        // gains: what small's group gets from big's; back: the reverse.
        const beyond = (g: { text: string[] }, group: string) => `${g.text.join('; ')}, which '${group}' alone does not reach`;
        const bySubject = later === small ? [gains, back] : [back, gains];
        const texts = [
          ...(bySubject[0].count ? [beyond(bySubject[0], subject.group)] : []),
          ...(bySubject[1].count ? [beyond(bySubject[1], other.group)] : []),
        ];
        findings.push(
          finding('PC004', subject.location, `'${subject.text}' is in both '${subject.group}' and '${other.group}' ('${other.text}' at ${at(other)}): it reaches ${texts.join('; and ')}`, {
            hint: 'take the address out of one of the groups; ports listed are ones the catalog opens only to admins, support or the nodes',
            key: `PC004:${pair}`,
            related: [{ ...other.location, message: `'${other.text}' in group '${other.group}'` }],
          }),
        );
        continue;
      }
      if (!gained.count) continue;
      findings.push(
        finding(
          'PC004',
          subject.location,
          `'${subject.text}' in group '${subject.group}' is inside '${other.text}' of group '${other.group}' (${at(other)}): as a member of '${other.group}' it may also reach ${gained.text.join('; ')}, which '${subject.group}' does not reach`,
          {
            hint: `take '${subject.text}' out of '${other.group}' (narrow '${other.text}'), or silence this if the address is meant to be both`,
            key: `PC004:${entryKey(subject)}|${entryKey(other)}`,
            related: [{ ...other.location, message: `'${other.text}' in group '${other.group}'` }],
          },
        ),
      );
    }
  }

  // PC005: documentation ranges in the profile.
  const docRanges = DOC_RANGES.map(([t, why]) => {
    const r = parseAddress(t);
    if (!r.ok) throw new Error(`internal: bad documentation range ${t}`);
    return { text: t, why, cidr: r.cidr, range: cidrRange(r.cidr) };
  });
  for (const e of entries) {
    if (e.origin !== 'profile') continue;
    const d = docRanges.find((x) => x.cidr.family === e.cidr.family && within(e.range, x.range));
    if (d)
      findings.push(
        finding('PC005', e.location, `'${e.text}' in group '${e.group}' is inside the documentation range ${d.text} (${d.why}): fine for examples, suspicious in production`, {
          hint: "replace it with the site's real addresses",
          key: `PC005:${entryKey(e)}`,
        }),
      );
  }

  // PC006 / PC007: what `egress: restrict` cuts off.
  if (profile.egress === 'restrict') {
    const where = locate(profile.doc, ['egress']);
    const reached = (transport: 'tcp' | 'udp', port: number, role: string) =>
      active.some((a) => a.from.includes(role) && a.rule.transports.includes(transport) && a.ports.some((p) => p.lo <= port && port <= p.hi)) ||
      profile.extraEgress.some((e) => e.transports.includes(transport) && e.ports.some((p) => p.lo <= port && port <= p.hi)) ||
      hostBaseline('restrict', profile.host.platform).some((b) => b.direction === 'egress' && b.transport === transport && b.ports.some((p) => p.lo <= port && port <= p.hi));
    // Each role's hosts by their own policy: one finding per role cut off.
    for (const [service, port] of [['DNS', 53], ['NTP', 123]] as const)
      for (const role of roles) {
        if (reached('udp', port, role)) continue;
        findings.push(
          finding('PC006', where, `egress: restrict, and no rule lets ${multi ? `the hosts of role '${role}'` : 'the nodes'} reach ${service} (udp ${port}) anywhere: ${service === 'DNS' ? 'name resolution' : 'time synchronisation'} stops`, {
            hint: `add an extra_egress entry (to: [the site's ${service === 'DNS' ? 'resolvers' : 'time servers'}], ports: [${port}], transport: udp)${profile.host.platform === 'none' ? ', or set host.platform on a cloud' : ''}`,
            key: multi ? `PC006:${service}:${role}` : `PC006:${service}`,
          }),
        );
      }
    // host.platform and egress are the profile's, the same for every role.
    if (profile.host.platform === 'none')
      findings.push(
        finding('PC007', where, `egress: restrict with host.platform none: on a cloud instance the metadata service (169.254.169.254) and platform endpoints (Azure 168.63.129.16, AWS DNS and time) are cut off${multi ? ` for every role (${roles.join(', ')})` : ''}`, {
          hint: 'on AWS, Azure or GCP set host.platform; on premises nothing to do',
          key: 'PC007',
        }),
      );
  }

  if (options.catalogFindings) findings.push(...catalogFindings(catalog));

  applyDirectives(findings, loaded);
  // Profile first, then the catalog; by position within a file.
  const files = [...new Set([profile.doc.source.path, ...findings.map((f) => f.location.file)])];
  findings.sort((a, b) => files.indexOf(a.location.file) - files.indexOf(b.location.file) || compareLocation(a.location, b.location) || compareText(a.ruleId, b.ruleId));
  return { findings, files: files.filter((f) => findings.some((x) => x.location.file === f || x.related.some((r) => r.file === f))) };
}

function compareLocation(a: Location, b: Location): number {
  return a.pos.line - b.pos.line || a.pos.col - b.pos.col;
}

function finding(
  ruleId: string,
  location: Location,
  message: string,
  extra: { hint?: string; key: string; related?: (Location & { message: string })[] },
): Finding {
  const rule = ruleById(ruleId)!;
  return { ruleId, level: rule.level, message, hint: extra.hint, location, related: extra.related ?? [], key: extra.key };
}

// ---- catalog findings ---------------------------------------------------------

/** What a catalog rule opens, for a message: its ports (a param by name),
 * then each ICMP transport's types by name ("icmp echo-reply,
 * echo-request", "icmp any type") and each portless protocol; never empty. */
function ruleOpensText(r: CatalogRule): string {
  const parts: string[] = [];
  const ports = r.ports.map((x) => (x.kind === 'param' ? `param ${x.param}` : formatPortRange(x.range)));
  const withPorts = r.transports.filter(hasPorts);
  if (withPorts.length) parts.push(r.transports.length > withPorts.length ? `${withPorts.join('/')} ${ports.join(', ')}` : ports.join(', '));
  for (const t of r.transports.filter((x) => !hasPorts(x))) parts.push(describeOpen(t, opensOf(r, [])(t)));
  return parts.join('; ') || 'nothing';
}

const GENERIC_PROTOCOLS = new Set(['', 'tcp', 'udp']);

function catalogFindings(catalog: Catalog): Finding[] {
  const out: Finding[] = [];
  const doc = catalog.doc;
  const flagged = new Set<CatalogRule>();

  // PC101: a port repeated under another protocol name.
  const byPort = new Map<number, CatalogRule[]>();
  for (const r of catalog.rules) {
    // Only rules with ports: an ICMP row's Port cell holds types, a portless one's nothing.
    if (r.row === undefined || r.cells.port === undefined || !r.transports.some(hasPorts)) continue;
    const p = readPortCell(r.cells.port);
    if (p.kind !== 'ports' || p.ranges.length !== 1 || p.ranges[0].lo !== p.ranges[0].hi) continue;
    byPort.set(p.ranges[0].lo, [...(byPort.get(p.ranges[0].lo) ?? []), r]);
  }
  const proto = (r: CatalogRule) => (r.cells.protocol ?? '').trim().toLowerCase();
  for (const [port, rules] of [...byPort].sort(([a], [b]) => a - b)) {
    const named = rules.filter((r) => !GENERIC_PROTOCOLS.has(proto(r)));
    if (new Set(named.map(proto)).size < 2) continue;
    for (const r of named) {
      const others = named.filter((o) => o !== r && proto(o) !== proto(r));
      flagged.add(r);
      out.push(
        finding(
          'PC101',
          locate(doc, [...r.path, 'cells', 'protocol']),
          `port ${port} is '${r.cells.protocol}' in ${ref(r)} (${r.id}, ${r.service}) but ${others.map((o) => `'${o.cells.protocol}' in ${ref(o)} (${o.id}, ${o.service})`).join(', ')}`,
          { hint: r.note ?? 'check the document: two services on one port number, or a typo', key: `PC101:${r.id}`, related: others.map((o) => ({ ...locate(doc, [...o.path, 'cells', 'protocol']), message: `${ref(o)} ${o.cells.protocol}` })) },
        ),
      );
    }
  }

  // PC102: rows whose cells read (with the default phrase table) as other
  // groups or ports than the rule has.
  const phrases = phraseTable();
  const known = new Set(Object.values(DEFAULT_PHRASES).flat());
  for (const r of catalog.rules) {
    if (r.row === undefined) continue;
    const issues: { cell: 'source' | 'destination' | 'port'; text: string }[] = [];
    for (const [cell, side] of [
      ['source', r.from],
      ['destination', r.to],
    ] as const) {
      const text = r.cells[cell];
      if (text === undefined) continue;
      const reading = readPhrase(text, phrases);
      if (reading.unmapped.length || reading.groups.some((g) => !known.has(g) || !catalog.groups.has(g))) continue;
      const have = [...new Set(side.map((g) => g.group))].sort();
      const read = [...reading.groups].sort();
      if (reading.addresses.length)
        issues.push({ cell, text: `${cell === 'source' ? 'Source' : 'Destination'} '${text}' is an address; the rule has ${cell === 'source' ? 'from' : 'to'}: ${have.join(', ')}` });
      else if (have.join(',') !== read.join(','))
        issues.push({ cell, text: `${cell === 'source' ? 'Source' : 'Destination'} '${text}' reads as ${read.join(', ') || 'nothing'}; the rule has ${cell === 'source' ? 'from' : 'to'}: ${have.join(', ')}` });
    }
    if (r.cells.port !== undefined && r.transports.some(hasPorts)) {
      const p = readPortCell(r.cells.port);
      const literal = r.ports.every((x) => x.kind === 'range');
      const ranges = mergePorts(r.ports.flatMap((x) => (x.kind === 'range' ? [x.range] : [])));
      if (p.kind === 'choice' || p.kind === 'unreadable' || !literal)
        issues.push({ cell: 'port', text: `Port '${r.cells.port}' is ${ruleOpensText(r)} in the rule` });
      else if (p.kind === 'ports' && mergePorts(p.ranges).map((x) => formatPortRange(x)).join(',') !== ranges.map((x) => formatPortRange(x)).join(','))
        issues.push({ cell: 'port', text: `Port '${r.cells.port}' but the rule opens ${ranges.map((x) => formatPortRange(x)).join(', ')}` });
    }
    if (!issues.length) continue;
    flagged.add(r);
    out.push(
      finding('PC102', locate(doc, [...r.path, 'cells', issues[0].cell]), `${ref(r)} (${r.id}) was interpreted: ${issues.map((i) => i.text).join('; ')}`, {
        hint: r.note ?? 'the rule has no note explaining the interpretation; add one',
        key: `PC102:${r.id}`,
      }),
    );
  }

  // PC103: every other recorded judgement call.
  for (const r of catalog.rules) {
    if (!r.note || flagged.has(r)) continue;
    out.push(finding('PC103', locate(doc, [...r.path, 'note']), `${ref(r)} (${r.id}): ${r.note}`, { key: `PC103:${r.id}` }));
  }
  return out;
}

// ---- silencing ------------------------------------------------------------------

function applyDirectives(findings: Finding[], loaded: Loaded): void {
  const extra: Finding[] = [];
  for (const doc of [loaded.profile.doc, loaded.catalog.doc]) {
    const file = doc.source.path;
    for (const d of readDirectives(doc.source.text)) {
      const loc: Location = { file, pos: { line: d.line, col: d.col }, sourceLine: doc.source.lineText(d.line) };
      loc.length = (loc.sourceLine ?? '').length - (d.col - 1);
      if (d.problem) {
        extra.push(finding('PC000', loc, `portcullis-lint: ${d.problem}`, { hint: 'write: # portcullis-lint: disable=PC001[,PC003] reason="why"', key: `PC000:${file}:${d.line}` }));
        continue;
      }
      const unknown = d.ids.filter((id) => !ruleById(id) || id === 'PC000');
      if (unknown.length)
        extra.push(
          finding('PC000', loc, `portcullis-lint: ${unknown.map((u) => `'${u}'`).join(', ')} ${unknown.length === 1 ? 'is not a rule' : 'are not rules'} that can be silenced`, {
            hint: `known: ${RULES.filter((r) => r.id !== 'PC000').map((r) => r.id).join(', ')}`,
            key: `PC000:${file}:${d.line}:unknown`,
          }),
        );
      for (const f of findings)
        if (f.location.file === file && f.location.pos.line === d.target && d.ids.includes(f.ruleId) && !f.suppressed) {
          f.suppressed = { reason: d.reason!, location: loc };
          d.used.add(f.ruleId);
        }
      const unused = d.ids.filter((id) => !d.used.has(id) && !unknown.includes(id));
      if (unused.length)
        extra.push(
          finding('PC000', loc, `portcullis-lint: disable=${unused.join(',')} silences nothing on line ${d.target}`, {
            hint: 'remove the stale directive (the finding it silenced is gone), or move it to the line of the entry',
            key: `PC000:${file}:${d.line}:unused`,
          }),
        );
    }
  }
  findings.push(...extra);
}

export function counts(findings: Finding[]): Record<Level | 'silenced', number> {
  const c = { error: 0, warning: 0, note: 0, silenced: 0 };
  for (const f of findings) {
    if (f.suppressed) c.silenced++;
    else c[f.level]++;
  }
  return c;
}

export function summary(findings: Finding[]): string {
  const c = counts(findings);
  const parts = [plural(c.error, 'error'), plural(c.warning, 'warning'), plural(c.note, 'note')];
  return `lint: ${parts.join(', ')}${c.silenced ? ` (${c.silenced} silenced)` : ''}`;
}
