// An interpreter for the terraform-aws output: parses the module's .tf files
// back with @cdktf/hcl2json (HashiCorp's own HCL parser, compiled to wasm),
// evaluates the small set of expressions the module uses (and rejects any
// other), checks what AWS would refuse (description characters and length,
// one peer per rule, duplicate rules, quotas), then answers "is this flow
// allowed?" the way security groups decide it: allow-only, the union of
// every rule of every group attached to the instance; a CIDR rule matches a
// peer inside the CIDR, a referenced-group rule matches peers that are
// members of that group.
import * as fs from 'fs';
import * as path from 'path';
import { parse } from '@cdktf/hcl2json';
import * as ipaddr from 'ipaddr.js';

export type Direction = 'ingress' | 'egress';

export interface SgRule {
  resource: string;
  key: string;
  direction: Direction;
  /** Resource name of the group the rule belongs to. */
  group: string;
  protocol: string;
  from: number | null;
  to: number | null;
  cidrIpv4?: string;
  cidrIpv6?: string;
  /** Resource name of the referenced group. */
  referenced?: string;
  /** The entries (CIDRs) and max entries of the referenced managed prefix list. */
  prefixList?: { name: string; family: 'ipv4' | 'ipv6'; cidrs: string[]; maxEntries: number };
  description: string;
}

export interface SecurityGroup {
  resource: string;
  name: string;
  vpcId: string;
  description: string;
}

export interface SgModule {
  groups: Map<string, SecurityGroup>;
  /** Groups the module tells to attach to every node (output security_group_ids);
   * with several roles, every role's groups. */
  attached: string[];
  /** Several roles (security_group_ids is a map): the groups to attach to
   * each instance of a role, by role. Absent for a one-role module. */
  roles?: Map<string, string[]>;
  rules: SgRule[];
}

export const AWS_DESCRIPTION = /^[A-Za-z0-9 ._\-:/()#,@[\]+=;{}!$*]*$/;
export const RULES_PER_GROUP = 60;
export const GROUPS_PER_INTERFACE = 5;

type Value = unknown;
/** A reference to a resource attribute that only exists after apply. */
interface Ref {
  ref: string;
}

const isRef = (v: Value): v is Ref => typeof v === 'object' && v !== null && 'ref' in v && Object.keys(v).length === 1;

/** Splits a JSON-syntax template string into literal text and `${…}`
 * expressions; `$${` and `%%{` are escapes for literal `${` and `%{`, and
 * a `%{` directive is refused (the module never uses one). */
function templateParts(s: string): ({ text: string } | { expr: string })[] {
  const parts: ({ text: string } | { expr: string })[] = [];
  let text = '';
  let i = 0;
  while (i < s.length) {
    if (s.startsWith('$${', i) || s.startsWith('%%{', i)) {
      text += s[i] + '{';
      i += 3;
    } else if (s.startsWith('${', i)) {
      let depth = 0;
      let j = i + 2;
      for (; j < s.length; j++) {
        if (s[j] === '{') depth++;
        else if (s[j] === '}') {
          if (depth === 0) break;
          depth--;
        }
      }
      if (j >= s.length) throw new Error(`unterminated interpolation in ${JSON.stringify(s)}`);
      if (text) parts.push({ text });
      text = '';
      parts.push({ expr: s.slice(i + 2, j).trim() });
      i = j + 1;
    } else if (s.startsWith('%{', i)) {
      throw new Error(`template directive in ${JSON.stringify(s)}`);
    } else {
      text += s[i++];
    }
  }
  if (text || !parts.length) parts.push({ text });
  return parts;
}

interface Scope {
  locals: Record<string, Value>;
  vars: Record<string, Value>;
  each?: { key: string; value: Record<string, Value> };
  resources: Set<string>;
}

const IDENT = '[A-Za-z_][A-Za-z0-9_]*';

/** The expressions the module is allowed to contain, nothing else. */
function evalExpr(expr: string, scope: Scope): Value {
  let m: RegExpMatchArray | null;
  if ((m = expr.match(new RegExp(`^each\\.value\\.(${IDENT})$`)))) {
    if (!scope.each) throw new Error(`each.value outside for_each: ${expr}`);
    if (!(m[1] in scope.each.value)) throw new Error(`each.value has no attribute '${m[1]}' (key ${scope.each.key})`);
    return scope.each.value[m[1]];
  }
  if ((m = expr.match(new RegExp(`^local\\.(${IDENT})\\[each\\.value\\.(${IDENT})\\]$`)))) {
    const map = scope.locals[m[1]];
    const k = evalExpr(`each.value.${m[2]}`, scope);
    if (typeof map !== 'object' || map === null || typeof k !== 'string' || !(k in map)) throw new Error(`local.${m[1]} has no element ${JSON.stringify(k)}`);
    return (map as Record<string, Value>)[k];
  }
  if ((m = expr.match(new RegExp(`^local\\.(${IDENT})$`)))) {
    if (!(m[1] in scope.locals)) throw new Error(`no local '${m[1]}'`);
    return scope.locals[m[1]];
  }
  if ((m = expr.match(new RegExp(`^var\\.(${IDENT})$`)))) {
    if (!(m[1] in scope.vars)) throw new Error(`no value for var.${m[1]}`);
    return scope.vars[m[1]];
  }
  if ((m = expr.match(new RegExp(`^aws_ec2_managed_prefix_list\\.(${IDENT})\\.id$`)))) return { ref: `pl:${m[1]}` };
  if ((m = expr.match(new RegExp(`^aws_security_group\\.(${IDENT})\\.id$`)))) {
    if (!scope.resources.has(m[1])) throw new Error(`no resource aws_security_group.${m[1]}`);
    return { ref: m[1] };
  }
  throw new Error(`unsupported expression: ${expr}`);
}

function evalValue(v: Value, scope: Scope): Value {
  if (typeof v === 'string') {
    const parts = templateParts(v);
    if (parts.length === 1 && 'expr' in parts[0]) return evalExpr(parts[0].expr, scope);
    return parts.map((p) => ('text' in p ? p.text : String(evalExpr(p.expr, scope)))).join('');
  }
  if (Array.isArray(v)) return v.map((x) => evalValue(x, scope));
  if (typeof v === 'object' && v !== null) return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, evalValue(x, scope)]));
  return v;
}

