// Catalog + profile -> IR: resolve features, params and groups; split by
// family; merge rules sharing (direction, peers, family, transport); sort.

import { Cidr, Family, formatAddress, normalizeCidrs } from '../addresses';
import { CompileError, Diagnostic } from '../diagnostics';
import { Catalog, CatalogRule, PROFILE_INGRESS_TABLE, PROFILE_TABLE } from '../load/catalog';
import type { Profile } from '../load/profile';
import { mergePorts, PortRange } from '../ports';
import type { AddressSet, IcmpPolicy, IR, Provenance, Rule } from './types';
import { compareText } from '../order';
import { hostBaseline } from './baseline';
import { ANY_ICMP_TYPE, carries, PORTLESS, Transport, transportKind } from '../transports';
import type { TransportSpec } from '../load/transport-spec';

/** Every log line portcullis asks for starts with this; targets add the
 * direction: "portcullis-drop in: ", "portcullis-drop out: ". */
export const LOG_PREFIX = 'portcullis-drop';

const FAMILIES: Family[] = ['ipv4', 'ipv6'];
const FAMILY_SUFFIX: Record<Family, string> = { ipv4: 'v4', ipv6: 'v6' };

/** What IPv4 and IPv6 need to work through a default-deny host firewall.
 * Errors that belong to a tracked connection are already "related";
 * these are the untracked ones (ping, neighbour discovery, MLD). */
export const HOST_ICMP: { ingress: IcmpPolicy; egress: IcmpPolicy } = {
  ingress: {
    ipv4: ['echo-request', 'destination-unreachable', 'time-exceeded', 'parameter-problem'],
    ipv6: [
      'destination-unreachable',
      'packet-too-big',
      'time-exceeded',
      'parameter-problem',
      'echo-request',
      'nd-router-advert',
      'nd-neighbor-solicit',
      'nd-neighbor-advert',
      'mld-listener-query',
    ],
  },
  egress: {
    ipv4: [],
    ipv6: ['nd-router-solicit', 'nd-neighbor-solicit', 'nd-neighbor-advert', 'mld-listener-report', 'mld2-listener-report'],
  },
};

interface Resolved {
  features: Map<string, boolean>;
  params: Map<string, PortRange>;
  /** Group -> its addresses (profile's, else the catalog default). */
  groups: Map<string, Cidr[]>;
}

function resolve(catalog: Catalog, profile: Profile): Resolved {
  const features = new Map<string, boolean>();
  for (const [name, f] of catalog.features) features.set(name, profile.features.get(name) ?? f.default);
  const params = new Map<string, PortRange>();
  for (const [name, p] of catalog.params) params.set(name, profile.params.get(name) ?? p.default);
  const groups = new Map<string, Cidr[]>();
  for (const [name, g] of catalog.groups) {
    const given = profile.groups.get(name);
    groups.set(name, given ? given.map((a) => a.cidr) : g.defaults);
  }
  // A union's addresses are its members' (the loaders refuse any of its own).
  for (const [name, members] of catalog.unions) groups.set(name, members.flatMap((m) => groups.get(m) ?? []));
  return { features, params, groups };
}


/** A rule's `ports` for one of its transports (see Rule.ports). */
function portsOf(transport: Transport, ports: PortRange[], icmpTypes: TransportSpec['icmpTypes']): PortRange[] {
  const kind = transportKind(transport);
  if (kind === 'ports') return ports;
  if (kind === 'portless') return PORTLESS.map((r) => ({ ...r }));
  const types = icmpTypes[transport as 'icmp' | 'icmpv6'];
  return types ? mergePorts(types.map((n) => ({ lo: n, hi: n }))) : ANY_ICMP_TYPE.map((r) => ({ ...r }));
}

function provenanceOf(catalog: Catalog, r: CatalogRule, ports: PortRange[]): Provenance {
  return {
    ruleId: r.id,
    table: r.table,
    heading: r.table === PROFILE_TABLE ? 'site profile: extra_egress' : r.table === PROFILE_INGRESS_TABLE ? 'site profile: extra_ingress' : (catalog.tables.get(r.table)?.heading ?? r.table),
    row: r.row,
    ref: r.row !== undefined ? `${r.table}.${r.row}` : `${r.table}.prose`,
    service: r.service,
    protocol: r.cells.protocol,
    description: r.description,
    note: r.note,
    ports,
  };
}

