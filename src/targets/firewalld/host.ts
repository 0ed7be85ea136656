// firewalld on a host: the real daemon on the generated tree (verify and
// the kernel tests run it in a namespace, as
// ../shared/notes/firewalld-in-a-namespace.md describes).

import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import type { TargetLoader } from '../host';
import type { HostShell } from '../live';
import { ZONE_NAME } from './render';
import { atCleanup, Cmd, run, Topology } from '../../verify/topology';

export const STOCK_FIREWALLD_CONF = '/etc/firewalld/firewalld.conf';

/** The apply step the tree cannot carry (DefaultZone is in firewalld.conf,
 * the user's file): run once the daemon has the tree (after a reload, or
 * at start). It also rewrites DefaultZone in firewalld.conf, so it holds
 * from the next boot on. docs/targets/firewalld.md documents it. */
export const SET_DEFAULT_ZONE = ['firewall-cmd', `--set-default-zone=${ZONE_NAME}`] as const;

export interface FirewalldDaemon {
  pid: number;
  /** What the daemon printed so far. */
  log(): string;
  /** Runs a command in the daemon's mount and network namespaces (firewall-cmd works there). */
  exec(args: readonly string[]): Cmd;
  stop(): void;
}

/** A real firewalld in t.node: a private mount namespace with a fresh /run
 * (its own system bus, its own /run/firewalld), dbus-daemon in the
 * background of the same process group, then `firewalld --nofork
 * --system-config CONFIG_DIR`. Resolves once `firewall-cmd --state` (run in
 * its namespaces) says running; rejects, with the daemon's log, if it exits
 * or is not running after timeoutMs. */
export interface StartOptions {
  /** Bind-mount configDir over /etc/firewalld in the daemon's private mount
   * namespace and start it on /etc/firewalld, so that whatever runs there
   * (firewall-cmd, portcullis apply) uses the real paths while the host's
   * /etc/firewalld stays untouched. */
  overEtc?: boolean;
}

export async function startFirewalld(t: Topology, configDir: string, timeoutMs = 60000, options: StartOptions = {}): Promise<FirewalldDaemon> {
  const script = [
    'set -e',
    'mount -t tmpfs tmpfs /run',
    'mkdir -p /run/dbus',
    ...(options.overEtc ? ['mount --bind "$0" /etc/firewalld'] : []),
    'dbus-daemon --system --nofork --nopidfile &',
    // Polls for the bus (up to 60 s on a loaded machine); firewalld needs it.
    'i=0; while [ ! -S /run/dbus/system_bus_socket ] && [ $i -lt 1200 ]; do sleep 0.05; i=$((i+1)); done',
    options.overEtc ? 'exec firewalld --nofork --nopid --log-target console' : 'exec firewalld --nofork --nopid --system-config "$0" --log-target console',
  ].join('\n');
  const c = t.spawn(t.node, ['unshare', '-m', '--propagation', 'private', 'sh', '-c', script, configDir], { group: true });
  let log = '';
  c.stdout!.setEncoding('utf8').on('data', (d: string) => (log += d));
  c.stderr!.setEncoding('utf8').on('data', (d: string) => (log += d));
  // `ip netns exec`, unshare and `sh -c … exec` all exec in place: c.pid is firewalld's.
  const daemon: FirewalldDaemon = {
    pid: c.pid!,
    log: () => log,
    exec: (args) => run('nsenter', ['--target', String(c.pid), '--mount', '--net', ...args]),
    stop: () => t.kill(c),
  };
  const started = Date.now();
  for (;;) {
    if (c.exitCode !== null || c.signalCode !== null) throw new Error(`firewalld exited (${c.exitCode ?? c.signalCode}) during start-up:\n${log.trim()}`);
    const state = daemon.exec(['firewall-cmd', '--state']);
    if (state.code === 0 && state.stdout.trim() === 'running') return daemon;
    if (Date.now() - started > timeoutMs) {
      daemon.stop();
      throw new Error(`firewalld not running after ${timeoutMs} ms (${(state.stdout + state.stderr).trim()}):\n${log.trim()}`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** A HostShell that runs programs in the daemon's mount and network
 * namespaces: firewalldLive, written for a host, runs there unchanged. */
export function daemonShell(daemon: FirewalldDaemon): HostShell {
  return { run: (argv, options) => run('nsenter', ['--target', String(daemon.pid), '--mount', '--net', ...argv], options) };
}

/** firewalld, for real (see startFirewalld), on a host that has no
 * portcullis yet: a fresh /etc/firewalld (the stock firewalld.conf, empty
 * zones/, ipsets/, policies/) bind-mounted over /etc/firewalld for the
 * daemon only, the daemon started on it, then the tree put live by
 * firewalldLive.apply, the same apply `portcullis apply` runs (our files
 * written, `firewall-cmd --reload`, SET_DEFAULT_ZONE); `others` are other
 * managers' files already in that /etc/firewalld. Fails if the daemon
 * complained about the tree, or the default zone is not portcullis after.
 * stop() ends the daemon and removes the directory. */
export async function applyFirewalldTree(t: Topology, dir: string, others: Record<string, string> = {}): Promise<{ daemon: FirewalldDaemon; config: string; stop(): void }> {
  const config = fs.mkdtempSync(path.join(os.tmpdir(), `pcv-firewalld-${process.pid}-`));
  const removeConfig = atCleanup(() => fs.rmSync(config, { recursive: true, force: true }));
  let daemon: FirewalldDaemon | undefined;
  try {
    fs.chmodSync(config, 0o750);
    fs.copyFileSync(STOCK_FIREWALLD_CONF, path.join(config, 'firewalld.conf'));
    for (const d of ['zones', 'ipsets', 'policies', 'services', 'icmptypes', 'helpers']) fs.mkdirSync(path.join(config, d), { mode: 0o755 });
    // What other managers keep in /etc/firewalld (Docker's zone and policy),
    // there before portcullis: relative path -> text (tests only).
    for (const [rel, text] of Object.entries(others)) fs.writeFileSync(path.join(config, rel), text);
    daemon = await startFirewalld(t, config, 60000, { overEtc: true });
    const { firewalldLive } = require('./live') as typeof import('./live');
    firewalldLive.apply(daemonShell(daemon), dir);
    const zone = daemon.exec(['firewall-cmd', '--get-default-zone']).stdout.trim();
    if (zone !== ZONE_NAME) throw new Error(`firewalld's default zone is '${zone}' after \`${SET_DEFAULT_ZONE.join(' ')}\``);
    const complaints = daemon
      .log()
      .split('\n')
      .filter((l) => /\b(ERROR|WARNING)\b/.test(l));
    if (complaints.length) throw new Error(`firewalld complained while loading the tree:\n${complaints.join('\n')}`);
  } catch (e) {
    daemon?.stop();
    removeConfig();
    throw e;
  }
  const d = daemon;
  return {
    daemon: d,
    config,
    stop: () => {
      d.stop();
      removeConfig();
    },
  };
}

export const firewalldLoader: TargetLoader = {
  name: 'firewalld',
  tools: ['firewalld', 'firewall-cmd', 'dbus-daemon', 'unshare', 'nsenter', 'nft'],
  files: [`zones/${ZONE_NAME}.xml`],
  async load(t, dir) {
    const applied = await applyFirewalldTree(t, dir);
    return {
      how: `firewalld on a stock /etc/firewalld, then the apply of \`portcullis apply\` (our files, firewall-cmd --reload, ${SET_DEFAULT_ZONE.join(' ')})`,
      stop: applied.stop,
    };
  },
};
