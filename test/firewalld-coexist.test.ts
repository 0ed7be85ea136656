// Kernel tests: the firewalld tree on a busy host, with the real daemon in
// the node's namespace, applied as a user applies it (the tree over the stock
// firewalld.conf, then `firewall-cmd --set-default-zone=portcullis`:
// applyFirewalldTree, the loader `portcullis verify` uses).
//
// Topology: world (peers) -- veth -- node (firewalld) -- docker0 veth -- container.
// Docker's zone is created the way Docker does it (test/helpers/firewalld-host.ts).
//
// Proves, with real packets:
// - zone portcullis is the default zone and claims no source, so Docker's
//   zone still gets docker0: the container reaches the host on a port the
//   catalog does not open, while a world peer is denied on that port;
// - the stock public zone's services (ssh from anyone, dhcpv6-client to
//   fe80::/64 from anyone) do not apply to unclaimed traffic;
// - `firewall-cmd --zone=trusted --add-source=X` lets X in (and nobody else);
// - traffic routed world -> container through the node is not dropped by
//   firewalld (and, as a control, is with the stock default zone public);
// - the DHCPv6 reply (udp fe80::…:547 -> node's fe80::…:546) is accepted,
//   the same datagram from a global address is not;
// - with host.log.drops: the kernel-log rule (no group) is in the ruleset,
//   and with a group, denied inbound and outbound probes produce NFLOG
//   records with the portcullis prefixes while accepted traffic produces none.
// Needs root, `ip netns`, firewalld, dbus-daemon, nsenter, tcpdump; fails (never skips) without them.

import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { applyFirewalldTree, SET_DEFAULT_ZONE } from '../src/targets/firewalld/host';
import { unavailable } from '../src/verify/targets';
import { fixture, runCli } from './helpers/cli';
import { addContainer, addDockerZone, CONTAINER, firewallCmd, sendUdp, startUdpReceiver } from './helpers/firewalld-host';
import { startNflogCapture } from '../src/verify/nflog';
import { NODE4, NODE6, probeSettled, SRC } from './helpers/kernel-suite';
import { probe, ProbeCase, requireNetns, run, startListener, Topology, withTopology } from './helpers/netns';

/** A port the example catalog opens to nobody (T-rows stop below the dynamic range). */
const CLOSED = 19999;
/** A world peer that no rule lets in on CLOSED or 22; becomes trusted by source. */
const TRUSTED_PEER = '203.0.113.99';
const NODE_LL = 'fe80::11';
const WORLD_LL = 'fe80::547';

const tmpDirs: string[] = [];
function tmpDir(): string {
  const d = fs.mkdtempSync(path.join(os.tmpdir(), `pct-fwdco-${process.pid}-`));
  tmpDirs.push(d);
  return d;
}
test.after(() => {
  for (const d of tmpDirs) fs.rmSync(d, { recursive: true, force: true });
});

function requireTools(): void {
  requireNetns();
  const missing = unavailable('firewalld');
  if (missing) throw new Error(`firewalld kernel tests: ${missing}`);
  if (run('sh', ['-c', 'command -v tcpdump']).code !== 0) throw new Error('firewalld kernel tests: needs tcpdump on PATH');
}

/** The example profile with `extra` YAML appended, compiled; the firewalld tree. */
function compile(extra: string, replace?: [RegExp, string]): string {
  const dir = tmpDir();
  let text = fs.readFileSync(fixture('profiles', 'example.yaml'), 'utf8');
  if (replace) {
    const changed = text.replace(replace[0], replace[1]);
    assert.is.not(changed, text, `profile: ${replace[0]} not found`);
    text = changed;
  }
  const profile = path.join(dir, 'profile.yaml');
  fs.writeFileSync(profile, `${text}\n${extra}\n`);
  const r = runCli(['compile', '--profile', profile, '--target', 'firewalld', '--out-dir', dir]);
  assert.is(r.code, 0, `compile failed: ${r.stderr}`);
  return path.join(dir, 'prod-east', 'firewalld');
}

interface Expectation extends ProbeCase {
  allow: boolean;
  why: string;
}

