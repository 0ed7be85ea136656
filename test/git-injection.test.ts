// Class 2 of issue #12: an input name never reaches git (or any tool) as an
// option. On the old code `explain --catalog=--output=DIR/x:y` ran
// `git show --output=DIR/x:y`, and git wrote that file. Every command that
// takes an input is run here with option-shaped names, from inside a real git
// repository; each must exit 2 with a clear message, and nothing may appear
// anywhere under the scratch directory (the repository included).

import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { fixture, ROOT, runCli } from './helpers/cli';
import { assertNoStack } from './helpers/diagnostics';
import { rmTree, snapshot, tmpDir } from './helpers/tree';

const work = tmpDir(`portcullis-gitinj-${process.pid}-`);
const repo = path.join(work, 'repo');
/** Where every hostile value points; it must stay empty. */
const trap = path.join(work, 'trap');

function git(...args: string[]): string {
  const r = spawnSync('git', ['-C', repo, '-c', 'user.email=t@example.invalid', '-c', 'user.name=t', ...args], { encoding: 'utf8' });
  assert.is(r.status, 0, r.stderr);
  return r.stdout.trim();
}

fs.mkdirSync(repo);
fs.mkdirSync(trap);
git('init', '-q');
fs.copyFileSync(fixture('profiles', 'example.yaml'), path.join(repo, 'p.yaml'));
fs.copyFileSync(path.join(ROOT, 'catalog', 'thoughtspot.yaml'), path.join(repo, 'c.yaml'));
fs.copyFileSync(fixture('seeds', 'network-ports.md'), path.join(repo, 'doc.md'));
fs.mkdirSync(path.join(repo, 'envs'));
fs.copyFileSync(fixture('profiles', 'example.yaml'), path.join(repo, 'envs', 'prod.yaml'));
git('add', '.');
git('commit', '-qm', 'base');

const FLOW = ['--from', '198.51.100.7', '--to', '10.20.0.11', '--port', '22/tcp'];
const OUT = path.join(work, 'out');

/** Every place a command takes an input name, as argv for a given value. */
const ENTRY_POINTS: Record<string, (v: string) => string[]> = {
  'compile --profile': (v) => ['compile', `--profile=${v}`, '--out-dir', OUT],
  'compile --catalog': (v) => ['compile', '--profile', 'p.yaml', `--catalog=${v}`, '--out-dir', OUT],
  'compile --check --catalog': (v) => ['compile', '--profile', 'p.yaml', `--catalog=${v}`, '--out-dir', OUT, '--check'],
  'validate --profile': (v) => ['validate', `--profile=${v}`],
  'validate --catalog': (v) => ['validate', '--profile', 'p.yaml', `--catalog=${v}`],
  'lint --profile': (v) => ['lint', `--profile=${v}`],
  'lint --catalog': (v) => ['lint', '--profile', 'p.yaml', `--catalog=${v}`],
  'explain --profile': (v) => ['explain', `--profile=${v}`, ...FLOW],
  'explain --catalog': (v) => ['explain', '--profile', 'p.yaml', `--catalog=${v}`, ...FLOW],
  'diff OLD': (v) => ['diff', v, 'p.yaml'],
  'diff NEW': (v) => ['diff', 'HEAD:p.yaml', v],
  'diff -- OLD NEW': (v) => ['diff', '--', v, v],
  'diff --catalog': (v) => ['diff', 'HEAD:p.yaml', 'p.yaml', `--catalog=${v}`],
  'diff --old-catalog': (v) => ['diff', 'HEAD:p.yaml', 'p.yaml', `--old-catalog=${v}`],
  'diff --new-catalog': (v) => ['diff', 'HEAD:p.yaml', 'p.yaml', `--new-catalog=${v}`],
  'catalog import DOC': (v) => ['catalog', 'import', v],
  'catalog import --base': (v) => ['catalog', 'import', 'doc.md', `--base=${v}`],
  'catalog import --map': (v) => ['catalog', 'import', 'doc.md', `--map=${v}`],
  'verify --profile': (v) => ['verify', `--profile=${v}`, '--target', 'nftables'],
  'verify --catalog': (v) => ['verify', '--profile', 'p.yaml', `--catalog=${v}`, '--target', 'nftables'],
};

/** Option-shaped names, each aimed at the trap. Those with a colon have the
 * REV:PATH shape, so the old code handed them to `git show`. */
const OPTION_SHAPED = [
  `--output=${trap}/output:x`,
  `--output=${trap}/plain`,
  `-o${trap}/short:x`,
  `--upload-pack=touch ${trap}/upload:x`,
  `--ext-diff:--output=${trap}/ext`,
  `-`,
];
/** REV:PATH values whose PATH looks like an option: git must take them as names. */
const PATH_SHAPED = [`HEAD:--output=${trap}/in-path`, 'HEAD:--x', `HEAD:-o${trap}/o`];

