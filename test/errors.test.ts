// Bad input, through the real CLI: every case must exit 2 with
// `FILE:LINE:COL: error: MESSAGE`, the quoted source line and a caret under
// the column, the hint where there is one, no stack trace, and nothing
// written to --out-dir (no file, no leftover staging directory; an existing
// tree is left byte-for-byte and mtime-for-mtime alone).
//
// The bad inputs are files under fixtures/profiles/bad/ and
// fixtures/catalogs/bad/ (each says in a comment what is wrong with it).
//
// Every run is bounded: node gets a 256 MiB heap (a blow-up is a crash, not
// a slow pass) and a hang guard; stderr must be terminal-safe (no raw
// control or bidi character from input) and of bounded size. Generated
// hostile shapes (huge, deep, many) are in hostile-loader.test.ts.

import * as fs from 'fs';
import * as path from 'path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawnSync } from 'child_process';
import { BIN, fixture, ROOT, Run } from './helpers/cli';
import { assertCaret, assertNoStack, assertTerminalSafe, ParsedDiagnostic, parseDiagnostics } from './helpers/diagnostics';
import { listing, rmTree, snapshot, tmpDir } from './helpers/tree';

interface Expect {
  line: number;
  col: number;
  /** A meaningful part of the message (substring), or a pattern. */
  message: string | RegExp;
  /** Part of the hint; `null`: there must be no hint. Omitted: not checked. */
  hint?: string | RegExp | null;
}

interface Case {
  name: string;
  /** The profile, relative to the repository root (as printed in diagnostics). */
  profile: string;
  /** A custom catalog; its errors are reported against this file. */
  catalog?: string;
  /** The file the diagnostics point into (default: the profile). */
  file?: string;
  errors: Expect[];
}

/** The real CLI with a 256 MiB heap and a hang guard (not a timing
 * assertion: sized for a loaded 2-core machine). */
