// `portcullis verify` with a catalog of several roles: every role is
// verified on a node of its own, with its own policy and tree
// (<env>/<target>/<role>/), or the one --role names. Needs root, `ip netns`,
// nft, iptables, ipset and firewalld; fails (never skips) without them.
//
// The verdicts of the key flows below are stated here from the catalog rows
// of fixtures/catalogs/roles.yaml (and the addresses of
// fixtures/profiles/roles.yaml), not taken from verify's plan:
//
//   T1.1 api        6443/tcp         nodes   -> servers
//   T1.2 etcd       2379-2380/tcp    servers -> servers
//   T1.3 kubelet    10250/tcp        servers -> nodes
//   T1.4 vxlan      8472/udp         nodes   -> nodes
//   T1.6 nodeports  30000-32767/tcp  users   -> agents
//   T2.1 ssh        22/tcp           admins  -> nodes
//
// nodes is servers + agents; egress is restrict. Each is checked against
// what the kernel saw (verifyTarget's observed verdicts, nftables), and the
// CLI runs on all three host targets must pass every probe of both roles.

import { ChildProcess, spawn } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { load, roleIRs } from '../src/compile';
import type { Family } from '../src/ir/types';
import { buildPlan, Case, Plan, planContext, verifyTarget } from '../src/verify';
import { BIN, fixture, ROOT, runCli } from './helpers/cli';
import { requireNetns, run } from './helpers/netns';

interface Run {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  pid: number;
}

const PARALLEL = 3;
let running = 0;
const waiting: (() => void)[] = [];

async function verifyAsync(args: string[]): Promise<Run> {
  if (running >= PARALLEL) await new Promise<void>((r) => waiting.push(r));
  running++;
  try {
    return await new Promise((resolve, reject) => {
      const c: ChildProcess = spawn(process.execPath, [BIN, 'verify', ...args], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
      let stdout = '';
      let stderr = '';
      c.stdout!.setEncoding('utf8').on('data', (d: string) => (stdout += d));
      c.stderr!.setEncoding('utf8').on('data', (d: string) => (stderr += d));
      c.on('error', reject);
      c.on('close', (code, signal) => resolve({ code, signal, stdout, stderr, pid: c.pid! }));
    });
  } finally {
    running--;
    waiting.shift()?.();
  }
}

const show = (r: Run) => `exit ${r.code ?? r.signal}\n--- stdout\n${r.stdout}\n--- stderr\n${r.stderr}`;
const namespacesOf = (pid: number) => run('ip', ['netns', 'list']).stdout.split('\n').filter((l) => l.startsWith(`pcv-${pid}-`));

const CATALOG = fixture('catalogs', 'roles.yaml');
const PROFILE = fixture('profiles', 'roles.yaml');
const RKE2_PROFILE = fixture('profiles', 'rke2-example.yaml');
const ROLES = ['servers', 'agents'];

// fixtures/profiles/roles.yaml, restated.
const SERVERS_V4 = ['10.30.0.11', '10.30.0.12', '10.30.0.13'];
const AGENTS_V4 = ['10.30.1.21', '10.30.1.22'];
const AGENTS_V6 = ['2001:db8:30::22'];
const inAdmins = (a: string) => a.startsWith('198.51.100.') || a.startsWith('2001:db8:ad:');

const text = (f: string) => ({ path: path.relative(ROOT, f), text: fs.readFileSync(f, 'utf8') });
function plansOf(profile: string, catalog?: string): Plan[] {
  const loaded = load({ profile: text(profile), catalog: catalog ? text(catalog) : { path: 'catalog/rke2.yaml', text: fs.readFileSync(path.join(ROOT, 'catalog', 'rke2.yaml'), 'utf8') } });
  const irs = roleIRs(loaded);
  const context = planContext(irs);
  return irs.map((ir) => buildPlan(ir, context));
}

/** The section of one role in a report: from "role R:" to the next role's (or the mismatches). */
function section(stdout: string, role: string): string {
  const start = stdout.indexOf(`\nrole ${role}:\n`);
  if (start < 0) return '';
  const rest = stdout.slice(start + 1);
  const end = rest.slice(1).search(/\n(role \w+:\n|mismatches \(|\d+ passed, \d+ failed\n)/);
  return end < 0 ? rest : rest.slice(0, end + 2);
}

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), `pct-verify-roles-${process.pid}-`));
const runs = new Map<string, Promise<Run>>();

