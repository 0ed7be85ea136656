// `portcullis catalog import DOC.md [--base CATALOG] [--map FILE]`: the
// vendor's markdown port tables -> catalog YAML.
//
// Every table whose header names a port column becomes a catalog table
// (T1, T2, ... in document order, or the base's ids for the base's tables);
// every row becomes one rule citing its table and row, with its cells
// verbatim. A row is read through the phrase table (Source/Destination ->
// groups), the Port cell (one port or a range; a choice "25 or 587" only
// through a param) and the Protocol cell (transport). A row that cannot be
// read is written with an `undecided:` key listing why, which the catalog
// schema does not allow, so `validate` rejects the catalog until a person
// decides; each reason is also a diagnostic DOC:LINE:COL naming the cell.
//
// With --base, a row matching a base row (same table heading, port and
// service) with the same cells keeps the base rule as it is (id, groups,
// features, params, note); a matched row whose cells changed is read afresh
// (keeping its id); new, changed and removed rows are reported.
//
// Every text of the inputs may be hostile. The catalog is built as data,
// written by ./emit (strings always quoted on one line, comments one line
// each), and the text is read back with the catalog loader and compared with
// the data before anyone writes it: a difference is a CompileError.

import * as path from 'path';
import { parseAddress } from '../addresses';
import type { InputText } from '../compile';
import { CompileError, Diagnostic, sortDiagnostics, SourceText } from '../diagnostics';
import { Catalog, loadCatalog, RawCatalog as CatalogRawCatalog, RawRule as CatalogRawRule, RowCells } from '../load/catalog';
import { ParsedDoc, parseYaml } from '../load/yaml';
import { formatPortRange, parsePortSpec } from '../ports';
import { visibleLine } from '../terminal';
import { blockOfBlocks, comment, flow, key, quoted } from './emit';
import { MdCell, MdRow, MdTable, parseTables } from './markdown';
import { cellValue, KNOWN_DIRECTIONS, normalizePhrase, PhraseTable, phraseTable, readIcmpTypesCell, readPhrase, readPortCell, readProtocolCell } from './phrases';
import { hasPorts, isIcmp, Transport, TRANSPORT_FACTS, TRANSPORTS } from '../transports';

export type CellKey = keyof RowCells;
export const CELL_KEYS: CellKey[] = ['port', 'protocol', 'service', 'direction', 'source', 'destination', 'description'];
const CELL_TITLES: Record<CellKey, string> = {
  port: 'Port',
  protocol: 'Protocol',
  service: 'Service Name',
  direction: 'Direction',
  source: 'Source',
  destination: 'Destination',
  description: 'Description',
};

/** What a header cell names: a cell key, or one of the columns read into
 * one (`Start Port` + `End Port` -> the Port cell; `Mandatory` marks
 * optional rows). */
export type ColumnKey = CellKey | 'portStart' | 'portEnd' | 'required';

/** Header cell -> column, matched loosely ("Dest." is destination, "Port(s)"
 * is port). Pages name their columns many ways; an unknown column is
 * reported and ignored. */
export function columnKey(header: string): CellKey | undefined {
  const k = columnOf(header);
  return k === 'portStart' || k === 'portEnd' || k === 'required' ? undefined : k;
}

export function columnOf(header: string): ColumnKey | undefined {
  const n = header
    .toLowerCase()
    .replace(/<[^>]{0,100}>/g, ' ')
    .replace(/\(s\)|\(es\)/g, 's')
    .replace(/[^a-z ]/g, ' ')
    .replace(/\s+/g, ' ')
    .trim();
  if (/^(start|first|from|begin|beginning|low) port( number)?$/.test(n)) return 'portStart';
  if (/^(end|last|to|high) port( number)?$/.test(n)) return 'portEnd';
  if (/^((tcp|udp|default|listening|listen|network|service|destination|dest) )?(ports?|port numbers?|port no|port ranges?|port range s|ports? used)$/.test(n)) return 'port';
  if (/^(protocols?|proto|transport|transport protocols?|protocol type|ip protocol|l4 protocol|layer protocol)$/.test(n)) return 'protocol';
  if (/^(service|service name|services|name|component|components|application|process|daemon|service component)$/.test(n)) return 'service';
  if (/^(direction|dir|traffic direction|flow|connection direction)$/.test(n)) return 'direction';
  if (/^(source|sources|src|from|source hosts?|source address(es)?|origin|client|clients|initiator|source node|source role|used by|accessed by)$/.test(n)) return 'source';
  if (/^(destination|destinations|dest|dst|to|target|destination hosts?|destination address(es)?|listener|destination node|destination role|server)$/.test(n)) return 'destination';
  if (/^(description|descriptions|notes?|purpose|comments?|use|usage|details|remarks?|function|explanation|used for|what for)$/.test(n)) return 'description';
  if (/^(mandatory|required|optional|requirement|required or optional)$/.test(n)) return 'required';
  return undefined;
}

/** A table the import does not turn into rules, and why (said on stderr). */
function skipReason(t: MdTable, columns: (ColumnKey | undefined)[]): string | undefined {
  if (t.hidden) return 'inside an HTML comment (the page does not show it)';
  const hasPort = columns.includes('port') || columns.includes('portStart');
  if (!hasPort) {
    const names = t.header.cells.map((c) => c.text).filter(Boolean);
    return `no port column${names.length ? ` (columns: ${names.slice(0, 8).join(', ')}${names.length > 8 ? ', …' : ''})` : ''}`;
  }
  if (LOOPBACK.test(t.heading) || LOCAL_HEADING.test(t.heading)) return `its heading '${t.heading}' says the ports are local to the host (loopback): never opened on the network`;
  if (LOOPBACK_PROSE.test(t.intro)) return `the text above it says the ports listen on the loopback interface ('${LOOPBACK_PROSE.exec(t.intro)![0]}'): never opened on the network`;
  return undefined;
}

/** Ports a page says are bound to the host itself. */
const LOOPBACK = /\b(localhost|loopback|127\.0\.0\.1|local[- ]only|locally only|internal only|not exposed)\b/i;
const LOCAL_HEADING = /^local ports?\b/i;
const LOOPBACK_PROSE = /\b(listen(s|ing)? on (the )?(loopback|localhost|127\.0\.0\.1)( interface| address)?|bound to (the )?(loopback|localhost|127\.0\.0\.1))\b/i;

export interface ImportOptions {
  doc: InputText;
  base?: InputText;
  map?: InputText;
}

export interface ImportChange {
  kind: 'new' | 'changed' | 'removed' | 'prose';
  /** One line, with the document line; control characters quoted. */
  text: string;
  table?: string;
  row?: number;
  ruleId: string;
}

export interface ImportResult {
  yaml: string;
  /** Per-cell diagnostics (errors: rows left undecided). */
  diagnostics: Diagnostic[];
  /** With --base: new, changed and removed rows; prose rules to re-check. */
  changes: ImportChange[];
  /** Rows imported (decided or undecided). */
  rows: number;
  kept: number;
  undecided: number;
  /** Every table and row of the document is counted: imported or skipped. */
  tablesRead: number;
  tablesSkipped: number;
  rowsRead: number;
  rowsSkipped: number;
}

// ---- the --map file ---------------------------------------------------------

interface MapFile {
  phrases: [string, string[]][];
  ports: Map<string, string>;
  params: Record<string, Record<string, unknown>>;
  host?: string;
  /** Several firewalled roles (servers, agents): the catalog gets `roles:`. */
  roles?: string[];
  /** Union groups ("All nodes" = servers + agents). */
  unions: Record<string, string[]>;
  /** Address phrases mapped to a group: the addresses become its default. */
  addressDefaults: Map<string, string[]>;
  /** Table heading -> the group its ports are on (for tables with no
   * Destination column: "## Control plane", "### Agent ports"). */
  headings: Map<string, string>;
  /** Phrase -> feature: a tab name ("Canal") or words of an optional row's
   * description ("Flannel VXLAN") gate the rows with that feature. */
  features: [string, string][];
}

