// Golden files: the compiler's output for the profiles and targets listed in
// test/helpers/golden.ts (fixtures/profiles/{example,restrict,v6-admins}.yaml,
// nftables), byte for byte, against fixtures/golden/. On a
// mismatch the test prints the unified diff; if the change is intended, run
// `npm run golden:update` and review `git diff -- fixtures/golden`.
// Each golden nftables file must also load: `nft -c -f` (nft is required).

import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';
import { createTwoFilesPatch } from 'diff';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { ROOT, runCli } from './helpers/cli';
import { GOLDEN, GOLDEN_DIR, goldenOutputs, profilePath } from './helpers/golden';
import { readTree, rmTree, snapshot, tmpDir } from './helpers/tree';

const UPDATE = 'if the change is intended: npm run golden:update, then review git diff -- fixtures/golden';

function diffTrees(golden: Map<string, string>, actual: Map<string, string>): string {
  const out: string[] = [];
  for (const p of [...new Set([...golden.keys(), ...actual.keys()])].sort()) {
    const g = golden.get(p);
    const a = actual.get(p);
    if (g === a) continue;
    out.push(createTwoFilesPatch(g === undefined ? '/dev/null' : `golden/${p}`, a === undefined ? '/dev/null' : `actual/${p}`, g ?? '', a ?? ''));
  }
  return out.join('');
}

for (const g of GOLDEN) {
  const profile = path.join('fixtures', 'profiles', g.profile);
  const targets = g.targets.join(',');
  const catalogArgs = g.catalog ? ['--catalog', path.join('fixtures', 'catalogs', g.catalog)] : [];

  test(`golden: ${g.profile} compiles (CLI) to exactly fixtures/golden/<env>/{${targets}}`, () => {
    const work = tmpDir();
    try {
      const r = runCli(['compile', '--profile', profile, ...catalogArgs, '--target', targets, '--out-dir', work]);
      assert.is(r.code, 0, r.stderr);
      const envs = fs.readdirSync(work);
      assert.is(envs.length, 1, envs.join(' '));
      const env = envs[0];
      for (const t of g.targets) {
        const golden = readTree(path.join(GOLDEN_DIR, env, t));
        const actual = readTree(path.join(work, env, t));
        assert.ok(golden.size > 0, `no golden files in fixtures/golden/${env}/${t}; ${UPDATE}`);
        const d = diffTrees(golden, actual);
        if (d) assert.unreachable(`fixtures/golden/${env}/${t} differs from the compiler's output (${UPDATE}):\n${d}`);
      }
    } finally {
      rmTree(work);
    }
  });

  test(`golden: ${g.profile}: compile --check --out-dir fixtures/golden exits 0 and writes nothing`, () => {
    const before = snapshot(GOLDEN_DIR);
    const r = runCli(['compile', '--profile', profile, ...catalogArgs, '--target', targets, '--out-dir', 'fixtures/golden', '--check']);
    assert.is(r.code, 0, `${r.stdout}\n${r.stderr}\n${UPDATE}`);
    assert.equal(snapshot(GOLDEN_DIR), before);
  });
}

test('golden: the library gives the same bytes as the golden files', () => {
  for (const g of GOLDEN) {
    const { files } = goldenOutputs(g);
    for (const f of files) assert.is(f.content, fs.readFileSync(path.join(GOLDEN_DIR, f.path), 'utf8'), f.path);
  }
});