/** The roles tree for nftables, compiled into a directory of its own, with
 * one role's file edited; returns the --from-dir directory. */
function editedTree(name: string, role: string, edit: (nft: string) => string): string {
  const dir = path.join(tmp, name);
  const r = runCli(['compile', '--catalog', CATALOG, '--profile', PROFILE, '--target', 'nftables', '--out-dir', dir]);
  assert.is(r.code, 0, r.stderr);
  const file = path.join(dir, 'roles', 'nftables', role, 'portcullis.nft');
  const before = fs.readFileSync(file, 'utf8');
  const after = edit(before);
  assert.is.not(after, before, `${name}: the edit changed nothing`);
  fs.writeFileSync(file, after);
  return dir;
}

test.before(() => {
  requireNetns();
  // servers' etcd (T1.2, 2379-2380 from the servers) dropped from the input chain.
  const noEtcd = editedTree('no-etcd', 'servers', (nft) =>
    nft.replace(/(ip saddr @servers_v4 tcp dport )\{ 2379-2380, 10250 \}( accept comment "in-servers-v4-tcp)/, '$110250$2'),
  );
  runs.set('no-etcd', verifyAsync(['--catalog', CATALOG, '--profile', PROFILE, '--target', 'nftables', '--from-dir', noEtcd]));
  runs.set('agents', verifyAsync(['--catalog', CATALOG, '--profile', PROFILE, '--target', 'nftables', '--role', 'agents']));
  for (const t of ['nftables', 'iptables', 'firewalld']) runs.set(t, verifyAsync(['--catalog', CATALOG, '--profile', PROFILE, '--target', t]));
  runs.set('rke2', verifyAsync(['--catalog', 'rke2', '--profile', RKE2_PROFILE, '--target', 'nftables']));
});

test.after(() => {
  fs.rmSync(tmp, { recursive: true, force: true });
});

test('each role is verified on a node of that role, with a peer in every role', () => {
  const [servers, agents] = plansOf(PROFILE, CATALOG);
  assert.equal([servers.role, agents.role], ROLES);
  assert.ok(SERVERS_V4.includes(servers.node.ipv4.address), servers.node.ipv4.address);
  assert.ok(AGENTS_V4.includes(agents.node.ipv4.address), agents.node.ipv4.address);
  assert.ok(AGENTS_V6.includes(agents.node.ipv6.address), agents.node.ipv6.address);
  // Inbound peers of each role's plan include a server other than the node and an agent other than the node.
  for (const plan of [servers, agents]) {
    const others = plan.ingress.ipv4.map((p) => p.address).filter((a) => a !== plan.node.ipv4.address);
    assert.ok(others.some((a) => SERVERS_V4.includes(a)), `${plan.role}: no server peer among ${others}`);
    assert.ok(others.some((a) => AGENTS_V4.includes(a)), `${plan.role}: no agent peer among ${others}`);
  }
});

/** The key flows, from the catalog rows (see the header): [description, match, allowed]. */
type Flow = [string, (c: Case) => boolean, boolean];
const inbound = (transport: string, port: number, from: (a: string) => boolean) => (c: Case) =>
  c.direction === 'ingress' && c.transport === transport && c.port === port && !c.baseline && from(c.src);
const outbound = (transport: string, port: number, to: (a: string) => boolean) => (c: Case) =>
  c.direction === 'egress' && c.transport === transport && c.port === port && !c.baseline && to(c.dst);
const server = (node: string) => (a: string) => SERVERS_V4.includes(a) && a !== node;
const agent = (node: string) => (a: string) => AGENTS_V4.includes(a) && a !== node;
/** In users (0.0.0.0/0) only: no node, no admin. */
const userOnly = (a: string) => !a.includes(':') && !SERVERS_V4.includes(a) && !AGENTS_V4.includes(a) && !inAdmins(a);

function keyFlows(role: string, node: string): Flow[] {
  if (role === 'servers')
    return [
      ['T1.1: an agent -> servers 6443/tcp', inbound('tcp', 6443, agent(node)), true],
      ['T1.2: another server -> servers 2379/tcp', inbound('tcp', 2379, server(node)), true],
      ['T1.2: another server -> servers 2380/tcp', inbound('tcp', 2380, server(node)), true],
      ['T1.2 is servers only: an agent -> servers 2379/tcp', inbound('tcp', 2379, agent(node)), false],
      ['T1.3 is from servers: an agent -> servers 10250/tcp', inbound('tcp', 10250, agent(node)), false],
      ['T1.4: an agent -> servers 8472/udp', inbound('udp', 8472, agent(node)), true],
      ['T2.1: an admin -> servers 22/tcp', inbound('tcp', 22, inAdmins), true],
      ['T1.6 is into agents: an agent -> servers 30000/tcp', inbound('tcp', 30000, agent(node)), false],
      ['T1.3 out: servers -> an agent 10250/tcp', outbound('tcp', 10250, agent(node)), true],
      ['T1.2 out: servers -> another server 2379/tcp', outbound('tcp', 2379, server(node)), true],
      ['T1.2 out is to servers: servers -> an agent 2379/tcp', outbound('tcp', 2379, agent(node)), false],
    ];
  return [
    ['T1.6: a user -> agents 30000/tcp', inbound('tcp', 30000, userOnly), true],
    ['T1.6: a user -> agents 32767/tcp', inbound('tcp', 32767, userOnly), true],
    ['T1.6 ends at 32767: a user -> agents 32768/tcp', inbound('tcp', 32768, userOnly), false],
    ['T1.1 is into servers: another agent -> agents 6443/tcp', inbound('tcp', 6443, agent(node)), false],
    ['T1.1 is into servers: a server -> agents 6443/tcp', inbound('tcp', 6443, server(node)), false],
    ['T1.3: a server -> agents 10250/tcp', inbound('tcp', 10250, server(node)), true],
    ['T1.3 is from servers: another agent -> agents 10250/tcp', inbound('tcp', 10250, agent(node)), false],
    ['T1.4: another agent -> agents 8472/udp', inbound('udp', 8472, agent(node)), true],
    ['T1.2 is servers only: a server -> agents 2379/tcp', inbound('tcp', 2379, server(node)), false],
    ['T1.1 out: agents -> a server 6443/tcp', outbound('tcp', 6443, server(node)), true],
    ['T1.2 out is from servers: agents -> a server 2379/tcp', outbound('tcp', 2379, server(node)), false],
    ['T1.4 out: agents -> another agent 8472/udp', outbound('udp', 8472, agent(node)), true],
    ['T1.3 out is from servers: agents -> another agent 10250/tcp', outbound('tcp', 10250, agent(node)), false],
  ];
}

test('the kernel agrees with the catalog rows on the key flows of each role (nftables, in process)', async () => {
  const dir = path.join(tmp, 'good');
  const r = runCli(['compile', '--catalog', CATALOG, '--profile', PROFILE, '--target', 'nftables', '--out-dir', dir]);
  assert.is(r.code, 0, r.stderr);
  for (const plan of plansOf(PROFILE, CATALOG)) {
    const report = await verifyTarget(plan, 'nftables', path.join(dir, 'roles', 'nftables', plan.role!));
    assert.is(report.loadError, undefined, `${plan.role}: ${report.loadError}`);
    assert.is(report.role, plan.role);
    assert.is(report.failed, 0, `${plan.role}: ${report.mismatches.map((m) => `${m.c.src} -> ${m.c.dst} ${m.c.port}/${m.c.transport}`).join(', ')}`);
    for (const [what, match, allowed] of keyFlows(plan.role!, plan.node.ipv4.address)) {
      const i = plan.cases.findIndex(match);
      assert.ok(i >= 0, `${plan.role}: not probed: ${what}`);
      assert.is(report.observed[i], allowed, `${plan.role}: ${what}: the kernel saw ${report.observed[i] ? 'allow' : 'deny'}`);
      assert.is(plan.cases[i].expect, allowed, `${plan.role}: ${what}: the plan expects ${plan.cases[i].expect ? 'allow' : 'deny'}`);
    }
  }
});

for (const target of ['nftables', 'iptables', 'firewalld'])
  test(`verify --catalog roles.yaml --target ${target}: both roles probed, each in its section, all pass`, async () => {
    const r = await runs.get(target)!;
    assert.is(r.code, 0, show(r));
    assert.match(r.stdout, /^roles: servers, agents: each verified on a node of its own/m);
    const plans = plansOf(PROFILE, CATALOG);
    for (const plan of plans) {
      const s = section(r.stdout, plan.role!);
      assert.ok(s, `no section for ${plan.role}:\n${show(r)}`);
      assert.match(s, new RegExp(`^node under test: ${plan.node.ipv4.address.replace(/\./g, '\\.')}, `, 'm'));
      assert.match(s, new RegExp(`^matrix: ${plan.cases.length} probes per target`, 'm'));
      assert.match(s, new RegExp(`^role ${plan.role}, ${target}: loaded with .*; ${plan.cases.length} probes: ${plan.cases.length} passed, 0 failed`, 'm'));
    }
    // The servers are probed from an agent, the agents from a server.
    assert.match(section(r.stdout, 'servers'), /^ {2}10\.30\.1\.2\d +\S+ +agents, nodes +inbound from/m);
    assert.match(section(r.stdout, 'agents'), /^ {2}10\.30\.0\.1\d +\S+ +nodes, servers, users +inbound from/m);
    const total = plans.reduce((n, p) => n + p.cases.length, 0);
    assert.match(r.stdout, new RegExp(`\\n${total} passed, 0 failed\\n$`));
    assert.equal(namespacesOf(r.pid), [], 'namespaces left behind');
  });

test('--role agents verifies the agents alone', async () => {
  const r = await runs.get('agents')!;
  assert.is(r.code, 0, show(r));
  const agents = plansOf(PROFILE, CATALOG)[1];
  assert.match(r.stdout, /^role: agents \(--role; the catalog's roles: servers, agents\)$/m);
  assert.not.match(r.stdout, /role servers/);
  assert.match(r.stdout, new RegExp(`^role agents, nftables: loaded with .*; ${agents.cases.length} probes: ${agents.cases.length} passed, 0 failed`, 'm'));
  assert.match(r.stdout, new RegExp(`\\n${agents.cases.length} passed, 0 failed\\n$`));
});

test("a servers tree without etcd fails (exit 1): the mismatches name the role and T1.2, the agents' tree passes", async () => {
  const r = await runs.get('no-etcd')!;
  assert.is(r.code, 1, show(r));
  const [servers, agents] = plansOf(PROFILE, CATALOG);
  assert.match(r.stdout, /^ {2}role +target +direction +from +to +port +expected +seen +catalog rows$/m);
  const rows = r.stdout.split('\n').filter((l) => /^ {2}(servers|agents) +nftables +/.test(l));
  // 2379 and 2380 (both ends of T1.2's range) from the other server: the
  // only peer etcd is open to; its neighbours 2378 and 2381 were closed anyway.
  const node = servers.node.ipv4.address;
  const expected = ['2379', '2380'].map((port) => new RegExp(`^ {2}servers +nftables +inbound +10\\.30\\.0\\.1\\d +${node.replace(/\./g, '\\.')} +${port}/tcp +allow +deny \\(timeout\\) +T1\\.2 etcd`));
  for (const re of expected) assert.is(rows.filter((l) => re.test(l)).length, 1, `${re}:\n${show(r)}`);
  assert.is(rows.length, 2, `exactly these mismatches:\n${show(r)}`);
  assert.match(r.stdout, new RegExp(`^role servers, nftables: .*; ${servers.cases.length} probes: ${servers.cases.length - 2} passed, 2 failed`, 'm'));
  assert.match(r.stdout, new RegExp(`^role agents, nftables: .*; ${agents.cases.length} probes: ${agents.cases.length} passed, 0 failed`, 'm'));
  assert.match(r.stdout, new RegExp(`\\n${servers.cases.length + agents.cases.length - 2} passed, 2 failed\\n$`));
});

test('verify --catalog rke2 (the built-in catalog by name): both roles pass on nftables', async () => {
  const r = await runs.get('rke2')!;
  assert.is(r.code, 0, show(r));
  assert.match(r.stdout, /catalog rke2, egress allow$/m);
  const plans = plansOf(RKE2_PROFILE);
  assert.equal(plans.map((p) => p.role), ROLES);
  for (const plan of plans) {
    const s = section(r.stdout, plan.role!);
    assert.match(s, new RegExp(`^role ${plan.role}, nftables: loaded with .*; ${plan.cases.length} probes: ${plan.cases.length} passed, 0 failed`, 'm'), show(r));
  }
  // rke2-example.yaml: servers 10.30.0.11-13, agents 10.30.1.21-22; the
  // servers are probed from an agent, the agents from a server and from
  // the other agent.
  assert.match(section(r.stdout, 'servers'), /^ {2}10\.30\.1\.2\d +\S+ +agents, nodes +inbound from/m);
  assert.match(section(r.stdout, 'agents'), /^ {2}10\.30\.0\.1\d +\S+ +nodes, servers +inbound from/m);
  assert.match(section(r.stdout, 'agents'), /^ {2}10\.30\.1\.2\d +agents +agents, nodes +inbound from/m);
  const total = plans.reduce((n, p) => n + p.cases.length, 0);
  assert.match(r.stdout, new RegExp(`\\n${total} passed, 0 failed\\n$`));
});

test('bad input is exit 2: an unknown role (naming the roles), a missing role tree, an unknown built-in catalog', () => {
  let r = runCli(['verify', '--catalog', CATALOG, '--profile', PROFILE, '--target', 'nftables', '--role', 'workers']);
  assert.is(r.code, 2, r.stderr);
  assert.match(r.stderr, /--role 'workers' is not a role of catalog 'roles' \(its roles: servers, agents\)/);
  assert.is(r.stdout, '');
  r = runCli(['verify', '--profile', fixture('profiles', 'example.yaml'), '--target', 'nftables', '--role', 'servers']);
  assert.is(r.code, 2, r.stderr);
  assert.match(r.stderr, /\(its role: nodes\)/);
  // A one-role layout (<env>/<target>/ holds the files) is not a multi-role tree.
  const flat = path.join(tmp, 'flat');
  fs.mkdirSync(path.join(flat, 'roles', 'nftables'), { recursive: true });
  fs.writeFileSync(path.join(flat, 'roles', 'nftables', 'portcullis.nft'), 'table inet x {}\n');
  r = runCli(['verify', '--catalog', CATALOG, '--profile', PROFILE, '--target', 'nftables', '--from-dir', flat]);
  assert.is(r.code, 2, r.stderr);
  assert.match(r.stderr, /roles\/nftables\/servers: no portcullis\.nft .*<environment>\/<target>\/<role>\//);
  r = runCli(['verify', '--catalog', 'nosuch', '--profile', PROFILE, '--target', 'nftables']);
  assert.is(r.code, 2, r.stderr);
  assert.match(r.stderr, /built-in catalogs: thoughtspot, rke2/);
});

test('IPv6: the agents node is the dual-stack agent; a role with no other address is noted, not invented', () => {
  const [servers, agents] = plansOf(PROFILE, CATALOG);
  const v6: Family = 'ipv6';
  assert.ok(agents.node[v6].listed);
  assert.ok(agents.notes.some((n) => /role 'agents' has no IPv6 address besides the node under test/.test(n)), agents.notes.join('\n'));
  // The servers list no IPv6 address: the servers' IPv6 peers are the agent's address and the others'.
  assert.not.ok(servers.node[v6].listed);
  assert.ok(servers.ingress.ipv6.some((p) => AGENTS_V6.includes(p.address)));
});

test.run();