const IDENT = /^[a-z][a-z0-9_]{0,30}$/;

function loadMap(input: InputText): MapFile {
  const doc = parseYaml(new SourceText(input.path, input.text));
  const errors: Diagnostic[] = [];
  const out: MapFile = { phrases: [], ports: new Map(), params: {}, unions: {}, addressDefaults: new Map(), headings: new Map(), features: [] };
  const v = doc.value;
  const isMap = (x: unknown): x is Record<string, unknown> => typeof x === 'object' && x !== null && !Array.isArray(x);
  if (v === null || v === undefined) return out;
  if (!isMap(v)) throw new CompileError([doc.error([], 'a --map file is a mapping with keys groups, ports, params, host, roles, unions, headings, features')]);
  const KEYS = ['groups', 'ports', 'params', 'host', 'roles', 'unions', 'headings', 'features'];
  for (const k of Object.keys(v)) if (!KEYS.includes(k)) errors.push(doc.error([k], `unknown key '${k}' in the map file`, `known: ${KEYS.map((x) => `'${x}'`).join(', ')}`, true));
  for (const [k, into] of [
    ['headings', (phrase: string, name: string) => out.headings.set(normalizePhrase(phrase), name)],
    ['features', (phrase: string, name: string) => out.features.push([normalizePhrase(phrase), name])],
  ] as const) {
    const m = v[k];
    if (m === undefined) continue;
    if (!isMap(m)) {
      errors.push(doc.error([k], `'${k}' must map a phrase to a ${k === 'headings' ? 'group' : 'feature'} name`));
      continue;
    }
    for (const [phrase, name] of Object.entries(m)) {
      if (typeof name !== 'string' || !IDENT.test(name)) errors.push(doc.error([k, phrase], `'${phrase}' must map to a ${k === 'headings' ? 'group' : 'feature'} name`, 'names are lower case letters, digits and _, starting with a letter'));
      else if (!phrase.trim()) errors.push(doc.error([k, phrase], 'an empty phrase matches nothing'));
      else into(phrase, name);
    }
  }
  if (v.groups !== undefined) {
    if (!isMap(v.groups)) errors.push(doc.error(['groups'], "'groups' must map a phrase to a group name or a list of group names"));
    else
      for (const [phrase, g] of Object.entries(v.groups)) {
        const list = typeof g === 'string' ? [g] : Array.isArray(g) ? g : undefined;
        if (!list || !list.length || list.some((x) => typeof x !== 'string' || !IDENT.test(x))) {
          errors.push(doc.error(['groups', phrase], `phrase '${phrase}' must map to a group name or a list of group names`, 'names are lower case letters, digits and _, starting with a letter'));
          continue;
        }
        out.phrases.push([phrase, list as string[]]);
        const a = parseAddress(phrase);
        if (a.ok) for (const grp of list as string[]) out.addressDefaults.set(grp, [...(out.addressDefaults.get(grp) ?? []), phrase.trim()]);
      }
  }
  if (v.ports !== undefined) {
    if (!isMap(v.ports)) errors.push(doc.error(['ports'], "'ports' must map a Port cell (e.g. \"25 or 587\") to a param name"));
    else
      for (const [cell, p] of Object.entries(v.ports)) {
        if (typeof p !== 'string' || !IDENT.test(p)) errors.push(doc.error(['ports', cell], `port cell '${cell}' must map to a param name`));
        else out.ports.set(normalizePhrase(cell), p);
      }
  }
  if (v.params !== undefined) {
    if (!isMap(v.params)) errors.push(doc.error(['params'], "'params' declares params in the catalog's syntax"));
    else
      for (const [name, p] of Object.entries(v.params)) {
        if (!IDENT.test(name) || !isMap(p)) errors.push(doc.error(['params', name], `param '${name}' must be a mapping (kind, choices, default, description)`, undefined, true));
        else {
          const before = errors.length;
          errors.push(...mapParamErrors(doc, name, p));
          if (errors.length === before) out.params[name] = p;
        }
      }
  }
  if (v.host !== undefined) {
    if (typeof v.host !== 'string' || !IDENT.test(v.host)) errors.push(doc.error(['host'], "'host' names the group that runs the firewall"));
    else out.host = v.host;
  }
  if (v.roles !== undefined) {
    if (v.host !== undefined) errors.push(doc.error(['roles'], "give either 'host' (one firewalled role) or 'roles', not both", undefined, true));
    else if (!Array.isArray(v.roles) || !v.roles.length || !v.roles.every((r) => typeof r === 'string' && IDENT.test(r)) || new Set(v.roles).size !== v.roles.length)
      errors.push(doc.error(['roles'], "'roles' lists the firewalled host roles, each a group name once (e.g. [servers, agents])"));
    else out.roles = v.roles as string[];
  }
  if (v.unions !== undefined) {
    if (!isMap(v.unions)) errors.push(doc.error(['unions'], "'unions' maps a group to the groups it is the union of (nodes: [servers, agents])"));
    else
      for (const [name, members] of Object.entries(v.unions)) {
        if (!IDENT.test(name) || !Array.isArray(members) || !members.length || !members.every((m) => typeof m === 'string' && IDENT.test(m) && m !== name))
          errors.push(doc.error(['unions', name], `union '${name}' must list its member groups`, 'e.g. nodes: [servers, agents]', true));
        else out.unions[name] = [...new Set(members as string[])];
      }
  }
  if (errors.length) throw new CompileError(sortDiagnostics(errors));
  return out;
}

/** A map param is copied into the catalog as it is: checked here as the
 * catalog's params are, so a mistake points into the map file. */
function mapParamErrors(doc: ParsedDoc, name: string, p: Record<string, unknown>): Diagnostic[] {
  const errors: Diagnostic[] = [];
  const at = (...rest: string[]) => ['params', name, ...rest];
  for (const k of Object.keys(p))
    if (!['kind', 'choices', 'default', 'description'].includes(k)) errors.push(doc.error(at(k), `unknown key '${k}' in param '${name}'`, "known: 'kind', 'choices', 'default', 'description'", true));
  if (p.kind !== 'port' && p.kind !== 'port-range') errors.push(doc.error(at('kind'), `param '${name}' needs a kind: 'port' or 'port-range'`));
  if (p.description !== undefined && typeof p.description !== 'string') errors.push(doc.error(at('description'), `the description of param '${name}' must be a string`));
  const port = (x: unknown) => typeof x === 'number' && Number.isInteger(x) && x >= 1 && x <= 65535;
  if (p.choices !== undefined && (p.kind !== 'port' || !Array.isArray(p.choices) || !p.choices.length || !p.choices.every(port)))
    errors.push(doc.error(at('choices'), `the choices of param '${name}' must be a list of ports 1-65535`, "choices apply only to kind 'port'"));
  const def = typeof p.default === 'string' || typeof p.default === 'number' ? parsePortSpec(p.default) : undefined;
  if (!def) errors.push(doc.error(p.default === undefined ? at() : at('default'), `param '${name}' needs a default: a port 1-65535 or a range 'LO-HI'`));
  else if (p.kind === 'port' && def.lo !== def.hi) errors.push(doc.error(at('default'), `param '${name}' is a single port, but its default is a range`));
  else if (p.kind === 'port' && Array.isArray(p.choices) && !p.choices.includes(def.lo)) errors.push(doc.error(at('default'), `param '${name}' defaults to ${def.lo}, which is not one of its choices`));
  return errors;
}

// ---- reading rows -----------------------------------------------------------

/** A catalog rule as the importer writes it: the loader's shape, with
 * cells still to be read ("undecided" marks a row a person must decide). */
