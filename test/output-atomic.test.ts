// Class 7 of issue #12: "nothing written" is true. A compile replaces
// DIR/<env>/ at once or not at all; a failure at any step leaves the existing
// tree byte-for-byte (and mtime-for-mtime) as it was, with no leftovers;
// a crashed run is cleaned up by the next one; concurrent compiles into one
// --out-dir serialize on a lock. Failures are real: strace makes a system call
// of the real CLI fail (or kills the CLI in it), chattr +i makes a directory
// immutable even for root, and several real CLIs race.
//
// On the old code (target directories swapped one by one), a failed rename
// during the swap left some targets new, others old, and staging directories.

import { spawn, spawnSync } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { BIN, fixture, runCli } from './helpers/cli';
import { assertNoStack } from './helpers/diagnostics';
import { listing, readTree, rmTree, snapshot, tmpDir } from './helpers/tree';

const EXAMPLE = fixture('profiles', 'example.yaml');
const exampleText = fs.readFileSync(EXAMPLE, 'utf8');
const work = tmpDir(`portcullis-atomic-${process.pid}-`);
let serial = 0;

/** A profile like the example with one more node: a distinct output in every target. */
function profile(node: number): string {
  assert.match(exampleText, /10\.20\.0\.13\]/);
  const file = path.join(work, `p-${node}.yaml`);
  fs.writeFileSync(file, exampleText.replace('10.20.0.13]', `10.20.0.13, 10.20.0.${node}]`));
  return file;
}

/** A fresh scratch directory holding out/ as compiled from the example. */
function compiledOut(): { dir: string; out: string } {
  const dir = path.join(work, `case-${++serial}`);
  fs.mkdirSync(dir);
  const out = path.join(dir, 'out');
  const r = runCli(['compile', '--profile', EXAMPLE, '--out-dir', out]);
  assert.is(r.code, 0, r.stderr);
  return { dir, out };
}

/** The tree a compile of `file` writes into a fresh directory. */
function expectedTree(file: string, ...extra: string[]): Map<string, string> {
  const dir = path.join(work, `expected-${++serial}`);
  const r = runCli(['compile', '--profile', file, '--out-dir', dir, ...extra]);
  assert.is(r.code, 0, r.stderr);
  const t = readTree(dir);
  rmTree(dir);
  return t;
}

/** Entries a finished compile must not leave: staging, old trees, locks. */
function leftovers(out: string): string[] {
  return listing(out).filter((p) => p.split('/').some((s) => s.startsWith('.') || /\.old-\d+$|staging|portcullis-(new|old)/.test(s)));
}

/** The real CLI under strace, one system call failing (or killing the CLI). */
function underStrace(syscall: string, inject: string, args: string[]) {
  const r = spawnSync('strace', ['-f', '-qq', '-o', '/dev/null', '-e', `trace=${syscall}`, '-e', `inject=${syscall}:${inject}`, process.execPath, BIN, ...args], {
    encoding: 'utf8',
  });
  return { code: r.status, signal: r.signal, stdout: r.stdout, stderr: r.stderr };
}

/** How often a successful compile over an existing tree makes this call. */
function callsInOneRun(syscall: string, args: string[]): number {
  const log = path.join(work, `strace-${++serial}.log`);
  const r = spawnSync('strace', ['-f', '-qq', '-o', log, '-e', `trace=${syscall}`, process.execPath, BIN, ...args], { encoding: 'utf8' });
  assert.is(r.status, 0, r.stderr);
  const n = fs.readFileSync(log, 'utf8').split('\n').filter((l) => new RegExp(`\\b${syscall}\\(`).test(l)).length;
  fs.rmSync(log);
  return n;
}

/** snapshot(dir) equals before, except that the out-dir's own mtime (which
 * staging and the lock file touch, and a failed run sets back) only has to
 * match within 5 microseconds: utimes() takes seconds as a double (an ulp of
 * about 0.24 us today) and mtimeMs is a double too, so the round trip can
 * miss by more than 1 us (seen once in ten full runs). A real touch moves it
 * by at least a clock tick (milliseconds). */
