// The rke2 catalog (catalog/rke2.yaml) against the page it transcribes,
// fixtures/import/real/rke2-requirements.md, checked independently of the
// compiler: the page's "Networking" part is read by a small markdown table
// reader of this file's own (not the importer's, not test/helpers/markdown),
// and the catalog YAML with plain js-yaml. Then the compiled policy of each
// host role (load(), one IR per role) is checked for what the page says the
// servers and the agents must accept.
//
// The interpretation written here, from the page alone (the catalog's header
// states the same):
// - "All RKE2 nodes" is group nodes (servers and agents), "RKE2 server
//   nodes" group servers;
// - "TCP" is tcp, "UDP" udp; "ICMP" with "0, 8 *" is ICMP types 0 and 8
//   (echo-reply, echo-request; the footnote), no ports, plus ICMPv6's echo
//   pair for dual-stack clusters;
// - each CNI tab is a feature named after it (canal, cilium, calico,
//   flannel), the Windows table feature windows, the first table ungated;
//   a "with WireGuard" row also needs feature <cni>_wireguard.

import * as fs from 'fs';
import * as path from 'path';
import * as yaml from 'js-yaml';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { load } from '../src/index';
import type { IR } from '../src/index';
import { ROOT } from './helpers/cli';

const DOC = path.join(ROOT, 'fixtures', 'import', 'real', 'rke2-requirements.md');
const CATALOG = path.join(ROOT, 'catalog', 'rke2.yaml');
const EXAMPLE = path.join(ROOT, 'fixtures', 'profiles', 'rke2-example.yaml');
const CILIUM = path.join(ROOT, 'fixtures', 'profiles', 'rke2-cilium.yaml');

// ---- the page: a reader of its own ------------------------------------------

interface DocRow {
  /** 1-based line in the page. */
  line: number;
  /** By lower-cased column name: port, protocol, source, destination, description. */
  cells: Record<string, string>;
}
interface DocTable {
  /** The nearest heading above the table. */
  heading: string;
  /** The <TabItem value="..."> the table sits in, if any. */
  tab?: string;
  /** 1-based line of the header row. */
  line: number;
  rows: DocRow[];
}

const splitRow = (l: string): string[] =>
  l
    .trim()
    .replace(/^\|/, '')
    .replace(/\|$/, '')
    .split('|')
    .map((c) => c.trim());

/** Every pipe table of the page's "## Networking" section, in order. */
function networkingTables(text: string): DocTable[] {
  const lines = text.split('\n');
  const start = lines.findIndex((l) => /^## Networking\s*$/.test(l));
  assert.ok(start >= 0, 'the page has a "## Networking" section');
  let end = lines.findIndex((l, i) => i > start && /^## /.test(l));
  if (end < 0) end = lines.length;
  const out: DocTable[] = [];
  let heading = '';
  let tab: string | undefined;
  for (let i = start + 1; i < end; i++) {
    const l = lines[i];
    const h = /^#{3,6}\s+(.+?)\s*$/.exec(l);
    if (h) {
      heading = h[1];
      tab = undefined;
      continue;
    }
    const t = /<TabItem value="([^"]*)">/.exec(l);
    if (t) tab = t[1];
    if (/<\/TabItem>/.test(l)) tab = undefined;
    if (!l.startsWith('|')) continue;
    const header = splitRow(l).map((c) => c.toLowerCase());
    assert.ok(/^\|[\s|:-]+$/.test(lines[i + 1]), `line ${i + 2}: a separator row under the header`);
    const table: DocTable = { heading, tab, line: i + 1, rows: [] };
    for (i += 2; i < end && lines[i].startsWith('|'); i++) {
      const cells = splitRow(lines[i]);
      assert.is(cells.length, header.length, `line ${i + 1}: one cell per column`);
      table.rows.push({ line: i + 1, cells: Object.fromEntries(header.map((c, j) => [c, cells[j]])) });
    }
    out.push(table);
    i--;
  }
  return out;
}

