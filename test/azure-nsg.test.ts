// azure-nsg backend: the ARM template is valid JSON in canonical form,
// passes a JSON Schema written from Azure's documented constraints, matches
// its golden file, and, read back by an NSG interpreter, allows exactly what
// an independent reading of the catalog and profile expects. Priorities are
// stable; one more node address is one more list element; limits fail
// clearly; hostile text stays data.
import * as fs from 'fs';
import * as path from 'path';
import Ajv from 'ajv';
import * as fc from 'fast-check';
import * as ipaddr from 'ipaddr.js';
import * as yaml from 'js-yaml';
import { createTwoFilesPatch } from 'diff';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { compile, load } from '../src/compile';
import {
  allocatePriorities,
  armLiteral,
  AZURE_LIMITS,
  AzureLimitError,
  buildNsg,
  clip,
  homePriority,
  PRIORITY,
  ruleName,
} from '../src/targets/azure-nsg/render';
import { TargetLimitError } from '../src/targets/base';
import type { IR, Rule } from '../src/ir/types';
import { AzureEnv, Flow, NsgModel, Protocol } from './helpers/azure-nsg-model';
import { fixture, ROOT, runCli } from './helpers/cli';

const CATALOG_PATH = path.join(ROOT, 'catalog', 'thoughtspot.yaml');
const CATALOG = fs.readFileSync(CATALOG_PATH, 'utf8');
const GOLDEN = path.join(ROOT, 'fixtures', 'golden', 'prod-east', 'azure-nsg', 'nsg.json');
const SCHEMA = JSON.parse(fs.readFileSync(path.join(ROOT, 'test', 'schemas', 'azure-nsg-template.schema.json'), 'utf8'));

const read = (p: string) => fs.readFileSync(p, 'utf8');
const EXAMPLE = read(fixture('profiles', 'example.yaml'));
const RESTRICT = read(fixture('profiles', 'azure-restrict.yaml'));
const PLUS_NODE = read(fixture('profiles', 'azure-plus-node.yaml'));

/** The VNets the example profiles are assumed to live in. */
const ENV_EXAMPLE: AzureEnv = { virtualNetwork: ['10.20.0.0/16', 'fd00:20::/48'] };
const ENV_RESTRICT: AzureEnv = { virtualNetwork: ['10.30.0.0/16', 'fd00:30::/32'] };

function nsgJson(profile: string, catalog?: string): string {
  const r = compile({ profile: { path: 'profile.yaml', text: profile }, catalog: catalog ? { path: 'catalog.yaml', text: catalog } : undefined, targets: ['azure-nsg'] });
  if (!r.ok) throw new Error(r.diagnostics.map((d) => `${d.pos?.line}:${d.pos?.col} ${d.message}`).join('\n'));
  assert.equal(r.files.map((f) => f.path), [`${r.environment}/azure-nsg/nsg.json`]);
  return r.files[0].content;
}

type SecurityRule = { name: string; properties: Record<string, any> };
const securityRules = (doc: any): SecurityRule[] => doc.resources.find((r: any) => r.type === 'Microsoft.Network/networkSecurityGroups').properties.securityRules;
const priorities = (doc: any) => new Map(securityRules(doc).map((r) => [r.name, `${r.properties.direction}/${r.properties.priority}`]));

// ---------------------------------------------------------------- format

test('golden: the example profile gives fixtures/golden/prod-east/azure-nsg/nsg.json byte for byte', () => {
  const out = nsgJson(EXAMPLE);
  if (process.env.UPDATE_GOLDEN) {
    fs.mkdirSync(path.dirname(GOLDEN), { recursive: true });
    fs.writeFileSync(GOLDEN, out);
  }
  const golden = read(GOLDEN);
  if (out !== golden) assert.unreachable(createTwoFilesPatch('golden/nsg.json', 'actual/nsg.json', golden, out) + '\n(UPDATE_GOLDEN=1 npm test rewrites it; review the diff)');
  // The product's own drift check agrees.
  const r = runCli(['compile', '--profile', fixture('profiles', 'example.yaml'), '--target', 'azure-nsg', '--out-dir', path.join(ROOT, 'fixtures', 'golden'), '--check']);
  assert.is(r.code, 0, r.stdout + r.stderr);
});

test('output is canonical JSON: 2-space indent, key order as emitted, trailing newline; same input, same bytes', () => {
  for (const profile of [EXAMPLE, RESTRICT]) {
    const out = nsgJson(profile);
    assert.is(out, JSON.stringify(JSON.parse(out), null, 2) + '\n');
    assert.is(nsgJson(profile), out);
  }
  const doc = JSON.parse(nsgJson(EXAMPLE));
  assert.equal(Object.keys(doc), ['$schema', 'contentVersion', 'metadata', 'parameters', 'variables', 'resources', 'outputs']);
  assert.is(doc.$schema, 'https://schema.management.azure.com/schemas/2019-04-01/deploymentTemplate.json#');
  assert.is(doc.resources[0].type, 'Microsoft.Network/networkSecurityGroups');
});

test('the variants of the example profile (same policy, typed differently) give the same bytes', () => {
  const want = nsgJson(EXAMPLE);
  const dir = path.join(ROOT, 'fixtures', 'profiles', 'variants');
  for (const f of fs.readdirSync(dir).sort()) {
    const got = nsgJson(read(path.join(dir, f)));
    if (got !== want) assert.unreachable(`${f}:\n${createTwoFilesPatch('example', f, want, got)}`);
  }
});

test('parameters: defaults from the profile azure: block; else nsgName required, location from the resource group', () => {
  const ex = JSON.parse(nsgJson(EXAMPLE));
  assert.is(ex.parameters.nsgName.defaultValue, 'ts-prod-nsg');
  assert.is(ex.parameters.location.defaultValue, 'eastus');
  const rs = JSON.parse(nsgJson(RESTRICT));
  assert.is(rs.parameters.nsgName.defaultValue, undefined);
  assert.is(rs.parameters.location.defaultValue, '[resourceGroup().location]');
  assert.is(rs.resources[0].name, "[parameters('nsgName')]");
  assert.is(rs.resources[0].location, "[parameters('location')]");
});

