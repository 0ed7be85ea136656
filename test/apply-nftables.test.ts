// nftables live target (src/targets/nftables/live.ts) against the real
// nft in network namespaces: save and restore give back exactly the table
// that was there, apply and restore never touch another table, the reader
// turns a listing into the flows the IR's flow model says (golden
// profiles), and drift typed by hand shows as flows or unmapped lines.
import * as fs from 'fs';
import * as path from 'path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { FAMILIES, TRANSPORTS } from '../src/analysis/flows';
import { load } from '../src/compile';
import type { Direction } from '../src/ir/types';
import { localShell, LiveRead, ToolRejected } from '../src/targets/live';
import { carries, fullSpace, TRANSPORTS as ALL_TRANSPORTS } from '../src/transports';
import { nftablesLive as live } from '../src/targets/nftables/live';
import { compileProfile, exampleProfile, liveFlows, modelFlows, nodeShell } from './helpers/apply-nftables';
import { BIN, fixture } from './helpers/cli';
import { NODE4, SRC } from './helpers/kernel-suite';
import { tmpDir, waitFor } from './helpers/nftables-host';
import { ADMIN_PORT, B_ONLY_PORT, cli, cliArgv, cliBackground, expectReach } from './helpers/apply-cli';
import { Cmd, requireNetns, startListener, Topology, withTopology } from './helpers/netns';

const DIRECTIONS: Direction[] = ['ingress', 'egress'];

/** Another manager's table, as Docker or libvirt would add it. */
const FOREIGN = `table inet docker-like {
	set allowed {
		type ipv4_addr
		elements = { 172.17.0.2 }
	}

	chain forward {
		type filter hook forward priority filter; policy accept;
		ip saddr @allowed counter accept
	}
}
`;

const listTable = (t: Topology) => t.execOk(t.node, ['nft', 'list', 'table', 'inet', 'portcullis']);
const foreignTable = (t: Topology) => t.execOk(t.node, ['nft', '-a', 'list', 'table', 'inet', 'docker-like']);
const noCounts = (s: string) => s.replace(/ packets \d+ bytes \d+/g, '');

const GOLDEN = [
  { profile: 'example.yaml', env: 'prod-east' },
  { profile: 'restrict.yaml', env: 'restrict' },
  { profile: 'host-options.yaml', env: 'host-options' },
];

test('readExpected of the golden profiles: the flow rules let through exactly the IR flow model of the host rules; nothing unmapped', () => {
  requireNetns();
  for (const g of GOLDEN) {
    const file = fixture('profiles', g.profile);
    const { ir } = load({ profile: { path: file, text: fs.readFileSync(file, 'utf8') } });
    const read = live.readExpected(localShell, fixture('golden', g.env, 'nftables'));
    assert.ok(read.present, g.profile);
    assert.equal(read.unmapped, [], `${g.profile}: unmapped`);
    assert.ok(read.flowRules.length > 0, `${g.profile}: no flow rules at all`);
    for (const direction of DIRECTIONS)
      for (const transport of TRANSPORTS)
        for (const family of FAMILIES) {
          const where = `${g.profile} ${direction} ${transport} ${family}`;
          if (direction === 'egress' && ir.egress === 'allow') {
            // Only the chain's policy: everything, to every address.
            // (one flow per transport its family carries: src/transports.ts)
            assert.equal(read.flowRules.filter((r) => r.direction === 'egress').map((r) => `${r.family} ${r.transport} ${r.origin}`), FAMILIES.flatMap((f) => ALL_TRANSPORTS.filter((x) => carries(x, f)).map((x) => `${f} ${x} chain output: policy accept (the chain's end)`)), `${where}: egress allow is the output policy alone`);
            const all = fullSpace(transport);
            assert.equal(liveFlows(read.flowRules, direction, transport, family), carries(transport, family) ? [`${all.lo === all.hi ? all.lo : `${all.lo}-${all.hi}`} ${family === 'ipv4' ? '0.0.0.0/0' : '::/0'}`] : [], where);
            continue;
          }
          assert.equal(liveFlows(read.flowRules, direction, transport, family), modelFlows(ir, direction, transport, family), where);
        }
    if (ir.egress === 'allow') assert.ok(read.other.includes('chain output type filter hook output priority 0 policy accept'), `${g.profile}: ${read.other.join('\n')}`);
    // Every flow rule names its rule, but the chain's policy and the
    // template's ICMP policy lines (ir.icmp: ICMP from anywhere, no comment).
    for (const r of read.flowRules.filter((x) => !x.origin.includes('policy accept') && !/^chain (input|output): icmp(v6)? type \{ [a-z0-9, -]+ \} (counter )?accept$/.test(x.origin))) {
      assert.ok(r.ruleId && r.origin.includes(r.ruleId), `${g.profile}: rule id in comment and origin: ${r.origin}`);
      assert.not.match(r.origin, /[\n\r]/);
    }
  }
});

