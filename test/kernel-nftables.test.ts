// Kernel test: nftables output in real network namespaces (see
// test/helpers/kernel-suite.ts for the matrix and why each case is expected),
// plus what only nft has: other tables survive, a broken file is rejected as
// a whole. Needs root, `ip netns` and nft; fails (never skips) without them.
import * as fs from 'fs';
import * as path from 'path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { runCli } from './helpers/cli';
import { defineKernelSuite } from './helpers/kernel-suite';
import { run, Topology } from './helpers/netns';

const listTable = (t: Topology) => t.execOk(t.node, ['nft', 'list', 'table', 'inet', 'portcullis']);
let firstListing = '';

defineKernelSuite(test, {
  name: 'nftables',
  compile(profile, outDir) {
    const v = run('nft', ['--version']);
    if (v.code !== 0) throw new Error(`kernel tests need nft: ${v.stderr.trim() || 'not found'}`);
    const r = runCli(['compile', '--profile', profile, '--target', 'nftables', '--out-dir', outDir]);
    assert.is(r.code, 0, `compile failed: ${r.stderr}`);
    const file = path.join(outDir, 'prod-east', 'nftables', 'portcullis.nft');
    assert.ok(fs.existsSync(file), `compile wrote no ${file}`);
    return file;
  },
  beforeLoad(t) {
    // A table that is not ours must survive every load.
    t.execOk(t.node, ['nft', 'add', 'table', 'inet', 'bystander']);
  },
  load(t, nft) {
    t.execOk(t.node, ['nft', '-f', nft]);
    // The second load replaces the table in one transaction and yields exactly the same ruleset.
    const listing = listTable(t);
    if (firstListing) assert.fixture(listing, firstListing, 're-applying the file changed the ruleset');
    firstListing = listing;
  },
  afterLoad(t, nft, out) {
    firstListing = '';
    const tables = t.execOk(t.node, ['nft', 'list', 'tables']);
    assert.equal(tables.trim().split('\n').sort(), ['table inet bystander', 'table inet portcullis'], 'tables after two loads');
    // Atomic: a copy that fails part-way is rejected as a whole; its leading
    // `delete table` does not take effect either.
    const before = listTable(t);
    const broken = path.join(out, 'broken.nft');
    fs.writeFileSync(broken, fs.readFileSync(nft, 'utf8') + '\nadd rule inet portcullis input jump no_such_chain\n');
    assert.is.not(t.exec(t.node, ['nft', '-f', broken]).code, 0, 'a broken file must be rejected');
    assert.fixture(listTable(t), before, 'a rejected load changed the ruleset');
  },
});

test.run();
