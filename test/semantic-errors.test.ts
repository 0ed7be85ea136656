// Bad input that passes the schema but makes no sense (issue 12, class 5),
// names the compiler keeps for itself (class 6) and IPv4 text inside IPv6
// addresses (class 9), through the real CLI: every case exits 2 with
// `FILE:LINE:COL: error: MESSAGE`, the quoted line with a caret, the hint,
// no stack trace, and nothing written (an existing --out-dir tree is left
// byte-for-byte and mtime-for-mtime alone). The same inputs through the
// library give the same positions. Fixtures say in a comment what is wrong.
//
// On the code before this change, the anti-lockout cases ended in an
// internal error with a stack trace, the others compiled (the reserved
// group let a profile's extra_egress replace the jump host's addresses;
// ::ffff:010.0.0.1, ::ffff:0x0a.0.0.1 and ::10.20.0.12 were read as
// ::ffff:10.0.0.1, ::ffff:10.0.0.1 and ::ffff:10.20.0.12).

import * as fs from 'fs';
import * as path from 'path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import * as api from '../src/index';
import { formatAddress } from '../src/addresses';
import { fixture, ROOT, runCli, Run } from './helpers/cli';
import { assertCaret, assertNoStack, parseDiagnostics } from './helpers/diagnostics';
import { rmTree, snapshot, tmpDir } from './helpers/tree';

interface Expect {
  line: number;
  col: number;
  message: string | RegExp;
  hint: string | RegExp;
}

interface Case {
  name: string;
  profile: string;
  catalog?: string;
  errors: Expect[];
}

const P = (name: string) => `fixtures/profiles/bad/${name}`;
const C = (name: string) => `fixtures/catalogs/bad/${name}`;
const MINI = 'fixtures/profiles/mini.yaml';

