// An interpreter for the azure-nsg output: reads nsg.json back (resolving
// the ARM expressions it uses), checks what Azure checks when it deploys the
// NSG, and answers "is this flow allowed?" the way an NSG does: the custom
// rules of the flow's direction in priority order, first match wins, then
// Azure's default rules. Written from Azure's documentation, independently
// of src/backends/azure-nsg.ts (it imports nothing from src/).
import * as ipaddr from 'ipaddr.js';

export type Direction = 'Inbound' | 'Outbound';
/** SecurityRuleProtocol values a flow can have (the NSG overview: TCP,
 * UDP, ICMP, ESP, AH; '*' is any). ICMP matches every type and code, ESP
 * and AH the whole protocol: none of them has ports. */
export type Protocol = 'Tcp' | 'Udp' | 'Icmp' | 'Esp' | 'Ah';

export interface AzureEnv {
  /** The VirtualNetwork service tag: the VNet's address space (plus peered
   * and connected ranges). */
  virtualNetwork: string[];
  /** The AzureLoadBalancer tag: the health probe source. */
  azureLoadBalancer?: string[];
  /** Application security groups by name: the addresses of the NICs in each. */
  applicationSecurityGroups?: Record<string, string[]>;
  /** Deployment parameter values (az deployment --parameters), over the defaults. */
  parameters?: Record<string, unknown>;
}

export interface Flow {
  direction: Direction;
  protocol: Protocol;
  src: string;
  dst: string;
  /** Destination port; absent for ICMP, ESP and AH. */
  port?: number;
  srcPort?: number;
}

export interface Verdict {
  access: 'Allow' | 'Deny';
  rule: string;
  priority: number;
  /** Decided by one of Azure's default rules. */
  byDefault: boolean;
}

type Range = [ipaddr.IPv4 | ipaddr.IPv6, number];
/** One address field after resolution: any, a tag, or IP ranges. */
type AddressMatch = { any: true } | { tag: string } | { ranges: Range[]; family: 'ipv4' | 'ipv6' } | { asg: string };

export interface ModelRule {
  name: string;
  priority: number;
  direction: Direction;
  access: 'Allow' | 'Deny';
  protocol: string;
  description?: string;
  src: AddressMatch[];
  dst: AddressMatch[];
  srcPorts: [number, number][] | '*';
  dstPorts: [number, number][] | '*';
  /** As written, after resolving variables: for the limit checks. */
  counts: { src: number; dst: number; srcPorts: number; dstPorts: number };
}

/** Azure's default security rules (NSG overview, "Default security rules"). */
const DEFAULTS: { name: string; priority: number; direction: Direction; src: string; dst: string; access: 'Allow' | 'Deny' }[] = [
  { name: 'AllowVNetInBound', priority: 65000, direction: 'Inbound', src: 'VirtualNetwork', dst: 'VirtualNetwork', access: 'Allow' },
  { name: 'AllowAzureLoadBalancerInBound', priority: 65001, direction: 'Inbound', src: 'AzureLoadBalancer', dst: '*', access: 'Allow' },
  { name: 'DenyAllInBound', priority: 65500, direction: 'Inbound', src: '*', dst: '*', access: 'Deny' },
  { name: 'AllowVnetOutBound', priority: 65000, direction: 'Outbound', src: 'VirtualNetwork', dst: 'VirtualNetwork', access: 'Allow' },
  { name: 'AllowInternetOutBound', priority: 65001, direction: 'Outbound', src: '*', dst: 'Internet', access: 'Allow' },
  { name: 'DenyAllOutBound', priority: 65500, direction: 'Outbound', src: '*', dst: '*', access: 'Deny' },
];

const NAME_RE = /^[A-Za-z0-9]([A-Za-z0-9_.-]*[A-Za-z0-9_])?$/;
const LIMITS = { rules: 1000, perNsg: 4000 };

export class TemplateError extends Error {}

function fail(msg: string): never {
  throw new TemplateError(msg);
}

