// The cloud targets and catalogs with several host roles
// (fixtures/catalogs/roles.yaml, the RKE2 catalog): terraform-aws and
// azure-nsg compile all roles into one output (Backend.renderRoles). Each
// role's policy, read back by the interpreters (test/helpers/aws-sg-model.ts,
// azure-nsg-model.ts), is compared with that role's IR over many flows; the
// rows of roles.yaml are checked end to end (sender's outbound and
// receiver's inbound); a mutated output must disagree.
//
// Needs /usr/local/bin/terraform (or terraform on PATH); never runs
// `terraform init`.

import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import * as ipaddr from 'ipaddr.js';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { compile, load, roleIRs } from '../src/compile';
import type { IR } from '../src/ir/types';
import { formatCidr } from '../src/addresses';
import { ICMP_TYPE_NUMBERS } from '../src/targets/base';
import { allowsAs, Flow, loadModule, SgModule } from './helpers/aws-sg-model';
import { AzureEnv, Flow as NsgFlow, NsgModel, Protocol } from './helpers/azure-nsg-model';
import { ROOT } from './helpers/cli';
import Ajv from 'ajv';

const TERRAFORM = fs.existsSync('/usr/local/bin/terraform') ? '/usr/local/bin/terraform' : 'terraform';
const TF_ENV = { ...process.env, TF_CLI_CONFIG_FILE: '', TF_IN_AUTOMATION: '1', CHECKPOINT_DISABLE: '1' };

const tmpDirs: string[] = [];
function tmpDir(tag: string): string {
  const d = fs.mkdtempSync(path.join(os.tmpdir(), `pct-roles-${tag}-`));
  tmpDirs.push(d);
  return d;
}
test.after(() => {
  for (const d of tmpDirs) fs.rmSync(d, { recursive: true, force: true });
});

const read = (p: string) => fs.readFileSync(path.join(ROOT, p), 'utf8');
const ROLES_CATALOG = read('fixtures/catalogs/roles.yaml');
const ROLES_PROFILE = read('fixtures/profiles/roles.yaml');
const RKE2_CATALOG = read('catalog/rke2.yaml');
const RKE2_PROFILE = read('fixtures/profiles/rke2-example.yaml');
const VARS = { name: 'pct-roles', vpc_id: 'vpc-0123456789abcdef0' };

/** The target's files by name (relative to <env>/<target>/). */
function files(target: 'terraform-aws' | 'azure-nsg', profile: string, catalog: string): Record<string, string> {
  const r = compile({ profile: { path: 'p.yaml', text: profile }, catalog: { path: 'c.yaml', text: catalog }, targets: [target] });
  if (!r.ok) throw new Error(r.diagnostics.map((d) => `${d.pos?.line}:${d.pos?.col} ${d.message}`).join('\n'));
  return Object.fromEntries(r.files.map((f) => [f.path.split('/').slice(2).join('/'), f.content]));
}

function irs(profile: string, catalog: string): IR[] {
  return roleIRs(load({ profile: { path: 'p.yaml', text: profile }, catalog: { path: 'c.yaml', text: catalog } }));
}

function writeModule(fs_: Record<string, string>, tag: string): string {
  const dir = tmpDir(tag);
  for (const [name, content] of Object.entries(fs_)) fs.writeFileSync(path.join(dir, name), content);
  return dir;
}

function goUnquote(q: string): string {
  assert.ok(q.startsWith('"') && q.endsWith('"'), `not a quoted string: ${q.slice(0, 80)}`);
  return JSON.parse(q.replace(/\\x([0-9a-fA-F]{2})/g, '\\u00$1'));
}

