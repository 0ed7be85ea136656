// `diff` and `explain`: semantic comparison of two policies, and one-flow
// verdicts with reasons. Expected values are written from the document and
// the example profile, not computed by the code under test.
import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import fc from 'fast-check';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { diffPolicies } from '../src/analysis/diff';
import { explainFlow } from '../src/analysis/explain';
import { load } from '../src/compile';
import { fixture, ROOT, runCli } from './helpers/cli';
import { DIFF_GOLDEN, DIFF_GOLDEN_DIR } from './helpers/golden';

const EXAMPLE = fs.readFileSync(fixture('profiles', 'example.yaml'), 'utf8');
// The admins' ports with debug on (T1.1, T1.4-8 and the admin sources of T2's HTTP rows and T2.17).
const ADMIN_PORTS = ['22', '2101', '2201', '2211', '2231', '4001', '4021', '4201', '4231', '4241', '4251', '4501', '4852-4853', '12345'];

function tmp(name: string, text: string): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), `pc-diff-${process.pid}-`));
  const file = path.join(dir, name);
  fs.writeFileSync(file, text);
  return file;
}

function edit(text: string, from: string | RegExp, to: string): string {
  const out = text.replace(from, to);
  assert.is.not(out, text, `test setup: ${from} not found`);
  return out;
}

test('diff: reordered keys and lists, comments, a CIDR split in halves and a covered address are no change', () => {
  const variants = [
    edit(EXAMPLE, 'nodes:       [10.20.0.11, 10.20.0.12, 10.20.0.13]', 'nodes:       [10.20.0.13, 10.20.0.11, 10.20.0.12]   # reordered'),
    edit(EXAMPLE, '[198.51.100.0/24,', '[198.51.100.128/25, 198.51.100.0/25, 198.51.100.77,'),
    edit(EXAMPLE, /^egress: allow.*$/m, '# a comment\negress: allow'),
    'egress: allow\n' + edit(EXAMPLE, /^egress: allow.*$/m, ''),
  ];
  for (const v of variants) {
    const r = runCli(['diff', fixture('profiles', 'example.yaml'), tmp('v.yaml', v)]);
    assert.is(r.code, 0, r.stdout + r.stderr);
    assert.is(r.stdout, 'no change in allowed flows\n');
  }
});

test('diff: one admin network added opens exactly the admin ports for exactly that network, closes nothing', () => {
  const file = tmp('new.yaml', edit(EXAMPLE, '[198.51.100.0/24,', '[198.51.100.0/24, 192.0.2.0/25,'));
  const r = runCli(['diff', fixture('profiles', 'example.yaml'), file, '--format', 'json']);
  assert.is(r.code, 1, r.stderr);
  const d = JSON.parse(r.stdout);
  assert.is(d.closed.length, 0);
  assert.is(d.opened.length, 1);
  const c = d.opened[0];
  assert.equal([c.direction, c.transport, c.ports, c.sources], ['ingress', 'tcp', ADMIN_PORTS, ['192.0.2.0/25']]);
  assert.ok(c.rows.some((row: { ref: string }) => row.ref === 'T1.1'), 'cites T1.1 SSH');
  assert.ok(!c.rows.some((row: { ref: string }) => row.ref === 'T2.33'), 'does not cite node-only rows');
  assert.match(c.reason, /group 'admins'/);
  assert.match(c.reason, /new\.yaml:3/);
});

test('diff golden files: markdown and JSON of the CLI equal fixtures/golden-diff (npm run golden:update rewrites them)', () => {
  for (const g of DIFF_GOLDEN) {
    for (const [format, ext] of [['markdown', 'md'], ['json', 'json']] as const) {
      const r = runCli(['diff', `fixtures/profiles/${g.old}`, `fixtures/profiles/${g.new}`, '--format', format], { cwd: ROOT });
      assert.is(r.code, 1, r.stderr);
      assert.fixture(r.stdout, fs.readFileSync(path.join(DIFF_GOLDEN_DIR, `${g.name}.${ext}`), 'utf8'));
    }
  }
});