function parseRange(text: string): Range {
  try {
    if (text.includes('/')) return ipaddr.parseCIDR(text);
    const a = ipaddr.parse(text);
    return [a, a.kind() === 'ipv4' ? 32 : 128];
  } catch {
    return fail(`'${text}' is not an IP address or CIDR block`);
  }
}

function parsePorts(v: unknown, what: string): [number, number][] | '*' {
  const list = typeof v === 'string' ? [v] : (v as string[]);
  if (list.length === 1 && list[0] === '*') return '*';
  return list.map((p) => {
    const m = /^(\d{1,5})(?:-(\d{1,5}))?$/.exec(p);
    if (!m) fail(`${what}: invalid port range '${p}'`);
    const lo = Number(m[1]);
    const hi = m[2] === undefined ? lo : Number(m[2]);
    if (lo > 65535 || hi > 65535 || lo > hi) fail(`${what}: invalid port range '${p}' (0-65535, LO <= HI)`);
    return [lo, hi];
  });
}

export class NsgModel {
  readonly rules: ModelRule[];
  readonly variables: Record<string, unknown>;
  readonly parameters: Record<string, { defaultValue?: unknown }>;
  readonly apiVersion: string;
  private readonly asgIds: Set<string>;

  /** The evaluated NSG's name (resolved). */
  readonly name: string;

  constructor(
    readonly template: any,
    readonly env: AzureEnv,
    nsgName?: string,
  ) {
    this.variables = template.variables ?? {};
    this.parameters = template.parameters ?? {};
    const resources = template.resources as any[];
    if (!Array.isArray(resources) || !resources.length) fail('expected resources');
    const nsgs = resources.filter((r) => r.type === 'Microsoft.Network/networkSecurityGroups');
    for (const r of resources) if (r.type !== 'Microsoft.Network/networkSecurityGroups' && r.type !== 'Microsoft.Network/applicationSecurityGroups') fail(`unexpected resource type ${r.type}`);
    const names = nsgs.map((r) => this.resolve(r.name));
    if (nsgs.length > 1 || nsgName !== undefined) {
      for (const n of names) if (typeof n !== 'string' || !n) fail(`a network security group without a name (${JSON.stringify(n)}): give its parameter`);
      if (new Set(names).size !== names.length) fail('two network security groups share a name');
    }
    // ASGs the template creates, by resource id (as resourceId() spells it).
    const asgs = resources.filter((r) => r.type === 'Microsoft.Network/applicationSecurityGroups').map((r) => `Microsoft.Network/applicationSecurityGroups/${this.resolve(r.name)}`);
    if (new Set(asgs).size !== asgs.length) fail('two application security groups share a name');
    this.asgIds = new Set(asgs);
    // Several NSGs (one per role): the one this model evaluates, by name.
    if (nsgName === undefined && nsgs.length !== 1) fail(`expected exactly one network security group, or a name (the template has ${names.join(', ')})`);
    const nsg = nsgName === undefined ? nsgs[0] : nsgs[names.indexOf(nsgName)];
    if (!nsg) fail(`no network security group named ${nsgName} (the template has ${names.join(', ')})`);
    this.name = String(this.resolve(nsg.name));
    // An NSG whose rules name an ASG must be deployed after it.
    const dependsOn = new Set(((nsg.dependsOn ?? []) as unknown[]).map((d) => this.resolve(d)));
    for (const id of JSON.stringify(nsg.properties?.securityRules ?? []).match(/\[resourceId\('Microsoft\.Network\/applicationSecurityGroups'[^"]*\]/g) ?? [])
      if (!dependsOn.has(this.resolve(JSON.parse(`"${id}"`)))) fail(`NSG ${this.name}: names ASG ${id} but does not depend on it`);
    this.apiVersion = nsg.apiVersion;
    const raw = nsg.properties.securityRules as any[];
    this.rules = raw.map((r) => this.readRule(r));
    this.check();
  }

  static parse(text: string, env: AzureEnv, nsgName?: string): NsgModel {
    return new NsgModel(JSON.parse(text), env, nsgName);
  }

  /** An ARM string value: an expression is evaluated (the few forms the
   * output may use), a '[['-escaped literal loses one bracket. */
  resolve(v: unknown): unknown {
    if (Array.isArray(v)) return v.map((x) => this.resolve(x));
    if (typeof v !== 'string') return v;
    if (v.startsWith('[[') && v.endsWith(']')) return v.slice(1);
    if (!(v.startsWith('[') && v.endsWith(']'))) return v;
    const expr = v.slice(1, -1).trim();
    let m = /^variables\('([^']*)'\)$/i.exec(expr);
    if (m) {
      if (!(m[1] in this.variables)) fail(`expression ${v}: no variable '${m[1]}'`);
      return this.resolve(this.variables[m[1]]);
    }
    m = /^resourceId\('([^']*)',\s*(.*)\)$/i.exec(expr);
    if (m) return `${m[1]}/${this.resolve(`[${m[2]}]`)}`;
    m = /^parameters\('([^']*)'\)$/i.exec(expr);
    if (m) {
      const p = this.parameters[m[1]];
      if (!p) fail(`expression ${v}: no parameter '${m[1]}'`);
      if (this.env.parameters && m[1] in this.env.parameters) return this.env.parameters[m[1]];
      return p.defaultValue === undefined ? undefined : this.resolve(p.defaultValue);
    }
    // concat('a', parameters('b'), ...): strings only; an undefined part
    // (a parameter without a value) fails.
    m = /^concat\((.*)\)$/i.exec(expr);
    if (m) {
      const args = m[1].match(/'(?:[^']|'')*'|[A-Za-z]+\('[^']*'\)/g) ?? [];
      if (args.join(', ') !== m[1].trim()) fail(`unsupported concat arguments in ${v}`);
      return args
        .map((a) => {
          const x = a.startsWith("'") ? a.slice(1, -1).replace(/''/g, "'") : this.resolve(`[${a}]`);
          if (typeof x !== 'string') fail(`expression ${v}: ${a} has no string value`);
          return x;
        })
        .join('');
    }
    return fail(`unsupported expression ${v}`);
  }

