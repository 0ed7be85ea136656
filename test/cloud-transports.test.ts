// The cloud targets and the transports beyond TCP/UDP
// (fixtures/catalogs/transports.yaml): what terraform-aws and azure-nsg
// render, checked by the tools and the interpreters (test/helpers/
// aws-sg-model.ts, azure-nsg-model.ts), and what each refuses, positioned
// at the catalog rule's `transport`, with nothing written.
//
// terraform-aws renders every transport but port-limited SCTP (AWS matches
// protocol 132 on every port), so its module is checked on the transports
// catalog with the SCTP row opening every port; the real catalog's refusal
// is checked too. azure-nsg compiles transports-azure.yaml (the golden one).
//
// Needs /usr/local/bin/terraform (or terraform on PATH); never runs
// `terraform init`.

import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import Ajv from 'ajv';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { compile } from '../src/compile';
import { awsProtocol, awsRefusal } from '../src/targets/terraform-aws/render';
import { nsgIcmpRefusal, nsgProtocolRefusal } from '../src/targets/azure-nsg/render';
import { TRANSPORTS } from '../src/transports';
import type { Rule } from '../src/ir/types';
import { allows, Flow, loadModule, SgModule } from './helpers/aws-sg-model';
import { AzureEnv, Flow as NsgFlow, NsgModel } from './helpers/azure-nsg-model';
import { fixture, ROOT, runCli } from './helpers/cli';

const TERRAFORM = fs.existsSync('/usr/local/bin/terraform') ? '/usr/local/bin/terraform' : 'terraform';
const TF_ENV = { ...process.env, TF_CLI_CONFIG_FILE: '', TF_IN_AUTOMATION: '1', CHECKPOINT_DISABLE: '1' };

const tmpDirs: string[] = [];
function tmpDir(tag: string): string {
  const d = fs.mkdtempSync(path.join(os.tmpdir(), `pct-cloud-${tag}-`));
  tmpDirs.push(d);
  return d;
}
test.after(() => {
  for (const d of tmpDirs) fs.rmSync(d, { recursive: true, force: true });
});

const read = (p: string) => fs.readFileSync(p, 'utf8');
const CATALOG_REL = 'fixtures/catalogs/transports.yaml';
const PROFILE_REL = 'fixtures/profiles/transports.yaml';
const CATALOG = read(path.join(ROOT, CATALOG_REL));
const PROFILE = read(path.join(ROOT, PROFILE_REL));
const AZ_CATALOG = read(fixture('catalogs', 'transports-azure.yaml'));
const AZ_PROFILE = read(fixture('profiles', 'transports-azure.yaml'));

/** The transports catalog with its SCTP row opening every SCTP port: what
 * an AWS security group can express. */
const CATALOG_SCTP_ALL = CATALOG.replace('    ports: [9899]\n    transport: sctp\n', '    ports: ["1-65535"]\n    transport: sctp\n');

/** 1-based line and column of the value of the `transport:` key of catalog rule `id`. */
function transportPos(catalog: string, id: string): { line: number; col: number } {
  const lines = catalog.split('\n');
  const start = lines.findIndex((l) => l === `  - id: ${id}`);
  assert.ok(start >= 0, `rule ${id} in the catalog`);
  for (let i = start + 1; i < lines.length && !lines[i].startsWith('  - id: '); i++) {
    const m = /^(    transport: )/.exec(lines[i]);
    if (m) return { line: i + 1, col: m[1].length + 1 };
  }
  throw new Error(`rule ${id} has no transport key`);
}

function files(target: 'terraform-aws' | 'azure-nsg', profile: string, catalog: string): Record<string, string> {
  const r = compile({ profile: { path: 'p.yaml', text: profile }, catalog: { path: 'c.yaml', text: catalog }, targets: [target] });
  if (!r.ok) throw new Error(r.diagnostics.map((d) => `${d.pos?.line}:${d.pos?.col} ${d.message}`).join('\n'));
  return Object.fromEntries(r.files.map((f) => [f.path.split('/').slice(2).join('/'), f.content]));
}

function writeModule(fs_: Record<string, string>, tag: string): string {
  const dir = tmpDir(tag);
  for (const [name, content] of Object.entries(fs_)) fs.writeFileSync(path.join(dir, name), content);
  return dir;
}

/** The console prints a string value Go-quoted; the module's strings are ASCII. */
function goUnquote(q: string): string {
  assert.ok(q.startsWith('"') && q.endsWith('"'), `not a quoted string: ${q.slice(0, 80)}`);
  return JSON.parse(q.replace(/\\x([0-9a-fA-F]{2})/g, '\\u00$1'));
}

