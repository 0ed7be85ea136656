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

/** The formatted text of a block, kept on the block itself under a symbol
 * (invisible to JSON, Object.keys and deep equality): every backend prints
 * every set, and parsing IPv4 knows the text already. */
const TEXT = Symbol('text');
type WithText = Cidr & { [TEXT]?: string };

/** 2^(bits - prefix), the size of a block, per family and prefix: made once
 * (BigInt shifts per address are what large sets spend their time on). */
const BLOCK_SIZE: Record<Family, bigint[]> = {
  ipv4: Array.from({ length: 33 }, (_, p) => 1n << BigInt(32 - p)),
  ipv6: Array.from({ length: 129 }, (_, p) => 1n << BigInt(128 - p)),
};

/** 2^(32 - prefix) as a number, per IPv4 prefix. */
const IPV4_BLOCK = Array.from({ length: 33 }, (_, p) => 2 ** (32 - p));

function fromBigInt(v: bigint, family: Family): string {
  if (family === 'ipv4') {
    const n = Number(v);
    return `${Math.floor(n / 16777216) & 255}.${(n >>> 16) & 255}.${(n >>> 8) & 255}.${n & 255}`;
  }
  const hex = v.toString(16).padStart(32, '0');
  const groups: number[] = [];
  for (let g = 0; g < 32; g += 4) groups.push(parseInt(hex.slice(g, g + 4), 16));
  return ipv6Text(groups);
}

/** RFC 5952 text of eight 16-bit groups: lower case, no leading zeros, the
 * longest run (>= 2, the first of equal ones) of zero groups as "::". */
