// iptables live target (src/targets/iptables/live.ts) against the real
// iptables, ip6tables and ipset in network namespaces: save and restore give
// back exactly our chains, rules, jump positions and sets beside another
// manager's chain, rule and set (Docker-like), the reader turns the
// listings into the flows the IR's flow model says (golden profiles), and
// drift typed by hand shows as flows or unmapped lines.
import * as fs from 'fs';
import * as path from 'path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { FAMILIES, TRANSPORTS } from '../src/analysis/flows';
import { load } from '../src/compile';
import type { Direction } from '../src/ir/types';
import { iptablesLive as live } from '../src/targets/iptables/live';
import { localShell, LiveRead, ToolRejected } from '../src/targets/live';
import { bothFilters, compileIptables, filterListing, exampleProfile, ipsetListing, liveFlows, modelFlows, nodeShell } from './helpers/apply-iptables';
import { BIN, fixture } from './helpers/cli';
import { NODE4, probeSettled, SRC } from './helpers/kernel-suite';
import { tmpDir, waitFor } from './helpers/nftables-host';
import { Cmd, requireNetns, startListener, Topology, withTopology } from './helpers/netns';

const DIRECTIONS: Direction[] = ['ingress', 'egress'];

/** Another manager's state, as Docker would leave it: a chain of its own,
 * a rule in INPUT (before ours once a hook: last profile is applied, after
 * ours with hook: first), the same in ip6tables, and a set. */
function addForeign(t: Topology): void {
  for (const cmd of ['iptables', 'ip6tables']) {
    t.execOk(t.node, [cmd, '-N', 'DOCKER-USER']);
    t.execOk(t.node, [cmd, '-A', 'DOCKER-USER', '-j', 'RETURN']);
    t.execOk(t.node, [cmd, '-A', 'FORWARD', '-j', 'DOCKER-USER']);
  }
  t.execOk(t.node, ['iptables', '-A', 'INPUT', '-s', '172.17.0.0/16', '-m', 'comment', '--comment', 'docker-like', '-j', 'ACCEPT']);
  t.execOk(t.node, ['ip6tables', '-A', 'INPUT', '-s', 'fd00:17::/64', '-j', 'ACCEPT']);
  t.execOk(t.node, ['ipset', 'create', 'foreign', 'hash:ip']);
  t.execOk(t.node, ['ipset', 'add', 'foreign', '172.17.0.2']);
}

/** Everything of the other manager: the filter tables' lines that do not
 * name our chains (built-in policies included), and its set. */
function foreignState(t: Topology): string {
  const rules = bothFilters(t)
    .split('\n')
    .filter((l) => !l.includes('PORTCULLIS'));
  return `${rules.join('\n')}\n${t.execOk(t.node, ['ipset', 'save', 'foreign'])}`;
}

const ours = (t: Topology) => bothFilters(t).split('\n').filter((l) => l.includes('PORTCULLIS')).join('\n');
const inputRules = (t: Topology) => filterListing(t, 'iptables-save').split('\n').filter((l) => l.startsWith('-A INPUT '));
const ourSets = (t: Topology) => t.execOk(t.node, ['ipset', 'list', '-n']).split('\n').filter((n) => n.startsWith('pc-')).sort();

const GOLDEN = [
  { profile: 'example.yaml', env: 'prod-east' },
  { profile: 'restrict.yaml', env: 'restrict' },
  { profile: 'host-options.yaml', env: 'host-options' },
  { profile: 'v6-admins.yaml', env: 'v6-admins' },
  { profile: 'extra-egress.yaml', env: 'extra-egress' },
];