/** The data `locals` block of main.tf evaluated by `terraform console`. */
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

const NODES = ['10.20.0.11', '10.20.0.12', '2001:db8:20::11'];
/** The transports profile has no terraform block: the module's inputs. */
const VARS = { name: 'pct-transports', vpc_id: 'vpc-0123456789abcdef0' };

// ================================================================ terraform-aws

test('terraform-aws: ip_protocol per transport (names for tcp/udp/icmp/icmpv6, else the protocol number)', () => {
  const want: Record<string, string> = { tcp: 'tcp', udp: 'udp', icmp: 'icmp', icmpv6: 'icmpv6', sctp: '132', esp: '50', ah: '51', gre: '47', ipip: '4', vrrp: '112' };
  for (const t of TRANSPORTS) assert.is(awsProtocol(t), want[t], t);
});

test('terraform-aws: the transports catalog is refused at the SCTP rule (AWS cannot limit SCTP ports), exit 2, nothing written', () => {
  const out = tmpDir('out');
  const r = runCli(['compile', '--catalog', CATALOG_REL, '--profile', PROFILE_REL, '--target', 'terraform-aws', '--out-dir', out]);
  assert.is(r.code, 2, r.stdout + r.stderr);
  const { line, col } = transportPos(CATALOG, 'sctp');
  assert.ok(
    r.stderr.startsWith(`${CATALOG_REL}:${line}:${col}: error: target terraform-aws: rule 'in-nodes-v4-sctp' (T2.3): SCTP ports 9899 cannot be expressed`),
    r.stderr,
  );
  assert.match(r.stderr, /hint: open every SCTP port in the catalog rule/);
  assert.equal(fs.readdirSync(out), []);
});

test('terraform-aws: awsRefusal refuses only port-limited SCTP; whole-range SCTP and every other transport render', () => {
  const rule = (transport: Rule['transport'], ports: Rule['ports']): Rule =>
    ({ id: 'r', direction: 'ingress', scope: 'host', family: 'ipv4', transport, sourceGroup: 'a', destinationGroup: 'n', ports, provenance: [], antiLockout: false }) as Rule;
  assert.ok(awsRefusal(rule('sctp', [{ lo: 9899, hi: 9899 }])));
  assert.ok(awsRefusal(rule('sctp', [{ lo: 1, hi: 65534 }])));
  assert.is(awsRefusal(rule('sctp', [{ lo: 1, hi: 65535 }])), undefined);
  for (const t of ['tcp', 'udp', 'icmp', 'icmpv6', 'esp', 'ah', 'gre', 'ipip', 'vrrp'] as const) assert.is(awsRefusal(rule(t, [{ lo: 0, hi: 0 }])), undefined, t);
  // Under egress: allow, outbound SCTP is covered by the allow-all rules: no refusal.
  const allow = PROFILE.replace('egress: restrict', 'egress: allow');
  const onlyEgressSctp = CATALOG.replace(/  - id: sctp\n[\s\S]*?    to: \[nodes\]\n/, (b) => b.replace('    from: [nodes]\n    to: [nodes]\n', '    from: [nodes]\n    to: [resolvers]\n'));
  assert.is.not(onlyEgressSctp, CATALOG, 'test setup');
  files('terraform-aws', allow, onlyEgressSctp);
});

async function transportsModule(): Promise<{ tf: Record<string, string>; dir: string; mod: SgModule }> {
  const tf = files('terraform-aws', PROFILE, CATALOG_SCTP_ALL);
  const dir = writeModule(tf, 'transports');
  return { tf, dir, mod: await loadModule(dir, VARS) };
}

test('terraform-aws transports: terraform fmt -check is clean; same input, same bytes', () => {
  const tf = files('terraform-aws', PROFILE, CATALOG_SCTP_ALL);
  const dir = writeModule(tf, 'fmt');
  const r = spawnSync(TERRAFORM, ['fmt', '-check', '-diff', '-recursive', dir], { encoding: 'utf8', env: TF_ENV });
  assert.is(r.status, 0, r.stdout + r.stderr);
  assert.equal(files('terraform-aws', PROFILE, CATALOG_SCTP_ALL), tf);
});