function compareProvenance(a: Provenance, b: Provenance): number {
  return compareText(a.table, b.table) || (a.row ?? Infinity) - (b.row ?? Infinity) || compareText(a.ruleId, b.ruleId);
}

/** One IR per firewalled role of the catalog, in catalog order. */
export function buildRoleIRs(catalog: Catalog, profile: Profile): IR[] {
  return catalog.roles.map((role) => buildIR(catalog, profile, role));
}

/** The policy of one role's hosts (default: the first role, the only one
 * of a one-role catalog). */
export function buildIR(catalog: Catalog, profile: Profile, role: string = catalog.host): IR {
  if (!catalog.roles.includes(role)) throw new Error(`internal: '${role}' is not a role of catalog '${catalog.name}'`);
  const { features, params, groups } = resolve(catalog, profile);
  /** Whether group g is this role, or a union including it. */
  const isHere = (g: string) => g === role || (catalog.unions.get(g)?.includes(role) ?? false);
  /** Whether group g is any role, or a union including one. */
  const isAnyRole = (g: string) => catalog.roles.includes(g) || (catalog.unions.get(g)?.some((m) => catalog.roles.includes(m)) ?? false);
  const enabled = (feature?: string) => feature === undefined || features.get(feature) === true;

  // Which rules are on, and which groups they take part with.
  interface Active {
    rule: CatalogRule;
    /** One of the rule's transports: a rule with several is several actives. */
    transport: Transport;
    from: string[];
    to: string[];
    ports: PortRange[];
  }
  const active: Active[] = [];
  for (const rule of catalog.rules) {
    if (!enabled(rule.feature)) continue;
    const from = rule.from.filter((g) => enabled(g.feature)).map((g) => g.group);
    const to = rule.to.filter((g) => enabled(g.feature)).map((g) => g.group);
    if (!from.length || !to.length) continue;
    const ports = mergePorts(rule.ports.map((p) => (p.kind === 'range' ? p.range : params.get(p.param)!)));
    for (const transport of rule.transports) active.push({ rule, transport, from, to, ports: portsOf(transport, ports, rule.icmpTypes) });
  }

  // What the profile adds: each extra_egress entry is a rule from the nodes
  // to a group of its own, each extra_ingress entry one from a group of its
  // own to the nodes, cited as row N of the profile's list (table P / PI).
  const ruleIds = new Set(catalog.rules.map((r) => r.id));
  const profileEntries = [
    ...profile.extraEgress.map((e) => ({ e, key: 'extra_egress', table: PROFILE_TABLE, addrs: e.to, egress: true })),
    ...profile.extraIngress.map((e) => ({ e, key: 'extra_ingress', table: PROFILE_INGRESS_TABLE, addrs: e.from, egress: false })),
  ];
  for (const { e, key, table, addrs, egress } of profileEntries) {
    const { group } = e;
    // The loader reserves these names in every catalog; a clash here would
    // let the profile replace a catalog group's addresses.
    if (groups.has(group) || ruleIds.has(e.ruleId)) throw new Error(`internal: ${key} name '${group}' / '${e.ruleId}' is taken by the catalog`);
    groups.set(group, addrs.map((a) => a.cidr));
    const [from, to] = egress ? [role, group] : [group, role];
    const rule: CatalogRule = {
      id: e.ruleId,
      table,
      row: e.row,
      cells: {},
      service: e.description ?? `${key.replace('_', ' ')} ${e.row}`,
      description: e.description ?? '',
      ports: e.ports.map((range) => ({ kind: 'range', range })),
      transports: e.transports,
      icmpTypes: e.icmpTypes,
      from: [{ group: from }],
      to: [{ group: to }],
      antiLockout: false,
      path: e.path,
    };
    for (const transport of e.transports) active.push({ rule, transport, from: [from], to: [to], ports: portsOf(transport, mergePorts(e.ports), e.icmpTypes) });
  }

  // Every group an enabled rule needs must have addresses.
  // group -> the rules needing it, each with the feature that gates that need.
  const needs = new Map<string, { rule: CatalogRule; gate?: string }[]>();
  for (const a of active)
    for (const refs of [a.rule.from, a.rule.to])
      for (const ref of refs)
        if (enabled(ref.feature) && (a.from.includes(ref.group) || a.to.includes(ref.group))) {
          let uses = needs.get(ref.group);
          if (!uses) needs.set(ref.group, (uses = []));
          uses.push({ rule: a.rule, gate: ref.feature ?? a.rule.feature });
        }
  const errors: Diagnostic[] = [];
  for (const [group, uses] of [...needs].sort(([a], [b]) => compareText(a, b))) {
    if (groups.get(group)!.length) continue;
    const rules = [...new Set(uses.map((u) => u.rule))];
    const cites = rules.map((r) => `${r.id} (${r.row !== undefined ? `${r.table}.${r.row}` : `${r.table}.prose`}${r.antiLockout ? ', anti-lockout' : ''})`);
    const shown = cites.length > 6 ? [...cites.slice(0, 6), `and ${cites.length - 6} more`] : cites;
    // Turning features off is a way out only if every need is gated.
    const gates = uses.every((u) => u.gate) ? [...new Set(uses.map((u) => u.gate!))].sort() : [];
    const hint = gates.length
      ? `add addresses under groups.${group}, or turn off feature${gates.length > 1 ? 's' : ''} ${gates.map((g) => `'${g}'`).join(', ')}`
      : `add addresses under groups.${group}`;
    const message = `group '${group}' has no addresses, but enabled rules need it: ${shown.join(', ')}`;
    // Point at the empty list if the profile has one, else at `groups:`.
    errors.push(profile.groups.has(group) ? profile.doc.error(['groups', group], message, hint, true) : profile.doc.error(['groups'], message, hint, true));
  }
  if (errors.length) throw new CompileError(errors);

  // Address sets, per group and family, in canonical form.
  const sets = new Map<string, AddressSet>();
  /** Names of sets found empty (a group without addresses of a family): asked again per rule. */
  const empty = new Set<string>();
  const setFor = (group: string, family: Family): AddressSet | undefined => {
    const name = `${group}_${FAMILY_SUFFIX[family]}`;
    let set = sets.get(name);
    if (!set && !empty.has(name)) {
      const cidrs = normalizeCidrs(groups.get(group)!, family);
      if (!cidrs.length) {
        empty.add(name);
        return undefined;
      }
      set = { name, group, family, cidrs };
      sets.set(name, set);
    }
    return set;
  };

  // Expand to (direction, scope, from, to, family, transport) and merge.
  const merged = new Map<string, Rule>();
  const add = (direction: Rule['direction'], scope: Rule['scope'], from: string, to: string, a: Active) => {
    for (const family of FAMILIES) {
      if (!carries(a.transport, family)) continue;
      // The host end needs no set: the rule runs on the host itself, which
      // has addresses of both families whether or not the profile lists them.
      const src = direction === 'egress' && scope === 'host' ? undefined : setFor(from, family);
      const dst = direction === 'ingress' && scope === 'host' ? undefined : setFor(to, family);
      if ((!src && !(direction === 'egress' && scope === 'host')) || (!dst && !(direction === 'ingress' && scope === 'host'))) continue;
      const ends = scope === 'off-host' ? `offhost-${from}-${to}` : direction === 'ingress' ? `in-${from}` : `out-${to}`;
      const id = `${ends}-${FAMILY_SUFFIX[family]}-${a.transport}`;
      let rule = merged.get(id);
      if (!rule) {
        rule = {
          id,
          direction,
          scope,
          family,
          transport: a.transport,
          source: src?.name,
          destination: dst?.name,
          sourceGroup: from,
          destinationGroup: to,
          ports: [],
          provenance: [],
          antiLockout: false,
        };
        merged.set(id, rule);
      }
      // Merged once, after every rule has been added.
      for (const p of a.ports) rule.ports.push(p);
      rule.provenance.push(provenanceOf(catalog, a.rule, a.ports));
      rule.antiLockout ||= a.rule.antiLockout;
    }
  };
  const host = role;
  for (const a of active) {
    for (const from of a.from) {
      for (const to of a.to) {
        if (isHere(to)) add('ingress', 'host', from, to, a);
        // Node-to-node traffic leaves one node and enters another: with
        // `egress: restrict` the sender's output chain must allow it too.
        if (isHere(from)) add('egress', 'host', from, to, a);
        // Neither end is a firewalled host (IPMI to the BMCs). A rule that
        // involves other roles only is theirs, not this role's.
        if (!isAnyRole(from) && !isAnyRole(to)) add('ingress', 'off-host', from, to, a);
      }
    }
  }
  for (const r of merged.values()) {
    r.ports = mergePorts(r.ports);
    const seen = new Set<string>();
    r.provenance = r.provenance.filter((p) => !seen.has(p.ruleId) && seen.add(p.ruleId)).sort(compareProvenance);
  }
  const order = { ingress: 0, egress: 1 } as const;
  const rules = [...merged.values()].sort(
    (a, b) =>
      (a.scope === b.scope ? 0 : a.scope === 'host' ? -1 : 1) ||
      order[a.direction] - order[b.direction] ||
      compareText(a.id, b.id),
  );

  checkAntiLockout(catalog, active.filter((a) => a.to.some(isHere)), rules, groups);

  const used = new Set(rules.flatMap((r) => [r.source, r.destination]).filter((n): n is string => !!n));
  // The host group's sets describe the firewalled nodes themselves: always kept.
  for (const family of FAMILIES) {
    const set = setFor(host, family);
    if (set) used.add(set.name);
  }
  return {
    environment: profile.environment,
    catalog: { name: catalog.name, title: catalog.title, document: catalog.document },
    host,
    roles: [...catalog.roles],
    unions: Object.fromEntries([...catalog.unions].sort(([a], [b]) => compareText(a, b)).map(([k, v]) => [k, [...v]])),
    egress: profile.egress,
    sets: [...sets.values()].filter((s) => used.has(s.name)).sort((a, b) => compareText(a.name, b.name)),
    rules,
    icmp: HOST_ICMP,
    hostPolicy: {
      platform: profile.host.platform,
      baseline: hostBaseline(profile.egress, profile.host.platform),
      trustedInterfaces: profile.host.trustedInterfaces,
      ...(profile.host.log.drops ? { logDrops: { prefix: LOG_PREFIX, rate: profile.host.log.rate, ...(profile.host.log.group !== undefined ? { group: profile.host.log.group } : {}) } } : {}),
      counters: profile.host.counters,
      nftables: profile.nftables,
      iptables: profile.iptables,
      firewalld: profile.firewalld,
    },
    features: Object.fromEntries([...features].sort(([a], [b]) => compareText(a, b))),
    params: Object.fromEntries([...params].sort(([a], [b]) => compareText(a, b))),
    terraform: profile.terraform,
    azure: profile.azure,
  };
}

