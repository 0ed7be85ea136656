// Pieces of a busy host for the firewalld kernel tests:
// - a third namespace, "container", behind a veth whose node end is named
//   docker0 (as Docker's bridge is), routed through the node;
// - Docker's firewalld zone, created the way Docker creates it (permanent
//   zone `docker` with target ACCEPT, a reload, then docker0 added to it at
//   run time);
// - one-shot UDP datagrams with a chosen source address and port (the
//   DHCPv6 reply comes from port 547), and a receiver that reports them.
// Run as a program (`node firewalld-host.js send|recv …`) in a namespace.

import type { ChildProcess } from 'child_process';
import * as dgram from 'dgram';
import { runOk, Topology } from './netns';
import { atCleanup } from '../../src/verify/topology';
import type { FirewalldDaemon } from '../../src/verify/targets';

export const CONTAINER = { host: '172.17.0.1', addr: '172.17.0.2', prefix: 16, hostIf: 'docker0', ifName: 'eth0' } as const;

export interface Container {
  ns: string;
  remove(): void;
}

/** Creates the container namespace `<node>-ctr`… behind docker0 in t.node,
 * a route to it in t.world via the node's `via` address, and the
 * container's default route via the node. Forwarding in the node is left
 * off (the caller turns it on: the sysctl is per namespace). */
export function addContainer(t: Topology, via: string): Container {
  const ns = t.node.replace(/-node$/, '-ctr');
  runOk('ip', ['netns', 'add', ns]);
  const remove = atCleanup(() => {
    runOk('ip', ['netns', 'delete', ns]);
  });
  try {
    runOk('ip', ['-n', ns, 'link', 'set', 'lo', 'up']);
    runOk('ip', ['-n', t.node, 'link', 'add', CONTAINER.hostIf, 'type', 'veth', 'peer', 'name', CONTAINER.ifName, 'netns', ns]);
    runOk('ip', ['-n', t.node, 'addr', 'add', `${CONTAINER.host}/${CONTAINER.prefix}`, 'dev', CONTAINER.hostIf]);
    runOk('ip', ['-n', ns, 'addr', 'add', `${CONTAINER.addr}/${CONTAINER.prefix}`, 'dev', CONTAINER.ifName]);
    runOk('ip', ['-n', t.node, 'link', 'set', CONTAINER.hostIf, 'up']);
    runOk('ip', ['-n', ns, 'link', 'set', CONTAINER.ifName, 'up']);
    runOk('ip', ['-n', ns, 'route', 'add', 'default', 'via', CONTAINER.host]);
    runOk('ip', ['-n', t.world, 'route', 'add', `172.17.0.0/${CONTAINER.prefix}`, 'via', via, 'dev', t.worldIf, 'onlink']);
  } catch (e) {
    remove();
    throw e;
  }
  return { ns, remove };
}

/** Runs firewall-cmd in the daemon's namespaces; throws with its output on failure. */
export function firewallCmd(d: FirewalldDaemon, ...args: string[]): string {
  const r = d.exec(['firewall-cmd', ...args]);
  if (r.code !== 0) throw new Error(`firewall-cmd ${args.join(' ')} failed (exit ${r.code}): ${(r.stderr || r.stdout).trim()}\n${d.log().trim()}`);
  return r.stdout;
}

/** Docker's zone, as Docker (libnetwork's firewalld support) sets it up:
 * a permanent zone `docker` with target ACCEPT, a reload so it exists at
 * run time, then docker0 bound to it at run time only. */
export function addDockerZone(d: FirewalldDaemon): void {
  firewallCmd(d, '--permanent', '--new-zone=docker');
  firewallCmd(d, '--permanent', '--zone=docker', '--set-target=ACCEPT');
  firewallCmd(d, '--reload');
  firewallCmd(d, '--zone=docker', `--add-interface=${CONTAINER.hostIf}`);
}

// ------------------------------------------------------------------ UDP

export interface Datagram {
  from: string;
  port: number;
  text: string;
}

export interface UdpReceiver {
  received(): Datagram[];
  /** Resolves once a datagram with this text arrived; rejects after timeoutMs. */
  waitFor(text: string, timeoutMs?: number): Promise<Datagram>;
  stop(): void;
}

const ROLE = '--portcullis-test-role=udp';

/** A receiver on [::]:port in ns; resolves once it is bound. */
export function startUdpReceiver(t: Topology, ns: string, port: number, readyTimeoutMs = 30000): Promise<UdpReceiver> {
  const c: ChildProcess = t.spawn(ns, [process.execPath, __filename, ROLE, 'recv', String(port)]);
  let out = '';
  let err = '';
  const received = () =>
    out
      .split('\n')
      .filter((l) => l.startsWith('{'))
      .map((l) => JSON.parse(l) as Datagram);
  const receiver: UdpReceiver = {
    received,
    async waitFor(text, timeoutMs = 30000) {
      const started = Date.now();
      for (;;) {
        const hit = received().find((d) => d.text === text);
        if (hit) return hit;
        if (Date.now() - started > timeoutMs) throw new Error(`datagram '${text}' not received after ${timeoutMs} ms; got ${JSON.stringify(received())}${err ? `\n${err.trim()}` : ''}`);
        await new Promise((r) => setTimeout(r, 100));
      }
    },
    stop: () => t.kill(c),
  };
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      t.kill(c);
      reject(new Error(`UDP receiver on ${port} in ${ns} not ready after ${readyTimeoutMs} ms: ${err.trim()}`));
    }, readyTimeoutMs);
    c.stderr!.setEncoding('utf8').on('data', (d: string) => (err += d));
    c.stdout!.setEncoding('utf8').on('data', (d: string) => {
      out += d;
      if (/^ready$/m.test(out)) {
        clearTimeout(timer);
        resolve(receiver);
      }
    });
  });
}

/** Sends one datagram from [src]:srcPort to [dst]:dstPort (a link-local
 * address carries its %interface) from ns; throws if it cannot be sent. */
export function sendUdp(t: Topology, ns: string, src: string, srcPort: number, dst: string, dstPort: number, text: string): void {
  t.execOk(ns, [process.execPath, __filename, ROLE, 'send', src, String(srcPort), dst, String(dstPort), text]);
}

function main(args: string[]): void {
  const [role, ...rest] = args;
  if (role === 'recv') {
    const sock = dgram.createSocket({ type: 'udp6', ipv6Only: false });
    sock.on('message', (msg, rinfo) => process.stdout.write(JSON.stringify({ from: rinfo.address, port: rinfo.port, text: msg.toString('utf8') }) + '\n'));
    sock.on('error', (e) => {
      console.error(`recv: ${e.message}`);
      process.exit(1);
    });
    sock.bind({ address: '::', port: Number(rest[0]) }, () => process.stdout.write('ready\n'));
    process.stdin.on('end', () => process.exit(0));
    process.stdin.resume();
  } else if (role === 'send') {
    const [src, srcPort, dst, dstPort, text] = rest;
    const sock = dgram.createSocket(dst.includes(':') ? 'udp6' : 'udp4');
    sock.on('error', (e) => {
      console.error(`send: ${e.message}`);
      process.exit(1);
    });
    sock.bind({ address: src, port: Number(srcPort) }, () =>
      sock.send(text, Number(dstPort), dst, (e) => {
        if (e) {
          console.error(`send: ${e.message}`);
          process.exit(1);
        }
        sock.close();
      }),
    );
  } else {
    console.error(`firewalld-host: unknown role ${role}`);
    process.exit(2);
  }
}

if (require.main === module && process.argv[2] === ROLE) main(process.argv.slice(3));