test('terraform-aws transports: terraform console builds every for_each map; keys, protocols and ports as the interpreter reads them', async () => {
  const { tf, mod } = await transportsModule();
  const lists = ['ingress_ipv4', 'ingress_ipv6', 'ingress_nodes', 'egress_ipv4', 'egress_ipv6', 'egress_nodes'];
  const maps = consoleEval(tf['main.tf'], `{ ${lists.map((l) => `${l} = { for r in local.${l} : r.key => r }`).join(', ')} }`);
  assert.equal(lists.flatMap((l) => Object.keys(maps[l])).sort(), mod.rules.map((r) => r.key).sort());
  for (const r of mod.rules) {
    const l = (r.direction === 'ingress' ? 'ingress_' : 'egress_') + (r.referenced ? 'nodes' : r.cidrIpv4 ? 'ipv4' : 'ipv6');
    const c = maps[l][r.key];
    assert.equal([c.ip_protocol, c.from_port, c.to_port], [r.protocol, r.from, r.to], r.key);
  }
  const byKey = new Map(mod.rules.map((r) => [`${r.direction} ${r.key}`, r]));
  const expect = (key: string, protocol: string, from: number | null, to: number | null) => {
    const r = byKey.get(key);
    assert.ok(r, `rule ${key}: ${[...byKey.keys()].join(', ')}`);
    assert.equal([r!.protocol, r!.from, r!.to], [protocol, from, to], key);
  };
  // Protocol numbers: no ports.
  expect('ingress esp/any/203.0.113.7/32', '50', null, null);
  expect('ingress ah/any/203.0.113.7/32', '51', null, null);
  expect('ingress gre/any/self', '47', null, null);
  expect('egress gre/any/self', '47', null, null);
  expect('ingress ipip/any/self', '4', null, null);
  expect('ingress vrrp/any/self', '112', null, null);
  expect('ingress sctp/1-65535/self', '132', null, null);
  expect('egress gre/any/192.0.2.70/32', '47', null, null);
  // ICMP: one rule per type, any code; -1/-1 for any type.
  expect('ingress icmp/any/198.51.100.0/24', 'icmp', -1, -1);
  expect('ingress icmp/0/192.0.2.50/32', 'icmp', 0, -1);
  expect('ingress icmp/8/192.0.2.50/32', 'icmp', 8, -1);
  expect('ingress icmp/13/192.0.2.60/32', 'icmp', 13, -1);
  expect('ingress icmpv6/128/2001:db8:4d::50/128', 'icmpv6', 128, -1);
  expect('ingress icmpv6/129/2001:db8:4d::50/128', 'icmpv6', 129, -1);
  // TCP/UDP as before.
  expect('ingress udp/500/203.0.113.7/32', 'udp', 500, 500);
  expect('ingress udp/51820-51821/self', 'udp', 51820, 51821);
  // Every key is <protocol>/<ports>/<address>.
  for (const r of mod.rules) assert.match(r.key, /^(all|[a-z0-9]+\/[a-z0-9-]+)\/(self|pl:\S+|[0-9a-f.:]+\/\d+)$/, r.key);
  // The rules counted per group as the header says (a self rule counts in both families).
  const count = (d: string, fam: 'ipv4' | 'ipv6') => mod.rules.filter((r) => r.direction === d && (r.referenced || (fam === 'ipv4' ? r.cidrIpv4 : r.cidrIpv6))).length;
  assert.ok(tf['main.tf'].includes(`#   nodes: in ${count('ingress', 'ipv4')} IPv4 / ${count('ingress', 'ipv6')} IPv6, out ${count('egress', 'ipv4')} IPv4 / ${count('egress', 'ipv6')} IPv6\n`), 'quota counts in the header');
});

test('terraform-aws transports: keys are stable (a new peer address adds only its own rules)', async () => {
  const { mod } = await transportsModule();
  const more = files('terraform-aws', PROFILE.replace('vpn_peers: [203.0.113.7]', 'vpn_peers: [203.0.113.7, 203.0.113.9]'), CATALOG_SCTP_ALL);
  const mod2 = await loadModule(writeModule(more, 'more'), VARS);
  const keys = (m: SgModule) => new Set(m.rules.map((r) => `${r.resource}[${r.key}]`));
  const a = keys(mod);
  const b = keys(mod2);
  for (const k of a) assert.ok(b.has(k), `kept ${k}`);
  assert.equal([...b].filter((k) => !a.has(k)).sort(), [
    'aws_vpc_security_group_ingress_rule.in_ipv4[ah/any/203.0.113.9/32]',
    'aws_vpc_security_group_ingress_rule.in_ipv4[esp/any/203.0.113.9/32]',
    'aws_vpc_security_group_ingress_rule.in_ipv4[udp/4500/203.0.113.9/32]',
    'aws_vpc_security_group_ingress_rule.in_ipv4[udp/500/203.0.113.9/32]',
  ]);
});

