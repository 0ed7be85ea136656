// nftables on a host: how portcullis.nft is loaded (live, and at boot).

import { TargetLoader, topologyShell } from '../host';

/** The live apply, run in the output directory: one nft transaction that
 * replaces exactly our table (the file starts by declaring and deleting it). */
export const LIVE_ARGV = ['nft', '-f', 'portcullis.nft'] as const;
/** The same, as the file header gives it to a user. */
export const LIVE_COMMANDS = [LIVE_ARGV.join(' ')];

/** Debian's nftables.service (ExecStart and ExecReload) runs
 * `/usr/sbin/nft -f /etc/nftables.conf`, whose stock text begins with
 * `flush ruleset`. At boot that is what we want (nothing else is loaded
 * yet); an include line puts our file into that same transaction. */
export const BOOT_CONF = '/etc/nftables.conf';
export const BOOT_PATH = '/etc/nftables.d/portcullis.nft';
export const BOOT_INCLUDE = `include "${BOOT_PATH}"`;

/** The boot install, run in the output directory; idempotent (the include
 * line is added once). */
export const BOOT_COMMANDS = [
  `install -D -m 0644 portcullis.nft ${BOOT_PATH}`,
  `grep -qxF '${BOOT_INCLUDE}' ${BOOT_CONF} || echo '${BOOT_INCLUDE}' >> ${BOOT_CONF}`,
];

export const nftablesLoader: TargetLoader = {
  name: 'nftables',
  tools: ['nft'],
  files: ['portcullis.nft'],
  async load(t, dir) {
    // The apply of `portcullis apply` (nftablesLive.apply runs LIVE_COMMANDS' nft -f).
    (require('./live') as typeof import('./live')).nftablesLive.apply(topologyShell(t), dir);
    return { how: `\`${LIVE_COMMANDS[0]}\`` };
  },
};
