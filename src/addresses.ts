// Address parsing and the set arithmetic the IR needs: every
// address set is normalized to its minimal sorted list of CIDRs, so the same
// set of addresses, however typed, prints the same bytes.

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
 * without leading zeros (which some tools read as octal). The one rule for
 * every IPv4 text, alone or inside an IPv6 address. */
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

const HEX_GROUP = /^[0-9A-Fa-f]{1,4}$/;

/** RFC 4291 text form: eight groups of 1-4 hex digits, one "::" for a run
 * of zero groups, optionally ending in a dotted quad (::ffff:192.0.2.1)
 * read by parseIPv4's rules. No zone index (%eth0). Written here rather
 * than taken from a library: ipaddr.js reads "::ffff:0x0a.0.0.1" and
 * "::010.0.0.1" (as ::ffff:10.0.0.1, a different address). */
function parseIPv6(text: string): bigint | undefined {
  if (!text.includes(':') || !/^[0-9A-Fa-f:.]+$/.test(text)) return undefined;
  let hex = text;
  let tail: bigint[] = [];
  const lastColon = text.lastIndexOf(':');
  if (text.includes('.', lastColon)) {
    const v4 = parseIPv4(text.slice(lastColon + 1));
    if (v4 === undefined) return undefined;
    tail = [v4 >> 16n, v4 & 0xffffn];
    hex = text.slice(0, lastColon + 1);
    // "1:2:3:4:5:6:" + quad: the colon belonged to the quad; "::" + quad keeps its "::".
    if (!hex.endsWith('::')) hex = hex.slice(0, -1);
  }
  if (hex.includes('.')) return undefined;
  const groupsOf = (s: string): bigint[] | undefined => {
    if (s === '') return [];
    const parts = s.split(':');
    if (!parts.every((p) => HEX_GROUP.test(p))) return undefined;
    return parts.map((p) => BigInt(`0x${p}`));
  };
  const halves = hex.split('::');
  let groups: bigint[];
  if (halves.length > 2) return undefined;
  if (halves.length === 2) {
    const left = groupsOf(halves[0]);
    const right = groupsOf(halves[1]);
    if (!left || !right) return undefined;
    const zeros = 8 - left.length - right.length - tail.length;
    // "::" stands for at least one zero group.
    if (zeros < 1) return undefined;
    groups = [...left, ...Array<bigint>(zeros).fill(0n), ...right, ...tail];
  } else {
    const all = groupsOf(hex);
    if (!all) return undefined;
    groups = [...all, ...tail];
    if (groups.length !== 8) return undefined;
  }
  const value = groups.reduce((v, g) => (v << 16n) | g, 0n);
  // ::a.b.c.d, the IPv4-compatible form RFC 4291 deprecates: what was meant
  // is a.b.c.d or ::ffff:a.b.c.d, not this address.
  if (tail.length && value >> 32n === 0n) return undefined;
  return value;
}

/** Why a text is not an address, as specific as the text allows. */
function addressHint(addr: string): string {
  if (addr.includes('%')) return 'zone indices (%eth0) have no meaning in a firewall rule; drop them';
  const lastColon = addr.lastIndexOf(':');
  const inV6 = lastColon >= 0;
  const quad = addr.slice(lastColon + 1);
  const where = inV6 ? `the IPv4 part '${quad}' of an IPv6 address` : 'an IPv4 address';
  if (inV6 && !quad.includes('.')) return 'expected an IPv6 address: 8 groups of 1-4 hex digits, one "::" for a run of zero groups, e.g. 2001:db8::1';
  if (inV6 && parseIPv4(quad) !== undefined) {
    if (/^[0:]*$/.test(addr.slice(0, lastColon + 1))) return `'${addr}' is an IPv4-compatible IPv6 address (deprecated by RFC 4291; no host uses it): write ${quad} for the IPv4 host, or ::ffff:${quad} for its IPv4-mapped form`;
    return 'an IPv6 address with an IPv4 tail has at most 6 hex groups before it, e.g. ::ffff:192.0.2.1 or 64:ff9b::192.0.2.1';
  }
  if (/(^|\.)0[xX]/.test(quad)) return `${where} must be written in decimal: hex parts (0x..) are read differently by different tools`;
  if (/^\d+(\.\d+){3}$/.test(quad)) {
    if (/(^|\.)0\d/.test(quad)) {
      const fixed = addr.slice(0, lastColon + 1) + quad.split('.').map((p) => String(Number(p))).join('.');
      return `leading zeros are read as octal by some tools (010 is 8): write ${where} in decimal without them, e.g. '${fixed}' if decimal was meant`;
    }
    return `${where} must have four decimal parts 0-255`;
  }
  if (/^\d+(\.\d+){0,2}$/.test(quad)) return `write ${where} as four decimal parts, e.g. ${inV6 ? '::ffff:192.0.2.1' : '192.0.2.1'}`;
  return inV6 ? `${where} must have four decimal parts 0-255, e.g. ::ffff:192.0.2.1` : 'expected an IPv4 or IPv6 address, optionally with /PREFIX, e.g. 10.0.0.0/24 or 2001:db8::/32';
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
  else return { ok: false, message: `'${text}' is not an IP address or CIDR`, hint: addressHint(addrPart) };
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

/** a minus b, both sorted and merged; linear in |a| + |b| (audits subtract
 * sets of 10,000 nodes many times). */
export function subtractRanges(a: AddrRange[], b: AddrRange[]): AddrRange[] {
  const out: AddrRange[] = [];
  let j = 0;
  for (const r of a) {
    // b is sorted: ranges wholly below r are below every later r too.
    while (j < b.length && b[j].hi < r.lo) j++;
    let lo = r.lo;
    for (let k = j; k < b.length && b[k].lo <= r.hi; k++) {
      const s = b[k];
      if (s.lo > lo) out.push({ lo, hi: s.lo - 1n });
      if (s.hi + 1n > lo) lo = s.hi + 1n;
      if (lo > r.hi) break;
    }
    if (lo <= r.hi) out.push({ lo, hi: r.hi });
  }
  return out;
}

/** a united with b, both sorted and merged: sorted and merged, linear. */
export function unionRanges(a: AddrRange[], b: AddrRange[]): AddrRange[] {
  if (!a.length) return b;
  if (!b.length) return a;
  const out: AddrRange[] = [];
  let i = 0;
  let j = 0;
  while (i < a.length || j < b.length) {
    const r = j >= b.length || (i < a.length && a[i].lo <= b[j].lo) ? a[i++] : b[j++];
    const last = out[out.length - 1];
    if (last && r.lo <= last.hi + 1n) {
      if (r.hi > last.hi) out[out.length - 1] = { lo: last.lo, hi: r.hi };
    } else out.push({ lo: r.lo, hi: r.hi });
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
