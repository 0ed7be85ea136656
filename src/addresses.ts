// Address parsing (ipaddr.js) and the set arithmetic the IR needs: every
// address set is normalized to its minimal sorted list of CIDRs, so the same
// set of addresses, however typed, prints the same bytes.

import * as ipaddr from 'ipaddr.js';

export type Family = 'ipv4' | 'ipv6';

export interface Cidr {
  family: Family;
  /** First address of the block as an integer. */
  base: bigint;
  prefix: number;
}

/** An inclusive integer range of addresses of one family. */
export interface AddrRange {
  lo: bigint;
  hi: bigint;
}

export const BITS: Record<Family, number> = { ipv4: 32, ipv6: 128 };

export type ParseResult = { ok: true; cidr: Cidr } | { ok: false; message: string; hint?: string };

function fromBigInt(v: bigint, family: Family): string {
  if (family === 'ipv4') {
    const n = Number(v);
    return `${Math.floor(n / 16777216) & 255}.${(n >>> 16) & 255}.${(n >>> 8) & 255}.${n & 255}`;
  }
  // RFC 5952: lower case, no leading zeros, the longest run (>= 2) of zero groups as "::".
  const hex = v.toString(16).padStart(32, '0');
  const groups: string[] = [];
  for (let i = 0; i < 32; i += 4) groups.push(parseInt(hex.slice(i, i + 4), 16).toString(16));
  let best = -1;
  let bestLen = 1;
  for (let i = 0; i < 8; ) {
    if (groups[i] !== '0') {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && groups[j] === '0') j++;
    if (j - i > bestLen) {
      best = i;
      bestLen = j - i;
    }
    i = j;
  }
  if (best < 0) return groups.join(':');
  return `${groups.slice(0, best).join(':')}::${groups.slice(best + bestLen).join(':')}`;
}

const IPV4 = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/;

/** Dotted quad to integer; undefined unless four decimal parts 0-255
 * without leading zeros (which some tools read as octal). */
function parseIPv4(text: string): bigint | undefined {
  const m = IPV4.exec(text);
  if (!m) return undefined;
  let v = 0;
  for (let i = 1; i <= 4; i++) {
    const part = m[i];
    if (part.length > 1 && part[0] === '0') return undefined;
    const n = Number(part);
    if (n > 255) return undefined;
    v = v * 256 + n;
  }
  return BigInt(v);
}

function parseIPv6(text: string): bigint | undefined {
  if (!text.includes(':') || text.includes('%')) return undefined;
  let parts: number[];
  try {
    parts = ipaddr.IPv6.parse(text).parts;
  } catch {
    return undefined;
  }
  return BigInt('0x' + parts.map((p) => p.toString(16).padStart(4, '0')).join(''));
}

export function parseAddress(text: string): ParseResult {
  const trimmed = text.trim();
  const slash = trimmed.indexOf('/');
  const addrPart = slash >= 0 ? trimmed.slice(0, slash) : trimmed;
  const prefixPart = slash >= 0 ? trimmed.slice(slash + 1) : undefined;
  let family: Family;
  let value = parseIPv4(addrPart);
  if (value !== undefined) family = 'ipv4';
  else if ((value = parseIPv6(addrPart)) !== undefined) family = 'ipv6';
  else {
    const hint = /^\d+(\.\d+){0,2}$/.test(addrPart)
      ? 'write IPv4 addresses as four decimal parts, e.g. 10.0.0.1'
      : addrPart.includes('%')
        ? 'zone indices (%eth0) have no meaning in a firewall rule; drop them'
        : /(^|\.)0\d/.test(addrPart)
          ? 'leading zeros are read as octal by some tools; write 10.0.0.1, not 010.000.000.001'
          : 'expected an IPv4 or IPv6 address, optionally with /PREFIX, e.g. 10.0.0.0/24 or 2001:db8::/32';
    return { ok: false, message: `'${text}' is not an IP address or CIDR`, hint };
  }
  const bits = BITS[family];
  let prefix = bits;
  if (prefixPart !== undefined) {
    if (!/^(0|[1-9]\d{0,2})$/.test(prefixPart) || Number(prefixPart) > bits) {
      return {
        ok: false,
        message: `'${text}' has an invalid prefix length '/${prefixPart}'`,
        hint: `an ${family === 'ipv4' ? 'IPv4' : 'IPv6'} prefix is 0 to ${bits}`,
      };
    }
    prefix = Number(prefixPart);
  }
  const hostMask = (1n << BigInt(bits - prefix)) - 1n;
  if ((value & hostMask) !== 0n) {
    const network = formatCidr({ family, base: value & ~hostMask, prefix });
    const host = `${fromBigInt(value, family)}/${bits}`;
    return {
      ok: false,
      message: `'${text}' has host bits set`,
      hint: `write the network '${network}', or the single host '${host}'`,
    };
  }
  return { ok: true, cidr: { family, base: value, prefix } };
}

