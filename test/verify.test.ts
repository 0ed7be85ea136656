// `portcullis verify`, end to end: the real CLI builds namespaces, loads
// nftables / iptables output and probes the matrix. Needs root, `ip netns`,
// nft, iptables and ipset; fails (never skips) without them.
//
// The kernel runs are started in `before`, a few at a time, and awaited by
// the tests: they spend most of their time waiting for probe timeouts, so
// running them side by side keeps this file under 30 s.

import { ChildProcess, spawn } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { explainFlow } from '../src/analysis/explain';
import { load } from '../src/compile';
import type { Family, IR } from '../src/ir/types';
import { buildPlan, LOAD_COMMANDS } from '../src/verify';
import { NF_LOG_ALL_NETNS, parsePcap, startNflogCapture } from '../src/verify/nflog';
import { BIN, fixture, ROOT, runCli } from './helpers/cli';
import { probe, requireNetns, run, startListener, withTopology } from './helpers/netns';

interface Run {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  pid: number;
}

// At most this many verify runs at once: each opens hundreds of connections
// in a burst, and on a 2-core machine more would only queue for the CPU.
const PARALLEL = 3;
let running = 0;
const waiting: (() => void)[] = [];

async function verifyAsync(args: string[], onStart?: (c: ChildProcess) => void): Promise<Run> {
  if (running >= PARALLEL) await new Promise<void>((r) => waiting.push(r));
  running++;
  try {
    return await verifyNow(args, onStart);
  } finally {
    running--;
    waiting.shift()?.();
  }
}

function verifyNow(args: string[], onStart?: (c: ChildProcess) => void): Promise<Run> {
  return new Promise((resolve, reject) => {
    const c = spawn(process.execPath, [BIN, 'verify', ...args], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    c.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    c.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    c.on('error', reject);
    c.on('close', (code, signal) => resolve({ code, signal, stdout, stderr, pid: c.pid! }));
    onStart?.(c);
  });
}

const show = (r: Run) => `exit ${r.code ?? r.signal}\n--- stdout\n${r.stdout}\n--- stderr\n${r.stderr}`;

function loadProfile(file: string, catalog?: string) {
  const text = (f: string) => ({ path: f, text: fs.readFileSync(f, 'utf8') });
  return load({ profile: text(file), catalog: catalog ? text(catalog) : undefined });
}

/**
 * The size of the probe matrix, computed here from the IR by the rule
 * verify documents (src/verify/matrix.ts), not by its code: per direction
 * and transport, the ports sampled from every host rule (each range's edges,
 * their neighbours and its middle) times the peers of each family: one per
 * group the rules name (sources inbound, destinations outbound, these only
 * with egress: restrict), plus the outsider inbound when the groups leave
 * one (the fixture says), plus one non-listed destination outbound. Then
 * the host baseline: each inbound rule once, and once more from the
 * outsider when the rule names its sources and there is an outsider; each
 * outbound rule (present only under restrict) once, and once more to the
 * non-listed destination when it names its destinations, except a rule
 * to a multicast group, which is not probed.
 */
function matrixSize(ir: IR, outsider: Record<Family, boolean>): number {
  let total = 0;
  for (const direction of ['ingress', 'egress'] as const) {
    const rules = ir.rules.filter((r) => r.scope === 'host' && r.direction === direction);
    for (const transport of ['tcp', 'udp'] as const) {
      const sampled = new Set<number>();
      for (const r of rules.filter((x) => x.transport === transport))
        for (const range of r.ports)
          for (const p of [range.lo - 1, range.lo, range.lo + 1, Math.floor((range.lo + range.hi) / 2), range.hi - 1, range.hi, range.hi + 1])
            if (p >= 1 && p <= 65535) sampled.add(p);
      for (const family of ['ipv4', 'ipv6'] as const) {
        const named = rules.filter((r) => r.family === family && (direction === 'ingress' || ir.egress === 'restrict'));
        const groups = new Set(named.map((r) => (direction === 'ingress' ? r.sourceGroup : r.destinationGroup)));
        const extra = direction === 'ingress' ? (outsider[family] ? 1 : 0) : 1;
        total += (groups.size + extra) * sampled.size;
      }
    }
  }
  for (const b of ir.hostPolicy.baseline) {
    if (b.direction === 'ingress') total += 1 + (b.source && outsider[b.family] ? 1 : 0);
    else if (!b.destination?.every((d) => (d.family === 'ipv6' ? d.base >> 120n === 0xffn : d.base >> 28n === 0xen))) total += 1 + (b.destination ? 1 : 0);
  }
  return total;
}

interface Case {
  profile: string;
  catalog?: string;
  targets: string;
  outsider: Record<Family, boolean>;
}

const CASES: Record<string, Case> = {
  example: { profile: fixture('profiles', 'example.yaml'), targets: 'nftables,iptables,firewalld', outsider: { ipv4: false, ipv6: true } },
  'v6-admins': { profile: fixture('profiles', 'v6-admins.yaml'), targets: 'nftables', outsider: { ipv4: false, ipv6: false } },
  restrict: { profile: fixture('profiles', 'restrict.yaml'), targets: 'nftables,iptables,firewalld', outsider: { ipv4: true, ipv6: true } },
  // A custom catalog with a UDP rule (gossip, node to node).
  'mini (udp)': {
    profile: fixture('profiles', 'verify-mini.yaml'),
    catalog: fixture('catalogs', 'mini.yaml'),
    targets: 'iptables',
    outsider: { ipv4: true, ipv6: true },
  },
};

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), `pct-verify-${process.pid}-`));
const runs = new Map<string, Promise<Run>>();
let sigint: Promise<{ run: Run; sawNamespaces: boolean }>;