const cases: Case[] = [
  // Class 5: meaning.
  {
    name: 'anti-lockout rule that is egress (nodes -> admins)',
    profile: MINI,
    catalog: C('anti-lockout-egress.yaml'),
    errors: [
      { line: 33, col: 12, message: "rule 'ssh' is anti-lockout, but its source 'nodes' is the nodes themselves", hint: 'from: [admins]' },
      { line: 34, col: 10, message: "rule 'ssh' is anti-lockout, so it must lead to the nodes (host group 'nodes'), not to 'admins'", hint: 'to: [nodes]' },
    ],
  },
  {
    name: 'anti-lockout rule that is node-to-node',
    profile: MINI,
    catalog: C('anti-lockout-node-to-node.yaml'),
    errors: [{ line: 32, col: 12, message: "rule 'ssh' is anti-lockout, but its source 'nodes' is the nodes themselves (node-to-node traffic)", hint: 'from outside the nodes' }],
  },
  {
    name: 'anti-lockout rule that is off-host (admins -> monitor)',
    profile: MINI,
    catalog: C('anti-lockout-off-host.yaml'),
    errors: [{ line: 34, col: 10, message: "not to 'monitor'", hint: 'to: [nodes]' }],
  },
  {
    name: 'a rule from a group (not the nodes) to itself',
    profile: MINI,
    catalog: C('self-group.yaml'),
    errors: [{ line: 58, col: 10, message: "rule 'metrics' goes from group 'monitor' to itself", hint: "only the host group 'nodes' may be on both ends" }],
  },
  {
    name: 'a group listed twice on one side, plain and feature-gated',
    profile: MINI,
    catalog: C('duplicate-ref.yaml'),
    errors: [{ line: 42, col: 29, message: "group 'admins' is listed twice in 'from' of rule 'app'", hint: 'once per side' }],
  },
  // Class 6: the compiler's own names.
  {
    name: "catalog group named like the profile's first extra_egress entry (extra_egress_1)",
    profile: MINI,
    catalog: C('reserved-group.yaml'),
    errors: [{ line: 15, col: 3, message: "group name 'extra_egress_1' is reserved", hint: 'not of the form extra_egress_N' }],
  },
  {
    name: "catalog rule id of the profile's first extra_egress rule (extra-egress-1)",
    profile: MINI,
    catalog: C('reserved-rule-id.yaml'),
    errors: [{ line: 44, col: 9, message: "rule id 'extra-egress-1' is reserved", hint: 'use another id' }],
  },
  {
    name: "catalog table P (the profile's extra_egress table)",
    profile: MINI,
    catalog: C('reserved-table.yaml'),
    errors: [{ line: 7, col: 3, message: "table id 'P' is reserved", hint: 'T6' }],
  },
  // Class 10: host options that contradict each other.
  {
    name: 'an interface both trusted (left to its manager) and bound to zone portcullis; an unknown firewalld key',
    profile: P('interface-both.yaml'),
    errors: [
      { line: 9, col: 22, message: "interface 'eth1' is both in firewalld.interfaces (bound to zone portcullis) and in host.trusted_interfaces", hint: 'line 7 lists it as trusted' },
      { line: 10, col: 3, message: "unknown key 'bogus'", hint: /interfaces/ },
    ],
  },
  // Class 9: IPv4 inside IPv6 follows the dotted-quad rules of plain IPv4.
  {
    name: 'IPv4-mapped IPv6 with an octal-looking part (::ffff:010.0.0.1)',
    profile: P('v4-mapped-octal.yaml'),
    errors: [{ line: 5, col: 29, message: "'::ffff:010.0.0.1' is not an IP address or CIDR", hint: /leading zeros.*'::ffff:10\.0\.0\.1'/ }],
  },
  {
    name: 'IPv4-mapped IPv6 with a hex part (::ffff:0x0a.0.0.1/128)',
    profile: P('v4-mapped-hex.yaml'),
    errors: [{ line: 6, col: 7, message: "'::ffff:0x0a.0.0.1/128' is not an IP address or CIDR", hint: /decimal: hex parts/ }],
  },
  {
    name: 'IPv4-compatible IPv6 (::10.20.0.12), which a library read as ::ffff:10.20.0.12',
    profile: P('v4-compat.yaml'),
    errors: [{ line: 7, col: 23, message: "'::10.20.0.12' is not an IP address or CIDR", hint: /IPv4-compatible.*write 10\.20\.0\.12.*::ffff:10\.20\.0\.12/ }],
  },
  {
    name: 'IPv6 with a zone index (fe80::1%eth0)',
    profile: P('v6-zone-id.yaml'),
    errors: [{ line: 4, col: 29, message: "'fe80::1%eth0' is not an IP address or CIDR", hint: 'zone indices' }],
  },
  {
    name: 'extra_egress destination ::ffff:192.0.2.053',
    profile: P('extra-egress-mapped-octal.yaml'),
    errors: [{ line: 10, col: 10, message: "in extra_egress: '::ffff:192.0.2.053' is not an IP address", hint: "'::ffff:192.0.2.53'" }],
  },
  {
    name: 'catalog group default ::ffff:192.0.2.010',
    profile: MINI,
    catalog: C('default-mapped-octal.yaml'),
    errors: [{ line: 15, col: 29, message: "'::ffff:192.0.2.010' is not an IP address or CIDR", hint: 'leading zeros' }],
  },
];

function matches(actual: string | undefined, want: string | RegExp): boolean {
  if (actual === undefined) return false;
  return typeof want === 'string' ? actual.includes(want) : want.test(actual);
}

function checkRun(c: Case, r: Run): void {
  const file = c.catalog ?? c.profile;
  assertNoStack(r.stderr);
  assert.is(r.code, 2, `exit code; stderr:\n${r.stderr}`);
  assert.is(r.stdout, '');
  const ds = parseDiagnostics(r.stderr);
  assert.is(ds.length, c.errors.length, `number of diagnostics; stderr:\n${r.stderr}`);
  c.errors.forEach((want, i) => {
    const d = ds[i];
    const where = `diagnostic ${i + 1} of ${c.name}; stderr:\n${r.stderr}`;
    assert.is(d.file, file, where);
    assert.is(d.level, 'error', where);
    assert.is(`${d.line}:${d.col}`, `${want.line}:${want.col}`, `line:col of ${where}`);
    assert.ok(matches(d.message, want.message), `message ${JSON.stringify(d.message)} should match ${want.message} (${where})`);
    assert.ok(matches(d.hint, want.hint), `hint ${JSON.stringify(d.hint)} should match ${want.hint} (${where})`);
    assertCaret(d, file);
  });
  const n = c.errors.length;
  assert.match(r.stderr, new RegExp(`^${n} error${n === 1 ? '' : 's'}; nothing written\\.$`, 'm'));
}

let work = '';
let out = '';
let baseline: ReturnType<typeof snapshot> = [];