test('readExpected of the golden profiles: the flow rules let through exactly the IR flow model of the host rules; nothing unmapped', () => {
  requireNetns();
  for (const g of GOLDEN) {
    const file = fixture('profiles', g.profile);
    const { ir } = load({ profile: { path: file, text: fs.readFileSync(file, 'utf8') } });
    const read = live.readExpected(localShell, fixture('golden', g.env, 'iptables'));
    assert.ok(read.present, g.profile);
    assert.equal(read.unmapped, [], `${g.profile}: unmapped`);
    assert.ok(read.flowRules.length > 0, `${g.profile}: no flow rules at all`);
    for (const direction of DIRECTIONS)
      for (const transport of TRANSPORTS)
        for (const family of FAMILIES) {
          const where = `${g.profile} ${direction} ${transport} ${family}`;
          if (direction === 'egress' && ir.egress === 'allow') {
            assert.equal(read.flowRules.filter((r) => r.direction === 'egress'), [], `${where}: egress allow has no output rules`);
            continue;
          }
          assert.equal(liveFlows(read.flowRules, direction, transport, family), modelFlows(ir, direction, transport, family), where);
        }
    for (const family of FAMILIES) {
      for (const chain of ['INPUT', 'OUTPUT']) assert.ok(read.other.includes(`${family} hook -A ${chain} -j PORTCULLIS-${chain}`), `${g.profile}: ${family} ${chain} hook in ${read.other.join('\n')}`);
    }
    for (const r of read.flowRules) {
      if (r.origin.endsWith(': -j DROP')) continue; // the chain's default deny
      assert.ok(r.ruleId && r.origin.includes(r.ruleId), `${g.profile}: rule id in comment and origin: ${r.origin}`);
      assert.match(r.origin, /^chain PORTCULLIS-(INPUT|OUTPUT): -/);
      assert.not.match(r.origin, /[\n\r]/);
    }
  }
});

