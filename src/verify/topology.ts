// Network namespaces for `portcullis verify` (and the kernel tests, which
// use this module through test/helpers/netns.ts):
//
//   [ node ns ] veth0 <--veth pair--> veth1 [ world ns ]
//
// The "node" namespace plays the host running the firewall; the "world"
// namespace holds every peer address (one per source group, the outsider,
// the egress destinations, the other nodes), each a /32 or /128 on veth1,
// and probes bind the peer's address as their local address. No bridge and
// nothing in the root namespace: both veth ends are created directly inside
// the namespaces, and each side routes everything (`default dev`) to the
// other, so any address on one side reaches any address on the other.
//
// Why two namespaces and not a router with one namespace per group (the
// issue's suggestion): the advice against a bridge is that bridged frames
// also traverse netfilter hooks; a veth pair has no bridge, so that problem
// does not arise. The firewall under test runs in exactly one namespace,
// and what it sees is the same either way: packets from the peer's address
// arriving on its one interface, replies leaving it, and (because the peers
// are on-link) one neighbour resolution per peer address, so broken ARP/ND
// handling shows for every peer, not just for one router. A router would
// add a hop whose only visible effect is a TTL one lower and the router's
// MAC, and would cost a namespace, a veth pair and routes per group: setup
// time, and more to clean up. Peers sharing one namespace cannot affect
// each other's verdicts: the world namespace has no firewall.
//
// Each side also has a fixed link-local address (node fe80::1, world
// fe80::2, /64 on the veth), for the traffic that only link-local addresses
// carry (DHCPv6): fixed so the plan can name them before the namespaces
// exist. Duplicate address detection is off on both veths (the namespaced
// per-interface sysctl accept_dad=0), so no address waits out DAD; the
// constructor still waits until `ip -6 addr` shows none tentative.
//
// Namespaces are named `<prefix>-<pid>-<n>-node|world` and are always
// deleted: by destroy() (withTopology calls it in `finally`), and as a last
// resort on process exit or SIGINT/SIGTERM, together with the processes
// started in them and anything registered with atCleanup().

import { ChildProcess, spawn, spawnSync } from 'child_process';

export interface Cmd {
  code: number;
  stdout: string;
  stderr: string;
}

export interface RunOptions {
  input?: string;
  /** Working directory of the command. */
  cwd?: string;
}

function runOptions(o: string | RunOptions | undefined): RunOptions {
  return typeof o === 'string' ? { input: o } : (o ?? {});
}

/** Runs a command synchronously; never throws. The third argument is stdin
 * text, or options. */
