// iptables: rules.v4 / rules.v6 for `iptables-restore --noflush`, and the
// ipsets they match (ipsets.v4 / ipsets.v6, for `ipset restore`). Only the
// PORTCULLIS-INPUT / PORTCULLIS-OUTPUT chains are declared and refilled;
// addresses live in ipsets, so the rule count does not grow with them.

import type { Family } from '../addresses';
import type { AddressSet, IR, Rule } from '../ir/types';
import { formatPortRange, PortRange } from '../ports';
import { Backend, boundedName, citeRows, hashNetEntries, headerLines, ICMP_TYPE_NUMBERS, oneLine, OutputFile, safeComment, TemplateSet } from './base';

export const INPUT_CHAIN = 'PORTCULLIS-INPUT';
export const OUTPUT_CHAIN = 'PORTCULLIS-OUTPUT';

/** The multiport match takes at most 15 ports, a range counting as two. */
export const MULTIPORT_MAX = 15;

export function chunkPorts(ports: PortRange[]): PortRange[][] {
  const chunks: PortRange[][] = [];
  let cur: PortRange[] = [];
  let weight = 0;
  for (const p of ports) {
    const w = p.lo === p.hi ? 1 : 2;
    if (weight + w > MULTIPORT_MAX) {
      chunks.push(cur);
      cur = [];
      weight = 0;
    }
    cur.push(p);
    weight += w;
  }
  if (cur.length) chunks.push(cur);
  return chunks;
}

/** ipset names are at most 31 characters; keep them readable, and unique
 * by a hash suffix when the group name is too long. The staging copy used
 * for the atomic swap appends "-n", so 29 is the budget. */
export function ipsetName(set: AddressSet): string {
  return boundedName('pc-', set.name, 29, 6);
}

/** Comments use a safe alphabet, so iptables-restore's quoting never sees a
 * quote or backslash; the full text is in `#` lines above the rule. */
export function iptablesComment(text: string): string {
  return safeComment(text, 250);
}

const templates = new TemplateSet('iptables', {});

function ruleLines(rule: Rule, sets: Map<string, AddressSet>): { notes: string[]; lines: string[] } {
  const chain = rule.direction === 'ingress' ? INPUT_CHAIN : OUTPUT_CHAIN;
  const peer = sets.get((rule.direction === 'ingress' ? rule.source : rule.destination)!)!;
  const dir = rule.direction === 'ingress' ? 'src' : 'dst';
  const comment = iptablesComment(`${rule.id} ${citeRows(rule.provenance)}`);
  return {
    notes: rule.provenance.map((p) => oneLine(`${p.ref} ${p.service}: ${p.description}`)),
    lines: chunkPorts(rule.ports).map((chunk) => {
      const ports = chunk.map((p) => formatPortRange(p, ':')).join(',');
      const portMatch = chunk.length === 1 ? `--dport ${ports}` : `-m multiport --dports ${ports}`;
      return `-A ${chain} -m set --match-set ${ipsetName(peer)} ${dir} -p ${rule.transport} ${portMatch} -m comment --comment ${comment} -j ACCEPT`;
    }),
  };
}

/** ICMP by type number: unambiguous in both iptables and ip6tables. */
function icmpLines(chain: string, family: Family, types: string[]): string[] {
  return types.map((t) =>
    family === 'ipv4'
      ? `-A ${chain} -p icmp --icmp-type ${ICMP_TYPE_NUMBERS.ipv4[t]} -m comment --comment "${t}" -j ACCEPT`
      : `-A ${chain} -p ipv6-icmp --icmpv6-type ${ICMP_TYPE_NUMBERS.ipv6[t]} -m comment --comment "${t}" -j ACCEPT`,
  );
}

function familyFiles(ir: IR, family: Family): OutputFile[] {
  const suffix = family === 'ipv4' ? 'v4' : 'v6';
  const host = ir.rules.filter((r) => r.scope === 'host' && r.family === family);
  const restrict = ir.egress === 'restrict';
  const emitted = host.filter((r) => r.direction === 'ingress' || restrict);
  const setsByName = new Map(ir.sets.map((s) => [s.name, s]));
  const used = ir.sets.filter((s) => s.family === family && emitted.some((r) => r.source === s.name || r.destination === s.name));
  const ipsetFamily = family === 'ipv4' ? 'inet' : 'inet6';
  const header = headerLines(ir);
  const ipsets = used.map((s) => {
    const entries = hashNetEntries(s.cidrs);
    return {
      name: ipsetName(s),
      group: s.group,
      // maxelem defaults to 65536; large sites need more.
      options: `hash:net family ${ipsetFamily}${entries.length > 65536 ? ` maxelem ${entries.length}` : ''}`,
      entries,
    };
  });
  const context = {
    header,
    family: suffix,
    restore: family === 'ipv4' ? 'iptables-restore' : 'ip6tables-restore',
    cmd: family === 'ipv4' ? 'iptables' : 'ip6tables',
    inputChain: INPUT_CHAIN,
    outputChain: OUTPUT_CHAIN,
    restrict,
    icmpIn: icmpLines(INPUT_CHAIN, family, ir.icmp.ingress[family]),
    icmpOut: restrict ? icmpLines(OUTPUT_CHAIN, family, ir.icmp.egress[family]) : [],
    inputRules: host.filter((r) => r.direction === 'ingress').map((r) => ruleLines(r, setsByName)),
    outputRules: restrict ? host.filter((r) => r.direction === 'egress').map((r) => ruleLines(r, setsByName)) : [],
    ipsets,
  };
  return [
    { path: `ipsets.${suffix}`, content: templates.render('ipsets.hbs', context) },
    { path: `rules.${suffix}`, content: templates.render('rules.hbs', context) },
  ];
}

export const iptablesBackend: Backend = {
  name: 'iptables',
  render(ir: IR): OutputFile[] {
    return [...familyFiles(ir, 'ipv4'), ...familyFiles(ir, 'ipv6')];
  },
};
