// Kernel test: a real firewalld daemon, started in the node's network
// namespace with the compiled tree over a stock firewalld.conf
// (DefaultZone=public), lets through exactly the expected TCP flows, proven
// by nonce round trips (test/helpers/prober.js). Follows
// ../shared/notes/firewalld-in-a-namespace.md: a private mount namespace with
// a fresh /run, its own system D-Bus, then `firewalld --nofork --system-config`.
//
// Needs root, `ip netns`, firewalld, dbus-daemon, nsenter; fails (never skips)
// without them.
//
// The expectations are written by hand from ../shared/seeds/network-ports.md,
// catalog/thoughtspot.yaml and fixtures/profiles/example.yaml (see
// test/kernel-nftables.test.ts for the full matrix and the profile facts):
//   admins = 198.51.100.0/24, 2001:db8:ad::/48; users = 0.0.0.0/0 (no IPv6);
//   nodes = 10.20.0.11-13; support off; debug on; dynamic 20000-65535.
// The stock default zone `public` would open 22 to everyone: the rows
// "user -> 22" and "outsider6 -> 22" prove it is not in the way.

import { ChildProcess, spawn } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { fixture, runCli } from './helpers/cli';
import { probe, ProbeCase, ProbeResult, requireNetns, run, startListener, Topology, withTopology } from './helpers/netns';

const NODE4 = '10.20.0.11';
const NODE6 = '2001:db8:20::11';
const SRC = {
  admin4: '198.51.100.10',
  admin6: '2001:db8:ad::10',
  node2: '10.20.0.12',
  user: '192.0.2.77',
  outsider6: '2001:db8:99::1',
} as const;
type Source = keyof typeof SRC;
const PORTS = [22, 80, 443, 2201, 5432, 12345, 19999, 20000, 65535] as const;
type Port = (typeof PORTS)[number];

interface Expect {
  allow: boolean;
  why: string;
}
const A = (why: string): Expect => ({ allow: true, why });
const D = (why: string): Expect => ({ allow: false, why });

const INBOUND: Record<Source, Record<Port, Expect>> = {
  admin4: {
    22: A('T1.1 SSH from admins (anti-lockout)'),
    80: A('T1.2 users = 0.0.0.0/0 covers the admin'),
    443: A('T1.3 users = 0.0.0.0/0 covers the admin'),
    2201: A('T1.5 admin debug port, debug on'),
    5432: D('T2.33 nodes only'),
    12345: A('T1.4 Simba from admins'),
    19999: D('no rule'),
    20000: D('dynamic range is nodes only'),
    65535: D('dynamic range is nodes only'),
  },
  admin6: {
    22: A('T1.1 SSH from admins (v6)'),
    80: D('no IPv6 users'),
    443: D('no IPv6 users'),
    2201: A('T1.5 admin debug port, debug on'),
    5432: D('nodes only'),
    12345: A('T1.4 Simba from admins'),
    19999: D('no rule'),
    20000: D('nodes only'),
    65535: D('nodes only'),
  },
  node2: {
    22: D('SSH is admins only (the stock public zone would allow it)'),
    80: A('T2.1 nginx node to node'),
    443: A('T2.2 node to node'),
    2201: A('T2.7 Orion master HTTP: all nodes'),
    5432: A('T2.33 Postgres node to node'),
    12345: A('T2.39 Simba node to node'),
    19999: D('below the dynamic range'),
    20000: A('dynamic range low edge'),
    65535: A('dynamic range high edge'),
  },
  user: {
    22: D('SSH is admins only (the stock public zone would allow it)'),
    80: A('T1.2 HTTP from users'),
    443: A('T1.3 HTTPS from users'),
    2201: D('debug ports are admins only'),
    5432: D('nodes only'),
    12345: D('admins only (support off)'),
    19999: D('no rule'),
    20000: D('nodes only'),
    65535: D('nodes only'),
  },
  outsider6: {
    22: D('in no group (the stock public zone would allow it)'),
    80: D('no IPv6 users'),
    443: D('no IPv6 users'),
    2201: D('in no group'),
    5432: D('in no group'),
    12345: D('in no group'),
    19999: D('in no group'),
    20000: D('in no group'),
    65535: D('in no group'),
  },
};

const isV6 = (a: string) => a.includes(':');

interface Case extends ProbeCase {
  label: string;
  expect: Expect;
}

function inboundCases(sources: readonly Source[] = Object.keys(SRC) as Source[], ports: readonly Port[] = PORTS): Case[] {
  return sources.flatMap((s) => ports.map((port) => ({ label: s, src: SRC[s], dst: isV6(SRC[s]) ? NODE6 : NODE4, port, expect: INBOUND[s][port] })));
}