// ---------------------------------------------------------------- schema

// strictRequired off: "exactly one of" is written as oneOf of `required`s.
const ajv = new Ajv({ allErrors: true, strict: true, strictRequired: false });
const validate = ajv.compile(SCHEMA);
const errorsOf = (doc: unknown) => (validate(doc) ? '' : ajv.errorsText(validate.errors, { separator: '\n' }));

/** The template with every variables('x') reference replaced by its list. */
function resolved(doc: any): any {
  const copy = structuredClone(doc);
  for (const r of securityRules(copy))
    for (const [k, v] of Object.entries(r.properties)) {
      const m = typeof v === 'string' ? /^\[variables\('(.*)'\)\]$/.exec(v) : null;
      if (m) r.properties[k] = copy.variables[m[1]];
    }
  return copy;
}

test('schema: the outputs (as written and with variables resolved) satisfy Azure\'s documented constraints', () => {
  for (const profile of [EXAMPLE, RESTRICT, PLUS_NODE]) {
    const doc = JSON.parse(nsgJson(profile));
    assert.is(errorsOf(doc), '');
    assert.is(errorsOf(resolved(doc)), '');
  }
});

test('schema has teeth: each violation of a documented constraint is rejected', () => {
  const base = resolved(JSON.parse(nsgJson(EXAMPLE)));
  const mutations: [string, (rule: SecurityRule) => void][] = [
    ['priority 4097', (r) => (r.properties.priority = 4097)],
    ['priority 99', (r) => (r.properties.priority = 99)],
    ['name with a space', (r) => (r.name = 'in admins')],
    ['name ending in -', (r) => (r.name = 'in-admins-')],
    ['name starting with .', (r) => (r.name = '.in-admins')],
    ['name of 81 characters', (r) => (r.name = 'a'.repeat(81))],
    ['description of 141 characters', (r) => (r.properties.description = 'x'.repeat(141))],
    ['protocol TCP (case)', (r) => (r.properties.protocol = 'TCP')],
    ['access allow (case)', (r) => (r.properties.access = 'allow')],
    ['direction Ingress', (r) => (r.properties.direction = 'Ingress')],
    ['prefix and prefixes', (r) => (r.properties.sourceAddressPrefix = '*')],
    ['no destination', (r) => delete r.properties.destinationAddressPrefixes],
    ['bad CIDR /33', (r) => (r.properties.sourceAddressPrefixes = ['198.51.100.0/33'])],
    ['bad IPv6', (r) => (r.properties.sourceAddressPrefixes = ['2001:db8:::1'])],
    ['service tag in a list', (r) => (r.properties.sourceAddressPrefixes = ['VirtualNetwork'])],
    ['port 65536', (r) => (r.properties.destinationPortRanges = ['65536'])],
    ['port list with a comma', (r) => (r.properties.destinationPortRanges = ['80,443'])],
    ['unknown property', (r) => (r.properties.sourcePort = '*')],
  ];
  const target = (doc: any) => securityRules(doc).find((r) => r.name === 'in-admins-v4-tcp')!;
  assert.is(errorsOf(base), '');
  for (const [what, mutate] of mutations) {
    const doc = structuredClone(base);
    mutate(target(doc));
    assert.ok(errorsOf(doc) !== '', `schema accepted: ${what}`);
  }
  const tooMany = structuredClone(base);
  const rules = securityRules(tooMany);
  while (rules.length <= 1000) rules.push(structuredClone(rules[0]));
  assert.ok(errorsOf(tooMany) !== '', 'schema accepted 1001 rules');
});

// ---------------------------------------------------------------- semantics

/** The catalog and profile read directly (js-yaml), not through src/: what
 * the contract says the NSG must allow. */
interface Expectation {
  host: string;
  egress: 'allow' | 'restrict';
  groups: Map<string, string[]>;
  rules: { id: string; transport: string; ports: [number, number][]; from: string[]; to: string[] }[];
  catalogPorts: number[];
  /** Load balancer health probes allowed (azure.load_balancer_probes). */
  probes: boolean;
}

function portRange(v: unknown): [number, number] {
  const s = String(v);
  const [lo, hi] = s.split('-').map(Number);
  return [lo, hi ?? lo];
}

function expectation(catalogText: string, profileText: string): Expectation {
  const cat = yaml.load(catalogText) as any;
  const prof = yaml.load(profileText) as any;
  const features = new Map<string, boolean>(Object.entries(cat.features ?? {}).map(([k, f]: [string, any]) => [k, prof.features?.[k] ?? f.default]));
  const params = new Map<string, [number, number]>(Object.entries(cat.params ?? {}).map(([k, p]: [string, any]) => [k, portRange(prof.params?.[k] ?? p.default)]));
  const on = (f?: string) => f === undefined || features.get(f) === true;
  const groups = new Map<string, string[]>(Object.entries(cat.groups).map(([k, g]: [string, any]) => [k, (prof.groups?.[k] ?? g.default ?? []) as string[]]));
  const refs = (list: any[]) => list.map((x) => (typeof x === 'string' ? { group: x } : x)).filter((x) => on(x.feature)).map((x) => x.group as string);
  const catalogPorts: number[] = [];
  const rules = (cat.rules as any[])
    .filter((r) => on(r.feature))
    .map((r) => {
      const ports = (r.ports as any[]).map((p) => (typeof p === 'object' ? params.get(p.param)! : portRange(p)));
      return { id: r.id, transport: r.transport ?? 'tcp', ports, from: refs(r.from), to: refs(r.to) };
    });
  for (const r of cat.rules as any[]) for (const p of r.ports) if (typeof p !== 'object') catalogPorts.push(...portRange(p));
  for (const p of Object.values(cat.params ?? {}) as any[]) catalogPorts.push(...portRange(p.default), ...(p.choices ?? []));
  for (const r of params.values()) catalogPorts.push(...r);
  return { host: cat.host, egress: prof.egress ?? 'allow', groups, rules, catalogPorts, probes: prof.azure?.load_balancer_probes !== false };
}

