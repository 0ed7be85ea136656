// The diagnostics the three JSON Schema checkers make (profile and catalog
// in src/load/validate.ts, the expectations of `portcullis test`, the
// project file): one function (shapeDiagnostics) maps ajv's errors to
// positioned messages for all three, and these pin every message, hint,
// position and the order and number of them, as each input words them.

import * as fs from 'fs';
import * as path from 'path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { load } from '../src/compile';
import { CompileError, Diagnostic, SourceText } from '../src/diagnostics';
import { validateCatalogShape, validateProfileShape } from '../src/load/validate';
import { parseYaml } from '../src/load/yaml';
import { loadExpectations } from '../src/policy-test/expectations';
import { loadProject } from '../src/project';
import { ROOT } from './helpers/cli';
import { rmTree, tmpDir } from './helpers/tree';

const fixtureText = (p: string) => fs.readFileSync(path.join(ROOT, p), 'utf8');
const EXAMPLE = fixtureText('fixtures/profiles/example.yaml');

/** "LINE:COL MESSAGE | HINT (+MORE)"; more than 10 shown as the first 3, the count and the last. */
function lines(ds: Diagnostic[]): string[] {
  const one = (d: Diagnostic) => `${d.pos!.line}:${d.pos!.col} ${d.message}${d.hint ? ` | ${d.hint}` : ''}${d.more ? ` (+${d.more})` : ''}`;
  return ds.length > 10 ? [...ds.slice(0, 3).map(one), `… ${ds.length} in all`, one(ds[ds.length - 1])] : ds.map(one);
}

function thrown(f: () => unknown): Diagnostic[] {
  try {
    f();
  } catch (e) {
    if (e instanceof CompileError) return e.diagnostics;
    throw e;
  }
  assert.unreachable('no CompileError');
  return [];
}

const profile = (text: string) => lines(validateProfileShape(parseYaml(new SourceText('p.yaml', text))));
const catalog = (text: string) => lines(validateCatalogShape(parseYaml(new SourceText('c.yaml', text))));
let loaded: ReturnType<typeof load> | undefined;
const expectations = (text: string) => {
  loaded ??= load({ profile: { path: 'p.yaml', text: EXAMPLE } });
  return lines(thrown(() => loadExpectations(new SourceText('x.yaml', text), loaded!)));
};
function project(text: string): string[] {
  const dir = tmpDir('pc-shape-');
  const cwd = process.cwd();
  try {
    fs.mkdirSync(path.join(dir, 'envs'));
    fs.writeFileSync(path.join(dir, 'envs', 'a.yaml'), 'x: 1\n');
    fs.writeFileSync(path.join(dir, 'portcullis.yaml'), text);
    process.chdir(dir);
    return lines(thrown(() => loadProject('portcullis.yaml')));
  } finally {
    process.chdir(cwd);
    rmTree(dir);
  }
}

test('profile: unknown key (did you mean), enum, type, pattern, in document order', () => {
  const text = EXAMPLE.replace('egress: allow', 'egres: allow').replace('debug: true', 'debug: yes please').replace('vpc_id: vpc-0123456789abcdef0', 'vpc_id: vpc-XYZ').replace('ldap_port: 636', 'ldap_port: [636]');
  assert.equal(profile(text), [
      "12:14 'params.ldap_port' has an invalid value a list | a port number 1-65535 or a range 'LO-HI', e.g. 22 or \"20000-65535\"",
      "15:10 'features.debug' must be a boolean, not string \"yes please\"",
      "21:1 unknown key 'egres' in the document | did you mean 'egress'? (known: 'environment', 'groups', 'params', 'features', 'egress', 'extra_egress', 'extra_ingress', 'host', 'nftables', 'iptables', 'firewalld', 'terraform', 'azure')",
      "22:22 'terraform.vpc_id' has an invalid value \"vpc-XYZ\" | it must match ^vpc-[0-9a-f]{8,17}$",
    ]);
});

test('profile: a bad group name (propertyNames), a missing required key', () => {
  assert.equal(profile('groups:\n  Bad-Name: [10.0.0.1]\nparams: {}\n'), [
      "1:1 the document is missing the required key 'environment'",
      "2:3 'Bad-Name' is not a valid name in 'groups' | names are lower case letters, digits and _, starting with a letter",
    ]);
  assert.equal(profile('- a\n- b\n'), [
      "1:1 the document must be a mapping, not a list",
    ]);
});

test('catalog: oneOf values (a description, or forms from the schema), a long key clipped', () => {
  const text = fixtureText('fixtures/catalogs/offhost.yaml')
    .replace('ports: [22]', 'ports: [22, "x", {param: 5}, {parm: a}]')
    .replace('    from: [support]\n    to: [bmc]\n', '    from: [{group: support}]\n    to: [bmc]\n')
    .replace('ports: [623]\n    transport: tcp', 'ports: [623]\n    transport: [tcp, 300]')
    .replace('name: offhost', `name: offhost\nx${'k'.repeat(80)}: 1`)
    .replace('  bmc: {}', '  bmc: []');
  assert.equal(catalog(text), [
      "5:1 unknown key 'xkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkk…' in the document | known: 'name', 'title', 'document', 'host', 'roles', 'tables', 'groups', 'features', 'params', 'rules'",
      "13:8 'groups.bmc' must be a mapping, not a list",
      "20:17 'rules.0.ports.1' has an invalid value string \"x\" | a port number 1-65535 or a range 'LO-HI', e.g. 22 or \"20000-65535\"",
      "20:22 'rules.0.ports.2' has an invalid value a mapping | a port number 1-65535 or a range 'LO-HI', e.g. 22 or \"20000-65535\"",
      "20:34 'rules.0.ports.3' has an invalid value a mapping | a port number 1-65535 or a range 'LO-HI', e.g. 22 or \"20000-65535\"",
      "30:16 'rules.1.transport' has an invalid value a list | tcp, udp, sctp, icmp, icmpv6, esp, ah, gre, ipip, vrrp, or the IP protocol number",
      "30:22 'rules.1.transport.1' has an invalid value number 300 | tcp, udp, sctp, icmp, icmpv6, esp, ah, gre, ipip, vrrp, or the IP protocol number",
      "31:12 'rules.1.from.0' has an invalid value a mapping | expected a string matching ^[a-z][a-z0-9_]{0,30}$, or a mapping with group, feature",
    ]);
});