test('golden: no stale golden files of these targets; one environment per golden profile', () => {
  const envs = new Map<string, string>();
  for (const g of GOLDEN) {
    const { environment, files } = goldenOutputs(g);
    assert.ok(!envs.has(environment) || envs.get(environment) === g.profile, `${g.profile} and ${envs.get(environment)} share environment ${environment}`);
    envs.set(environment, g.profile);
    for (const t of g.targets) {
      const onDisk = [...readTree(path.join(GOLDEN_DIR, environment, t)).keys()].map((p) => `${environment}/${t}/${p}`).sort();
      assert.equal(onDisk, files.filter((f) => f.target === t).map((f) => f.path).sort(), `fixtures/golden/${environment}/${t}`);
    }
  }
  // A golden directory of one of these targets that no listed profile produces is stale.
  // (Other targets' golden directories belong to their own tests.)
  const mine = new Set(GOLDEN.flatMap((g) => g.targets));
  const listed = new Set(GOLDEN.flatMap((g) => g.targets.map((t) => `${goldenOutputs(g).environment}/${t}`)));
  for (const env of fs.readdirSync(GOLDEN_DIR))
    for (const t of fs.readdirSync(path.join(GOLDEN_DIR, env)))
      if (mine.has(t as never)) assert.ok(listed.has(`${env}/${t}`), `fixtures/golden/${env}/${t} belongs to no profile in test/helpers/golden.ts`);
});

test('golden: the three profiles cover what they claim', () => {
  const nft = (env: string) => fs.readFileSync(path.join(GOLDEN_DIR, env, 'nftables', 'portcullis.nft'), 'utf8');
  const ex = nft('prod-east');
  assert.match(ex, /^\t\ttype filter hook output priority filter; policy accept;$/m, 'example: egress allow');
  const re = nft('restrict');
  assert.match(re, /^\t\ttype filter hook output priority filter; policy drop;$/m, 'restrict: egress restrict');
  assert.match(re, /^\t\tip6 saddr @nodes_v6 tcp dport /m, 'restrict: IPv6 nodes');
  assert.match(re, /^\t\tip6 daddr @nodes_v6 tcp dport /m, 'restrict: node-to-node egress over IPv6');
  assert.match(re, /^\t\tip saddr @support_v4 tcp dport \{ 22, 80, 443, 12345 \} accept/m, 'restrict: support on');
  assert.match(re, /^#\s+offhost-support-bmc-v4-tcp: support -> bmc tcp 80 \(T5\.1\)$/m, 'restrict: IPMI to the BMCs, listed as off-host');
  assert.match(re, /^\t\tip daddr @smtp_relay_v4 tcp dport 25 accept/m, 'restrict: smtp_port 25');
  assert.match(re, /^\t\tip daddr @ldap_server_v4 tcp dport 389 accept/m, 'restrict: ldap_port 389');
  const v6 = nft('v6-admins');
  assert.match(v6, /^\t\tip6 saddr @admins_v6 tcp dport \{ 22,/m, 'v6-admins: SSH for IPv6 admins');
  assert.not.match(v6, /admins_v4/, 'v6-admins: no IPv4 admin set');
});

test('golden: every golden nftables file passes nft -c -f', () => {
  const nftFiles = [...readTree(GOLDEN_DIR).keys()].filter((p) => p.endsWith('.nft'));
  // One per golden profile, or one per role of a multi-role catalog.
  assert.is(nftFiles.length, GOLDEN.filter((g) => g.targets.includes('nftables')).flatMap((g) => goldenOutputs(g).files.filter((f) => f.path.endsWith('.nft'))).length);
  for (const p of nftFiles) {
    const r = spawnSync('nft', ['-c', '-f', path.join(GOLDEN_DIR, p)], { encoding: 'utf8' });
    assert.ok(!r.error, `cannot run nft (install nftables): ${r.error?.message}`);
    assert.is(r.status, 0, `nft -c -f fixtures/golden/${p}:\n${r.stderr}`);
  }
});

test('golden: the golden profiles exist and the contract example is unchanged', () => {
  for (const g of GOLDEN) assert.ok(fs.existsSync(profilePath(g.profile)), g.profile);
  // fixtures/profiles/example.yaml is the contract's example verbatim.
  const contract = path.join(ROOT, '..', 'shared', 'spec', 'CONTRACT.md');
  if (fs.existsSync(contract)) {
    const block = /## Site profile[^\n]*\n+```yaml\n([\s\S]*?)```/.exec(fs.readFileSync(contract, 'utf8'));
    assert.ok(block, 'the contract has a yaml example');
    assert.is(fs.readFileSync(profilePath('example.yaml'), 'utf8'), block![1]);
  }
});

test.run();