const parsedAddrs = new Map<string, ipaddr.IPv4 | ipaddr.IPv6>();
const parsedCidrs = new Map<string, [ipaddr.IPv4 | ipaddr.IPv6, number]>();
function addr(text: string): ipaddr.IPv4 | ipaddr.IPv6 {
  let a = parsedAddrs.get(text);
  if (!a) parsedAddrs.set(text, (a = ipaddr.parse(text)));
  return a;
}
function cidr(text: string): [ipaddr.IPv4 | ipaddr.IPv6, number] {
  let c = parsedCidrs.get(text);
  if (!c) parsedCidrs.set(text, (c = text.includes('/') ? ipaddr.parseCIDR(text) : [addr(text), addr(text).kind() === 'ipv4' ? 32 : 128]));
  return c;
}

function family(text: string): 'ipv4' | 'ipv6' {
  return addr(text).kind();
}

function inCidrs(text: string, cidrs: string[]): boolean {
  const a = addr(text);
  return cidrs.some((c) => {
    const r = cidr(c);
    return r[0].kind() === a.kind() && a.match(r);
  });
}

/** Is `addr` one of the group's addresses (the profile's, or the catalog's default)? */
function listed(e: Expectation, group: string, addr: string): boolean {
  return inCidrs(addr, e.groups.get(group) ?? []);
}

/** Is `addr` the host end of a host rule, i.e. a node? The nodes' own
 * addresses of a family the profile does not list are unknown (the IR: the
 * host has both families anyway), so the NSG can only say "in the
 * VirtualNetwork" for them: the backend's documented fallback. As a peer
 * (node-to-node), only listed addresses count. */
function hostEnd(e: Expectation, env: AzureEnv, addr: string): boolean {
  const cidrs = e.groups.get(e.host) ?? [];
  if (!cidrs.some((c) => family(c.split('/')[0]) === family(addr))) return inCidrs(addr, env.virtualNetwork);
  return inCidrs(addr, cidrs);
}

function expectAllowed(e: Expectation, env: AzureEnv, f: Flow): boolean {
  const proto = f.protocol.toLowerCase();
  const portOk = (r: Expectation['rules'][number]) => r.transport === proto && r.ports.some(([lo, hi]) => lo <= f.port! && f.port! <= hi);
  if (f.direction === 'Inbound') {
    // Contract: the ICMP IPv4 needs, to the nodes. NSGs do not filter ICMPv6
    // at all (Microsoft's IPv6 overview): it always passes.
    if (proto === 'icmp') return family(f.dst) === 'ipv6' || hostEnd(e, env, f.dst);
    // Load balancer health probes: from the AzureLoadBalancer tag, on every
    // TCP port some rule opens to the nodes (unless the profile turns them off).
    if (e.probes && proto === 'tcp' && inCidrs(f.src, env.azureLoadBalancer ?? ['168.63.129.16/32']) && e.rules.some((r) => portOk(r) && r.to.includes(e.host))) return true;
    // Inbound at the NSG: rules into the nodes, and off-host rules (neither end the nodes).
    return e.rules.some(
      (r) =>
        portOk(r) &&
        r.from.some((g) =>
          r.to.some((h) =>
            h === e.host
              ? listed(e, g, f.src) && hostEnd(e, env, f.dst)
              : g !== e.host && listed(e, g, f.src) && listed(e, h, f.dst),
          ),
        ),
    );
  }
  if (e.egress === 'allow') return true; // the clouds' default
  if (proto === 'icmp') return family(f.dst) === 'ipv6'; // ICMPv6 is not filtered
  // Outbound under restrict: the catalog's rules from the nodes.
  return e.rules.some((r) => portOk(r) && r.from.includes(e.host) && hostEnd(e, env, f.src) && r.to.some((h) => listed(e, h, f.dst)));
}

/** First and last address of each CIDR of a group. */
function samples(cidrs: string[]): string[] {
  const out: string[] = [];
  for (const c of cidrs) {
    const [addr, len] = c.includes('/') ? ipaddr.parseCIDR(c) : [ipaddr.parse(c), ipaddr.parse(c).kind() === 'ipv4' ? 32 : 128];
    const bytes = addr.toByteArray();
    const first = bytes.map((b, i) => {
      const keep = Math.max(0, Math.min(8, len - i * 8));
      return b & ((0xff << (8 - keep)) & 0xff);
    });
    const last = first.map((b, i) => {
      const keep = Math.max(0, Math.min(8, len - i * 8));
      return b | (0xff >> keep);
    });
    out.push(ipaddr.fromByteArray(first).toString(), ipaddr.fromByteArray(last).toString());
  }
  return [...new Set(out)];
}

interface Comparison {
  checked: number;
  allowed: number;
  mismatches: string[];
}