function runCli(args: string[]): Run {
  const r = spawnSync(process.execPath, ['--max-old-space-size=256', BIN, ...args], { cwd: ROOT, encoding: 'utf8', timeout: 60_000, maxBuffer: 64 * 1024 * 1024 });
  assert.ok(!r.error && r.signal === null, `portcullis ${args.join(' ')} did not finish: ${r.error?.message ?? r.signal}`);
  return { code: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
}

const P = (name: string) => `fixtures/profiles/bad/${name}`;
const C = (name: string) => `fixtures/catalogs/bad/${name}`;

const cases: Case[] = [
  {
    name: 'YAML syntax error (unclosed flow sequence)',
    profile: P('yaml-syntax.yaml'),
    errors: [{ line: 5, col: 3, message: /^invalid YAML: .*flow collection/ }],
  },
  {
    name: 'duplicate key',
    profile: P('duplicate-key.yaml'),
    errors: [{ line: 6, col: 3, message: 'duplicated mapping key' }],
  },
  {
    name: "unknown top-level key 'egres' (did you mean 'egress')",
    profile: P('unknown-top-key.yaml'),
    errors: [{ line: 7, col: 1, message: "unknown key 'egres'", hint: "did you mean 'egress'?" }],
  },
  {
    name: "unknown group 'admin' (did you mean 'admins')",
    profile: P('unknown-group.yaml'),
    errors: [{ line: 4, col: 3, message: "unknown group 'admin'", hint: "did you mean 'admins'?" }],
  },
  {
    name: "unknown feature 'debugg'",
    profile: P('unknown-feature.yaml'),
    errors: [{ line: 8, col: 3, message: "unknown feature 'debugg'", hint: "did you mean 'debug'?" }],
  },
  {
    name: "unknown param 'smtp_prot'",
    profile: P('unknown-param.yaml'),
    errors: [{ line: 8, col: 3, message: "unknown param 'smtp_prot'", hint: "did you mean 'smtp_port'?" }],
  },
  {
    name: 'param not among its choices (smtp_port: 26)',
    profile: P('param-choice.yaml'),
    errors: [{ line: 8, col: 14, message: /smtp_port.*25 or 587.*26/, hint: '25 or 587' }],
  },
  {
    name: 'dynamic_ports reversed ("65535-20000")',
    profile: P('dynamic-reversed.yaml'),
    errors: [{ line: 8, col: 18, message: /dynamic_ports.*"65535-20000"/, hint: 'LO <= HI' }],
  },
  {
    name: 'dynamic_ports beyond 65535 ("20000-70000")',
    profile: P('dynamic-out-of-range.yaml'),
    errors: [{ line: 8, col: 18, message: /dynamic_ports.*"20000-70000"/, hint: '65535' }],
  },
  {
    name: 'address that is not an IP (a host name)',
    profile: P('not-an-ip.yaml'),
    errors: [{ line: 6, col: 23, message: "'node3.example.com' is not an IP address or CIDR", hint: 'IPv4 or IPv6' }],
  },
  {
    name: 'IPv4 CIDR with host bits set (10.0.0.1/24), block sequence',
    profile: P('v4-host-bits.yaml'),
    errors: [{ line: 9, col: 7, message: "'10.0.0.1/24' has host bits set", hint: "'10.0.0.0/24'" }],
  },
  {
    name: 'IPv6 CIDR with host bits set (2001:db8:ad::1/48)',
    profile: P('v6-host-bits.yaml'),
    errors: [{ line: 4, col: 29, message: "'2001:db8:ad::1/48' has host bits set", hint: "'2001:db8:ad::/48'" }],
  },
  {
    name: 'IPv4 prefix too long (/33)',
    profile: P('prefix-too-long.yaml'),
    errors: [{ line: 4, col: 12, message: "'198.51.100.0/33' has an invalid prefix length '/33'", hint: '0 to 32' }],
  },
  {
    name: 'wrong type: groups.admins is a string',
    profile: P('group-not-a-list.yaml'),
    errors: [{ line: 4, col: 11, message: "'groups.admins' must be a list", hint: null }],
  },
  {
    name: 'wrong type: features.debug is "yes"',
    profile: P('feature-not-bool.yaml'),
    errors: [{ line: 8, col: 10, message: "'features.debug' must be a boolean" }],
  },
  {
    name: "environment '../escaped' (would leave --out-dir)",
    profile: P('env-dotdot.yaml'),
    errors: [{ line: 2, col: 14, message: /'environment' .*"\.\.\/escaped"/ }],
  },
  {
    name: "environment 'prod/east' (path separator)",
    profile: P('env-slash.yaml'),
    errors: [{ line: 2, col: 14, message: /'environment' .*"prod\/east"/ }],
  },
  {
    name: "environment '..'",
    profile: P('env-just-dotdot.yaml'),
    errors: [{ line: 2, col: 14, message: /'environment' .*"\.\."/ }],
  },
  {
    name: 'egress: maybe',
    profile: P('egress-maybe.yaml'),
    errors: [{ line: 7, col: 9, message: /'egress' must be one of 'allow', 'restrict'.*maybe/ }],
  },
  {
    name: 'required group missing: no nodes (names ops-ssh)',
    profile: P('no-nodes.yaml'),
    errors: [{ line: 3, col: 1, message: /group 'nodes' has no addresses.*ops-ssh \(T1\.1/, hint: 'groups.nodes' }],
  },
  {
    name: 'required group empty: admins: [] (anti-lockout rule named; no feature offered as a way out)',
    profile: P('empty-admins.yaml'),
    errors: [{ line: 4, col: 3, message: /group 'admins' has no addresses.*ops-ssh \(T1\.1, anti-lockout\)/, hint: /^add addresses under groups\.admins$/ }],
  },
  {
    name: 'smtp enabled without smtp_relay (hint names the feature)',
    profile: P('smtp-without-relay.yaml'),
    errors: [{ line: 3, col: 1, message: /group 'smtp_relay' has no addresses.*out-smtp \(T4\.2\)/, hint: "turn off feature 'smtp'" }],
  },
  {
    name: 'JSON profile: host bits set (positions in JSON)',
    profile: P('host-bits.json'),
    errors: [{ line: 6, col: 29, message: "'10.20.0.1/24' has host bits set", hint: "'10.20.0.0/24'" }],
  },
  {
    name: "JSON profile: unknown key 'egres'",
    profile: P('unknown-key.json'),
    errors: [{ line: 8, col: 3, message: "unknown key 'egres'", hint: "did you mean 'egress'?" }],
  },
  {
    name: 'five errors in one file, all reported in order',
    profile: P('many-errors.yaml'),
    errors: [
      { line: 4, col: 3, message: "unknown group 'admin'", hint: "did you mean 'admins'?" },
      { line: 5, col: 22, message: "'300.1.1.1' is not an IP address" },
      { line: 6, col: 23, message: "'10.20.0.1/24' has host bits set", hint: "'10.20.0.0/24'" },
      { line: 8, col: 14, message: 'smtp_port' },
      { line: 10, col: 3, message: "unknown feature 'debugg'", hint: "did you mean 'debug'?" },
    ],
  },
  {
    name: 'three shape errors in one file, all reported in order',
    profile: P('many-shape-errors.yaml'),
    errors: [
      { line: 4, col: 11, message: "'groups.admins' must be a list" },
      { line: 6, col: 9, message: "'egress' must be one of" },
      { line: 8, col: 10, message: "'features.debug' must be a boolean" },
    ],
  },
  // Hostile input (issue #12): bounded, positioned, terminal-safe.
  {
    name: 'billion laughs: nine levels of aliases (9^9 values) stop at the alias that goes over',
    profile: P('alias-bomb.yaml'),
    errors: [{ line: 12, col: 23, message: 'this alias expands the document to more than 300000 values', hint: 'aliases are copies' }],
  },
  {
    name: 'an alias chain nesting 120 deep once expanded',
    profile: P('alias-chain-deep.yaml'),
    errors: [{ line: 104, col: 14, message: 'this alias expands nesting deeper than 100 levels' }],
  },
  {
    name: 'an alias inside the node it names (a cycle js-yaml accepts)',
    profile: P('alias-cycle.yaml'),
    errors: [{ line: 6, col: 27, message: 'this alias names a node that contains it (a cycle)' }],
  },
  {
    name: "two YAML documents: the error points at the second '---'",
    profile: P('two-documents.yaml'),
    errors: [{ line: 6, col: 1, message: 'invalid YAML: a second document starts here', hint: "remove the '---' line" }],
  },
  {
    name: 'ESC, OSC, C1, bidi and newline in names and values are shown quoted',
    profile: P('control-chars.yaml'),
    errors: [
      { line: 6, col: 3, message: String.raw`'\x1b[2J\x1b]0;owned\x07\x9b31m\u202eevil' is not a valid name in 'groups'` },
      { line: 7, col: 9, message: String.raw`not string "\u001b[8m\u2066hidden\u2069"` },
      { line: 8, col: 12, message: String.raw`'a\x0ab' is not a valid name in 'features'` },
    ],
  },
  {
    name: 'a raw bidi override before the column: quoted, caret still under the value',
    profile: P('bidi-in-line.yaml'),
    errors: [
      { line: 5, col: 12, message: String.raw`'192.0.2.1 \u202e' is not an IP address` },
      { line: 5, col: 27, message: "'300.1.1.1' is not an IP address" },
    ],
  },
  {
    name: 'a raw ESC in the file: positioned at the character, quoted in the line',
    profile: P('raw-escape.yaml'),
    errors: [{ line: 5, col: 14, message: 'invalid YAML: the stream contains non-printable characters' }],
  },
  {
    name: 'a NUL byte: positioned at the byte (was line 1)',
    profile: P('nul-byte.yaml'),
    errors: [{ line: 4, col: 25, message: 'invalid YAML: null byte is not allowed in input' }],
  },
  {
    name: 'a byte order mark is not a column',
    profile: P('bom-host-bits.yaml'),
    errors: [{ line: 1, col: 38, message: "'192.0.2.1/24' has host bits set" }],
  },
  {
    name: 'a !!binary value: unknown tag, at the tag',
    profile: P('binary-tag.yaml'),
    errors: [{ line: 5, col: 9, message: 'invalid YAML: unknown tag' }],
  },
  {
    name: 'an application tag (!js/function): unknown tag, at the tag',
    profile: P('custom-tag.yaml'),
    errors: [{ line: 4, col: 11, message: 'invalid YAML: unknown tag !<!js/function>' }],
  },
  {
    name: 'catalog: billion laughs among the groups',
    profile: 'fixtures/profiles/mini.yaml',
    catalog: C('alias-bomb.yaml'),
    errors: [{ line: 18, col: 23, message: 'this alias expands the document to more than 300000 values' }],
  },
  // Catalog errors (--catalog): positions point into the catalog file.
  {
    name: "catalog: unknown group 'monitr' in a rule",
    profile: 'fixtures/profiles/mini.yaml',
    catalog: C('unknown-group.yaml'),
    errors: [{ line: 57, col: 12, message: "unknown group 'monitr' in rule 'metrics'", hint: "did you mean 'monitor'?" }],
  },
  {
    name: 'catalog: rules citing an undeclared table (both reported)',
    profile: 'fixtures/profiles/mini.yaml',
    catalog: C('unknown-table.yaml'),
    errors: [
      { line: 44, col: 12, message: "rule 'gossip' cites table 'T3'", hint: "known: 'T1', 'T2'" },
      { line: 52, col: 12, message: "rule 'metrics' cites table 'T3'", hint: "known: 'T1', 'T2'" },
    ],
  },
  {
    name: 'catalog: duplicate rule id',
    profile: 'fixtures/profiles/mini.yaml',
    catalog: C('duplicate-id.yaml'),
    errors: [{ line: 35, col: 9, message: "rule id 'ssh' is used twice" }],
  },
  {
    name: 'catalog: anti-lockout rule gated by a feature',
    profile: 'fixtures/profiles/mini.yaml',
    catalog: C('anti-lockout-feature.yaml'),
    errors: [{ line: 34, col: 19, message: "rule 'ssh' is anti-lockout, so it cannot depend on a feature" }],
  },
  {
    name: "catalog: unknown param 'app_prot' in a rule",
    profile: 'fixtures/profiles/mini.yaml',
    catalog: C('unknown-param.yaml'),
    errors: [{ line: 39, col: 22, message: "unknown param 'app_prot' in rule 'app'", hint: "did you mean 'app_port'?" }],
  },
  {
    name: "catalog: unknown key 'protocol' in a rule",
    profile: 'fixtures/profiles/mini.yaml',
    catalog: C('unknown-rule-key.yaml'),
    errors: [{ line: 49, col: 5, message: "unknown key 'protocol' in 'rules.2'" }],
  },
];

function matches(actual: string | undefined, want: string | RegExp): boolean {
  if (actual === undefined) return false;
  return typeof want === 'string' ? actual.includes(want) : want.test(actual);
}

function checkDiagnostics(c: Case, r: Run): ParsedDiagnostic[] {
  const file = c.file ?? c.catalog ?? c.profile;
  const ds = parseDiagnostics(r.stderr);
  assert.is(ds.length, c.errors.length, `number of diagnostics; stderr:\n${r.stderr}`);
  c.errors.forEach((want, i) => {
    const d = ds[i];
    const where = `diagnostic ${i + 1} of ${c.name}; stderr:\n${r.stderr}`;
    assert.is(d.file, file, `file of ${where}`);
    assert.is(d.level, 'error', where);
    assert.is(`${d.line}:${d.col}`, `${want.line}:${want.col}`, `line:col of ${where}`);
    assert.ok(matches(d.message, want.message), `message ${JSON.stringify(d.message)} should match ${want.message} (${where})`);
    assertCaret(d, file);
    if (want.hint === null) assert.is(d.hint, undefined, `no hint expected (${where})`);
    else if (want.hint !== undefined) assert.ok(matches(d.hint, want.hint), `hint ${JSON.stringify(d.hint)} should match ${want.hint} (${where})`);
    // The exact prefix, as a whole line.
    assert.match(r.stderr, new RegExp(`^${escape(`${file}:${want.line}:${want.col}: error: `)}`, 'm'));
  });
  const n = c.errors.length;
  assert.match(r.stderr, new RegExp(`^${n} error${n === 1 ? '' : 's'}; nothing written\\.$`, 'm'));
  assertNoStack(r.stderr);
  assertTerminalSafe(r.stderr);
  assert.ok(r.stderr.length < 4096 * n, `stderr of ${r.stderr.length} characters for ${n} errors`);
  return ds;
}

function escape(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

/** A scratch area shared by the compile cases: WORK/out holds an earlier,
 * valid compile of the example profile; WORK has nothing else. Every bad
 * compile must leave WORK exactly as it was (paths, bytes, modes, mtimes). */
let work = '';
let out = '';
let baseline: ReturnType<typeof snapshot> = [];

function populate(): void {
  if (work) rmTree(work);
  work = tmpDir();
  out = path.join(work, 'out');
  const ok = runCli(['compile', '--profile', fixture('profiles', 'example.yaml'), '--out-dir', out]);
  assert.is(ok.code, 0, ok.stderr);
  baseline = snapshot(work);
  assert.ok(baseline.some((e) => e.path === 'out/prod-east/nftables/portcullis.nft'), 'populated');
}

test.before(populate);
test.after(() => rmTree(work));

/** Cases also run into a fresh (non-existent) out-dir and with --stdout. */
const ALSO_FRESH_AND_STDOUT = new Set([
  'yaml-syntax.yaml',
  'unknown-top-key.yaml',
  'v4-host-bits.yaml',
  'env-dotdot.yaml',
  'no-nodes.yaml',
  'host-bits.json',
  'many-errors.yaml',
  'unknown-table.yaml',
  'alias-bomb.yaml',
  'control-chars.yaml',
  'two-documents.yaml',
]);

for (const c of cases) {
  const extra = c.catalog ? ['--catalog', c.catalog] : [];

  test(`compile: ${c.name}`, () => {
    let changed = true;
    try {
      const r = runCli(['compile', '--profile', c.profile, ...extra, '--target', 'all', '--out-dir', out]);
      assert.is(r.code, 2, `exit code; stderr:\n${r.stderr}`);
      assert.is(r.stdout, '');
      checkDiagnostics(c, r);
      // Nothing written, moved, touched or left behind, inside or next to out.
      assert.equal(listing(work), baseline.map((e) => e.path));
      assert.equal(snapshot(work), baseline);
      changed = false;
    } finally {
      if (changed) populate();
    }
  });

  test(`validate: ${c.name}`, () => {
    const r = runCli(['validate', '--profile', c.profile, ...extra]);
    assert.is(r.code, 2, r.stderr);
    assert.is(r.stdout, '');
    checkDiagnostics(c, r);
  });

  if (!ALSO_FRESH_AND_STDOUT.has(path.basename(c.catalog ?? c.profile))) continue;

  test(`compile into a fresh directory: ${c.name}`, () => {
    const scratch = tmpDir();
    try {
      const fresh = path.join(scratch, 'nested', 'out');
      const r = runCli(['compile', '--profile', c.profile, ...extra, '--target', 'nftables', '--out-dir', fresh]);
      assert.is(r.code, 2, r.stderr);
      checkDiagnostics(c, r);
      assert.equal(listing(scratch), [], 'nothing may be created, not even the out-dir');
    } finally {
      rmTree(scratch);
    }
  });

  test(`compile --stdout: ${c.name}`, () => {
    const r = runCli(['compile', '--profile', c.profile, ...extra, '--stdout']);
    assert.is(r.code, 2, r.stderr);
    assert.is(r.stdout, '', 'no partial output on stdout');
    checkDiagnostics(c, r);
  });
}

test('a bad environment never becomes a path outside --out-dir', () => {
  for (const bad of ['env-dotdot.yaml', 'env-slash.yaml', 'env-just-dotdot.yaml']) {
    const scratch = tmpDir();
    try {
      const target = path.join(scratch, 'a', 'out');
      fs.mkdirSync(target, { recursive: true });
      const r = runCli(['compile', '--profile', P(bad), '--out-dir', target]);
      assert.is(r.code, 2, r.stderr);
      assert.equal(listing(scratch), ['a/', 'a/out/'], `${bad}: nothing created anywhere`);
    } finally {
      rmTree(scratch);
    }
  }
});

test('CRLF line endings: same lines and columns', () => {
  const work = tmpDir();
  try {
    const file = path.join(work, 'crlf.yaml');
    fs.writeFileSync(file, fs.readFileSync(path.join(ROOT, P('many-errors.yaml')), 'utf8').replace(/\n/g, '\r\n'));
    const r = runCli(['validate', '--profile', file]);
    assert.is(r.code, 2, r.stderr);
    const ds = parseDiagnostics(r.stderr);
    assert.equal(
      ds.map((d) => `${d.line}:${d.col}`),
      ['4:3', '5:22', '6:23', '8:14', '10:3'],
    );
    for (const d of ds) assertCaret(d, file);
    assert.not.match(r.stderr, /\r/, 'no carriage return in the quoted lines');
  } finally {
    rmTree(work);
  }
});

test('a missing profile: exit 2, one clean line, nothing written', () => {
  const work = tmpDir();
  try {
    const out = path.join(work, 'out');
    const r = runCli(['compile', '--profile', 'fixtures/profiles/no-such-profile.yaml', '--out-dir', out]);
    assert.is(r.code, 2);
    assert.is(r.stderr.trim(), 'fixtures/profiles/no-such-profile.yaml: error: cannot read file: no such file');
    assertNoStack(r.stderr);
    assert.equal(listing(work), []);
    const v = runCli(['validate', '--profile', 'fixtures/profiles/no-such-profile.yaml']);
    assert.is(v.code, 2);
    assert.match(v.stderr, /^fixtures\/profiles\/no-such-profile\.yaml: error: cannot read file: no such file$/m);
  } finally {
    rmTree(work);
  }
});

test('a missing catalog, and a directory given as the profile: exit 2, clean message', () => {
  const r = runCli(['compile', '--profile', 'fixtures/profiles/example.yaml', '--catalog', 'fixtures/catalogs/nope.yaml', '--stdout']);
  assert.is(r.code, 2);
  assert.match(r.stderr, /^fixtures\/catalogs\/nope\.yaml: error: cannot read file: no such file$/m);
  assertNoStack(r.stderr);
  const d = runCli(['validate', '--profile', 'fixtures']);
  assert.is(d.code, 2);
  assert.match(d.stderr, /^fixtures: error: cannot read file/m);
  assertNoStack(d.stderr);
});

test('bad usage exits 2 without a stack trace: unknown target, --stdout with --check, no --profile', () => {
  const runs = [
    runCli(['compile', '--profile', 'fixtures/profiles/example.yaml', '--target', 'pf', '--stdout']),
    runCli(['compile', '--profile', 'fixtures/profiles/example.yaml', '--stdout', '--check']),
    runCli(['compile', '--stdout']),
    runCli(['frobnicate']),
  ];
  for (const r of runs) {
    assert.is(r.code, 2, r.stderr);
    assert.match(r.stderr, /error/);
    assert.is(r.stdout, '');
    assertNoStack(r.stderr);
  }
  assert.match(runs[0].stderr, /unknown target 'pf'/);
});

// Regression (found by this test): an empty profile used to report "the
// document must be a mapping, not undefined undefined".
test('an empty profile says it is empty, not "undefined undefined"', () => {
  const r = runCli(['validate', '--profile', P('empty.yaml')]);
  assert.is(r.code, 2, r.stderr);
  const ds = parseDiagnostics(r.stderr);
  assert.is(ds.length, 1, r.stderr);
  assert.is(`${ds[0].line}:${ds[0].col}`, '1:1');
  assert.match(ds[0].message, /empty/);
  assert.not.match(r.stderr, /undefined/);
  assertNoStack(r.stderr);
});

// Regression (found by this test): one malformed value was reported twice at
// the same position, by the schema and again by the loader ("2 errors").
test('a malformed dynamic_ports (20000..65535) is reported once', () => {
  const r = runCli(['validate', '--profile', P('dynamic-malformed.yaml')]);
  assert.is(r.code, 2, r.stderr);
  const ds = parseDiagnostics(r.stderr);
  assert.equal(
    ds.map((d) => `${d.line}:${d.col}`),
    ['8:18'],
    r.stderr,
  );
  assert.match(ds[0].message, /dynamic_ports.*20000\.\.65535/);
  assertCaret(ds[0], P('dynamic-malformed.yaml'));
  assertNoStack(r.stderr);
});

// Regression (found by this test): --out-dir naming a regular file crashed
// with an ENOTDIR stack trace and exit 1.
test('--out-dir that is a regular file: exit 2, clean message, file untouched', () => {
  const work = tmpDir();
  try {
    const file = path.join(work, 'not-a-dir');
    fs.writeFileSync(file, 'keep me\n');
    const r = runCli(['compile', '--profile', 'fixtures/profiles/example.yaml', '--target', 'nftables', '--out-dir', file]);
    assertNoStack(r.stderr);
    assert.is(r.code, 2, r.stderr);
    assert.match(r.stderr, /error/);
    assert.is(fs.readFileSync(file, 'utf8'), 'keep me\n');
    assert.equal(listing(work), ['not-a-dir']);
  } finally {
    rmTree(work);
  }
});

test.run();
