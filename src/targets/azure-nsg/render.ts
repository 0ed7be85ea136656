// Azure NSG: one ARM deployment template (nsg.json) with one
// Microsoft.Network/networkSecurityGroups resource. The template is built
// here as a JSON value and serialized; the handlebars template only lays out
// the pre-serialized top-level members.
//
// Shape:
// - Every IR address set is one ARM variable (an array of prefixes); rules
//   reference it with "[variables('<set>')]", so an address appears once in
//   the file and adding one address changes one list element.
// - One security rule per IR rule (augmented rules: prefix and port lists).
//   The nodes' end of a host rule is the nodes' prefixes of that family, or
//   the VirtualNetwork tag when the profile lists none of that family.
// - Priorities: see allocatePriorities (stable, hash of the rule id).
// - Inbound ends in an explicit deny-all (4096), overriding Azure's default
//   AllowVNetInBound / AllowAzureLoadBalancerInBound, so load balancer health
//   probes get their own allow (102) unless the profile turns it off;
//   outbound gets a deny-all only with `egress: restrict`.
// - No ICMPv6 rule: NSGs do not filter ICMPv6 (an icmpv6 IR rule needs no
//   NSG rule: ICMPv6 passes whatever the NSG says; the template lists it
//   under metadata.notFiltered).
// - Transports: Tcp, Udp, Esp, Ah; ICMP only as a whole (Icmp, IPv4). What
//   an NSG cannot express is refused (TransportRefusal), never widened or
//   dropped: ICMP limited to some types, and SCTP, GRE, IP-in-IP, VRRP
//   (no such NSG protocol). See nsgRefusal.
// - azure.node_asg: the nodes' end is an application security group the
//   template creates, instead of their address lists.
// - Several roles (renderRoles): one template, one NSG per role
//   (<nsgName>-<role>) with its role's rules as one role would have them;
//   with azure.node_asg one ASG per role (<asgName>-<role>), and peers
//   that are roles (or unions of roles) are their ASGs.

import { createHash } from 'crypto';
import { formatAddress } from '../../addresses';
import type { AddressSet, Family, IR, Rule } from '../../ir/types';
import { formatPortRange, mergePorts } from '../../ports';
import { isFullSpace, TRANSPORT_FACTS, transportKind, Transport } from '../../transports';
import { refuseTransports, Backend, checkLines, citeRows, commentBlock, headerLines, LineLimit, memoAcrossRenders, oneLine, OutputFile, TargetLimitError, TemplateSet, rolesHeaderLines, keptCommentLines, ruleCitation, keptCommentBlock } from '../base';
import type { Provenance } from '../../ir/types';
import { compareText } from '../../order';

export const ARM_SCHEMA = 'https://schema.management.azure.com/schemas/2019-04-01/deploymentTemplate.json#';
/** Microsoft.Network API version of the NSG resource (GA; used by the
 * azure-native Pulumi provider v3). */
export const NSG_API_VERSION = '2024-05-01';

/** Azure's documented limits ("Networking limits - Azure Resource Manager";
 * NSG security rule properties). */
export const AZURE_LIMITS = {
  /** "NSG rules per NSG". */
  rulesPerNsg: 1000,
  /** "IP addresses and ranges specified for source or destination in a
   * security group (The limit applies separately to source and destination)":
   * summed over all rules of the NSG (Azure's error names it
   * MaxSecurityRuleAddressesOrPortsPerSecurityGroup, which also counts
   * port ranges, so port ranges are held to it too). */
  prefixesOrPortsPerNsg: 4000,
  ruleNameLength: 80,
  /** "description: A description for this rule. Restricted to 140 chars."
   * (Microsoft.Network networkSecurityGroups/securityRules template
   * reference, SecurityRulePropertiesFormat). */
  descriptionLength: 140,
  priorityMin: 100,
  priorityMax: 4096,
} as const;

/** Priority layout (per direction; lower number = evaluated first). */
export const PRIORITY = {
  /** Baseline allows: fixed. ICMP (IPv4 only: NSGs do not filter ICMPv6). */
  icmp: 100,
  /** Azure Load Balancer health probes (service tag AzureLoadBalancer). */
  loadBalancer: 102,
  /** Home slots of the IR rules: 200 + hash(id) mod 3800. */
  bandLo: 200,
  bandSize: 3800,
  /** Rules whose home slot another rule already holds. */
  overflowLo: 4000,
  overflowSize: 96,
  /** Deny-all: the lowest precedence a custom rule can have. */
  denyAll: 4096,
} as const;

/** ARM reads the template as JSON, which has no line limit (the limit is
 * the template's size, 4 MB). This is our own bound: metadata texts are
 * wrapped (commentBlock) and JSON escaping at most doubles them. */
export const AZURE_LINE_MAX = 2048;

const AZURE_LINE_LIMIT: LineLimit = { maxBytes: AZURE_LINE_MAX, reader: 'Azure Resource Manager (JSON: no limit; portcullis bounds its lines)' };

