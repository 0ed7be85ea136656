// iptables on a host: how rules.v4, rules.v6 and ipsets are loaded, at boot
// and live.
//
// Boot: the three files copied into /etc/iptables/ are what
// netfilter-persistent (iptables-persistent + ipset-persistent) loads:
// `ipset restore -exist < ipsets`, then `iptables-restore < rules.v4` and
// `ip6tables-restore < rules.v6` WITHOUT --noflush, so each rules file is the
// whole filter table: built-in chains (policy ACCEPT), our chains, the hooks.
//
// Live: the same files onto a running host where other managers (Docker,
// libvirt, kube-proxy, an admin) have rules of their own. Per family one
// `iptables-restore --noflush`, one atomic commit, that
//  - takes only our lines from the file (`:PORTCULLIS-…` declarations, which
//    create or empty our chains, and `-A PORTCULLIS-…` rules): never a
//    built-in chain's policy, never another chain;
//  - deletes every unconditional jump into our chains that the kernel holds
//    (`iptables -S`: one from an earlier apply, or duplicates from older
//    releases' two-step apply), by rule text, so a rule that is not exactly
//    ours is never hit and a concurrent change makes the commit fail whole
//    rather than delete the wrong rule;
//  - adds the file's own hook lines (`-I INPUT 1 …` for hook: first,
//    `-A INPUT …` for hook: last), so there is exactly one jump per chain, at
//    the asked position, however often it runs.

import { runAll, Shell, TargetLoader, topologyShell } from '../host';

export const INPUT_CHAIN = 'PORTCULLIS-INPUT';
export const OUTPUT_CHAIN = 'PORTCULLIS-OUTPUT';

/** Where netfilter-persistent's plugins read the files at boot. */
export const BOOT_DIR = '/etc/iptables';
export const BOOT_FILES = ['rules.v4', 'rules.v6', 'ipsets'] as const;

/** The one live command for a family, run in the output directory. */
export function liveRestoreCommand(family: 'v4' | 'v6'): string {
  const cmd = family === 'v4' ? 'iptables' : 'ip6tables';
  const file = `rules.${family}`;
  const ours = `grep -E '^(\\*filter|:PORTCULLIS-|-A PORTCULLIS-)' ${file}`;
  const unhook = `${cmd} -S | sed -nE 's/^-A (INPUT -j ${INPUT_CHAIN}|OUTPUT -j ${OUTPUT_CHAIN})$/-D \\1/p'`;
  const hooks = `grep -E '^-[AI] (INPUT|OUTPUT) ' ${file}`;
  return `{ ${ours}; ${unhook}; ${hooks}; echo COMMIT; } | ${cmd}-restore --noflush`;
}

/** The live apply, in order, run as root in the output directory: the sets
 * first (the rules match them), then each family's one atomic commit. */
export const LIVE_COMMANDS: string[] = ['ipset restore -exist < ipsets', liveRestoreCommand('v4'), liveRestoreCommand('v6')];

/** The boot install, as a user runs it in the output directory. */
export const BOOT_COMMANDS: string[] = [`install -m 0640 ${BOOT_FILES.join(' ')} ${BOOT_DIR}/`];

/** The live apply (see the top of this file) through `shell`; throws with
 * the tool's message at the first command that fails. Each family's commit
 * is atomic: a failure leaves that family as it was. */
export function applyLive(shell: Shell): void {
  runAll(shell, LIVE_COMMANDS);
}

export const iptablesLoader: TargetLoader = {
  name: 'iptables',
  tools: ['iptables', 'ip6tables', 'iptables-restore', 'ip6tables-restore', 'ipset', 'grep', 'sed'],
  files: ['ipsets', 'rules.v4', 'rules.v6'],
  async load(t, dir) {
    // The apply of `portcullis apply`: LIVE_COMMANDS, then stale pc- sets removed.
    (require('./live') as typeof import('./live')).iptablesLive.apply(topologyShell(t), dir);
    return { how: `the live apply of the file headers (${LIVE_COMMANDS.length} commands), as portcullis apply runs it` };
  },
};
