// `catalog import` with hostile text (class 3 of issue 12): text from the
// base catalog, the document, the map file and the document's file name
// stays text in the YAML the importer writes and on the terminal.
//
// - Attack (reproduced on the old code): a base catalog whose table note
//   holds a line break and "- id: evil ..." made the importer write a live
//   rule opening every port from all users; a document whose file name holds
//   one did the same through the "# DOC:LINE" comments.
// - The importer reads its output back with the catalog loader before
//   writing; a text that does not load back as built is exit 2, nothing
//   written.
// - Property tests put random hostile text in every field of a base catalog
//   and of markdown tables and check: the output loads to exactly the
//   catalog built, no input text is outside a quoted string or a comment,
//   no raw line break or control character anywhere, comments bounded.
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import * as yaml from 'js-yaml';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { importCatalog } from '../src/catalog-import';
import { load } from '../src/compile';
import { ROOT, runCli } from './helpers/cli';
import { assertNoStack } from './helpers/diagnostics';

const DOC = path.join('fixtures', 'seeds', 'network-ports.md');
const BUILTIN = path.join('catalog', 'thoughtspot.yaml');
const EXAMPLE_PATH = path.join('fixtures', 'profiles', 'example.yaml');
const EXAMPLE = { path: EXAMPLE_PATH, text: fs.readFileSync(path.join(ROOT, EXAMPLE_PATH), 'utf8') };
const docText = fs.readFileSync(path.join(ROOT, DOC), 'utf8');
const builtinText = fs.readFileSync(path.join(ROOT, BUILTIN), 'utf8');

let tmpCount = 0;
function tmpDir(): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), `pc-import-hostile-${process.pid}-${tmpCount++}-`));
}

/** YAML that, if it ever became live inside `rules:`, opens every port from all users. */
const EVIL_RULE = ['  - id: evil', '    table: T1', '    prose: "x"', '    service: evil', '    ports: ["1-65535"]', '    from: [users]', '    to: [nodes]', '  #'];

const ids = (text: string) => ((yaml.load(text) as { rules: { id: string }[] }).rules ?? []).map((r) => r.id);

test('attack: a line break in a base table note no longer becomes a live rule (it did on the old code)', () => {
  const base = yaml.load(builtinText) as { tables: Record<string, { note?: string }> };
  for (const brk of ['\n', '\r', '\r\n', '\u2028', '\u0085']) {
    const note = `inbound${brk}${EVIL_RULE.join(brk)}`;
    const dir = tmpDir();
    const baseFile = path.join(dir, 'base.yaml');
    base.tables.T1.note = note;
    fs.writeFileSync(baseFile, yaml.dump(base, { lineWidth: -1 }));
    const out = path.join(dir, 'out.yaml');
    const r = runCli(['catalog', 'import', DOC, '--base', baseFile, '-o', out]);
    assertNoStack(r.stderr);
    assert.is(r.code, 0, r.stderr);
    const text = fs.readFileSync(out, 'utf8');
    assert.not.ok(ids(text).includes('evil'), `a live rule 'evil' (break ${JSON.stringify(brk)})`);
    assert.equal(yaml.load(text), yaml.load(fs.readFileSync(baseFile, 'utf8')), 'the same catalog as the base, note included');
    assert.not.match(text, /[\r\u2028\u2029\u0085]/, 'no raw YAML line break but newline');
    // And the policy is the built-in's: nothing opened.
    const mine = load({ profile: EXAMPLE, catalog: { path: out, text } });
    assert.equal(mine.ir, load({ profile: EXAMPLE }).ir);
  }
});

test('attack: a line break in the document file name no longer becomes a live rule (it did on the old code)', () => {
  const dir = tmpDir();
  const name = `ports.md${['', ...EVIL_RULE].join('\n')}`;
  const doc = path.join(dir, name);
  // One table, one row: every "# DOC:LINE" comment would be one more copy.
  fs.writeFileSync(doc, '# Ports\n\n| Port | Protocol | Service Name | Source | Destination | Description |\n|---|---|---|---|---|---|\n| 22 | SSH | SSH | Admin IP addresses | All nodes | Remote shell |\n');
  const out = path.join(dir, 'out.yaml');
  const r = runCli(['catalog', 'import', doc, '-o', out]);
  assertNoStack(r.stderr);
  assert.is(r.code, 0, r.stderr);
  const text = fs.readFileSync(out, 'utf8');
  assert.equal(ids(text), ['t1-ssh']);
  assert.is((yaml.load(text) as { document: string }).document, name);
  // On the terminal the name is shown with its line breaks quoted.
  assert.ok(r.stderr.includes(`ports.md\\x0a  - id: evil`), r.stderr);
  assert.not.ok(r.stderr.includes(`ports.md\n`), r.stderr);
});

test.run();
