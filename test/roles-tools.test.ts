// explain, diff and lint on catalogs with several host roles. Expected
// values are read off fixtures/catalogs/roles.yaml row by row (and
// catalog/rke2.yaml for the real catalog), not from the code under test:
//   T1.1 API 6443/tcp        nodes   -> servers
//   T1.2 etcd 2379-2380/tcp  servers -> servers
//   T1.3 kubelet 10250/tcp   servers -> nodes
//   T1.4 VXLAN 8472/udp      nodes   -> nodes
//   T1.6 NodePorts 30000-32767/tcp users -> agents
//   T2.1 SSH 22/tcp          admins  -> nodes
//   T2.2 kubectl 6443/tcp    admins  -> servers
// fixtures/profiles/roles.yaml: servers 10.30.0.11-13, agents 10.30.1.21-22
// (and 2001:db8:30::22), admins 198.51.100.0/24, users 0.0.0.0/0, egress: restrict.
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { cidrRange, parseAddress } from '../src/addresses';
import { fixture, ROOT, runCli } from './helpers/cli';

const CAT = ['--catalog', fixture('catalogs', 'roles.yaml')];
const PROFILE = fixture('profiles', 'roles.yaml');
const RKE2 = ['--catalog', 'rke2'];
const RKE2_PROFILE = fixture('profiles', 'rke2-example.yaml');

interface Explained {
  verdict: string;
  direction: string;
  rules: { id: string; direction: string; role?: string; rows: { ref: string }[] }[];
  reasons: string[];
  roles?: { role: string; direction: string; verdict: string }[];
}

function explain(profile: string, catalog: string[], from: string, to: string, port: string, extra: string[] = []): { code: number; e: Explained; stdout: string } {
  const r = runCli(['explain', '--profile', profile, ...catalog, '--from', from, '--to', to, '--port', port, '--json', ...extra]);
  assert.ok(r.code === 0 || r.code === 1, `explain ${from} -> ${to} ${port}: exit ${r.code}: ${r.stderr}`);
  return { code: r.code, e: JSON.parse(r.stdout) as Explained, stdout: r.stdout };
}

const refsOf = (e: Explained, role: string) => [...new Set(e.rules.filter((r) => r.role === role).flatMap((r) => r.rows.map((x) => x.ref)))].sort();

function tmp(name: string, text: string): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), `pc-roles-tools-${process.pid}-`));
  const file = path.join(dir, name);
  fs.writeFileSync(file, text);
  return file;
}

// ---------------------------------------------------------------- explain

test('explain roles: agent -> server 6443/tcp passes the agent egress and the server ingress (T1.1)', () => {
  const { code, e } = explain(PROFILE, CAT, '10.30.1.21', '10.30.0.11', '6443/tcp');
  assert.is(code, 0);
  assert.is(e.verdict, 'allow');
  assert.is(e.direction, 'node-to-node');
  // egress: restrict, so the agent's own policy must let it out (T1.1 from nodes to servers).
  assert.equal(e.roles, [
    { role: 'agents', direction: 'egress', verdict: 'allow' },
    { role: 'servers', direction: 'ingress', verdict: 'allow' },
  ]);
  assert.equal(refsOf(e, 'agents'), ['T1.1']);
  assert.equal(refsOf(e, 'servers'), ['T1.1']);
  assert.equal(e.rules.find((r) => r.role === 'agents')!.direction, 'egress');
  assert.equal(e.rules.find((r) => r.role === 'servers')!.direction, 'ingress');
});

