// `catalog import` on real, public port pages of other products (kept in
// fixtures/import/real/ with their source and commit in a header comment):
// every table of each document is imported or reported as skipped, every
// row becomes a rule, is skipped with a reason, or is undecided with
// DOC:LINE:COL reasons, and nothing is left unexplained. With each
// document's map file, the rows the map decides read as the page says.
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import * as yaml from 'js-yaml';
import { SourceText } from '../src/diagnostics';
import { loadCatalog } from '../src/load/catalog';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { runCli } from './helpers/cli';
import { assertCaret, assertNoStack, parseDiagnostics } from './helpers/diagnostics';

const REAL = path.join('fixtures', 'import', 'real');

interface Expected {
  doc: string;
  map: string;
  /** The summary line's counts, read off each document by hand. */
  summary: string;
  /** Rows the map decides, as `T row: ports transport from -> to [feature]`. */
  decided: string[];
}

const DOCS: Expected[] = [
  {
    doc: 'kubernetes-ports-and-protocols.md',
    map: 'kubernetes-map.yaml',
    // Control plane: 5 rows, of which kube-scheduler and controller-manager are "Self" only (loopback); Node(s): 2.
    summary: '5 rows from .*; 2 tables read: 2 imported, 0 skipped; 7 rows in the imported tables: 5 imported, 2 skipped; 2 undecided',
    decided: ['T1 row 1: [6443] tcp any -> control_plane', 'T2 row 1: [10250] tcp control_plane -> nodes', 'T2 row 2: ["30000-32767"] tcp any -> nodes'],
  },
  {
    doc: 'rke2-requirements.md',
    map: 'rke2-map.yaml',
    // VM sizing (no ports), inbound (7), four CNI tabs (4, 4, 5, 1), Windows (2).
    // Cilium's ICMP health check (T3 row 1, "0, 8 *") is icmp types 0 and 8;
    // with roles (servers, agents; nodes their union) etcd's server-to-server
    // rows are decided too: every row is.
    summary: '23 rows from .*; 7 tables read: 6 imported, 1 skipped; 23 rows in the imported tables: 23 imported, 0 skipped; none undecided',
    decided: [
      'T1 row 1: [6443] tcp nodes -> servers',
      'T1 row 2: [9345] tcp nodes -> servers',
      'T1 row 3: [10250] tcp nodes -> nodes',
      'T1 row 4: [2379] tcp servers -> servers',
      'T1 row 5: [2380] tcp servers -> servers',
      'T1 row 6: [2381] tcp servers -> servers',
      'T1 row 7: ["30000-32767"] tcp nodes -> nodes',
      'T2 row 1: [8472] udp nodes -> nodes cni_canal',
      'T2 row 2: [9099] tcp nodes -> nodes cni_canal',
      'T2 row 3: [51820] udp nodes -> nodes cni_canal',
      'T2 row 4: [51821] udp nodes -> nodes cni_canal',
      'T3 row 1: icmp types [0,8] nodes -> nodes cni_cilium',
      'T3 row 2: [4240] tcp nodes -> nodes cni_cilium',
      'T3 row 3: [8472] udp nodes -> nodes cni_cilium',
      'T3 row 4: [51871] udp nodes -> nodes cni_cilium',
      'T4 row 1: [179] tcp nodes -> nodes cni_calico',
      'T4 row 2: [4789] udp nodes -> nodes cni_calico',
      'T4 row 3: [5473] tcp nodes -> nodes cni_calico',
      'T4 row 4: [9098] tcp nodes -> nodes cni_calico',
      'T4 row 5: [9099] tcp nodes -> nodes cni_calico',
      'T5 row 1: [4789] udp nodes -> nodes cni_flannel',
      'T6 row 1: [4789] udp nodes -> nodes',
      'T6 row 2: [179] tcp nodes -> nodes',
    ],
  },
  {
    doc: 'k0s-networking.md',
    map: 'k0s-map.yaml',
    // Roles controllers and workers (nodes their union): only row 7's
    // two-way arrow between different sides stays undecided. Row 8 says
    // "TCP 112" for keepalived (VRRP is IP protocol 112): imported as written.
    summary: '8 rows from .*; 1 table read: 1 imported, 0 skipped; 8 rows in the imported tables: 8 imported, 0 skipped; 1 undecided',
    decided: [
      'T1 row 1: [2380] tcp controllers -> controllers',
      'T1 row 2: [6443] tcp workers,admins -> controllers',
      'T1 row 3: [179] tcp workers -> workers',
      'T1 row 4: [4789] udp workers -> workers',
      'T1 row 5: [10250] tcp controllers,workers -> nodes',
      'T1 row 6: [9443] tcp controllers -> controllers',
      'T1 row 8: [112] tcp controllers -> controllers cplb',
    ],
  },
  {
    doc: 'consul-ports.mdx',
    map: 'consul-map.yaml',
    // No Source column at all: nothing can be decided from the page alone.
    summary: '10 rows from .*; 1 table read: 1 imported, 0 skipped; 10 rows in the imported tables: 10 imported, 0 skipped; 10 undecided',
    decided: [],
  },
];

