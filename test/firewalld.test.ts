// firewalld target: the generated tree is accepted by firewalld's own tool
// (firewall-offline-cmd, run against a configuration directory the test sets
// up like a stock /etc/firewalld with the tree copied over it) and queried
// back; escaping survives hostile catalog text; golden files.
//
// Needs firewall-offline-cmd (Debian package `firewalld`); fails, never skips,
// without it. firewall-offline-cmd --check-config exits 0 even when it drops
// an invalid rich rule or ipset entry (it only prints WARNING), so every
// call here also requires an empty stderr.

import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { ipsetName, IPSET_NAME_MAX, renderFirewalld, xmlCommentLine, xmlText } from '../src/targets/firewalld/render';
import { oneLine } from '../src/targets/base';
import { load } from '../src/compile';
import { fixture, ROOT, runCli } from './helpers/cli';

const OFFLINE = 'firewall-offline-cmd';

interface Cmd {
  code: number;
  stdout: string;
  stderr: string;
}

function run(cmd: string, args: string[], input?: string): Cmd {
  const r = spawnSync(cmd, args, { encoding: 'utf8', input });
  if (r.error) throw new Error(`${cmd}: ${r.error.message}`);
  return { code: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
}

const tmpDirs: string[] = [];
function tmpDir(tag: string): string {
  const d = fs.mkdtempSync(path.join(os.tmpdir(), `pct-fwd-${tag}-`));
  tmpDirs.push(d);
  return d;
}
test.after(() => {
  for (const d of tmpDirs) fs.rmSync(d, { recursive: true, force: true });
});

/** Compiles with the real CLI; returns the firewalld output directory. */
function compileTree(profile: string, opts: { catalog?: string } = {}): string {
  const out = tmpDir('out');
  const r = runCli(['compile', '--profile', profile, ...(opts.catalog ? ['--catalog', opts.catalog] : []), '--target', 'firewalld', '--out-dir', out]);
  assert.is(r.code, 0, `compile failed: ${r.stderr}`);
  const envs = fs.readdirSync(out);
  assert.is(envs.length, 1, `one environment directory expected, got ${envs.join(', ')}`);
  return path.join(out, envs[0], 'firewalld');
}

function listTree(dir: string, prefix = ''): string[] {
  return fs
    .readdirSync(dir, { withFileTypes: true })
    .flatMap((d) => (d.isDirectory() ? listTree(path.join(dir, d.name), `${prefix}${d.name}/`) : [`${prefix}${d.name}`]))
    .sort();
}

/** A configuration directory as a user gets it: the stock firewalld.conf
 * (DefaultZone=public) with the tree copied in. */
function configDir(tree: string): string {
  const dir = tmpDir('cfg');
  fs.copyFileSync('/etc/firewalld/firewalld.conf', path.join(dir, 'firewalld.conf'));
  fs.cpSync(tree, dir, { recursive: true });
  return dir;
}

/** firewall-offline-cmd against DIR; exit 0 and nothing on stderr. */
function offline(dir: string, ...args: string[]): string {
  const r = run(OFFLINE, ['--system-config', dir, ...args]);
  assert.ok(r.code === 0 && r.stderr.trim() === '', `${OFFLINE} ${args.join(' ')}: exit ${r.code}\n${r.stderr}${r.stdout}`);
  return r.stdout;
}

/** A get-zone-of query that finds none: exit 2, "no zone" on stderr. */
function noZone(dir: string, query: string): string {
  const r = run(OFFLINE, ['--system-config', dir, query]);
  return r.code === 2 ? r.stderr.trim() : `exit ${r.code}: ${r.stdout.trim()}`;
}

function requireTool(): void {
  const r = spawnSync(OFFLINE, ['--version'], { encoding: 'utf8' });
  if (r.error || r.status !== 0) throw new Error(`firewalld tests need ${OFFLINE} (Debian package firewalld): ${r.error?.message ?? r.stderr}`);
}

/** "key: value" lines of --info-zone / --info-policy / --info-ipset. */
function info(text: string): Record<string, string> {
  const o: Record<string, string> = {};
  for (const line of text.split('\n')) {
    const m = /^\s+([a-z -]+):\s?(.*)$/.exec(line);
    if (m) o[m[1]] = m[2].trim();
  }
  return o;
}

const richRules = (dir: string, kind: 'zone' | 'policy', name: string) =>
  offline(dir, `--${kind}=${name}`, '--list-rich-rules')
    .split('\n')
    .map((l) => l.trim())
    .filter(Boolean);

/** Every ipset a rule names must exist: --check-config does not check it. */
function assertIpsetsExist(dir: string, rules: string[]): void {
  const have = new Set(offline(dir, '--get-ipsets').trim().split(/\s+/));
  for (const r of rules) {
    const m = /ipset="([^"]+)"/.exec(r);
    if (m) assert.ok(have.has(m[1]), `rule names missing ipset ${m[1]}: ${r}`);
  }
}

