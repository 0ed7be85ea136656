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
import { nftablesLive as live } from '../src/targets/nftables/live';
import { compileProfile, exampleProfile, liveFlows, modelFlows, nodeShell } from './helpers/apply-nftables';
import { fixture } from './helpers/cli';
import { NODE4, SRC } from './helpers/kernel-suite';
import { tmpDir } from './helpers/nftables-host';
import { requireNetns, Topology, withTopology } from './helpers/netns';

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
            assert.equal(read.flowRules.filter((r) => r.direction === 'egress'), [], `${where}: egress allow has no output rules`);
            continue;
          }
          assert.equal(liveFlows(read.flowRules, direction, transport, family), modelFlows(ir, direction, transport, family), where);
        }
    if (ir.egress === 'allow') assert.ok(read.other.includes('chain output type filter hook output priority 0 policy accept'), `${g.profile}: ${read.other.join('\n')}`);
    for (const r of read.flowRules) {
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

      const added = (r: LiveRead) => r.flowRules.filter((f) => f.ports.some((p) => p.lo <= 8080 && 8080 <= p.hi) && f.peers.some((x) => x.lo === 0n));
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

test.run();