function compareAll(profile: string, env: AzureEnv, extra: { nodesV6?: string[]; outsiders: string[] }): Comparison {
  const e = expectation(CATALOG, profile);
  const model = NsgModel.parse(nsgJson(profile), env);
  const groupSamples = [...e.groups.entries()].filter(([, c]) => c.length).map(([g, c]) => [g, samples(c)] as const);
  const nodes = [...samples(e.groups.get(e.host)!), ...(extra.nodesV6 ?? [])];
  const everyone = [...new Set([...groupSamples.flatMap(([, s]) => s), ...extra.nodesV6 ?? [], ...extra.outsiders])];
  const ports = [...new Set([...e.catalogPorts.flatMap((p) => [p - 1, p, p + 1]), 1, 21, 23, 25, 3389, 8443, 19999, 65535])]
    .filter((p) => p >= 1 && p <= 65535)
    .sort((a, b) => a - b);
  const result: Comparison = { checked: 0, allowed: 0, mismatches: [] };
  const run = (f: Flow) => {
    const want = expectAllowed(e, env, f);
    const got = model.evaluate(f);
    result.checked++;
    if (want) result.allowed++;
    if ((got.access === 'Allow') !== want && result.mismatches.length < 20)
      result.mismatches.push(`${f.direction} ${f.protocol} ${f.src} -> ${f.dst}:${f.port ?? '-'}: expected ${want ? 'Allow' : 'Deny'}, NSG says ${got.access} (${got.rule} @${got.priority})`);
  };
  const protos: Protocol[] = ['Tcp', 'Udp'];
  // Every (group, port) pair: each group's sample addresses to every node,
  // and from every node to them; plus addresses in no group, to and from
  // every address (off-host and non-node destinations, deny samples).
  for (const src of everyone)
    for (const dst of everyone) {
      if (family(src) !== family(dst)) continue;
      const toNode = nodes.includes(dst);
      const fromNode = nodes.includes(src);
      run({ direction: 'Inbound', protocol: 'Icmp', src, dst });
      if (fromNode) run({ direction: 'Outbound', protocol: 'Icmp', src, dst });
      for (const port of ports)
        for (const protocol of protos) {
          // Inbound: all pairs (to nodes, off-host, to non-nodes).
          if (toNode || !fromNode) run({ direction: 'Inbound', protocol, src, dst, port });
          if (fromNode) run({ direction: 'Outbound', protocol, src, dst, port });
        }
    }
  if (process.env.AZURE_NSG_VERBOSE) process.stdout.write(`\n${e.egress}: ${result.checked} flows, ${result.allowed} allowed, ${result.mismatches.length} mismatches\n`);
  return result;
}

test('interpreter vs independent expectation: example profile (egress allow), every (group, port) pair plus deny samples', () => {
  const r = compareAll(EXAMPLE, ENV_EXAMPLE, {
    nodesV6: ['fd00:20::11'], // the nodes' IPv6 address: the profile lists none
    outsiders: ['10.20.9.9', '192.0.2.77', '168.63.129.16', '2001:db8:ffff::1', 'fd00:20::99'],
  });
  assert.equal(r.mismatches, []);
  assert.ok(r.checked > 50000, `only ${r.checked} flows`);
  assert.ok(r.allowed > 1000 && r.allowed < r.checked - 1000, `allowed ${r.allowed} of ${r.checked}: both verdicts must occur`);
});

test('interpreter vs independent expectation: restrict profile (egress restrict, dual-stack, IPMI off-host rule)', () => {
  const r = compareAll(RESTRICT, ENV_RESTRICT, { outsiders: ['10.30.9.9', '192.0.2.200', '168.63.129.16', '2001:db8:ffff::1', 'fd00:30::99', '8.8.8.8'] });
  assert.equal(r.mismatches, []);
  assert.ok(r.checked > 50000, `only ${r.checked} flows`);
});

test('verdicts name the rule that decides: SSH, the explicit deny-all over AllowVNetInBound, probes, egress', () => {
  const ex = NsgModel.parse(nsgJson(EXAMPLE), ENV_EXAMPLE);
  const inbound = (src: string, dst: string, port: number, protocol: Protocol = 'Tcp') => ex.evaluate({ direction: 'Inbound', protocol, src, dst, port });
  assert.is(inbound('198.51.100.7', '10.20.0.12', 22).rule, 'in-admins-v4-tcp');
  assert.is(inbound('2001:db8:ad::7', 'fd00:20::11', 22).rule, 'in-admins-v6-tcp');
  // A VNet peer on an unlisted port: Azure's AllowVNetInBound (65000) would allow it; the explicit deny-all decides first.
  const vnet = inbound('10.20.9.9', '10.20.0.11', 9999);
  assert.equal([vnet.access, vnet.rule, vnet.priority], ['Deny', 'baseline-deny-all-in', 4096]);
  // Load balancer health probes: only on ports open to a group containing 168.63.129.16 (here users 0.0.0.0/0).
  assert.is(inbound('168.63.129.16', '10.20.0.11', 443).access, 'Allow');
  assert.is(inbound('168.63.129.16', '10.20.0.11', 9999).rule, 'baseline-deny-all-in');
  // egress allow: Azure's defaults decide.
  const out = ex.evaluate({ direction: 'Outbound', protocol: 'Tcp', src: '10.20.0.11', dst: '8.8.8.8', port: 53 });
  assert.equal([out.access, out.rule, out.byDefault], ['Allow', 'AllowInternetOutBound', true]);
  assert.is(ex.ordered('Outbound').length, 0);

  const rs = NsgModel.parse(nsgJson(RESTRICT), ENV_RESTRICT);
  const o = (dst: string, port: number) => rs.evaluate({ direction: 'Outbound', protocol: 'Tcp', src: '10.30.0.11', dst, port });
  assert.is(o('10.30.1.25', 25).rule, 'out-smtp_relay-v4-tcp');
  assert.equal([o('8.8.8.8', 53).access, o('8.8.8.8', 53).rule], ['Deny', 'baseline-deny-all-out']);
  assert.equal([o('10.30.9.9', 22).access, o('10.30.9.9', 22).rule], ['Deny', 'baseline-deny-all-out']);
  const ipmi = rs.evaluate({ direction: 'Inbound', protocol: 'Tcp', src: '203.0.113.20', dst: '10.30.2.11', port: 80 });
  assert.equal([ipmi.access, ipmi.rule.startsWith('offhost-support'), ipmi.rule.endsWith('bmc-v4-tcp')], ['Allow', true, true]);
});

