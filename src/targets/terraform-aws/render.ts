// terraform-aws: a small Terraform module (main.tf, variables.tf,
// outputs.tf) with one
// aws_security_group for the nodes and one aws_vpc_security_group_ingress_rule
// / _egress_rule per (IR rule, port range, address).
//
// Design:
// - Rules are `for_each` over literal lists in `locals`, one line per rule,
//   keyed by what the rule allows, "<protocol>/<ports>/<address>" (the list
//   gives direction and family): adding or removing an address or a rule
//   adds or removes exactly its own lines and resources, and renaming or
//   merging catalog rules changes only descriptions (updated in place),
//   never a resource address (no destroy and re-create of identical rules).
// - Node-to-node rules reference the nodes' security group itself
//   (referenced_security_group_id), so node addresses are never listed: a
//   node is any instance with the group attached. IPv4 and IPv6 IR rules of
//   the node peer collapse into one such rule (an SG reference covers both
//   families), keyed "tcp/2181/self".
// - A module: name, vpc_id and tags are variables (the profile's values
//   their defaults); groups use name_prefix with create_before_destroy, so a
//   change that replaces a group creates the new one first; descriptions are
//   constant (a changed description would replace the group).
// - AWS security groups are allow-only and stateful: default deny, replies
//   allowed. ICMP that the host backends allow (IR icmp policy) becomes
//   explicit ICMP rules from anywhere (Path MTU discovery needs them).
// - Egress: the AWS provider removes the default allow-all egress rule of a
//   group it creates, so `egress: allow` emits explicit allow-all rules
//   (0.0.0.0/0 and ::/0, all protocols); `restrict` emits only the IR's
//   egress rules and egress ICMP.
// - Quotas: 60 inbound and 60 outbound rules per group and address family
//   (an SG-reference rule counts once in each family). When a direction and
//   family needs more, the rules are split first-fit, in a fixed order, over
//   up to 5 groups (the default quota of groups per network interface):
//   nodes, nodes_2, ... all of which are attached to every node. Past 5
//   groups compilation fails naming the count and the limit.
// - Several roles (renderRoles): one module, a group (or quota split) per
//   role with its own lists and resources (servers_in_ipv4, ...); a peer
//   that is a role references that role's group (key .../sg:<role>), a
//   union of roles one reference per member role; outputs by role.
// - Strings: descriptions keep only the characters AWS accepts in a rule
//   description (255 at most); every string literal goes through hclString,
//   which escapes `\`, `"`, `${`, `%{` and control characters.

import { Family, formatCidr } from '../../addresses';
import type { AddressSet, IR, Provenance, Rule } from '../../ir/types';
import { formatPortRange, mergePorts, PortRange } from '../../ports';
import { describeMatch, isFullSpace, TRANSPORT_FACTS, transportKind, Transport } from '../../transports';
import { refuseTransports, Backend, cachedBy, checkLines, citeRows, commentBlock, commentLines, headerLines, ICMP_TYPE_NUMBERS, LineLimit, memoAcrossRenders, oneLine, OutputFile, TargetLimitError, TemplateSet, rolesHeaderLines } from '../base';
import { compareText } from '../../order';

/** AWS: inbound (and, separately, outbound) rules per security group, per family. */
export const AWS_RULES_PER_GROUP = 60;
/** AWS: security groups per network interface (default quota). */
export const AWS_GROUPS_PER_INTERFACE = 5;
/** AWS: length limit of a security group (and security group rule)
 * description: "Constraints: Up to 255 characters in length" (EC2 API
 * reference, CreateSecurityGroup GroupDescription, IpRange / Ipv6Range /
 * UserIdGroupPair Description). */
export const AWS_DESCRIPTION_MAX = 255;

/** Terraform's HCL scanner (hashicorp/hcl, hclsyntax) reads the whole file
 * and has no line limit. This is our own bound: comments are wrapped
 * (commentLines) and every listed rule's strings are short (a description is
 * at most AWS_DESCRIPTION_MAX characters of AWS's ASCII alphabet, which
 * hclString lengthens by at most half: `${` -> `$${`). */
export const TERRAFORM_LINE_MAX = 2048;

const TERRAFORM_LINE_LIMIT: LineLimit = { maxBytes: TERRAFORM_LINE_MAX, reader: 'terraform (HCL: no limit; portcullis bounds its lines)' };

// ---------------------------------------------------------------- strings

/** What hclString escapes: nothing of it in most text. */
const HCL_ESCAPED = /[\\"\u0000-\u001f\u007f-\u009f\u2028\u2029]|[$%]\{/;

/** A quoted HCL string literal holding exactly `text`: backslash, quote and
 * control characters are escaped, and `${` / `%{` are doubled so Terraform
 * reads them as text, not as interpolation or template directives. */
export function hclString(text: string): string {
  if (!HCL_ESCAPED.test(text)) return `"${text}"`;
  let out = '';
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    const code = text.charCodeAt(i);
    if (c === '\\') out += '\\\\';
    else if (c === '"') out += '\\"';
    else if (c === '\n') out += '\\n';
    else if (c === '\r') out += '\\r';
    else if (c === '\t') out += '\\t';
    else if ((c === '$' || c === '%') && text[i + 1] === '{') out += c + c;
    else if (code < 0x20 || code === 0x7f || (code >= 0x80 && code <= 0x9f) || code === 0x2028 || code === 0x2029)
      out += '\\u' + code.toString(16).padStart(4, '0');
    else out += c;
  }
  return `"${out}"`;
}

/** Characters AWS accepts in every kind of security group rule description.
 * The EC2 API documents "a-z, A-Z, 0-9, spaces, and ._-:/()#,@[]+=&;{}!$*"
 * for CIDR rules but the same list without `&` for rules that reference a
 * group or a prefix list, so `&` is left out too. */