test('terraform-aws: a catalog ICMP rule that repeats a baseline one has the baseline key and is merged into it (no duplicate AWS rule, no renamed resource)', async () => {
  // The ping row (echo-request and echo-reply, ICMP and ICMPv6) from
  // anywhere: echo-request from 0.0.0.0/0 and ::/0 is also a baseline rule.
  const before = files('terraform-aws', PROFILE, CATALOG_SCTP_ALL);
  const anywhere = PROFILE.replace(/^ {2}monitor: .*$/m, '  monitor: [0.0.0.0/0, "::/0"]');
  assert.is.not(anywhere, PROFILE);
  const after = files('terraform-aws', anywhere, CATALOG_SCTP_ALL);
  // The interpreter refuses two identical rules in one group, as AWS does
  // (InvalidPermission.Duplicate), and duplicate for_each keys.
  const a = await loadModule(writeModule(before, 'icmp-before'), VARS);
  const b = await loadModule(writeModule(after, 'icmp-after'), VARS);
  const addr = (m: SgModule) => new Map(m.rules.map((r) => [`${r.resource}[${r.key}]`, r]));
  const ka = addr(a);
  const kb = addr(b);
  // Every resource stays where it was (same key, same group, same rule); only
  // the echo-reply rules from anywhere are new: the echo-request ones are the
  // baseline's, keyed by name, not by number.
  // (The monitor's own addresses are inside the new blocks: minimal CIDR
  // form drops them.)
  const monitor = /\/(192\.0\.2\.50\/32|2001:db8:4d::50\/128)\]$/;
  assert.equal([...ka.keys()].filter((k) => !kb.has(k)).sort(), [...ka.keys()].filter((k) => monitor.test(k)).sort());
  for (const [k, r] of ka) {
    if (monitor.test(k)) continue;
    assert.ok(kb.has(k), `kept ${k}`);
    assert.equal([kb.get(k)!.group, kb.get(k)!.protocol, kb.get(k)!.from, kb.get(k)!.to], [r.group, r.protocol, r.from, r.to], k);
  }
  // (The monitor's other rows, SNMP, are new from anywhere too.)
  assert.equal([...kb.keys()].filter((k) => !ka.has(k) && /\[icmp/.test(k)).sort(), [
    'aws_vpc_security_group_ingress_rule.in_ipv4[icmp/0/0.0.0.0/0]',
    'aws_vpc_security_group_ingress_rule.in_ipv6[icmpv6/129/::/0]',
  ]);
  assert.not.ok([...kb.keys()].some((k) => /icmp\/8\/0\.0\.0\.0\/0|icmpv6\/128\/::\/0/.test(k)), 'no numbered twin of a baseline rule');
  // The merged rule cites both: the baseline first, then the catalog row.
  const echo = kb.get('aws_vpc_security_group_ingress_rule.in_ipv4[icmp/echo-request/0.0.0.0/0]')!;
  assert.match(echo.description, /^icmp-in-v4 echo-request \(type 8\) - ICMP that IPv4 needs \+ in-monitor-v4-icmp T1\.2: Ping/);
  assert.is(ka.get('aws_vpc_security_group_ingress_rule.in_ipv4[icmp/echo-request/0.0.0.0/0]')!.description, 'icmp-in-v4 echo-request (type 8) - ICMP that IPv4 needs');
  // Exactly one AWS rule per (group, direction, protocol, type, code, peer).
  const sigs = b.rules.map((r) => [r.group, r.direction, r.protocol, r.from, r.to, r.cidrIpv4 ?? r.cidrIpv6 ?? r.referenced].join('|'));
  assert.is(new Set(sigs).size, sigs.length);
  // The header's quota counts agree with the rules (the duplicate is not counted).
  const n = (m: SgModule, fam: 'ipv4' | 'ipv6') => m.rules.filter((r) => r.direction === 'ingress' && (r.referenced || (fam === 'ipv4' ? r.cidrIpv4 : r.cidrIpv6))).length;
  assert.match(after['main.tf'], new RegExp(`#   nodes: in ${n(b, 'ipv4')} IPv4 / ${n(b, 'ipv6')} IPv6,`));
  // terraform console builds the for_each maps (no duplicate key).
  const maps = consoleEval(after['main.tf'], '{ v4 = { for r in local.ingress_ipv4 : r.key => r }, v6 = { for r in local.ingress_ipv6 : r.key => r } }');
  assert.is(maps.v4['icmp/echo-request/0.0.0.0/0'].from_port, 8);
  assert.is(maps.v6['icmpv6/echo-request/::/0'].from_port, 128);
});

