// A two-namespace test topology for kernel tests (nftables, iptables, verify):
//
//   [ node ns ] veth0 <--veth pair--> veth1 [ world ns ]
//
// The "node" namespace plays the host running the firewall; the "world"
// namespace holds every peer address (admins, users, other nodes...). No
// bridge, nothing in the root namespace: both veth ends are created directly
// inside the namespaces, and each side routes everything (`default dev`) to
// the other, so any address on one side reaches any address on the other.
// Namespaces are named `pct-<pid>-<n>-node|world` and are always deleted:
// by destroy() (withTopology calls it in `finally`), and as a last resort on
// process exit or SIGINT/SIGTERM.

import { ChildProcess, spawn, spawnSync } from 'child_process';
import * as path from 'path';
import { ROOT } from './cli';

export const LISTENER = path.join(ROOT, 'test', 'helpers', 'listener.js');
export const PROBER = path.join(ROOT, 'test', 'helpers', 'prober.js');

export interface Cmd {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs a command synchronously; never throws. */
export function run(cmd: string, args: readonly string[], input?: string): Cmd {
  const r = spawnSync(cmd, args, { input, encoding: 'utf8' });
  if (r.error) return { code: -1, stdout: '', stderr: String(r.error.message) };
  return { code: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
}

/** Runs a command synchronously; throws with the command line and stderr on failure. */
export function runOk(cmd: string, args: readonly string[], input?: string): string {
  const r = run(cmd, args, input);
  if (r.code !== 0) {
    throw new Error(`command failed (exit ${r.code}): ${[cmd, ...args].join(' ')}\n${r.stderr.trim()}`);
  }
  return r.stdout;
}

/**
 * Fails loudly (throws) unless this process can build namespaces: root, and
 * `ip netns` available. Kernel tests call this first; they never skip.
 */
export function requireNetns(): void {
  const uid = typeof process.getuid === 'function' ? process.getuid() : -1;
  if (uid !== 0) {
    throw new Error(`kernel tests need root (running as uid ${uid}): they create network namespaces and load firewall rules`);
  }
  const r = run('ip', ['netns', 'list']);
  if (r.code !== 0) {
    throw new Error(`kernel tests need \`ip netns\` (iproute2): \`ip netns list\` failed (exit ${r.code}): ${r.stderr.trim()}`);
  }
}

// Namespaces created by this process and not yet deleted: the last-resort
// cleanup deletes them if a test dies before its finally block runs.
const live = new Set<string>();
const liveChildren = new Set<ChildProcess>();
let exitHooked = false;

function cleanupAll(): void {
  for (const c of liveChildren) killChild(c);
  for (const ns of live) run('ip', ['netns', 'delete', ns]);
  live.clear();
}

function hookExit(): void {
  if (exitHooked) return;
  exitHooked = true;
  process.on('exit', cleanupAll);
  for (const sig of ['SIGINT', 'SIGTERM'] as const) {
    process.once(sig, () => {
      cleanupAll();
      process.exit(sig === 'SIGINT' ? 130 : 143);
    });
  }
}

function killChild(c: ChildProcess): void {
  if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
  liveChildren.delete(c);
}

let counter = 0;

export interface TopologyOptions {
  /** Addresses of the node side (host or CIDR; a bare host gets /32 or /128). */
  node: readonly string[];
  /** Addresses of the world side. */
  world: readonly string[];
}

function withPrefix(addr: string): string {
  if (addr.includes('/')) return addr;
  return addr.includes(':') ? `${addr}/128` : `${addr}/32`;
}

export class Topology {
  readonly node: string;
  readonly world: string;
  /** Interface names inside the namespaces. */
  readonly nodeIf = 'veth0';
  readonly worldIf = 'veth1';
  private readonly children = new Set<ChildProcess>();
  private destroyed = false;

  constructor(readonly options: TopologyOptions) {
    hookExit();
    const base = `pct-${process.pid}-${counter++}`;
    this.node = `${base}-node`;
    this.world = `${base}-world`;
    try {
      for (const ns of [this.node, this.world]) {
        runOk('ip', ['netns', 'add', ns]);
        live.add(ns);
      }
      runOk('ip', ['-n', this.node, 'link', 'add', this.nodeIf, 'type', 'veth', 'peer', 'name', this.worldIf, 'netns', this.world]);
      this.side(this.node, this.nodeIf, options.node);
      this.side(this.world, this.worldIf, options.world);
    } catch (e) {
      this.destroy();
      throw e;
    }
  }

  private side(ns: string, dev: string, addrs: readonly string[]): void {
    runOk('ip', ['-n', ns, 'link', 'set', 'lo', 'up']);
    for (const a of addrs) {
      const v6 = a.includes(':');
      runOk('ip', ['-n', ns, ...(v6 ? ['-6'] : ['-4']), 'addr', 'add', withPrefix(a), 'dev', dev, ...(v6 ? ['nodad'] : [])]);
    }
    runOk('ip', ['-n', ns, 'link', 'set', dev, 'up']);
    runOk('ip', ['-n', ns, '-4', 'route', 'add', 'default', 'dev', dev]);
    runOk('ip', ['-n', ns, '-6', 'route', 'add', 'default', 'dev', dev]);
  }

  /** Runs a command inside a namespace (`ip netns exec`); never throws. */
  exec(ns: string, args: readonly string[], input?: string): Cmd {
    return run('ip', ['netns', 'exec', ns, ...args], input);
  }

  /** Like exec, but throws on a non-zero exit. Returns stdout. */
  execOk(ns: string, args: readonly string[], input?: string): string {
    return runOk('ip', ['netns', 'exec', ns, ...args], input);
  }

  /** Starts a long-running process inside a namespace; killed by destroy(). */
  spawn(ns: string, args: readonly string[]): ChildProcess {
    const c = spawn('ip', ['netns', 'exec', ns, ...args], { stdio: ['pipe', 'pipe', 'pipe'] });
    this.children.add(c);
    liveChildren.add(c);
    c.on('exit', () => {
      this.children.delete(c);
      liveChildren.delete(c);
    });
    return c;
  }

  /** Flushes the neighbour (ARP/NDP) caches of both namespaces. */
  flushNeighbours(): void {
    for (const ns of [this.node, this.world]) runOk('ip', ['-n', ns, 'neigh', 'flush', 'all']);
  }

  /** Kills the processes started here and deletes both namespaces. Idempotent. */
  destroy(): void {
    if (this.destroyed) return;
    this.destroyed = true;
    for (const c of this.children) killChild(c);
    this.children.clear();
    const errors: string[] = [];
    for (const ns of [this.node, this.world]) {
      if (!live.has(ns)) continue;
      const r = run('ip', ['netns', 'delete', ns]);
      live.delete(ns);
      if (r.code !== 0) errors.push(`ip netns delete ${ns}: ${r.stderr.trim()}`);
    }
    if (errors.length) throw new Error(errors.join('\n'));
  }
}

/** Builds a topology, runs fn, and always tears the topology down. */
export async function withTopology<T>(options: TopologyOptions, fn: (t: Topology) => Promise<T>): Promise<T> {
  const t = new Topology(options);
  try {
    return await fn(t);
  } finally {
    t.destroy();
  }
}

export interface Listener {
  ns: string;
  ports: readonly number[];
  stop(): void;
}

/** Starts listener.js in `ns` on `ports` and resolves once it prints "ready". */
export function startListener(t: Topology, ns: string, ports: readonly number[], readyTimeoutMs = 5000): Promise<Listener> {
  const c = t.spawn(ns, [process.execPath, LISTENER, ...ports.map(String)]);
  return new Promise((resolve, reject) => {
    let out = '';
    let err = '';
    const fail = (why: string) => {
      clearTimeout(timer);
      killChild(c);
      reject(new Error(`listener in ${ns} on ${ports.join(',')}: ${why}${err ? `\n${err.trim()}` : ''}`));
    };
    const timer = setTimeout(() => fail(`not ready after ${readyTimeoutMs} ms`), readyTimeoutMs);
    c.stderr!.setEncoding('utf8').on('data', (d: string) => (err += d));
    c.stdout!.setEncoding('utf8').on('data', (d: string) => {
      out += d;
      if (/^ready$/m.test(out)) {
        clearTimeout(timer);
        resolve({ ns, ports, stop: () => killChild(c) });
      }
    });
    c.on('exit', (code, sig) => fail(`exited (${code ?? sig}) before ready`));
  });
}

export interface ProbeCase {
  src: string;
  dst: string;
  port: number;
}

export interface ProbeResult extends ProbeCase {
  /** True only if the nonce made the full round trip. */
  allowed: boolean;
  /** "echo" | "timeout" | "closed" | "wrong-echo" | errno code */
  outcome: string;
  ms: number;
}

/** Runs prober.js in `ns`: all cases in parallel, each with timeoutMs. */
export function probe(t: Topology, ns: string, cases: readonly ProbeCase[], timeoutMs = 700): Promise<ProbeResult[]> {
  const c = t.spawn(ns, [process.execPath, PROBER, String(timeoutMs)]);
  return new Promise((resolve, reject) => {
    let out = '';
    let err = '';
    c.stdout!.setEncoding('utf8').on('data', (d: string) => (out += d));
    c.stderr!.setEncoding('utf8').on('data', (d: string) => (err += d));
    c.on('error', reject);
    c.on('close', (code) => {
      if (code !== 0) return reject(new Error(`prober in ${ns} exited ${code}: ${err.trim()}`));
      try {
        const results = JSON.parse(out) as ProbeResult[];
        if (results.length !== cases.length) throw new Error(`expected ${cases.length} results, got ${results.length}`);
        resolve(results);
      } catch (e) {
        reject(new Error(`prober in ${ns}: unreadable output (${(e as Error).message}): ${out.slice(0, 500)}`));
      }
    });
    c.stdin!.end(JSON.stringify(cases));
  });
}