/** `{ for r in local.X : r.key => r }`, the only for_each form used. */
function forEach(raw: Value, scope: Scope): Map<string, Record<string, Value>> {
  const m = typeof raw === 'string' ? raw.match(new RegExp(`^\\$\\{\\{ for (${IDENT}) in local\\.(${IDENT}) : \\1\\.key => \\1 \\}\\}$`)) : null;
  if (!m) throw new Error(`unsupported for_each: ${JSON.stringify(raw)}`);
  const list = scope.locals[m[2]];
  if (!Array.isArray(list)) throw new Error(`local.${m[2]} is not a list`);
  const out = new Map<string, Record<string, Value>>();
  for (const el of list as Record<string, Value>[]) {
    const key = el.key;
    if (typeof key !== 'string') throw new Error(`element without a string key in local.${m[2]}`);
    // Terraform: "Duplicate object key" unless grouping mode (...) is used.
    if (out.has(key)) throw new Error(`duplicate for_each key ${JSON.stringify(key)}`);
    out.set(key, el);
  }
  return out;
}

function num(v: Value, what: string): number | null {
  if (v === null || v === undefined) return null;
  if (typeof v !== 'number' || !Number.isInteger(v)) throw new Error(`${what} is not an integer: ${JSON.stringify(v)}`);
  return v;
}

function str(v: Value, what: string): string {
  if (typeof v !== 'string') throw new Error(`${what} is not a string: ${JSON.stringify(v)}`);
  return v;
}

function checkCidr(cidr: string, kind: 'ipv4' | 'ipv6', where: string): void {
  const [addr, len] = ipaddr.parseCIDR(cidr);
  if (addr.kind() !== kind) throw new Error(`${where}: ${cidr} is not ${kind}`);
  const network = (kind === 'ipv4' ? ipaddr.IPv4.networkAddressFromCIDR(cidr) : ipaddr.IPv6.networkAddressFromCIDR(cidr)).toString();
  if (network !== addr.toString()) throw new Error(`${where}: ${cidr} has host bits set`);
  if (!cidr.endsWith(`/${len}`)) throw new Error(`${where}: ${cidr} is not in CIDR form`);
}

