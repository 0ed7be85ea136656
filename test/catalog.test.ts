// The built-in catalog against the vendor document, checked independently of
// the compiler: the document's markdown tables are parsed here
// (test/helpers/markdown.ts) and the catalog YAML is read with plain js-yaml.
//
// - 57 table rows (8 + 41 + 4 + 3 + 1), each cited exactly once, with cells
//   equal to the document's, plus the one prose rule (dynamic ports).
// - Distinct flows. A flow is a distinct
//     (source group, destination group, transport, port-or-param)
//   after the documented interpretation (catalog/thoughtspot.yaml's header):
//   cells name groups ("Admin IP addresses and all nodes" is two sources),
//   T4's garbled outbound rows are nodes -> smtp_relay / ldap_server and the
//   file-transfer row is nodes -> file_transfer, T5 targets bmc, every
//   protocol is TCP, "25 or 587"/"389 or 636" are one param each, and the
//   prose's "20K+" is param dynamic_ports between nodes. Feature gates do
//   not matter for the count (every gated flow is a flow of the document).
//   The document yields 70 (row, source) flows; 4 repeat an earlier one
//   (4853 nodes->nodes twice in T2; admins->nodes 2101, 2201 and 4001 in
//   both T1 and T2), so there are 66 distinct flows.
// - The IR of the example profile keeps every enabled row (nothing lost,
//   nothing extra) and every enabled flow's port; 4853 appears once in the
//   merged port set but both of its rows are cited.

import * as fs from 'fs';
import * as path from 'path';
import * as yaml from 'js-yaml';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { compile } from '../src/index';
import type { IR } from '../src/index';
import { ROOT } from './helpers/cli';
import { MdTable, parseMarkdownTables } from './helpers/markdown';

// A copy of ../shared/seeds/network-ports.md is kept in fixtures/seeds so the
// test runs in a lone clone; when the shared original is present, it must be
// the same bytes.
const DOC = path.join(ROOT, 'fixtures', 'seeds', 'network-ports.md');
const SHARED_DOC = path.join(ROOT, '..', 'shared', 'seeds', 'network-ports.md');
const CATALOG = path.join(ROOT, 'catalog', 'thoughtspot.yaml');

const docText = fs.readFileSync(DOC, 'utf8');
const tables = parseMarkdownTables(docText);
const TABLE_IDS = ['T1', 'T2', 'T3', 'T4', 'T5'];

type GroupRef = string | { group: string; feature: string };
type PortItem = number | string | { param: string };
interface RawRule {
  id: string;
  table: string;
  row?: number;
  prose?: string;
  cells?: Record<string, string>;
  service?: string;
  ports: PortItem[];
  transport?: string;
  from: GroupRef[];
  to: GroupRef[];
  feature?: string;
  anti_lockout?: boolean;
}
interface RawCatalog {
  tables: Record<string, { heading: string; line?: number }>;
  groups: Record<string, { default?: string[] }>;
  features: Record<string, { default: boolean }>;
  params: Record<string, { default: string | number }>;
  rules: RawRule[];
}
const catalog = yaml.load(fs.readFileSync(CATALOG, 'utf8')) as RawCatalog;

const COLUMN: Record<string, string> = {
  Port: 'port',
  Protocol: 'protocol',
  'Service Name': 'service',
  Direction: 'direction',
  Source: 'source',
  Destination: 'destination',
  'Dest.': 'destination',
  Description: 'description',
};

function docRow(t: MdTable, cells: string[]): Record<string, string> {
  const o: Record<string, string> = {};
  t.columns.forEach((c, i) => {
    assert.ok(COLUMN[c], `unexpected column '${c}'`);
    o[COLUMN[c]] = cells[i];
  });
  return o;
}

const groupName = (g: GroupRef) => (typeof g === 'string' ? g : g.group);
const portKey = (p: PortItem) => (typeof p === 'object' ? `param:${p.param}` : `port:${Number(p)}`);

// ---- the documented interpretation, written from the document alone --------