test('diff: smtp_port 587 -> 25 under egress restrict closes one egress flow and opens one', () => {
  const restrict = edit(EXAMPLE, /^egress: allow/m, 'egress: restrict');
  const a = tmp('a.yaml', restrict);
  const b = tmp('b.yaml', edit(restrict, 'smtp_port: 587', 'smtp_port: 25'));
  const r = runCli(['diff', a, b, '--format', 'json']);
  assert.is(r.code, 1, r.stderr);
  const d = JSON.parse(r.stdout);
  const brief = (c: { direction: string; ports: string[]; destinations: string[] }) => [c.direction, c.ports, c.destinations];
  assert.equal(d.opened.map(brief), [['egress', ['25'], ['10.20.1.25/32']]]);
  assert.equal(d.closed.map(brief), [['egress', ['587'], ['10.20.1.25/32']]]);
  assert.equal(d.opened[0].rows.map((x: { ref: string }) => x.ref), ['T4.2']);
  // Under egress: allow all outbound is open either way: no change.
  const allow = runCli(['diff', fixture('profiles', 'example.yaml'), tmp('c.yaml', edit(EXAMPLE, 'smtp_port: 587', 'smtp_port: 25'))]);
  assert.is(allow.code, 0, allow.stdout);
});

test('diff: a side read from git REV:PATH; markdown output; bad input names the side and exits 2', () => {
  const repo = fs.mkdtempSync(path.join(os.tmpdir(), `pc-git-${process.pid}-`));
  const git = (...args: string[]) => {
    const r = spawnSync('git', ['-C', repo, '-c', 'user.email=t@example.invalid', '-c', 'user.name=t', ...args], { encoding: 'utf8' });
    assert.is(r.status, 0, r.stderr);
  };
  git('init', '-q');
  fs.mkdirSync(path.join(repo, 'envs'));
  fs.writeFileSync(path.join(repo, 'envs', 'prod.yaml'), EXAMPLE);
  git('add', '.');
  git('commit', '-qm', 'base');
  fs.writeFileSync(path.join(repo, 'envs', 'prod.yaml'), edit(EXAMPLE, '[198.51.100.0/24,', '[198.51.100.0/24, 192.0.2.0/25,'));
  const r = runCli(['diff', 'HEAD:envs/prod.yaml', 'envs/prod.yaml', '--format', 'markdown'], { cwd: repo });
  assert.is(r.code, 1, r.stderr);
  assert.match(r.stdout, /^\*\*portcullis:\*\* 1 flow change opened, 0 closed\./);
  assert.match(r.stdout, /\| ingress \| 22, 2101, .*\/tcp \| 192\.0\.2\.0\/25 \|/);
  fs.writeFileSync(path.join(repo, 'envs', 'bad.yaml'), edit(EXAMPLE, 'admins:', 'admin:'));
  const bad = runCli(['diff', 'HEAD:envs/prod.yaml', 'envs/bad.yaml'], { cwd: repo });
  assert.is(bad.code, 2);
  assert.match(bad.stderr, /error in the new side \(envs\/bad\.yaml\)/);
  assert.match(bad.stderr, /envs\/bad\.yaml:3:3: error: unknown group 'admin'/);
  const missing = runCli(['diff', 'HEAD:envs/nope.yaml', 'envs/prod.yaml'], { cwd: repo });
  assert.is(missing.code, 2);
  fs.rmSync(repo, { recursive: true, force: true });
});

