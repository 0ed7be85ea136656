// Every transport through the real iptables: the compiled transports
// profile (fixtures/profiles/transports.yaml + fixtures/catalogs/
// transports.yaml) passes `iptables-restore --test` / `ip6tables-restore
// --test` with its sets, loads by the live apply in a fresh namespace pair,
// and real packets from the peer namespace (raw IP packets built by
// python3: UDP, SCTP INIT with its CRC32c, ICMP echo and timestamp, ESP,
// AH, GRE, IP-in-IP, VRRP, ICMPv6 echo) are let in or dropped as the
// profile says. Arrival and verdict are both observed on the node: a
// counting rule in raw PREROUTING (the packet reached the node) and one in
// security INPUT (after the filter table: the filter let it in), so a
// packet that never left the peer cannot pass for a drop. Then the reader
// (parseRead) on the loaded listing, and `portcullis apply` + `audit`: in
// sync, and drift for hand-added rules (ESP, an ICMP type, a UDP port).
import * as fs from 'fs';
import * as path from 'path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { rangesToStrings } from '../src/addresses';
import { iptablesLoader } from '../src/targets/iptables/host';
import { protocolMatch } from '../src/targets/iptables/render';
import { parseRead } from '../src/targets/iptables/live';
import { TRANSPORTS } from '../src/transports';
import { cli } from './helpers/apply-cli';
import { fixture, runCli } from './helpers/cli';
import { tmpDir, waitFor } from './helpers/nftables-host';
import { requireNetns, run, Topology, withTopology } from './helpers/netns';

const PROFILE = fixture('profiles', 'transports.yaml');
const CATALOG = fixture('catalogs', 'transports.yaml');
const GOLDEN = fixture('golden', 'transports', 'iptables');

// Addresses of the transports profile.
const NODE4 = '10.20.0.11';
const NODE6 = '2001:db8:20::11';
const OTHER_NODE = '10.20.0.12';
const MONITOR4 = '192.0.2.50';
const MONITOR6 = '2001:db8:4d::50';
const POLLER = '192.0.2.60'; // extra_ingress: ICMP timestamp-request
const VPN_PEER = '203.0.113.7';
const OUTSIDER4 = '203.0.113.99';
const OUTSIDER6 = '2001:db8:99::99';

/** One packet from the peer namespace to the node: an IP protocol number
 * and what the payload needs (a destination port, an ICMP type). */
interface Case {
  name: string;
  src: string;
  dst: string;
  proto: number;
  /** UDP / SCTP destination port. */
  port?: number;
  /** ICMP / ICMPv6 type. */
  type?: number;
  allowed: boolean;
}