const SOURCE_CELL: Record<string, string[]> = {
  'Administrators IP addresses': ['admins'],
  'Administrator IP addresses': ['admins'],
  'Admin IP addresses': ['admins'],
  'All users IP addresses': ['users'],
  'All nodes': ['nodes'],
  'ThoughtSpot Support': ['support'],
  'Admin IP addresses and all nodes': ['nodes', 'admins'],
  // T4's garbled outbound rows: the nodes send to the customer's server.
  'All nodes and SMTP relay (provided by customer)': ['nodes'],
  'All nodes and LDAP server (provided by customer)': ['nodes'],
};

function interpret(tableId: string, row: Record<string, string>): { from: string[]; to: string[]; ports: string[]; transport: string } {
  const from = SOURCE_CELL[row.source];
  assert.ok(from, `no interpretation for source '${row.source}'`);
  let to: string[];
  if (tableId === 'T5') to = ['bmc']; // IPMI is served by the nodes' BMCs
  else if (row.destination === '208.83.110.20') to = ['file_transfer'];
  else if (row.source.includes('SMTP relay')) to = ['smtp_relay'];
  else if (row.source.includes('LDAP server')) to = ['ldap_server'];
  else if (row.destination === 'All nodes') to = ['nodes'];
  else throw new Error(`no interpretation for destination '${row.destination}'`);
  const ports =
    row.port === '25 or 587' ? ['param:smtp_port'] : row.port === '389 or 636' ? ['param:ldap_port'] : /^\d+$/.test(row.port) ? [`port:${Number(row.port)}`] : [];
  assert.ok(ports.length, `no interpretation for port '${row.port}'`);
  return { from, to, ports, transport: 'tcp' };
}

const PROSE = 'The dynamic ports come from the range of Linux dynamically allocated ports (20K+).';

function flowKeys(from: string[], to: string[], transport: string, ports: string[]): string[] {
  return from.flatMap((f) => to.flatMap((t) => ports.map((p) => `${f} -> ${t} ${transport} ${p}`)));
}

// ----------------------------------------------------------------------------

test('the fixture copy of the document is the shared original, when present', () => {
  if (fs.existsSync(SHARED_DOC)) assert.is(docText, fs.readFileSync(SHARED_DOC, 'utf8'));
});

test('the document has five port tables of 8, 41, 4, 3 and 1 rows: 57', () => {
  assert.equal(
    tables.map((t) => t.rows.length),
    [8, 41, 4, 3, 1],
  );
  assert.is(
    tables.reduce((n, t) => n + t.rows.length, 0),
    57,
  );
});

test('the catalog declares T1..T5 with the headings and header lines of the document', () => {
  assert.equal(Object.keys(catalog.tables), TABLE_IDS);
  TABLE_IDS.forEach((id, i) => {
    assert.is(catalog.tables[id].heading, tables[i].heading, id);
    assert.is(catalog.tables[id].line, tables[i].line, `${id}: line of the header row`);
  });
});

test('exactly 57 row rules, per table 8+41+4+3+1, each document row cited exactly once', () => {
  const rowRules = catalog.rules.filter((r) => r.row !== undefined);
  assert.is(rowRules.length, 57);
  assert.equal(
    TABLE_IDS.map((id) => rowRules.filter((r) => r.table === id).length),
    [8, 41, 4, 3, 1],
  );
  const cited = rowRules.map((r) => `${r.table}.${r.row}`).sort();
  const expected = tables.flatMap((t, i) => t.rows.map((_, j) => `${TABLE_IDS[i]}.${j + 1}`)).sort();
  assert.equal(cited, expected);
  assert.is(new Set(catalog.rules.map((r) => r.id)).size, catalog.rules.length, 'rule ids are unique');
});

test("every row rule's cells equal the document row's cells", () => {
  for (const r of catalog.rules.filter((x) => x.row !== undefined)) {
    const t = tables[TABLE_IDS.indexOf(r.table)];
    const row = t.rows[r.row! - 1];
    assert.equal(r.cells, docRow(t, row.cells), `${r.id} (${r.table}.${r.row}, document line ${row.line})`);
  }
});