export function run(cmd: string, args: readonly string[], options?: string | RunOptions): Cmd {
  const o = runOptions(options);
  const r = spawnSync(cmd, args, { input: o.input, cwd: o.cwd, encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 });
  if (r.error) return { code: -1, stdout: '', stderr: String(r.error.message) };
  return { code: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
}

/** Runs a command synchronously; throws with the command line and stderr on failure. */
export function runOk(cmd: string, args: readonly string[], options?: string | RunOptions): string {
  const r = run(cmd, args, options);
  if (r.code !== 0) {
    throw new Error(`command failed (exit ${r.code}): ${[cmd, ...args].join(' ')}\n${r.stderr.trim()}`);
  }
  return r.stdout;
}

/** Why this process cannot build namespaces (not root, no `ip netns`), or
 * undefined when it can. */
export function netnsProblem(): string | undefined {
  const uid = typeof process.getuid === 'function' ? process.getuid() : -1;
  if (uid !== 0) {
    return `needs root (running as uid ${uid}): it creates network namespaces and loads firewall rules into them`;
  }
  const r = run('ip', ['netns', 'list']);
  if (r.code !== 0) {
    return `needs \`ip netns\` (iproute2): \`ip netns list\` failed (exit ${r.code}): ${r.stderr.trim()}`;
  }
  return undefined;
}

// Namespaces created by this process and not yet deleted, the processes
// started in them, and other clean-up work: the last-resort cleanup runs
// them if the process dies before its finally blocks do.
const live = new Set<string>();
const liveChildren = new Set<ChildProcess>();
const cleanups = new Set<() => void>();
let exitHooked = false;

function cleanupAll(): void {
  for (const c of liveChildren) killChild(c);
  for (const ns of live) run('ip', ['netns', 'delete', ns]);
  live.clear();
  for (const f of cleanups) {
    try {
      f();
    } catch {
      // best effort: the process is going away
    }
  }
  cleanups.clear();
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

/** Registers clean-up work (e.g. removing a temporary directory) that must
 * run even on SIGINT/SIGTERM; returns a function that runs it now instead. */
export function atCleanup(fn: () => void): () => void {
  hookExit();
  cleanups.add(fn);
  return () => {
    if (cleanups.delete(fn)) fn();
  };
}

/** Children started with `group: true` lead their own process group, which
 * is killed as a whole (a shell and the daemons it started). */
const groupLeaders = new WeakSet<ChildProcess>();

function killChild(c: ChildProcess): void {
  if (c.exitCode === null && c.signalCode === null) {
    if (groupLeaders.has(c) && c.pid) {
      try {
        process.kill(-c.pid, 'SIGKILL');
      } catch {
        c.kill('SIGKILL');
      }
    } else {
      c.kill('SIGKILL');
    }
  }
  liveChildren.delete(c);
}

let counter = 0;

export interface TopologyOptions {
  /** Addresses of the node side (host or CIDR; a bare host gets /32 or /128). */
  node: readonly string[];
  /** Addresses of the world side. */
  world: readonly string[];
  /** Namespace name prefix (default "pct"). */
  prefix?: string;
}

function withPrefix(addr: string): string {
  if (addr.includes('/')) return addr;
  return addr.includes(':') ? `${addr}/128` : `${addr}/32`;
}

export interface SpawnOptions {
  /** Run in a new process group and kill the whole group on destroy(). */
  group?: boolean;
}

/** The link-local addresses every topology gives its two sides. */
export const NODE_LINK_LOCAL = 'fe80::1';
export const WORLD_LINK_LOCAL = 'fe80::2';
/** The veth names inside the namespaces. */
export const NODE_IF = 'veth0';
export const WORLD_IF = 'veth1';

/** How long the constructor waits for IPv6 addresses to leave "tentative". */
const ADDRESS_READY_MS = 30000;

function sleepSync(ms: number): void {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}

export class Topology {
  readonly node: string;
  readonly world: string;
  /** Interface names inside the namespaces. */
  readonly nodeIf = NODE_IF;
  readonly worldIf = WORLD_IF;
  /** Link-local addresses (without scope; the scope is the side's veth). */
  readonly nodeLinkLocal = NODE_LINK_LOCAL;
  readonly worldLinkLocal = WORLD_LINK_LOCAL;
  private readonly children = new Set<ChildProcess>();
  private destroyed = false;

  constructor(readonly options: TopologyOptions) {
    hookExit();
    const base = `${options.prefix ?? 'pct'}-${process.pid}-${counter++}`;
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
      this.waitForAddresses();
    } catch (e) {
      this.destroy();
      throw e;
    }
  }

  private side(ns: string, dev: string, addrs: readonly string[]): void {
    runOk('ip', ['-n', ns, 'link', 'set', 'lo', 'up']);
    // Before the link comes up, so the kernel's own link-local address skips DAD too.
    runOk('ip', ['netns', 'exec', ns, 'sysctl', '-qw', `net.ipv6.conf.${dev}.accept_dad=0`]);
    const linkLocal = ns === this.node ? NODE_LINK_LOCAL : WORLD_LINK_LOCAL;
    runOk('ip', ['-n', ns, '-6', 'addr', 'add', `${linkLocal}/64`, 'dev', dev, 'nodad']);
    // Hundreds of parallel probes start while a neighbour is still being
    // resolved (caches are flushed after every load): the kernel's default
    // queue for packets waiting on ARP/ND (~200 KB) would drop some of them,
    // and a dropped SYN looks like a firewall drop. A longer queue keeps
    // them; resolution itself still goes through the ruleset under test.
    for (const table of ['arp_cache', 'ndisc_cache']) runOk('ip', ['-n', ns, 'ntable', 'change', 'name', table, 'dev', dev, 'queue', '4096']);
    for (const a of addrs) {
      const v6 = a.includes(':');
      runOk('ip', ['-n', ns, ...(v6 ? ['-6'] : ['-4']), 'addr', 'add', withPrefix(a), 'dev', dev, ...(v6 ? ['nodad'] : [])]);
    }
    runOk('ip', ['-n', ns, 'link', 'set', dev, 'up']);
    runOk('ip', ['-n', ns, '-4', 'route', 'add', 'default', 'dev', dev]);
    runOk('ip', ['-n', ns, '-6', 'route', 'add', 'default', 'dev', dev]);
  }

  /** Waits until both veths carry their link-local address and no IPv6
   * address is tentative (a tentative address cannot be bound or used). */
  private waitForAddresses(): void {
    const started = Date.now();
    for (;;) {
      const pending = [
        [this.node, this.nodeIf, NODE_LINK_LOCAL],
        [this.world, this.worldIf, WORLD_LINK_LOCAL],
      ].filter(([ns, dev, ll]) => {
        const shown = runOk('ip', ['-n', ns, '-6', 'addr', 'show', 'dev', dev]);
        return /\btentative\b/.test(shown) || !shown.includes(`inet6 ${ll}/64 `);
      });
      if (!pending.length) return;
      if (Date.now() - started > ADDRESS_READY_MS) {
        throw new Error(`IPv6 addresses still tentative or missing after ${ADDRESS_READY_MS} ms on ${pending.map(([ns, dev]) => `${ns} ${dev}`).join(', ')}`);
      }
      sleepSync(20);
    }
  }

  /** Runs a command inside a namespace (`ip netns exec`); never throws. */
  exec(ns: string, args: readonly string[], options?: string | RunOptions): Cmd {
    return run('ip', ['netns', 'exec', ns, ...args], options);
  }

  /** Like exec, but throws on a non-zero exit. Returns stdout. */
  execOk(ns: string, args: readonly string[], options?: string | RunOptions): string {
    return runOk('ip', ['netns', 'exec', ns, ...args], options);
  }

  /** Starts a long-running process inside a namespace; killed by destroy(). */
  spawn(ns: string, args: readonly string[], options: SpawnOptions = {}): ChildProcess {
    const c = spawn('ip', ['netns', 'exec', ns, ...args], { stdio: ['pipe', 'pipe', 'pipe'], detached: !!options.group });
    if (options.group) groupLeaders.add(c);
    this.children.add(c);
    liveChildren.add(c);
    c.on('exit', () => {
      this.children.delete(c);
      liveChildren.delete(c);
    });
    return c;
  }

  /** Kills one process started by spawn() (its group, if it has one). */
  kill(c: ChildProcess): void {
    killChild(c);
    this.children.delete(c);
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
