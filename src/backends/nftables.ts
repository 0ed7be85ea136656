// nftables: one `table inet portcullis`, replaced atomically by `nft -f`.
// Rules match named interval sets (one per group and family), so the rule
// count does not grow with the number of addresses.

import { formatAddress } from '../addresses';
import type { IR, Rule } from '../ir/types';
import { formatPortRange } from '../ports';
import { Backend, citeRows, headerLines, oneLine, OutputFile, safeComment, TemplateSet } from './base';

/** nft comments are at most 128 bytes and its strings have no escapes, so
 * only a safe alphabet goes in; the full text lives in `#` lines instead. */
export function nftComment(text: string): string {
  return safeComment(text, 127);
}

const templates = new TemplateSet('nftables', {
  nftComment: (s: string) => nftComment(s),
});

const FAMILY_KEYWORD = { ipv4: 'ip', ipv6: 'ip6' } as const;

function portsExpr(rule: Rule): string {
  const items = rule.ports.map((p) => formatPortRange(p));
  return items.length === 1 ? items[0] : `{ ${items.join(', ')} }`;
}

function ruleContext(rule: Rule) {
  const peerSet = rule.direction === 'ingress' ? rule.source : rule.destination;
  const field = rule.direction === 'ingress' ? 'saddr' : 'daddr';
  return {
    // Long descriptions go in `#` lines, one per catalog row.
    notes: rule.provenance.map((p) => oneLine(`${p.ref} ${p.service}: ${p.description}`)),
    statement: `${FAMILY_KEYWORD[rule.family]} ${field} @${peerSet} ${rule.transport} dport ${portsExpr(rule)} accept`,
    comment: `${rule.id} ${citeRows(rule.provenance)}`,
  };
}

export function renderNftables(ir: IR): string {
  const restrict = ir.egress === 'restrict';
  // Egress rules take effect only when egress is restricted.
  const host = ir.rules.filter((r) => r.scope === 'host' && (r.direction === 'ingress' || restrict));
  const context = {
    header: headerLines(ir),
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
      .map((r) => oneLine(`${r.id}: ${r.sourceGroup} -> ${r.destinationGroup} ${r.transport} ${r.ports.map((p) => formatPortRange(p)).join(',')} (${citeRows(r.provenance)})`)),
  };
  return templates.render('portcullis.nft.hbs', context);
}

export const nftablesBackend: Backend = {
  name: 'nftables',
  render(ir: IR): OutputFile[] {
    return [{ path: 'portcullis.nft', content: renderNftables(ir) }];
  },
};