const AWS_DESCRIPTION_CHAR = /[A-Za-z0-9 ._\-:/()#,@[\]+=;{}!$*]/;
/** Every character but those (the class turned around). */
const NOT_AWS_DESCRIPTION_CHAR = new RegExp(`[^${AWS_DESCRIPTION_CHAR.source.slice(1)}`, 'g');
const SURROGATE = /[\ud800-\udfff]/;
/** A text of AWS_DESCRIPTION_CHAR characters only. */
const AWS_DESCRIPTION_TEXT = /^[A-Za-z0-9 ._\-:/()#,@[\]+=;{}!$*]*$/;

/** Text as AWS accepts it in a description: one line, other characters
 * replaced by `_`, at most 255 characters. */
export function awsDescription(text: string, max = AWS_DESCRIPTION_MAX): string {
  // Characters map one to one, so only the first max + 1 of a long text
  // matter (a description is made per rule, from texts of any length).
  const line = oneLine(text);
  // The common case: short enough and every character accepted as it is.
  if (line.length <= max && AWS_DESCRIPTION_TEXT.test(line)) return line;
  // No surrogate among the units the loop below would read: each is a code
  // point of its own, and one replace does what the loop does.
  const head = line.slice(0, max + 2);
  if (!SURROGATE.test(head)) {
    const s = head.slice(0, max + 1).replace(NOT_AWS_DESCRIPTION_CHAR, '_');
    return line.length > max ? s.slice(0, max - 3).trimEnd() + '...' : s;
  }
  let s = '';
  let n = 0;
  for (const c of line) {
    if (n++ > max) break;
    s += AWS_DESCRIPTION_CHAR.test(c) ? c : '_';
  }
  if (n > max) s = s.slice(0, max - 3).trimEnd() + '...';
  return s;
}

// ---------------------------------------------------------------- ICMP

const ICMP_TYPES = ICMP_TYPE_NUMBERS;

const ANY: Record<Family, string> = { ipv4: '0.0.0.0/0', ipv6: '::/0' };
const SUFFIX: Record<Family, string> = { ipv4: 'v4', ipv6: 'v6' };

// ---------------------------------------------------------------- transports

/** ip_protocol of a transport: the names AWS takes (tcp, udp, icmp,
 * icmpv6), else the IP protocol number as a string ("132", "50", ...). */
export function awsProtocol(t: Transport): string {
  return t === 'tcp' || t === 'udp' || t === 'icmp' || t === 'icmpv6' ? t : String(TRANSPORT_FACTS[t].number);
}

/** What AWS cannot express. A protocol number other than tcp, udp, icmp
 * and icmpv6 matches the whole protocol ("allows traffic on all ports,
 * regardless of any port range you specify", EC2 IpPermission), so SCTP
 * limited to some ports would be widened to every SCTP port: refused. */
export function awsRefusal(r: Rule): { why: string; hint?: string } | undefined {
  if (r.transport === 'sctp' && !isFullSpace('sctp', r.ports))
    return {
      why: `SCTP ports ${portsText(r.ports)} cannot be expressed: AWS security groups match SCTP (protocol 132) as a whole, on every port, so the rule would allow all SCTP ports`,
      hint: 'open every SCTP port in the catalog rule (ports: ["1-65535"]) if that is acceptable, or drop the rule for terraform-aws',
    };
  return undefined;
}

/** from_port/to_port of one AWS rule per match item of an IR rule:
 * port ranges (tcp, udp), one rule per ICMP type (to_port -1: any code;
 * -1/-1 for any type), or no ports at all (protocol numbers). `label` is
 * the key's middle part. */
function matchItems(t: Transport, ports: readonly PortRange[]): { from: number | null; to: number | null; label: string; range: PortRange }[] {
  const kind = transportKind(t);
  if (t === 'tcp' || t === 'udp') return ports.map((range) => ({ from: range.lo, to: range.hi, label: formatPortRange(range), range }));
  if (kind === 'icmp') {
    if (isFullSpace(t, ports)) return [{ from: -1, to: -1, label: 'any', range: ports[0] }];
    return ports.flatMap((range) => Array.from({ length: range.hi - range.lo + 1 }, (_, i) => ({ from: range.lo + i, to: -1, label: String(range.lo + i), range: { lo: range.lo + i, hi: range.lo + i } })));
  }
  // sctp (full range only, see awsRefusal) and the portless protocols.
  const all = ports.length === 1 ? ports[0] : { lo: ports[0].lo, hi: ports[ports.length - 1].hi };
  return [{ from: null, to: null, label: kind === 'portless' ? 'any' : formatPortRange(all), range: all }];
}

/** How a rule's match reads in comments: "tcp 22,80" as before for tcp and
 * udp; "icmp echo-reply,echo-request", "esp" for the others. */
function matchText(t: Transport, ports: readonly PortRange[]): string {
  return t === 'tcp' || t === 'udp' ? `${t} ${portsText(ports)}` : describeMatch(t, ports);
}

// ---------------------------------------------------------------- model

type Direction = 'ingress' | 'egress';
/** Which resource (and so which peer attribute) a rule belongs to. */
type Kind = 'ipv4' | 'ipv6' | 'nodes' | 'prefix';

/** What a listed rule says that is the same for every address it is
 * listed for: made once per match item (ruleTexts). */
export interface ItemText {
  /** The rule's own description, as AWS accepts it. */
  description: string;
  /** The description as an HCL string. */
  quoted: string;
  /** `, ip_protocol = …, from_port = …, to_port = …`, as its line lists them. */
  match: string;
}

/** One AWS security group rule. */
export interface AwsRule {
  key: string;
  direction: Direction;
  kind: Kind;
  protocol: string;
  from: number | null;
  to: number | null;
  /** CIDR for ipv4/ipv6 kinds. */
  cidr?: string;
  /** Several roles: the role whose security group a nodes-kind rule
   * references (absent with one role: the nodes' own group). */
  ref?: string;
  /** Prefix list (the address set's name) for the prefix kind, its family
   * and size: AWS counts a rule that references a prefix list as the
   * list's max entries. */
  prefixList?: { name: string; family: Family; maxEntries: number };
  text: ItemText;
  /** The line's parts around `sg = …`: `key = …` quoted, and what follows
   * up to the description (match, then cidr or pl). */
  quotedKey: string;
  fields: string;
  /** Index of the list (LISTS) the rule is listed in. */
  list: number;
  /** Descriptions of the rules that allow the same and were merged into this one (dedupe). */
  merged?: string[];
  /** Security group resource name ("nodes", "nodes_2", …), set by packing. */
  sg: string;
  /** Packing order class: baseline, node-to-node, per-address. */
  tier: number;
  /** Listing: comment header of the rule group it is listed under, and its comment lines. */
  heading: string;
  headingLines: string[];
}

/** What the texts of a rule read of a contributing row (Provenance). */
type Row = Pick<Provenance, 'ruleId' | 'table' | 'row' | 'service' | 'description' | 'ports'>;

/** Rows of a rule whose ports meet the range (all rows if none report ports). */
function rowsFor(provenance: readonly Row[], range: PortRange): Row[] {
  const hit = provenance.filter((p) => (p.ports ?? []).some((q) => q.lo <= range.hi && range.lo <= q.hi));
  return hit.length ? hit : [...provenance];
}

/** rowsFor of each of several ranges (a merged node-to-node rule has
 * dozens): each row's ports are looked up among the ranges when these are
 * sorted and disjoint, as matchItems makes them, instead of every row
 * against every range. */
function rowsForEach(provenance: readonly Row[], ranges: readonly PortRange[]): Row[][] {
  if (!ranges.every((r, i) => r.lo <= r.hi && (i === 0 || ranges[i - 1].hi < r.lo))) return ranges.map((r) => rowsFor(provenance, r));
  const hits: Row[][] = ranges.map(() => []);
  for (const p of provenance)
    for (const q of p.ports ?? []) {
      // The first range that ends at or after q starts; those after it that start by q's end meet q.
      let lo = 0;
      let hi = ranges.length;
      while (lo < hi) {
        const mid = (lo + hi) >> 1;
        if (ranges[mid].hi < q.lo) lo = mid + 1;
        else hi = mid;
      }
      for (let i = lo; i < ranges.length && ranges[i].lo <= q.hi; i++) if (hits[i][hits[i].length - 1] !== p) hits[i].push(p);
    }
  return hits.map((h) => (h.length ? h : [...provenance]));
}

/** "service - description" of a row, as rule descriptions cite it. */
function rowText(p: Row): string {
  return `${p.service} - ${oneLine(p.description).replace(/\.$/, '')}`;
}

/** citeRows of rows, which reads only their table and row. */
function cite(rows: readonly Row[]): string {
  return citeRows(rows as readonly Provenance[]);
}

function describe(name: string, rows: readonly Row[], textOf: (p: Row) => string): string {
  // The citation first, so truncation to 255 characters never cuts it.
  const texts = rows.map(textOf);
  return awsDescription(`${name} ${cite(rows)}: ${texts.join('; ')}`);
}

function unionProvenance(a: readonly Row[], b: readonly Row[]): Row[] {
  const seen = new Set<string>();
  return [...a, ...b]
    .filter((p) => !seen.has(p.ruleId) && !!seen.add(p.ruleId))
    .sort((x, y) => compareText(x.table, y.table) || (x.row ?? Infinity) - (y.row ?? Infinity) || compareText(x.ruleId, y.ruleId));
}

function portsText(ports: readonly PortRange[]): string {
  return ports.map((p) => formatPortRange(p)).join(',');
}

/** Everything ruleTexts reads: a listed rule's name (in descriptions), its
 * heading around "<match> (<citation>)", its transport and the IR rules it
 * stands for (one; or, node-to-node, every one merged into it, in order):
 * their ports and rows as RowSpec. Its JSON is the memo's key. */
interface TextsSpec {
  name: string;
  head: string;
  tail: string;
  transport: Transport;
  /** Node-to-node: the keys' last part (self, sg:<role>); their rules have no address. */
  peer?: string;
  parts: { ports: PortRange[]; rows: RowSpec[] }[];
}
type RowSpec = [ruleId: string, table: string, row: number | null, service: string, description: string, ports: PortRange[] | null];

function textsKey(name: string, head: string, tail: string, transport: Transport, rules: readonly Rule[], peer?: string): string {
  const spec: TextsSpec = {
    name,
    head,
    tail,
    transport,
    peer,
    parts: rules.map((r) => ({ ports: r.ports, rows: r.provenance.map((p): RowSpec => [p.ruleId, p.table, p.row ?? null, p.service, p.description, p.ports ?? null]) })),
  };
  return JSON.stringify(spec);
}

interface RuleTexts {
  heading: string;
  headingLines: string[];
  protocol: string;
  /** quotedKey: for node-to-node rules (spec.peer), else ''. */
  items: ({ from: number | null; to: number | null; label: string; quotedKey: string } & ItemText)[];
}

/** The texts of a listed rule, made from catalog rows and port ranges
 * only: the same in every environment of a many-profile run, so made once
 * (a merged node-to-node rule cites dozens of rows). */
const ruleTexts = memoAcrossRenders((key: string): RuleTexts => {
  const spec = JSON.parse(key) as TextsSpec;
  const rowsOf = (rows: RowSpec[]) => rows.map(([ruleId, table, row, service, description, ports]): Row => ({ ruleId, table, row: row ?? undefined, service, description, ports: ports ?? (undefined as never) }));
  let ports = spec.parts[0].ports;
  let rows = rowsOf(spec.parts[0].rows);
  for (const part of spec.parts.slice(1)) {
    ports = mergePorts([...ports, ...part.ports]);
    rows = unionProvenance(rows, rowsOf(part.rows));
  }
  const heading = oneLine(`${spec.head}${matchText(spec.transport, ports)} (${cite(rows)})${spec.tail}`);
  const items = matchItems(spec.transport, ports);
  const itemRows = rowsForEach(rows, items.map((m) => m.range));
  // Rows are cited by many items (every port range): each text once.
  const textOf = cachedBy(rowText);
  const protocol = awsProtocol(spec.transport);
  return {
    heading,
    headingLines: commentLines(heading),
    protocol,
    items: items.map((m, i) => ({
      from: m.from,
      to: m.to,
      label: m.label,
      quotedKey: spec.peer !== undefined ? hclString(`${spec.transport}/${m.label}/${spec.peer}`) : '',
      ...itemText(protocol, m.from, m.to, describe(spec.name, itemRows[i], textOf)),
    })),
  };
}, 5_000);

function itemText(protocol: string, from: number | null, to: number | null, description: string): ItemText {
  return { description, quoted: hclString(description), match: `, ip_protocol = ${hclString(protocol)}, from_port = ${hclValue(from)}, to_port = ${hclValue(to)}` };
}

/** Baseline ICMP of one direction and family, from/to anywhere, one rule
 * per type (all codes); key: the JSON of [direction, family, types]. */
const baselineTexts = memoAcrossRenders((key: string) => {
  const [direction, family, types] = JSON.parse(key) as [Direction, Family, string[]];
  const name = `icmp-${direction === 'ingress' ? 'in' : 'out'}-${SUFFIX[family]}`;
  const heading = `${name}: the ICMP${family === 'ipv6' ? 'v6' : ''} that ${family === 'ipv4' ? 'IPv4' : 'IPv6'} needs (portcullis baseline)`;
  const protocol = family === 'ipv4' ? 'icmp' : 'icmpv6';
  return {
    heading,
    headingLines: commentLines(heading),
    protocol,
    cidr: `, cidr = ${hclString(ANY[family])}`,
    items: types.map((t) => {
      const type = ICMP_TYPES[family][t];
      if (type === undefined) throw new Error(`internal: unknown ${family} ICMP type '${t}'`);
      const key = `${protocol}/${t}/${ANY[family]}`;
      return {
        key,
        quotedKey: hclString(key),
        type,
        ...itemText(protocol, type, -1, awsDescription(`${name} ${t} (type ${type}) - ICMP${family === 'ipv6' ? 'v6' : ''} that ${family === 'ipv4' ? 'IPv4' : 'IPv6'} needs`)),
      };
    }),
  };
});

/** The allow-all egress rule of a family (egress: allow). */
const egressAllTexts = memoAcrossRenders((family: string) => {
  const suffix = SUFFIX[family as Family];
  const heading = `egress-all-${suffix}: outbound open (egress: allow; Terraform removes the AWS default rule)`;
  const text = itemText('-1', null, null, awsDescription(`egress-all-${suffix} - outbound open (profile egress: allow)`));
  return { heading, headingLines: commentLines(heading), text, quotedKey: hclString(`all/${ANY[family as Family]}`), fields: `${text.match}, cidr = ${hclString(ANY[family as Family])}` };
});

/** The roles whose security groups a rule's peer stands for, or undefined
 * when the peer is addresses. One role: the host group itself (the nodes'
 * own group). Several roles (renderRoles): a role, or a union all of whose
 * members are roles (one referencing rule per member, in catalog role
 * order); a union with other members stays addresses. */
export function referencedRoles(ir: IR, peer: string): string[] | undefined {
  const roles = ir.roles ?? [ir.host];
  if (roles.length <= 1) return peer === ir.host ? [ir.host] : undefined;
  if (roles.includes(peer)) return [peer];
  const members = ir.unions?.[peer];
  if (members?.length && members.every((m) => roles.includes(m))) return roles.filter((r) => members.includes(r));
  return undefined;
}

/** Every AWS rule the policy needs, in listing order (IR order). */
export function awsRules(ir: IR): AwsRule[] {
  const restrict = ir.egress === 'restrict';
  const multi = (ir.roles?.length ?? 1) > 1;
  const prefixGroups = new Set(ir.terraform?.prefix_lists ?? []);
  const setsByName = new Map(ir.sets.map((s) => [s.name, s]));
  const out: AwsRule[] = [];
  const host = ir.rules.filter((r) => r.scope === 'host' && (r.direction === 'ingress' || restrict));

  // Node-to-node: one SG-reference rule per (direction, referenced role,
  // transport), both families merged. One role: the nodes' own group.
  interface SelfRule {
    direction: Direction;
    transport: Transport;
    rules: Rule[];
    ids: string[];
  }
  const selfRules = new Map<string, SelfRule>();
  const peerGroup = (r: Rule) => (r.direction === 'ingress' ? r.sourceGroup : r.destinationGroup);
  const selfName = (r: Rule, ref: string) => `${r.direction === 'ingress' ? 'in' : 'out'}-${ref}-${r.transport}`;
  const refsOf = host.map((r) => referencedRoles(ir, peerGroup(r)));

  host.forEach((r, i) => {
    for (const ref of refsOf[i] ?? []) {
      const name = selfName(r, ref);
      const s = selfRules.get(name);
      if (s) {
        s.rules.push(r);
        s.ids.push(r.id);
      } else {
        selfRules.set(name, { direction: r.direction, transport: r.transport, rules: [r], ids: [r.id] });
      }
    }
  });
  const emittedSelf = new Set<string>();

  // Canonical keys: an ICMP rule that is also a baseline rule (same list,
  // type, any code, from or to anywhere) has the baseline's key
  // (icmp/echo-request/0.0.0.0/0), whichever of the two made it, so a
  // catalog rule that repeats the baseline is merged into it (dedupe) and
  // adding or removing it changes a description, never a resource address
  // (a renamed key would be created before the old one is destroyed:
  // InvalidPermission.Duplicate).
  const baselineNames = new Map<string, string>();
  for (const direction of ['ingress', 'egress'] as Direction[])
    if (direction === 'ingress' || restrict)
      for (const family of ['ipv4', 'ipv6'] as Family[])
        for (const t of ir.icmp[direction][family]) {
          const type = ICMP_TYPES[family][t];
          const k = `${direction}|${family}|${type}`;
          if (type !== undefined && !baselineNames.has(k)) baselineNames.set(k, t);
        }
  const icmpLabel = (direction: Direction, family: Family, t: Transport, m: { from: number | null; to: number | null; label: string }, cidr: string) =>
    (t === 'icmp' || t === 'icmpv6') && m.from !== null && m.from >= 0 && m.to === -1 && cidr === ANY[family] ? (baselineNames.get(`${direction}|${family}|${m.from}`) ?? m.label) : m.label;

  host.forEach((r, i) => {
    const peer = peerGroup(r);
    const refs = refsOf[i];
    if (refs) {
      for (const ref of refs) {
        const name = selfName(r, ref);
        if (emittedSelf.has(name)) continue;
        emittedSelf.add(name);
        const s = selfRules.get(name)!;
        const head = multi
          ? `${name}: ${s.direction === 'ingress' ? `${ref} -> ${ir.host}` : `${ir.host} -> ${ref}`} (members of the ${ref} security group${ref === ir.host ? ', this one' : ''}), `
          : `${name}: ${r.direction === 'ingress' ? `${peer} -> ${ir.host}` : `${ir.host} -> ${peer}`} (the nodes' own security group), `;
        const peerKey = ref === ir.host ? 'self' : `sg:${ref}`;
        const texts = ruleTexts(textsKey(name, head, `; from IR ${s.ids.join(', ')}`, s.transport, s.rules, peerKey));
        const list = listIndex(s.direction, 'nodes');
        for (const m of texts.items)
          out.push({
            key: `${s.transport}/${m.label}/${peerKey}`,
            direction: s.direction,
            kind: 'nodes',
            protocol: texts.protocol,
            from: m.from,
            to: m.to,
            ref: multi ? ref : undefined,
            text: m,
            quotedKey: m.quotedKey,
            fields: m.match,
            list,
            sg: '',
            tier: 1,
            heading: texts.heading,
            headingLines: texts.headingLines,
          });
      }
      return;
    }
    const arrow = r.direction === 'ingress' ? `${peer} -> ${ir.host}` : `${ir.host} -> ${peer}`;
    const set = setsByName.get((r.direction === 'ingress' ? r.source : r.destination)!);
    if (!set) throw new Error(`internal: rule ${r.id} names an unknown address set`);
    // The rules of one port range say the same whatever their address: one text.
    const texts = ruleTexts(textsKey(r.id, `${r.id}: ${arrow}, `, '', r.transport, [r]));
    if (prefixGroups.has(set.group)) {
      // The group's addresses are a managed prefix list: one rule per port range.
      const list = listIndex(r.direction, 'prefix');
      const pl = `, pl = ${hclString(set.name)}`;
      for (const m of texts.items) {
        const key = `${r.transport}/${m.label}/pl:${set.name}`;
        out.push({
          key,
          direction: r.direction,
          kind: 'prefix',
          protocol: texts.protocol,
          from: m.from,
          to: m.to,
          prefixList: { name: set.name, family: set.family, maxEntries: set.cidrs.length },
          text: m,
          quotedKey: hclString(key),
          fields: m.match + pl,
          list,
          sg: '',
          tier: 2,
          heading: texts.heading,
          headingLines: texts.headingLines,
        });
      }
      return;
    }
    // Address-major: one address's rules are contiguous lines.
    const list = listIndex(r.direction, r.family);
    for (const c of set.cidrs) {
      const cidr = formatCidr(c);
      const quotedCidr = `, cidr = ${hclString(cidr)}`;
      for (const m of texts.items) {
        const key = `${r.transport}/${icmpLabel(r.direction, r.family, r.transport, m, cidr)}/${cidr}`;
        out.push({
          key,
          direction: r.direction,
          kind: r.family,
          protocol: texts.protocol,
          from: m.from,
          to: m.to,
          cidr,
          text: m,
          quotedKey: hclString(key),
          fields: m.match + quotedCidr,
          list,
          sg: '',
          tier: 2,
          heading: texts.heading,
          headingLines: texts.headingLines,
        });
      }
    }
  });

  const icmp = (direction: Direction, family: Family, types: readonly string[]) => {
    const texts = baselineTexts(JSON.stringify([direction, family, types]));
    const list = listIndex(direction, family);
    for (const m of texts.items)
      out.push({
        key: m.key,
        direction,
        kind: family,
        protocol: texts.protocol,
        from: m.type,
        to: -1,
        cidr: ANY[family],
        text: m,
        quotedKey: m.quotedKey,
        fields: m.match + texts.cidr,
        list,
        sg: '',
        tier: 0,
        heading: texts.heading,
        headingLines: texts.headingLines,
      });
  };
  for (const family of ['ipv4', 'ipv6'] as Family[]) icmp('ingress', family, ir.icmp.ingress[family]);
  if (restrict) for (const family of ['ipv4', 'ipv6'] as Family[]) icmp('egress', family, ir.icmp.egress[family]);
  else
    for (const family of ['ipv4', 'ipv6'] as Family[]) {
      const texts = egressAllTexts(family);
      out.push({
        key: `all/${ANY[family]}`,
        direction: 'egress',
        kind: family,
        protocol: '-1',
        from: null,
        to: null,
        cidr: ANY[family],
        text: texts.text,
        quotedKey: texts.quotedKey,
        fields: texts.fields,
        list: listIndex('egress', family),
        sg: '',
        tier: 0,
        heading: texts.heading,
        headingLines: texts.headingLines,
      });
    }

  return dedupe(out);
}

/** AWS refuses two identical rules in one group: rules that differ only by
 * the IR rule they come from (overlapping groups, merged catalog rules, a
 * catalog rule repeating a baseline ICMP rule) become one, citing all. The
 * one kept is the first of the lowest tier (the baseline's, when it is one
 * of them), with its key, place and group: so adding or removing the
 * repetition changes only the description. */
function dedupe(rules: AwsRule[]): AwsRule[] {
  const bySig = new Map<string, AwsRule>();
  // Only rules whose signature another rule has, by signature: most policies have none.
  let same: Map<string, AwsRule[]> | undefined;
  for (const r of rules) {
    // No field but the last can hold a '|': one text per rule, unambiguous.
    const sig = `${r.direction}|${r.kind}|${r.protocol}|${r.from}|${r.to}|${r.cidr ?? r.prefixList?.name ?? `sg:${r.ref ?? 'self'}`}`;
    const first = bySig.get(sig);
    if (first === undefined) bySig.set(sig, r);
    else {
      same ??= new Map();
      const all = same.get(sig);
      if (all) all.push(r);
      else same.set(sig, [first, r]);
    }
  }
  if (!same) return rules;
  const dropped = new Set<AwsRule>();
  for (const all of same.values()) {
    const keep = all.reduce((a, b) => (b.tier < a.tier ? b : a));
    for (const r of all)
      if (r !== keep) {
        (keep.merged ??= []).push(r.text.description);
        dropped.add(r);
      }
  }
  return rules.filter((r) => !dropped.has(r));
}

/** A rule's description: its own, then each merged rule's, cut to what AWS accepts. */
export function descriptionOf(r: AwsRule): string {
  let d = r.text.description;
  for (const m of r.merged ?? []) d = awsDescription(`${d} + ${m}`);
  return d;
}

// ---------------------------------------------------------------- quotas

export interface Part {
  /** Resource name: "nodes", "nodes_2", … */
  name: string;
  count: Record<Direction, Record<Family, number>>;
}

/** "nodes", "nodes_2", …; with several roles the role's name instead of "nodes". */
function partName(i: number, base = 'nodes'): string {
  return i === 0 ? base : `${base}_${i + 1}`;
}

/** What a rule counts against a group's quota of a family. */
function weight(r: AwsRule, f: Family): number {
  if (r.prefixList) return r.prefixList.family === f ? r.prefixList.maxEntries : 0;
  return r.kind === (f === 'ipv4' ? 'ipv6' : 'ipv4') ? 0 : 1;
}

/** Assigns each rule a security group: first-fit, baseline rules first, then
 * node-to-node, then per-address rules in listing order. Deterministic; a
 * change moves at most the rules past the point of change across a group
 * boundary. Throws a TargetLimitError past AWS_GROUPS_PER_INTERFACE groups. */
export function packRules(ir: IR, rules: AwsRule[], limit = AWS_RULES_PER_GROUP, maxGroups = AWS_GROUPS_PER_INTERFACE, base = 'nodes'): Part[] {
  const parts: Part[] = [];
  const newPart = (): Part => {
    const p: Part = { name: partName(parts.length, base), count: { ingress: { ipv4: 0, ipv6: 0 }, egress: { ipv4: 0, ipv6: 0 } } };
    parts.push(p);
    return p;
  };
  const first = newPart();
  // The common case: everything fits in the first group, where first-fit puts each rule.
  const total = first.count;
  for (const r of rules) {
    total[r.direction].ipv4 += weight(r, 'ipv4');
    total[r.direction].ipv6 += weight(r, 'ipv6');
  }
  if ([total.ingress, total.egress].every((c) => c.ipv4 <= limit && c.ipv6 <= limit)) {
    for (const r of rules) r.sg = first.name;
    return parts;
  }
  first.count = { ingress: { ipv4: 0, ipv6: 0 }, egress: { ipv4: 0, ipv6: 0 } };
  // Tier order, listing order within a tier (tiers are small numbers).
  const byTier: AwsRule[][] = [];
  for (const r of rules) (byTier[r.tier] ??= []).push(r);
  place: for (const tier of byTier)
    for (const r of tier ?? []) {
      const w4 = weight(r, 'ipv4');
      const w6 = weight(r, 'ipv6');
      let part: Part | undefined;
      for (const p of parts) {
        const c = p.count[r.direction];
        if (c.ipv4 + w4 <= limit && c.ipv6 + w6 <= limit) {
          part = p;
          break;
        }
      }
      part ??= newPart();
      part.count[r.direction].ipv4 += w4;
      part.count[r.direction].ipv6 += w6;
      r.sg = part.name;
      if (parts.length > maxGroups) break place; // over the limit: no need to place the rest
    }
  if (parts.length > maxGroups) {
    const need = (d: Direction, f: Family) => rules.filter((r) => r.direction === d && weight(r, f)).length;
    const worst = (['ingress', 'egress'] as Direction[])
      .flatMap((d) => (['ipv4', 'ipv6'] as Family[]).map((f) => ({ d, f, n: need(d, f) })))
      .sort((a, b) => b.n - a.n)[0];
    throw new TargetLimitError(
      'terraform-aws',
      `the policy needs ${worst.n} ${worst.d === 'ingress' ? 'inbound' : 'outbound'} ${worst.f === 'ipv4' ? 'IPv4' : 'IPv6'} security group rules, ` +
        `more than AWS allows on one network interface by default: ${limit} per group x ${maxGroups} groups = ${limit * maxGroups}`,
      'each address of a group gets one rule per port range: merge addresses into fewer CIDRs, turn off features, ' +
        'or raise the AWS quotas (rules per group x groups per interface may reach 1000) and split the policy yourself',
    );
  }
  return parts;
}

// ---------------------------------------------------------------- rendering

const templates = new TemplateSet('terraform-aws', {
  hcl: (s: string) => hclString(s),
});

/** `key = value` lines aligned the way `terraform fmt` aligns them. */
function align(pairs: [string, string][]): { lhs: string; rhs: string }[] {
  return alignedOf(JSON.stringify(pairs));
}

/** align of the JSON of pairs: most blocks (resources, groups, variables)
 * are the same in every environment. */
const alignedOf = memoAcrossRenders((key: string) => {
  const pairs = JSON.parse(key) as [string, string][];
  const w = Math.max(...pairs.map(([k]) => k.length));
  return pairs.map(([k, v]) => ({ lhs: k.padEnd(w), rhs: v }));
}, 10_000);

/** A template's output for a context of plain data, by the JSON of [name,
 * context]: for the small files (outputs.tf, variables.tf), the same in
 * every environment of a many-profile run. */
const renderedOf = memoAcrossRenders((key: string) => {
  const [name, context] = JSON.parse(key) as [string, object];
  return templates.render(name, context);
}, 1_000);

function hclValue(v: string | number | null): string {
  return v === null ? 'null' : typeof v === 'number' ? String(v) : hclString(v);
}

/** The kinds in list order, within each direction (LISTS). */
const KINDS: Kind[] = ['ipv4', 'ipv6', 'nodes', 'prefix'];

/** Index in LISTS of the list of a direction and kind. */
function listIndex(direction: Direction, kind: Kind): number {
  return (direction === 'ingress' ? 0 : KINDS.length) + KINDS.indexOf(kind);
}

/** Ingress lists, then egress; each direction's in KINDS order. */
const LISTS: { direction: Direction; kind: Kind; local: string; title: string }[] = [
  { direction: 'ingress', kind: 'ipv4', local: 'ingress_ipv4', title: 'Inbound from IPv4 addresses' },
  { direction: 'ingress', kind: 'ipv6', local: 'ingress_ipv6', title: 'Inbound from IPv6 addresses' },
  { direction: 'ingress', kind: 'nodes', local: 'ingress_nodes', title: "Inbound from the nodes (members of the nodes' security group)" },
  { direction: 'ingress', kind: 'prefix', local: 'ingress_prefix_lists', title: 'Inbound from the managed prefix lists (terraform.prefix_lists)' },
  { direction: 'egress', kind: 'ipv4', local: 'egress_ipv4', title: 'Outbound to IPv4 addresses' },
  { direction: 'egress', kind: 'ipv6', local: 'egress_ipv6', title: 'Outbound to IPv6 addresses' },
  { direction: 'egress', kind: 'nodes', local: 'egress_nodes', title: "Outbound to the nodes (members of the nodes' security group)" },
  { direction: 'egress', kind: 'prefix', local: 'egress_prefix_lists', title: 'Outbound to the managed prefix lists (terraform.prefix_lists)' },
];

/** A list's rules as lines, under the headings of their rule groups. */
function listedGroups(rules: readonly AwsRule[], role?: string): { heading: string; headingLines: string[]; lines: string[] }[] {
  const groups: { heading: string; headingLines: string[]; lines: string[] }[] = [];
  // Groups are few: each one's name quoted once.
  let sg = '';
  let quotedSg = '';
  for (const r of rules) {
    let g = groups[groups.length - 1];
    if (!g || g.heading !== r.heading) groups.push((g = { heading: r.heading, headingLines: r.headingLines, lines: [] }));
    if (r.sg !== sg) quotedSg = hclString((sg = r.sg));
    const peer = role !== undefined && r.kind === 'nodes' ? `, peer = ${hclString(r.ref!)}` : '';
    g.lines.push(`{ key = ${r.quotedKey}, sg = ${quotedSg}${r.fields}${peer}, description = ${r.merged ? hclString(descriptionOf(r)) : r.text.quoted} },`);
  }
  return groups;
}

/** The locals lists and their resources. One role: today's names
 * (ingress_ipv4, in_ipv4, ...). Several: each role's own, prefixed with
 * the role (servers_ingress_ipv4, servers_in_ipv4; servers_ingress_groups,
 * whose rules name the referenced role's group in `peer`). */
function buildLists(rules: AwsRule[], role?: string) {
  // Each list's rules, in listing order.
  const listed = LISTS.map((): AwsRule[] => []);
  for (const r of rules) listed[r.list].push(r);
  return LISTS.map((l, i) => {
    const mine = listed[i];
    const groups = listedGroups(mine, role);
    const peer: [string, string] =
      l.kind === 'nodes'
        ? ['referenced_security_group_id', role !== undefined ? 'local.security_group_ids[each.value.peer]' : 'aws_security_group.nodes.id']
        : l.kind === 'prefix'
          ? ['prefix_list_id', 'local.prefix_list_ids[each.value.pl]']
          : [l.kind === 'ipv4' ? 'cidr_ipv4' : 'cidr_ipv6', 'each.value.cidr'];
    const suffix = role !== undefined && l.kind === 'nodes' ? 'groups' : l.kind;
    const direction = l.direction === 'ingress' ? 'in' : 'out';
    return {
      ...l,
      local: role !== undefined ? `${role}_${l.direction}_${suffix}` : l.local,
      title: role !== undefined ? `${role}: ${l.kind === 'nodes' ? `${l.direction === 'ingress' ? 'Inbound from' : 'Outbound to'} the roles' security groups (members of the group in peer)` : l.title}` : l.title,
      resource: l.direction === 'ingress' ? 'aws_vpc_security_group_ingress_rule' : 'aws_vpc_security_group_egress_rule',
      name: role !== undefined ? `${role}_${direction}_${suffix}` : `${direction}_${l.kind}`,
      /** The name in rule_ids keys, "<list>/<key>": the same for every role. */
      listName: `${direction}_${suffix}`,
      count: mine.length,
      groups,
      attrs: align([
        ['security_group_id', 'local.security_group_ids[each.value.sg]'],
        ['description', 'each.value.description'],
        ['ip_protocol', 'each.value.ip_protocol'],
        ['from_port', 'each.value.from_port'],
        ['to_port', 'each.value.to_port'],
        peer,
      ]),
    };
  }).filter((l) => l.count > 0);
}

/** Managed prefix lists: one per (group, family) that a rule references,
 * one entry block per address (adding an address adds one block), sized
 * to its addresses (what AWS counts against the group's quota). */
function prefixListBlocks(sets: readonly AddressSet[], rules: readonly AwsRule[]) {
  const listed = new Map<string, NonNullable<AwsRule['prefixList']>>();
  for (const r of rules) if (r.prefixList) listed.set(r.prefixList.name, r.prefixList);
  return sets
    .filter((x) => listed.has(x.name))
    .map((x) => ({
      name: x.name,
      attrs: align([
        ['name', `"\${var.name}-${x.name.replace(/_/g, '-')}"`],
        ['address_family', hclString(x.family === 'ipv4' ? 'IPv4' : 'IPv6')],
        ['max_entries', String(x.cidrs.length)],
      ]),
      tag: `"\${var.name}-${x.name.replace(/_/g, '-')}"`,
      entries: x.cidrs.map((c) => align([['cidr', hclString(formatCidr(c))], ['description', hclString(awsDescription(`group ${x.group}`))]])),
    }));
}

/** Rules no security group can enforce (neither end a role), each listed once. */
function offHostLines(irs: readonly IR[]): string[] {
  const seen = new Set<string>();
  return irs
    .flatMap((ir) => ir.rules)
    .filter((r) => r.scope === 'off-host' && !seen.has(r.id) && !!seen.add(r.id))
    .flatMap((r) => commentLines(`${r.id}: ${r.sourceGroup} -> ${r.destinationGroup} ${matchText(r.transport, r.ports)} (${citeRows(r.provenance)})`));
}

/** Header notes on transports; only when such rules exist: other modules keep their bytes. */
function transportNotesOf(rules: readonly AwsRule[]): string[] {
  const seen = new Set<string>();
  let icmpTyped = false;
  for (const r of rules) {
    const c = r.protocol.charCodeAt(0);
    // A number, or a name (tcp, icmp, ...) or -1 (all): the test only for those that start with a digit.
    if (c >= 48 && c <= 57 && /^[0-9]+$/.test(r.protocol)) seen.add(r.protocol);
    else if (r.tier > 0 && (r.protocol === 'icmp' || r.protocol === 'icmpv6')) icmpTyped = true;
  }
  const numbered = [...seen].sort((a, b) => Number(a) - Number(b));
  return [
    ...(numbered.length
      ? [
          `Protocols without a name in AWS are their IP protocol number (${numbered.map((n) => `"${n}" ${Object.entries(TRANSPORT_FACTS).find(([, f]) => String(f.number) === n)![0]}`).join(', ')}), ` +
            'with no from_port/to_port: AWS matches such a protocol as a whole (SCTP only when the catalog opens every port).',
        ]
      : []),
    ...(icmpTyped ? ['ICMP and ICMPv6: one rule per type, from_port = type and to_port = -1 (any code); from_port = to_port = -1 for every type.'] : []),
  ];
}

export function renderTerraformAws(ir: IR): OutputFile[] {
  // Only what becomes a rule: host rules inbound, and outbound under
  // egress: restrict (under allow the allow-all rules cover them).
  refuseTransports('terraform-aws', { ...ir, rules: ir.rules.filter((r) => r.scope === 'host' && (r.direction === 'ingress' || ir.egress === 'restrict')) }, awsRefusal);
  const rules = awsRules(ir);
  const parts = packRules(ir, rules);
  const tf = ir.terraform ?? {};
  // Module inputs; the profile's values are their defaults.
  const variables: { name: string; description: string; type: string; default?: string }[] = [
    { name: 'name', description: "Name of the nodes' security groups: the prefix of each group's name (name_prefix) and its Name tag; further groups get -2, -3, ...", type: 'string', default: tf.name !== undefined ? hclString(tf.name) : undefined },
    { name: 'vpc_id', description: "VPC of the nodes' security groups", type: 'string', default: tf.vpc_id !== undefined ? hclString(tf.vpc_id) : undefined },
    { name: 'tags', description: 'Tags for every security group (Name is set per group)', type: 'map(string)', default: '{}' },
  ];
  const nameExpr = (i: number) => (i === 0 ? 'var.name' : `"\${var.name}-${i + 1}"`);
  const prefixExpr = (i: number) => (i === 0 ? '"${var.name}-"' : `"\${var.name}-${i + 1}-"`);

  const sgs = parts.map((p, i) => ({
    name: p.name,
    attrs: align([
      ['name_prefix', prefixExpr(i)],
      // Constant: a changed description would replace the group.
      ['description', hclString(awsDescription(`Nodes firewall rules${i ? ` (part ${i + 1})` : ''}, managed by portcullis`))],
      ['vpc_id', 'var.vpc_id'],
    ]),
    tag: nameExpr(i),
    counts: `in ${p.count.ingress.ipv4} IPv4 / ${p.count.ingress.ipv6} IPv6, out ${p.count.egress.ipv4} IPv4 / ${p.count.egress.ipv6} IPv6`,
  }));

  const lists = buildLists(rules);

  const prefixLists = prefixListBlocks(ir.sets, rules);
  const offHost = offHostLines([ir]);
  const transportNotes = transportNotesOf(rules);

  const context = {
    header: commentBlock(headerLines(ir)),
    transportNotes: commentBlock(transportNotes, 76),
    limit: AWS_RULES_PER_GROUP,
    maxGroups: AWS_GROUPS_PER_INTERFACE,
    restrict: ir.egress === 'restrict',
    split: parts.length > 1,
    sgs,
    sgIds: align(parts.map((p) => [p.name, `aws_security_group.${p.name}.id`])),
    prefixLists,
    prefixListIds: prefixLists.length ? align(prefixLists.map((p) => [p.name, `aws_ec2_managed_prefix_list.${p.name}.id`])) : [],
    ruleOutputs: (['ingress', 'egress'] as Direction[]).map((d) => ({
      direction: d,
      resourceType: d === 'ingress' ? 'aws_vpc_security_group_ingress_rule' : 'aws_vpc_security_group_egress_rule',
      lists: lists.filter((l) => l.direction === d).map((l) => l.name),
    })),
    lists,
    offHost,
  };
  const files: OutputFile[] = [
    { path: 'main.tf', content: templates.render('main.tf.hbs', context) },
    { path: 'outputs.tf', content: renderedOf(JSON.stringify(['outputs.tf.hbs', { sgs: sgs.map((g) => ({ name: g.name })), ruleOutputs: context.ruleOutputs }])) },
  ];
  files.push({
    path: 'variables.tf',
    content: renderedOf(
      JSON.stringify(['variables.tf.hbs', { variables: variables.map((v) => ({ name: v.name, attrs: align([['description', hclString(v.description)], ['type', v.type], ...(v.default !== undefined ? [['default', v.default] as [string, string]] : [])]) })) }]),
    ),
  });
  return checkLines('terraform-aws', files, () => TERRAFORM_LINE_LIMIT);
}

/**
 * Several roles in one module: per role a security group (or its quota
 * split, <role>, <role>_2, ... up to 5) and its own rule lists. A rule whose
 * peer is a role references that role's (first) group; a peer that is a
 * union of roles becomes one referencing rule per member role; every other
 * peer keeps its CIDRs or prefix lists. Each instance gets the groups of its
 * own role (output security_group_ids[role]) and no other.
 */
export function renderTerraformAwsRoles(irs: IR[]): OutputFile[] {
  for (const ir of irs) refuseTransports('terraform-aws', { ...ir, rules: ir.rules.filter((r) => r.scope === 'host' && (r.direction === 'ingress' || ir.egress === 'restrict')) }, awsRefusal);
  const tf = irs[0].terraform ?? {};
  const perRole = irs.map((ir) => {
    const role = ir.host;
    const rules = awsRules(ir);
    let parts: Part[];
    try {
      parts = packRules(ir, rules, AWS_RULES_PER_GROUP, AWS_GROUPS_PER_INTERFACE, role);
    } catch (e) {
      if (!(e instanceof TargetLimitError)) throw e;
      throw new TargetLimitError(e.target, `role '${role}': ${e.message}`, e.hint, role);
    }
    return { ir, role, rules, parts };
  });
  // Resource names: <role>, <role>_2, ...; a role named like another's
  // split part would take its name.
  const owner = new Map<string, string>();
  for (const { role, parts } of perRole)
    for (const p of parts) {
      const other = owner.get(p.name);
      if (other !== undefined)
        throw new TargetLimitError('terraform-aws', `the security groups of roles '${other}' and '${role}' would both be named '${p.name}' (a role's further groups are <role>_2, <role>_3, ...)`, 'rename one of the roles in the catalog', role);
      owner.set(p.name, role);
    }

  const variables: { name: string; description: string; type: string; default?: string }[] = [
    { name: 'name', description: "Prefix of the security groups' names: a role's group is named <name>-<role>- (name_prefix) and tagged <name>-<role>; further groups of a role get -2, -3, ...", type: 'string', default: tf.name !== undefined ? hclString(tf.name) : undefined },
    { name: 'vpc_id', description: "VPC of the roles' security groups", type: 'string', default: tf.vpc_id !== undefined ? hclString(tf.vpc_id) : undefined },
    { name: 'tags', description: 'Tags for every security group (Name is set per group)', type: 'map(string)', default: '{}' },
  ];

  const roles = perRole.map(({ role, rules, parts }) => ({
    role,
    sgs: parts.map((p, i) => ({
      name: p.name,
      attrs: align([
        ['name_prefix', `"\${var.name}-${role}-${i ? `${i + 1}-` : ''}"`],
        // Constant: a changed description would replace the group.
        ['description', hclString(awsDescription(`Role ${role} firewall rules${i ? ` (part ${i + 1})` : ''}, managed by portcullis`))],
        ['vpc_id', 'var.vpc_id'],
      ]),
      tag: `"\${var.name}-${role}${i ? `-${i + 1}` : ''}"`,
      counts: `in ${p.count.ingress.ipv4} IPv4 / ${p.count.ingress.ipv6} IPv6, out ${p.count.egress.ipv4} IPv4 / ${p.count.egress.ipv6} IPv6`,
    })),
    lists: buildLists(rules, role),
  }));
  const allRules = perRole.flatMap((x) => x.rules);
  const sets = new Map<string, AddressSet>();
  for (const ir of irs) for (const x of ir.sets) if (!sets.has(x.name)) sets.set(x.name, x);
  const prefixLists = prefixListBlocks([...sets.values()].sort((a, b) => compareText(a.name, b.name)), allRules);
  const allParts = perRole.flatMap((x) => x.parts);
  const context = {
    header: commentBlock(rolesHeaderLines(irs, 'one set of security groups each')),
    transportNotes: commentBlock(transportNotesOf(allRules), 76),
    limit: AWS_RULES_PER_GROUP,
    maxGroups: AWS_GROUPS_PER_INTERFACE,
    restrict: irs[0].egress === 'restrict',
    roles,
    sgIds: align(allParts.map((p) => [p.name, `aws_security_group.${p.name}.id`])),
    prefixLists,
    prefixListIds: prefixLists.length ? align(prefixLists.map((p) => [p.name, `aws_ec2_managed_prefix_list.${p.name}.id`])) : [],
    lists: roles.flatMap((r) => r.lists),
    offHost: offHostLines(irs),
    // outputs.tf
    mainIds: align(perRole.map(({ role }) => [role, `aws_security_group.${role}.id`])),
    roleIds: align(perRole.map(({ role, parts }) => [role, `[${parts.map((p) => `aws_security_group.${p.name}.id`).join(', ')}]`])),
    roleGroups: align(perRole.map(({ role, parts }) => [role, `{ ${parts.map((p) => `${p.name} = aws_security_group.${p.name}.id`).join(', ')} }`])),
    ruleOutputs: roles.map((r) => ({
      role: r.role,
      directions: (['ingress', 'egress'] as Direction[]).map((d) => ({
        direction: d,
        resourceType: d === 'ingress' ? 'aws_vpc_security_group_ingress_rule' : 'aws_vpc_security_group_egress_rule',
        lists: r.lists.filter((l) => l.direction === d).map((l) => ({ name: l.name, listName: l.listName })),
      })),
    })),
  };
  const files: OutputFile[] = [
    { path: 'main.tf', content: templates.render('roles-main.tf.hbs', context) },
    { path: 'outputs.tf', content: renderedOf(JSON.stringify(['roles-outputs.tf.hbs', { mainIds: context.mainIds, roleIds: context.roleIds, roleGroups: context.roleGroups, ruleOutputs: context.ruleOutputs }])) },
    {
      path: 'variables.tf',
      content: renderedOf(
        JSON.stringify(['variables.tf.hbs', { variables: variables.map((v) => ({ name: v.name, attrs: align([['description', hclString(v.description)], ['type', v.type], ...(v.default !== undefined ? [['default', v.default] as [string, string]] : [])]) })) }]),
      ),
    },
  ];
  return checkLines('terraform-aws', files, () => TERRAFORM_LINE_LIMIT);
}

export const terraformAwsBackend: Backend = {
  name: 'terraform-aws',
  render: renderTerraformAws,
  renderRoles: renderTerraformAwsRoles,
};
