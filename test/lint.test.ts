// `portcullis lint`: each rule on a profile that triggers it (at the line of
// the offending entry, found here by its text) and on one that does not;
// silencing comments; exit codes; SARIF validated with ajv against the
// published SARIF 2.1.0 schema (test/schemas/sarif-2.1.0.json, the OASIS
// errata01 schema, verbatim).
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import Ajv04 from 'ajv-draft-04';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { fixture, ROOT, runCli } from './helpers/cli';
import { assertNoStack } from './helpers/diagnostics';

interface TextFinding {
  file: string;
  line: number;
  col: number;
  level: string;
  message: string;
  rule: string;
  source?: string;
  caretCol?: number;
  hint?: string;
}

const HEAD = /^(.+?):(\d+):(\d+): (error|warning|note): (.*) \[(PC\d{3})\]$/;

function parseText(stdout: string): TextFinding[] {
  const lines = stdout.split('\n');
  const out: TextFinding[] = [];
  for (let i = 0; i < lines.length; i++) {
    const m = HEAD.exec(lines[i]);
    if (!m) continue;
    const f: TextFinding = { file: m[1], line: Number(m[2]), col: Number(m[3]), level: m[4], message: m[5], rule: m[6] };
    const src = /^  (\d+) \| (.*)$/.exec(lines[i + 1] ?? '');
    if (src) {
      f.source = src[2];
      const caret = /^  +\| ([ \t]*)\^$/.exec(lines[i + 2] ?? '');
      if (caret) f.caretCol = caret[1].length + 1;
    }
    const hint = lines.slice(i + 1, i + 4).find((l) => l.startsWith('  hint: '));
    if (hint) f.hint = hint.slice(8);
    out.push(f);
  }
  return out;
}

const rel = (...p: string[]) => path.join('fixtures', 'profiles', ...p);
const fileLines = (file: string) => fs.readFileSync(path.resolve(ROOT, file), 'utf8').split('\n');

/** 1-based line and column of the first line containing `needle` (after `after`). */
function where(file: string, needle: string, after = 0): { line: number; col: number } {
  const lines = fileLines(file);
  for (let i = after; i < lines.length; i++) {
    const c = lines[i].indexOf(needle);
    if (c >= 0) return { line: i + 1, col: c + 1 };
  }
  throw new Error(`test setup: '${needle}' not in ${file}`);
}

function lint(args: string[], cwd?: string) {
  const r = runCli(['lint', ...args], { cwd });
  assertNoStack(r.stderr);
  return { ...r, findings: parseText(r.stdout) };
}

function tmp(name: string, text: string): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), `pc-lint-${process.pid}-`));
  const file = path.join(dir, name);
  fs.writeFileSync(file, text);
  return file;
}

/** Every finding quotes its own source line and puts the caret on its column. */
function assertQuoted(findings: TextFinding[]) {
  for (const f of findings) {
    assert.is(f.source, fileLines(f.file)[f.line - 1], `quoted line of ${f.file}:${f.line}`);
    assert.is(f.caretCol, f.col, `caret of ${f.file}:${f.line}:${f.col}`);
  }
}

// ---- a clean profile --------------------------------------------------------

test('lint: a clean profile has no findings and exits 0', () => {
  const r = lint(['--profile', rel('lint-clean.yaml')]);
  assert.is(r.code, 0, r.stdout + r.stderr);
  assert.equal(r.findings, []);
  assert.is(r.stdout, 'lint: 0 errors, 0 warnings, 0 notes\n');
});

// ---- PC001 ----------------------------------------------------------------------

