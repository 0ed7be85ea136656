// Reading a vendor table's cells: Source/Destination phrases -> groups
// through a phrase table, Port cells -> ports (or a choice bound to a param),
// Protocol cells -> transport. Shared by `catalog import` (fresh reading of a
// row) and `lint` (PC102: which catalog rows were interpreted beyond what
// their cells say).

import { Cidr, parseAddress } from '../addresses';
import { PortRange } from '../ports';
import { parseIcmpType, parseTransport, Transport, TRANSPORTS } from '../transports';

/** The default phrase table: the phrases of the vendor document, by their
 * normalized form (see normalizePhrase), to the catalog's group names. */
export const DEFAULT_PHRASES: Readonly<Record<string, readonly string[]>> = {
  'administrators ip addresses': ['admins'],
  'administrator ip addresses': ['admins'],
  'admin ip addresses': ['admins'],
  'all users ip addresses': ['users'],
  'all nodes': ['nodes'],
  'thoughtspot support': ['support'],
  'smtp relay (provided by customer)': ['smtp_relay'],
  'ldap server (provided by customer)': ['ldap_server'],
  // "Self, Control plane": the host itself reaches its ports over loopback,
  // which every target allows; the part adds no group.
  self: [],
};

/** Case, surrounding and repeated whitespace do not matter. */
export function normalizePhrase(s: string): string {
  return s.trim().replace(/\s+/g, ' ').toLowerCase();
}

export type PhraseTable = Map<string, string[]>;

export function phraseTable(extra: Iterable<[string, string[]]> = []): PhraseTable {
  const t: PhraseTable = new Map(Object.entries(DEFAULT_PHRASES).map(([k, v]) => [k, [...v]]));
  for (const [k, v] of extra) t.set(normalizePhrase(k), v);
  return t;
}

export interface PhrasePart {
  text: string;
  /** 0-based offset of the part in the cell text. */
  offset: number;
}

export interface PhraseReading {
  groups: string[];
  /** Parts the table has no group for. */
  unmapped: PhrasePart[];
  /** Parts that are addresses, not phrases (and that the table does not map). */
  addresses: (PhrasePart & { cidr: Cidr })[];
  /** Parts that are DNS names ("registry.example.com", "*.docker.io"):
   * a firewall matches addresses, so a person must give them. */
  hostnames: PhrasePart[];
  /** Whether the cell was read as several parts ("X and Y"). */
  compound: boolean;
}

