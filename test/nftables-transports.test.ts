// nftables and every transport of the IR (src/transports.ts), against the
// real nft and kernel: each ICMP type and IP protocol the renderer writes
// reads back as the same type and transport; the transports profile's
// listing is the IR's flow model; real UDP, SCTP, ICMP, ESP, AH, GRE,
// IP-in-IP and VRRP packets sent from the peer namespace get in or not as
// fixtures/catalogs/transports.yaml and fixtures/profiles/transports.yaml
// say; apply + audit is in sync, and a rule added by hand is drift.
//
// Needs root, `ip netns`, nft and python3 (raw sockets in the peer
// namespace); fails, never skips, without them.
import { spawnSync } from 'child_process';
import { randomBytes } from 'crypto';
import * as fs from 'fs';
import * as path from 'path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { load } from '../src/compile';
import type { Direction, Family, Transport } from '../src/ir/types';
import { localShell } from '../src/targets/live';
import { parseRead, nftablesLive as live } from '../src/targets/nftables/live';
import { transportMatch } from '../src/targets/nftables/render';
import { RAW_PY } from '../src/verify/raw';
import { carries, ICMP_TYPE_NAMES, parseIcmpType, TRANSPORT_FACTS, TRANSPORTS, transportKind } from '../src/transports';
import { cli } from './helpers/apply-cli';
import { liveFlows, modelFlows } from './helpers/apply-nftables';
import { fixture, runCli } from './helpers/cli';
import { tmpDir, waitFor } from './helpers/nftables-host';
import { requireNetns, Topology, withTopology } from './helpers/netns';

const PROFILE = fixture('profiles', 'transports.yaml');
const CATALOG = fixture('catalogs', 'transports.yaml');
const GOLDEN_DIR = fixture('golden', 'transports', 'nftables');
const DIRECTIONS: Direction[] = ['ingress', 'egress'];
const FAMILIES: Family[] = ['ipv4', 'ipv6'];

