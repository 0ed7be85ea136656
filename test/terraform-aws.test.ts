// terraform-aws target: golden files; `terraform fmt -check` on every output;
// the locals evaluated by Terraform itself (`terraform console`, which needs
// no provider); the module parsed back with @cdktf/hcl2json into an AWS
// security group interpreter (test/helpers/aws-sg-model.ts) that is compared,
// flow by flow, with an expectation computed independently of the compiler
// from the catalog and profile YAML; quotas (split / error); hostile text;
// and what one more address changes.
//
// Needs /usr/local/bin/terraform (or terraform on PATH); never runs
// `terraform init`.

import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { diffLines } from 'diff';
import fc from 'fast-check';
import * as ipaddr from 'ipaddr.js';
import * as yaml from 'js-yaml';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { AWS_GROUPS_PER_INTERFACE, AWS_RULES_PER_GROUP, awsDescription, awsRules, hclString, packRules } from '../src/targets/terraform-aws/render';
import { TargetLimitError } from '../src/targets/base';
import type { IR } from '../src/ir/types';
import { compile } from '../src/compile';
import { allows, Flow, loadModule, SgModule, AWS_DESCRIPTION } from './helpers/aws-sg-model';
import { fixture, ROOT, runCli } from './helpers/cli';

const TERRAFORM = fs.existsSync('/usr/local/bin/terraform') ? '/usr/local/bin/terraform' : 'terraform';
const TF_ENV = { ...process.env, TF_CLI_CONFIG_FILE: '', TF_IN_AUTOMATION: '1', CHECKPOINT_DISABLE: '1' };

const tmpDirs: string[] = [];
function tmpDir(tag: string): string {
  const d = fs.mkdtempSync(path.join(os.tmpdir(), `pct-aws-${tag}-`));
  tmpDirs.push(d);
  return d;
}
test.after(() => {
  for (const d of tmpDirs) fs.rmSync(d, { recursive: true, force: true });
});

const EXAMPLE = fs.readFileSync(fixture('profiles', 'example.yaml'), 'utf8');
const CATALOG = fs.readFileSync(path.join(ROOT, 'catalog', 'thoughtspot.yaml'), 'utf8');

/** Compiles (library API) and returns the terraform-aws files by name. */
function render(profile: string, catalog?: string): Record<string, string> {
  const r = compile({ profile: { path: 'p.yaml', text: profile }, catalog: catalog ? { path: 'c.yaml', text: catalog } : undefined, targets: ['terraform-aws'] });
  if (!r.ok) throw new Error(JSON.stringify(r.diagnostics, null, 2));
  return Object.fromEntries(r.files.map((f) => [f.path.split('/').slice(2).join('/'), f.content]));
}

function writeModule(files: Record<string, string>, tag = 'mod'): string {
  const dir = tmpDir(tag);
  for (const [name, content] of Object.entries(files)) fs.writeFileSync(path.join(dir, name), content);
  return dir;
}

function fmtCheck(dir: string): { code: number; out: string } {
  const r = spawnSync(TERRAFORM, ['fmt', '-check', '-diff', '-recursive', dir], { encoding: 'utf8', env: TF_ENV });
  if (r.error) throw new Error(`terraform: ${r.error.message}`);
  return { code: r.status ?? -1, out: r.stdout + r.stderr };
}

/** The data `locals` block of main.tf (the one that names no resource),
 * evaluated by `terraform console` in a directory of its own: Terraform's
 * own reading of every string and of every for_each map. */
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

/** The console prints a string value Go-quoted (strconv.Quote style). */
function goUnquote(q: string): string {
  assert.ok(q.startsWith('"') && q.endsWith('"'), `not a quoted string: ${q.slice(0, 80)}`);
  const simple: Record<string, string> = { a: '\x07', b: '\b', f: '\f', n: '\n', r: '\r', t: '\t', v: '\v', '\\': '\\', '"': '"' };
  return q.slice(1, -1).replace(/\\(x[0-9a-fA-F]{2}|u[0-9a-fA-F]{4}|U[0-9a-fA-F]{8}|.)/g, (_, e: string) => {
    if (e.length > 1) return String.fromCodePoint(parseInt(e.slice(1), 16));
    if (!(e in simple)) throw new Error(`unknown escape \\${e}`);
    return simple[e];
  });
}

// ------------------------------------------------------------ strings

test('hclString: escapes quote, backslash, ${, %{ and controls; Terraform reads back the exact text', () => {
  const samples = [
    'plain',
    'say "hi"',
    'back\\slash',
    '${var.x}',
    '$${already}',
    '%{ if true }x%{ endif }',
    '%%{',
    'ends with $',
    'ends with %',
    '$ { not interpolation }',
    'line1\nline2\r\n\ttab',
    '\u0000\u0001\u007f\u0085\u2028',
    'é ü 日本 🚀',
    '\\${var.x}',
    '$$$${',
  ];
  const random = fc.sample(fc.string({ unit: fc.constantFrom('$', '%', '{', '}', '"', '\\', '\n', 'a', ' ', 'é', '\u0007', '\t') , maxLength: 24 }), { numRuns: 200, seed: 42 });
  const all = [...samples, ...random];
  const tf = `locals {\n  s = [\n${all.map((s) => `    ${hclString(s)},`).join('\n')}\n  ]\n}\n`;
  const dir = writeModule({ 'main.tf': tf }, 'hclstr');
  const fmt = fmtCheck(dir);
  assert.is(fmt.code, 0, fmt.out);
  assert.equal(consoleEval(tf, 'local.s'), all);
});

