// Input reading is bounded (issue #12): a device, a FIFO, a directory or a
// huge file given as any input answers with a clear exit 2 within seconds
// and with bounded memory. On the old code /dev/zero was read until memory
// ran out and a FIFO with no writer hung the open forever.

import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { BIN, fixture, ROOT } from './helpers/cli';
import { assertNoStack } from './helpers/diagnostics';
import { rmTree, snapshot, tmpDir } from './helpers/tree';
import { MAX_INPUT_BYTES } from '../src/sources';

const work = tmpDir(`portcullis-input-${process.pid}-`);
/** Inputs (huge ones: compared by stat, not byte by byte). */
const inputs = path.join(work, 'in');
/** Where a command could write: snapshotted byte by byte. */
const scratch = path.join(work, 'scratch');
fs.mkdirSync(inputs);
fs.mkdirSync(scratch);
// --profile DIR compiles the profiles in it (issue 17); one with none is refused.
const noProfiles = path.join(inputs, 'no-profiles');
fs.mkdirSync(noProfiles);
const fifo = path.join(inputs, 'fifo.yaml');
spawnSync('mkfifo', [fifo]);
const huge = path.join(inputs, 'huge.yaml');
// 200 MiB, sparse: costs no disk, but a reader that trusts it reads 200 MiB.
fs.closeSync(fs.openSync(huge, 'w'));
fs.truncateSync(huge, 200 * 1024 * 1024);
const justOver = path.join(inputs, 'over.yaml');
fs.closeSync(fs.openSync(justOver, 'w'));
fs.truncateSync(justOver, MAX_INPUT_BYTES + 1);
const zeroLink = path.join(inputs, 'zero-link.yaml');
fs.symlinkSync('/dev/zero', zeroLink);
const OUT = path.join(scratch, 'out');
const EXAMPLE = fixture('profiles', 'example.yaml');

function inputStats() {
  return fs.readdirSync(inputs).sort().map((n) => {
    const st = fs.lstatSync(path.join(inputs, n));
    return [n, st.size, st.mtimeMs, st.mode];
  });
}

/** The CLI under a time limit (far above what a refusal takes on a loaded
 * machine, far below reading 200 MiB or hanging), with its peak memory. */
function run(args: string[]) {
  const r = spawnSync('/usr/bin/time', ['-f', 'maxrss-kib=%M', process.execPath, BIN, ...args], {
    cwd: scratch,
    encoding: 'utf8',
    timeout: 60_000,
    killSignal: 'SIGKILL',
  });
  const m = /maxrss-kib=(\d+)\s*$/.exec(r.stderr ?? '');
  return { code: r.status, signal: r.signal, stdout: r.stdout, stderr: (r.stderr ?? '').replace(/maxrss-kib=\d+\s*$/, ''), rssKiB: m ? Number(m[1]) : NaN };
}

const FLOW = ['--from', '198.51.100.7', '--to', '10.20.0.11', '--port', '22/tcp'];
const ENTRY_POINTS: Record<string, (f: string) => string[]> = {
  'compile --profile': (f) => ['compile', '--profile', f, '--out-dir', OUT],
  'compile --catalog': (f) => ['compile', '--profile', EXAMPLE, '--catalog', f, '--out-dir', OUT],
  'validate --profile': (f) => ['validate', '--profile', f],
  'lint --catalog': (f) => ['lint', '--profile', EXAMPLE, '--catalog', f],
  'explain --profile': (f) => ['explain', '--profile', f, ...FLOW],
  'diff NEW': (f) => ['diff', EXAMPLE, f],
  'diff --old-catalog': (f) => ['diff', EXAMPLE, EXAMPLE, '--old-catalog', f],
  'catalog import DOC': (f) => ['catalog', 'import', f],
  'catalog import --base': (f) => ['catalog', 'import', fixture('seeds', 'network-ports.md'), '--base', f],
  'catalog import --map': (f) => ['catalog', 'import', fixture('seeds', 'network-ports.md'), '--map', f],
  'verify --profile': (f) => ['verify', '--profile', f, '--target', 'nftables'],
};

const CASES: [string, string, RegExp][] = [
  ['/dev/zero', '/dev/zero', /^\/dev\/zero: error: cannot read file: it is a character device, not a regular file$/m],
  ['a link to /dev/zero', zeroLink, /zero-link\.yaml: error: cannot read file: it is a character device, not a regular file$/m],
  ['a FIFO with no writer', fifo, /fifo\.yaml: error: cannot read file: it is a FIFO \(named pipe\), not a regular file$/m],
  ['a directory with no profile in it', noProfiles, /no-profiles: error: cannot read file: it is a directory(, not a regular file| with no profile in it)$/m],
  ['a 200 MiB sparse file', huge, /huge\.yaml: error: input too large \(200\.0 MiB; the limit is 32\.0 MiB\)$/m],
  ['a file one byte over the limit', justOver, /over\.yaml: error: input too large \(more than 32\.0 MiB; the limit is 32\.0 MiB\)$/m],
];

for (const [what, file, message] of CASES)
  test(`${what} as any input: exit 2, a clear message, quickly, bounded memory, nothing written`, () => {
    for (const [entry, argv] of Object.entries(ENTRY_POINTS)) {
      const before = [snapshot(scratch), inputStats()];
      const r = run(argv(file));
      const where = `${entry} with ${what}`;
      assert.is(r.signal, null, `${where}: killed after the time limit (hung or read without bound)`);
      assert.is(r.code, 2, `${where}: exit ${r.code}\n${r.stderr}`);
      assert.match(r.stderr, message, where);
      assertNoStack(r.stderr);
      // Node alone takes ~50 MiB; reading the input would take hundreds.
      assert.ok(r.rssKiB < 150 * 1024, `${where}: peak memory ${r.rssKiB} KiB`);
      assert.equal([snapshot(scratch), inputStats()], before, `${where}: something was written`);
    }
  });

test('a file in /proc (size 0 on stat) is read to its end, then parsed', () => {
  const r = run(['validate', '--profile', '/proc/self/status']);
  assert.is(r.code, 2, r.stderr);
  assert.match(r.stderr, /^\/proc\/self\/status:\d+:\d+: error: /m);
  assertNoStack(r.stderr);
});

test('a profile of 10,000 nodes is far below the limit', () => {
  // eslint-disable-next-line @typescript-eslint/no-var-requires
  const { scaleProfile } = require(path.join(ROOT, 'bench', 'scale-profile.js')) as { scaleProfile: (n: number) => unknown };
  const p = scaleProfile(10_000);
  const text = typeof p === 'string' ? p : JSON.stringify(p);
  assert.ok(text.length * 20 < MAX_INPUT_BYTES, `${text.length} bytes`);
});

test.after(() => rmTree(work));

test.run();
