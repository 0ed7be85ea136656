// What an expectation's `port` (and each `only` item) means: one place that
// reads them, through explain's own parser (parsePortQuery), so every form
// `explain --port` takes is a form an expectation takes (N/tcp, N/udp, and
// the other transports as explain learns them), plus a range LO-HI of a
// port transport. Values follow the IR's convention for Rule.ports
// (src/transports.ts): ports, ICMP types, 0 for a portless protocol.

import { parsePortQuery } from '../analysis/explain';
import { CompileError } from '../diagnostics';
import type { PortRange } from '../ports';
import { describeMatch, hasPorts, isIcmp, Transport } from '../transports';

export interface PortSpec {
  transport: Transport;
  range: PortRange;
  /** As written. */
  text: string;
}

export class PortSpecError extends Error {
  constructor(
    message: string,
    readonly hint?: string,
  ) {
    super(message);
  }
}

/** One value of the query's transport: the port, the ICMP type, or 0.
 * Reads explain's answer in its current shape ({port, transport}) and in
 * the one it takes for transports without ports ({transport, value}). */
function queryValue(text: string): { transport: Transport; value: number } {
  let q: { transport: Transport; port?: number; value?: number };
  try {
    q = parsePortQuery(text) as { transport: Transport; port?: number; value?: number };
  } catch (e) {
    if (!(e instanceof CompileError)) throw e;
    const d = e.diagnostics[0];
    // explain words it for its option; here it is the entry's key.
    throw new PortSpecError(d.message.replace(/^--port /, 'port '), d.hint?.replace(/--port /g, ''));
  }
  return { transport: q.transport, value: q.value ?? q.port ?? 0 };
}

export function parsePortSpec(text: string): PortSpec {
  const t = text.trim();
  const range = /^(\d{1,5})-(\d{1,5})\/([A-Za-z0-9-]+)$/.exec(t);
  if (range) {
    const lo = queryValue(`${range[1]}/${range[3]}`);
    const hi = queryValue(`${range[2]}/${range[3]}`);
    if (!hasPorts(lo.transport)) throw new PortSpecError(`port '${text}': a range is for transports with ports`, `e.g. 30000-32767/tcp`);
    if (lo.value > hi.value) throw new PortSpecError(`port '${text}': the range ends below its start`, `write it low to high: ${hi.value}-${lo.value}/${lo.transport}`);
    return { transport: lo.transport, range: { lo: lo.value, hi: hi.value }, text };
  }
  const q = queryValue(t);
  return { transport: q.transport, range: { lo: q.value, hi: q.value }, text };
}

/** The one flow explain is asked about: "22/tcp", "8/icmp", "esp". */
export function explainQuery(transport: Transport, value: number): string {
  return hasPorts(transport) || isIcmp(transport) ? `${value}/${transport}` : transport;
}

/** "tcp 22,80-81", "icmp echo-request", "esp". */
export function describePorts(transport: Transport, ranges: PortRange[]): string {
  return describeMatch(transport, ranges);
}