const CASES: Case[] = [
  { name: 'udp 161 from monitor', src: MONITOR4, dst: NODE4, proto: 17, port: 161, allowed: true },
  { name: 'udp 161 from an outsider', src: OUTSIDER4, dst: NODE4, proto: 17, port: 161, allowed: false },
  { name: 'udp 9999 from monitor', src: MONITOR4, dst: NODE4, proto: 17, port: 9999, allowed: false },
  { name: 'udp 8472 from another node', src: OTHER_NODE, dst: NODE4, proto: 17, port: 8472, allowed: true },
  { name: 'udp 51821 from another node', src: OTHER_NODE, dst: NODE4, proto: 17, port: 51821, allowed: true },
  { name: 'sctp 9899 from another node', src: OTHER_NODE, dst: NODE4, proto: 132, port: 9899, allowed: true },
  { name: 'sctp 9900 from another node', src: OTHER_NODE, dst: NODE4, proto: 132, port: 9900, allowed: false },
  { name: 'sctp 9899 from an outsider', src: OUTSIDER4, dst: NODE4, proto: 132, port: 9899, allowed: false },
  { name: 'icmp echo-request from monitor', src: MONITOR4, dst: NODE4, proto: 1, type: 8, allowed: true },
  { name: 'icmp timestamp-request from the poller', src: POLLER, dst: NODE4, proto: 1, type: 13, allowed: true },
  { name: 'icmp timestamp-request from monitor', src: MONITOR4, dst: NODE4, proto: 1, type: 13, allowed: false },
  { name: 'icmp timestamp-request from an outsider', src: OUTSIDER4, dst: NODE4, proto: 1, type: 13, allowed: false },
  { name: 'esp from the vpn peer', src: VPN_PEER, dst: NODE4, proto: 50, allowed: true },
  { name: 'esp from another node', src: OTHER_NODE, dst: NODE4, proto: 50, allowed: false },
  { name: 'ah from the vpn peer', src: VPN_PEER, dst: NODE4, proto: 51, allowed: true },
  { name: 'ah from an outsider', src: OUTSIDER4, dst: NODE4, proto: 51, allowed: false },
  { name: 'gre from another node', src: OTHER_NODE, dst: NODE4, proto: 47, allowed: true },
  { name: 'gre from the vpn peer', src: VPN_PEER, dst: NODE4, proto: 47, allowed: false },
  { name: 'ipip from another node', src: OTHER_NODE, dst: NODE4, proto: 4, allowed: true },
  { name: 'ipip from monitor', src: MONITOR4, dst: NODE4, proto: 4, allowed: false },
  { name: 'vrrp from another node', src: OTHER_NODE, dst: NODE4, proto: 112, allowed: true },
  { name: 'vrrp from an outsider', src: OUTSIDER4, dst: NODE4, proto: 112, allowed: false },
  { name: 'icmpv6 echo-request from monitor', src: MONITOR6, dst: NODE6, proto: 58, type: 128, allowed: true },
  { name: 'udp6 161 from monitor', src: MONITOR6, dst: NODE6, proto: 17, port: 161, allowed: true },
  { name: 'udp6 161 from an outsider', src: OUTSIDER6, dst: NODE6, proto: 17, port: 161, allowed: false },
  { name: 'gre6 from an outsider', src: OUTSIDER6, dst: NODE6, proto: 47, allowed: false },
  { name: 'sctp6 9899 from an outsider', src: OUTSIDER6, dst: NODE6, proto: 132, port: 9899, allowed: false },
];

/** Sends one packet per case (JSON on argv) through a raw socket bound to
 * the case's source address; the kernel writes the IP header. Checksums
 * are real (conntrack drops bad ones as INVALID before any rule of ours):
 * ICMP by hand, SCTP's CRC32c by hand, UDP over IPv6 and ICMPv6 by the
 * kernel (IPV6_CHECKSUM), UDP over IPv4 none (0 is allowed there). */
const SENDER = String.raw`
import json, socket, struct, sys

def csum(b):
    if len(b) % 2: b += b'\0'
    s = sum(struct.unpack('!%dH' % (len(b) // 2), b))
    while s >> 16: s = (s & 0xffff) + (s >> 16)
    return (~s) & 0xffff

T = []
for i in range(256):
    c = i
    for _ in range(8): c = (c >> 1) ^ 0x82F63B78 if c & 1 else c >> 1
    T.append(c)
def crc32c(b):
    c = 0xffffffff
    for x in b: c = T[(c ^ x) & 0xff] ^ (c >> 8)
    return c ^ 0xffffffff

for case in json.loads(sys.argv[1]):
    v6 = ':' in case['dst']
    proto = case['proto']
    if proto in (1, 58):
        body = struct.pack('!HH', 0x1234, 1) + (b'\0' * 12 if case['type'] == 13 else b'portcullis')
        data = struct.pack('!BBH', case['type'], 0, 0) + body
        if proto == 1: data = data[:2] + struct.pack('!H', csum(data)) + data[4:]
    elif proto == 17:
        payload = b'portcullis'
        data = struct.pack('!HHHH', 40000, case['port'], 8 + len(payload), 0) + payload
    elif proto == 132:
        init = struct.pack('!BBHIIHHI', 1, 0, 20, 0x11223344, 65535, 1, 1, 1)
        head = struct.pack('!HHII', 40000, case['port'], 0, 0)
        data = head + init
        data = data[:8] + struct.pack('<I', crc32c(data)) + data[12:]
    elif proto == 47:
        data = struct.pack('!HH', 0, 0x0800) + b'\0' * 20
    elif proto == 4:
        data = struct.pack('!BBHHHBBH4s4s', 0x45, 0, 20, 0, 0, 64, 17, 0, socket.inet_aton('10.99.0.1'), socket.inet_aton('10.99.0.2'))
    elif proto == 112:
        data = struct.pack('!BBBBBBH4s', 0x31, 1, 100, 1, 0, 1, 0, socket.inet_aton(case['dst']))
    else:
        data = struct.pack('!II', 0x1000, 1) + b'\0' * 16
    s = socket.socket(socket.AF_INET6 if v6 else socket.AF_INET, socket.SOCK_RAW, proto)
    if v6 and proto == 17: s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_CHECKSUM, 6)
    s.bind((case['src'], 0))
    s.sendto(data, (case['dst'], 0))
    s.close()
`;

