// Shared by the apply-* tests: the CLI run in a node namespace as apply
// runs on a host, and the two probes that tell profile A from profile B.
import type { ChildProcess } from 'child_process';
import * as assert from 'uvu/assert';
import { BIN } from './cli';
import { NODE4, probeSettled, SRC } from './kernel-suite';
import type { Cmd, Topology } from './netns';

/** The CLI without SSH_CONNECTION: the anti-lockout check has no client to protect. */
export function cliArgv(args: readonly string[]): string[] {
  return ['env', '-u', 'SSH_CONNECTION', process.execPath, BIN, ...args];
}

/** Runs the CLI in the node namespace. */
export function cli(t: Topology, args: readonly string[]): Cmd {
  return t.exec(t.node, cliArgv(args));
}

/** A started process's exit and output, once it exits (its stdin closed). */
export function outcome(c: ChildProcess): Promise<Cmd> {
  let stdout = '';
  let stderr = '';
  c.stdout!.setEncoding('utf8').on('data', (d: string) => (stdout += d));
  c.stderr!.setEncoding('utf8').on('data', (d: string) => (stderr += d));
  c.stdin!.end();
  return new Promise((resolve) => c.on('exit', (code, sig) => resolve({ code: code ?? (sig ? 128 : -1), stdout, stderr })));
}

/** Starts the CLI in the node namespace in the background. */
export function cliBackground(t: Topology, args: readonly string[]): Promise<Cmd> {
  return outcome(t.spawn(t.node, cliArgv(args)));
}

export const ADMIN_PORT = 22; // A: admins (the world address); B: admins elsewhere
export const B_ONLY_PORT = 5432; // nodes only; B makes the world address a node
export const PROBES = [
  { src: SRC.admin4, dst: NODE4, port: ADMIN_PORT },
  { src: SRC.admin4, dst: NODE4, port: B_ONLY_PORT },
];

/** Probes ADMIN_PORT and B_ONLY_PORT from the world; `want` says which are open. */
export async function expectReach(t: Topology, title: string, want: boolean[]): Promise<void> {
  t.flushNeighbours();
  const got = await probeSettled(t, t.world, PROBES, (_, i) => want[i]);
  const wrong = PROBES.flatMap((p, i) => (got[i].allowed === want[i] ? [] : [`  ${p.src} -> ${p.dst}:${p.port}: expected ${want[i] ? 'open' : 'closed'}, got ${got[i].outcome}`]));
  assert.equal(wrong, [], `${title}:\n${wrong.join('\n')}`);
}