type Rule = { table: string; row: number; ports?: unknown[]; transport?: string | string[]; icmp_types?: unknown[]; from: string[]; to: string[]; feature?: string; undecided?: string[] };

for (const e of DOCS)
  test(`real page ${e.doc}: every table and row accounted for; the map decides what it can`, () => {
    const doc = path.join(REAL, e.doc);
    const out = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'pc-import-real-')), 'out.yaml');
    const r = runCli(['catalog', 'import', doc, '--map', path.join(REAL, e.map), '-o', out]);
    assertNoStack(r.stderr);
    const complete = / (0|none) undecided$/.test(e.summary);
    assert.is(r.code, complete ? 0 : 2, r.stderr);
    assert.match(r.stderr, new RegExp(`import: ${e.summary}`));
    const ds = parseDiagnostics(r.stderr);
    const cat = yaml.load(fs.readFileSync(out, 'utf8')) as { rules: Rule[] };
    // Every undecided reason is a diagnostic at its cell; every error is some rule's reason.
    const reasons = cat.rules.flatMap((x) => x.undecided ?? []);
    const errors = ds.filter((d) => d.level === 'error').map((d) => `${d.file}:${d.line}:${d.col}: ${d.message.replace(/; row left undecided$/, '')}`);
    assert.equal([...reasons].sort(), [...errors].sort(), 'undecided reasons and error diagnostics are the same list');
    for (const d of ds) assertCaret(d, doc);
    assert.ok(cat.rules.filter((x) => x.undecided).every((x) => x.undecided!.length > 0));
    const decided = cat.rules
      .filter((x) => !x.undecided)
      .map((x) => `${x.table} row ${x.row}: ${x.ports ? `${JSON.stringify(x.ports)} ` : ''}${x.transport}${x.icmp_types ? ` types ${JSON.stringify(x.icmp_types)}` : ''} ${x.from.join(',')} -> ${x.to.join(',')}${x.feature ? ` ${x.feature}` : ''}`);
    assert.equal(decided, e.decided);
    // A page decided whole is a catalog the loader takes, roles and all.
    if (complete) {
      const c = loadCatalog(new SourceText(out, fs.readFileSync(out, 'utf8')));
      if (e.doc.startsWith('rke2')) {
        assert.equal(c.roles, ['servers', 'agents']);
        assert.equal(c.unions.get('nodes'), ['servers', 'agents']);
      }
    }
  });

test('real pages without a map: nothing decided silently (every rule is undecided or reads as the page says)', () => {
  for (const e of DOCS) {
    const doc = path.join(REAL, e.doc);
    const r = runCli(['catalog', 'import', doc]);
    assertNoStack(r.stderr);
    assert.is(r.code, 2, `${e.doc}: the built-in phrases know none of these pages' groups`);
    const cat = yaml.load(r.stdout) as { rules: Rule[] };
    assert.ok(cat.rules.length > 0, e.doc);
    for (const x of cat.rules) assert.ok(x.undecided?.length, `${e.doc} ${x.table} row ${x.row} decided without a map`);
  }
});

test.run();
