// Hostile input shapes, generated (too big or too many for fixtures), through
// the real CLI: node runs with a 256 MiB heap, so a blow-up is a crash and
// not a slow pass, and a generous hang guard (not a timing assertion). Every
// case: exit 2, FILE:LINE:COL at the expected place, no stack trace, stderr
// of bounded size and terminal-safe, nothing written (a compile into a
// fresh --out-dir creates nothing). Small hostile fixtures are in
// errors.test.ts.

import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { BIN, ROOT, Run } from './helpers/cli';
import { assertNoStack, assertTerminalSafe, parseDiagnostics, shownLine } from './helpers/diagnostics';
import { listing, rmTree } from './helpers/tree';
import { compile } from '../src/index';
import { MAX_VALUES } from '../src/load/yaml';

const work = fs.mkdtempSync(path.join(os.tmpdir(), `pc-hostile-loader-${process.pid}-`));
test.after(() => rmTree(work));

function run(args: string[]): Run {
  const r = spawnSync(process.execPath, ['--max-old-space-size=256', BIN, ...args], { cwd: ROOT, encoding: 'utf8', timeout: 60_000, maxBuffer: 64 * 1024 * 1024 });
  assert.ok(!r.error && r.signal === null, `portcullis ${args.join(' ').slice(0, 200)} did not finish: ${r.error?.message ?? r.signal}`);
  return { code: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
}

const BASE = 'environment: lab\ngroups:\n  admins: [192.0.2.1]\n';

interface Want {
  line: number;
  /** The column, or an inclusive range where js-yaml's count is internal. */
  col: number | [number, number];
  message: string | RegExp;
  /** How many errors the summary line must count (default 1). */
  count?: number;
}

/** Writes `text` (or bytes) as a profile in a directory of its own, checks
 * validate and compile (into a fresh --out-dir there); returns validate's
 * stderr. */
function check(name: string, text: string | Buffer, want: Want, maxStderr = 8192): string {
  const dir = fs.mkdtempSync(path.join(work, 'case-'));
  try {
    const file = path.join(dir, name);
    fs.writeFileSync(file, text);
    const v = run(['validate', '--profile', file]);
    const c = run(['compile', '--profile', file, '--target', 'all', '--out-dir', path.join(dir, 'out')]);
    for (const r of [v, c]) {
      assert.is(r.code, 2, `exit code of ${name}; stderr:\n${r.stderr.slice(0, 3000)}`);
      assert.is(r.stdout, '');
      assertNoStack(r.stderr);
      assertTerminalSafe(r.stderr);
      assert.ok(r.stderr.length <= maxStderr, `${name}: stderr of ${r.stderr.length} characters:\n${r.stderr.slice(0, 3000)}`);
      const ds = parseDiagnostics(r.stderr);
      assert.ok(ds.length >= 1, `${name}: no diagnostic:\n${r.stderr.slice(0, 3000)}`);
      const d = ds[0];
      assert.is(d.file, shownLine(file), 'the file name, control characters quoted');
      assert.is(d.line, want.line, `${name}: line; stderr:\n${r.stderr.slice(0, 3000)}`);
      if (typeof want.col === 'number') assert.is(d.col, want.col, `${name}: column; stderr:\n${r.stderr.slice(0, 3000)}`);
      else assert.ok(d.col >= want.col[0] && d.col <= want.col[1], `${name}: column ${d.col} not in ${want.col}`);
      assert.ok(typeof want.message === 'string' ? d.message.includes(want.message) : want.message.test(d.message), `${name}: message ${d.message.slice(0, 300)}`);
      const n = want.count ?? 1;
      assert.match(r.stderr, new RegExp(`^${n} error${n === 1 ? '' : 's'}; nothing written\\.$`, 'm'));
    }
    assert.equal(listing(dir), [name], `${name}: nothing written (no --out-dir, nothing beside the input)`);
    return v.stderr;
  } finally {
    rmTree(dir);
  }
}

// The flow collection at depth 101 (the root mapping is depth 1).
test('100,000 nested flow sequences: positioned error, no stack overflow', () => {
  check('deep-seq.yaml', BASE + 'egress: ' + '['.repeat(100_000) + '\n', { line: 4, col: 9 + 99, message: 'nesting exceeded maxDepth (100)' });
});

test('100,000 nested flow mappings', () => {
  check('deep-map.yaml', BASE + 'egress: ' + '{a: '.repeat(100_000) + '\n', { line: 4, col: 9 + 4 * 98 + 1, message: 'nesting exceeded maxDepth (100)' });
});

// js-yaml counts a few more levels for entries of flow mappings: the error is
// on one of the last brackets before depth 100.
test('JSON nested 100,000 deep', () => {
  check('deep.json', '{"environment": "lab", "groups": {"admins": ' + '['.repeat(100_000) + '\n', { line: 1, col: [46 + 90, 46 + 99], message: 'nesting exceeded maxDepth (100)' });
});

test('block sequences nested 150 deep', () => {
  let text = BASE + 'egress:\n';
  for (let i = 1; i <= 150; i++) text += ' '.repeat(i) + '-\n';
  // The sequence on line 4 + i (i spaces, then '-') is at depth i + 1.
  const stderr = check('deep-block.yaml', text, { line: 4 + 100, col: 101, message: 'nesting exceeded maxDepth (100)' });
  assert.match(stderr, /maxDepth/);
});

test('a 1 MiB key: the message quotes a bounded part of it', () => {
  const key = 'k'.repeat(1 << 20);
  const stderr = check('big-key.yaml', BASE + key + ': 1\n', { line: 4, col: 1, message: /^unknown key 'k{50,60}…' in the document$/ });
  assert.ok(stderr.length < 2000, `stderr of ${stderr.length} characters`);
});

test('a 1 MiB quoted key of escapes: bounded and quoted', () => {
  check('big-escape-key.yaml', BASE + 'groups2: 1\n"' + '\\e[2J'.repeat(200_000) + '": 1\n', { line: 4, col: 1, message: "unknown key 'groups2'", count: 2 });
});

test('a 8 MiB string value: message and quoted line stay short', () => {
  const stderr = check('long-line.yaml', BASE + 'egress: "' + 'x'.repeat(8 << 20) + '"\n', { line: 4, col: 9, message: /^'egress' must be one of 'allow', 'restrict', not string "x+…" \(8388608 characters\)$/ });
  const src = /^ {2}4 \| (.*)$/m.exec(stderr);
  assert.ok(src && src[1].length <= 170, 'the long line is shown as a window');
});

test('an integer of 100,000 digits', () => {
  const stderr = check('huge-int.yaml', BASE + 'params:\n  smtp_port: ' + '9'.repeat(100_000) + '\n', { line: 5, col: 14, message: /'params\.smtp_port' has an invalid value .*…/ });
  assert.ok(stderr.length < 2000);
});

test(`a million tiny keys: stopped past ${MAX_VALUES} values, at the value that goes over`, () => {
  let text = BASE;
  for (let i = 0; i < 1_000_000; i++) text += `k${i}: 1\n`;
  // BASE holds 8 values (the root mapping, 3 keys, a mapping, a list, an
  // address, 'lab'); line k adds key number 9 + 2k and its value: the parse
  // stops at value MAX_VALUES + 1.
  const over = MAX_VALUES + 1;
  const k = Math.floor((over - 9) / 2);
  const col = (over - 9) % 2 === 0 ? 1 : `k${k}: `.length + 1;
  check('many-keys.yaml', text, { line: 4 + k, col, message: `the document holds more than ${MAX_VALUES} values` });
});

test('5,000 unknown keys: 50 listed, the rest counted', () => {
  let text = BASE;
  for (let i = 0; i < 5000; i++) text += `k${i}: 1\n`;
  const stderr = check('unknown-keys.yaml', text, { line: 4, col: 1, message: "unknown key 'k0'", count: 5000 }, 32 * 1024);
  assert.is(parseDiagnostics(stderr).length, 50);
  assert.match(stderr, /^… and 4950 more not shown$/m);
});

test('30,000 bad addresses (a large document): 50 listed, every one counted', () => {
  const list = Array.from({ length: 30_000 }, (_, i) => `300.0.${i >> 8}.${i & 255}`).join(', ');
  const stderr = check('bad-addresses.yaml', `environment: lab\ngroups:\n  admins: [${list}]\n`, { line: 3, col: 12, message: "'300.0.0.0' is not an IP address", count: 30_000 }, 32 * 1024);
  assert.match(stderr, /^… and 29950 more not shown$/m);
});

test('32 MiB of text (the input cap): answers with the error at its end', () => {
  const text = BASE + '# ' + 'c'.repeat(32 * 1024 * 1024 - 200) + '\negres: allow\n';
  check('big32.yaml', text, { line: 5, col: 1, message: "unknown key 'egres'" });
});

test('a 32 MiB string value', () => {
  const text = BASE + 'egress: "' + 'y'.repeat(32 * 1024 * 1024 - 200) + '"\n';
  check('big32-string.yaml', text, { line: 4, col: 9, message: /not string "y+…" \(33554232 characters\)/ });
});

test('invalid UTF-8 and an escaped lone surrogate: positioned, shown as text', () => {
  check('bad-utf8.yaml', Buffer.concat([Buffer.from(BASE + 'egress: '), Buffer.from([0xff, 0xfe, 0xc3]), Buffer.from('\n')]), { line: 4, col: 9, message: "'egress' must be one of" });
  check('surrogate.yaml', BASE + 'egress: "\\ud800"\n', { line: 4, col: 9, message: String.raw`not string "\ud800"` });
});

test('CRLF line endings with control characters: same positions, no raw CR or ESC', () => {
  const text = fs.readFileSync(path.join(ROOT, 'fixtures/profiles/bad/control-chars.yaml'), 'utf8').replace(/\n/g, '\r\n');
  check('crlf-controls.yaml', text, { line: 6, col: 3, message: String.raw`'\x1b[2J\x1b]0;owned\x07\x9b31m\u202eevil' is not a valid name`, count: 3 });
});

test('a file name carrying terminal escapes is shown quoted', () => {
  const stderr = check('evil-\x1b]0;title\x07-\u202e.yaml', BASE + 'egres: allow\n', { line: 4, col: 1, message: "unknown key 'egres'" });
  assert.match(stderr, /evil-\\x1b\]0;title\\x07-\\u202e\.yaml:4:1: error:/);
});

