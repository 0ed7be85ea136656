// Same input, same bytes; and the same policy, however it is typed, gives the
// same bytes. The variants of the example profile are in
// fixtures/profiles/variants/ (each says in a comment how it differs).

import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';
import * as yaml from 'js-yaml';
import { createTwoFilesPatch } from 'diff';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { compile } from '../src/index';
import type { OutputEntry } from '../src/index';
import { BIN, fixture, ROOT, runCli } from './helpers/cli';
import { readTree, rmTree, tmpDir } from './helpers/tree';

const EXAMPLE = fixture('profiles', 'example.yaml');
const VARIANTS = path.join(ROOT, 'fixtures', 'profiles', 'variants');

function read(file: string): string {
  return fs.readFileSync(file, 'utf8');
}

/** Every target's files, via the library, as one comparable map. */
function outputs(profileText: string, profilePath = 'profile.yaml', catalogText?: string): Map<string, string> {
  const r = compile({ profile: { path: profilePath, text: profileText }, catalog: catalogText ? { path: 'catalog.yaml', text: catalogText } : undefined });
  if (!r.ok) throw new Error(`${profilePath}: ${r.diagnostics.map((d) => `${d.pos?.line}:${d.pos?.col} ${d.message}`).join('; ')}`);
  return new Map(r.files.map((f: OutputEntry) => [f.path, f.content]));
}

function assertSameFiles(actual: Map<string, string>, expected: Map<string, string>, what: string): void {
  assert.equal([...actual.keys()].sort(), [...expected.keys()].sort(), `${what}: file list`);
  for (const [p, want] of expected) {
    const got = actual.get(p)!;
    if (got !== want) assert.unreachable(`${what}: ${p} differs:\n${createTwoFilesPatch(`expected/${p}`, `actual/${p}`, want, got)}`);
  }
}

test('two compiles into two directories write identical trees (every target)', () => {
  const work = tmpDir();
  try {
    const a = path.join(work, 'a');
    const b = path.join(work, 'b');
    for (const out of [a, b]) {
      const r = runCli(['compile', '--profile', EXAMPLE, '--target', 'all', '--out-dir', out]);
      assert.is(r.code, 0, r.stderr);
    }
    const ta = readTree(a);
    assert.ok(ta.has('prod-east/nftables/portcullis.nft'), [...ta.keys()].join(' '));
    assertSameFiles(readTree(b), ta, 'second compile');
  } finally {
    rmTree(work);
  }
});

test('compiling again over the same directory changes no byte', () => {
  const work = tmpDir();
  try {
    assert.is(runCli(['compile', '--profile', EXAMPLE, '--out-dir', work]).code, 0);
    const first = readTree(work);
    assert.is(runCli(['compile', '--profile', EXAMPLE, '--out-dir', work]).code, 0);
    assertSameFiles(readTree(work), first, 'recompile');
  } finally {
    rmTree(work);
  }
});

test('the same bytes from another working directory, time zone, locale and clock', () => {
  const base = runCli(['compile', '--profile', EXAMPLE, '--target', 'all', '--stdout']);
  assert.is(base.code, 0, base.stderr);
  const work = tmpDir();
  try {
    const r = spawnSync(process.execPath, [BIN, 'compile', '--profile', EXAMPLE, '--target', 'all', '--stdout'], {
      cwd: work,
      encoding: 'utf8',
      env: { ...process.env, TZ: 'Pacific/Kiritimati', LANG: 'tr_TR.UTF-8', LC_ALL: 'tr_TR.UTF-8', SOURCE_DATE_EPOCH: '1' },
    });
    assert.is(r.status, 0, r.stderr);
    if (r.stdout !== base.stdout) assert.unreachable(createTwoFilesPatch('cwd=repo', `cwd=${work}`, base.stdout, r.stdout));
  } finally {
    rmTree(work);
  }
});

test('the output holds no timestamp, host name, user or absolute path', () => {
  const r = runCli(['compile', '--profile', EXAMPLE, '--target', 'all', '--stdout']);
  assert.is(r.code, 0, r.stderr);
  // (Dates as such are fine: ARM templates carry apiVersion "2024-05-01".)
  assert.not.match(r.stdout, /\b\d{4}-\d\d-\d\d[T ]\d\d:\d\d/, 'a timestamp');
  assert.not.match(r.stdout, /\b\d\d:\d\d:\d\d\b/, 'a time of day');
  assert.not.ok(r.stdout.includes(new Date().toISOString().slice(0, 10)), "today's date");
  assert.not.ok(r.stdout.includes(ROOT), 'the checkout path');
  const host = require('os').hostname();
  if (host.length > 3) assert.not.ok(r.stdout.includes(host), 'the host name');
});

