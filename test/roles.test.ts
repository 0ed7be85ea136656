// Host roles (issue 15): a catalog with `roles:` and union groups compiles
// one policy per role. The expected rules below are read off
// fixtures/catalogs/roles.yaml by hand, row by row, not from the compiler;
// the loader's role checks are positioned errors through the real CLI.

import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import * as api from '../src/index';
import { formatPortRange } from '../src/ports';
import { BIN, ROOT, runCli } from './helpers/cli';
import { fileLine, parseDiagnostics } from './helpers/diagnostics';
import { readTree, rmTree, tmpDir } from './helpers/tree';

const CATALOG = 'fixtures/catalogs/roles.yaml';
const PROFILE = 'fixtures/profiles/roles.yaml';
const read = (p: string) => ({ path: p, text: fs.readFileSync(path.join(ROOT, p), 'utf8') });

/** "direction peer family transport ports" per rule, e.g. "in admins v4 tcp 22,6443". */
function summary(ir: api.IR): string[] {
  return ir.rules
    .filter((r) => r.scope === 'host')
    .map((r) => `${r.direction === 'ingress' ? 'in' : 'out'} ${r.direction === 'ingress' ? r.sourceGroup : r.destinationGroup} ${r.family === 'ipv4' ? 'v4' : 'v6'} ${r.transport} ${r.ports.map((p) => formatPortRange(p)).join(',')}`)
    .sort();
}

test('roles: one IR per role, in catalog order, each with exactly the rows that concern it', () => {
  const loaded = api.load({ catalog: read(CATALOG), profile: read(PROFILE) });
  const irs = api.roleIRs(loaded);
  assert.equal(irs.map((ir) => ir.host), ['servers', 'agents']);
  assert.is(loaded.ir, irs[0]);
  // servers: API (T1.1) from all nodes and admins (T2.2), etcd (T1.2) and
  // kubelet (T1.3) from servers, VXLAN (T1.4) from all nodes, SSH (T2.1);
  // out (egress: restrict): API and etcd to servers, kubelet to all nodes
  // (a server reaches agents' and servers' kubelets), VXLAN to all nodes.
  // The profile gives servers IPv4 only, so no v6 server set.
  assert.equal(summary(irs[0]), [
    'in admins v4 tcp 22,6443',
    'in admins v6 tcp 22,6443',
    'in nodes v4 tcp 6443',
    'in nodes v4 udp 8472',
    'in nodes v6 tcp 6443',
    'in nodes v6 udp 8472',
    'in servers v4 tcp 2379-2380,10250',
    'out nodes v4 tcp 10250',
    'out nodes v4 udp 8472',
    'out nodes v6 tcp 10250',
    'out nodes v6 udp 8472',
    'out servers v4 tcp 2379-2380,6443',
  ]);
  // agents: no API, no etcd inbound; kubelet from servers; NodePorts from
  // users (T1.6); SSH; out: the API on the servers, VXLAN.
  assert.equal(summary(irs[1]), [
    'in admins v4 tcp 22',
    'in admins v6 tcp 22',
    'in nodes v4 udp 8472',
    'in nodes v6 udp 8472',
    'in servers v4 tcp 10250',
    'in users v4 tcp 30000-32767',
    'out nodes v4 udp 8472',
    'out nodes v6 udp 8472',
    'out servers v4 tcp 6443',
  ]);
  // The union's addresses are its members'.
  const nodes = irs[0].sets.find((s) => s.name === 'nodes_v4')!;
  // 5 addresses, minimal CIDR form: 10.30.0.12/31 holds two.
  assert.is(nodes.cidrs.length, 4);
  assert.equal(irs[1].roles, ['servers', 'agents']);
  assert.equal(irs[1].unions, { nodes: ['servers', 'agents'] });
});

test('roles: the wireguard feature adds its row to both roles', () => {
  const profile = { path: 'p.yaml', text: read(PROFILE).text + 'features: { wireguard: true }\n' };
  const irs = api.roleIRs(api.load({ catalog: read(CATALOG), profile }));
  for (const ir of irs) assert.ok(summary(ir).includes('in nodes v4 udp 8472,51820'), ir.host);
});