const docText = fs.readFileSync(DOC, 'utf8');
const tables = networkingTables(docText);
const TABLE_IDS = ['T1', 'T2', 'T3', 'T4', 'T5', 'T6'];

// ---- the catalog, as written -------------------------------------------------

type GroupRef = string | { group: string; feature: string };
interface RawRule {
  id: string;
  table: string;
  row?: number;
  cells?: Record<string, string>;
  ports?: (number | string)[];
  transport?: string | string[];
  icmp_types?: (string | number)[];
  from: GroupRef[];
  to: GroupRef[];
  feature?: string;
  anti_lockout?: boolean;
  note?: string;
}
interface RawCatalog {
  name: string;
  roles: string[];
  tables: Record<string, { heading: string; line?: number; note?: string }>;
  groups: Record<string, { union?: string[]; description?: string }>;
  features: Record<string, { default: boolean }>;
  rules: RawRule[];
}
const catalogText = fs.readFileSync(CATALOG, 'utf8');
const catalog = yaml.load(catalogText) as RawCatalog;

const groupOf = (g: GroupRef) => (typeof g === 'string' ? g : g.group);
const gateOf = (g: GroupRef) => (typeof g === 'string' ? undefined : g.feature);
const transportsOf = (r: RawRule) => (r.transport === undefined ? ['tcp'] : Array.isArray(r.transport) ? r.transport : [r.transport]);

// ---- the interpretation, from the page alone ---------------------------------

const SIDE: Record<string, string> = { 'All RKE2 nodes': 'nodes', 'RKE2 server nodes': 'servers' };
const ICMP_TYPE: Record<string, number> = { 'echo-reply': 0, 'echo-request': 8 };

function expectedFeature(t: DocTable): string | undefined {
  if (t.tab) return t.tab.toLowerCase();
  if (/^Windows\b/.test(t.heading)) return 'windows';
  return undefined;
}

/** Port ranges "lo-hi" of a port cell; for ICMP, the type numbers. */
function portsOfCell(port: string, protocol: string): { ports?: string[]; icmp?: number[] } {
  if (protocol === 'ICMP') {
    // "0, 8 *": the asterisk is the footnote mark.
    const types = port.replace(/\*/g, '').split(',').map((s) => s.trim());
    types.forEach((s) => assert.ok(/^\d+$/.test(s), `ICMP type cell '${port}'`));
    return { icmp: types.map(Number).sort((a, b) => a - b) };
  }
  const m = /^(\d+)(?:-(\d+))?$/.exec(port);
  assert.ok(m, `no interpretation for port cell '${port}'`);
  return { ports: [`${Number(m![1])}-${Number(m![2] ?? m![1])}`] };
}

const rangeText = (p: number | string) => {
  const [lo, hi] = String(p).split('-').map(Number);
  return `${lo}-${hi ?? lo}`;
};

// ---- the page against the catalog ---------------------------------------------

test('the Networking part has six tables: 7 inbound rows, the four CNI tabs (4, 4, 5, 1), 2 Windows rows', () => {
  assert.equal(
    tables.map((t) => [t.heading, t.tab ?? null, t.rows.length]),
    [
      ['Inbound Network Rules', null, 7],
      ['CNI Specific Inbound Network Rules', 'Canal', 4],
      ['CNI Specific Inbound Network Rules', 'Cilium', 4],
      ['CNI Specific Inbound Network Rules', 'Calico', 5],
      ['CNI Specific Inbound Network Rules', 'Flannel', 1],
      ['Windows Specific Inbound Network Rules', null, 2],
    ],
  );
  // The Windows table's columns come in another order; the reader goes by name.
  assert.is(tables[5].rows[0].cells.protocol, 'UDP');
  assert.is(tables[5].rows[0].cells.port, '4789');
});

