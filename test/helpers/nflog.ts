// NFLOG capture for the logging tests: `tcpdump -i nflog:N` in a namespace
// writes what the kernel sends to NFLOG group N, and readNflog() parses the
// pcap file. Target-neutral (nft `log group N`, iptables `-j NFLOG`).
//
// pcap: 24-byte global header (magic a1b2c3d4, written in host byte order),
// then per packet a 16-byte record header (ts_sec, ts_usec, incl_len,
// orig_len) and incl_len bytes. Linktype 239 (DLT_NFLOG): a 4-byte nfgenmsg
// (family, version, resource id), then TLVs: u16 length (little endian,
// header included), u16 type, value, padded to 4 bytes. Type 10 is
// NFULA_PREFIX (NUL-terminated), 9 NFULA_PAYLOAD (the packet from its
// network header). The type's top bits are netlink flags and are masked off.
import type { ChildProcess } from 'child_process';
import * as fs from 'fs';
import type { Topology } from './netns';

export const LINKTYPE_NFLOG = 239;
const NFULA_PAYLOAD = 9;
const NFULA_PREFIX = 10;

export interface NflogMessage {
  /** nfgenmsg family: 2 (IPv4), 10 (IPv6). */
  family: number;
  prefix?: string;
  /** The logged packet, from its IP header. */
  payload?: Buffer;
}

export function readNflog(file: string): NflogMessage[] {
  const b = fs.readFileSync(file);
  if (b.length < 24) throw new Error(`${file}: ${b.length} bytes, no pcap header`);
  const magic = b.readUInt32LE(0);
  const le = magic === 0xa1b2c3d4;
  if (!le && magic !== 0xd4c3b2a1) throw new Error(`${file}: not a pcap file (magic ${magic.toString(16)})`);
  const u32 = (o: number) => (le ? b.readUInt32LE(o) : b.readUInt32BE(o));
  const linktype = u32(20);
  if (linktype !== LINKTYPE_NFLOG) throw new Error(`${file}: linktype ${linktype}, expected ${LINKTYPE_NFLOG} (NFLOG)`);
  const out: NflogMessage[] = [];
  // -U writes whole records, but a record may still be in flight: stop at a short one.
  for (let o = 24; o + 16 <= b.length; ) {
    const len = u32(o + 8);
    const start = o + 16;
    if (start + len > b.length) break;
    const msg: NflogMessage = { family: b[start] };
    for (let t = start + 4; t + 4 <= start + len; ) {
      const tlen = b.readUInt16LE(t);
      const type = b.readUInt16LE(t + 2) & 0x3fff;
      if (tlen < 4) break;
      const value = b.subarray(t + 4, Math.min(t + tlen, start + len));
      if (type === NFULA_PREFIX) msg.prefix = value.subarray(0, value.indexOf(0) >= 0 ? value.indexOf(0) : value.length).toString('latin1');
      if (type === NFULA_PAYLOAD) msg.payload = Buffer.from(value);
      t += (tlen + 3) & ~3;
    }
    out.push(msg);
    o = start + len;
  }
  return out;
}

/** The UDP or TCP destination port of a logged IPv4/IPv6 packet (no IPv6 extension headers). */
export function payloadDport(m: NflogMessage): number | undefined {
  const p = m.payload;
  if (!p || p.length < 1) return undefined;
  const v = p[0] >> 4;
  const l4 = v === 4 ? (p[0] & 15) * 4 : v === 6 ? 40 : -1;
  const proto = v === 4 ? p[9] : p[6];
  if (l4 < 0 || (proto !== 6 && proto !== 17) || p.length < l4 + 4) return undefined;
  return p.readUInt16BE(l4 + 2);
}

export interface NflogCapture {
  file: string;
  messages(): NflogMessage[];
  stop(): void;
}

/** Starts `tcpdump -i nflog:GROUP -w FILE -U` in `ns` and resolves once it
 * says "listening on" (the group is bound from then on). `-Z root`: tcpdump
 * would otherwise drop to its own user and could not write into a private
 * temporary directory. */
export function startNflogCapture(t: Topology, ns: string, group: number, file: string, readyTimeoutMs = 30000): Promise<NflogCapture> {
  const c: ChildProcess = t.spawn(ns, ['tcpdump', '-Z', 'root', '-n', '-U', '-i', `nflog:${group}`, '-w', file]);
  return new Promise((resolve, reject) => {
    let err = '';
    const fail = (why: string) => {
      clearTimeout(timer);
      t.kill(c);
      reject(new Error(`tcpdump -i nflog:${group} in ${ns}: ${why}\n${err.trim()}`));
    };
    const timer = setTimeout(() => fail(`not listening after ${readyTimeoutMs} ms`), readyTimeoutMs);
    c.on('error', (e) => fail(e.message));
    c.on('exit', (code, sig) => fail(`exited (${code ?? sig})`));
    c.stderr!.setEncoding('utf8').on('data', (d: string) => {
      err += d;
      if (/listening on/.test(err)) {
        clearTimeout(timer);
        c.removeAllListeners('exit');
        resolve({ file, messages: () => (fs.existsSync(file) ? readNflog(file) : []), stop: () => t.kill(c) });
      }
    });
  });
}