function populate(): void {
  if (work) rmTree(work);
  work = tmpDir(`portcullis-semantic-${process.pid}-`);
  out = path.join(work, 'out');
  const ok = runCli(['compile', '--profile', fixture('profiles', 'mini.yaml'), '--catalog', fixture('catalogs', 'mini.yaml'), '--out-dir', out]);
  assert.is(ok.code, 0, ok.stderr);
  baseline = snapshot(work);
  assert.ok(baseline.some((e) => e.path === 'out/mini-lab/nftables/portcullis.nft'), 'populated');
}

test.before(populate);
test.after(() => rmTree(work));

for (const c of cases) {
  const extra = c.catalog ? ['--catalog', c.catalog] : [];

  test(`compile: ${c.name}`, () => {
    let changed = true;
    try {
      checkRun(c, runCli(['compile', '--profile', c.profile, ...extra, '--target', 'all', '--out-dir', out]));
      assert.equal(snapshot(work), baseline, 'nothing written, moved or touched');
      changed = false;
    } finally {
      if (changed) populate();
    }
  });

  test(`validate: ${c.name}`, () => {
    checkRun(c, runCli(['validate', '--profile', c.profile, ...extra]));
  });

  test(`library: ${c.name}`, () => {
    const read = (f: string) => ({ path: f, text: fs.readFileSync(path.join(ROOT, f), 'utf8') });
    const r = api.compile({ profile: read(c.profile), catalog: c.catalog ? read(c.catalog) : undefined });
    assert.is(r.ok, false);
    if (r.ok) return;
    assert.equal(
      r.diagnostics.map((d) => `${d.file}:${d.pos?.line}:${d.pos?.col}`),
      c.errors.map((e) => `${c.catalog ?? c.profile}:${e.line}:${e.col}`),
    );
    assert.throws(() => api.load({ profile: read(c.profile), catalog: c.catalog ? read(c.catalog) : undefined }), (e: unknown) => e instanceof api.CompileError);
  });
}

// The well-formed neighbours of the rejected forms still load, to the
// addresses they denote.
test('IPv6 with an IPv4 tail: strict quads load to the address they denote', () => {
  const profile = (admins: string) => ({
    path: 'p.yaml',
    text: `environment: lab\ngroups:\n  admins: [${JSON.stringify(admins)}]\n  users: [0.0.0.0/0]\n  nodes: [10.20.0.11]\n`,
  });
  const cases: [string, string][] = [
    ['::ffff:10.0.0.1', '::ffff:a00:1'],
    ['::FFFF:192.0.2.1/128', '::ffff:c000:201'],
    ['0:0:0:0:0:ffff:10.0.0.1', '::ffff:a00:1'],
    ['::ffff:10.0.0.0/104', '::ffff:a00:0/104'],
    ['64:ff9b::192.0.2.1', '64:ff9b::c000:201'],
    ['2001:db8:0:0:0:0:0:1', '2001:db8::1'],
    ['2001:0db8::0001', '2001:db8::1'],
  ];
  for (const [text, want] of cases) {
    const r = api.compile({ profile: profile(text), targets: ['nftables'] });
    assert.ok(r.ok, `${text}: ${!r.ok && r.diagnostics.map(api.formatDiagnostic).join('\n')}`);
    if (!r.ok) continue;
    const admins = r.ir.sets.find((s) => s.name === 'admins_v6');
    assert.ok(admins, text);
    assert.equal(admins!.cidrs.map(formatAddress), [want], text);
    const nftSet = /set admins_v6 \{[^}]*elements = \{([^}]*)\}/.exec(r.files[0].content);
    assert.equal(nftSet?.[1].split(',').map((x) => x.trim()).filter(Boolean), [want], `${text} in the nftables set`);
  }
  // And their malformed variants are refused, whatever the position of the bad part.
  for (const text of ['::ffff:10.0.0.01', '::ffff:10.00.0.1', '::ffff:1.2.3', '::ffff:1.2.3.4.5', '::ffff:256.0.0.1', '::ffff:1e1.0.0.1', '1:2:3:4:5:6:7:1.2.3.4', '::0.0.0.1', '2001:db8::00001', '1::2::3']) {
    const r = api.compile({ profile: profile(text), targets: ['nftables'] });
    assert.is(r.ok, false, text);
    if (!r.ok) assert.match(r.diagnostics[0].message, /is not an IP address or CIDR/, text);
  }
});

test.run();
