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
import { BIN, fixture, ROOT, runCli } from './helpers/cli';
import { requireNetns, run } from './helpers/netns';

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
 * one (the fixture says), plus one non-listed destination outbound.
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
function editedNft(name: string, edit: (nft: string) => string): string {
  const dir = path.join(tmp, name);
  const r = runCli(['compile', '--profile', fixture('profiles', 'example.yaml'), '--target', 'nftables', '--out-dir', dir]);
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
  const broken = editedNft('broken', (nft) =>
    nft
      .replace(/(ip saddr @admins_v4 tcp dport \{ 22, 2101, )2201, /, '$1')
      .replace(/(ip saddr @users_v4 tcp dport \{ 80, 443) \}/, '$1, 5432 }'),
  );
  runs.set('broken', verifyAsync(['--profile', CASES.example.profile, '--target', 'nftables', '--from-dir', broken]));

  // Neighbour solicitations dropped on input: IPv6 peers cannot resolve the
  // node. Warm neighbour caches (or outbound probes teaching the peers the
  // node's address) would hide it. (The first icmpv6 line is the input
  // chain's; with egress: allow the output chain has none.)
  const noNd = editedNft('no-nd', (nft) => nft.replace(/(icmpv6 type \{[^}]*)nd-neighbor-solicit, /, '$1'));
  runs.set('no-nd', verifyAsync(['--profile', CASES.example.profile, '--target', 'nftables', '--from-dir', noNd]));

  const hostile = hostileFromDir();
  runs.set('hostile', verifyAsync(['--profile', hostile.profile, '--catalog', hostile.catalog, '--target', 'nftables', '--from-dir', hostile.dir]));

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
  // Only the IPv6 peer that must get in is affected.
  const rows = r.stdout.split('\n').filter((l) => /^ {2}nftables +inbound /.test(l));
  // A probe waits out its timeout, or, when a busy machine raised the timeout
  // past the kernel's neighbour resolution (3 solicitations, 1 s apart), gets
  // EHOSTUNREACH: both are the dropped solicitations.
  assert.ok(rows.length > 0 && rows.every((l) => /2001:db8:ad::\d+ +2001:db8:ffff::1 .* allow +deny \((timeout|EHOSTUNREACH)\)/.test(l)), show(r));
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
      if (!plan.node[k.family].listed) continue;
      if (k.direction === 'egress' && k.peer.groups.includes(loaded.ir.host)) continue;
      const e = explainFlow(loaded, { from: k.src, to: k.dst, port: `${k.port}/${k.transport}` });
      assert.is(e.verdict === 'allow', k.expect, `${c.profile}: ${k.direction} ${k.src} -> ${k.dst} ${k.port}/${k.transport}: verify says ${k.why}`);
      compared++;
    }
    assert.ok(compared > 50, `${c.profile}: only ${compared} cases compared`);
  }
});

test.run();