/** Probes (second chances for the expected-allowed) and asserts every case at once. */
async function expectProbes(t: Topology, ns: string, title: string, cases: Expectation[]): Promise<void> {
  const results = await probeSettled(t, ns, cases, (c, i) => cases[i].allow);
  const bad = cases
    .map((c, i) => ({ c, r: results[i] }))
    .filter(({ c, r }) => r.allowed !== c.allow)
    .map(({ c, r }) => `  ${c.src} -> ${c.dst}:${c.port}: expected ${c.allow ? 'ALLOW' : 'DENY'} (${c.why}), got ${r.outcome}`);
  assert.ok(bad.length === 0, `${title}:\n${bad.join('\n')}`);
}

/** The nft chain of firewalld's table in t.node, as text. */
function chain(t: Topology, name: string): string {
  return t.execOk(t.node, ['nft', 'list', 'chain', 'inet', 'firewalld', name]);
}

test('firewalld next to Docker, trusted and public: default zone portcullis, docker zone still accepts the container, outsiders denied, forwarding left alone, DHCPv6 reply accepted', async () => {
  requireTools();
  // Kernel-log logging (no group): provable here only by its rule.
  const tree = compile('host: { log: { drops: true, rate: 5/minute } }');
  const zoneXml = fs.readFileSync(path.join(tree, 'zones', 'portcullis.xml'), 'utf8');
  assert.not.match(zoneXml, /^\s*<source /m, "the zone claims no source (rich rules match sources; the zone binds none)");

  await withTopology({ node: [NODE4, NODE6], world: [SRC.user, SRC.admin4, SRC.outsider6, TRUSTED_PEER] }, async (t) => {
    const ctr = addContainer(t, NODE4);
    try {
      t.execOk(t.node, ['sysctl', '-q', '-w', 'net.ipv4.ip_forward=1']);
      runIp(t.node, ['-6', 'addr', 'add', `${NODE_LL}/64`, 'dev', t.nodeIf, 'nodad']);
      runIp(t.world, ['-6', 'addr', 'add', `${WORLD_LL}/64`, 'dev', t.worldIf, 'nodad']);
      await startListener(t, t.node, [22, 80, CLOSED]);
      await startListener(t, ctr.ns, [CLOSED]);
      const dhcp = await startUdpReceiver(t, t.node, 546);

      const fromWorld = (src: string, port: number, allow: boolean, why: string, dst: string = NODE4): Expectation => ({ src, dst, port, allow, why });
      const inbound = [
        fromWorld(SRC.user, 80, true, 'T1.2 HTTP from users: the catalog still applies'),
        fromWorld(SRC.user, CLOSED, false, 'no rule opens it: default deny for unclaimed traffic'),
        fromWorld(SRC.user, 22, false, "stock public's ssh service must not apply: SSH is admins only"),
        fromWorld(SRC.admin4, 22, true, 'T1.1 SSH from admins'),
        fromWorld(SRC.outsider6, 22, false, "stock public's ssh service must not apply (IPv6)", NODE6),
        fromWorld(TRUSTED_PEER, CLOSED, false, 'not trusted yet'),
      ];
      const containerToHost: Expectation[] = [{ src: CONTAINER.addr, dst: CONTAINER.host, port: CLOSED, allow: true, why: "Docker's zone docker (target ACCEPT) owns docker0" }];
      const forwarded: Expectation[] = [{ src: SRC.user, dst: CONTAINER.addr, port: CLOSED, allow: true, why: 'routed world -> container: left to whoever routes it' }];

      // Control: without firewalld every flow gets through, and so do both datagrams.
      const everything = (cs: Expectation[]) => cs.map((c) => ({ ...c, allow: true }));
      await expectProbes(t, t.world, 'control (no firewall): world -> node', everything(inbound));
      await expectProbes(t, ctr.ns, 'control (no firewall): container -> node', containerToHost);
      await expectProbes(t, t.world, 'control (no firewall): world -> container', forwarded);
      await dhcpDatagrams(t, dhcp, 'control', true);

      const fw = await applyFirewalldTree(t, tree);
      try {
        addDockerZone(fw.daemon);
        assert.is(firewallCmd(fw.daemon, '--get-default-zone').trim(), 'portcullis', `${SET_DEFAULT_ZONE.join(' ')} holds across a reload`);
        assert.is(firewallCmd(fw.daemon, `--get-zone-of-interface=${CONTAINER.hostIf}`).trim(), 'docker');
        const active = firewallCmd(fw.daemon, '--get-active-zones');
        assert.match(active, /^docker\n\s+interfaces: docker0$/m, `docker zone active on docker0:\n${active}`);
        t.flushNeighbours();
        await expectProbes(t, t.world, 'world -> node', inbound);
        await expectProbes(t, ctr.ns, 'container -> node', containerToHost);
        await expectProbes(t, t.world, 'world -> container (forwarded)', forwarded);
        await dhcpDatagrams(t, dhcp, 'with firewalld', false);

        // What the daemon made of it:
        assert.not.match(active, /^\s+sources:/m, `no zone binds a source:\n${active}`);
        // dispatch: docker0 to zone docker before the catch-all to the default zone; no source dispatch.
        const zones = chain(t, 'filter_INPUT_ZONES');
        assert.match(zones, /iifname "docker0" goto filter_IN_docker[^]*\n\s*goto filter_IN_portcullis\s*\n\s*}/, `input dispatch:\n${zones}`);
        assert.not.match(zones, /saddr/, `no source-based dispatch:\n${zones}`);
        assert.not.match(zones, /filter_IN_public/, `public gets no traffic:\n${zones}`);
        assert.match(chain(t, 'filter_FWD_portcullis'), /\n\s*accept\s*\n\s*}/, 'forwarded traffic entering zone portcullis: accept');
        // Logging to the kernel log: rate-limited, before the final drop, after the accepts.
        const post = chain(t, 'filter_IN_portcullis_post');
        assert.match(post, /limit rate 5\/minute (burst \d+ packets )?log prefix "portcullis-drop in: "[^\n]*\n\s*drop\s*\n/, `log then drop:\n${post}`);
        assert.not.match(chain(t, 'filter_IN_portcullis_allow'), /log/, 'accepts are not logged');


        // trusted by source: that peer, and only it, gets in.
        firewallCmd(fw.daemon, '--zone=trusted', `--add-source=${TRUSTED_PEER}/32`);
        await expectProbes(t, t.world, 'after trusted --add-source', [
          fromWorld(TRUSTED_PEER, CLOSED, true, 'zone trusted (target ACCEPT) binds its source'),
          fromWorld(TRUSTED_PEER, 22, true, 'zone trusted binds its source'),
          fromWorld(SRC.user, CLOSED, false, 'still unclaimed: default deny'),
        ]);

        // Control for the forward probe: with the stock default zone, firewalld
        // rejects the same routed flow, so the ALLOW above was not for free.
        firewallCmd(fw.daemon, '--set-default-zone=public');
        await expectProbes(t, t.world, 'control: default zone public', [
          { ...forwarded[0], allow: false, why: 'public (default target) rejects forwarding to another zone' },
          fromWorld(SRC.user, 22, true, "public's ssh service: what portcullis as the default zone prevents"),
        ]);
      } finally {
        fw.stop();
      }
    } finally {
      ctr.remove();
    }
  });
});

