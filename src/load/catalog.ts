// Loads a port catalog: parse, check shape, then check meaning (references
// between tables, groups, features and params), all with positions.

import { Cidr, parseAddress } from '../addresses';
import { CompileError, Diagnostic, sortDiagnostics, SourceText, suggestion } from '../diagnostics';
import { parsePortSpec, PortRange } from '../ports';
import { readTransportSpec, TransportSpec } from './transport-spec';
import type { Transport } from '../transports';
import { validateCatalogShape } from './validate';
import { ParsedDoc, parseYaml, PathSeg } from './yaml';

export interface GroupRef {
  group: string;
  /** The group takes part only when this feature is enabled. */
  feature?: string;
}

export type PortItem = { kind: 'range'; range: PortRange } | { kind: 'param'; param: string };

export interface RowCells {
  port?: string;
  protocol?: string;
  service?: string;
  direction?: string;
  source?: string;
  destination?: string;
  description?: string;
}

export interface CatalogRule {
  id: string;
  table: string;
  row?: number;
  prose?: string;
  cells: RowCells;
  service: string;
  description: string;
  /** For the port transports (tcp, udp, sctp); empty when it has none. */
  ports: PortItem[];
  /** Canonical order, each once. */
  transports: Transport[];
  /** Per ICMP transport of the rule: its types; absent = every type. */
  icmpTypes: TransportSpec['icmpTypes'];
  from: GroupRef[];
  to: GroupRef[];
  feature?: string;
  antiLockout: boolean;
  note?: string;
  /** Where the rule sits in the catalog document. */
  path: PathSeg[];
}

export interface CatalogParam {
  kind: 'port' | 'port-range';
  choices?: number[];
  default: PortRange;
  description?: string;
}

export interface Catalog {
  doc: ParsedDoc;
  name: string;
  title?: string;
  document?: string;
  /** The firewalled host roles, in catalog order; one-role catalogs
   * (`host: nodes`) have one. Every target compiles one policy per role. */
  roles: string[];
  /** The first role: the only one of a one-role catalog. */
  host: string;
  tables: Map<string, { heading: string; line?: number; note?: string }>;
  groups: Map<string, { description?: string; defaults: Cidr[] }>;
  /** Union groups -> their member groups ("All nodes" of several roles). */
  unions: Map<string, string[]>;
  features: Map<string, { description?: string; default: boolean }>;
  params: Map<string, CatalogParam>;
  rules: CatalogRule[];
}

/** A rule as written in catalog YAML (after the schema check). */
export interface RawRule {
  id: string;
  table: string;
  row?: number;
  prose?: string;
  cells?: RowCells;
  service?: string;
  description?: string;
  ports?: (string | number | { param: string })[];
  transport?: string | number | (string | number)[];
  icmp_types?: (string | number)[];
  from: (string | GroupRef)[];
  to: (string | GroupRef)[];
  feature?: string;
  anti_lockout?: boolean;
  note?: string;
}

/** A catalog as written in YAML (after the schema check). */
export interface RawCatalog {
  name: string;
  title?: string;
  document?: string;
  host?: string;
  roles?: string[];
  tables: Record<string, { heading: string; line?: number; note?: string }>;
  groups: Record<string, { description?: string; default?: string[]; union?: string[] }>;
  features?: Record<string, { description?: string; default: boolean }>;
  params?: Record<string, { kind: 'port' | 'port-range'; choices?: number[]; default: string | number; description?: string }>;
  rules: RawRule[];
}

/** Names the compiler gives the profile's own rules: extra_egress entry N
 * becomes rule profileRuleId(N) from the host to group profileGroupName(N),
 * cited as row N of table PROFILE_TABLE. A catalog may use none of them
 * (each pattern is reserved), so a profile entry can never take over a
 * catalog group, rule or table. */
export const PROFILE_TABLE = 'P';
export const profileGroupName = (n: number): string => `extra_egress_${n}`;
export const profileRuleId = (n: number): string => `extra-egress-${n}`;
/** The same for extra_ingress entries: rule extra-ingress-N from group
 * extra_ingress_N to the host, cited as row N of table PROFILE_INGRESS_TABLE. */
