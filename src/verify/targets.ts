// How verify loads each host target's output into the node namespace: the
// loaders live with their targets (src/targets/<name>/host.ts).

import * as fs from 'fs';
import { backendFor } from '../targets';
import type { TargetName } from '../targets/base';
import type { HostTarget, TargetLoader } from '../targets/host';
import { firewalldLoader, STOCK_FIREWALLD_CONF } from '../targets/firewalld/host';
import { iptablesLoader, LIVE_COMMANDS as IPTABLES_LIVE } from '../targets/iptables/host';
import { nftablesLoader, LIVE_COMMANDS as NFTABLES_LIVE } from '../targets/nftables/host';
import { run } from './topology';

export { HOST_TARGETS } from '../targets/host';
export type { HostTarget, Loaded, TargetLoader } from '../targets/host';
export { startFirewalld, STOCK_FIREWALLD_CONF } from '../targets/firewalld/host';
export type { FirewalldDaemon } from '../targets/firewalld/host';

/** The shell commands the output headers give, run in the output directory. */
export const LOAD_COMMANDS: Record<'nftables' | 'iptables', string[]> = {
  nftables: NFTABLES_LIVE,
  iptables: IPTABLES_LIVE,
};

export const LOADERS: Record<HostTarget, TargetLoader> = {
  nftables: nftablesLoader,
  iptables: iptablesLoader,
  firewalld: firewalldLoader,
};

/** Why a target cannot be verified here (no backend, a tool missing), or undefined. */
export function unavailable(name: HostTarget): string | undefined {
  if (!backendFor(name as TargetName)) return `portcullis has no ${name} backend yet`;
  const missing = LOADERS[name].tools.filter((tool) => run('sh', ['-c', `command -v ${tool}`]).code !== 0);
  if (missing.length) return `needs ${missing.join(', ')} on PATH`;
  if (name === 'firewalld' && !fs.existsSync(STOCK_FIREWALLD_CONF)) return `needs the stock ${STOCK_FIREWALLD_CONF}`;
  return undefined;
}
