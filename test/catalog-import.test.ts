// `portcullis catalog import`: the vendor document's tables -> catalog YAML.
//
// - Round trip: importing the document with --base catalog/thoughtspot.yaml
//   gives back the built-in catalog (same data, parsed), whose IR for the
//   example profile equals the built-in's, and `diff` finds no change.
// - A copy of the document with one row added and one removed: the import
//   lists exactly those two rows (with their lines), and the policy diff
//   shows exactly their flows.
// - Without a base, the rows the document leaves open (the garbled outbound
//   rows, the address destination, the port choices) are undecided, with
//   DOC:LINE:COL diagnostics, and `validate` rejects the output until they
//   are decided; a --map file decides unmapped phrases and port cells.
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import * as yaml from 'js-yaml';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { diffPolicies, isEmptyDiff } from '../src/analysis/diff';
import { importCatalog } from '../src/catalog-import';
import { readPhrase, readPortCell, readProtocolCell, readIcmpTypesCell, phraseTable } from '../src/catalog-import/phrases';
import { load } from '../src/compile';
import { fixture, ROOT, runCli } from './helpers/cli';
import { assertCaret, assertNoStack, parseDiagnostics } from './helpers/diagnostics';
import { parseMarkdownTables } from './helpers/markdown';

const DOC = path.join('fixtures', 'seeds', 'network-ports.md');
const SHARED_DOC = path.join(ROOT, '..', 'shared', 'seeds', 'network-ports.md');
const BUILTIN = path.join('catalog', 'thoughtspot.yaml');
const EXAMPLE = { path: 'fixtures/profiles/example.yaml', text: fs.readFileSync(fixture('profiles', 'example.yaml'), 'utf8') };
const docText = fs.readFileSync(path.join(ROOT, DOC), 'utf8');
const builtinText = fs.readFileSync(path.join(ROOT, BUILTIN), 'utf8');

function tmpDir(): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), 'pc-import-'));
}

function importCli(args: string[]) {
  const r = runCli(['catalog', 'import', ...args]);
  assertNoStack(r.stderr);
  return r;
}

/** stderr lines listing rows: "new ...", "changed ...", "removed ...". */
function changeLines(stderr: string): string[] {
  return stderr.split('\n').filter((l) => /^(new|changed|removed|prose) /.test(l));
}

test('round trip: the document with --base the built-in catalog gives back the built-in catalog', () => {
  for (const doc of [DOC, ...(fs.existsSync(SHARED_DOC) ? [SHARED_DOC] : [])]) {
    const out = path.join(tmpDir(), 'thoughtspot.yaml');
    const r = importCli([doc, '--base', BUILTIN, '-o', out]);
    assert.is(r.code, 0, r.stderr);
    assert.is(r.stdout, '');
    assert.equal(changeLines(r.stderr), [], 'nothing new, changed or removed');
    assert.match(r.stderr, /57 rows .*57 kept from the base, 0 new, 0 changed, 0 removed; none undecided/);
    const text = fs.readFileSync(out, 'utf8');
    assert.equal(yaml.load(text), yaml.load(builtinText), 'the same catalog data');
    // Its IR for the example profile is the built-in's, rule for rule.
    const mine = load({ profile: EXAMPLE, catalog: { path: out, text } });
    const theirs = load({ profile: EXAMPLE });
    assert.equal(mine.ir.rules, theirs.ir.rules);
    assert.equal(mine.ir, theirs.ir);
    assert.ok(isEmptyDiff(diffPolicies(theirs, mine)));
    // And `validate` accepts it.
    const v = runCli(['validate', '--profile', EXAMPLE.path, '--catalog', out]);
    assert.is(v.code, 0, v.stderr);
  }
});

function changedDocument(): { text: string; added: number; removedBaseLine: number } {
  const lines = docText.split('\n');
  const t1Last = lines.findIndex((l) => l.startsWith('|4251|HTTP|Sage master HTTP|'));
  const diamond = lines.findIndex((l) => l.startsWith('|4405|RPC|Diamond (graphite) port|'));
  assert.ok(t1Last > 0 && diamond > t1Last, 'test setup');
  const out = [...lines];
  out.splice(diamond, 1);
  out.splice(t1Last + 1, 0, '|9443|HTTPS|Admin console|bidirectional|Administrators IP addresses|All nodes|Web console for administrators.|');
  return { text: out.join('\n'), added: t1Last + 2, removedBaseLine: diamond + 1 };
}