test('save, apply, restore: the saved table comes back byte for byte (host-options: interval sets, comments, counters, log and limit); an empty save restores to no table; another table is never touched', async () => {
  requireNetns();
  const dir = tmpDir('apply-save');
  try {
    const a = compileProfile(exampleProfile({}), dir, 'a');
    const hostOptions = fixture('golden', 'host-options', 'nftables');
    await withTopology({ node: [NODE4], world: [SRC.admin4], prefix: 'pcnftap' }, async (t) => {
      const sh = nodeShell(t);
      t.execOk(t.node, ['nft', '-f', '-'], FOREIGN);
      const foreign = foreignTable(t);

      const empty = live.save(sh);
      assert.ok(empty.empty, 'nothing loaded yet');
      assert.is(live.stateKey(empty), '');
      assert.match(live.describe(empty), /no table inet portcullis/);
      assert.not.ok(live.read(sh).present);

      live.check(sh, hostOptions);
      assert.is(t.exec(t.node, ['nft', 'list', 'table', 'inet', 'portcullis']).code, 1, 'check loaded nothing');
      live.apply(sh, hostOptions);
      // Traffic through `iif "lo" counter accept`: a counter that is not zero.
      t.execOk(t.node, [process.execPath, '-e', "require('net').connect(9, '127.0.0.1').on('error', () => {})"]);
      const saved = live.save(sh);
      assert.not.ok(saved.empty);
      const listing = (saved.data as { listing: string }).listing;
      assert.match(listing, /iif "lo" counter packets [1-9]\d* bytes [1-9]/, 'a counter with traffic was saved');
      for (const part of [/flags interval/, /elements = \{ 10\.40\.0\.11, 10\.40\.0\.12 \}/, /comment "in-admins-v4-tcp /, /limit rate 5\/minute log prefix "portcullis-drop in: "/, /priority filter \+ 10; policy drop;/])
        assert.match(listing, part);
      assert.match(live.describe(saved), /^table inet portcullis \(6 sets, 2 chains, \d+ rules\)$/);
      // The saved state survives JSON (apply keeps it in a file).
      const savedAgain = JSON.parse(JSON.stringify(saved));

      live.apply(sh, a.nftDir);
      assert.not.equal(live.stateKey(live.save(sh)), live.stateKey(saved), 'another profile is another state');
      assert.fixture(foreignTable(t), foreign, 'apply touched the foreign table');

      live.restore(sh, savedAgain);
      assert.fixture(listTable(t), listing, 'restore gives back the saved listing, counters included');
      assert.is(live.stateKey(live.save(sh)), live.stateKey(saved));
      assert.fixture(foreignTable(t), foreign, 'restore touched the foreign table');

      // Applying the same file twice changes no state key (apply then says "unchanged").
      live.apply(sh, hostOptions);
      assert.is(live.stateKey(live.save(sh)), live.stateKey(saved));

      live.restore(sh, empty);
      assert.is(t.exec(t.node, ['nft', 'list', 'table', 'inet', 'portcullis']).code, 1, 'restoring the empty state removes our table');
      assert.ok(live.save(sh).empty);
      assert.fixture(foreignTable(t), foreign, 'restoring the empty state touched the foreign table');
    });
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('check rejects a broken file with nft\'s message and changes nothing; read of a live table equals readExpected; hand-made drift: an added rule and element are flows, meta mark is unmapped', async () => {
  requireNetns();
  const dir = tmpDir('apply-read');
  try {
    const a = compileProfile(exampleProfile({}), dir, 'a');
    const broken = path.join(dir, 'broken');
    fs.mkdirSync(broken);
    fs.writeFileSync(path.join(broken, 'portcullis.nft'), fs.readFileSync(path.join(a.nftDir, 'portcullis.nft'), 'utf8').replace('policy drop;', 'policy dorp;'));
    await withTopology({ node: [NODE4], world: [SRC.admin4], prefix: 'pcnftrd' }, async (t) => {
      const sh = nodeShell(t);
      live.apply(sh, a.nftDir);
      const ruleset = t.execOk(t.node, ['nft', 'list', 'ruleset']);
      assert.throws(() => live.check(sh, broken), (e: Error) => e instanceof ToolRejected && /dorp/.test(e.message));
      assert.throws(() => live.apply(sh, broken), (e: Error) => e instanceof ToolRejected);
      assert.fixture(t.execOk(t.node, ['nft', 'list', 'ruleset']), ruleset, 'a rejected file changed the ruleset');

      const expected = live.readExpected(sh, a.nftDir);
      const got = live.read(sh);
      assert.equal(got, expected, 'the live read of the applied file is its expected read');

      const added = (r: LiveRead) => r.flowRules.filter((f) => f.direction === 'ingress' && f.ports.some((p) => p.lo <= 8080 && 8080 <= p.hi) && f.peers.some((x) => x.lo === 0n));
      assert.equal(added(got), []);
      t.execOk(t.node, ['nft', 'add', 'rule', 'inet', 'portcullis', 'input', 'tcp', 'dport', '8080', 'accept']);
      const with8080 = live.read(sh);
      assert.equal(
        added(with8080).map((f) => `${f.family} ${f.transport} ${f.origin}`),
        ['ipv4 tcp chain input: tcp dport 8080 accept', 'ipv6 tcp chain input: tcp dport 8080 accept'],
      );

      t.execOk(t.node, ['nft', 'add', 'element', 'inet', 'portcullis', 'admins_v4', '{ 203.0.113.99 }']);
      const admins = live.read(sh).flowRules.find((f) => f.ruleId === 'in-admins-v4-tcp');
      const v = 0xcb007163n; // 203.0.113.99
      assert.ok(admins && admins.peers.some((p) => p.lo <= v && v <= p.hi), 'the added element is among the admins peers');
      assert.not.ok(expected.flowRules.find((f) => f.ruleId === 'in-admins-v4-tcp')!.peers.some((p) => p.lo <= v && v <= p.hi));

      t.execOk(t.node, ['nft', 'add', 'rule', 'inet', 'portcullis', 'input', 'meta', 'mark', '0x1', 'accept']);
      t.execOk(t.node, ['nft', 'add', 'rule', 'inet', 'portcullis', 'input', 'ip', 'saddr', '192.0.2.1', 'iifname', 'eth9', 'tcp', 'dport', '22', 'accept']);
      const marked = live.read(sh);
      assert.equal(marked.unmapped, ['chain input: meta mark 1 accept', 'chain input: ip saddr 192.0.2.1 iifname eth9 tcp dport 22 accept']);
      assert.equal(marked.other, expected.other, 'no other line changed');
    });
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('a table of 10,000 node addresses: read resolves the set into 10,000 peer ranges (time logged)', async () => {
  requireNetns();
  const dir = tmpDir('apply-big');
  try {
    // Every other address from 10.100.0.1: none adjacent, so 10,000 ranges.
    const nodes = Array.from({ length: 10000 }, (_, i) => `10.${100 + (i >> 7)}.${(i & 127) * 2}.1`);
    const big = compileProfile(exampleProfile({ nodes: [NODE4, ...nodes] }), dir, 'big');
    await withTopology({ node: [NODE4], world: [SRC.admin4], prefix: 'pcnftbg' }, async (t) => {
      const sh = nodeShell(t);
      live.apply(sh, big.nftDir);
      const started = process.hrtime.bigint();
      const got = live.read(sh);
      const ms = Number(process.hrtime.bigint() - started) / 1e6;
      console.log(`  read() of a table with ${nodes.length + 1} node addresses: ${ms.toFixed(0)} ms (nft -j list and parsing)`);
      const nodeRule = got.flowRules.find((f) => f.ruleId === 'in-nodes-v4-tcp');
      assert.ok(nodeRule, 'the nodes rule is a flow rule');
      assert.is(nodeRule!.peers.length, nodes.length + 1);
    });
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

// ------------------------------------------------------------ the CLI (src/operate)

const bLoaded = (t: Topology) => t.exec(t.node, ['nft', 'list', 'set', 'inet', 'portcullis', 'admins_v4']).stdout.includes('203.0.113.0/24');

test('portcullis apply: A without confirm; B that drops the admin rolls back to A after its timeout (exit 1); B confirmed by `apply --confirm` stays; a broken catalog changes nothing (exit 2); another table survives it all', async () => {
  requireNetns();
  const dir = tmpDir('apply-cli');
  try {
    const a = compileProfile(exampleProfile({}), dir, 'a');
    const b = compileProfile(exampleProfile({ admins: ['203.0.113.0/24'], nodes: [NODE4, '10.20.0.12', SRC.admin4] }), dir, 'b');
    const target = ['--target', 'nftables'];
    await withTopology({ node: [NODE4], world: [SRC.admin4], prefix: 'pcnftcl' }, async (t) => {
      await startListener(t, t.node, [ADMIN_PORT, B_ONLY_PORT]);
      t.execOk(t.node, ['nft', '-f', '-'], FOREIGN);
      const foreign = foreignTable(t);

      let r = cli(t, ['apply', '--profile', a.profile, ...target, '--no-confirm', '--json']);
      assert.is(r.code, 0, `apply A: ${r.stderr}`);
      assert.equal(JSON.parse(r.stdout), { target: 'nftables', environment: 'prod-east', changed: true, confirmed: false, rolled_back: false });
      const listingA = noCounts(listTable(t));
      await expectReach(t, 'A applied', [true, false]);

      // Same policy again: nothing changes, so nothing waits for a confirmation.
      const started = Date.now();
      r = cli(t, ['apply', '--profile', a.profile, ...target, '--confirm-timeout', '30', '--json']);
      assert.is(r.code, 0, `apply A again: ${r.stderr}`);
      assert.is(JSON.parse(r.stdout).changed, false);
      assert.ok(Date.now() - started < 20000, 'an unchanged apply did not wait for its confirmation');

      // B, never confirmed: rolled back after 4 s.
      const rolled = cliBackground(t, ['apply', '--profile', b.profile, ...target, '--confirm-timeout', '4']);
      await waitFor('B loaded', () => bLoaded(t), 20000);
      await expectReach(t, 'B applied, not yet confirmed', [false, true]);
      r = await rolled;
      assert.is(r.code, 1, `apply B unconfirmed: exit ${r.code}\n${r.stderr}`);
      assert.match(r.stderr, /roll|restor/i);
      assert.match(r.stderr, /table inet portcullis/);
      assert.fixture(noCounts(listTable(t)), listingA, 'rolled back to exactly A');
      await expectReach(t, 'rolled back to A', [true, false]);
      assert.fixture(foreignTable(t), foreign, 'apply and rollback touched the foreign table');

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

      // Bad input: exit 2, the ruleset byte for byte as it was.
      const ruleset = t.execOk(t.node, ['nft', 'list', 'ruleset']);
      r = cli(t, ['apply', '--profile', a.profile, '--catalog', fixture('catalogs', 'bad', 'unknown-group.yaml'), ...target, '--no-confirm']);
      assert.is(r.code, 2, `broken catalog: ${r.stderr}`);
      assert.fixture(t.execOk(t.node, ['nft', 'list', 'ruleset']), ruleset, 'a broken catalog changed the ruleset');
      assert.fixture(foreignTable(t), foreign);
    });
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('portcullis apply: a second apply while one waits refuses (exit 2, nothing changed); `y` typed on the terminal confirms, anything else rolls back', async () => {
  requireNetns();
  const dir = tmpDir('apply-tty');
  try {
    const a = compileProfile(exampleProfile({}), dir, 'a');
    const b = compileProfile(exampleProfile({ admins: ['203.0.113.0/24'], nodes: [NODE4, '10.20.0.12', SRC.admin4] }), dir, 'b');
    const target = ['--target', 'nftables'];
    await withTopology({ node: [NODE4], world: [SRC.admin4], prefix: 'pcnfttt' }, async (t) => {
      assert.is(cli(t, ['apply', '--profile', a.profile, ...target, '--no-confirm']).code, 0);
      const listingA = noCounts(listTable(t));

      const waiting = cliBackground(t, ['apply', '--profile', b.profile, ...target, '--confirm-timeout', '60']);
      await waitFor('B loaded', () => bLoaded(t), 20000);
      const listingB = noCounts(listTable(t));
      let r = cli(t, ['apply', '--profile', a.profile, ...target, '--no-confirm']);
      assert.is(r.code, 2, `a second apply: exit ${r.code}\n${r.stderr}`);
      assert.match(r.stderr, /another portcullis apply \(pid \d+\) is running/);
      assert.fixture(noCounts(listTable(t)), listingB, 'the refused apply changed nothing');
      await waitFor('apply --confirm', () => cli(t, ['apply', '--confirm']).code === 0);
      assert.is((await waiting).code, 0);

      // On a terminal (script(1) gives the apply a pty; its stdin is ours).
      const tty = (answer: string): Cmd =>
        t.exec(t.node, ['script', '-qec', cliArgv(['apply', '--profile', a.profile, ...target, '--confirm-timeout', '60']).map((w) => `'${w}'`).join(' '), '/dev/null'], { input: answer });
      r = tty('y\n');
      assert.is(r.code, 0, `y on the terminal: exit ${r.code}\n${r.stdout}`);
      assert.match(r.stdout, /type y and Enter/);
      assert.fixture(noCounts(listTable(t)), listingA, 'A kept after y');
      assert.is(cli(t, ['apply', '--profile', b.profile, ...target, '--no-confirm']).code, 0);
      r = tty('n\n');
      assert.is(r.code, 1, `n on the terminal: exit ${r.code}\n${r.stdout}`);
      assert.match(r.stdout, /answer was not y[^\n]*rolled back/);
      assert.fixture(noCounts(listTable(t)), listingB, 'n rolled back to B');
    });
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('portcullis apply over SSH: rules that drop the SSH client are refused (exit 2, nothing changed) unless --force; rules that admit it apply', async () => {
  requireNetns();
  const dir = tmpDir('apply-ssh');
  try {
    const a = compileProfile(exampleProfile({}), dir, 'a');
    const b = compileProfile(exampleProfile({ admins: ['203.0.113.0/24'], nodes: [NODE4, '10.20.0.12'] }), dir, 'b');
    await withTopology({ node: [NODE4], world: [SRC.admin4], prefix: 'pcnftss' }, async (t) => {
      // As sshd sets it: client address and port, server address and port.
      const overSsh = (args: string[]) => t.exec(t.node, ['env', `SSH_CONNECTION=${SRC.admin4} 50022 ${NODE4} 22`, process.execPath, BIN, ...args]);
      let r = overSsh(['apply', '--profile', a.profile, '--target', 'nftables', '--no-confirm']);
      assert.is(r.code, 0, `A admits the admin's SSH client: ${r.stderr}`);
      const listingA = noCounts(listTable(t));
      r = overSsh(['apply', '--profile', b.profile, '--target', 'nftables', '--no-confirm']);
      assert.is(r.code, 2, `B drops 198.51.100.10 on tcp 22: exit ${r.code}\n${r.stderr}`);
      assert.match(r.stderr, /drop new connections from 198\.51\.100\.10 to tcp 22, the SSH connection this apply runs over; nothing changed/);
      assert.fixture(noCounts(listTable(t)), listingA, 'a refused apply changed nothing');
      r = overSsh(['apply', '--profile', b.profile, '--target', 'nftables', '--no-confirm', '--force']);
      assert.is(r.code, 0, `--force: ${r.stderr}`);
      assert.match(r.stderr, /warning: .*\(--force\)/);
      assert.ok(bLoaded(t), 'B applied with --force');
    });
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('portcullis audit: in sync after apply (0); an added rule, an added set element and a meta mark rule are drift (1), each named', async () => {
  requireNetns();
  const dir = tmpDir('audit-cli');
  try {
    const a = compileProfile(exampleProfile({}), dir, 'a');
    const audit = ['audit', '--profile', a.profile, '--target', 'nftables'];
    await withTopology({ node: [NODE4], world: [SRC.admin4], prefix: 'pcnftau' }, async (t) => {
      const reset = () => assert.is(cli(t, ['apply', '--profile', a.profile, '--target', 'nftables', '--no-confirm']).code, 0);
      reset();
      let r = cli(t, audit);
      assert.is(r.code, 0, `audit right after apply:\n${r.stdout}${r.stderr}`);

      t.execOk(t.node, ['nft', 'add', 'rule', 'inet', 'portcullis', 'input', 'tcp', 'dport', '8080', 'accept']);
      r = cli(t, audit);
      assert.is(r.code, 1, `audit with tcp dport 8080 accept:\n${r.stdout}${r.stderr}`);
      assert.match(r.stdout, /host allows, policy does not: ingress tcp 8080\b/);
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
      t.execOk(t.node, ['nft', 'add', 'element', 'inet', 'portcullis', 'admins_v4', '{ 203.0.113.99 }']);
      r = cli(t, audit);
      assert.is(r.code, 1, `audit with an added admin:\n${r.stdout}${r.stderr}`);
      assert.match(r.stdout, /host allows, policy does not: ingress tcp [^\n]*203\.0\.113\.99/);
      assert.match(r.stdout, /T1\.1/, 'the admins rows are named');

      reset();
      t.execOk(t.node, ['nft', 'add', 'rule', 'inet', 'portcullis', 'input', 'meta', 'mark', '0x1', 'accept']);
      r = cli(t, [...audit, '--format', 'json']);
      assert.is(r.code, 1, `audit with meta mark:\n${r.stdout}${r.stderr}`);
      assert.equal(JSON.parse(r.stdout).unmapped.length, 1);
      assert.match(JSON.parse(r.stdout).unmapped[0], /meta mark/);

      // Egress allow: a drop added by hand to the output chain (policy accept)
      // takes away a flow the policy allows.
      reset();
      t.execOk(t.node, ['nft', 'insert', 'rule', 'inet', 'portcullis', 'output', 'ip', 'daddr', '192.0.2.99', 'tcp', 'dport', '443', 'drop']);
      r = cli(t, audit);
      assert.is(r.code, 1, `audit with an output drop:\n${r.stdout}${r.stderr}`);
      assert.match(r.stdout, /policy allows, host does not: egress tcp 443 to 192\.0\.2\.99\/32\n/);

      // A hand-added rule whose comment is hostile (escape sequences, bidi
      // override, a pipe and a line separator) stays text in every format.
      reset();
      const hostile = 'x\x1b]0;pwned\x07 \u202e|evil| \u2028next';
      t.execOk(t.node, ['nft', 'add', 'rule', 'inet', 'portcullis', 'input', 'tcp', 'dport', '8081', 'accept', 'comment', JSON.stringify(hostile)]);
      for (const format of ['text', 'markdown', 'json']) {
        r = cli(t, [...audit, '--format', format]);
        assert.is(r.code, 1, `${format}: ${r.stderr}`);
        assert.not.match(r.stdout, /[\x00-\x09\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2028\u2029]/, `${format}: a control or bidi character reached the output`);
        assert.match(r.stdout, /8081/, format);
      }
      assert.match(cli(t, [...audit, '--format', 'markdown']).stdout, /\\\|evil\\\|/, 'the pipe is escaped in a markdown cell');
      assert.match(JSON.parse(cli(t, [...audit, '--format', 'json']).stdout).host_allows[0].origins[0], /\u202e\|evil\|/, 'JSON keeps the text, escaped');
    });
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test.run();
