// firewalld and every IR transport (fixtures/catalogs/transports.yaml with
// fixtures/profiles/transports.yaml): the renderer refuses what firewalld
// cannot express, the reader turns the golden tree back into the IR's
// flows, and a real firewalld daemon in a network namespace (the product's
// apply: our files, reload, set-default-zone) lets real packets through from
// the peers the policy names and drops them from the others: UDP, ICMP by
// type, ESP and GRE (raw IP packets from python3). Arrival is observed on
// the node side by a receiver on the protocol (a raw socket sees a packet
// only once the input hook accepted it). Then `portcullis apply` and
// `portcullis audit`: in sync, and drift for a rule added by hand.
// Needs root, `ip netns`, firewalld, dbus-daemon, nsenter, python3; fails (never skips) without them.
import type { ChildProcess } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { FAMILIES } from '../src/analysis/flows';
import { compile, load } from '../src/compile';
import type { Direction, IR } from '../src/ir/types';
import { firewalldLive as live } from '../src/targets/firewalld/live';
import { localShell } from '../src/targets/live';
import { carries, TRANSPORTS, transportKind } from '../src/transports';
import { EtcDaemon, startEtcFirewalld, tmpDir } from './helpers/apply-firewalld';
import { liveFlows, modelFlows } from './helpers/apply-nftables';
import { fixture } from './helpers/cli';
import { sendUdp, startUdpReceiver } from './helpers/firewalld-host';
import { NODE4, NODE6 } from './helpers/kernel-suite';
import { waitFor } from './helpers/nftables-host';
import { requireNetns, Topology } from './helpers/netns';

const PROFILE = fixture('profiles', 'transports.yaml');
const CATALOG = fixture('catalogs', 'transports.yaml');
const GOLDEN_TREE = fixture('golden', 'transports', 'firewalld');
const DIRECTIONS: Direction[] = ['ingress', 'egress'];

// Peers, by the profile's groups.
const MONITOR = '192.0.2.50';
const TIMESTAMP_POLLER = '192.0.2.60'; // extra_ingress: icmp timestamp-request
const VPN_PEER = '203.0.113.7';
const NODE2 = '10.20.0.12';
const ADMIN = '198.51.100.10'; // icmp of any type
const OUTSIDER = '203.0.113.99'; // in no group
const BACKUP_SITE = '192.0.2.70'; // extra_egress: gre

function loadTransports(profileText = fs.readFileSync(PROFILE, 'utf8')): ReturnType<typeof compile> {
  return compile({ profile: { path: PROFILE, text: profileText }, catalog: { path: CATALOG, text: fs.readFileSync(CATALOG, 'utf8') }, targets: ['firewalld'] });
}

// ------------------------------------------------------------ offline

test('an ICMP type firewalld has no icmptype for is refused, naming the rule; so is MLD in a catalog rule', () => {
  const base = fs.readFileSync(PROFILE, 'utf8');
  for (const [types, rule, what] of [
    ['[info-request]', 'in-extra_ingress_1-v4-icmp', /ICMP type 15 \(info-request\) has no firewalld icmptype/],
    ['[echo-request, address-mask-request]', 'in-extra_ingress_1-v4-icmp', /ICMP type 17 \(address-mask-request\) has no firewalld icmptype/],
  ] as const) {
    const r = loadTransports(base.replace('icmp_types: [timestamp-request]', `icmp_types: ${types}`));
    assert.not.ok(r.ok, `${types} compiles`);
    const message = r.diagnostics.map((d) => d.message).join('\n');
    assert.match(message, new RegExp(`rule '${rule}'`), message);
    assert.match(message, what, message);
  }
  const mld = loadTransports(base.replace(/extra_ingress:\n/, 'extra_ingress:\n  - from: ["2001:db8:4d::60"]\n    transport: icmpv6\n    icmp_types: [mld-listener-query]\n'));
  assert.not.ok(mld.ok, 'MLD in a catalog rule compiles');
  assert.match(mld.diagnostics.map((d) => d.message).join('\n'), /ICMPv6 type 130 \(mld-listener-query\) has no firewalld icmptype/);
});

/** The renderer matches a baseline rule's destination port, not its source port (its comment says so). */
const withBaselineSourcePortsUnmatched = (ir: IR): IR => ({ ...ir, hostPolicy: { ...ir.hostPolicy, baseline: ir.hostPolicy.baseline.map((b) => ({ ...b, sourcePorts: undefined })) } });

