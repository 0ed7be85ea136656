// extra_ingress: inbound flows a profile adds to the catalog's (a monitoring
// or backup agent that must reach the nodes). They reach every target as IR
// ingress rules citing the profile (PI.N), explain and diff name them as
// profile rows, and real kernels let exactly them in.
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { diffPolicies } from '../src/analysis/diff';
import { explainFlow } from '../src/analysis/explain';
import { compile, load } from '../src/compile';
import { fixture, runCli } from './helpers/cli';

const FILE = fixture('profiles', 'extra-ingress.yaml');
const TEXT = fs.readFileSync(FILE, 'utf8');

test('extra_ingress entries become ingress rules from groups of their own, citing the profile', () => {
  const { ir } = load({ profile: { path: 'extra-ingress.yaml', text: TEXT } });
  const extra = ir.rules.filter((r) => r.provenance.some((p) => p.table === 'PI'));
  const brief = extra.map((r) => [r.id, r.direction, r.transport, r.ports.map((p) => (p.lo === p.hi ? `${p.lo}` : `${p.lo}-${p.hi}`)).join(',')]);
  assert.equal(brief, [
    ['in-extra_ingress_1-v4-tcp', 'ingress', 'tcp', '9100'],
    ['in-extra_ingress_2-v4-tcp', 'ingress', 'tcp', '873,8200-8210'],
    ['in-extra_ingress_2-v6-tcp', 'ingress', 'tcp', '873,8200-8210'],
    ['in-extra_ingress_3-v4-udp', 'ingress', 'udp', '161'],
  ]);
  assert.equal(extra.map((r) => r.provenance[0].ref), ['PI.1', 'PI.2', 'PI.2', 'PI.3']);
  assert.is(extra[0].provenance[0].heading, 'site profile: extra_ingress');
});

test('explain: the monitoring server reaches 9100 and nothing else it was not given; the poller udp 161 only', () => {
  const loaded = load({ profile: { path: 'extra-ingress.yaml', text: TEXT } });
  const e = explainFlow(loaded, { from: '192.0.2.50', to: '10.20.0.11', port: '9100/tcp' });
  assert.is(e.verdict, 'allow');
  assert.match(JSON.stringify(e), /PI\.1/);
  assert.is(explainFlow(loaded, { from: '192.0.2.51', to: '10.20.0.11', port: '9100/tcp' }).verdict, 'deny');
  assert.is(explainFlow(loaded, { from: '192.0.2.60', to: '10.20.0.11', port: '161/udp' }).verdict, 'allow');
  assert.is(explainFlow(loaded, { from: '192.0.2.60', to: '10.20.0.11', port: '161/tcp' }).verdict, 'deny');
  assert.is(explainFlow(loaded, { from: '2001:db8:b::7', to: '2001:db8:20::11', port: '8205/tcp' }).verdict, 'allow');
  assert.is(explainFlow(loaded, { from: '2001:db8:c::7', to: '2001:db8:20::11', port: '8205/tcp' }).verdict, 'deny');
});

test('diff: adding an extra_ingress entry is an opened flow cited as a profile row', () => {
  const base = TEXT.slice(0, TEXT.indexOf('extra_ingress:'));
  const before = load({ profile: { path: 'before.yaml', text: base } });
  const after = load({ profile: { path: 'after.yaml', text: TEXT } });
  const d = diffPolicies(before, after);
  const text = JSON.stringify(d);
  assert.match(text, /192\.0\.2\.50/);
  assert.match(text, /PI\.1/);
  assert.not.match(JSON.stringify(diffPolicies(after, after)), /PI\.1/);
});

test('every target compiles it; a bad entry is a positioned error; a catalog may not take the reserved names', () => {
  const r = compile({ profile: { path: 'extra-ingress.yaml', text: TEXT } });
  assert.ok(r.ok, JSON.stringify(!r.ok && r.diagnostics));
  if (!r.ok) return;
  const tf = r.files.find((f) => f.path.endsWith('main.tf'))!.content;
  assert.match(tf, /192\.0\.2\.50\/32/);
  const nsg = r.files.find((f) => f.path.endsWith('nsg.json'))!.content;
  assert.match(nsg, /2001:db8:b::\/64/);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pc-xi-'));
  const bad = path.join(dir, 'bad.yaml');
  fs.writeFileSync(bad, TEXT.replace('from: [192.0.2.50]', 'from: [192.0.2.50/24]').replace('ports: [161]', 'ports: [0]'));
  const v = runCli(['validate', '--profile', bad]);
  assert.is(v.code, 2);
  assert.match(v.stderr, /bad\.yaml:10:12: error: in extra_ingress: '192\.0\.2\.50\/24' has host bits set/);
  assert.match(v.stderr, /bad\.yaml:17:13: error: 'extra_ingress\.2\.ports\.0' has an invalid value/);
  const cat = path.join(dir, 'cat.yaml');
  fs.writeFileSync(cat, fs.readFileSync(path.join(__dirname, '..', '..', 'catalog', 'thoughtspot.yaml'), 'utf8').replace(/^ {2}admins:/m, '  extra_ingress_1:'));
  const c = runCli(['validate', '--profile', FILE, '--catalog', cat]);
  assert.is(c.code, 2);
  assert.match(c.stderr, /group name 'extra_ingress_1' is reserved/);
  fs.rmSync(dir, { recursive: true, force: true });
});

test('verify: the kernel lets exactly the extra inbound flows in (nftables, iptables)', () => {
  const r = runCli(['verify', '--profile', FILE, '--target', 'nftables,iptables']);
  assert.is(r.code, 0, r.stdout + r.stderr);
  assert.match(r.stdout, /0 failed/);
  assert.match(r.stdout, /192\.0\.2\.50|extra_ingress_1/);
});

test('lint reads extra_ingress addresses like any group\'s: a documentation range is noted at its own line and column', () => {
  const r = runCli(['lint', '--profile', FILE]);
  assert.is(r.code, 0, r.stderr);
  const lines = TEXT.split('\n');
  const line = lines.findIndex((l) => l.includes('203.0.113.0/28')) + 1;
  const col = lines[line - 1].indexOf('203.0.113.0/28') + 1;
  assert.match(r.stderr + r.stdout, new RegExp(`extra-ingress\\.yaml:${line}:${col}: note: '203\\.0\\.113\\.0/28' in group 'extra_ingress_2' is inside the documentation range 203\\.0\\.113\\.0/24`));
});

test.run();
