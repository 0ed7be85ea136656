// What the compiler knows about transports, independent of any target:
// IP protocol numbers, which families carry them, whether they have ports,
// and the ICMP/ICMPv6 type names (nftables' words; iptables and firewalld
// use the same ones). Each target maps these to its own syntax.
//
// How a rule's `ports` read per kind of transport (src/ir/types.ts):
// - port transports (tcp, udp, sctp): destination ports 1-65535;
// - ICMP (icmp, icmpv6): message types 0-255; [0-255] means any type;
// - portless IP protocols (esp, ah, gre, ipip, vrrp): the single pseudo
//   range [0-0], "the whole protocol", so the flow machinery (merging,
//   segments, diff) treats every transport alike.

import type { Family } from './addresses';
import type { PortRange } from './ports';

export const TRANSPORTS = ['tcp', 'udp', 'sctp', 'icmp', 'icmpv6', 'esp', 'ah', 'gre', 'ipip', 'vrrp'] as const;
export type Transport = (typeof TRANSPORTS)[number];

export type TransportKind = 'ports' | 'icmp' | 'portless';

interface TransportFacts {
  /** IANA IP protocol number (IPv6: next header). */
  number: number;
  kind: TransportKind;
  /** Families that carry it. */
  families: readonly Family[];
  /** What people call it in documents and in the tools. */
  title: string;
}

const BOTH: readonly Family[] = ['ipv4', 'ipv6'];

export const TRANSPORT_FACTS: Record<Transport, TransportFacts> = {
  tcp: { number: 6, kind: 'ports', families: BOTH, title: 'TCP' },
  udp: { number: 17, kind: 'ports', families: BOTH, title: 'UDP' },
  sctp: { number: 132, kind: 'ports', families: BOTH, title: 'SCTP' },
  icmp: { number: 1, kind: 'icmp', families: ['ipv4'], title: 'ICMP' },
  icmpv6: { number: 58, kind: 'icmp', families: ['ipv6'], title: 'ICMPv6' },
  esp: { number: 50, kind: 'portless', families: BOTH, title: 'ESP' },
  ah: { number: 51, kind: 'portless', families: BOTH, title: 'AH' },
  gre: { number: 47, kind: 'portless', families: BOTH, title: 'GRE' },
  // IP-in-IP (IPENCAP, protocol 4): what Linux's ipip tunnels and Calico's
  // IPIP mode send. Protocol 94 (also named "ipip" in /etc/protocols) is
  // a different, obsolete one; targets render the number to avoid it.
  ipip: { number: 4, kind: 'portless', families: BOTH, title: 'IP-in-IP' },
  vrrp: { number: 112, kind: 'portless', families: BOTH, title: 'VRRP' },
};

export const transportKind = (t: Transport): TransportKind => TRANSPORT_FACTS[t].kind;
export const hasPorts = (t: Transport): boolean => TRANSPORT_FACTS[t].kind === 'ports';
export const isIcmp = (t: Transport): boolean => TRANSPORT_FACTS[t].kind === 'icmp';
export const isPortless = (t: Transport): boolean => TRANSPORT_FACTS[t].kind === 'portless';
export const carries = (t: Transport, family: Family): boolean => TRANSPORT_FACTS[t].families.includes(family);

/** The `ports` of a portless rule: the whole protocol. */
export const PORTLESS: readonly PortRange[] = Object.freeze([Object.freeze({ lo: 0, hi: 0 })]);
/** The `ports` of an ICMP rule that allows every type. */
export const ANY_ICMP_TYPE: readonly PortRange[] = Object.freeze([Object.freeze({ lo: 0, hi: 255 })]);
/** The whole match space of a transport: every port, type, or the protocol. */
export function fullSpace(t: Transport): PortRange {
  const kind = transportKind(t);
  return kind === 'ports' ? { lo: 1, hi: 65535 } : kind === 'icmp' ? { lo: 0, hi: 255 } : { lo: 0, hi: 0 };
}
export function isFullSpace(t: Transport, ranges: readonly PortRange[]): boolean {
  const all = fullSpace(t);
  return ranges.length === 1 && ranges[0].lo === all.lo && ranges[0].hi === all.hi;
}