test('readExpected of the golden tree: every non-ICMP transport lets through exactly the IR flow model; ICMP rules by type; nothing unmapped', () => {
  const { ir } = load({ profile: { path: PROFILE, text: fs.readFileSync(PROFILE, 'utf8') }, catalog: { path: CATALOG, text: fs.readFileSync(CATALOG, 'utf8') } });
  const read = live.readExpected(localShell, GOLDEN_TREE);
  assert.ok(read.present);
  assert.equal(read.unmapped, []);
  const model = withBaselineSourcePortsUnmatched(ir);
  for (const direction of DIRECTIONS)
    for (const transport of TRANSPORTS)
      for (const family of FAMILIES) {
        // ICMP also has the host's ICMP baseline (ir.icmp), which the flow model leaves out.
        if (!carries(transport, family) || transportKind(transport) === 'icmp') continue;
        assert.equal(liveFlows(read.flowRules, direction, transport, family), modelFlows(model, direction, transport, family), `${direction} ${transport} ${family}`);
      }
  const byId = (id: string) => read.flowRules.filter((f) => f.ruleId === id).map((f) => `${f.transport} ${f.ports.map((p) => `${p.lo}-${p.hi}`).join(',')} ${f.verdict}`);
  assert.equal(byId('in-monitor-v4-icmp').sort(), ['icmp 0-0 accept', 'icmp 8-8 accept']);
  assert.equal(byId('in-monitor-v6-icmpv6').sort(), ['icmpv6 128-128 accept', 'icmpv6 129-129 accept']);
  assert.equal(byId('in-admins-v4-icmp'), ['icmp 0-255 accept']);
  assert.equal(byId('in-extra_ingress_1-v4-icmp'), ['icmp 13-13 accept']);
  assert.equal(byId('in-vpn_peers-v4-esp'), ['esp 0-0 accept']);
  assert.equal(byId('in-nodes-v4-ipip'), ['ipip 0-0 accept'], 'protocol 4 is IP-in-IP (not /etc/protocols "ipip", 94)');
  for (const r of ir.rules.filter((x) => x.scope === 'host')) assert.ok(read.flowRules.some((f) => f.ruleId === r.id), `no flow carries rule id ${r.id}`);
});

// ------------------------------------------------------------ raw IP packets

/** python3: `recv PROTO` prints "ready", then one JSON line {from, text} per
 * IPv4 packet of IP protocol PROTO that reaches the local stack; `send SRC
 * DST PROTO TEXT [ICMPTYPE]` sends one (ICMP with the given type and a
 * checksum; any other protocol: TEXT as the payload). */
const RAW = String.raw`
import json, socket, struct, sys
def csum(b):
    if len(b) % 2: b += b'\0'
    s = sum(struct.unpack('!%dH' % (len(b) // 2), b))
    while s >> 16: s = (s & 0xffff) + (s >> 16)
    return ~s & 0xffff
role = sys.argv[1]
if role == 'recv':
    s = socket.socket(socket.AF_INET, socket.SOCK_RAW, int(sys.argv[2]))
    print('ready', flush=True)
    while True:
        data, addr = s.recvfrom(65535)
        ihl = (data[0] & 15) * 4
        print(json.dumps({'from': addr[0], 'text': data[ihl:].decode('latin-1')}), flush=True)
else:
    src, dst, proto, text = sys.argv[2], sys.argv[3], int(sys.argv[4]), sys.argv[5].encode()
    s = socket.socket(socket.AF_INET, socket.SOCK_RAW, proto)
    s.bind((src, 0))
    if proto == 1:
        body = struct.pack('!BBHHH', int(sys.argv[6]), 0, 0, 0x7063, 1) + text
        text = body[:2] + struct.pack('!H', csum(body)) + body[4:]
    try:
        s.sendto(text, (dst, 0))
    except PermissionError:
        print('EPERM')  # the sender's own output hook dropped it
`;

interface RawReceiver {
  has(text: string): boolean;
  waitFor(text: string): Promise<void>;
  stop(): void;
}

/** A receiver for IP protocol `proto` in ns (the node unless told). */
function startRawReceiver(t: Topology, proto: number, ns = t.node): Promise<RawReceiver> {
  const c: ChildProcess = t.spawn(ns, ['python3', '-c', RAW, 'recv', String(proto)]);
  let out = '';
  let err = '';
  const has = (text: string) => out.split('\n').some((l) => l.startsWith('{') && (JSON.parse(l) as { text: string }).text.includes(text));
  const receiver: RawReceiver = {
    has,
    waitFor: (text) => waitFor(`protocol ${proto} packet '${text}' on the node (got: ${out.trim() || 'nothing'}${err ? `; ${err.trim()}` : ''})`, () => has(text), 20000),
    stop: () => t.kill(c),
  };
  return new Promise((resolve, reject) => {
    c.stderr!.setEncoding('utf8').on('data', (d: string) => (err += d));
    c.on('exit', (code) => reject(new Error(`raw receiver for protocol ${proto} exited (${code}): ${err.trim()}`)));
    c.stdout!.setEncoding('utf8').on('data', (d: string) => {
      out += d;
      if (/^ready$/m.test(out)) resolve(receiver);
    });
  });
}