const ingressRule = (family: string, ipset: string, port: string) =>
  `rule family="${family}" source ipset="${ipset}" port port="${port}" protocol="tcp" accept`;
const egressRule = (family: string, ipset: string, port: string) =>
  `rule family="${family}" destination ipset="${ipset}" port port="${port}" protocol="tcp" accept`;

// ---------------------------------------------------------------- example

test('example profile: firewall-offline-cmd accepts the tree and reads back zone, ipsets, policy', () => {
  requireTool();
  const tree = compileTree(fixture('profiles', 'example.yaml'));
  assert.equal(listTree(tree), [
    'ipsets/portcullis-admins_v4.xml',
    'ipsets/portcullis-admins_v6.xml',
    'ipsets/portcullis-nodes_v4.xml',
    'ipsets/portcullis-users_v4.xml',
    'policies/portcullis-out.xml',
    'zones/portcullis.xml',
  ]);
  const dir = configDir(tree);
  offline(dir, '--check-config');
  assert.ok(offline(dir, '--get-zones').split(/\s+/).includes('portcullis'));
  // The documented apply step, offline: the tree cannot carry DefaultZone.
  assert.is(offline(dir, '--get-default-zone').trim(), 'public', 'the tree leaves firewalld.conf alone');
  offline(dir, '--set-default-zone=portcullis');
  assert.is(offline(dir, '--get-default-zone').trim(), 'portcullis');
  assert.match(fs.readFileSync(path.join(dir, 'firewalld.conf'), 'utf8'), /^DefaultZone=portcullis$/m, 'set-default-zone persists in firewalld.conf');

  const zone = info(offline(dir, '--info-zone=portcullis'));
  // ACCEPT is what firewalld gives forwarded traffic entering the zone; inbound ends at the last rule (drop).
  assert.is(zone.target, 'ACCEPT');
  assert.is(zone.sources, '', 'no source claims: other zones keep theirs');
  assert.is(zone.interfaces, '', 'the example profile binds no interface');
  assert.is(zone.services, '');
  assert.is(zone.ports, '');
  assert.is(zone.forward, 'no');
  assert.is(noZone(dir, '--get-zone-of-source=0.0.0.0/0'), 'no zone', 'the zone does not claim the address space');

  const rules = richRules(dir, 'zone', 'portcullis');
  for (const r of [
    ingressRule('ipv4', 'portcullis-admins_v4', '22'),
    ingressRule('ipv6', 'portcullis-admins_v6', '22'),
    ingressRule('ipv4', 'portcullis-admins_v4', '4852-4853'),
    ingressRule('ipv4', 'portcullis-admins_v4', '12345'),
    ingressRule('ipv4', 'portcullis-users_v4', '80'),
    ingressRule('ipv4', 'portcullis-users_v4', '443'),
    ingressRule('ipv4', 'portcullis-nodes_v4', '5432'),
    ingressRule('ipv4', 'portcullis-nodes_v4', '20000-65535'),
    'rule family="ipv4" icmp-type name="echo-request" accept',
    'rule family="ipv4" icmp-type name="destination-unreachable" accept',
    'rule family="ipv6" icmp-type name="neighbour-solicitation" accept',
    'rule family="ipv6" icmp-type name="neighbour-advertisement" accept',
    'rule family="ipv6" icmp-type name="router-advertisement" accept',
    'rule family="ipv6" icmp-type name="packet-too-big" accept',
    'rule family="ipv6" source address="fe80::/10" protocol value="ipv6-icmp" accept',
    // Host baseline: the DHCPv6 reply (source port 547 not matched: one element per rich rule).
    'rule family="ipv6" source address="fe80::/10" destination address="fe80::/10" port port="546" protocol="udp" accept',
    // Default deny, after every accept; no logging by default.
    'rule priority="32767" drop',
  ])
    assert.ok(rules.includes(r), `missing rich rule: ${r}\n${rules.join('\n')}`);
  assert.is(rules.filter((r) => r.includes('priority=')).length, 1, 'one rule with a priority: the final drop');
  assert.not.ok(rules.some((r) => / log |nflog/.test(r)), 'host.log.drops is off by default');
  // Not opened: users have no IPv6 addresses; support is off; admins get no
  // node-only ports; no rule opens a port without a source set.
  assert.not.ok(rules.some((r) => r.includes('users_v6')), 'no IPv6 users in the example profile');
  assert.not.ok(rules.some((r) => r.includes('support')), 'feature support is off');
  assert.not.ok(rules.includes(ingressRule('ipv4', 'portcullis-admins_v4', '5432')));
  assert.not.ok(
    rules.some((r) => r.includes(' port ') && !r.includes('source ipset=') && !r.includes('source address="fe80::/10" destination address="fe80::/10"')),
    'every port rule is bound to a source ipset, but the link-local DHCPv6 reply',
  );

  // One rich rule per (IR ingress rule, port range), plus the ICMP rules:
  // addresses never multiply the rule count.
  const { ir } = load({ profile: { path: 'example.yaml', text: fs.readFileSync(fixture('profiles', 'example.yaml'), 'utf8') } });
  const ingress = ir.rules.filter((r) => r.scope === 'host' && r.direction === 'ingress');
  const portRules = ingress.reduce((n, r) => n + r.ports.length, 0);
  assert.is(rules.filter((r) => r.includes('source ipset=')).length, portRules);
  assertIpsetsExist(dir, rules);

  const ipsets = offline(dir, '--get-ipsets').trim().split(/\s+/).sort();
  assert.equal(ipsets, ['portcullis-admins_v4', 'portcullis-admins_v6', 'portcullis-nodes_v4', 'portcullis-users_v4']);
  const users = info(offline(dir, '--info-ipset=portcullis-users_v4'));
  assert.is(users.type, 'hash:net');
  assert.is(users.options, 'family=inet');
  assert.is(users.entries, '0.0.0.0/1 128.0.0.0/1', '0.0.0.0/0 cannot be a hash:net entry: written as two /1');
  assert.is(info(offline(dir, '--info-ipset=portcullis-admins_v6')).options, 'family=inet6');
  assert.is(info(offline(dir, '--info-ipset=portcullis-admins_v6')).entries, '2001:db8:ad::/48');
  assert.is(info(offline(dir, '--info-ipset=portcullis-nodes_v4')).entries, '10.20.0.11 10.20.0.12/31');
  assert.is(offline(dir, '--ipset=portcullis-admins_v4', '--query-entry=198.51.100.0/24').trim(), 'yes');

  // egress: allow -> a policy that restricts nothing.
  const policy = info(offline(dir, '--info-policy=portcullis-out'));
  assert.is(policy.target, 'CONTINUE');
  assert.is(policy['ingress-zones'], 'HOST');
  assert.is(policy['egress-zones'], 'ANY');
  assert.equal(richRules(dir, 'policy', 'portcullis-out'), []);
});

