// Loads a site profile against a catalog: shape by schema, then every name
// checked against the catalog and every address parsed, with positions.

import { Cidr, parseAddress, parseCidr } from '../addresses';
import { CompileError, Diagnostic, sortDiagnostics, SourceText, suggestion } from '../diagnostics';
import { parsePortSpec, PortRange } from '../ports';
import type { Transport } from '../transports';
import { readTransportSpec, TransportSpec } from './transport-spec';
import { Catalog, profileGroupName, profileIngressGroupName, profileIngressRuleId, profileRuleId } from './catalog';
import { validateProfileShape } from './validate';
import { ParsedDoc, parseYaml, PathSeg } from './yaml';

export interface ProfileAddress {
  readonly cidr: Cidr;
  /** As typed, and where, for explain/lint. */
  readonly text: string;
  readonly path: PathSeg[];
}

/** An address of a group: its path is made when asked for (by an error,
 * lint or explain), not kept for each of tens of thousands. */
class GroupAddress implements ProfileAddress {
  constructor(
    readonly cidr: Cidr,
    readonly text: string,
    private readonly group: string,
    private readonly index: number,
  ) {}

  get path(): PathSeg[] {
    return ['groups', this.group, this.index];
  }
}

export interface Profile {
  doc: ParsedDoc;
  environment: string;
  /** Only groups the profile names; catalog defaults are applied by the IR. */
  groups: Map<string, ProfileAddress[]>;
  params: Map<string, PortRange>;
  features: Map<string, boolean>;
  egress: 'allow' | 'restrict';
  /** Outbound flows the site adds (profile `extra_egress`). */
  extraEgress: ExtraEgress[];
  /** Inbound flows the site adds (profile `extra_ingress`: a monitoring or
   * backup agent that must reach the nodes). */
  extraIngress: ExtraIngress[];
  terraform?: { vpc_id?: string; name?: string; prefix_lists?: string[] };
  azure?: { nsg_name?: string; location?: string; load_balancer_probes?: boolean; node_asg?: string };
  /** How the host targets fit the host (profile `host`), defaults applied. */
  host: HostOptions;
  nftables: { priority: number };
  iptables: { hook: 'first' | 'last' };
  firewalld: { interfaces: string[] };
}

export type Platform = 'none' | 'aws' | 'azure' | 'gcp';

export interface HostOptions {
  platform: Platform;
  /** Sorted, without repeats. */
  trustedInterfaces: string[];
  log: { drops: boolean; rate: string; group?: number };
  counters: boolean;
}

export interface ExtraEgress {
  /** The compiler's names for the entry (reserved in every catalog). */
  group: string;
  ruleId: string;
  /** 1-based, its row in table PROFILE_TABLE. */
  row: number;
  to: ProfileAddress[];
  /** For its port transports; empty when it has none. */
  ports: PortRange[];
  transports: Transport[];
  icmpTypes: TransportSpec['icmpTypes'];
  description?: string;
  path: PathSeg[];
}

export interface ExtraIngress {
  /** The compiler's names for the entry (reserved in every catalog). */
  group: string;
  ruleId: string;
  /** 1-based, its row in table PROFILE_INGRESS_TABLE. */
  row: number;
  from: ProfileAddress[];
  /** For its port transports; empty when it has none. */
  ports: PortRange[];
  transports: Transport[];
  icmpTypes: TransportSpec['icmpTypes'];
  description?: string;
  path: PathSeg[];
}

interface RawProfile {
  environment: string;
  groups: Record<string, string[]>;
  params?: Record<string, string | number>;
  features?: Record<string, boolean>;
  egress: 'allow' | 'restrict';
  extra_egress?: { to: string[]; ports?: (string | number)[]; transport?: unknown; icmp_types?: unknown; description?: string }[];
  extra_ingress?: { from: string[]; ports?: (string | number)[]; transport?: unknown; icmp_types?: unknown; description?: string }[];
  terraform?: { vpc_id?: string; name?: string; prefix_lists?: string[] };
  azure?: { nsg_name?: string; location?: string; load_balancer_probes?: boolean; node_asg?: string };
  host?: { platform?: Platform; trusted_interfaces?: string[]; log?: { drops?: boolean; rate?: string; group?: number }; counters?: boolean };
  nftables?: { priority?: number };
  iptables?: { hook?: 'first' | 'last' };
  firewalld?: { interfaces?: string[] };
}

/** Interface names as a sorted set: the same list typed differently gives the same output. */
function interfaceSet(names: unknown): string[] {
  return Array.isArray(names) ? [...new Set(names.filter((n): n is string => typeof n === 'string'))].sort() : [];
}