function runIp(ns: string, args: string[]): void {
  const r = run('ip', ['-n', ns, ...args]);
  assert.is(r.code, 0, `ip -n ${ns} ${args.join(' ')}: ${r.stderr}`);
}

let datagrams = 0;

/** The DHCPv6 reply (udp [fe80::547]:547 -> [fe80::11]:546) and the same
 * datagram from a global address (which the stock public zone's
 * dhcpv6-client service would accept: it matches only the destination).
 * The global one is sent first; the link-local one (resent until it
 * arrives) is the barrier: once it is in, the other would be too. */
async function dhcpDatagrams(t: Topology, rx: Awaited<ReturnType<typeof startUdpReceiver>>, title: string, globalAllowed: boolean): Promise<void> {
  const n = datagrams++;
  const global = `global-${n}`;
  const reply = `reply-${n}`;
  sendUdp(t, t.world, SRC.outsider6, 547, `${NODE_LL}%${t.worldIf}`, 546, global);
  const started = Date.now();
  let got: Awaited<ReturnType<typeof rx.waitFor>> | undefined;
  while (!got) {
    sendUdp(t, t.world, `${WORLD_LL}%${t.worldIf}`, 547, `${NODE_LL}%${t.worldIf}`, 546, reply);
    try {
      got = await rx.waitFor(reply, 2000);
    } catch (e) {
      if (Date.now() - started > 60000) throw new Error(`${title}: the DHCPv6 reply from ${WORLD_LL} port 547 never reached ${NODE_LL} port 546: ${(e as Error).message}`);
    }
  }
  assert.is(got.port, 547, `${title}: source port`);
  assert.match(got.from, /^fe80::547/, `${title}: source address`);
  const globalSeen = rx.received().some((d) => d.text === global);
  assert.is(globalSeen, globalAllowed, `${title}: udp ${SRC.outsider6}:547 -> ${NODE_LL}:546 ${globalAllowed ? 'must arrive (no firewall)' : 'must be dropped (source not link-local)'}`);
}