test('the catalog declares T1..T6 with the headings and header lines of the page, and ADD as its own', () => {
  assert.is(catalog.name, 'rke2');
  assert.equal(Object.keys(catalog.tables), [...TABLE_IDS, 'ADD']);
  TABLE_IDS.forEach((id, i) => {
    assert.is(catalog.tables[id].heading, tables[i].heading, id);
    assert.is(catalog.tables[id].line, tables[i].line, `${id}: line of the header row`);
    if (tables[i].tab) assert.ok(catalog.tables[id].note?.includes(tables[i].tab!), `${id}: its note names tab ${tables[i].tab}`);
  });
  const add = catalog.tables.ADD;
  assert.ok(/not in the document/.test(add.heading), 'the additions table says it is not from the page');
  assert.is(add.line, undefined, 'the additions table has no line in the page');
});

test('every row of every networking table is exactly one rule, and only those cite T1..T6', () => {
  const cited = catalog.rules.filter((r) => TABLE_IDS.includes(r.table)).map((r) => `${r.table}.${r.row}`);
  const expected = tables.flatMap((t, i) => t.rows.map((_, j) => `${TABLE_IDS[i]}.${j + 1}`));
  assert.equal([...cited].sort(), [...expected].sort());
  assert.is(new Set(cited).size, cited.length, 'no row cited twice');
  assert.is(cited.length, 23);
  assert.is(new Set(catalog.rules.map((r) => r.id)).size, catalog.rules.length, 'rule ids are unique');
});

test("every row rule: the page's cells verbatim, its port, transport, sides and feature", () => {
  tables.forEach((t, i) =>
    t.rows.forEach((row, j) => {
      const where = `${TABLE_IDS[i]}.${j + 1} (page line ${row.line})`;
      const r = catalog.rules.find((x) => x.table === TABLE_IDS[i] && x.row === j + 1);
      assert.ok(r, `${where}: a rule`);
      const { port, protocol, source, destination, description } = row.cells;
      assert.equal(r!.cells, { port, protocol, source, destination, description }, `${where}: cells`);

      const want = portsOfCell(port, protocol);
      if (want.icmp) {
        assert.equal(transportsOf(r!), ['icmp', 'icmpv6'], `${where}: ICMP, and ICMPv6's echo pair for dual-stack`);
        assert.is(r!.ports, undefined, `${where}: ICMP types are not ports`);
        const types = (r!.icmp_types ?? []).map((x) => (typeof x === 'number' ? x : ICMP_TYPE[x])).sort((a, b) => a - b);
        assert.equal(types, want.icmp, `${where}: ICMP types`);
      } else {
        assert.equal(transportsOf(r!), [protocol.toLowerCase()], `${where}: transport`);
        assert.equal((r!.ports ?? []).map(rangeText), want.ports, `${where}: ports`);
      }

      assert.ok(SIDE[source] && SIDE[destination], `${where}: a known source and destination phrase`);
      assert.equal(r!.from.map(groupOf), [SIDE[source]], `${where}: source`);
      assert.equal(r!.to.map(groupOf), [SIDE[destination]], `${where}: destination`);
      assert.is(r!.anti_lockout, undefined, `${where}: no page row is anti-lockout`);

      const feature = expectedFeature(t);
      assert.is(r!.feature, feature, `${where}: feature`);
      assert.ok(!r!.to.some(gateOf), `${where}: destination ungated`);
      const gate = r!.from.map(gateOf)[0];
      if (/WireGuard/.test(description)) assert.is(gate, `${feature}_wireguard`, `${where}: a WireGuard row needs its own feature too`);
      else if (feature === 'windows' && /Calico/.test(description) && !/Flannel/.test(description)) assert.is(gate, 'calico', `${where}: Calico-only Windows row`);
      else assert.is(gate, undefined, `${where}: source ungated`);
    }),
  );
});

test('roles servers and agents; nodes is their union; features: canal on, the other CNIs, WireGuard and Windows off', () => {
  assert.equal(catalog.roles, ['servers', 'agents']);
  assert.equal(catalog.groups.nodes.union, ['servers', 'agents']);
  assert.is(catalog.groups.servers.union, undefined);
  assert.is(catalog.groups.agents.union, undefined);
  assert.equal(
    Object.fromEntries(Object.entries(catalog.features).map(([k, v]) => [k, v.default])),
    { canal: true, canal_wireguard: false, cilium: false, cilium_wireguard: false, calico: false, flannel: false, windows: false },
  );
});

