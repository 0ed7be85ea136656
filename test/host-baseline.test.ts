// Issue 13, "a DHCPv6 reply reaches the node on all three targets": a
// DHCPv6 server answers a client's multicast solicit by unicast, from its
// link-local address, udp 547, to the client's link-local address, udp 546.
// Connection tracking cannot tie that to the solicit, so every host target
// needs a rule for it. Real packets: from the world namespace's link-local
// fe80::2 (bound to port 547) to the node's fe80::1 port 546, where an echo
// listener answers; counted only if the nonce makes the round trip. Each
// target with each profile is its own test case, loaded as verify loads
// it (LOADERS). The same ports from a global address stay shut: the rule is
// for link-local servers, not a hole for everyone.
//
// Needs root, `ip netns`, each target's tools; fails (never skips) without.

import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { fixture } from './helpers/cli';
import { probeSettled } from './helpers/kernel-suite';
import { compileFor, HOST_TARGETS, loadTarget } from './helpers/host-targets';
import { ProbeCase, requireNetns, startListener, withTopology } from './helpers/netns';

const PROFILES = [
  // egress: allow; the example's nodes are IPv4 only: the node's IPv6 address is in no group.
  { name: 'example', file: fixture('profiles', 'example.yaml'), environment: 'prod-east', node4: '10.20.0.11', node6: '2001:db8:20::11' },
  // egress: restrict: the listener's answer must still get out (it is the tracked reply).
  { name: 'restrict', file: fixture('profiles', 'restrict.yaml'), environment: 'restrict', node4: '10.30.0.11', node6: '2001:db8:30::11' },
];
/** In no group of either profile. */
const OUTSIDER6 = '2001:db8:99::1';

for (const p of PROFILES) {
  for (const target of HOST_TARGETS) {
    test(`${target} (${p.name}): a DHCPv6 reply fe80::2 port 547 -> fe80::1 port 546 reaches the node; from a global address the same ports stay shut`, async () => {
      requireNetns();
      const { dir, remove } = compileFor(target, p.file, p.environment);
      try {
        await withTopology({ prefix: 'pcb', node: [p.node4, p.node6], world: [OUTSIDER6] }, async (t) => {
          const reply: ProbeCase = { src: `${t.worldLinkLocal}%${t.worldIf}`, dst: `${t.nodeLinkLocal}%${t.worldIf}`, port: 546, transport: 'udp', sourcePort: 547 };
          const global: ProbeCase = { src: OUTSIDER6, dst: p.node6, port: 546, transport: 'udp', sourcePort: 547 };
          const cases = [reply, global];
          await startListener(t, t.node, [{ port: 546, transport: 'udp' }], 30000, [`${t.nodeLinkLocal}%${t.nodeIf}`, p.node6]);
          // Control: without a ruleset both get through, so a drop later is the ruleset's.
          const control = await probeSettled(t, t.world, cases, () => true);
          assert.equal(control.map((r) => r.allowed), [true, true], `topology broken: ${JSON.stringify(control)}`);
          const stop = await loadTarget(t, target, dir);
          try {
            t.flushNeighbours();
            const seen = await probeSettled(t, t.world, cases, (c) => c === reply);
            assert.ok(seen[0].allowed, `${target}: the DHCPv6 reply did not reach the node (${seen[0].outcome}, ${seen[0].ms} ms)`);
            assert.is(seen[0].outcome, 'echo');
            assert.not.ok(seen[1].allowed, `${target}: udp 547 -> 546 from the global ${OUTSIDER6} got in (${seen[1].outcome})`);
          } finally {
            stop();
          }
        });
      } finally {
        remove();
      }
    });
  }
}

test.run();
