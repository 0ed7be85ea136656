// Kernel test: iptables output, loaded by the live apply of the file headers
// (src/targets/iptables/host.ts: ipset restore, then one
// iptables-restore --noflush per family with the jumps) in real network
// namespaces, against the same hand-written matrix as nftables (see
// test/helpers/kernel-suite.ts). A bystander chain must survive the loads.
import * as fs from 'fs';
import * as path from 'path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { runCli } from './helpers/cli';
import { iptablesLoader } from '../src/targets/iptables/host';
import { defineKernelSuite } from './helpers/kernel-suite';

defineKernelSuite(test, {
  name: 'iptables',
  compile(profile, outDir) {
    const r = runCli(['compile', '--profile', profile, '--target', 'iptables', '--out-dir', outDir]);
    assert.is(r.code, 0, `compile failed: ${r.stderr}`);
    const dir = path.join(outDir, 'prod-east', 'iptables');
    for (const f of ['ipsets', 'rules.v4', 'rules.v6']) assert.ok(fs.existsSync(path.join(dir, f)), `compile wrote no ${f}`);
    return dir;
  },
  beforeLoad(t) {
    t.execOk(t.node, ['iptables', '-N', 'BYSTANDER']);
    t.execOk(t.node, ['iptables', '-A', 'BYSTANDER', '-j', 'RETURN']);
  },
  async load(t, dir) {
    await iptablesLoader.load(t, dir);
  },
  afterLoad(t) {
    const rules = t.execOk(t.node, ['iptables', '-S']);
    assert.ok(rules.includes('-A BYSTANDER -j RETURN'), 'a chain that is not ours was touched');
    assert.is(rules.split('\n').filter((l) => l === '-A INPUT -j PORTCULLIS-INPUT').length, 1, 'exactly one jump after two loads');
    assert.is(rules.split('\n').filter((l) => l === '-A OUTPUT -j PORTCULLIS-OUTPUT').length, 1, 'exactly one output jump after two loads');
  },
});

test.run();