export function formatCidr(c: Cidr): string {
  return `${fromBigInt(c.base, c.family)}/${c.prefix}`;
}

export function cidrRange(c: Cidr): AddrRange {
  const size = 1n << BigInt(BITS[c.family] - c.prefix);
  return { lo: c.base, hi: c.base + size - 1n };
}

/** Sorted, merged (overlapping and adjacent joined) ranges. */
export function mergeRanges(ranges: AddrRange[]): AddrRange[] {
  const sorted = [...ranges].sort((a, b) => (a.lo < b.lo ? -1 : a.lo > b.lo ? 1 : 0));
  const out: AddrRange[] = [];
  for (const r of sorted) {
    const last = out[out.length - 1];
    if (last && r.lo <= last.hi + 1n) {
      if (r.hi > last.hi) last.hi = r.hi;
    } else {
      out.push({ lo: r.lo, hi: r.hi });
    }
  }
  return out;
}

/** The minimal list of CIDR blocks that covers exactly the range. */
export function rangeToCidrs(r: AddrRange, family: Family): Cidr[] {
  const bits = BITS[family];
  // Common case: the range is one aligned block (a CIDR that merged with nothing).
  const size = r.hi - r.lo + 1n;
  if ((size & (size - 1n)) === 0n && (r.lo & (size - 1n)) === 0n) return [{ family, base: r.lo, prefix: bits - (size.toString(2).length - 1) }];
  const out: Cidr[] = [];
  let lo = r.lo;
  while (lo <= r.hi) {
    // Largest block aligned at lo that does not pass hi.
    let size = bits;
    while (size > 0) {
      const block = 1n << BigInt(bits - size + 1);
      if ((lo & (block - 1n)) !== 0n || lo + block - 1n > r.hi) break;
      size--;
    }
    out.push({ family, base: lo, prefix: size });
    lo += 1n << BigInt(bits - size);
  }
  return out;
}

/** Canonical form of a set of blocks of one family: minimal sorted CIDRs. */
export function normalizeCidrs(cidrs: Cidr[], family: Family): Cidr[] {
  return mergeRanges(cidrs.filter((c) => c.family === family).map(cidrRange)).flatMap((r) => rangeToCidrs(r, family));
}

const formatted = new WeakMap<Cidr, string>();

/** A host without /32 or /128, else CIDR; cached (every backend prints every set). */
export function formatAddress(c: Cidr): string {
  let s = formatted.get(c);
  if (s === undefined) {
    s = c.prefix === BITS[c.family] ? fromBigInt(c.base, c.family) : formatCidr(c);
    formatted.set(c, s);
  }
  return s;
}

export function containsAddress(ranges: AddrRange[], v: bigint): boolean {
  return ranges.some((r) => r.lo <= v && v <= r.hi);
}

/** a minus b, both sorted and merged. */
export function subtractRanges(a: AddrRange[], b: AddrRange[]): AddrRange[] {
  const out: AddrRange[] = [];
  for (const r of a) {
    let lo = r.lo;
    for (const s of b) {
      if (s.hi < lo || s.lo > r.hi) continue;
      if (s.lo > lo) out.push({ lo, hi: s.lo - 1n });
      lo = s.hi + 1n;
      if (lo > r.hi) break;
    }
    if (lo <= r.hi) out.push({ lo, hi: r.hi });
  }
  return out;
}

/** a intersected with b, both sorted and merged. */
export function intersectRanges(a: AddrRange[], b: AddrRange[]): AddrRange[] {
  const out: AddrRange[] = [];
  let i = 0;
  let j = 0;
  while (i < a.length && j < b.length) {
    const lo = a[i].lo > b[j].lo ? a[i].lo : b[j].lo;
    const hi = a[i].hi < b[j].hi ? a[i].hi : b[j].hi;
    if (lo <= hi) out.push({ lo, hi });
    if (a[i].hi < b[j].hi) i++;
    else j++;
  }
  return out;
}

export function rangesToStrings(ranges: AddrRange[], family: Family): string[] {
  return ranges.flatMap((r) => rangeToCidrs(r, family)).map(formatCidr);
}

export const FULL_RANGE: Record<Family, AddrRange> = {
  ipv4: { lo: 0n, hi: (1n << 32n) - 1n },
  ipv6: { lo: 0n, hi: (1n << 128n) - 1n },
};
