// The echo listener of `portcullis verify` and the kernel tests. Run inside
// a namespace (startListener does that):
//   ip netns exec NS node build/src/verify/listener.js PORT[/tcp|/udp]...
// One process serves every port, on `::` (dual stack: IPv4 peers arrive as
// ::ffff:a.b.c.d). TCP: each connection gets back the first line it sends
// (the prober's nonce), then is closed. UDP: each datagram is sent back to
// its sender, from the address it was sent to: with `@ADDR` arguments (the
// namespace's addresses) each UDP port is bound once per address, since a
// socket on `::` would answer from the namespace's primary address, which
// the prober (and the firewall's connection tracking) would not accept. A
// link-local address is given with its scope (`@fe80::1%veth0`).
// Prints "ready" once all ports listen; exits when stdin closes, so it
// cannot outlive the process that started it.

import type { ChildProcess } from 'child_process';
import * as dgram from 'dgram';
import * as net from 'net';
import type { Topology } from './topology';

export type Transport = 'tcp' | 'udp';

export interface ListenPort {
  port: number;
  transport: Transport;
}

/** "22" -> 22/tcp, "53/udp" -> 53/udp; undefined when malformed. */
export function parseListenSpec(spec: string): ListenPort | undefined {
  const m = /^(\d{1,5})(?:\/(tcp|udp))?$/.exec(spec);
  if (!m) return undefined;
  const port = Number(m[1]);
  if (port < 1 || port > 65535) return undefined;
  return { port, transport: (m[2] as Transport | undefined) ?? 'tcp' };
}

function serveTcp(port: number, onReady: () => void): void {
  const server = net.createServer((sock) => {
    let buf = '';
    let answered = false;
    sock.setEncoding('utf8');
    sock.setTimeout(5000, () => sock.destroy());
    sock.on('data', (chunk: string) => {
      if (answered) return;
      buf += chunk;
      const nl = buf.indexOf('\n');
      if (nl >= 0) {
        answered = true;
        sock.end(buf.slice(0, nl + 1));
      } else if (buf.length > 4096) {
        sock.destroy();
      }
    });
    sock.on('error', () => {});
  });
  server.on('error', (e) => {
    console.error(`listener: port ${port}/tcp: ${e.message}`);
    process.exit(1);
  });
  server.listen({ port, host: '::', ipv6Only: false, backlog: 511 }, onReady);
}

function serveUdp(port: number, address: string, onReady: () => void): void {
  const sock = dgram.createSocket(address.includes(':') ? { type: 'udp6', ipv6Only: address !== '::' } : { type: 'udp4' });
  sock.on('message', (msg, rinfo) => {
    if (msg.length <= 4096) sock.send(msg, rinfo.port, rinfo.address);
  });
  sock.on('error', (e) => {
    console.error(`listener: port ${port}/udp on ${address}: ${e.message}`);
    process.exit(1);
  });
  sock.bind({ port, address }, onReady);
}

/** The listener program: serves the ports named by args. */
export function main(args: readonly string[]): void {
  const addresses = args.filter((a) => a.startsWith('@')).map((a) => a.slice(1));
  const udpOn = addresses.length ? addresses : ['::'];
  const ports = args.filter((a) => !a.startsWith('@')).map((a) => {
    const p = parseListenSpec(a);
    if (!p) {
      console.error(`listener: bad port ${JSON.stringify(a)}`);
      process.exit(2);
    }
    return p;
  });
  let pending = ports.reduce((n, p) => n + (p.transport === 'udp' ? udpOn.length : 1), 0);
  const ready = () => process.stdout.write('ready\n');
  const one = () => {
    if (--pending === 0) ready();
  };
  for (const p of ports) {
    if (p.transport === 'tcp') serveTcp(p.port, one);
    else for (const a of udpOn) serveUdp(p.port, a, one);
  }
  if (ports.length === 0) ready();
  process.stdin.on('end', () => process.exit(0));
  process.stdin.on('error', () => process.exit(0));
  process.stdin.resume();
}

export interface Listener {
  ns: string;
  ports: readonly (number | ListenPort)[];
  stop(): void;
}

/** Starts the listener in `ns` on `ports` (a bare number is TCP) and
 * resolves once it prints "ready". UDP ports are bound on each of
 * `udpAddresses` (the namespace's addresses), else on `::`. */
export function startListener(
  t: Topology,
  ns: string,
  ports: readonly (number | ListenPort)[],
  readyTimeoutMs = 30000,
  udpAddresses: readonly string[] = [],
): Promise<Listener> {
  const specs = [...ports.map((p) => (typeof p === 'number' ? String(p) : `${p.port}/${p.transport}`)), ...udpAddresses.map((a) => `@${a}`)];
  const c: ChildProcess = t.spawn(ns, [process.execPath, __filename, ROLE_ARG, ...specs]);
  return new Promise((resolve, reject) => {
    let out = '';
    let err = '';
    const fail = (why: string) => {
      clearTimeout(timer);
      t.kill(c);
      reject(new Error(`listener in ${ns} on ${specs.join(',')}: ${why}${err ? `\n${err.trim()}` : ''}`));
    };
    const timer = setTimeout(() => fail(`not ready after ${readyTimeoutMs} ms`), readyTimeoutMs);
    c.stderr!.setEncoding('utf8').on('data', (d: string) => (err += d));
    c.stdout!.setEncoding('utf8').on('data', (d: string) => {
      out += d;
      if (/^ready$/m.test(out)) {
        clearTimeout(timer);
        resolve({ ns, ports, stop: () => t.kill(c) });
      }
    });
    c.on('exit', (code, sig) => fail(`exited (${code ?? sig}) before ready`));
  });
}

/** Marks the child process's role: in the bundle, __filename is the CLI,
 * which dispatches on it (src/bundle.ts); here it is skipped. */
export const ROLE_ARG = '--portcullis-role=listener';

// Run as its own file (the tsc build); in the bundle, src/bundle.ts dispatches.
if (require.main === module && /(listener|prober)\.js$/.test(__filename)) main(process.argv.slice(process.argv[2] === ROLE_ARG ? 3 : 2));