function assertSameTree(dir: string, before: ReturnType<typeof snapshot>, where: string) {
  const now = snapshot(dir);
  assert.equal(now.map((e) => e.path), before.map((e) => e.path), `${where}: the listing changed`);
  const same = (a: (typeof now)[number], b: (typeof now)[number]) =>
    a.path === 'out/' ? JSON.stringify({ ...a, mtimeMs: 0 }) === JSON.stringify({ ...b, mtimeMs: 0 }) && Math.abs(a.mtimeMs - b.mtimeMs) < 0.005 : JSON.stringify(a) === JSON.stringify(b);
  const changed = now.filter((e, i) => !same(e, before[i])).map((e) => e.path);
  assert.equal(changed, [], `${where}: contents, modes or mtimes changed`);
}

function assertFailedCleanly(r: { code: number | null; stderr: string }, where: string) {
  assert.is(r.code, 2, `${where}: exit ${r.code}\n${r.stderr}`);
  assertNoStack(r.stderr);
  assert.match(r.stderr, /nothing written/, where);
  assert.not.match(r.stderr, /^wrote /m, where);
}

test('a failing rename, mkdir or link at any step of a compile leaves the tree exactly as it was', () => {
  const { dir, out } = compiledOut();
  const args = ['compile', '--profile', profile(30), '--out-dir', out];
  const wanted = expectedTree(profile(30));
  for (const syscall of ['rename', 'mkdir', 'link']) {
    const n = callsInOneRun(syscall, args);
    // The run above did write: put the example's tree back for the failures.
    assert.is(runCli(['compile', '--profile', EXAMPLE, '--out-dir', out]).code, 0);
    if (syscall !== 'link') assert.ok(n >= 2, `${syscall}: ${n} calls`);
    for (let when = 1; when <= n; when++) {
      const before = snapshot(dir);
      const r = underStrace(syscall, `error=EIO:when=${when}`, args);
      const where = `${syscall} #${when} of ${n} failing`;
      if (r.code === 0) {
        // A call whose failure is harmless (mkdir of a directory that exists):
        // then the run is complete, and the tree is exactly the new one.
        assert.equal(leftovers(out), [], where);
        assert.equal(readTree(out), wanted, where);
        assert.is(runCli(['compile', '--profile', EXAMPLE, '--out-dir', out]).code, 0);
        continue;
      }
      assertFailedCleanly(r, where);
      assertSameTree(dir, before, where);
    }
  }
});

test('a compile killed at any rename leaves the old or the new env, and the next compile restores and cleans up', () => {
  const original = expectedTree(EXAMPLE);
  const other = profile(31);
  const args = ['compile', '--profile', other, '--out-dir', 'OUT'];
  const { out } = compiledOut();
  const n = callsInOneRun('rename', args.map((a) => (a === 'OUT' ? out : a)));
  for (let when = 1; when <= n; when++) {
    const { out: o } = compiledOut();
    const killed = underStrace('rename', `signal=KILL:when=${when}`, args.map((a) => (a === 'OUT' ? o : a)));
    assert.is(killed.signal, 'SIGKILL', `rename #${when}: ${killed.stderr}`);
    // Only nftables now: every other target must be the example's, carried
    // over from whatever the crash left (renamed back if it was set aside).
    const next = runCli(['compile', '--profile', other, '--target', 'nftables', '--out-dir', o]);
    assert.is(next.code, 0, next.stderr);
    assert.equal(leftovers(o), [], `after a kill at rename #${when}`);
    const want = new Map(original);
    for (const [p, c] of expectedTree(other, '--target', 'nftables')) want.set(p, c);
    assert.equal(readTree(o), want, `after a kill at rename #${when}`);
  }
});

