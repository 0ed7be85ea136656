// Shared by the cross-target host tests (host-baseline, host-forward): a
// profile compiled for one host target, loaded into a node namespace the way
// `verify` loads it (LOADERS, src/verify/targets.ts), and a "container"
// namespace routed behind the node.

import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import * as assert from 'uvu/assert';
import { HostTarget, LOADERS } from '../../src/verify/targets';
import { applyFirewalldTree } from '../../src/targets/firewalld/host';
import { atCleanup, run, runOk, Topology } from '../../src/verify/topology';
import { runCli } from './cli';

export { HOST_TARGETS } from '../../src/verify/targets';
export type { HostTarget } from '../../src/verify/targets';

/** Compiles `profile` for `target` into a temporary directory; returns the
 * target's output directory and a function removing it all. */
export function compileFor(target: HostTarget, profile: string, environment: string): { dir: string; remove: () => void } {
  const out = fs.mkdtempSync(path.join(os.tmpdir(), `pct-host-${process.pid}-`));
  const remove = atCleanup(() => fs.rmSync(out, { recursive: true, force: true }));
  const r = runCli(['compile', '--profile', profile, '--target', target, '--out-dir', out]);
  assert.is(r.code, 0, r.stderr);
  return { dir: path.join(out, environment, target), remove };
}

/** Loads a target's output into t.node as verify does; returns what stops it. */
/** Loads DIR as verify does; `firewalldOthers` are other managers' files in
 * the host's /etc/firewalld (firewalld only: the other targets share the
 * kernel with other managers, which a test sets up itself). */
export async function loadTarget(t: Topology, target: HostTarget, dir: string, firewalldOthers?: Record<string, string>): Promise<() => void> {
  if (target === 'firewalld' && firewalldOthers) {
    const applied = await applyFirewalldTree(t, dir, firewalldOthers);
    return () => applied.stop();
  }
  const loaded = await LOADERS[target].load(t, dir);
  return () => loaded.stop?.();
}

let counter = 0;

/** A third namespace behind the node, like a container on a bridge:
 *   [world] veth1 -- veth0 [node] docker0 -- eth0 [container]
 * The node's end is named docker0 and carries the gateway addresses; the
 * node forwards (the namespaced sysctls), the container routes everything
 * via the node, and the world routes the container's prefixes via the
 * node's addresses on veth0. Deleted by remove(), and on process exit. */
export interface Container {
  ns: string;
  v4: string;
  v6: string;
  remove(): void;
}

export const CONTAINER_NET = { gw4: '172.17.0.1', v4: '172.17.0.2', prefix4: '172.17.0.0/16', gw6: 'fd17::1', v6: 'fd17::2', prefix6: 'fd17::/64' };

export function addContainer(t: Topology, nodeV4: string): Container {
  const ns = `${t.node.replace(/-node$/, '')}-ctr${counter++}`;
  runOk('ip', ['netns', 'add', ns]);
  const remove = atCleanup(() => run('ip', ['netns', 'delete', ns]));
  try {
    const c = CONTAINER_NET;
    const n = (args: string[]) => runOk('ip', ['-n', t.node, ...args]);
    const k = (args: string[]) => runOk('ip', ['-n', ns, ...args]);
    n(['link', 'add', 'docker0', 'type', 'veth', 'peer', 'name', 'eth0', 'netns', ns]);
    t.execOk(t.node, ['sysctl', '-qw', 'net.ipv6.conf.docker0.accept_dad=0']);
    runOk('ip', ['netns', 'exec', ns, 'sysctl', '-qw', 'net.ipv6.conf.eth0.accept_dad=0']);
    n(['addr', 'add', `${c.gw4}/16`, 'dev', 'docker0']);
    n(['-6', 'addr', 'add', `${c.gw6}/64`, 'dev', 'docker0', 'nodad']);
    n(['link', 'set', 'docker0', 'up']);
    k(['link', 'set', 'lo', 'up']);
    k(['addr', 'add', `${c.v4}/16`, 'dev', 'eth0']);
    k(['-6', 'addr', 'add', `${c.v6}/64`, 'dev', 'eth0', 'nodad']);
    k(['link', 'set', 'eth0', 'up']);
    k(['route', 'add', 'default', 'via', c.gw4]);
    k(['-6', 'route', 'add', 'default', 'via', c.gw6]);
    // Forwarding, in the node's namespace only (these sysctls are per namespace).
    t.execOk(t.node, ['sysctl', '-qw', 'net.ipv4.ip_forward=1']);
    t.execOk(t.node, ['sysctl', '-qw', 'net.ipv6.conf.all.forwarding=1']);
    // The world reaches the container through the node.
    runOk('ip', ['-n', t.world, 'route', 'add', c.prefix4, 'via', nodeV4, 'dev', t.worldIf, 'onlink']);
    runOk('ip', ['-n', t.world, '-6', 'route', 'add', c.prefix6, 'via', t.nodeLinkLocal, 'dev', t.worldIf]);
    return { ns, v4: c.v4, v6: c.v6, remove };
  } catch (e) {
    remove();
    throw e;
  }
}
