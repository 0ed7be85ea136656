// Probes for the transports Node has no socket for (SCTP, ICMP, ICMPv6,
// ESP, AH, GRE, IP-in-IP, VRRP): raw IP packets, sent and seen by a small
// constant python3 program (RAW_PY below, run as `python3 -c RAW_PY MODE
// ARGS...`: every input arrives as argv words or JSON on stdin, never as
// code or a shell string). Node cannot open raw sockets; python3 can, and
// is on every machine verify runs on. This kernel build has no SCTP module
// (socket(IPPROTO_SCTP) fails), so SCTP is sent as raw IP protocol 132 too.
//
//   listen TRANSPORT...   one raw socket per transport and family in this
//                         namespace; prints "ready", then for every packet
//                         that carries nonces "seen NONCE PROTO TYPE SRC"
//                         (TYPE: the ICMP type, else -1); exits when stdin
//                         closes.
//   send                  JSON cases on stdin ([{src, dst, transport, port,
//                         nonce}]); sends one packet each from src (bound)
//                         and prints a JSON array: "sent" or the errno name
//                         (EPERM: the output chain dropped it).
//   flush-conntrack       deletes every connection tracking entry of this
//                         namespace (ctnetlink), printing "flushed".
//
// Every packet carries "pcv:" + the 32 hex digits of its nonce, after a
// header that the firewall and connection tracking accept as the real
// protocol's:
//   icmp/icmpv6  type PORT, code 0, random id and sequence, checksummed
//                (ICMPv6: by the kernel); a timestamp request has its 12
//                bytes of times, a node information query its nonce and
//                subject; then the nonce;
//   sctp         a random source port, destination PORT, verification tag 0,
//                one INIT chunk (random initiate tag and TSN) whose one
//                optional parameter (type 0x8abc: skip, do not report) holds
//                the nonce; CRC32c checksum (conntrack checks it);
//   esp          SPI, sequence number 1, then the nonce as the ciphertext;
//   ah           tunnel mode: next header 4 (IPv4) / 41 (IPv6), SPI,
//                sequence 1, a 12-byte ICV, then the nonce (IPv6 connection
//                tracking skips AH as an extension header and tracks what
//                follows: "no next header" (59) would make it invalid);
//   gre          version 0, no options, protocol type 0x88b5 (local
//                experimental);
//   ipip         an inner IPv4 header 198.18.0.1 -> 198.18.0.2 (protocol
//                253, experimental), then the nonce;
//   vrrp         a VRRPv3 advertisement (VRID 1, one address: the sender's),
//                TTL / hop limit 255, checksum left 0.
// A raw socket gets its copy of a packet after the input hook, so the
// listener on the receiving side sees exactly what the firewall let in (and,
// on the world side, what the node's output chain let out).

import type { ChildProcess } from 'child_process';
import { randomBytes } from 'crypto';
import { TRANSPORT_FACTS, Transport } from '../transports';
import type { ProbeCase, ProbeResult } from './prober';
import type { Topology } from './topology';

