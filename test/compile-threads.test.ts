// Many environments on several threads: the CLI compiles its profiles on
// worker threads too (PORTCULLIS_JOBS, else one per core), and whatever the
// number of threads the outcome is the same bytes: the tree written, what
// --check prints, every diagnostic and its order, the exit code. The worker
// path itself is checked in-process with every profile left to the workers.

import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { compileMany } from '../src/index';
import { compileManyOnThreads, threadsFor } from '../src/compile-workers';
import { BIN, fixture, ROOT } from './helpers/cli';
import { readTree, rmTree, tmpDir } from './helpers/tree';

// eslint-disable-next-line @typescript-eslint/no-var-requires
const { scaleProfile } = require(path.join(ROOT, 'bench', 'scale-profile.js')) as { scaleProfile: (n: number) => string };

const EXAMPLE = fs.readFileSync(fixture('profiles', 'example.yaml'), 'utf8');
const work = tmpDir(`pct-threads-${process.pid}-`);

/** Example-like profiles env-01..env-NN, each with its own node addresses. */
function profiles(dir: string, count: number, edit: (env: string, text: string) => string = (_e, t) => t): string {
  fs.mkdirSync(dir, { recursive: true });
  for (let i = 1; i <= count; i++) {
    const env = `env-${String(i).padStart(2, '0')}`;
    fs.writeFileSync(path.join(dir, `${env}.yaml`), edit(env, EXAMPLE.replace(/^environment: \S+/m, `environment: ${env}`).replace(/10\.20\.0\./g, `10.20.${i}.`)));
  }
  return dir;
}