function attempt(entry: string, value: string) {
  const before = snapshot(work);
  const r = runCli(ENTRY_POINTS[entry](value), { cwd: repo });
  const where = `${entry} with ${JSON.stringify(value)}`;
  assert.equal(fs.readdirSync(trap), [], `${where}: something was written into the trap:\n${r.stderr}`);
  assert.equal(snapshot(work), before, `${where}: the scratch tree changed`);
  assertNoStack(r.stderr);
  assert.is(r.code, 2, `${where}: exit ${r.code}\n${r.stdout}${r.stderr}`);
  return r;
}

test('old attack: explain --catalog=--output=DIR/x:y no longer makes git write DIR/x:y', () => {
  const r = attempt('explain --catalog', `--output=${trap}/pwn-${process.pid}:x`);
  assert.match(r.stderr, /--output=.*: error: an input name cannot start with '-' \(it could be read as an option\)/);
  assert.match(r.stderr, /hint: for a file whose name starts with '-', write \.\//);
});

test('every entry point refuses option-shaped names: exit 2, a clear message, nothing written', () => {
  for (const entry of Object.keys(ENTRY_POINTS))
    for (const value of OPTION_SHAPED) {
      const r = attempt(entry, value);
      // yargs refuses an unknown option in a positional slot before any input is read.
      assert.ok(
        /error: an input name (cannot start with '-'|is empty)/.test(r.stderr) || /^error: (Unknown argument|Not enough non-option arguments)/m.test(r.stderr),
        `${entry} with ${JSON.stringify(value)}: no clear message:\n${r.stderr}`,
      );
    }
});

test('REV:PATH whose path looks like an option is a name to git, not an option', () => {
  for (const entry of ['explain --profile', 'explain --catalog', 'diff OLD', 'diff NEW', 'diff --old-catalog', 'diff --new-catalog', 'catalog import --base'])
    for (const value of PATH_SHAPED) {
      const r = attempt(entry, value);
      assert.match(r.stderr, /HEAD:-.*: error: not a file, and git cannot resolve it as REV:PATH/, `${entry} with ${value}:\n${r.stderr}`);
    }
});

test('a REV:PATH still reads the blob at every git-reading entry point', () => {
  const base = runCli(['catalog', 'import', 'doc.md', '--base', 'HEAD:c.yaml'], { cwd: repo });
  assert.is(base.code, 0, base.stderr);
  assert.match(base.stderr, /57 kept from the base/);
  const explained = runCli(['explain', '--profile', 'HEAD:p.yaml', '--catalog', 'HEAD:c.yaml', ...FLOW], { cwd: repo });
  assert.is(explained.code, 0, explained.stderr);
  assert.match(explained.stdout, /address from HEAD:p\.yaml:3/);
  const diffed = runCli(['diff', 'HEAD:envs/prod.yaml', 'HEAD:p.yaml', '--old-catalog', 'HEAD:c.yaml', '--new-catalog', 'c.yaml'], { cwd: repo });
  assert.is(diffed.code, 0, diffed.stderr);
});

test('a REV:PATH naming a tree or a missing path, or read outside a repository: exit 2, clear message', () => {
  const tree = attempt('explain --profile', 'HEAD:envs');
  assert.match(tree.stderr, /^HEAD:envs: error: it names a git tree, not a file/m);
  const missing = attempt('diff OLD', 'HEAD:envs/nope.yaml');
  assert.match(missing.stderr, /^HEAD:envs\/nope\.yaml: error: not a file, and git cannot resolve it as REV:PATH/m);
  const outside = runCli(['explain', '--profile', 'HEAD:p.yaml', ...FLOW], { cwd: trap });
  assert.is(outside.code, 2);
  assert.match(outside.stderr, /^HEAD:p\.yaml: error: not a file, and git cannot resolve it/m);
  assert.equal(fs.readdirSync(trap), []);
});

test('a git blob over the input limit is refused by its size, before it is read', () => {
  // 33 MiB of one byte: tiny in the object store, one MiB over the limit.
  const big = path.join(work, 'big.yaml');
  fs.writeFileSync(big, Buffer.alloc(33 * 1024 * 1024, 0x61));
  const oid = git('hash-object', '-w', big);
  fs.rmSync(big);
  git('update-index', '--add', '--cacheinfo', `100644,${oid},big.yaml`);
  git('commit', '-qm', 'big');
  const r = attempt('diff OLD', 'HEAD:big.yaml');
  assert.match(r.stderr, /^HEAD:big\.yaml: error: input too large \(33\.0 MiB; the limit is 32\.0 MiB\)/m);
  const e = attempt('explain --catalog', 'HEAD:big.yaml');
  assert.match(e.stderr, /input too large/);
});

test.after(() => rmTree(work));

test.run();
