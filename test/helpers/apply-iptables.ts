// For test/apply-iptables.test.ts: profiles compiled with --target iptables
// into a temporary directory, and the host's iptables, ip6tables and ipset
// listings as the tests compare them. The namespace shell, the example
// profile and the flow comparison are the nftables helper's.
import * as fs from 'fs';
import * as path from 'path';
import * as assert from 'uvu/assert';
import { runCli } from './cli';
import type { Topology } from './netns';

export { exampleProfile, liveFlows, modelFlows, nodeShell } from './apply-nftables';

/** Writes profile text to DIR/<name>.yaml and compiles it (iptables) into
 * DIR/<name>/; returns the profile path and the iptables directory. */
export function compileIptables(text: string, dir: string, name: string, environment = 'prod-east'): { profile: string; out: string; iptDir: string } {
  const profile = path.join(dir, `${name}.yaml`);
  fs.writeFileSync(profile, text);
  const out = path.join(dir, name);
  const r = runCli(['compile', '--profile', profile, '--target', 'iptables', '--out-dir', out]);
  assert.is(r.code, 0, `compile ${name} failed: ${r.stderr}`);
  const iptDir = path.join(out, environment, 'iptables');
  for (const f of ['ipsets', 'rules.v4', 'rules.v6']) assert.ok(fs.existsSync(path.join(iptDir, f)), `compile wrote no ${iptDir}/${f}`);
  return { profile, out, iptDir };
}

/** iptables-save / ip6tables-save of the filter table without the
 * timestamp comments (and counters unless asked for). */
export function filterListing(t: Topology, cmd: 'iptables-save' | 'ip6tables-save', counters = false): string {
  const out = t.execOk(t.node, [cmd, ...(counters ? ['-c'] : []), '-t', 'filter']);
  return out
    .split('\n')
    .filter((l) => !l.startsWith('#'))
    .join('\n');
}

/** Both families' filter tables. */
export function bothFilters(t: Topology, counters = false): string {
  return `${filterListing(t, 'iptables-save', counters)}\n${filterListing(t, 'ip6tables-save', counters)}`;
}

/** `ipset save` with each set's members sorted (a hash set lists in the
 * kernel's order) and the random initval of a set kept: byte for byte
 * otherwise. */
export function ipsetListing(t: Topology): string {
  const out: string[] = [];
  let members: string[] = [];
  const flush = () => {
    out.push(...members.sort());
    members = [];
  };
  for (const line of t.execOk(t.node, ['ipset', 'save']).split('\n')) {
    if (line.startsWith('add ')) members.push(line);
    else {
      flush();
      out.push(line);
    }
  }
  flush();
  return out.join('\n');
}
