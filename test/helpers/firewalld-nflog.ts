// NFLOG capture for the firewalld kernel tests: `tcpdump -i nflog:N -w FILE -U`
// in a namespace, and a small reader of what it writes (pcap, link type 239,
// LINKTYPE_NFLOG). The kernel log of a non-initial namespace is not visible
// here (net.netfilter.nf_log_all_netns is 0 and stays so); NFLOG is.
//
// pcap: a 24-byte file header (magic, version, ..., link type at offset 20),
// then records of a 16-byte header (seconds, sub-seconds, captured length,
// original length) and the captured bytes. An NFLOG record: a 4-byte
// nfgenmsg (address family u8, version u8, group u16 big-endian), then TLVs
// of u16 length (including these 4 bytes) and u16 type, both little-endian
// (the capturing host's order), each padded to 4 bytes. Types used here:
// 9 NFULA_PAYLOAD (the packet from its IP header on), 10 NFULA_PREFIX (the
// log prefix, NUL-terminated).

import type { ChildProcess } from 'child_process';
import * as fs from 'fs';
import type { Topology } from './netns';

export const LINKTYPE_NFLOG = 239;
const NFULA_PAYLOAD = 9;
const NFULA_PREFIX = 10;

export interface NflogRecord {
  family: number;
  group: number;
  prefix?: string;
  payload?: Buffer;
}

/** The packet summary tests assert on (TCP and UDP only; else no ports). */
export interface PacketSummary {
  src: string;
  dst: string;
  protocol: number;
  dport?: number;
}

/** Reads a pcap file's NFLOG records. Throws on a file that is not pcap with
 * link type NFLOG; a record cut short at the end (tcpdump still writing) is
 * left out. */
export function readNflogPcap(data: Buffer): NflogRecord[] {
  if (data.length < 24) return [];
  const magic = data.readUInt32LE(0);
  let le: boolean;
  if (magic === 0xa1b2c3d4 || magic === 0xa1b23c4d) le = true;
  else if (magic === 0xd4c3b2a1 || magic === 0x4d3cb2a1) le = false;
  else throw new Error(`not a pcap file (magic 0x${magic.toString(16)})`);
  const u32 = (o: number) => (le ? data.readUInt32LE(o) : data.readUInt32BE(o));
  const linktype = u32(20) & 0x0fffffff;
  if (linktype !== LINKTYPE_NFLOG) throw new Error(`pcap link type ${linktype}, expected ${LINKTYPE_NFLOG} (NFLOG)`);
  const out: NflogRecord[] = [];
  let off = 24;
  while (off + 16 <= data.length) {
    const caplen = u32(off + 8);
    const start = off + 16;
    if (start + caplen > data.length) break;
    out.push(parseNflog(data.subarray(start, start + caplen)));
    off = start + caplen;
  }
  return out;
}

/** One NFLOG record: the nfgenmsg header, then its TLVs. */
export function parseNflog(rec: Buffer): NflogRecord {
  if (rec.length < 4) throw new Error(`NFLOG record of ${rec.length} bytes`);
  const r: NflogRecord = { family: rec.readUInt8(0), group: rec.readUInt16BE(2) };
  let off = 4;
  while (off + 4 <= rec.length) {
    const len = rec.readUInt16LE(off);
    const type = rec.readUInt16LE(off + 2) & 0x7fff; // without NLA_F_NESTED
    if (len < 4 || off + len > rec.length) throw new Error(`NFLOG TLV at ${off}: length ${len} of a ${rec.length}-byte record`);
    const value = rec.subarray(off + 4, off + len);
    if (type === NFULA_PREFIX) {
      const nul = value.indexOf(0);
      r.prefix = value.subarray(0, nul < 0 ? value.length : nul).toString('utf8');
    } else if (type === NFULA_PAYLOAD) {
      r.payload = Buffer.from(value);
    }
    off += (len + 3) & ~3;
  }
  return r;
}

function ipv6Text(b: Buffer): string {
  const groups: string[] = [];
  for (let i = 0; i < 16; i += 2) groups.push(b.readUInt16BE(i).toString(16));
  // Compressed like the kernel and Node print it: the longest run of zero groups.
  let best = -1;
  let bestLen = 0;
  for (let i = 0; i < 8; ) {
    if (groups[i] !== '0') {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && groups[j] === '0') j++;
    if (j - i > bestLen && j - i > 1) {
      best = i;
      bestLen = j - i;
    }
    i = j;
  }
  if (best < 0) return groups.join(':');
  return `${groups.slice(0, best).join(':')}::${groups.slice(best + bestLen).join(':')}`;
}