test('awsDescription keeps only what AWS accepts in a rule description, at most 255 characters', () => {
  fc.assert(
    fc.property(fc.string({ maxLength: 600 }), (s) => {
      const d = awsDescription(s);
      return AWS_DESCRIPTION.test(d) && d.length <= 255;
    }),
  );
  assert.is(awsDescription('a & b "c" <d>\n%{e}'), 'a _ b _c_ _d_ _{e}');
  assert.is(awsDescription('x'.repeat(300)), 'x'.repeat(252) + '...');
});

// ------------------------------------------------------------ golden, fmt

test('golden: fixtures/golden/prod-east/terraform-aws matches the output byte for byte', () => {
  const files = render(EXAMPLE);
  const golden = fixture('golden', 'prod-east', 'terraform-aws');
  if (process.env.UPDATE_GOLDEN) {
    fs.rmSync(golden, { recursive: true, force: true });
    fs.mkdirSync(golden, { recursive: true });
    for (const [name, content] of Object.entries(files)) fs.writeFileSync(path.join(golden, name), content);
  }
  assert.equal(Object.keys(files).sort(), fs.readdirSync(golden).sort(), 'file list');
  for (const [name, content] of Object.entries(files)) assert.fixture(content, fs.readFileSync(path.join(golden, name), 'utf8'));
  // The CLI's golden check agrees.
  const r = runCli(['compile', '--profile', fixture('profiles', 'example.yaml'), '--target', 'terraform-aws', '--out-dir', fixture('golden'), '--check']);
  assert.is(r.code, 0, r.stdout + r.stderr);
});

test('same input, same bytes', () => {
  assert.equal(render(EXAMPLE), render(EXAMPLE));
});

const VARIANTS: Record<string, string> = {
  example: EXAMPLE,
  restrict: EXAMPLE.replace('egress: allow ', 'egress: restrict'),
  'no-terraform-block': EXAMPLE.replace(/^terraform:.*$/m, ''),
  'aws-quota-split': fs.readFileSync(fixture('profiles', 'aws-quota-split.yaml'), 'utf8'),
};

test('terraform fmt -check passes on every variant', () => {
  assert.is.not(VARIANTS.restrict, EXAMPLE);
  for (const [name, text] of Object.entries(VARIANTS)) {
    const dir = writeModule(render(text), name);
    const r = fmtCheck(dir);
    assert.is(r.code, 0, `${name}: ${r.out}`);
  }
});

