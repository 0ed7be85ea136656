// The bundle (dist/portcullis.js) carries standalone validators for every
// JSON Schema it checks (tools/generate.js): ajv is left out of it
// (tools/bundle.js) and must never be needed at run time. Run here from a
// copy of the package with no node_modules above it, on each input that has
// a schema: a profile, the project file (portcullis.yaml), the expectations
// of `portcullis test`, valid and not.

import * as fs from 'fs';
import * as path from 'path';
import { spawnSync } from 'child_process';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { ROOT } from './helpers/cli';
import { assertNoStack, parseDiagnostics } from './helpers/diagnostics';
import { rmTree, tmpDir } from './helpers/tree';

const base = tmpDir('pc-bundle-');
const pkg = path.join(base, 'pkg');
const work = path.join(base, 'work');
for (const part of ['bin', 'dist', 'templates', 'catalog', 'package.json']) fs.cpSync(path.join(ROOT, part), path.join(pkg, part), { recursive: true });
fs.mkdirSync(path.join(work, 'envs'), { recursive: true });
fs.copyFileSync(path.join(ROOT, 'fixtures', 'profiles', 'example.yaml'), path.join(work, 'envs', 'prod.yaml'));

const run = (args: string[]) => {
  const r = spawnSync(process.execPath, [path.join(pkg, 'bin', 'portcullis.js'), ...args], { cwd: work, encoding: 'utf8' });
  return { code: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
};

test('the copy really has no ajv to fall back on', () => {
  assert.ok(fs.existsSync(path.join(pkg, 'dist', 'portcullis.js')), 'no bundle: npm run build');
  assert.throws(() => require.resolve('ajv', { paths: [path.join(pkg, 'dist')] }), /Cannot find module/);
});

test('a project file: compile with no arguments writes its tree; a bad one is exit 2 with positions', () => {
  fs.writeFileSync(path.join(work, 'portcullis.yaml'), 'profiles: [envs]\ntargets: [nftables]\nout_dir: fw\n');
  const ok = run(['compile']);
  assert.is(ok.code, 0, ok.stderr);
  assert.ok(fs.existsSync(path.join(work, 'fw', 'prod-east', 'nftables', 'portcullis.nft')));
  fs.writeFileSync(path.join(work, 'portcullis.yaml'), 'profiles: [envs]\ntargets: [nftables, pf]\nout_dirs: x\n');
  const bad = run(['compile']);
  assert.is(bad.code, 2, bad.stderr);
  assertNoStack(bad.stderr);
  assert.equal(
    parseDiagnostics(bad.stderr).map((d) => `${d.line}:${d.col} ${d.message}`),
    ["3:1 unknown key 'out_dirs' in the project file", "2:21 'targets.1' must be one of 'nftables', 'iptables', 'firewalld', 'terraform-aws', 'azure-nsg', not string \"pf\""],
  );
  fs.rmSync(path.join(work, 'portcullis.yaml'));
});

test('a profile and an expectations file, good and bad', () => {
  const p = run(['validate', '--profile', 'envs/prod.yaml']);
  assert.is(p.code, 0, p.stderr);
  fs.writeFileSync(path.join(work, 'bad.yaml'), 'environment: x\ngroups: {}\negres: allow\n');
  const bp = run(['validate', '--profile', 'bad.yaml']);
  assert.is(bp.code, 2, bp.stderr);
  assertNoStack(bp.stderr);
  assert.match(bp.stderr, /^bad\.yaml:3:1: error: unknown key 'egres' in the document$/m);
  fs.writeFileSync(path.join(work, 'x.yaml'), '- {from: admins, to: nodes, port: 22/tcp, expect: allow}\n');
  const t = run(['test', '--profile', 'envs/prod.yaml', 'x.yaml']);
  assert.is(t.code, 0, t.stderr);
  fs.writeFileSync(path.join(work, 'x.yaml'), '- {from: admins, to: nodes, port: 22, expect: allow}\n');
  const bt = run(['test', '--profile', 'envs/prod.yaml', 'x.yaml']);
  assert.is(bt.code, 2, bt.stderr);
  assertNoStack(bt.stderr);
  assert.match(bt.stderr, /^x\.yaml:1:35: error: expectation 1: 'port' must be a string, not number 22$/m);
});

test.after(() => rmTree(base));
test.run();