test('explain roles: a user reaches the agents NodePorts (T1.6), not the servers API; no role opens etcd to agents', () => {
  const user = explain(PROFILE, CAT, '203.0.113.9', '10.30.1.21', '30000/tcp');
  assert.is(user.code, 0);
  assert.equal(user.e.roles, [{ role: 'agents', direction: 'ingress', verdict: 'allow' }]);
  assert.equal(refsOf(user.e, 'agents'), ['T1.6']);

  const api = explain(PROFILE, CAT, '203.0.113.9', '10.30.0.11', '6443/tcp');
  assert.is(api.code, 1);
  assert.equal(api.e.roles, [{ role: 'servers', direction: 'ingress', verdict: 'deny' }]);
  // 6443 is open to admins (T2.2) and nodes (T1.1) on the servers; users are neither.
  assert.ok(api.e.reasons.some((r) => r.startsWith('role servers: ') && r.includes('T2.2') && r.includes('T1.1')), api.e.reasons.join('\n'));

  // NodePorts go to agents only (T1.6): a server has no such rule.
  const nodeport = explain(PROFILE, CAT, '203.0.113.9', '10.30.0.11', '30000/tcp');
  assert.is(nodeport.code, 1);

  // etcd is servers -> servers (T1.2): the agent has no egress rule for it
  // and the server no ingress rule from an agent; both say so.
  const etcd = explain(PROFILE, CAT, '10.30.1.21', '10.30.0.11', '2379/tcp');
  assert.is(etcd.code, 1);
  assert.equal(etcd.e.roles, [
    { role: 'agents', direction: 'egress', verdict: 'deny' },
    { role: 'servers', direction: 'ingress', verdict: 'deny' },
  ]);
  const serverEtcd = explain(PROFILE, CAT, '10.30.0.12', '10.30.0.11', '2379/tcp');
  assert.is(serverEtcd.code, 0);
  assert.equal(refsOf(serverEtcd.e, 'servers'), ['T1.2']);
});

test('explain roles: kubelet is servers -> all nodes (T1.3): server -> agent allowed, agent -> agent denied by both ends', () => {
  const ok = explain(PROFILE, CAT, '10.30.0.11', '10.30.1.22', '10250/tcp');
  assert.is(ok.code, 0);
  assert.equal(refsOf(ok.e, 'servers'), ['T1.3']);
  assert.equal(refsOf(ok.e, 'agents'), ['T1.3']);
  const no = explain(PROFILE, CAT, '10.30.1.21', '10.30.1.22', '10250/tcp');
  assert.is(no.code, 1);
  assert.equal(no.e.roles, [
    { role: 'agents', direction: 'egress', verdict: 'deny' },
    { role: 'agents', direction: 'ingress', verdict: 'deny' },
  ]);
  // VXLAN is nodes -> nodes (T1.4): agent to agent is fine.
  const vx = explain(PROFILE, CAT, '10.30.1.21', '10.30.1.22', '8472/udp');
  assert.is(vx.code, 0);
  assert.equal(refsOf(vx.e, 'agents'), ['T1.4']);
});

