// nftables: one `table inet portcullis`, replaced atomically by `nft -f`.
// Rules match named interval sets (one per group and family), so the rule
// count does not grow with the number of addresses.

import { Cidr, formatAddress } from '../../addresses';
import type { BaselineRule, HostPolicy, IR, Rule } from '../../ir/types';
import { formatPortRange, PortRange } from '../../ports';
import { describeMatch, hasPorts, icmpTypeName, isFullSpace, TRANSPORT_FACTS, transportKind } from '../../transports';
import type { Transport } from '../../transports';
import { Backend, checkLines, citeRows, commentLines, headerLines, LineLimit, memoAcrossRenders, OutputFile, safeComment, TemplateSet, utf8Length, keptCommentLines, rowNoteLines, ruleCitation, keptCommentBlock } from '../base';
import { BOOT_COMMANDS, LIVE_COMMANDS } from './host';

/** nft refuses a longer comment: src/parser_bison.y, comment_spec, checks
 * strlen() > NFTNL_UDATA_COMMENT_MAXLEN, which libnftnl's
 * include/libnftnl/udata.h defines as 128 (bytes). */
export const NFT_COMMENT_MAX = 128;

/** nft's scanner has no line limit (src/scanner.l is a flex scanner that
 * grows its buffer; a comment is `#.*$`; a 2 MB comment line loads). This is
 * our own bound, so that no line is unreviewably long: comment lines are
 * wrapped (commentLines) and long port lists are spread over lines
 * (NFT_SET_LINE_MAX). */
export const NFT_LINE_MAX = 1024;

/** Bytes of set elements (`1, 2, 3-4,`) on one line of a rule's anonymous set. */
export const NFT_SET_LINE_MAX = 480;