/** Reads every .tf file of dir; vars supplies variables the module declares. */
export async function loadModule(dir: string, vars: Record<string, Value> = {}): Promise<SgModule> {
  const files = fs.readdirSync(dir).filter((f) => f.endsWith('.tf')).sort();
  const docs: Record<string, any>[] = [];
  for (const f of files) docs.push(await parse(f, fs.readFileSync(path.join(dir, f), 'utf8')));

  const resources: Record<string, Record<string, Record<string, Value>>> = {};
  const rawLocals: Record<string, Value> = {};
  const outputs: Record<string, Record<string, Value>> = {};
  const declared = new Set<string>();
  const defaults: Record<string, Value> = {};
  for (const d of docs) {
    for (const block of d.locals ?? [])
      for (const [k, v] of Object.entries(block)) {
        if (k in rawLocals) throw new Error(`local '${k}' defined twice`);
        rawLocals[k] = v;
      }
    for (const [type, byName] of Object.entries(d.resource ?? {}))
      for (const [name, blocks] of Object.entries(byName as Record<string, Record<string, Value>[]>)) {
        if (blocks.length !== 1) throw new Error(`${type}.${name} declared ${blocks.length} times`);
        (resources[type] ??= {})[name] = blocks[0];
      }
    for (const [name, blocks] of Object.entries(d.output ?? {})) outputs[name] = (blocks as Record<string, Value>[])[0];
    for (const [name, blocks] of Object.entries(d.variable ?? {})) {
      declared.add(name);
      // A variable's default is its value unless the caller gives one.
      const def = (blocks as Record<string, Value>[])[0]?.default;
      if (def !== undefined && !(name in defaults)) defaults[name] = def;
    }
  }
  const known = new Set(['aws_security_group', 'aws_vpc_security_group_ingress_rule', 'aws_vpc_security_group_egress_rule', 'aws_ec2_managed_prefix_list']);
  for (const t of Object.keys(resources)) if (!known.has(t)) throw new Error(`unexpected resource type ${t}`);
  for (const v of Object.keys(vars)) if (!declared.has(v)) throw new Error(`var.${v} given but not declared`);

  const sgNames = new Set(Object.keys(resources.aws_security_group ?? {}));
  const scope: Scope = { locals: {}, vars: { ...defaults, ...vars }, resources: sgNames };
  // Locals may refer to each other only in declaration-independent ways; the
  // module's locals are literals or resource references, so one pass does.
  for (const [k, v] of Object.entries(rawLocals)) scope.locals[k] = evalValue(v, { ...scope, locals: {} });

  const groups = new Map<string, SecurityGroup>();
  for (const [name, body] of Object.entries(resources.aws_security_group ?? {})) {
    for (const k of Object.keys(body)) if (!['name', 'name_prefix', 'description', 'vpc_id', 'tags', 'lifecycle'].includes(k)) throw new Error(`aws_security_group.${name}: unexpected ${k}`);
    if ((body.name === undefined) === (body.name_prefix === undefined)) throw new Error(`aws_security_group.${name}: exactly one of name and name_prefix`);
    const description = str(evalValue(body.description, scope), 'description');
    if (!AWS_DESCRIPTION.test(description) || description.length > 255) throw new Error(`aws_security_group.${name}: description AWS refuses: ${description}`);
    // name_prefix: AWS appends a unique suffix; the prefix stands for the name here.
    groups.set(name, { resource: name, name: str(evalValue(body.name ?? body.name_prefix, scope), 'name'), vpcId: str(evalValue(body.vpc_id, scope), 'vpc_id'), description });
  }
  if (new Set([...groups.values()].map((g) => g.name)).size !== groups.size) throw new Error('two security groups share a name');

  // Managed prefix lists: entries within max_entries, one family, no repeats.
  const prefixLists = new Map<string, NonNullable<SgRule['prefixList']>>();
  for (const [name, body] of Object.entries(resources.aws_ec2_managed_prefix_list ?? {})) {
    for (const k of Object.keys(body)) if (!['name', 'address_family', 'max_entries', 'tags', 'entry'].includes(k)) throw new Error(`aws_ec2_managed_prefix_list.${name}: unexpected ${k}`);
    const fam = str(evalValue(body.address_family, scope), 'address_family');
    if (fam !== 'IPv4' && fam !== 'IPv6') throw new Error(`aws_ec2_managed_prefix_list.${name}: address_family ${fam}`);
    const family = fam === 'IPv4' ? 'ipv4' : 'ipv6';
    const maxEntries = num(evalValue(body.max_entries, scope), 'max_entries')!;
    const entries = (Array.isArray(body.entry) ? body.entry : []) as Record<string, Value>[];
    const cidrs = entries.map((e) => str(evalValue(e.cidr, scope), 'entry.cidr'));
    for (const c of cidrs) checkCidr(c, family, `aws_ec2_managed_prefix_list.${name}`);
    if (new Set(cidrs).size !== cidrs.length) throw new Error(`aws_ec2_managed_prefix_list.${name}: an entry twice`);
    if (cidrs.length > maxEntries) throw new Error(`aws_ec2_managed_prefix_list.${name}: ${cidrs.length} entries over max_entries ${maxEntries}`);
    prefixLists.set(`pl:${name}`, { name, family, cidrs, maxEntries });
  }

  const rules: SgRule[] = [];
  for (const [type, direction] of [
    ['aws_vpc_security_group_ingress_rule', 'ingress'],
    ['aws_vpc_security_group_egress_rule', 'egress'],
  ] as const) {
    for (const [name, body] of Object.entries(resources[type] ?? {})) {
      const allowedAttrs = ['lifecycle', 'for_each', 'security_group_id', 'description', 'ip_protocol', 'from_port', 'to_port', 'cidr_ipv4', 'cidr_ipv6', 'referenced_security_group_id', 'prefix_list_id'];
      for (const k of Object.keys(body)) if (!allowedAttrs.includes(k)) throw new Error(`${type}.${name}: unexpected ${k}`);
      for (const [key, value] of forEach(body.for_each, scope)) {
        const s: Scope = { ...scope, each: { key, value } };
        const at = (k: string) => (k in body ? evalValue(body[k], s) : null);
        const where = `${type}.${name}[${JSON.stringify(key)}]`;
        const sg = at('security_group_id');
        if (!isRef(sg) || !groups.has(sg.ref)) throw new Error(`${where}: security_group_id is not a group of the module`);
        const referenced = at('referenced_security_group_id');
        if (referenced !== null && (!isRef(referenced) || !groups.has(referenced.ref))) throw new Error(`${where}: referenced group unknown`);
        const cidrIpv4 = at('cidr_ipv4');
        const cidrIpv6 = at('cidr_ipv6');
        const pl = at('prefix_list_id');
        if (pl !== null && (!isRef(pl) || !prefixLists.has(pl.ref))) throw new Error(`${where}: prefix list unknown`);
        const peers = [cidrIpv4, cidrIpv6, referenced, pl].filter((x) => x !== null);
        if (peers.length !== 1) throw new Error(`${where}: needs exactly one of cidr_ipv4, cidr_ipv6, referenced_security_group_id, prefix_list_id`);
        if (cidrIpv4 !== null) checkCidr(str(cidrIpv4, 'cidr_ipv4'), 'ipv4', where);
        if (cidrIpv6 !== null) checkCidr(str(cidrIpv6, 'cidr_ipv6'), 'ipv6', where);
        const protocol = str(at('ip_protocol'), 'ip_protocol');
        const from = num(at('from_port'), 'from_port');
        const to = num(at('to_port'), 'to_port');
        if (protocol === '-1') {
          if (from !== null || to !== null) throw new Error(`${where}: protocol -1 with ports`);
        } else if (protocol === 'tcp' || protocol === 'udp') {
          if (from === null || to === null || from < 0 || to > 65535 || from > to) throw new Error(`${where}: bad port range ${from}-${to}`);
        } else if (protocol === 'icmp' || protocol === 'icmpv6') {
          if (from === null || to === null || from < -1 || from > 255 || to < -1 || to > 255) throw new Error(`${where}: bad ICMP type/code ${from}/${to}`);
          // "If you specify all ICMP/ICMPv6 types, you must specify all codes."
          if (from === -1 && to !== -1) throw new Error(`${where}: all ICMP types with code ${to}`);
          if ((protocol === 'icmp' && cidrIpv6 !== null) || (protocol === 'icmpv6' && cidrIpv4 !== null)) throw new Error(`${where}: ICMP family mismatch`);
        } else if (/^(0|[1-9][0-9]{0,2})$/.test(protocol) && Number(protocol) <= 255) {
          // A protocol number: AWS matches the whole protocol ("allows
          // traffic on all ports, regardless of any port range"); the module
          // must not pretend otherwise. tcp/udp/icmp/icmpv6 go by name.
          if ([6, 17, 1, 58].includes(Number(protocol))) throw new Error(`${where}: protocol ${protocol} written as a number (expected its name)`);
          if (from !== null || to !== null) throw new Error(`${where}: protocol ${protocol} with ports ${from}-${to} (AWS ignores them: every port is allowed)`);
        } else throw new Error(`${where}: unexpected protocol ${protocol}`);
        const description = str(at('description'), 'description');
        if (!AWS_DESCRIPTION.test(description)) throw new Error(`${where}: description has characters AWS refuses: ${description}`);
        if (description.length > 255) throw new Error(`${where}: description longer than 255`);
        rules.push({
          resource: `${type}.${name}`,
          key,
          direction,
          group: sg.ref,
          protocol,
          from,
          to,
          cidrIpv4: cidrIpv4 === null ? undefined : (cidrIpv4 as string),
          cidrIpv6: cidrIpv6 === null ? undefined : (cidrIpv6 as string),
          referenced: referenced === null ? undefined : (referenced as Ref).ref,
          prefixList: pl === null ? undefined : prefixLists.get((pl as Ref).ref),
          description,
        });
      }
    }
  }

  // What AWS refuses: duplicate rules in a group, and the quotas.
  const seen = new Set<string>();
  for (const r of rules) {
    const sig = [r.group, r.direction, r.protocol, r.from, r.to, r.cidrIpv4, r.cidrIpv6, r.referenced, r.prefixList?.name].join('|');
    if (seen.has(sig)) throw new Error(`duplicate rule in ${r.group}: ${r.key}`);
    seen.add(sig);
  }
  for (const g of groups.keys())
    for (const d of ['ingress', 'egress'] as const)
      for (const fam of ['ipv4', 'ipv6'] as const) {
        // A prefix list reference counts as the list's max entries (AWS's rule).
        const n = rules
          .filter((r) => r.group === g && r.direction === d)
          .reduce((sum, r) => sum + (r.prefixList ? (r.prefixList.family === fam ? r.prefixList.maxEntries : 0) : r.referenced || (fam === 'ipv4' ? r.cidrIpv4 : r.cidrIpv6) ? 1 : 0), 0);
        if (n > RULES_PER_GROUP) throw new Error(`${g}: ${n} ${d} ${fam} rules, over the quota of ${RULES_PER_GROUP}`);
      }

  const ids = outputs.security_group_ids?.value;
  const refsOf = (list: unknown, what: string): string[] => {
    if (!Array.isArray(list)) throw new Error(`${what} is not a list`);
    const out = list.map((x) => {
      const v = evalValue(x, scope);
      if (!isRef(v)) throw new Error(`${what} holds something other than a group id`);
      return v.ref;
    });
    if (out.length > GROUPS_PER_INTERFACE) throw new Error(`${what}: ${out.length} groups per interface, over ${GROUPS_PER_INTERFACE}`);
    if (new Set(out).size !== out.length) throw new Error(`${what} names a group twice`);
    return out;
  };
  if (Array.isArray(ids)) {
    const attached = refsOf(ids, 'output security_group_ids');
    for (const g of groups.keys()) if (!attached.includes(g)) throw new Error(`group ${g} is not in security_group_ids`);
    return { groups, attached, rules };
  }
  // Several roles: a map role -> the groups each instance of it carries;
  // every group belongs to exactly one role.
  if (typeof ids !== 'object' || ids === null) throw new Error('output security_group_ids is neither a list nor a map of lists');
  const roles = new Map<string, string[]>();
  for (const [role, list] of Object.entries(ids as Record<string, unknown>)) roles.set(role, refsOf(list, `output security_group_ids["${role}"]`));
  const attached = [...roles.values()].flat();
  for (const g of groups.keys()) if (attached.filter((x) => x === g).length !== 1) throw new Error(`group ${g} is in ${attached.filter((x) => x === g).length} roles' security_group_ids, not one`);
  return { groups, attached, rules, roles };
}

