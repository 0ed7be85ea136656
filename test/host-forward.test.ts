// Issue 13, "forwarded container traffic is treated the same by all three
// [host targets]": the host firewall governs the host's own traffic and
// leaves what the host forwards to whoever routes it (Docker, libvirt, k8s).
//
//   [world] veth1 -- veth0 [node: the firewall, forwarding on] docker0 -- eth0 [container]
//
// A profile's output is loaded into the node as verify loads it (LOADERS);
// then TCP round trips on a port no catalog rule opens (7777): world ->
// container and container -> world, both families, must be forwarded; and
// world -> the node itself on the same port must be denied (the ruleset is
// in force: the forwarded flows pass because it leaves them alone, not
// because it is absent). Each target with each profile is its own test case.
//
// firewalld twice: with docker0 in no zone (a host that routes with no
// other manager: the interface falls to the default zone), and with docker0
// in Docker's own `docker` zone and `docker-forwarding` policy, as Docker
// creates them on a firewalld host (tree files here, since no Docker runs).
//
// Needs root, `ip netns`, each target's tools; fails (never skips) without.

import * as fs from 'fs';
import * as path from 'path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { fixture } from './helpers/cli';
import { probeSettled } from './helpers/kernel-suite';
import { addContainer, compileFor, HostTarget, loadTarget } from './helpers/host-targets';
import { ProbeCase, requireNetns, run, startListener, withTopology } from './helpers/netns';

const PORT = 7777;
const WORLD4 = '203.0.113.77'; // a user in example (0.0.0.0/0), in no group in restrict
const WORLD6 = '2001:db8:99::1'; // in no group of either profile

const PROFILES = [
  { name: 'example', file: fixture('profiles', 'example.yaml'), environment: 'prod-east', node4: '10.20.0.11', node6: '2001:db8:20::11' },
  { name: 'restrict', file: fixture('profiles', 'restrict.yaml'), environment: 'restrict', node4: '10.30.0.11', node6: '2001:db8:30::11' },
];

// Docker's firewalld objects (moby libnetwork/iptables/firewalld.go): zone
// "docker", target ACCEPT, holding the bridge; policy "docker-forwarding",
// ACCEPT from any zone into it.
const DOCKER_ZONE = `<?xml version="1.0" encoding="utf-8"?>
<zone version="1.0" target="ACCEPT">
  <short>docker</short>
  <description>zone for docker bridge network interfaces</description>
  <interface name="docker0"/>
</zone>
`;
const DOCKER_POLICY = `<?xml version="1.0" encoding="utf-8"?>
<policy version="1.0" target="ACCEPT">
  <short>docker-forwarding</short>
  <description>allow forwarding to the docker zone</description>
  <ingress-zone name="ANY"/>
  <egress-zone name="docker"/>
</policy>
`;

interface Variant {
  label: string;
  target: HostTarget;
  /** What another manager keeps in /etc/firewalld next to our files. */
  firewalldOthers?: Record<string, string>;
}

const VARIANTS: Variant[] = [
  { label: 'nftables', target: 'nftables' },
  { label: 'iptables', target: 'iptables' },
  { label: 'firewalld (docker0 in no zone)', target: 'firewalld' },
  {
    label: "firewalld (docker0 in Docker's zone)",
    target: 'firewalld',
    firewalldOthers: { 'zones/docker.xml': DOCKER_ZONE, 'policies/docker-forwarding.xml': DOCKER_POLICY },
  },
];

for (const p of PROFILES) {
  for (const v of VARIANTS) {
    test(`${v.label} (${p.name}): world <-> container TCP on unlisted port ${PORT} is forwarded, both families; the node's own ${PORT} stays denied`, async () => {
      requireNetns();
      const { dir, remove } = compileFor(v.target, p.file, p.environment);
      try {
        for (const rel of Object.keys(v.firewalldOthers ?? {})) assert.not.ok(fs.existsSync(path.join(dir, rel)), `our tree has its own ${rel}`);
        await withTopology({ prefix: 'pcf', node: [p.node4, p.node6], world: [WORLD4, WORLD6] }, async (t) => {
          const ctr = addContainer(t, p.node4);
          try {
            const inbound: ProbeCase[] = [
              { src: WORLD4, dst: ctr.v4, port: PORT },
              { src: WORLD6, dst: ctr.v6, port: PORT },
            ];
            const outbound: ProbeCase[] = [
              { src: ctr.v4, dst: WORLD4, port: PORT },
              { src: ctr.v6, dst: WORLD6, port: PORT },
            ];
            const toNode: ProbeCase[] = [
              { src: WORLD4, dst: p.node4, port: PORT },
              { src: WORLD6, dst: p.node6, port: PORT },
            ];
            await Promise.all([startListener(t, ctr.ns, [PORT]), startListener(t, t.world, [PORT]), startListener(t, t.node, [PORT])]);
            const fromWorld = [...inbound, ...toNode];
            const control = [...(await probeSettled(t, t.world, fromWorld, () => true)), ...(await probeSettled(t, ctr.ns, outbound, () => true))];
            assert.ok(control.every((r) => r.allowed), `topology broken, without a ruleset: ${JSON.stringify(control.filter((r) => !r.allowed))}`);

            const stop = await loadTarget(t, v.target, dir, v.firewalldOthers);
            try {
              t.flushNeighbours();
              run('ip', ['-n', ctr.ns, 'neigh', 'flush', 'all']);
              const seenWorld = await probeSettled(t, t.world, fromWorld, (_, i) => i < inbound.length);
              const seenCtr = await probeSettled(t, ctr.ns, outbound, () => true);
              const bad: string[] = [];
              [...inbound, ...outbound].forEach((c, i) => {
                const r = i < inbound.length ? seenWorld[i] : seenCtr[i - inbound.length];
                if (!r.allowed) bad.push(`  forwarded ${c.src} -> [${c.dst}]:${c.port} dropped (${r.outcome}, ${r.ms} ms)`);
              });
              toNode.forEach((c, i) => {
                const r = seenWorld[inbound.length + i];
                if (r.allowed) bad.push(`  to the node ${c.src} -> [${c.dst}]:${c.port} got in: is the ruleset loaded?`);
              });
              assert.ok(bad.length === 0, `${v.label}:\n${bad.join('\n')}`);
            } finally {
              stop();
            }
          } finally {
            ctr.remove();
          }
        });
      } finally {
        remove();
      }
    });
  }
}

test.run();