const NAME_RE = /^[A-Za-z0-9](?:[A-Za-z0-9_.-]{0,78}[A-Za-z0-9_])?$/;

/** An ARM template expression, written as-is (not escaped). */
class ArmExpr {
  constructor(
    readonly text: string,
    /** The variable it references, for variableRef's. */
    readonly variable?: string,
  ) {}
}
const variableRef = (name: string) => new ArmExpr(`[variables('${name}')]`, name);
const parameterRef = (name: string) => new ArmExpr(`[parameters('${name}')]`);

/** A literal string ARM must not read as an expression: one that starts
 * with '[' and ends with ']' gets a second '[' (ARM's documented escape). */
export function armLiteral(s: string): string {
  return s.startsWith('[') && s.endsWith(']') ? `[${s}` : s;
}

type ArmValue = string | number | boolean | ArmExpr | ArmValue[] | { [k: string]: ArmValue | undefined };

/** To a plain JSON value: literals escaped, expressions as written,
 * undefined members dropped, key order as built. */
function toJson(v: ArmValue): unknown {
  if (v instanceof ArmExpr) return v.text;
  if (typeof v === 'string') return armLiteral(v);
  if (Array.isArray(v)) return v.map(toJson);
  if (typeof v === 'object') {
    const out: Record<string, unknown> = {};
    for (const k of Object.keys(v)) {
      const x = v[k];
      if (x !== undefined) out[k] = toJson(x);
    }
    return out;
  }
  return v;
}

/** What JSON.stringify writes before a member's value one level deep. */
const MEMBER_HEAD = '{\n  "v": '.length;

/** 2-space JSON one level deep (its first line is not indented): the value
 * as JSON.stringify indents a member, cut out of its object (cheaper than
 * indenting every line after). */
function serialize(v: ArmValue): string {
  return JSON.stringify({ v: toJson(v) }, null, 2).slice(MEMBER_HEAD, -2);
}

function hash32(text: string): number {
  return createHash('sha256').update(text, 'utf8').digest().readUInt32BE(0);
}

/** The slot a rule id asks for, from its id alone (kept across renders:
 * every environment has the same ids). */
export const homePriority = memoAcrossRenders((id: string): number => PRIORITY.bandLo + (hash32(id) % PRIORITY.bandSize));

/**
 * Priorities for the rules of one direction.
 *
 * Guarantee: a rule's priority is its home slot, a function of its own id
 * only, unless another rule of the same direction has the same home slot.
 * So adding, removing or reordering rules never renumbers a rule whose home
 * slot is its own; only rules sharing a home slot can move, and only among
 * themselves: the smallest id keeps the slot, the others take slots in the
 * overflow band 4000-4095 (hash probing, in id order). The input order never
 * matters. If the overflow band is full, the main band is probed upwards.
 */
export function allocatePriorities(ids: readonly string[]): Map<string, number> {
  const sorted = [...new Set(ids)].sort();
  const out = new Map<string, number>();
  const taken = new Set<number>();
  const displaced: string[] = [];
  for (const id of sorted) {
    const home = homePriority(id);
    if (taken.has(home)) displaced.push(id);
    else {
      taken.add(home);
      out.set(id, home);
    }
  }
  for (const id of displaced) {
    let slot: number | undefined;
    const start = hash32(`overflow:${id}`) % PRIORITY.overflowSize;
    for (let i = 0; i < PRIORITY.overflowSize && slot === undefined; i++) {
      const p = PRIORITY.overflowLo + ((start + i) % PRIORITY.overflowSize);
      if (!taken.has(p)) slot = p;
    }
    for (let i = 1; i < PRIORITY.bandSize && slot === undefined; i++) {
      const p = PRIORITY.bandLo + ((homePriority(id) - PRIORITY.bandLo + i) % PRIORITY.bandSize);
      if (!taken.has(p)) slot = p;
    }
    if (slot === undefined) throw new Error(`azure-nsg: no free priority for rule '${id}' (${sorted.length} rules in one direction)`);
    taken.add(slot);
    out.set(id, slot);
  }
  return out;
}

/** A security rule name from an IR rule id: the id itself when Azure
 * accepts it, else a sanitized prefix plus a hash of the id. */
export const ruleName = memoAcrossRenders((id: string): string => {
  if (NAME_RE.test(id)) return id;
  const hash = createHash('sha256').update(id, 'utf8').digest('hex').slice(0, 8);
  const stem = id.replace(/[^A-Za-z0-9_.-]/g, '_').replace(/^[^A-Za-z0-9]+/, '').slice(0, AZURE_LIMITS.ruleNameLength - 9);
  return `${stem || 'rule'}-${hash}`;
});

/** A catalog row's provenance text as comment lines (provenanceLines, then
 * commentBlock), kept across renders. */
const rowComment = (p: Provenance) => keptCommentLines(`${p.ref} ${p.service} (${p.ruleId}): ${p.description}`);