// Real documents keep working: anchors reused, and the bench's largest profile.
test('a profile reusing an anchored address list compiles', () => {
  const file = path.join(work, 'anchors.yaml');
  const ops = Array.from({ length: 200 }, (_, i) => `198.51.100.${i}`).join(', ');
  fs.writeFileSync(file, `environment: lab\ngroups:\n  admins: &ops [${ops}]\n  support: *ops\n  nodes: [10.0.0.1]\n  users: *ops\n`);
  const r = run(['validate', '--profile', file]);
  assert.is(r.code, 0, r.stderr);
  fs.rmSync(file);
});

test('the bench profile of 100,000 nodes (about 210,000 values) validates within the heap', () => {
  // eslint-disable-next-line @typescript-eslint/no-var-requires
  const { scaleProfile } = require(path.join(ROOT, 'bench', 'scale-profile.js')) as { scaleProfile: (n: number) => string };
  const file = path.join(work, 'scale.yaml');
  fs.writeFileSync(file, scaleProfile(100_000));
  const r = run(['validate', '--profile', file]);
  assert.is(r.code, 0, r.stderr.slice(0, 2000));
  fs.rmSync(file);
});

// The library API takes text: what the file reader would never produce
// (lone surrogates, NUL, a BOM mid-text) reaches the parser this way.
test('library API: hostile text gives diagnostics, never an exception', () => {
  const texts = [
    BASE + 'egress: \ud800\n',
    BASE + 'egress: a\u0000b\n',
    BASE + '\ufeffegress: allow\n',
    '\ufeff\ufeff' + BASE,
    BASE + '---\n' + BASE,
    BASE + 'x: &x [' + '*x, '.repeat(10) + ']\n',
  ];
  for (const text of texts) {
    const r = compile({ profile: { path: 'api.yaml', text }, targets: ['nftables'] });
    assert.is(r.ok, false, JSON.stringify(text.slice(-40)));
    if (!r.ok) {
      assert.ok(r.diagnostics.length >= 1);
      for (const d of r.diagnostics) assert.ok(d.pos && d.pos.line >= 1 && d.pos.col >= 1, `positioned: ${d.message}`);
    }
  }
});

test.run();