test('explain roles: text names the roles; --target lines come from each role tree', () => {
  const r = runCli(['explain', '--profile', PROFILE, ...CAT, '--from', '10.30.1.21', '--to', '10.30.0.11', '--port', '6443/tcp', '--target', 'nftables']);
  assert.is(r.code, 0, r.stderr);
  const lines = r.stdout.split('\n');
  assert.ok(lines.some((l) => /^  role: agents \(out of/.test(l) && l.endsWith(': allow')), r.stdout);
  assert.ok(lines.some((l) => /^  role: servers \(into/.test(l) && l.endsWith(': allow')), r.stdout);
  assert.ok(lines.some((l) => /^  rule \S+ \(egress, role: agents, /.test(l)), r.stdout);
  assert.ok(lines.some((l) => /^  rule \S+ \(ingress, role: servers, /.test(l)), r.stdout);
  const decided = lines.filter((l) => l.startsWith('  decided at ')).map((l) => l.slice('  decided at '.length));
  // The agent's egress rule in the agents tree, the server's ingress rule in the servers tree.
  assert.ok(decided.some((l) => /^agents\/portcullis\.nft:\d+$/.test(l)), r.stdout);
  assert.ok(decided.some((l) => /^servers\/portcullis\.nft:\d+$/.test(l)), r.stdout);
  assert.ok(decided.every((l) => /^(agents|servers)\//.test(l)), r.stdout);
  // Each cited line holds a rule id of that role.
  const out = tmp('x', '');
  fs.rmSync(out);
  const c = runCli(['compile', '--profile', PROFILE, ...CAT, '--target', 'nftables', '--out-dir', out]);
  assert.is(c.code, 0, c.stderr);
  const json = explain(PROFILE, CAT, '10.30.1.21', '10.30.0.11', '6443/tcp').e;
  for (const d of decided) {
    const [file, line] = d.split(':');
    const role = file.split('/')[0];
    const text = fs.readFileSync(path.join(out, 'roles', 'nftables', file), 'utf8').split('\n')[Number(line) - 1];
    assert.ok(json.rules.some((x) => x.role === role && text.includes(x.id)), `${d}: ${text}`);
  }
  // A denied flow: the default-deny lines of the deciding role only.
  const deny = runCli(['explain', '--profile', PROFILE, ...CAT, '--from', '203.0.113.9', '--to', '10.30.0.11', '--port', '6443/tcp', '--target', 'nftables']);
  assert.is(deny.code, 1);
  const denyLines = deny.stdout.split('\n').filter((l) => l.startsWith('  decided at '));
  assert.ok(denyLines.length > 0 && denyLines.every((l) => l.startsWith('  decided at servers/')), deny.stdout);
});

test('explain roles: --target of a combined output (one file for every role) cites its entries, or the comments naming the IR rules', async () => {
  const { explainFlow, targetLines } = await import('../src/analysis/explain');
  const { load } = await import('../src/compile');
  const read = (p: string) => ({ path: p, text: fs.readFileSync(path.join(ROOT, p), 'utf8') });
  const e = explainFlow(load({ catalog: read('fixtures/catalogs/roles.yaml'), profile: read('fixtures/profiles/roles.yaml') }), { from: '10.30.1.21', to: '10.30.0.11', port: '6443/tcp' });
  const ids = e.rules.map((r) => r.id);
  assert.equal(ids.sort(), ['in-nodes-v4-tcp', 'out-servers-v4-tcp']);
  const combined = [
    { path: 'roles/terraform-aws/main.tf', content: ['# in-agents-tcp: agents -> servers, tcp 6443 (T1.1); from IR in-nodes-v4-tcp, in-nodes-v6-tcp', '{ description = "in-agents-tcp" }', '# in-x: from IR in-other'].join('\n') },
  ];
  assert.equal(targetLines(e, combined), ['main.tf:1']);
  const direct = [{ path: 'roles/azure-nsg/nsg.json', content: ['{', '"name": "in-nodes-v4-tcp",', '"name": "out-servers-v4-tcp"', '}'].join('\n') }];
  assert.equal(targetLines(e, direct), ['nsg.json:2', 'nsg.json:3']);
});

test('explain roles: a one-role catalog keeps its JSON (no roles, no rule role)', () => {
  const r = runCli(['explain', '--profile', fixture('profiles', 'example.yaml'), '--from', '198.51.100.7', '--to', '10.20.0.11', '--port', '22/tcp', '--json']);
  assert.is(r.code, 0, r.stderr);
  const e = JSON.parse(r.stdout);
  assert.not.ok('roles' in e);
  assert.ok(e.rules.length > 0 && e.rules.every((x: object) => !('role' in x)));
  assert.equal(Object.keys(e), ['verdict', 'direction', 'from', 'to', 'port', 'transport', 'match', 'rules', 'reasons']);
});

test('explain roles: rke2 (egress: allow): agent -> server supervisor 9345 (T1.2); agent -> agent kubelet (T1.3); etcd only between servers', () => {
  const sup = explain(RKE2_PROFILE, RKE2, '10.30.1.21', '10.30.0.11', '9345/tcp');
  assert.is(sup.code, 0);
  assert.equal(sup.e.roles, [
    { role: 'agents', direction: 'egress', verdict: 'allow' },
    { role: 'servers', direction: 'ingress', verdict: 'allow' },
  ]);
  assert.equal(refsOf(sup.e, 'servers'), ['T1.2']);
  // egress: allow: no rule, the reason says so for the agents.
  assert.ok(sup.e.reasons.some((x) => x.startsWith('role agents: egress: allow')), sup.e.reasons.join('\n'));
  const kubelet = explain(RKE2_PROFILE, RKE2, '10.30.1.21', '10.30.1.22', '10250/tcp');
  assert.is(kubelet.code, 0);
  assert.equal(refsOf(kubelet.e, 'agents'), ['T1.3']);
  const etcdAgent = explain(RKE2_PROFILE, RKE2, '10.30.0.11', '10.30.1.21', '2379/tcp');
  assert.is(etcdAgent.code, 1);
  assert.equal(etcdAgent.e.roles, [
    { role: 'servers', direction: 'egress', verdict: 'allow' },
    { role: 'agents', direction: 'ingress', verdict: 'deny' },
  ]);
  const etcd = explain(RKE2_PROFILE, RKE2, '2001:db8:30::12', '2001:db8:30::11', '2379/tcp');
  assert.is(etcd.code, 0);
  assert.equal(refsOf(etcd.e, 'servers'), ['T1.4']);
});

// ---------------------------------------------------------------- diff

interface Change {
  role?: string;
  direction: string;
  transport: string;
  ports: string[];
  sources: string[];
  destinations: string[];
  rows: { ref: string }[];
  reason: string;
}
interface Diff {
  roles?: string[];
  opened: Change[];
  closed: Change[];
}

const inside = (addr: string, cidrs: string[]) => {
  const a = parseAddress(addr);
  if (!a.ok) throw new Error(addr);
  const r = cidrRange(a.cidr);
  return cidrs.some((c) => {
    const p = parseAddress(c);
    return p.ok && p.cidr.family === a.cidr.family && cidrRange(p.cidr).lo <= r.lo && r.hi <= cidrRange(p.cidr).hi;
  });
};
const portIn = (port: number, ports: string[]) => ports.some((p) => (p.includes('-') ? Number(p.split('-')[0]) <= port && port <= Number(p.split('-')[1]) : Number(p) === port));
/** The changes of a list that hold flow src -> dst on port/transport. */
const holding = (list: Change[], role: string, transport: string, port: number, src: string, dst: string) =>
  list.filter((c) => c.role === role && c.transport === transport && portIn(port, c.ports) && inside(src, c.sources) && inside(dst, c.destinations));

test('diff roles: a fourth server opens, per role, what the rows give it', () => {
  const r = runCli(['diff', PROFILE, fixture('profiles', 'roles-server-added.yaml'), ...CAT, '--format', 'json']);
  assert.is(r.code, 1, r.stderr);
  const d = JSON.parse(r.stdout) as Diff;
  assert.equal(d.roles, ['servers', 'agents']);
  const NEW = '10.30.0.14';
  const open = (role: string, t: string, port: number, src: string, dst: string) => holding(d.opened, role, t, port, src, dst).length > 0;
  // [servers]: into the new server, from the rows' sources.
  assert.ok(open('servers', 'tcp', 22, '198.51.100.5', NEW), 'T2.1 SSH from admins');
  assert.ok(open('servers', 'tcp', 6443, '198.51.100.5', NEW), 'T2.2 kubectl from admins');
  assert.ok(open('servers', 'tcp', 6443, '10.30.1.21', NEW), 'T1.1 API from an agent');
  assert.ok(open('servers', 'tcp', 2379, '10.30.0.11', NEW), 'T1.2 etcd from a server');
  assert.ok(open('servers', 'tcp', 2380, NEW, '10.30.0.12'), 'T1.2 etcd from the new server');
  assert.ok(open('servers', 'tcp', 10250, '10.30.0.13', NEW), 'T1.3 kubelet from a server');
  assert.ok(open('servers', 'udp', 8472, '10.30.1.22', NEW), 'T1.4 VXLAN from an agent');
  // [servers] egress out of it (restrict): kubelet and VXLAN to the agents.
  assert.ok(holding(d.opened, 'servers', 'tcp', 10250, NEW, '10.30.1.21').some((c) => c.direction === 'egress'));
  assert.ok(holding(d.opened, 'servers', 'udp', 8472, NEW, '10.30.1.21').some((c) => c.direction === 'egress'));
  // Not: NodePorts on a server (T1.6 is agents'), etcd from an agent (T1.2 is servers'), SSH from users.
  assert.not.ok(open('servers', 'tcp', 30000, '203.0.113.9', NEW));
  assert.not.ok(open('servers', 'tcp', 2379, '10.30.1.21', NEW));
  assert.not.ok(open('servers', 'tcp', 22, '203.0.113.9', NEW));
  // [agents]: exactly kubelet (T1.3) and VXLAN (T1.4) in from the new
  // server, API (T1.1) and VXLAN (T1.4) out to it.
  const agents = d.opened.filter((c) => c.role === 'agents' && (c.transport === 'tcp' || c.transport === 'udp'));
  const brief = agents.map((c) => `${c.direction} ${c.transport} ${c.ports.join(',')} ${c.sources.join(',')} -> ${c.destinations.join(',')} ${c.rows.map((x) => x.ref).join(',')}`).sort();
  assert.equal(brief, [
    'egress tcp 6443 10.30.1.21/32,10.30.1.22/32 -> 10.30.0.14/32 T1.1',
    'egress udp 8472 10.30.1.21/32,10.30.1.22/32 -> 10.30.0.14/32 T1.4',
    'ingress tcp 10250 10.30.0.14/32 -> 10.30.1.21/32,10.30.1.22/32 T1.3',
    'ingress udp 8472 10.30.0.14/32 -> 10.30.1.21/32,10.30.1.22/32 T1.4',
  ]);
  // The reason points at the profile line that added the server.
  assert.ok(agents.every((c) => /group 'servers'.*roles-server-added\.yaml:5/.test(c.reason)), agents.map((c) => c.reason).join('\n'));
  // Nothing closed for agents; every change names a role.
  assert.is(d.closed.filter((c) => c.role === 'agents').length, 0);
  assert.ok([...d.opened, ...d.closed].every((c) => c.role === 'servers' || c.role === 'agents'));
  // Order: servers' changes before agents'.
  const order = d.opened.map((c) => c.role);
  assert.is(order.lastIndexOf('servers') < order.indexOf('agents'), true);
});

test('diff roles: text marks [role], markdown has a role column; one-role catalogs keep theirs', () => {
  const text = runCli(['diff', PROFILE, fixture('profiles', 'roles-server-added.yaml'), ...CAT]);
  assert.is(text.code, 1, text.stderr);
  const heads = text.stdout.split('\n').filter((l) => /^[+-] /.test(l));
  assert.ok(heads.length > 0 && heads.every((l) => /^[+-] (opened|closed) \[(servers|agents)\] (ingress|egress) /.test(l)), text.stdout);
  assert.ok(heads.includes('+ opened [agents] ingress tcp 10250: 10.30.0.14/32 -> 10.30.1.21/32, 10.30.1.22/32'), text.stdout);
  const md = runCli(['diff', PROFILE, fixture('profiles', 'roles-server-added.yaml'), ...CAT, '--format', 'markdown']);
  assert.ok(md.stdout.includes('| role | direction | ports | sources | destinations | catalog rows | reason |'), md.stdout);
  assert.ok(md.stdout.includes('| agents | ingress | 10250/tcp | 10.30.0.14/32 | 10.30.1.21/32, 10.30.1.22/32 | T1.3 kubelet |'), md.stdout);
  // The same profile on both sides: no change, exit 0.
  const same = runCli(['diff', PROFILE, PROFILE, ...CAT, '--format', 'json']);
  assert.is(same.code, 0, same.stderr);
  assert.equal(JSON.parse(same.stdout), { roles: ['servers', 'agents'], opened: [], closed: [] });
  // One role: no role column, no role field.
  const one = runCli(['diff', 'fixtures/profiles/example.yaml', 'fixtures/profiles/example-plus-admin.yaml', '--format', 'json']);
  const od = JSON.parse(one.stdout);
  assert.not.ok('roles' in od);
  assert.ok(od.opened.every((c: object) => !('role' in c)));
});

test('diff roles: a one-role catalog split into servers and agents closes what each role no longer accepts, opens nothing', () => {
  const r = runCli([
    'diff',
    'fixtures/golden-diff/roles-one.yaml',
    PROFILE,
    '--old-catalog',
    'fixtures/golden-diff/roles-one.catalog.yaml',
    '--new-catalog',
    fixture('catalogs', 'roles.yaml'),
    '--format',
    'json',
  ]);
  assert.is(r.code, 1, r.stderr);
  const d = JSON.parse(r.stdout) as Diff;
  // The old catalog opened every row between all nodes; the new one only narrows.
  assert.equal(d.roles, ['servers', 'agents']);
  assert.equal(d.opened, []);
  const closed = (role: string, port: number, src: string, dst: string) => holding(d.closed, role, 'tcp', port, src, dst).length > 0;
  // servers: etcd and kubelet are from servers only now (T1.2, T1.3); NodePorts are agents' (T1.6).
  assert.ok(closed('servers', 2379, '10.30.1.21', '10.30.0.11'));
  assert.ok(closed('servers', 10250, '10.30.1.22', '10.30.0.13'));
  assert.ok(closed('servers', 30000, '203.0.113.9', '10.30.0.11'));
  // agents: no API (T1.1, T2.2) or etcd (T1.2) on them; kubelet from servers only (T1.3).
  assert.ok(closed('agents', 6443, '198.51.100.5', '10.30.1.21'));
  assert.ok(closed('agents', 6443, '10.30.0.11', '10.30.1.21'));
  assert.ok(closed('agents', 2380, '10.30.0.12', '10.30.1.22'));
  assert.ok(closed('agents', 10250, '10.30.1.21', '10.30.1.22'));
  // Still open: SSH, the API on servers, kubelet from servers to agents, NodePorts on agents, VXLAN.
  assert.not.ok(closed('servers', 22, '198.51.100.5', '10.30.0.11'));
  assert.not.ok(closed('servers', 6443, '10.30.1.21', '10.30.0.11'));
  assert.not.ok(closed('agents', 10250, '10.30.0.11', '10.30.1.21'));
  assert.not.ok(closed('agents', 30000, '203.0.113.9', '10.30.1.21'));
  assert.is(holding(d.closed, 'agents', 'udp', 8472, '10.30.0.11', '10.30.1.21').length, 0);
  // Each reason says the role's hosts were the one host group before.
  assert.ok(d.closed.filter((c) => c.transport === 'tcp').every((c) => c.reason.includes(`(the hosts of role '${c.role}' were 'nodes' in the old catalog)`)), d.closed.map((c) => c.reason).join('\n'));
  // A role present on one side only: all its flows.
  const oneRole = fs.readFileSync(path.join(ROOT, 'fixtures', 'catalogs', 'roles.yaml'), 'utf8');
  const three = tmp('three.yaml', oneRole.replace('roles: [servers, agents]', 'roles: [servers, agents, edge]').replace('  admins:\n', '  edge:\n    description: Edge nodes.\n  admins:\n').replace('union: [servers, agents]', 'union: [servers, agents, edge]'));
  const edgeProfile = tmp('edge.yaml', fs.readFileSync(PROFILE, 'utf8').replace('  admins:', '  edge: [10.30.2.31]\n  admins:'));
  const e = runCli(['diff', PROFILE, edgeProfile, '--old-catalog', fixture('catalogs', 'roles.yaml'), '--new-catalog', three, '--format', 'json']);
  assert.is(e.code, 1, e.stderr);
  const ed = JSON.parse(e.stdout) as Diff;
  assert.equal(ed.roles, ['servers', 'agents', 'edge']);
  const edge = ed.opened.filter((c) => c.role === 'edge');
  assert.ok(edge.length > 0 && edge.every((c) => c.reason.startsWith("role 'edge' is new")), JSON.stringify(edge.map((c) => c.reason)));
  // SSH (T2.1, to all nodes) onto the edge node.
  assert.ok(holding(ed.opened, 'edge', 'tcp', 22, '198.51.100.5', '10.30.2.31').length > 0);
});

// ---------------------------------------------------------------- lint

interface LintLine {
  file: string;
  line: number;
  level: string;
  message: string;
  rule: string;
}
const HEAD = /^(.+?):(\d+):(\d+): (error|warning|note): (.*) \[(PC\d{3})\]$/;
function lint(args: string[]): { code: number; findings: LintLine[]; stdout: string } {
  const r = runCli(['lint', ...args]);
  assert.ok(r.code === 0 || r.code === 1, r.stderr);
  const findings = r.stdout
    .split('\n')
    .map((l) => HEAD.exec(l))
    .filter((m): m is RegExpExecArray => !!m)
    .map((m) => ({ file: m[1], line: Number(m[2]), level: m[4], message: m[5], rule: m[6] }));
  return { code: r.code, findings, stdout: r.stdout };
}

test('lint roles: rke2-example has no PC002 for agents (used through the union nodes)', () => {
  const r = lint(['--profile', RKE2_PROFILE, ...RKE2]);
  assert.is(r.findings.filter((f) => f.rule === 'PC002').length, 0, r.stdout);
  assert.is(r.code, 0);
  // A group really unused still is: a plain group no rule names.
  const cat = tmp('c.yaml', fs.readFileSync(fixture('catalogs', 'roles.yaml'), 'utf8').replace('  users:\n', '  spare:\n    description: Nobody.\n  users:\n'));
  const p = tmp('q.yaml', fs.readFileSync(PROFILE, 'utf8').replace('  users:', '  spare: [10.99.0.1]\n  users:'));
  const u = lint(['--profile', p, '--catalog', cat, '--no-catalog-findings']);
  assert.equal(u.findings.filter((f) => f.rule === 'PC002').map((f) => f.message), ["group 'spare' is not used by any rule of catalog 'roles'"]);
});

test('lint roles: admins 0.0.0.0/0 is PC001, naming each role and its restricted ports', () => {
  const r = lint(['--profile', fixture('profiles', 'roles-broad-admins.yaml'), ...CAT, '--no-catalog-findings']);
  assert.is(r.code, 1);
  const pc001 = r.findings.filter((f) => f.rule === 'PC001');
  assert.is(pc001.length, 1, r.stdout);
  assert.is(pc001[0].line, 7);
  // Admins reach SSH (T2.1) on both roles and kubectl (T2.2) on the servers,
  // ports no unprivileged group reaches (users reach only the NodePorts).
  assert.ok(pc001[0].message.includes('role agents: tcp 22 (T2.1 SSH)'), pc001[0].message);
  assert.ok(pc001[0].message.includes('role servers: tcp 22, 6443 (T2.1 SSH, T2.2 kubectl)'), pc001[0].message);
  assert.ok(pc001[0].message.includes('admins, support, servers or agents'), pc001[0].message);
  // SARIF carries it (valid JSON, one result per finding, distinct fingerprints).
  const s = runCli(['lint', '--profile', fixture('profiles', 'roles-broad-admins.yaml'), ...CAT, '--no-catalog-findings', '--format', 'sarif']);
  assert.is(s.code, 1);
  const results = JSON.parse(s.stdout).runs[0].results as { ruleId: string; partialFingerprints: Record<string, string> }[];
  assert.is(results.length, r.findings.length);
  assert.is(new Set(results.map((x) => x.partialFingerprints['portcullisFinding/v1'])).size, results.length);
  assert.ok(results.some((x) => x.ruleId === 'PC001'));
});

test('lint roles: PC006 per role under egress: restrict; PC007 names the roles', () => {
  const r = lint(['--profile', PROFILE, ...CAT, '--no-catalog-findings']);
  // No row lets either role out to udp 53 or 123: both roles, both services.
  assert.equal(
    r.findings.filter((f) => f.rule === 'PC006').map((f) => f.message.replace(/ anywhere.*/, '')),
    [
      "egress: restrict, and no rule lets the hosts of role 'servers' reach DNS (udp 53)",
      "egress: restrict, and no rule lets the hosts of role 'agents' reach DNS (udp 53)",
      "egress: restrict, and no rule lets the hosts of role 'servers' reach NTP (udp 123)",
      "egress: restrict, and no rule lets the hosts of role 'agents' reach NTP (udp 123)",
    ],
  );
  assert.ok(r.findings.some((f) => f.rule === 'PC007' && f.message.endsWith('for every role (servers, agents)')), r.stdout);
  // A DNS row from the servers only: the agents are still cut off.
  const cat = tmp(
    'dns.yaml',
    fs.readFileSync(fixture('catalogs', 'roles.yaml'), 'utf8').replace('  users:\n', '  resolvers:\n    description: DNS.\n  users:\n') +
      '  - id: dns\n    table: T1\n    row: 7\n    cells: { port: "53", protocol: "UDP", source: "Servers", destination: "Resolvers", service: "DNS", description: "DNS" }\n    ports: [53]\n    transport: udp\n    from: [servers]\n    to: [resolvers]\n',
  );
  const p = tmp('dns-p.yaml', fs.readFileSync(PROFILE, 'utf8').replace('  users:', '  resolvers: [10.0.0.53]\n  users:'));
  const d = lint(['--profile', p, '--catalog', cat, '--no-catalog-findings']);
  assert.equal(d.findings.filter((f) => f.rule === 'PC006' && f.message.includes('DNS')).map((f) => f.message.replace(/ anywhere.*/, '')), [
    "egress: restrict, and no rule lets the hosts of role 'agents' reach DNS (udp 53)",
  ]);
});

test('lint: PC102 prints the ICMP types of a rule with ports and ICMP (no empty gap)', () => {
  const cat = tmp(
    'icmp.yaml',
    fs.readFileSync(fixture('catalogs', 'roles.yaml'), 'utf8') +
      '  - id: ping-web\n    table: T1\n    row: 8\n    cells: { port: "0, 8 *", protocol: "ICMP", source: "Admins", destination: "All nodes", service: "ping", description: "ping" }\n    ports: [80]\n    transport: [tcp, icmp]\n    icmp_types: [echo-reply, echo-request]\n    from: [admins]\n    to: [nodes]\n',
  );
  const r = lint(['--profile', PROFILE, '--catalog', cat]);
  const pc102 = r.findings.filter((f) => f.rule === 'PC102');
  assert.is(pc102.length, 1, r.stdout);
  assert.ok(pc102[0].message.includes("Port '0, 8 *' is tcp 80; icmp echo-reply, echo-request in the rule"), pc102[0].message);
  assert.not.ok(/is {2}in the rule/.test(r.stdout));
});

test.run();