/** Compiles the example profile for nftables into a directory of its own and
 * applies `edit` to the ruleset; returns the --from-dir directory. */
function editedNft(name: string, edit: (nft: string) => string, profile = fixture('profiles', 'example.yaml')): string {
  const dir = path.join(tmp, name);
  const r = runCli(['compile', '--profile', profile, '--target', 'nftables', '--out-dir', dir]);
  assert.is(r.code, 0, r.stderr);
  const file = path.join(dir, 'prod-east', 'nftables', 'portcullis.nft');
  const before = fs.readFileSync(file, 'utf8');
  const after = edit(before);
  assert.is.not(after, before, `${name}: the edit changed nothing`);
  fs.writeFileSync(file, after);
  return dir;
}

// A catalog whose services are hostile terminal text, and a ruleset that
// lost its port: verify's mismatch rows cite those services.
const HOSTILE_SERVICE = 'ssh\u001b]0;pwned\u0007\u001b[2J\u009b31m\u202eexe.txt\n  nftables  inbound  forged row';
function hostileFromDir(): { profile: string; catalog: string; dir: string } {
  const dir = path.join(tmp, 'hostile');
  fs.mkdirSync(dir);
  const yamlString = (s: string) => JSON.stringify(s).replace(/[^\x20-\x7e]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
  const catalog = path.join(dir, 'catalog.yaml');
  fs.writeFileSync(
    catalog,
    [
      'name: hostile',
      'host: nodes',
      `tables: { T1: { heading: ${yamlString(HOSTILE_SERVICE)} } }`,
      'groups: { admins: {}, nodes: {} }',
      'rules:',
      `  - { id: r1, table: T1, row: 1, cells: { port: "2222", service: ${yamlString(HOSTILE_SERVICE)} }, ports: [2222], from: [admins], to: [nodes] }`,
    ].join('\n') + '\n',
  );
  const profile = path.join(dir, 'profile.yaml');
  fs.writeFileSync(profile, 'environment: hostile\ngroups:\n  admins: [192.0.2.0/28]\n  nodes: [192.0.2.100]\n');
  const out = path.join(dir, 'out');
  const r = runCli(['compile', '--profile', profile, '--catalog', catalog, '--target', 'nftables', '--out-dir', out]);
  assert.is(r.code, 0, r.stderr);
  const file = path.join(out, 'hostile', 'nftables', 'portcullis.nft');
  const before = fs.readFileSync(file, 'utf8');
  const after = before.replace(/tcp dport 2222 accept/, 'tcp dport 2223 accept');
  assert.is.not(after, before, 'hostile: the edit changed nothing');
  fs.writeFileSync(file, after);
  return { profile, catalog, dir: out };
}

// Logging, proven on this branch with hand-made rules (the renderers' own
// log rules and DHCPv6 rule may or may not be there: the edits hold either
// way, a second accept or log line changes no verdict).
const LOG_GROUP = 5;
/** The example profile with host.log.drops on (to NFLOG group LOG_GROUP, or the kernel log). */
function loggingProfile(name: string, group: boolean): string {
  const text = fs.readFileSync(fixture('profiles', 'example.yaml'), 'utf8');
  const file = path.join(tmp, `${name}.yaml`);
  fs.writeFileSync(file, `${text}\nhost:\n  log: { drops: true${group ? `, group: ${LOG_GROUP}` : ''} }\n`);
  return file;
}
const INPUT_CHAIN = /(chain input \{\n[^\n]*policy drop;\n)/;
/** The DHCPv6 reply accepted first in the input chain. */
const withDhcpv6 = (nft: string) => nft.replace(INPUT_CHAIN, '$1\t\tip6 saddr fe80::/10 ip6 daddr fe80::/10 udp sport 547 udp dport 546 accept\n');
/** Any log statement removed. */
const withoutLog = (nft: string) => nft.split('\n').filter((l) => !/\blog (prefix|group|level|flags)\b/.test(l)).join('\n');
/** A rate-limited log as the last rule of the input chain (before its policy drop). */
function withLog(nft: string, target: string): string {
  const start = nft.indexOf('chain input {');
  const end = nft.indexOf('\n\t}', start);
  assert.ok(start >= 0 && end > start, 'no input chain');
  return `${nft.slice(0, end)}\n\t\tlimit rate 10/minute log ${target} prefix "portcullis-drop in: "${nft.slice(end)}`;
}
let logRuns: { nflog: string; noLog: string; kernel: string; kernelLogBefore: string };

const namespacesOf = (pid: number) => run('ip', ['netns', 'list']).stdout.split('\n').filter((l) => l.startsWith(`pcv-${pid}-`));

test.before(() => {
  requireNetns();
  // Queued in this order, PARALLEL at a time: the short Ctrl-C run first,
  // then the two that must wait out second chances, then the passing ones.

  // Ctrl-C while the namespaces exist.
  sigint = new Promise((resolve, reject) => {
    let sawNamespaces = false;
    verifyAsync(['--profile', CASES.example.profile, '--target', 'nftables'], (c) => {
      const poll = setInterval(() => {
        if (c.exitCode !== null) return clearInterval(poll);
        if (namespacesOf(c.pid!).length) {
          sawNamespaces = true;
          clearInterval(poll);
          c.kill('SIGINT');
        }
      }, 20);
    }).then((r) => resolve({ run: r, sawNamespaces }), reject);
  });

  // One port removed (2201 from the admins), one added (5432 for users).
  // Both also accept the DHCPv6 reply (a no-op once the renderer has its own
  // rule), so that the edit under test is their only mismatch.
  const broken = editedNft('broken', (nft) =>
    withDhcpv6(nft)
      .replace(/(ip saddr @admins_v4 tcp dport \{ 22, 2101, )2201, /, '$1')
      .replace(/(ip saddr @users_v4 tcp dport \{ 80, 443) \}/, '$1, 5432 }'),
  );
  runs.set('broken', verifyAsync(['--profile', CASES.example.profile, '--target', 'nftables', '--from-dir', broken]));

  // Neighbour solicitations dropped on input: IPv6 peers cannot resolve the
  // node. Warm neighbour caches (or outbound probes teaching the peers the
  // node's address) would hide it. (The first icmpv6 line is the input
  // chain's; with egress: allow the output chain has none.)
  const noNd = editedNft('no-nd', (nft) => withDhcpv6(nft).replace(/(icmpv6 type \{[^}]*)nd-neighbor-solicit, /, '$1'));
  runs.set('no-nd', verifyAsync(['--profile', CASES.example.profile, '--target', 'nftables', '--from-dir', noNd]));

  const hostile = hostileFromDir();
  runs.set('hostile', verifyAsync(['--profile', hostile.profile, '--catalog', hostile.catalog, '--target', 'nftables', '--from-dir', hostile.dir]));

  const nflogProfile = loggingProfile('log-nflog', true);
  const kernelProfile = loggingProfile('log-kernel', false);
  logRuns = { nflog: nflogProfile, noLog: nflogProfile, kernel: kernelProfile, kernelLogBefore: fs.readFileSync(NF_LOG_ALL_NETNS, 'utf8') };
  const nflogDir = editedNft('log-nflog', (nft) => withLog(withDhcpv6(nft), `group ${LOG_GROUP}`), nflogProfile);
  runs.set('log-nflog', verifyAsync(['--profile', nflogProfile, '--target', 'nftables', '--from-dir', nflogDir]));
  const noLogDir = editedNft('log-none', (nft) => withoutLog(withDhcpv6(nft)), nflogProfile);
  runs.set('log-none', verifyAsync(['--profile', nflogProfile, '--target', 'nftables', '--from-dir', noLogDir]));
  const kernelDir = editedNft('log-kernel', (nft) => withLog(withDhcpv6(nft), 'level warn'), kernelProfile);
  runs.set('log-kernel', verifyAsync(['--profile', kernelProfile, '--target', 'nftables', '--from-dir', kernelDir]));
  // The renderers' own log rules (expected to fail until they land).
  runs.set('log-all', verifyAsync(['--profile', nflogProfile, '--target', 'nftables,iptables,firewalld']));

  for (const [name, c] of Object.entries(CASES))
    runs.set(name, verifyAsync(['--profile', c.profile, ...(c.catalog ? ['--catalog', c.catalog] : []), '--target', c.targets]));
});

test.after(() => {
  fs.rmSync(tmp, { recursive: true, force: true });
});

for (const [name, c] of Object.entries(CASES)) {
  test(`verify ${name} on ${c.targets}: passes, and probes exactly the IR matrix`, async () => {
    const r = await runs.get(name)!;
    assert.is(r.code, 0, show(r));
    const expected = matrixSize(loadProfile(c.profile, c.catalog).ir, c.outsider);
    const m = /^matrix: (\d+) probes per target/m.exec(r.stdout);
    assert.ok(m, `no matrix line:\n${show(r)}`);
    assert.is(Number(m![1]), expected, 'probe count printed vs the IR matrix');
    const targets = c.targets.split(',');
    for (const t of targets) assert.match(r.stdout, new RegExp(`^${t}: loaded with .*; ${expected} probes: ${expected} passed, 0 failed`, 'm'));
    assert.match(r.stdout, new RegExp(`\\n${expected * targets.length} passed, 0 failed\\n$`));
    assert.equal(namespacesOf(r.pid), [], 'namespaces left behind');
  });
}

test('verify reports IPv6-only facts of the example: no IPv4 outsider, an unlisted IPv6 node', async () => {
  const r = await runs.get('example')!;
  assert.match(r.stdout, /^note: no IPv4 outsider: every usable IPv4 address is in a group \(users is 0\.0\.0\.0\/0\)$/m);
  assert.match(r.stdout, /^note: the profile lists no IPv6 address for 'nodes': the node under test uses 2001:db8:ffff::1/m);
});

test('a hand-edited ruleset (one port removed, one added) is caught, both mismatches named with their catalog rows', async () => {
  const r = await runs.get('broken')!;
  assert.is(r.code, 1, show(r));
  const expected = matrixSize(loadProfile(CASES.example.profile).ir, CASES.example.outsider);
  const rows = r.stdout.split('\n').filter((l) => /^ {2}nftables +inbound /.test(l));
  // Removed: 2201 from the admins (T1.5). The admin address is the only peer
  // that loses it: users never had it, nodes have their own rule.
  const removed = rows.filter((l) => /\s2201\/tcp\s+allow\s+deny \(timeout\)\s+T1\.5 /.test(l));
  assert.is(removed.length, 1, `2201 mismatch:\n${show(r)}`);
  assert.match(removed[0], /^ {2}nftables +inbound +198\.51\.100\.\d+ +10\.20\.0\.11 /);
  // Added: 5432 for users: every user that is not a node (the user and the
  // admin, who is a user too) gets in, against T2.33 (nodes only).
  const added = rows.filter((l) => /\s5432\/tcp\s+deny\s+allow\s+5432\/tcp is open from nodes only \(T2\.33 /.test(l));
  assert.is(added.length, 2, `5432 mismatches:\n${show(r)}`);
  assert.is(rows.length, 3, `exactly these mismatches:\n${show(r)}`);
  assert.match(r.stdout, new RegExp(`\\n${expected - 3} passed, 3 failed\\n$`));
});

test('dropped IPv6 neighbour solicitations are caught, with a hint at neighbour discovery', async () => {
  const r = await runs.get('no-nd')!;
  assert.is(r.code, 1, show(r));
  assert.match(r.stdout, /^hint: nftables: every one of the \d+ expected-allowed inbound probes from 2001:db8:ad::\d+ failed: look at IPv6 neighbour discovery/m);
  // Only the IPv6 peers that must get in are affected.
  const rows = r.stdout.split('\n').filter((l) => /^ {2}nftables +inbound /.test(l));
  // A probe waits out its timeout, or, when a busy machine raised the timeout
  // past the kernel's neighbour resolution (3 solicitations, 1 s apart), gets
  // EHOSTUNREACH: both are the dropped solicitations.
  // The DHCPv6 reply (link-local to link-local) needs neighbour discovery too.
  assert.ok(rows.length > 0 && rows.every((l) => /(2001:db8:ad::\d+ +2001:db8:ffff::1|fe80::2%veth1 +fe80::1%veth1) .* allow +deny \((timeout|EHOSTUNREACH)\)/.test(l)), show(r));
});

test('mismatch rows quote hostile catalog text: no terminal control, no forged row', async () => {
  const r = await runs.get('hostile')!;
  assert.is(r.code, 1, show(r));
  // eslint-disable-next-line no-control-regex
  const raw = /[\u0000-\u0008\u000b-\u001f\u007f-\u009f\u061c\u200e\u200f\u202a-\u202e\u2028\u2029\u2066-\u2069]/.exec(r.stdout + r.stderr);
  assert.not.ok(raw, `raw U+${raw?.[0].charCodeAt(0).toString(16)} in:\n${JSON.stringify(r.stdout)}`);
  assert.not.ok(/^ {2}nftables {2}inbound {2}forged row/m.test(r.stdout), show(r));
  // 2222 (closed by the edit) cites the hostile row; 2223 (opened) no row.
  const rows = r.stdout.split('\n').filter((l) => /^ {2}nftables +inbound .* 2222\/tcp /.test(l));
  assert.ok(rows.length > 0, show(r));
  for (const l of rows) assert.ok(l.endsWith('T1.1 ssh\\x1b]0;pwned\\x07\\x1b[2J\\x9b31m\\u202eexe.txt\\x0a  nftables  inbound  forged row (from admins)'), l);
});

test('Ctrl-C: namespaces are deleted and verify exits 130', async () => {
  const { run: r, sawNamespaces } = await sigint;
  assert.ok(sawNamespaces, `verify finished before it could be interrupted:\n${show(r)}`);
  assert.is(r.code, 130, show(r));
  assert.equal(namespacesOf(r.pid), [], 'namespaces left behind after SIGINT');
});

test('verify: exit 2 for a bad profile, an unknown target, or without root', () => {
  const bad = runCli(['verify', '--profile', fixture('profiles', 'bad', 'not-an-ip.yaml'), '--target', 'nftables']);
  assert.is(bad.code, 2, bad.stderr);
  assert.match(bad.stderr, /not-an-ip\.yaml:\d+:\d+: error: /);
  assert.match(bad.stderr, /nothing verified/);
  const target = runCli(['verify', '--profile', fixture('profiles', 'example.yaml'), '--target', 'terraform-aws']);
  assert.is(target.code, 2, target.stderr);
  assert.match(target.stderr, /verify cannot run target 'terraform-aws'/);
  const missing = runCli(['verify', '--profile', path.join(tmp, 'no-such.yaml')]);
  assert.is(missing.code, 2, missing.stderr);
  assert.match(missing.stderr, /no such file/);
  // The unprivileged user may not be able to read the checkout (a clone
  // under `mktemp -d` is mode 0700): it runs a world-readable copy of just
  // the installed CLI (package.json, bin/, the bundle, the built-in catalog)
  // and the profile, from a directory of its own.
  const copy = fs.mkdtempSync(path.join(os.tmpdir(), `pct-verify-user-${process.pid}-`));
  try {
    for (const f of ['package.json', 'bin/portcullis.js', 'dist/portcullis.js', 'catalog/thoughtspot.yaml', 'fixtures/profiles/example.yaml']) {
      fs.mkdirSync(path.join(copy, path.dirname(f)), { recursive: true });
      fs.copyFileSync(path.join(ROOT, f), path.join(copy, f));
    }
    for (const d of ['', 'bin', 'dist', 'catalog', 'fixtures', 'fixtures/profiles']) fs.chmodSync(path.join(copy, d), 0o755);
    const user = run('setpriv', ['--reuid=65534', '--regid=65534', '--clear-groups', process.execPath, path.join(copy, 'bin', 'portcullis.js'), 'verify', '--profile', 'fixtures/profiles/example.yaml'], {
      cwd: copy,
    });
    assert.is(user.code, 2, user.stderr);
    assert.match(user.stderr, /^error: verify needs root \(running as uid 65534\)/);
  } finally {
    fs.rmSync(copy, { recursive: true, force: true });
  }
});

test('verify --from-dir follows no symbolic link: a linked ruleset or target directory is refused, the secret never printed', () => {
  const secret = path.join(tmp, 'secret.txt');
  fs.writeFileSync(secret, 'table inet x { SECRET-TOKEN-4711 }\n');
  for (const link of ['file', 'dir']) {
    const dir = path.join(tmp, `linked-${link}`);
    const r = runCli(['compile', '--profile', fixture('profiles', 'example.yaml'), '--target', 'nftables', '--out-dir', dir]);
    assert.is(r.code, 0, r.stderr);
    const target = path.join(dir, 'prod-east', 'nftables');
    if (link === 'file') {
      fs.rmSync(path.join(target, 'portcullis.nft'));
      fs.symlinkSync(secret, path.join(target, 'portcullis.nft'));
    } else {
      fs.rmSync(target, { recursive: true });
      fs.mkdirSync(path.join(tmp, 'elsewhere'), { recursive: true });
      fs.copyFileSync(secret, path.join(tmp, 'elsewhere', 'portcullis.nft'));
      fs.symlinkSync(path.join(tmp, 'elsewhere'), target);
    }
    const v = runCli(['verify', '--profile', fixture('profiles', 'example.yaml'), '--target', 'nftables', '--from-dir', dir]);
    assert.is(v.code, 2, `${link}: ${v.stdout}${v.stderr}`);
    assert.match(v.stderr, /is a symbolic link; verify --from-dir follows none/, link);
    assert.not.match(v.stdout + v.stderr, /SECRET-TOKEN/, `${link}: the secret was printed`);
  }
});

test('verify loads nftables and iptables output exactly as the output headers tell a user to', () => {
  const out = path.join(tmp, 'headers');
  const r = runCli(['compile', '--profile', fixture('profiles', 'example.yaml'), '--target', 'nftables,iptables', '--out-dir', out]);
  assert.is(r.code, 0, r.stderr);
  const header = (f: string) =>
    fs
      .readFileSync(path.join(out, 'prod-east', f), 'utf8')
      .split('\n')
      .filter((l) => l.startsWith('#'))
      .join('\n');
  for (const cmd of LOAD_COMMANDS.nftables) assert.ok(header('nftables/portcullis.nft').includes(cmd), `nftables header lacks: ${cmd}`);
  for (const cmd of LOAD_COMMANDS.iptables) {
    const file = cmd.includes('v6') || cmd.startsWith('ip6tables') ? 'iptables/rules.v6' : 'iptables/rules.v4';
    assert.ok(header(file).includes(cmd), `${file} header lacks: ${cmd}`);
  }
});

test("the matrix's verdicts agree with explain wherever both judge the same thing", () => {
  // explain judges a flow end to end; verify proves one node's own firewall.
  // They differ by design for node-to-node egress (explain also needs the
  // other node's ingress) and in a family where the profile lists no node
  // address (explain: "not a node"; verify: the node's rules apply to it).
  for (const c of Object.values(CASES)) {
    const loaded = loadProfile(c.profile, c.catalog);
    const plan = buildPlan(loaded.ir);
    let compared = 0;
    for (const k of plan.cases) {
      if (!plan.node[k.family].listed || k.baseline) continue;
      if (k.direction === 'egress' && k.peer.groups.includes(loaded.ir.host)) continue;
      const e = explainFlow(loaded, { from: k.src, to: k.dst, port: `${k.port}/${k.transport}` });
      assert.is(e.verdict === 'allow', k.expect, `${c.profile}: ${k.direction} ${k.src} -> ${k.dst} ${k.port}/${k.transport}: verify says ${k.why}`);
      compared++;
    }
    assert.ok(compared > 50, `${c.profile}: only ${compared} cases compared`);
  }
});

/** A pcap stream built by hand from the formats' documentation (not by nflog.ts's code). */
function pcapOf(packets: Buffer[], bigEndian = false): Buffer {
  const u32 = (v: number) => {
    const b = Buffer.alloc(4);
    if (bigEndian) b.writeUInt32BE(v);
    else b.writeUInt32LE(v);
    return b;
  };
  const u16 = (v: number) => {
    const b = Buffer.alloc(2);
    if (bigEndian) b.writeUInt16BE(v);
    else b.writeUInt16LE(v);
    return b;
  };
  const head = Buffer.concat([u32(0xa1b2c3d4), u16(2), u16(4), u32(0), u32(0), u32(65535), u32(239)]);
  return Buffer.concat([head, ...packets.flatMap((p) => [u32(1), u32(2), u32(p.length), u32(p.length), p])]);
}
/** nfgenmsg (AF_INET6, version 0, group) + TLVs (length and type in the writer's byte order), padded to 4. */
function nflogOf(group: number, tlvs: [number, Buffer][], bigEndian = false): Buffer {
  const parts: Buffer[] = [Buffer.from([10, 0, group >> 8, group & 0xff])];
  for (const [type, value] of tlvs) {
    const h = Buffer.alloc(4);
    if (bigEndian) {
      h.writeUInt16BE(4 + value.length, 0);
      h.writeUInt16BE(type, 2);
    } else {
      h.writeUInt16LE(4 + value.length, 0);
      h.writeUInt16LE(type, 2);
    }
    parts.push(h, value, Buffer.alloc((4 - (value.length % 4)) % 4));
  }
  return Buffer.concat(parts);
}

test('nflog: the pcap parser reads prefix and packet of each NFLOG record, in either byte order of the file header', () => {
  // An IPv6 UDP datagram 2001:db8::1 port 547 -> 2001:db8:ffff::1 port 546.
  const ip6 = Buffer.alloc(48);
  ip6[0] = 0x60;
  ip6[6] = 17;
  Buffer.from('20010db8000000000000000000000001', 'hex').copy(ip6, 8);
  Buffer.from('20010db8ffff00000000000000000001', 'hex').copy(ip6, 24);
  ip6.writeUInt16BE(547, 40);
  ip6.writeUInt16BE(546, 42);
  // An IPv4 TCP SYN 192.0.2.1:40000 -> 10.20.0.11:22 (IHL 5).
  const ip4 = Buffer.alloc(40);
  ip4[0] = 0x45;
  ip4[9] = 6;
  Buffer.from([192, 0, 2, 1, 10, 20, 0, 11]).copy(ip4, 12);
  ip4.writeUInt16BE(40000, 20);
  ip4.writeUInt16BE(22, 22);
  const hwproto = Buffer.from([0x86, 0xdd, 3, 0]); // NFULA_PACKET_HDR, type 1: skipped
  const recordsIn = (be: boolean) => [
    nflogOf(5, [[1, hwproto], [10, Buffer.from('portcullis-drop in: \0')], [9, ip6]], be),
    nflogOf(5, [[10, Buffer.from('portcullis-drop out: \0')], [9, ip4]], be),
    nflogOf(7, [[1, hwproto]], be),
  ];
  const records = recordsIn(false);
  for (const bigEndian of [false, true]) {
    const { records: got, consumed } = parsePcap(pcapOf(recordsIn(bigEndian), bigEndian));
    assert.equal(got, [
      { group: 5, prefix: 'portcullis-drop in: ', packet: { family: 'ipv6', src: '2001:db8::1', dst: '2001:db8:ffff::1', protocol: 'udp', sport: 547, dport: 546 } },
      { group: 5, prefix: 'portcullis-drop out: ', packet: { family: 'ipv4', src: '192.0.2.1', dst: '10.20.0.11', protocol: 'tcp', sport: 40000, dport: 22 } },
      { group: 7 },
    ]);
    assert.is(consumed, pcapOf(records).length);
  }
  // A stream cut inside a record yields the complete records only.
  const cut = Buffer.from(pcapOf(records).subarray(0, pcapOf(records).length - 3));
  assert.is(parsePcap(cut).records.length, 2);
  assert.throws(() => parsePcap(Buffer.concat([pcapOf([]).subarray(0, 20), Buffer.from([1, 0, 0, 0])])), /linktype 1, expected 239/);
});

test('nflog: a capture of a namespace\'s NFLOG group sees the denied probe a hand-written log rule logs, and none that no log rule logs', async () => {
  requireNetns();
  const node = '192.0.2.10';
  const peer = '192.0.2.20';
  await withTopology({ prefix: 'pcn', node: [node], world: [peer] }, async (t) => {
    await startListener(t, t.node, [7001, 7002, 7003]);
    const before = await probe(t, t.world, [7001, 7002, 7003].map((port) => ({ src: peer, dst: node, port })), 5000);
    assert.ok(before.every((r) => r.allowed), `topology broken: ${JSON.stringify(before)}`);
    // 7001: logged then dropped; 7002: dropped unlogged; 7003: open.
    const ruleset = [
      'table inet pcn {',
      '\tchain input {',
      '\t\ttype filter hook input priority 0; policy accept;',
      `\t\ttcp dport 7001 log group ${LOG_GROUP} prefix "portcullis-drop in: " drop`,
      '\t\ttcp dport 7002 drop',
      '\t}',
      '}',
      '',
    ].join('\n');
    t.execOk(t.node, ['nft', '-f', '-'], ruleset);
    const capture = await startNflogCapture(t, t.node, LOG_GROUP);
    try {
      const seen = await probe(t, t.world, [7001, 7002, 7003].map((port) => ({ src: peer, dst: node, port })), 1500);
      assert.equal(seen.map((r) => r.allowed), [false, false, true]);
      const hit = await capture.waitFor((r) => r.packet?.dport === 7001, 10000);
      assert.ok(hit, `no NFLOG record for 7001: ${JSON.stringify(capture.records())}`);
      assert.is(hit!.prefix, 'portcullis-drop in: ');
      assert.is(hit!.group, LOG_GROUP);
      assert.equal([hit!.packet!.src, hit!.packet!.dst, hit!.packet!.protocol], [peer, node, 'tcp']);
      // Every record is one of 7001's (SYN and retransmissions): 7002 and 7003 are not logged.
      assert.ok(capture.records().every((r) => r.packet?.dport === 7001), JSON.stringify(capture.records()));
    } finally {
      capture.stop();
    }
  });
});

const EXAMPLE_PROBES = () => matrixSize(loadProfile(CASES.example.profile).ir, CASES.example.outsider);

test('the plan probes the DHCPv6 reply on every profile: link-local 547 -> 546 allowed, from a global address denied', () => {
  for (const [name, c] of Object.entries(CASES)) {
    const plan = buildPlan(loadProfile(c.profile, c.catalog).ir);
    const dhcp = plan.cases.filter((k) => k.baseline === 'dhcpv6-client-in');
    const reply = dhcp.find((k) => k.src === 'fe80::2%veth1');
    assert.ok(reply, `${name}: no DHCPv6 reply probe`);
    assert.equal(
      { direction: reply!.direction, transport: reply!.transport, sourcePort: reply!.sourcePort, dst: reply!.dst, port: reply!.port, expect: reply!.expect },
      { direction: 'ingress', transport: 'udp', sourcePort: 547, dst: 'fe80::1%veth1', port: 546, expect: true },
      name,
    );
    // From outside fe80::/10 (the outsider, when there is one) the same ports stay shut.
    const global = dhcp.filter((k) => k !== reply);
    assert.is(global.length, c.outsider.ipv6 ? 1 : 0, name);
    for (const k of global) assert.equal([k.src, k.dst, k.sourcePort, k.port, k.expect], [k.peer.address, plan.node.ipv6.address, 547, 546, false], name);
  }
  // Under restrict (AWS): the DHCPv4 renewal to any server and the platform
  // endpoints (peers of their own) are probed; the multicast solicit is noted.
  const plan = buildPlan(loadProfile(fixture('profiles', 'host-options.yaml')).ir);
  const renew = plan.cases.find((k) => k.baseline === 'dhcpv4-client-out')!;
  assert.equal([renew.src, renew.sourcePort, renew.port, renew.transport, renew.expect], [plan.node.ipv4.address, 68, 67, 'udp', true]);
  const imds = plan.cases.filter((k) => k.baseline === 'platform-aws-imds-v4');
  assert.equal(imds.map((k) => [k.dst, k.port, k.expect]), [['169.254.169.254', 80, true], [imds[1]?.dst, 80, false]]);
  assert.ok(plan.peers.some((p) => p.address === '169.254.169.254'), 'IMDS is a world address');
  assert.ok(plan.notes.some((n) => /^baseline dhcpv6-client-out is not probed: its destination is multicast \(ff02::1:2\)/.test(n)), plan.notes.join('\n'));
});

test('with drops logged to an NFLOG group, verify finds a denied probe in the capture (hand-made log rule)', async () => {
  const r = await runs.get('log-nflog')!;
  const n = EXAMPLE_PROBES();
  assert.is(r.code, 0, show(r));
  assert.match(r.stdout, new RegExp(`^log: drops are logged \\(NFLOG group ${LOG_GROUP}, 10/minute\\); a denied probe must show with prefix "portcullis-drop in: "$`, 'm'));
  assert.match(r.stdout, new RegExp(`^nftables: loaded with .*; ${n} probes: ${n} passed, 0 failed`, 'm'));
  assert.match(r.stdout, /^nftables: log ok: NFLOG group 5: inbound \S+ -> \S+ \d+\/(tcp|udp) logged with prefix "portcullis-drop in: "$/m);
  assert.match(r.stdout, new RegExp(`\\n${n + 1} passed, 0 failed\\n$`));
});

test('with drops logged but no log rule in the ruleset, verify fails the log check (exit 1), probes all pass', async () => {
  const r = await runs.get('log-none')!;
  const n = EXAMPLE_PROBES();
  assert.is(r.code, 1, show(r));
  assert.match(r.stdout, new RegExp(`^nftables: loaded with .*; ${n} probes: ${n} passed, 0 failed`, 'm'));
  assert.match(r.stdout, /^nftables: log FAILED: NFLOG group 5: no line with prefix "portcullis-drop in: " for any of the \d+ denied inbound probes \(0 log lines seen\)$/m);
  assert.match(r.stdout, new RegExp(`\\n${n} passed, 1 failed\\n$`));
});

test('with drops logged to the kernel log, verify checks dmesg only where nf_log_all_netns is 1, and never writes the switch', async () => {
  const r = await runs.get('log-kernel')!;
  const n = EXAMPLE_PROBES();
  assert.is(r.code, 0, show(r));
  assert.is(fs.readFileSync(NF_LOG_ALL_NETNS, 'utf8'), logRuns.kernelLogBefore, `${NF_LOG_ALL_NETNS} changed`);
  if (logRuns.kernelLogBefore.trim() === '1') {
    assert.match(r.stdout, /^nftables: log ok: the kernel log \(dmesg\): inbound .* logged with prefix "portcullis-drop in: "$/m);
    assert.match(r.stdout, new RegExp(`\\n${n + 1} passed, 0 failed\\n$`));
  } else {
    assert.match(
      r.stdout,
      /^nftables: log not checked: drops are logged to the kernel log, which verify cannot read for its namespace: the kernel writes log lines for packets in a network namespace other than the host's only when net\.netfilter\.nf_log_all_netns is 1 \(it is 0 here; verify never changes it\)$/m,
    );
    assert.match(r.stdout, new RegExp(`\\n${n} passed, 0 failed\\n$`));
  }
});

test("verify with host.log.drops (NFLOG) on all three host targets: each target's own log rule shows a denied probe", async () => {
  const r = await runs.get('log-all')!;
  const n = EXAMPLE_PROBES();
  for (const t of ['nftables', 'iptables', 'firewalld']) {
    assert.match(r.stdout, new RegExp(`^${t}: loaded with .*; ${n} probes: ${n} passed, 0 failed`, 'm'), show(r));
    assert.match(r.stdout, new RegExp(`^${t}: log ok: NFLOG group 5: inbound `, 'm'), show(r));
  }
  assert.is(r.code, 0, show(r));
});

test.run();
