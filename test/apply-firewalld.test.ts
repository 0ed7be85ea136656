// firewalld live target (src/targets/firewalld/live.ts) against a real
// firewalld in a network namespace whose /etc/firewalld is a test-owned
// directory (bind-mounted for the daemon and everything run beside it):
// save and restore give back exactly the files that were there, never touch
// another zone's file, check rejects what the daemon would refuse, the
// reader turns the daemon's configuration into the flows the IR's flow
// model says (golden trees), drift typed by hand shows as flows, drift lines
// or unmapped rules, and the CLI applies, rolls back and audits. The
// host's own /etc/firewalld is the same before and after.
import * as fs from 'fs';
import * as path from 'path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { FAMILIES, TRANSPORTS } from '../src/analysis/flows';
import { isIcmp } from '../src/transports';
import { load } from '../src/compile';
import type { Direction, IR } from '../src/ir/types';
import { firewalldLive as live } from '../src/targets/firewalld/live';
import { localShell, LiveRead, SavedState, ToolRejected } from '../src/targets/live';
import { ADMIN_PORT, B_ONLY_PORT, expectReach as expectReachIn } from './helpers/apply-cli';
import { compileFirewalld, EtcDaemon, readTree, startEtcFirewalld, tmpDir, treeDigest } from './helpers/apply-firewalld';
import { exampleProfile, liveFlows, modelFlows } from './helpers/apply-nftables';
import { fixture } from './helpers/cli';
import { NODE4, SRC } from './helpers/kernel-suite';
import { waitFor } from './helpers/nftables-host';
import { requireNetns, startListener, Topology } from './helpers/netns';

const DIRECTIONS: Direction[] = ['ingress', 'egress'];
const HOST_ETC = '/etc/firewalld';
const hostEtcBefore = fs.existsSync(HOST_ETC) ? treeDigest(HOST_ETC) : '';

/** Another manager's zone file (as Docker's), which must stay byte for byte. */
const FOREIGN_ZONE = `<?xml version="1.0" encoding="utf-8"?>
<zone target="ACCEPT">
  <short>docker-like</short>
  <!-- written by another manager: portcullis never touches it -->
  <interface name="docker9"/>
</zone>
`;

const GOLDEN = [
  { profile: 'example.yaml', env: 'prod-east' },
  { profile: 'restrict.yaml', env: 'restrict' },
  { profile: 'host-options.yaml', env: 'host-options' },
];

/** firewalld's rich rule holds one element, so the renderer matches the
 * destination port of a baseline rule and not its source port (the
 * comment in the tree says so): the daemon really lets those egress flows
 * through from any source port, and the model must count them as flows. */
function withBaselineSourcePortsUnmatched(ir: IR): IR {
  return {
    ...ir,
    hostPolicy: { ...ir.hostPolicy, baseline: ir.hostPolicy.baseline.map((b) => (b.direction === 'egress' ? { ...b, sourcePorts: undefined } : b)) },
  };
}

test('readExpected of the golden trees: the flow rules let through exactly the IR flow model; nothing unmapped; rule ids from the XML comments', () => {
  for (const g of GOLDEN) {
    const file = fixture('profiles', g.profile);
    const { ir } = load({ profile: { path: file, text: fs.readFileSync(file, 'utf8') } });
    const read = live.readExpected(localShell, fixture('golden', g.env, 'firewalld'));
    assert.ok(read.present, g.profile);
    assert.equal(read.unmapped, [], `${g.profile}: unmapped`);
    assert.equal(read.drift, []);
    const model = withBaselineSourcePortsUnmatched(ir);
    for (const direction of DIRECTIONS)
      // ICMP aside: firewalld takes all ICMPv6 from link-local addresses
      // (neighbour discovery, MLD) where the IR lists types from anywhere;
      // its ICMP reading is covered in test/firewalld-transports.test.ts.
      for (const transport of TRANSPORTS.filter((x) => !isIcmp(x)))
        for (const family of FAMILIES) {
          const where = `${g.profile} ${direction} ${transport} ${family}`;
          if (direction === 'egress' && ir.egress === 'allow') {
            assert.equal(read.flowRules.filter((r) => r.direction === 'egress'), [], `${where}: egress allow (target CONTINUE, no rules) has no egress flows`);
            continue;
          }
          assert.equal(liveFlows(read.flowRules, direction, transport, family), modelFlows(model, direction, transport, family), where);
        }
    assert.ok(read.other.includes('default zone portcullis'), g.profile);
    assert.ok(read.other.includes('zone portcullis target ACCEPT'), g.profile);
    for (const r of ir.rules.filter((x) => x.scope === 'host' && (x.direction === 'ingress' || ir.egress === 'restrict')))
      assert.ok(
        read.flowRules.some((f) => f.ruleId === r.id),
        `${g.profile}: no flow rule carries the id ${r.id}`,
      );
    for (const r of read.flowRules) assert.not.match(r.origin, /[\n\r]/);
  }
});