test('firewalld logging to NFLOG: denied inbound and outbound probes are logged with the portcullis prefixes, accepted traffic is not; zone bound to firewalld.interfaces', async () => {
  requireTools();
  const group = 7;
  const tree = compile(`host: { log: { drops: true, rate: 10/minute, group: ${group} } }\nfirewalld: { interfaces: [veth0] }`, [/^egress: allow\b/m, 'egress: restrict']);

  await withTopology({ node: [NODE4], world: [SRC.user, SRC.node2] }, async (t) => {
    await startListener(t, t.node, [80, CLOSED]);
    await startListener(t, t.world, [443, 5432]);
    const fw = await applyFirewalldTree(t, tree);
    try {
      assert.is(firewallCmd(fw.daemon, `--get-zone-of-interface=${t.nodeIf}`).trim(), 'portcullis', 'bound by <interface> (firewalld.interfaces)');
      assert.match(firewallCmd(fw.daemon, '--get-active-zones'), /^portcullis\n\s+interfaces: veth0$/m);
      const post = chain(t, 'filter_IN_portcullis_post');
      assert.match(post, new RegExp(`limit rate 10/minute (burst \\d+ packets )?log prefix "portcullis-drop in: " group ${group}\\s*\\n\\s*drop`), `nflog then drop:\n${post}`);

      const cap = await startNflogCapture(t, t.node, group);
      try {
        // Accepted first, in both directions: any record they made would be there before the denied ones'.
        await expectProbes(t, t.world, 'accepted inbound', [{ src: SRC.user, dst: NODE4, port: 80, allow: true, why: 'T1.2 HTTP from users' }]);
        await expectProbes(t, t.node, 'accepted outbound', [{ src: NODE4, dst: SRC.node2, port: 5432, allow: true, why: 'T2.33 node to node' }]);
        const denied = await Promise.all([
          probe(t, t.world, [{ src: SRC.user, dst: NODE4, port: CLOSED }], 3000),
          probe(t, t.node, [{ src: NODE4, dst: SRC.user, port: 443 }], 3000),
        ]);
        assert.ok(denied.every((r) => !r[0].allowed), `denied probes got through: ${JSON.stringify(denied)}`);

        const inRec = await cap.waitFor((r) => r.prefix === 'portcullis-drop in: ' && r.packet?.src === SRC.user && r.packet.dst === NODE4 && r.packet.dport === CLOSED, 30000);
        assert.ok(inRec, `no "portcullis-drop in: " record for ${SRC.user} -> ${NODE4}:${CLOSED}`);
        const outRec = await cap.waitFor((r) => r.prefix === 'portcullis-drop out: ' && r.packet?.src === NODE4 && r.packet.dst === SRC.user && r.packet.dport === 443, 30000);
        assert.ok(outRec, `no "portcullis-drop out: " record for ${NODE4} -> ${SRC.user}:443`);
        assert.is(inRec.group, group);
        assert.is(outRec.group, group);
        const records = cap.records();
        const accepted = records.filter((r) => r.packet?.dport === 80 || r.packet?.dport === 5432);
        assert.equal(accepted.map((r) => JSON.stringify(r)), [], 'accepted traffic is not logged');
        assert.ok(
          records.every((r) => r.prefix === 'portcullis-drop in: ' || r.prefix === 'portcullis-drop out: '),
          `only portcullis records:\n${records.map((r) => JSON.stringify(r)).join('\n')}`,
        );
      } finally {
        cap.stop();
      }
    } finally {
      fw.stop();
    }
  });
});

test.run();