export function loadProfile(source: SourceText, catalog: Catalog): Profile {
  const doc = parseYaml(source);
  const shape = validateProfileShape(doc);
  if (doc.value === undefined || doc.value === null)
    throw new CompileError([source.diagnostic({ line: 1, col: 1 }, 'the profile is empty', "a profile is a mapping with at least 'environment' and 'groups'")]);
  if (shape.length && !isMapping(doc.value)) throw new CompileError(shape);
  // Shape errors do not stop the checks below (each skips values of the
  // wrong type), so one run reports every problem of the file.
  const raw = doc.value as RawProfile;
  const errors: Diagnostic[] = [...shape];
  // One finding per place: a value the schema already rejected is not
  // reported again by the checks below.
  const flagged = new Set(shape.map((d) => `${d.pos?.line}:${d.pos?.col}`));
  const err = (path: PathSeg[], msg: string, hint?: string, atKey = false) => {
    const d = doc.error(path, msg, hint, atKey);
    if (!flagged.has(`${d.pos?.line}:${d.pos?.col}`)) errors.push(d);
  };

  const groups = new Map<string, ProfileAddress[]>();
  const groupNames = [...catalog.groups.keys()];
  for (const [name, list] of entries(raw.groups)) {
    if (!catalog.groups.has(name)) {
      err(['groups', name], `unknown group '${name}'`, `catalog '${catalog.name}' has no such group; ${suggestion(name, groupNames)}`, true);
      continue;
    }
    const members = catalog.unions.get(name);
    if (members) {
      err(['groups', name], `group '${name}' is the union of ${members.join(', ')}: its addresses are theirs`, `give the addresses under ${members.map((m) => `groups.${m}`).join(' and ')}`, true);
      continue;
    }
    if (!Array.isArray(list)) continue;
    const addrs: ProfileAddress[] = [];
    for (let i = 0; i < list.length; i++) {
      const text: unknown = list[i];
      if (typeof text !== 'string') continue;
      const r = parseCidr(text);
      if ('ok' in r) err(['groups', name, i], `in group '${name}': ${r.message}`, r.hint);
      else addrs.push(new GroupAddress(r, text, name, i));
    }
    groups.set(name, addrs);
  }

  const params = new Map<string, PortRange>();
  const paramNames = [...catalog.params.keys()];
  for (const [name, value] of entries(raw.params)) {
    const def = catalog.params.get(name);
    if (!def) {
      err(['params', name], `unknown param '${name}'`, suggestion(name, paramNames), true);
      continue;
    }
    if (typeof value !== 'string' && typeof value !== 'number') continue;
    const range = parsePortSpec(value);
    if (!range) {
      err(['params', name], `param '${name}' has an invalid value ${JSON.stringify(value)}`, def.kind === 'port' ? 'expected a port 1-65535' : "expected a range 'LO-HI' within 1-65535, LO <= HI");
      continue;
    }
    if (def.kind === 'port' && range.lo !== range.hi) {
      err(['params', name], `param '${name}' takes one port, not a range`, def.choices ? `one of ${def.choices.join(', ')}` : undefined);
      continue;
    }
    if (def.choices && !def.choices.includes(range.lo)) {
      err(['params', name], `param '${name}' must be one of ${def.choices.join(' or ')}, not ${range.lo}`, def.description);
      continue;
    }
    params.set(name, range);
  }

  const features = new Map<string, boolean>();
  const featureNames = [...catalog.features.keys()];
  for (const [name, on] of entries(raw.features)) {
    if (typeof on !== 'boolean') continue;
    if (!catalog.features.has(name)) err(['features', name], `unknown feature '${name}'`, suggestion(name, featureNames), true);
    else features.set(name, on);
  }
  /** Addresses and ports of one extra_egress / extra_ingress entry. */
  const entryParts = (key: 'extra_egress' | 'extra_ingress', side: 'to' | 'from', i: number, e: { ports?: unknown[] } & Record<string, unknown>) => {
    const addrs: ProfileAddress[] = [];
    (e[side] as unknown[]).forEach((text, j) => {
      if (typeof text !== 'string') return;
      const r = parseAddress(text);
      if (r.ok) addrs.push({ cidr: r.cidr, text, path: [key, i, side, j] });
      else err([key, i, side, j], `in ${key}: ${r.message}`, r.hint);
    });
    const ports: PortRange[] = [];
    const spec = readTransportSpec(e, [key, i], `${key} entry ${i + 1}`, err);
    (Array.isArray(e.ports) ? e.ports : []).forEach((p, j) => {
      if (typeof p !== 'string' && typeof p !== 'number') return;
      const range = parsePortSpec(p);
      if (range) ports.push(range);
      else err([key, i, 'ports', j], `in ${key}: invalid port ${JSON.stringify(p)}`, "a port 1-65535 or a range 'LO-HI' with LO <= HI");
    });
    return { addrs, ports, spec };
  };
  const extraEgress: ExtraEgress[] = [];
  (Array.isArray(raw.extra_egress) ? raw.extra_egress : []).forEach((e, i) => {
    if (!isMapping(e) || !Array.isArray(e.to) || (e.ports !== undefined && !Array.isArray(e.ports))) return;
    const { addrs, ports, spec } = entryParts('extra_egress', 'to', i, e);
    extraEgress.push({
      group: profileGroupName(i + 1),
      ruleId: profileRuleId(i + 1),
      row: i + 1,
      to: addrs,
      ports,
      transports: spec.transports,
      icmpTypes: spec.icmpTypes,
      description: e.description,
      path: ['extra_egress', i],
    });
  });
  const extraIngress: ExtraIngress[] = [];
  (Array.isArray(raw.extra_ingress) ? raw.extra_ingress : []).forEach((e, i) => {
    if (!isMapping(e) || !Array.isArray(e.from) || (e.ports !== undefined && !Array.isArray(e.ports))) return;
    const { addrs, ports, spec } = entryParts('extra_ingress', 'from', i, e);
    extraIngress.push({
      group: profileIngressGroupName(i + 1),
      ruleId: profileIngressRuleId(i + 1),
      row: i + 1,
      from: addrs,
      ports,
      transports: spec.transports,
      icmpTypes: spec.icmpTypes,
      description: e.description,
      path: ['extra_ingress', i],
    });
  });
  // terraform.prefix_lists names catalog groups; never the nodes (they are
  // the security group's members, not addresses in a rule).
  (Array.isArray(raw.terraform?.prefix_lists) ? raw.terraform!.prefix_lists : []).forEach((name, i) => {
    if (typeof name !== 'string') return;
    if (!catalog.groups.has(name)) err(['terraform', 'prefix_lists', i], `unknown group '${name}' in terraform.prefix_lists`, `catalog '${catalog.name}' has no such group; ${suggestion(name, groupNames)}`);
    else if (catalog.roles.includes(name) || (catalog.unions.get(name) ?? []).some((m) => catalog.roles.includes(m)))
      err(['terraform', 'prefix_lists', i], `'${name}' is ${catalog.roles.length === 1 ? 'the host group' : 'a role, or includes one'}: its members carry the security group${catalog.roles.length === 1 ? '' : 's'}, and node-to-node rules reference the group${catalog.roles.length === 1 ? '' : 's'} themselves`, 'list only peer groups (admins, users, ...)');
  });
  // An interface cannot both be left to other managers and bound to zone portcullis.
  const trusted = Array.isArray(raw.host?.trusted_interfaces) ? raw.host!.trusted_interfaces : [];
  (Array.isArray(raw.firewalld?.interfaces) ? raw.firewalld!.interfaces : []).forEach((name, i) => {
    const j = trusted.indexOf(name);
    if (typeof name === 'string' && j >= 0)
      err(['firewalld', 'interfaces', i], `interface '${name}' is both in firewalld.interfaces (bound to zone portcullis) and in host.trusted_interfaces (left to its own manager)`, `firewalld puts an interface in one zone only; line ${doc.pos(['host', 'trusted_interfaces', j]).line} lists it as trusted: keep it in one of the two`);
  });
  if (errors.length) throw new CompileError(sortDiagnostics(errors));
  return {
    doc,
    environment: raw.environment,
    groups,
    params,
    features,
    egress: raw.egress,
    extraEgress,
    extraIngress,
    terraform: raw.terraform,
    azure: raw.azure,
    host: {
      platform: raw.host?.platform ?? 'none',
      trustedInterfaces: interfaceSet(raw.host?.trusted_interfaces),
      log: { drops: raw.host?.log?.drops ?? false, rate: raw.host?.log?.rate ?? '10/minute', ...(raw.host?.log?.group !== undefined ? { group: raw.host.log.group } : {}) },
      counters: raw.host?.counters ?? false,
    },
    nftables: { priority: raw.nftables?.priority ?? 0 },
    iptables: { hook: raw.iptables?.hook ?? 'first' },
    firewalld: { interfaces: interfaceSet(raw.firewalld?.interfaces) },
  };
}

function isMapping(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function entries<T>(v: Record<string, T> | undefined): [string, T][] {
  return isMapping(v) ? (Object.entries(v) as [string, T][]) : [];
}