test('no terraform block in the profile: name and vpc_id become variables', async () => {
  const files = render(VARIANTS['no-terraform-block']);
  assert.equal(Object.keys(files).sort(), ['main.tf', 'outputs.tf', 'variables.tf']);
  assert.match(files['variables.tf'], /^variable "name" \{$/m);
  assert.match(files['variables.tf'], /^variable "vpc_id" \{$/m);
  assert.match(files['main.tf'], /^  name_prefix = "\$\{var\.name\}-"$/m);
  assert.match(files['main.tf'], /^  vpc_id      = var\.vpc_id$/m);
  // No defaults: the caller must give them.
  assert.not.match(files['variables.tf'], /default     = "/);
  const mod = await loadModule(writeModule(files, 'vars'), { name: 'n', vpc_id: 'vpc-1' });
  assert.is(mod.groups.get('nodes')!.name, 'n-');
});

// ------------------------------------------------------------ Terraform's own reading of the locals

test('terraform console builds every for_each map (no duplicate keys) and reads the rules as generated', async () => {
  const files = render(EXAMPLE);
  const lists = ['ingress_ipv4', 'ingress_ipv6', 'ingress_nodes', 'egress_ipv4', 'egress_ipv6'];
  const maps = consoleEval(files['main.tf'], `{ ${lists.map((l) => `${l} = { for r in local.${l} : r.key => r }`).join(', ')} }`);
  const mod = await loadModule(writeModule(files, 'console'));
  const fromConsole = lists.flatMap((l) => Object.keys(maps[l])).sort();
  assert.equal(fromConsole, mod.rules.map((r) => r.key).sort());
  // 20 IPv4 CIDR rules (14 admins, 2 users, 4 ICMP), 23 IPv6 (14 admins, 9 ICMPv6),
  // 27 node-to-node group references, 2 allow-all egress.
  assert.is(fromConsole.length, 20 + 23 + 27 + 2);
  for (const r of mod.rules) {
    const l = (r.direction === 'ingress' ? 'ingress_' : 'egress_') + (r.referenced ? 'nodes' : r.cidrIpv4 ? 'ipv4' : 'ipv6');
    assert.is(maps[l][r.key].description, r.description, r.key);
  }
});

// ------------------------------------------------------------ the independent expectation

/** What the catalog and profile allow, read straight from their YAML with
 * no compiler code: enabled rules (feature gates on rules and on source or
 * destination groups), ports (numbers, ranges, params), groups (the
 * profile's, else the catalog's default addresses). */
class Expectation {
  readonly host: string;
  readonly groups = new Map<string, string[]>();
  readonly egress: 'allow' | 'restrict';
  readonly rules: { from: string[]; to: string[]; ports: [number, number][]; transport: string }[] = [];

  constructor(catalogText: string, profileText: string) {
    const cat = yaml.load(catalogText) as any;
    const prof = yaml.load(profileText) as any;
    this.host = cat.host;
    this.egress = prof.egress ?? 'allow';
    const features: Record<string, boolean> = {};
    for (const [k, f] of Object.entries<any>(cat.features ?? {})) features[k] = prof.features?.[k] ?? f.default;
    const range = (v: unknown): [number, number] => {
      const [lo, hi] = String(v).split('-').map(Number);
      return [lo, hi ?? lo];
    };
    const params: Record<string, [number, number]> = {};
    for (const [k, p] of Object.entries<any>(cat.params ?? {})) params[k] = range(prof.params?.[k] ?? p.default);
    for (const [k, g] of Object.entries<any>(cat.groups ?? {})) this.groups.set(k, prof.groups?.[k] ?? g.default ?? []);
    const on = (f?: string) => f === undefined || features[f];
    const members = (refs: any[]) => refs.filter((g) => typeof g === 'string' || on(g.feature)).map((g) => (typeof g === 'string' ? g : g.group));
    for (const r of cat.rules) {
      if (!on(r.feature)) continue;
      this.rules.push({
        from: members(r.from),
        to: members(r.to),
        ports: r.ports.map((p: any) => (typeof p === 'object' ? params[p.param] : range(p))),
        transport: r.transport,
      });
    }
  }

  private groupsOf(addr: string): string[] {
    const a = ipaddr.parse(addr);
    return [...this.groups].filter(([, cidrs]) => cidrs.some((c) => inCidr(a, c))).map(([g]) => g);
  }

  allowed(f: Flow): boolean {
    const v6 = f.peer.includes(':');
    if (f.protocol === 'icmp' || f.protocol === 'icmpv6') {
      if ((f.protocol === 'icmpv6') !== v6) return false;
      if (f.direction === 'egress') return this.egress === 'allow' || (v6 && [133, 135, 136, 131, 143].includes(f.icmpType!));
      // Ping, and the errors IPv4/IPv6 need (PMTU: unreachable / packet too big); IPv6 ND and MLD queries.
      return v6 ? [1, 2, 3, 4, 128, 130, 134, 135, 136].includes(f.icmpType!) : [3, 8, 11, 12].includes(f.icmpType!);
    }
    if (f.direction === 'egress' && this.egress === 'allow') return true;
    const peerGroups = this.groupsOf(f.peer);
    return this.rules.some(
      (r) =>
        r.transport === f.protocol &&
        r.ports.some(([lo, hi]) => lo <= f.port! && f.port! <= hi) &&
        (f.direction === 'ingress'
          ? r.to.includes(this.host) && r.from.some((g) => peerGroups.includes(g))
          : r.from.includes(this.host) && r.to.some((g) => peerGroups.includes(g))),
    );
  }

  /** Every port any rule or param names, with its neighbours, and the ends. */
  probePorts(catalogText: string): number[] {
    const ports = new Set<number>([1, 2, 65534, 65535]);
    const cat = yaml.load(catalogText) as any;
    const add = (p: number) => [p - 1, p, p + 1].filter((x) => x >= 1 && x <= 65535).forEach((x) => ports.add(x));
    for (const r of this.rules) for (const [lo, hi] of r.ports) [lo, hi].forEach(add);
    for (const p of Object.values<any>(cat.params ?? {})) for (const c of [...(p.choices ?? []), p.default]) String(c).split('-').map(Number).forEach(add);
    return [...ports].sort((a, b) => a - b);
  }
}

function inCidr(a: ipaddr.IPv4 | ipaddr.IPv6, cidr: string): boolean {
  const [net, len] = cidr.includes('/') ? ipaddr.parseCIDR(cidr) : [ipaddr.parse(cidr), ipaddr.parse(cidr).kind() === 'ipv4' ? 32 : 128];
  return a.kind() === net.kind() && (a as any).match(net, len);
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

/** First and last address of every group's blocks, the addresses just
 * outside them, and outsiders. */
function probeAddresses(exp: Expectation): string[] {
  const out = new Set<string>(['192.0.2.77', '10.20.0.14', '10.20.1.26', '2001:db8:ffff::1', '2001:db8:20::11', '::1', '255.255.255.255']);
  for (const cidrs of exp.groups.values())
    for (const c of cidrs) {
      const [net, len] = c.includes('/') ? ipaddr.parseCIDR(c) : [ipaddr.parse(c), ipaddr.parse(c).kind() === 'ipv4' ? 32 : 128];
      const bits = net.kind() === 'ipv4' ? 32 : 128;
      const lo = toBig(net);
      const hi = lo + (1n << BigInt(bits - len)) - 1n;
      const max = (1n << BigInt(bits)) - 1n;
      for (const v of [lo - 1n, lo, hi, hi + 1n]) if (v >= 0n && v <= max) out.add(fromBig(v, net.kind()));
    }
  return [...out].sort();
}

interface Comparison {
  checked: number;
  allowed: number;
  mismatches: string[];
}

function compare(mod: SgModule, exp: Expectation, catalogText: string): Comparison {
  const nodes = exp.groups.get(exp.host)!;
  const res: Comparison = { checked: 0, allowed: 0, mismatches: [] };
  const check = (f: Flow) => {
    const got = !!allows(mod, f, nodes);
    const want = exp.allowed(f);
    res.checked++;
    if (got) res.allowed++;
    if (got !== want) res.mismatches.push(`${f.direction} ${f.peer} ${f.protocol} ${f.port ?? `type ${f.icmpType}`}: AWS model ${got ? 'allows' : 'denies'}, expected ${want ? 'allow' : 'deny'}`);
  };
  const ports = exp.probePorts(catalogText);
  for (const peer of probeAddresses(exp))
    for (const direction of ['ingress', 'egress'] as const) {
      for (const protocol of ['tcp', 'udp'] as const) for (const port of ports) check({ direction, peer, protocol, port });
      const icmp = peer.includes(':') ? 'icmpv6' : 'icmp';
      for (let type = 0; type < 256; type++) check({ direction, peer, protocol: icmp, icmpType: type, icmpCode: 0 });
    }
  return res;
}

for (const [name, text] of Object.entries(VARIANTS).filter(([n]) => n !== 'no-terraform-block')) {
  test(`interpreter agrees with the independent expectation on every (address, port) probe: ${name}`, async () => {
    const mod = await loadModule(writeModule(render(text), name));
    const exp = new Expectation(CATALOG, text);
    const res = compare(mod, exp, CATALOG);
    assert.equal(res.mismatches.slice(0, 20), [], `${res.mismatches.length} mismatches of ${res.checked}`);
    assert.ok(res.checked > 20000, `only ${res.checked} probes`);
    assert.ok(res.allowed > 300 && res.allowed < res.checked, `allowed ${res.allowed} of ${res.checked}`);
  });
}

test('the comparison has teeth: a mutated module disagrees with the expectation', async () => {
  const main = render(EXAMPLE)['main.tf'];
  const dropLine = (key: string) => (t: string) => t.split('\n').filter((l) => !l.includes(`key = "${key}"`)).join('\n');
  const mutations: [string, (t: string) => string][] = [
    ['SSH on 23', (t) => t.replace('/22/198.51.100.0/24", sg = "nodes", ip_protocol = "tcp", from_port = 22, to_port = 22', '/22/198.51.100.0/24", sg = "nodes", ip_protocol = "tcp", from_port = 23, to_port = 23')],
    ['admins /23', (t) => t.replace('from_port = 4021, to_port = 4021, cidr = "198.51.100.0/24"', 'from_port = 4021, to_port = 4021, cidr = "198.51.100.0/23"')],
    ['node-to-node 2181 dropped', dropLine('tcp/2181/self')],
    ['IPv6 egress dropped', dropLine('all/::/0')],
    ['ICMP echo dropped', dropLine('icmp/echo-request/0.0.0.0/0')],
  ];
  const exp = new Expectation(CATALOG, EXAMPLE);
  for (const [what, mutate] of mutations) {
    const mutated = mutate(main);
    assert.is.not(mutated, main, `mutation not applied: ${what}`);
    const mod = await loadModule(writeModule({ ...render(EXAMPLE), 'main.tf': mutated }, 'mut'));
    assert.ok(compare(mod, exp, CATALOG).mismatches.length > 0, `not caught: ${what}`);
  }
});

test('the interpreter refuses what AWS or Terraform would refuse', async () => {
  const files = render(EXAMPLE);
  const line = files['main.tf'].split('\n').find((l) => l.includes('key = "tcp/80/0.0.0.0/0"'))!;
  const bad: [string, string][] = [
    ['duplicate for_each key', files['main.tf'].replace(line, `${line}\n${line}`)],
    ['duplicate rule', files['main.tf'].replace(line, `${line}\n${line.replace('/80/', '/80-again/')}`)],
    ['description characters', files['main.tf'].replace('description = "in-users-v4-tcp T1.2:', 'description = "in-users-v4-tcp & T1.2:')],
    ['host bits', files['main.tf'].replace('cidr = "198.51.100.0/24"', 'cidr = "198.51.100.1/24"')],
    ['unsupported expression', files['main.tf'].replace('description       = each.value.description', 'description       = upper(each.value.description)')],
    ['template directive', files['main.tf'].replace('description = "in-users-v4-tcp T1.2:', 'description = "%{ if true }x%{ endif }')],
  ];
  for (const [what, text] of bad) {
    assert.is.not(text, files['main.tf'], `mutation not applied: ${what}`);
    let err = '';
    try {
      await loadModule(writeModule({ ...files, 'main.tf': text }, 'bad'));
    } catch (e) {
      err = String(e);
    }
    assert.ok(err, `accepted: ${what}`);
  }
});

test('interpreter spot checks on the example (anchors from the document, deny samples)', async () => {
  const mod = await loadModule(writeModule(render(EXAMPLE), 'spot'));
  const nodes = ['10.20.0.11', '10.20.0.12', '10.20.0.13'];
  const ok = (f: Flow) => !!allows(mod, f, nodes);
  const tcp = (direction: 'ingress' | 'egress', peer: string, port: number): Flow => ({ direction, peer, protocol: 'tcp', port });
  assert.ok(ok(tcp('ingress', '198.51.100.7', 22)), 'admin SSH (anti-lockout)');
  assert.ok(ok(tcp('ingress', '2001:db8:ad:1::5', 22)), 'admin SSH over IPv6');
  assert.not.ok(ok(tcp('ingress', '198.51.101.7', 22)), 'SSH from outside the admins');
  assert.not.ok(ok(tcp('ingress', '2001:db8:ae::1', 22)), 'SSH from the next IPv6 /48');
  assert.ok(ok(tcp('ingress', '192.0.2.77', 443)), 'users (0.0.0.0/0) on 443');
  assert.not.ok(ok(tcp('ingress', '192.0.2.77', 444)), 'neighbouring port');
  assert.not.ok(ok(tcp('ingress', '2001:db8:ffff::1', 443)), 'users are IPv4 only');
  assert.ok(ok(tcp('ingress', '10.20.0.12', 2181)), 'node to node (group reference)');
  assert.ok(ok(tcp('ingress', '10.20.0.12', 20000)) && ok(tcp('ingress', '10.20.0.12', 65535)), 'dynamic ports');
  assert.not.ok(ok(tcp('ingress', '10.20.0.12', 19999)), 'below the dynamic range');
  assert.not.ok(ok(tcp('ingress', '10.20.0.14', 2181)), 'a non-member in the nodes subnet');
  assert.not.ok(ok({ direction: 'ingress', peer: '10.20.0.12', protocol: 'udp', port: 2181 }), 'UDP');
  assert.ok(ok({ direction: 'ingress', peer: '192.0.2.77', protocol: 'icmp', icmpType: 3, icmpCode: 4 }), 'PMTU: fragmentation needed');
  assert.not.ok(ok({ direction: 'ingress', peer: '192.0.2.77', protocol: 'icmp', icmpType: 13, icmpCode: 0 }), 'ICMP timestamp');
  assert.ok(ok(tcp('egress', '192.0.2.77', 12345)), 'egress: allow');
  // Every rule names its catalog row(s) and stays within what AWS accepts.
  for (const r of mod.rules) assert.match(r.description, /^(in|out|icmp|egress)-[a-z_]+(-v[46])?(-tcp|-udp)? /);
  for (const r of mod.rules.filter((x) => /^(in|out)-/.test(x.description))) assert.match(r.description, /^(in|out)-\S+ T\d+\.[\d,prose-]+( T\d+\.[\d,prose-]+)*: /, r.key);
  assert.match(mod.rules.find((r) => r.key === 'tcp/22/198.51.100.0/24' && r.cidrIpv4 !== undefined && r.direction === 'ingress')!.description, /^in-admins-v4-tcp T1\.1: SSH - Secure shell access/);
});

// ------------------------------------------------------------ quotas

test('quota: a profile over 60 inbound rules per family splits across nodes, nodes_2, ... deterministically', async () => {
  const text = VARIANTS['aws-quota-split'];
  const files = render(text);
  assert.equal(render(text), files);
  const mod = await loadModule(writeModule(files, 'split'));
  assert.equal(mod.attached, ['nodes', 'nodes_2', 'nodes_3']);
  const count = (g: string, fam: 'ipv4' | 'ipv6') =>
    mod.rules.filter((r) => r.group === g && r.direction === 'ingress' && (r.referenced || (fam === 'ipv4' ? r.cidrIpv4 : r.cidrIpv6))).length;
  assert.equal(['nodes', 'nodes_2', 'nodes_3'].map((g) => count(g, 'ipv4')), [60, 60, 53]); // 4 ICMP + 27 node-to-node + 10 x 14 admin + 2 users = 173
  assert.match(files['main.tf'], /^#   nodes_2: in 60 IPv4 \/ 0 IPv6, out 0 IPv4 \/ 0 IPv6$/m);
  assert.match(files['main.tf'], /^  name_prefix = "\$\{var\.name\}-2-"$/m);
  assert.match(files['variables.tf'], /^  default     = "ts-quota"$/m);
  assert.is(mod.groups.get('nodes_2')!.name, 'ts-quota-2-');
  assert.match(files['outputs.tf'], /aws_security_group\.nodes_3\.id,/);
  // Node-to-node rules reference the first group, which every node carries.
  assert.ok(mod.rules.filter((r) => r.referenced).every((r) => r.referenced === 'nodes'));
});

test('quota: more than 5 groups x 60 rules fails with the count and the limit, and writes nothing', () => {
  const out = tmpDir('over');
  const r = runCli(['compile', '--profile', fixture('profiles', 'aws-quota-over.yaml'), '--target', 'terraform-aws', '--out-dir', out]);
  assert.is(r.code, 2, r.stderr);
  assert.match(r.stderr, /aws-quota-over\.yaml:\d+:1: error: target terraform-aws: the policy needs 341 inbound IPv4 security group rules, more than AWS allows on one network interface by default: 60 per group x 5 groups = 300/);
  assert.equal(fs.readdirSync(out), []);
});

// ------------------------------------------------------------ hostile text

test('hostile catalog description: fmt-clean, and AWS gets the filtered text exactly', async () => {
  const nasty = 'He said "hi" \\ ${var.x} %{ if } <b>&amp;\nsecond line é';
  const catalog = CATALOG.replace('"Secure shell access. Also used for scp (secure copy)."', JSON.stringify(nasty));
  assert.is.not(catalog, CATALOG, 'test setup: description not found');
  const files = render(EXAMPLE, catalog);
  const dir = writeModule(files, 'hostile');
  const fmt = fmtCheck(dir);
  assert.is(fmt.code, 0, fmt.out);
  const expected = 'in-admins-v4-tcp T1.1: SSH - He said _hi_ _ ${var.x} _{ if } _b__amp; second line _';
  // In the HCL source: `${` doubled, so Terraform does not interpolate it.
  assert.ok(files['main.tf'].includes('description = "in-admins-v4-tcp T1.1: SSH - He said _hi_ _ $${var.x} _{ if } _b__amp; second line _"'));
  assert.not.match(files['main.tf'], /[^$]\$\{var\.x\}/);
  // hcl2json's reading, through the interpreter:
  const mod = await loadModule(dir);
  assert.is(mod.rules.find((r) => r.key === 'tcp/22/198.51.100.0/24' && r.cidrIpv4 !== undefined && r.direction === 'ingress')!.description, expected);
  // Terraform's own reading:
  const maps = consoleEval(files['main.tf'], '{ for r in local.ingress_ipv4 : r.key => r.description }');
  assert.is(maps['tcp/22/198.51.100.0/24'], expected);
  assert.ok(AWS_DESCRIPTION.test(expected));
});

// ------------------------------------------------------------ one more address

function changedLines(a: string, b: string): { added: string[]; removed: string[] } {
  const added: string[] = [];
  const removed: string[] = [];
  for (const part of diffLines(a, b)) {
    const lines = part.value.replace(/\n$/, '').split('\n');
    if (part.added) added.push(...lines);
    if (part.removed) removed.push(...lines);
  }
  return { added, removed };
}

test('one more node address changes nothing (nodes are members of the group, not listed)', () => {
  const more = EXAMPLE.replace('nodes:       [10.20.0.11, 10.20.0.12, 10.20.0.13]', 'nodes:       [10.20.0.11, 10.20.0.12, 10.20.0.13, 10.20.0.14]');
  assert.is.not(more, EXAMPLE);
  assert.equal(render(more), render(EXAMPLE));
});

test('one more admin address with room in the group: exactly one line per admin port range', () => {
  // debug off: the admins keep 22, 4021 and 12345 (three port ranges).
  const base = EXAMPLE.replace('debug: true ', 'debug: false');
  const more = base.replace('admins:      [198.51.100.0/24,', 'admins:      [198.51.100.0/24, 100.64.0.0/24,');
  assert.is.not(more, base);
  const a = render(base)['main.tf'];
  const b = render(more)['main.tf'];
  const { added, removed } = changedLines(a, b);
  assert.equal(removed, ['#   nodes: in 36 IPv4 / 39 IPv6, out 1 IPv4 / 1 IPv6'], 'only the quota summary line changes');
  assert.equal(added.slice(0, 1), ['#   nodes: in 39 IPv4 / 39 IPv6, out 1 IPv4 / 1 IPv6']);
  assert.equal(
    added.slice(1).map((l) => l.match(/key = "([^"]+)"/)?.[1]),
    ['tcp/22/100.64.0.0/24', 'tcp/4021/100.64.0.0/24', 'tcp/12345/100.64.0.0/24'],
  );
});

test('one more admin address on the example (47 of 60 IPv4 inbound used): 14 lines, and one rule moves to nodes_2', () => {
  const more = EXAMPLE.replace('admins:      [198.51.100.0/24,', 'admins:      [198.51.100.0/24, 100.64.0.0/24,');
  const a = render(EXAMPLE);
  const b = render(more);
  const { added, removed } = changedLines(a['main.tf'], b['main.tf']);
  const keyOf = (l: string) => l.match(/key = "([^"]+)"/)?.[1];
  const addedKeys = added.map(keyOf).filter(Boolean);
  const removedKeys = removed.map(keyOf).filter(Boolean);
  // The 14 new rules, plus the one rule that moved to the second group.
  assert.is(addedKeys.filter((k) => k!.endsWith('/100.64.0.0/24')).length, 14);
  assert.equal(removedKeys, ['tcp/443/0.0.0.0/0']);
  assert.equal(addedKeys.filter((k) => !k!.endsWith('/100.64.0.0/24')), ['tcp/443/0.0.0.0/0']);
  assert.ok(added.some((l) => l.includes('key = "tcp/443/0.0.0.0/0", sg = "nodes_2"')));
  assert.ok(added.includes('resource "aws_security_group" "nodes_2" {'));
});

// ------------------------------------------------------------ a module others call

/** Every for_each key of the module, per rule list ("ingress_ipv4 tcp/22/198.51.100.0/24"). */
function resourceKeys(mainTf: string): string[] {
  const out: string[] = [];
  let list = '';
  for (const line of mainTf.split('\n')) {
    const m = /^  ([a-z_]+) = \[$/.exec(line);
    if (m) list = m[1];
    const k = /key = "([^"]+)"/.exec(line);
    if (k) out.push(`${list} ${k[1]}`);
  }
  return out.sort();
}

test('module inputs: name, vpc_id and tags with the profile\'s values as defaults; name_prefix, a constant description, bounded pins (terraform console)', () => {
  const files = render(EXAMPLE);
  const main = files['main.tf'];
  assert.match(main, /^  required_version = ">= 1\.3\.0"$/m);
  assert.match(main, /^      version = ">= 5\.0, < 7\.0"$/m);
  assert.match(main, /^  description = "Nodes firewall rules, managed by portcullis"$/m);
  assert.not.ok(main.includes('Nodes of prod-east'), 'the description names no environment (a change would replace the group)');
  // The group's own lifecycle: replaced groups are created first (name_prefix makes the names differ).
  assert.match(main, /resource "aws_security_group" "nodes" \{\n  name_prefix = "\$\{var\.name\}-"\n[\s\S]*?lifecycle \{\n    create_before_destroy = true\n  \}\n\}/);
  // Terraform evaluates the group's attributes from the module's own variables.tf.
  const group = /resource "aws_security_group" "nodes" \{([\s\S]*?)\n\}/.exec(main)![1];
  const attr = (name: string) => new RegExp(`^  ${name}\\s*= (.*)$`, 'm').exec(group)![1];
  const dir = tmpDir('module');
  fs.writeFileSync(path.join(dir, 'variables.tf'), files['variables.tf']);
  fs.writeFileSync(path.join(dir, 'main.tf'), `locals {\n  probe = {\n    name_prefix = ${attr('name_prefix')}\n    vpc_id = ${attr('vpc_id')}\n    tags = ${attr('tags')}\n  }\n}\n`);
  const evalIn = (args: string[]) => {
    const r = spawnSync(TERRAFORM, ['console', ...args], { cwd: dir, input: 'jsonencode(local.probe)\n', encoding: 'utf8', env: TF_ENV });
    assert.is(r.status, 0, r.stderr);
    return JSON.parse(goUnquote(r.stdout.trim()));
  };
  assert.equal(evalIn([]), { name_prefix: 'ts-prod-', vpc_id: 'vpc-0123456789abcdef0', tags: { Name: 'ts-prod' } });
  assert.equal(evalIn(['-var', 'name=other', '-var', 'tags={team="net",Name="x"}']), { name_prefix: 'other-', vpc_id: 'vpc-0123456789abcdef0', tags: { team: 'net', Name: 'other' } });
  assert.match(files['outputs.tf'], /^output "rule_ids" \{$/m);
  assert.match(files['outputs.tf'], /^output "security_groups" \{$/m);
  const fmt = fmtCheck(writeModule(files, 'module-fmt'));
  assert.is(fmt.code, 0, fmt.out);
});

test('keys survive a catalog rule renamed, a group renamed and two rules merged: no resource address changes, only descriptions', () => {
  const before = render(EXAMPLE)['main.tf'];
  const keys = resourceKeys(before);
  assert.ok(keys.length > 50, `${keys.length} keys`);
  // The catalog rule ops-ssh renamed.
  const renamedRule = CATALOG.replace('  - id: ops-ssh\n', '  - id: ops-secure-shell\n');
  // The group admins renamed operators (the profile with it).
  const renamedGroup = CATALOG.replace(/^  admins:$/m, '  operators:').replace(/\[admins\]/g, '[operators]').replace(/\badmins\b(?=[,\]])/g, 'operators');
  const profileForGroup = EXAMPLE.replace(/^  admins: /m, '  operators: ');
  // ops-http and ops-https merged into one rule for ports 80 and 443.
  const merged = CATALOG.replace(/  - id: ops-https\n[\s\S]*?(?=  - id: ops-simba\n)/, '').replace('    ports: [80]\n    transport: tcp\n    from: [users]', '    ports: [80, 443]\n    transport: tcp\n    from: [users]');
  for (const [what, catalog, profile] of [
    ['rule renamed', renamedRule, EXAMPLE],
    ['group renamed', renamedGroup, profileForGroup],
    ['rules merged', merged, EXAMPLE],
  ] as const) {
    assert.is.not(catalog, CATALOG, `test setup: ${what}`);
    const after = render(profile, catalog)['main.tf'];
    assert.equal(resourceKeys(after), keys, `${what}: the same resource addresses`);
  }
  // The group rename does change what the rules say about themselves (in place).
  assert.is.not(render(profileForGroup, renamedGroup)['main.tf'], before);
});

test('quota at the boundary: 300 inbound IPv4 rules fit in 5 groups of 60, 301 fail naming both numbers', () => {
  // One inbound rule from N single addresses on one port: N AWS rules, plus
  // the egress allow-all rules (outbound, not counted here).
  const ir = (n: number): IR => ({
    environment: 'edge',
    catalog: { name: 'synthetic' },
    host: 'nodes',
    egress: 'allow',
    sets: [{ name: 'peers_v4', group: 'peers', family: 'ipv4', cidrs: Array.from({ length: n }, (_, i) => ({ family: 'ipv4' as const, base: BigInt(0x0a000000 + i * 2), prefix: 32 })) }],
    rules: [{ id: 'in-peers-v4-tcp', direction: 'ingress', scope: 'host', family: 'ipv4', transport: 'tcp', source: 'peers_v4', sourceGroup: 'peers', destinationGroup: 'nodes', ports: [{ lo: 22, hi: 22 }], provenance: [], antiLockout: false }],
    icmp: { ingress: { ipv4: [], ipv6: [] }, egress: { ipv4: [], ipv6: [] } },
    hostPolicy: { platform: 'none', baseline: [], trustedInterfaces: [], counters: false, nftables: { priority: 0 }, iptables: { hook: 'first' }, firewalld: { interfaces: [] } },
    features: {},
    params: {},
  });
  const max = AWS_RULES_PER_GROUP * AWS_GROUPS_PER_INTERFACE;
  const fits = packRules(ir(max), awsRules(ir(max)));
  assert.equal(fits.map((p) => p.count.ingress.ipv4), [60, 60, 60, 60, 60]);
  assert.throws(
    () => packRules(ir(max + 1), awsRules(ir(max + 1))),
    (e: unknown) => e instanceof TargetLimitError && /needs 301 inbound IPv4 security group rules, .*60 per group x 5 groups = 300/.test((e as Error).message),
  );
});

test('prefix lists: terraform.prefix_lists puts a group in managed prefix lists; the same flows as the CIDR rules, counted by max entries', async () => {
  const base = EXAMPLE.replace('admins:      [198.51.100.0/24,', 'admins:      [198.51.100.0/24, 203.0.113.0/28,');
  assert.is.not(base, EXAMPLE);
  const withLists = base.replace(/^terraform: \{ (.*) \}$/m, 'terraform: { $1, prefix_lists: [admins] }');
  assert.is.not(withLists, base, 'test setup: the terraform block');
  const plain = render(base);
  const lists = render(withLists);
  assert.match(lists['main.tf'], /^resource "aws_ec2_managed_prefix_list" "admins_v4" \{$/m);
  assert.match(lists['main.tf'], /^  max_entries    = 2$/m);
  assert.not.match(lists['main.tf'], /cidr = "203\.0\.113\.0\/28"/, 'no admin address in a rule');
  const fmt = fmtCheck(writeModule(lists, 'pl-fmt'));
  assert.is(fmt.code, 0, fmt.out);
  // Terraform's own reading of the new list: one rule per port range and list.
  const pl = consoleEval(lists['main.tf'], '{ for r in local.ingress_prefix_lists : r.key => r.pl }');
  assert.is(pl['tcp/22/pl:admins_v4'], 'admins_v4');
  assert.is(pl['tcp/22/pl:admins_v6'], 'admins_v6');
  const a = await loadModule(writeModule(plain, 'pl-a'));
  const b = await loadModule(writeModule(lists, 'pl-b'));
  // AWS counts a prefix list reference as its max entries: the same totals.
  const counts = (m: SgModule) => (m.rules.filter((r) => r.direction === 'ingress' && (r.cidrIpv4 || r.prefixList?.family === 'ipv4')).reduce((n, r) => n + (r.prefixList ? r.prefixList.maxEntries : 1), 0));
  assert.is(counts(b), counts(a));
  const quotaLines = (t: string) => t.split('\n').filter((l) => /^#   nodes(_\d)?: in /.test(l));
  assert.equal(quotaLines(lists['main.tf']), quotaLines(plain['main.tf']), 'the quota summary counts max entries');
  const members = ['10.20.0.11', '10.20.0.12', '10.20.0.13'];
  const peers = ['198.51.100.0', '198.51.100.255', '203.0.113.0', '203.0.113.15', '203.0.113.16', '2001:db8:ad::1', '2001:db8:ae::1', '192.0.2.9', '10.20.0.11'];
  const ports = [...new Set([21, 22, 23, 80, 443, 2101, 2181, 4021, 4853, 12345, 12346])];
  let checked = 0;
  const diffs: string[] = [];
  for (const peer of peers)
    for (const direction of ['ingress', 'egress'] as const)
      for (const protocol of ['tcp', 'udp'] as const)
        for (const port of ports) {
          const f: Flow = { direction, peer, protocol, port };
          checked++;
          if (!!allows(a, f, members) !== !!allows(b, f, members)) diffs.push(`${direction} ${protocol} ${peer}:${port}`);
        }
  assert.equal(diffs, []);
  assert.ok(checked > 300);
  // An unknown group, or the nodes themselves, is a positioned error.
  for (const [bad, msg] of [
    ['prefix_lists: [admin]', /unknown group 'admin' in terraform\.prefix_lists/],
    ['prefix_lists: [nodes]', /'nodes' is the host group/],
  ] as const) {
    const r = compile({ profile: { path: 'p.yaml', text: withLists.replace('prefix_lists: [admins]', bad) }, targets: ['terraform-aws'] });
    assert.is(r.ok, false);
    if (!r.ok) assert.match(r.diagnostics[0].message, msg);
  }
});

test.run();