function check(title: string, cases: readonly Case[], results: readonly ProbeResult[]): void {
  assert.is(results.length, cases.length, `${title}: result count`);
  const bad: string[] = [];
  cases.forEach((c, i) => {
    const r = results[i];
    assert.equal([r.src, r.dst, r.port], [c.src, c.dst, c.port], `${title}: results out of order`);
    if (r.allowed !== c.expect.allow)
      bad.push(
        `  ${c.label} ${c.src} -> [${c.dst}]:${c.port}: expected ${c.expect.allow ? 'ALLOW' : 'DENY'} (${c.expect.why}), got ${r.allowed ? 'ALLOW' : 'DENY'} (${r.outcome}, ${r.ms} ms)`,
      );
  });
  assert.ok(bad.length === 0, `${title}: ${bad.length} of ${cases.length} probes disagree:\n${bad.join('\n')}`);
}

async function assertAllReachable(t: Topology, ns: string, cases: readonly ProbeCase[]): Promise<void> {
  const broken = (await probe(t, ns, cases)).filter((r) => !r.allowed).map((r) => `  ${r.src} -> [${r.dst}]:${r.port} (${r.outcome})`);
  assert.ok(broken.length === 0, `topology broken: without a firewall these flows failed:\n${broken.join('\n')}`);
}

const tmpDirs: string[] = [];
test.after(() => {
  for (const d of tmpDirs) fs.rmSync(d, { recursive: true, force: true });
});

/** Compiles PROFILE_TEXT and returns a firewalld --system-config directory:
 * the stock firewalld.conf with the generated tree copied in. */
function configFor(profileText: string): string {
  const base = fs.mkdtempSync(path.join(os.tmpdir(), 'pct-kfwd-'));
  tmpDirs.push(base);
  const profile = path.join(base, 'profile.yaml');
  fs.writeFileSync(profile, profileText);
  const out = path.join(base, 'out');
  const r = runCli(['compile', '--profile', profile, '--target', 'firewalld', '--out-dir', out]);
  assert.is(r.code, 0, `compile failed: ${r.stderr}`);
  const dir = path.join(base, 'etc-firewalld');
  fs.mkdirSync(dir);
  fs.copyFileSync('/etc/firewalld/firewalld.conf', path.join(dir, 'firewalld.conf'));
  fs.cpSync(path.join(out, 'prod-east', 'firewalld'), dir, { recursive: true });
  return dir;
}

// ------------------------------------------------------------- the daemon

const daemons = new Set<ChildProcess>();
function killDaemon(c: ChildProcess): void {
  // The daemon and its D-Bus share one process group (spawned detached).
  try {
    if (c.pid) process.kill(-c.pid, 'SIGKILL');
  } catch {
    /* already gone */
  }
  daemons.delete(c);
}
process.on('exit', () => {
  for (const c of daemons) killDaemon(c);
});

interface Daemon {
  pid: number;
  log: () => string;
  /** Runs a command in the daemon's network and mount namespaces. */
  exec: (args: string[]) => ReturnType<typeof run>;
  stop: () => void;
}