/** A rule's description: its citation (ruleCitation), one line, clipped;
 * kept across renders. */
const describeRule = memoAcrossRenders((citation: string) => clip(oneLine(citation), AZURE_LIMITS.descriptionLength));

/** Cut to at most `max` UTF-16 units (what Azure counts) on a code point
 * boundary, marking the cut. */
export function clip(text: string, max: number): string {
  if (text.length <= max) return text;
  let out = '';
  for (const ch of text) {
    if (out.length + ch.length > max - 3) break;
    out += ch;
  }
  return out + '...';
}

/** NSG securityRules protocol per transport (SecurityRuleProtocol: Tcp,
 * Udp, Icmp, Esp, Ah, *); icmpv6 has none (not filtered). */
const PROTOCOL: Partial<Record<Transport, string>> = { tcp: 'Tcp', udp: 'Udp', icmp: 'Icmp', esp: 'Esp', ah: 'Ah' };

/** Why an NSG cannot carry a rule, or undefined. Protocols NSGs do not have
 * come first (checkRefusals), then ICMP types. */
export function nsgProtocolRefusal(r: Rule): { why: string; hint?: string } | undefined {
  if (r.transport === 'icmpv6' || PROTOCOL[r.transport]) return undefined;
  return {
    why: `Azure NSGs have no ${TRANSPORT_FACTS[r.transport].title} (IP protocol ${TRANSPORT_FACTS[r.transport].number}): a security rule's protocol is Tcp, Udp, Icmp, Esp, Ah or * (any), and * would allow every protocol`,
    hint: `drop the rule for azure-nsg (filter ${r.transport} on the hosts: nftables, iptables, firewalld), or compile a profile without it`,
  };
}

export function nsgIcmpRefusal(r: Rule): { why: string; hint?: string } | undefined {
  if (r.transport !== 'icmp' || isFullSpace('icmp', r.ports)) return undefined;
  return {
    why: 'ICMP types cannot be expressed: Azure NSGs match ICMP as a whole (protocol Icmp), so the rule would allow every ICMP type',
    hint: 'allow every ICMP type (omit icmp_types) or drop the rule for azure-nsg',
  };
}

/** Refuses, for the rules the NSG carries, what it cannot express. */
function checkRefusals(ir: IR, carried: Rule[]): void {
  const only = { ...ir, rules: carried };
  refuseTransports('azure-nsg', only, nsgProtocolRefusal);
  refuseTransports('azure-nsg', only, nsgIcmpRefusal);
}
const SUFFIX: Record<Family, string> = { ipv4: 'v4', ipv6: 'v6' };
const ANY: Record<Family, string> = { ipv4: '0.0.0.0/0', ipv6: '::/0' };

interface SecurityRule {
  name: string;
  properties: {
    description: string;
    protocol: string;
    sourcePortRange: string;
    destinationPortRange?: string;
    destinationPortRanges?: string[];
    sourceAddressPrefix?: string;
    sourceAddressPrefixes?: ArmExpr;
    sourceApplicationSecurityGroups?: { id: ArmExpr }[];
    destinationAddressPrefix?: string;
    destinationAddressPrefixes?: ArmExpr;
    destinationApplicationSecurityGroups?: { id: ArmExpr }[];
    access: 'Allow' | 'Deny';
    priority: number;
    direction: 'Inbound' | 'Outbound';
  };
}

/** One end of a rule: a variable holding prefixes, a single tag/'*', or
 * application security groups (the nodes'; with several roles, the roles'). */
type End = { set: AddressSet } | { tag: string } | { asg: ArmExpr[] };

/** A rule end's property, per side and kind (constant keys: none made per rule). */
const END_KEYS = {
  source: { asg: 'sourceApplicationSecurityGroups', tag: 'sourceAddressPrefix', set: 'sourceAddressPrefixes' },
  destination: { asg: 'destinationApplicationSecurityGroups', tag: 'destinationAddressPrefix', set: 'destinationAddressPrefixes' },
} as const;

/** The nodes' ASG, as the template's parameter names it. */
const ASG_ID = new ArmExpr("[resourceId('Microsoft.Network/applicationSecurityGroups', parameters('asgName'))]");

/** The policy does not fit one NSG. A TargetLimitError, so compile()
 * reports it on the profile (at the group contributing most); `problems`
 * says which limits, by how much. */
export class AzureLimitError extends TargetLimitError {
  constructor(
    message: string,
    readonly problems: { limit: string; count: number; max: number; message: string }[],
    hint?: string,
    group?: string,
  ) {
    super('azure-nsg', message, hint, group);
    this.name = 'AzureLimitError';
  }
}

export interface NsgPlan {
  /** Set name -> prefixes, in the IR's order. */
  variables: [string, string[]][];
  rules: SecurityRule[];
  /** Rule name -> provenance lines. */
  provenance: [string, string[]][];
  /** IR rules that need no NSG rule (ICMPv6), id -> why. */
  notFiltered: [string, string[]][];
}

