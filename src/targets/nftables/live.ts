// nftables on a running host: check, save, restore and read back (src/targets/live.ts).
// Placeholder until the implementation lands: every call refuses.

import { LiveTarget, ToolRejected } from '../live';

const refuse = (): never => {
  throw new ToolRejected('apply and audit are not implemented for nftables yet');
};

export const nftablesLive: LiveTarget = {
  name: 'nftables',
  tools: [],
  files: [],
  check: refuse,
  save: refuse,
  apply: refuse,
  restore: refuse,
  stateKey: refuse,
  describe: refuse,
  read: refuse,
  readExpected: refuse,
};