// --------------------------------------------------------------- restrict

test('restrict profile: egress policy HOST -> ANY with target DROP, egress rules and ICMPv6; off-host rules only in a comment', () => {
  requireTool();
  const tree = compileTree(fixture('profiles', 'restrict.yaml'));
  const dir = configDir(tree);
  offline(dir, '--check-config');

  const policy = info(offline(dir, '--info-policy=portcullis-out'));
  assert.is(policy.target, 'DROP');
  assert.is(policy['ingress-zones'], 'HOST');
  assert.is(policy['egress-zones'], 'ANY');
  const out = richRules(dir, 'policy', 'portcullis-out');
  for (const r of [
    egressRule('ipv4', 'portcullis-smtp_relay_v4', '25'),
    egressRule('ipv4', 'portcullis-ldap_server_v4', '389'),
    egressRule('ipv6', 'portcullis-ldap_server_v6', '389'),
    egressRule('ipv4', 'portcullis-file_transfer_v4', '443'),
    egressRule('ipv4', 'portcullis-nodes_v4', '5432'),
    egressRule('ipv6', 'portcullis-nodes_v6', '32768-60999'),
    'rule family="ipv6" icmp-type name="neighbour-solicitation" accept',
    'rule family="ipv6" icmp-type name="neighbour-advertisement" accept',
    'rule family="ipv6" icmp-type name="router-solicitation" accept',
    'rule family="ipv6" destination address="ff02::/16" protocol value="ipv6-icmp" accept',
  ])
    assert.ok(out.includes(r), `missing egress rich rule: ${r}\n${out.join('\n')}`);
  assert.not.ok(out.some((r) => r.includes('source ipset=')), 'egress rules match destinations');
  assert.not.ok(out.some((r) => /ipset="portcullis-(users|admins|support)/.test(r)), 'no egress to users, admins or support');
  assertIpsetsExist(dir, out);

  const zone = richRules(dir, 'zone', 'portcullis');
  for (const r of [
    ingressRule('ipv4', 'portcullis-admins_v4', '22'),
    ingressRule('ipv4', 'portcullis-support_v4', '22'),
    ingressRule('ipv6', 'portcullis-support_v6', '22'),
    ingressRule('ipv6', 'portcullis-users_v6', '443'),
    ingressRule('ipv6', 'portcullis-nodes_v6', '32768-60999'),
  ])
    assert.ok(zone.includes(r), `missing ingress rich rule: ${r}`);
  assert.not.ok(zone.includes(ingressRule('ipv4', 'portcullis-admins_v4', '2201')), 'debug is off');
  assertIpsetsExist(dir, zone);
  assert.is(info(offline(dir, '--info-ipset=portcullis-users_v6')).entries, '2001:db8:100::/40');

  // IPMI (support -> bmc) cannot be enforced on the nodes: listed, not ruled.
  const xml = fs.readFileSync(path.join(tree, 'zones', 'portcullis.xml'), 'utf8');
  assert.match(xml, /Rules no host firewall can enforce[^]*offhost-support-\S*bmc\S*: support -> bmc, tcp 80 \(T5\.1\)[^]*-->\s*<zone /);
  assert.not.ok(offline(dir, '--get-ipsets').includes('bmc'), 'no ipset for the off-host BMC group');
});

// ------------------------------------------------------------ host options

test('host options: zone bound to firewalld.interfaces, trusted interfaces not bound, logged final drops (kernel log and NFLOG), egress baseline under restrict', () => {
  requireTool();
  const tree = compileTree(fixture('profiles', 'host-options.yaml'));
  const dir = configDir(tree);
  offline(dir, '--check-config');
  offline(dir, '--set-default-zone=portcullis');

  const zone = info(offline(dir, '--info-zone=portcullis'));
  assert.is(zone.interfaces, 'eth0', 'firewalld.interfaces');
  assert.is(zone.sources, '');
  // docker0 and virbr0 are trusted: their managers bind them; ours would be a ZONE_CONFLICT.
  for (const i of ['docker0', 'virbr0']) assert.is(noZone(dir, `--get-zone-of-interface=${i}`), 'no zone', `${i} is not bound`);
  const xml = fs.readFileSync(path.join(tree, 'zones', 'portcullis.xml'), 'utf8');
  assert.match(xml, /host\.trusted_interfaces \(docker0, virbr0\): not bound here/);

  const zoneRules = richRules(dir, 'zone', 'portcullis');
  assert.equal(
    zoneRules.filter((r) => r.includes('priority=')),
    ['rule priority="32767" log prefix="portcullis-drop in: " level="warning" limit value="5/m" drop'],
    'one final rule: rate-limited log, then drop',
  );

  const policy = info(offline(dir, '--info-policy=portcullis-out'));
  assert.is(policy.target, 'DROP');
  assert.is(policy.priority, '-1', 'the priority the trusted-interface note in the policy names');
  const out = richRules(dir, 'policy', 'portcullis-out');
  for (const r of [
    'rule family="ipv4" port port="67" protocol="udp" accept',
    'rule family="ipv6" destination address="ff02::1:2" port port="547" protocol="udp" accept',
    'rule family="ipv4" destination address="169.254.169.254" port port="80" protocol="tcp" accept',
    'rule family="ipv6" destination address="fd00:ec2::254" port port="80" protocol="tcp" accept',
    'rule priority="32767" log prefix="portcullis-drop out: " level="warning" limit value="5/m" drop',
  ])
    assert.ok(out.includes(r), `missing egress rich rule: ${r}\n${out.join('\n')}`);
  assertIpsetsExist(dir, [...zoneRules, ...out]);

  // With an NFLOG group: nflog instead of log.
  const text = fs.readFileSync(fixture('profiles', 'host-options.yaml'), 'utf8');
  const grouped = text.replace('log: { drops: true, rate: 5/minute }', 'log: { drops: true, rate: 2/second, group: 42 }');
  assert.is.not(grouped, text, 'host-options.yaml: log line not found');
  const profile = path.join(tmpDir('prof'), 'nflog.yaml');
  fs.writeFileSync(profile, grouped);
  const dir2 = configDir(compileTree(profile));
  offline(dir2, '--check-config');
  assert.ok(richRules(dir2, 'zone', 'portcullis').includes('rule priority="32767" nflog group="42" prefix="portcullis-drop in: " limit value="2/s" drop'));
  assert.ok(richRules(dir2, 'policy', 'portcullis-out').includes('rule priority="32767" nflog group="42" prefix="portcullis-drop out: " limit value="2/s" drop'));
});

test('egress allow: the policy has no rules, not even a log rule, whatever host.log says', () => {
  requireTool();
  const text = fs.readFileSync(fixture('profiles', 'host-options.yaml'), 'utf8');
  const allow = text.replace(/^egress: restrict$/m, 'egress: allow');
  assert.is.not(allow, text);
  const profile = path.join(tmpDir('prof'), 'allow.yaml');
  fs.writeFileSync(profile, allow);
  const dir = configDir(compileTree(profile));
  offline(dir, '--check-config');
  assert.is(info(offline(dir, '--info-policy=portcullis-out')).target, 'CONTINUE');
  assert.equal(richRules(dir, 'policy', 'portcullis-out'), []);
});

test('an interface both bound to zone portcullis and trusted is an error at its place in the profile', () => {
  const text = fs.readFileSync(fixture('profiles', 'host-options.yaml'), 'utf8');
  const both = text.replace('firewalld: { interfaces: [eth0] }', 'firewalld: { interfaces: [eth0, docker0] }');
  assert.is.not(both, text);
  const profile = path.join(tmpDir('prof'), 'both.yaml');
  fs.writeFileSync(profile, both);
  const r = runCli(['compile', '--profile', profile, '--target', 'firewalld', '--out-dir', tmpDir('out')]);
  assert.is(r.code, 2, r.stderr);
  const line = both.split('\n').findIndex((l) => l.startsWith('firewalld:')) + 1;
  assert.match(r.stderr, new RegExp(`both\\.yaml:${line}:\\d+: error: interface 'docker0' is both in firewalld\\.interfaces`));
  assert.match(r.stderr, /hint: firewalld puts an interface in one zone only/);
});

// ---------------------------------------------------------------- escaping

const EVIL =
  `Evil "double" 'single' back\\slash \\n $(rm -rf /) \`id\` <b>&amp; & < > --> ]]> <!-- --- x - ` + '\n' + `second line -`;

/** The built-in catalog with the SSH row's description (and the title)
 * replaced by hostile text. */
function evilCatalog(): string {
  const text = fs.readFileSync(path.join(ROOT, 'catalog', 'thoughtspot.yaml'), 'utf8');
  const row = 'description: "Secure shell access. Also used for scp (secure copy)."';
  assert.ok(text.includes(row), 'catalog: SSH row description not found');
  const title = 'title: ThoughtSpot cluster network ports';
  assert.ok(text.includes(title), 'catalog: title not found');
  const evil = text.replace(row, `description: ${JSON.stringify(EVIL)}`).replace(title, `title: ${JSON.stringify('T -- "x" & <y> -->')}`);
  const file = path.join(tmpDir('cat'), 'evil.yaml');
  fs.writeFileSync(file, evil);
  return file;
}

/** Parses XML with Python's expat (strict; firewalld parses with it too) and
 * returns comments and element texts. */
function parseXml(file: string): { comments: string[]; texts: Record<string, string[]> } {
  const py = `
import json, sys, xml.dom.minidom as m
d = m.parse(sys.argv[1])
comments, texts = [], {}
def walk(n):
    for c in n.childNodes:
        if c.nodeType == c.COMMENT_NODE: comments.append(c.data)
        elif c.nodeType == c.ELEMENT_NODE:
            t = ''.join(x.data for x in c.childNodes if x.nodeType == x.TEXT_NODE)
            texts.setdefault(c.tagName, []).append(t)
            walk(c)
walk(d)
print(json.dumps({'comments': comments, 'texts': texts}))
`;
  const r = run(firewalldPython(), ['-c', py, file]);
  assert.is(r.code, 0, `XML parse of ${file} failed: ${r.stderr}`);
  return JSON.parse(r.stdout);
}

/** The Python firewall-offline-cmd runs with (it has firewalld's modules). */
function firewalldPython(): string {
  const which = run('sh', ['-c', `command -v ${OFFLINE}`]).stdout.trim();
  const shebang = /^#!\s*(\S+)/.exec(fs.readFileSync(which, 'utf8'))?.[1];
  return shebang ?? 'python3';
}

test('hostile catalog text: the tree is still accepted, rules unchanged, text intact in <description>, comments safe', () => {
  requireTool();
  const catalog = evilCatalog();
  const profile = fixture('profiles', 'restrict.yaml');
  const tree = compileTree(profile, { catalog });
  const dir = configDir(tree);
  offline(dir, '--check-config');

  // The text changed no rule: same rich rules as with the stock catalog.
  const plain = configDir(compileTree(profile));
  assert.equal(richRules(dir, 'zone', 'portcullis'), richRules(plain, 'zone', 'portcullis'));
  assert.equal(richRules(dir, 'policy', 'portcullis-out'), richRules(plain, 'policy', 'portcullis-out'));

  // firewalld's own reader gets the description back with the text intact
  // (firewalld turns line breaks into spaces; the compiler does the same).
  const kept = `T1.1 SSH (ops-ssh; 22): ${oneLine(EVIL)}`;
  const py = `
import sys
from firewall.core.io.zone import zone_reader
z = zone_reader('portcullis.xml', sys.argv[1])
sys.stdout.write(z.description)
`;
  const r = run(firewalldPython(), ['-c', py, path.join(dir, 'zones')]);
  assert.is(r.code, 0, r.stderr);
  assert.ok(r.stdout.includes(kept), `firewalld's description lacks the text:\n${kept}\n---\n${r.stdout.slice(0, 600)}`);
  for (const s of ['$(rm -rf /)', '"double"', "'single'", 'back\\slash \\n', '`id`', '<b>&amp; & < > --> ]]> <!--'])
    assert.ok(r.stdout.includes(s), `lost: ${s}`);

  for (const file of listTree(tree)) {
    const full = path.join(tree, file);
    const { comments } = parseXml(full);
    for (const c of comments) {
      assert.not.ok(c.includes('--'), `${file}: comment with "--": ${c}`);
      assert.not.ok(c.endsWith('-'), `${file}: comment ends with "-"`);
    }
    // The header comment carries the (escaped) title in every file.
    assert.ok(comments[0].includes('T - - "x" & <y> - ->'), `${file}: title in header comment: ${comments[0].split('\n')[2]}`);
  }
  const zoneXml = parseXml(path.join(tree, 'zones', 'portcullis.xml'));
  assert.ok(zoneXml.texts.description[0].includes(kept), 'zone <description> parses back with the text');
  // The comment next to the rules keeps everything but the double dashes.
  const note = zoneXml.comments.find((c) => c.includes('T1.1 SSH (ops-ssh;'));
  assert.ok(note, 'provenance comment for the SSH row');
  assert.is(note!.trim(), xmlCommentLine(kept).trim());
  for (const s of ['$(rm -rf /)', '"double"', '<b>&amp; & < > - -> ]]> <!- - - - - x -', 'second line -'])
    assert.ok(note!.includes(s), `comment lost: ${s}\n${note}`);
});

// ------------------------------------------------------------- unit checks

test('escaping helpers: no "--" and no trailing "-" in comments; XML text escapes all five', () => {
  for (const s of ['-->', '--', '---', 'a-', '-', '- -', 'x --> y', '<!-- a -- b -->', '\u0000\u0007-\u2028-', 'é – — ‐']) {
    const c = xmlCommentLine(s);
    assert.not.ok(c.includes('--'), `${JSON.stringify(s)} -> ${JSON.stringify(c)}`);
    assert.not.ok(c.endsWith('-'), `${JSON.stringify(s)} -> ${JSON.stringify(c)}`);
    assert.not.ok(/[\u0000-\u001f]/.test(c));
  }
  assert.is(xmlText(`a&b<c>d"e'f ]]>`), 'a&amp;b&lt;c&gt;d&quot;e&apos;f ]]&gt;');
  assert.is(xmlText('x\u0000\u0008y\ufffez'), 'xyz', 'characters XML 1.0 forbids are dropped');
});

test('ipset names: <= 31 characters, valid, deterministic, distinct', () => {
  assert.is(ipsetName('admins_v4'), 'portcullis-admins_v4');
  const long = ['a_very_long_group_name_for_file_transfer_v4', 'a_very_long_group_name_for_file_transfer_v6', 'a_very_long_group_name_for_file_transfer2_v4'];
  const names = long.map(ipsetName);
  for (const n of names) {
    assert.ok(n.length <= IPSET_NAME_MAX, n);
    assert.match(n, /^[A-Za-z0-9_.-]+$/);
  }
  assert.is(new Set(names).size, names.length, 'distinct');
  assert.equal(long.map(ipsetName), names, 'deterministic');
  assert.ok(ipsetName('x'.repeat(20)).length <= IPSET_NAME_MAX);
});

test('10,000 node addresses: same rich-rule count as 3 nodes; only the ipset grows; firewalld accepts it', () => {
  requireTool();
  const text = fs.readFileSync(fixture('profiles', 'example.yaml'), 'utf8');
  // Every other address of 10.20.0.0/16 from 10.20.0.2: none adjacent, so 10,000 entries.
  const nodes = Array.from({ length: 10000 }, (_, i) => {
    const v = (10 << 24) | (20 << 16) | (2 * i + 2);
    return `"${[v >>> 24, (v >> 16) & 255, (v >> 8) & 255, v & 255].join('.')}"`;
  });
  const big = text.replace(/^  nodes: .*$/m, `  nodes: [${nodes.join(', ')}]`);
  assert.is.not(big, text);
  const file = path.join(tmpDir('big'), 'big.yaml');
  fs.writeFileSync(file, big);

  const count = (tree: string) => (fs.readFileSync(path.join(tree, 'zones', 'portcullis.xml'), 'utf8').match(/<rule /g) ?? []).length;
  const small = compileTree(fixture('profiles', 'example.yaml'));
  const large = compileTree(file);
  assert.is(count(large), count(small));
  const entries = fs.readFileSync(path.join(large, 'ipsets', 'portcullis-nodes_v4.xml'), 'utf8').match(/<entry>/g) ?? [];
  assert.is(entries.length, 10000);
  const dir = configDir(large);
  offline(dir, '--check-config');
  assert.is(offline(dir, '--ipset=portcullis-nodes_v4', '--query-entry=10.20.78.32').trim(), 'yes');
});

test('output is deterministic and independent of the environment', () => {
  const text = fs.readFileSync(fixture('profiles', 'restrict.yaml'), 'utf8');
  const a = renderFirewalld(load({ profile: { path: 'a.yaml', text } }).ir);
  const b = renderFirewalld(load({ profile: { path: 'b/other.yaml', text } }).ir);
  assert.equal(a, b);
  assert.not.ok(a.some((f) => /\d{4}-\d\d-\d\dT/.test(f.content)), 'no timestamps');
});

// ------------------------------------------------------------------ golden

for (const [env, profile] of [
  ['prod-east', 'example.yaml'],
  ['restrict', 'restrict.yaml'],
] as const) {
  test(`golden: fixtures/golden/${env}/firewalld matches the compiler output byte for byte`, () => {
    const golden = fixture('golden', env, 'firewalld');
    assert.ok(fs.existsSync(golden), `missing ${golden}`);
    const tree = compileTree(fixture('profiles', profile));
    assert.equal(listTree(tree), listTree(golden), 'file list');
    for (const f of listTree(golden)) assert.fixture(fs.readFileSync(path.join(tree, f), 'utf8'), fs.readFileSync(path.join(golden, f), 'utf8'));
  });
}

test.run();