function ipv6Text(groups: readonly number[]): string {
  let best = -1;
  let bestLen = 1;
  for (let i = 0; i < 8; ) {
    if (groups[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && groups[j] === 0) j++;
    if (j - i > bestLen) {
      best = i;
      bestLen = j - i;
    }
    i = j;
  }
  const hex = (from: number, to: number) => {
    let out = '';
    for (let i = from; i < to; i++) out += (i > from ? ':' : '') + groups[i].toString(16);
    return out;
  };
  return best < 0 ? hex(0, 8) : `${hex(0, best)}::${hex(best + bestLen, 8)}`;
}

/** Dotted quad text[start, end) to a number; undefined unless four decimal
 * parts 0-255 without leading zeros (which some tools read as octal). The
 * one rule for every IPv4 text, alone or inside an IPv6 address. */
function ipv4Value(text: string, start: number, end: number): number | undefined {
  let v = 0;
  let i = start;
  for (let part = 0; part < 4; part++) {
    if (part > 0) {
      if (text.charCodeAt(i) !== 46 /* . */) return undefined;
      i++;
    }
    const first = i;
    let n = 0;
    for (let c = text.charCodeAt(i); i < end && c >= 48 && c <= 57; c = text.charCodeAt(++i)) {
      if (i - first === 3) return undefined;
      n = n * 10 + (c - 48);
    }
    if (i === first || (i - first > 1 && text.charCodeAt(first) === 48) || n > 255) return undefined;
    v = v * 256 + n;
  }
  return i === end ? v : undefined;
}

function parseIPv4(text: string): bigint | undefined {
  const v = ipv4Value(text, 0, text.length);
  return v === undefined ? undefined : BigInt(v);
}

/** Hex digit value of a character code, or -1. */
function hexDigit(c: number): number {
  if (c >= 48 && c <= 57) return c - 48;
  const l = c | 32;
  return l >= 97 && l <= 102 ? l - 87 : -1;
}

/** Groups "h:h:h" of text[start, end) (1-4 hex digits each) appended to
 * out; false if malformed. An empty span is no groups. */
function hexGroups(text: string, start: number, end: number, out: number[]): boolean {
  if (start === end) return true;
  let i = start;
  for (;;) {
    const first = i;
    let g = 0;
    for (; i < end; i++) {
      const d = hexDigit(text.charCodeAt(i));
      if (d < 0) break;
      g = g * 16 + d;
    }
    if (i === first || i - first > 4) return false;
    out.push(g);
    if (i === end) return true;
    if (text.charCodeAt(i) !== 58 /* : */) return false;
    i++;
  }
}

/** RFC 4291 text form: eight groups of 1-4 hex digits, one "::" for a run
 * of zero groups, optionally ending in a dotted quad (::ffff:192.0.2.1)
 * read by parseIPv4's rules. No zone index (%eth0). Written here rather
 * than taken from a library: ipaddr.js reads "::ffff:0x0a.0.0.1" and
 * "::010.0.0.1" (as ::ffff:10.0.0.1, a different address). */
function ipv6Groups(text: string): number[] | undefined {
  const lastColon = text.lastIndexOf(':');
  if (lastColon < 0) return undefined;
  let end = text.length;
  let tail: number | undefined;
  if (text.includes('.', lastColon)) {
    tail = ipv4Value(text, lastColon + 1, text.length);
    if (tail === undefined) return undefined;
    // "1:2:3:4:5:6:" + quad: the colon belonged to the quad; "::" + quad keeps its "::".
    end = lastColon > 0 && text.charCodeAt(lastColon - 1) === 58 ? lastColon + 1 : lastColon;
  }
  const gap = text.indexOf('::');
  if (gap >= 0 && gap + 2 <= end && text.indexOf('::', gap + 1) >= 0 && text.indexOf('::', gap + 1) + 2 <= end) return undefined;
  const groups: number[] = [];
  if (gap >= 0 && gap + 2 <= end) {
    const right: number[] = [];
    if (!hexGroups(text, 0, gap, groups) || !hexGroups(text, gap + 2, end, right)) return undefined;
    const zeros = 8 - groups.length - right.length - (tail === undefined ? 0 : 2);
    // "::" stands for at least one zero group.
    if (zeros < 1) return undefined;
    for (let z = 0; z < zeros; z++) groups.push(0);
    for (const g of right) groups.push(g);
  } else if (!hexGroups(text, 0, end, groups)) return undefined;
  if (tail !== undefined) groups.push(Math.floor(tail / 65536), tail & 0xffff);
  if (groups.length !== 8) return undefined;
  // ::a.b.c.d, the IPv4-compatible form RFC 4291 deprecates: what was meant
  // is a.b.c.d or ::ffff:a.b.c.d, not this address.
  if (tail !== undefined && groups[0] === 0 && groups[1] === 0 && groups[2] === 0 && groups[3] === 0 && groups[4] === 0 && groups[5] === 0) return undefined;
  return groups;
}

/** The address of eight groups: four 32-bit words (exact as numbers), then one BigInt each. */
function groupsValue(groups: readonly number[]): bigint {
  const word = (i: number) => BigInt(groups[i] * 65536 + groups[i + 1]);
  return (word(0) << 96n) | (word(2) << 64n) | (word(4) << 32n) | word(6);
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

/** A prefix length as typed: decimal without leading zeros, or undefined. */
function prefixValue(text: string): number | undefined {
  if (text.length < 1 || text.length > 3 || (text.length > 1 && text.charCodeAt(0) === 48)) return undefined;
  let n = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c < 48 || c > 57) return undefined;
    n = n * 10 + (c - 48);
  }
  return n;
}

export function parseAddress(text: string): ParseResult {
  const r = parseCidr(text);
  return 'ok' in r ? r : { ok: true, cidr: r };
}

export type ParseFailure = Extract<ParseResult, { ok: false }>;

/** The block a text names, or why it names none: parseAddress without an
 * object around each success (profiles list tens of thousands). */
