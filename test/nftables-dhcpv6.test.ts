// Kernel test: the baseline DHCPv6 reply rule of portcullis.nft, with real
// datagrams. A DHCPv6 server answers from its link-local address, udp 547,
// to the client's link-local address, udp 546; connection tracking cannot
// tie that to the multicast solicit, so only the baseline rule lets it in.
// It must not open 546 to anything else: a link-local sender to the node's
// global address, a global sender, or another source port stay dropped.
import * as fs from 'fs';
import * as path from 'path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { compileNft, exampleWith, tmpDir, UdpCase, udpDeliveries } from './helpers/nftables-host';
import { requireNetns, withTopology } from './helpers/netns';

const NODE_LL = 'fe80::11';
const NODE_GLOBAL = '2001:db8:20::11';
const SERVER_LL = 'fe80::547';
const OUTSIDER = '2001:db8:99::1';

test('nftables: a DHCPv6 reply (fe80:: port 547 -> node fe80:: port 546) is accepted; not to a global address, from a global source or another port', async () => {
  requireNetns();
  const dir = tmpDir('dhcpv6');
  try {
    const nft = path.join(compileNft(exampleWith(''), dir, 'plain'), 'portcullis.nft');
    assert.match(fs.readFileSync(nft, 'utf8'), /ip6 saddr fe80::\/10 ip6 daddr fe80::\/10 udp sport 547 udp dport 546 accept comment "dhcpv6-client-in"/);
    await withTopology({ node: [`${NODE_LL}/64`, NODE_GLOBAL], world: [`${SERVER_LL}/64`, OUTSIDER], prefix: 'pcnft6' }, async (t) => {
      const ll = (a: string, dev: string) => `${a}%${dev}`;
      const cases: Array<UdpCase & { allow: boolean; why: string }> = [
        { src: ll(SERVER_LL, t.worldIf), sport: 547, dst: ll(NODE_LL, t.worldIf), dport: 546, allow: true, why: 'the DHCPv6 reply' },
        { src: ll(SERVER_LL, t.worldIf), sport: 547, dst: NODE_GLOBAL, dport: 546, allow: false, why: 'to a non-link-local node address' },
        { src: OUTSIDER, sport: 547, dst: ll(NODE_LL, t.worldIf), dport: 546, allow: false, why: 'from a global source' },
        { src: ll(SERVER_LL, t.worldIf), sport: 548, dst: ll(NODE_LL, t.worldIf), dport: 546, allow: false, why: 'from source port 548' },
      ];
      const label = (c: (typeof cases)[number]) => `[${c.src}]:${c.sport} -> [${c.dst}]:${c.dport} (${c.why})`;
      // Control: without a ruleset every datagram arrives, so a drop below is the ruleset's.
      const control = await udpDeliveries(t, t.world, t.node, 546, cases, () => true);
      assert.equal(
        cases.filter((_, i) => !control[i]).map(label),
        [],
        'topology broken: without a ruleset these datagrams did not arrive',
      );

      t.execOk(t.node, ['nft', '-f', nft]);
      t.flushNeighbours();
      const got = await udpDeliveries(t, t.world, t.node, 546, cases, (_, i) => cases[i].allow);
      const wrong = cases.flatMap((c, i) => (got[i] === c.allow ? [] : [`${label(c)}: expected ${c.allow ? 'delivered' : 'dropped'}, got ${got[i] ? 'delivered' : 'dropped'}`]));
      assert.equal(wrong, [], 'with portcullis.nft loaded');
    });
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test.run();