/** The data `locals` block of main.tf (the one naming no resource) evaluated by `terraform console`. */
function consoleEval(mainTf: string, expr: string): any {
  const blocks = ('\n' + mainTf).split(/\n(?=locals \{\n)/).slice(1).map((b) => b.slice(0, b.indexOf('\n}\n') + 3));
  const data = blocks.filter((b) => !b.includes('aws_security_group.'));
  assert.is(data.length, 1, 'one data locals block');
  const dir = tmpDir('console');
  fs.writeFileSync(path.join(dir, 'main.tf'), data[0]);
  const r = spawnSync(TERRAFORM, ['console'], { cwd: dir, input: `jsonencode(${expr})\n`, encoding: 'utf8', env: TF_ENV });
  assert.is(r.status, 0, r.stderr);
  return JSON.parse(goUnquote(r.stdout.trim()));
}

function fmtCheck(dir: string): { code: number; out: string } {
  const r = spawnSync(TERRAFORM, ['fmt', '-check', '-diff', '-recursive', dir], { encoding: 'utf8', env: TF_ENV });
  if (r.error) throw new Error(`terraform: ${r.error.message}`);
  return { code: r.status ?? -1, out: r.stdout + r.stderr };
}

// ------------------------------------------------------------ the IR's verdicts

const addrCache = new Map<string, ipaddr.IPv4 | ipaddr.IPv6>();
function addr(text: string): ipaddr.IPv4 | ipaddr.IPv6 {
  let a = addrCache.get(text);
  if (!a) addrCache.set(text, (a = ipaddr.parse(text)));
  return a;
}
function inCidrs(text: string, cidrs: string[]): boolean {
  const a = addr(text);
  return cidrs.some((c) => {
    const [net, len] = ipaddr.parseCIDR(c);
    return net.kind() === a.kind() && a.match(net, len);
  });
}

/** What role `ir.host`'s own policy says of a flow at one of its instances:
 * the IR's host rules (source set for inbound, destination set for
 * outbound), its ICMP policy, and open outbound under `egress: allow`. */
function irAllows(ir: IR, f: Flow): boolean {
  const v6 = addr(f.peer).kind() === 'ipv6';
  if ((f.protocol === 'icmp' && v6) || (f.protocol === 'icmpv6' && !v6)) return false;
  if (f.direction === 'egress' && ir.egress === 'allow') return true;
  const sets = new Map(ir.sets.map((s) => [s.name, s.cidrs.map(formatCidr)]));
  if (f.protocol === 'icmp' || f.protocol === 'icmpv6') {
    const family = v6 ? 'ipv6' : 'ipv4';
    if (ir.icmp[f.direction][family].some((t) => ICMP_TYPE_NUMBERS[family][t] === f.icmpType)) return true;
  }
  return ir.rules.some((r) => {
    if (r.scope !== 'host' || r.direction !== f.direction || r.transport !== f.protocol) return false;
    const value = f.protocol === 'icmp' || f.protocol === 'icmpv6' ? f.icmpType! : f.port!;
    if (!r.ports.some((p) => p.lo <= value && value <= p.hi)) return false;
    return inCidrs(f.peer, sets.get((f.direction === 'ingress' ? r.source : r.destination)!)!);
  });
}

/** Each role's instance addresses: every address of the role's sets (the
 * profiles list single hosts, which minimal CIDR form may pair: /31). */
function instancesOf(ir: IR, all: IR[]): Record<string, string[]> {
  return Object.fromEntries(
    all.map((x) => [
      x.host,
      x.sets
        .filter((s) => s.group === x.host)
        .flatMap((s) =>
          s.cidrs.flatMap((c) => {
            const bits = s.family === 'ipv4' ? 32 : 128;
            if (bits - c.prefix > 8) throw new Error(`test setup: role ${x.host} has a block /${c.prefix}, not hosts`);
            return Array.from({ length: 1 << (bits - c.prefix) }, (_, i) => fromBig(c.base + BigInt(i), s.family));
          }),
        ),
    ]),
  );
}

function toBig(a: ipaddr.IPv4 | ipaddr.IPv6): bigint {
  return a.toByteArray().reduce((v, b) => (v << 8n) | BigInt(b), 0n);
}
function fromBig(v: bigint, kind: 'ipv4' | 'ipv6'): string {
  const n = kind === 'ipv4' ? 4 : 16;
  const bytes: number[] = [];
  for (let i = n - 1; i >= 0; i--) bytes.push(Number((v >> BigInt(8 * i)) & 255n));
  return ipaddr.fromByteArray(bytes).toString();
}

/** Every instance, the first and last address of every set's blocks and
 * the addresses just outside them, and outsiders. */
function probeAddresses(all: IR[]): string[] {
  const out = new Set<string>(['192.0.2.77', '10.30.9.9', '2001:db8:ffff::1', '2001:db8:30::99', '255.255.255.255', '::1']);
  for (const ir of all)
    for (const s of ir.sets)
      for (const c of s.cidrs) {
        const [net, len] = ipaddr.parseCIDR(formatCidr(c));
        const bits = net.kind() === 'ipv4' ? 32 : 128;
        const lo = toBig(net);
        const hi = lo + (1n << BigInt(bits - len)) - 1n;
        const max = (1n << BigInt(bits)) - 1n;
        for (const v of [lo - 1n, lo, hi, hi + 1n]) if (v >= 0n && v <= max) out.add(fromBig(v, net.kind()));
      }
  return [...out].sort();
}

function probePorts(all: IR[]): number[] {
  const ports = new Set<number>([1, 2, 65534, 65535]);
  for (const ir of all)
    for (const r of ir.rules)
      if (r.transport === 'tcp' || r.transport === 'udp') for (const p of r.ports) for (const x of [p.lo - 1, p.lo, p.lo + 1, p.hi - 1, p.hi, p.hi + 1]) if (x >= 1 && x <= 65535) ports.add(x);
  return [...ports].sort((a, b) => a - b);
}

interface Comparison {
  checked: number;
  allowed: number;
  mismatches: string[];
}

/** Each role's interpreter verdicts against its IR's, flow by flow. */
function compareAws(mod: SgModule, all: IR[]): Comparison {
  const res: Comparison = { checked: 0, allowed: 0, mismatches: [] };
  const peers = probeAddresses(all);
  const ports = probePorts(all);
  for (const ir of all) {
    const instances = instancesOf(ir, all);
    const check = (f: Flow) => {
      const got = !!allowsAs(mod, ir.host, f, instances);
      const want = irAllows(ir, f);
      res.checked++;
      if (got) res.allowed++;
      if (got !== want && res.mismatches.length < 20)
        res.mismatches.push(`${ir.host} ${f.direction} ${f.peer} ${f.protocol} ${f.port ?? `type ${f.icmpType}`}: AWS model ${got ? 'allows' : 'denies'}, the IR ${want ? 'allows' : 'denies'}`);
    };
    for (const peer of peers)
      for (const direction of ['ingress', 'egress'] as const) {
        for (const protocol of ['tcp', 'udp'] as const) for (const port of ports) check({ direction, peer, protocol, port });
        const icmp = peer.includes(':') ? 'icmpv6' : 'icmp';
        for (let type = 0; type < 256; type++) check({ direction, peer, protocol: icmp, icmpType: type, icmpCode: 0 });
      }
  }
  return res;
}

// ------------------------------------------------------------ terraform-aws

async function rolesModule(profile = ROLES_PROFILE, catalog = ROLES_CATALOG): Promise<{ tf: Record<string, string>; mod: SgModule }> {
  const tf = files('terraform-aws', profile, catalog);
  return { tf, mod: await loadModule(writeModule(tf, 'aws'), VARS) };
}

test('terraform-aws roles: one module (main.tf, variables.tf, outputs.tf), a security group per role, terraform fmt -check clean, same bytes twice', async () => {
  const { tf, mod } = await rolesModule();
  assert.equal(Object.keys(tf).sort(), ['main.tf', 'outputs.tf', 'variables.tf']);
  assert.equal([...mod.groups.keys()].sort(), ['agents', 'servers']);
  assert.equal(Object.fromEntries(mod.roles!), { servers: ['servers'], agents: ['agents'] });
  assert.is(mod.groups.get('servers')!.name, 'pct-roles-servers-');
  assert.is(mod.groups.get('agents')!.name, 'pct-roles-agents-');
  const fmt = fmtCheck(writeModule(tf, 'fmt'));
  assert.is(fmt.code, 0, fmt.out);
  assert.equal(files('terraform-aws', ROLES_PROFILE, ROLES_CATALOG), tf);
  // No node address is listed: role peers are their groups.
  assert.not.match(tf['main.tf'], /10\.30\.[01]\.|2001:db8:30::/);
});

test('terraform-aws roles: terraform console builds every for_each map (no duplicate key); keys and peers as the interpreter reads them', async () => {
  const { tf, mod } = await rolesModule();
  const lists = [...tf['main.tf'].matchAll(/for_each = \{ for r in local\.(\w+) : r\.key => r \}/g)].map((m) => m[1]);
  assert.equal(lists, [
    'servers_ingress_ipv4',
    'servers_ingress_ipv6',
    'servers_ingress_groups',
    'servers_egress_ipv6',
    'servers_egress_groups',
    'agents_ingress_ipv4',
    'agents_ingress_ipv6',
    'agents_ingress_groups',
    'agents_egress_ipv6',
    'agents_egress_groups',
  ]);
  const maps = consoleEval(tf['main.tf'], `{ ${lists.map((l) => `${l} = { for r in local.${l} : r.key => r }`).join(', ')} }`);
  const fromConsole = lists.flatMap((l) => Object.keys(maps[l]).map((k) => `${l}[${k}]`)).sort();
  const fromModel = mod.rules.map((r) => `${r.group}_${r.direction}_${r.referenced ? 'groups' : r.cidrIpv4 ? 'ipv4' : 'ipv6'}[${r.key}]`).sort();
  assert.equal(fromConsole, fromModel);
  for (const r of mod.rules.filter((x) => x.referenced)) {
    const c = maps[`${r.group}_${r.direction}_groups`][r.key];
    assert.is(c.peer, r.referenced, r.key);
    // Keys say which group: self for the role's own, sg:<role> for another's.
    assert.ok(r.key.endsWith(r.referenced === r.group ? '/self' : `/sg:${r.referenced}`), r.key);
  }
  // The union "nodes" became one rule per member role: VXLAN from both roles' groups, on both roles.
  const refs = (group: string, direction: string, key: string) => mod.rules.filter((r) => r.group === group && r.direction === direction && r.key === key).map((r) => r.referenced);
  assert.equal(refs('servers', 'ingress', 'udp/8472/self'), ['servers']);
  assert.equal(refs('servers', 'ingress', 'udp/8472/sg:agents'), ['agents']);
  assert.equal(refs('agents', 'ingress', 'udp/8472/sg:servers'), ['servers']);
  assert.equal(refs('agents', 'ingress', 'udp/8472/self'), ['agents']);
  // Per-group quota counts in the header agree with the rules.
  for (const g of ['servers', 'agents']) {
    const n = (d: string, fam: 'ipv4' | 'ipv6') => mod.rules.filter((r) => r.group === g && r.direction === d && (r.referenced || (fam === 'ipv4' ? r.cidrIpv4 : r.cidrIpv6))).length;
    assert.ok(tf['main.tf'].includes(`#   ${g}: in ${n('ingress', 'ipv4')} IPv4 / ${n('ingress', 'ipv6')} IPv6, out ${n('egress', 'ipv4')} IPv4 / ${n('egress', 'ipv6')} IPv6\n`), g);
  }
});

/** A flow between two addresses: allowed when the sender's role lets it out and the receiver's lets it in. */
function e2e(mod: SgModule, instances: Record<string, string[]>, from: { role?: string; addr: string }, to: { role?: string; addr: string }, protocol: 'tcp' | 'udp', port: number): boolean {
  const out = from.role ? !!allowsAs(mod, from.role, { direction: 'egress', peer: to.addr, protocol, port }, instances) : true;
  const inb = to.role ? !!allowsAs(mod, to.role, { direction: 'ingress', peer: from.addr, protocol, port }, instances) : true;
  return out && inb;
}

test('terraform-aws roles: the rows of roles.yaml, end to end (sender outbound, receiver inbound)', async () => {
  const { mod } = await rolesModule();
  const all = irs(ROLES_PROFILE, ROLES_CATALOG);
  const inst = instancesOf(all[0], all);
  const server = { role: 'servers', addr: '10.30.0.11' };
  const server2 = { role: 'servers', addr: '10.30.0.12' };
  const agent = { role: 'agents', addr: '10.30.1.21' };
  const agent2 = { role: 'agents', addr: '10.30.1.22' };
  const agent6 = { role: 'agents', addr: '2001:db8:30::22' };
  const admin = { addr: '198.51.100.7' };
  const admin6 = { addr: '2001:db8:ad::7' };
  const user = { addr: '192.0.2.77' };
  const cases: [string, boolean, ReturnType<typeof e2e>][] = [
    // T1.1 API: all nodes -> servers 6443 (the agents' group referenced by the servers')
    ['agent -> server 6443', true, e2e(mod, inst, agent, server, 'tcp', 6443)],
    ['agent (IPv6) -> server 6443', true, allowsAs(mod, 'servers', { direction: 'ingress', peer: agent6.addr, protocol: 'tcp', port: 6443 }, inst) !== undefined],
    ['server -> server 6443', true, e2e(mod, inst, server2, server, 'tcp', 6443)],
    ['user -> server 6443', false, e2e(mod, inst, user, server, 'tcp', 6443)],
    ['agent -> agent 6443', false, e2e(mod, inst, agent2, agent, 'tcp', 6443)],
    // T1.2 etcd: servers only
    ['server -> server 2379', true, e2e(mod, inst, server2, server, 'tcp', 2379)],
    ['agent -> server 2380', false, e2e(mod, inst, agent, server, 'tcp', 2380)],
    // T1.3 kubelet: servers -> all nodes
    ['server -> agent 10250', true, e2e(mod, inst, server, agent, 'tcp', 10250)],
    ['server -> server 10250', true, e2e(mod, inst, server2, server, 'tcp', 10250)],
    ['agent -> agent 10250', false, e2e(mod, inst, agent2, agent, 'tcp', 10250)],
    ['agent -> server 10250', false, e2e(mod, inst, agent, server, 'tcp', 10250)],
    // T1.4 VXLAN: all nodes <-> all nodes, UDP only
    ['agent -> server 8472/udp', true, e2e(mod, inst, agent, server, 'udp', 8472)],
    ['server -> agent 8472/udp', true, e2e(mod, inst, server, agent, 'udp', 8472)],
    ['agent -> agent 8472/udp', true, e2e(mod, inst, agent2, agent, 'udp', 8472)],
    ['agent -> server 8472/tcp', false, e2e(mod, inst, agent, server, 'tcp', 8472)],
    // T1.5 WireGuard: feature off
    ['agent -> server 51820/udp', false, e2e(mod, inst, agent, server, 'udp', 51820)],
    // T1.6 NodePorts: users -> agents; a server is a user too (0.0.0.0/0), but its outbound is restricted
    ['user -> agent 30000', true, e2e(mod, inst, user, agent, 'tcp', 30000)],
    ['user -> agent 32767', true, e2e(mod, inst, user, agent, 'tcp', 32767)],
    ['user -> agent 32768', false, e2e(mod, inst, user, agent, 'tcp', 32768)],
    ['user -> server 30000', false, e2e(mod, inst, user, server, 'tcp', 30000)],
    ['server -> agent NodePort 30000 (agents let it in, the server may not send it)', false, e2e(mod, inst, server, agent, 'tcp', 30000)],
    ['server address -> agent NodePort, inbound only', true, allowsAs(mod, 'agents', { direction: 'ingress', peer: server.addr, protocol: 'tcp', port: 30000 }, inst) !== undefined],
    // T2.1 SSH: admins -> all nodes; T2.2 kubectl: admins -> servers
    ['admin -> server 22', true, e2e(mod, inst, admin, server, 'tcp', 22)],
    ['admin (IPv6) -> agent 22', true, e2e(mod, inst, admin6, agent6, 'tcp', 22)],
    ['admin -> server 6443', true, e2e(mod, inst, admin, server, 'tcp', 6443)],
    ['admin -> agent 6443', false, e2e(mod, inst, admin, agent, 'tcp', 6443)],
    ['user -> agent 22', false, e2e(mod, inst, user, agent, 'tcp', 22)],
    // An address in no role is not a member of any role's group.
    ['non-member 10.30.0.14 -> server 6443', false, e2e(mod, inst, { addr: '10.30.0.14' }, server, 'tcp', 6443)],
  ];
  const wrong = cases.filter(([, want, got]) => want !== got).map(([what, want]) => `${what}: expected ${want ? 'allow' : 'deny'}`);
  assert.equal(wrong, []);
});

test('terraform-aws roles: each role\'s interpreter verdicts agree with its IR on every probe (roles.yaml, restrict)', async () => {
  const { mod } = await rolesModule();
  const res = compareAws(mod, irs(ROLES_PROFILE, ROLES_CATALOG));
  assert.equal(res.mismatches, [], `${res.mismatches.length} mismatches of ${res.checked}`);
  assert.ok(res.checked > 30000, `only ${res.checked} probes`);
  assert.ok(res.allowed > 500 && res.allowed < res.checked - 5000, `allowed ${res.allowed} of ${res.checked}`);
});

test('terraform-aws roles: the same on the RKE2 catalog (egress allow, dual-stack) and on roles.yaml with wireguard and egress allow', async () => {
  const variants: [string, string, string][] = [
    ['rke2', RKE2_PROFILE, RKE2_CATALOG],
    ['rke2 restrict', RKE2_PROFILE.replace(/^egress: allow/m, 'egress: restrict'), RKE2_CATALOG],
    ['roles wireguard allow', ROLES_PROFILE.replace('egress: restrict', 'egress: allow\nfeatures: { wireguard: true }'), ROLES_CATALOG],
  ];
  for (const [name, profile, catalog] of variants) {
    assert.is.not(profile, name.startsWith('rke2') ? (name === 'rke2' ? '' : RKE2_PROFILE) : ROLES_PROFILE, `variant ${name} applied`);
    const { tf, mod } = await rolesModule(profile, catalog);
    const fmt = fmtCheck(writeModule(tf, 'fmt'));
    assert.is(fmt.code, 0, `${name}: ${fmt.out}`);
    const res = compareAws(mod, irs(profile, catalog));
    assert.equal(res.mismatches, [], `${name}: ${res.mismatches.length} mismatches of ${res.checked}`);
    assert.ok(res.checked > 30000 && res.allowed > 500, `${name}: ${res.allowed} of ${res.checked}`);
  }
});

test('terraform-aws roles: the comparison has teeth (a mutated module disagrees with the IR)', async () => {
  const { tf } = await rolesModule();
  const all = irs(ROLES_PROFILE, ROLES_CATALOG);
  const main = tf['main.tf'];
  const dropLine = (listPrefix: string, key: string) => (t: string) => {
    const lines = t.split('\n');
    const start = lines.findIndex((l) => l.startsWith(`  ${listPrefix} = [`));
    const i = lines.findIndex((l, n) => n > start && l.includes(`key = "${key}"`));
    return lines.filter((_, n) => n !== i).join('\n');
  };
  const mutations: [string, (t: string) => string][] = [
    ['the agents\' API rule dropped from the servers\' group', dropLine('servers_ingress_groups', 'tcp/6443/sg:agents')],
    ['kubelet on the agents from the agents instead of the servers', (t) => t.replace('key = "tcp/10250/sg:servers", sg = "agents", ip_protocol = "tcp", from_port = 10250, to_port = 10250, peer = "servers"', 'key = "tcp/10250/sg:servers", sg = "agents", ip_protocol = "tcp", from_port = 10250, to_port = 10250, peer = "agents"')],
    ['the NodePorts land in the servers\' group', (t) => t.replace('key = "tcp/30000-32767/0.0.0.0/0", sg = "agents"', 'key = "tcp/30000-32767/0.0.0.0/0", sg = "servers"')],
    ['etcd from everyone', (t) => t.replace('key = "tcp/2379-2380/self", sg = "servers", ip_protocol = "tcp", from_port = 2379, to_port = 2380, peer = "servers"', 'key = "tcp/2379-2380/self", sg = "servers", ip_protocol = "tcp", from_port = 2379, to_port = 2380, peer = "agents"')],
    ['NodePorts one port short', (t) => t.replace('from_port = 30000, to_port = 32767', 'from_port = 30000, to_port = 32766')],
    ['the agents\' outbound API dropped', dropLine('agents_egress_groups', 'tcp/6443/sg:servers')],
  ];
  for (const [what, mutate] of mutations) {
    const mutated = mutate(main);
    assert.is.not(mutated, main, `mutation not applied: ${what}`);
    const mod = await loadModule(writeModule({ ...tf, 'main.tf': mutated }, 'mut'), VARS);
    assert.ok(compareAws(mod, all).mismatches.length > 0, `not caught: ${what}`);
  }
});

test('terraform-aws roles: outputs name each role\'s groups; the interpreter refuses a group in two roles or in none', async () => {
  const { tf, mod } = await rolesModule();
  assert.match(tf['outputs.tf'], /^ {4}servers = \[aws_security_group\.servers\.id\]$/m);
  assert.match(tf['outputs.tf'], /^ {4}agents {2}= \[aws_security_group\.agents\.id\]$/m);
  assert.match(tf['outputs.tf'], /^ {4}servers = \{ servers = aws_security_group\.servers\.id \}$/m);
  assert.match(tf['outputs.tf'], /"in_groups\/\$\{k\}" => r\.id/);
  assert.ok(mod.roles);
  const bad: [string, string][] = [
    ['a group in two roles', tf['outputs.tf'].replace('agents  = [aws_security_group.agents.id]', 'agents  = [aws_security_group.agents.id, aws_security_group.servers.id]')],
    ['a group in no role', tf['outputs.tf'].replace('agents  = [aws_security_group.agents.id]', 'agents  = []')],
  ];
  for (const [what, text] of bad) {
    assert.is.not(text, tf['outputs.tf'], what);
    let err = '';
    try {
      await loadModule(writeModule({ ...tf, 'outputs.tf': text }, 'bad'), VARS);
    } catch (e) {
      err = String(e);
    }
    assert.ok(err, `accepted: ${what}`);
  }
});

test('terraform-aws roles: quotas count per group; a role over 60 rules splits into <role>, <role>_2 (its own instances carry both), the other role is untouched', async () => {
  const admins = Array.from({ length: 40 }, (_, i) => `198.18.${i * 2}.0/24`);
  const profile = ROLES_PROFILE.replace(/^ {2}admins: .*$/m, `  admins: [${admins.join(', ')}, "2001:db8:ad::/48"]`);
  const { tf, mod } = await rolesModule(profile);
  // servers: 2 ports x 40 admin CIDRs + 4 ICMP + 6 group references > 60; agents: 40 + 1 + 4 + 3.
  assert.equal(Object.fromEntries(mod.roles!), { servers: ['servers', 'servers_2'], agents: ['agents'] });
  assert.match(tf['main.tf'], /^ {2}name_prefix = "\$\{var\.name\}-servers-2-"$/m);
  for (const g of mod.groups.keys()) {
    const n = mod.rules.filter((r) => r.group === g && r.direction === 'ingress' && (r.referenced || r.cidrIpv4)).length;
    assert.ok(n <= 60, `${g}: ${n}`);
  }
  const res = compareAws(mod, irs(profile, ROLES_CATALOG));
  assert.equal(res.mismatches, []);
  // Rules of a role referencing a split role name its first group.
  assert.ok(mod.rules.filter((r) => r.referenced).every((r) => r.referenced === 'servers' || r.referenced === 'agents'));
});

test('terraform-aws roles: one-role catalogs keep their module (render, not renderRoles): the same bytes as before', () => {
  // The golden files of the one-role profiles are compared in
  // golden.test.ts; here: the module names no role.
  const one = compile({ profile: { path: 'p.yaml', text: read('fixtures/profiles/example.yaml') }, targets: ['terraform-aws'] });
  assert.ok(one.ok);
  const main = one.ok ? one.files.find((f) => f.path.endsWith('/main.tf'))!.content : '';
  assert.match(main, /^resource "aws_security_group" "nodes" \{$/m);
  assert.match(main, /referenced_security_group_id = aws_security_group\.nodes\.id/);
  assert.not.match(main, /peer = /);
});

// ------------------------------------------------------------ azure-nsg

const SCHEMA = JSON.parse(read('test/schemas/azure-nsg-template.schema.json'));
const ajv = new Ajv({ allErrors: true, strict: true, strictRequired: false });
const validate = ajv.compile(SCHEMA);
const errorsOf = (doc: unknown) => (validate(doc) ? '' : ajv.errorsText(validate.errors, { separator: '\n' }));

function nsgTemplate(profile: string, catalog: string): string {
  const f = files('azure-nsg', profile, catalog);
  assert.equal(Object.keys(f), ['nsg.json']);
  return f['nsg.json'];
}

const withAsg = (profile: string, name = 'pct-asg') => `${profile.trimEnd().replace(/^azure:.*$/m, '')}\nazure: { node_asg: ${name} }\n`;

/** The VNet the role profiles live in, the parameter values, and each role's ASG members. */
function azureEnv(all: IR[], asg?: string): AzureEnv {
  const inst = instancesOf(all[0], all);
  return {
    virtualNetwork: ['10.30.0.0/16', '2001:db8:30::/48'],
    parameters: { nsgName: 'pct-nsg', ...(asg ? { asgName: asg } : {}) },
    ...(asg ? { applicationSecurityGroups: Object.fromEntries(Object.entries(inst).map(([r, a]) => [`${asg}-${r}`, a])) } : {}),
  };
}

/** What role ir.host's policy says of a flow through its NSG: inbound to
 * one of its instances, outbound from one (the target's documented
 * policy: ICMP as a whole inbound, ICMPv6 not filtered, load balancer
 * probes on the TCP ports opened inbound, Azure's defaults outbound under
 * egress: allow). */
function irAllowsNsg(ir: IR, f: NsgFlow): boolean {
  const inbound = f.direction === 'Inbound';
  const peer = inbound ? f.src : f.dst;
  const v6 = addr(peer).kind() === 'ipv6';
  if (f.protocol === 'Icmp' && v6) return true;
  if (!inbound && ir.egress === 'allow') return true;
  const sets = new Map(ir.sets.map((s) => [s.name, s.cidrs.map(formatCidr)]));
  if (inbound && f.protocol === 'Icmp') return true;
  const transport = f.protocol.toLowerCase();
  const rules = ir.rules.filter((r) => r.scope === 'host' && r.direction === (inbound ? 'ingress' : 'egress') && r.transport === transport);
  if (inbound && transport === 'tcp' && ir.azure?.load_balancer_probes !== false && inCidrs(f.src, ['168.63.129.16/32']) && rules.some((r) => r.ports.some((p) => p.lo <= f.port! && f.port! <= p.hi))) return true;
  return rules.some((r) => (f.port === undefined || r.ports.some((p) => p.lo <= f.port! && f.port! <= p.hi)) && inCidrs(peer, sets.get((inbound ? r.source : r.destination)!)!));
}

function compareNsg(text: string, all: IR[], env: AzureEnv): Comparison {
  const res: Comparison = { checked: 0, allowed: 0, mismatches: [] };
  const peers = [...probeAddresses(all), '168.63.129.16'];
  const ports = probePorts(all);
  for (const ir of all) {
    const model = NsgModel.parse(text, env, `pct-nsg-${ir.host}`);
    for (const me of instancesOf(ir, all)[ir.host])
      for (const peer of peers) {
        if (addr(me).kind() !== addr(peer).kind()) continue;
        for (const direction of ['Inbound', 'Outbound'] as const) {
          const [src, dst] = direction === 'Inbound' ? [peer, me] : [me, peer];
          const run = (f: NsgFlow) => {
            const got = model.evaluate(f).access === 'Allow';
            const want = irAllowsNsg(ir, f);
            res.checked++;
            if (got) res.allowed++;
            if (got !== want && res.mismatches.length < 20) res.mismatches.push(`${ir.host} ${direction} ${f.protocol} ${src} -> ${dst}:${f.port ?? '-'}: NSG ${got ? 'allows' : 'denies'} (${model.evaluate(f).rule}), the IR ${want ? 'allows' : 'denies'}`);
          };
          run({ direction, protocol: 'Icmp', src, dst });
          for (const protocol of ['Tcp', 'Udp'] as Protocol[]) for (const port of ports) run({ direction, protocol, src, dst, port });
        }
      }
  }
  return res;
}

test('azure-nsg roles: one template, one NSG per role (<nsgName>-<role>); canonical JSON; schema-valid; same bytes twice', () => {
  const text = nsgTemplate(ROLES_PROFILE, ROLES_CATALOG);
  assert.is(text, JSON.stringify(JSON.parse(text), null, 2) + '\n');
  assert.is(nsgTemplate(ROLES_PROFILE, ROLES_CATALOG), text);
  const doc = JSON.parse(text);
  assert.equal(doc.resources.map((r: any) => [r.type, r.name]), [
    ['Microsoft.Network/networkSecurityGroups', "[concat(parameters('nsgName'), '-servers')]"],
    ['Microsoft.Network/networkSecurityGroups', "[concat(parameters('nsgName'), '-agents')]"],
  ]);
  assert.equal(Object.keys(doc.outputs), ['nsgId_servers', 'nsgId_agents']);
  assert.equal(Object.keys(doc.metadata.rules), ['servers', 'agents']);
  assert.is(errorsOf(doc), '');
  const env = azureEnv(irs(ROLES_PROFILE, ROLES_CATALOG));
  assert.equal(['servers', 'agents'].map((r) => NsgModel.parse(text, env, `pct-nsg-${r}`).name), ['pct-nsg-servers', 'pct-nsg-agents']);
  // Several NSGs: the interpreter needs to be told which.
  assert.throws(() => NsgModel.parse(text, env), /exactly one network security group, or a name/);
  // Each NSG carries only its role's rules: etcd on the servers, NodePorts on the agents.
  const names = (r: string) => NsgModel.parse(text, env, `pct-nsg-${r}`).rules.map((x) => x.name);
  assert.ok(names('servers').includes('in-servers-v4-tcp'));
  assert.ok(names('agents').includes('in-users-v4-tcp'));
  assert.not.ok(names('servers').includes('in-users-v4-tcp'));
  for (const r of ['servers', 'agents']) assert.ok(names(r).includes('baseline-deny-all-in') && names(r).includes('baseline-deny-all-out'), r);
});

test('azure-nsg roles: node_asg gives one ASG per role (<asgName>-<role>); role and union peers are ASGs, no node address is listed; each NSG depends on the ASGs it names', () => {
  const text = nsgTemplate(withAsg(ROLES_PROFILE), ROLES_CATALOG);
  const doc = JSON.parse(text);
  assert.equal(doc.resources.map((r: any) => r.name), [
    "[concat(parameters('asgName'), '-servers')]",
    "[concat(parameters('asgName'), '-agents')]",
    "[concat(parameters('nsgName'), '-servers')]",
    "[concat(parameters('nsgName'), '-agents')]",
  ]);
  assert.is(doc.parameters.asgName.defaultValue, 'pct-asg');
  assert.not.match(JSON.stringify(doc.resources) + JSON.stringify(doc.variables), /10\.30\.[01]\.|2001:db8:30::/);
  assert.equal(Object.keys(doc.outputs), ['nsgId_servers', 'asgId_servers', 'nsgId_agents', 'asgId_agents']);
  // The union "nodes" as the source of the API rule on the servers: both roles' ASGs.
  const servers = doc.resources[2].properties.securityRules;
  const api = servers.find((r: any) => r.name === 'in-nodes-v4-tcp');
  assert.equal(api.properties.sourceApplicationSecurityGroups.map((a: any) => a.id), [
    "[resourceId('Microsoft.Network/applicationSecurityGroups', concat(parameters('asgName'), '-servers'))]",
    "[resourceId('Microsoft.Network/applicationSecurityGroups', concat(parameters('asgName'), '-agents'))]",
  ]);
  assert.equal(api.properties.destinationApplicationSecurityGroups.map((a: any) => a.id), ["[resourceId('Microsoft.Network/applicationSecurityGroups', concat(parameters('asgName'), '-servers'))]"]);
  // The template's 2-resource schema holds for each role's pair (its ASG and its NSG).
  for (const i of [0, 1]) assert.is(errorsOf({ ...doc, resources: [doc.resources[i], doc.resources[i + 2]] }), '', `role ${i}`);
  const env = azureEnv(irs(ROLES_PROFILE, ROLES_CATALOG), 'pct-asg');
  // A dropped dependency is refused.
  const broken = structuredClone(doc);
  broken.resources[2].dependsOn = broken.resources[2].dependsOn.slice(1);
  assert.throws(() => new NsgModel(broken, env, 'pct-nsg-servers'), /does not depend on it/);
});

function e2eNsg(text: string, env: AzureEnv, from: { role?: string; addr: string }, to: { role?: string; addr: string }, protocol: Protocol, port?: number): boolean {
  const m = (r: string) => NsgModel.parse(text, env, `pct-nsg-${r}`);
  const out = from.role ? m(from.role).allowed({ direction: 'Outbound', protocol, src: from.addr, dst: to.addr, port }) : true;
  const inb = to.role ? m(to.role).allowed({ direction: 'Inbound', protocol, src: from.addr, dst: to.addr, port }) : true;
  return out && inb;
}

test('azure-nsg roles: the rows of roles.yaml end to end (sender outbound, receiver inbound), address lists and ASGs alike', () => {
  const all = irs(ROLES_PROFILE, ROLES_CATALOG);
  for (const asg of [undefined, 'pct-asg']) {
    const text = nsgTemplate(asg ? withAsg(ROLES_PROFILE) : ROLES_PROFILE, ROLES_CATALOG);
    const env = azureEnv(all, asg);
    const server = { role: 'servers', addr: '10.30.0.11' };
    const server2 = { role: 'servers', addr: '10.30.0.12' };
    const agent = { role: 'agents', addr: '10.30.1.21' };
    const agent2 = { role: 'agents', addr: '10.30.1.22' };
    const admin = { addr: '198.51.100.7' };
    const user = { addr: '192.0.2.77' };
    const cases: [string, boolean, boolean][] = [
      ['agent -> server 6443', true, e2eNsg(text, env, agent, server, 'Tcp', 6443)],
      ['user -> server 6443', false, e2eNsg(text, env, user, server, 'Tcp', 6443)],
      ['admin -> server 6443', true, e2eNsg(text, env, admin, server, 'Tcp', 6443)],
      ['admin -> agent 6443', false, e2eNsg(text, env, admin, agent, 'Tcp', 6443)],
      ['server -> server 2379', true, e2eNsg(text, env, server2, server, 'Tcp', 2379)],
      ['agent -> server 2379', false, e2eNsg(text, env, agent, server, 'Tcp', 2379)],
      ['server -> agent 10250', true, e2eNsg(text, env, server, agent, 'Tcp', 10250)],
      ['agent -> agent 10250', false, e2eNsg(text, env, agent2, agent, 'Tcp', 10250)],
      ['agent -> server 8472/udp', true, e2eNsg(text, env, agent, server, 'Udp', 8472)],
      ['agent -> agent 8472/udp', true, e2eNsg(text, env, agent2, agent, 'Udp', 8472)],
      ['agent -> server 51820/udp (feature off)', false, e2eNsg(text, env, agent, server, 'Udp', 51820)],
      ['user -> agent 30000', true, e2eNsg(text, env, user, agent, 'Tcp', 30000)],
      ['user -> server 30000', false, e2eNsg(text, env, user, server, 'Tcp', 30000)],
      ['server -> agent NodePort 30000 (outbound restricted)', false, e2eNsg(text, env, server, agent, 'Tcp', 30000)],
      ['admin -> agent 22', true, e2eNsg(text, env, admin, agent, 'Tcp', 22)],
      ['a VNet address in no role -> server 6443 (the deny-all, not AllowVNetInBound)', false, e2eNsg(text, env, { addr: '10.30.9.9' }, server, 'Tcp', 6443)],
    ];
    const wrong = cases.filter(([, want, got]) => want !== got).map(([what, want]) => `${asg ?? 'addresses'}: ${what}: expected ${want ? 'allow' : 'deny'}`);
    assert.equal(wrong, []);
  }
});

test('azure-nsg roles: each role\'s NSG agrees with its IR on every probe (roles.yaml and RKE2; address lists and ASGs)', () => {
  const variants: [string, string, string][] = [
    ['roles', ROLES_PROFILE, ROLES_CATALOG],
    ['roles wireguard allow', ROLES_PROFILE.replace('egress: restrict', 'egress: allow\nfeatures: { wireguard: true }'), ROLES_CATALOG],
    ['rke2', RKE2_PROFILE, RKE2_CATALOG],
    ['rke2 restrict', RKE2_PROFILE.replace(/^egress: allow/m, 'egress: restrict'), RKE2_CATALOG],
  ];
  for (const [name, base, catalog] of variants)
    for (const asg of [undefined, 'pct-asg']) {
      const profile = asg ? withAsg(base) : base;
      const all = irs(profile, catalog);
      const text = nsgTemplate(profile, catalog);
      const res = compareNsg(text, all, azureEnv(all, asg));
      assert.equal(res.mismatches, [], `${name} ${asg ?? ''}: ${res.mismatches.length} of ${res.checked}`);
      assert.ok(res.checked > 5000 && res.allowed > 200 && res.allowed < res.checked - 1000, `${name}: ${res.allowed} of ${res.checked}`);
    }
});

test('azure-nsg roles: the comparison has teeth (a mutated template disagrees with the IR)', () => {
  const all = irs(ROLES_PROFILE, ROLES_CATALOG);
  const doc = JSON.parse(nsgTemplate(ROLES_PROFILE, ROLES_CATALOG));
  const rule = (d: any, nsg: number, name: string) => d.resources[nsg].properties.securityRules.find((r: any) => r.name === name);
  const mutations: [string, (d: any) => void][] = [
    ['the API from all nodes dropped on the servers', (d) => (d.resources[0].properties.securityRules = d.resources[0].properties.securityRules.filter((r: any) => r.name !== 'in-nodes-v4-tcp'))],
    ['the API only from the servers', (d) => (rule(d, 0, 'in-nodes-v4-tcp').properties.sourceAddressPrefixes = "[variables('servers_v4')]")],
    ['NodePorts one short on the agents', (d) => (rule(d, 1, 'in-users-v4-tcp').properties.destinationPortRanges = ['30000-32766'])],
    ['the agents\' outbound API dropped', (d) => (d.resources[1].properties.securityRules = d.resources[1].properties.securityRules.filter((r: any) => r.name !== 'out-servers-v4-tcp'))],
    ['kubelet open to all nodes on the agents', (d) => (rule(d, 1, 'in-servers-v4-tcp').properties.sourceAddressPrefixes = "[variables('nodes_v4')]")],
  ];
  const env = azureEnv(all);
  for (const [what, mutate] of mutations) {
    const d = structuredClone(doc);
    mutate(d);
    assert.is.not(JSON.stringify(d), JSON.stringify(doc), `mutation not applied: ${what}`);
    assert.ok(compareNsg(JSON.stringify(d), all, env).mismatches.length > 0, `not caught: ${what}`);
  }
});

test('azure-nsg roles: limits are per NSG; a role over them fails naming the role, the count and the limit (no files)', () => {
  const many = Array.from({ length: 4001 }, (_, i) => `10.${100 + (i >> 8)}.${i & 255}.1`);
  const profile = ROLES_PROFILE.replace(/^ {2}admins: .*$/m, `  admins: [${many.join(', ')}]`);
  const r = compile({ profile: { path: 'p.yaml', text: profile }, catalog: { path: 'c.yaml', text: ROLES_CATALOG }, targets: ['azure-nsg'] });
  assert.not.ok(r.ok);
  const msg = r.diagnostics.map((d) => d.message).join('\n');
  assert.match(msg, /target azure-nsg: NSG of role 'servers': 4025 source address prefixes across the NSG's rules, over Azure's limit of 4000 per NSG \(largest: in-admins-v4-tcp 4001,/);
  // 24 prefixes besides the admins': 3976 admins fit both NSGs.
  const fits = ROLES_PROFILE.replace(/^ {2}admins: .*$/m, `  admins: [${many.slice(0, 3976).join(', ')}]`);
  assert.ok(compile({ profile: { path: 'p.yaml', text: fits }, catalog: { path: 'c.yaml', text: ROLES_CATALOG }, targets: ['azure-nsg'] }).ok);
});

test('roles: a union with a member that is not a role stays addresses (terraform-aws CIDRs, azure-nsg prefixes even with ASGs); verdicts still agree with the IR', async () => {
  const catalog = ROLES_CATALOG.replace('  admins:\n    description: Operators.\n', '  admins:\n    description: Operators.\n  ops:\n    union: [agents, admins]\n    description: Agents and operators.\n') +
    '  - id: metrics\n    table: T1\n    row: 7\n    cells: { port: "9100", protocol: "TCP", source: "Agents and operators", destination: "Servers", service: "metrics", description: "metrics" }\n    ports: [9100]\n    from: [ops]\n    to: [servers]\n';
  const all = irs(ROLES_PROFILE, catalog);
  assert.ok(all[0].rules.some((r) => r.id === 'in-ops-v4-tcp'), 'test setup: the rule is in the servers\' policy');
  const { mod } = await rolesModule(ROLES_PROFILE, catalog);
  const metrics = mod.rules.filter((r) => r.group === 'servers' && r.direction === 'ingress' && r.from === 9100);
  assert.ok(metrics.length > 0 && metrics.every((r) => r.cidrIpv4 || r.cidrIpv6), metrics.map((r) => r.key).join(', '));
  assert.ok(metrics.some((r) => r.key === 'tcp/9100/10.30.1.21/32'));
  const aws = compareAws(mod, all);
  assert.equal(aws.mismatches, []);
  for (const asg of [undefined, 'pct-asg']) {
    const profile = asg ? withAsg(ROLES_PROFILE) : ROLES_PROFILE;
    const text = nsgTemplate(profile, catalog);
    const servers = JSON.parse(text).resources.find((r: any) => r.name.includes("'-servers'") && r.type.endsWith('networkSecurityGroups'));
    const rule = servers.properties.securityRules.find((r: any) => r.name === 'in-ops-v4-tcp');
    assert.is(rule.properties.sourceAddressPrefixes, "[variables('ops_v4')]");
    const res = compareNsg(text, irs(profile, catalog), azureEnv(all, asg));
    assert.equal(res.mismatches, [], asg ?? 'addresses');
  }
});

test('roles: stable keys: one more agent changes no byte of the module and two variables of the template; one more admin CIDR adds only its own rules', async () => {
  const moreAgent = ROLES_PROFILE.replace('agents: [10.30.1.21, 10.30.1.22,', 'agents: [10.30.1.21, 10.30.1.22, 10.30.1.25,');
  const moreAdmin = ROLES_PROFILE.replace('admins: [198.51.100.0/24,', 'admins: [198.51.100.0/24, 203.0.113.0/24,');
  assert.is.not(moreAgent, ROLES_PROFILE);
  assert.is.not(moreAdmin, ROLES_PROFILE);
  assert.equal(files('terraform-aws', moreAgent, ROLES_CATALOG), files('terraform-aws', ROLES_PROFILE, ROLES_CATALOG));
  const a = await loadModule(writeModule(files('terraform-aws', ROLES_PROFILE, ROLES_CATALOG), 'a'), VARS);
  const b = await loadModule(writeModule(files('terraform-aws', moreAdmin, ROLES_CATALOG), 'b'), VARS);
  const keys = (m: SgModule) => new Set(m.rules.map((r) => `${r.resource}[${r.key}]`));
  const ka = keys(a);
  const kb = keys(b);
  for (const k of ka) assert.ok(kb.has(k), `kept ${k}`);
  assert.equal([...kb].filter((k) => !ka.has(k)).sort(), [
    'aws_vpc_security_group_ingress_rule.agents_in_ipv4[tcp/22/203.0.113.0/24]',
    'aws_vpc_security_group_ingress_rule.servers_in_ipv4[tcp/22/203.0.113.0/24]',
    'aws_vpc_security_group_ingress_rule.servers_in_ipv4[tcp/6443/203.0.113.0/24]',
  ]);
  const before = JSON.parse(nsgTemplate(ROLES_PROFILE, ROLES_CATALOG));
  const after = JSON.parse(nsgTemplate(moreAgent, ROLES_CATALOG));
  assert.equal(after.resources, before.resources, 'rules and priorities unchanged');
  const changed = Object.keys(after.variables).filter((k) => JSON.stringify(after.variables[k]) !== JSON.stringify(before.variables[k]));
  assert.equal(changed, ['agents_v4', 'nodes_v4']);
  assert.ok(after.variables.agents_v4.includes('10.30.1.25'));
});

test('terraform-aws roles: a role named like another role\'s split group (servers and servers_2) is a clear error, not a clash of resource names', () => {
  const catalog = ROLES_CATALOG.replace(/\bagents\b/g, 'servers_2');
  const admins = Array.from({ length: 40 }, (_, i) => `198.18.${i * 2}.0/24`);
  const profile = ROLES_PROFILE.replace(/\bagents\b/g, 'servers_2').replace(/^ {2}admins: .*$/m, `  admins: [${admins.join(', ')}]`);
  const r = compile({ profile: { path: 'p.yaml', text: profile }, catalog: { path: 'c.yaml', text: catalog }, targets: ['terraform-aws'] });
  assert.not.ok(r.ok);
  assert.match(r.diagnostics.map((d) => d.message).join('\n'), /target terraform-aws: the security groups of roles 'servers' and 'servers_2' would both be named 'servers_2'/);
  // Without the split the two names do not meet.
  assert.ok(compile({ profile: { path: 'p.yaml', text: ROLES_PROFILE.replace(/\bagents\b/g, 'servers_2') }, catalog: { path: 'c.yaml', text: catalog }, targets: ['terraform-aws'] }).ok);
});

test.run();
