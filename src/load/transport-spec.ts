// Reads what a catalog rule or a profile entry says about its transport:
// `transport` (one name or number, or a list), `ports` and `icmp_types`,
// checked against each other with positions. Shared by both loaders.

import { parseIcmpType, parseTransport, Transport, TRANSPORT_FACTS, TRANSPORTS, transportKind } from '../transports';
import { suggestion } from '../diagnostics';
import type { PathSeg } from './yaml';

export interface TransportSpec {
  /** Canonical order (TRANSPORTS), each once. */
  transports: Transport[];
  /** Per ICMP transport: the allowed types, sorted; absent = every type. */
  icmpTypes: Partial<Record<'icmp' | 'icmpv6', number[]>>;
}

type Err = (path: PathSeg[], message: string, hint?: string) => void;

/**
 * `what` names the thing in messages ("rule 'ops-ssh'", "extra_egress entry 2");
 * `at` is the path of the entry. `hasPorts` says whether `ports` was given.
 */
export function readTransportSpec(
  raw: { transport?: unknown; icmp_types?: unknown; ports?: unknown },
  at: PathSeg[],
  what: string,
  err: Err,
): TransportSpec {
  const given = raw.transport === undefined ? ['tcp'] : Array.isArray(raw.transport) ? raw.transport : [raw.transport];
  const listed = Array.isArray(raw.transport);
  const seen = new Set<Transport>();
  given.forEach((t, j) => {
    if (typeof t !== 'string' && typeof t !== 'number') return;
    const path = listed ? [...at, 'transport', j] : [...at, 'transport'];
    const parsed = parseTransport(t);
    if (!parsed) {
      const numeric = /^\s*[0-9]+\s*$/.test(String(t));
      err(
        path,
        numeric ? `${what}: IP protocol ${String(t).trim()} is not one portcullis can compile` : `${what}: unknown transport ${JSON.stringify(t)}`,
        numeric
          ? `the IP protocols portcullis knows are ${TRANSPORTS.map((x) => `${x} (${TRANSPORT_FACTS[x].number})`).join(', ')}`
          : `${suggestion(String(t).toLowerCase(), [...TRANSPORTS])}, or an IP protocol number`,
      );
      return;
    }
    if (seen.has(parsed)) err(path, `${what}: transport '${parsed}' is listed twice`, 'list each transport once');
    seen.add(parsed);
  });
  const transports = TRANSPORTS.filter((t) => seen.has(t));
  const withPorts = transports.filter((t) => transportKind(t) === 'ports');
  const icmps = transports.filter((t): t is 'icmp' | 'icmpv6' => transportKind(t) === 'icmp');
  const hasPortsField = raw.ports !== undefined;
  if (seen.size) {
    if (withPorts.length && !hasPortsField)
      err(at, `${what}: ${withPorts.join(' and ')} need${withPorts.length > 1 ? '' : 's'} ports, and it gives none`, "add 'ports: [...]'");
    if (!withPorts.length && hasPortsField && seen.size)
      err([...at, 'ports'], `${what}: ${transports.join(', ')} ${transports.length > 1 ? 'have' : 'has'} no ports`, icmps.length ? "ICMP message types go in 'icmp_types'; remove 'ports'" : "remove 'ports'");
  }
  const icmpTypes: TransportSpec['icmpTypes'] = {};
  if (raw.icmp_types !== undefined && Array.isArray(raw.icmp_types)) {
    if (!icmps.length && seen.size) err([...at, 'icmp_types'], `${what}: icmp_types applies to icmp and icmpv6, and the rule's transport is ${transports.join(', ')}`, "add icmp or icmpv6 to 'transport', or remove 'icmp_types'");
    const numeric = (raw.icmp_types as unknown[]).some((x) => typeof x === 'number' || /^\s*[0-9]+\s*$/.test(String(x)));
    if (numeric && icmps.length > 1)
      err([...at, 'icmp_types'], `${what}: type numbers differ between ICMP and ICMPv6 (echo-request is 8 in one, 128 in the other)`, 'name the types (echo-request, ...) or split the rule by transport');
    for (const t of icmps) {
      const types = new Set<number>();
      (raw.icmp_types as unknown[]).forEach((x, j) => {
        if (typeof x !== 'string' && typeof x !== 'number') return;
        const n = parseIcmpType(t, x);
        if (n === undefined) err([...at, 'icmp_types', j], `${what}: unknown ${TRANSPORT_FACTS[t].title} type ${JSON.stringify(x)}`, `a number 0-255 or a name such as ${t === 'icmp' ? 'echo-request, destination-unreachable, time-exceeded' : 'echo-request, packet-too-big, nd-neighbor-solicit'}`);
        else types.add(n);
      });
      icmpTypes[t] = [...types].sort((a, b) => a - b);
    }
  }
  return { transports, icmpTypes };
}