export const PROFILE_INGRESS_TABLE = 'PI';
export const profileIngressGroupName = (n: number): string => `extra_ingress_${n}`;
export const profileIngressRuleId = (n: number): string => `extra-ingress-${n}`;
const RESERVED_GROUP = /^extra_(egress|ingress)_[0-9]+$/;
const RESERVED_RULE_ID = /^extra-(egress|ingress)-[0-9]+$/;

export function loadCatalog(source: SourceText): Catalog {
  const doc = parseYaml(source);
  const shape = validateCatalogShape(doc);
  if (shape.length) throw new CompileError(shape);
  return analyzeCatalog(doc);
}

/** The checks of meaning, on a document whose shape is valid. */
export function analyzeCatalog(doc: ParsedDoc): Catalog {
  const raw = doc.value as RawCatalog;
  const errors: Diagnostic[] = [];
  const err = (path: PathSeg[], msg: string, hint?: string, atKey = false) => errors.push(doc.error(path, msg, hint, atKey));

  const groups = new Map<string, { description?: string; defaults: Cidr[] }>();
  for (const [name, g] of Object.entries(raw.groups)) {
    if (RESERVED_GROUP.test(name))
      err(['groups', name], `group name '${name}' is reserved: the profile's extra_egress and extra_ingress entries become groups extra_egress_1, extra_ingress_1, ...`, 'rename the group (and the rules naming it) to any name not of the form extra_egress_N or extra_ingress_N', true);
    const defaults: Cidr[] = [];
    (g.default ?? []).forEach((text, i) => {
      const r = parseAddress(text);
      if (r.ok) defaults.push(r.cidr);
      else err(['groups', name, 'default', i], r.message, r.hint);
    });
    groups.set(name, { description: g.description, defaults });
  }
  const groupNames = [...groups.keys()];
  const unions = new Map<string, string[]>();
  for (const [name, g] of Object.entries(raw.groups)) {
    if (!g.union) continue;
    if (g.default?.length) err(['groups', name, 'default'], `group '${name}' is a union of ${g.union.join(', ')}: it has no addresses of its own`, "remove 'default' (give the members' defaults)", true);
    g.union.forEach((m, i) => {
      if (g.union!.indexOf(m) !== i) err(['groups', name, 'union', i], `group '${name}' lists member '${m}' twice`, 'list each member once');
      else if (m === name) err(['groups', name, 'union', i], `group '${name}' cannot be a member of itself`);
      else if (!groups.has(m)) err(['groups', name, 'union', i], `group '${name}' names unknown member '${m}'`, suggestion(m, groupNames));
      else if (raw.groups[m]?.union) err(['groups', name, 'union', i], `group '${name}' names the union '${m}' as a member; unions list plain groups`, `list the members of '${m}' instead`);
    });
    unions.set(name, [...g.union]);
  }
  // `host: X` is the one-role form of `roles: [X]`.
  let roles: string[] = [];
  if (raw.host !== undefined && raw.roles !== undefined) err(['roles'], "a catalog gives either 'host' (one firewalled role) or 'roles', not both", "for several roles, drop 'host' and list it in 'roles'", true);
  else if (raw.host === undefined && raw.roles === undefined) err([], "the catalog names no firewalled hosts: give 'host' (the group that runs the firewall) or 'roles' (several kinds of host)", "e.g. 'host: nodes', or 'roles: [servers, agents]'");
  else roles = raw.roles ?? [raw.host!];
  roles.forEach((role, i) => {
    const at: PathSeg[] = raw.roles ? ['roles', i] : ['host'];
    if (roles.indexOf(role) !== i) err(at, `role '${role}' is listed twice`, 'list each role once');
    else if (!groups.has(role)) err(at, `${raw.roles ? 'role' : 'host group'} '${role}' is not declared in 'groups'`, suggestion(role, groupNames));
    else if (unions.has(role)) err(at, `role '${role}' is a union group; a role is one kind of host with addresses of its own`, `name its members (${unions.get(role)!.join(', ')}) as roles`);
  });
  const roleSet = new Set(roles.filter((r) => groups.has(r) && !unions.has(r)));
  /** Whether a group is, or includes, a firewalled role. */
  const hasRole = (g: string) => roleSet.has(g) || (unions.get(g) ?? []).some((m) => roleSet.has(m));
  const rolesText = roles.length === 1 ? `the host group '${roles[0]}'` : `a role (${roles.join(', ')}) or a union of roles`;

  const features = new Map(Object.entries(raw.features ?? {}));
  const featureNames = [...features.keys()];
  const params = new Map<string, CatalogParam>();
  for (const [name, p] of Object.entries(raw.params ?? {})) {
    const def = parsePortSpec(p.default);
    if (!def) {
      err(['params', name, 'default'], `param '${name}' has an invalid default ${JSON.stringify(p.default)}`, "a port 1-65535 or a range 'LO-HI'");
      continue;
    }
    if (p.kind === 'port' && def.lo !== def.hi) err(['params', name, 'default'], `param '${name}' is a single port, but its default is a range`);
    if (p.choices && p.kind === 'port' && !p.choices.includes(def.lo))
      err(['params', name, 'default'], `param '${name}' defaults to ${def.lo}, which is not one of its choices ${p.choices.join(', ')}`);
    if (p.choices && p.kind === 'port-range') err(['params', name, 'choices'], `param '${name}' is a port range; choices apply only to kind 'port'`);
    params.set(name, { kind: p.kind, choices: p.choices, default: def, description: p.description });
  }
  const tables = new Map(Object.entries(raw.tables));
  for (const [id, what] of [
    [PROFILE_TABLE, 'extra_egress'],
    [PROFILE_INGRESS_TABLE, 'extra_ingress'],
  ])
    if (tables.has(id)) err(['tables', id], `table id '${id}' is reserved: it cites the profile's ${what} entries`, 'use another id, e.g. T6', true);
  const tableNames = [...tables.keys()];

  const rules: CatalogRule[] = [];
  const ids = new Map<string, number>();
  const rows = new Map<string, number>();
  raw.rules.forEach((r, i) => {
    const at = (...rest: PathSeg[]): PathSeg[] => ['rules', i, ...rest];
    if (ids.has(r.id)) err(at('id'), `rule id '${r.id}' is used twice (first by rule ${ids.get(r.id)! + 1})`);
    else if (RESERVED_RULE_ID.test(r.id))
      err(at('id'), `rule id '${r.id}' is reserved: the profile's extra_egress and extra_ingress entries become rules extra-egress-1, extra-ingress-1, ...`, `use another id, e.g. '${r.id.replace(/^extra-(e|in)gress/, (_, d: string) => (d === 'e' ? 'egress-to' : 'ingress-from'))}'`);
    ids.set(r.id, i);
    if (!tables.has(r.table)) err(at('table'), `rule '${r.id}' cites table '${r.table}', which 'tables' does not declare`, suggestion(r.table, tableNames));
    if ((r.row === undefined) === (r.prose === undefined))
      err(at(), `rule '${r.id}' must cite exactly one of 'row' (a table row) or 'prose' (a sentence of the document)`);
    if (r.row !== undefined) {
      const key = `${r.table}:${r.row}`;
      if (rows.has(key)) err(at('row'), `rule '${r.id}' cites ${r.table} row ${r.row}, already cited by rule ${rows.get(key)! + 1}`);
      rows.set(key, i);
    }
    const service = r.cells?.service ?? r.service;
    if (!service) err(at(), `rule '${r.id}' has no service name`, "give 'cells.service' (a table row) or 'service' (a prose rule)");
    const checkFeature = (f: string, path: PathSeg[]) => {
      if (!features.has(f)) err(path, `unknown feature '${f}' in rule '${r.id}'`, suggestion(f, featureNames));
    };
    if (r.feature) checkFeature(r.feature, at('feature'));
    const refs = (list: (string | GroupRef)[], side: 'from' | 'to'): GroupRef[] =>
      list.map((g, j) => {
        const ref: GroupRef = typeof g === 'string' ? { group: g } : g;
        if (!groups.has(ref.group)) err(typeof g === 'string' ? at(side, j) : at(side, j, 'group'), `unknown group '${ref.group}' in rule '${r.id}'`, suggestion(ref.group, groupNames));
        if (ref.feature) checkFeature(ref.feature, at(side, j, 'feature'));
        return ref;
      });
    const from = refs(r.from, 'from');
    const to = refs(r.to, 'to');
    const refAt = (side: 'from' | 'to', j: number) => (typeof r[side][j] === 'string' ? at(side, j) : at(side, j, 'group'));
    // Each group once per side: a plain and a feature-gated entry of one
    // group would contradict each other.
    for (const side of ['from', 'to'] as const) {
      const seen = new Set<string>();
      (side === 'from' ? from : to).forEach((g, j) => {
        if (seen.has(g.group)) err(refAt(side, j), `group '${g.group}' is listed twice in '${side}' of rule '${r.id}'`, 'list each group once per side');
        seen.add(g.group);
      });
    }
    const known = (g: GroupRef) => groups.has(g.group);
    to.forEach((g, j) => {
      if (!known(g) || hasRole(g.group) || !from.some((f) => f.group === g.group) || to.findIndex((x) => x.group === g.group) !== j) return;
      err(
        refAt('to', j),
        `rule '${r.id}' goes from group '${g.group}' to itself, and '${g.group}' is not ${roles.length === 1 ? 'the host group' : 'a role or a union of roles'}`,
        `only ${rolesText} may be on both ends (node-to-node traffic); list '${g.group}' on one side`,
      );
    });
    // Anti-lockout keeps access into the nodes open from outside them, so
    // its rule runs from other groups to the firewalled hosts, nowhere else.
    if (r.anti_lockout && roleSet.size) {
      const lead = roles.length === 1 ? `the nodes (host group '${roles[0]}')` : `firewalled hosts (${rolesText})`;
      to.forEach((g, j) => {
        if (known(g) && !hasRole(g.group))
          err(refAt('to', j), `rule '${r.id}' is anti-lockout, so it must lead to ${lead}, not to '${g.group}'`, `write to: [${roles.length === 1 ? roles[0] : roles.join(', ')}], or drop anti_lockout from this rule`);
      });
      from.forEach((g, j) => {
        if (hasRole(g.group))
          err(refAt('from', j), `rule '${r.id}' is anti-lockout, but its source '${g.group}' is ${roles.length === 1 ? 'the nodes themselves' : 'firewalled hosts'} (node-to-node traffic)`, 'anti-lockout protects access from outside the nodes, e.g. from: [admins]; drop it for node-to-node rules');
      });
    }
    const spec = readTransportSpec(r, at(), `rule '${r.id}'`, err);
    const ports: PortItem[] = (r.ports ?? []).map((p, j) => {
      if (typeof p === 'object') {
        if (!params.has(p.param)) err(at('ports', j, 'param'), `unknown param '${p.param}' in rule '${r.id}'`, suggestion(p.param, [...params.keys()]));
        return { kind: 'param', param: p.param };
      }
      const range = parsePortSpec(p);
      if (!range) {
        err(at('ports', j), `invalid port ${JSON.stringify(p)} in rule '${r.id}'`, "a port 1-65535 or a range 'LO-HI' with LO <= HI");
        return { kind: 'range', range: { lo: 1, hi: 1 } };
      }
      return { kind: 'range', range };
    });
    if (r.anti_lockout && spec.transports.some((t) => t !== 'tcp'))
      err(at('transport'), `rule '${r.id}' is anti-lockout, so its transport must be tcp (the admins' SSH)`, 'put other transports in a rule of their own');
    if (r.anti_lockout && (r.feature || [...from, ...to].some((g) => g.feature)))
      err(at('anti_lockout'), `rule '${r.id}' is anti-lockout, so it cannot depend on a feature`, 'an anti-lockout rule must always be compiled');
    rules.push({
      id: r.id,
      table: r.table,
      row: r.row,
      prose: r.prose,
      cells: r.cells ?? {},
      service: service ?? r.id,
      description: r.cells?.description ?? r.description ?? '',
      ports,
      transports: spec.transports,
      icmpTypes: spec.icmpTypes,
      from,
      to,
      feature: r.feature,
      antiLockout: r.anti_lockout === true,
      note: r.note,
      path: at(),
    });
  });
  if (errors.length) throw new CompileError(sortDiagnostics(errors));
  return {
    doc,
    name: raw.name,
    title: raw.title,
    document: raw.document,
    roles,
    host: roles[0],
    tables,
    groups,
    unions,
    features: new Map([...features].map(([k, v]) => [k, { description: v.description, default: v.default }])),
    params,
    rules,
  };
}
