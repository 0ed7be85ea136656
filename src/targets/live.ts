// What every host target knows about a running host besides loading it:
// how to check a compiled tree with the real tool without touching the host,
// save exactly what it manages, put a saved state back, and read the live
// state back as rules the audit can compare. `portcullis apply` and
// `portcullis audit` are written against this interface only; each target
// implements it in src/targets/<name>/live.ts.

import { spawnSync } from 'child_process';
import type { AddrRange, Family } from '../addresses';
import type { Direction, Transport } from '../ir/types';
import type { PortRange } from '../ports';
import type { HostTarget } from './host';

export interface ShellResult {
  code: number;
  stdout: string;
  stderr: string;
}

export interface RunOptions {
  /** Written to the program's stdin. */
  input?: string;
  cwd?: string;
}

/** Runs programs on this host, in the current network namespace, as the
 * caller (root for apply and audit). argv, never a shell string made from
 * input: a target that needs a pipeline runs `sh -c` with a constant script
 * and passes paths as "$1"… arguments. */
export interface HostShell {
  run(argv: readonly string[], options?: RunOptions): ShellResult;
}

/** Output of programs such as `nft -j list table` on a host with 10,000
 * nodes is megabytes; spawnSync's default 1 MiB buffer would cut it. */
const MAX_OUTPUT = 1 << 30;

export const localShell: HostShell = {
  run(argv, options = {}) {
    const r = spawnSync(argv[0], argv.slice(1), { input: options.input, cwd: options.cwd, encoding: 'utf8', maxBuffer: MAX_OUTPUT });
    if (r.error) return { code: 127, stdout: '', stderr: `${argv[0]}: ${r.error.message}` };
    return { code: r.status ?? 128, stdout: r.stdout ?? '', stderr: r.stderr ?? '' };
  },
};

/** The real tool refused a tree or a command (exit 2 for a tree, nothing changed). */
export class ToolRejected extends Error {}

/** Runs argv and throws ToolRejected with the tool's own message on failure. */
export function runOk(sh: HostShell, argv: readonly string[], options?: RunOptions): string {
  const r = sh.run(argv, options);
  if (r.code !== 0) throw new ToolRejected(`\`${argv.join(' ')}\` failed (exit ${r.code}): ${(r.stderr || r.stdout).trim()}`);
  return r.stdout;
}

/** One live rule (or zone entry) that the audit models as flows: it matches
 * only a direction, a family, a transport, destination ports and the peer
 * address (the source for input, the destination for output), and accepts
 * or drops. A rule with any other deciding match is not a LiveFlowRule but
 * an `unmapped` entry. */
export interface LiveFlowRule {
  direction: Direction;
  family: Family;
  transport: Transport;
  /** Destination ports; [{lo: 1, hi: 65535}] when the rule has no port match. */
  ports: PortRange[];
  /** Merged peer ranges, set references resolved to their live elements;
   * the whole family when the rule has no address match. */
  peers: AddrRange[];
  verdict: 'accept' | 'drop';
  /** The portcullis rule id when the rule's comment carries one ("in-admins-v4-tcp"). */
  ruleId?: string;
  /** Where the rule is, in the tool's own words, safe for a terminal line:
   * "chain input: ip saddr @admins_v4 tcp dport { 22, 4021 } accept". */
  origin: string;
}

export interface LiveRead {
  /** False when nothing of ours is loaded (no table, no chains, no zone). */
  present: boolean;
  /** Per direction in evaluation order: the first rule that matches decides. */
  flowRules: LiveFlowRule[];
  /** Everything else of ours that decides traffic or how we are hooked in
   * (loopback, conntrack, ICMP, DHCP baseline, log and policy, hooks and
   * their positions, zone target and bindings, default zone), one canonical
   * line each, free of volatile parts (counters, handles). Compared as a
   * multiset with the expected read: a difference is drift. */
  other: string[];
  /** Rules that decide traffic with a match the audit does not model: always
   * drift, reported by themselves. */
  unmapped: string[];
  /** Notes that are drift by themselves (runtime differs from permanent,
   * a file of ours differs from the compiled one), one line each. */
  drift?: string[];
}

/** What a target saved before an apply: opaque to apply, JSON-serialisable. */
export interface SavedState {
  target: HostTarget;
  /** True when nothing of ours was loaded before. */
  empty: boolean;
  /** The target's own data. */
  data: unknown;
}

export interface LiveTarget {
  name: HostTarget;
  /** Programs that must be on PATH for apply and audit. */
  tools: string[];
  /** Files the compiled directory must hold. */
  files: string[];
  /** Checks the compiled tree DIR with the real tool; changes nothing on
   * this host. Throws ToolRejected with the tool's message. */
  check(sh: HostShell, dir: string): void;
  /** Exactly what this target manages now, to put back by restore(). */
  save(sh: HostShell): SavedState;
  /** Applies DIR (atomically, per the tool's transaction); throws on failure. */
  apply(sh: HostShell, dir: string): void;
  /** Puts back exactly the saved state, removing what we added since. */
  restore(sh: HostShell, saved: SavedState): void;
  /** A canonical text of a saved state without volatile parts (counters):
   * two saves with equal keys mean the host did not change. */
  stateKey(saved: SavedState): string;
  /** One line naming what a saved state holds, for "rolled back to …". */
  describe(saved: SavedState): string;
  /** Reads what is live on this host. */
  read(sh: HostShell): LiveRead;
  /** Reads DIR as the same reader sees it once loaded (the tool's own
   * canonical listing where it can be had without touching this host: a
   * throwaway network namespace), so live and expected compare like with like. */
  readExpected(sh: HostShell, dir: string): LiveRead;
}

/** Live text (a rule comment, a listing line) on one line: line breaks
 * become spaces; the printers (visibleLine, markdownCell) quote the rest. */
export function oneLine(text: string): string {
  return text.replace(/[\r\n\u0085\u2028\u2029]/g, ' ');
}

/** Lines of a not in b, counting repeats (multiset difference), sorted:
 * how live and expected lines compare. */
export function multisetMinus(a: string[], b: string[]): string[] {
  const left = new Map<string, number>();
  for (const x of b) left.set(x, (left.get(x) ?? 0) + 1);
  const out: string[] = [];
  for (const x of a) {
    const n = left.get(x) ?? 0;
    if (n > 0) left.set(x, n - 1);
    else out.push(x);
  }
  return out.sort();
}

/** Loaded on demand (apply and audit only). */
export function liveTarget(name: HostTarget): LiveTarget {
  switch (name) {
    case 'nftables':
      return (require('./nftables/live') as typeof import('./nftables/live')).nftablesLive;
    case 'iptables':
      return (require('./iptables/live') as typeof import('./iptables/live')).iptablesLive;
    case 'firewalld':
      return (require('./firewalld/live') as typeof import('./firewalld/live')).firewalldLive;
  }
}
