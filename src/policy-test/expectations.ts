// The expectations file of `portcullis test`: a YAML (or JSON) list, read
// with positions like every other input (parseYaml), its shape checked by
// the JSON Schema in src/load/schemas.ts, then each entry's meaning (its
// form, its addresses and groups, its ports) with FILE:LINE:COL errors.

import { AddrRange, cidrRange, Family, FULL_RANGE, mergeRanges, parseAddress } from '../addresses';
import type { Loaded } from '../compile';
import { CompileError, Diagnostic, quoteName, quoteText, SourceText, suggestion } from '../diagnostics';
import { expectationsSchema } from '../load/schemas';
import { generatedValidator, shapeDiagnostics, ShapeWording } from '../load/validate';
import { ParsedDoc, parseYaml, PathSeg } from '../load/yaml';
import { parsePortSpec, PortSpec, PortSpecError } from './ports';

export type Ranges = Record<Family, AddrRange[]>;

export interface Endpoint {
  /** As written. */
  text: string;
  kind: 'address' | 'cidr' | 'group' | 'anywhere';
  ranges: Ranges;
}

export interface Expectation {
  /** 0-based index in the list. */
  index: number;
  /** Where the entry starts: "FILE:LINE". */
  at: string;
  line: number;
  /** The entry's own name, or one made from it. */
  name: string;
  from: Endpoint;
  to: Endpoint;
  /** port + expect, only, or reaches: nothing. */
  kind: 'port' | 'only' | 'reaches';
  port?: PortSpec;
  expect?: 'allow' | 'deny';
  only?: PortSpec[];
}

interface RawEntry {
  name?: string;
  from: string;
  to?: string;
  port?: string;
  expect?: 'allow' | 'deny';
  only?: string[];
  reaches?: 'nothing';
}

/** The standalone validator tools/generate.js wrote, when it matches the
 * schema of this build; else compiled with ajv (same options). */
const getValidator = generatedValidator('expectations', 'expectationsStamp', () => JSON.stringify(expectationsSchema), expectationsSchema, { allErrors: true, strict: true, useDefaults: true, verbose: true });

/** How the expectations file words its shape errors: entries by number. */
const WORDING: ShapeWording = {
  where: (path) =>
    !path.length
      ? 'the document'
      : path.length === 1
        ? `expectation ${Number(path[0]) + 1}`
        : `expectation ${Number(path[0]) + 1}: ${quoteName(String(path[1]))}${path.length > 2 ? ` item ${Number(path[2]) + 1}` : ''}`,
  missing: (path, _where, key) => ({
    message: `expectation ${Number(path[0]) + 1} has no '${key}'`,
    hint: 'every expectation names where the flows come from: from: ADDRESS, CIDR or group',
  }),
  typeHint: (path, value) =>
    !path.length
      ? 'the file is a list of expectations: - { from: users, to: nodes, port: 443/tcp, expect: allow }'
      : typeof value === 'number' && /port|only/.test(String(path[1]))
        ? `write the transport too, e.g. "${value}/tcp"`
        : undefined,
  order: 'value',
  countRest: false,
};

const EVERYWHERE: Ranges = { ipv4: [FULL_RANGE.ipv4], ipv6: [FULL_RANGE.ipv6] };

/** A group's addresses as the policy has them: the profile's entries, else
 * the catalog's defaults; a union group is its members'. */
export function groupRanges(loaded: Loaded, group: string): Ranges {
  const { catalog, profile } = loaded;
  const out: Ranges = { ipv4: [], ipv6: [] };
  const add = (g: string, depth: number) => {
    const members = catalog.unions.get(g);
    if (members && depth < 4) {
      for (const m of members) add(m, depth + 1);
      return;
    }
    const cidrs = profile.groups.has(g) ? profile.groups.get(g)!.map((a) => a.cidr) : catalog.groups.get(g)?.defaults ?? [];
    for (const c of cidrs) out[c.family].push(cidrRange(c));
  };
  add(group, 0);
  return { ipv4: mergeRanges(out.ipv4), ipv6: mergeRanges(out.ipv6) };
}

function resolveEndpoint(loaded: Loaded, doc: ParsedDoc, path: PathSeg[], text: string, errs: Diagnostic[]): Endpoint | undefined {
  const t = text.trim();
  if (loaded.catalog.groups.has(t) || loaded.catalog.unions.has(t)) return { text, kind: 'group', ranges: groupRanges(loaded, t) };
  const r = parseAddress(t);
  if (r.ok) {
    const ranges: Ranges = { ipv4: [], ipv6: [] };
    ranges[r.cidr.family].push(cidrRange(r.cidr));
    const single = r.cidr.prefix === (r.cidr.family === 'ipv4' ? 32 : 128) && !t.includes('/');
    return { text, kind: single ? 'address' : 'cidr', ranges };
  }
  const groups = [...new Set([...loaded.catalog.groups.keys(), ...loaded.catalog.unions.keys()])];
  if (/^[A-Za-z_][A-Za-z0-9_-]*$/.test(t)) errs.push(doc.error(path, `unknown group ${quoteName(t)}`, `catalog '${loaded.catalog.name}' has no such group; ${suggestion(t, groups)}`));
  else errs.push(doc.error(path, `${quoteText(text)} is not an address, a CIDR or a group: ${r.message}`, r.hint ?? 'e.g. 10.20.0.11, 0.0.0.0/0, or a group name such as users'));
  return undefined;
}

