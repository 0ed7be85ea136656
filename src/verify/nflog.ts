// What `portcullis verify` reads to prove that a denied probe was logged.
//
// NFLOG (profile host.log.group): `tcpdump -i nflog:N -w - -U` in the node
// namespace writes a pcap stream (linktype 239, LINKTYPE_NFLOG). Each packet
// is a 4-byte nfgenmsg (family, version, resource id = the group, big
// endian) followed by TLVs: u16 length (includes the 4-byte TLV header),
// u16 type, the value, padded to 4 bytes; length and type are in the
// writer's byte order, the one the file header shows (little endian here).
// Type 10 is NFULA_PREFIX (NUL-terminated text), type 9 NFULA_PAYLOAD (the
// packet from its IP header). The payload says which probe was logged.
//
// Kernel log (no group): the kernel writes log lines for packets in a
// network namespace other than the initial one only when
// /proc/sys/net/netfilter/nf_log_all_netns is 1. verify reads that switch
// and never writes it; when it is 1 it looks for the prefix in `dmesg`.

import * as fs from 'fs';
import type { ChildProcess } from 'child_process';
import { formatAddress } from '../addresses';
import { run, Topology } from './topology';

export const LINKTYPE_NFLOG = 239;
const NFULA_PAYLOAD = 9;
const NFULA_PREFIX = 10;

/** The addresses and ports of a logged packet (its IP payload). */
export interface PacketSummary {
  family: 'ipv4' | 'ipv6';
  src: string;
  dst: string;
  /** "tcp", "udp", "sctp", "icmp", "icmpv6", "esp", "ah", "gre", "vrrp" or the protocol number. */
  protocol: string;
  sport?: number;
  dport?: number;
}

export interface NflogRecord {
  /** The resource id of the nfgenmsg: the NFLOG group. */
  group: number;
  prefix?: string;
  packet?: PacketSummary;
}

const PROTOCOLS: Record<number, string> = { 1: 'icmp', 6: 'tcp', 17: 'udp', 58: 'icmpv6', 132: 'sctp', 50: 'esp', 51: 'ah', 47: 'gre', 112: 'vrrp' };

function bigintOf(bytes: Buffer): bigint {
  return BigInt('0x' + (bytes.toString('hex') || '0'));
}

/** The IP header of a packet (and its TCP/UDP ports), or undefined when it is not one. */
export function summarizeIp(p: Buffer): PacketSummary | undefined {
  if (p.length < 1) return undefined;
  const version = p[0] >> 4;
  let proto: number;
  let l4: number;
  let family: 'ipv4' | 'ipv6';
  let src: bigint;
  let dst: bigint;
  if (version === 4 && p.length >= 20) {
    family = 'ipv4';
    proto = p[9];
    l4 = (p[0] & 0x0f) * 4;
    src = bigintOf(p.subarray(12, 16));
    dst = bigintOf(p.subarray(16, 20));
  } else if (version === 6 && p.length >= 40) {
    // Extension headers are not followed: probes carry none.
    family = 'ipv6';
    proto = p[6];
    l4 = 40;
    src = bigintOf(p.subarray(8, 24));
    dst = bigintOf(p.subarray(24, 40));
  } else return undefined;
  const bits = family === 'ipv4' ? 32 : 128;
  const out: PacketSummary = {
    family,
    src: formatAddress({ family, base: src, prefix: bits }),
    dst: formatAddress({ family, base: dst, prefix: bits }),
    protocol: PROTOCOLS[proto] ?? String(proto),
  };
  if ((proto === 6 || proto === 17 || proto === 132) && p.length >= l4 + 4) {
    out.sport = p.readUInt16BE(l4);
    out.dport = p.readUInt16BE(l4 + 2);
  }
  return out;
}

/** One NFLOG packet (nfgenmsg + TLVs); throws on a malformed one. */
export function parseNflog(data: Buffer, littleEndian = true): NflogRecord {
  if (data.length < 4) throw new Error(`NFLOG packet of ${data.length} bytes: shorter than its 4-byte header`);
  const rec: NflogRecord = { group: data.readUInt16BE(2) };
  let off = 4;
  while (off + 4 <= data.length) {
    const len = littleEndian ? data.readUInt16LE(off) : data.readUInt16BE(off);
    const type = (littleEndian ? data.readUInt16LE(off + 2) : data.readUInt16BE(off + 2)) & 0x7fff; // without NLA_F_NESTED
    if (len < 4 || off + len > data.length) throw new Error(`NFLOG TLV at byte ${off}: bad length ${len}`);
    const value = data.subarray(off + 4, off + len);
    if (type === NFULA_PREFIX) {
      const nul = value.indexOf(0);
      rec.prefix = value.subarray(0, nul < 0 ? value.length : nul).toString('latin1');
    } else if (type === NFULA_PAYLOAD) {
      rec.packet = summarizeIp(value);
    }
    off += (len + 3) & ~3;
  }
  return rec;
}

/** The NFLOG records of a pcap stream, and how many bytes of it a complete
 * record ended at (a stream still being written ends mid-record). */
export function parsePcap(buf: Buffer): { records: NflogRecord[]; consumed: number } {
  if (buf.length < 24) return { records: [], consumed: 0 };
  const magic = buf.readUInt32LE(0);
  let le: boolean;
  if (magic === 0xa1b2c3d4 || magic === 0xa1b23c4d) le = true;
  else if (magic === 0xd4c3b2a1 || magic === 0x4d3cb2a1) le = false;
  else throw new Error(`not a pcap stream (magic 0x${magic.toString(16)})`);
  const u32 = (o: number) => (le ? buf.readUInt32LE(o) : buf.readUInt32BE(o));
  const linktype = u32(20) & 0x0fffffff;
  if (linktype !== LINKTYPE_NFLOG) throw new Error(`pcap linktype ${linktype}, expected ${LINKTYPE_NFLOG} (NFLOG)`);
  const records: NflogRecord[] = [];
  let off = 24;
  while (off + 16 <= buf.length) {
    const caplen = u32(off + 8);
    if (off + 16 + caplen > buf.length) break;
    records.push(parseNflog(buf.subarray(off + 16, off + 16 + caplen), le));
    off += 16 + caplen;
  }
  return { records, consumed: off };
}