test('one prose rule: the dynamic-range sentence of the inter-cluster section, on param dynamic_ports', () => {
  const prose = catalog.rules.filter((r) => r.row === undefined);
  assert.is(prose.length, 1);
  const p = prose[0];
  assert.is(p.table, 'T2');
  assert.is(p.prose, PROSE);
  // The sentence is in the document, in the section of table T2.
  const at = docText.indexOf(PROSE);
  assert.ok(at > 0, 'sentence found in the document');
  const lineOfSentence = docText.slice(0, at).split('\n').length;
  const sectionStart = docText.split('\n').findIndex((l) => l === `## ${tables[1].heading}`) + 1;
  assert.ok(sectionStart > 0 && sectionStart < lineOfSentence && lineOfSentence < tables[1].line, 'in the T2 section, before its table');
  assert.equal(p.ports, [{ param: 'dynamic_ports' }]);
  assert.equal(p.from, ['nodes']);
  assert.equal(p.to, ['nodes']);
  assert.is(p.feature, undefined);
  assert.is(String(catalog.params.dynamic_ports.default), '20000-65535', '"20K+": 20000 up to the highest port');
});

test('every rule is TCP; the anti-lockout rule is T1.1 SSH from admins, ungated', () => {
  for (const r of catalog.rules) assert.is(r.transport ?? 'tcp', 'tcp', r.id);
  const guarded = catalog.rules.filter((r) => r.anti_lockout);
  assert.equal(
    guarded.map((r) => `${r.table}.${r.row}`),
    ['T1.1'],
  );
  assert.equal(guarded[0].ports, [22]);
  assert.equal(guarded[0].from, ['admins']);
  assert.is(guarded[0].feature, undefined);
});

test("each row rule's groups and ports are the document row under the documented interpretation", () => {
  for (const r of catalog.rules.filter((x) => x.row !== undefined)) {
    const t = tables[TABLE_IDS.indexOf(r.table)];
    const want = interpret(r.table, docRow(t, t.rows[r.row! - 1].cells));
    const where = `${r.id} (${r.table}.${r.row})`;
    assert.equal(r.from.map(groupName).sort(), [...want.from].sort(), `${where}: sources`);
    assert.equal(r.to.map(groupName).sort(), [...want.to].sort(), `${where}: destinations`);
    assert.equal(r.ports.map(portKey), want.ports, `${where}: ports`);
  }
});

test('distinct flows: 70 (row, source) flows, 66 distinct, the same set in the document and the catalog', () => {
  const docFlows: string[] = [];
  tables.forEach((t, i) =>
    t.rows.forEach((row) => {
      const f = interpret(TABLE_IDS[i], docRow(t, row.cells));
      docFlows.push(...flowKeys(f.from, f.to, f.transport, f.ports));
    }),
  );
  docFlows.push(...flowKeys(['nodes'], ['nodes'], 'tcp', ['param:dynamic_ports'])); // the prose rule
  const catFlows = catalog.rules.flatMap((r) => flowKeys(r.from.map(groupName), r.to.map(groupName), r.transport ?? 'tcp', r.ports.map(portKey)));

  assert.is(docFlows.length, 70);
  assert.is(catFlows.length, 70);
  const docSet = new Set(docFlows);
  const catSet = new Set(catFlows);
  assert.is(docSet.size, 66);
  assert.equal([...catSet].sort(), [...docSet].sort());

  // Which flows repeat, and why.
  const seen = new Set<string>();
  const repeats = catFlows.filter((f) => seen.has(f) || !seen.add(f)).sort();
  assert.equal(repeats, [
    'admins -> nodes tcp port:2101',
    'admins -> nodes tcp port:2201',
    'admins -> nodes tcp port:4001',
    'nodes -> nodes tcp port:4853',
  ]);

  // Per source and destination.
  const count = (prefix: string) => [...catSet].filter((f) => f.startsWith(prefix)).length;
  assert.is(count('admins -> nodes '), 15);
  assert.is(count('users -> nodes '), 2);
  assert.is(count('nodes -> nodes '), 41); // 40 distinct ports + dynamic_ports
  assert.is(count('support -> nodes '), 4);
  assert.is(count('nodes -> file_transfer '), 1);
  assert.is(count('nodes -> smtp_relay '), 1);
  assert.is(count('nodes -> ldap_server '), 1);
  assert.is(count('support -> bmc '), 1);
});

