// Kernel test: iptables output (ipsets + iptables-restore/ip6tables-restore
// --noflush + the jumps, exactly as the file headers say) in real network
// namespaces, against the same hand-written matrix as nftables (see
// test/helpers/kernel-suite.ts). A bystander chain must survive the loads.
import * as fs from 'fs';
import * as path from 'path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { runCli } from './helpers/cli';
import { defineKernelSuite } from './helpers/kernel-suite';

defineKernelSuite(test, {
  name: 'iptables',
  compile(profile, outDir) {
    const r = runCli(['compile', '--profile', profile, '--target', 'iptables', '--out-dir', outDir]);
    assert.is(r.code, 0, `compile failed: ${r.stderr}`);
    const dir = path.join(outDir, 'prod-east', 'iptables');
    for (const f of ['ipsets.v4', 'rules.v4', 'ipsets.v6', 'rules.v6']) assert.ok(fs.existsSync(path.join(dir, f)), `compile wrote no ${f}`);
    return dir;
  },
  beforeLoad(t) {
    t.execOk(t.node, ['iptables', '-N', 'BYSTANDER']);
    t.execOk(t.node, ['iptables', '-A', 'BYSTANDER', '-j', 'RETURN']);
  },
  load(t, dir) {
    for (const [fam, cmd] of [['v4', 'iptables'], ['v6', 'ip6tables']] as const) {
      t.execOk(t.node, ['sh', '-c', `ipset restore -exist < ${dir}/ipsets.${fam}`]);
      t.execOk(t.node, ['sh', '-c', `${cmd}-restore --noflush < ${dir}/rules.${fam}`]);
      for (const [hook, chain] of [['INPUT', 'PORTCULLIS-INPUT'], ['OUTPUT', 'PORTCULLIS-OUTPUT']])
        t.execOk(t.node, ['sh', '-c', `${cmd} -C ${hook} -j ${chain} 2>/dev/null || ${cmd} -I ${hook} 1 -j ${chain}`]);
    }
  },
  afterLoad(t) {
    const rules = t.execOk(t.node, ['iptables', '-S']);
    assert.ok(rules.includes('-A BYSTANDER -j RETURN'), 'a chain that is not ours was touched');
    assert.is(rules.split('\n').filter((l) => l === '-A INPUT -j PORTCULLIS-INPUT').length, 1, 'exactly one jump after two loads');
  },
});

test.run();