// ------------------------------------------------------------ one daemon for the rest

let t: Topology;
let fwd: EtcDaemon;
let dir: string;
let a: ReturnType<typeof compileFirewalld>;
let b: ReturnType<typeof compileFirewalld>;
/** What the fresh /etc/firewalld saves as: nothing of ours, default zone public. */
let pristine: SavedState;

test.before(async () => {
  requireNetns();
  dir = tmpDir('apply');
  a = compileFirewalld(exampleProfile({}), dir, 'a');
  b = compileFirewalld(exampleProfile({ admins: ['203.0.113.0/24'], nodes: [NODE4, '10.20.0.12', SRC.admin4] }), dir, 'b');
  t = new Topology({ node: [NODE4], world: [SRC.admin4], prefix: 'pcfwd' });
  fwd = await startEtcFirewalld(t);
  fs.writeFileSync(path.join(fwd.etc, 'zones', 'docker-like.xml'), FOREIGN_ZONE);
  fwd.fw('--reload');
});

test.after(() => {
  fwd?.stop();
  t?.destroy();
  if (dir) fs.rmSync(dir, { recursive: true, force: true });
});

const foreign = () => fs.readFileSync(path.join(fwd.etc, 'zones', 'docker-like.xml'), 'utf8');
const ours = () =>
  Object.fromEntries(Object.entries(readTree(fwd.etc)).filter(([p]) => /^(zones\/portcullis\.xml|policies\/portcullis-out\.xml|ipsets\/portcullis-.*\.xml)$/.test(p)));

test('save, apply, restore: the saved files and default zone come back byte for byte; an empty save restores to none of ours and zone public; the foreign zone file is never touched', () => {
  const sh = fwd.sh;
  pristine = live.save(sh);
  assert.ok(pristine.empty, 'nothing of ours yet');
  assert.is(live.describe(pristine), 'nothing of portcullis (default zone public)');
  assert.not.ok(live.read(sh).present);

  const hostOptions = fixture('golden', 'host-options', 'firewalld');
  live.check(sh, hostOptions);
  assert.equal(ours(), {}, 'check wrote nothing');
  live.apply(sh, hostOptions);
  assert.is(fwd.fw('--get-default-zone').trim(), 'portcullis');
  assert.equal(ours(), readTree(hostOptions), 'apply wrote exactly the tree');
  const saved = live.save(sh);
  assert.not.ok(saved.empty);
  assert.match(live.describe(saved), /^firewalld zone portcullis \(8 files, default zone portcullis\)$/);
  const savedAgain = JSON.parse(JSON.stringify(saved)) as SavedState;

  live.apply(sh, a.tree);
  assert.equal(ours(), readTree(a.tree), 'A replaced the files: ipsets of host-options that A has not are gone');
  assert.not.equal(live.stateKey(live.save(sh)), live.stateKey(saved), 'another profile is another state');
  assert.fixture(foreign(), FOREIGN_ZONE, 'apply touched the foreign zone file');

  live.restore(sh, savedAgain);
  assert.equal(ours(), readTree(hostOptions), 'restore gives back the saved files');
  assert.is(live.stateKey(live.save(sh)), live.stateKey(saved));
  assert.fixture(foreign(), FOREIGN_ZONE, 'restore touched the foreign zone file');

  // Applying the same tree twice changes no state key (apply then says "unchanged").
  live.apply(sh, hostOptions);
  assert.is(live.stateKey(live.save(sh)), live.stateKey(saved));

  live.restore(sh, pristine);
  assert.equal(ours(), {}, 'restoring the empty state removes our files');
  assert.is(fwd.fw('--get-default-zone').trim(), 'public');
  assert.is(live.stateKey(live.save(sh)), live.stateKey(pristine), 'firewalld.conf says public again');
  assert.is(fwd.daemon.exec(['firewall-cmd', '--info-zone=portcullis']).code !== 0, true, 'zone portcullis is gone at run time');
  assert.ok(fwd.fw('--get-zones').includes('docker-like'), 'the foreign zone is still loaded');
  assert.fixture(foreign(), FOREIGN_ZONE);
});