test('terraform-aws transports: interpreter verdicts per transport, allowed and denied', async () => {
  const { mod } = await transportsModule();
  const cases: [Flow, boolean][] = [
    // ESP and AH only from the IPsec peer.
    [{ direction: 'ingress', peer: '203.0.113.7', protocol: 'esp' }, true],
    [{ direction: 'ingress', peer: '203.0.113.8', protocol: 'esp' }, false],
    [{ direction: 'ingress', peer: '198.51.100.5', protocol: 'esp' }, false],
    [{ direction: 'ingress', peer: '10.20.0.12', protocol: 'esp' }, false],
    [{ direction: 'ingress', peer: '203.0.113.7', protocol: 'ah' }, true],
    [{ direction: 'ingress', peer: '192.0.2.50', protocol: 'ah' }, false],
    [{ direction: 'ingress', peer: '203.0.113.7', protocol: 'gre' }, false],
    [{ direction: 'egress', peer: '203.0.113.7', protocol: 'esp' }, false],
    // IKE / NAT-T next to ESP.
    [{ direction: 'ingress', peer: '203.0.113.7', protocol: 'udp', port: 500 }, true],
    [{ direction: 'ingress', peer: '203.0.113.7', protocol: 'udp', port: 4500 }, true],
    [{ direction: 'ingress', peer: '203.0.113.7', protocol: 'udp', port: 501 }, false],
    [{ direction: 'ingress', peer: '203.0.113.7', protocol: 'tcp', port: 500 }, false],
    // ICMP: echo from monitoring (and from anywhere: the baseline); timestamp
    // only from the extra_ingress poller and from admins (any type).
    [{ direction: 'ingress', peer: '192.0.2.50', protocol: 'icmp', icmpType: 8, icmpCode: 0 }, true],
    [{ direction: 'ingress', peer: '192.0.2.50', protocol: 'icmp', icmpType: 0, icmpCode: 0 }, true],
    [{ direction: 'ingress', peer: '192.0.2.99', protocol: 'icmp', icmpType: 0, icmpCode: 0 }, false],
    [{ direction: 'ingress', peer: '192.0.2.50', protocol: 'icmp', icmpType: 13, icmpCode: 0 }, false],
    [{ direction: 'ingress', peer: '192.0.2.60', protocol: 'icmp', icmpType: 13, icmpCode: 0 }, true],
    [{ direction: 'ingress', peer: '192.0.2.60', protocol: 'icmp', icmpType: 14, icmpCode: 0 }, false],
    [{ direction: 'ingress', peer: '198.51.100.9', protocol: 'icmp', icmpType: 13, icmpCode: 0 }, true],
    [{ direction: 'ingress', peer: '198.51.100.9', protocol: 'icmp', icmpType: 5, icmpCode: 1 }, true],
    [{ direction: 'ingress', peer: '203.0.113.7', protocol: 'icmp', icmpType: 5, icmpCode: 1 }, false],
    // ICMPv6: echo reply only from monitoring (the baseline has echo-request).
    [{ direction: 'ingress', peer: '2001:db8:4d::50', protocol: 'icmpv6', icmpType: 129, icmpCode: 0 }, true],
    [{ direction: 'ingress', peer: '2001:db8:ad::1', protocol: 'icmpv6', icmpType: 129, icmpCode: 0 }, false],
    [{ direction: 'ingress', peer: '2001:db8:ad::1', protocol: 'icmpv6', icmpType: 128, icmpCode: 0 }, true],
    [{ direction: 'ingress', peer: '2001:db8:ad::1', protocol: 'icmp', icmpType: 8, icmpCode: 0 }, false],
    // Node-to-node GRE, IP-in-IP, VRRP, SCTP (every port), both directions and families.
    ...(['gre', 'ipip', 'vrrp', 'sctp'] as const).flatMap((protocol): [Flow, boolean][] => [
      [{ direction: 'ingress', peer: '10.20.0.12', protocol, ...(protocol === 'sctp' ? { port: 9899 } : {}) }, true],
      [{ direction: 'egress', peer: '2001:db8:20::11', protocol, ...(protocol === 'sctp' ? { port: 1 } : {}) }, true],
      [{ direction: 'ingress', peer: '198.51.100.5', protocol, ...(protocol === 'sctp' ? { port: 9899 } : {}) }, false],
      [{ direction: 'egress', peer: '10.20.1.53', protocol, ...(protocol === 'sctp' ? { port: 9899 } : {}) }, false],
    ]),
    // The extra_egress GRE tunnel, and nothing else to that address.
    [{ direction: 'egress', peer: '192.0.2.70', protocol: 'gre' }, true],
    [{ direction: 'egress', peer: '192.0.2.71', protocol: 'gre' }, false],
    [{ direction: 'egress', peer: '192.0.2.70', protocol: 'esp' }, false],
    [{ direction: 'egress', peer: '192.0.2.70', protocol: 'ipip' }, false],
    // Outbound DNS/NTP.
    [{ direction: 'egress', peer: '10.20.1.53', protocol: 'udp', port: 123 }, true],
    [{ direction: 'egress', peer: '10.20.1.53', protocol: 'tcp', port: 123 }, false],
  ];
  for (const [flow, want] of cases) assert.is(!!allows(mod, flow, NODES), want, JSON.stringify(flow));
});