test('load balancer health probes: 168.63.129.16 reaches every TCP port the inbound rules open, nothing else; azure.load_balancer_probes: false turns it off', () => {
  const e = expectation(CATALOG, EXAMPLE);
  const opened = new Set<number>();
  for (const r of e.rules) if (r.transport === 'tcp' && r.to.includes(e.host)) for (const [lo, hi] of r.ports) for (const p of [lo, hi]) opened.add(p);
  const probe = (m: NsgModel, port: number, protocol: Protocol = 'Tcp') => m.evaluate({ direction: 'Inbound', protocol, src: '168.63.129.16', dst: '10.20.0.11', port });
  const on = NsgModel.parse(nsgJson(EXAMPLE), ENV_EXAMPLE);
  // SSH and 2181 are open to admins and nodes only, not to users: the probe passes because of its own rule.
  for (const port of [22, 2181, ...opened]) assert.equal([port, probe(on, port).access], [port, 'Allow']);
  assert.is(probe(on, 22).rule, 'baseline-allow-azure-lb');
  for (const port of [21, 3389, 9999]) {
    assert.not.ok(e.rules.some((r) => r.ports.some(([lo, hi]) => lo <= port && port <= hi)), `test setup: ${port} is opened by no rule`);
    assert.equal([port, probe(on, port).access], [port, 'Deny']);
  }
  assert.is(probe(on, 161, 'Udp').access, 'Deny', 'probes are TCP only');
  // Any other source still gets only what the catalog gives it.
  assert.is(on.evaluate({ direction: 'Inbound', protocol: 'Tcp', src: '168.63.129.17', dst: '10.20.0.11', port: 22 }).access, 'Deny');

  const offText = `${EXAMPLE.trimEnd().replace(/^azure:.*$/m, '')}\nazure: { nsg_name: ts-prod-nsg, location: eastus, load_balancer_probes: false }\n`;
  const off = NsgModel.parse(nsgJson(offText), ENV_EXAMPLE);
  assert.is(probe(off, 22).rule, 'baseline-deny-all-in');
  assert.is(probe(off, 443).access, 'Allow', 'users (0.0.0.0/0) still reach 443');
  assert.not.ok(off.rules.some((r) => r.name === 'baseline-allow-azure-lb'));
  // The default is the same bytes as writing true.
  assert.is(nsgJson(offText.replace('load_balancer_probes: false', 'load_balancer_probes: true')), nsgJson(EXAMPLE));
});

test('ICMPv6: no rule pretends to filter it (NSGs do not), and the template says so', () => {
  for (const profile of [EXAMPLE, RESTRICT]) {
    const doc = JSON.parse(nsgJson(profile));
    const rules = securityRules(doc);
    const icmp = rules.filter((r: SecurityRule) => r.properties.protocol === 'Icmp');
    assert.equal(icmp.map((r: SecurityRule) => [r.name, r.properties.sourceAddressPrefix]), [['baseline-icmp-v4', '0.0.0.0/0']]);
    assert.ok(doc.metadata.deploy.some((l: string) => /ICMPv6 is not filtered by NSGs/.test(l)));
  }
});

/** The same profile with the nodes named by an application security group. */
const withAsg = (profile: string) => `${profile.trimEnd().replace(/^azure:.*$/m, '')}\nazure: { node_asg: nodes-asg }\n`;

test('node_asg: the ASG variant allows exactly the flows of the address-list variant (every group sample, port and direction)', () => {
  const nodes = ['10.30.0.11', '10.30.0.12', 'fd00:30::11', 'fd00:30::12'];
  const env = { ...ENV_RESTRICT, applicationSecurityGroups: { 'nodes-asg': nodes } };
  for (const base of [RESTRICT.replace(/^azure:.*$/m, ''), RESTRICT]) {
    const plain = NsgModel.parse(nsgJson(base), env);
    const asgDoc = JSON.parse(nsgJson(withAsg(base)));
    const asg = new NsgModel(asgDoc, env);
    // No node address anywhere in the ASG variant's rules or variables.
    assert.not.match(JSON.stringify(asgDoc.resources) + JSON.stringify(asgDoc.variables), /10\.30\.0\.1[12]|fd00:30::1[12]/);
    assert.equal(asgDoc.resources.map((r: any) => r.type), ['Microsoft.Network/applicationSecurityGroups', 'Microsoft.Network/networkSecurityGroups']);
    const e = expectation(CATALOG, base);
    const everyone = [...new Set([...[...e.groups.values()].flatMap((c) => samples(c)), '10.30.9.9', '168.63.129.16', 'fd00:30::99', '8.8.8.8'])];
    const ports = [...new Set(e.catalogPorts.flatMap((p) => [p - 1, p, p + 1]))].filter((p) => p >= 1 && p <= 65535);
    let checked = 0;
    let allowed = 0;
    const diffs: string[] = [];
    for (const src of everyone)
      for (const dst of everyone) {
        if (family(src) !== family(dst)) continue;
        for (const direction of ['Inbound', 'Outbound'] as const)
          for (const protocol of ['Tcp', 'Udp', 'Icmp'] as const)
            for (const port of protocol === 'Icmp' ? [undefined] : ports) {
              const f = { direction, protocol, src, dst, port };
              const a = plain.evaluate(f).access;
              checked++;
              if (a === 'Allow') allowed++;
              if (a !== asg.evaluate(f).access && diffs.length < 10) diffs.push(`${direction} ${protocol} ${src} -> ${dst}:${port ?? '-'}: addresses ${a}, ASG ${asg.evaluate(f).access}`);
            }
      }
    assert.equal(diffs, []);
    assert.ok(checked > 50000 && allowed > 1000, `${checked} flows, ${allowed} allowed`);
  }
});

test('node_asg: schema-valid, and no node-count ceiling (3,000 nodes fail as address lists, fit as an ASG)', () => {
  const doc = JSON.parse(nsgJson(withAsg(RESTRICT)));
  assert.is(errorsOf(doc), '');
  assert.is(doc.parameters.asgName.defaultValue, 'nodes-asg');
  assert.equal(doc.resources[1].dependsOn, ["[resourceId('Microsoft.Network/applicationSecurityGroups', parameters('asgName'))]"]);
  assert.ok(doc.outputs.asgId);
  const many = Array.from({ length: 3000 }, (_, i) => `10.${40 + (i >> 8)}.${i & 255}.1`);
  const big = EXAMPLE.replace(/^ {2}nodes:.*$/m, `  nodes: [${many.join(', ')}]`);
  assert.is.not(big, EXAMPLE);
  assert.throws(() => nsgJson(big), /destination address prefixes across the NSG's rules, over Azure's limit of 4000/);
  const asgDoc = JSON.parse(nsgJson(withAsg(big)));
  assert.is(errorsOf(asgDoc), '');
  assert.is(errorsOf(resolved(asgDoc)), '');
});