test('check rejects a broken tree (unknown element, bad port, missing ipset) with firewalld\'s words and changes nothing', () => {
  const sh = fwd.sh;
  live.apply(sh, a.tree);
  const before = readTree(fwd.etc);
  const zoneA = fs.readFileSync(path.join(a.tree, 'zones', 'portcullis.xml'), 'utf8');
  const broken = (name: string, edit: (tree: string) => void): string => {
    const d = path.join(dir, `broken-${name}`);
    fs.cpSync(a.tree, d, { recursive: true });
    edit(d);
    return d;
  };
  const cases: [string, string, RegExp][] = [
    [
      'element',
      broken('element', (d) => fs.writeFileSync(path.join(d, 'zones', 'portcullis.xml'), zoneA.replace('<short>portcullis</short>', '<short>portcullis</short><bogus/>'))),
      /bogus/,
    ],
    ['port', broken('port', (d) => fs.writeFileSync(path.join(d, 'zones', 'portcullis.xml'), zoneA.replace('port="443"', 'port="99999"'))), /INVALID_PORT.*99999/],
    ['ipset', broken('ipset', (d) => fs.rmSync(path.join(d, 'ipsets', 'portcullis-users_v4.xml'))), /portcullis-users_v4/],
  ];
  for (const [what, tree, message] of cases) {
    assert.throws(
      () => live.check(sh, tree),
      (e: Error) => e instanceof ToolRejected && message.test(e.message),
      what,
    );
    assert.equal(readTree(fwd.etc), before, `checking the broken ${what} tree changed /etc/firewalld`);
  }
});

