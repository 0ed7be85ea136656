// extra_egress: the outbound flows a profile adds to the catalog's ("what the
// profile adds" under egress: restrict). They reach every target as IR egress
// rules citing the profile (P.N), and a real kernel lets exactly them through.
import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { explainFlow } from '../src/analysis/explain';
import { compile, load } from '../src/compile';
import { fixture, runCli } from './helpers/cli';

const FILE = fixture('profiles', 'extra-egress.yaml');
const TEXT = fs.readFileSync(FILE, 'utf8');

test('extra_egress entries become egress rules citing the profile', () => {
  const { ir } = load({ profile: { path: 'extra-egress.yaml', text: TEXT } });
  const extra = ir.rules.filter((r) => r.provenance.some((p) => p.table === 'P'));
  const brief = extra.map((r) => [r.id, r.direction, r.transport, r.ports.map((p) => (p.lo === p.hi ? `${p.lo}` : `${p.lo}-${p.hi}`)).join(',')]);
  assert.equal(brief, [
    ['out-extra_egress_1-v4-udp', 'egress', 'udp', '53'],
    ['out-extra_egress_1-v6-udp', 'egress', 'udp', '53'],
    ['out-extra_egress_2-v4-tcp', 'egress', 'tcp', '53,853'],
  ]);
  assert.is(extra[0].provenance[0].ref, 'P.1');
  assert.is(extra[0].provenance[0].service, 'DNS resolvers');
});

test('explain: DNS over UDP to the resolver is allowed, to anything else denied (egress: restrict)', () => {
  const loaded = load({ profile: { path: 'extra-egress.yaml', text: TEXT } });
  assert.is(explainFlow(loaded, { from: '10.20.0.11', to: '10.20.0.53', port: '53/udp' }).verdict, 'allow');
  assert.is(explainFlow(loaded, { from: '10.20.0.11', to: '10.20.0.53', port: '853/tcp' }).verdict, 'allow');
  assert.is(explainFlow(loaded, { from: '10.20.0.11', to: '10.20.0.53', port: '853/udp' }).verdict, 'deny');
  assert.is(explainFlow(loaded, { from: '10.20.0.11', to: '192.0.2.53', port: '53/udp' }).verdict, 'deny');
  assert.is(explainFlow(loaded, { from: '2001:db8:20::11', to: '2001:db8:53::53', port: '53/udp' }).verdict, 'allow');
});

test('every target compiles it', () => {
  const r = compile({ profile: { path: 'extra-egress.yaml', text: TEXT } });
  assert.ok(r.ok, JSON.stringify(!r.ok && r.diagnostics));
  if (!r.ok) return;
  const nft = r.files.find((f) => f.path.endsWith('portcullis.nft'))!.content;
  assert.match(nft, /ip daddr @extra_egress_1_v4 udp dport 53 accept comment "out-extra_egress_1-v4-udp P\.1"/);
  const v6 = r.files.find((f) => f.path.endsWith('rules.v6'))!.content;
  assert.match(v6, /-A PORTCULLIS-OUTPUT -m set --match-set pc-extra_egress_1_v6 dst -p udp --dport 53 /);
});

test('a bad extra_egress entry is a positioned error', () => {
  const bad = TEXT.replace('[10.20.0.53, "2001:db8:53::53"]', '[10.20.0.53/24, "2001:db8:53::53"]').replace('ports: [53, 853]', 'ports: [53, 70000]');
  assert.is.not(bad, TEXT);
  const file = `${require('os').tmpdir()}/pc-xe-bad.yaml`;
  fs.writeFileSync(file, bad);
  const r = runCli(['validate', '--profile', file]);
  assert.is(r.code, 2);
  assert.match(r.stderr, /pc-xe-bad\.yaml:10:10: error: in extra_egress: '10\.20\.0\.53\/24' has host bits set/);
  assert.match(r.stderr, /pc-xe-bad\.yaml:15:17: error: 'extra_egress\.1\.ports\.1' has an invalid value/);
});

test('a hostile extra_egress description (profile text) cannot escape any target', () => {
  const nasty = 'x" */ --> ]]> ${var.a} %{ if } $(rm -rf /) `id` \\ <b>&amp;\nCOMMIT\n-A INPUT -j ACCEPT\n}';
  const text = TEXT.replace('description: DNS resolvers', `description: ${JSON.stringify(nasty)}`);
  assert.is.not(text, TEXT);
  const r = compile({ profile: { path: 'hostile.yaml', text } });
  assert.ok(r.ok, JSON.stringify(!r.ok && r.diagnostics));
  if (!r.ok) return;
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pc-xe-hostile-'));
  try {
    for (const f of r.files) {
      fs.mkdirSync(path.dirname(path.join(dir, f.path)), { recursive: true });
      fs.writeFileSync(path.join(dir, f.path), f.content);
    }
    const d = path.join(dir, r.environment);
    const load = spawnSync('unshare', ['-Urn', 'sh', '-c', `nft -f ${d}/nftables/portcullis.nft && ipset restore -exist < ${d}/iptables/ipsets && iptables-restore --noflush < ${d}/iptables/rules.v4 && ip6tables-restore --noflush < ${d}/iptables/rules.v6 && iptables -S`], { encoding: 'utf8' });
    assert.is(load.status, 0, load.stderr);
    assert.not.match(load.stdout, /^-A INPUT -j ACCEPT$/m);
    fs.copyFileSync('/etc/firewalld/firewalld.conf', path.join(d, 'firewalld', 'firewalld.conf'));
    const fw = spawnSync('firewall-offline-cmd', ['--system-config', path.join(d, 'firewalld'), '--check-config'], { encoding: 'utf8' });
    assert.is(fw.status, 0, fw.stderr);
    assert.is(fw.stderr.trim(), '');
    const fmt = spawnSync('terraform', ['fmt', '-check', path.join(d, 'terraform-aws')], { encoding: 'utf8' });
    assert.is(fmt.status, 0, fmt.stdout + fmt.stderr);
    JSON.parse(fs.readFileSync(path.join(d, 'azure-nsg', 'nsg.json'), 'utf8'));
    // The text survives on one comment line where a target keeps it.
    assert.ok(fs.readFileSync(path.join(d, 'nftables', 'portcullis.nft'), 'utf8').includes('# P.1 x" */ --> ]]> ${var.a} %{ if } $(rm -rf /) `id` \\ <b>&amp; COMMIT -A INPUT -j ACCEPT }'));
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('verify: the kernel lets exactly the extra flows out (nftables)', () => {
  const r = runCli(['verify', '--profile', FILE, '--target', 'nftables']);
  assert.is(r.code, 0, r.stdout + r.stderr);
  assert.match(r.stdout, /0 failed/);
});

test.run();
