// What every host target's host.ts provides: how its output is loaded into
// a running host (the live apply), as the output files' headers tell a
// user to. `verify` and the kernel tests load through these, in a node
// namespace, with the same LiveTarget.apply (src/targets/<name>/live.ts)
// that `portcullis apply` runs on a host: one loader per target.

import type { HostShell } from './live';
import type { Cmd, Topology } from '../verify/topology';

export type HostTarget = 'nftables' | 'iptables' | 'firewalld';
export const HOST_TARGETS: HostTarget[] = ['nftables', 'iptables', 'firewalld'];

export interface Loaded {
  /** How it was loaded, for the report. */
  how: string;
  /** Stops what the load started (the firewalld daemon). */
  stop?: () => void;
}

export interface TargetLoader {
  name: HostTarget;
  /** Programs that must be on PATH. */
  tools: string[];
  /** Files the output directory must hold. */
  files: string[];
  /** Loads DIR (the target's output directory) into t.node; throws with the tool's message on failure. */
  load(t: Topology, dir: string): Promise<Loaded>;
}

/** Runs one shell command, in the output directory, as root. */
export type Shell = (command: string) => Pick<Cmd, 'code' | 'stdout' | 'stderr'>;

/** Runs the commands in order through `shell`; throws with the tool's
 * message at the first one that fails. */
export function runAll(shell: Shell, commands: readonly string[]): void {
  for (const command of commands) {
    const r = shell(command);
    if (r.code !== 0) throw new Error(`\`${command}\` failed (exit ${r.code}):\n${(r.stderr || r.stdout).trim()}`);
  }
}

/** A HostShell that runs programs in t.node: LiveTarget code, written for a
 * host, runs unchanged in verify's node namespace. */
export function topologyShell(t: Topology): HostShell {
  return { run: (argv, options) => t.exec(t.node, argv, options) };
}