/** One raw packet from src (an address in ns) to dst. */
const sendRawIn = (t: Topology, ns: string, src: string, dst: string, proto: number, text: string, icmpType?: number) =>
  t.execOk(ns, ['python3', '-c', RAW, 'send', src, dst, String(proto), text, ...(icmpType === undefined ? [] : [String(icmpType)])]);
/** One raw packet from a world peer to the node. */
const sendRaw = (t: Topology, src: string, proto: number, text: string, icmpType?: number) => sendRawIn(t, t.world, src, NODE4, proto, text, icmpType);

let seq = 0;
/** A token no other packet of this run carries. */
const token = (what: string) => `pct-${process.pid}-${++seq}-${what}`;

/**
 * Sends the packets to (or from) the `denied` peers, then the `allowed`
 * ones, over the veth between node and world, and waits until every
 * allowed one arrived. The denied ones went
 * first over the same veth, so by then they would have arrived too had the
 * firewall let them through: their absence is the verdict, without a sleep.
 */
async function expectPackets(rx: RawReceiver, send: (peer: string, text: string) => void, allowed: string[], denied: string[], what: string): Promise<void> {
  const d = denied.map((src) => ({ src, text: token(`${what}-from-${src}`) }));
  const a = allowed.map((src) => ({ src, text: token(`${what}-from-${src}`) }));
  for (const p of [...d, ...a]) send(p.src, p.text);
  for (const p of a) await rx.waitFor(p.text);
  assert.equal(
    d.filter((p) => rx.has(p.text)).map((p) => p.src),
    [],
    `${what}: these peers' packets reached the node`,
  );
}

// ------------------------------------------------------------ one daemon for the rest

let t: Topology;
let fwd: EtcDaemon;
let dir: string;
const audit = ['audit', '--profile', PROFILE, '--catalog', CATALOG, '--target', 'firewalld'];

test.before(async () => {
  requireNetns();
  dir = tmpDir('transports');
  t = new Topology({ node: [NODE4, NODE6], world: [MONITOR, TIMESTAMP_POLLER, VPN_PEER, NODE2, ADMIN, OUTSIDER, BACKUP_SITE], prefix: 'pcfwt' });
  fwd = await startEtcFirewalld(t);
});

test.after(() => {
  fwd?.stop();
  t?.destroy();
  if (dir) fs.rmSync(dir, { recursive: true, force: true });
});

test('portcullis apply of the transports profile: the daemon loads the tree without a complaint, and audit is in sync', () => {
  const r = fwd.cli(['apply', '--profile', PROFILE, '--catalog', CATALOG, '--target', 'firewalld', '--no-confirm']);
  assert.is(r.code, 0, `apply:\n${r.stdout}${r.stderr}`);
  assert.is(fwd.fw('--get-default-zone').trim(), 'portcullis');
  const complaints = fwd.daemon
    .log()
    .split('\n')
    .filter((l) => /\b(ERROR|WARNING)\b/.test(l));
  assert.equal(complaints, [], 'firewalld complained about the tree');
  // What was applied is the golden tree.
  for (const rel of ['zones/portcullis.xml', 'policies/portcullis-out.xml'])
    assert.is(fs.readFileSync(path.join(fwd.etc, rel), 'utf8'), fs.readFileSync(path.join(GOLDEN_TREE, rel), 'utf8'), rel);
  const a = fwd.cli(audit);
  assert.is(a.code, 0, `audit right after apply:\n${a.stdout}${a.stderr}`);
  assert.match(a.stdout, /in sync/);
});

test('UDP: 161 from monitor arrives; 161 from an outsider and 9999 from monitor do not', async () => {
  const rx = await startUdpReceiver(t, t.node, 161);
  const rx9999 = await startUdpReceiver(t, t.node, 9999);
  try {
    const outsider = token('udp161-outsider');
    const closed = token('udp9999-monitor');
    const open = token('udp161-monitor');
    sendUdp(t, t.world, OUTSIDER, 40001, NODE4, 161, outsider);
    sendUdp(t, t.world, MONITOR, 40002, NODE4, 9999, closed);
    sendUdp(t, t.world, MONITOR, 40003, NODE4, 161, open);
    await rx.waitFor(open);
    assert.equal(rx.received().filter((d) => d.text === outsider), [], 'udp 161 from the outsider reached the node');
    assert.equal(rx9999.received(), [], 'udp 9999 reached the node');
  } finally {
    rx.stop();
    rx9999.stop();
  }
});

test('ICMP: echo-request from monitor (and, by the host ICMP baseline, from anyone) arrives; timestamp-request only from its poller and the admins (any type)', async () => {
  const rx = await startRawReceiver(t, 1);
  try {
    await expectPackets(rx, (src, text) => sendRaw(t, src, 1, text, 8), [MONITOR, OUTSIDER], [], 'echo-request');
    await expectPackets(rx, (src, text) => sendRaw(t, src, 1, text, 13), [TIMESTAMP_POLLER, ADMIN], [MONITOR, OUTSIDER, VPN_PEER], 'timestamp-request');
  } finally {
    rx.stop();
  }
});