test('changed document: one row added, one removed: exactly those two are listed, and the policy diff is exactly their flows', () => {
  const { text, added, removedBaseLine } = changedDocument();
  const dir = tmpDir();
  const doc = path.join(dir, 'network-ports.md');
  fs.writeFileSync(doc, text);
  const out = path.join(dir, 'new.yaml');
  const r = importCli([doc, '--base', BUILTIN, '-o', out]);
  assert.is(r.code, 0, r.stderr);
  const listed = changeLines(r.stderr);
  assert.is(listed.length, 2, r.stderr);
  assert.match(listed[0], new RegExp(`^new +${doc.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}:${added}: T1 row 9: 9443 "Admin console" \\(rule ops-admin-console\\)$`));
  assert.match(listed[1], new RegExp(`^removed +T2 row 26 \\(line ${removedBaseLine} of the base's document\\): 4405 "Diamond \\(graphite\\) port" \\(rule ic-diamond\\)`));
  assert.match(r.stderr, /56 kept from the base, 1 new, 0 changed, 1 removed; none undecided/);

  // The new row was read afresh: admins -> nodes on 9443/tcp, always on.
  const cat = yaml.load(fs.readFileSync(out, 'utf8')) as { rules: Record<string, unknown>[]; tables: Record<string, { line: number }> };
  const rule = cat.rules.find((x) => x.id === 'ops-admin-console')!;
  assert.equal([rule.table, rule.row, rule.ports, rule.from, rule.to, rule.transport, rule.feature], ['T1', 9, [9443], ['admins'], ['nodes'], 'tcp', undefined]);
  // Later rows keep their decisions with new row numbers and table lines.
  const tables = parseMarkdownTables(text);
  assert.equal(Object.values(cat.tables).map((t) => t.line), tables.map((t) => t.line));
  assert.equal(cat.rules.find((x) => x.id === 'ic-trace-vault-rpc')!.row, 26);

  // The policy diff for the example profile: exactly 9443 opened from the admins, 4405 closed between the nodes.
  const before = load({ profile: EXAMPLE });
  const after = load({ profile: EXAMPLE, catalog: { path: out, text: fs.readFileSync(out, 'utf8') } });
  const d = diffPolicies(before, after);
  assert.equal(
    d.opened.map((c) => [c.direction, c.ports, c.sources, c.rows.map((x) => x.ref)]),
    [
      ['ingress', ['9443'], ['198.51.100.0/24'], ['T1.9']],
      ['ingress', ['9443'], ['2001:db8:ad::/48'], ['T1.9']],
    ],
  );
  assert.equal(
    d.closed.map((c) => [c.direction, c.ports, c.rows.map((x) => x.ref)]),
    [['ingress', ['4405'], ['T2.26']]],
  );
  // The CLI says the same.
  const cli = runCli(['diff', EXAMPLE.path, EXAMPLE.path, '--new-catalog', out, '--format', 'json']);
  assert.is(cli.code, 1);
  assert.equal(JSON.parse(cli.stdout), JSON.parse(JSON.stringify(d)));
});