/** The admins' SSH rule must survive merging: every anti-lockout row's
 * ports must be open, in the IR, from each of its source sets. A failure
 * here is a compiler bug, so it is an internal error, not a diagnostic. */
function checkAntiLockout(
  catalog: Catalog,
  active: { rule: CatalogRule; from: string[]; ports: PortRange[] }[],
  rules: Rule[],
  groups: Map<string, Cidr[]>,
): void {
  const guarded = catalog.rules.filter((r) => r.antiLockout && active.some((x) => x.rule === r));
  for (const g of guarded) {
    const a = active.find((x) => x.rule === g)!;
    for (const from of a.from) {
      const covering = rules.filter((r) => r.direction === 'ingress' && r.sourceGroup === from && r.provenance.some((p) => p.ruleId === g.id));
      const families = new Set(covering.map((r) => r.family));
      for (const f of FAMILIES)
        if (groups.get(from)!.some((c) => c.family === f) && !families.has(f))
          throw new Error(`internal: anti-lockout rule '${g.id}' has no ${f} rule from '${from}'`);
      for (const r of covering)
        for (const p of a.ports)
          if (!r.ports.some((q) => q.lo <= p.lo && p.hi <= q.hi)) throw new Error(`internal: anti-lockout rule '${g.id}' lost ports`);
    }
  }
}

export function setElements(set: AddressSet): string[] {
  return set.cidrs.map(formatAddress);
}
