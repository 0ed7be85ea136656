// The kernel tests' namespace topology, listener and prober now live in the
// product (src/verify/, used by `portcullis verify`); this module re-exports
// them under their old names.
import * as path from 'path';
import { netnsProblem } from '../../src/verify/topology';

export { run, runOk, Topology, withTopology } from '../../src/verify/topology';
export type { Cmd, TopologyOptions } from '../../src/verify/topology';
export { startListener } from '../../src/verify/listener';
export type { Listener } from '../../src/verify/listener';
export { probe } from '../../src/verify/prober';
export type { ProbeCase, ProbeResult } from '../../src/verify/prober';

export const LISTENER = path.resolve(__dirname, '..', '..', 'src', 'verify', 'listener.js');
export const PROBER = path.resolve(__dirname, '..', '..', 'src', 'verify', 'prober.js');

/**
 * Fails loudly (throws) unless this process can build namespaces: root, and
 * `ip netns` available. Kernel tests call this first; they never skip.
 */
export function requireNetns(): void {
  const problem = netnsProblem();
  if (problem) throw new Error(`kernel tests ${problem}`);
}
