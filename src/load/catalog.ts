// Loads a port catalog: parse, check shape, then check meaning (references
// between tables, groups, features and params), all with positions.

import { Cidr, parseAddress } from '../addresses';
import { CompileError, Diagnostic, SourceText, suggestion } from '../diagnostics';
import { parsePortSpec, PortRange } from '../ports';
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
  ports: PortItem[];
  transport: 'tcp' | 'udp';
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
  host: string;
  tables: Map<string, { heading: string; line?: number; note?: string }>;
  groups: Map<string, { description?: string; defaults: Cidr[] }>;
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
  ports: (string | number | { param: string })[];
  transport: 'tcp' | 'udp';
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
  host: string;
  tables: Record<string, { heading: string; line?: number; note?: string }>;
  groups: Record<string, { description?: string; default?: string[] }>;
  features?: Record<string, { description?: string; default: boolean }>;
  params?: Record<string, { kind: 'port' | 'port-range'; choices?: number[]; default: string | number; description?: string }>;
  rules: RawRule[];
}

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
    const defaults: Cidr[] = [];
    (g.default ?? []).forEach((text, i) => {
      const r = parseAddress(text);
      if (r.ok) defaults.push(r.cidr);
      else err(['groups', name, 'default', i], r.message, r.hint);
    });
    groups.set(name, { description: g.description, defaults });
  }
  const groupNames = [...groups.keys()];
  if (!groups.has(raw.host)) err(['host'], `host group '${raw.host}' is not declared in 'groups'`, suggestion(raw.host, groupNames));

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
  // Provenance cites the profile's own extra_egress entries as table P.
  if (tables.has('P')) err(['tables', 'P'], "table id 'P' is reserved: it cites the profile's extra_egress entries", 'use another id, e.g. T6', true);
  const tableNames = [...tables.keys()];

  const rules: CatalogRule[] = [];
  const ids = new Map<string, number>();
  const rows = new Map<string, number>();
  raw.rules.forEach((r, i) => {
    const at = (...rest: PathSeg[]): PathSeg[] => ['rules', i, ...rest];
    if (ids.has(r.id)) err(at('id'), `rule id '${r.id}' is used twice (first by rule ${ids.get(r.id)! + 1})`);
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
    const ports: PortItem[] = r.ports.map((p, j) => {
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
      transport: r.transport,
      from,
      to,
      feature: r.feature,
      antiLockout: r.anti_lockout === true,
      note: r.note,
      path: at(),
    });
  });
  if (errors.length) throw new CompileError(errors);
  return {
    doc,
    name: raw.name,
    title: raw.title,
    document: raw.document,
    host: raw.host,
    tables,
    groups,
    features: new Map([...features].map(([k, v]) => [k, { description: v.description, default: v.default }])),
    params,
    rules,
  };
}