/** The roles a peer group stands for when roles are ASGs: a role, or a
 * union all of whose members are roles (catalog role order); else
 * undefined (addresses). */
function rolesOf(ir: IR, group: string): string[] | undefined {
  const roles = ir.roles ?? [ir.host];
  if (roles.includes(group)) return [group];
  const members = ir.unions?.[group];
  return members?.length && members.every((m) => roles.includes(m)) ? roles.filter((r) => members.includes(r)) : undefined;
}

/** Several roles with azure.node_asg: each role's ASG is named
 * <asgName>-<role>. */
export function roleAsgName(role: string): ArmExpr {
  return new ArmExpr(`[concat(parameters('asgName'), '-${role}')]`);
}
export function roleAsgId(role: string): ArmExpr {
  return new ArmExpr(`[resourceId('Microsoft.Network/applicationSecurityGroups', concat(parameters('asgName'), '-${role}'))]`);
}

/** One role's NSG (roles: true: a role of several, whose ASGs, with
 * azure.node_asg, are one per role). */
export function buildNsg(ir: IR, roles = false): NsgPlan {
  const setByName = new Map(ir.sets.map((s) => [s.name, s]));
  const hostSet = (family: Family) => ir.sets.find((s) => s.group === ir.host && s.family === family);
  // With azure.node_asg the nodes are their ASG wherever they are an end
  // (host rules and node-to-node peers): no node address in any rule.
  // Several roles: each role is its own ASG, and a peer that is a role or
  // a union of roles is theirs.
  const asg = ir.azure?.node_asg !== undefined;
  const hostEnd = (family: Family): End => {
    if (asg) return { asg: [roles ? roleAsgId(ir.host) : ASG_ID] };
    const s = hostSet(family);
    return s ? { set: s } : { tag: 'VirtualNetwork' };
  };
  const peerEnd = (name: string | undefined, rule: Rule): End => {
    const s = name === undefined ? undefined : setByName.get(name);
    if (!s) throw new Error(`azure-nsg: rule '${rule.id}' names no address set for its peer`);
    if (asg && roles) {
      const members = rolesOf(ir, s.group);
      return members ? { asg: members.map(roleAsgId) } : { set: s };
    }
    return asg && s.group === ir.host ? { asg: [ASG_ID] } : { set: s };
  };
  const restrict = ir.egress === 'restrict';
  const used = new Set<string>();
  const endProps = (side: 'source' | 'destination', end: End) => {
    const key = END_KEYS[side];
    if ('asg' in end) return { [key.asg]: end.asg.map((id) => ({ id })) };
    if ('tag' in end) return { [key.tag]: end.tag };
    used.add(end.set.name);
    return { [key.set]: variableRef(end.set.name) };
  };

  // The IR rules this NSG carries: host ingress, off-host (network-level:
  // the NSG can enforce them wherever it is attached), and host egress only
  // with `egress: restrict` (with `allow`, Azure's defaults already allow).
  const carried = ir.rules.filter((r) => r.direction === 'ingress' || restrict);
  checkRefusals(ir, carried);
  const priorities = {
    ingress: allocatePriorities(carried.filter((r) => r.direction === 'ingress').map((r) => r.id)),
    egress: allocatePriorities(carried.filter((r) => r.direction === 'egress').map((r) => r.id)),
  };

  const rules: SecurityRule[] = [];
  const provenance: [string, string[]][] = [];
  const names = new Map<string, string>();
  const addRule = (id: string, rule: SecurityRule, lines: string[]) => {
    const clash = names.get(rule.name);
    if (clash !== undefined) throw new Error(`azure-nsg: rules '${clash}' and '${id}' map to the same name '${rule.name}'`);
    names.set(rule.name, id);
    rules.push(rule);
    provenance.push([rule.name, lines]);
  };

  // Baseline: the ICMP that IPv4 needs (Azure filters ICMP by protocol
  // only; the host firewalls narrow it to types), when the nodes have IPv4
  // or a carried inbound host rule uses it. No ICMPv6 rule: NSGs do not
  // filter ICMPv6 (Microsoft's IPv6 overview), so a rule would only pretend;
  // neighbour discovery and the rest of ICMPv6 pass whatever the NSG says.
  if (hostSet('ipv4') || carried.some((r) => r.scope === 'host' && r.direction === 'ingress' && r.family === 'ipv4')) {
    const name = 'baseline-icmp-v4';
    addRule(
      name,
      {
        name,
        properties: {
          description: clip(`${name}: ICMP to the nodes, as IPv4 needs (contract baseline; the host firewalls filter types)`, AZURE_LIMITS.descriptionLength),
          protocol: 'Icmp',
          sourcePortRange: '*',
          destinationPortRange: '*',
          // Any IPv4 source, not '*': with the VirtualNetwork fallback as
          // destination, '*' would read as both families.
          sourceAddressPrefix: ANY.ipv4,
          ...endProps('destination', hostEnd('ipv4')),
          access: 'Allow',
          priority: PRIORITY.icmp,
          direction: 'Inbound',
        },
      },
      [`Contract baseline: inbound ICMP to the nodes (${ir.icmp.ingress.ipv4.join(', ')} on the host firewalls). ICMPv6 has no rule: NSGs do not filter it.`],
    );
  }

  // Load balancer health probes come from the AzureLoadBalancer tag
  // (168.63.129.16); the deny-all at 4096 would override Azure's default
  // AllowAzureLoadBalancerInBound, so every probe of a load-balanced port
  // would fail. Probes are TCP, HTTP or HTTPS: the TCP ports the inbound
  // rules open, and nothing else.
  const probePorts = mergePorts(carried.filter((r) => r.direction === 'ingress' && r.scope === 'host' && r.transport === 'tcp').flatMap((r) => r.ports));
  if (ir.azure?.load_balancer_probes !== false && probePorts.length) {
    const name = 'baseline-allow-azure-lb';
    addRule(
      name,
      {
        name,
        properties: {
          description: clip(`${name}: Azure Load Balancer health probes (168.63.129.16) on the TCP ports the inbound rules open`, AZURE_LIMITS.descriptionLength),
          protocol: 'Tcp',
          sourcePortRange: '*',
          destinationPortRanges: probePorts.map((p) => formatPortRange(p)),
          sourceAddressPrefix: 'AzureLoadBalancer',
          destinationAddressPrefix: '*',
          access: 'Allow',
          priority: PRIORITY.loadBalancer,
          direction: 'Inbound',
        },
      },
      ['Azure Load Balancer health probes (service tag AzureLoadBalancer) on every TCP port an inbound rule opens; turn off with azure.load_balancer_probes: false.'],
    );
  }

  const notFiltered: [string, string[]][] = [];
  for (const r of carried) {
    if (r.transport === 'icmpv6') {
      // NSGs do not filter ICMPv6: it passes whatever a rule says, so the
      // rule needs none; listed so a reviewer finds it.
      notFiltered.push([r.id, commentBlock([`${r.id} ${citeRows(r.provenance)}: ${r.sourceGroup} -> ${r.destinationGroup}, ICMPv6: no NSG rule (NSGs do not filter ICMPv6; the host firewalls filter its types).`])]);
      continue;
    }
    const name = ruleName(r.id);
    const ingressHost = r.scope === 'host' && r.direction === 'ingress';
    const egressHost = r.scope === 'host' && r.direction === 'egress';
    const src = egressHost ? hostEnd(r.family) : peerEnd(r.source, r);
    const dst = ingressHost ? hostEnd(r.family) : peerEnd(r.destination, r);
    const lines: string[] = [];
    if (r.antiLockout) lines.push(...keptCommentLines('Anti-lockout: carries the admins\' SSH rule.'));
    if (r.scope === 'off-host') lines.push(...keptCommentLines(`Off-host: ${r.sourceGroup} -> ${r.destinationGroup}; enforced where this NSG filters the ${r.destinationGroup} addresses.`));
    for (const p of r.provenance) lines.push(...rowComment(p));
    addRule(
      r.id,
      {
        name,
        properties: {
          description: describeRule(ruleCitation(r)),
          protocol: PROTOCOL[r.transport]!,
          sourcePortRange: '*',
          // Port rules list their ports; ICMP (any type, see nsgIcmpRefusal)
          // and the portless protocols match every "port": '*'.
          ...(transportKind(r.transport) === 'ports' ? { destinationPortRanges: r.ports.map((p) => formatPortRange(p)) } : { destinationPortRange: '*' }),
          ...endProps('source', src),
          ...endProps('destination', dst),
          access: 'Allow',
          priority: priorities[r.direction].get(r.id)!,
          direction: r.direction === 'ingress' ? 'Inbound' : 'Outbound',
        },
      },
      lines,
    );
  }

  const denyAll = (direction: 'Inbound' | 'Outbound', why: string) => {
    const name = `baseline-deny-all-${direction === 'Inbound' ? 'in' : 'out'}`;
    addRule(
      name,
      {
        name,
        properties: {
          description: clip(`${name}: ${why}`, AZURE_LIMITS.descriptionLength),
          protocol: '*',
          sourcePortRange: '*',
          destinationPortRange: '*',
          sourceAddressPrefix: '*',
          destinationAddressPrefix: '*',
          access: 'Deny',
          priority: PRIORITY.denyAll,
          direction,
        },
      },
      [why],
    );
  };
  denyAll('Inbound', 'default deny inbound (overrides AllowVNetInBound and AllowAzureLoadBalancerInBound)');
  if (restrict) denyAll('Outbound', 'egress restrict: deny other outbound (overrides AllowVnetOutBound and AllowInternetOutBound)');

  const order = { Inbound: 0, Outbound: 1 };
  rules.sort((a, b) => order[a.properties.direction] - order[b.properties.direction] || a.properties.priority - b.properties.priority);
  const rank = new Map(rules.map((r, i) => [r.name, i]));
  provenance.sort(([a], [b]) => rank.get(a)! - rank.get(b)!);

  const variables: [string, string[]][] = ir.sets.filter((s) => used.has(s.name)).map((s) => [s.name, s.cidrs.map(formatAddress)]);
  checkLimits(rules, new Map(variables), new Map(ir.sets.map((x) => [x.name, x.group])));
  return { variables, rules, provenance, notFiltered };
}

