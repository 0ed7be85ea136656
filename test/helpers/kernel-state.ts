// Loads a host target's output into a fresh network namespace the way its
// file headers say (src/verify/targets.ts LOADERS; for firewalld the real
// daemon) and reads back what the kernel holds, minus comments and the few
// values the kernel picks at random, so two loads can be compared as text.
import { LOADERS } from '../../src/verify/targets';
import { Topology, withTopology } from './netns';

export type HostTarget = 'nftables' | 'iptables' | 'firewalld';

/** `nft list ruleset` without rule comments. */
export function normalizeNft(text: string): string {
  return text.replace(/ comment "[^"]*"/g, '');
}

/** iptables-save output without its `#` lines (they carry a timestamp),
 * without comment matches, and with chain counters zeroed: the namespace's
 * own IPv6 link-local chatter (router solicitations, MLD) counts packets on
 * the built-in chains whenever it happens to run. */
export function normalizeIptablesSave(text: string): string {
  return text
    .split('\n')
    .filter((l) => !l.startsWith('#'))
    .map((l) => l.replace(/ -m comment --comment (?:"(?:[^"\\]|\\.)*"|\S+)/g, '').replace(/^(:\S+ \S+) \[\d+:\d+\]$/, '$1 [0:0]'))
    .join('\n');
}

/** `ipset list` with the random hash seed (initval) blanked and members
 * sorted (their order follows that seed). */
export function normalizeIpsetList(text: string): string {
  return text
    .split(/\n(?=Name: )/)
    .map((block) => {
      const [head, members = ''] = block.replace(/initval 0x[0-9a-f]+/g, 'initval _').split('\nMembers:\n');
      return `${head}\nMembers:\n${members.split('\n').filter(Boolean).sort().join('\n')}`;
    })
    .join('\n');
}

function read(t: Topology, args: string[]): string {
  return t.execOk(t.node, args);
}

/** Loads DIR (one target's output directory) into a fresh namespace and
 * returns the kernel state it leaves; throws with the tool's message when a
 * load fails. */
export async function kernelState(target: HostTarget, dir: string): Promise<string> {
  return withTopology({ node: [], world: [], prefix: 'pcl' }, async (t) => {
    const loaded = await LOADERS[target].load(t, dir);
    try {
      if (target === 'nftables' || target === 'firewalld') return normalizeNft(read(t, ['nft', 'list', 'ruleset']));
      return [
        normalizeIptablesSave(read(t, ['iptables-save'])),
        normalizeIptablesSave(read(t, ['ip6tables-save'])),
        normalizeIpsetList(read(t, ['ipset', 'list'])),
      ].join('\n----\n');
    } finally {
      loaded.stop?.();
    }
  });
}

/** The iptables output loaded with the legacy (x_tables) flavour of
 * iptables-restore / ip6tables-restore instead of the nf_tables one; the
 * state as iptables-legacy-save and ip6tables-legacy-save show it, and the
 * ipsets. */
export async function legacyIptablesState(dir: string): Promise<string> {
  return withTopology({ node: [], world: [], prefix: 'pcl' }, async (t) => {
    for (const line of ['ipset restore -exist < ipsets', 'iptables-legacy-restore --noflush < rules.v4', 'ip6tables-legacy-restore --noflush < rules.v6']) {
      const r = t.exec(t.node, ['sh', '-c', line], { cwd: dir });
      if (r.code !== 0) throw new Error(`\`${line}\` failed (exit ${r.code}):\n${(r.stderr || r.stdout).trim()}`);
    }
    return [
      normalizeIptablesSave(read(t, ['iptables-legacy-save'])),
      normalizeIptablesSave(read(t, ['ip6tables-legacy-save'])),
      normalizeIpsetList(read(t, ['ipset', 'list'])),
    ].join('\n----\n');
  });
}
