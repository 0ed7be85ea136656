// Kernel test: a real firewalld daemon, started in the node's network
// namespace with the compiled tree over a stock firewalld.conf
// (DefaultZone=public), against the same hand-written matrix as nftables and
// iptables (test/helpers/kernel-suite.ts). The daemon is started the way
// `portcullis verify` starts it (src/verify/targets.ts, following
// ../shared/notes/firewalld-in-a-namespace.md). The stock default zone
// `public` would open 22 to everyone: the matrix's "user -> 22" and
// "outsider6 -> 22" rows prove it is not in the way.
// Needs root, `ip netns`, firewalld, dbus-daemon, nsenter; fails (never skips) without them.
import * as fs from 'fs';
import * as path from 'path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { LOADERS, unavailable } from '../src/verify/targets';
import { runCli } from './helpers/cli';
import { defineKernelSuite } from './helpers/kernel-suite';

defineKernelSuite(test, {
  name: 'firewalld',
  repeatable: false,
  compile(profile, outDir) {
    const missing = unavailable('firewalld');
    if (missing) throw new Error(`kernel tests for firewalld: ${missing}`);
    const r = runCli(['compile', '--profile', profile, '--target', 'firewalld', '--out-dir', outDir]);
    assert.is(r.code, 0, `compile failed: ${r.stderr}`);
    const dir = path.join(outDir, 'prod-east', 'firewalld');
    assert.ok(fs.existsSync(path.join(dir, 'zones', 'portcullis.xml')), 'compile wrote no zone');
    return dir;
  },
  async load(t, dir) {
    // Resolves once the daemon runs the tree, and fails if it complained about it.
    return LOADERS.firewalld.load(t, dir);
  },
});

test.run();
