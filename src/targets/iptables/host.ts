// iptables on a host: how rules.v4, rules.v6 and the ipsets are loaded
// (live, and at boot).

import { runCommands, TargetLoader } from '../host';

/** The live apply, as the file headers give it, run in the output directory. */
export const LIVE_COMMANDS: string[] = (['v4', 'v6'] as const).flatMap((fam) => {
  const cmd = fam === 'v4' ? 'iptables' : 'ip6tables';
  return [
    `ipset restore -exist < ipsets.${fam}`,
    `${cmd}-restore --noflush < rules.${fam}`,
    `${cmd} -C INPUT -j PORTCULLIS-INPUT 2>/dev/null || ${cmd} -I INPUT 1 -j PORTCULLIS-INPUT`,
    `${cmd} -C OUTPUT -j PORTCULLIS-OUTPUT 2>/dev/null || ${cmd} -I OUTPUT 1 -j PORTCULLIS-OUTPUT`,
  ];
});

export const iptablesLoader: TargetLoader = {
  name: 'iptables',
  tools: ['iptables', 'ip6tables', 'iptables-restore', 'ip6tables-restore', 'ipset'],
  files: ['ipsets.v4', 'rules.v4', 'ipsets.v6', 'rules.v6'],
  async load(t, dir) {
    runCommands(t, dir, LIVE_COMMANDS);
    return { how: `the ${LIVE_COMMANDS.length} commands of the file headers` };
  },
};