test('anti-lockout: SSH is open from every admins address, in every profile', () => {
  for (const [profile, env, nodes] of [
    [EXAMPLE, ENV_EXAMPLE, ['10.20.0.11', 'fd00:20::11']],
    [RESTRICT, ENV_RESTRICT, ['10.30.0.11', 'fd00:30::12']],
  ] as const) {
    const m = NsgModel.parse(nsgJson(profile), env);
    const admins = expectation(CATALOG, profile).groups.get('admins')!;
    for (const src of samples(admins))
      for (const dst of nodes.filter((n) => family(n) === family(src)))
        assert.is(m.evaluate({ direction: 'Inbound', protocol: 'Tcp', src, dst, port: 22 }).access, 'Allow', `${src} -> ${dst}:22`);
  }
});

// ---------------------------------------------------------------- diffs

type Change = { path: string; kind: 'added' | 'removed' | 'changed'; value?: unknown };

/** Structural differences; an array that differs by one inserted or removed
 * element is reported as that one element. */
function changes(a: any, b: any, at = ''): Change[] {
  if (Array.isArray(a) && Array.isArray(b)) {
    if (a.length === b.length) return a.flatMap((x, i) => changes(x, b[i], `${at}[${i}]`));
    const [short, long, kind] = a.length < b.length ? [a, b, 'added' as const] : [b, a, 'removed' as const];
    if (long.length === short.length + 1)
      for (let i = 0; i < long.length; i++)
        if (JSON.stringify([...long.slice(0, i), ...long.slice(i + 1)]) === JSON.stringify(short)) return [{ path: at, kind, value: long[i] }];
    return [{ path: at, kind: 'changed' }];
  }
  if (a && b && typeof a === 'object' && typeof b === 'object') {
    const keys = [...new Set([...Object.keys(a), ...Object.keys(b)])];
    return keys.flatMap((k) => (k in a && k in b ? changes(a[k], b[k], `${at}.${k}`) : [{ path: `${at}.${k}`, kind: (k in a ? 'removed' : 'added') as Change['kind'] }]));
  }
  return a === b ? [] : [{ path: at, kind: 'changed', value: b }];
}

test('adding one node address changes exactly one list element (variables.nodes_v4 gains 10.20.0.14)', () => {
  const before = JSON.parse(nsgJson(EXAMPLE));
  const after = JSON.parse(nsgJson(PLUS_NODE));
  assert.equal(changes(before, after), [{ path: '.variables.nodes_v4', kind: 'added', value: '10.20.0.14' }]);
});

// ---------------------------------------------------------------- priorities

function catalogWith(edit: (doc: any) => void): string {
  const doc = yaml.load(CATALOG) as any;
  edit(doc);
  return yaml.dump(doc, { lineWidth: -1 });
}

test('priorities: reordering the catalog (rules, groups, features, params) changes no byte', () => {
  const shuffled = catalogWith((doc) => {
    doc.rules.reverse();
    for (const k of ['groups', 'features', 'params', 'tables']) doc[k] = Object.fromEntries(Object.entries(doc[k]).reverse());
  });
  for (const profile of [EXAMPLE, RESTRICT]) assert.is(nsgJson(profile, shuffled), nsgJson(profile, CATALOG));
});

test('priorities: adding catalog rules renumbers no other rule (new IR rules, and a row merged into an existing one)', () => {
  for (const profile of [EXAMPLE, RESTRICT]) {
    const before = priorities(JSON.parse(nsgJson(profile)));
    const grown = catalogWith((doc) => {
      // A new transport from admins: new IR rules in-admins-v4-udp / -v6-udp, first in the rule list.
      doc.rules.unshift({ id: 'test-syslog', cells: { service: 'Syslog', description: 'test row' }, table: 'T1', row: 90, ports: [514], transport: 'udp', from: ['admins'], to: ['nodes'] });
      // A new port from users: merged into in-users-*-tcp.
      doc.rules.push({ id: 'test-users-8443', cells: { service: 'Alt HTTPS', description: 'test row' }, table: 'T1', row: 91, ports: [8443], transport: 'tcp', from: ['users'], to: ['nodes'] });
      // New egress: out-*-udp.
      doc.rules.push({ id: 'test-ntp', cells: { service: 'NTP', description: 'test row' }, table: 'T4', row: 90, ports: [123], transport: 'udp', from: ['nodes'], to: ['file_transfer'] });
    });
    const afterDoc = JSON.parse(nsgJson(profile, grown));
    const after = priorities(afterDoc);
    for (const [name, p] of before) assert.is(after.get(name), p, `${name} moved`);
    const added = [...after.keys()].filter((n) => !before.has(n)).sort();
    assert.ok(added.includes('in-admins-v4-udp') && added.includes('in-admins-v6-udp'), added.join(' '));
    const users = securityRules(afterDoc).find((r) => r.name === 'in-users-v4-tcp')!;
    assert.ok(users.properties.destinationPortRanges.includes('8443'));
    assert.is(new Set(after.values()).size, after.size, 'priorities unique per direction');
  }
});

test('priorities: every rule the built-in catalog can produce (all features, dual-stack, both directions) sits on its own home slot', () => {
  const all = [
    'environment: everything',
    'groups:',
    ...['admins', 'users', 'nodes', 'support', 'smtp_relay', 'ldap_server', 'file_transfer', 'bmc'].map((g, i) => `  ${g}: [10.${i}.0.0/16, "fd00:${i}::/48"]`),
    'features: { debug: true, support: true, smtp: true, ldap: true, file_transfer: true, ipmi: true }',
    'egress: restrict',
  ].join('\n');
  const doc = JSON.parse(nsgJson(all));
  const rules = securityRules(doc).filter((r) => !r.name.startsWith('baseline-'));
  assert.ok(rules.length >= 18, `${rules.length} rules`);
  for (const r of rules) assert.is(r.properties.priority, homePriority(r.name), `${r.name} is displaced`);
});