type RawRule = Omit<CatalogRawRule, 'ports' | 'transport' | 'icmp_types' | 'from' | 'to'> & {
  /** Absent for a rule without port transports. */
  ports?: unknown[];
  /** One transport, or a list. */
  transport?: string | number | (string | number)[];
  icmp_types?: (string | number)[];
  from: unknown[];
  to: unknown[];
  undecided?: string[];
};

interface Problem {
  cell: MdCell;
  message: string;
  hint?: string;
}

interface Context {
  phrases: PhraseTable;
  map?: MapFile;
  /** Params known (base and map), for binding a choice cell. */
  params: Map<string, { kind?: unknown; choices?: unknown }>;
  host: string;
  /** The firewalled roles (one: `host`). */
  roles: string[];
  /** Whether a group is a role, or a union holding one. */
  hasRole: (g: string) => boolean;
  knownGroups: Set<string>;
}

interface DocRow {
  table: MdTable;
  tableId: string;
  row: number;
  line: MdRow;
  cells: RowCells;
  /** Cell positions by key. */
  at: Partial<Record<CellKey, MdCell>>;
  /** The transport the table's port header or heading names, if one. */
  implied?: 'tcp' | 'udp';
  /** The Mandatory/Required/Optional cell, when the table has one. */
  required?: MdCell;
}

function cellValueText(cell: string | undefined): string {
  return cell ? cellValue(cell).slice(0, 120) : '';
}

/** "A ⟶ B" (A initiates to B) and "A ⟷ B" (either initiates). */
const ARROW = /^(.*?)\s*(-->|->|=>|\u27f6|\u2192|\u21d2|<-->|<->|\u27f7|\u2194|\u21d4)\s*(.*)$/;
const BOTH_WAYS = /^(<-->|<->|\u27f7|\u2194|\u21d4)$/;

/** A transport the row's own text states where there is no Protocol
 * column: "The Serf LAN port (TCP and UDP)", "HTTP API (TCP Only)". */
function inlineTransport(c: RowCells): 'tcp' | 'udp' | 'both' | undefined {
  const text = `${c.service ?? ''} ${c.description ?? ''}`;
  const m = /\((tcp|udp)(?: only)?\)|\((tcp)\s*(?:and|\/|&|,)\s*(udp)\)/i.exec(text);
  if (!m) return undefined;
  return m[3] ? 'both' : (m[1].toLowerCase() as 'tcp' | 'udp');
}

/** "TCP Ports", "UDP ports used by agents": exactly one transport named. */
function impliedTransport(text: string): 'tcp' | 'udp' | undefined {
  const tcp = /\btcp\b/i.test(text);
  const udp = /\budp\b/i.test(text);
  return tcp !== udp ? (tcp ? 'tcp' : 'udp') : undefined;
}

/** A Mandatory cell or a description that makes the row conditional. */
const OPTIONAL_CELL = /^(no|n|false|optional|not required|conditional|recommended|if [^|]*|only [^|]*|required only [^|]*|depends[^|]*)$/i;
const OPTIONAL_TEXT = /\(optional\)|^optional\b|\brequired only (for|if|when)\b|\bonly (required|needed|used) (for|if|when)\b|\bonly if\b/i;

function describeCell(r: DocRow, k: CellKey): string {
  return `${r.tableId} row ${r.row}, ${CELL_TITLES[k]} '${r.cells[k] ?? ''}'`;
}