const comment = (i: number) => `pctx-${i}`;

/** The counting rules of case i: same source, destination, protocol and
 * port or type as its packet, no target (they only count). */
function counterRule(c: Case, i: number): string[] {
  const v6 = c.dst.includes(':');
  const words = ['-s', c.src, '-d', c.dst, '-p', String(c.proto)];
  if (c.port !== undefined) words.push('-m', c.proto === 132 ? 'sctp' : 'udp', '--dport', String(c.port));
  if (c.type !== undefined) words.push(...(v6 ? ['-m', 'icmp6', '--icmpv6-type'] : ['-m', 'icmp', '--icmp-type']), String(c.type));
  return [...words, '-m', 'comment', '--comment', comment(i)];
}

/** Packets counted per case in one table's chain, both families. */
function counts(t: Topology, table: 'raw' | 'security'): number[] {
  const out = CASES.map(() => 0);
  for (const cmd of ['iptables-save', 'ip6tables-save'])
    for (const line of t.execOk(t.node, [cmd, '-c', '-t', table]).split('\n')) {
      const m = /^\[(\d+):\d+\] .*--comment pctx-(\d+)\b/.exec(line);
      if (m) out[Number(m[2])] += Number(m[1]);
    }
  return out;
}

/** Compiles the transports profile; the same files as the golden ones. */
function compileTransports(dir: string): string {
  const r = runCli(['compile', '--profile', PROFILE, '--catalog', CATALOG, '--target', 'iptables', '--out-dir', dir]);
  assert.is(r.code, 0, `compile failed: ${r.stderr}`);
  const out = path.join(dir, 'transports', 'iptables');
  for (const f of ['ipsets', 'rules.v4', 'rules.v6']) assert.fixture(fs.readFileSync(path.join(out, f), 'utf8'), fs.readFileSync(path.join(GOLDEN, f), 'utf8'), `${f} is the golden file`);
  return out;
}

const TOPOLOGY = {
  node: [NODE4, NODE6],
  world: [OTHER_NODE, MONITOR4, MONITOR6, POLLER, VPN_PEER, OUTSIDER4, OUTSIDER6],
};