export const RAW_PY = String.raw`import json, os, select, socket, struct, sys
MARK = b'pcv:'
PROTO = {'icmp': 1, 'icmpv6': 58, 'sctp': 132, 'esp': 50, 'ah': 51, 'gre': 47, 'ipip': 4, 'vrrp': 112}

def csum(b):
    if len(b) % 2:
        b += b'\0'
    s = sum(struct.unpack('!%dH' % (len(b) // 2), b))
    while s >> 16:
        s = (s & 0xffff) + (s >> 16)
    return ~s & 0xffff

CRC = []
for i in range(256):
    c = i
    for _ in range(8):
        c = (c >> 1) ^ 0x82f63b78 if c & 1 else c >> 1
    CRC.append(c)

def crc32c(b):
    c = 0xffffffff
    for x in b:
        c = CRC[(c ^ x) & 0xff] ^ (c >> 8)
    return ~c & 0xffffffff

def packet(c, v6):
    t = c['transport']
    mark = MARK + c['nonce'].encode()
    rnd = os.urandom(8)
    if t in ('icmp', 'icmpv6'):
        typ = c['port']
        body = rnd[:4]
        if t == 'icmp' and typ == 13:
            body += bytes(12)
        elif t == 'icmp' and typ == 17:
            body += bytes(4)
        elif t == 'icmpv6' and typ == 139:
            body = struct.pack('!HH', 2, 0) + rnd + socket.inet_pton(socket.AF_INET6, c['dst'])
        m = struct.pack('!BBH', typ, 0, 0) + body + mark
        return m if v6 else m[:2] + struct.pack('!H', csum(m)) + m[4:]
    if t == 'sctp':
        sport = 32768 + (int.from_bytes(rnd[:2], 'big') % 28000)
        param = struct.pack('!HH', 0x8abc, 4 + len(mark)) + mark
        init = struct.pack('!BBHIIHHI', 1, 0, 20 + len(param), int.from_bytes(rnd[2:6], 'big') | 1, 65535, 1, 1, int.from_bytes(rnd[4:8], 'big')) + param
        p = struct.pack('!HHII', sport, c['port'], 0, 0) + init
        return p[:8] + struct.pack('<I', crc32c(p)) + p[12:]
    if t == 'esp':
        return struct.pack('!II', 0x100 + int.from_bytes(rnd[:3], 'big'), 1) + mark
    if t == 'ah':
        return struct.pack('!BBHII', 41 if v6 else 4, 4, 0, 0x100 + int.from_bytes(rnd[:3], 'big'), 1) + bytes(12) + mark
    if t == 'gre':
        return struct.pack('!HH', 0, 0x88b5) + mark
    if t == 'ipip':
        inner = struct.pack('!BBHHHBBH4s4s', 0x45, 0, 20 + len(mark), 0, 0, 64, 253, 0, socket.inet_aton('198.18.0.1'), socket.inet_aton('198.18.0.2'))
        return inner[:10] + struct.pack('!H', csum(inner)) + inner[12:] + mark
    if t == 'vrrp':
        addr = socket.inet_pton(socket.AF_INET6 if v6 else socket.AF_INET, c['src'])
        return struct.pack('!BBBBHH', 0x31, 1, 100, 1, 100, 0) + addr + mark
    raise ValueError('cannot send ' + t)

def send(cases):
    out = []
    socks = {}
    for c in cases:
        v6 = ':' in c['dst']
        try:
            k = (c['src'], c['transport'])
            if k not in socks:
                s = socket.socket(socket.AF_INET6 if v6 else socket.AF_INET, socket.SOCK_RAW, PROTO[c['transport']])
                if c['transport'] == 'vrrp':
                    s.setsockopt(socket.IPPROTO_IPV6 if v6 else socket.IPPROTO_IP, socket.IPV6_UNICAST_HOPS if v6 else socket.IP_TTL, 255)
                s.bind((c['src'], 0))
                socks[k] = s
            socks[k].sendto(packet(c, v6), (c['dst'], 0))
            out.append('sent')
        except OSError as e:
            out.append(__import__('errno').errorcode.get(e.errno, str(e)))
    print(json.dumps(out), flush=True)

def listen(protos):
    socks = {}
    for p in protos:
        for fam in (socket.AF_INET, socket.AF_INET6):
            if (p == 1 and fam == socket.AF_INET6) or (p == 58 and fam == socket.AF_INET):
                continue
            s = socket.socket(fam, socket.SOCK_RAW, p)
            socks[s.fileno()] = (s, p, fam)
    print('ready', flush=True)
    fds = list(socks) + [0]
    while True:
        for fd in select.select(fds, [], [])[0]:
            if fd == 0:
                if not os.read(0, 4096):
                    return
                continue
            s, p, fam = socks[fd]
            data, addr = s.recvfrom(65535)
            off = (data[0] & 15) * 4 if fam == socket.AF_INET else 0
            typ = data[off] if p in (1, 58) and len(data) > off else -1
            at = data.find(MARK)
            while at >= 0:
                nonce = data[at + 4:at + 36]
                if len(nonce) == 32:
                    sys.stdout.write('seen %s %d %d %s\n' % (nonce.decode('ascii', 'replace'), p, typ, addr[0]))
                at = data.find(MARK, at + 1)
            sys.stdout.flush()

def flush_conntrack():
    s = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, 12)
    s.send(struct.pack('=IHHII', 20, (1 << 8) | 2, 1 | 4, 1, 0) + struct.pack('!BBH', 0, 0, 0))
    r = s.recv(4096)
    err = struct.unpack('=i', r[16:20])[0] if len(r) >= 20 else 0
    print('flushed' if err in (0, -2) else 'error %d' % -err, flush=True)

mode = sys.argv[1]
if mode == 'send':
    send(json.load(sys.stdin))
elif mode == 'listen':
    listen([PROTO[a] for a in sys.argv[2:]])
elif mode == 'flush-conntrack':
    flush_conntrack()
`;

/** Transports the raw prober sends (everything but TCP and UDP). */
export const RAW_TRANSPORTS: readonly Transport[] = ['sctp', 'icmp', 'icmpv6', 'esp', 'ah', 'gre', 'ipip', 'vrrp'];
export const isRaw = (t: Transport | undefined): boolean => !!t && RAW_TRANSPORTS.includes(t);

interface Sighting {
  proto: number;
  type: number;
  src: string;
  at: number;
}

export interface RawListener {
  ns: string;
  transports: readonly Transport[];
  /** Resolves with the time the nonce was seen (as `proto`, of ICMP `type`
   * when given), or undefined after `untilMs` (a Date.now() time). */
  waitFor(nonce: string, proto: number, type: number | undefined, untilMs: number): Promise<number | undefined>;
  stop(): void;
}