function cli(args: string[], jobs: string | undefined, cwd = work) {
  const env = { ...process.env };
  delete env.PORTCULLIS_JOBS;
  if (jobs !== undefined) env.PORTCULLIS_JOBS = jobs;
  const r = spawnSync(process.execPath, [BIN, ...args], { cwd, env, encoding: 'utf8' });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** The same run on 1, 2 and 4 threads: identical results. */
function sameOnAnyThreads(what: string, args: (jobs: string) => string[], after?: (jobs: string) => unknown) {
  const runs = ['1', '2', '4'].map((jobs) => {
    const r = cli(args(jobs), jobs);
    return { jobs, ...r, after: after?.(jobs) };
  });
  const norm = (r: (typeof runs)[number]) => ({ ...r, jobs: undefined, stdout: r.stdout.split(`/${r.jobs}/`).join('/J/'), stderr: r.stderr.split(`/${r.jobs}/`).join('/J/') });
  for (const r of runs.slice(1)) assert.equal(norm(r), norm(runs[0]), `${what}: PORTCULLIS_JOBS=${r.jobs} differs from 1`);
  return runs[0];
}

test('threads are used for many profiles and never for one; PORTCULLIS_JOBS sets them', () => {
  const saved = process.env.PORTCULLIS_JOBS;
  try {
    delete process.env.PORTCULLIS_JOBS;
    assert.is(threadsFor(1), 1);
    assert.is(threadsFor(5), 1);
    process.env.PORTCULLIS_JOBS = '3';
    assert.is(threadsFor(50), 3);
    assert.is(threadsFor(2), 2);
    process.env.PORTCULLIS_JOBS = '1';
    assert.is(threadsFor(50), 1);
    // Bounded even when asked for more: each thread is a heap of its own.
    process.env.PORTCULLIS_JOBS = '999';
    assert.is(threadsFor(5000), 32);
    // Not a count: the default, one per core but one (V8's own threads
    // keep a core busy), up to 4, at least 12 profiles each.
    delete process.env.PORTCULLIS_JOBS;
    assert.is(threadsFor(50, 1), 1);
    assert.is(threadsFor(50, 2), 1);
    assert.is(threadsFor(50, 3), 2);
    assert.is(threadsFor(50, 16), 4);
    assert.is(threadsFor(30, 16), 2);
    assert.is(threadsFor(11, 16), 1);
    const auto = threadsFor(50);
    for (const v of ['-1', '0', 'lots', '2x', '']) {
      process.env.PORTCULLIS_JOBS = v;
      assert.is(threadsFor(50), auto, v);
    }
  } finally {
    if (saved === undefined) delete process.env.PORTCULLIS_JOBS;
    else process.env.PORTCULLIS_JOBS = saved;
  }
});

test('the worker path alone (every profile compiled by worker threads) gives what compileMany gives, in order', async () => {
  const dir = profiles(path.join(work, 'lib'), 9);
  const inputs = fs
    .readdirSync(dir)
    .sort()
    .map((f) => ({ path: path.join(dir, f), text: fs.readFileSync(path.join(dir, f), 'utf8') }));
  // Shuffled, so profile order is not file order.
  const order = [4, 0, 8, 2, 6, 1, 7, 3, 5].map((i) => inputs[i]);
  const expected = compileMany({ profiles: order });
  assert.ok(expected.ok);
  const { result } = await compileManyOnThreads({ profiles: order, targets: undefined }, 3, undefined, false);
  assert.ok(result.ok);
  if (!result.ok || !expected.ok) return;
  assert.equal(
    result.environments.map((e) => e.environment),
    order.map((p) => path.basename(p.path, '.yaml')),
  );
  assert.equal(result.files, expected.files);
  // A load error and two profiles naming one environment, found by workers.
  const bad = [...order];
  bad[2] = { path: 'bad.yaml', text: bad[2].text.replace('admins:', 'admin:') };
  bad[7] = { path: 'twin.yaml', text: bad[7].text.replace(/^environment: \S+/m, 'environment: env-05') };
  const e = compileMany({ profiles: bad });
  const { result: r } = await compileManyOnThreads({ profiles: bad }, 3, undefined, false);
  assert.not.ok(e.ok);
  assert.equal(r, e);
  assert.ok(!r.ok && r.diagnostics.some((d) => d.file === 'twin.yaml' && /named by two profiles/.test(d.message)));
});

test('CLI: the tree written, a second write (unchanged), --check clean and with drift: the same on 1, 2 and 4 threads', () => {
  const dir = profiles(path.join(work, 'cli'), 10);
  const out = (jobs: string) => path.join(work, 'out', jobs);
  const w = sameOnAnyThreads('write', (j) => ['compile', '--profile', dir, '--out-dir', out(j)], (j) => readTree(out(j)));
  assert.is(w.code, 0, w.stderr);
  assert.is(w.stderr.split('\n').filter((l) => l.startsWith('wrote ')).length, 10 * 14);
  const again = sameOnAnyThreads('write again', (j) => ['compile', '--profile', dir, '--out-dir', out(j)]);
  assert.match(again.stderr, /^unchanged /m);
  assert.not.match(again.stderr, /^wrote /m);
  const clean = sameOnAnyThreads('check', (j) => ['compile', '--profile', dir, '--out-dir', out(j), '--check']);
  assert.is(clean.code, 0, clean.stderr);
  for (const j of ['1', '2', '4']) fs.appendFileSync(path.join(out(j), 'env-09', 'nftables', 'portcullis.nft'), '# edited\n');
  const drift = sameOnAnyThreads('drift', (j) => ['compile', '--profile', dir, '--out-dir', out(j), '--check']);
  assert.is(drift.code, 1);
  assert.match(drift.stdout, /^-# edited$/m);
  assert.match(drift.stderr, /^1 of 10 environments drifted$/m);
});

test('CLI: bad input found on any thread (a load error, an environment named twice, a target limit): the same diagnostics in the same order, exit 2, nothing written', () => {
  const dir = profiles(path.join(work, 'bad'), 11, (env, text) =>
    env === 'env-04' ? text.replace('admins:', 'admin:') : env === 'env-11' ? text.replace(/^environment: \S+/m, 'environment: env-02') : text,
  );
  const out = (jobs: string) => path.join(work, 'bad-out', jobs);
  const r = sameOnAnyThreads('bad', (j) => ['compile', '--profile', dir, '--out-dir', out(j)], (j) => fs.existsSync(out(j)));
  assert.is(r.code, 2);
  assert.match(r.stderr, /env-04\.yaml:\d+:\d+/);
  assert.match(r.stderr, /env-11\.yaml:1:1: error: environment 'env-02' is named by two profiles: this one and .*env-02\.yaml:1:1/);
  assert.is(r.after, false, 'something was written');
  // A profile over a target's limit (AWS rules per security group) among good ones.
  const limits = profiles(path.join(work, 'limit'), 9);
  fs.writeFileSync(path.join(limits, 'env-07.yaml'), scaleProfile(1000).replace(/^environment: \S+/m, 'environment: env-07'));
  const l = sameOnAnyThreads('limit', (j) => ['compile', '--profile', limits, '--target', 'terraform-aws', '--out-dir', out(`l${j}`)], (j) => fs.existsSync(out(`l${j}`)));
  assert.is(l.code, 2, l.stderr);
  assert.match(l.stderr, /env-07\.yaml:\d+:\d+: error: target terraform-aws: /);
  assert.is(l.after, false);
});

test.after(() => rmTree(work));
test.run();