/** Azure's limits, checked on the expanded rules: a clear error, not a
 * failed deployment. */
function checkLimits(rules: SecurityRule[], variables: Map<string, string[]>, groupOf: Map<string, string>): void {
  const problems: AzureLimitError['problems'] = [];
  // Which group's addresses weigh most in an over-full field: where to point.
  let blame: { group: string; weight: number } | undefined;
  if (rules.length > AZURE_LIMITS.rulesPerNsg)
    problems.push({
      limit: 'rulesPerNsg',
      count: rules.length,
      max: AZURE_LIMITS.rulesPerNsg,
      message: `${rules.length} security rules, over Azure's limit of ${AZURE_LIMITS.rulesPerNsg} rules per NSG`,
    });
  const varName = (e: ArmExpr) => e.variable!;
  // A single value ('*', a tag, one prefix) counts as one: conservative.
  const count = (one: string | undefined, many: ArmExpr | string[] | undefined): number => {
    if (many instanceof ArmExpr) return variables.get(varName(many))!.length;
    if (many) return many.length;
    return one === undefined ? 0 : 1;
  };
  const fields = [
    ['sourceAddressPrefixes', 'source address prefixes', (r: SecurityRule) => count(r.properties.sourceAddressPrefix, r.properties.sourceAddressPrefixes), (r: SecurityRule) => r.properties.sourceAddressPrefixes],
    ['destinationAddressPrefixes', 'destination address prefixes', (r: SecurityRule) => count(r.properties.destinationAddressPrefix, r.properties.destinationAddressPrefixes), (r: SecurityRule) => r.properties.destinationAddressPrefixes],
    ['destinationPortRanges', 'destination port ranges', (r: SecurityRule) => count(r.properties.destinationPortRange, r.properties.destinationPortRanges), () => undefined],
  ] as const;
  for (const [limit, what, f, ref] of fields) {
    const total = rules.reduce((n, r) => n + f(r), 0);
    if (total <= AZURE_LIMITS.prefixesOrPortsPerNsg) continue;
    const top = [...rules].sort((a, b) => f(b) - f(a) || compareText(a.name, b.name)).slice(0, 3).map((r) => `${r.name} ${f(r)}`);
    problems.push({
      limit,
      count: total,
      max: AZURE_LIMITS.prefixesOrPortsPerNsg,
      message: `${total} ${what} across the NSG's rules, over Azure's limit of ${AZURE_LIMITS.prefixesOrPortsPerNsg} per NSG (largest: ${top.join(', ')})`,
    });
    const byGroup = new Map<string, number>();
    for (const r of rules) {
      const e = ref(r);
      if (!e) continue;
      const g = groupOf.get(varName(e));
      if (g !== undefined) byGroup.set(g, (byGroup.get(g) ?? 0) + f(r));
    }
    for (const [group, weight] of [...byGroup].sort(([a], [b]) => compareText(a, b)))
      if (!blame || weight > blame.weight) blame = { group, weight };
  }
  if (problems.length)
    throw new AzureLimitError(
      problems.map((p) => p.message).join('; '),
      problems,
      'Azure counts every rule\'s list in full (a group used by N rules counts N times): merge addresses into fewer CIDRs, ' +
        'or turn off features; the limits are per NSG, so the policy would have to be split by hand',
      blame?.group,
    );
}

