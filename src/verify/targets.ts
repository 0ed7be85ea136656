// How verify loads each host target's output into the node namespace:
// exactly as the output files' headers tell a user to (test/verify.test.ts
// checks that the headers still say so), or, for firewalld, by running the
// real daemon on the tree as ../shared/notes/firewalld-in-a-namespace.md
// describes (startFirewalld, which kernel tests can use too).

import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { backendFor } from '../backends';
import type { TargetName } from '../backends/base';
import { atCleanup, Cmd, run, Topology } from './topology';

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

/** The shell commands the output headers give, run in the output directory. */
export const LOAD_COMMANDS: Record<'nftables' | 'iptables', string[]> = {
  nftables: ['nft -f portcullis.nft'],
  iptables: (['v4', 'v6'] as const).flatMap((fam) => {
    const cmd = fam === 'v4' ? 'iptables' : 'ip6tables';
    return [
      `ipset restore -exist < ipsets.${fam}`,
      `${cmd}-restore --noflush < rules.${fam}`,
      `${cmd} -C INPUT -j PORTCULLIS-INPUT 2>/dev/null || ${cmd} -I INPUT 1 -j PORTCULLIS-INPUT`,
      `${cmd} -C OUTPUT -j PORTCULLIS-OUTPUT 2>/dev/null || ${cmd} -I OUTPUT 1 -j PORTCULLIS-OUTPUT`,
    ];
  }),
};

function shellLoader(name: 'nftables' | 'iptables', tools: string[], files: string[]): TargetLoader {
  return {
    name,
    tools,
    files,
    async load(t, dir) {
      for (const cmd of LOAD_COMMANDS[name]) {
        const r = t.exec(t.node, ['sh', '-c', cmd], { cwd: dir });
        if (r.code !== 0) throw new Error(`\`${cmd}\` failed (exit ${r.code}):\n${(r.stderr || r.stdout).trim()}`);
      }
      return { how: LOAD_COMMANDS[name].length === 1 ? `\`${LOAD_COMMANDS[name][0]}\`` : `the ${LOAD_COMMANDS[name].length} commands of the file headers` };
    },
  };
}

export const STOCK_FIREWALLD_CONF = '/etc/firewalld/firewalld.conf';

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
export async function startFirewalld(t: Topology, configDir: string, timeoutMs = 60000): Promise<FirewalldDaemon> {
  const script = [
    'set -e',
    'mount -t tmpfs tmpfs /run',
    'mkdir -p /run/dbus',
    'dbus-daemon --system --nofork --nopidfile &',
    // Polls for the bus (up to 60 s on a loaded machine); firewalld needs it.
    'i=0; while [ ! -S /run/dbus/system_bus_socket ] && [ $i -lt 1200 ]; do sleep 0.05; i=$((i+1)); done',
    'exec firewalld --nofork --nopid --system-config "$0" --log-target console',
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

/** firewalld, for real (see startFirewalld), on a --system-config directory
 * holding the generated tree over the stock firewalld.conf: what a user gets
 * who copies the tree over their /etc/firewalld. */
const firewalld: TargetLoader = {
  name: 'firewalld',
  tools: ['firewalld', 'firewall-cmd', 'dbus-daemon', 'unshare', 'nsenter', 'nft'],
  files: ['zones/portcullis.xml'],
  async load(t, dir) {
    const config = fs.mkdtempSync(path.join(os.tmpdir(), `pcv-firewalld-${process.pid}-`));
    const removeConfig = atCleanup(() => fs.rmSync(config, { recursive: true, force: true }));
    let daemon: FirewalldDaemon | undefined;
    try {
      fs.cpSync(dir, config, { recursive: true });
      fs.copyFileSync(STOCK_FIREWALLD_CONF, path.join(config, 'firewalld.conf'));
      daemon = await startFirewalld(t, config);
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
      how: 'firewalld --nofork --system-config <the tree + stock firewalld.conf>',
      stop: () => {
        d.stop();
        removeConfig();
      },
    };
  },
};

export const LOADERS: Record<HostTarget, TargetLoader> = {
  nftables: shellLoader('nftables', ['nft'], ['portcullis.nft']),
  iptables: shellLoader('iptables', ['iptables', 'ip6tables', 'iptables-restore', 'ip6tables-restore', 'ipset'], ['ipsets.v4', 'rules.v4', 'ipsets.v6', 'rules.v6']),
  firewalld,
};

/** Why a target cannot be verified here (no backend, a tool missing), or undefined. */
export function unavailable(name: HostTarget): string | undefined {
  if (!backendFor(name as TargetName)) return `portcullis has no ${name} backend yet`;
  const missing = LOADERS[name].tools.filter((tool) => run('sh', ['-c', `command -v ${tool}`]).code !== 0);
  if (missing.length) return `needs ${missing.join(', ')} on PATH`;
  if (name === 'firewalld' && !fs.existsSync(STOCK_FIREWALLD_CONF)) return `needs the stock ${STOCK_FIREWALLD_CONF}`;
  return undefined;
}