test('stale leftovers of crashed runs (new and old layouts) are removed by the next compile', () => {
  const { out } = compiledOut();
  const stale = [
    '.prod-east.portcullis-new-999999-0badc0de/nftables/portcullis.nft',
    '.prod-east.portcullis-old-999998-0badc0de/nftables/portcullis.nft',
    'prod-east/nftables.old-4242/portcullis.nft',
    'prod-east/.iptables.staging-4242/rules.v4',
  ];
  for (const s of stale) {
    fs.mkdirSync(path.dirname(path.join(out, s)), { recursive: true });
    fs.writeFileSync(path.join(out, s), 'stale\n');
  }
  fs.writeFileSync(path.join(out, '.portcullis.lock.999997-0badc0de'), '999997\n');
  const r = runCli(['compile', '--profile', EXAMPLE, '--out-dir', out]);
  assert.is(r.code, 0, r.stderr);
  assert.equal(leftovers(out), []);
  assert.equal(readTree(out), expectedTree(EXAMPLE));
});

test('targets a compile does not write, and other files in the env dir, are carried over byte-, mode- and mtime-identical', () => {
  const { out } = compiledOut();
  fs.writeFileSync(path.join(out, 'prod-east', 'NOTES'), 'kept\n');
  fs.chmodSync(path.join(out, 'prod-east', 'NOTES'), 0o600);
  fs.symlinkSync('nftables/portcullis.nft', path.join(out, 'prod-east', 'current'));
  const keep = (s: ReturnType<typeof snapshot>) => s.filter((e) => !e.path.startsWith('prod-east/nftables') && e.path !== 'prod-east/');
  const before = keep(snapshot(out));
  const r = runCli(['compile', '--profile', profile(32), '--target', 'nftables', '--out-dir', out]);
  assert.is(r.code, 0, r.stderr);
  const after = keep(snapshot(out));
  assert.equal(after.map((e) => e.path), before.map((e) => e.path));
  for (const [i, e] of after.entries()) {
    const { mtimeMs: was, ...rest } = before[i];
    const { mtimeMs: now, ...restNow } = e;
    assert.equal(restNow, rest, e.path);
    // Files and links are hard links (exact); directories are made anew with
    // their old times, which utimes() sets to the microsecond.
    if (e.kind === 'dir') assert.ok(Math.abs(now - was) < 0.001, `${e.path}: mtime ${was} -> ${now}`);
    else assert.is(now, was, e.path);
  }
  assert.match(fs.readFileSync(path.join(out, 'prod-east', 'nftables', 'portcullis.nft'), 'utf8'), /10\.20\.0\.32\b/);
});

function chattr(flag: '+i' | '-i', p: string) {
  const r = spawnSync('chattr', [flag, p], { encoding: 'utf8' });
  assert.is(r.status, 0, r.stderr);
}

test('an immutable out-dir or env dir (even root cannot write): exit 2, tree unchanged', () => {
  for (const which of ['out', 'out/prod-east']) {
    const { dir, out } = compiledOut();
    const target = path.join(dir, which);
    chattr('+i', target);
    try {
      const before = snapshot(dir);
      const r = runCli(['compile', '--profile', profile(33), '--out-dir', out]);
      assertFailedCleanly(r, which);
      assertSameTree(dir, before, which);
    } finally {
      chattr('-i', target);
    }
  }
});

test('a file or a symbolic link where the env dir must go: exit 2, nothing written', () => {
  for (const kind of ['file', 'link']) {
    const dir = path.join(work, `case-${++serial}`);
    const out = path.join(dir, 'out');
    fs.mkdirSync(out, { recursive: true });
    const elsewhere = path.join(dir, 'elsewhere');
    fs.mkdirSync(elsewhere);
    if (kind === 'file') fs.writeFileSync(path.join(out, 'prod-east'), 'not a dir\n');
    else fs.symlinkSync(elsewhere, path.join(out, 'prod-east'));
    const before = snapshot(dir);
    const r = runCli(['compile', '--profile', EXAMPLE, '--out-dir', out]);
    assertFailedCleanly(r, kind);
    assert.match(r.stderr, kind === 'file' ? /prod-east: it is a file, not a directory/ : /prod-east: it is a symbolic link/);
    assertSameTree(dir, before, kind);
  }
});

