// `portcullis verify` on every transport of the IR (SCTP, ICMP, ICMPv6,
// ESP, AH, GRE, IP-in-IP, VRRP besides TCP and UDP): the plan, the raw
// prober against hand-written nft rulesets in namespaces made here, the
// real CLI on fixtures/profiles/transports.yaml with a hand-written
// ruleset (--from-dir), and with the nftables renderer's own output.
// Needs root, `ip netns`, nft and python3; fails (never skips) without them.

import { spawn } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { load } from '../src/compile';
import type { IR } from '../src/ir/types';
import { buildPlan } from '../src/verify';
import { ICMP_NEW_TYPES } from '../src/verify/matrix';
import { flushConntrack, probeRaw, startRawListener } from '../src/verify/raw';
import { carries, TRANSPORTS, transportKind } from '../src/transports';
import { BIN, fixture, ROOT } from './helpers/cli';
import { requireNetns, run, withTopology } from './helpers/netns';
import { TRANSPORTS_NFT } from './helpers/transports-nft';

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

function verifyCli(args: string[]): Promise<Run> {
  return new Promise((resolve, reject) => {
    const c = spawn(process.execPath, [BIN, 'verify', ...args], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    c.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    c.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    c.on('error', reject);
    c.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}
const show = (r: Run) => `exit ${r.code}\n--- stdout\n${r.stdout}\n--- stderr\n${r.stderr}`;

const PROFILE = fixture('profiles', 'transports.yaml');
const CATALOG = fixture('catalogs', 'transports.yaml');
const text = (f: string) => ({ path: f, text: fs.readFileSync(f, 'utf8') });
const loadTransports = () => load({ profile: text(PROFILE), catalog: text(CATALOG) });

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), `pct-verify-transports-${process.pid}-`));
/** A --from-dir tree holding `nft` as the transports environment's ruleset. */
function fromDir(name: string, nft: string): string {
  const dir = path.join(tmp, name);
  fs.mkdirSync(path.join(dir, 'transports', 'nftables'), { recursive: true });
  fs.writeFileSync(path.join(dir, 'transports', 'nftables', 'portcullis.nft'), nft);
  return dir;
}
function edit(nft: string, from: string | RegExp, to: string): string {
  const out = nft.replace(from, to);
  assert.is.not(out, nft, `the edit of ${from} changed nothing`);
  return out;
}

const runs = new Map<string, Promise<Run>>();

test.before(() => {
  requireNetns();
  assert.is(run('sh', ['-c', 'command -v python3']).code, 0, 'python3 on PATH');
  runs.set('hand', verifyCli(['--catalog', CATALOG, '--profile', PROFILE, '--target', 'nftables', '--from-dir', fromDir('hand', TRANSPORTS_NFT)]));
  let broken = TRANSPORTS_NFT;
  broken = edit(broken, 'ip saddr 203.0.113.7 meta l4proto esp accept', 'meta l4proto esp accept'); // ESP from anyone
  broken = edit(broken, 'ip saddr 192.0.2.60 icmp type timestamp-request accept', 'icmp type timestamp-request accept'); // timestamps from anyone
  broken = edit(broken, 'ip saddr { 10.20.0.11, 10.20.0.12 } sctp dport 9899 accept', 'ip saddr { 10.20.0.11, 10.20.0.12 } sctp dport 9900 accept');
  broken = edit(broken, 'ip daddr 192.0.2.70 meta l4proto 47 accept', 'ip daddr 192.0.2.71 meta l4proto 47 accept'); // GRE out lost
  runs.set('broken', verifyCli(['--catalog', CATALOG, '--profile', PROFILE, '--target', 'nftables', '--from-dir', fromDir('broken', broken)]));
});

test.after(() => {
  fs.rmSync(tmp, { recursive: true, force: true });
});

/**
 * The size of the matrix, by the rule docs/verify.md states (not by the
 * plan's code): per direction and transport that some host rule of that
 * direction uses, the samples (ports as for TCP; ICMP: per rule one type it
 * allows and one it does not, among the types connection tracking lets
 * start a flow; a portless protocol once) times the peers of every family
 * the transport exists in, plus the baseline probes (3 for this profile).
 */