test('read of the applied tree equals readExpected; hand-made drift: a rich rule is a flow, an ipset entry widens the admins rule, runtime-only changes are drift lines, mark and source-port rules are unmapped', () => {
  const sh = fwd.sh;
  live.apply(sh, a.tree);
  const expected = live.readExpected(sh, a.tree);
  const got = live.read(sh);
  assert.equal(got, expected, 'the live read of the applied tree is its expected read');
  assert.equal(got.drift, []);

  // Accepts from everyone on 8080 (the zone target's accept after the final drop aside).
  const open8080 = (r: LiveRead) =>
    r.flowRules.filter((f) => f.verdict === 'accept' && !f.origin.endsWith(': target ACCEPT') && f.ports.some((p) => p.lo <= 8080 && 8080 <= p.hi) && f.peers.some((x) => x.lo === 0n));
  assert.equal(open8080(got), []);
  fwd.fw('--zone=portcullis', '--add-rich-rule=rule family=ipv4 port port=8080 protocol=tcp accept');
  const with8080 = live.read(sh);
  assert.equal(
    open8080(with8080).map((f) => `${f.family} ${f.transport} ${f.origin}`),
    ['ipv4 tcp zone portcullis: rule family="ipv4" port port="8080" protocol="tcp" accept'],
    'the added rule is a flow (before the final drop: priority 0 accepts run before priority 32767)',
  );
  assert.equal(with8080.drift, ['runtime differs from permanent: zone portcullis rich rule only at runtime: rule family="ipv4" port port="8080" protocol="tcp" accept']);

  fwd.fw('--ipset=portcullis-admins_v4', '--add-entry=203.0.113.99');
  const v = 0xcb007163n; // 203.0.113.99
  const admins = live.read(sh).flowRules.filter((f) => f.ruleId === 'in-admins-v4-tcp');
  assert.ok(admins.length > 0 && admins.every((f) => f.peers.some((p) => p.lo <= v && v <= p.hi)), 'the added entry is among the admins peers');
  assert.not.ok(expected.flowRules.find((f) => f.ruleId === 'in-admins-v4-tcp')!.peers.some((p) => p.lo <= v && v <= p.hi));

  fwd.fw('--zone=portcullis', '--add-rich-rule=rule family=ipv4 source address=192.0.2.1 port port=22 protocol=tcp mark set=0x1');
  fwd.fw('--zone=portcullis', '--add-rich-rule=rule family=ipv4 source-port port=53 protocol=udp accept');
  const marked = live.read(sh);
  assert.equal(marked.unmapped, [
    'zone portcullis: rule family="ipv4" source address="192.0.2.1" port port="22" protocol="tcp" mark set=0x1',
    'zone portcullis: rule family="ipv4" source-port port="53" protocol="udp" accept',
  ]);
  assert.equal(marked.other, expected.other, 'no other line changed');
  assert.match(marked.drift!.join('\n'), /ipset portcullis-admins_v4 entry only at runtime: 203\.0\.113\.99/);

  // A permanent change by hand: firewalld rewrites our zone file (without
  // its comments), so the file is no longer the compiled one.
  const before = live.stateKey(live.save(sh));
  fwd.fw('--permanent', '--zone=portcullis', '--add-rich-rule=rule family=ipv4 port port=8081 protocol=tcp accept');
  assert.match(live.read(sh).drift!.join('\n'), /runtime differs from permanent: zone portcullis rich rule only in the permanent configuration: rule family="ipv4" port port="8081" protocol="tcp" accept/);
  assert.not.equal(live.stateKey(live.save(sh)), before, 'the rewritten file is another state (apply then waits for a confirmation)');

  // Apply (files back, reload) drops every change by hand.
  live.apply(sh, a.tree);
  assert.equal(live.read(sh), expected);
  assert.is(live.stateKey(live.save(sh)), before);
});

test('10,000 node addresses: read resolves the ipset into 10,000 peer ranges, live as expected (times logged)', () => {
  // Every other address from 10.100.0.1: none adjacent, so 10,000 ranges.
  const nodes = Array.from({ length: 10000 }, (_, i) => `10.${100 + (i >> 7)}.${(i & 127) * 2}.1`);
  const big = compileFirewalld(exampleProfile({ nodes: [NODE4, ...nodes] }), dir, 'big');
  let started = process.hrtime.bigint();
  const expected = live.readExpected(fwd.sh, big.tree);
  const expectedMs = Number(process.hrtime.bigint() - started) / 1e6;
  started = process.hrtime.bigint();
  live.apply(fwd.sh, big.tree);
  const applyMs = Number(process.hrtime.bigint() - started) / 1e6;
  started = process.hrtime.bigint();
  const got = live.read(fwd.sh);
  const readMs = Number(process.hrtime.bigint() - started) / 1e6;
  console.log(`  ${nodes.length + 1} node addresses: readExpected ${expectedMs.toFixed(0)} ms, apply (write + reload) ${applyMs.toFixed(0)} ms, read ${readMs.toFixed(0)} ms`);
  const nodeRules = got.flowRules.filter((f) => f.ruleId === 'in-nodes-v4-tcp');
  assert.ok(nodeRules.length > 0, 'the nodes rules are flow rules');
  for (const f of nodeRules) assert.is(f.peers.length, nodes.length + 1);
  assert.equal(got, expected);
  live.restore(fwd.sh, pristine);
});

// ------------------------------------------------------------ the CLI (src/operate)

/** The two probes of A and B (helpers/apply-cli), in this file's topology. */
const expectReach = (title: string, want: boolean[]) => expectReachIn(t, title, want);

const bLoaded = () => fwd.daemon.exec(['firewall-cmd', '--info-ipset=portcullis-admins_v4']).stdout.includes('203.0.113.0/24');