test('PC001: 0.0.0.0/0, an IPv6 /32 and an IPv4 /12 reaching admin/support-only ports are errors, at their lines; exit 1', () => {
  const file = rel('lint-broad.yaml');
  const r = lint(['--profile', file]);
  assert.is(r.code, 1, r.stdout + r.stderr);
  const pc001 = r.findings.filter((f) => f.rule === 'PC001');
  assert.equal(
    pc001.map((f) => [f.line, f.col, f.level]),
    [
      [where(file, '0.0.0.0/0').line, where(file, '0.0.0.0/0').col, 'error'],
      [where(file, '"2400:cb00::/32"').line, where(file, '"2400:cb00::/32"').col, 'error'],
      [where(file, '172.16.0.0/12').line, where(file, '172.16.0.0/12').col, 'error'],
    ],
  );
  assert.match(pc001[0].message, /whole IPv4 internet/);
  assert.match(pc001[0].message, /nodes tcp 22\b/);
  assert.match(pc001[0].message, /T1\.1 SSH/);
  assert.match(pc001[1].message, /broader than \/48/);
  assert.match(pc001[2].message, /'support' reaches .*nodes tcp 22, 12345 \(T3\.1 SSH, T3\.4 Simba\)/);
  assert.ok(pc001.every((f) => f.hint), 'every finding has a hint');
  // users: [0.0.0.0/0] reaches only 80/443, which the catalog opens to users: not a finding.
  assert.not.ok(r.findings.some((f) => f.line === where(file, 'users: [0.0.0.0/0]').line));
  assert.equal(r.findings.map((f) => f.rule), ['PC001', 'PC001', 'PC001']);
  assertQuoted(r.findings);
});

// ---- PC001 and the transports without ports --------------------------------------

// Admins reach GRE (the whole protocol), every ICMP type and ICMPv6
// echo-request; the monitor (not privileged) reaches ESP and ICMP
// echo-request. What the host targets let in anyway (IR icmp: echo-request,
// destination-unreachable, ...) is public: no finding for it alone.
const TRANSPORT_CATALOG = `name: t
host: nodes
tables:
  T1: { heading: "Access" }
groups:
  admins: { description: Administrators. }
  monitor: { description: Monitoring. }
  nodes: { description: The hosts. }
rules:
  - { id: gre, table: T1, row: 1, cells: { port: "-", protocol: "GRE", service: "GRE" }, transport: gre, from: [admins], to: [nodes] }
  - { id: icmp-any, table: T1, row: 2, cells: { port: "-", protocol: "ICMP", service: "ICMP" }, transport: icmp, from: [admins], to: [nodes] }
  - { id: echo6, table: T1, row: 3, cells: { port: "128", protocol: "ICMPv6", service: "Ping6" }, transport: icmpv6, icmp_types: [echo-request], from: [admins], to: [nodes] }
  - { id: esp, table: T1, row: 4, cells: { port: "50", protocol: "ESP", service: "ESP" }, transport: esp, from: [monitor], to: [nodes] }
  - { id: ping, table: T1, row: 5, cells: { port: "8", protocol: "ICMP", service: "Ping" }, transport: icmp, icmp_types: [echo-request], from: [monitor], to: [nodes] }
`;

test('PC001: a world-wide source on a portless protocol or on all ICMP types is an error; ICMPv6 is IPv6 only; what every host lets in and what non-privileged groups reach are not', () => {
  const catalog = tmp('catalog.yaml', TRANSPORT_CATALOG);
  const profile = path.join(path.dirname(catalog), 'p.yaml');
  fs.writeFileSync(profile, 'environment: t\ngroups:\n  admins: [0.0.0.0/0, "::/0"]\n  monitor: [0.0.0.0/0, "::/0"]\n  nodes: [10.0.0.1]\n');
  const r = lint(['--profile', profile, '--catalog', catalog]);
  assert.is(r.code, 1, r.stdout + r.stderr);
  const pc001 = r.findings.filter((f) => f.rule === 'PC001');
  assert.equal(pc001.map((f) => [f.line, f.col]), [[3, 12], [3, 23]]);
  // IPv4: GRE and every ICMP type but those every host lets in.
  assert.match(pc001[0].message, /whole IPv4 internet/);
  assert.match(pc001[0].message, /nodes gre \(T1\.1 GRE\)/);
  assert.match(pc001[0].message, /nodes icmp echo-reply, 1-2, source-quench, redirect, .* \(T1\.2 ICMP\)/);
  assert.not.match(pc001[0].message, /icmpv6|echo-request|T1\.3/);
  // IPv6: GRE only; ICMPv6 echo-request is let in by every host anyway, ICMP is not IPv6.
  assert.match(pc001[1].message, /whole IPv6 internet.*: nodes gre \(T1\.1 GRE\)$/);
  // The monitor reaches ESP and echo-request, which no privileged-only rule opens.
  assert.not.ok(r.findings.some((f) => f.line === 4), r.stdout);
  // A narrow admin network is fine.
  fs.writeFileSync(profile, 'environment: t\ngroups:\n  admins: [10.1.0.0/24]\n  monitor: [10.2.0.0/24]\n  nodes: [10.0.0.1]\n');
  const ok = lint(['--profile', profile, '--catalog', catalog]);
  assert.equal(ok.findings.filter((f) => f.rule === 'PC001'), []);
  // Only the types the host lets in anyway: no finding.
  fs.writeFileSync(catalog, TRANSPORT_CATALOG.replace('transport: icmp, from: [admins]', 'transport: icmp, icmp_types: [echo-request, destination-unreachable], from: [admins]').replace('transport: gre, from: [admins]', 'transport: gre, from: [monitor]'));
  fs.writeFileSync(profile, 'environment: t\ngroups:\n  admins: [0.0.0.0/0]\n  monitor: [10.2.0.0/24]\n  nodes: [10.0.0.1]\n');
  const host = lint(['--profile', profile, '--catalog', catalog]);
  assert.equal(host.findings.filter((f) => f.rule === 'PC001'), [], host.stdout);
});

