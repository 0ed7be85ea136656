// Reads what `tcpdump -i nflog:N -w FILE` captured: a pcap file of link type
// 239 (LINKTYPE_NFLOG). Each record is a 4-byte nfgenmsg (family, version,
// resource id) and then TLVs: u16 length (header included, little-endian),
// u16 type (LE), the value, padded to 4 bytes. Type 10 is NFULA_PREFIX (a
// NUL-terminated string), type 9 NFULA_PAYLOAD (the packet from its network
// header). Only what the tests need; the lead dedupes with nftables' helper.

export const LINKTYPE_NFLOG = 239;
const NFULA_PAYLOAD = 9;
const NFULA_PREFIX = 10;

export interface NflogMessage {
  /** AF_INET 2, AF_INET6 10. */
  family: number;
  /** The NFLOG group (resource id, big-endian in nfgenmsg). */
  group: number;
  prefix?: string;
  payload?: Buffer;
}

/** Parses a pcap file's bytes; throws on a file that is not an NFLOG pcap. */
export function parseNflogPcap(buf: Buffer): NflogMessage[] {
  if (buf.length < 24) return [];
  const magic = buf.readUInt32LE(0);
  const le = magic === 0xa1b2c3d4 || magic === 0xa1b23c4d;
  if (!le && buf.readUInt32BE(0) !== 0xa1b2c3d4 && buf.readUInt32BE(0) !== 0xa1b23c4d) throw new Error('not a pcap file');
  const u32 = (o: number) => (le ? buf.readUInt32LE(o) : buf.readUInt32BE(o));
  const linktype = u32(20);
  if (linktype !== LINKTYPE_NFLOG) throw new Error(`pcap link type ${linktype}, not NFLOG (${LINKTYPE_NFLOG})`);
  const out: NflogMessage[] = [];
  let off = 24;
  // A record still being written (tcpdump -U flushes whole packets, but a
  // read may race it) is left for the next read.
  while (off + 16 <= buf.length) {
    const incl = u32(off + 8);
    const start = off + 16;
    if (start + incl > buf.length) break;
    out.push(parseRecord(buf.subarray(start, start + incl)));
    off = start + incl;
  }
  return out;
}

function parseRecord(rec: Buffer): NflogMessage {
  const msg: NflogMessage = { family: rec[0], group: rec.readUInt16BE(2) };
  let off = 4;
  while (off + 4 <= rec.length) {
    const len = rec.readUInt16LE(off);
    const type = rec.readUInt16LE(off + 2) & 0x7fff;
    if (len < 4 || off + len > rec.length) break;
    const value = rec.subarray(off + 4, off + len);
    if (type === NFULA_PREFIX) msg.prefix = value.toString('latin1').replace(/\0.*$/s, '');
    if (type === NFULA_PAYLOAD) msg.payload = Buffer.from(value);
    off += (len + 3) & ~3;
  }
  return msg;
}

/** Source, destination and TCP/UDP destination port of an IPv4 payload. */
export function ipv4Flow(p: Buffer): { src: string; dst: string; protocol: number; dport?: number } | undefined {
  if (p.length < 20 || p[0] >> 4 !== 4) return undefined;
  const ihl = (p[0] & 15) * 4;
  const protocol = p[9];
  const ip = (o: number) => [...p.subarray(o, o + 4)].join('.');
  const dport = (protocol === 6 || protocol === 17) && p.length >= ihl + 4 ? p.readUInt16BE(ihl + 2) : undefined;
  return { src: ip(12), dst: ip(16), protocol, dport };
}