test('additions (table ADD): admins SSH to every node (anti-lockout) and the Kubernetes API on the servers, nothing else', () => {
  const add = catalog.rules.filter((r) => r.table === 'ADD');
  assert.equal(
    add.map((r) => [r.id, r.ports, transportsOf(r), r.from, r.to, r.anti_lockout === true, r.feature ?? null, r.cells ?? null]),
    [
      ['admin-ssh', [22], ['tcp'], ['admins'], ['nodes'], true, null, null],
      ['admin-kube-api', [6443], ['tcp'], ['admins'], ['servers'], false, null, null],
    ],
  );
  for (const r of add) assert.ok(/not (in|a row of) the document/.test(r.note ?? ''), `${r.id}: its note says it is an addition`);
  assert.equal(
    catalog.rules.filter((r) => ![...TABLE_IDS, 'ADD'].includes(r.table)),
    [],
    'no rule outside the page tables and ADD',
  );
});

test('the header comment cites the page: its source URL and commit', () => {
  const source = /<!-- Source: (\S+)/.exec(docText)![1];
  const commit = /commit ([0-9a-f]{40})/.exec(docText)![1];
  assert.ok(catalogText.includes(source), 'the URL');
  assert.ok(catalogText.includes(commit), 'the commit');
});

// ---- the compiled policy, per role ---------------------------------------------

interface Loaded {
  roles: IR[];
}

function loadRoles(profilePath: string, edit: (text: string) => string = (t) => t): Record<string, IR> {
  const loaded = load({
    profile: { path: profilePath, text: edit(fs.readFileSync(profilePath, 'utf8')) },
    catalog: { path: CATALOG, text: catalogText },
  }) as unknown as Loaded;
  assert.ok(Array.isArray(loaded.roles), 'load() returns one IR per role');
  const byRole = Object.fromEntries(loaded.roles.map((ir) => [ir.host, ir]));
  assert.equal(Object.keys(byRole).sort(), ['agents', 'servers']);
  return byRole;
}

/** The profile's features replaced by these. */
const withFeatures =
  (features: Record<string, boolean>) =>
  (text: string): string => {
    const body = Object.entries(features)
      .map(([k, v]) => `  ${k}: ${v}`)
      .join('\n');
    const out = text.replace(/^features:\n(?:  .*\n)*/m, `features:\n${body}\n`);
    assert.ok(out !== text, 'the profile has a features block');
    return out;
  };

type Dir = 'ingress' | 'egress';
const covers = (ports: { lo: number; hi: number }[], n: number) => ports.some((p) => p.lo <= n && n <= p.hi);

/** The peers (source groups of ingress) whose rules open port n on transport t, per family. */
function peers(ir: IR, dir: Dir, t: string, n: number, family = 'ipv4'): string[] {
  return ir.rules
    .filter((r) => r.direction === dir && r.scope === 'host' && r.transport === t && r.family === family && covers(r.ports, n))
    .map((r) => (dir === 'ingress' ? r.sourceGroup : r.destinationGroup))
    .sort();
}
const refs = (ir: IR, t: string, n: number) =>
  ir.rules
    .filter((r) => r.direction === 'ingress' && r.transport === t && covers(r.ports, n))
    .flatMap((r) => r.provenance.filter((p) => covers(p.ports, n)).map((p) => p.ref))
    .filter((x, i, a) => a.indexOf(x) === i)
    .sort();

