// Kernel test: portcullis.nft next to another manager's table, with real
// connections. The foreign table is what Docker or libvirt add: an input
// chain, policy accept, that accepts its bridge ("br-x", here a veth to a
// "container" address) and drops one port on it. Proven:
//  - our drop is final whatever our priority: before (-10) or after (+10)
//    the foreign chain, its accept of br-x does not let a denied port in;
//  - with host.trusted_interfaces: [br-x] our chain accepts br-x, and the
//    foreign chain decides: its accept lets the port in, its drop stays a
//    drop (an accept is final only for its own chain); other interfaces are
//    still filtered;
//  - loading portcullis.nft leaves the foreign table as it was (same rules,
//    same handles), and the priority is the one the profile asked for.
import * as fs from 'fs';
import * as path from 'path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { NODE4, probeSettled, SRC } from './helpers/kernel-suite';
import { compileNft, exampleWith, tmpDir } from './helpers/nftables-host';
import { requireNetns, startListener, Topology, withTopology } from './helpers/netns';

const BRIDGE = 'br-x';
const BRIDGE_NODE = '172.31.0.1';
const CONTAINER = '172.31.0.2';
const FOREIGN_DROP = 5555;

const FOREIGN = `table inet foreign {
	chain input {
		type filter hook input priority filter; policy accept;
		iifname "${BRIDGE}" tcp dport ${FOREIGN_DROP} drop
		iifname "${BRIDGE}" accept
	}
}
`;

/** A second link between the namespaces: the node's "br-x" and the container's address behind it. */
function addBridge(t: Topology): void {
  t.execOk(t.node, ['ip', 'link', 'add', BRIDGE, 'type', 'veth', 'peer', 'name', 'brx-peer', 'netns', t.world]);
  t.execOk(t.node, ['ip', 'addr', 'add', `${BRIDGE_NODE}/24`, 'dev', BRIDGE]);
  t.execOk(t.world, ['ip', 'addr', 'add', `${CONTAINER}/24`, 'dev', 'brx-peer']);
  t.execOk(t.node, ['ip', 'link', 'set', BRIDGE, 'up']);
  t.execOk(t.world, ['ip', 'link', 'set', 'brx-peer', 'up']);
}

interface Flow {
  label: string;
  src: string;
  dst: string;
  port: number;
}
const FLOWS: Flow[] = [
  { label: 'container 5432 (nodes only)', src: CONTAINER, dst: BRIDGE_NODE, port: 5432 },
  { label: 'container 80 (users)', src: CONTAINER, dst: BRIDGE_NODE, port: 80 },
  { label: `container ${FOREIGN_DROP} (foreign drop)`, src: CONTAINER, dst: BRIDGE_NODE, port: FOREIGN_DROP },
  { label: 'outsider on veth0 5432', src: SRC.user, dst: NODE4, port: 5432 },
  { label: 'outsider on veth0 80', src: SRC.user, dst: NODE4, port: 80 },
];

async function expectFlows(t: Topology, title: string, allowed: boolean[]): Promise<void> {
  t.flushNeighbours();
  const got = await probeSettled(t, t.world, FLOWS, (_, i) => allowed[i]);
  const wrong = FLOWS.flatMap((f, i) => (got[i].allowed === allowed[i] ? [] : [`  ${f.label}: expected ${allowed[i] ? 'ALLOW' : 'DENY'}, got ${got[i].outcome}`]));
  assert.equal(wrong, [], `${title}:\n${wrong.join('\n')}`);
}

const prios = (t: Topology) =>
  (JSON.parse(t.execOk(t.node, ['nft', '-j', 'list', 'chains'])).nftables as Array<{ chain?: { table: string; name: string; prio: number } }>)
    .flatMap((o) => (o.chain?.table === 'portcullis' ? [`${o.chain.name} ${o.chain.prio}`] : []))
    .sort();

test('nftables next to a foreign table: our drop holds at either priority; trusted_interfaces hands br-x to the foreign chain; reloads leave it untouched', async () => {
  requireNetns();
  const dir = tmpDir('coexist');
  try {
    const before = compileNft(exampleWith('nftables: { priority: -10 }'), dir, 'before');
    const after = compileNft(exampleWith('nftables: { priority: 10 }'), dir, 'after');
    const trusted = compileNft(exampleWith(`nftables: { priority: 10 }\nhost: { trusted_interfaces: [${BRIDGE}] }`), dir, 'trusted');
    assert.match(fs.readFileSync(path.join(trusted, 'portcullis.nft'), 'utf8'), /^\t\tiifname "br-x" accept comment "trusted-interfaces"$/m);

    await withTopology({ node: [NODE4], world: [SRC.user], prefix: 'pcnftco' }, async (t) => {
      addBridge(t);
      await startListener(t, t.node, [80, 5432, FOREIGN_DROP]);
      await expectFlows(t, 'control, no ruleset', [true, true, true, true, true]);

      t.execOk(t.node, ['nft', '-f', '-'], FOREIGN);
      const foreign = () => t.execOk(t.node, ['nft', '-a', 'list', 'table', 'inet', 'foreign']);
      const foreignBefore = foreign();
      await expectFlows(t, 'the foreign table alone', [true, true, false, true, true]);

      const load = (nftDir: string, title: string) => {
        t.execOk(t.node, ['nft', '-f', 'portcullis.nft'], { cwd: nftDir });
        assert.fixture(foreign(), foreignBefore, `${title}: loading portcullis.nft changed the foreign table`);
      };

      load(before, 'priority -10');
      assert.equal(prios(t), ['input -10', 'output -10'], 'nft -j list chains: priority -10');
      await expectFlows(t, 'ours at -10 (before the foreign chain), no trusted interface', [false, true, false, false, true]);

      load(after, 'priority 10');
      assert.equal(prios(t), ['input 10', 'output 10'], 'nft -j list chains: priority 10');
      assert.match(t.execOk(t.node, ['nft', 'list', 'chain', 'inet', 'portcullis', 'input']), /type filter hook input priority filter \+ 10; policy drop;/);
      await expectFlows(t, 'ours at +10 (after the foreign chain), no trusted interface', [false, true, false, false, true]);

      load(trusted, 'trusted br-x');
      await expectFlows(t, 'trusted_interfaces [br-x]', [true, true, false, false, true]);
      load(trusted, 'trusted br-x, loaded again');
      assert.equal(t.execOk(t.node, ['nft', 'list', 'tables']).trim().split('\n').sort(), ['table inet foreign', 'table inet portcullis']);
    });
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test.run();