/** Reads a row afresh. Problems make it undecided. */
function readRow(r: DocRow, ctx: Context): { rule: Omit<RawRule, 'id'>; problems: Problem[]; notes: string[]; origins: [string, string][] } {
  const problems: Problem[] = [];
  const notes: string[] = [];
  const origins: [string, string][] = [];
  const at = (k: CellKey) => r.at[k] ?? r.table.header.cells[0] ?? { text: '', line: r.line.line, col: 1 };
  const cellAt = (k: CellKey, offset: number): MdCell => ({ ...at(k), col: at(k).col + offset });

  // Transport first: it says how the Port cell reads (ports, ICMP types,
  // or nothing for a protocol without ports). Read, never assumed (an
  // undecided one is left out).
  let transports: Transport[] | undefined;
  /** A protocol portcullis does not compile: its Port cell is not read. */
  let uncompiled = false;
  const inline = r.cells.protocol === undefined && !r.implied ? inlineTransport(r.cells) : undefined;
  if (r.cells.protocol !== undefined) {
    const t = readProtocolCell(r.cells.protocol);
    if (t.kind === 'unsupported') uncompiled = true;
    if (t.kind === 'unsupported')
      problems.push({
        cell: at('protocol'),
        message: `${describeCell(r, 'protocol')}: ${t.name} is not a transport portcullis compiles`,
        hint: `portcullis compiles ${TRANSPORTS.join(', ')}; decide by hand: drop the row, or open it outside portcullis`,
      });
    else if (t.kind === 'unknown')
      problems.push({
        cell: at('protocol'),
        message: `${describeCell(r, 'protocol')}: ${r.cells.protocol.trim() ? 'not a transport or a protocol the importer knows to run over tcp or udp' : 'the cell is empty'}`,
        hint: `decide the transport by hand (transport: tcp, udp, sctp, icmp, icmpv6, esp, ah, gre, ipip or vrrp, or a list) and remove the undecided key`,
      });
    else transports = t.transports;
  } else if (r.implied) transports = [r.implied];
  else if (inline === 'both') transports = ['tcp', 'udp'];
  else if (inline) transports = [inline];
  else
    problems.push({
      cell: at('port'),
      message: `${r.tableId} row ${r.row}: the table has no Protocol column, and neither its port column nor its heading says TCP or UDP`,
      hint: 'decide the transport of its rules by hand (transport: tcp or udp)',
    });

  const withPorts = transports ? transports.filter(hasPorts) : [];
  const icmps = transports ? transports.filter((t): t is 'icmp' | 'icmpv6' => isIcmp(t)) : [];
  // Ports (for tcp, udp, sctp, and for a row whose transport is undecided).
  let ports: unknown[] | undefined;
  let icmpTypes: (string | number)[] | undefined;
  if (uncompiled) {
    // Nothing to read: the row is undecided for its protocol.
  } else if (!transports || withPorts.length) {
    ports = [];
    if (icmps.length)
      problems.push({
        cell: at('port'),
        message: `${describeCell(r, 'protocol')}: ${withPorts.join(' and ')} and ${icmps.join(' and ')} in one row, and its Port cell gives either ports or ICMP types`,
        hint: `split the row by hand: a rule with transport ${withPorts.join(', ')} and its ports, and one with transport ${icmps.join(', ')} and its icmp_types`,
      });
    if (r.cells.port === undefined) problems.push({ cell: at('port'), message: `${r.tableId} row ${r.row} has no Port cell` });
    else {
      const p = readPortCell(r.cells.port);
      const mapped = ctx.map?.ports.get(normalizePhrase(r.cells.port));
      if (mapped && ctx.params.has(mapped) && p.kind !== 'ports') {
        ports = [{ param: mapped }];
        notes.push(`Port "${r.cells.port}" is the profile param ${mapped} (decided in the map file).`);
      } else if (mapped && p.kind !== 'ports')
        problems.push({ cell: at('port'), message: `${describeCell(r, 'port')}: the map binds it to param '${mapped}', which neither the base nor the map declares`, hint: `declare it under params: in the map file` });
      else if (p.kind === 'ports') ports = p.ranges.map((x) => (x.lo === x.hi ? x.lo : formatPortRange(x)));
      else if (p.kind === 'choice') {
        const wanted = [...p.choices].sort((a, b) => a - b).join(',');
        const byChoices = [...ctx.params].find(
          ([, d]) => d.kind === 'port' && Array.isArray(d.choices) && [...(d.choices as number[])].sort((a, b) => a - b).join(',') === wanted,
        )?.[0];
        const param = byChoices;
        if (param) {
          ports = [{ param }];
          notes.push(`"${r.cells.port}" is a choice of one port, bound by the profile param ${param} (choices ${p.choices.join(', ')}), not ${p.choices.length === 2 ? 'two' : p.choices.length} open ports.`);
        } else
          problems.push({
            cell: at('port'),
            message: `${describeCell(r, 'port')}: a choice of one port, not ${p.choices.length === 2 ? 'two' : p.choices.length} open ports`,
            hint: `bind it to a param: in a --map file, ports: { ${quoted(r.cells.port)}: NAME } and params: { NAME: { kind: port, choices: [${p.choices.join(', ')}], default: ... } }`,
          });
      } else
        problems.push({
          cell: at('port'),
          message: `${describeCell(r, 'port')}: cannot read the port: ${p.reason}`,
          hint: `bind it to a param in a --map file (ports: { ${quoted(r.cells.port)}: NAME } and params: { NAME: { kind: port-range, default: "LO-HI" } }), or decide the ports by hand and remove the rule's undecided key`,
        });
    }
  } else if (icmps.length) {
    // The Port cell of an ICMP row holds its message types, or nothing (every type).
    const cell = r.cells.port ?? '';
    const read = readIcmpTypesCell(cell, icmps);
    for (const u of read.unknown)
      problems.push({
        cell: at('port'),
        message: `${describeCell(r, 'port')}: '${u}' is not ${icmps.length > 1 ? 'a type of both ICMP and ICMPv6' : `an ${TRANSPORT_FACTS[icmps[0]].title} type`}`,
        hint: `ICMP types are numbers 0-255 or names (echo-request, destination-unreachable, time-exceeded, …); decide the rule's icmp_types by hand and remove the undecided key`,
      });
    if (icmps.length > 1 && read.types?.some((x) => typeof x === 'number'))
      problems.push({
        cell: at('port'),
        message: `${describeCell(r, 'port')}: type numbers differ between ICMP and ICMPv6 (echo-request is 8 in one, 128 in the other)`,
        hint: 'split the row into an icmp and an icmpv6 rule, or name the types (echo-request, …), by hand',
      });
    if (read.types?.length) icmpTypes = read.types;
    if (!read.types) notes.push(`Port "${cell}": every ${icmps.map((t) => TRANSPORT_FACTS[t].title).join(' and ')} type.`);
    if (r.cells.protocol !== undefined && /^ping$/i.test(cellValue(r.cells.protocol).trim()) && !read.types?.length) {
      icmpTypes = ['echo-request'];
      notes.pop();
      notes.push(`Protocol "${r.cells.protocol}": ICMP echo-request.`);
    }
  } else if (transports) {
    // A protocol without ports: the Port cell is empty, a dash, or the
    // protocol's own number ("50" for ESP).
    const cell = cellValue(r.cells.port ?? '').trim();
    const numbers = transports.map((t) => TRANSPORT_FACTS[t].number);
    if (/^\d{1,3}$/.test(cell) && numbers.includes(Number(cell))) notes.push(`Port "${r.cells.port}" is ${transports.find((t) => TRANSPORT_FACTS[t].number === Number(cell))!.toUpperCase()}'s IP protocol number, not a port.`);
    else if (cell && !/^(-|\u2013|\u2014|n\/a|na|none|any|all|\*)$/i.test(cell))
      problems.push({
        cell: at('port'),
        message: `${describeCell(r, 'port')}: ${transports.map((t) => TRANSPORT_FACTS[t].title).join(' and ')} ${transports.length > 1 ? 'have' : 'has'} no ports`,
        hint: 'decide by hand: the row names another transport for these ports (then list it), or the Port cell is a note; remove the undecided key',
      });
  }

  // Tabs are alternatives (one per CNI plugin, say): a reader picks one.
  // A map phrase naming the tab, or found in the row's text, gates the rule.
  const text = normalizePhrase(`${r.cells.service ?? ''} ${r.cells.description ?? ''}`);
  const tabFeature = r.table.tab ? ctx.map?.features.find(([p]) => p === normalizePhrase(r.table.tab!.name))?.[1] : undefined;
  // A tab is gated by its own name; an optional row by words of its text.
  const optional = r.required && OPTIONAL_CELL.test(r.required.text.trim()) ? r.required : undefined;
  const conditional = !optional && r.cells.description && OPTIONAL_TEXT.test(r.cells.description) ? at('description') : undefined;
  const feature = tabFeature ?? (optional || conditional ? ctx.map?.features.find(([p]) => text.includes(p))?.[1] : undefined);
  if (feature) notes.push(`Gated by feature ${feature} (the map's phrase for ${tabFeature ? `tab '${r.table.tab!.name}'` : 'this row'}).`);
  if (r.table.tab && r.table.tab.of > 1 && !feature)
    problems.push({
      cell: at('port'),
      message: `${r.tableId} row ${r.row}: the table is tab '${r.table.tab.name}', one of ${r.table.tab.of} alternatives under '${r.table.heading}'; only one of them applies to a site`,
      hint: 'gate the rules of each tab with a feature (feature: NAME, declared under features:), and remove the undecided key',
    });

  // Rows a page marks optional or conditional belong behind a feature.
  if ((optional || conditional) && !feature)
    problems.push({
      cell: (optional ?? conditional)!,
      message: `${r.tableId} row ${r.row}: ${optional ? `marked '${optional.text}' (not mandatory)` : 'its description makes it optional or conditional'}; an always-open rule would open it everywhere`,
      hint: 'gate the rule with a feature (feature: NAME, declared under features:), or decide it is always needed, and remove the undecided key',
    });

  // Groups. A table without Source/Destination columns may say both in its
  // Direction cell: "worker, CLI ⟶ controller", "controller ⟷ controller".
  const arrow = r.cells.direction !== undefined && (r.cells.source === undefined || r.cells.destination === undefined) ? ARROW.exec(r.cells.direction) : null;
  const side = (k: 'source' | 'destination'): string[] => {
    let text = r.cells[k];
    let cellOf = (offset: number) => cellAt(k, offset);
    let what = describeCell(r, k);
    const byHeading = k === 'destination' && text === undefined && !arrow ? ctx.map?.headings.get(normalizePhrase(r.table.heading)) : undefined;
    if (byHeading) {
      notes.push(`Destination ${byHeading}: the table's heading '${r.table.heading}' (decided in the map file).`);
      origins.push([byHeading, r.table.heading]);
      return [byHeading];
    }
    if (text === undefined && arrow) {
      const [left, , right] = [arrow[1], arrow[2], arrow[3]];
      text = k === 'source' ? left : right;
      const start = k === 'source' ? 0 : arrow[0].length - right.length;
      cellOf = (offset: number) => cellAt('direction', start + offset);
      what = `${r.tableId} row ${r.row}, Direction '${r.cells.direction}' (${CELL_TITLES[k]} '${text}')`;
    }
    if (text === undefined) {
      problems.push({ cell: at('port'), message: `${r.tableId} row ${r.row}: the table has no ${CELL_TITLES[k]} column`, hint: 'decide the groups of the rule by hand' });
      return [];
    }
    if (!text) {
      problems.push({ cell: at(k), message: `${describeCell(r, k)}: the cell is empty` });
      return [];
    }
    const reading = readPhrase(text, ctx.phrases);
    for (const u of reading.unmapped)
      problems.push({
        cell: cellOf(u.offset),
        message: `${what}: no group for the phrase '${u.text}'`,
        hint: `add it to a --map file: groups: { ${quoted(u.text)}: GROUP }${ctx.knownGroups.size ? ` (known groups: ${[...ctx.knownGroups].join(', ')})` : ''}`,
      });
    for (const a of reading.addresses)
      problems.push({
        cell: cellOf(a.offset),
        message: `${what}: '${a.text}' is an address, not a group`,
        hint: `map it to a group in a --map file: groups: { ${quoted(a.text)}: GROUP }; the address becomes the group's default`,
      });
    for (const h of reading.hostnames)
      problems.push({
        cell: cellOf(h.offset),
        message: `${what}: '${h.text}' is a host name, not a group; a firewall matches addresses`,
        hint: `map it to a group in a --map file (groups: { ${quoted(h.text)}: GROUP }) and give the group the name's addresses in each profile`,
      });
    for (const g of reading.groups) origins.push([g, text]);
    return reading.groups;
  };
  const from = side('source');
  const to = side('destination');
  // Only a firewalled role (or a union of roles) may be on both ends.
  for (const g of from.filter((x) => to.includes(x) && !ctx.hasRole(x)))
    problems.push({
      cell: at(r.cells.destination !== undefined ? 'destination' : r.cells.direction !== undefined ? 'direction' : 'port'),
      message: `${r.tableId} row ${r.row}: from group '${g}' to itself, and the firewalled hosts are ${ctx.roles.length === 1 ? `'${ctx.host}'` : `the roles ${ctx.roles.join(', ')}`}`,
      hint: `if '${g}' are firewalled hosts, say so in the map file (host: ${g}, or roles: [...] and unions: {${g}: [...]}); otherwise decide the row by hand`,
    });

  // Direction: who initiates. Source -> Destination in every case; an
  // outbound row whose destination is the host itself is garbled.
  if (arrow) {
    // Both ways between two different sides is two rules, not one.
    if (BOTH_WAYS.test(arrow[2]) && normalizePhrase(arrow[1]) !== normalizePhrase(arrow[3]))
      problems.push({
        cell: at('direction'),
        message: `${describeCell(r, 'direction')}: connections both ways between different sides; one catalog rule has one direction`,
        hint: 'split the row into two rules (one per initiating side) by hand',
      });
  } else if (r.cells.direction !== undefined) {
    const d = normalizePhrase(r.cells.direction);
    if (!KNOWN_DIRECTIONS.includes(d))
      problems.push({
        cell: at('direction'),
        message: `${describeCell(r, 'direction')}: unknown direction`,
        hint: `known: ${KNOWN_DIRECTIONS.join(', ')}; decide who initiates the connection`,
      });
    else if (d === 'outbound' && to.some((g) => ctx.hasRole(g)))
      problems.push({
        cell: at('destination'),
        message: `${describeCell(r, 'destination')}: an outbound row whose destination is the ${ctx.host} themselves; the row must be reinterpreted`,
        hint: `decide the destination (outbound traffic leaves the ${ctx.host}); e.g. read it with the Description, as the base catalog's note explains`,
      });
  }
  // A table without a Service column: the rule is named by its description
  // (Purpose, Use, …), else by its port.
  const service = r.cells.service ? undefined : cellValueText(r.cells.description) || `port ${r.cells.port ?? r.row}`;
  return {
    rule: {
      table: r.tableId,
      row: r.row,
      cells: r.cells,
      ...(service ? { service } : {}),
      ...(ports !== undefined ? { ports } : {}),
      ...(transports ? { transport: transports.length === 1 ? transports[0] : transports } : {}),
      ...(icmpTypes ? { icmp_types: icmpTypes } : {}),
      from,
      to,
      ...(feature ? { feature } : {}),
    },
    problems,
    notes,
    origins,
  };
}