test('rke2-example, servers: Kubernetes and supervisor API from all nodes, etcd 2379-2381 from the servers only', () => {
  const { servers } = loadRoles(EXAMPLE);
  for (const family of ['ipv4', 'ipv6']) {
    for (const n of [6443, 9345]) assert.ok(peers(servers, 'ingress', 'tcp', n, family).includes('nodes'), `${n}/tcp from nodes (${family})`);
    for (const n of [2379, 2380, 2381]) assert.equal(peers(servers, 'ingress', 'tcp', n, family), ['servers'], `${n}/tcp from servers only (${family})`);
    for (const n of [10250, 30000, 32767]) assert.equal(peers(servers, 'ingress', 'tcp', n, family), ['nodes'], `${n}/tcp from nodes (${family})`);
    assert.equal(peers(servers, 'ingress', 'tcp', 6443, family), ['admins', 'nodes'], `6443 also from the admins (ADD.2) (${family})`);
    assert.equal(peers(servers, 'ingress', 'tcp', 22, family), ['admins'], `SSH from the admins (${family})`);
  }
  assert.ok(servers.rules.some((r) => r.antiLockout && r.direction === 'ingress' && covers(r.ports, 22)), 'the SSH rule is anti-lockout');
  assert.equal(refs(servers, 'tcp', 2380), ['T1.5']);
  assert.equal(refs(servers, 'tcp', 6443), ['ADD.2', 'T1.1']);
});

test('rke2-example, agents: no Kubernetes API, supervisor or etcd ports; kubelet, NodePorts and SSH', () => {
  const { agents } = loadRoles(EXAMPLE);
  for (const family of ['ipv4', 'ipv6']) {
    for (const n of [6443, 9345, 2379, 2380, 2381]) assert.equal(peers(agents, 'ingress', 'tcp', n, family), [], `no ${n}/tcp on an agent (${family})`);
    for (const n of [10250, 30000, 32767]) assert.equal(peers(agents, 'ingress', 'tcp', n, family), ['nodes'], `${n}/tcp from nodes (${family})`);
    assert.equal(peers(agents, 'ingress', 'tcp', 22, family), ['admins'], `SSH from the admins (${family})`);
  }
});

test('egress: restrict: each role goes out only where the page sends it (agents to the servers API, never to etcd)', () => {
  const roles = loadRoles(EXAMPLE, (t) => {
    const out = t.replace(/^egress: allow\b/m, 'egress: restrict');
    assert.ok(out !== t, 'the profile says egress: allow');
    return out;
  });
  for (const family of ['ipv4', 'ipv6']) {
    for (const role of ['servers', 'agents']) {
      assert.is(roles[role].egress, 'restrict');
      for (const n of [6443, 9345]) assert.equal(peers(roles[role], 'egress', 'tcp', n, family), ['servers'], `${role}: out to the servers on ${n} (${family})`);
      assert.equal(peers(roles[role], 'egress', 'tcp', 10250, family), ['nodes'], `${role}: out to all nodes on 10250 (${family})`);
      assert.equal(peers(roles[role], 'egress', 'udp', 8472, family), ['nodes'], `${role}: out to all nodes on 8472/udp (${family})`);
      assert.equal(peers(roles[role], 'egress', 'tcp', 22, family), [], `${role}: SSH is inbound only (${family})`);
    }
    for (const n of [2379, 2380, 2381]) {
      assert.equal(peers(roles.servers, 'egress', 'tcp', n, family), ['servers'], `servers: out to the servers on ${n} (${family})`);
      assert.equal(peers(roles.agents, 'egress', 'tcp', n, family), [], `agents: never out to etcd ${n} (${family})`);
    }
  }
});

test('Canal (the default): 8472/udp and 9099/tcp from all nodes on both roles; absent with canal off', () => {
  const on = loadRoles(EXAMPLE);
  const off = loadRoles(EXAMPLE, withFeatures({ canal: false }));
  for (const role of ['servers', 'agents']) {
    for (const family of ['ipv4', 'ipv6']) {
      assert.equal(peers(on[role], 'ingress', 'udp', 8472, family), ['nodes'], `${role}: 8472/udp (${family})`);
      assert.equal(peers(on[role], 'ingress', 'tcp', 9099, family), ['nodes'], `${role}: 9099/tcp (${family})`);
      assert.equal(peers(off[role], 'ingress', 'udp', 8472, family), [], `${role}: no 8472/udp with canal off (${family})`);
      assert.equal(peers(off[role], 'ingress', 'tcp', 9099, family), [], `${role}: no 9099/tcp with canal off (${family})`);
    }
    for (const n of [51820, 51821]) assert.equal(peers(on[role], 'ingress', 'udp', n), [], `${role}: no WireGuard ${n} by default`);
    assert.equal(refs(on[role], 'udp', 8472), ['T2.1']);
  }
});

