// The intermediate representation every backend reads. It is resolved
// (features, params and catalog defaults applied), split by address family,
// merged (one rule per direction, peer group, family and transport), and
// sorted canonically, so it does not depend on how the inputs were ordered.
// Rules name address sets; they never multiply addresses by ports.

import type { Cidr, Family } from '../addresses';
import type { PortRange } from '../ports';

export type { Family } from '../addresses';
export type Direction = 'ingress' | 'egress';
export type { Transport } from '../transports';
import type { Transport } from '../transports';

/** One catalog row (or prose sentence) that produced a rule. */
export interface Provenance {
  /** Catalog rule id, e.g. "ops-ssh". */
  ruleId: string;
  /** Table id in the catalog, e.g. "T1". */
  table: string;
  heading: string;
  /** 1-based row in its table; absent for a rule stated in prose. */
  row?: number;
  /** Short citation: "T1.1", or "T2.prose". */
  ref: string;
  service: string;
  protocol?: string;
  description: string;
  note?: string;
  /** The ports (or ICMP types) this row opens (a rule merges several rows). */
  ports: PortRange[];
}

/** The addresses of one profile group in one family, minimal CIDR form. */
export interface AddressSet {
  /** Unique, identifier-safe: "<group>_v4" / "<group>_v6". */
  name: string;
  group: string;
  family: Family;
  cidrs: Cidr[];
}

export interface Rule {
  /** Stable across runs and catalog reordering, e.g. "in-admins-v4-tcp". */
  id: string;
  direction: Direction;
  /**
   * "host": enforced on the nodes (ingress to them, or egress from them).
   * "off-host": neither end is the nodes (IPMI to the BMCs): a host firewall
   * cannot enforce it; backends that can (network-level ones) may, the
   * others list it as a comment.
   */
  scope: 'host' | 'off-host';
  family: Family;
  transport: Transport;
  /** Address set names (see IR.sets). Absent for the host end of a host
   * rule (ingress destination, egress source): the rule runs on the host. */
  source?: string;
  destination?: string;
  sourceGroup: string;
  destinationGroup: string;
  /** Destination ports (tcp, udp, sctp); ICMP types 0-255, [0-255] for
   * any (icmp, icmpv6); [0-0] for a portless protocol (src/transports.ts). */
  ports: PortRange[];
  /** Sorted by table then row; every catalog row that contributed. */
  provenance: Provenance[];
  /** Produced by an anti-lockout catalog rule (admins' SSH). */
  antiLockout: boolean;
}

/** ICMP types by their nftables names (iptables uses the same words). */
export interface IcmpPolicy {
  ipv4: string[];
  ipv6: string[];
}

/** A rule every host needs that no catalog lists (src/ir/baseline.ts):
 * literal addresses, rendered by the host targets only. */
export interface BaselineRule {
  /** Stable, e.g. "dhcpv6-client-in"; used in comments. */
  id: string;
  /** Why a host needs it, for the comment. */
  why: string;
  direction: Direction;
  family: Family;
  transport: 'tcp' | 'udp';
  /** Absent: any address. */
  source?: Cidr[];
  destination?: Cidr[];
  /** Absent: any source port. */
  sourcePorts?: PortRange[];
  ports: PortRange[];
}

/** How the host targets fit the host they run on (profile `host` and the
 * per-target sections), defaults applied. */
export interface HostPolicy {
  platform: 'none' | 'aws' | 'azure' | 'gcp';
  /** Before the catalog rules, in this order; egress entries only under `egress: restrict`. */
  baseline: BaselineRule[];
  /** Traffic in (and, under restrict, out) on these is not filtered. Sorted. */
  trustedInterfaces: string[];
  /** A rate-limited log line before each final drop, when present. */
  logDrops?: { prefix: string; rate: string; group?: number };
  /** nftables: a counter on every rule. */
  counters: boolean;
  nftables: { priority: number };
  iptables: { hook: 'first' | 'last' };
  firewalld: { interfaces: string[] };
}

export interface IR {
  environment: string;
  catalog: { name: string; title?: string; document?: string };
  /** The group the firewall runs on: this policy's role. */
  host: string;
  /** Every firewalled role of the catalog (one for `host:` catalogs); each
   * has an IR of its own, and `host` is one of them. buildIR always sets
   * it; absent (an IR built by hand) means [host]. */
  roles?: string[];
  /** The catalog's union groups -> members ("All nodes" of several roles);
   * absent means none. */
  unions?: Record<string, string[]>;
  /** allow: outbound open; restrict: only egress rules (+ baseline). */
  egress: 'allow' | 'restrict';
  /** Every set a rule names, and the host group's own sets. */
  sets: AddressSet[];
  rules: Rule[];
  icmp: { ingress: IcmpPolicy; egress: IcmpPolicy };
  /** What the host targets add to keep a host working, and their options. */
  hostPolicy: HostPolicy;
  /** Enabled features and resolved params, for headers and review. */
  features: Record<string, boolean>;
  params: Record<string, PortRange>;
  terraform?: { vpc_id?: string; name?: string; prefix_lists?: string[] };
  azure?: { nsg_name?: string; location?: string; load_balancer_probes?: boolean; node_asg?: string };
}
