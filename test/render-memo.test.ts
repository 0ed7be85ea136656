// The renderers keep catalog-derived texts across renders (memoAcrossRenders
// in src/targets/base.ts): every environment of a many-profile run repeats
// them. A kept text must depend on nothing but its key. Here one process
// renders catalogs that share every table, row and rule id but word them
// differently, and profiles that differ in params, features and egress, in
// an interleaved order; each result must be what a fresh process gives.

import { spawnSync } from 'child_process';
import * as path from 'path';
import * as yaml from 'js-yaml';
import { createTwoFilesPatch } from 'diff';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { builtinCatalogText, compile, compileMany } from '../src/index';
import type { OutputEntry } from '../src/index';
import { ROOT } from './helpers/cli';
import * as fs from 'fs';

const EXAMPLE = fs.readFileSync(path.join(ROOT, 'fixtures', 'profiles', 'example.yaml'), 'utf8');

/** The built-in catalog with every human text changed (services, descriptions,
 * notes, headings, title) and every id, table and row kept. */
function reworded(tag: string): string {
  const doc = yaml.load(builtinCatalogText().text) as Record<string, unknown>;
  const walk = (v: unknown): unknown => {
    if (Array.isArray(v)) return v.map(walk);
    if (v === null || typeof v !== 'object') return v;
    return Object.fromEntries(
      Object.entries(v).map(([k, x]) => [k, typeof x === 'string' && ['service', 'description', 'note', 'heading', 'title'].includes(k) ? `${x} <${tag}> -- & "q"` : walk(x)]),
    );
  };
  return yaml.dump(walk(doc), { lineWidth: -1 });
}

const CATALOGS: [string, string | undefined][] = [
  ['built-in', undefined],
  ['reworded A', reworded('A')],
  ['reworded B', reworded('B')],
];

const PROFILES: [string, string][] = [
  ['example', EXAMPLE],
  ['other params', EXAMPLE.replace('smtp_port: 587', 'smtp_port: 25').replace('ldap_port: 636', 'ldap_port: 389').replace('20000-65535', '30000-40000')],
  ['support on, restrict', EXAMPLE.replace('support: false', 'support: true').replace('egress: allow', 'egress: restrict')],
  ['other environment', EXAMPLE.replace(/^environment: \S+/m, 'environment: elsewhere').replace(/10\.20\.0\./g, '10.99.0.')],
];

type Files = Record<string, string>;

function inProcess(catalog: string | undefined, profile: string): Files {
  const r = compile({ profile: { path: 'profile.yaml', text: profile }, catalog: catalog === undefined ? undefined : { path: 'catalog.yaml', text: catalog } });
  if (!r.ok) throw new Error(r.diagnostics.map((d) => d.message).join('; '));
  return Object.fromEntries(r.files.map((f: OutputEntry) => [f.path, f.content]));
}

/** The same compile in a process of its own: nothing kept from before. */
function fresh(catalog: string | undefined, profile: string): Files {
  const script = `
    const { compile } = require(${JSON.stringify(path.join(ROOT, 'build', 'src', 'index.js'))});
    const input = JSON.parse(require('fs').readFileSync(0, 'utf8'));
    const r = compile({ profile: { path: 'profile.yaml', text: input.profile }, catalog: input.catalog === null ? undefined : { path: 'catalog.yaml', text: input.catalog } });
    if (!r.ok) throw new Error('compile failed');
    process.stdout.write(JSON.stringify(Object.fromEntries(r.files.map((f) => [f.path, f.content]))));`;
  const r = spawnSync(process.execPath, ['-e', script], { input: JSON.stringify({ catalog: catalog ?? null, profile }), encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 });
  if (r.status !== 0) throw new Error(r.stderr);
  return JSON.parse(r.stdout) as Files;
}

function assertSame(got: Files, want: Files, what: string): void {
  assert.equal(Object.keys(got).sort(), Object.keys(want).sort(), `${what}: file list`);
  for (const [p, w] of Object.entries(want)) if (got[p] !== w) assert.unreachable(`${what}: ${p} differs from a fresh process's:\n${createTwoFilesPatch(`fresh/${p}`, `kept/${p}`, w, got[p]).slice(0, 3000)}`);
}

test('one process, catalogs worded differently and profiles in turn: every render is what a fresh process makes', () => {
  const want = new Map<string, Files>();
  for (const [cn, c] of CATALOGS) for (const [pn, p] of PROFILES) want.set(`${cn} / ${pn}`, fresh(c, p));
  // The reworded catalogs really change the texts (else the test proves nothing).
  assert.not.equal(want.get('built-in / example'), want.get('reworded A / example'));
  assert.not.equal(want.get('reworded A / example'), want.get('reworded B / example'));
  // Interleaved twice over: every kept text is met again under another catalog or profile.
  for (let round = 0; round < 2; round++)
    for (const [pn, p] of PROFILES)
      for (const [cn, c] of round ? [...CATALOGS].reverse() : CATALOGS) {
        const what = `${cn} / ${pn} (round ${round + 1})`;
        assertSame(inProcess(c, p), want.get(`${cn} / ${pn}`)!, what);
      }
});

test('a many-profile compile gives each environment what a compile of its own gives', () => {
  const profiles = PROFILES.map(([name, text], i) => ({ path: `p${i}.yaml`, text: text.replace(/^environment: \S+/m, `environment: env-${i}`), name }));
  const r = compileMany({ profiles: profiles.map(({ path: p, text }) => ({ path: p, text })), catalog: { path: 'catalog.yaml', text: reworded('M') } });
  if (!r.ok) throw new Error(r.diagnostics.map((d) => d.message).join('; '));
  profiles.forEach((p, i) => {
    const files = Object.fromEntries(r.environments[i].files.map((f) => [f.path.slice(f.path.indexOf('/') + 1), f.content]));
    const alone = Object.fromEntries(Object.entries(fresh(reworded('M'), p.text)).map(([k, v]) => [k.slice(k.indexOf('/') + 1), v]));
    assertSame(files, alone, p.name);
  });
});

test.run();