test('priorities (property): permutation-invariant; a rule alone on its home slot never moves when others come and go', () => {
  const id = fc.stringMatching(/^(in|out|offhost)-[a-z][a-z0-9_]{0,12}-v[46]-(tcp|udp)$/);
  fc.assert(
    fc.property(fc.uniqueArray(id, { minLength: 1, maxLength: 60 }), id, fc.integer(), (ids, extra, seed) => {
      const a = allocatePriorities(ids);
      // permutation
      const shuffled = [...ids].sort((x, y) => ((homePriority(x) ^ seed) % 97) - ((homePriority(y) ^ seed) % 97));
      assert.equal([...allocatePriorities(shuffled)].sort(), [...a].sort());
      // range and uniqueness
      const values = [...a.values()];
      assert.is(new Set(values).size, values.length);
      for (const p of values) assert.ok(p >= PRIORITY.bandLo && p < PRIORITY.denyAll);
      // adding one id: every id whose home slot no other id shares keeps it
      const b = allocatePriorities([...ids, extra]);
      const homes = new Map<number, number>();
      for (const x of new Set([...ids, extra])) homes.set(homePriority(x), (homes.get(homePriority(x)) ?? 0) + 1);
      for (const x of ids)
        if (homes.get(homePriority(x)) === 1) {
          assert.is(a.get(x), homePriority(x));
          assert.is(b.get(x), homePriority(x));
        }
    }),
    { numRuns: 300 },
  );
});

test('priorities: colliding home slots resolve by id order into the overflow band, deterministically', () => {
  // Find two ids with the same home slot.
  const seen = new Map<number, string>();
  let pair: [string, string] | undefined;
  for (let i = 0; !pair; i++) {
    const id = `in-g${i}-v4-tcp`;
    const h = homePriority(id);
    if (seen.has(h)) pair = [seen.get(h)!, id];
    else seen.set(h, id);
  }
  const [x, y] = pair.sort();
  const p = allocatePriorities([y, x]);
  assert.is(p.get(x), homePriority(x));
  assert.ok(p.get(y)! >= PRIORITY.overflowLo && p.get(y)! < PRIORITY.overflowLo + PRIORITY.overflowSize, String(p.get(y)));
  assert.equal(allocatePriorities([x, y]), p);
});

// ---------------------------------------------------------------- text

test('hostile catalog text (quotes, backslash, newline, </script>, unicode) stays data: valid JSON, schema-valid', () => {
  const nasty = `He said "hi" \\ C:\\path\\n </script><script>alert(1)</script> \${x} [concat('a')] 'q'\nsecond line\u2028third é 中文 🔥 \u0007 end`;
  const needle = '"Secure shell access. Also used for scp (secure copy)."';
  assert.ok(CATALOG.includes(needle), 'test setup: description not found in the catalog');
  const catalog = CATALOG.replace(needle, JSON.stringify(nasty));
  const out = nsgJson(EXAMPLE, catalog);
  const doc = JSON.parse(out);
  assert.is(out, JSON.stringify(doc, null, 2) + '\n');
  assert.is(errorsOf(doc), '');
  const lines: string[] = doc.metadata.rules['in-admins-v4-tcp'];
  const flat = `He said "hi" \\ C:\\path\\n </script><script>alert(1)</script> \${x} [concat('a')] 'q' second line third é 中文 🔥 end`;
  assert.ok(lines.includes(`T1.1 SSH (ops-ssh): ${flat}`), lines.join('\n'));
  assert.not.ok(/[\u0000-\u001f\u2028\u2029]/.test(out.replace(/\n/g, '')), 'raw control characters in the output');
  // The interpreter reads it, and descriptions stay within 140.
  const m = NsgModel.parse(out, ENV_EXAMPLE);
  for (const r of m.rules) assert.ok((r.description ?? '').length <= AZURE_LIMITS.descriptionLength);
});

test('ARM expression escaping: a literal [..] string is written [[..] and reads back as itself', () => {
  assert.is(armLiteral("[concat('a','b')]"), "[[concat('a','b')]");
  assert.is(armLiteral('[not an expression'), '[not an expression');
  assert.is(armLiteral('plain]'), 'plain]');
  const m = NsgModel.parse(nsgJson(EXAMPLE), ENV_EXAMPLE);
  assert.is(m.resolve(armLiteral("[concat('a','b')]")), "[concat('a','b')]");
});

test('rule names: ids Azure accepts are kept; others become valid, distinct names within 80 characters', () => {
  assert.is(ruleName('in-admins-v4-tcp'), 'in-admins-v4-tcp');
  const long1 = `offhost-${'a'.repeat(31)}-to-${'b'.repeat(31)}-v4-tcp`;
  const long2 = `offhost-${'a'.repeat(31)}-to-${'b'.repeat(31)}-v6-tcp`;
  for (const id of [long1, long2, '-weird id!', 'ends-with-dash-']) {
    const n = ruleName(id);
    assert.ok(n.length <= 80 && /^[A-Za-z0-9]([A-Za-z0-9_.-]*[A-Za-z0-9_])?$/.test(n), `${id} -> ${n}`);
  }
  assert.is.not(ruleName(long1), ruleName(long2));
});

test('descriptions are clipped to 140 UTF-16 units on a code point boundary', () => {
  const s = clip('x'.repeat(135) + '🔥🔥🔥', 140);
  assert.ok(s.length <= 140 && s.endsWith('...'));
  assert.not.ok(/[\ud800-\udbff](?![\udc00-\udfff])/.test(s), 'lone surrogate');
  assert.is(clip('short', 140), 'short');
});

// ---------------------------------------------------------------- limits