async function startFirewalld(t: Topology, configDir: string, timeoutMs = 10000): Promise<Daemon> {
  for (const tool of ['firewalld', 'dbus-daemon', 'nsenter', 'unshare']) {
    const r = run('sh', ['-c', `command -v ${tool}`]);
    if (r.code !== 0) throw new Error(`firewalld kernel test needs ${tool}`);
  }
  // A fresh /run: a private system bus, and firewalld's /run/firewalld not
  // shared with the host. dbus-daemon stays in the foreground of its own
  // background job so it is in this process group and dies with it.
  const script = [
    'set -e',
    'mount -t tmpfs tmpfs /run',
    'mkdir -p /run/dbus',
    'dbus-daemon --system --nofork --nopidfile &',
    'i=0; while [ ! -S /run/dbus/system_bus_socket ] && [ $i -lt 100 ]; do sleep 0.05; i=$((i+1)); done',
    `exec firewalld --nofork --nopid --system-config '${configDir}' --log-target console`,
  ].join('\n');
  const c = spawn('ip', ['netns', 'exec', t.node, 'unshare', '-m', '--propagation', 'private', 'sh', '-c', script], {
    detached: true,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  daemons.add(c);
  let log = '';
  c.stdout!.setEncoding('utf8').on('data', (d: string) => (log += d));
  c.stderr!.setEncoding('utf8').on('data', (d: string) => (log += d));
  const pid = c.pid!;
  // `ip netns exec`, `unshare` and `sh -c … exec` all exec in place: pid is firewalld's.
  const exec = (args: string[]) => run('nsenter', ['--target', String(pid), '--mount', '--net', ...args]);
  const started = Date.now();
  for (;;) {
    if (c.exitCode !== null || c.signalCode !== null) throw new Error(`firewalld exited (${c.exitCode ?? c.signalCode}) during startup:\n${log}`);
    const state = exec(['firewall-cmd', '--state']);
    if (state.code === 0 && state.stdout.trim() === 'running') break;
    if (Date.now() - started > timeoutMs) {
      killDaemon(c);
      throw new Error(`firewalld not running after ${timeoutMs} ms (last: ${state.stdout.trim()} ${state.stderr.trim()}):\n${log}`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  return { pid, log: () => log, exec, stop: () => killDaemon(c) };
}

/** Sanity of what the daemon loaded, from the daemon itself. */
function assertLoaded(d: Daemon, egress: 'allow' | 'restrict'): void {
  const zones = d.exec(['firewall-cmd', '--get-active-zones']);
  assert.is(zones.code, 0, zones.stderr);
  assert.match(zones.stdout, /^portcullis\n\s+sources: 0\.0\.0\.0\/0 ::\/0$/m, `active zones:\n${zones.stdout}`);
  const policy = d.exec(['firewall-cmd', '--info-policy=portcullis-out']);
  assert.match(policy.stdout, new RegExp(`target: ${egress === 'restrict' ? 'DROP' : 'CONTINUE'}`));
  assert.not.match(d.log(), /WARNING|ERROR/, `firewalld complained:\n${d.log()}`);
  const set = d.exec(['nft', 'list', 'set', 'inet', 'firewalld', 'portcullis-users_v4']);
  assert.is(set.code, 0, set.stderr);
  assert.match(set.stdout, /0\.0\.0\.0\/1, 128\.0\.0\.0\/1/);
}

function requireKernel(): void {
  requireNetns();
}

test('firewalld in a namespace: inbound matrix of the example profile, proven by TCP round trips', async () => {
  requireKernel();
  const dir = configFor(fs.readFileSync(fixture('profiles', 'example.yaml'), 'utf8'));
  await withTopology({ node: [NODE4, NODE6], world: Object.values(SRC) }, async (t) => {
    await startListener(t, t.node, PORTS);
    const cases = inboundCases();
    await assertAllReachable(t, t.world, cases);
    const d = await startFirewalld(t, dir);
    try {
      assertLoaded(d, 'allow');
      // IPv6 must resolve neighbours through the firewall (ND kept working).
      t.flushNeighbours();
      check('inbound', cases, await probe(t, t.world, cases));
    } finally {
      d.stop();
    }
  });
});

// Egress restrict: connections the node opens (from 10.20.0.11 / 2001:db8:20::11).
const SMTP = '10.20.1.25';
const LDAP = '10.20.1.10';
const FILE_TRANSFER = '208.83.110.20';
const EGRESS: Array<[string, number, Expect]> = [
  [SRC.node2, 5432, A('T2.33 node to node')],
  [SRC.node2, 30000, A('dynamic range node to node')],
  [SRC.node2, 22, D('no node-to-node rule on 22')],
  [SMTP, 587, A('T4.2 SMTP to the relay, smtp_port 587')],
  [SMTP, 25, D('the profile picked 587')],
  [LDAP, 636, A('T4.3 LDAPS, ldap_port 636')],
  [LDAP, 389, D('the profile picked 636')],
  [FILE_TRANSFER, 443, A('T4.1 HTTPS to the file-transfer host')],
  [FILE_TRANSFER, 80, D('T4.1 is 443 only')],
  [SRC.user, 443, D('no egress rule to users')],
  [SRC.admin4, 22, D('no egress rule to admins')],
  [SRC.admin6, 22, D('no egress rule to admins (v6)')],
  [SRC.outsider6, 443, D('no IPv6 egress rule at all')],
];

test('firewalld in a namespace: egress restrict allows only catalog egress and node-to-node, inbound still works', async () => {
  requireKernel();
  const text = fs.readFileSync(fixture('profiles', 'example.yaml'), 'utf8');
  const restricted = text.replace(/^egress: allow\b/m, 'egress: restrict');
  assert.is.not(restricted, text, 'could not switch the example profile to egress: restrict');
  const dir = configFor(restricted);
  const egressCases: Case[] = EGRESS.map(([dst, port, expect]) => ({ label: 'node', src: isV6(dst) ? NODE6 : NODE4, dst, port, expect }));
  // Inbound replies leave through established/related; IPv6 needs the node's
  // own neighbour solicitations/advertisements out (caches flushed first).
  const inCases = inboundCases(['admin4', 'admin6', 'user', 'outsider6'], [22, 80]);
  const egressPorts = [...new Set(EGRESS.map(([, p]) => p))].sort((a, b) => a - b);
  await withTopology({ node: [NODE4, NODE6], world: [...Object.values(SRC), SMTP, LDAP, FILE_TRANSFER] }, async (t) => {
    await startListener(t, t.node, [22, 80]);
    await startListener(t, t.world, egressPorts);
    await Promise.all([assertAllReachable(t, t.node, egressCases), assertAllReachable(t, t.world, inCases)]);
    const d = await startFirewalld(t, dir);
    try {
      assertLoaded(d, 'restrict');
      t.flushNeighbours();
      const [egress, inbound] = await Promise.all([probe(t, t.node, egressCases), probe(t, t.world, inCases)]);
      check('egress restrict: outbound from the node', egressCases, egress);
      check('egress restrict: inbound', inCases, inbound);
    } finally {
      d.stop();
    }
  });
});

test.run();