test('portcullis apply: A without confirm; A again is unchanged; B that drops the admin rolls back to A after its timeout (exit 1); B confirmed by `apply --confirm` stays; a broken catalog changes nothing (exit 2)', async () => {
  live.restore(fwd.sh, pristine);
  const target = ['--target', 'firewalld'];
  await startListener(t, t.node, [ADMIN_PORT, B_ONLY_PORT]);
  // Stock zone public: ssh open to all, 5432 closed.
  await expectReach('stock firewalld (zone public)', [true, false]);

  let r = fwd.cli(['apply', '--profile', a.profile, ...target, '--no-confirm', '--json']);
  assert.is(r.code, 0, `apply A: ${r.stderr}`);
  assert.equal(JSON.parse(r.stdout), { target: 'firewalld', environment: 'prod-east', changed: true, confirmed: false, rolled_back: false });
  const filesA = ours();
  assert.equal(filesA, readTree(a.tree));
  await expectReach('A applied', [true, false]);

  const started = Date.now();
  r = fwd.cli(['apply', '--profile', a.profile, ...target, '--confirm-timeout', '30', '--json']);
  assert.is(r.code, 0, `apply A again: ${r.stderr}`);
  assert.is(JSON.parse(r.stdout).changed, false);
  assert.ok(Date.now() - started < 20000, 'an unchanged apply did not wait for its confirmation');

  const rolled = fwd.cliBackground(['apply', '--profile', b.profile, ...target, '--confirm-timeout', '4']);
  await waitFor('B loaded', bLoaded, 30000);
  await expectReach('B applied, not yet confirmed', [false, true]);
  r = await rolled;
  assert.is(r.code, 1, `apply B unconfirmed: exit ${r.code}\n${r.stderr}`);
  assert.match(r.stderr, /rolled back to the previous state: firewalld zone portcullis \(6 files, default zone portcullis\)/);
  assert.equal(ours(), filesA, 'rolled back to exactly A');
  assert.not.ok(bLoaded());
  await expectReach('rolled back to A', [true, false]);

  const confirmed = fwd.cliBackground(['apply', '--profile', b.profile, ...target, '--confirm-timeout', '60']);
  await waitFor('B loaded', bLoaded, 30000);
  await waitFor('apply --confirm to find the waiting apply', () => {
    r = fwd.cli(['apply', '--confirm']);
    return r.code !== 2;
  });
  assert.is(r.code, 0, `apply --confirm: ${r.stderr}`);
  r = await confirmed;
  assert.is(r.code, 0, `apply B confirmed: ${r.stderr}`);
  assert.ok(bLoaded(), 'B stays after confirmation');
  await expectReach('B confirmed', [false, true]);
  assert.is(fwd.cli(['apply', '--confirm']).code, 2, 'nothing waits any more');

  const etc = readTree(fwd.etc);
  r = fwd.cli(['apply', '--profile', a.profile, '--catalog', fixture('catalogs', 'bad', 'unknown-group.yaml'), ...target, '--no-confirm']);
  assert.is(r.code, 2, `broken catalog: ${r.stderr}`);
  assert.equal(readTree(fwd.etc), etc, 'a broken catalog changed /etc/firewalld');
  assert.fixture(foreign(), FOREIGN_ZONE);
});

/** Whether the flow rules let `src` reach tcp `port` (first match, as audit evaluates them). */
function admits(r: LiveRead, src: bigint, port: number): boolean {
  for (const f of r.flowRules)
    if (f.direction === 'ingress' && f.family === 'ipv4' && f.transport === 'tcp' && f.ports.some((p) => p.lo <= port && port <= p.hi) && f.peers.some((x) => x.lo <= src && src <= x.hi))
      return f.verdict === 'accept';
  return false;
}