test('a live lock: the compile fails cleanly after its wait (exit 2, tree unchanged); a dead run\'s lock is taken over', () => {
  const { dir, out } = compiledOut();
  const lock = path.join(out, '.portcullis.lock');
  // This test process is alive for sure.
  fs.writeFileSync(lock, `${process.pid}\n`);
  const before = snapshot(dir);
  const r = spawnSync(process.execPath, [BIN, 'compile', '--profile', profile(34), '--out-dir', out], {
    encoding: 'utf8',
    env: { ...process.env, PORTCULLIS_LOCK_WAIT_MS: '200' },
  });
  assertFailedCleanly({ code: r.status, stderr: r.stderr }, 'live lock');
  assert.match(r.stderr, new RegExp(`another compile \\(pid ${process.pid}\\) is writing to --out-dir`));
  assertSameTree(dir, before, 'live lock');
  // A pid that surely exited: a child we waited for.
  const gone = spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))'], { encoding: 'utf8' });
  fs.writeFileSync(lock, `${gone.stdout}\n`);
  const taken = runCli(['compile', '--profile', profile(34), '--out-dir', out]);
  assert.is(taken.code, 0, taken.stderr);
  assert.equal(leftovers(out), []);
  assert.equal(readTree(out), expectedTree(profile(34)));
});

test('a compile waits for a live lock and proceeds once it is released', async () => {
  const { out } = compiledOut();
  const lock = path.join(out, '.portcullis.lock');
  fs.writeFileSync(lock, `${process.pid}\n`);
  const child = spawn(process.execPath, [BIN, 'compile', '--profile', profile(35), '--out-dir', out], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  const waiting = new Promise<void>((resolve) =>
    child.stderr.on('data', (d: Buffer) => {
      stderr += d.toString();
      if (/waiting for the compile with pid/.test(stderr)) resolve();
    }),
  );
  const exited = new Promise<number | null>((resolve) => child.on('close', resolve));
  try {
    await Promise.race([waiting, exited]);
    assert.match(stderr, new RegExp(`waiting for the compile with pid ${process.pid}`));
    // Still the old tree while it waits.
    const waitingTree = readTree(out);
    waitingTree.delete('.portcullis.lock');
    assert.equal(waitingTree, expectedTree(EXAMPLE));
    fs.rmSync(lock);
    assert.is(await exited, 0, stderr);
  } finally {
    child.kill('SIGKILL');
  }
  assert.equal(leftovers(out), []);
  assert.equal(readTree(out), expectedTree(profile(35)));
});

test('several real compiles into one out-dir at once: all succeed, the tree is exactly one run\'s output, no leftovers', async () => {
  const ports = [30, 36, 37, 38, 39, 40];
  const expected = new Map(ports.map((p) => [p, expectedTree(profile(p))]));
  for (let round = 0; round < 3; round++) {
    const { out } = compiledOut();
    const runs = ports.map(
      (p) =>
        new Promise<{ code: number | null; stderr: string }>((resolve) => {
          const c = spawn(process.execPath, [BIN, 'compile', '--profile', profile(p), '--out-dir', out], { stdio: ['ignore', 'ignore', 'pipe'] });
          let stderr = '';
          c.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
          c.on('close', (code) => resolve({ code, stderr }));
        }),
    );
    for (const r of await Promise.all(runs)) assert.is(r.code, 0, r.stderr);
    assert.equal(leftovers(out), [], `round ${round}`);
    const got = readTree(out);
    const which = ports.filter((p) => JSON.stringify([...expected.get(p)!]) === JSON.stringify([...got]));
    assert.is(which.length, 1, `round ${round}: the tree is not one run's complete output`);
  }
});

test.after(() => {
  spawnSync('chattr', ['-R', '-i', work]);
  fs.rmSync(work, { recursive: true, force: true, maxRetries: 5 });
});

test.run();