const variantFiles = fs.readdirSync(VARIANTS).sort();

test('the variants directory holds the expected variants', () => {
  assert.equal(variantFiles, ['comments.yaml', 'defaults.yaml', 'example.json', 'notation.yaml', 'reordered.yaml']);
});

for (const name of variantFiles) {
  test(`variant ${name}: identical bytes to the example profile (CLI, every target)`, () => {
    const want = runCli(['compile', '--profile', EXAMPLE, '--target', 'all', '--stdout']);
    const got = runCli(['compile', '--profile', path.join(VARIANTS, name), '--target', 'all', '--stdout']);
    assert.is(want.code, 0, want.stderr);
    assert.is(got.code, 0, got.stderr);
    if (got.stdout !== want.stdout) assert.unreachable(createTwoFilesPatch('example.yaml', name, want.stdout, got.stdout));
  });
}

test('CRLF line endings and a byte-order mark change nothing', () => {
  const text = read(EXAMPLE);
  const want = outputs(text);
  assertSameFiles(outputs(text.replace(/\n/g, '\r\n')), want, 'CRLF');
  assertSameFiles(outputs('\ufeff' + text), want, 'BOM');
});

/** A small deterministic PRNG (mulberry32), so shuffles are reproducible. */
function rng(seed: number): () => number {
  return () => {
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function shuffle<T>(xs: T[], rand: () => number): T[] {
  const a = [...xs];
  for (let i = a.length - 1; i > 0; i--) {
    const j = Math.floor(rand() * (i + 1));
    [a[i], a[j]] = [a[j], a[i]];
  }
  return a;
}

function shuffleKeys(o: Record<string, unknown>, rand: () => number): Record<string, unknown> {
  return Object.fromEntries(shuffle(Object.entries(o), rand));
}

test('shuffled profiles (keys and lists, 20 seeds) give identical bytes', () => {
  const base = yaml.load(read(EXAMPLE)) as Record<string, unknown>;
  const want = outputs(read(EXAMPLE));
  for (let seed = 1; seed <= 20; seed++) {
    const rand = rng(seed);
    const groups = Object.fromEntries(Object.entries(base.groups as Record<string, string[]>).map(([k, v]) => [k, shuffle(v, rand)]));
    const p: Record<string, unknown> = { ...base, groups: shuffleKeys(groups, rand) };
    for (const k of ['params', 'features', 'terraform', 'azure']) p[k] = shuffleKeys(p[k] as Record<string, unknown>, rand);
    const text = seed % 2 ? yaml.dump(shuffleKeys(p, rand)) : JSON.stringify(shuffleKeys(p, rand), null, 1);
    assertSameFiles(outputs(text, seed % 2 ? 'p.yaml' : 'p.json'), want, `seed ${seed}`);
  }
});

test('the built-in catalog with its rules, groups and features shuffled gives identical bytes', () => {
  const catalogText = read(path.join(ROOT, 'catalog', 'thoughtspot.yaml'));
  const cat = yaml.load(catalogText) as Record<string, unknown>;
  const want = outputs(read(EXAMPLE));
  assertSameFiles(outputs(read(EXAMPLE), 'p.yaml', catalogText), want, 'catalog passed explicitly');
  for (let seed = 1; seed <= 5; seed++) {
    const rand = rng(100 + seed);
    const shuffled = {
      ...cat,
      rules: shuffle(cat.rules as unknown[], rand),
      groups: shuffleKeys(cat.groups as Record<string, unknown>, rand),
      features: shuffleKeys(cat.features as Record<string, unknown>, rand),
      params: shuffleKeys(cat.params as Record<string, unknown>, rand),
    };
    assertSameFiles(outputs(read(EXAMPLE), 'p.yaml', yaml.dump(shuffled)), want, `catalog shuffle ${seed}`);
  }
});

test('a real change of policy does change the bytes (the comparison is not vacuous)', () => {
  const want = outputs(read(EXAMPLE));
  const changed = outputs(read(EXAMPLE).replace('10.20.0.13', '10.20.0.14'));
  assert.not.equal(changed.get('prod-east/nftables/portcullis.nft'), want.get('prod-east/nftables/portcullis.nft'));
});

test.run();
