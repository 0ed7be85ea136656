// Reading a vendor table's cells: Source/Destination phrases -> groups
// through a phrase table, Port cells -> ports (or a choice bound to a param),
// Protocol cells -> transport. Shared by `catalog import` (fresh reading of a
// row) and `lint` (PC102: which catalog rows were interpreted beyond what
// their cells say).

import { Cidr, parseAddress } from '../addresses';
import { PortRange } from '../ports';

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
  /** Whether the cell was read as several parts ("X and Y"). */
  compound: boolean;
}

/** A cell is looked up whole first; if the table does not know it, it is
 * split on ",", " and ", "&" and each part is looked up. */
export function readPhrase(cell: string, table: PhraseTable): PhraseReading {
  const whole = table.get(normalizePhrase(cell));
  if (whole) return { groups: [...whole], unmapped: [], addresses: [], compound: false };
  const parts: PhrasePart[] = [];
  const sep = /\s*,\s*|\s+and\s+|\s*&\s*/gi;
  let last = 0;
  for (let m = sep.exec(cell); m; m = sep.exec(cell)) {
    parts.push({ text: cell.slice(last, m.index), offset: last });
    last = m.index + m[0].length;
  }
  parts.push({ text: cell.slice(last), offset: last });
  const out: PhraseReading = { groups: [], unmapped: [], addresses: [], compound: parts.length > 1 };
  for (const p of parts) {
    const lead = p.text.length - p.text.trimStart().length;
    const part = { text: p.text.trim(), offset: p.offset + lead };
    if (!part.text) continue;
    const g = table.get(normalizePhrase(part.text));
    if (g) {
      for (const x of g) if (!out.groups.includes(x)) out.groups.push(x);
      continue;
    }
    const a = parseAddress(part.text);
    if (a.ok) out.addresses.push({ ...part, cidr: a.cidr });
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

/** A Port cell: one port ("22") or a range ("8000-8010"). Anything else
 * (a choice "25 or 587", a list, "20K+") is not read as open ports. */
export function readPortCell(cell: string): PortReading {
  const t = cell.trim();
  let m = /^(\d{1,5})$/.exec(t);
  if (m && valid(Number(m[1]))) return { kind: 'ports', ranges: [{ lo: Number(m[1]), hi: Number(m[1]) }] };
  m = /^(\d{1,5})\s*[-\u2013]\s*(\d{1,5})$/.exec(t);
  if (m && valid(Number(m[1])) && valid(Number(m[2])) && Number(m[1]) <= Number(m[2])) return { kind: 'ports', ranges: [{ lo: Number(m[1]), hi: Number(m[2]) }] };
  if (/^\d{1,5}(?:\s*,\s*\d{1,5})*\s*,?\s*\bor\s+\d{1,5}$/i.test(t)) {
    const choices = (t.match(/\d{1,5}/g) ?? []).map(Number);
    if (choices.every(valid)) return { kind: 'choice', choices };
  }
  if (!t) return { kind: 'unreadable', reason: 'the Port cell is empty' };
  if (/^\d+(\s*,\s*\d+)+$/.test(t)) return { kind: 'unreadable', reason: 'a list of ports in one cell: one row per port, or a range' };
  if (/^\d+\s*[kK]\+?$/.test(t) || /\+$/.test(t)) return { kind: 'unreadable', reason: 'an open-ended range' };
  return { kind: 'unreadable', reason: 'not a port 1-65535 or a range LO-HI' };
}

/** Transport from the Protocol cell. The document's convention: every
 * protocol it names is an application protocol over TCP; only an explicit
 * UDP (or a protocol that exists only over UDP) means UDP. "TCP/UDP" is two
 * transports, which one catalog rule cannot carry. */
export type TransportReading = { kind: 'ok'; transport: 'tcp' | 'udp' } | { kind: 'both' };

const UDP_ONLY = new Set(['udp', 'ntp', 'snmp', 'tftp', 'dhcp', 'syslog', 'rmcp', 'rmcp+', 'ipmi', 'quic']);

export function readProtocolCell(cell: string): TransportReading {
  const t = normalizePhrase(cell);
  if (/\btcp\b.*\budp\b|\budp\b.*\btcp\b/.test(t)) return { kind: 'both' };
  return { kind: 'ok', transport: UDP_ONLY.has(t) ? 'udp' : 'tcp' };
}

export const KNOWN_DIRECTIONS = ['bidirectional', 'inbound', 'outbound'];