test('WireGuard rows open only with their CNI and their WireGuard feature', () => {
  const both = loadRoles(EXAMPLE, withFeatures({ canal: true, canal_wireguard: true }));
  const alone = loadRoles(EXAMPLE, withFeatures({ canal: false, canal_wireguard: true }));
  for (const role of ['servers', 'agents']) {
    for (const n of [51820, 51821]) {
      assert.equal(peers(both[role], 'ingress', 'udp', n), ['nodes'], `${role}: ${n}/udp with canal + canal_wireguard`);
      assert.equal(peers(alone[role], 'ingress', 'udp', n), [], `${role}: no ${n}/udp with canal_wireguard alone`);
    }
  }
  const cilium = loadRoles(CILIUM, withFeatures({ canal: false, cilium: true, cilium_wireguard: true }));
  assert.equal(peers(cilium.agents, 'ingress', 'udp', 51871), ['nodes'], '51871/udp with cilium + cilium_wireguard');
});

test('rke2-cilium: ICMP echo-reply/echo-request (and ICMPv6 echo), 4240/tcp, 8472/udp from all nodes; no Canal port', () => {
  const roles = loadRoles(CILIUM);
  for (const role of ['servers', 'agents']) {
    const ir = roles[role];
    const icmp = ir.rules.filter((r) => r.direction === 'ingress' && r.transport === 'icmp' && r.sourceGroup === 'nodes');
    assert.equal(icmp.map((r) => [r.family, r.ports]), [['ipv4', [{ lo: 0, hi: 0 }, { lo: 8, hi: 8 }]]], `${role}: ICMP types 0 and 8`);
    assert.equal(icmp[0].provenance.map((p) => p.ref), ['T3.1']);
    const icmpv6 = ir.rules.filter((r) => r.direction === 'ingress' && r.transport === 'icmpv6' && r.sourceGroup === 'nodes');
    assert.equal(icmpv6.map((r) => [r.family, r.ports]), [['ipv6', [{ lo: 128, hi: 129 }]]], `${role}: ICMPv6 types 128 and 129`);
    for (const family of ['ipv4', 'ipv6']) {
      assert.equal(peers(ir, 'ingress', 'tcp', 4240, family), ['nodes'], `${role}: 4240/tcp (${family})`);
      assert.equal(peers(ir, 'ingress', 'udp', 8472, family), ['nodes'], `${role}: 8472/udp (${family})`);
      assert.equal(peers(ir, 'ingress', 'tcp', 9099, family), [], `${role}: no Canal health checks (${family})`);
      assert.equal(peers(ir, 'ingress', 'udp', 51871, family), [], `${role}: no WireGuard by default (${family})`);
    }
    assert.equal(refs(ir, 'udp', 8472), ['T3.3'], `${role}: 8472 is Cilium's row now`);
  }
});

test('Windows: 4789/udp with windows; BGP 179/tcp only with Calico as well', () => {
  const flannel = loadRoles(EXAMPLE, withFeatures({ canal: false, flannel: true, windows: true }));
  const calico = loadRoles(EXAMPLE, withFeatures({ canal: false, calico: true, windows: true }));
  const noWin = loadRoles(EXAMPLE, withFeatures({ canal: false, flannel: true }));
  for (const role of ['servers', 'agents']) {
    assert.equal(refs(flannel[role], 'udp', 4789), ['T5.1', 'T6.1'], `${role}: Flannel + Windows`);
    assert.equal(peers(flannel[role], 'ingress', 'tcp', 179), [], `${role}: no BGP with Flannel`);
    assert.equal(refs(calico[role], 'tcp', 179), ['T4.1', 'T6.2'], `${role}: Calico + Windows`);
    assert.equal(refs(calico[role], 'udp', 4789), ['T4.2', 'T6.1']);
    assert.equal(refs(noWin[role], 'udp', 4789), ['T5.1'], `${role}: Flannel alone`);
  }
});

test.run();