  private readAddresses(props: any, side: 'source' | 'destination', name: string): { m: AddressMatch[]; n: number } {
    const one = props[`${side}AddressPrefix`];
    const many = props[`${side}AddressPrefixes`];
    const asgs = props[`${side}ApplicationSecurityGroups`];
    if ([one, many, asgs].filter((x) => x !== undefined).length !== 1) fail(`rule ${name}: exactly one of ${side}AddressPrefix, ${side}AddressPrefixes and ${side}ApplicationSecurityGroups`);
    if (asgs !== undefined) {
      if (!Array.isArray(asgs) || asgs.length < 1) fail(`rule ${name}: ${side}ApplicationSecurityGroups must name at least one ASG`);
      const ids = asgs.map((a) => this.resolve(a.id) as string);
      if (new Set(ids).size !== ids.length) fail(`rule ${name}: ${side}ApplicationSecurityGroups names an ASG twice`);
      for (const id of ids) if (!this.asgIds.has(id)) fail(`rule ${name}: ASG ${id} is not created by the template`);
      // ASGs count toward neither prefix total.
      return { m: ids.map((id) => ({ asg: id.split('/').pop()! })), n: 0 };
    }
    if (one !== undefined) {
      const v = this.resolve(one) as string;
      if (v === '*' || v === 'Any') return { m: [{ any: true }], n: 1 };
      if (/^[A-Za-z][A-Za-z0-9]*(\.[A-Za-z0-9]+)?$/.test(v)) return { m: [{ tag: v }], n: 1 };
      const r = parseRange(v);
      return { m: [{ ranges: [r], family: r[0].kind() }], n: 1 };
    }
    const list = this.resolve(many);
    if (!Array.isArray(list) || list.length === 0) fail(`rule ${name}: ${side}AddressPrefixes is not a non-empty list`);
    const ranges = (list as string[]).map(parseRange);
    const fams = new Set(ranges.map((r) => r[0].kind()));
    if (fams.size > 1) fail(`rule ${name}: ${side}AddressPrefixes mixes IPv4 and IPv6`);
    return { m: [{ ranges, family: [...fams][0] }], n: list.length };
  }