const templates = new TemplateSet('azure-nsg', {});

export function renderAzureNsg(ir: IR): string {
  const model = buildNsg(ir);
  const nsgName = ir.azure?.nsg_name;
  const location = ir.azure?.location;
  const metadata: ArmValue = {
    generator: 'portcullis',
    comments: keptCommentBlock(headerLines(ir)),
    deploy: [
      'az deployment group create --resource-group RG --template-file nsg.json' + (nsgName ? '' : ' --parameters nsgName=NAME'),
      'Associate the NSG with the nodes\' network interfaces (recommended), or with a subnet that holds only nodes: the inbound deny-all applies to every host the NSG covers.',
      ir.azure?.node_asg !== undefined
        ? 'Nodes are the application security group asgName: add each node NIC\'s IP configuration to it (applicationSecurityGroups); rules name no node address.'
        : 'Node addresses are the private IPs Azure filters on.',
      'Inbound ends in an explicit deny-all (priority 4096); Azure platform traffic (168.63.129.16 DHCP/DNS, IMDS) is not subject to NSG rules.',
      ir.azure?.load_balancer_probes === false
        ? 'Azure Load Balancer health probes are not allowed (azure.load_balancer_probes: false): the deny-all drops them.'
        : 'Azure Load Balancer health probes (AzureLoadBalancer) are allowed on the TCP ports the inbound rules open (priority 102).',
      'ICMPv6 is not filtered by NSGs: it passes whatever the rules say; the host firewalls filter its types.',
      ir.egress === 'restrict'
        ? 'Outbound (egress: restrict): only the listed rules, then deny-all (priority 4096).'
        : 'Outbound (egress: allow): Azure\'s default rules (AllowVnetOutBound, AllowInternetOutBound) apply.',
    ],
    rules: Object.fromEntries(model.provenance) as ArmValue,
    // Only when there are such rules: other templates keep their bytes.
    ...(model.notFiltered.length ? { notFiltered: Object.fromEntries(model.notFiltered) as ArmValue } : {}),
  };
  const asgName = ir.azure?.node_asg;
  const parameters: ArmValue = {
    nsgName: {
      type: 'string',
      defaultValue: nsgName,
      metadata: { description: 'Name of the network security group.' },
    },
    ...(asgName !== undefined
      ? {
          asgName: {
            type: 'string',
            defaultValue: asgName,
            metadata: { description: 'Name of the application security group of the nodes (their NICs join it).' },
          },
        }
      : {}),
    location: {
      type: 'string',
      defaultValue: location ?? new ArmExpr('[resourceGroup().location]'),
      metadata: { description: 'Azure region of the network security group.' },
    },
  };
  const variables: ArmValue = Object.fromEntries(model.variables);
  const resources: ArmValue = [
    ...(asgName !== undefined
      ? [
          {
            type: 'Microsoft.Network/applicationSecurityGroups',
            apiVersion: NSG_API_VERSION,
            name: parameterRef('asgName'),
            location: parameterRef('location'),
            properties: {},
          },
        ]
      : []),
    {
      type: 'Microsoft.Network/networkSecurityGroups',
      apiVersion: NSG_API_VERSION,
      name: parameterRef('nsgName'),
      location: parameterRef('location'),
      ...(asgName !== undefined ? { dependsOn: [ASG_ID] } : {}),
      properties: { securityRules: model.rules as unknown as ArmValue },
    },
  ];
  const outputs: ArmValue = {
    nsgId: { type: 'string', value: new ArmExpr("[resourceId('Microsoft.Network/networkSecurityGroups', parameters('nsgName'))]") },
    ...(asgName !== undefined ? { asgId: { type: 'string', value: ASG_ID } } : {}),
  };
  return templates.render('nsg.json.hbs', {
    schema: serialize(ARM_SCHEMA),
    contentVersion: serialize('1.0.0.0'),
    metadata: serialize(metadata),
    parameters: serialize(parameters),
    variables: serialize(variables),
    resources: serialize(resources),
    outputs: serialize(outputs),
  });
}

