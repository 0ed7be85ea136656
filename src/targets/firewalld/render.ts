// firewalld (>= 0.9, nftables or iptables backend): an XML tree to copy over
// /etc/firewalld/ — zones/portcullis.xml, ipsets/*.xml, policies/portcullis-out.xml —
// plus one step the tree cannot carry: `firewall-cmd --set-default-zone=portcullis`
// (DefaultZone lives in firewalld.conf, which is the user's and never shipped).
//
// Design (the same policy as the nftables target, from the same IR):
// - firewalld hands each packet to ONE zone: the zone bound to its source,
//   else the zone bound to its input interface, else the default zone.
//   Zone `portcullis` claims no source (a source claim over the whole
//   address space would win over every other zone: Docker's, libvirt's,
//   trusted, NetworkManager's). It is the default zone and is bound to the
//   profile's firewalld.interfaces, so it gets exactly the traffic no other
//   zone claims, and the stock `public` zone (ssh, dhcpv6-client open to
//   all) gets none.
// - Inbound default deny is the zone's last rich rule, priority 32767 (after
//   every accept; with host.log.drops a rate-limited log first): `drop`.
// - The zone's target is ACCEPT. firewalld makes a zone's target the verdict
//   of both its input chain (never reached: the drop rule ends it) and its
//   forward chain, and a policy cannot select the default zone's unbound
//   interfaces (policies dispatch on a zone's explicit interfaces and
//   sources only), so the target is the one place that decides forwarded
//   traffic entering through the default zone. ACCEPT leaves it to whoever
//   routes it (an accept in firewalld's table is not final for other
//   tables: Docker's and libvirt's forward rules still decide), as the
//   nftables and iptables targets do by having no forward chain.
// - Groups overlap (users = 0.0.0.0/0 contains the admins), so one zone per
//   group cannot work: each IR rule becomes rich rules `source ipset=<set>`
//   + one port or range each (a rich rule holds one port element): the rule
//   count follows the IR's ports, never its addresses, which live in
//   hash:net ipsets.
// - Transports (src/transports.ts): tcp/udp/sctp as <port protocol=…> (one
//   rule per port or range); ICMP types as <icmp-type name=…>, one rule per
//   type, by firewalld's built-in icmptype names (a type firewalld has none
//   for is refused: TransportRefusal), all ICMP types as <protocol
//   value="icmp"|"ipv6-icmp">; portless protocols (esp, ah, gre, ipip,
//   vrrp) as <protocol value=N> with the IP protocol number (names depend
//   on /etc/protocols, whose "ipip" is 94, not IP-in-IP's 4).
// - Host baseline (ir.hostPolicy.baseline) after ICMP, before the catalog
//   rules: one rich rule per (source, destination, port); a rich rule holds
//   one element, so the destination port is matched and the source port is
//   not (said in the rule's comment).
// - Trusted interfaces: never bound here. An interface is in one zone, and
//   Docker and libvirt bind theirs (zones docker, libvirt) at run time;
//   claiming one would make their bind fail with ZONE_CONFLICT.
// - Egress: one policy HOST -> ANY. `restrict`: target DROP with the IR's
//   egress rules, ICMPv6 and the egress baseline as rich rules; `allow`:
//   target CONTINUE and no rules (no restriction). The file is emitted in
//   both cases so that copying a new tree over an old one always replaces it.
// - Established/related, invalid and loopback are handled by firewalld's own
//   base chains (filter_INPUT / filter_OUTPUT) before any zone or policy.
// - Provenance: rich rules have no comment field, so an XML comment before
//   each group of rules cites the catalog rows; the full text is also kept
//   in the zone's / policy's <description>, which firewalld preserves when it
//   rewrites a file (it drops comments).

import { Family, formatAddress, formatCidr } from '../../addresses';
import type { AddressSet, BaselineRule, IR, Rule } from '../../ir/types';
import { formatPortRange } from '../../ports';
import { describeMatch, icmpTypeName, isFullSpace, TRANSPORT_FACTS, transportKind } from '../../transports';
import { refuseTransports, Backend, boundedName, cachedBy, checkLines, citeRows, commentLines, hashNetEntries, headerLines, LineLimit, memoAcrossRenders, oneLine, OutputFile, TemplateSet, wrapLine } from '../base';

