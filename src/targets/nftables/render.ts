// nftables: one `table inet portcullis`, replaced atomically by `nft -f`.
// Rules match named interval sets (one per group and family), so the rule
// count does not grow with the number of addresses.

import { formatAddress } from '../../addresses';
import type { IR, Rule } from '../../ir/types';
import { formatPortRange } from '../../ports';
import { Backend, checkLines, citeRows, commentBlock, commentLines, headerLines, LineLimit, OutputFile, safeComment, TemplateSet, utf8Length } from '../base';

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
    if (/^\s*#/.test(line)) return undefined;
    for (const m of line.matchAll(/ comment "([^"]*)"/g))
      if (utf8Length(m[1]) > NFT_COMMENT_MAX) return `a comment of ${utf8Length(m[1])} bytes, more than nft's ${NFT_COMMENT_MAX}`;
    return undefined;
  },
};

/** nft strings have no escapes, so only a safe alphabet goes in a comment,
 * cut below the limit (ASCII: characters are bytes); the full text lives in
 * `#` lines instead. */
export function nftComment(text: string): string {
  return safeComment(text, NFT_COMMENT_MAX - 1);
}

const templates = new TemplateSet('nftables', {
  nftComment: (s: string) => nftComment(s),
});

const FAMILY_KEYWORD = { ipv4: 'ip', ipv6: 'ip6' } as const;

/** The rule's ports: one port or range, or an anonymous set, spread over
 * lines of at most NFT_SET_LINE_MAX bytes of elements when it is long (nft
 * reads line breaks after a comma inside `{ }`). */
function portsExpr(rule: Rule): string {
  const items = rule.ports.map((p) => formatPortRange(p));
  if (items.length === 1) return items[0];
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

function ruleContext(rule: Rule) {
  const peerSet = rule.direction === 'ingress' ? rule.source : rule.destination;
  const field = rule.direction === 'ingress' ? 'saddr' : 'daddr';
  return {
    // Descriptions go in `#` lines, one or more per catalog row.
    notes: commentBlock(rule.provenance.map((p) => `${p.ref} ${p.service}: ${p.description}`)),
    statement: `${FAMILY_KEYWORD[rule.family]} ${field} @${peerSet} ${rule.transport} dport ${portsExpr(rule)} accept`,
    comment: `${rule.id} ${citeRows(rule.provenance)}`,
  };
}

export function renderNftables(ir: IR): string {
  const restrict = ir.egress === 'restrict';
  // Egress rules take effect only when egress is restricted.
  const host = ir.rules.filter((r) => r.scope === 'host' && (r.direction === 'ingress' || restrict));
  const context = {
    header: commentBlock(headerLines(ir)),
    sets: ir.sets
      .filter((s) => host.some((r) => r.source === s.name || r.destination === s.name))
      .map((s) => ({
        name: s.name,
        type: s.family === 'ipv4' ? 'ipv4_addr' : 'ipv6_addr',
        group: s.group,
        elements: s.cidrs.map(formatAddress),
      })),
    icmpIn: ir.icmp.ingress,
    icmpOut: ir.icmp.egress,
    inputRules: host.filter((r) => r.direction === 'ingress').map(ruleContext),
    outputPolicy: restrict ? 'drop' : 'accept',
    restrict,
    outputRules: host.filter((r) => r.direction === 'egress').map(ruleContext),
    offHost: ir.rules
      .filter((r) => r.scope === 'off-host')
      .flatMap((r) => commentLines(`${r.id}: ${r.sourceGroup} -> ${r.destinationGroup} ${r.transport} ${r.ports.map((p) => formatPortRange(p)).join(',')} (${citeRows(r.provenance)})`)),
  };
  return templates.render('portcullis.nft.hbs', context);
}

export const nftablesBackend: Backend = {
  name: 'nftables',
  render(ir: IR): OutputFile[] {
    return checkLines('nftables', [{ path: 'portcullis.nft', content: renderNftables(ir) }], () => NFT_LINE_LIMIT);
  },
};