/** Names (and common spellings) a catalog or profile may use. */
const ALIASES: Record<string, Transport> = {
  'ipv6-icmp': 'icmpv6',
  'icmp6': 'icmpv6',
  ipencap: 'ipip',
  'ip-in-ip': 'ipip',
};

/** Reads a transport as written: a name (any case, aliases allowed) or an
 * IP protocol number 0-255. Undefined when it is not one portcullis knows. */
export function parseTransport(text: string | number): Transport | undefined {
  const s = String(text).trim().toLowerCase();
  if (/^[0-9]{1,3}$/.test(s)) {
    const n = Number(s);
    return TRANSPORTS.find((t) => TRANSPORT_FACTS[t].number === n);
  }
  if ((TRANSPORTS as readonly string[]).includes(s)) return s as Transport;
  return ALIASES[s];
}

/** ICMP type names per family (nftables' names), type number -> name. */
export const ICMP_TYPE_NAMES: Record<'icmp' | 'icmpv6', Record<number, string>> = {
  icmp: {
    0: 'echo-reply',
    3: 'destination-unreachable',
    4: 'source-quench',
    5: 'redirect',
    8: 'echo-request',
    9: 'router-advertisement',
    10: 'router-solicitation',
    11: 'time-exceeded',
    12: 'parameter-problem',
    13: 'timestamp-request',
    14: 'timestamp-reply',
    15: 'info-request',
    16: 'info-reply',
    17: 'address-mask-request',
    18: 'address-mask-reply',
  },
  icmpv6: {
    1: 'destination-unreachable',
    2: 'packet-too-big',
    3: 'time-exceeded',
    4: 'parameter-problem',
    128: 'echo-request',
    129: 'echo-reply',
    130: 'mld-listener-query',
    131: 'mld-listener-report',
    132: 'mld-listener-done',
    133: 'nd-router-solicit',
    134: 'nd-router-advert',
    135: 'nd-neighbor-solicit',
    136: 'nd-neighbor-advert',
    137: 'nd-redirect',
    138: 'router-renumbering',
    141: 'ind-neighbor-solicit',
    142: 'ind-neighbor-advert',
    143: 'mld2-listener-report',
  },
};

/** An ICMP type as written (name or number 0-255) -> its number for the
 * given ICMP transport; undefined when unknown. */
export function parseIcmpType(transport: 'icmp' | 'icmpv6', text: string | number): number | undefined {
  const s = String(text).trim().toLowerCase();
  if (/^[0-9]{1,3}$/.test(s)) return Number(s) <= 255 ? Number(s) : undefined;
  const names = ICMP_TYPE_NAMES[transport];
  for (const [n, name] of Object.entries(names)) if (name === s) return Number(n);
  // Spellings of the older tools.
  const aliases: Record<string, string> = { 'ping': 'echo-request', 'pong': 'echo-reply', 'mld-listener-reduction': 'mld-listener-done', 'neighbour-solicitation': 'nd-neighbor-solicit', 'neighbour-advertisement': 'nd-neighbor-advert', 'router-solicitation': transport === 'icmpv6' ? 'nd-router-solicit' : 'router-solicitation', 'router-advertisement': transport === 'icmpv6' ? 'nd-router-advert' : 'router-advertisement' };
  const alias = aliases[s];
  if (alias && alias !== s) return parseIcmpType(transport, alias);
  return undefined;
}

export function icmpTypeName(transport: 'icmp' | 'icmpv6', type: number): string | undefined {
  return ICMP_TYPE_NAMES[transport][type];
}

/** "tcp 22,80", "icmp echo-request", "esp": how tools print a rule's match. */
export function describeMatch(t: Transport, ranges: readonly PortRange[]): string {
  const kind = transportKind(t);
  if (kind === 'portless') return t;
  if (isFullSpace(t, ranges)) return kind === 'icmp' ? `${t} any type` : `${t} any port`;
  const items = ranges.map((r) => (r.lo === r.hi ? String(r.lo) : `${r.lo}-${r.hi}`));
  if (kind === 'icmp') {
    const named = ranges.flatMap((r) => Array.from({ length: r.hi - r.lo + 1 }, (_, i) => icmpTypeName(t as 'icmp' | 'icmpv6', r.lo + i) ?? String(r.lo + i)));
    return `${t} ${named.length <= 8 ? named.join(',') : items.join(',')}`;
  }
  return `${t} ${items.join(',')}`;
}