test("the reader's order is the daemon's, by packets: a priority-0 drop beats an earlier-listed accept, a negative priority accept beats the final drop, and without the final drop the zone's target ACCEPT lets everything in", async () => {
  live.apply(fwd.sh, a.tree);
  const admin = 0xc633640an; // 198.51.100.10, SRC.admin4
  await expectReach('A applied', [true, false]);
  assert.ok(admits(live.read(fwd.sh), admin, ADMIN_PORT));
  assert.not.ok(admits(live.read(fwd.sh), admin, B_ONLY_PORT));

  fwd.fw('--zone=portcullis', `--add-rich-rule=rule family=ipv4 source address=${SRC.admin4} port port=${ADMIN_PORT} protocol=tcp drop`);
  fwd.fw('--zone=portcullis', `--add-rich-rule=rule priority=-5 family=ipv4 source address=${SRC.admin4} port port=${B_ONLY_PORT} protocol=tcp accept`);
  await expectReach('admin dropped on 22 (deny before allow), accepted on 5432 (priority -5)', [false, true]);
  let r = live.read(fwd.sh);
  assert.not.ok(admits(r, admin, ADMIN_PORT), 'the read drops the admin on 22 too');
  assert.ok(admits(r, admin, B_ONLY_PORT), 'the read accepts the admin on 5432 too');

  live.apply(fwd.sh, a.tree);
  fwd.fw('--zone=portcullis', '--remove-rich-rule=rule priority=32767 drop');
  await expectReach('no final drop: target ACCEPT', [true, true]);
  r = live.read(fwd.sh);
  assert.ok(admits(r, admin, B_ONLY_PORT) && admits(r, 0xc0000201n, 9), 'the read lets everything in by the target');
  live.apply(fwd.sh, a.tree);
  await expectReach('A again', [true, false]);
});

test('portcullis audit: in sync after apply (0); an added rich rule, an added ipset entry and a mark rule are drift (1), each named', () => {
  const audit = ['audit', '--profile', a.profile, '--target', 'firewalld'];
  assert.is(fwd.cli(['apply', '--profile', a.profile, '--target', 'firewalld', '--no-confirm']).code, 0);
  // Back to A between the drifts: the target's apply (the CLI's was tested above).
  const reset = () => live.apply(fwd.sh, a.tree);
  let r = fwd.cli(audit);
  assert.is(r.code, 0, `audit right after apply:\n${r.stdout}${r.stderr}`);

  fwd.fw('--zone=portcullis', '--add-rich-rule=rule family=ipv4 port port=8080 protocol=tcp accept');
  r = fwd.cli(audit);
  assert.is(r.code, 1, `audit with 8080 accept:\n${r.stdout}${r.stderr}`);
  assert.match(r.stdout, /host allows, policy does not: ingress tcp 8080\b/);
  assert.match(r.stdout, /drift: runtime differs from permanent: zone portcullis rich rule only at runtime/);
  r = fwd.cli([...audit, '--format', 'json']);
  assert.is(r.code, 1);
  const json = JSON.parse(r.stdout);
  assert.is(json.in_sync, false);
  assert.ok(
    json.host_allows.some((f: { ports: string[] }) => f.ports.includes('8080')),
    JSON.stringify(json.host_allows),
  );
  assert.equal(json.unmapped, []);

  reset();
  assert.is(fwd.cli(audit).code, 0, 're-applied A is in sync again');
  fwd.fw('--ipset=portcullis-admins_v4', '--add-entry=203.0.113.99');
  r = fwd.cli(audit);
  assert.is(r.code, 1, `audit with an added admin:\n${r.stdout}${r.stderr}`);
  assert.match(r.stdout, /host allows, policy does not: ingress tcp [^\n]*203\.0\.113\.99/);
  assert.match(r.stdout, /T1\.1/, 'the admins rows are named');

  reset();
  fwd.fw('--zone=portcullis', '--add-rich-rule=rule family=ipv4 source address=192.0.2.1 port port=22 protocol=tcp mark set=0x1');
  r = fwd.cli([...audit, '--format', 'json']);
  assert.is(r.code, 1, `audit with a mark rule:\n${r.stdout}${r.stderr}`);
  assert.equal(JSON.parse(r.stdout).unmapped.length, 1);
  assert.match(JSON.parse(r.stdout).unmapped[0], /mark set/);
  reset();
});

test("the host's own /etc/firewalld is unchanged", () => {
  assert.is(fs.existsSync(HOST_ETC) ? treeDigest(HOST_ETC) : '', hostEtcBefore);
});

test.run();