test('the quirks are handled as documented: 4853 twice, 4251 HTTP and RPC, SMTP/LDAP choices, file transfer default', () => {
  const byRef = new Map(catalog.rules.filter((r) => r.row).map((r) => [`${r.table}.${r.row}`, r]));
  assert.equal([byRef.get('T2.31')!.cells!.protocol, byRef.get('T2.32')!.cells!.protocol], ['RPC', 'HTTP']);
  assert.equal([byRef.get('T2.31')!.ports, byRef.get('T2.32')!.ports], [[4853], [4853]]);
  assert.equal([byRef.get('T1.8')!.cells!.protocol, byRef.get('T2.25')!.cells!.protocol], ['HTTP', 'RPC']);
  assert.equal(byRef.get('T4.2')!.ports, [{ param: 'smtp_port' }]);
  assert.equal(byRef.get('T4.3')!.ports, [{ param: 'ldap_port' }]);
  assert.equal(catalog.groups.file_transfer.default, ['208.83.110.20']);
  assert.is(byRef.get('T5.1')!.to[0], 'bmc');
});

// ---- the IR of the example profile ----------------------------------------

const example = { path: 'fixtures/profiles/example.yaml', text: fs.readFileSync(path.join(ROOT, 'fixtures', 'profiles', 'example.yaml'), 'utf8') };

function exampleIR(): IR {
  const r = compile({ profile: example, targets: ['nftables'] });
  if (!r.ok) throw new Error(JSON.stringify(r.diagnostics));
  return r.ir;
}

// What the example profile turns on (read from the profile itself, defaults from the catalog).
const exampleProfile = yaml.load(example.text) as { features: Record<string, boolean>; params: Record<string, string | number> };
const featureOn = (f?: string) => f === undefined || (exampleProfile.features[f] ?? catalog.features[f].default);

function portRange(p: PortItem): { lo: number; hi: number } {
  const spec = String(typeof p === 'object' ? exampleProfile.params[p.param] ?? catalog.params[p.param].default : p);
  const [lo, hi] = spec.split('-').map(Number);
  return { lo, hi: hi ?? lo };
}

test('example IR: the cited rows are exactly the enabled rows (nothing lost, nothing extra)', () => {
  const ir = exampleIR();
  const cited = new Set(ir.rules.flatMap((r) => r.provenance.map((p) => p.ref)));
  const enabled = catalog.rules.filter((r) => featureOn(r.feature)).map((r) => (r.row !== undefined ? `${r.table}.${r.row}` : `${r.table}.prose`));
  assert.equal([...cited].sort(), [...enabled].sort());
  // support and ipmi are off in the example: T3 and T5 are the only rows left out.
  assert.equal(
    catalog.rules.filter((r) => !featureOn(r.feature)).map((r) => `${r.table}.${r.row}`),
    ['T3.1', 'T3.2', 'T3.3', 'T3.4', 'T5.1'],
  );
  assert.is(enabled.length, 53);
});

test('example IR: every enabled flow is allowed by a rule that cites its row, in every family its group has', () => {
  const ir = exampleIR();
  const families = (group: string) => new Set(ir.sets.filter((s) => s.group === group).map((s) => s.family));
  for (const r of catalog.rules.filter((x) => featureOn(x.feature))) {
    for (const fromRef of r.from) {
      if (typeof fromRef === 'object' && !featureOn(fromRef.feature)) continue;
      const from = groupName(fromRef);
      for (const to of r.to.map(groupName)) {
        // The peer whose addresses the rule matches: the source for traffic into the nodes, else the destination.
        const peer = to === 'nodes' ? from : to;
        for (const fam of families(peer)) {
          const carrying = ir.rules.filter(
            (x) => x.sourceGroup === from && x.destinationGroup === to && x.family === fam && x.transport === 'tcp' && x.provenance.some((p) => p.ruleId === r.id),
          );
          const where = `${r.id}: ${from} -> ${to} (${fam})`;
          assert.ok(carrying.length > 0, `${where}: no IR rule cites it`);
          for (const p of r.ports.map(portRange))
            assert.ok(
              carrying.some((x) => x.ports.some((q) => q.lo <= p.lo && p.hi <= q.hi)),
              `${where}: ports ${p.lo}-${p.hi} not allowed`,
            );
        }
      }
    }
  }
});