// ---- ids ---------------------------------------------------------------------

function slug(s: string): string {
  return s
    .toLowerCase()
    .replace(/\([^)]*\)/g, ' ')
    .replace(/\bport\b/g, ' ')
    .replace(/[^a-z0-9]+/g, '-')
    .replace(/^-+|-+$/g, '')
    .slice(0, 40)
    .replace(/-+$/, '');
}

function idPrefix(tableId: string, baseRules: RawRule[]): string {
  const prefixes = new Set(baseRules.filter((r) => r.table === tableId).map((r) => r.id.split('-')[0]));
  return prefixes.size === 1 ? [...prefixes][0] : tableId.toLowerCase();
}

// ---- the import ----------------------------------------------------------------

/** The base catalog as the importer reads it: the loader's shape, with the
 * importer's looser rules and params kept as written. */
type RawCatalog = Omit<CatalogRawCatalog, 'params' | 'rules'> & {
  params?: Record<string, Record<string, unknown>>;
  rules: RawRule[];
};

function sameCells(a: RowCells, b: RowCells): boolean {
  return CELL_KEYS.every((k) => (a[k] ?? undefined) === (b[k] ?? undefined));
}

function frontMatterTitle(text: string): string | undefined {
  const m = /^---\n([\s\S]*?)\n---/.exec(text.replace(/\r/g, ''));
  const t = m && /^title:\s*(.*)$/m.exec(m[1]);
  return t ? t[1].replace(/^\[|\]$/g, '').replace(/^["']|["']$/g, '').trim() || undefined : undefined;
}

/** Imports a document. Throws CompileError for bad input (document, base,
 * map) and when the text written would not read back as the catalog built;
 * then nothing must be written. */
export function importCatalog(options: ImportOptions): ImportResult {
  const source = new SourceText(options.doc.path, options.doc.text);
  const docName = path.basename(options.doc.path);
  const map = options.map ? loadMap(options.map) : undefined;
  let base: Catalog | undefined;
  if (options.base) base = loadCatalog(new SourceText(options.base.path, options.base.text));
  const raw = base ? (base.doc.value as RawCatalog) : undefined;
  const baseRules = raw?.rules ?? [];

  const roles = map?.roles ?? raw?.roles ?? [map?.host ?? raw?.host ?? 'nodes'];
  const host = roles[0];
  const unions: Record<string, string[]> = { ...Object.fromEntries(Object.entries(raw?.groups ?? {}).filter(([, g]) => g.union).map(([n, g]) => [n, g.union!])), ...(map?.unions ?? {}) };
  const hasRole = (g: string) => roles.includes(g) || (unions[g] ?? []).some((m) => roles.includes(m));
  const params = new Map<string, { kind?: unknown; choices?: unknown }>();
  for (const [n, p] of Object.entries(raw?.params ?? {})) params.set(n, p);
  for (const [n, p] of Object.entries(map?.params ?? {})) params.set(n, p);
  const knownGroups = new Set<string>([...Object.keys(raw?.groups ?? {})]);
  const ctx: Context = { phrases: phraseTable(map?.phrases ?? []), map, params, host, roles, hasRole, knownGroups };

  const diagnostics: Diagnostic[] = [];
  // Port tables, in document order.
  // Every table is either imported or reported as skipped, with why.
  const allTables = parseTables(options.doc.text);
  const tables: MdTable[] = [];
  let tablesSkipped = 0;
  for (const t of allTables) {
    const why = skipReason(t, t.header.cells.map((c) => columnOf(c.text)));
    if (!why) {
      tables.push(t);
      continue;
    }
    tablesSkipped++;
    const under = t.heading ? ` (under '${t.heading}')` : '';
    diagnostics.push({ ...source.diagnostic({ line: t.header.line, col: 1 }, `table skipped: ${why}${under}; ${t.rows.length} row${t.rows.length === 1 ? '' : 's'} not imported`), level: 'warning' });
  }
  const ordinal = new Map<string, number>();
  const portTables = tables.map((t) => {
    const n = ordinal.get(t.heading) ?? 0;
    ordinal.set(t.heading, n + 1);
    return { table: t, ordinal: n };
  });

  // Table ids: the base's table with the same heading and the same place
  // among that heading's tables, else the next free T<n>.
  const baseTablesByHeading = new Map<string, string[]>();
  for (const [id, t] of Object.entries(raw?.tables ?? {}).sort(([, a], [, b]) => (a.line ?? 0) - (b.line ?? 0)))
    baseTablesByHeading.set(t.heading, [...(baseTablesByHeading.get(t.heading) ?? []), id]);
  const used = new Set<string>(Object.keys(raw?.tables ?? {}));
  let next = 1;
  const freshId = () => {
    while (used.has(`T${next}`)) next++;
    used.add(`T${next}`);
    return `T${next}`;
  };
  const outTables: Record<string, { heading: string; line?: number; note?: string }> = {};
  const docRows: DocRow[] = [];
  let rowsRead = 0;
  let rowsSkipped = 0;
  const tableIds: string[] = [];
  for (const { table, ordinal: ord } of portTables) {
    const baseId = baseTablesByHeading.get(table.heading)?.[ord];
    const id = baseId ?? (raw ? freshId() : `T${tableIds.length + 1}`);
    tableIds.push(id);
    const siblings = ordinal.get(table.heading) ?? 1;
    const place = siblings > 1 ? `table ${ord + 1} of ${siblings} under this heading` : undefined;
    outTables[id] = { heading: table.heading || docName, line: table.header.line, note: baseId ? raw!.tables[baseId].note : place };
    const keys = table.header.cells.map((c) => columnOf(c.text));
    table.header.cells.forEach((c, i) => {
      if (!keys[i]) diagnostics.push({ ...source.diagnostic({ line: c.line, col: c.col }, `column '${c.text}' of table ${id} is not a port table column; ignored`, `known: ${Object.values(CELL_TITLES).join(', ')}, Start Port/End Port, Mandatory`), level: 'warning' });
    });
    // "TCP Ports" as the port column's header, or a heading naming one
    // transport, says the transport of a table without a Protocol column.
    const portHeader = table.header.cells.find((_, i) => keys[i] === 'port' || keys[i] === 'portStart')?.text ?? '';
    const implied = impliedTransport(portHeader) ?? impliedTransport(table.heading);
    let rowNo = 0;
    for (const line of table.rows) {
      if (line.cells.every((c) => !c.text)) continue;
      rowNo++;
      rowsRead++;
      if (line.cells.length !== table.header.cells.length)
        diagnostics.push({
          ...source.diagnostic({ line: line.line, col: 1 }, `row ${rowNo} of table ${id} has ${line.cells.length} cells, its header ${table.header.cells.length}`),
          level: 'warning',
        });
      const cells: RowCells = {};
      const at: Partial<Record<CellKey, MdCell>> = {};
      const extra: Partial<Record<'portStart' | 'portEnd' | 'required', MdCell>> = {};
      keys.forEach((k, i) => {
        if (!k || !line.cells[i]) return;
        if (k === 'portStart' || k === 'portEnd' || k === 'required') {
          extra[k] ??= line.cells[i];
          return;
        }
        if (at[k]) return;
        cells[k] = line.cells[i].text;
        at[k] = line.cells[i];
      });
      // Start Port / End Port in two columns: one Port cell "LO-HI".
      if (extra.portStart && cells.port === undefined) {
        const lo = extra.portStart.text;
        const hi = extra.portEnd?.text;
        cells.port = hi && hi !== lo ? `${lo}-${hi}` : lo;
        at.port = extra.portStart;
      }
      // A row bound to the host's loopback is never a network rule.
      const local = (['source', 'destination'] as const).find((k) => cells[k] !== undefined && (LOOPBACK.test(cells[k]!) || /^\s*self\s*$/i.test(cells[k]!)));
      if (local) {
        rowsSkipped++;
        diagnostics.push({
          ...source.diagnostic({ line: at[local]!.line, col: at[local]!.col }, `${id} row ${rowNo} skipped: ${CELL_TITLES[local]} '${cells[local]}' is the host's loopback; the port is never opened on the network`),
          level: 'warning',
        });
        continue;
      }
      docRows.push({ table, tableId: id, row: rowNo, line, cells, at, implied, required: extra.required });
    }
  }

  // Match rows to base rows: same heading, port and service; among several,
  // the one with the same cells, then the same table, then the nearest row.
  const baseRowRules = baseRules.filter((r) => r.row !== undefined);
  const headingOf = (r: RawRule) => raw?.tables[r.table]?.heading ?? '';
  const keyOf = (heading: string, c: RowCells) => `${heading}\u0000${normalizePhrase(c.port ?? '')}\u0000${normalizePhrase(c.service ?? '')}`;
  const candidates = new Map<string, RawRule[]>();
  for (const r of baseRowRules) {
    const k = keyOf(headingOf(r), r.cells ?? {});
    candidates.set(k, [...(candidates.get(k) ?? []), r]);
  }
  const matched = new Set<RawRule>();
  const matchOf = (d: DocRow): RawRule | undefined => {
    const list = (candidates.get(keyOf(d.table.heading, d.cells)) ?? []).filter((r) => !matched.has(r));
    if (!list.length) return undefined;
    const score = (r: RawRule) => [sameCells(r.cells ?? {}, d.cells) ? 0 : 1, r.table === d.tableId ? 0 : 1, Math.abs((r.row ?? 0) - d.row)];
    list.sort((a, b) => {
      const x = score(a);
      const y = score(b);
      return x[0] - y[0] || x[1] - y[1] || x[2] - y[2];
    });
    matched.add(list[0]);
    return list[0];
  };

  const ids = new Set<string>(baseRules.map((r) => r.id));
  const newId = (d: DocRow) => {
    const stem = `${idPrefix(d.tableId, baseRules)}-${slug(d.cells.service ?? '') || `row-${d.row}`}`.slice(0, 60).replace(/-+$/, '');
    let id = stem;
    for (let n = 2; ids.has(id); n++) id = `${stem}-${n}`;
    ids.add(id);
    return id;
  };

  const changes: ImportChange[] = [];
  const rulesByTable = new Map<string, RawRule[]>();
  const addGroups = new Map<string, string[]>();
  let kept = 0;
  let undecided = 0;
  const where = (d: DocRow) => `${options.doc.path}:${d.line.line}`;
  const brief = (c: RowCells) => `${c.port ?? '?'} "${c.service ?? ''}"`;
  for (const d of docRows) {
    const b = raw ? matchOf(d) : undefined;
    let rule: RawRule;
    if (b && sameCells(b.cells ?? {}, d.cells)) {
      rule = { ...b, table: d.tableId, row: d.row, cells: d.cells };
      kept++;
    } else {
      const fresh = readRow(d, ctx);
      rule = { id: b ? b.id : newId(d), ...fresh.rule };
      if (!b && rule.id) ids.add(rule.id);
      for (const [g, phrase] of fresh.origins) if (!knownGroups.has(g)) addGroups.set(g, [...(addGroups.get(g) ?? []), phrase]);
      const notes = [...fresh.notes];
      if (b) {
        const changed = CELL_KEYS.filter((k) => (b.cells ?? {})[k] !== d.cells[k]);
        notes.unshift(
          `Re-read from the document: ${changed.map((k) => CELL_TITLES[k]).join(', ')} changed since the base (base rule: ${b.ports !== undefined ? `ports ${flow(b.ports)}` : `transport ${flow(b.transport ?? 'tcp')}`}, from ${flow(b.from)}, to ${flow(b.to)}${b.feature ? `, feature ${b.feature}` : ''}${b.anti_lockout ? ', anti_lockout' : ''}). Check whether the base's decisions still apply.${b.note ? ` Base note: ${b.note}` : ''}`,
        );
        changes.push({ kind: 'changed', ruleId: rule.id, table: d.tableId, row: d.row, text: visibleLine(`changed  ${where(d)}: ${d.tableId} row ${d.row}: ${brief(d.cells)} (rule ${rule.id}): ${changed.map((k) => CELL_TITLES[k]).join(', ')} changed; read afresh`) });
        if (b.anti_lockout) rule.anti_lockout = true;
      } else if (raw) {
        changes.push({ kind: 'new', ruleId: rule.id, table: d.tableId, row: d.row, text: visibleLine(`new      ${where(d)}: ${d.tableId} row ${d.row}: ${brief(d.cells)} (rule ${rule.id})`) });
      }
      if (notes.length) rule.note = notes.join(' ');
      if (fresh.problems.length) {
        undecided++;
        rule.undecided = fresh.problems.map((p) => `${options.doc.path}:${p.cell.line}:${p.cell.col}: ${p.message}`);
        for (const p of fresh.problems) diagnostics.push(source.diagnostic({ line: p.cell.line, col: p.cell.col }, `${p.message}; row left undecided`, p.hint));
      }
    }
    rulesByTable.set(d.tableId, [...(rulesByTable.get(d.tableId) ?? []), rule]);
  }
  for (const b of baseRowRules)
    if (!matched.has(b)) {
      const baseTable = raw!.tables[b.table];
      const was = baseTable?.line !== undefined && b.row !== undefined ? ` (line ${baseTable.line + 1 + b.row} of the base's document)` : '';
      changes.push({ kind: 'removed', ruleId: b.id, table: b.table, row: b.row, text: visibleLine(`removed  ${b.table} row ${b.row}${was}: ${brief(b.cells ?? {})} (rule ${b.id}): not in ${options.doc.path}`) });
    }

  // Prose rules of the base: kept after their table's rows; their sentence
  // is looked up in the document.
  const proseRules = baseRules.filter((r) => r.row === undefined);
  const trailing: RawRule[] = [];
  for (const p of proseRules) {
    const at = p.prose ? options.doc.text.indexOf(p.prose) : -1;
    if (at < 0)
      changes.push({
        kind: 'prose',
        ruleId: p.id,
        table: p.table,
        text: visibleLine(`prose    ${p.table} (rule ${p.id}): its sentence is not in ${options.doc.path}; kept from the base, check it`),
      });
    if (rulesByTable.has(p.table)) rulesByTable.get(p.table)!.push(p);
    else {
      trailing.push(p);
      if (!outTables[p.table] && raw?.tables[p.table]) outTables[p.table] = raw.tables[p.table];
    }
  }
  const rules = [...tableIds.flatMap((id) => rulesByTable.get(id) ?? []), ...trailing];

  // Groups: the base's, plus any the phrase map introduced.
  const groups: Record<string, { description?: string; default?: string[]; union?: string[] }> = {};
  for (const [n, g] of Object.entries(raw?.groups ?? {})) groups[n] = { ...g };
  for (const [g, cellsUsing] of addGroups) {
    if (groups[g]) continue;
    const phrases = [...new Set(cellsUsing.filter(Boolean))];
    groups[g] = { description: `Imported from ${docName} (cells: ${phrases.map((p) => `"${p}"`).join(', ')}).` };
  }
  for (const role of roles) {
    const what = roles.length === 1 ? 'The hosts that run the firewall.' : `Firewalled hosts: role ${role}.`;
    if (!groups[role]) groups[role] = { description: what };
    else if (!raw?.groups[role]) groups[role].description = `${what} ${groups[role].description ?? ''}`.trim();
  }
  for (const [name, members] of Object.entries(unions)) {
    for (const m of members) groups[m] ??= { description: `Imported from ${docName}.` };
    const g = (groups[name] ??= {});
    delete g.default; // a union has its members' addresses, never its own
    g.union = members;
  }
  for (const [g, addrs] of map?.addressDefaults ?? []) {
    if (!groups[g]) groups[g] = { description: `Imported from ${docName}.` };
    const def = groups[g].default ?? [];
    for (const a of addrs) if (!def.includes(a)) def.push(a);
    groups[g].default = def;
  }
  const allParams: Record<string, Record<string, unknown>> = { ...(raw?.params ?? {}), ...(map?.params ?? {}) };
  // Features the map introduced: off by default (optional or alternative rows).
  const allFeatures: Record<string, Record<string, unknown>> = { ...(raw?.features ?? {}) };
  for (const [phrase, f] of map?.features ?? [])
    if (!allFeatures[f] && rules.some((x) => x.feature === f)) allFeatures[f] = { description: `Imported from ${docName}: rows matching "${phrase}".`, default: false };

  const name = raw?.name ?? (slug(docName.replace(/\.[^.]*$/, '')).replace(/-/g, '_').replace(/^[^a-z]+/, '') || 'imported').slice(0, 31);
  const title = raw?.title ?? frontMatterTitle(options.doc.text);

  // ---- write ----
  // The catalog as data first; the text is written from it, then read back
  // with the catalog loader and compared, so no input text can change what
  // the file says.
  const catalog: OutCatalog = dropUndefined({
    name,
    title,
    document: docName,
    ...(roles.length === 1 && !map?.roles && !raw?.roles ? { host } : { roles }),
    tables: Object.fromEntries(Object.entries(outTables).map(([id, t]) => [id, { heading: t.heading, line: t.line, note: t.note }])),
    groups,
    features: Object.keys(allFeatures).length ? allFeatures : undefined,
    params: Object.keys(allParams).length ? allParams : undefined,
    rules: rules.map(outRule),
  });
  const out: string[] = [];
  out.push(...comment(`Imported by \`portcullis catalog import\` from ${docName}${raw ? ` (base: catalog '${raw.name}')` : ''}.`));
  if (undecided) out.push(`# ${undecided} row${undecided === 1 ? ' is' : 's are'} left undecided: see the rules with an 'undecided' key.`);
  if (options.base) {
    // The base's leading comment, each line kept as one comment line.
    const lead: string[] = [];
    for (const l of options.base.text.split('\n')) {
      if (/^\s*$/.test(l)) lead.push('');
      else if (/^\s*#/.test(l)) lead.push(...comment(l.slice(l.indexOf('#') + 1).replace(/\r$/, ''), '', ''));
      else break;
    }
    while (lead.length && !lead[lead.length - 1].trim()) lead.pop();
    if (lead.length) out.push('#', ...lead);
  }
  out.push('');
  out.push(`name: ${flow(catalog.name)}`);
  if (catalog.title !== undefined) out.push(`title: ${flow(catalog.title)}`);
  out.push(`document: ${flow(catalog.document)}`);
  if (catalog.roles) out.push(`roles: ${flow(catalog.roles)}`);
  else out.push(`host: ${flow(catalog.host!)}`);
  out.push('');
  out.push('tables:');
  for (const [id, t] of Object.entries(catalog.tables)) out.push(`  ${key(id)}: ${flow(t)}`);
  out.push('');
  out.push(...blockOfBlocks('groups', catalog.groups, ['description', 'default', 'union']));
  if (catalog.features) {
    out.push('');
    out.push(...blockOfBlocks('features', catalog.features, ['description', 'default']));
  }
  if (catalog.params) {
    out.push('');
    out.push(...blockOfBlocks('params', catalog.params, ['kind', 'choices', 'default', 'description']));
  }
  out.push('');
  out.push('rules:');
  let lastTable: string | undefined;
  /** 1-based lines of each undecided rule in the text: [first, last]. */
  const undecidedSpans: [number, number][] = [];
  for (const r of catalog.rules) {
    if (r.table !== lastTable) {
      const t = catalog.tables[r.table];
      out.push('', ...comment(`${r.table}: ${t?.heading ?? ''}${t?.note ? ` (${t.note})` : ''}`, '  '));
      lastTable = r.table;
    }
    if (r.row !== undefined) {
      const d = docRows.find((x) => x.tableId === r.table && x.row === r.row);
      if (d) out.push(...comment(`${docName}:${d.line.line}`, '  '));
    }
    const first = out.length + 1;
    out.push(...emitRule(r));
    if (r.undecided) undecidedSpans.push([first, out.length]);
  }
  const text = out.join('\n') + '\n';
  checkReadsBack(text, catalog, undecidedSpans, options.doc.path);
  return { yaml: text, diagnostics, changes, rows: docRows.length, kept, undecided, tablesRead: allTables.length, tablesSkipped, rowsRead, rowsSkipped };
}

/** The catalog the importer writes: the loader's raw shape, whose rules may
 * still be undecided. */
interface OutCatalog {
  name: string;
  title?: string;
  document: string;
  host?: string;
  roles?: string[];
  tables: Record<string, { heading: string; line?: number; note?: string }>;
  groups: Record<string, { description?: string; default?: string[]; union?: string[] }>;
  features?: Record<string, Record<string, unknown>>;
  params?: Record<string, Record<string, unknown>>;
  rules: RawRule[];
}

const RULE_KEYS = ['id', 'table', 'row', 'prose', 'cells', 'service', 'description', 'ports', 'transport', 'icmp_types', 'from', 'to', 'feature', 'anti_lockout', 'note', 'undecided'] as const;

/** A rule with exactly the keys the writer writes, in its order. */
function outRule(r: RawRule): RawRule {
  const o: Record<string, unknown> = {};
  for (const k of RULE_KEYS) if (r[k] !== undefined) o[k] = k === 'cells' ? Object.fromEntries(CELL_KEYS.filter((c) => r.cells![c] !== undefined).map((c) => [c, r.cells![c]])) : r[k];
  return o as unknown as RawRule;
}

/** A copy without undefined values (the writer leaves them out). */
function dropUndefined<T>(v: T): T {
  if (Array.isArray(v)) return v.map(dropUndefined) as T;
  // fromEntries defines every key as its own (even one named __proto__).
  if (v !== null && typeof v === 'object') return Object.fromEntries(Object.entries(v).filter(([, x]) => x !== undefined).map(([k, x]) => [k, dropUndefined(x)])) as T;
  return v;
}

/** Where two data trees differ first (a JSON pointer), or undefined. Mapping
 * key order does not count; types, keys, lengths and values do. */
export function firstDifference(a: unknown, b: unknown, at = ''): string | undefined {
  if (Array.isArray(a) || Array.isArray(b)) {
    if (!Array.isArray(a) || !Array.isArray(b) || a.length !== b.length) return at || '/';
    for (let i = 0; i < a.length; i++) {
      const d = firstDifference(a[i], b[i], `${at}/${i}`);
      if (d) return d;
    }
    return undefined;
  }
  if (a !== null && b !== null && typeof a === 'object' && typeof b === 'object') {
    const ka = Object.keys(a).sort();
    const kb = Object.keys(b).sort();
    if (JSON.stringify(ka) !== JSON.stringify(kb)) return at || '/';
    for (const k of ka) {
      const d = firstDifference((a as Record<string, unknown>)[k], (b as Record<string, unknown>)[k], `${at}/${k}`);
      if (d) return d;
    }
    return undefined;
  }
  return Object.is(a, b) || (a === 0 && b === 0) ? undefined : at || '/';
}

/** The written text, read back by the catalog loader, must be exactly the
 * catalog built. A catalog with undecided rules is meant to fail the loader
 * because of them: its text must read back exactly, and the text without
 * those rules must load as the catalog built without them (when any rule is
 * left). `undecidedSpans` are the 1-based [first, last] lines of those rules. */
export function checkReadsBack(text: string, built: unknown, undecidedSpans: [number, number][], docPath: string): void {
  const label = `${docPath} (imported catalog, not written)`;
  const fail = (what: string, more: Diagnostic[] = []): never => {
    throw new CompileError([
      {
        level: 'error',
        file: docPath,
        message: `the catalog imported from this document ${what}; nothing written`,
        hint: more.length ? 'the diagnostics below point into the catalog as it would have been written' : 'this is a bug in the importer: please report it with the document',
      },
      ...more,
    ]);
  };
  const loads = (source: SourceText, what: string, lineOf: (n: number) => number = (n) => n): unknown => {
    try {
      return loadCatalog(source).doc.value;
    } catch (e) {
      if (!(e instanceof CompileError)) throw e;
      const lines = text.split('\n');
      return fail(
        what,
        e.diagnostics.map((d) => (d.pos ? { ...d, pos: { ...d.pos, line: lineOf(d.pos.line) }, sourceLine: (lines[lineOf(d.pos.line) - 1] ?? '').replace(/\r$/, '') } : d)),
      );
    }
  };
  const source = new SourceText(label, text);
  if (!undecidedSpans.length) {
    const diff = firstDifference(loads(source, 'does not load as a catalog'), built);
    if (diff) fail(`does not read back as the catalog built (at ${diff})`);
    return;
  }
  let value: unknown;
  try {
    value = parseYaml(source).value;
  } catch (e) {
    if (e instanceof CompileError) fail('is not YAML', e.diagnostics);
    throw e;
  }
  const diff = firstDifference(value, built);
  if (diff) fail(`does not read back as the catalog built (at ${diff})`);
  const rules = (built as { rules: { undecided?: unknown }[] }).rules;
  if (rules.every((r) => r.undecided)) return;
  const inSpan = (n: number) => undecidedSpans.some(([a, b]) => n >= a && n <= b);
  const kept: number[] = [];
  const lines = text.split('\n');
  lines.forEach((_, i) => {
    if (!inSpan(i + 1)) kept.push(i + 1);
  });
  const without = new SourceText(label, kept.map((n) => lines[n - 1]).join('\n'));
  const decided = { ...(built as object), rules: rules.filter((r) => !r.undecided) };
  const d2 = firstDifference(loads(without, 'does not load as a catalog, apart from its undecided rules', (n) => kept[n - 1] ?? n), decided);
  if (d2) fail(`does not read back as the catalog built, apart from its undecided rules (at ${d2})`);
}

function emitRule(r: RawRule): string[] {
  const out = [`  - id: ${flow(r.id)}`];
  const field = (k: string, v: unknown) => {
    if (v !== undefined) out.push(`    ${k}: ${flow(v)}`);
  };
  field('table', r.table);
  field('row', r.row);
  field('prose', r.prose);
  if (r.cells) {
    const cells = CELL_KEYS.filter((k) => r.cells![k] !== undefined);
    if (!cells.length) out.push('    cells: {}');
    else {
      out.push('    cells:');
      for (const k of cells) out.push(`      ${k}: ${quoted(r.cells[k]!)}`);
    }
  }
  field('service', r.service);
  field('description', r.description);
  field('ports', r.ports);
  field('transport', r.transport);
  field('icmp_types', r.icmp_types);
  field('from', r.from);
  field('to', r.to);
  field('feature', r.feature);
  field('anti_lockout', r.anti_lockout);
  field('note', r.note);
  if (r.undecided) {
    if (!r.undecided.length) out.push('    undecided: []');
    else {
      out.push('    undecided:');
      for (const u of r.undecided) out.push(`      - ${quoted(u)}`);
    }
  }
  return out;
}

/** The last stderr line of an import. */
export function importSummary(r: ImportResult, docPath: string, withBase: boolean): string {
  const counts = { new: 0, changed: 0, removed: 0, prose: 0 };
  for (const c of r.changes) counts[c.kind]++;
  const plural = (n: number, what: string) => `${n} ${what}${n === 1 ? '' : 's'}`;
  const parts = [
    `import: ${plural(r.rows, 'row')} from ${visibleLine(docPath)}`,
    `${plural(r.tablesRead, 'table')} read: ${r.tablesRead - r.tablesSkipped} imported, ${r.tablesSkipped} skipped`,
    `${plural(r.rowsRead, 'row')} in the imported tables: ${r.rows} imported, ${r.rowsSkipped} skipped`,
  ];
  if (withBase) parts.push(`${r.kept} kept from the base, ${counts.new} new, ${counts.changed} changed, ${counts.removed} removed`);
  parts.push(r.undecided ? `${r.undecided} undecided (marked 'undecided:'; validate rejects the catalog until they are decided)` : 'none undecided');
  return parts.join('; ');
}