export interface NflogCapture {
  group: number;
  /** Every record captured so far. */
  records(): NflogRecord[];
  /** Resolves with the first record (seen so far or arriving) that `match`
   * accepts, or undefined after timeoutMs. */
  waitFor(match: (r: NflogRecord) => boolean, timeoutMs: number): Promise<NflogRecord | undefined>;
  stop(): void;
}

/** Starts `tcpdump -i nflog:GROUP` in `ns`; resolves once it says
 * "listening on" (it is bound to the group then). */
export function startNflogCapture(t: Topology, ns: string, group: number, readyTimeoutMs = 30000): Promise<NflogCapture> {
  // -Z root: tcpdump would otherwise drop to its own user, which may not
  // exist or write here; -U: each packet is written as it arrives.
  const c: ChildProcess = t.spawn(ns, ['tcpdump', '-i', `nflog:${group}`, '-w', '-', '-U', '-Z', 'root', '-s', '0']);
  let data = Buffer.alloc(0);
  let err = '';
  let parsed: NflogRecord[] = [];
  let parseError: Error | undefined;
  const waiters = new Set<() => void>();
  c.stdout!.on('data', (d: Buffer) => {
    data = Buffer.concat([data, d]);
    try {
      parsed = parsePcap(data).records;
    } catch (e) {
      parseError = e as Error;
    }
    for (const w of [...waiters]) w();
  });
  const capture: NflogCapture = {
    group,
    records: () => {
      if (parseError) throw new Error(`tcpdump -i nflog:${group}: ${parseError.message}`);
      return parsed;
    },
    waitFor: (match, timeoutMs) =>
      new Promise((resolve, reject) => {
        const check = () => {
          let found: NflogRecord | undefined;
          try {
            found = capture.records().find(match);
          } catch (e) {
            done();
            reject(e);
            return;
          }
          if (found) {
            done();
            resolve(found);
          }
        };
        const timer = setTimeout(() => {
          done();
          resolve(undefined);
        }, timeoutMs);
        const done = () => {
          clearTimeout(timer);
          waiters.delete(check);
        };
        waiters.add(check);
        check();
      }),
    stop: () => t.kill(c),
  };
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => fail(`not listening after ${readyTimeoutMs} ms`), readyTimeoutMs);
    const fail = (why: string) => {
      clearTimeout(timer);
      t.kill(c);
      reject(new Error(`tcpdump -i nflog:${group} in ${ns}: ${why}${err ? `\n${err.trim()}` : ''}`));
    };
    c.on('error', (e) => fail(e.message));
    c.on('exit', (code, sig) => fail(`exited (${code ?? sig})`));
    c.stderr!.setEncoding('utf8').on('data', (d: string) => {
      err += d;
      if (/listening on/.test(err)) {
        clearTimeout(timer);
        c.removeAllListeners('exit');
        resolve(capture);
      }
    });
  });
}

export const NF_LOG_ALL_NETNS = '/proc/sys/net/netfilter/nf_log_all_netns';

/** Whether the kernel log shows netfilter log lines from other network
 * namespaces: nf_log_all_netns is 1. Read only. */
export function kernelLogVisible(): { visible: boolean; why: string } {
  let value: string;
  try {
    value = fs.readFileSync(NF_LOG_ALL_NETNS, 'utf8').trim();
  } catch (e) {
    return { visible: false, why: `${NF_LOG_ALL_NETNS} cannot be read (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})` };
  }
  if (value === '1') return { visible: true, why: `${NF_LOG_ALL_NETNS} is 1` };
  return {
    visible: false,
    why: `the kernel writes log lines for packets in a network namespace other than the host's only when net.netfilter.nf_log_all_netns is 1 (it is ${value} here; verify never changes it)`,
  };
}

/** A kernel log line of a logged packet: its prefix and addresses. */
export interface KernelLogLine {
  line: string;
  packet?: PacketSummary;
}

/** The kernel log's lines (`dmesg`), or an error message. */
export function readKernelLog(): { lines: string[] } | { error: string } {
  const r = run('dmesg', []);
  if (r.code !== 0) return { error: `dmesg failed (exit ${r.code}): ${r.stderr.trim()}` };
  return { lines: r.stdout.split('\n') };
}

/** The lines of `lines` holding `prefix`, with the packet they name
 * (SRC=, DST=, PROTO=, SPT=, DPT=). */
export function kernelLogMatches(lines: readonly string[], prefix: string): KernelLogLine[] {
  const out: KernelLogLine[] = [];
  for (const line of lines) {
    const at = line.indexOf(prefix);
    if (at < 0) continue;
    const field = (name: string) => new RegExp(`\\b${name}=(\\S+)`).exec(line.slice(at))?.[1];
    const src = field('SRC');
    const dst = field('DST');
    const proto = field('PROTO');
    let packet: PacketSummary | undefined;
    if (src && dst) {
      packet = { family: src.includes(':') ? 'ipv6' : 'ipv4', src, dst, protocol: (proto ?? '').toLowerCase() };
      const spt = field('SPT');
      const dpt = field('DPT');
      if (spt) packet.sport = Number(spt);
      if (dpt) packet.dport = Number(dpt);
    }
    out.push({ line, packet });
  }
  return out;
}