test('roles: compile writes one folder per role for the host targets, and nothing else changes for one-role catalogs', () => {
  const out = tmpDir();
  try {
    const r = runCli(['compile', '--catalog', CATALOG, '--profile', PROFILE, '--target', 'nftables,iptables,firewalld', '--out-dir', out]);
    assert.is(r.code, 0, r.stderr);
    for (const t of ['nftables', 'iptables', 'firewalld']) assert.equal(fs.readdirSync(path.join(out, 'roles', t)).sort(), ['agents', 'servers'], t);
    const files = readTree(path.join(out, 'roles', 'nftables'));
    assert.equal([...files.keys()].sort(), ['agents/portcullis.nft', 'servers/portcullis.nft']);
    // Each role's ruleset is what the same role's IR renders.
    const servers = files.get('servers/portcullis.nft')!;
    assert.match(servers, /tcp dport \{ 2379-2380, 10250 \}/);
    assert.not.match(files.get('agents/portcullis.nft')!, /2379/);
    assert.match(files.get('agents/portcullis.nft')!, /30000-32767/);
  } finally {
    rmTree(out);
  }
});

test('--catalog NAME: a built-in catalog by name gives the same bytes as its file; an unknown name is exit 2 with the list', () => {
  const byName = runCli(['compile', '--profile', 'fixtures/profiles/example.yaml', '--catalog', 'thoughtspot', '--target', 'nftables', '--stdout']);
  const byDefault = runCli(['compile', '--profile', 'fixtures/profiles/example.yaml', '--target', 'nftables', '--stdout']);
  assert.is(byName.code, 0, byName.stderr);
  assert.is(byName.stdout, byDefault.stdout);
  const unknown = runCli(['compile', '--profile', 'fixtures/profiles/example.yaml', '--catalog', 'thoughtspott', '--target', 'nftables', '--stdout']);
  assert.is(unknown.code, 2);
  assert.is(unknown.stdout, '');
  assert.match(unknown.stderr, /^thoughtspott: error: no such file, and no built-in catalog of that name\n {2}hint: built-in catalogs: thoughtspot, rke2/);
});

test('roles: apply and audit take --role; without it a multi-role catalog is exit 2 and nothing changes', () => {
  const ns = `pc-roles-${process.pid}`;
  const inNs = (args: string[]) => spawnSync('ip', ['netns', 'exec', ns, process.execPath, BIN, ...args], { encoding: 'utf8', cwd: ROOT });
  const ruleset = () => spawnSync('ip', ['netns', 'exec', ns, 'nft', 'list', 'ruleset'], { encoding: 'utf8' }).stdout;
  const common = ['--catalog', CATALOG, '--profile', PROFILE, '--target', 'nftables'];
  const out = tmpDir();
  assert.is(spawnSync('ip', ['netns', 'add', ns]).status, 0, 'ip netns add (root needed)');
  try {
    const before = ruleset();
    const noRole = inNs(['apply', ...common, '--no-confirm']);
    assert.is(noRole.status, 2, noRole.stderr);
    assert.match(noRole.stderr, /catalog 'roles' has 2 roles \(servers, agents\): give --role/);
    assert.is(ruleset(), before, 'nothing changed');
    const wrong = inNs(['apply', ...common, '--role', 'nodes', '--no-confirm']);
    assert.is(wrong.status, 2);
    assert.match(wrong.stderr, /--role 'nodes' is not a role of catalog 'roles' \(its roles: servers, agents\)/);
    // From a compiled tree: DIR/<env>/<target>/<role>/.
    assert.is(runCli(['compile', ...common, '--out-dir', out]).code, 0);
    const applied = inNs(['apply', ...common, '--role', 'agents', '--from-dir', out, '--no-confirm', '--json']);
    assert.is(applied.status, 0, applied.stderr);
    assert.is(JSON.parse(applied.stdout).changed, true);
    assert.match(ruleset(), /tcp dport 30000-32767 accept/);
    assert.not.match(ruleset(), /2379/);
    assert.is(inNs(['audit', ...common, '--role', 'agents']).status, 0, 'agents: in sync');
    const servers = inNs(['audit', ...common, '--role', 'servers']);
    assert.is(servers.status, 1, 'servers: drift');
    assert.match(servers.stdout, /policy allows, host does not: ingress tcp 2379-2380/);
    assert.match(servers.stdout, /host allows, policy does not: ingress tcp 30000-32767 from 0\.0\.0\.0\/0/);
  } finally {
    spawnSync('ip', ['netns', 'del', ns]);
    rmTree(out);
  }
});