function port(doc: ParsedDoc, path: PathSeg[], text: string, errs: Diagnostic[]): PortSpec | undefined {
  try {
    return parsePortSpec(text);
  } catch (e) {
    if (!(e instanceof PortSpecError)) throw e;
    errs.push(doc.error(path, e.message, e.hint ?? 'e.g. 22/tcp, 53/udp, 30000-32767/tcp'));
    return undefined;
  }
}

/** What the report calls an entry without a name. */
function defaultName(x: Omit<Expectation, 'name' | 'index' | 'at' | 'line'>): string {
  const to = x.to.kind === 'anywhere' ? '' : ` to ${x.to.text}`;
  if (x.kind === 'port') return `${x.from.text}${to} ${x.port!.text}: ${x.expect}`;
  if (x.kind === 'only') return `${x.from.text}${to}: only ${x.only!.length ? x.only!.map((p) => p.text).join(', ') : 'nothing'}`;
  return `${x.from.text} reaches nothing${to}`;
}

/** Parses, checks and resolves an expectations file against a loaded
 * policy (its groups). Throws CompileError with every problem found. */
export function loadExpectations(source: SourceText, loaded: Loaded): Expectation[] {
  const doc = parseYaml(source);
  const shape = shapeDiagnostics(doc, getValidator(), WORDING);
  if (shape.length) throw new CompileError(shape);
  const list = doc.value as RawEntry[];
  const errs: Diagnostic[] = [];
  if (!list.length) throw new CompileError([doc.error([], 'the file holds no expectations', 'list at least one: - { from: users, to: nodes, port: 443/tcp, expect: allow }')]);
  const out: Expectation[] = [];
  list.forEach((raw, i) => {
    const before = errs.length;
    const forms = [raw.port !== undefined || raw.expect !== undefined ? 'port' : '', raw.only !== undefined ? 'only' : '', raw.reaches !== undefined ? 'reaches' : ''].filter(Boolean);
    const formHint = 'give port: N/tcp with expect: allow|deny, or only: [N/tcp, ...], or reaches: nothing';
    if (forms.length !== 1) {
      errs.push(doc.error([i], forms.length ? `expectation ${i + 1} mixes ${forms.join(' and ')}; it states one thing` : `expectation ${i + 1} says nothing about ports`, forms.length ? 'split it into one expectation each' : formHint));
    } else if (forms[0] === 'port' && (raw.port === undefined || raw.expect === undefined)) {
      errs.push(doc.error([i, raw.port === undefined ? 'expect' : 'port'], raw.port === undefined ? `expectation ${i + 1} has expect but no port` : `expectation ${i + 1} has port but no expect`, raw.port === undefined ? 'add port: N/tcp' : 'add expect: allow or expect: deny'));
    }
    if (raw.to === undefined && raw.reaches === undefined) errs.push(doc.error([i], `expectation ${i + 1} has no 'to'`, 'name where the flows go: to: ADDRESS, CIDR or group (only reaches: nothing may leave it out: anywhere)'));
    const from = resolveEndpoint(loaded, doc, [i, 'from'], raw.from, errs);
    const to = raw.to === undefined ? ({ text: 'anywhere', kind: 'anywhere', ranges: EVERYWHERE } as Endpoint) : resolveEndpoint(loaded, doc, [i, 'to'], raw.to, errs);
    const p = raw.port !== undefined ? port(doc, [i, 'port'], raw.port, errs) : undefined;
    const only = raw.only?.map((o, j) => port(doc, [i, 'only', j], o, errs));
    if (from && to && from.kind === 'address' && to.kind === 'address' && !from.ranges.ipv4.length !== !to.ranges.ipv4.length)
      errs.push(doc.error([i, 'to'], `from ${quoteText(raw.from)} and to ${quoteText(raw.to!)} are of different address families`, 'a flow stays in one family: give two IPv4 or two IPv6 addresses'));
    if (errs.length > before || !from || !to) return;
    const kind = forms[0] as Expectation['kind'];
    const body = { from, to, kind, port: p, expect: raw.expect, only: only as PortSpec[] | undefined };
    const line = doc.pos([i]).line;
    out.push({ ...body, index: i, line, at: `${source.path}:${line}`, name: raw.name ?? defaultName(body) });
  });
  if (errs.length) throw new CompileError(errs);
  return out;
}