test('save, apply, restore: our chains, rules, counters, jump positions and sets come back exactly; an empty save restores to nothing of ours; sets a profile dropped are destroyed; the Docker-like chain, rules and set are never touched', async () => {
  requireNetns();
  const dir = tmpDir('ipt-save');
  try {
    const a = compileIptables(exampleProfile({}), dir, 'a');
    const hostOptions = fixture('golden', 'host-options', 'iptables'); // hook: last, 6 sets
    await withTopology({ node: [NODE4], world: [SRC.admin4], prefix: 'pciptap' }, async (t) => {
      const sh = nodeShell(t);
      addForeign(t);
      const foreign = foreignState(t);

      const empty = live.save(sh);
      assert.ok(empty.empty, 'nothing loaded yet');
      assert.is(live.describe(empty), 'nothing of portcullis (no PORTCULLIS chains, no pc- ipsets)');
      assert.not.ok(live.read(sh).present);

      live.check(sh, hostOptions);
      assert.is(ours(t), '', 'check loaded no chain');
      assert.equal(ourSets(t), [], 'check loaded no set');

      live.apply(sh, hostOptions);
      // Traffic through `-i lo -j ACCEPT`: a counter that is not zero.
      t.execOk(t.node, [process.execPath, '-e', "require('net').connect(9, '127.0.0.1').on('error', () => {})"]);
      const saved = live.save(sh);
      assert.not.ok(saved.empty);
      assert.match(live.describe(saved), /^chains PORTCULLIS-INPUT\/OUTPUT \(\d+ rules\), 6 ipsets$/);
      const v4 = (saved.data as { ipv4: { jumps: { chain: string; index: number }[]; rules: { counters: string; text: string }[] } }).ipv4;
      assert.equal(
        v4.jumps.map((j) => `${j.chain} ${j.index}`),
        ['INPUT 2', 'OUTPUT 1'],
        'hook: last puts our INPUT jump after the foreign rule',
      );
      assert.match(v4.rules.find((r) => r.text === '-A PORTCULLIS-INPUT -i lo -j ACCEPT')!.counters, /^\[[1-9]\d*:[1-9]\d*\]$/, 'a counter with traffic was saved');
      const listing = ours(t);
      const sets = ipsetListing(t);
      const loCounter = () => /\[(\d+):\d+\] -A PORTCULLIS-INPUT -i lo -j ACCEPT/.exec(bothFilters(t, true))![1];
      const savedLo = Number(loCounter());
      // The saved state survives JSON (apply keeps it in a file).
      const savedAgain = JSON.parse(JSON.stringify(saved));

      // An element added by hand does not survive an apply: the file's sets are exact.
      t.execOk(t.node, ['ipset', 'add', 'pc-admins_v4', '203.0.113.99']);
      live.apply(sh, a.iptDir);
      assert.not.match(t.execOk(t.node, ['ipset', 'save', 'pc-admins_v4']), /203\.0\.113\.99/, 'apply left a stale element');
      assert.equal(ourSets(t), ['pc-admins_v4', 'pc-admins_v6', 'pc-nodes_v4', 'pc-users_v4'], 'the sets A does not use are destroyed');
      assert.equal(inputRules(t), ['-A INPUT -j PORTCULLIS-INPUT', '-A INPUT -s 172.17.0.0/16 -m comment --comment docker-like -j ACCEPT'], 'hook: first puts our jump before the foreign rule');
      assert.not.equal(live.stateKey(live.save(sh)), live.stateKey(saved), 'another profile is another state');
      assert.fixture(foreignState(t), foreign, 'apply touched the foreign state');

      live.restore(sh, savedAgain);
      assert.fixture(ours(t), listing, 'restore gives back our chains, rules and jumps');
      assert.fixture(ipsetListing(t), sets, 'restore gives back our sets, members and headers (initval included)');
      assert.ok(Number(loCounter()) >= savedLo, 'the saved counter was restored');
      assert.is(live.stateKey(live.save(sh)), live.stateKey(saved));
      assert.fixture(foreignState(t), foreign, 'restore touched the foreign state');
      assert.equal(inputRules(t), ['-A INPUT -s 172.17.0.0/16 -m comment --comment docker-like -j ACCEPT', '-A INPUT -j PORTCULLIS-INPUT'], 'the jump is back at index 2');

      // Applying the same tree again changes no state key (apply then says "unchanged").
      live.apply(sh, hostOptions);
      assert.is(live.stateKey(live.save(sh)), live.stateKey(saved));

      live.restore(sh, empty);
      assert.is(ours(t), '', 'restoring the empty state removes our chains and jumps');
      assert.equal(ourSets(t), [], 'and our sets');
      assert.ok(live.save(sh).empty);
      assert.fixture(foreignState(t), foreign, 'restoring the empty state touched the foreign state');

      // A set another manager's rule still matches is left when a profile drops it.
      live.apply(sh, hostOptions);
      const withOptions = live.save(sh);
      t.execOk(t.node, ['ip6tables', '-A', 'DOCKER-USER', '-m', 'set', '--match-set', 'pc-nodes_v6', 'src', '-j', 'RETURN']);
      live.apply(sh, a.iptDir);
      assert.equal(ourSets(t), ['pc-admins_v4', 'pc-admins_v6', 'pc-nodes_v4', 'pc-nodes_v6', 'pc-users_v4'], 'pc-nodes_v6 is in use, pc-file_transfer_v4 is not');
      t.execOk(t.node, ['ip6tables', '-D', 'DOCKER-USER', '-m', 'set', '--match-set', 'pc-nodes_v6', 'src', '-j', 'RETURN']);
      // A jump saved at index 2 whose foreign rule has gone since goes to the end.
      t.execOk(t.node, ['iptables', '-D', 'INPUT', '-s', '172.17.0.0/16', '-m', 'comment', '--comment', 'docker-like', '-j', 'ACCEPT']);
      live.restore(sh, withOptions);
      assert.equal(inputRules(t), ['-A INPUT -j PORTCULLIS-INPUT']);
      assert.equal(ourSets(t), ['pc-admins_v4', 'pc-admins_v6', 'pc-file_transfer_v4', 'pc-nodes_v4', 'pc-nodes_v6', 'pc-users_v4']);
    });
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test("check rejects a broken tree with the tool's message and changes nothing; read of the applied tree equals readExpected; hand-made drift: an added rule and set element are flows, a mark or interface match is unmapped", async () => {
  requireNetns();
  const dir = tmpDir('ipt-read');
  try {
    const a = compileIptables(exampleProfile({}), dir, 'a');
    const broken = path.join(dir, 'broken');
    fs.mkdirSync(broken);
    for (const f of ['ipsets', 'rules.v4']) fs.copyFileSync(path.join(a.iptDir, f), path.join(broken, f));
    // The last of the three commands fails: the check must not leave the first two behind.
    fs.writeFileSync(path.join(broken, 'rules.v6'), fs.readFileSync(path.join(a.iptDir, 'rules.v6'), 'utf8').replace('-j DROP', '-j DORP'));
    await withTopology({ node: [NODE4], world: [SRC.admin4], prefix: 'pciptrd' }, async (t) => {
      const sh = nodeShell(t);
      addForeign(t);
      const before = `${bothFilters(t)}\n${t.execOk(t.node, ['ipset', 'save'])}`;
      assert.throws(() => live.check(sh, broken), (e: Error) => e instanceof ToolRejected && /^loading the tree in a new network namespace .*DORP/s.test(e.message));
      assert.fixture(`${bothFilters(t)}\n${t.execOk(t.node, ['ipset', 'save'])}`, before, 'a rejected check changed the host');

      live.apply(sh, a.iptDir);
      const saved = live.save(sh);
      const applied = `${bothFilters(t)}\n${ipsetListing(t)}`;
      // apply itself is not atomic over three commands: apply.ts restores on failure.
      assert.throws(() => live.apply(sh, broken), (e: Error) => e instanceof ToolRejected && /^`ip6tables-restore --noflush` of rules\.v6 failed \(exit \d+\): .*DORP/s.test(e.message));
      live.restore(sh, saved);
      assert.fixture(`${bothFilters(t)}\n${ipsetListing(t)}`, applied, 'restore after a failed apply');

      const expected = live.readExpected(sh, a.iptDir);
      const got = live.read(sh);
      assert.equal(got, expected, 'the live read of the applied tree is its expected read');

      const open8080 = (r: LiveRead) => r.flowRules.filter((f) => f.ports.some((p) => p.lo <= 8080 && 8080 <= p.hi) && f.peers.some((x) => x.lo === 0n) && f.verdict === 'accept');
      assert.equal(open8080(got), []);
      t.execOk(t.node, ['iptables', '-A', 'PORTCULLIS-INPUT', '-p', 'tcp', '--dport', '8080', '-j', 'ACCEPT']);
      const appended = live.read(sh);
      assert.equal(
        open8080(appended).map((f) => `${f.family} ${f.transport} ${f.origin}`),
        ['ipv4 tcp chain PORTCULLIS-INPUT: -p tcp -m tcp --dport 8080 -j ACCEPT'],
      );
      // After the chain's final DROP it decides nothing: first match.
      assert.equal(liveFlows(appended.flowRules, 'ingress', 'tcp', 'ipv4'), liveFlows(got.flowRules, 'ingress', 'tcp', 'ipv4'));
      t.execOk(t.node, ['iptables', '-D', 'PORTCULLIS-INPUT', '-p', 'tcp', '--dport', '8080', '-j', 'ACCEPT']);
      t.execOk(t.node, ['iptables', '-I', 'PORTCULLIS-INPUT', '1', '-p', 'tcp', '--dport', '8080', '-j', 'ACCEPT']);
      const first = live.read(sh);
      assert.ok(liveFlows(first.flowRules, 'ingress', 'tcp', 'ipv4').some((l) => /^8080 0\.0\.0\.0\/0$/.test(l)), liveFlows(first.flowRules, 'ingress', 'tcp', 'ipv4').join('\n'));

      t.execOk(t.node, ['ipset', 'add', 'pc-admins_v4', '203.0.113.99']);
      const admins = live.read(sh).flowRules.find((f) => f.ruleId === 'in-admins-v4-tcp');
      const v = 0xcb007163n; // 203.0.113.99
      assert.ok(admins && admins.peers.some((p) => p.lo <= v && v <= p.hi), 'the added element is among the admins peers');
      assert.not.ok(expected.flowRules.find((f) => f.ruleId === 'in-admins-v4-tcp')!.peers.some((p) => p.lo <= v && v <= p.hi));

      t.execOk(t.node, ['iptables', '-I', 'PORTCULLIS-INPUT', '1', '-m', 'mark', '--mark', '1', '-j', 'ACCEPT']);
      t.execOk(t.node, ['iptables', '-I', 'PORTCULLIS-INPUT', '1', '-s', '192.0.2.1', '-i', 'eth9', '-p', 'tcp', '--dport', '22', '-j', 'ACCEPT']);
      t.execOk(t.node, ['ip6tables', '-I', 'PORTCULLIS-INPUT', '1', '-i', 'eth9', '-j', 'ACCEPT']);
      // A comment cannot fake a line: its line feed stays inside the word.
      t.execOk(t.node, ['iptables', '-I', 'PORTCULLIS-INPUT', '1', '-m', 'comment', '--comment', 'x\n-A PORTCULLIS-INPUT -j ACCEPT', '-j', 'RETURN']);
      const marked = live.read(sh);
      assert.equal(marked.unmapped, [
        'chain PORTCULLIS-INPUT: -m comment --comment "x -A PORTCULLIS-INPUT -j ACCEPT" -j RETURN',
        'chain PORTCULLIS-INPUT: -s 192.0.2.1/32 -i eth9 -p tcp -m tcp --dport 22 -j ACCEPT',
        'chain PORTCULLIS-INPUT: -m mark --mark 0x1 -j ACCEPT',
        'chain PORTCULLIS-INPUT: -i eth9 -j ACCEPT',
      ]);
      assert.equal(marked.other, expected.other, 'no other line changed');
      assert.ok(marked.flowRules.every((f) => !/[\n\r]/.test(f.origin)));
    });
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('10,000 node addresses: read resolves the set into 10,000 peer ranges (time logged)', async () => {
  requireNetns();
  const dir = tmpDir('ipt-big');
  try {
    // Every other address from 10.100.0.1: none adjacent, so 10,000 ranges.
    const nodes = Array.from({ length: 10000 }, (_, i) => `10.${100 + (i >> 7)}.${(i & 127) * 2}.1`);
    const big = compileIptables(exampleProfile({ nodes: [NODE4, ...nodes] }), dir, 'big');
    await withTopology({ node: [NODE4], world: [SRC.admin4], prefix: 'pciptbg' }, async (t) => {
      const sh = nodeShell(t);
      live.apply(sh, big.iptDir);
      const started = process.hrtime.bigint();
      const got = live.read(sh);
      const ms = Number(process.hrtime.bigint() - started) / 1e6;
      console.log(`  read() with ${nodes.length + 1} node addresses: ${ms.toFixed(0)} ms (iptables-save, ip6tables-save, ipset save and parsing)`);
      const nodeRules = got.flowRules.filter((f) => f.ruleId === 'in-nodes-v4-tcp');
      assert.ok(nodeRules.length > 0, 'the nodes rules are flow rules');
      for (const r of nodeRules) assert.is(r.peers.length, nodes.length + 1);
      const parseStarted = process.hrtime.bigint();
      const expected = live.readExpected(sh, big.iptDir);
      console.log(`  readExpected() of the same tree: ${(Number(process.hrtime.bigint() - parseStarted) / 1e6).toFixed(0)} ms (loaded in a new network namespace)`);
      assert.equal(got, expected);
      assert.ok(ms < 10000, `read took ${ms} ms`);
    });
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

// ------------------------------------------------------------ the CLI (src/operate)

/** Runs the CLI in the node namespace, as apply runs on a host; no
 * SSH_CONNECTION, so the anti-lockout check has no client to protect. */
function cliArgv(args: readonly string[]): string[] {
  return ['env', '-u', 'SSH_CONNECTION', process.execPath, BIN, ...args];
}

function cli(t: Topology, args: readonly string[]): Cmd {
  return t.exec(t.node, cliArgv(args));
}

/** Starts the CLI in the background; resolves with its exit and output. */
function cliBackground(t: Topology, args: readonly string[]): Promise<Cmd> {
  const c = t.spawn(t.node, cliArgv(args));
  let stdout = '';
  let stderr = '';
  c.stdout!.setEncoding('utf8').on('data', (d: string) => (stdout += d));
  c.stderr!.setEncoding('utf8').on('data', (d: string) => (stderr += d));
  c.stdin!.end();
  return new Promise((resolve) => c.on('exit', (code, sig) => resolve({ code: code ?? (sig ? 128 : -1), stdout, stderr })));
}

const ADMIN_PORT = 22; // A: admins (the world address); B: admins elsewhere
const B_ONLY_PORT = 5432; // nodes only; B makes the world address a node
const PROBES = [
  { src: SRC.admin4, dst: NODE4, port: ADMIN_PORT },
  { src: SRC.admin4, dst: NODE4, port: B_ONLY_PORT },
];

async function expectReach(t: Topology, title: string, want: boolean[]): Promise<void> {
  t.flushNeighbours();
  const got = await probeSettled(t, t.world, PROBES, (_, i) => want[i]);
  const wrong = PROBES.flatMap((p, i) => (got[i].allowed === want[i] ? [] : [`  ${p.src} -> ${p.dst}:${p.port}: expected ${want[i] ? 'open' : 'closed'}, got ${got[i].outcome}`]));
  assert.equal(wrong, [], `${title}:\n${wrong.join('\n')}`);
}

const bLoaded = (t: Topology) => t.exec(t.node, ['ipset', 'save', 'pc-admins_v4']).stdout.includes('203.0.113.0/24');
/** The host's whole filter tables (timestamps aside) and sets, as listed. */
const hostListing = (t: Topology) => `${bothFilters(t)}\n${t.execOk(t.node, ['ipset', 'save'])}`;

test('portcullis apply --target iptables: A without confirm; B that drops the admin rolls back to A after its timeout (exit 1); B confirmed by `apply --confirm` stays; a broken catalog changes nothing (exit 2); the Docker-like state survives it all', async () => {
  requireNetns();
  const dir = tmpDir('ipt-cli');
  try {
    const a = compileIptables(exampleProfile({}), dir, 'a');
    const b = compileIptables(exampleProfile({ admins: ['203.0.113.0/24'], nodes: [NODE4, '10.20.0.12', SRC.admin4] }), dir, 'b');
    const target = ['--target', 'iptables'];
    await withTopology({ node: [NODE4], world: [SRC.admin4], prefix: 'pciptcl' }, async (t) => {
      await startListener(t, t.node, [ADMIN_PORT, B_ONLY_PORT]);
      addForeign(t);
      const foreign = foreignState(t);

      let r = cli(t, ['apply', '--profile', a.profile, ...target, '--no-confirm', '--json']);
      assert.is(r.code, 0, `apply A: ${r.stderr}`);
      assert.equal(JSON.parse(r.stdout), { target: 'iptables', environment: 'prod-east', changed: true, confirmed: false, rolled_back: false });
      await expectReach(t, 'A applied', [true, false]);

      // Same policy again: nothing changes, so nothing waits for a confirmation.
      const started = Date.now();
      r = cli(t, ['apply', '--profile', a.profile, ...target, '--confirm-timeout', '30', '--json']);
      assert.is(r.code, 0, `apply A again: ${r.stderr}`);
      assert.is(JSON.parse(r.stdout).changed, false);
      assert.ok(Date.now() - started < 20000, 'an unchanged apply did not wait for its confirmation');
      // After the second apply: each apply swaps in freshly created sets (a new random initval).
      const listingA = `${bothFilters(t)}\n${ipsetListing(t)}`;

      // B, never confirmed: rolled back after 4 s.
      const rolled = cliBackground(t, ['apply', '--profile', b.profile, ...target, '--confirm-timeout', '4']);
      await waitFor('B loaded', () => bLoaded(t), 20000);
      await expectReach(t, 'B applied, not yet confirmed', [false, true]);
      r = await rolled;
      assert.is(r.code, 1, `apply B unconfirmed: exit ${r.code}\n${r.stderr}`);
      assert.match(r.stderr, /rolled back to the previous state: chains PORTCULLIS-INPUT\/OUTPUT \(\d+ rules\), 4 ipsets/);
      assert.fixture(`${bothFilters(t)}\n${ipsetListing(t)}`, listingA, 'rolled back to exactly A, our jumps before the foreign rules');
      await expectReach(t, 'rolled back to A', [true, false]);
      assert.fixture(foreignState(t), foreign, 'apply and rollback touched the foreign state');

      // B, confirmed from a second process.
      const confirmed = cliBackground(t, ['apply', '--profile', b.profile, ...target, '--confirm-timeout', '60']);
      await waitFor('B loaded', () => bLoaded(t), 20000);
      await waitFor('apply --confirm to find the waiting apply', () => {
        r = cli(t, ['apply', '--confirm']);
        return r.code !== 2;
      });
      assert.is(r.code, 0, `apply --confirm: ${r.stderr}`);
      r = await confirmed;
      assert.is(r.code, 0, `apply B confirmed: ${r.stderr}`);
      assert.ok(bLoaded(t), 'B stays after confirmation');
      await expectReach(t, 'B confirmed', [false, true]);
      assert.is(cli(t, ['apply', '--confirm']).code, 2, 'nothing waits any more');

      // Bad input: exit 2, iptables-save, ip6tables-save and ipset save byte for byte as they were.
      const host = hostListing(t);
      r = cli(t, ['apply', '--profile', a.profile, '--catalog', fixture('catalogs', 'bad', 'unknown-group.yaml'), ...target, '--no-confirm']);
      assert.is(r.code, 2, `broken catalog: ${r.stderr}`);
      assert.fixture(hostListing(t), host, 'a broken catalog changed the host');
      assert.fixture(foreignState(t), foreign);
    });
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('portcullis audit --target iptables: in sync after apply (0); an added rule, an added set element and a mark rule are drift (1), each named', async () => {
  requireNetns();
  const dir = tmpDir('ipt-audit');
  try {
    const a = compileIptables(exampleProfile({}), dir, 'a');
    const audit = ['audit', '--profile', a.profile, '--target', 'iptables'];
    await withTopology({ node: [NODE4], world: [SRC.admin4], prefix: 'pciptau' }, async (t) => {
      addForeign(t);
      const reset = () => assert.is(cli(t, ['apply', '--profile', a.profile, '--target', 'iptables', '--no-confirm']).code, 0);
      reset();
      let r = cli(t, audit);
      assert.is(r.code, 0, `audit right after apply:\n${r.stdout}${r.stderr}`);

      t.execOk(t.node, ['iptables', '-I', 'PORTCULLIS-INPUT', '1', '-p', 'tcp', '--dport', '8080', '-j', 'ACCEPT']);
      r = cli(t, audit);
      assert.is(r.code, 1, `audit with -p tcp --dport 8080 -j ACCEPT:\n${r.stdout}${r.stderr}`);
      assert.match(r.stdout, /host allows, policy does not: ingress tcp 8080\b/);
      assert.match(r.stdout, /iptables: chain PORTCULLIS-INPUT: -p tcp -m tcp --dport 8080 -j ACCEPT/);
      r = cli(t, [...audit, '--format', 'json']);
      assert.is(r.code, 1);
      const json = JSON.parse(r.stdout);
      assert.is(json.in_sync, false);
      assert.ok(
        json.host_allows.some((f: { ports: string[] }) => f.ports.includes('8080')),
        JSON.stringify(json.host_allows),
      );
      assert.equal(json.unmapped, []);

      reset();
      assert.is(cli(t, audit).code, 0, 're-applied A is in sync again');
      t.execOk(t.node, ['ipset', 'add', 'pc-admins_v4', '203.0.113.99']);
      r = cli(t, audit);
      assert.is(r.code, 1, `audit with an added admin:\n${r.stdout}${r.stderr}`);
      assert.match(r.stdout, /host allows, policy does not: ingress tcp [^\n]*203\.0\.113\.99/);
      assert.match(r.stdout, /T1\.1/, 'the admins rows are named');

      reset();
      t.execOk(t.node, ['iptables', '-I', 'PORTCULLIS-INPUT', '1', '-m', 'mark', '--mark', '1', '-j', 'ACCEPT']);
      r = cli(t, [...audit, '--format', 'json']);
      assert.is(r.code, 1, `audit with a mark match:\n${r.stdout}${r.stderr}`);
      assert.equal(JSON.parse(r.stdout).unmapped, ['chain PORTCULLIS-INPUT: -m mark --mark 0x1 -j ACCEPT']);

      // A jump moved into the middle of INPUT is drift; at either end it is not.
      reset();
      t.execOk(t.node, ['iptables', '-I', 'INPUT', '1', '-s', '10.99.0.0/16', '-j', 'ACCEPT']);
      r = cli(t, [...audit, '--format', 'json']);
      assert.is(r.code, 1, `audit with the jump in the middle of INPUT:\n${r.stdout}${r.stderr}`);
      assert.equal(JSON.parse(r.stdout).rules_added, ['ipv4 hook -A INPUT -j PORTCULLIS-INPUT (rule 2 of 3)']);
    });
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test.run();