function matrixSize(ir: IR, peers: Record<'ingress' | 'egress', Record<'ipv4' | 'ipv6', number>>): number {
  let total = 3;
  for (const direction of ['ingress', 'egress'] as const) {
    const rules = ir.rules.filter((r) => r.scope === 'host' && r.direction === direction);
    for (const t of TRANSPORTS) {
      const mine = rules.filter((r) => r.transport === t);
      if (!mine.length) continue;
      const sample = new Set<number>();
      const kind = transportKind(t);
      for (const r of mine)
        for (const range of r.ports) {
          if (kind === 'portless') sample.add(0);
          else if (kind === 'ports') {
            for (const p of [range.lo - 1, range.lo, range.lo + 1, Math.floor((range.lo + range.hi) / 2), range.hi - 1, range.hi, range.hi + 1]) if (p >= 1 && p <= 65535) sample.add(p);
          }
        }
      if (kind === 'icmp') {
        const candidates = ICMP_NEW_TYPES[t as 'icmp' | 'icmpv6'];
        const base = t === 'icmp' ? [8] : [128]; // echo-request: the host ICMP policy's only request type inbound
        for (const r of mine) {
          const inRule = (n: number) => r.ports.some((p) => p.lo <= n && n <= p.hi);
          const yes = candidates.find(inRule);
          if (yes === undefined) continue;
          sample.add(yes);
          const no = candidates.find((n) => !inRule(n) && !(direction === 'ingress' && base.includes(n))) ?? candidates.find((n) => !inRule(n));
          if (no !== undefined) sample.add(no);
        }
      }
      for (const family of ['ipv4', 'ipv6'] as const) if (carries(t, family)) total += sample.size * peers[direction][family];
    }
  }
  return total;
}