test('limits: more than 4000 destination prefixes in the NSG is a positioned error naming count and limit', () => {
  // 1001 non-adjacent node addresses: the nodes' list is the destination of 4
  // inbound rules (4004), plus 3 single-valued destinations ('VirtualNetwork', '*').
  const nodes = Array.from({ length: 1001 }, (_, i) => `10.${20 + (i >> 8)}.${i & 255}.1`);
  const profile = EXAMPLE.replace('[10.20.0.11, 10.20.0.12, 10.20.0.13]', `[${nodes.join(', ')}]`);
  const r = compile({ profile: { path: 'big.yaml', text: profile }, targets: ['azure-nsg'] });
  assert.is(r.ok, false);
  if (r.ok) return;
  assert.is(r.diagnostics.length, 1);
  const d = r.diagnostics[0];
  assert.match(d.message, /^target azure-nsg: 4007 destination address prefixes across the NSG's rules, over Azure's limit of 4000 per NSG \(largest: .*1001/);
  assert.is(d.pos?.line, 5, 'points at groups.nodes');
  assert.ok(d.hint && /merge addresses/.test(d.hint));
  // The backend's error carries the numbers.
  assert.throws(
    () => buildNsg(load({ profile: { path: 'big.yaml', text: profile } }).ir),
    (e: unknown) =>
      e instanceof AzureLimitError &&
      e instanceof TargetLimitError &&
      e.group === 'nodes' &&
      e.problems.length === 1 &&
      e.problems[0].limit === 'destinationAddressPrefixes' && e.problems[0].count === 4007 && e.problems[0].max === 4000,
  );
  // 999 fit.
  const fits = EXAMPLE.replace('[10.20.0.11, 10.20.0.12, 10.20.0.13]', `[${nodes.slice(0, 999).join(', ')}]`);
  assert.not.throws(() => nsgJson(fits));
});

test('limits: more than 1000 security rules is a clear error naming count and limit', () => {
  const cidr = (i: number) => ({ family: 'ipv4' as const, base: BigInt(0x0a000000 + i * 256), prefix: 24 });
  const sets = Array.from({ length: 1000 }, (_, i) => ({ name: `g${i}_v4`, group: `g${i}`, family: 'ipv4' as const, cidrs: [cidr(i)] }));
  const rules: Rule[] = sets.map((s) => ({
    id: `in-${s.group}-v4-tcp`,
    direction: 'ingress',
    scope: 'host',
    family: 'ipv4',
    transport: 'tcp',
    source: s.name,
    sourceGroup: s.group,
    destinationGroup: 'nodes',
    ports: [{ lo: 22, hi: 22 }],
    provenance: [],
    antiLockout: false,
  }));
  const ir: IR = {
    environment: 'big',
    catalog: { name: 'synthetic' },
    host: 'nodes',
    egress: 'allow',
    sets,
    rules,
    icmp: { ingress: { ipv4: [], ipv6: [] }, egress: { ipv4: [], ipv6: [] } },
    hostPolicy: { platform: 'none', baseline: [], trustedInterfaces: [], counters: false, nftables: { priority: 0 }, iptables: { hook: 'first' }, firewalld: { interfaces: [] } },
    features: {},
    params: {},
  };
  // Each IR rule is one security rule, plus ICMP, the load balancer probes and the deny-all.
  assert.throws(() => buildNsg(ir), /1003 security rules, over Azure's limit of 1000 rules per NSG/);
  assert.is(buildNsg({ ...ir, rules: rules.slice(0, 997) }).rules.length, 1000, 'exactly at the limit');
  assert.throws(() => buildNsg({ ...ir, rules: rules.slice(0, 998) }), /1001 security rules, over Azure's limit of 1000/);
  // Without the probes' rule, one more IR rule fits.
  assert.is(buildNsg({ ...ir, azure: { load_balancer_probes: false }, rules: rules.slice(0, 998) }).rules.length, 1000);
});

test('limits at the boundary: 4000 source prefixes in the NSG fit, 4001 are a clear error', () => {
  // One inbound rule from a set of N single addresses; the ICMP (0.0.0.0/0),
  // load balancer (AzureLoadBalancer) and deny-all ('*') rules add one source each.
  const ir = (n: number): IR => {
    const cidrs = Array.from({ length: n }, (_, i) => ({ family: 'ipv4' as const, base: BigInt(0x0a000000 + i * 2), prefix: 32 }));
    return {
      environment: 'edge',
      catalog: { name: 'synthetic' },
      host: 'nodes',
      egress: 'allow',
      sets: [
        { name: 'peers_v4', group: 'peers', family: 'ipv4', cidrs },
        { name: 'nodes_v4', group: 'nodes', family: 'ipv4', cidrs: [{ family: 'ipv4', base: 0xc0000201n, prefix: 32 }] },
      ],
      rules: [{ id: 'in-peers-v4-tcp', direction: 'ingress', scope: 'host', family: 'ipv4', transport: 'tcp', source: 'peers_v4', sourceGroup: 'peers', destinationGroup: 'nodes', ports: [{ lo: 22, hi: 22 }], provenance: [], antiLockout: false }],
      icmp: { ingress: { ipv4: [], ipv6: [] }, egress: { ipv4: [], ipv6: [] } },
      hostPolicy: { platform: 'none', baseline: [], trustedInterfaces: [], counters: false, nftables: { priority: 0 }, iptables: { hook: 'first' }, firewalld: { interfaces: [] } },
      features: {},
      params: {},
    };
  };
  const sources = (plan: ReturnType<typeof buildNsg>) => plan.rules.reduce((n, r) => n + (r.properties.sourceAddressPrefixes ? plan.variables.find(([v]) => r.properties.sourceAddressPrefixes!.text.includes(`'${v}'`))![1].length : 1), 0);
  assert.is(sources(buildNsg(ir(3997))), 4000, 'exactly at the limit');
  assert.throws(() => buildNsg(ir(3998)), (e: unknown) => e instanceof AzureLimitError && e.problems[0].limit === 'sourceAddressPrefixes' && e.problems[0].count === 4001 && e.problems[0].max === 4000);
});

test.run();