test('ESP from the IPsec peer arrives, from a node or an outsider it does not; GRE from a node arrives, from the IPsec peer or an outsider it does not', async () => {
  const esp = await startRawReceiver(t, 50);
  const gre = await startRawReceiver(t, 47);
  try {
    await expectPackets(esp, (src, text) => sendRaw(t, src, 50, text), [VPN_PEER], [NODE2, OUTSIDER], 'esp');
    await expectPackets(gre, (src, text) => sendRaw(t, src, 47, text), [NODE2], [VPN_PEER, OUTSIDER], 'gre');
  } finally {
    esp.stop();
    gre.stop();
  }
});

test('egress (restrict, policy portcullis-out): GRE from the node to the backup site and the other node leaves; to an outsider it is dropped', async () => {
  const rx = await startRawReceiver(t, 47, t.world);
  try {
    // Same argument as expectPackets, the other way round: the denied one first.
    await expectPackets(rx, (dst, text) => sendRawIn(t, t.node, NODE4, dst, 47, text), [BACKUP_SITE, NODE2], [OUTSIDER, VPN_PEER], 'gre-out');
  } finally {
    rx.stop();
  }
});

test('audit: a rule added by hand (ESP from an outsider, ICMP timestamp-request from anyone, UDP 9999, each also permanent) is drift, named; re-applied it is in sync again', () => {
  const reapply = () => assert.is(fwd.cli(['apply', '--profile', PROFILE, '--catalog', CATALOG, '--target', 'firewalld', '--no-confirm']).code, 0);
  for (const [rule, shown] of [
    [`rule family="ipv4" source address="${OUTSIDER}" protocol value="esp" accept`, /esp/],
    ['rule family="ipv4" icmp-type name="timestamp-request" accept', /timestamp-request|icmp 13/],
    ['rule family="ipv4" port port="9999" protocol="udp" accept', /host allows, policy does not: ingress udp 9999\b/],
  ] as const) {
    // Runtime and permanent alike: no "runtime differs from permanent" to give it away.
    fwd.fw('--zone=portcullis', `--add-rich-rule=${rule}`);
    fwd.fw('--permanent', '--zone=portcullis', `--add-rich-rule=${rule}`);
    const r = fwd.cli([...audit, '--format', 'json']);
    assert.is(r.code, 1, `audit with ${rule}:\n${r.stdout}${r.stderr}`);
    const report = JSON.parse(r.stdout) as { host_allows: { origins: string[] }[]; rules_added: string[]; drift: string[] };
    assert.not.ok(report.drift.some((d) => /runtime differs from permanent/.test(d)), report.drift.join('\n'));
    // The rule itself is named: as a flow the host allows, or (while audit
    // does not compare that transport as flows yet) as a rule on the host.
    const named = [...report.host_allows.flatMap((f) => f.origins), ...report.rules_added].filter((x) => x.includes('zone portcullis: rule family="ipv4"') && !x.includes('ipset='));
    assert.ok(named.length > 0, `audit does not name ${rule}:\n${r.stdout}`);
    assert.match(fwd.cli(audit).stdout, shown);
    reapply();
    const again = fwd.cli(audit);
    assert.is(again.code, 0, `re-applied:\n${again.stdout}${again.stderr}`);
  }
});

test('read: a hand-added protocol "ipip" is /etc/protocols\' 94, not IP-in-IP: a line, no flow; "ipencap" and 4 are IP-in-IP flows', () => {
  const reapply = () => live.apply(fwd.sh, GOLDEN_TREE);
  try {
    fwd.fw('--zone=portcullis', `--add-rich-rule=rule family="ipv4" source address="${OUTSIDER}" protocol value="ipip" accept`);
    fwd.fw('--zone=portcullis', `--add-rich-rule=rule family="ipv4" source address="${OUTSIDER}" protocol value="ipencap" accept`);
    const read = live.read(fwd.sh);
    const mine = (value: string) => read.flowRules.filter((f) => f.origin.includes(`protocol value="${value}"`)).map((f) => `${f.transport} ${f.verdict}`);
    assert.equal(mine('ipip'), []);
    assert.ok(read.other.includes(`zone portcullis: rule family="ipv4" source address="${OUTSIDER}" protocol value="ipip" accept`), read.other.join('\n'));
    assert.equal(mine('ipencap'), ['ipip accept']);
    assert.equal(read.unmapped, []);
  } finally {
    reapply();
  }
  assert.is(fwd.cli(audit).code, 0, 'in sync again');
});

test.run();
