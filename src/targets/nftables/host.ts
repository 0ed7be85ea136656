// nftables on a host: how portcullis.nft is loaded (live, and at boot).

import { runCommands, TargetLoader } from '../host';

/** The live apply, as the file header gives it, run in the output directory. */
export const LIVE_COMMANDS = ['nft -f portcullis.nft'];

export const nftablesLoader: TargetLoader = {
  name: 'nftables',
  tools: ['nft'],
  files: ['portcullis.nft'],
  async load(t, dir) {
    runCommands(t, dir, LIVE_COMMANDS);
    return { how: `\`${LIVE_COMMANDS[0]}\`` };
  },
};