/** Loads `text` in a throwaway network namespace and returns `nft -j list table inet portcullis`. */
function loadAndList(text: string): string {
  const dir = tmpDir('tr-load');
  try {
    const file = path.join(dir, 'portcullis.nft');
    fs.writeFileSync(file, text);
    const r = spawnSync('unshare', ['--net', 'sh', '-c', 'nft -f "$1" && nft -j list table inet portcullis', 'sh', file], { encoding: 'utf8' });
    assert.is(r.status, 0, `nft rejected:\n${r.stderr}\n${text}`);
    return r.stdout;
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

const table = (rules: string[]) => `table inet portcullis {\n\tchain input {\n\t\ttype filter hook input priority filter; policy drop;\n${rules.map((r) => `\t\t${r}\n`).join('')}\t}\n}\n`;

test('every ICMP/ICMPv6 type and every IP protocol the renderer writes is read back as the same transport and type', () => {
  requireNetns();
  const rules: string[] = [];
  const want: string[] = [];
  let n = 0;
  for (const t of ['icmp', 'icmpv6'] as const)
    for (let type = 0; type < 256; type++) {
      const fam = t === 'icmp' ? 'ip' : 'ip6';
      rules.push(`${fam} saddr ${t === 'icmp' ? '192.0.2.1' : '2001:db8::1'} ${transportMatch(t, [{ lo: type, hi: type }])} accept comment "r${n}"`);
      want.push(`r${n++} ${t === 'icmp' ? 'ipv4' : 'ipv6'} ${t} ${type}-${type}`);
    }
  // A set of types with ranges, and any type (the whole protocol).
  rules.push(`ip saddr 192.0.2.1 ${transportMatch('icmp', [{ lo: 0, hi: 0 }, { lo: 3, hi: 5 }, { lo: 13, hi: 14 }, { lo: 20, hi: 30 }, { lo: 42, hi: 42 }])} accept comment "r${n}"`);
  want.push(`r${n++} ipv4 icmp 0-0,3-5,13-14,20-30,42-42`);
  for (const t of ['icmp', 'icmpv6'] as const) {
    rules.push(`${t === 'icmp' ? 'ip' : 'ip6'} saddr ${t === 'icmp' ? '192.0.2.1' : '2001:db8::1'} ${transportMatch(t, [{ lo: 0, hi: 255 }])} accept comment "r${n}"`);
    want.push(`r${n++} ${t === 'icmp' ? 'ipv4' : 'ipv6'} ${t} 0-255`);
  }
  for (const t of TRANSPORTS) {
    if (transportKind(t) !== 'portless' && t !== 'udp' && t !== 'sctp') continue;
    const ports = transportKind(t) === 'portless' ? [{ lo: 0, hi: 0 }] : [{ lo: 53, hi: 53 }, { lo: 9000, hi: 9100 }];
    for (const fam of FAMILIES) {
      rules.push(`${fam === 'ipv4' ? 'ip saddr 192.0.2.1' : 'ip6 saddr 2001:db8::1'} ${transportMatch(t, ports)} accept comment "r${n}"`);
      want.push(`r${n++} ${fam} ${t} ${ports.map((p) => `${p.lo}-${p.hi}`).join(',')}`);
    }
  }
  // Protocol 94, named "ipip" in Debian's /etc/protocols, is not IP-in-IP (4).
  rules.push('ip saddr 192.0.2.1 meta l4proto 94 accept comment "not-ipip"');
  const text = table(rules);
  const listing = loadAndList(text);
  assert.match(listing, /"right": "ipencap"|"right": 4\b/, 'nft lists protocol 4 by its /etc/protocols name (or its number)');
  const read = parseRead(listing, 'test');
  assert.equal(read.unmapped, []);
  assert.equal(
    read.flowRules.map((f) => `${f.ruleId} ${f.family} ${f.transport} ${f.ports.map((p) => `${p.lo}-${p.hi}`).join(',')}`),
    want,
  );
  assert.ok(
    read.other.some((l) => l.includes('"comment":"not-ipip"')),
    'meta l4proto 94 is no flow of the model: compared as a line',
  );
  // The names nft prints are the names src/transports.ts has.
  for (const t of ['icmp', 'icmpv6'] as const) for (const [num, name] of Object.entries(ICMP_TYPE_NAMES[t])) assert.is(parseIcmpType(t, name), Number(num));
});

test('the hand-written drift of an audit reads as flows: meta l4proto esp, icmp type timestamp-request, udp dport 9999, ip protocol gre', () => {
  requireNetns();
  const read = parseRead(
    loadAndList(table(['meta l4proto esp accept', 'icmp type timestamp-request accept', 'udp dport 9999 accept', 'ip protocol gre accept', 'ip6 nexthdr 4 drop', 'meta l4proto { tcp, vrrp } accept'])),
    'test',
  );
  assert.equal(read.unmapped, []);
  assert.equal(
    read.flowRules.map((f) => `${f.family} ${f.transport} ${f.ports.map((p) => `${p.lo}-${p.hi}`).join(',')} ${f.verdict} ${f.peers.length === 1 && f.peers[0].lo === 0n ? 'any' : 'some'}`),
    [
      'ipv4 esp 0-0 accept any',
      'ipv6 esp 0-0 accept any',
      'ipv4 icmp 13-13 accept any',
      'ipv4 udp 9999-9999 accept any',
      'ipv6 udp 9999-9999 accept any',
      'ipv4 gre 0-0 accept any',
      'ipv6 ipip 0-0 drop any',
      'ipv4 tcp 1-65535 accept any',
      'ipv4 vrrp 0-0 accept any',
      'ipv6 tcp 1-65535 accept any',
      'ipv6 vrrp 0-0 accept any',
    ],
  );
  assert.equal(
    read.flowRules.filter((f) => f.transport === 'esp').map((f) => f.origin),
    ['chain input: meta l4proto esp accept', 'chain input: meta l4proto esp accept'],
  );
});

test('readExpected of the transports golden: the catalog rules are the IR flow model for every transport; the ICMP policy lines are ir.icmp from anywhere; nothing unmapped', () => {
  requireNetns();
  const { ir } = load({ profile: { path: PROFILE, text: fs.readFileSync(PROFILE, 'utf8') }, catalog: { path: CATALOG, text: fs.readFileSync(CATALOG, 'utf8') } });
  const read = live.readExpected(localShell, GOLDEN_DIR);
  assert.ok(read.present);
  assert.equal(read.unmapped, []);
  const ours = read.flowRules.filter((f) => f.ruleId);
  const policy = read.flowRules.filter((f) => !f.ruleId);
  let compared = 0;
  for (const direction of DIRECTIONS)
    for (const transport of TRANSPORTS)
      for (const family of FAMILIES) {
        if (!carries(transport, family)) {
          assert.equal(read.flowRules.filter((f) => f.transport === transport && f.family === family), [], `${transport} ${family}: not carried`);
          continue;
        }
        const model = modelFlows(ir, direction, transport, family);
        if (model.length) compared++;
        // The model holds the ICMP every host needs (IR.icmp) too, so all
        // flow rules together are compared: catalog rules and the policy lines.
        assert.equal(liveFlows(read.flowRules, direction, transport, family), model, `${direction} ${transport} ${family}`);
      }
  assert.ok(compared >= 20, `the model has flows for most transports (${compared})`);
  const types = (t: 'icmp' | 'icmpv6', names: string[]) => names.map((x) => parseIcmpType(t, x)!).sort((a, b) => a - b);
  const got = (direction: Direction, t: Transport) =>
    policy
      .filter((f) => f.direction === direction && f.transport === t)
      .flatMap((f) => f.ports.flatMap((p) => Array.from({ length: p.hi - p.lo + 1 }, (_, i) => p.lo + i)))
      .sort((a, b) => a - b);
  assert.equal(got('ingress', 'icmp'), types('icmp', ir.icmp.ingress.ipv4));
  assert.equal(got('ingress', 'icmpv6'), types('icmpv6', ir.icmp.ingress.ipv6));
  assert.equal(got('egress', 'icmpv6'), types('icmpv6', ir.icmp.egress.ipv6));
  assert.ok(policy.every((f) => f.peers.length === 1 && f.peers[0].lo === 0n), 'the ICMP policy is from/to anywhere');
  // The audit compares every transport as flows: no rule is kept as a line besides.
  assert.not.ok(read.other.some((l) => l.includes('"comment":"in-vpn_peers-v4-esp T1.5"')));
});

// ------------------------------------------------------------ real packets

const NODE4 = '10.20.0.11';
const NODE6 = '2001:db8:20::11';
const PEER = {
  monitor4: '192.0.2.50',
  poller4: '192.0.2.60', // extra_ingress: icmp timestamp-request
  outsider4: '192.0.2.99',
  admin4: '198.51.100.10',
  vpn4: '203.0.113.7',
  node2: '10.20.0.12',
  monitor6: '2001:db8:4d::50',
  outsider6: '2001:db8:99::1',
} as const;

/** One packet kind from a peer to the node. `value`: the destination port
 * (udp, sctp), the ICMP type, unused for a portless protocol. */
interface PacketCase {
  src: string;
  dst: string;
  proto: 'udp' | 'sctp' | 'icmp' | 'icmpv6' | 'esp' | 'ah' | 'gre' | 'ipip' | 'vrrp';
  value: number;
  allow: boolean;
  why: string;
}

// Written by hand from the catalog and the profile, not from the compiler.
const CASES: PacketCase[] = [
  { src: PEER.monitor4, dst: NODE4, proto: 'udp', value: 161, allow: true, why: 'T1.4 SNMP from monitor' },
  { src: PEER.outsider4, dst: NODE4, proto: 'udp', value: 161, allow: false, why: 'SNMP is monitor only' },
  { src: PEER.monitor4, dst: NODE4, proto: 'udp', value: 9999, allow: false, why: 'no rule for udp 9999' },
  { src: PEER.node2, dst: NODE4, proto: 'udp', value: 8472, allow: true, why: 'T2.1 VXLAN between nodes' },
  { src: PEER.vpn4, dst: NODE4, proto: 'udp', value: 4500, allow: true, why: 'T1.5 NAT-T from the IPsec peer' },
  { src: PEER.node2, dst: NODE4, proto: 'sctp', value: 9899, allow: true, why: 'T2.3 SCTP between nodes' },
  { src: PEER.outsider4, dst: NODE4, proto: 'sctp', value: 9899, allow: false, why: 'SCTP is nodes only' },
  { src: PEER.node2, dst: NODE4, proto: 'sctp', value: 9898, allow: false, why: 'SCTP 9899 only' },
  { src: PEER.node2, dst: NODE4, proto: 'udp', value: 9899, allow: false, why: '9899 is SCTP, not UDP' },
  { src: PEER.monitor4, dst: NODE4, proto: 'icmp', value: 8, allow: true, why: 'T1.2 echo-request from monitor' },
  { src: PEER.poller4, dst: NODE4, proto: 'icmp', value: 13, allow: true, why: 'extra_ingress: timestamp-request from the poller' },
  { src: PEER.monitor4, dst: NODE4, proto: 'icmp', value: 13, allow: false, why: 'monitor has echo types only' },
  { src: PEER.outsider4, dst: NODE4, proto: 'icmp', value: 13, allow: false, why: 'timestamp-request only from the poller and admins' },
  { src: PEER.admin4, dst: NODE4, proto: 'icmp', value: 13, allow: true, why: 'T1.3 all ICMP from admins' },
  { src: PEER.vpn4, dst: NODE4, proto: 'esp', value: 0, allow: true, why: 'T1.5 ESP from the IPsec peer' },
  { src: PEER.outsider4, dst: NODE4, proto: 'esp', value: 0, allow: false, why: 'ESP is vpn_peers only' },
  { src: PEER.vpn4, dst: NODE4, proto: 'ah', value: 0, allow: true, why: 'T1.6 AH from the IPsec peer' },
  { src: PEER.node2, dst: NODE4, proto: 'ah', value: 0, allow: false, why: 'AH is vpn_peers only' },
  { src: PEER.node2, dst: NODE4, proto: 'gre', value: 0, allow: true, why: 'T2.4 GRE between nodes' },
  { src: PEER.vpn4, dst: NODE4, proto: 'gre', value: 0, allow: false, why: 'GRE is nodes only' },
  { src: PEER.node2, dst: NODE4, proto: 'ipip', value: 0, allow: true, why: 'T2.5 IP-in-IP between nodes' },
  { src: PEER.outsider4, dst: NODE4, proto: 'ipip', value: 0, allow: false, why: 'IP-in-IP is nodes only' },
  { src: PEER.node2, dst: NODE4, proto: 'vrrp', value: 0, allow: true, why: 'T2.6 VRRP between nodes (feature vrrp on)' },
  { src: PEER.monitor4, dst: NODE4, proto: 'vrrp', value: 0, allow: false, why: 'VRRP is nodes only' },
  { src: PEER.monitor6, dst: NODE6, proto: 'udp', value: 161, allow: true, why: 'T1.4 SNMP from monitor (v6)' },
  { src: PEER.outsider6, dst: NODE6, proto: 'udp', value: 161, allow: false, why: 'SNMP is monitor only (v6)' },
  { src: PEER.monitor6, dst: NODE6, proto: 'icmpv6', value: 128, allow: true, why: 'T1.2 echo-request from monitor (v6)' },
  { src: PEER.outsider6, dst: NODE6, proto: 'esp', value: 0, allow: false, why: 'vpn_peers has no IPv6 address' },
  { src: PEER.outsider6, dst: NODE6, proto: 'gre', value: 0, allow: false, why: 'GRE is nodes only (v6)' },
];

const PROTO_NUMBER = { udp: 17, sctp: 132, icmp: 1, icmpv6: 58, esp: 50, ah: 51, gre: 47, ipip: 4, vrrp: 112 } as const;

/** Packets sent per case. */
const ROUNDS = 3;

/** The UDP sender of test/helpers/nftables-host.ts (run as a program). */
const UDP_SENDER = require.resolve('./helpers/nftables-host');

/**
 * Sends every case ROUNDS times from the peer namespace: UDP with the
 * nftables host tests' sender, everything else with verify's raw prober
 * (src/verify/raw.ts, `python3 -c RAW_PY send`), whose packets connection
 * tracking takes as NEW (an SCTP INIT with its CRC32c, checksummed echo and
 * timestamp requests, AH in tunnel mode, ...).
 */
function send(t: Topology, cases: readonly PacketCase[]): void {
  const udp = cases.filter((c) => c.proto === 'udp').map((c) => ({ src: c.src, sport: 0, dst: c.dst, dport: c.value, id: `u${cases.indexOf(c)}` }));
  const r = t.exec(t.world, [process.execPath, UDP_SENDER, 'send', String(ROUNDS), '0'], JSON.stringify(udp));
  assert.is(r.code, 0, `UDP sender: ${r.stderr}`);
  assert.match(r.stdout, /^done\n$/, `UDP sender: ${r.stdout}`);
  const raw = cases.filter((c) => c.proto !== 'udp').map((c) => ({ src: c.src, dst: c.dst, transport: c.proto, port: c.value, nonce: randomBytes(16).toString('hex') }));
  for (let round = 0; round < ROUNDS; round++) {
    const out = t.exec(t.world, ['python3', '-c', RAW_PY, 'send'], JSON.stringify(raw));
    assert.is(out.code, 0, `raw sender: ${out.stderr}`);
    assert.equal(JSON.parse(out.stdout), raw.map(() => 'sent'), 'every raw packet was sent');
  }
}

/** The observer's match for a case, written independently of the renderer. */
function observeMatch(c: PacketCase): string {
  const fam = c.dst.includes(':') ? 'ip6' : 'ip';
  const addrs = `${fam} saddr ${c.src} ${fam} daddr ${c.dst}`;
  if (c.proto === 'udp' || c.proto === 'sctp') return `${addrs} meta l4proto ${PROTO_NUMBER[c.proto]} th dport ${c.value}`;
  if (c.proto === 'icmp') return `${addrs} meta l4proto 1 icmp type ${c.value}`;
  if (c.proto === 'icmpv6') return `${addrs} meta l4proto 58 icmpv6 type ${c.value}`;
  return `${addrs} meta l4proto ${PROTO_NUMBER[c.proto]}`;
}

/**
 * A table of ours beside portcullis's: chain `before` (priority filter - 10)
 * counts every case's packets as they reach the node, chain `after`
 * (filter + 10) those that portcullis's input chain let on. A drop in our
 * chain is final, so only accepted packets reach `after`.
 */
function observerTable(cases: readonly PacketCase[]): string {
  const chain = (name: string, prio: string) =>
    `\tchain ${name} {\n\t\ttype filter hook input priority ${prio}; policy accept;\n${cases.map((c, i) => `\t\t${observeMatch(c)} counter comment "c${i}"\n`).join('')}\t}\n`;
  return `table inet observe {\n${chain('before', 'filter - 10')}\n${chain('after', 'filter + 10')}}\n`;
}

function counters(t: Topology): Record<'before' | 'after', number[]> {
  const doc = JSON.parse(t.execOk(t.node, ['nft', '-j', 'list', 'table', 'inet', 'observe'])) as { nftables: Array<{ rule?: { chain: string; comment: string; expr: Array<{ counter?: { packets: number } }> } }> };
  const out = { before: CASES.map(() => 0), after: CASES.map(() => 0) };
  for (const o of doc.nftables) {
    if (!o.rule || (o.rule.chain !== 'before' && o.rule.chain !== 'after')) continue;
    const i = Number(o.rule.comment.slice(1));
    out[o.rule.chain][i] = o.rule.expr.find((e) => e.counter)!.counter!.packets;
  }
  return out;
}

function compileTransports(dir: string): string {
  const out = path.join(dir, 'out');
  const r = runCli(['compile', '--profile', PROFILE, '--catalog', CATALOG, '--target', 'nftables', '--out-dir', out]);
  assert.is(r.code, 0, `compile: ${r.stderr}`);
  const nftDir = path.join(out, 'transports', 'nftables');
  assert.fixture(fs.readFileSync(path.join(nftDir, 'portcullis.nft'), 'utf8'), fs.readFileSync(path.join(GOLDEN_DIR, 'portcullis.nft'), 'utf8'));
  return nftDir;
}

test('real packets: UDP, SCTP, ICMP, ESP, AH, GRE, IP-in-IP and VRRP from the peer namespace get in exactly as the catalog and profile say', async () => {
  requireNetns();
  const dir = tmpDir('tr-packets');
  try {
    const nftDir = compileTransports(dir);
    await withTopology({ node: [NODE4, NODE6], world: Object.values(PEER), prefix: 'pcnfttr' }, async (t) => {
      t.execOk(t.node, ['nft', '-f', '-'], observerTable(CASES));
      t.execOk(t.node, ['nft', '-f', path.join(nftDir, 'portcullis.nft')]);
      send(t, CASES);
      const label = (c: PacketCase) => `${c.src} -> ${c.dst} ${c.proto}${c.value ? ` ${c.value}` : ''} (${c.why})`;
      // Readiness: every packet sent has reached the node's input hook
      // (the first of a peer may wait for ARP/ND, which the ruleset allows).
      let seen = counters(t);
      await waitFor('every packet at the node', () => (seen = counters(t)).before.every((n) => n >= ROUNDS), 20000).catch(() => undefined);
      assert.equal(
        CASES.flatMap((c, i) => (seen.before[i] >= ROUNDS ? [] : [`${label(c)}: ${seen.before[i]} of ${ROUNDS} arrived`])),
        [],
        'the topology lost packets before any verdict',
      );
      const wrong = CASES.flatMap((c, i) => {
        const got = seen.after[i] > 0;
        return got === c.allow ? [] : [`${label(c)}: expected ${c.allow ? 'accepted' : 'dropped'}, ${seen.after[i]} of ${seen.before[i]} got past portcullis`];
      });
      assert.equal(wrong, [], 'verdicts with the transports ruleset loaded');
      // An accepted case is accepted every time (no state of an earlier packet decides it).
      assert.equal(CASES.flatMap((c, i) => (c.allow && seen.after[i] !== seen.before[i] ? [label(c)] : [])), []);
    });
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('portcullis apply + audit of the transports profile: in sync (0); a hand-added meta l4proto esp, icmp type timestamp-request or udp dport 9999 accept is drift (1)', async () => {
  requireNetns();
  const dir = tmpDir('tr-audit');
  try {
    const args = ['--profile', PROFILE, '--catalog', CATALOG, '--target', 'nftables'];
    await withTopology({ node: [NODE4, NODE6], world: [PEER.admin4], prefix: 'pcnfttu' }, async (t) => {
      const apply = () => {
        const r = cli(t, ['apply', ...args, '--no-confirm']);
        assert.is(r.code, 0, `apply: ${r.stdout}${r.stderr}`);
      };
      apply();
      let r = cli(t, ['audit', ...args]);
      assert.is(r.code, 0, `audit right after apply:\n${r.stdout}${r.stderr}`);
      assert.match(r.stdout, /in sync/);
      const json = JSON.parse(cli(t, ['audit', ...args, '--format', 'json']).stdout);
      assert.is(json.in_sync, true);

      // Drift of a transport the audit compares as flows (udp) is a flow;
      // of one it does not compare yet (src/analysis/flows.ts TRANSPORTS),
      // the rule as a line: either form is accepted here.
      const drift = [
        { rule: ['meta', 'l4proto', 'esp', 'accept'], shows: /host allows, policy does not: ingress esp\b|rule on the host, not in the policy: rule input .*"right":"esp"/ },
        { rule: ['icmp', 'type', 'timestamp-request', 'accept'], shows: /host allows, policy does not: ingress icmp\b.* from 0\.0\.0\.0\/0|rule on the host, not in the policy: rule input .*"right":"timestamp-request"/ },
        { rule: ['udp', 'dport', '9999', 'accept'], shows: /host allows, policy does not: ingress udp 9999 from 0\.0\.0\.0\/0\n/ },
        { rule: ['ip', 'saddr', '192.0.2.99', 'meta', 'l4proto', '47', 'accept'], shows: /host allows, policy does not: ingress gre\b.* from 192\.0\.2\.99\/32|rule on the host, not in the policy: rule input .*"right":"192\.0\.2\.99".*"right":"gre"/ },
      ];
      for (const d of drift) {
        t.execOk(t.node, ['nft', 'add', 'rule', 'inet', 'portcullis', 'input', ...d.rule]);
        r = cli(t, ['audit', ...args]);
        assert.is(r.code, 1, `audit with \`${d.rule.join(' ')}\`: exit ${r.code}\n${r.stdout}${r.stderr}`);
        assert.match(r.stdout, d.shows, `audit with \`${d.rule.join(' ')}\`:\n${r.stdout}`);
        apply();
        assert.is(cli(t, ['audit', ...args]).code, 0, `re-applied after \`${d.rule.join(' ')}\`: in sync again`);
      }
      // A portless rule of ours removed by hand is drift too.
      const handle = JSON.parse(t.execOk(t.node, ['nft', '-j', '-a', 'list', 'chain', 'inet', 'portcullis', 'input'])).nftables.find(
        (o: { rule?: { comment?: string } }) => o.rule?.comment?.startsWith('in-vpn_peers-v4-esp '),
      ).rule.handle as number;
      t.execOk(t.node, ['nft', 'delete', 'rule', 'inet', 'portcullis', 'input', 'handle', String(handle)]);
      r = cli(t, ['audit', ...args]);
      assert.is(r.code, 1, `audit without the ESP rule:\n${r.stdout}${r.stderr}`);
      assert.match(r.stdout, /policy allows, host does not: ingress esp\b.* from 203\.0\.113\.7\/32|rule of the policy, missing on the host: rule input .*"comment":"in-vpn_peers-v4-esp T1\.5"/);
    });
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test.run();
