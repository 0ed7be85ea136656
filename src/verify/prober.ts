// The prober of `portcullis verify` and the kernel tests. Run inside a
// namespace (probe() does that):
//   echo '[{"src":"192.0.2.77","dst":"10.20.0.11","port":80}]' \
//     | ip netns exec NS node build/src/verify/prober.js [TIMEOUT_MS]
// Opens every case in parallel from `src` (bound as the local address, with
// `sourcePort` when given, else an ephemeral port) to `dst`:`port` over
// `transport` (default tcp), sends a random nonce line and
// counts the flow as allowed only if exactly that nonce comes back before
// TIMEOUT_MS (default 700): a full round trip through the firewall, never a
// bare connect that a stray listener could answer. Prints one JSON array,
// in input order:
//   [{src, dst, port, transport, sourcePort, allowed, outcome, ms}]
// A link-local address carries its scope: "fe80::2%veth1".
// outcome: "echo" | "timeout" | "closed" | "wrong-echo" | an errno code.

import { randomBytes } from 'crypto';
import * as dgram from 'dgram';
import * as net from 'net';
import type { Transport } from '../transports';
import type { Topology } from './topology';

export interface ProbeCase {
  src: string;
  dst: string;
  port: number;
  /** Default tcp. This program sends tcp and udp; the other transports go
   * to the raw prober (raw.ts). */
  transport?: Transport;
  /** The local port to bind (DHCPv6 replies come from 547); default ephemeral. */
  sourcePort?: number;
}

export interface ProbeResult extends ProbeCase {
  /** True only if the nonce made the full round trip. */
  allowed: boolean;
  /** "echo" | "timeout" | "closed" | "wrong-echo" | errno code */
  outcome: string;
  ms: number;
}

/** At most this many probes in flight; a denied probe holds its slot for the
 * whole timeout, so this is set high. */
const MAX_IN_FLIGHT = 4000;

function probeOne(c: ProbeCase, timeoutMs: number): Promise<ProbeResult> {
  return new Promise((resolve) => {
    const nonce = randomBytes(16).toString('hex');
    const started = Date.now();
    let done = false;
    let close = () => {};
    const finish = (allowed: boolean, outcome: string) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      close();
      resolve({ ...c, allowed, outcome, ms: Date.now() - started });
    };
    const timer = setTimeout(() => finish(false, 'timeout'), timeoutMs);
    const answer = (line: string) => finish(line === nonce, line === nonce ? 'echo' : 'wrong-echo');
    const fail = (e: NodeJS.ErrnoException) => finish(false, e.code || e.message);
    if (c.transport && c.transport !== 'tcp' && c.transport !== 'udp') {
      finish(false, `not-sent: ${c.transport} is sent by the raw prober`);
    } else if (c.transport === 'udp') {
      const sock = dgram.createSocket(c.dst.includes(':') ? 'udp6' : 'udp4');
      close = () => {
        try {
          sock.close();
        } catch {
          // already closed
        }
      };
      sock.on('error', fail);
      sock.on('message', (msg) => answer(msg.toString('utf8').split('\n')[0]));
      sock.bind({ address: c.src, port: c.sourcePort ?? 0 }, () =>
        // connect() makes an ICMP port-unreachable surface as an error.
        sock.connect(c.port, c.dst, () => sock.send(nonce + '\n')),
      );
    } else {
      let buf = '';
      const sock = net.connect({ host: c.dst, port: c.port, localAddress: c.src, ...(c.sourcePort ? { localPort: c.sourcePort } : {}) });
      close = () => sock.destroy();
      sock.setEncoding('utf8');
      sock.on('connect', () => sock.write(nonce + '\n'));
      sock.on('data', (chunk: string) => {
        buf += chunk;
        const nl = buf.indexOf('\n');
        if (nl >= 0) answer(buf.slice(0, nl));
      });
      sock.on('end', () => finish(false, 'closed'));
      sock.on('close', () => finish(false, 'closed'));
      sock.on('error', fail);
    }
  });
}

/** Runs every case, at most MAX_IN_FLIGHT at a time; results in input order. */
export async function probeAll(cases: readonly ProbeCase[], timeoutMs: number): Promise<ProbeResult[]> {
  const results: ProbeResult[] = new Array(cases.length);
  let next = 0;
  const worker = async () => {
    while (next < cases.length) {
      const i = next++;
      results[i] = await probeOne(cases[i], timeoutMs);
    }
  };
  await Promise.all(Array.from({ length: Math.min(MAX_IN_FLIGHT, cases.length) }, worker));
  return results;
}

/** The prober program: cases as JSON on stdin, results as JSON on stdout. */
export function main(args: readonly string[]): void {
  const timeoutMs = Number(args[0] || 700);
  if (!(timeoutMs > 0)) {
    console.error(`prober: bad timeout ${args[0]}`);
    process.exit(2);
  }
  let input = '';
  process.stdin.setEncoding('utf8');
  process.stdin.on('data', (d: string) => (input += d));
  process.stdin.on('end', async () => {
    let cases: ProbeCase[];
    try {
      cases = JSON.parse(input);
      if (!Array.isArray(cases)) throw new Error('expected a JSON array of {src, dst, port}');
    } catch (e) {
      console.error(`prober: ${(e as Error).message}`);
      process.exit(2);
    }
    const results = await probeAll(cases, timeoutMs);
    process.stdout.write(JSON.stringify(results) + '\n');
  });
}

/** Runs the prober in `ns`: all cases in parallel, each with timeoutMs. */
export function probe(t: Topology, ns: string, cases: readonly ProbeCase[], timeoutMs = 700): Promise<ProbeResult[]> {
  const c = t.spawn(ns, [process.execPath, __filename, ROLE_ARG, String(timeoutMs)]);
  return new Promise((resolve, reject) => {
    let out = '';
    let err = '';
    c.stdout!.setEncoding('utf8').on('data', (d: string) => (out += d));
    c.stderr!.setEncoding('utf8').on('data', (d: string) => (err += d));
    c.on('error', reject);
    c.on('close', (code, signal) => {
      if (code !== 0) return reject(new Error(`prober in ${ns} exited ${code ?? signal}: ${err.trim()}`));
      try {
        const results = JSON.parse(out) as ProbeResult[];
        if (results.length !== cases.length) throw new Error(`expected ${cases.length} results, got ${results.length}`);
        resolve(results);
      } catch (e) {
        reject(new Error(`prober in ${ns}: unreadable output (${(e as Error).message}): ${out.slice(0, 500)}${err ? `\n${err.trim()}` : ''}`));
      }
    });
    c.stdin!.end(JSON.stringify(cases));
  });
}

/** Marks the child process's role: in the bundle, __filename is the CLI,
 * which dispatches on it (src/bundle.ts); here it is skipped. */
export const ROLE_ARG = '--portcullis-role=prober';

// Run as its own file (the tsc build); in the bundle, src/bundle.ts dispatches.
if (require.main === module && /(listener|prober)\.js$/.test(__filename)) main(process.argv.slice(process.argv[2] === ROLE_ARG ? 3 : 2));