test('rules.v4 holds no ICMPv6, rules.v6 no ICMP; portless by number; one rule per ICMP type (no kernel)', () => {
  const v4 = fs.readFileSync(path.join(GOLDEN, 'rules.v4'), 'utf8');
  const v6 = fs.readFileSync(path.join(GOLDEN, 'rules.v6'), 'utf8');
  const rules = (text: string) => text.split('\n').filter((l) => l.startsWith('-A '));
  assert.not.ok(rules(v4).some((l) => /ipv6-icmp|icmpv6|icmp6/.test(l)), 'rules.v4 has ICMPv6');
  assert.not.ok(rules(v6).some((l) => /-p icmp\b|--icmp-type/.test(l)), 'rules.v6 has ICMP');
  assert.ok(rules(v4).includes('-A PORTCULLIS-INPUT -m set --match-set pc-vpn_peers_v4 src -p 50 -m comment --comment "in-vpn_peers-v4-esp T1.5" -j ACCEPT'));
  assert.ok(rules(v4).includes('-A PORTCULLIS-INPUT -m set --match-set pc-admins_v4 src -p icmp -m comment --comment "in-admins-v4-icmp T1.3" -j ACCEPT'), 'any type: no type match');
  assert.equal(
    rules(v4).filter((l) => l.includes('in-monitor-v4-icmp')),
    [0, 8].map((n) => `-A PORTCULLIS-INPUT -m set --match-set pc-monitor_v4 src -p icmp --icmp-type ${n} -m comment --comment "in-monitor-v4-icmp T1.2" -j ACCEPT`),
  );
  assert.equal(
    rules(v6).filter((l) => l.includes('in-monitor-v6-icmpv6')).map((l) => /--icmpv6-type (\d+)/.exec(l)?.[1]),
    ['128', '129'],
  );
  assert.ok(rules(v6).some((l) => / -p sctp --dport 9899 /.test(l)));
  assert.ok(rules(v6).some((l) => / -p 4 -m comment --comment "in-nodes-v6-ipip/.test(l)));
});

test('parseRead: -p by name or number, sctp ports, ICMP types, portless as [0-0], IPv6 AH by the ah match (no kernel)', () => {
  const filter = (rules: string[]) => ['*filter', ':INPUT ACCEPT [0:0]', ':PORTCULLIS-INPUT - [0:0]', '-A INPUT -j PORTCULLIS-INPUT', ...rules, '-A PORTCULLIS-INPUT -j DROP', 'COMMIT', ''].join('\n');
  const v4 = filter([
    '-A PORTCULLIS-INPUT -p esp -j ACCEPT',
    '-A PORTCULLIS-INPUT -s 192.0.2.1/32 -p 50 -j ACCEPT',
    '-A PORTCULLIS-INPUT -p ipencap -j ACCEPT',
    '-A PORTCULLIS-INPUT -p ipv4 -j ACCEPT', // IANA-generated /etc/protocols: 4 is "ipv4"
    '-A PORTCULLIS-INPUT -p ipip -j ACCEPT', // 94, not IP-in-IP
    '-A PORTCULLIS-INPUT -p 112 -j ACCEPT',
    '-A PORTCULLIS-INPUT -p sctp -m sctp --dport 9899 -j ACCEPT',
    '-A PORTCULLIS-INPUT -p sctp -m multiport --dports 1,5:6 -j ACCEPT',
    '-A PORTCULLIS-INPUT -p icmp -m icmp --icmp-type 13 -j ACCEPT',
    '-A PORTCULLIS-INPUT -p icmp -m icmp --icmp-type any -j ACCEPT',
    '-A PORTCULLIS-INPUT -p icmp -m icmp --icmp-type 3/1 -j ACCEPT', // a code: narrower than a flow
    '-A PORTCULLIS-INPUT -p icmp -j ACCEPT',
    '-A PORTCULLIS-INPUT -p ah -m ah --ahspi 5 -j ACCEPT', // an SPI: narrower than a flow
    '-A PORTCULLIS-INPUT -p ipv6-icmp -j ACCEPT', // ICMPv6 in IPv4 is no flow
  ]);
  const v6 = filter(['-A PORTCULLIS-INPUT -m ah -j ACCEPT', '-A PORTCULLIS-INPUT -p ah -j ACCEPT', '-A PORTCULLIS-INPUT -p ipv6-icmp -m icmp6 --icmpv6-type 128 -j ACCEPT', '-A PORTCULLIS-INPUT -p 58 -j ACCEPT', '-A PORTCULLIS-INPUT -p icmp -j ACCEPT']);
  const show = (audited: readonly (typeof TRANSPORTS)[number][]) => {
    const r = parseRead(v4, v6, '', audited);
    return { ...r, flows: r.flowRules.filter((f) => f.verdict === 'accept').map((f) => `${f.family} ${f.transport} ${f.ports.map((p) => `${p.lo}-${p.hi}`).join(',')} ${rangesToStrings(f.peers, f.family).join(',')}`) };
  };
  const all = show(TRANSPORTS);
  assert.equal(all.flows, [
    'ipv4 esp 0-0 0.0.0.0/0',
    'ipv4 esp 0-0 192.0.2.1/32',
    'ipv4 ipip 0-0 0.0.0.0/0',
    'ipv4 ipip 0-0 0.0.0.0/0',
    'ipv4 vrrp 0-0 0.0.0.0/0',
    'ipv4 sctp 9899-9899 0.0.0.0/0',
    'ipv4 sctp 1-1,5-6 0.0.0.0/0',
    'ipv4 icmp 13-13 0.0.0.0/0',
    'ipv4 icmp 0-255 0.0.0.0/0',
    'ipv4 icmp 0-255 0.0.0.0/0',
    'ipv6 ah 0-0 ::/0',
    'ipv6 icmpv6 128-128 ::/0',
    'ipv6 icmpv6 0-255 ::/0',
  ]);
  assert.equal(all.unmapped, ['chain PORTCULLIS-INPUT: -p ah -m ah --ahspi 5 -j ACCEPT']);
  assert.equal(
    all.other.filter((l) => l.includes('-p ')),
    [
      'ipv4 -A PORTCULLIS-INPUT -p ipip -j ACCEPT',
      'ipv4 -A PORTCULLIS-INPUT -p icmp -m icmp --icmp-type 3/1 -j ACCEPT', // the ICMP shape of our own rules: a line
      'ipv4 -A PORTCULLIS-INPUT -p ipv6-icmp -j ACCEPT',
      'ipv6 -A PORTCULLIS-INPUT -p ah -j ACCEPT',
      'ipv6 -A PORTCULLIS-INPUT -p icmp -j ACCEPT',
    ],
    'rules that match no flow of their family are lines',
  );
  // The audit's transports only: the others are lines, so still compared.
  const tcpUdp = show(['tcp', 'udp']);
  assert.equal(tcpUdp.flows, []);
  assert.ok(tcpUdp.other.includes('ipv4 -A PORTCULLIS-INPUT -p esp -j ACCEPT'));
  assert.ok(tcpUdp.other.includes('ipv4 -A PORTCULLIS-INPUT -p icmp -m icmp --icmp-type 13 -j ACCEPT'));
});

test('the transports tree: --test loads with its sets, then UDP, SCTP, ICMP, ICMPv6, ESP, AH, GRE, IP-in-IP and VRRP packets are let in or dropped as the profile says; the reader maps the loaded listing', async () => {
  requireNetns();
  const dir = tmpDir('ipt-transports');
  try {
    const tree = compileTransports(dir);
    await withTopology({ ...TOPOLOGY, prefix: 'pciptx' }, async (t) => {
      t.execOk(t.node, ['ipset', 'restore', '-exist'], { input: fs.readFileSync(path.join(tree, 'ipsets'), 'utf8') });
      t.execOk(t.node, ['iptables-restore', '--test'], { input: fs.readFileSync(path.join(tree, 'rules.v4'), 'utf8') });
      t.execOk(t.node, ['ip6tables-restore', '--test'], { input: fs.readFileSync(path.join(tree, 'rules.v6'), 'utf8') });
      await iptablesLoader.load(t, tree);

      CASES.forEach((c, i) => {
        const cmd = c.dst.includes(':') ? 'ip6tables' : 'iptables';
        t.execOk(t.node, [cmd, '-t', 'raw', '-A', 'PREROUTING', ...counterRule(c, i)]);
        t.execOk(t.node, [cmd, '-t', 'security', '-A', 'INPUT', ...counterRule(c, i)]);
      });
      t.flushNeighbours();
      const sent = t.exec(t.world, ['python3', '-c', SENDER, JSON.stringify(CASES)]);
      assert.is(sent.code, 0, `sender: ${sent.stderr}`);
      // Every packet reached the node (raw PREROUTING, before any filter) ...
      await waitFor('every packet in raw PREROUTING', () => counts(t, 'raw').every((n) => n > 0), 10000).catch(() => {
        const raw = counts(t, 'raw');
        assert.unreachable(`packets that never reached the node: ${CASES.filter((_, i) => !raw[i]).map((c) => c.name).join(', ')}`);
      });
      // ... and the allowed ones got through the filter table (security
      // INPUT runs after it, in the same receive path).
      await waitFor('the allowed packets in security INPUT', () => {
        const sec = counts(t, 'security');
        return CASES.every((c, i) => !c.allowed || sec[i] > 0);
      }, 5000).catch(() => undefined);
      const sec = counts(t, 'security');
      const wrong = CASES.flatMap((c, i) => ((sec[i] > 0) === c.allowed ? [] : [`  ${c.name} (${c.src} -> ${c.dst}): expected ${c.allowed ? 'allowed' : 'dropped'}, got ${sec[i] > 0 ? 'allowed' : 'dropped'}`]));
      assert.equal(wrong, [], `verdicts:\n${wrong.join('\n')}`);

      // What iptables-save prints back reads as the IR's flows.
      const read = parseRead(t.execOk(t.node, ['iptables-save', '-t', 'filter']), t.execOk(t.node, ['ip6tables-save', '-t', 'filter']), t.execOk(t.node, ['ipset', 'save']), TRANSPORTS);
      assert.equal(read.unmapped, []);
      const ids = (transport: string) => read.flowRules.filter((f) => f.transport === transport && f.ruleId).map((f) => `${f.ruleId} ${f.ports.map((p) => `${p.lo}-${p.hi}`).join(',')}`);
      assert.equal(ids('esp'), ['in-vpn_peers-v4-esp 0-0']);
      assert.equal(ids('ah'), ['in-vpn_peers-v4-ah 0-0']);
      assert.equal(ids('ipip'), ['in-nodes-v4-ipip 0-0', 'out-nodes-v4-ipip 0-0', 'in-nodes-v6-ipip 0-0', 'out-nodes-v6-ipip 0-0']);
      assert.equal(ids('sctp'), ['in-nodes-v4-sctp 9899-9899', 'out-nodes-v4-sctp 9899-9899', 'in-nodes-v6-sctp 9899-9899', 'out-nodes-v6-sctp 9899-9899']);
      assert.ok(ids('icmp').includes('in-extra_ingress_1-v4-icmp 13-13'), ids('icmp').join('\n'));
      assert.ok(ids('icmp').includes('in-admins-v4-icmp 0-255'));
      assert.ok(ids('icmpv6').includes('in-monitor-v6-icmpv6 129-129'));
    });
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('IPv6 AH: the rendered match (-m ah) counts real AH packets in ip6tables (nf_tables) and ip6tables-legacy, where -p 51 never matches', async () => {
  requireNetns();
  const match = protocolMatch({ transport: 'ah', family: 'ipv6' }).split(' ');
  assert.equal(match, ['-m', 'ah']);
  const tools = ['ip6tables', ...(hasLegacy() ? ['ip6tables-legacy'] : [])];
  await withTopology({ node: [NODE6], world: [VPN_PEER, OUTSIDER6], prefix: 'pciptah' }, async (t) => {
    for (const tool of tools) {
      t.execOk(t.node, [tool, '-A', 'INPUT', '-s', OUTSIDER6, ...match, '-m', 'comment', '--comment', `ah-${tool}`]);
      const sent = t.exec(t.world, ['python3', '-c', SENDER, JSON.stringify([{ name: 'ah6', src: OUTSIDER6, dst: NODE6, proto: 51, allowed: true }])]);
      assert.is(sent.code, 0, `sender: ${sent.stderr}`);
      await waitFor(`${tool}: the AH packet counted by ${match.join(' ')}`, () => /^\[[1-9]\d*:\d+\] -A INPUT .*-m ah /m.test(t.execOk(t.node, [`${tool}-save`, '-c', '-t', 'filter'])), 5000);
      t.execOk(t.node, [tool, '-F', 'INPUT']);
    }
  });
});

/** ip6tables-legacy is installed (Debian's iptables package ships both). */
function hasLegacy(): boolean {
  return run('sh', ['-c', 'command -v ip6tables-legacy ip6tables-legacy-save']).stdout.trim().split('\n').length === 2;
}

test('portcullis apply + audit of the transports profile: in sync (0); hand-added ESP, ICMP timestamp and UDP 9999 rules are drift (1), each named', async () => {
  requireNetns();
  await withTopology({ ...TOPOLOGY, prefix: 'pciptxa' }, async (t) => {
    const profile = ['--profile', PROFILE, '--catalog', CATALOG, '--target', 'iptables'];
    const apply = () => {
      const r = cli(t, ['apply', ...profile, '--no-confirm']);
      assert.is(r.code, 0, `apply:\n${r.stdout}${r.stderr}`);
    };
    const audit = () => {
      const r = cli(t, ['audit', ...profile, '--format', 'json']);
      return { code: r.code, text: `${r.stdout}${r.stderr}`, report: r.stdout ? JSON.parse(r.stdout) : undefined };
    };
    apply();
    let r = audit();
    assert.is(r.code, 0, `audit right after apply:\n${r.text}`);
    assert.is(r.report.in_sync, true);

    /** The hand-added rule is named in the report: as a flow the host
     * allows (its origin) or as a rule the policy does not have. */
    const named = (report: { host_allows: { origins: string[] }[]; rules_added: string[] }, text: string) =>
      report.host_allows.some((f) => f.origins.some((o) => o.includes(text))) || report.rules_added.some((l) => l.includes(text));
    const drift: [string[], string][] = [
      [['iptables', '-I', 'PORTCULLIS-INPUT', '4', '-p', 'esp', '-j', 'ACCEPT'], '-p esp -j ACCEPT'],
      [['iptables', '-I', 'PORTCULLIS-INPUT', '4', '-p', 'icmp', '--icmp-type', '13', '-j', 'ACCEPT'], '-p icmp -m icmp --icmp-type 13 -j ACCEPT'],
      [['iptables', '-I', 'PORTCULLIS-INPUT', '4', '-p', 'udp', '--dport', '9999', '-j', 'ACCEPT'], '-p udp -m udp --dport 9999 -j ACCEPT'],
      [['ip6tables', '-I', 'PORTCULLIS-INPUT', '4', '-p', '47', '-j', 'ACCEPT'], '-p gre -j ACCEPT'],
    ];
    for (const [argv, text] of drift) {
      t.execOk(t.node, argv);
      r = audit();
      assert.is(r.code, 1, `audit with ${argv.join(' ')}:\n${r.text}`);
      assert.is(r.report.in_sync, false);
      assert.ok(named(r.report, text), `${text} named in:\n${r.text}`);
      assert.equal(r.report.unmapped, []);
      apply();
      assert.is(audit().code, 0, `in sync again after re-applying (${text})`);
    }
    // The UDP port is a flow the audit shows as such.
    t.execOk(t.node, ['iptables', '-I', 'PORTCULLIS-INPUT', '4', '-p', 'udp', '--dport', '9999', '-j', 'ACCEPT']);
    r = audit();
    assert.ok(r.report.host_allows.some((f: { transport: string; ports: string[] }) => f.transport === 'udp' && f.ports.includes('9999')), r.text);
  });
});

test.run();
