// The project file (portcullis.yaml) as a hostile repository writes it:
// patterns built to make matching backtrack, a thousand patterns over a big
// directory, loops of symbolic links, an out_dir that cannot be a
// directory. Each is an error at its line and column of the project file,
// exit 2, nothing written, no stack trace, in bounded time.

import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { matchSegment, segmentPattern } from '../src/project';
import { BIN, fixture } from './helpers/cli';
import { assertNoStack, parseDiagnostics } from './helpers/diagnostics';
import { rmTree, snapshot, tmpDir } from './helpers/tree';

const EXAMPLE = fs.readFileSync(fixture('profiles', 'example.yaml'), 'utf8');

function withRepo(fn: (work: string) => void): void {
  const work = tmpDir('pc-project-');
  try {
    fs.mkdirSync(path.join(work, 'envs'));
    fs.writeFileSync(path.join(work, 'envs', 'prod.yaml'), EXAMPLE);
    fn(work);
  } finally {
    rmTree(work);
  }
}

/** The CLI in `work`, killed after `timeout` ms (status null then). */
const cli = (work: string, args: string[], timeout = 60_000) => spawnSync(process.execPath, [BIN, ...args], { cwd: work, encoding: 'utf8', timeout });

function refused(work: string, project: string): string[] {
  fs.writeFileSync(path.join(work, 'portcullis.yaml'), project);
  const before = snapshot(work);
  const r = cli(work, ['compile', '--target', 'nftables']);
  assert.is(r.status, 2, r.stderr);
  assertNoStack(r.stderr);
  assert.equal(snapshot(work), before, 'something was written');
  return parseDiagnostics(r.stderr).map((d) => `${d.file}:${d.line}:${d.col} ${d.message}`);
}

test('matching: * and ? as before (a leading dot, code points), and no backtracking blow-up', () => {
  const cases: [string, string, boolean][] = [
    ['*.yaml', 'prod.yaml', true],
    ['*.yaml', '.prod.yaml', false],
    ['.*', '.prod.yaml', true],
    ['?ev.yaml', 'dev.yaml', true],
    ['?ev.yaml', 'ddev.yaml', false],
    ['a?c', 'a😀c', true],
    ['*a*a*b', 'aab', true],
    ['*a*a*b', 'aaba', false],
    ['[!x]*', 'xy', false],
    ['[!x]*', '[!x]y', true],
    ['a.c', 'abc', false],
    ['*', '', true],
  ];
  for (const [p, name, want] of cases) assert.is(matchSegment(p, name), want, `${p} on ${name}`);
  // What a regular expression took minutes for: each answer here costs at
  // most pattern x name steps.
  const long = 'a'.repeat(255);
  assert.is(segmentPattern(`${'*a'.repeat(500)}*b`).test(long), false);
  assert.is(segmentPattern(`${'*a'.repeat(200)}*`).test(long), true);
  assert.is(segmentPattern(`${'*a'.repeat(256)}*`).test(long), false);
});

test('a pattern made to backtrack, on long file names: the pattern matches no file, at its position, promptly', () => {
  withRepo((work) => {
    for (let i = 0; i < 20; i++) fs.writeFileSync(path.join(work, 'envs', `${'a'.repeat(200)}${i}.yaml`), EXAMPLE);
    fs.writeFileSync(path.join(work, 'portcullis.yaml'), `profiles:\n  - "envs/${'*a'.repeat(12)}*b"\n`);
    const before = snapshot(work);
    // The regular expression this replaced did not end in hours.
    const r = cli(work, ['compile'], 30_000);
    assert.is(r.status, 2, r.error ? String(r.error) : r.stderr);
    assertNoStack(r.stderr);
    assert.equal(parseDiagnostics(r.stderr).map((d) => `${d.line}:${d.col} ${d.message}`), [`2:5 "envs/${'*a'.repeat(12)}*b": the pattern matches no file`]);
    assert.equal(snapshot(work), before);
  });
});