test('terraform-aws transports: the interpreter refuses what AWS would read differently', async () => {
  const { tf } = await transportsModule();
  const bad = async (edit: (s: string) => string, why: RegExp) => {
    const main = edit(tf['main.tf']);
    assert.is.not(main, tf['main.tf'], `test setup: ${why}`);
    try {
      await loadModule(writeModule({ ...tf, 'main.tf': main }, 'bad'), VARS);
      assert.unreachable(`accepted: ${why}`);
    } catch (e) {
      if ((e as Error).name === 'Assertion') throw e;
      assert.match((e as Error).message, why);
    }
  };
  await bad((s) => s.replace('ip_protocol = "50", from_port = null, to_port = null', 'ip_protocol = "50", from_port = 0, to_port = 0'), /protocol 50 with ports/);
  await bad((s) => s.replace('ip_protocol = "132", from_port = null, to_port = null', 'ip_protocol = "132", from_port = 9899, to_port = 9899'), /protocol 132 with ports/);
  await bad((s) => s.replace(/ip_protocol = "udp"/, 'ip_protocol = "17"'), /protocol 17 written as a number/);
  await bad((s) => s.replace('ip_protocol = "icmp", from_port = -1, to_port = -1', 'ip_protocol = "icmp", from_port = -1, to_port = 0'), /all ICMP types with code 0/);
  await bad((s) => s.replace('ip_protocol = "47"', 'ip_protocol = "gre"'), /unexpected protocol gre/);
});

// ================================================================ azure-nsg

const ENV: AzureEnv = { virtualNetwork: ['10.20.0.0/16', 'fd00:20::/48'] };

test('azure-nsg: the transports catalog is refused at the first rule NSGs have no protocol for (GRE), exit 2, nothing written', () => {
  const out = tmpDir('az-out');
  const r = runCli(['compile', '--catalog', CATALOG_REL, '--profile', PROFILE_REL, '--target', 'azure-nsg', '--out-dir', out]);
  assert.is(r.code, 2, r.stdout + r.stderr);
  const { line, col } = transportPos(CATALOG, 'gre');
  assert.ok(r.stderr.startsWith(`${CATALOG_REL}:${line}:${col}: error: target azure-nsg: rule 'in-nodes-v4-gre' (T2.4): Azure NSGs have no GRE (IP protocol 47)`), r.stderr);
  assert.match(r.stderr, new RegExp(`\\n\\s*${line} \\|     transport: gre\\n`));
  assert.match(r.stderr, /hint: drop the rule for azure-nsg/);
  assert.match(r.stderr, /1 error; nothing written\./);
  assert.equal(fs.readdirSync(out), []);
});

test('azure-nsg: SCTP, GRE, IP-in-IP and VRRP are each refused at their own rule', () => {
  for (const [id, title, n] of [
    ['sctp', 'SCTP', 132],
    ['gre', 'GRE', 47],
    ['ipip', 'IP-in-IP', 4],
    ['vrrp', 'VRRP', 112],
  ] as const) {
    // The catalog with the other three (and the profile's GRE entry) gone.
    let cat = CATALOG;
    for (const other of ['sctp', 'gre', 'ipip', 'vrrp'].filter((x) => x !== id)) cat = cat.replace(new RegExp(`  - id: ${other}\\n[\\s\\S]*?(?=  - id: )`), '');
    const profile = PROFILE.replace(/extra_egress:[\s\S]*$/, '');
    const r = compile({ profile: { path: PROFILE_REL, text: profile }, catalog: { path: CATALOG_REL, text: cat }, targets: ['azure-nsg'] });
    assert.not.ok(r.ok, id);
    const d = r.diagnostics[0];
    const pos = transportPos(cat, id);
    assert.equal([d.file, d.pos?.line, d.pos?.col], [CATALOG_REL, pos.line, pos.col], id);
    assert.ok(d.message.startsWith(`target azure-nsg: rule 'in-nodes-v4-${id}'`) && d.message.includes(`Azure NSGs have no ${title} (IP protocol ${n})`), d.message);
  }
});