export const ZONE_NAME = 'portcullis';
export const EGRESS_POLICY_NAME = 'portcullis-out';
const IPSET_PREFIX = 'portcullis-';
/** The kernel's IPSET_MAXNAMELEN is 32 including the NUL byte (firewalld
 * itself lets 32 through, which the iptables backend's ipset would refuse). */
export const IPSET_NAME_MAX = 31;

/** firewalld reads its XML with Python's xml.sax (expat), which has no line
 * limit, and checks no length of <short> or <description>
 * (src/firewall/core/io/zone.py, policy.py, ipset.py); text never reaches a
 * tool from there (rich rules have no comment). This is our own bound:
 * comments and <description> lines are wrapped at COMMENT_TEXT_MAX bytes
 * before escaping, which at most sextuples them (`&` -> `&amp;`). */
export const FIREWALLD_LINE_MAX = 4096;

const FIREWALLD_LINE_LIMIT: LineLimit = { maxBytes: FIREWALLD_LINE_MAX, reader: 'firewalld (expat: no limit; portcullis bounds its lines)' };

// ---------------------------------------------------------------- escaping

/** Characters XML 1.0 does not allow anywhere (not even as references):
 * C0 controls but tab/LF/CR, lone surrogates, U+FFFE, U+FFFF. */