test('explain: allowed flow names the rule, the row and the profile lines; denied flow says why; exit codes', () => {
  const ok = runCli(['explain', '--profile', fixture('profiles', 'example.yaml'), '--from', '198.51.100.7', '--to', '10.20.0.11', '--port', '22/tcp', '--json']);
  assert.is(ok.code, 0, ok.stderr);
  const e = JSON.parse(ok.stdout);
  assert.is(e.verdict, 'allow');
  assert.is(e.direction, 'ingress');
  assert.equal(e.rules.map((r: { rows: { ref: string }[] }) => r.rows.map((x) => x.ref)), [['T1.1']]);
  assert.ok(e.rules[0].profile_lines.some((l: string) => l.endsWith('fixtures/profiles/example.yaml:3')), JSON.stringify(e.rules[0].profile_lines));

  const no = runCli(['explain', '--profile', fixture('profiles', 'example.yaml'), '--from', '203.0.113.5', '--to', '10.20.0.11', '--port', '22/tcp']);
  assert.is(no.code, 1);
  assert.match(no.stdout, /^DENY/);
  assert.match(no.stdout, /22\/tcp is open to admins \(T1\.1 SSH\); 203\.0\.113\.5 is in users/);

  const line = runCli(['explain', '--profile', fixture('profiles', 'example.yaml'), '--from', '198.51.100.7', '--to', '10.20.0.11', '--port', '22/tcp', '--target', 'nftables']);
  const m = /decided at portcullis\.nft:(\d+)/.exec(line.stdout);
  assert.ok(m, line.stdout);
  const compiled = runCli(['compile', '--profile', fixture('profiles', 'example.yaml'), '--target', 'nftables', '--stdout']).stdout.split('\n');
  assert.match(compiled[Number(m![1]) - 1], /ip saddr @admins_v4 tcp dport \{ 22,/);

  const egress = runCli(['explain', '--profile', fixture('profiles', 'example.yaml'), '--from', '10.20.0.11', '--to', '192.0.2.1', '--port', '9999/udp']);
  assert.is(egress.code, 0);
  assert.match(egress.stdout, /egress: allow/);

  const bad = runCli(['explain', '--profile', fixture('profiles', 'example.yaml'), '--from', '10.0.0.0/24', '--to', '10.20.0.11', '--port', '22/tcp']);
  assert.is(bad.code, 2);
  const badPort = runCli(['explain', '--profile', fixture('profiles', 'example.yaml'), '--from', '10.0.0.1', '--to', '10.20.0.11', '--port', '22']);
  assert.is(badPort.code, 2);
});

test('explain: the host baseline (DHCPv6 replies; platform endpoints under restrict) is allowed and named; outside it, denied', () => {
  const ex = (profile: string, from: string, to: string, port: string) => runCli(['explain', '--profile', fixture('profiles', profile), '--from', from, '--to', to, '--port', port, '--json']);
  // The DHCPv6 reply: link-local to link-local, udp 546 (RFC 8415), in every profile.
  const reply = ex('example.yaml', 'fe80::1', 'fe80::2:3', '546/udp');
  assert.is(reply.code, 0, reply.stdout + reply.stderr);
  assert.equal(JSON.parse(reply.stdout).rules.map((r: { id: string }) => r.id), ['dhcpv6-client-in']);
  assert.is(ex('example.yaml', '2001:db8:99::1', 'fe80::2:3', '546/udp').code, 1, 'a global source is not a DHCPv6 server on the link');
  assert.is(ex('example.yaml', 'fe80::1', 'fe80::2:3', '547/udp').code, 1, 'only the client port');
  // host-options.yaml: egress restrict on AWS: IMDS and the Route 53 Resolver reachable, other link-local not.
  const imds = ex('host-options.yaml', '10.40.0.11', '169.254.169.254', '80/tcp');
  assert.is(imds.code, 0, imds.stdout);
  assert.equal(JSON.parse(imds.stdout).rules.map((r: { id: string }) => r.id), ['platform-aws-imds-v4']);
  assert.is(ex('host-options.yaml', '2001:db8:40::11', 'fd00:ec2::253', '53/udp').code, 0);
  assert.is(ex('host-options.yaml', '10.40.0.11', '169.254.169.254', '443/tcp').code, 1);
  // restrict.yaml has no platform: the metadata service is cut off (lint PC007 says so).
  assert.is(ex('restrict.yaml', '10.30.0.11', '169.254.169.254', '80/tcp').code, 1);
  const text = runCli(['explain', '--profile', fixture('profiles', 'example.yaml'), '--from', 'fe80::1', '--to', 'fe80::2:3', '--port', '546/udp']);
  assert.match(text.stdout, /rule dhcpv6-client-in \(ingress, host baseline\)/);
  assert.match(text.stdout, /from source port 547 only/);
});

test('diff: host.platform aws -> azure under restrict closes the AWS endpoints and opens 168.63.129.16, citing the baseline', () => {
  const aws = fs.readFileSync(fixture('profiles', 'host-options.yaml'), 'utf8');
  const r = runCli(['diff', fixture('profiles', 'host-options.yaml'), tmp('azure.yaml', edit(aws, 'platform: aws', 'platform: azure')), '--format', 'json']);
  assert.is(r.code, 1, r.stderr);
  const d = JSON.parse(r.stdout);
  const flat = (cs: { transport: string; ports: string[]; destinations: string[]; reason: string }[]) =>
    cs.map((c) => `${c.transport} ${c.ports.join(',')} -> ${c.destinations.join(',')}`).sort();
  assert.equal(flat(d.opened), ['tcp 53,80,32526 -> 168.63.129.16/32', 'udp 53 -> 168.63.129.16/32']);
  // Azure's IMDS is AWS's too (169.254.169.254 tcp 80): not a change.
  assert.equal(flat(d.closed), [
    'tcp 53 -> 169.254.169.253/32',
    'tcp 53 -> fd00:ec2::253/128',
    'tcp 80 -> fd00:ec2::254/128',
    'udp 123 -> 169.254.169.123/32',
    'udp 123 -> fd00:ec2::123/128',
    'udp 53 -> 169.254.169.253/32',
    'udp 53 -> fd00:ec2::253/128',
  ]);
  for (const c of [...d.opened, ...d.closed]) assert.is(c.reason, 'host.platform: aws -> azure');
  assert.ok(d.opened[0].rows.some((row: { ref: string }) => row.ref.startsWith('platform-azure-')), JSON.stringify(d.opened[0].rows));
});

// Property: for random profile pairs, diff says "same" exactly when explain
// agrees on every sampled flow of both; and a sampled address inside every
// reported change flips explain's verdict accordingly.
const v4Net = fc.tuple(fc.constantFrom('10.1', '10.2', '192.168'), fc.integer({ min: 0, max: 3 }), fc.constantFrom(24, 25, 32)).map(([a, b, p]) => `${a}.${b}.${p === 32 ? '5' : p === 25 ? '128' : '0'}/${p}`);
const profileArb = fc.record({
  admins: fc.uniqueArray(v4Net, { minLength: 1, maxLength: 3 }),
  users: fc.uniqueArray(v4Net, { minLength: 1, maxLength: 2 }),
  nodes: fc.uniqueArray(fc.constantFrom('10.9.0.1', '10.9.0.2', '10.9.0.3'), { minLength: 1, maxLength: 3 }),
  debug: fc.boolean(),
  restrict: fc.boolean(),
  smtp: fc.constantFrom(25, 587),
});
// A golden diff over the transports catalog: the same profile, the catalog
// without ESP in IPsec (T1.5) and with router solicitations (ICMP 10,
// ICMPv6 133; not among the types every host takes anyway) added to
// ping (T1.2). Exactly those flows change: ESP from the VPN peer closes
// (IPv4 only: the peer has no IPv6 address), the ICMP and the ICMPv6 type
// open from the monitor's address in each family. PORTCULLIS_UPDATE_GOLDEN=1
// rewrites the golden files.
test('diff golden (transports): dropping ESP and adding an ICMP type show exactly those changes, in text, markdown and JSON', () => {
  const profile = path.join('fixtures', 'profiles', 'transports.yaml');
  const args = ['diff', profile, profile, '--old-catalog', path.join('fixtures', 'catalogs', 'transports.yaml'), '--new-catalog', path.join('fixtures', 'golden-diff', 'transports-new.catalog.yaml')];
  const outputs: Record<string, string> = {};
  for (const [ext, format] of [['txt', 'text'], ['md', 'markdown'], ['json', 'json']] as const) {
    const r = spawnSync(process.execPath, [path.join(ROOT, 'bin', 'portcullis.js'), ...args, '--format', format], { cwd: ROOT, encoding: 'utf8' });
    assert.is(r.status, 1, r.stderr);
    assert.is(r.stderr, '');
    outputs[ext] = r.stdout;
    const file = path.join(DIFF_GOLDEN_DIR, `transports-esp-icmp.${ext}`);
    if (process.env.PORTCULLIS_UPDATE_GOLDEN) fs.writeFileSync(file, r.stdout);
    assert.fixture(r.stdout, fs.readFileSync(file, 'utf8'));
  }
  const d = JSON.parse(outputs.json);
  const brief = (c: { direction: string; transport: string; ports: string[]; icmp_types?: string[]; match: string; sources: string[]; rows: { ref: string }[] }) =>
    [c.direction, c.transport, c.ports, c.icmp_types, c.match, c.sources, c.rows.map((r) => r.ref)];
  assert.equal(d.opened.map(brief), [
    ['ingress', 'icmp', [], ['router-solicitation'], 'icmp router-solicitation', ['192.0.2.50/32'], ['T1.2']],
    ['ingress', 'icmpv6', [], ['nd-router-solicit'], 'icmpv6 nd-router-solicit', ['2001:db8:4d::50/128'], ['T1.2']],
  ]);
  assert.equal(d.closed.map(brief), [['ingress', 'esp', [], undefined, 'esp', ['203.0.113.7/32'], ['T1.5']]]);
  assert.match(outputs.txt, /^- closed ingress esp: 203\.0\.113\.7\/32 -> /m);
  assert.match(outputs.txt, /^\+ opened ingress icmp router-solicitation: 192\.0\.2\.50\/32 -> /m);
  assert.match(outputs.md, /\| ingress \| esp \| 203\.0\.113\.7\/32 \|/);
  // Unchanged transports stay unchanged: UDP of IPsec, the other ICMP types, GRE, VRRP.
  assert.not.match(outputs.txt, /\b(udp|sctp|gre|vrrp|echo-request|echo-reply)\b/);
});

test('diff: non-TCP flows read as people write them: ICMP types by name, a portless protocol without ports, any ICMP type', () => {
  const base = fs.readFileSync(fixture('profiles', 'transports.yaml'), 'utf8');
  const catalog = fixture('catalogs', 'transports.yaml');
  // A new admin network: reaches SSH, every ICMP type (T1.3), nothing else.
  const file = tmp('new.yaml', edit(base, 'admins: [198.51.100.0/24,', 'admins: [198.51.100.0/24, 192.0.2.128/25,'));
  const r = runCli(['diff', fixture('profiles', 'transports.yaml'), file, '--catalog', catalog]);
  assert.is(r.code, 1, r.stderr);
  assert.match(r.stdout, /^\+ opened ingress tcp 22: 192\.0\.2\.128\/25 -> /m);
  // Every ICMP type (T1.3) but those every host already lets in from
  // anywhere (destination-unreachable, echo-request, time-exceeded,
  // parameter-problem: src/ir/build.ts HOST_ICMP): those are no change.
  // 14 items: 0, 1-2, 4, 5, 6-7, 9, 10, 13, 14, 15, 16, 17, 18, 19-255.
  assert.match(r.stdout, /^\+ opened ingress icmp echo-reply, 1-2, source-quench, redirect, 6-7, router-advertisement \(\+8 more\): 192\.0\.2\.128\/25 -> /m);
  assert.match(r.stdout, /2 opened, 0 closed/);
  assert.not.match(r.stdout, /opened ingress icmp [^:]*\b(echo-request|destination-unreachable|time-exceeded|parameter-problem)\b/);
  assert.match(r.stdout, /rows T1.3 ICMP/);
  // Nodes added: portless protocols between the nodes, shown without ports.
  const more = tmp('nodes.yaml', edit(base, 'nodes: [10.20.0.11, 10.20.0.12,', 'nodes: [10.20.0.11, 10.20.0.12, 10.20.0.13,'));
  const j = JSON.parse(runCli(['diff', fixture('profiles', 'transports.yaml'), more, '--catalog', catalog, '--format', 'json']).stdout);
  const gre = j.opened.filter((c: { transport: string }) => c.transport === 'gre');
  assert.ok(gre.length > 0, 'GRE between the nodes opens for the new node');
  for (const c of gre) {
    assert.equal(c.ports, []);
    assert.is(c.match, 'gre');
  }
});

test('explain: every transport: N/sctp, TYPE/icmp by name or number, TYPE/icmpv6, a portless protocol by name or number; JSON keeps port for tcp/udp', () => {
  const base = ['explain', '--profile', fixture('profiles', 'transports.yaml'), '--catalog', fixture('catalogs', 'transports.yaml')];
  const run = (from: string, to: string, port: string, json = false) => runCli([...base, '--from', from, '--to', to, '--port', port, ...(json ? ['--json'] : [])]);
  // ESP from the VPN peer: by name and by protocol number 50.
  for (const port of ['esp', 'ESP', '50']) {
    const r = run('203.0.113.7', '10.20.0.11', port, true);
    assert.is(r.code, 0, r.stdout + r.stderr);
    const e = JSON.parse(r.stdout);
    assert.equal([e.verdict, e.transport, e.match, e.port, e.icmp_type], ['allow', 'esp', 'esp', undefined, undefined]);
    assert.equal(e.rules.map((x: { id: string }) => x.id), ['in-vpn_peers-v4-esp']);
    assert.equal(e.rules[0].rows.map((x: { ref: string }) => x.ref), ['T1.5']);
  }
  const esp = run('203.0.113.7', '10.20.0.11', 'esp');
  assert.match(esp.stdout, /^ALLOW: 203\.0\.113\.7 -> 10\.20\.0\.11 esp \(ingress\)$/m);
  // AH (rule written as protocol 51) from someone else: denied, saying who may.
  const ah = run('192.0.2.99', '10.20.0.11', 'ah');
  assert.is(ah.code, 1);
  assert.match(ah.stdout, /^DENY: 192\.0\.2\.99 -> 10\.20\.0\.11 ah \(ingress\)$/m);
  assert.match(ah.stdout, /ah is open to vpn_peers \(T1\.6 AH\)/);
  // ICMP by name and by number; the monitor may echo, a stranger may not.
  for (const port of ['echo-request/icmp', '8/icmp', 'ping/ICMP']) {
    const e = JSON.parse(run('192.0.2.50', '10.20.0.11', port, true).stdout);
    assert.equal([e.verdict, e.transport, e.icmp_type, e.icmp_type_name, e.match, e.port], ['allow', 'icmp', 8, 'echo-request', 'icmp echo-request', undefined]);
  }
  const reply = run('192.0.2.99', '10.20.0.11', '0/icmp');
  assert.is(reply.code, 1);
  assert.match(reply.stdout, /^DENY: 192\.0\.2\.99 -> 10\.20\.0\.11 icmp echo-reply \(ingress\)$/m);
  // What every host lets in (IR icmp): allowed from anywhere, said so.
  const unreachable = run('192.0.2.99', '10.20.0.11', 'destination-unreachable/icmp');
  assert.is(unreachable.code, 0, unreachable.stdout);
  assert.match(unreachable.stdout, /every host target lets it through/);
  // Any type from admins (T1.3): an unnamed type too.
  const odd = JSON.parse(run('198.51.100.9', '10.20.0.11', '200/icmp', true).stdout);
  assert.equal([odd.verdict, odd.icmp_type, odd.icmp_type_name, odd.match], ['allow', 200, undefined, 'icmp 200']);
  // ICMPv6 by name and number.
  for (const port of ['echo-request/icmpv6', '128/icmpv6', '128/ipv6-icmp']) {
    const e = JSON.parse(run('2001:db8:4d::50', '2001:db8:20::11', port, true).stdout);
    assert.equal([e.verdict, e.transport, e.icmp_type, e.match], ['allow', 'icmpv6', 128, 'icmpv6 echo-request']);
    assert.equal(e.rules.map((x: { id: string }) => x.id), ['in-monitor-v6-icmpv6']);
  }
  // SCTP and UDP between the nodes, GRE too (both directions).
  const sctp = JSON.parse(run('10.20.0.11', '10.20.0.12', '9899/sctp', true).stdout);
  assert.equal([sctp.verdict, sctp.direction, sctp.port, sctp.transport, sctp.match], ['allow', 'node-to-node', 9899, 'sctp', 'sctp 9899']);
  const gre = run('10.20.0.11', '10.20.0.12', 'gre');
  assert.is(gre.code, 0);
  assert.match(gre.stdout, /rule in-nodes-v4-gre[\s\S]*rule out-nodes-v4-gre/);
  // tcp/udp JSON as before: port a number, transport.
  const ssh = JSON.parse(run('198.51.100.9', '10.20.0.11', '22/tcp', true).stdout);
  assert.equal([ssh.port, ssh.transport, ssh.match], [22, 'tcp', 'tcp 22']);
  // Egress: restrict; the extra_egress GRE tunnel, and no ESP out.
  assert.is(run('10.20.0.11', '192.0.2.70', '47').code, 0);
  assert.is(run('10.20.0.11', '192.0.2.70', 'esp').code, 1);
});

test('explain --port: icmp alone wants a type, ports on a portless protocol, ICMP in the wrong family, unknown types, junk', () => {
  const base = ['explain', '--profile', fixture('profiles', 'transports.yaml'), '--catalog', fixture('catalogs', 'transports.yaml'), '--from', '192.0.2.50', '--to', '10.20.0.11'];
  const cases: [string, RegExp, RegExp][] = [
    ['icmp', /--port 'icmp': ICMP needs a message type/, /echo-request\/icmp/],
    ['icmpv6', /ICMPv6 needs a message type/, /echo-request\/icmpv6/],
    ['22/esp', /esp has no ports/, /--port esp/],
    ['tcp', /tcp needs a port/, /22\/tcp/],
    ['bogus/icmp', /'bogus' is not an ICMP type/, /a number 0-255/],
    ['256/icmp', /'256' is not an ICMP type/, /a number 0-255/],
    ['foo', /--port 'foo' is not PORT\/tcp or PORT\/udp/, /echo-request\/icmp/],
    ['22', /--port '22' is not PORT\/tcp or PORT\/udp/, /22\/tcp/],
    ['22/tcpx', /is not PORT\/tcp or PORT\/udp/, /esp/],
    ['70000/tcp', /is not PORT\/tcp or PORT\/udp/, /22\/tcp/],
    ['99', /is not PORT\/tcp or PORT\/udp/, /esp/],
  ];
  for (const [port, message, hint] of cases) {
    const r = runCli([...base, '--port', port]);
    assert.is(r.code, 2, `${port}: ${r.stdout}${r.stderr}`);
    assert.match(r.stderr, message, port);
    assert.match(r.stderr, hint, port);
  }
  const v6 = runCli([...base.slice(0, -4), '--from', '2001:db8:4d::50', '--to', '2001:db8:20::11', '--port', 'echo-request/icmp']);
  assert.is(v6.code, 2);
  assert.match(v6.stderr, /ICMP is IPv4 only/);
  assert.match(v6.stderr, /echo-request\/icmpv6/);
});

type P = typeof profileArb extends fc.Arbitrary<infer T> ? T : never;

function profileOf(p: P): string {
  return [
    'environment: prop',
    'groups:',
    `  admins: [${p.admins.join(', ')}]`,
    `  users: [${p.users.join(', ')}]`,
    `  nodes: [${p.nodes.join(', ')}]`,
    '  smtp_relay: [10.8.0.25]',
    `params: { smtp_port: ${p.smtp} }`,
    `features: { debug: ${p.debug}, smtp: true }`,
    `egress: ${p.restrict ? 'restrict' : 'allow'}`,
  ].join('\n');
}

const SAMPLE_SOURCES = ['10.1.0.5', '10.1.0.200', '10.1.1.5', '10.2.3.129', '192.168.0.5', '192.168.2.1', '10.9.0.1', '10.9.0.2', '10.9.0.3', '172.16.0.1'];
const SAMPLE_PORTS = ['22/tcp', '80/tcp', '2201/tcp', '5432/tcp', '25/tcp', '587/tcp', '30000/tcp', '19999/tcp', '53/udp'];
const SAMPLE_DESTS = ['10.9.0.1', '10.9.0.2', '10.9.0.3', '10.8.0.25'];

test('property: diff says "same" exactly when explain agrees on every sampled flow', () => {
  fc.assert(
    fc.property(profileArb, profileArb, (pa, pb) => {
      const a = load({ profile: { path: 'a.yaml', text: profileOf(pa) } });
      const b = load({ profile: { path: 'b.yaml', text: profileOf(pb) } });
      const d = diffPolicies(a, b);
      let differs = false;
      for (const from of SAMPLE_SOURCES)
        for (const to of SAMPLE_DESTS)
          for (const port of SAMPLE_PORTS) {
            if (from === to) continue;
            const va = explainFlow(a, { from, to, port }).verdict;
            const vb = explainFlow(b, { from, to, port }).verdict;
            if (va !== vb) differs = true;
          }
      const same = d.opened.length === 0 && d.closed.length === 0;
      // Samples are finite: a difference seen by explain must be reported;
      // "same" from diff must never hide a sampled difference.
      if (differs) assert.ok(!same, 'explain saw a difference that diff missed');
      // Every reported change is confirmed by explain on an address inside it.
      for (const [list, before, after] of [[d.opened, a, b], [d.closed, b, a]] as const) {
        for (const c of list) {
          // A family without listed node addresses has no address to sample.
          if (!c.sources.length || !c.destinations.length) continue;
          const src = firstHost(c.sources[0]);
          const dst = firstHost(c.destinations[0]);
          const port = queryOf(c);
          if (src === dst) continue;
          assert.is(explainFlow(after, { from: src, to: dst, port }).verdict, 'allow', `${JSON.stringify(c)} not allowed after`);
          assert.is(explainFlow(before, { from: src, to: dst, port }).verdict, 'deny', `${JSON.stringify(c)} already allowed before`);
        }
      }
    }),
    { numRuns: 60, seed: 42 },
  );
});

/** An explain --port for the first flow of a change: a port, an ICMP type, or the protocol. */
function queryOf(c: { transport: string; ports: string[]; icmp_types?: string[] }): string {
  // A type is a name (destination-unreachable), a number, or a range "1-2".
  if (c.icmp_types) {
    const t = c.icmp_types[0];
    return `${t === 'any' ? '0' : /^\d/.test(t) ? t.split('-')[0] : t}/${c.transport}`;
  }
  return c.ports.length ? `${c.ports[0].split('-')[0]}/${c.transport}` : c.transport;
}

function firstHost(cidr: string): string {
  const [addr, prefix] = cidr.split('/');
  if (addr.includes(':')) return addr === '::' ? '::1' : addr;
  const parts = addr.split('.').map(Number);
  // A host inside the block: the network address itself works for /32, else +1.
  if (Number(prefix) < 32) parts[3] += 1;
  return parts.join('.');
}

test.run();
