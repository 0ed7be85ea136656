// How the flow tools (diff, audit, explain) print what a flow matches:
// ports for tcp, udp and sctp, ICMP types by name, a portless protocol by
// its name alone (src/transports.ts has the conventions of Rule.ports).

import type { PortRange } from '../ports';
import { hasPorts, icmpTypeName, isFullSpace, isIcmp, Transport } from '../transports';

/** ICMP types as people read them: each named type by its name, unnamed
 * ones as numbers or ranges; ["any"] for the whole 0-255. */
export function icmpTypeItems(transport: 'icmp' | 'icmpv6', ranges: PortRange[]): string[] {
  if (isFullSpace(transport, ranges)) return ['any'];
  const out: string[] = [];
  for (const r of ranges) {
    let run: number | undefined; // start of a run of unnamed types
    for (let t = r.lo; t <= r.hi + 1; t++) {
      const name = t <= r.hi ? icmpTypeName(transport, t) : undefined;
      const unnamed = t <= r.hi && name === undefined;
      if (unnamed && run === undefined) run = t;
      if (!unnamed && run !== undefined) {
        out.push(run === t - 1 ? String(run) : `${run}-${t - 1}`);
        run = undefined;
      }
      if (name !== undefined) out.push(name);
    }
  }
  return out;
}

/** "tcp 22, 80", "icmp echo-request", "icmp any type", "esp". */
export function matchText(transport: Transport, items: string[], list: (xs: string[]) => string = (xs) => xs.join(', ')): string {
  if (!hasPorts(transport) && !isIcmp(transport)) return transport;
  if (isIcmp(transport) && items.length === 1 && items[0] === 'any') return `${transport} any type`;
  return `${transport} ${list(items)}`;
}

/** What a flow's `ports` (IR convention) become in JSON and text: port
 * strings for port transports, ICMP type items, nothing for portless. */
export function matchFields(transport: Transport, ranges: PortRange[], formatPort: (r: PortRange) => string): { ports: string[]; icmp_types?: string[]; match: string } {
  const ports = hasPorts(transport) ? ranges.map(formatPort) : [];
  const icmp = isIcmp(transport) ? icmpTypeItems(transport as 'icmp' | 'icmpv6', ranges) : undefined;
  return { ports, ...(icmp ? { icmp_types: icmp } : {}), match: matchText(transport, hasPorts(transport) ? ports : icmp ?? []) };
}