test('a thousand patterns over a directory of 5,000 files: the directory is read once, each file looked at once', () => {
  withRepo((work) => {
    for (let i = 0; i < 5000; i++) fs.writeFileSync(path.join(work, 'envs', `f${i}.txt`), '');
    // Every entry names envs/prod.yaml again (a directory and a pattern).
    const specs = Array.from({ length: 1000 }, (_, i) => (i % 2 ? 'envs/*.yaml' : 'envs'));
    fs.writeFileSync(path.join(work, 'portcullis.yaml'), `profiles:\n${specs.map((s) => `  - "${s}"\n`).join('')}targets: [nftables]\n`);
    const t0 = Date.now();
    const r = cli(work, ['validate']);
    assert.is(r.status, 0, r.stderr);
    assert.is(r.stdout.trim().split('\n').length, 1, r.stdout);
    // Generous: it takes well under a second; each spec listing 5,000 entries again took seconds.
    assert.ok(Date.now() - t0 < 20_000, `took ${Date.now() - t0} ms`);
  });
});

test('loops of symbolic links: a profile, a file in a listed directory, out_dir: each an error at its entry', () => {
  withRepo((work) => {
    fs.symlinkSync('loop2', path.join(work, 'loop1'));
    fs.symlinkSync('loop1', path.join(work, 'loop2'));
    fs.symlinkSync('spin.yaml', path.join(work, 'envs', 'spin.yaml'));
    fs.mkdirSync(path.join(work, 'self'));
    fs.symlinkSync('../self', path.join(work, 'self', 'again'));
    assert.equal(refused(work, 'profiles:\n  - loop1\n  - envs\n  - "loop1/*.yaml"\n  - self/again/again/again\nout_dir: loop2/x\n'), [
      'portcullis.yaml:2:5 profile "loop1" is not allowed: it is a loop of symbolic links',
      'portcullis.yaml:3:5 "envs/spin.yaml" (from "envs") is not allowed: it is a loop of symbolic links',
      'portcullis.yaml:4:5 "loop1/*.yaml": no such directory "loop1/"',
      'portcullis.yaml:5:5 "self/again/again/again": cannot read file: it is a directory with no profile in it',
      'portcullis.yaml:6:10 out_dir "loop2/x" is not allowed: it is a loop of symbolic links',
    ]);
  });
});

test('out_dir that cannot be a directory: a file, or below one', () => {
  withRepo((work) => {
    assert.equal(refused(work, 'profiles: [envs]\nout_dir: portcullis.yaml\n'), ['portcullis.yaml:2:10 out_dir "portcullis.yaml" is not allowed: it is a file, not a directory']);
    assert.equal(refused(work, 'profiles: [envs]\nout_dir: envs/prod.yaml/fw\n'), ['portcullis.yaml:2:10 out_dir "envs/prod.yaml/fw" is not allowed: a part of it is a file, not a directory']);
  });
});

test('terminal escapes in entries stay text in every message', () => {
  withRepo((work) => {
    fs.writeFileSync(path.join(work, 'portcullis.yaml'), 'profiles: ["\\e]0;owned\\a*.yaml", "envs/\\e[2J*"]\nout_dir: "\\e[2J/../.."\n');
    const r = cli(work, ['compile']);
    assert.is(r.status, 2);
    // eslint-disable-next-line no-control-regex
    assert.not.match(r.stderr, /[\x00-\x08\x0b-\x1f\x7f]/);
    assert.match(r.stderr, /^portcullis\.yaml:1:12: error: "\\u001b\]0;owned\\u0007\*\.yaml": the pattern matches no file$/m);
    assert.match(r.stderr, /^portcullis\.yaml:2:10: error: out_dir "\\u001b\[2J\/\.\.\/\.\." is not allowed: it leads out of the project's directory$/m);
  });
});

test.run();