/** IP protocol numbers of the transports a flow may use. */
export const PROTOCOL_NUMBERS = { tcp: 6, udp: 17, icmp: 1, icmpv6: 58, sctp: 132, esp: 50, ah: 51, gre: 47, ipip: 4, vrrp: 112 } as const;
export type FlowProtocol = keyof typeof PROTOCOL_NUMBERS;

export interface Flow {
  /** ingress: peer -> node; egress: node -> peer. */
  direction: Direction;
  peer: string;
  protocol: FlowProtocol;
  /** tcp/udp/sctp destination port. */
  port?: number;
  icmpType?: number;
  icmpCode?: number;
}

function inCidr(addr: ipaddr.IPv4 | ipaddr.IPv6, cidr: string): boolean {
  const [net, len] = ipaddr.parseCIDR(cidr);
  return addr.kind() === net.kind() && addr.match([net, len] as any);
}

/** Is the flow allowed for a node that carries every attached group?
 * members: addresses of the instances carrying the groups (the nodes). */
export function allows(mod: SgModule, flow: Flow, members: string[]): SgRule | undefined {
  const peer = ipaddr.parse(flow.peer);
  const isMember = members.some((m) => ipaddr.parse(m).toString() === peer.toString() && ipaddr.parse(m).kind() === peer.kind());
  return match(mod, flow, (g) => mod.attached.includes(g), (g) => isMember && mod.attached.includes(g));
}