test('azure-nsg: ICMP limited to types is refused with the hint; ICMPv6 with types is not (NSGs do not filter it)', () => {
  // Only what an NSG can express, except the typed ICMP of the ping row.
  const cat = AZ_CATALOG.replace('    transport: [icmp, icmpv6]\n', '    transport: [icmp, icmpv6]\n    icmp_types: [echo-request, echo-reply]\n');
  assert.is.not(cat, AZ_CATALOG, 'test setup');
  const r = compile({ profile: { path: 'fixtures/profiles/transports-azure.yaml', text: AZ_PROFILE }, catalog: { path: 'fixtures/catalogs/transports-azure.yaml', text: cat }, targets: ['azure-nsg'] });
  assert.not.ok(r.ok);
  const d = r.diagnostics[0];
  const pos = transportPos(cat, 'ping');
  assert.equal([d.file, d.pos?.line, d.pos?.col], ['fixtures/catalogs/transports-azure.yaml', pos.line, pos.col]);
  assert.match(d.message, /^target azure-nsg: rule 'in-monitor-v4-icmp' \(T1\.2\): ICMP types cannot be expressed: Azure NSGs match ICMP as a whole/);
  assert.is(d.hint, 'allow every ICMP type (omit icmp_types) or drop the rule for azure-nsg');
  // ICMPv6 only, with types: compiles, no NSG rule.
  const v6 = AZ_CATALOG.replace('    transport: [icmp, icmpv6]\n', '    transport: icmpv6\n    icmp_types: [echo-request]\n');
  const doc = JSON.parse(files('azure-nsg', AZ_PROFILE, v6)['nsg.json']);
  assert.ok(doc.metadata.notFiltered['in-monitor-v6-icmpv6'], 'listed under notFiltered');
  assert.not.ok(doc.resources[0].properties.securityRules.some((x: any) => x.name.includes('icmpv6')));
});

test('azure-nsg: nsgProtocolRefusal / nsgIcmpRefusal per transport', () => {
  const rule = (transport: Rule['transport'], ports: Rule['ports']): Rule =>
    ({ id: 'r', direction: 'ingress', scope: 'host', family: transport === 'icmpv6' ? 'ipv6' : 'ipv4', transport, sourceGroup: 'a', destinationGroup: 'n', ports, provenance: [], antiLockout: false }) as Rule;
  const refused = (t: Rule['transport'], ports = [{ lo: 0, hi: 0 }]) => !!(nsgProtocolRefusal(rule(t, ports)) ?? nsgIcmpRefusal(rule(t, ports)));
  for (const t of ['tcp', 'udp', 'esp', 'ah'] as const) assert.not.ok(refused(t), t);
  for (const t of ['sctp', 'gre', 'ipip', 'vrrp'] as const) assert.ok(refused(t), t);
  assert.not.ok(refused('icmp', [{ lo: 0, hi: 255 }]));
  assert.ok(refused('icmp', [{ lo: 8, hi: 8 }]));
  assert.not.ok(refused('icmpv6', [{ lo: 128, hi: 128 }]));
  assert.not.ok(refused('icmpv6', [{ lo: 0, hi: 255 }]));
});

const ajv = new Ajv({ allErrors: true, strict: true, strictRequired: false });
const validateSchema = ajv.compile(JSON.parse(read(path.join(ROOT, 'test', 'schemas', 'azure-nsg-template.schema.json'))));

/** Whether the document satisfies the schema (no type narrowing). */
const validate = (doc: unknown): boolean => validateSchema(doc) as boolean;
const schemaErrors = () => ajv.errorsText(validateSchema.errors);

function azDoc(): any {
  return JSON.parse(files('azure-nsg', AZ_PROFILE, AZ_CATALOG)['nsg.json']);
}