test('changed cells: the matched row is read afresh, keeps its id, is listed as changed, and its note says what was decided before', () => {
  const text = docText.replace('|2101|HTTP|Oreo HTTP port|bidirectional|Admin IP addresses and all nodes|All nodes|Node daemon HTTP|', '|2101|HTTP|Oreo HTTP port|bidirectional|Admin IP addresses and all nodes|All nodes|Node daemon HTTP (debugging)|');
  assert.is.not(text, docText);
  const r = importCatalog({ doc: { path: 'doc.md', text }, base: { path: BUILTIN, text: builtinText } });
  assert.equal(
    r.changes.map((c) => [c.kind, c.ruleId, c.table, c.row]),
    [['changed', 'ic-oreo-http', 'T2', 4]],
  );
  assert.match(r.changes[0].text, /^changed +doc\.md:\d+: T2 row 4: 2101 "Oreo HTTP port" \(rule ic-oreo-http\): Description changed; read afresh$/);
  const rule = (yaml.load(r.yaml) as { rules: Record<string, unknown>[] }).rules.find((x) => x.id === 'ic-oreo-http')!;
  // Afresh: both phrases as plain groups (the base gated admins by feature debug).
  assert.equal(rule.from, ['admins', 'nodes']);
  assert.match(String(rule.note), /^Re-read from the document: Description changed since the base \(base rule: ports \[2101\], from \[nodes, \{ group: admins, feature: debug \}\]/);
  assert.is(r.undecided, 0);
});

test('without a base: the document leaves three rows undecided, each reason a DOC:LINE:COL diagnostic; validate rejects the output', () => {
  const dir = tmpDir();
  const out = path.join(dir, 'fresh.yaml');
  const r = importCli([DOC, '-o', out]);
  assert.is(r.code, 2, r.stderr);
  const ds = parseDiagnostics(r.stderr);
  const lines = docText.split('\n');
  const at = (rowStart: string, needle: string, nth = 0) => {
    const i = lines.findIndex((l) => l.startsWith(rowStart));
    let col = -1;
    for (let k = 0; k <= nth; k++) col = lines[i].indexOf(needle, col + 1);
    return [i + 1, col + 1];
  };
  assert.equal(
    ds.map((d) => [d.line, d.col]),
    [
      at('|443|HTTPS|HTTPS|outbound|', '208.83.110.20'),
      at('|25 or 587|', '25 or 587'),
      at('|25 or 587|', '|All nodes|', 0).map((n, j) => (j ? n + 1 : n)),
      at('|389 or 636|', '389 or 636'),
      at('|389 or 636|', '|All nodes|', 0).map((n, j) => (j ? n + 1 : n)),
    ],
  );
  for (const d of ds) {
    assert.is(d.file, DOC);
    assert.is(d.level, 'error');
    assertCaret(d, DOC);
    assert.ok(d.hint, 'a hint');
  }
  assert.match(ds[0].message, /^T4 row 1, Destination '208\.83\.110\.20': '208\.83\.110\.20' is an address, not a group; row left undecided$/);
  assert.match(ds[1].message, /^T4 row 2, Port '25 or 587': a choice of one port, not two open ports; row left undecided$/);
  assert.match(ds[2].message, /^T4 row 2, Destination 'All nodes': an outbound row whose destination is the nodes themselves; the row must be reinterpreted/);
  assert.match(r.stderr, /57 rows from .*; 3 undecided/);

  const cat = yaml.load(fs.readFileSync(out, 'utf8')) as { rules: Record<string, any>[] };
  assert.is(cat.rules.length, 57);
  assert.equal(
    cat.rules.filter((x) => x.undecided).map((x) => `${x.table}.${x.row}`),
    ['T4.1', 'T4.2', 'T4.3'],
  );
  // Every other row reads as the built-in catalog decided it, except its
  // documented judgement calls: IPMI goes to the BMCs (T5.1).
  const builtin = yaml.load(builtinText) as { rules: Record<string, any>[] };
  const groups = (l: (string | { group: string })[]) => l.map((g) => (typeof g === 'string' ? g : g.group)).sort();
  const differs = cat.rules
    .filter((x) => !x.undecided)
    .filter((x) => {
      const b = builtin.rules.find((y) => y.table === x.table && y.row === x.row)!;
      return JSON.stringify([groups(x.from), groups(x.to), x.ports, x.transport]) !== JSON.stringify([groups(b.from), groups(b.to), b.ports, b.transport]);
    })
    .map((x) => `${x.table}.${x.row}`);
  assert.equal(differs, ['T5.1']);

  const v = runCli(['validate', '--profile', EXAMPLE.path, '--catalog', out]);
  assert.is(v.code, 2);
  const vd = parseDiagnostics(v.stderr).filter((d) => /unknown key 'undecided'/.test(d.message));
  assert.is(vd.length, 3, v.stderr);
});

test("unmapped phrases and unreadable ports: DOC:LINE:COL at the cell (the phrase's own column in a compound cell); a --map decides them", () => {
  const doc = path.join('fixtures', 'import', 'unreadable.md');
  const lines = fs.readFileSync(path.join(ROOT, doc), 'utf8').split('\n');
  const pos = (needle: string, inLine: string) => {
    const i = lines.findIndex((l) => l.includes(inLine));
    return [i + 1, lines[i].indexOf(needle) + 1];
  };
  const dir = tmpDir();
  const out = path.join(dir, 'mon.yaml');
  const r = importCli([doc, '-o', out]);
  assert.is(r.code, 2, r.stderr);
  const all = parseDiagnostics(r.stderr);
  // The table without a port column is reported, not dropped silently.
  const skipped = all.filter((d) => d.level === 'warning');
  assert.equal(skipped.map((d) => [d.line, d.col, d.message]), [[lines.indexOf('|Name|Value|') + 1, 1, "table skipped: no port column (columns: Name, Value) (under 'Not a port table'); 1 row not imported"]]);
  assert.match(r.stderr, /5 rows from .*; 2 tables read: 1 imported, 1 skipped; 5 rows in the imported tables: 5 imported, 0 skipped; 4 undecided/);
  const ds = all.filter((d) => d.level === 'error');
  assert.equal(
    ds.map((d) => [d.line, d.col]),
    [
      pos('Monitoring hosts', '|9100|'),
      pos('20K+', '|20K+|'),
      pos('25 or 587', '|25 or 587|'),
      pos('Mail relay', '|25 or 587|'),
      pos('monitoring hosts|', '|9200-9210|'),
    ],
  );
  ds.forEach((d) => assertCaret(d, doc));
  assert.match(ds[0].message, /^T1 row 1, Source 'Monitoring hosts': no group for the phrase 'Monitoring hosts'/);
  assert.match(ds[0].hint!, /groups: \{ "Monitoring hosts": GROUP \}/);
  assert.match(ds[1].message, /^T1 row 2, Port '20K\+': cannot read the port: an open-ended range/);
  assert.match(ds[2].message, /a choice of one port, not two open ports/);
  assert.match(ds[4].message, /^T1 row 4, Source 'Admin IP addresses and monitoring hosts': no group for the phrase 'monitoring hosts'/);
  // The table without a port column is not imported; the undecided rows are marked.
  const cat = yaml.load(fs.readFileSync(out, 'utf8')) as { tables: object; rules: Record<string, any>[] };
  assert.equal(Object.keys(cat.tables), ['T1']);
  assert.equal(cat.rules.map((x) => !!x.undecided), [true, true, true, true, false]);
  assert.match(cat.rules[0].undecided[0], new RegExp(`^${doc.replace(/[.]/g, '\\.')}:${ds[0].line}:${ds[0].col}: `));

  const profile = path.join(dir, 'p.yaml');
  fs.writeFileSync(profile, 'environment: mon\ngroups:\n  admins: [10.1.0.0/24]\n  nodes: [10.20.0.11]\n  monitoring: [10.5.0.0/24]\n  smtp_relay: [10.20.1.25]\n');
  assert.is(runCli(['validate', '--profile', profile, '--catalog', out]).code, 2, 'validate rejects undecided rows');

  const decided = path.join(dir, 'mon-decided.yaml');
  const m = importCli([doc, '--map', path.join('fixtures', 'import', 'unreadable-map.yaml'), '-o', decided]);
  assert.is(m.code, 0, m.stderr);
  assert.equal(parseDiagnostics(m.stderr).map((d) => d.message), [skipped[0].message], 'only the skipped table is reported');
  const dc = yaml.load(fs.readFileSync(decided, 'utf8')) as { rules: Record<string, any>[]; params: object };
  assert.equal(
    dc.rules.map((x) => [x.ports, x.from, x.to]),
    [
      [[9100], ['monitoring'], ['nodes']],
      [[{ param: 'agent_ports' }], ['nodes'], ['nodes']],
      [[{ param: 'smtp_port' }], ['nodes'], ['smtp_relay']],
      [['9200-9210'], ['admins', 'monitoring'], ['nodes']],
      [[22], ['admins'], ['nodes']],
    ],
  );
  assert.equal(Object.keys(dc.params), ['smtp_port', 'agent_ports']);
  const v = runCli(['validate', '--profile', profile, '--catalog', decided]);
  assert.is(v.code, 0, v.stderr);
});

test('a --map binds an address phrase to a group (its default) and a choice to a param: the fresh import then leaves only the garbled rows', () => {
  const map = 'groups:\n  "208.83.110.20": file_transfer\nports:\n  "25 or 587": smtp_port\n  "389 or 636": ldap_port\nparams:\n  smtp_port: { kind: port, choices: [25, 587], default: 587 }\n  ldap_port: { kind: port, choices: [389, 636], default: 636 }\n';
  const r = importCatalog({ doc: { path: DOC, text: docText }, map: { path: 'map.yaml', text: map } });
  assert.is(r.undecided, 2);
  assert.equal(
    r.diagnostics.map((d) => d.message.replace(/:.*/, '')),
    ['T4 row 2, Destination \'All nodes\'', 'T4 row 3, Destination \'All nodes\''],
  );
  const cat = yaml.load(r.yaml) as { groups: Record<string, { default?: string[] }>; rules: Record<string, any>[] };
  assert.equal(cat.groups.file_transfer.default, ['208.83.110.20']);
  assert.equal(cat.rules.find((x) => x.table === 'T4' && x.row === 1)!.to, ['file_transfer']);
});

test('bad input exits 2 and writes nothing: a missing document, an invalid base, an invalid map', () => {
  const dir = tmpDir();
  const out = path.join(dir, 'out.yaml');
  const missing = importCli([path.join(dir, 'nope.md'), '-o', out]);
  assert.is(missing.code, 2);
  assert.match(missing.stderr, /nope\.md: error: cannot read file: no such file/);
  const badBase = importCli([DOC, '--base', path.join('fixtures', 'catalogs', 'bad', 'unknown-group.yaml'), '-o', out]);
  assert.is(badBase.code, 2);
  assert.match(badBase.stderr, /unknown-group\.yaml:\d+:\d+: error: /);
  const mapFile = path.join(dir, 'map.yaml');
  fs.writeFileSync(mapFile, 'groups:\n  "Monitoring hosts": Not-A-Group\nphrases: {}\n');
  const badMap = importCli([DOC, '--map', mapFile, '-o', out]);
  assert.is(badMap.code, 2);
  const ds = parseDiagnostics(badMap.stderr);
  assert.equal(ds.map((d) => [d.line, d.col]), [[2, 23], [3, 1]]);
  assert.match(ds[1].message, /unknown key 'phrases'/);
  assert.not.ok(fs.existsSync(out), 'nothing written');
  assert.equal(fs.readdirSync(dir), ['map.yaml']);
});

test('cell readers: ports, choices, phrases', () => {
  assert.equal(readPortCell('22'), { kind: 'ports', ranges: [{ lo: 22, hi: 22 }] });
  assert.equal(readPortCell(' 8000 - 8010 '), { kind: 'ports', ranges: [{ lo: 8000, hi: 8010 }] });
  assert.equal(readPortCell('25 or 587'), { kind: 'choice', choices: [25, 587] });
  assert.equal(readPortCell('25, 465 or 587'), { kind: 'choice', choices: [25, 465, 587] });
  for (const bad of ['20K+', '0', '70000', '', '443/tcp', '10-5', '80, 70000', 'dynamic']) assert.is(readPortCell(bad).kind, 'unreadable', bad);
  // Lists, <br> lists, spaced ranges and footnote marks, as pages write them.
  const ports = (cell: string) => {
    const r = readPortCell(cell);
    return r.kind === 'ports' ? r.ranges.map((x) => (x.lo === x.hi ? `${x.lo}` : `${x.lo}-${x.hi}`)) : r.kind;
  };
  assert.equal(ports('12202, 13301, 9200'), ['12202', '13301', '9200']);
  assert.equal(ports('20123 - 32768'), ['20123-32768']);
  assert.equal(ports('8472†'), ['8472']);
  assert.equal(ports('10250\\*'), ['10250']);
  assert.equal(ports('2379-2380*'), ['2379-2380']);
  assert.equal(ports('80<br>443<br/>8443'), ['80', '443', '8443']);
  assert.equal(ports('`6443`<sup>1</sup>'), ['6443']);
  assert.equal(ports('30000&ndash;32767'), ['30000-32767']);
  const t = phraseTable();
  assert.equal(readPhrase('Admin IP addresses and all nodes', t).groups, ['admins', 'nodes']);
  assert.equal(readPhrase('  ALL   nodes ', t).groups, ['nodes']);
  const r = readPhrase('All nodes and Monitoring hosts', t);
  assert.equal([r.groups, r.unmapped], [['nodes'], [{ text: 'Monitoring hosts', offset: 14 }]]);
  assert.equal(readPhrase('208.83.110.20', t).addresses.map((a) => a.text), ['208.83.110.20']);
});

test('protocol cells: read, never assumed; each transport portcullis compiles is read, a list is a list, unknown and uncompilable protocols are not tcp', () => {
  const kind = (cell: string) => {
    const r = readProtocolCell(cell);
    return r.kind === 'ok' ? r.transports.join('+') : r.kind === 'unsupported' ? `unsupported ${r.name}` : r.kind;
  };
  const cases: [string, string][] = [
    ['TCP', 'tcp'], ['HTTP', 'tcp'], ['RPC', 'tcp'], ['Mem-cached', 'tcp'], ['Postgres', 'tcp'], ['HTTPS (TCP)', 'tcp'], ['tcp/ip', 'tcp'],
    ['UDP', 'udp'], ['udp*', 'udp'], ['NTP', 'udp'], ['VXLAN', 'udp'], ['WireGuard', 'udp'], ['IPMI', 'udp'], ['SNMP/UDP', 'udp'],
    ['TCP/UDP', 'tcp+udp'], ['TCP / UDP', 'tcp+udp'], ['(TCP and UDP)', 'tcp+udp'], ['TCP and UDP', 'tcp+udp'], ['TCP, UDP', 'tcp+udp'], ['Both', 'tcp+udp'], ['TCP<br>UDP', 'tcp+udp'], ['UDP/TCP', 'tcp+udp'],
    ['SCTP', 'sctp'], ['ICMP', 'icmp'], ['ICMPv4', 'icmp'], ['ICMPv6', 'icmpv6'], ['IPv6-ICMP', 'icmpv6'], ['ICMP/ICMPv6', 'icmp+icmpv6'], ['Ping', 'icmp'],
    ['ESP', 'esp'], ['IPsec ESP', 'esp'], ['AH', 'ah'], ['GRE', 'gre'], ['VRRP', 'vrrp'], ['IPIP', 'ipip'], ['IP-in-IP', 'ipip'], ['IPENCAP', 'ipip'],
    ['IP protocol 50', 'esp'], ['Protocol 51', 'ah'], ['IP proto 47', 'gre'], ['IP protocol 112', 'vrrp'], ['UDP, ESP', 'udp+esp'], ['UDP 500 / ESP', 'udp+esp'],
    ['IP protocol 89', 'unsupported IP protocol 89'], ['OSPF', 'unsupported OSPF'], ['IGMP', 'unsupported IGMP'], ['IPsec', 'unsupported IPSEC'],
    ['Gossip', 'unknown'], ['', 'unknown'], ['TBD', 'unknown'], ['50', 'unknown'], ['TCP/Gossip', 'unknown'],
  ];
  assert.equal(cases.map(([c]) => [c, kind(c)]), cases);
});

test('ICMP Port cells: types by number or name, any type for a dash or an empty cell; unknown items reported', () => {
  assert.equal(readIcmpTypesCell('0, 8', ['icmp']), { types: [0, 8], unknown: [] });
  assert.equal(readIcmpTypesCell('echo-request', ['icmp', 'icmpv6']), { types: ['echo-request'], unknown: [] });
  assert.equal(readIcmpTypesCell('Echo Request<br>Destination Unreachable', ['icmp']), { types: ['echo-request', 'destination-unreachable'], unknown: [] });
  assert.equal(readIcmpTypesCell('8 (echo request)', ['icmp']), { types: [8], unknown: [] });
  for (const any of ['-', '', 'any', 'N/A', 'All']) assert.equal(readIcmpTypesCell(any, ['icmp']), { unknown: [] }, any);
  assert.equal(readIcmpTypesCell('8, pong-ish, 300', ['icmp']), { types: [8], unknown: ['pong-ish', '300'] });
  assert.equal(readIcmpTypesCell('timestamp-request', ['icmp', 'icmpv6']), { types: [], unknown: ['timestamp-request'] });
});

test('every transport imports decided, and the YAML written loads with the catalog loader and compiles', () => {
  const dir = tmpDir();
  const doc = path.join(dir, 'transports.md');
  fs.writeFileSync(
    doc,
    [
      '# Ports',
      '',
      '| Port | Protocol | Service | Source | Destination |',
      '|---|---|---|---|---|',
      '| 22 | TCP | SSH | Administrators IP addresses | All nodes |',
      '| 53 | TCP/UDP | DNS | All nodes | All nodes |',
      '| 8301 | TCP and UDP | Serf | All nodes | All nodes |',
      '| 9899 | SCTP | Diameter | All nodes | All nodes |',
      '| 0, 8 | ICMP | Ping | Administrators IP addresses | All nodes |',
      '| echo-request | ICMPv6 | Ping6 | Administrators IP addresses | All nodes |',
      '| - | ICMP | All ICMP | Administrators IP addresses | All nodes |',
      '| 500, 4500 | UDP, ESP | IPsec | All nodes | All nodes |',
      '| - | IP protocol 50 | ESP | All nodes | All nodes |',
      '| - | AH | AH | All nodes | All nodes |',
      '| - | GRE | GRE | All nodes | All nodes |',
      '| - | VRRP | VRRP | All nodes | All nodes |',
      '| 4 | IPIP | IP-in-IP | All nodes | All nodes |',
      '',
    ].join('\n'),
  );
  const out = path.join(dir, 'catalog.yaml');
  const r = importCli([doc, '-o', out]);
  assert.is(r.code, 0, r.stderr);
  assert.match(r.stderr, /13 rows .*none undecided/);
  const text = fs.readFileSync(out, 'utf8');
  const { loadCatalog } = require('../src/load/catalog') as typeof import('../src/load/catalog');
  const { SourceText } = require('../src/diagnostics') as typeof import('../src/diagnostics');
  const cat = loadCatalog(new SourceText(out, text));
  assert.equal(
    cat.rules.map((x) => [x.row, x.transports, x.ports.map((p) => (p.kind === 'range' ? `${p.range.lo}-${p.range.hi}` : p.param)), x.icmpTypes]),
    [
      [1, ['tcp'], ['22-22'], {}],
      [2, ['tcp', 'udp'], ['53-53'], {}],
      [3, ['tcp', 'udp'], ['8301-8301'], {}],
      [4, ['sctp'], ['9899-9899'], {}],
      [5, ['icmp'], [], { icmp: [0, 8] }],
      [6, ['icmpv6'], [], { icmpv6: [128] }],
      [7, ['icmp'], [], {}],
      [8, ['udp', 'esp'], ['500-500', '4500-4500'], {}],
      [9, ['esp'], [], {}],
      [10, ['ah'], [], {}],
      [11, ['gre'], [], {}],
      [12, ['vrrp'], [], {}],
      [13, ['ipip'], [], {}],
    ],
  );
  // It compiles with a profile, every transport becomes IR rules.
  const profile = path.join(dir, 'profile.yaml');
  fs.writeFileSync(profile, 'environment: t\ngroups:\n  admins: [198.51.100.0/24]\n  nodes: [10.0.0.1, 10.0.0.2]\n');
  const loaded = load({ profile: { path: profile, text: fs.readFileSync(profile, 'utf8') }, catalog: { path: out, text } });
  assert.equal([...new Set(loaded.ir.rules.map((x) => x.transport))].sort(), ['ah', 'esp', 'gre', 'icmp', 'ipip', 'sctp', 'tcp', 'udp', 'vrrp']);
  assert.is(runCli(['validate', '--profile', profile, '--catalog', out]).code, 0);
});

test('table shapes of real port pages: every table imported or reported, every row decided, undecided or skipped, never a silent tcp', () => {
  const doc = path.join('fixtures', 'import', 'shapes.md');
  const lines = fs.readFileSync(path.join(ROOT, doc), 'utf8').split('\n');
  const lineOf = (needle: string) => lines.findIndex((l) => l.includes(needle)) + 1;
  const out = path.join(tmpDir(), 'shapes.yaml');
  const r = importCli([doc, '-o', out]);
  assert.is(r.code, 2, 'undecided rows remain');
  const ds = parseDiagnostics(r.stderr);
  // Tables skipped, each said so at its header line.
  const skipped = ds.filter((d) => /^table skipped: /.test(d.message)).map((d) => [d.line, d.message.replace(/ \(under .*$/, '')]);
  assert.equal(skipped, [
    [lineOf('| Port | Protocol | Purpose |'), "table skipped: its heading 'Ports bound to localhost only' says the ports are local to the host (loopback): never opened on the network"],
    [lineOf('| Port | Protocol | Purpose | Source | Destination |'), 'table skipped: inside an HTML comment (the page does not show it)'],
    [lineOf('| Port | Protocol | Source | Destination |'), 'table skipped: inside an HTML comment (the page does not show it)'],
    [lineOf('| Component | Version |'), 'table skipped: no port column (columns: Component, Version)'],
  ]);
  assert.match(r.stderr, /import: 26 rows from .*shapes\.md; 7 tables read: 3 imported, 4 skipped; 27 rows in the imported tables: 26 imported, 1 skipped; 8 undecided/);
  const loopRow = ds.find((d) => /row 6 skipped/.test(d.message))!;
  assert.equal([loopRow.line, loopRow.level], [lineOf('9099 | TCP'), 'warning']);
  assert.match(loopRow.message, /Source 'localhost' is the host's loopback/);

  const cat = yaml.load(fs.readFileSync(out, 'utf8')) as { tables: Record<string, { heading: string }>; rules: Record<string, any>[] };
  // Setext headings name the tables; the comment-hidden and loopback tables are not there.
  assert.equal(Object.values(cat.tables).map((t) => t.heading), ['Server ports', 'Agent ports', 'UDP ports used by the agents']);
  const got = cat.rules.map(
    (x) => `${x.table} row ${x.row}: ${x.ports ? JSON.stringify(x.ports) : 'no ports'} ${x.transport === undefined ? '-' : JSON.stringify(x.transport)}${x.icmp_types ? ` types ${JSON.stringify(x.icmp_types)}` : ''} ${x.service ?? x.cells.service}${x.undecided ? ' UNDECIDED' : ''}`,
  );
  assert.equal(got, [
    'T1 row 1: [6443] "tcp" Kubernetes API',
    'T1 row 2: ["2379-2380"] "tcp" etcd',
    'T1 row 3: [8472] "udp" VXLAN overlay',
    'T1 row 4: [10250,10255,10256] "tcp" kubelet',
    'T1 row 5: [51820] "udp" WireGuard',
    'T1 row 7: [123] "udp" time',
    'T1 row 8: [53] ["tcp","udp"] DNS',
    'T1 row 9: no ports "icmp" ping',
    'T1 row 10: no ports "esp" IPsec',
    'T1 row 11: [7946] - memberlist UNDECIDED',
    'T1 row 12: no ports "icmp" types [0,8] echo and replies',
    'T1 row 13: no ports "icmpv6" types ["echo-request"] ping6',
    'T1 row 14: [9899] "sctp" diameter',
    'T1 row 15: no ports "gre" tunnels',
    'T1 row 16: no ports "vrrp" keepalived',
    'T1 row 17: no ports "ah" IPsec AH',
    'T1 row 18: [8301] ["tcp","udp"] serf',
    'T1 row 19: no ports "ipip" calico ipip',
    'T1 row 20: no ports - routing UNDECIDED',
    'T1 row 21: no ports "esp" IKE UNDECIDED',
    'T1 row 22: no ports "icmp" clock probe UNDECIDED',
    'T2 row 1: ["30000-32767"] - NodePort services UNDECIDED',
    'T2 row 2: [9100] - node exporter UNDECIDED',
    'T2 row 3: [4789] - VXLAN (optional) UNDECIDED',
    'T3 row 1: [8125] "udp" statsd',
    'T3 row 2: [8126] "udp" dogstatsd UNDECIDED',
  ]);

  const why = (row: string) => cat.rules.find((x) => `${x.table} row ${x.row}` === row)!.undecided.map((u: string) => u.replace(/^[^:]+:\d+:\d+: /, ''));
  // Portless and ICMP rows: the Port cell is the protocol number, a dash, or the types.
  const rule = (row: string) => cat.rules.find((x) => `${x.table} row ${x.row}` === row)!;
  assert.match(rule('T1 row 10').note, /Port "50" is ESP's IP protocol number, not a port/);
  assert.match(rule('T1 row 9').note, /every ICMP type/);
  assert.equal(why('T1 row 20'), ["T1 row 20, Protocol 'OSPF': OSPF is not a transport portcullis compiles"]);
  assert.equal(why('T1 row 21'), ["T1 row 21, Port '500': ESP has no ports"]);
  assert.equal(why('T1 row 22'), ["T1 row 22, Port 'timestamp': 'timestamp' is not an ICMP type"]);
  const osf = ds.find((d) => /T1 row 20, Protocol 'OSPF'/.test(d.message))!;
  assert.equal([osf.line, osf.col], [lineOf('| OSPF |'), '- | '.length + 1]);
  assert.match(why('T1 row 11')[0], /Protocol 'Gossip': not a transport or a protocol the importer knows/);
  assert.equal(why('T2 row 2').length, 2);
  assert.match(why('T2 row 2')[1], /marked 'No' \(not mandatory\)/);
  assert.match(why('T2 row 3')[1], /its description makes it optional or conditional/);
  // A <br> list of phrases reads as two groups; a host name is not a group.
  const dog = cat.rules.find((x) => x.table === 'T3' && x.row === 2)!;
  assert.equal(dog.from, ['nodes', 'admins']);
  assert.equal(why('T3 row 2'), ["T3 row 2, Destination '*.intake.example.com': '*.intake.example.com' is a host name, not a group; a firewall matches addresses"]);
  for (const d of ds.filter((x) => x.level === 'error')) assertCaret(d, doc);
});

test.run();