/** Addresses, protocol and destination port of an IPv4 or IPv6 packet (no
 * IPv6 extension headers: the tests' probes have none). */
export function summarize(payload: Buffer): PacketSummary | undefined {
  if (payload.length < 1) return undefined;
  const version = payload[0] >> 4;
  if (version === 4 && payload.length >= 20) {
    const ihl = (payload[0] & 0x0f) * 4;
    const protocol = payload[9];
    const s: PacketSummary = { src: [...payload.subarray(12, 16)].join('.'), dst: [...payload.subarray(16, 20)].join('.'), protocol };
    if ((protocol === 6 || protocol === 17) && payload.length >= ihl + 4) s.dport = payload.readUInt16BE(ihl + 2);
    return s;
  }
  if (version === 6 && payload.length >= 40) {
    const protocol = payload[6];
    const s: PacketSummary = { src: ipv6Text(payload.subarray(8, 24)), dst: ipv6Text(payload.subarray(24, 40)), protocol };
    if ((protocol === 6 || protocol === 17) && payload.length >= 44) s.dport = payload.readUInt16BE(42);
    return s;
  }
  return undefined;
}

export interface NflogCapture {
  file: string;
  /** The records written so far. */
  records(): NflogRecord[];
  /** Polls until some record satisfies `want`; throws after timeoutMs with what was seen. */
  waitFor(what: string, want: (r: NflogRecord) => boolean, timeoutMs?: number): Promise<NflogRecord>;
  stop(): void;
}

export function describeRecord(r: NflogRecord): string {
  const p = r.payload ? summarize(r.payload) : undefined;
  return `group ${r.group} prefix ${JSON.stringify(r.prefix ?? null)}${p ? ` ${p.src} -> ${p.dst} proto ${p.protocol}${p.dport !== undefined ? ` dport ${p.dport}` : ''}` : ''}`;
}

/** Starts `tcpdump -i nflog:GROUP -w FILE -U` in `ns` (packet-buffered: each
 * record is on disk once written) and resolves once it listens. `-Z root`:
 * tcpdump would otherwise drop to its own user and could not write FILE. */
export function startNflogCapture(t: Topology, ns: string, group: number, file: string, readyTimeoutMs = 60000): Promise<NflogCapture> {
  const c: ChildProcess = t.spawn(ns, ['tcpdump', '-i', `nflog:${group}`, '-w', file, '-U', '-Z', 'root']);
  let err = '';
  const records = () => (fs.existsSync(file) ? readNflogPcap(fs.readFileSync(file)) : []);
  const capture: NflogCapture = {
    file,
    records,
    async waitFor(what, want, timeoutMs = 60000) {
      const started = Date.now();
      for (;;) {
        const seen = records();
        const hit = seen.find(want);
        if (hit) return hit;
        if (c.exitCode !== null || c.signalCode !== null) throw new Error(`tcpdump exited (${c.exitCode ?? c.signalCode}) before ${what}:\n${err.trim()}`);
        if (Date.now() - started > timeoutMs)
          throw new Error(`no NFLOG record ${what} after ${timeoutMs} ms; ${seen.length} seen:\n${seen.map((r) => `  ${describeRecord(r)}`).join('\n')}`);
        await new Promise((r) => setTimeout(r, 200));
      }
    },
    stop: () => t.kill(c),
  };
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      t.kill(c);
      reject(new Error(`tcpdump on nflog:${group} in ${ns} not listening after ${readyTimeoutMs} ms:\n${err.trim()}`));
    }, readyTimeoutMs);
    c.stderr!.setEncoding('utf8').on('data', (d: string) => {
      err += d;
      if (/listening on nflog/.test(err)) {
        clearTimeout(timer);
        resolve(capture);
      }
    });
    c.on('exit', (code, signal) => {
      clearTimeout(timer);
      reject(new Error(`tcpdump on nflog:${group} in ${ns} exited (${code ?? signal}):\n${err.trim()}`));
    });
  });
}