/** Starts the raw listener in `ns` for `transports`; resolves once it is ready. */
export function startRawListener(t: Topology, ns: string, transports: readonly Transport[], readyTimeoutMs = 30000): Promise<RawListener> {
  const c: ChildProcess = t.spawn(ns, ['python3', '-c', RAW_PY, 'listen', ...transports]);
  const seen = new Map<string, Sighting[]>();
  const waiters = new Set<() => void>();
  let buf = '';
  let err = '';
  let ready = false;
  const listener: RawListener = {
    ns,
    transports,
    waitFor: (nonce, proto, type, untilMs) =>
      new Promise((resolve) => {
        const check = () => {
          const hit = (seen.get(nonce) ?? []).find((s) => s.proto === proto && (type === undefined || s.type === type));
          if (!hit && Date.now() < untilMs) return false;
          waiters.delete(check);
          clearTimeout(timer);
          resolve(hit?.at);
          return true;
        };
        const timer = setTimeout(check, Math.max(0, untilMs - Date.now()) + 1);
        if (!check()) waiters.add(check);
      }),
    stop: () => t.kill(c),
  };
  return new Promise((resolve, reject) => {
    const fail = (why: string) => {
      clearTimeout(timer);
      t.kill(c);
      reject(new Error(`raw listener in ${ns} for ${transports.join(',')}: ${why}${err ? `\n${err.trim()}` : ''}`));
    };
    const timer = setTimeout(() => fail(`not ready after ${readyTimeoutMs} ms`), readyTimeoutMs);
    c.stderr!.setEncoding('utf8').on('data', (d: string) => (err += d));
    c.on('error', (e) => fail(e.message));
    c.on('exit', (code, sig) => {
      if (!ready) fail(`exited (${code ?? sig}) before ready`);
    });
    c.stdout!.setEncoding('utf8').on('data', (d: string) => {
      buf += d;
      let nl: number;
      while ((nl = buf.indexOf('\n')) >= 0) {
        const line = buf.slice(0, nl);
        buf = buf.slice(nl + 1);
        if (line === 'ready' && !ready) {
          ready = true;
          clearTimeout(timer);
          resolve(listener);
          continue;
        }
        const m = /^seen ([0-9a-f]{32}) (\d+) (-?\d+) (\S+)$/.exec(line);
        if (!m) continue;
        const list = seen.get(m[1]) ?? [];
        list.push({ proto: Number(m[2]), type: Number(m[3]), src: m[4], at: Date.now() });
        seen.set(m[1], list);
        for (const w of [...waiters]) w();
      }
    });
  });
}

/** Sends the raw cases from `ns`, each with a fresh nonce, and counts each
 * allowed only when `listener` (on the receiving side) sees its nonce
 * within timeoutMs of the send. Results in input order. */
export function probeRaw(t: Topology, ns: string, cases: readonly ProbeCase[], timeoutMs: number, listener: RawListener): Promise<ProbeResult[]> {
  const nonces = cases.map(() => randomBytes(16).toString('hex'));
  const input = cases.map((c, i) => ({ src: c.src, dst: c.dst, transport: c.transport, port: c.port, nonce: nonces[i] }));
  const c = t.spawn(ns, ['python3', '-c', RAW_PY, 'send']);
  return new Promise((resolve, reject) => {
    let out = '';
    let err = '';
    c.stdout!.setEncoding('utf8').on('data', (d: string) => (out += d));
    c.stderr!.setEncoding('utf8').on('data', (d: string) => (err += d));
    c.on('error', reject);
    c.on('close', (code, signal) => {
      const sentAt = Date.now();
      let sent: string[];
      try {
        if (code !== 0) throw new Error(`exited ${code ?? signal}`);
        sent = JSON.parse(out);
        if (!Array.isArray(sent) || sent.length !== cases.length) throw new Error(`expected ${cases.length} results`);
      } catch (e) {
        return reject(new Error(`raw prober in ${ns}: ${(e as Error).message}: ${out.slice(0, 300)}${err ? `\n${err.trim()}` : ''}`));
      }
      Promise.all(
        cases.map(async (k, i): Promise<ProbeResult> => {
          if (sent[i] !== 'sent') return { ...k, allowed: false, outcome: sent[i], ms: 0 };
          const transport = k.transport!;
          const at = await listener.waitFor(nonces[i], TRANSPORT_FACTS[transport].number, TRANSPORT_FACTS[transport].kind === 'icmp' ? k.port : undefined, sentAt + timeoutMs);
          return at === undefined ? { ...k, allowed: false, outcome: 'timeout', ms: timeoutMs } : { ...k, allowed: true, outcome: 'seen', ms: Math.max(0, at - sentAt) };
        }),
      ).then(resolve, reject);
    });
    c.stdin!.end(JSON.stringify(input));
  });
}

/** Deletes the connection tracking entries of `ns`: a portless flow (no
 * ports to tell flows apart) seen inbound would otherwise let the same
 * protocol out to that peer as its reply. */
export function flushConntrack(t: Topology, ns: string): void {
  const r = t.exec(ns, ['python3', '-c', RAW_PY, 'flush-conntrack']);
  if (r.code !== 0 || r.stdout.trim() !== 'flushed') throw new Error(`flushing connection tracking in ${ns}: ${(r.stdout + r.stderr).trim()}`);
}