test('azure-nsg transports-azure: schema-valid as written and with variables resolved; protocols Icmp, Esp, Ah without ports', () => {
  const doc: any = azDoc();
  assert.ok(validate(doc), schemaErrors());
  const resolved: any = structuredClone(doc);
  for (const r of resolved.resources[0].properties.securityRules)
    for (const [k, v] of Object.entries(r.properties)) {
      const m = typeof v === 'string' ? /^\[variables\('(.*)'\)\]$/.exec(v) : null;
      if (m) r.properties[k] = resolved.variables[m[1]];
    }
  assert.ok(validate(resolved), schemaErrors());
  const rules = new Map<string, any>(doc.resources[0].properties.securityRules.map((r: any) => [r.name, r.properties]));
  for (const [name, protocol] of [
    ['in-vpn_peers-v4-esp', 'Esp'],
    ['in-vpn_peers-v4-ah', 'Ah'],
    ['in-admins-v4-icmp', 'Icmp'],
    ['in-monitor-v4-icmp', 'Icmp'],
    ['in-extra_ingress_1-v4-icmp', 'Icmp'],
    ['out-extra_egress_1-v4-esp', 'Esp'],
  ]) {
    const p = rules.get(name);
    assert.ok(p, name);
    assert.equal([p.protocol, p.sourcePortRange, p.destinationPortRange, p.destinationPortRanges], [protocol, '*', '*', undefined], name);
  }
  // ICMPv6: no rule, and the template says why.
  assert.not.ok([...rules.keys()].some((n) => n.includes('icmpv6')));
  assert.match(doc.metadata.notFiltered['in-monitor-v6-icmpv6'][0], /no NSG rule \(NSGs do not filter ICMPv6/);
});

test('azure-nsg transports-azure: interpreter verdicts per transport, allowed and denied', () => {
  const m = new NsgModel(azDoc(), ENV);
  const node = '10.20.0.11';
  const cases: [NsgFlow, 'Allow' | 'Deny', string?][] = [
    [{ direction: 'Inbound', protocol: 'Esp', src: '203.0.113.7', dst: node }, 'Allow', 'in-vpn_peers-v4-esp'],
    [{ direction: 'Inbound', protocol: 'Esp', src: '203.0.113.8', dst: node }, 'Deny', 'baseline-deny-all-in'],
    [{ direction: 'Inbound', protocol: 'Esp', src: '10.20.0.12', dst: node }, 'Deny', 'baseline-deny-all-in'],
    [{ direction: 'Inbound', protocol: 'Ah', src: '203.0.113.7', dst: node }, 'Allow', 'in-vpn_peers-v4-ah'],
    [{ direction: 'Inbound', protocol: 'Ah', src: '198.51.100.5', dst: node }, 'Deny', 'baseline-deny-all-in'],
    [{ direction: 'Inbound', protocol: 'Udp', src: '203.0.113.7', dst: node, port: 4500 }, 'Allow', 'in-vpn_peers-v4-udp'],
    [{ direction: 'Inbound', protocol: 'Udp', src: '203.0.113.7', dst: node, port: 4501 }, 'Deny', 'baseline-deny-all-in'],
    // ICMP (IPv4) is allowed from anywhere by the baseline (priority 100).
    [{ direction: 'Inbound', protocol: 'Icmp', src: '198.51.100.5', dst: node }, 'Allow', 'baseline-icmp-v4'],
    [{ direction: 'Inbound', protocol: 'Icmp', src: '192.0.2.99', dst: node }, 'Allow', 'baseline-icmp-v4'],
    // ICMPv6 is not filtered.
    [{ direction: 'Inbound', protocol: 'Icmp', src: '2001:db8:4d::50', dst: '2001:db8:20::11' }, 'Allow', 'ICMPv6 (not filtered by NSGs)'],
    // Outbound (egress: restrict): the ESP tunnel, and nothing else to it.
    [{ direction: 'Outbound', protocol: 'Esp', src: node, dst: '192.0.2.70' }, 'Allow', 'out-extra_egress_1-v4-esp'],
    [{ direction: 'Outbound', protocol: 'Ah', src: node, dst: '192.0.2.70' }, 'Deny', 'baseline-deny-all-out'],
    [{ direction: 'Outbound', protocol: 'Esp', src: node, dst: '192.0.2.71' }, 'Deny', 'baseline-deny-all-out'],
    [{ direction: 'Outbound', protocol: 'Esp', src: node, dst: '203.0.113.7' }, 'Deny', 'baseline-deny-all-out'],
    [{ direction: 'Outbound', protocol: 'Icmp', src: node, dst: '192.0.2.70' }, 'Deny', 'baseline-deny-all-out'],
    [{ direction: 'Outbound', protocol: 'Udp', src: node, dst: '10.20.1.53', port: 123 }, 'Allow', 'out-resolvers-v4-udp'],
  ];
  for (const [flow, access, rule] of cases) {
    const v = m.evaluate(flow);
    assert.equal([v.access, v.rule], [access, rule], JSON.stringify(flow));
  }
  // The ICMP rules stand on their own below the baseline: without it, only admins, monitor and the poller.
  const doc: any = azDoc();
  doc.resources[0].properties.securityRules = doc.resources[0].properties.securityRules.filter((r: any) => r.name !== 'baseline-icmp-v4');
  const noBase = new NsgModel(doc, ENV);
  for (const [src, want] of [
    ['198.51.100.5', 'in-admins-v4-icmp'],
    ['192.0.2.50', 'in-monitor-v4-icmp'],
    ['192.0.2.60', 'in-extra_ingress_1-v4-icmp'],
    ['192.0.2.99', 'baseline-deny-all-in'],
  ])
    assert.is(noBase.evaluate({ direction: 'Inbound', protocol: 'Icmp', src, dst: node }).rule, want, src);
});

test.run();