/** The NSG of a role, named <nsgName>-<role>. */
export function roleNsgName(role: string): ArmExpr {
  return new ArmExpr(`[concat(parameters('nsgName'), '-${role}')]`);
}
export function roleNsgId(role: string): ArmExpr {
  return new ArmExpr(`[resourceId('Microsoft.Network/networkSecurityGroups', concat(parameters('nsgName'), '-${role}'))]`);
}

/**
 * Several roles in one template: one NSG per role (<nsgName>-<role>), each
 * with exactly the rules, priorities and limits its role's one-role NSG
 * would have, to be associated with that role's NICs (or a subnet holding
 * only that role). With azure.node_asg one ASG per role
 * (<asgName>-<role>): a role's own end and every peer that is a role (or
 * a union of roles) are ASGs, no node address is listed.
 */
export function renderAzureNsgRoles(irs: IR[]): string {
  const plans = irs.map((ir) => {
    try {
      return { ir, role: ir.host, model: buildNsg(ir, true) };
    } catch (e) {
      if (e instanceof AzureLimitError) throw new AzureLimitError(`NSG of role '${ir.host}': ${e.message}`, e.problems, e.hint, e.group);
      throw e;
    }
  });
  const first = irs[0];
  const nsgName = first.azure?.nsg_name;
  const asgName = first.azure?.node_asg;
  const metadata: ArmValue = {
    generator: 'portcullis',
    comments: commentBlock(rolesHeaderLines(irs, 'one network security group each')),
    deploy: [
      'az deployment group create --resource-group RG --template-file nsg.json' + (nsgName ? '' : ' --parameters nsgName=NAME'),
      `One network security group per role: ${irs.map((ir) => `${ir.host} (nsgName-${ir.host})`).join(', ')}. Associate each with its role's network interfaces (recommended), or with a subnet that holds only that role: the inbound deny-all applies to every host the NSG covers.`,
      asgName !== undefined
        ? `Each role is an application security group (asgName-<role>): add each node NIC's IP configuration to its role's ASG (applicationSecurityGroups); rules name no node address.`
        : 'Node addresses are the private IPs Azure filters on.',
      'Inbound ends in an explicit deny-all (priority 4096) in every NSG; Azure platform traffic (168.63.129.16 DHCP/DNS, IMDS) is not subject to NSG rules.',
      first.azure?.load_balancer_probes === false
        ? 'Azure Load Balancer health probes are not allowed (azure.load_balancer_probes: false): the deny-all drops them.'
        : 'Azure Load Balancer health probes (AzureLoadBalancer) are allowed on the TCP ports each role\'s inbound rules open (priority 102).',
      'ICMPv6 is not filtered by NSGs: it passes whatever the rules say; the host firewalls filter its types.',
      first.egress === 'restrict'
        ? 'Outbound (egress: restrict): only the listed rules, then deny-all (priority 4096).'
        : 'Outbound (egress: allow): Azure\'s default rules (AllowVnetOutBound, AllowInternetOutBound) apply.',
    ],
    rules: Object.fromEntries(plans.map(({ role, model }) => [role, Object.fromEntries(model.provenance) as ArmValue])) as ArmValue,
    ...(plans.some(({ model }) => model.notFiltered.length)
      ? { notFiltered: Object.fromEntries(plans.filter(({ model }) => model.notFiltered.length).map(({ role, model }) => [role, Object.fromEntries(model.notFiltered) as ArmValue])) as ArmValue }
      : {}),
  };
  const parameters: ArmValue = {
    nsgName: {
      type: 'string',
      defaultValue: nsgName,
      metadata: { description: 'Prefix of the network security groups\' names: each role\'s NSG is <nsgName>-<role>.' },
    },
    ...(asgName !== undefined
      ? {
          asgName: {
            type: 'string',
            defaultValue: asgName,
            metadata: { description: 'Prefix of the application security groups\' names: each role\'s ASG is <asgName>-<role> (its NICs join it).' },
          },
        }
      : {}),
    location: {
      type: 'string',
      defaultValue: first.azure?.location ?? new ArmExpr('[resourceGroup().location]'),
      metadata: { description: 'Azure region of the network security groups.' },
    },
  };
  // Every role's address sets, once each (a set is a group's addresses of a
  // family: the same in every role's IR).
  const variables = new Map<string, string[]>();
  for (const { model } of plans)
    for (const [name, prefixes] of model.variables) {
      const seen = variables.get(name);
      if (seen && seen.join() !== prefixes.join()) throw new Error(`internal: azure-nsg: variable '${name}' differs between roles`);
      variables.set(name, prefixes);
    }
  const ids = (text: string) => [...text.matchAll(/concat\(parameters\('asgName'\), '-([a-z][a-z0-9_]*)'\)/g)].map((m) => m[1]);
  const resources: ArmValue = [
    ...(asgName !== undefined
      ? irs.map((ir) => ({
          type: 'Microsoft.Network/applicationSecurityGroups',
          apiVersion: NSG_API_VERSION,
          name: roleAsgName(ir.host),
          location: parameterRef('location'),
          properties: {},
        }))
      : []),
    ...plans.map(({ role, model }) => {
      // The ASGs this NSG's rules name, in role order.
      const named = new Set(ids(JSON.stringify(toJson(model.rules as unknown as ArmValue))));
      const dependsOn = irs.map((ir) => ir.host).filter((r) => named.has(r)).map(roleAsgId);
      return {
        type: 'Microsoft.Network/networkSecurityGroups',
        apiVersion: NSG_API_VERSION,
        name: roleNsgName(role),
        location: parameterRef('location'),
        ...(dependsOn.length ? { dependsOn } : {}),
        properties: { securityRules: model.rules as unknown as ArmValue },
      };
    }),
  ];
  const outputs: ArmValue = Object.fromEntries(
    irs.flatMap((ir) => [
      [`nsgId_${ir.host}`, { type: 'string', value: roleNsgId(ir.host) }],
      ...(asgName !== undefined ? [[`asgId_${ir.host}`, { type: 'string', value: roleAsgId(ir.host) }]] : []),
    ]),
  );
  return templates.render('nsg.json.hbs', {
    schema: serialize(ARM_SCHEMA),
    contentVersion: serialize('1.0.0.0'),
    metadata: serialize(metadata),
    parameters: serialize(parameters),
    variables: serialize(Object.fromEntries([...variables].sort(([a], [b]) => compareText(a, b)))),
    resources: serialize(resources),
    outputs: serialize(outputs),
  });
}

export const azureNsgBackend: Backend = {
  name: 'azure-nsg',
  render(ir: IR): OutputFile[] {
    return checkLines('azure-nsg', [{ path: 'nsg.json', content: renderAzureNsg(ir) }], () => AZURE_LINE_LIMIT);
  },
  renderRoles(irs: IR[]): OutputFile[] {
    return checkLines('azure-nsg', [{ path: 'nsg.json', content: renderAzureNsgRoles(irs) }], () => AZURE_LINE_LIMIT);
  },
};