test('example IR: 4853 appears once in the merged nodes port set, and both of its rows are cited', () => {
  const ir = exampleIR();
  const nodes = ir.rules.filter((r) => r.direction === 'ingress' && r.sourceGroup === 'nodes' && r.family === 'ipv4');
  assert.is(nodes.length, 1);
  const rule = nodes[0];
  assert.is(rule.ports.filter((p) => p.lo <= 4853 && 4853 <= p.hi).length, 1, 'one range holds 4853');
  // Ranges are merged: sorted, disjoint and not adjacent.
  for (let i = 1; i < rule.ports.length; i++) assert.ok(rule.ports[i - 1].hi + 1 < rule.ports[i].lo, 'merged ranges');
  const refs = rule.provenance.map((p) => p.ref);
  assert.ok(refs.includes('T2.31') && refs.includes('T2.32'), refs.join(' '));
  // Provenance is sorted by table then row, prose last, no duplicates.
  assert.is(refs.length, new Set(refs).size);
  assert.is(refs[refs.length - 1], 'T2.prose');
  // Admins see 4853 through T2.32 (HTTP, debug) only.
  const admins = ir.rules.find((r) => r.direction === 'ingress' && r.sourceGroup === 'admins' && r.family === 'ipv4')!;
  assert.ok(admins.provenance.some((p) => p.ref === 'T2.32'));
  assert.not.ok(admins.provenance.some((p) => p.ref === 'T2.31'));
  assert.is(admins.ports.filter((p) => p.lo <= 4853 && 4853 <= p.hi).length, 1);
});

test('example IR: 4251 is open to admins by T1.8 (HTTP) and to nodes by T2.25 (RPC)', () => {
  const ir = exampleIR();
  const rule = (g: string) => ir.rules.find((r) => r.direction === 'ingress' && r.sourceGroup === g && r.family === 'ipv4')!;
  assert.ok(rule('admins').provenance.some((p) => p.ref === 'T1.8'));
  assert.ok(rule('nodes').provenance.some((p) => p.ref === 'T2.25'));
  assert.ok(rule('admins').ports.some((p) => p.lo <= 4251 && 4251 <= p.hi));
  assert.ok(rule('nodes').ports.some((p) => p.lo <= 4251 && 4251 <= p.hi));
});

test('the compiled nftables output cites every row of every inbound rule (egress: allow emits no outbound rules)', () => {
  const r = compile({ profile: example, targets: ['nftables'] });
  assert.ok(r.ok);
  if (!r.ok) return;
  const text = r.files[0].content;
  const notes = new Set([...text.matchAll(/^\s*# (T\d\.(?:\d+|prose)) /gm)].map((m) => m[1]));
  const inbound = new Set(r.ir.rules.filter((x) => x.direction === 'ingress' && x.scope === 'host').flatMap((x) => x.provenance.map((p) => p.ref)));
  assert.is(inbound.size, 50, 'all enabled rows but the three outbound T4 rows');
  for (const ref of inbound) assert.ok(notes.has(ref), `${ref} has no '# ${ref}' line in the nftables output`);
  // And every accept rule carries a comment of at most 128 bytes.
  for (const line of text.split('\n').filter((l) => / accept( |$)/.test(l) && /dport/.test(l))) {
    const m = / comment "([^"]*)"$/.exec(line);
    assert.ok(m, `rule without a comment: ${line}`);
    assert.ok(Buffer.byteLength(m![1]) <= 128, `comment over 128 bytes: ${m![1]}`);
  }
});

test.run();