/** Several roles: is the flow allowed for an instance of `role`, which
 * carries that role's groups (security_group_ids[role]) and no other?
 * instances: each role's instance addresses; a peer at one of them carries
 * its role's groups, so a rule referencing one of those matches it. */
export function allowsAs(mod: SgModule, role: string, flow: Flow, instances: Record<string, string[]>): SgRule | undefined {
  if (!mod.roles) throw new Error('a one-role module: use allows()');
  const own = mod.roles.get(role);
  if (!own) throw new Error(`no role ${role} in security_group_ids`);
  const peer = ipaddr.parse(flow.peer);
  const same = (m: string) => ipaddr.parse(m).kind() === peer.kind() && ipaddr.parse(m).toString() === peer.toString();
  const peerGroups = new Set(Object.entries(instances).flatMap(([r, addrs]) => (addrs.some(same) ? (mod.roles!.get(r) ?? []) : [])));
  return match(mod, flow, (g) => own.includes(g), (g) => peerGroups.has(g));
}

/** The first rule of a group the instance carries that matches the flow;
 * a referenced-group rule matches a peer that carries the referenced group. */
function match(mod: SgModule, flow: Flow, carried: (group: string) => boolean, peerCarries: (group: string) => boolean): SgRule | undefined {
  const peer = ipaddr.parse(flow.peer);
  if ((flow.protocol === 'icmp' && peer.kind() !== 'ipv4') || (flow.protocol === 'icmpv6' && peer.kind() !== 'ipv6')) return undefined;
  return mod.rules.find((r) => {
    if (r.direction !== flow.direction || !carried(r.group)) return false;
    if (r.protocol !== '-1') {
      const number = /^[0-9]+$/.test(r.protocol) ? Number(r.protocol) : PROTOCOL_NUMBERS[r.protocol as 'tcp' | 'udp' | 'icmp' | 'icmpv6'];
      if (number !== PROTOCOL_NUMBERS[flow.protocol]) return false;
      if (r.from === null && r.to === null) {
        // A protocol number: every port of it (SCTP included).
      } else if (flow.protocol === 'tcp' || flow.protocol === 'udp') {
        if (!(r.from! <= flow.port! && flow.port! <= r.to!)) return false;
      } else {
        if (r.from !== -1 && r.from !== flow.icmpType) return false;
        if (r.to !== -1 && r.to !== flow.icmpCode) return false;
      }
    }
    if (r.cidrIpv4) return inCidr(peer, r.cidrIpv4);
    if (r.cidrIpv6) return inCidr(peer, r.cidrIpv6);
    if (r.prefixList) return r.prefixList.cidrs.some((c) => inCidr(peer, c));
    // A referenced group matches its members.
    return peerCarries(r.referenced!);
  });
}