  private readRule(r: any): ModelRule {
    const name = r.name as string;
    const p = r.properties;
    if (typeof name !== 'string' || name.length > 80 || !NAME_RE.test(name)) fail(`invalid rule name ${JSON.stringify(name)}`);
    const src = this.readAddresses(p, 'source', name);
    const dst = this.readAddresses(p, 'destination', name);
    const portsOf = (one: unknown, many: unknown, what: string) => {
      if ((one === undefined) === (many === undefined)) fail(`rule ${name}: exactly one of ${what}Range and ${what}Ranges`);
      const v = this.resolve(one ?? many);
      return { ports: parsePorts(v, `rule ${name}`), n: typeof v === 'string' ? 1 : (v as unknown[]).length };
    };
    const sp = portsOf(p.sourcePortRange, p.sourcePortRanges, 'sourcePort');
    const dp = portsOf(p.destinationPortRange, p.destinationPortRanges, 'destinationPort');
    return {
      name,
      priority: p.priority,
      direction: p.direction,
      access: p.access,
      protocol: p.protocol,
      description: p.description,
      src: src.m,
      dst: dst.m,
      srcPorts: sp.ports,
      dstPorts: dp.ports,
      counts: { src: src.n, dst: dst.n, srcPorts: sp.n, dstPorts: dp.n },
    };
  }

  /** What Azure rejects at deployment. */
  private check(): void {
    const names = new Set<string>();
    const prio = new Set<string>();
    for (const r of this.rules) {
      if (names.has(r.name.toLowerCase())) fail(`duplicate rule name ${r.name}`);
      names.add(r.name.toLowerCase());
      if (!Number.isInteger(r.priority) || r.priority < 100 || r.priority > 4096) fail(`rule ${r.name}: priority ${r.priority} outside 100-4096`);
      const key = `${r.direction}/${r.priority}`;
      if (prio.has(key)) fail(`rule ${r.name}: priority ${r.priority} is already used by another ${r.direction} rule`);
      prio.add(key);
      if (!['Inbound', 'Outbound'].includes(r.direction)) fail(`rule ${r.name}: direction ${r.direction}`);
      if (!['Allow', 'Deny'].includes(r.access)) fail(`rule ${r.name}: access ${r.access}`);
      if (!['Tcp', 'Udp', 'Icmp', 'Esp', 'Ah', '*'].includes(r.protocol)) fail(`rule ${r.name}: protocol ${r.protocol}`);
      if (r.description !== undefined && r.description.length > 140) fail(`rule ${r.name}: description over 140 characters`);
      // ResourceCannotContainAddressPrefixesFromDifferentAddressFamilies
      const fams = new Set([...r.src, ...r.dst].flatMap((m) => ('family' in m ? [m.family] : [])));
      if (fams.size > 1) fail(`rule ${r.name}: source and destination prefixes of different address families`);
    }
    if (this.rules.length > LIMITS.rules) fail(`${this.rules.length} rules, over ${LIMITS.rules}`);
    for (const k of ['src', 'dst', 'srcPorts', 'dstPorts'] as const) {
      const total = this.rules.reduce((n, r) => n + r.counts[k], 0);
      if (total > LIMITS.perNsg) fail(`${total} ${k} entries in the NSG, over ${LIMITS.perNsg}`);
    }
  }

  private readonly parsed = new Map<string, Range>();

  private inRanges(addr: ipaddr.IPv4 | ipaddr.IPv6, cidrs: string[]): boolean {
    return cidrs.some((c) => {
      let r = this.parsed.get(c);
      if (!r) this.parsed.set(c, (r = parseRange(c)));
      return r[0].kind() === addr.kind() && addr.match(r);
    });
  }