export const NFT_LINE_LIMIT: LineLimit = {
  maxBytes: NFT_LINE_MAX,
  reader: 'nft -f (no scanner limit; portcullis bounds its lines)',
  check(line) {
    // Most lines (set elements) hold no comment at all.
    if (!line.includes(' comment "') || /^\s*#/.test(line)) return undefined;
    for (const m of line.matchAll(/ comment "([^"]*)"/g))
      if (utf8Length(m[1]) > NFT_COMMENT_MAX) return `a comment of ${utf8Length(m[1])} bytes, more than nft's ${NFT_COMMENT_MAX}`;
    return undefined;
  },
  checkOnly: { holding: ' comment "' },
};

/** nft strings have no escapes, so only a safe alphabet goes in a comment,
 * cut below the limit (ASCII: characters are bytes); the full text lives in
 * `#` lines instead. */
export function nftComment(text: string): string {
  return safeComment(text, NFT_COMMENT_MAX - 1);
}

const templates = new TemplateSet('nftables', {});

/** A rule's comment from its citation (ruleCitation), kept across renders. */
const ruleComment = memoAcrossRenders(nftComment);

const FAMILY_KEYWORD = { ipv4: 'ip', ipv6: 'ip6' } as const;

/** One item, or an anonymous set of them. */
function setExpr(items: readonly string[]): string {
  return items.length === 1 ? items[0] : `{ ${items.join(', ')} }`;
}

/** One item, or an anonymous set of them spread over lines of at most
 * NFT_SET_LINE_MAX bytes of elements when it is long (nft reads line
 * breaks after a comma inside `{ }`). */
function wrappedSet(items: readonly string[]): string {
  if (items.length === 1) return items[0];
  // One line when every element and its `, ` fit (the loop below would
  // make one row): one length for the whole set instead of one per item.
  const joined = items.join(', ');
  if (utf8Length(joined) + 2 <= NFT_SET_LINE_MAX) return `{ ${joined} }`;
  const rows: string[][] = [[]];
  let width = 0;
  for (const item of items) {
    const w = utf8Length(item) + 2;
    if (width + w > NFT_SET_LINE_MAX && rows[rows.length - 1].length) {
      rows.push([]);
      width = 0;
    }
    rows[rows.length - 1].push(item);
    width += w;
  }
  return `{ ${rows.map((r) => r.join(', ')).join(',\n\t\t\t')} }`;
}

/** The rule's ports: one port or range, or an anonymous set. */
function portsExpr(ports: readonly PortRange[]): string {
  return wrappedSet(ports.map((p) => formatPortRange(p)));
}

/** ICMP types: a range whose every type has a name (src/transports.ts,
 * nft's own names) is written as those names, one by one; any other range
 * as numbers (`42`, `20-30`), which nft reads the same. */
function icmpTypesExpr(transport: 'icmp' | 'icmpv6', types: readonly PortRange[]): string {
  const items = types.flatMap((r) => {
    const names: string[] = [];
    for (let t = r.lo; t <= r.hi; t++) {
      const name = icmpTypeName(transport, t);
      if (!name) return [formatPortRange(r)];
      names.push(name);
    }
    return names;
  });
  return wrappedSet(items);
}

/** ICMP of any type: the protocol by the name nft itself prints for it. */
const L4PROTO_ANY_ICMP = { icmp: 'icmp', icmpv6: 'ipv6-icmp' } as const;

/** What a rule matches besides its peer: `udp dport …` for a port
 * transport; `icmp type …` / `icmpv6 type …`, or the whole protocol for any
 * type; `meta l4proto N` for a portless one. The number is what portcullis
 * means: /etc/protocols names differ between systems, and Debian's "ipip"
 * is protocol 94, not IP-in-IP's 4. nft lists it back by the host's name
 * ("esp", "ipencap"); the reader (live.ts) takes a name or a number. */
export function transportMatch(transport: Transport, ports: readonly PortRange[]): string {
  const kind = transportKind(transport);
  if (kind === 'ports') return `${transport} dport ${portsExpr(ports)}`;
  if (kind === 'icmp') {
    const t = transport as 'icmp' | 'icmpv6';
    return isFullSpace(t, ports) ? `meta l4proto ${L4PROTO_ANY_ICMP[t]}` : `${t} type ${icmpTypesExpr(t, ports)}`;
  }
  return `meta l4proto ${TRANSPORT_FACTS[transport].number}`;
}

/** `counter ` on every rule when host.counters is set. */
function verdict(policy: HostPolicy, v: 'accept' | 'drop'): string {
  return policy.counters ? `counter ${v}` : v;
}

function ruleContext(rule: Rule, policy: HostPolicy) {
  const peerSet = rule.direction === 'ingress' ? rule.source : rule.destination;
  const field = rule.direction === 'ingress' ? 'saddr' : 'daddr';
  return {
    // Descriptions go in `#` lines, one or more per catalog row.
    notes: rowNoteLines(rule),
    statement: `${FAMILY_KEYWORD[rule.family]} ${field} @${peerSet} ${transportMatch(rule.transport, rule.ports)} ${verdict(policy, 'accept')}`,
    comment: ruleComment(ruleCitation(rule)),
  };
}

/** A baseline rule: literal addresses; a rule without any address still
 * names its family (the table is inet). */
function baselineContext(rule: BaselineRule, policy: HostPolicy) {
  const fam = FAMILY_KEYWORD[rule.family];
  const addrs = (field: string, cidrs?: Cidr[]) => (cidrs?.length ? [`${fam} ${field} ${setExpr(cidrs.map(formatAddress))}`] : []);
  const matches = [
    ...addrs('saddr', rule.source),
    ...addrs('daddr', rule.destination),
    ...(rule.sourcePorts?.length ? [`${rule.transport} sport ${portsExpr(rule.sourcePorts)}`] : []),
    `${rule.transport} dport ${portsExpr(rule.ports)}`,
  ];
  if (!rule.source?.length && !rule.destination?.length) matches.unshift(`meta nfproto ${rule.family}`);
  return { notes: keptCommentLines(`${rule.id}: ${rule.why}`), statement: `${matches.join(' ')} ${verdict(policy, 'accept')}`, comment: nftComment(rule.id) };
}

/** Interface names go into nft strings, which have no escapes: the profile
 * schema allows only these characters; anything else is a compiler bug. */
function interfaces(names: readonly string[]): string {
  for (const n of names) if (!/^[A-Za-z0-9_.:@-]{1,15}$/.test(n)) throw new Error(`internal: nftables: interface name ${JSON.stringify(n)}`);
  return setExpr(names.map((n) => `"${n}"`));
}

/** `priority filter`, `filter + 10`, `filter - 5`: nft's own notation. */
export function chainPriority(priority: number): string {
  if (priority === 0) return 'filter';
  return `filter ${priority < 0 ? '-' : '+'} ${Math.abs(priority)}`;
}

/** What ends a chain whose policy is drop: a counter of what reaches the
 * policy (host.counters), and a rate-limited log line (host.log). */
function chainEnd(policy: HostPolicy, dir: 'in' | 'out') {
  const log = policy.logDrops;
  return {
    counter: policy.counters ? `counter comment ${nftComment(`policy-drop-${dir}`)}` : undefined,
    log: log ? `limit rate ${log.rate} log prefix "${log.prefix} ${dir}: "${log.group !== undefined ? ` group ${log.group}` : ''}` : undefined,
  };
}

/** A listed off-host rule's match: "tcp 22,80" as before; "icmp echo-request", "esp". */
function offHostMatch(r: Rule): string {
  return hasPorts(r.transport) ? `${r.transport} ${r.ports.map((p) => formatPortRange(p)).join(',')}` : describeMatch(r.transport, r.ports);
}

export function renderNftables(ir: IR): string {
  const restrict = ir.egress === 'restrict';
  // Egress rules take effect only when egress is restricted.
  const host = ir.rules.filter((r) => r.scope === 'host' && (r.direction === 'ingress' || restrict));
  const policy = ir.hostPolicy;
  const trusted = policy.trustedInterfaces.length ? interfaces(policy.trustedInterfaces) : undefined;
  const c = (v: 'accept' | 'drop') => verdict(policy, v);
  const context = {
    header: keptCommentBlock(headerLines(ir)),
    live: LIVE_COMMANDS[0],
    bootCommands: BOOT_COMMANDS,
    priority: chainPriority(policy.nftables.priority),
    trustedList: policy.trustedInterfaces.join(', '),
    trustedIn: trusted && `iifname ${trusted} ${c('accept')} comment "trusted-interfaces"`,
    trustedOut: trusted && `oifname ${trusted} ${c('accept')} comment "trusted-interfaces"`,
    accept: c('accept'),
    drop: c('drop'),
    baselineIn: policy.baseline.filter((b) => b.direction === 'ingress').map((b) => baselineContext(b, policy)),
    baselineOut: restrict ? policy.baseline.filter((b) => b.direction === 'egress').map((b) => baselineContext(b, policy)) : [],
    endIn: chainEnd(policy, 'in'),
    endOut: chainEnd(policy, 'out'),
    logRate: policy.logDrops?.rate,
    logGroup: policy.logDrops?.group,
    sets: ir.sets
      .filter((s) => host.some((r) => r.source === s.name || r.destination === s.name))
      .map((s) => ({
        name: s.name,
        type: s.family === 'ipv4' ? 'ipv4_addr' : 'ipv6_addr',
        group: s.group,
        elements: s.cidrs.map(formatAddress),
      })),
    // The ICMP types a rule accepts, as the elements of its set.
    icmpIn: { ipv4: ir.icmp.ingress.ipv4.join(', '), ipv6: ir.icmp.ingress.ipv6.join(', ') },
    icmpOut: { ipv6: ir.icmp.egress.ipv6.join(', ') },
    inputRules: host.filter((r) => r.direction === 'ingress').map((r) => ruleContext(r, policy)),
    outputPolicy: restrict ? 'drop' : 'accept',
    restrict,
    outputRules: host.filter((r) => r.direction === 'egress').map((r) => ruleContext(r, policy)),
    offHost: ir.rules
      .filter((r) => r.scope === 'off-host')
      .flatMap((r) => commentLines(`${r.id}: ${r.sourceGroup} -> ${r.destinationGroup} ${offHostMatch(r)} (${citeRows(r.provenance)})`)),
  };
  return templates.render('portcullis.nft.hbs', context);
}

export const nftablesBackend: Backend = {
  name: 'nftables',
  render(ir: IR): OutputFile[] {
    return checkLines('nftables', [{ path: 'portcullis.nft', content: renderNftables(ir) }], () => NFT_LINE_LIMIT);
  },
};