interface Bad {
  name: string;
  catalog: string;
  profile?: string;
  at: [number, number];
  message: RegExp;
}

const base = read(CATALOG).text;
const BAD: Bad[] = [
  { name: 'host and roles', catalog: base.replace('roles: [servers, agents]', 'host: servers\nroles: [servers, agents]'), at: [9, 1], message: /either 'host' \(one firewalled role\) or 'roles', not both/ },
  { name: 'unknown role', catalog: base.replace('roles: [servers, agents]', 'roles: [servers, workers]'), at: [8, 18], message: /role 'workers' is not declared in 'groups'/ },
  { name: 'a union as a role', catalog: base.replace('roles: [servers, agents]', 'roles: [servers, nodes]'), at: [8, 18], message: /role 'nodes' is a union group/ },
  { name: 'union member unknown', catalog: base.replace('union: [servers, agents]', 'union: [servers, agnets]'), at: [18, 22], message: /names unknown member 'agnets'/ },
  { name: 'union with defaults', catalog: base.replace('union: [servers, agents]', 'union: [servers, agents]\n    default: [10.0.0.1]'), at: [19, 5], message: /is a union of servers, agents: it has no addresses of its own/ },
  { name: 'a non-role on both ends', catalog: base.replace('from: [admins]\n    to: [servers]', 'from: [admins]\n    to: [admins]'), at: [88, 10], message: /goes from group 'admins' to itself, and 'admins' is not a role or a union of roles/ },
  { name: 'anti-lockout away from the roles', catalog: base.replace('from: [admins]\n    to: [nodes]\n    anti_lockout: true', 'from: [admins]\n    to: [users]\n    anti_lockout: true'), at: [80, 10], message: /is anti-lockout, so it must lead to firewalled hosts/ },
  { name: 'profile gives a union addresses', catalog: base, profile: read(PROFILE).text + '  nodes: [10.9.9.9]\n', at: [0, 0], message: /group 'nodes' is the union of servers, agents: its addresses are theirs/ },
];

for (const b of BAD)
  test(`roles: ${b.name} is a positioned error, exit 2, nothing written`, () => {
    const dir = tmpDir();
    const out = path.join(dir, 'out');
    try {
      const catalog = path.join(dir, 'catalog.yaml');
      fs.writeFileSync(catalog, b.catalog);
      let profile = PROFILE;
      if (b.profile) {
        profile = path.join(dir, 'profile.yaml');
        // `groups:` is followed by the other keys; put the union under it.
        fs.writeFileSync(profile, b.profile.replace(/\n {2}nodes: \[10\.9\.9\.9\]\n$/, '\n').replace('groups:\n', 'groups:\n  nodes: [10.9.9.9]\n'));
      }
      const r = runCli(['compile', '--catalog', catalog, '--profile', profile, '--out-dir', out]);
      assert.is(r.code, 2, r.stdout + r.stderr);
      assert.not.match(r.stderr, /\n\s+at .+:\d+:\d+\)?\n/, 'no stack trace');
      const ds = parseDiagnostics(r.stderr);
      const d = ds.find((x) => b.message.test(x.message));
      assert.ok(d, `expected ${b.message} in:\n${r.stderr}`);
      if (b.at[0]) assert.equal([d!.line, d!.col], b.at, r.stderr);
      // The quoted line is the file's line, the caret under the column.
      assert.is(d!.source, fileLine(d!.file, d!.line));
      assert.is(d!.caretCol, d!.col);
      assert.not.ok(fs.existsSync(out), 'nothing written');
    } finally {
      rmTree(dir);
    }
  });

test.run();