export function parseCidr(text: string): Cidr | ParseFailure {
  const trimmed = text.trim();
  const slash = trimmed.indexOf('/');
  const addrPart = slash >= 0 ? trimmed.slice(0, slash) : trimmed;
  const prefixPart = slash >= 0 ? trimmed.slice(slash + 1) : undefined;
  const v4 = ipv4Value(addrPart, 0, addrPart.length);
  let family: Family;
  let value: bigint | undefined;
  let groups: number[] | undefined;
  if (v4 !== undefined) family = 'ipv4';
  else if ((groups = ipv6Groups(addrPart)) !== undefined) {
    family = 'ipv6';
    value = groupsValue(groups);
  } else return { ok: false, message: `'${text}' is not an IP address or CIDR`, hint: addressHint(addrPart) };
  const bits = BITS[family];
  let prefix = bits;
  if (prefixPart !== undefined) {
    const p = prefixValue(prefixPart);
    if (p === undefined || p > bits) {
      return {
        ok: false,
        message: `'${text}' has an invalid prefix length '/${prefixPart}'`,
        hint: `an ${family === 'ipv4' ? 'IPv4' : 'IPv6'} prefix is 0 to ${bits}`,
      };
    }
    prefix = p;
  }
  // Host bits: in plain numbers for IPv4, and not at all for a host.
  const hostBits = prefix === bits ? false : v4 !== undefined ? v4 % IPV4_BLOCK[prefix] !== 0 : (value! & (BLOCK_SIZE.ipv6[prefix] - 1n)) !== 0n;
  if (value === undefined) value = BigInt(v4!);
  if (hostBits) {
    const hostMask = BLOCK_SIZE[family][prefix] - 1n;
    const network = formatCidr({ family, base: value & ~hostMask, prefix });
    const host = `${fromBigInt(value, family)}/${bits}`;
    return {
      ok: false,
      message: `'${text}' has host bits set`,
      hint: `write the network '${network}', or the single host '${host}'`,
    };
  }
  // A parsed IPv4 text is canonical already (decimal, no leading zeros, and
  // so is its prefix); an IPv6 one is made from its groups.
  let canonical: string;
  if (family === 'ipv4') canonical = prefix === 32 ? addrPart : trimmed;
  else {
    const text6 = ipv6Text(groups!);
    canonical = prefix === 128 ? text6 : `${text6}/${prefix}`;
  }
  // The text in the literal: added afterwards, it would cost each block a
  // separate property store (about 30 bytes more per address).
  const cidr: WithText = { family, base: value, prefix, [TEXT]: canonical };
  return cidr;
}

export function formatCidr(c: Cidr): string {
  return `${fromBigInt(c.base, c.family)}/${c.prefix}`;
}

export function cidrRange(c: Cidr): AddrRange {
  return { lo: c.base, hi: c.base + BLOCK_SIZE[c.family][c.prefix] - 1n };
}

const byLo = (a: AddrRange, b: AddrRange) => (a.lo < b.lo ? -1 : a.lo > b.lo ? 1 : 0);

