// Kernel test: host.log on nftables. A denied packet produces an NFLOG
// message with the prefix "portcullis-drop in: " in the configured group
// (captured with tcpdump -i nflog:N in the node namespace), an accepted one
// does not, and the rate limit holds: more drops than log messages.
//
// The world side has IPv6 switched off on its interface (a sysctl of our own
// namespace): its router solicitations and MLD reports would be dropped and
// logged too, and use up the limit the test measures.
import * as fs from 'fs';
import * as path from 'path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { NODE4, probeSettled, SRC } from './helpers/kernel-suite';
import { startNflogCapture } from '../src/verify/nflog';
import { compileNft, exampleWith, tmpDir, udpDeliveries, waitFor } from './helpers/nftables-host';
import { requireNetns, startListener, Topology, withTopology } from './helpers/netns';

const DENIED = 9; // udp: no rule opens it
const ALLOWED = 80; // tcp: T1.2 HTTP from users (0.0.0.0/0)

function worldWithoutIpv6(t: Topology): void {
  t.execOk(t.world, ['sysctl', '-qw', `net.ipv6.conf.${t.worldIf}.disable_ipv6=1`]);
}

const denied = (n: number) => ({ rounds: n, intervalMs: 20 });
const toNode = [{ src: SRC.user, sport: 40009, dst: NODE4, dport: DENIED }];

test('nftables host.log with group: a denied datagram is logged to NFLOG with prefix "portcullis-drop in: ", an accepted connection is not', async () => {
  requireNetns();
  const dir = tmpDir('log');
  try {
    const nft = path.join(compileNft(exampleWith('host: { log: { drops: true, group: 7 } }'), dir, 'log'), 'portcullis.nft');
    assert.match(fs.readFileSync(nft, 'utf8'), /^\t\tlimit rate 10\/minute log prefix "portcullis-drop in: " group 7$/m);
    await withTopology({ node: [NODE4], world: [SRC.user], prefix: 'pcnftlog' }, async (t) => {
      worldWithoutIpv6(t);
      await startListener(t, t.node, [ALLOWED]);
      const control = await udpDeliveries(t, t.world, t.node, DENIED, toNode, () => true, denied(3));
      assert.equal(control, [true], 'topology broken: without a ruleset the datagram did not arrive');

      const cap = await startNflogCapture(t, t.node, 7);
      t.execOk(t.node, ['nft', '-f', nft]);
      const ok = await probeSettled(t, t.world, [{ src: SRC.user, dst: NODE4, port: ALLOWED }], () => true);
      assert.ok(ok[0].allowed, `the allowed probe to ${ALLOWED}/tcp failed: ${ok[0].outcome}`);
      assert.equal(await udpDeliveries(t, t.world, t.node, DENIED, toNode, () => false, denied(3)), [false], 'the denied datagram arrived');

      await waitFor(`an NFLOG message for udp ${DENIED} in nflog:7`, () => cap.records().some((m) => m.packet?.dport === DENIED));
      cap.stop();
      const msgs = cap.records();
      const ours = msgs.filter((m) => m.packet?.dport === DENIED);
      assert.equal([...new Set(ours.map((m) => m.prefix))], ['portcullis-drop in: '], 'prefix of the drop log');
      assert.ok(ours.every((m) => m.packet?.family === 'ipv4'), 'logged as IPv4');
      // NFLOG keeps a group's messages in order, so the probe's packets, sent before, would be here already.
      assert.equal(msgs.filter((m) => m.packet?.dport === ALLOWED), [], 'an accepted packet was logged');
    });
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('nftables host.log rate 1/minute: 12 denied datagrams give at least one log message and fewer than 12; the policy counter saw them all', async () => {
  requireNetns();
  const dir = tmpDir('lograte');
  const PROBES = 12;
  try {
    const nft = path.join(compileNft(exampleWith('host: { log: { drops: true, rate: 1/minute, group: 8 }, counters: true }'), dir, 'rate'), 'portcullis.nft');
    await withTopology({ node: [NODE4], world: [SRC.user], prefix: 'pcnftlog' }, async (t) => {
      worldWithoutIpv6(t);
      const control = await udpDeliveries(t, t.world, t.node, DENIED, toNode, () => true, denied(3));
      assert.equal(control, [true], 'topology broken: without a ruleset the datagram did not arrive');
      // An unlimited log in the same group, in a table of its own that runs
      // first: once its message is in the capture, every earlier message of
      // the group is too (NFLOG delivers a group's messages in order).
      t.execOk(t.node, ['nft', '-f', '-'], 'table inet marker {\n\tchain input {\n\t\ttype filter hook input priority filter - 10; policy accept;\n\t\tudp dport 10 log prefix "marker " group 8\n\t}\n}\n');
      const cap = await startNflogCapture(t, t.node, 8);
      t.execOk(t.node, ['nft', '-f', nft]);
      assert.equal(await udpDeliveries(t, t.world, t.node, DENIED, toNode, () => false, denied(PROBES)), [false], 'a denied datagram arrived');
      const marker = [{ ...toNode[0], sport: 40010, dport: 10 }];
      await waitFor('the marker in the NFLOG capture', () => {
        if (cap.records().some((m) => m.prefix === 'marker ')) return true;
        t.execOk(t.world, [process.execPath, '-e', `require('dgram').createSocket('udp4').send('m', 10, '${NODE4}', (e, n, s) => process.exit(e ? 1 : 0))`]);
        return false;
      });
      cap.stop();
      const logged = cap.records().filter((m) => m.packet?.dport === DENIED);
      const listing = t.execOk(t.node, ['nft', 'list', 'chain', 'inet', 'portcullis', 'input']);
      const counted = Number(/counter packets (\d+) bytes \d+ comment "policy-drop-in"/.exec(listing)?.[1] ?? NaN);
      assert.ok(counted >= PROBES, `the policy-drop-in counter saw ${counted} packets, fewer than the ${PROBES} sent:\n${listing}`);
      assert.ok(logged.length >= 1, 'no log message at all');
      assert.ok(logged.length < PROBES, `${logged.length} log messages for ${PROBES} drops: not rate limited`);
      // nft's default burst is 5 packets; within the test's few seconds at most one more token comes.
      assert.ok(logged.length <= 6, `${logged.length} log messages: more than the burst of 5 (+1)`);
      assert.ok(logged.every((m) => m.prefix === 'portcullis-drop in: '), 'prefix');
      console.log(`  rate 1/minute: ${PROBES} denied datagrams, ${counted} packets counted at the policy, ${logged.length} logged`);
    });
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test.run();