const XML_INVALID = /[\u0000-\u0008\u000b\u000c\u000e-\u001f\ufffe\uffff]|[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/g;

/** XML_INVALID without the g flag (test() of a g regex moves lastIndex). */
const XML_INVALID_ONE = new RegExp(XML_INVALID.source);
const XML_SPECIAL = /[&<>"']/;

/** Text for element content or an attribute value. `>` is escaped too, so
 * `]]>` cannot appear; quotes are escaped for either attribute quoting. */
export function xmlText(text: string): string {
  // Addresses and names, mostly: nothing to drop or escape.
  if (!XML_SPECIAL.test(text) && !XML_INVALID_ONE.test(text)) return text;
  return text
    .replace(XML_INVALID, '')
    .replace(/&/g, '&amp;')
    .replace(/</g, '&lt;')
    .replace(/>/g, '&gt;')
    .replace(/"/g, '&quot;')
    .replace(/'/g, '&apos;');
}

/** xmlText of each text; one test of them all when none needs it (an
 * ipset's thousands of addresses). */
function xmlTexts(texts: string[]): string[] {
  const all = texts.join('\n');
  return XML_SPECIAL.test(all) || XML_INVALID_ONE.test(all) ? texts.map(xmlText) : texts;
}

/** One line of text inside `<!-- … -->`. Comments have no escapes: XML
 * forbids `--` inside them and a `-` right before the closing `-->`, so
 * every dash followed by a dash gets a space after it ("-->" becomes "- ->")
 * and a trailing dash gets a space. Line breaks and controls are collapsed. */
export function xmlCommentLine(text: string): string {
  let s = oneLine(text.replace(XML_INVALID, '')).replace(/-(?=-)/g, '- ');
  if (s.endsWith('-')) s += ' ';
  return s;
}

/** Text as lines for inside `<!-- … -->`: made comment-safe, then wrapped.
 * Kept across renders: most texts are the catalog's, the same in every
 * environment. The lines are shared: never change them. */
export const xmlCommentLines: (text: string) => readonly string[] = memoAcrossRenders((text) =>
  // xmlCommentLine's text is one line but for the space after a final dash,
  // which commentLines (its oneLine) drops; the template puts one there.
  wrapLine(xmlCommentLine(text).trimEnd()),
);

/** Texts at least this long are escaped once and kept (xmlTextOfLong). */
const KEPT_TEXT_MIN = 256;

/** xmlText of the long texts (one rule's lines of a <description>, the
 * same in every environment) kept across renders, at most a few thousand. */
const xmlTextOfLong = memoAcrossRenders(xmlText, 2_000);

const templates = new TemplateSet('firewalld', {
  xml: (s: string) => {
    const text = String(s);
    return text.length >= KEPT_TEXT_MIN ? xmlTextOfLong(text) : xmlText(text);
  },
});

// ------------------------------------------------------------------- names

/** A short, valid, deterministic ipset name for an IR address set:
 * `portcullis-<set>`; when that is too long or the set name has characters
 * outside [A-Za-z0-9_.-], a truncated head plus a hash of the full name. */
export function ipsetName(setName: string): string {
  return boundedName(IPSET_PREFIX, setName, IPSET_NAME_MAX, 8);
}

// -------------------------------------------------------------------- ICMP

/** IR ICMP names are nftables' words; firewalld names its icmptypes itself
 * (and its nftables backend only knows the built-in ones). */
export const ICMP_TYPES: Record<Family, Record<string, string>> = {
  ipv4: {
    'echo-request': 'echo-request',
    'echo-reply': 'echo-reply',
    'destination-unreachable': 'destination-unreachable',
    'time-exceeded': 'time-exceeded',
    'parameter-problem': 'parameter-problem',
    'router-advertisement': 'router-advertisement',
    'router-solicitation': 'router-solicitation',
    'source-quench': 'source-quench',
    redirect: 'redirect',
    'timestamp-request': 'timestamp-request',
    'timestamp-reply': 'timestamp-reply',
  },
  ipv6: {
    'echo-request': 'echo-request',
    'echo-reply': 'echo-reply',
    'destination-unreachable': 'destination-unreachable',
    'packet-too-big': 'packet-too-big',
    'time-exceeded': 'time-exceeded',
    'parameter-problem': 'parameter-problem',
    'nd-router-advert': 'router-advertisement',
    'nd-router-solicit': 'router-solicitation',
    'nd-neighbor-solicit': 'neighbour-solicitation',
    'nd-neighbor-advert': 'neighbour-advertisement',
    'nd-redirect': 'redirect',
  },
};

/** firewalld has no icmptype for MLD (and cannot get one: its nftables
 * backend maps only built-in names). MLD is link-local by definition
 * (RFC 3810: queries come from link-local sources; reports go to link-scope
 * multicast), so it is allowed as ICMPv6 scoped that way instead. */
const MLD_TYPES = new Set(['mld-listener-query', 'mld-listener-report', 'mld-listener-done', 'mld-listener-reduction', 'mld2-listener-report']);
const MLD_INGRESS_SOURCE = 'fe80::/10';
const MLD_EGRESS_DESTINATION = 'ff02::/16';

// -------------------------------------------------------------- rich rules

interface RichRule {
  family: Family;
  source?: { kind: 'ipset' | 'address'; value: string };
  destination?: { kind: 'ipset' | 'address'; value: string };
  port?: { port: string; protocol: string };
  protocol?: string;
  icmpType?: string;
}

/** Every key present (null when absent): the templates run in strict mode. */
function rich(r: RichRule) {
  return {
    family: r.family,
    source: r.source ?? null,
    destination: r.destination ?? null,
    port: r.port ?? null,
    protocol: r.protocol ?? null,
    icmpType: r.icmpType ?? null,
  };
}

type RichRuleContext = ReturnType<typeof rich>;

interface RuleGroup {
  /** Comment lines, comment-safe and wrapped (xmlCommentLines). */
  notes: readonly string[];
  rules: RichRuleContext[];
}

/** A group's lines (rule-group.xml.hbs; a group has a note at least),
 * without the last line feed: the zone and the policy put each group on
 * lines of their own. Each group is rendered once, by a memo whose key
 * holds everything the group is made of: the same catalog gives the same
 * groups in every environment. */
function groupXml(group: RuleGroup): string {
  return templates.render('rule-group.xml.hbs', group).slice(0, -1);
}

function icmpGroups(ir: IR, direction: 'ingress' | 'egress'): string[] {
  const policy = ir.icmp[direction];
  return (['ipv4', 'ipv6'] as const).filter((family) => policy[family].length).map((family) => icmpGroupXml(JSON.stringify([direction, family, policy[family]])));
}

/** The ICMP group of one direction and family, by the JSON of [direction,
 * family, IR type names] (groupXml). */
const icmpGroupXml = memoAcrossRenders((key: string): string => {
  const [direction, family, names] = JSON.parse(key) as ['ingress' | 'egress', Family, string[]];
  const rules: RichRuleContext[] = [];
  const mld = names.filter((n) => MLD_TYPES.has(n));
  for (const name of names) {
    if (family === 'ipv6' && MLD_TYPES.has(name)) continue;
    const type = ICMP_TYPES[family][name];
    if (!type) throw new Error(`firewalld: no firewalld icmptype for ${family} ICMP type '${name}'`);
    rules.push(rich({ family, icmpType: type }));
  }
  const notes = [`${family === 'ipv4' ? 'ICMP' : 'ICMPv6'} ${direction === 'ingress' ? 'in' : 'out'}: ${names.join(', ')}`];
  if (family === 'ipv6' && mld.length) {
    rules.push(
      rich(
        direction === 'ingress'
          ? { family, source: { kind: 'address', value: MLD_INGRESS_SOURCE }, protocol: 'ipv6-icmp' }
          : { family, destination: { kind: 'address', value: MLD_EGRESS_DESTINATION }, protocol: 'ipv6-icmp' },
      ),
    );
    notes.push(
      `firewalld has no icmptype for ${mld.join(', ')}: allowed as ICMPv6 ${
        direction === 'ingress' ? `from ${MLD_INGRESS_SOURCE} (MLD queries come from link-local addresses)` : `to ${MLD_EGRESS_DESTINATION} (MLD reports go to link-scope multicast)`
      }`,
    );
  }
  return groupXml({ notes: notes.flatMap(xmlCommentLines), rules });
});

const portList = (rule: Rule) => rule.ports.map((p) => formatPortRange(p)).join(',');

/** "tcp 22,80" as before; ICMP types by name, "esp" for a portless protocol. */
const matchText = (rule: Rule) => (transportKind(rule.transport) === 'ports' ? `${rule.transport} ${portList(rule)}` : describeMatch(rule.transport, rule.ports));

/** What the comments and descriptions say about one rule. */
interface RuleTexts {
  /** "id: source -> destination, match (rows)". */
  summary: string;
  /** One text per contributing catalog row. */
  provenance: string[];
  /** The rule's rows, compact (citeRows). */
  cite: string;
}

function ruleTexts(rule: Rule): RuleTexts {
  const cite = citeRows(rule.provenance);
  const opens = (ports: Rule['ports']) => (transportKind(rule.transport) === 'ports' ? ports.map((r) => formatPortRange(r)).join(',') : describeMatch(rule.transport, ports));
  return {
    summary: `${rule.id}${rule.antiLockout ? ' (anti-lockout)' : ''}: ${rule.sourceGroup} -> ${rule.destinationGroup}, ${matchText(rule)} (${cite})`,
    provenance: rule.provenance.map((p) => `${p.ref} ${p.service} (${p.ruleId}; ${opens(p.ports)}): ${p.description}`),
    cite,
  };
}

/** Texts of each rule, made once per render (cachedBy): the zone's comments
 * and <description>, the policy's and the ipsets' descriptions cite the same rules. */
type TextsOf = (rule: Rule) => RuleTexts;

/** The ICMP protocol as firewalld's <protocol> names it (/etc/protocols). */
const ICMP_PROTOCOL: Record<Family, string> = { ipv4: 'icmp', ipv6: 'ipv6-icmp' };

/** ICMP type number -> firewalld icmptype, per family: the built-in
 * icmptypes (/usr/lib/firewalld/icmptypes) that match a whole type (no
 * code), the only names firewalld's nftables backend knows. */
function firewalldIcmpType(family: Family, transport: 'icmp' | 'icmpv6', type: number): string | undefined {
  const name = icmpTypeName(transport, type);
  return name === undefined ? undefined : ICMP_TYPES[family][name];
}

/** Why an emitted rule cannot be rendered: an ICMP type firewalld has no
 * icmptype for (refused: dropping it would narrow, allowing all ICMP would widen). */
function unsupported(rule: Rule): { why: string; hint?: string } | undefined {
  if (transportKind(rule.transport) !== 'icmp' || isFullSpace(rule.transport, rule.ports)) return undefined;
  const transport = rule.transport as 'icmp' | 'icmpv6';
  for (const r of rule.ports)
    for (let type = r.lo; type <= r.hi; type++)
      if (!firewalldIcmpType(rule.family, transport, type)) {
        const name = icmpTypeName(transport, type);
        return {
          why: `${TRANSPORT_FACTS[transport].title} type ${type}${name ? ` (${name})` : ''} has no firewalld icmptype`,
          hint: `firewalld matches ${TRANSPORT_FACTS[transport].title} types by its icmptype names only (${[...new Set(Object.values(ICMP_TYPES[rule.family]))].join(', ')}): leave the type out, or allow every type`,
        };
      }
  return undefined;
}

/** The match elements of an IR rule: one rich rule each (a rich rule holds one element). */
function ruleElements(rule: Pick<Rule, 'id' | 'family' | 'transport' | 'ports'>): Pick<RichRule, 'port' | 'protocol' | 'icmpType'>[] {
  switch (transportKind(rule.transport)) {
    case 'ports':
      return rule.ports.map((p) => ({ port: { port: formatPortRange(p), protocol: rule.transport } }));
    case 'icmp':
      if (isFullSpace(rule.transport, rule.ports)) return [{ protocol: ICMP_PROTOCOL[rule.family] }];
      return rule.ports.flatMap((r) =>
        Array.from({ length: r.hi - r.lo + 1 }, (_, i) => {
          const icmpType = firewalldIcmpType(rule.family, rule.transport as 'icmp' | 'icmpv6', r.lo + i);
          if (!icmpType) throw new Error(`internal: firewalld: rule '${rule.id}': ICMP type ${r.lo + i} not refused`);
          return { icmpType };
        }),
      );
    case 'portless':
      // The IP protocol number: always accepted (names depend on the host's
      // /etc/protocols, where "ipip" is 94, not our IP-in-IP, 4).
      return [{ protocol: String(TRANSPORT_FACTS[rule.transport].number) }];
  }
}

/** What the zone or the policy says of one IR rule. */
interface RuleXml {
  /** Its rich rules with their comment (groupXml). */
  group: string;
  /** Its lines of the <description> (describeRules), raw text joined by line feeds. */
  description: string;
}

function ruleXml(rule: Rule, names: Map<string, string>, textsOf: TextsOf): RuleXml {
  const peer = rule.direction === 'ingress' ? rule.source : rule.destination;
  const ipset = peer === undefined ? undefined : names.get(peer);
  if (!ipset) throw new Error(`firewalld: rule '${rule.id}' names no known address set`);
  const { summary, provenance } = textsOf(rule);
  return ruleXmlOf(JSON.stringify([ipset, rule.id, rule.family, rule.direction, rule.transport, rule.ports, summary, provenance]));
}

/** ruleXml by the JSON of everything it is made of: [ipset, id, family,
 * direction, transport, ports, summary, provenance texts]. */
const ruleXmlOf = memoAcrossRenders((key: string): RuleXml => {
  const [ipset, id, family, direction, transport, ports, summary, provenance] = JSON.parse(key) as [
    string,
    string,
    Family,
    Rule['direction'],
    Rule['transport'],
    Rule['ports'],
    string,
    string[],
  ];
  const end = { kind: 'ipset' as const, value: ipset };
  return {
    group: groupXml({
      notes: [summary, ...provenance].flatMap(xmlCommentLines),
      rules: ruleElements({ id, family, transport, ports }).map((element) =>
        rich({
          family,
          ...(direction === 'ingress' ? { source: end } : { destination: end }),
          ...element,
        }),
      ),
    }),
    description: [summary + '.', ...provenance].flatMap((t) => commentLines(t)).join('\n'),
  };
}, 5_000);

// ---------------------------------------------------------------- baseline

/** A baseline rule as rich rules: one per (source, destination, port); an
 * absent side matches any address. firewalld's rich rule holds one element,
 * so the destination port is the element and the source port is not
 * matched (firewalld's own dhcpv6-client service does the same). */
function baselineGroup(b: BaselineRule): string {
  const addresses = (cidrs: BaselineRule['source']) => (cidrs ? cidrs.map(formatAddress) : null);
  return baselineGroupXml(JSON.stringify([b.id, b.why, b.family, b.transport, addresses(b.source), addresses(b.destination), b.sourcePorts ?? null, b.ports]));
}

/** baselineGroup by the JSON of what it is made of: [id, why, family,
 * transport, sources, destinations (formatted; null: any), source ports
 * (null: any), ports] (groupXml). */
const baselineGroupXml = memoAcrossRenders((key: string): string => {
  const [id, why, family, transport, sources, destinations, sourcePorts, ports] = JSON.parse(key) as [
    string,
    string,
    Family,
    BaselineRule['transport'],
    string[] | null,
    string[] | null,
    BaselineRule['ports'] | null,
    BaselineRule['ports'],
  ];
  const ends = (addresses: string[] | null) => (addresses ?? [undefined]).map((a) => (a ? { kind: 'address' as const, value: a } : undefined));
  const rules: RichRuleContext[] = [];
  for (const source of ends(sources))
    for (const destination of ends(destinations))
      for (const p of ports) rules.push(rich({ family, source, destination, port: { port: formatPortRange(p), protocol: transport } }));
  const notes = [`${id} (host baseline): ${why}`];
  if (sourcePorts)
    notes.push(`source port ${sourcePorts.map((p) => formatPortRange(p)).join(',')} not matched: a firewalld rich rule holds one element, here the destination port`);
  return groupXml({ notes: notes.flatMap(xmlCommentLines), rules });
});

// ------------------------------------------------------------ final drop

/** Rich-rule priorities run from -32768 to 32767; rules with priority > 0
 * run after every priority-0 rule (the accepts), the highest last. */
const FINAL_PRIORITY = 32767;

/** The IR's "N/second|minute|hour" as firewalld's limit value "N/s|m|h". */
function limitValue(rate: string): string {
  const m = /^(\d+)\/(second|minute|hour)$/.exec(rate);
  if (!m) throw new Error(`firewalld: bad log rate '${rate}'`);
  return `${m[1]}/${m[2][0]}`;
}

interface FinalDrop {
  notes: string[];
  priority: number;
  /** A rate-limited log element before the drop (host.log.drops). */
  log: { element: 'log' | 'nflog'; prefix: string; level: string | null; group: string | null; limit: string } | null;
}

function finalDrop(ir: IR, direction: 'in' | 'out', what: string): FinalDrop {
  const l = ir.hostPolicy.logDrops;
  const notes = [`Default deny: ${what} no rule above accepted is dropped (priority ${FINAL_PRIORITY}: after every accept).`];
  if (l)
    notes.push(
      l.group !== undefined
        ? `host.log.drops: logged first to NFLOG group ${l.group}, at most ${l.rate}.`
        : `host.log.drops: logged first to the kernel log, at most ${l.rate}.`,
    );
  return {
    notes: notes.flatMap(xmlCommentLines),
    priority: FINAL_PRIORITY,
    log: l
      ? {
          element: l.group !== undefined ? 'nflog' : 'log',
          prefix: `${l.prefix} ${direction}: `,
          // firewalld's default level for <log> is warning, as for nft and iptables LOG.
          level: l.group !== undefined ? null : 'warning',
          group: l.group !== undefined ? String(l.group) : null,
          limit: limitValue(l.rate),
        }
      : null,
  };
}

/** <description> text: one entry per line, a long one wrapped over several
 * (firewalld reads line breaks as spaces, so each entry is also a readable
 * sentence on its own). Raw text: the template escapes each item and puts a
 * line feed between them; an item is the intro's lines or one rule's (made
 * once per catalog: ruleXml). */
function describeRules(intro: string, rules: RuleXml[]): string[] {
  return [commentLines(intro).join('\n'), ...rules.map((r) => r.description)];
}

// ------------------------------------------------------------------ ipsets

/** firewalld's and ipset's default maxelem. */
const DEFAULT_MAXELEM = 65536;

function renderIpset(ir: IR, header: string[], set: AddressSet, name: string, users: Rule[], textsOf: TextsOf): OutputFile {
  const entries = hashNetEntries(set.cidrs);
  const family = set.family === 'ipv4' ? 'IPv4' : 'IPv6';
  const context = {
    header,
    zoneName: ZONE_NAME,
    short: `portcullis ${set.name}`,
    description: commentLines(
      `Addresses of group ${set.group} (${family}), IR set ${set.name}, environment ${ir.environment}; used by ${users.map((r) => `${r.id} (${textsOf(r).cite})`).join(', ')}.`,
    ),
    family: set.family === 'ipv4' ? 'inet' : 'inet6',
    maxelem: entries.length > DEFAULT_MAXELEM ? String(entries.length) : null,
    splitNote: set.cidrs.some((c) => c.prefix === 0)
      ? xmlCommentLines(`${set.cidrs.filter((c) => c.prefix === 0).map(formatCidr).join(', ')} is written as its two /1 halves: hash:net cannot hold a /0.`)
      : null,
    entries: xmlTexts(entries),
  };
  return { path: `ipsets/${name}.xml`, content: templates.render('ipset.xml.hbs', context) };
}

// ------------------------------------------------------------------ render

export function renderFirewalld(ir: IR): OutputFile[] {
  const restrict = ir.egress === 'restrict';
  const host = ir.rules.filter((r) => r.scope === 'host');
  const ingress = host.filter((r) => r.direction === 'ingress');
  const egress = restrict ? host.filter((r) => r.direction === 'egress') : [];
  const emitted = [...ingress, ...egress];
  refuseTransports('firewalld', { ...ir, rules: emitted }, unsupported);

  const textsOf: TextsOf = cachedBy(ruleTexts);
  // The same header heads every file.
  const header = headerLines(ir).flatMap(xmlCommentLines);

  // One ipset per IR set that an emitted rule uses, in the IR's order.
  const names = new Map<string, string>();
  const owners = new Map<string, string>();
  const files: OutputFile[] = [];
  for (const set of ir.sets) {
    const users = emitted.filter((r) => r.source === set.name || r.destination === set.name);
    if (!users.length) continue;
    const name = ipsetName(set.name);
    const clash = owners.get(name);
    if (clash) throw new Error(`firewalld: address sets '${clash}' and '${set.name}' both map to ipset '${name}'`);
    owners.set(name, set.name);
    names.set(set.name, name);
    files.push(renderIpset(ir, header, set, name, users, textsOf));
  }

  const offHost = ir.rules
    .filter((r) => r.scope === 'off-host')
    .map((r) => textsOf(r).summary)
    .flatMap(xmlCommentLines);

  const baseline = (direction: 'ingress' | 'egress') => ir.hostPolicy.baseline.filter((b) => b.direction === direction).map(baselineGroup);
  const interfaces = ir.hostPolicy.firewalld.interfaces;
  const trusted = ir.hostPolicy.trustedInterfaces;
  // Rich rules in the order they are listed: ICMP, host baseline, the IR's rules.
  const ingressGroups = [...icmpGroups(ir, 'ingress'), ...baseline('ingress')];
  const ingressRules = ingress.map((r) => ruleXml(r, names, textsOf));
  const zone = {
    header,
    name: ZONE_NAME,
    policyName: EGRESS_POLICY_NAME,
    short: 'portcullis',
    description: describeRules(
      `portcullis inbound policy for environment ${ir.environment} (catalog ${ir.catalog.name}): the default zone${
        interfaces.length ? `, bound to ${interfaces.join(', ')}` : ''
      }: gets the traffic no other zone claims; drops what no rule accepts (last rule, priority ${FINAL_PRIORITY}); forwarded traffic is left to whoever routes it (target ACCEPT). Rules and the catalog rows they come from:`,
      ingressRules,
    ),
    interfaces,
    interfacesText: xmlCommentLine(interfaces.join(', ')),
    trustedText: trusted.length ? xmlCommentLine(trusted.join(', ')) : null,
    groups: [...ingressGroups, ...ingressRules.map((r) => r.group)],
    final: finalDrop(ir, 'in', 'inbound traffic'),
    offHost,
  };
  files.push({ path: `zones/${ZONE_NAME}.xml`, content: templates.render('zone.xml.hbs', zone) });

  const egressGroups = restrict ? [...icmpGroups(ir, 'egress'), ...baseline('egress')] : [];
  const egressRules = egress.map((r) => ruleXml(r, names, textsOf));
  const policy = {
    header,
    name: EGRESS_POLICY_NAME,
    zoneName: ZONE_NAME,
    restrict,
    target: restrict ? 'DROP' : 'CONTINUE',
    short: 'portcullis egress',
    description: restrict
      ? describeRules(
          `portcullis egress policy for environment ${ir.environment} (catalog ${ir.catalog.name}), egress: restrict: the nodes may open only these connections. Rules and the catalog rows they come from:`,
          egressRules,
        )
      : commentLines(`portcullis egress policy for environment ${ir.environment} (catalog ${ir.catalog.name}), egress: allow: outbound is not restricted (target CONTINUE, no rules).`),
    groups: [...egressGroups, ...egressRules.map((r) => r.group)],
    trustedText: restrict && trusted.length ? xmlCommentLine(trusted.join(', ')) : null,
    // Target DROP drops silently; the log needs a rule of its own.
    final: restrict && ir.hostPolicy.logDrops ? finalDrop(ir, 'out', 'outbound traffic') : null,
  };
  files.push({ path: `policies/${EGRESS_POLICY_NAME}.xml`, content: templates.render('policy.xml.hbs', policy) });

  files.sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
  return checkLines('firewalld', files, () => FIREWALLD_LINE_LIMIT);
}

export const firewalldBackend: Backend = {
  name: 'firewalld',
  render: renderFirewalld,
};