/** Sorted, merged (overlapping and adjacent joined) ranges. */
export function mergeRanges(ranges: AddrRange[]): AddrRange[] {
  const sorted = [...ranges].sort(byLo);
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

/** Number of bits of v > 0. */
function bitLength(v: bigint): number {
  return v.toString(2).length;
}

/** The minimal list of CIDR blocks that covers exactly the range. */
export function rangeToCidrs(r: AddrRange, family: Family): Cidr[] {
  const bits = BITS[family];
  const sizes = BLOCK_SIZE[family];
  // Common case: the range is one aligned block (a CIDR that merged with nothing).
  const size = r.hi - r.lo + 1n;
  if ((size & (size - 1n)) === 0n && (r.lo & (size - 1n)) === 0n) return [{ family, base: r.lo, prefix: bits - (bitLength(size) - 1) }];
  const out: Cidr[] = [];
  let lo = r.lo;
  while (lo <= r.hi) {
    // Largest block aligned at lo that does not pass hi.
    let prefix = bits;
    while (prefix > 0) {
      const block = sizes[prefix - 1];
      if ((lo & (block - 1n)) !== 0n || lo + block - 1n > r.hi) break;
      prefix--;
    }
    out.push({ family, base: lo, prefix });
    lo += sizes[prefix];
  }
  return out;
}

/** Canonical form of a set of blocks of one family: minimal sorted CIDRs.
 * A block that overlaps or touches no other is its own canonical form and
 * is kept as the same object (its formatted text is cached on it). */
export function normalizeCidrs(cidrs: Cidr[], family: Family): Cidr[] {
  const mine = cidrs.filter((c) => c.family === family);
  return family === 'ipv4' ? normalizeIPv4(mine) : normalizeIPv6(mine);
}

/** A run of blocks that overlap or touch: the merged range's minimal
 * blocks; a block alone (`single`) is kept as it is, if aligned (as every
 * parsed one is). */
function emitRun(out: Cidr[], single: Cidr | undefined, lo: bigint, hi: bigint, family: Family): void {
  if (single && (single.base & (BLOCK_SIZE[family][single.prefix] - 1n)) === 0n) out.push(single);
  else for (const b of rangeToCidrs({ lo, hi }, family)) out.push(b);
}

/** IPv4 in plain numbers (exact below 2^53): no BigInt arithmetic per
 * block, and sorted as one typed array of base * 64 + prefix (no comparator
 * calls). Equal keys are equal blocks: either object will do. */
function normalizeIPv4(mine: Cidr[]): Cidr[] {
  const n = mine.length;
  const keys = new Float64Array(n);
  const byKey = new Map<number, Cidr>();
  for (let i = 0; i < n; i++) {
    const c = mine[i];
    const key = Number(c.base) * 64 + c.prefix;
    keys[i] = key;
    byKey.set(key, c);
  }
  keys.sort();
  const out: Cidr[] = [];
  let first = 0; // key of the run's first block
  let count = 0; // distinct blocks in the run
  let runLo = 0;
  let runEnd = 0; // exclusive
  const flush = () => {
    // A block alone and aligned (every parsed one is) is its own canonical
    // form: told in numbers, with no BigInt made per block.
    if (count === 1 && runLo % (runEnd - runLo) === 0) out.push(byKey.get(first)!);
    else emitRun(out, undefined, BigInt(runLo), BigInt(runEnd - 1), 'ipv4');
  };
  for (let i = 0; i < n; i++) {
    const key = keys[i];
    if (i > 0 && key === keys[i - 1]) continue;
    const prefix = key % 64;
    const base = (key - prefix) / 64;
    const end = base + IPV4_BLOCK[prefix];
    if (count && base <= runEnd) {
      count++;
      if (end > runEnd) runEnd = end;
      continue;
    }
    if (count) flush();
    first = key;
    count = 1;
    runLo = base;
    runEnd = end;
  }
  if (count) flush();
  return out;
}

function normalizeIPv6(mine: Cidr[]): Cidr[] {
  const sizes = BLOCK_SIZE.ipv6;
  // Sorted by the top 64 bits as a number first (rounding keeps the order
  // where it is strict), BigInt only to break ties.
  const n = mine.length;
  const top: number[] = new Array(n);
  const order: number[] = new Array(n);
  for (let i = 0; i < n; i++) {
    top[i] = Number(mine[i].base >> 64n);
    order[i] = i;
  }
  order.sort((a, b) => {
    const x = mine[a].base;
    const y = mine[b].base;
    return top[a] - top[b] || (x < y ? -1 : x > y ? 1 : mine[a].prefix - mine[b].prefix);
  });
  const sorted = order.map((i) => mine[i]);
  const out: Cidr[] = [];
  let first = 0;
  let runLo = 0n;
  let runEnd = 0n; // exclusive
  for (let i = 0; i < n; i++) {
    const c = sorted[i];
    const end = c.base + sizes[c.prefix];
    if (i > first && c.base <= runEnd) {
      if (end > runEnd) runEnd = end;
      continue;
    }
    if (i > first) emitRun(out, i - first === 1 ? sorted[first] : undefined, runLo, runEnd - 1n, 'ipv6');
    first = i;
    runLo = c.base;
    runEnd = end;
  }
  if (n) emitRun(out, n - first === 1 ? sorted[first] : undefined, runLo, runEnd - 1n, 'ipv6');
  return out;
}

/** A host without /32 or /128, else CIDR; cached (every backend prints every set). */
export function formatAddress(c: Cidr): string {
  let s = (c as WithText)[TEXT];
  if (s === undefined) {
    s = c.prefix === BITS[c.family] ? fromBigInt(c.base, c.family) : formatCidr(c);
    (c as WithText)[TEXT] = s;
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