  private readonly addrs = new Map<string, ipaddr.IPv4 | ipaddr.IPv6>();

  private matchesAddress(ms: AddressMatch[], addrText: string): boolean {
    let addr = this.addrs.get(addrText);
    if (!addr) this.addrs.set(addrText, (addr = ipaddr.parse(addrText)));
    return ms.some((m) => {
      if ('any' in m) return true;
      if ('ranges' in m) return m.ranges.some((r) => r[0].kind() === addr.kind() && addr.match(r));
      if ('asg' in m) {
        const members = this.env.applicationSecurityGroups?.[m.asg];
        if (!members) fail(`ASG ${m.asg}: the environment gives no members`);
        return this.inRanges(addr, members);
      }
      switch (m.tag) {
        case 'VirtualNetwork':
          // The VNet's space; the tag also expands to the platform's
          // 168.63.129.16 (the portal warns that denying VirtualNetwork denies
          // AzureLoadBalancer).
          return this.inRanges(addr, [...this.env.virtualNetwork, ...(this.env.azureLoadBalancer ?? ['168.63.129.16/32'])]);
        case 'AzureLoadBalancer':
          return this.inRanges(addr, this.env.azureLoadBalancer ?? ['168.63.129.16/32']);
        case 'Internet':
          // The public address space outside the virtual network.
          return !this.inRanges(addr, [...this.env.virtualNetwork, ...(this.env.azureLoadBalancer ?? ['168.63.129.16/32'])]);
        default:
          return fail(`service tag ${m.tag} is not modelled`);
      }
    });
  }

  private matchesPort(ports: [number, number][] | '*', port: number | undefined): boolean {
    if (ports === '*') return true;
    return port !== undefined && ports.some(([lo, hi]) => lo <= port && port <= hi);
  }

  /** The rules of a direction in evaluation order. */
  ordered(direction: Direction): ModelRule[] {
    return this.rules.filter((r) => r.direction === direction).sort((a, b) => a.priority - b.priority);
  }

  evaluate(flow: Flow): Verdict {
    // "NSGs do not filter ICMPv6" (Azure IPv6 overview): whatever the rules say.
    if (flow.protocol === 'Icmp' && ipaddr.parse(flow.dst).kind() === 'ipv6') return { access: 'Allow', rule: 'ICMPv6 (not filtered by NSGs)', priority: 0, byDefault: true };
    const portless = flow.protocol === 'Icmp' || flow.protocol === 'Esp' || flow.protocol === 'Ah';
    if (portless && (flow.port !== undefined || flow.srcPort !== undefined)) fail(`a ${flow.protocol} flow has no ports`);
    for (const r of this.ordered(flow.direction)) {
      if (r.protocol !== '*' && r.protocol.toLowerCase() !== flow.protocol.toLowerCase()) continue;
      // A rule for a protocol without ports that lists ports is not one
      // Azure would match on them; only '*' is meaningful.
      if (portless && r.protocol !== '*' && (r.dstPorts !== '*' || r.srcPorts !== '*')) fail(`rule ${r.name}: ${r.protocol} with ports`);
      if (!this.matchesAddress(r.src, flow.src) || !this.matchesAddress(r.dst, flow.dst)) continue;
      if (!this.matchesPort(r.srcPorts, flow.srcPort)) continue;
      if (!this.matchesPort(r.dstPorts, flow.port)) continue;
      return { access: r.access, rule: r.name, priority: r.priority, byDefault: false };
    }
    for (const d of DEFAULTS.filter((x) => x.direction === flow.direction)) {
      const m = (t: string): AddressMatch[] => (t === '*' ? [{ any: true }] : [{ tag: t }]);
      if (this.matchesAddress(m(d.src), flow.src) && this.matchesAddress(m(d.dst), flow.dst))
        return { access: d.access, rule: d.name, priority: d.priority, byDefault: true };
    }
    return fail('no default rule matched'); // DenyAll* match everything
  }

  allowed(flow: Flow): boolean {
    return this.evaluate(flow).access === 'Allow';
  }
}