test('the plan samples every transport: ICMP types that can start a flow, one case per portless protocol and peer, verdicts citing rows', () => {
  const plan = buildPlan(loadTransports().ir);
  assert.equal(plan.ports.ingress.icmp, [8, 13, 15]); // echo (ping, any), timestamp (poller; not ping's), info (not the poller's)
  assert.equal(plan.ports.ingress.icmpv6, [128, 139]);
  assert.equal(plan.ports.ingress.sctp, [9898, 9899, 9900]);
  for (const t of ['esp', 'ah', 'gre', 'ipip', 'vrrp'] as const) assert.equal(plan.ports.ingress[t], [0], t);
  assert.equal(plan.ports.egress.esp, []);
  assert.equal(plan.ports.egress.gre, [0]);
  const peers = { ingress: { ipv4: plan.ingress.ipv4.length, ipv6: plan.ingress.ipv6.length }, egress: { ipv4: plan.egress.ipv4.length, ipv6: plan.egress.ipv6.length } };
  assert.is(plan.cases.length, matrixSize(plan.ir, peers));
  const one = (direction: string, transport: string, src: string, port: number) => {
    const c = plan.cases.filter((k) => k.direction === direction && k.transport === transport && k.src === src && k.port === port);
    assert.is(c.length, 1, `${direction} ${transport} ${src} ${port}`);
    return c[0];
  };
  // The host ICMP policy accepts echo-request from anyone; timestamps only where a rule says.
  const echoOutsider = one('ingress', 'icmp', '192.0.2.1', 8);
  assert.ok(echoOutsider.expect && /host ICMP baseline/.test(echoOutsider.why), echoOutsider.why);
  const echoMonitor = one('ingress', 'icmp', '192.0.2.50', 8);
  assert.ok(echoMonitor.expect && /^T1\.2 Ping/.test(echoMonitor.why), echoMonitor.why);
  const tsMonitor = one('ingress', 'icmp', '192.0.2.50', 13);
  assert.ok(!tsMonitor.expect && /timestamp-request is open from admins, extra_ingress_1 only \(T1\.3 ICMP; PI\.1 /.test(tsMonitor.why), tsMonitor.why);
  assert.ok(one('ingress', 'icmp', '192.0.2.60', 13).expect);
  assert.ok(!one('ingress', 'icmp', '192.0.2.60', 15).expect);
  assert.ok(one('ingress', 'icmp', '198.51.100.1', 15).expect); // admins: any type
  // ESP: the vpn peer, not the outsider, and not in IPv6.
  const espPeer = one('ingress', 'esp', '203.0.113.7', 0);
  assert.ok(espPeer.expect && /^T1\.5 IPsec \(from vpn_peers\)/.test(espPeer.why), espPeer.why);
  const espOutsider = one('ingress', 'esp', '192.0.2.1', 0);
  assert.ok(!espOutsider.expect && /esp is open from vpn_peers only \(T1\.5 IPsec\)/.test(espOutsider.why), espOutsider.why);
  assert.ok(!one('ingress', 'esp', '2001:db8::1', 0).expect);
  // No ICMP case in a family the transport does not exist in.
  assert.ok(plan.cases.every((c) => (c.transport === 'icmp' ? c.family === 'ipv4' : c.transport === 'icmpv6' ? c.family === 'ipv6' : true)));
});

test('an ICMP rule with no type that can start a flow (echo-reply only) is noted, not probed', () => {
  const dir = path.join(tmp, 'reply-only');
  fs.mkdirSync(dir);
  const catalog = path.join(dir, 'catalog.yaml');
  fs.writeFileSync(
    catalog,
    [
      'name: pong',
      'host: nodes',
      'tables: { T1: { heading: "ICMP" } }',
      'groups: { monitor: {}, nodes: {} }',
      'rules:',
      '  - { id: pong, table: T1, row: 1, cells: { port: "0", protocol: "ICMP", service: "Pong" }, transport: icmp, icmp_types: [echo-reply], from: [monitor], to: [nodes] }',
    ].join('\n') + '\n',
  );
  const profile = path.join(dir, 'profile.yaml');
  fs.writeFileSync(profile, 'environment: reply-only\ngroups:\n  monitor: [192.0.2.50]\n  nodes: [192.0.2.100]\n');
  const plan = buildPlan(load({ profile: text(profile), catalog: text(catalog) }).ir);
  assert.equal(plan.ports.ingress.icmp, []);
  assert.ok(plan.notes.some((n) => /^not probed: in-monitor-v4-icmp \(icmp echo-reply, T1\.1\): connection tracking lets none of these types start a flow/.test(n)), plan.notes.join('\n'));
});

test('raw prober, hand-written nft ruleset: ESP from one peer only, ICMP echo only, SCTP one port, GRE/IP-in-IP/VRRP, AH in both families; outbound drops are EPERM, a portless reply passes until conntrack is emptied', async () => {
  const nodeV4 = '10.30.0.1';
  const nodeV6 = '2001:db8:30::1';
  const peerA = '10.30.0.2';
  const peerB = '10.30.0.3';
  const peerV6 = '2001:db8:30::2';
  await withTopology({ prefix: 'pctr', node: [nodeV4, nodeV6], world: [peerA, peerB, peerV6] }, async (t) => {
    const nft = `table inet t {
  chain input {
    type filter hook input priority filter; policy drop;
    ct state established,related accept
    ct state invalid drop
    icmp type echo-request accept
    icmpv6 type { nd-neighbor-solicit, nd-neighbor-advert, echo-request } accept
    ip saddr ${peerA} meta l4proto esp accept
    sctp dport 9899 accept
    ip saddr ${peerA} meta l4proto { 4, 47, 112 } accept
    meta l4proto ah accept
  }
  chain output {
    type filter hook output priority filter; policy drop;
    ct state established,related accept
    icmpv6 type { nd-neighbor-solicit, nd-neighbor-advert } accept
    ip daddr ${peerA} meta l4proto esp accept
  }
}
`;
    t.execOk(t.node, ['nft', '-f', '-'], nft);
    const [inbound, outbound] = await Promise.all([
      startRawListener(t, t.node, ['icmp', 'icmpv6', 'sctp', 'esp', 'ah', 'gre', 'ipip', 'vrrp']),
      startRawListener(t, t.world, ['esp', 'gre']),
    ]);
    const cases = [
      { src: peerA, dst: nodeV4, transport: 'esp' as const, port: 0, expect: true },
      { src: peerB, dst: nodeV4, transport: 'esp' as const, port: 0, expect: false },
      { src: peerV6, dst: nodeV6, transport: 'esp' as const, port: 0, expect: false },
      { src: peerB, dst: nodeV4, transport: 'icmp' as const, port: 8, expect: true },
      { src: peerB, dst: nodeV4, transport: 'icmp' as const, port: 13, expect: false },
      { src: peerV6, dst: nodeV6, transport: 'icmpv6' as const, port: 128, expect: true },
      { src: peerV6, dst: nodeV6, transport: 'icmpv6' as const, port: 139, expect: false },
      { src: peerB, dst: nodeV4, transport: 'sctp' as const, port: 9899, expect: true },
      { src: peerB, dst: nodeV4, transport: 'sctp' as const, port: 9900, expect: false },
      { src: peerV6, dst: nodeV6, transport: 'sctp' as const, port: 9899, expect: true },
      { src: peerA, dst: nodeV4, transport: 'gre' as const, port: 0, expect: true },
      { src: peerB, dst: nodeV4, transport: 'gre' as const, port: 0, expect: false },
      { src: peerA, dst: nodeV4, transport: 'ipip' as const, port: 0, expect: true },
      { src: peerA, dst: nodeV4, transport: 'vrrp' as const, port: 0, expect: true },
      { src: peerB, dst: nodeV4, transport: 'vrrp' as const, port: 0, expect: false },
      { src: peerB, dst: nodeV4, transport: 'ah' as const, port: 0, expect: true },
      // IPv6 AH (tunnel mode): nftables finds AH as the layer 4 protocol
      // (connection tracking skips it and tracks the IPv6-in-IPv6 inside).
      { src: peerV6, dst: nodeV6, transport: 'ah' as const, port: 0, expect: true },
    ];
    const seen = await probeRaw(t, t.world, cases, 1500, inbound);
    cases.forEach((c, i) => assert.is(seen[i].allowed, c.expect, `inbound ${c.transport} ${c.port} from ${c.src}: ${seen[i].outcome}`));
    const outCases = [
      { src: nodeV4, dst: peerA, transport: 'esp' as const, port: 0 },
      { src: nodeV4, dst: peerB, transport: 'esp' as const, port: 0 },
      { src: nodeV4, dst: peerA, transport: 'gre' as const, port: 0 },
    ];
    // GRE came in from peerA: going back out to it is that flow's reply
    // (connection tracking knows nothing but the addresses of a portless
    // flow), until the table is emptied.
    const reply = await probeRaw(t, t.node, [outCases[2]], 1500, outbound);
    assert.ok(reply[0].allowed, `GRE out to peerA as the reply of GRE in: ${reply[0].outcome}`);
    flushConntrack(t, t.node);
    const out = await probeRaw(
      t,
      t.node,
      outCases,
      1500,
      outbound,
    );
    assert.equal(
      out.map((r) => [r.allowed, r.outcome]),
      [
        [true, 'seen'],
        [false, 'EPERM'],
        [false, 'EPERM'],
      ],
    );
  });
});

test('raw prober, hand-written iptables rules: -p esp from one peer, -p sctp --dport, icmp echo only, -p ah in IPv6', async () => {
  const node4 = '10.31.0.1';
  const node6 = '2001:db8:31::1';
  const a = '10.31.0.2';
  const b = '10.31.0.3';
  const a6 = '2001:db8:31::2';
  await withTopology({ prefix: 'pcti', node: [node4, node6], world: [a, b, a6] }, async (t) => {
    const common = ['*filter', ':INPUT DROP [0:0]', '-A INPUT -m conntrack --ctstate ESTABLISHED,RELATED -j ACCEPT', '-A INPUT -m conntrack --ctstate INVALID -j DROP'];
    t.execOk(t.node, ['iptables-restore'], [...common, '-A INPUT -p icmp --icmp-type echo-request -j ACCEPT', `-A INPUT -s ${a} -p esp -j ACCEPT`, '-A INPUT -p sctp --dport 9899 -j ACCEPT', 'COMMIT', ''].join('\n'));
    t.execOk(
      t.node,
      ['ip6tables-restore'],
      [...common, '-A INPUT -p ipv6-icmp --icmpv6-type neighbour-solicitation -j ACCEPT', '-A INPUT -p ipv6-icmp --icmpv6-type neighbour-advertisement -j ACCEPT', `-A INPUT -s ${a6} -p ah -j ACCEPT`, 'COMMIT', ''].join('\n'),
    );
    const listener = await startRawListener(t, t.node, ['icmp', 'sctp', 'esp', 'ah']);
    const cases = [
      { src: a, dst: node4, transport: 'esp' as const, port: 0, expect: true },
      { src: b, dst: node4, transport: 'esp' as const, port: 0, expect: false },
      { src: b, dst: node4, transport: 'icmp' as const, port: 8, expect: true },
      { src: b, dst: node4, transport: 'icmp' as const, port: 17, expect: false },
      { src: b, dst: node4, transport: 'sctp' as const, port: 9899, expect: true },
      { src: b, dst: node4, transport: 'sctp' as const, port: 9898, expect: false },
      { src: a6, dst: node6, transport: 'ah' as const, port: 0, expect: true },
      { src: b, dst: node4, transport: 'ah' as const, port: 0, expect: false },
    ];
    const seen = await probeRaw(t, t.world, cases, 1500, listener);
    cases.forEach((c, i) => assert.is(seen[i].allowed, c.expect, `inbound ${c.transport} ${c.port} from ${c.src}: ${seen[i].outcome}`));
  });
});

test('verify on the transports profile, hand-written nftables ruleset: every transport probed, all pass', async () => {
  const r = await runs.get('hand')!;
  assert.is(r.code, 0, show(r));
  const m = /^matrix: (\d+) probes per target/m.exec(r.stdout);
  assert.ok(m, show(r));
  const n = Number(m![1]);
  assert.match(r.stdout, new RegExp(`^nftables: loaded with .*; ${n} probes: ${n} passed, 0 failed`, 'm'));
  const line = /^transports: (.*)$/m.exec(r.stdout)?.[1] ?? '';
  for (const t of TRANSPORTS) assert.match(line, new RegExp(`\\b${t} [1-9]\\d*\\b`), `${t} probed: ${line}`);
});

test('verify on the transports profile catches a hand-broken ruleset per transport, rows cited', async () => {
  const r = await runs.get('broken')!;
  assert.is(r.code, 1, show(r));
  const rows = r.stdout.split('\n').filter((l) => /^ {2}nftables +(inbound|outbound) /.test(l));
  const has = (re: RegExp) => assert.ok(rows.some((l) => re.test(l)), `${re}\n${show(r)}`);
  has(/inbound +192\.0\.2\.1 +10\.20\.0\.11 +esp +deny +allow +esp is open from vpn_peers only \(T1\.5 IPsec\)/);
  has(/inbound +192\.0\.2\.50 +10\.20\.0\.11 +icmp timestamp-request +deny +allow +icmp timestamp-request is open from admins, extra_ingress_1 only/);
  has(/inbound +10\.20\.0\.12 +10\.20\.0\.11 +9899\/sctp +allow +deny \(timeout\) +T2\.3 Diameter/);
  has(/inbound +10\.20\.0\.12 +10\.20\.0\.11 +9900\/sctp +deny +allow /);
  has(/outbound +10\.20\.0\.11 +192\.0\.2\.70 +gre +allow +deny \(EPERM\) +P\.1 a GRE tunnel/);
  assert.is(rows.length, 15, show(r));
});

// Enabled once nftables renders every transport: on main the nftables
// renderer still refuses this catalog (TransportRefusal, exit 2), so verify
// has nothing of its own to load. Then it must pass as the hand-written
// ruleset does.
test('verify --target nftables on the transports profile: the renderer\'s own ruleset passes, UDP, ICMP and ESP among the probed', async () => {
  const r = await verifyCli(['--catalog', CATALOG, '--profile', PROFILE, '--target', 'nftables']);
  assert.is(r.code, 0, show(r));
  const line = /^transports: (.*)$/m.exec(r.stdout)?.[1] ?? '';
  for (const t of ['udp', 'icmp', 'esp']) assert.match(line, new RegExp(`\\b${t} [1-9]\\d*\\b`), `${t} probed: ${line}`);
  assert.match(r.stdout, /\n(\d+) passed, 0 failed\n$/);
});

test.run();