test('expectations: type with the transport hint, enum, unknown key, in offset-of-value order', () => {
  assert.equal(expectations('- from: 5\n  ports: 22/tcp\n  to: nodes\n  port: 22\n  expect: maybe\n'), [
      "2:3 unknown key 'ports' in expectation 1 | did you mean 'port'? (known: 'name', 'from', 'to', 'port', 'expect', 'only', 'reaches')",
      "1:9 expectation 1: 'from' must be a string, not number 5",
      "4:9 expectation 1: 'port' must be a string, not number 22 | write the transport too, e.g. \"22/tcp\"",
      "5:11 expectation 1: 'expect' must be one of 'allow', 'deny', not string \"maybe\"",
    ]);
});

test('expectations: a missing from, not a mapping, an only item', () => {
  assert.equal(expectations('- to: nodes\n  reaches: nothing\n- 7\n- from: admins\n  to: nodes\n  only: [22/tcp, ""]\n'), [
      "1:3 expectation 1 has no 'from' | every expectation names where the flows come from: from: ADDRESS, CIDR or group",
      "3:3 expectation 2 must be a mapping, not number 7",
      "6:18 expectation 3: 'only' item 2 must NOT have fewer than 1 characters",
    ]);
  assert.equal(expectations('from: admins\n'), [
      "1:1 the document must be a list, not a mapping | the file is a list of expectations: - { from: users, to: nodes, port: 443/tcp, expect: allow }",
    ]);
});

test('expectations: 300 bad entries: 200 listed, none counted', () => {
  const text = Array.from({ length: 300 }, (_, i) => `- ${i}\n`).join('');
  assert.equal(expectations(text), [
      "1:3 expectation 1 must be a mapping, not number 0",
      "2:3 expectation 2 must be a mapping, not number 1",
      "3:3 expectation 3 must be a mapping, not number 2",
      "… 200 in all",
      "200:3 expectation 200 must be a mapping, not number 199",
    ]);
});

test('project: a list of targets with an unknown one (the deeper error, not the oneOf), schema order', () => {
  assert.equal(project('targets: [nftables, pf]\nprofiles: 5\nout_dirs: x\n'), [
      "3:1 unknown key 'out_dirs' in the project file | known keys: profiles, catalog, targets, out_dir",
      "2:11 'profiles' must be a list, not number 5",
      "1:21 'targets.1' must be one of 'nftables', 'iptables', 'firewalld', 'terraform-aws', 'azure-nsg', not string \"pf\"",
    ]);
  assert.equal(project('profiles: [envs]\ntargets: 5\n'), [
      "2:10 'targets' has an invalid value number 5 | 'all' (the default), or a list of targets",
    ]);
});

test('project: missing profiles, known keys hint', () => {
  assert.equal(project('catalog: [x]\nprofile: [envs]\n'), [
      "1:1 the project file is missing the required key 'profiles' | profiles: a list of profile files, directories or patterns, e.g. ['envs/*.yaml']",
      "2:1 unknown key 'profile' in the project file | known keys: profiles, catalog, targets, out_dir",
      "1:10 'catalog' must be a string, not a list",
    ]);
  assert.equal(project("profiles: []\nout_dir: ''\ntargets: [nftables, nftables]\n"), [
      "1:11 'profiles' must NOT have fewer than 1 items",
      "3:10 'targets' has an invalid value a list | 'all' (the default), or a list of targets",
      "2:10 'out_dir' must NOT have fewer than 1 characters",
    ]);
});

test('project: every item of profiles wrong (not capped)', () => {
  assert.equal(project(`profiles: [${Array(300).fill('1').join(', ')}]\n`), [
      "1:12 'profiles.0' must be a string, not number 1",
      "1:15 'profiles.1' must be a string, not number 1",
      "1:18 'profiles.2' must be a string, not number 1",
      "… 300 in all",
      "1:909 'profiles.299' must be a string, not number 1",
    ]);
});

test('profile: a document of more than 20,000 values: its first shape error only, saying so', () => {
  const users = Array.from({ length: 30_000 }, (_, i) => `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`);
  const text = EXAMPLE.replace('users:       [0.0.0.0/0]', `users: [${users.join(', ')}]`).replace('egress: allow', 'egres: allow\nfeature: {}');
  // (how many values the parser counts is its own business)
  assert.equal(profile(text).map((l) => l.replace(/holds \d+ values/, 'holds N values')), [
    "21:1 unknown key 'egres' in the document | did you mean 'egress'? (known: 'environment', 'groups', 'params', 'features', 'egress', 'extra_egress', 'extra_ingress', 'host', 'nftables', 'iptables', 'firewalld', 'terraform', 'azure') (the document holds N values: only its first shape error is reported)",
  ]);
});

test.run();