test('PC001 sees the profile\'s own extra_ingress: a world-wide entry on SSH (only admins and support reach 22 in the built-in catalog) is an error at the entry; a narrow one, or one on a port users reach anyway, is not', () => {
  const dir = path.dirname(tmp('x.yaml', ''));
  const profile = path.join(dir, 'xi.yaml');
  const base = 'environment: xi\ngroups:\n  admins: [10.1.0.0/24]\n  users: [10.9.0.0/16]\n  nodes: [10.20.0.11]\nextra_ingress:\n';
  fs.writeFileSync(profile, base + '  - from: [0.0.0.0/0]\n    ports: [22]\n  - from: [10.3.0.7]\n    ports: [22]\n  - from: ["::/0"]\n    ports: [443]\n');
  const r = lint(['--profile', profile]);
  assert.is(r.code, 1, r.stdout + r.stderr);
  const pc001 = r.findings.filter((f) => f.rule === 'PC001');
  assert.equal(pc001.map((f) => [f.line, f.col]), [[7, 12]]);
  assert.match(pc001[0].message, /'0\.0\.0\.0\/0' in group 'extra_ingress_1' is the whole IPv4 internet.*nodes tcp 22 \(PI\.1 /);
});

test('PC004 with other transports: a monitor address inside the admins reaches GRE and ICMP through them', () => {
  const catalog = tmp('catalog.yaml', TRANSPORT_CATALOG);
  const profile = path.join(path.dirname(catalog), 'p.yaml');
  fs.writeFileSync(profile, 'environment: t\ngroups:\n  admins: [10.1.0.0/24]\n  monitor: [10.1.0.7]\n  nodes: [10.0.0.1]\n');
  const r = lint(['--profile', profile, '--catalog', catalog]);
  const pc004 = r.findings.filter((f) => f.rule === 'PC004');
  assert.is(pc004.length, 1, r.stdout);
  assert.match(pc004[0].message, /nodes gre \(T1\.1 GRE\)/);
  assert.match(pc004[0].message, /nodes icmp .*\(T1\.2 ICMP\)/);
});

test('lint of the transports catalog and profile: nothing crashes, ICMP and portless Port cells are not interpreted rows (PC101, PC102)', () => {
  const r = lint(['--profile', rel('transports.yaml'), '--catalog', path.join('fixtures', 'catalogs', 'transports.yaml'), '--catalog-findings']);
  assert.is(r.code, 0, r.stdout + r.stderr);
  assert.equal(r.findings.filter((f) => f.rule !== 'PC005' && f.rule !== 'PC007'), [], r.stdout);
  const sarif = runCli(['lint', '--profile', rel('transports.yaml'), '--catalog', path.join('fixtures', 'catalogs', 'transports.yaml'), '--format', 'sarif']);
  assert.is(sarif.code, 0, sarif.stderr);
  JSON.parse(sarif.stdout);
});

test('PC001: at the threshold (/16, /48) is not very broad; with features off the ports are not reachable', () => {
  const r = lint(['--profile', rel('lint-threshold.yaml')]);
  assert.is(r.code, 0, r.stdout);
  assert.equal(r.findings, []);
  // support 172.16.0.0/12 with feature support off: no port reachable, no PC001 (PC002 instead).
  const text = fs.readFileSync(fixture('profiles', 'lint-broad.yaml'), 'utf8').replace('support: true', 'support: false').replace(/admins:\n.*\n.*\n/, 'admins: [10.1.0.0/24]\n');
  const off = lint(['--profile', tmp('off.yaml', text)]);
  assert.is(off.code, 0, off.stdout);
  assert.equal(off.findings.map((f) => f.rule), ['PC002']);
});

// ---- PC002 ----------------------------------------------------------------------

test('PC002: groups no enabled rule uses, at their keys, naming the feature that would use them', () => {
  const file = rel('lint-unused.yaml');
  const r = lint(['--profile', file]);
  assert.is(r.code, 0, r.stdout);
  assert.equal(
    r.findings.map((f) => [f.rule, f.level, f.line, f.col]),
    [
      ['PC002', 'warning', where(file, 'bmc:').line, where(file, 'bmc:').col],
      ['PC002', 'warning', where(file, 'smtp_relay:').line, where(file, 'smtp_relay:').col],
    ],
  );
  assert.match(r.findings[0].message, /group 'bmc' is not used by any enabled rule: feature 'ipmi' is off/);
  assert.match(r.findings[0].message, /ipmi-http T5\.1/);
  assert.match(r.findings[1].message, /feature 'smtp' is off/);
  assert.match(r.findings[0].hint ?? '', /features\.ipmi/);
  assertQuoted(r.findings);
  // With the features on, the groups are used.
  const text = fs
    .readFileSync(path.resolve(ROOT, file), 'utf8')
    .replace('ipmi: false', 'ipmi: true\n  smtp: true')
    .replace('users: [0.0.0.0/0]', 'users: [0.0.0.0/0]\n  support: [10.9.0.0/24]');
  const on = lint(['--profile', tmp('on.yaml', text)]);
  assert.is(on.code, 0, on.stdout + on.stderr);
  assert.equal(on.findings.filter((f) => f.rule === 'PC002'), []);
});

// ---- PC003 ----------------------------------------------------------------------

test('PC003: an entry listed twice (also as /32) and one covered by another of its group; adjacent is fine', () => {
  const file = rel('lint-redundant.yaml');
  const r = lint(['--profile', file]);
  assert.is(r.code, 0, r.stdout);
  const dup = where(file, '10.1.0.0/24', where(file, '10.1.0.0/24').line);
  assert.equal(
    r.findings.map((f) => [f.rule, f.line, f.col]),
    [
      ['PC003', dup.line, dup.col],
      ['PC003', where(file, '10.1.0.77').line, where(file, '10.1.0.77').col],
      ['PC003', where(file, '"10.20.0.11/32"').line, where(file, '"10.20.0.11/32"').col],
    ],
  );
  assert.match(r.findings[0].message, /listed twice in group 'admins'/);
  assert.match(r.findings[1].message, /'10\.1\.0\.77' in group 'admins' is covered by '10\.1\.0\.0\/24'/);
  assert.match(r.findings[2].message, /'10\.20\.0\.11\/32' is listed twice in group 'nodes'/);
  assertQuoted(r.findings);
  assert.not.ok(r.findings.some((f) => f.line === where(file, '10.1.1.0/24').line), 'adjacent network is not covered');
});

// ---- PC004 ----------------------------------------------------------------------

test('PC004: a node address inside support reaches SSH on the other nodes (and support reaches the node ports)', () => {
  const file = rel('lint-overlap.yaml');
  const r = lint(['--profile', file]);
  assert.is(r.code, 0, r.stdout);
  assert.equal(r.findings.map((f) => [f.rule, f.level]), [['PC004', 'warning']]);
  const f = r.findings[0];
  const at = where(file, '- 10.20.0.12');
  assert.equal([f.line, f.col], [at.line, at.col + 2]);
  assert.match(f.message, /'10\.20\.0\.12' is in both 'support' and 'nodes'/);
  assert.match(f.message, /nodes tcp 22 \(T3\.1 SSH\), which 'nodes' alone does not reach/);
  assert.match(f.message, /which 'support' alone does not reach/);
  assert.match(f.message, new RegExp(`lint-overlap\\.yaml:${where(file, 'nodes: [').line}`));
  assertQuoted(r.findings);
});

test('PC004: admins inside users (broad or not) is not a finding; a node inside a support network is', () => {
  const text = fs.readFileSync(fixture('profiles', 'lint-overlap.yaml'), 'utf8');
  // users narrower than the threshold, still containing the admins: users' ports (80, 443) are open to everyone meant to have them.
  const narrowUsers = lint(['--profile', tmp('u.yaml', text.replace('users: [0.0.0.0/0]', 'users: [10.1.0.0/16]').replace('    - 10.20.0.12             # a node in support: it may SSH to the other nodes\n', ''))]);
  assert.is(narrowUsers.code, 0);
  assert.equal(narrowUsers.findings, []);
  // A support network containing two node addresses: each node is reported, at its own column.
  const file = tmp('s.yaml', text.replace('    - 10.20.0.12             # a node in support: it may SSH to the other nodes\n', '    - 10.20.0.8/29\n'));
  const r = lint(['--profile', file]);
  const nodesLine = fs.readFileSync(file, 'utf8').split('\n').findIndex((l) => l.includes('nodes: [')) + 1;
  assert.equal(
    r.findings.map((f) => [f.rule, f.line]),
    [
      ['PC004', nodesLine],
      ['PC004', nodesLine],
      ['PC004', nodesLine],
    ],
  );
  assert.match(r.findings[0].message, /'10\.20\.0\.11' in group 'nodes' is inside '10\.20\.0\.8\/29' of group 'support'.*nodes tcp 22/);
});

// ---- PC005 ----------------------------------------------------------------------

test('PC005: documentation ranges in the example profile are notes, at their entries; exit 0', () => {
  const file = rel('example.yaml');
  const r = lint(['--profile', file]);
  assert.is(r.code, 0, r.stdout);
  const notes = r.findings.filter((f) => f.rule === 'PC005');
  assert.equal(
    notes.map((f) => [f.level, f.line, f.col]),
    [
      ['note', where(file, '198.51.100.0/24').line, where(file, '198.51.100.0/24').col],
      ['note', where(file, '"2001:db8:ad::/48"').line, where(file, '"2001:db8:ad::/48"').col],
      ['note', where(file, '203.0.113.16/28').line, where(file, '203.0.113.16/28').col],
    ],
  );
  assert.match(notes[0].message, /RFC 5737/);
  assert.match(notes[1].message, /2001:db8::\/32 \(RFC 3849\)/);
  // And support is unused there (feature support is off).
  assert.equal(r.findings.filter((f) => f.rule !== 'PC005').map((f) => [f.rule, f.line]), [['PC002', where(file, 'support:').line]]);
  assertQuoted(r.findings);
});

// ---- silencing ------------------------------------------------------------------

test('silencing: same-line and line-above comments with a reason silence; no reason or a stale one is PC000', () => {
  const file = rel('lint-silenced.yaml');
  const r = lint(['--profile', file]);
  assert.is(r.code, 0, 'the PC001 error is silenced: exit 0\n' + r.stdout);
  assert.equal(
    r.findings.map((f) => [f.rule, f.line]),
    [
      ['PC000', where(file, 'reason="nothing to silence here"').line],
      ['PC002', where(file, 'bmc:').line],
      ['PC000', where(file, 'bmc:').line],
    ],
  );
  assert.match(r.findings[0].message, /silences nothing/);
  assert.match(r.findings[2].message, /no reason/);
  assert.match(r.stdout, /\(2 silenced\)\n$/);
  // Without the comments, the PC001 error and the PC005 note are back.
  const bare = fs
    .readFileSync(path.resolve(ROOT, file), 'utf8')
    .split('\n')
    .map((l) => l.replace(/\s*# portcullis-lint:.*$/, ''))
    .join('\n');
  const b = lint(['--profile', tmp('bare.yaml', bare)]);
  assert.is(b.code, 1);
  assert.equal(b.findings.map((f) => f.rule).sort(), ['PC001', 'PC002', 'PC005']);
});

test('silencing: a directive naming an unknown rule is PC000, and PC000 itself cannot be silenced', () => {
  const text = 'environment: x\ngroups:\n  admins: [10.1.0.0/24]   # portcullis-lint: disable=PC999,PC000 reason="typo"\n  users: [0.0.0.0/0]\n  nodes: [10.20.0.11]\n';
  const r = lint(['--profile', tmp('u.yaml', text)]);
  assert.is(r.code, 0);
  assert.equal(r.findings.map((f) => [f.rule, f.line]), [['PC000', 3]]);
  assert.match(r.findings[0].message, /'PC999', 'PC000' are not rules that can be silenced/);
});

// ---- catalog findings -----------------------------------------------------------

test('catalog findings: with --catalog-findings on the built-in catalog, repeated ports and interpreted rows, at catalog lines', () => {
  const plain = lint(['--profile', rel('lint-clean.yaml')]);
  assert.equal(plain.findings, [], 'off by default for the built-in catalog');
  const r = lint(['--profile', rel('lint-clean.yaml'), '--catalog-findings']);
  assert.is(r.code, 0);
  const cat = path.join('catalog', 'thoughtspot.yaml');
  assert.ok(r.findings.every((f) => f.file === cat), 'all in the catalog');
  const rows = (rule: string) =>
    r.findings
      .filter((f) => f.rule === rule)
      .map((f) => /^(T\d\.\d+)/.exec(f.message.replace(/^port \d+ is '[^']*' in /, ''))?.[1]);
  // 4853 (RPC/HTTP in T2), 4251 (HTTP in T1, RPC in T2), 22 (SSH in T1, SCP in T3); TCP is not a protocol name (80, 443, 12345).
  assert.equal(rows('PC101'), ['T1.1', 'T1.8', 'T2.25', 'T2.31', 'T2.32', 'T3.1']);
  assert.ok(r.findings.filter((f) => f.rule === 'PC101').every((f) => f.level === 'warning' && /protocol: /.test(f.source ?? '')));
  // The garbled outbound rows, the address destination, and IPMI to the BMCs.
  assert.equal(
    r.findings.filter((f) => f.rule === 'PC102').map((f) => /^(T\d\.\d+)/.exec(f.message)?.[1]),
    ['T4.1', 'T4.2', 'T4.3', 'T5.1'],
  );
  const smtp = r.findings.find((f) => f.rule === 'PC102' && f.message.startsWith('T4.2'))!;
  assert.match(smtp.message, /Source 'All nodes and SMTP relay \(provided by customer\)' reads as nodes, smtp_relay; the rule has from: nodes/);
  assert.match(smtp.message, /Port '25 or 587' is param smtp_port/);
  assert.is(smtp.line, where(cat, 'source: "All nodes and SMTP relay').line);
  // Every other rule with a note is a PC103 note.
  const notes = r.findings.filter((f) => f.rule === 'PC103');
  assert.ok(notes.length > 10 && notes.every((f) => f.level === 'note' && /^\s*note: /.test(f.source ?? '')));
  assert.ok(notes.some((f) => /ic-dynamic/.test(f.message)), 'the prose rule is a judgement call');
  assertQuoted(r.findings);
  // --catalog turns them on; --no-catalog-findings off.
  assert.ok(lint(['--profile', rel('lint-clean.yaml'), '--catalog', cat]).findings.length === r.findings.length);
  assert.equal(lint(['--profile', rel('lint-clean.yaml'), '--catalog', cat, '--no-catalog-findings']).findings, []);
});

// ---- exit codes -----------------------------------------------------------------

test('exit codes: 2 on bad input (no stdout), 2 on bad usage, 1 only for unsilenced errors', () => {
  const bad = lint(['--profile', rel('bad', 'not-an-ip.yaml')]);
  assert.is(bad.code, 2);
  assert.is(bad.stdout, '');
  assert.match(bad.stderr, /not-an-ip\.yaml:\d+:\d+: error: /);
  const missing = lint(['--profile', rel('no-such.yaml')]);
  assert.is(missing.code, 2);
  assert.match(missing.stderr, /no such file/);
  const usage = lint(['--profile', rel('lint-clean.yaml'), '--format', 'xml']);
  assert.is(usage.code, 2);
  assert.is(lint(['--profile', rel('lint-broad.yaml'), '--format', 'sarif']).code, 1, 'the format does not change the exit code');
  assert.is(lint(['--profile', rel('lint-unused.yaml')]).code, 0, 'warnings only: 0');
});

// ---- SARIF ----------------------------------------------------------------------

function sarifValidator() {
  // The published schema, unmodified: it is draft-04, so ajv's draft-04 class.
  const published = JSON.parse(fs.readFileSync(path.join(ROOT, 'test', 'schemas', 'sarif-2.1.0.json'), 'utf8'));
  assert.is(published.$schema, 'http://json-schema.org/draft-04/schema#');
  // strictRequired flags the schema's own style (required inside anyOf), not instances.
  const ajv = new Ajv04({ allErrors: true, strict: true, strictRequired: false });
  ajv.addFormat('uri', { validate: (s: string) => /^[A-Za-z][A-Za-z0-9+.-]*:/.test(s) && (() => { try { new URL(s); return true; } catch { return false; } })() });
  ajv.addFormat('uri-reference', { validate: (s: string) => !/[\s<>"{}|\\^`]/.test(s) });
  ajv.addFormat('date-time', { validate: (s: string) => /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)$/.test(s) });
  const v = ajv.compile(published);
  return Object.assign((d: unknown): boolean => v(d) as boolean, { errors: () => v.errors });
}

test('SARIF: valid against the published 2.1.0 schema, regions on the profile lines, rules in tool.driver.rules', () => {
  const validate = sarifValidator();
  // The validator rejects what it should.
  assert.not.ok(validate({ version: '2.1.0', runs: [{ tool: { driver: { name: 'x' } }, results: [{ message: { text: 'm' }, level: 'fatal' }] }] }));
  assert.not.ok(validate({ version: '2.1.0', runs: [{ tool: { driver: { name: 'x' } }, results: [{ message: { text: 'm' }, locations: [{ physicalLocation: { artifactLocation: { uri: 'a' }, region: { startColumn: 3 } } }] }] }] }));
  for (const args of [
    ['--profile', rel('lint-broad.yaml')],
    ['--profile', rel('lint-silenced.yaml')],
    ['--profile', rel('example.yaml'), '--catalog-findings'],
    ['--profile', rel('lint-clean.yaml')],
  ]) {
    const s = lint([...args, '--format', 'sarif']);
    const t = lint(args);
    const log = JSON.parse(s.stdout);
    assert.ok(validate(log), `${args.join(' ')}: ${JSON.stringify(validate.errors(), null, 1)}`);
    const run = log.runs[0];
    assert.is(run.tool.driver.name, 'portcullis');
    const ids = run.tool.driver.rules.map((r: { id: string }) => r.id);
    assert.equal(ids, ['PC001', 'PC002', 'PC003', 'PC004', 'PC005', 'PC006', 'PC007', 'PC101', 'PC102', 'PC103', 'PC000']);
    // The same findings as the text output (which omits silenced ones), same places.
    const shown = run.results.filter((r: { suppressions?: unknown[] }) => !r.suppressions);
    assert.equal(
      shown.map((r: any) => [r.ruleId, r.level, r.locations[0].physicalLocation.artifactLocation.uri, r.locations[0].physicalLocation.region.startLine, r.locations[0].physicalLocation.region.startColumn]),
      t.findings.map((f) => [f.rule, f.level, f.file.split(path.sep).join('/'), f.line, f.col]),
    );
    for (const r of run.results) {
      assert.is(ids[r.ruleIndex], r.ruleId);
      assert.ok(r.message.text.length > 0);
      const loc = r.locations[0].physicalLocation;
      assert.is(run.artifacts[loc.artifactLocation.index].location.uri, loc.artifactLocation.uri);
      assert.not.match(loc.artifactLocation.uri, /^(\/|file:)/, 'relative to the working directory');
    }
  }
});

test('SARIF: PC001 results carry the entry as region (start and end) and silenced ones a suppression with the reason', () => {
  const file = rel('lint-broad.yaml');
  const log = JSON.parse(lint(['--profile', file, '--format', 'sarif']).stdout);
  const first = log.runs[0].results[0];
  const at = where(file, '0.0.0.0/0');
  assert.equal(first.locations[0].physicalLocation.region, {
    startLine: at.line,
    startColumn: at.col,
    endLine: at.line,
    endColumn: at.col + '0.0.0.0/0'.length,
    snippet: { text: fileLines(file)[at.line - 1] },
  });
  assert.is(first.locations[0].physicalLocation.artifactLocation.uri, 'fixtures/profiles/lint-broad.yaml');
  assert.is(log.runs[0].tool.driver.rules[0].properties['security-severity'], '8.0');
  const silenced = JSON.parse(lint(['--profile', rel('lint-silenced.yaml'), '--format', 'sarif']).stdout).runs[0].results.filter((r: any) => r.suppressions);
  assert.equal(
    silenced.map((r: any) => [r.ruleId, r.suppressions[0].kind, r.suppressions[0].justification]),
    [
      ['PC001', 'inSource', 'lab network, no route from the internet'],
      ['PC005', 'inSource', 'documentation addresses in a test fixture'],
    ],
  );
  // Deterministic: same input, same bytes; fingerprints do not depend on the line.
  assert.is(lint(['--profile', file, '--format', 'sarif']).stdout, lint(['--profile', file, '--format', 'sarif']).stdout);
  const repo = fs.mkdtempSync(path.join(os.tmpdir(), `pc-lint-repo-${process.pid}-`));
  fs.mkdirSync(path.join(repo, 'fixtures', 'profiles'), { recursive: true });
  fs.writeFileSync(path.join(repo, file), '# a comment that moves every line\n' + fs.readFileSync(path.resolve(ROOT, file), 'utf8'));
  const movedLog = JSON.parse(lint(['--profile', file, '--format', 'sarif'], repo).stdout);
  const moved = movedLog.runs[0].results[0];
  assert.is(moved.locations[0].physicalLocation.region.startLine, at.line + 1);
  assert.is(moved.locations[0].physicalLocation.artifactLocation.uri, 'fixtures/profiles/lint-broad.yaml');
  assert.equal(moved.partialFingerprints, first.partialFingerprints);
  // Outside the working directory: an absolute file: URI.
  const outside = JSON.parse(lint(['--profile', path.join(repo, file), '--format', 'sarif'], path.join(repo, 'fixtures')).stdout);
  assert.match(outside.runs[0].results[0].locations[0].physicalLocation.artifactLocation.uri, /^fixtures|^profiles\//);
  const far = JSON.parse(lint(['--profile', path.join(ROOT, file), '--format', 'sarif'], repo).stdout);
  assert.match(far.runs[0].results[0].locations[0].physicalLocation.artifactLocation.uri, /^file:\/\/\/.*lint-broad\.yaml$/);
});

// ---- PC006 / PC007 -------------------------------------------------------------

const RESTRICTED = (extra: string) => `environment: r
groups:
  admins: [192.0.2.0/25]
  users:  [10.0.0.0/8]
  nodes:  [10.30.0.11]
egress: restrict
${extra}`;

test('PC006/PC007: egress: restrict names what it cuts off, at the egress line; extra_egress and host.platform satisfy them', () => {
  const bare = tmp('bare.yaml', RESTRICTED(''));
  const r = lint(['--profile', bare]);
  const mine = r.findings.filter((f) => f.rule === 'PC006' || f.rule === 'PC007');
  assert.equal(
    mine.map((f) => [f.rule, f.level, f.line, f.col]),
    [
      ['PC006', 'warning', 6, 9],
      ['PC006', 'warning', 6, 9],
      ['PC007', 'note', 6, 9],
    ],
  );
  assert.match(mine[0].message, /DNS \(udp 53\)/);
  assert.match(mine[1].message, /NTP \(udp 123\)/);
  assert.match(mine[2].message, /169\.254\.169\.254/);
  assert.is(r.code, 0, 'warnings and notes do not fail lint');

  // DNS given by the site, NTP still missing; the platform note stays.
  const dns = tmp('dns.yaml', RESTRICTED('extra_egress:\n  - { to: [10.30.0.53], ports: [53], transport: udp }\n'));
  assert.equal(lint(['--profile', dns]).findings.filter((f) => /PC00[67]/.test(f.rule)).map((f) => f.rule), ['PC006', 'PC007']);
  // A TCP 53 entry is not DNS over UDP.
  const tcp = tmp('tcp.yaml', RESTRICTED('extra_egress:\n  - { to: [10.30.0.53], ports: [53] }\n'));
  assert.equal(lint(['--profile', tcp]).findings.filter((f) => f.rule === 'PC006').length, 2);
  // On AWS the platform serves DNS and time: nothing to say.
  const aws = tmp('aws.yaml', RESTRICTED('host: { platform: aws }\n'));
  assert.equal(lint(['--profile', aws]).findings.filter((f) => /PC00[67]/.test(f.rule)), []);
  // Azure serves DNS, not NTP (its VMs keep time from the host).
  const azure = tmp('azure.yaml', RESTRICTED('host: { platform: azure }\n'));
  assert.equal(lint(['--profile', azure]).findings.filter((f) => /PC00[67]/.test(f.rule)).map((f) => f.message.match(/\((udp \d+)\)/)?.[1]), ['udp 123']);
  // egress: allow cuts nothing off.
  const open = tmp('open.yaml', RESTRICTED('').replace('egress: restrict', 'egress: allow'));
  assert.equal(lint(['--profile', open]).findings.filter((f) => /PC00[67]/.test(f.rule)), []);
});

test.run();