/** A DNS name or wildcard with at least one dot and a letter in its last label. */
const HOSTNAME = /^(\*\.)?([a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z][a-z0-9-]{0,61}$/i;

/** A cell is looked up whole first; if the table does not know it, it is
 * split on ",", " and ", "&" and each part is looked up. */
export function readPhrase(cell: string, table: PhraseTable): PhraseReading {
  const whole = table.get(normalizePhrase(cell)) ?? table.get(normalizePhrase(cellValue(cell)));
  if (whole) return { groups: [...whole], unmapped: [], addresses: [], hostnames: [], compound: false };
  const parts: PhrasePart[] = [];
  // Offsets stay those of the cell as written, so a diagnostic points at the part.
  const sep = /\s*,\s*|\s+and\s+|\s*&\s*|\s*<br\s*\/?>\s*|\s*;\s*/gi;
  let last = 0;
  for (let m = sep.exec(cell); m; m = sep.exec(cell)) {
    parts.push({ text: cell.slice(last, m.index), offset: last });
    last = m.index + m[0].length;
  }
  parts.push({ text: cell.slice(last), offset: last });
  const out: PhraseReading = { groups: [], unmapped: [], addresses: [], hostnames: [], compound: parts.length > 1 };
  for (const p of parts) {
    const lead = p.text.length - p.text.trimStart().length;
    const part = { text: p.text.trim(), offset: p.offset + lead };
    if (!part.text) continue;
    const g = table.get(normalizePhrase(part.text)) ?? table.get(normalizePhrase(cellValue(part.text)));
    if (g) {
      for (const x of g) if (!out.groups.includes(x)) out.groups.push(x);
      continue;
    }
    const a = parseAddress(cellValue(part.text));
    if (a.ok) out.addresses.push({ ...part, cidr: a.cidr });
    else if (HOSTNAME.test(part.text.replace(/`/g, '')) || HOSTNAME.test(cellValue(part.text))) out.hostnames.push(part);
    else out.unmapped.push(part);
  }
  return out;
}

export type PortReading =
  | { kind: 'ports'; ranges: PortRange[] }
  /** "25 or 587": one port, chosen per site; a param, not two open ports. */
  | { kind: 'choice'; choices: number[] }
  | { kind: 'unreadable'; reason: string };

const valid = (n: number) => Number.isInteger(n) && n >= 1 && n <= 65535;

/** A cell's text without what pages add around values: footnote marks
 * (†, ‡, *, \*, superscripts, [1]), inline HTML (<br> is a list
 * separator, <sup>…</sup> a footnote), emphasis and code marks, entities. */
export function cellValue(cell: string): string {
  return cell
    .replace(/<sup>[^<]{0,20}<\/sup>/gi, '')
    .replace(/<br\s*\/?>/gi, ', ')
    .replace(/<[^>]{0,200}>/g, '')
    .replace(/&nbsp;|&#160;/gi, ' ')
    .replace(/&ndash;|&#8211;/gi, '-')
    .replace(/\{\{[^}]{0,200}\}\}|\{%[^%]{0,200}%\}/g, ' ')
    .replace(/\[\d{1,2}\]|\\\*|[*`_\u2020\u2021\u00a7\u00b9\u00b2\u00b3\u2070-\u2079]/g, '')
    .replace(/\s+/g, ' ')
    .replace(/^[\s,]+|[\s,]+$/g, '');
}

const RANGE = /^(\d{1,5})\s*(?:-|\u2013|\u2014|\.\.|:|\bto\b|\bthrough\b)\s*(\d{1,5})$/i;

/** A Port cell: one port ("22"), a range ("8000-8010", "20123 - 32768"), or
 * a list of those ("12202, 13301, 9200", one per <br>). A choice ("25 or
 * 587") is one port per site, a param; anything else ("20K+", "dynamic")
 * is not read as open ports. */
export function readPortCell(cell: string): PortReading {
  const t = cellValue(cell);
  if (/^\d{1,5}(?:\s*,\s*\d{1,5})*\s*,?\s*\bor\s+\d{1,5}$/i.test(t)) {
    const choices = (t.match(/\d{1,5}/g) ?? []).map(Number);
    if (choices.every(valid)) return { kind: 'choice', choices };
  }
  if (!t) return { kind: 'unreadable', reason: 'the Port cell is empty' };
  const off = /^(disabled|off|none|n\/a)\b/i.exec(t);
  if (off) return { kind: 'unreadable', reason: `'${off[1]}' by default: an optional port; gate it with a feature and give its port` };
  const parts = t.split(/\s*[,;]\s*|\s+and\s+|\s*&\s*|\s*\/\s*(?=\d)/i).filter(Boolean);
  const ranges: PortRange[] = [];
  for (const part of parts) {
    let m = /^(\d{1,5})$/.exec(part);
    if (m && valid(Number(m[1]))) {
      ranges.push({ lo: Number(m[1]), hi: Number(m[1]) });
      continue;
    }
    m = RANGE.exec(part);
    if (m && valid(Number(m[1])) && valid(Number(m[2])) && Number(m[1]) <= Number(m[2])) {
      ranges.push({ lo: Number(m[1]), hi: Number(m[2]) });
      continue;
    }
    if (/^\d+\s*[kK]\+?$/.test(part) || /\+$/.test(part)) return { kind: 'unreadable', reason: 'an open-ended range' };
    return { kind: 'unreadable', reason: parts.length > 1 ? `'${part}' in the list is not a port 1-65535 or a range LO-HI` : 'not a port 1-65535 or a range LO-HI' };
  }
  return { kind: 'ports', ranges };
}

/** Transports from the Protocol cell. Application protocols known to run
 * over TCP (the vendor document's own convention: HTTP, RPC, SSH, …) are
 * tcp; an explicit UDP or a protocol that runs only over UDP is udp; SCTP,
 * ICMP, ICMPv6 and the IP protocols portcullis compiles (ESP, AH, GRE,
 * IP-in-IP, VRRP, by name or as "IP protocol 50") are those; a list ("TCP/UDP",
 * "TCP and UDP", "UDP, ESP", "Both") is those transports. A protocol
 * portcullis cannot compile (IGMP, OSPF, …) is unsupported, anything else
 * unknown: never defaulted to tcp. */
export type TransportReading = { kind: 'ok'; transports: Transport[] } | { kind: 'unsupported'; name: string } | { kind: 'unknown' };

const UDP_ONLY = new Set(['udp', 'ntp', 'snmp', 'snmp trap', 'snmp traps', 'tftp', 'dhcp', 'dhcpv6', 'bootp', 'syslog', 'rmcp', 'rmcp+', 'ipmi', 'quic', 'vxlan', 'geneve', 'wireguard', 'statsd', 'mdns', 'ssdp', 'radius', 'netflow', 'ipfix', 'sflow', 'ike', 'isakmp', 'l2tp', 'rtp', 'rtcp', 'stun', 'coap', 'lldp']);
const TCP_APPLICATION = new Set([
  'tcp', 'http', 'https', 'http2', 'h2', 'grpc', 'grpcs', 'rpc', 'rest', 'ssh', 'scp', 'sftp', 'ftp', 'ftps', 'smtp', 'smtps', 'esmtp', 'submission', 'imap', 'imaps', 'pop3', 'pop3s',
  'postgres', 'postgresql', 'mysql', 'mariadb', 'odbc', 'jdbc', 'memcached', 'mem-cached', 'redis', 'mongodb', 'mongo', 'cassandra', 'cql', 'ldap', 'ldaps', 'tls', 'ssl', 'ws', 'wss',
  'websocket', 'websockets', 'thrift', 'jmx', 'rmi', 'amqp', 'amqps', 'mqtt', 'mqtts', 'kafka', 'zookeeper', 'etcd', 'rdp', 'vnc', 'telnet', 'winrm', 'bgp', 'iscsi', 'nfs over tcp',
  'elasticsearch', 'hdfs', 'rsync', 'git', 'smb', 'cifs', 'ipp', 'xmpp', 'irc', 'stomp', 'nats', 'prometheus', 'tcp/ip', 'https/tls', 'http/https',
]);
/** Spellings of the transports beyond src/transports.ts' own names and aliases. */
const TRANSPORT_WORDS: Record<string, Transport> = {
  icmpv4: 'icmp',
  ping: 'icmp',
  'ipsec esp': 'esp',
  'ipsec ah': 'ah',
  'ip in ip': 'ipip',
  ipinip: 'ipip',
};
/** IP protocols without ports that portcullis does not compile. */
const UNSUPPORTED = /^(igmp|pim|ospf|ospfv3|carp|eigrp|isis|l2tpv3|ipsec)$/;
const PROTOCOL_NUMBER = /^(?:ip )?(?:protocol|proto)(?: number| no\.?)? (\d{1,3})$/;

function readProtocolPart(part: string, inside = true): TransportReading {
  const t = part.replace(/^\((.*)\)$/, '$1').trim();
  if (UDP_ONLY.has(t)) return { kind: 'ok', transports: ['udp'] };
  if (TCP_APPLICATION.has(t)) return { kind: 'ok', transports: ['tcp'] };
  const n = PROTOCOL_NUMBER.exec(t);
  if (n) {
    const p = parseTransport(n[1]);
    return p ? { kind: 'ok', transports: [p] } : { kind: 'unsupported', name: `IP protocol ${Number(n[1])}` };
  }
  const named = /^[0-9]+$/.test(t) ? undefined : parseTransport(t) ?? TRANSPORT_WORDS[t];
  if (named) return { kind: 'ok', transports: [named] };
  if (UNSUPPORTED.test(t)) return { kind: 'unsupported', name: t.toUpperCase() };
  if (!inside) return { kind: 'unknown' };
  // "HTTPS (TCP)", "NFS over TCP": the transport named inside.
  const tcp = /(^|[^a-z])tcp([^a-z]|$)/.test(t);
  const udp = /(^|[^a-z])udp([^a-z]|$)/.test(t);
  if (tcp || udp) return { kind: 'ok', transports: [...(tcp ? ['tcp' as const] : []), ...(udp ? ['udp' as const] : [])] };
  return { kind: 'unknown' };
}

export function readProtocolCell(cell: string): TransportReading {
  const t = normalizePhrase(cellValue(cell)).replace(/^\((.*)\)$/, '$1');
  if (!t) return { kind: 'unknown' };
  if (t === 'both' || t === 'tcp and udp' || t === 'tcp & udp') return { kind: 'ok', transports: ['tcp', 'udp'] };
  const whole = readProtocolPart(t, false);
  if (whole.kind !== 'unknown') return whole;
  const parts = t.split(/\s*(?:\/|,|;|&|\+|\band\b|\bor\b)\s*/).filter(Boolean);
  if (parts.length < 2) return readProtocolPart(t);
  const seen = new Set<Transport>();
  for (const part of parts) {
    const r = readProtocolPart(part);
    if (r.kind !== 'ok') return r;
    for (const x of r.transports) seen.add(x);
  }
  return { kind: 'ok', transports: TRANSPORTS.filter((x) => seen.has(x)) };
}

/** The Port cell of an ICMP row: its message types ("0, 8", "echo-request",
 * "8 (echo request)"), or every type ("-", "any", "all", empty). Undefined
 * entries in `unknown` are the items that are not a type. */
export function readIcmpTypesCell(cell: string, transports: ('icmp' | 'icmpv6')[]): { types?: (string | number)[]; unknown: string[] } {
  const t = cellValue(cell).trim();
  if (!t || /^(-|\u2013|\u2014|n\/a|na|none|any|all|any type|all types|\*)$/i.test(t)) return { unknown: [] };
  const items = t.split(/\s*[,;/]\s*|\s+and\s+/i).filter(Boolean);
  const types: (string | number)[] = [];
  const unknown: string[] = [];
  for (const raw of items) {
    // "8 (echo request)" and "echo request (8)": the number.
    const m = /^(\d{1,3})\s*\([^)]*\)$/.exec(raw) ?? /^[^(]*\((\d{1,3})\)$/.exec(raw);
    const item = m ? m[1] : raw;
    const word = /^\d+$/.test(item) ? Number(item) : item.toLowerCase().replace(/\s+/g, '-');
    if (transports.every((x) => parseIcmpType(x, word) !== undefined)) types.push(word);
    else unknown.push(raw);
  }
  return { types, unknown };
}

export const KNOWN_DIRECTIONS = ['bidirectional', 'inbound', 'outbound'];
