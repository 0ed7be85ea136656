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
import fc from 'fast-check';
import * as yaml from 'js-yaml';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { importCatalog } from '../src/catalog-import';
import { checkReadsBack } from '../src/catalog-import/import';
import { COMMENT_WIDTH } from '../src/catalog-import/emit';
import { load } from '../src/compile';
import { CompileError, SourceText } from '../src/diagnostics';
import { loadCatalog } from '../src/load/catalog';
import { ROOT, runCli } from './helpers/cli';
import { assertNoStack, parseDiagnostics } from './helpers/diagnostics';

const DOC = path.join('fixtures', 'seeds', 'network-ports.md');
const BUILTIN = path.join('catalog', 'thoughtspot.yaml');
const EXAMPLE_PATH = path.join('fixtures', 'profiles', 'example.yaml');
const EXAMPLE = { path: EXAMPLE_PATH, text: fs.readFileSync(path.join(ROOT, EXAMPLE_PATH), 'utf8') };
const docText = fs.readFileSync(path.join(ROOT, DOC), 'utf8');
const builtinText = fs.readFileSync(path.join(ROOT, BUILTIN), 'utf8');

const tmpDirs: string[] = [];
function tmpDir(): string {
  const d = fs.mkdtempSync(path.join(os.tmpdir(), `pc-import-hostile-${process.pid}-`));
  tmpDirs.push(d);
  return d;
}
test.after(() => {
  for (const d of tmpDirs) fs.rmSync(d, { recursive: true, force: true });
});

/** YAML that, if it ever became live inside `rules:`, opens every port from all users. */
const EVIL_RULE = ['  - id: evil', '    table: T1', '    prose: "x"', '    service: evil', '    ports: ["1-65535"]', '    from: [users]', '    to: [nodes]', '  #'];

/** The rule ids of a catalog text (which must be valid YAML). */
function ids(text: string): string[] {
  let data: { rules?: { id: string }[] };
  try {
    data = yaml.load(text, { schema: yaml.CORE_SCHEMA }) as typeof data;
  } catch (e) {
    assert.unreachable(`the importer wrote a catalog that is not YAML: ${(e as Error).message.split('\n')[0]}`);
    throw e;
  }
  return (data.rules ?? []).map((r) => r.id);
}

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

test('attack: a line break in the document file name no longer corrupts the catalog (the old code wrote one that is not YAML, exit 0)', () => {
  const dir = tmpDir();
  const name = `ports.md${['', ...EVIL_RULE].join('\n')}`;
  const doc = path.join(dir, name);
  // One table, one row: every "# DOC:LINE" comment would be one more copy.
  fs.writeFileSync(doc, '# Ports\n\n| Port | Protocol | Service Name | Source | Destination | Description |\n|---|---|---|---|---|---|\n| 22 | SSH | SSH | Admin IP addresses | All nodes | Remote shell |\n');
  // The -o name too: it is never written into the catalog, and shown quoted.
  const out = path.join(dir, 'out\n#\x1b[2J.yaml');
  const r = runCli(['catalog', 'import', doc, '-o', out]);
  assertNoStack(r.stderr);
  assert.is(r.code, 0, r.stderr);
  const text = fs.readFileSync(out, 'utf8');
  assert.equal(ids(text), ['t1-ssh']);
  assert.is((yaml.load(text) as { document: string }).document, name);
  assert.ok(loadCatalog(new SourceText(out, text)), 'the loader accepts it');
  // On the terminal the names are shown with their line breaks quoted.
  assert.ok(r.stderr.includes(`ports.md\\x0a  - id: evil`), r.stderr);
  assert.ok(r.stderr.includes(`wrote ${dir}/out\\x0a#\\x1b[2J.yaml`), r.stderr);
  assert.not.ok(r.stderr.includes(`ports.md\n`), r.stderr);
  assert.not.ok(r.stderr.includes('\x1b'), 'no raw ESC on the terminal');
  assertStructure(text);
});

// ---- what every output must be ------------------------------------------------

/** Characters that must never appear raw in the catalog text: C0 but
 * newline, DEL, C1 (U+0085 among them), U+2028/2029, bidi controls, BOM,
 * non-characters, lone surrogates. */
// eslint-disable-next-line no-control-regex
const RAW_UNSAFE = /[\u0000-\u0009\u000b-\u001f\u007f-\u009f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069\ufeff\ufffe\uffff]|[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/;

/** Each line of the text with its double-quoted strings replaced by "" and
 * its comment removed: what is left is the YAML structure, which may hold
 * only keys, identifiers, numbers and flow punctuation, never input text. */
function structureLines(text: string): string[] {
  const out: string[] = [];
  text.split('\n').forEach((line, n) => {
    let s = '';
    for (let i = 0; i < line.length; i++) {
      const c = line[i];
      if (c === '"') {
        let j = i + 1;
        while (j < line.length && line[j] !== '"') j += line[j] === '\\' ? 2 : 1;
        assert.ok(j < line.length, `line ${n + 1}: a string that does not end on its line: ${JSON.stringify(line)}`);
        s += '""';
        i = j;
      } else if (c === '#' && (i === 0 || line[i - 1] === ' ')) {
        assert.ok(line.length <= COMMENT_WIDTH, `line ${n + 1}: a comment line longer than ${COMMENT_WIDTH}: ${line.length}`);
        break;
      } else s += c;
    }
    if (s.trim()) out.push(s.trimEnd());
  });
  return out;
}

function assertStructure(text: string): void {
  const bad = RAW_UNSAFE.exec(text);
  assert.not.ok(bad, `a raw ${JSON.stringify(bad?.[0])} at offset ${bad?.index}`);
  for (const l of structureLines(text)) {
    assert.match(l, /^( {2}| {4}| {6})?(- )?([a-z_][a-z0-9_]*|[A-Z][A-Za-z0-9]{0,7}): ?[\][{}, :A-Za-z0-9_./"-]*$|^ {6}- ""$/, `input text outside a string or comment: ${JSON.stringify(l)}`);
  }
}

// ---- the check before writing -------------------------------------------------

test('the importer reads its text back before writing: a text that is not the catalog built is refused (exit 2, nothing written)', () => {
  const r = importCatalog({ doc: { path: DOC, text: docText }, base: { path: BUILTIN, text: builtinText } });
  const built = yaml.load(r.yaml);
  checkReadsBack(r.yaml, built, [], DOC);
  // What an unescaped note used to do: one more rule; or a value changed.
  const withRule = r.yaml.replace('\n  # T2: ', `\n${EVIL_RULE.slice(0, -1).join('\n')}\n\n  # T2: `);
  const withValue = r.yaml.replace('heading: "Required ports for operations and debugging"', 'heading: "Required ports"');
  for (const [tampered, at] of [[withRule, '/rules'], [withValue, '/tables/T1/heading']]) {
    assert.is.not(tampered, r.yaml, 'test setup');
    try {
      checkReadsBack(tampered, built, [], DOC);
      assert.unreachable('accepted');
    } catch (e) {
      assert.instance(e, CompileError);
      assert.is((e as CompileError).diagnostics[0].message, `the catalog imported from this document does not read back as the catalog built (at ${at}); nothing written`);
    }
  }
});

test('with undecided rows, the loader may fail only inside them: an error elsewhere is refused', () => {
  const r = importCatalog({ doc: { path: DOC, text: docText } });
  assert.is(r.undecided, 3);
  const built = yaml.load(r.yaml);
  const spans = undecidedSpans(r.yaml);
  checkReadsBack(r.yaml, built, spans, DOC);
  // A group without a valid default, outside the undecided rules.
  const tampered = r.yaml.replace('\ngroups:\n', '\ngroups:\n  evil: { default: ["not an address"] }\n');
  try {
    checkReadsBack(tampered, { ...(built as object), groups: { evil: { default: ['not an address'] }, ...(built as { groups: object }).groups } }, undecidedSpans(tampered), DOC);
    assert.unreachable('accepted');
  } catch (e) {
    assert.instance(e, CompileError);
    const ds = (e as CompileError).diagnostics;
    assert.is(ds[0].message, 'the catalog imported from this document does not load as a catalog, apart from its undecided rules; nothing written');
    // Positioned in the text as it would have been written.
    assert.equal(
      ds.slice(1).map((d) => [d.pos?.line, d.sourceLine, d.message]),
      [[tampered.split('\n').indexOf('  evil: { default: ["not an address"] }') + 1, '  evil: { default: ["not an address"] }', ds[1].message]],
    );
    assert.match(ds[1].message, /not an address/);
  }
});

/** Lines [first, last] of each rule with an undecided key, as the importer
 * reports them to checkReadsBack. */
function undecidedSpans(text: string): [number, number][] {
  const lines = text.split('\n');
  const spans: [number, number][] = [];
  lines.forEach((l, i) => {
    if (!l.startsWith('  - id: ')) return;
    let j = i + 1;
    while (j < lines.length && lines[j].startsWith('    ')) j++;
    if (lines.slice(i, j).some((x) => x.startsWith('    undecided:'))) spans.push([i + 1, j]);
  });
  return spans;
}

test('a bad --map param is a positioned error in the map file: exit 2, the -o file untouched, no temporary file', () => {
  const dir = tmpDir();
  const map = path.join(dir, 'map.yaml');
  const line = '  smtp_port: { kind: port, choices: [25, 587], default: 99999, colour: "red" }';
  fs.writeFileSync(map, `ports:\n  "25 or 587": smtp_port\nparams:\n${line}\n`);
  const out = path.join(dir, 'out.yaml');
  fs.writeFileSync(out, 'previous\n');
  for (const args of [['-o', out], []]) {
    const r = runCli(['catalog', 'import', DOC, '--map', map, ...args]);
    assertNoStack(r.stderr);
    assert.is(r.code, 2, r.stderr);
    assert.is(r.stdout, '', 'nothing on stdout either');
    const ds = parseDiagnostics(r.stderr);
    assert.equal(
      ds.map((d) => [d.file, d.line, d.col, d.message]),
      [
        [map, 4, line.indexOf('99999') + 1, "param 'smtp_port' needs a default: a port 1-65535 or a range 'LO-HI'"],
        [map, 4, line.indexOf('colour') + 1, "unknown key 'colour' in param 'smtp_port'"],
      ],
    );
    assert.match(r.stderr, /2 errors; nothing written\.\n$/);
  }
  assert.is(fs.readFileSync(out, 'utf8'), 'previous\n', '-o file untouched');
  assert.equal(fs.readdirSync(dir).sort(), ['map.yaml', 'out.yaml'], 'no temporary file');
});

// ---- the terminal -------------------------------------------------------------

test('diagnostics quote control characters of the document visibly, with the caret under the cell', () => {
  const dir = tmpDir();
  const doc = path.join(dir, 'p\x1b]0;pwned\x07.md');
  const row = '| 22 | ssh\x1b]0;x\x07 | \x1b[8mEvil\x1b[0m "hosts" #1 | All nodes |';
  fs.writeFileSync(doc, `# P\n\n| TCP Port | Service Name | Source | Destination |\n|---|---|---|---|\n${row}\n`);
  const r = runCli(['catalog', 'import', doc]);
  assertNoStack(r.stderr);
  assert.is(r.code, 2);
  assert.not.match(r.stderr, /[\x00-\x09\x0b-\x1f\x7f-\x9f\u202a-\u202e]/, 'no raw control character on the terminal');
  const ds = parseDiagnostics(r.stderr);
  assert.is(ds.length, 1, r.stderr);
  const d = ds[0];
  assert.is(d.file, `${dir}/p\\x1b]0;pwned\\x07.md`);
  assert.equal([d.line, d.col], [5, row.indexOf('\x1b[8mEvil') + 1], 'the real line and column');
  assert.match(d.message, /^T1 row 1, Source '\\x1b\[8mEvil\\x1b\[0m "hosts" #1': no group for the phrase '\\x1b\[8mEvil\\x1b\[0m "hosts" #1'/);
  assert.is(d.caretCol, d.source!.indexOf('\\x1b[8mEvil') + 1, 'the caret under the cell as shown');
  // The hint's YAML is YAML: it maps exactly the phrase.
  const snippet = /groups: (\{ .* \})/.exec(d.hint!)![1].replace(/\\x1b/g, '\x1b');
  assert.equal(Object.keys(yaml.load(snippet) as object), ['\x1b[8mEvil\x1b[0m "hosts" #1']);
});

// ---- property tests -----------------------------------------------------------

const SEED = Number(process.env.PROPERTY_SEED ?? 20261201);
const RUNS = Number(process.env.PROPERTY_RUNS ?? 150);

/** Pieces of hostile text: every YAML line break, controls (ESC, OSC, CSI,
 * C1), bidi marks, BOM, non-characters, YAML indicators and keywords. */
const FRAGMENTS = [
  '\n', '\r', '\r\n', '\u0085', '\u2028', '\u2029', '\t', '\u000b', '\u000c', '\u0000', '\u0007', '\u001b', '\u001b]0;t\u0007', '\u001b[2J', '\u007f', '\u009b',
  '\u202e', '\u2066', '\u200f', '\ufeff', '\ufffe', '\uffff', '"', "'", '\\', '\\"', '#', ' #', '&a', '*a', '!tag', '!!str', '%YAML 1.2', '@', '`', '{', '}', '[', ']',
  ',', ': ', ' - ', '- ', '? ', '|', '>', '---', '...', '~', 'null', 'true', 'No', '0x1F', '1e3', '.inf', '<<: *a', '- id: evil', ' ', 'é', '\u{1f600}', 'x'.repeat(400),
];

function hostile(opts: { exclude?: RegExp } = {}): fc.Arbitrary<string> {
  return fc
    .array(fc.oneof({ weight: 3, arbitrary: fc.constantFrom(...FRAGMENTS) }, { weight: 1, arbitrary: fc.string({ maxLength: 6, unit: 'binary' }) }), { minLength: 1, maxLength: 10 })
    .map((parts) => {
      let s = parts.join('');
      if (opts.exclude) s = s.replace(opts.exclude, '');
      return s;
    });
}

/** A markdown table cell: no pipe, no line feed; as the parser reads it
 * (trimmed, not ending in a backslash that would escape the next pipe). */
const cellText = hostile({ exclude: /[|\n\ud800-\udfff]/g }).map((s) => {
  const t = s.trim();
  return !t ? 'x' : t.endsWith('\\') ? `${t}x` : t;
});
/** A heading: one line (no line terminator), trimmed, not ending in '#'. */
const headingText = hostile({ exclude: /[\n\r\u2028\u2029\ud800-\udfff]/g }).map((s) => {
  const t = s.trim();
  return !t ? 'x' : t.endsWith('#') || t.endsWith('\\') ? `${t}x` : t;
});
/** A front-matter title: one line, and not starting or ending in a quote,
 * a bracket or a space (the reader strips them). */
const titleText = headingText.map((t) => `T${t}T`);
/** A file name: anything but '/' and NUL. */
const fileName = hostile({ exclude: /[/\u0000\ud800-\udfff]/g }).map((s) => (s === '.' || s === '..' || !s ? 'x' : s).slice(0, 200));

const CELLS = ['port', 'protocol', 'service', 'direction', 'source', 'destination', 'description'] as const;
const HEADER = '| Port | Protocol | Service Name | Direction | Source | Destination | Description |\n|---|---|---|---|---|---|---|';
type Cells = Record<(typeof CELLS)[number], string>;
// fc.record makes objects without a prototype; the YAML reader plain ones.
const cellsArb = fc.record(Object.fromEntries(CELLS.map((k) => [k, cellText])) as Record<(typeof CELLS)[number], fc.Arbitrary<string>>).map((c) => ({ ...c }));

/** The markdown of tables (one heading each) and the line of each header. */
function markdown(title: string | undefined, tables: { heading: string; rows: Cells[] }[]): { text: string; lines: number[] } {
  const out: string[] = title === undefined ? [] : ['---', `title: ${title}`, '---'];
  const lines: number[] = [];
  for (const t of tables) {
    out.push('', `## ${t.heading}`, '');
    lines.push(out.length + 1);
    out.push(...HEADER.split('\n'), ...t.rows.map((r) => `| ${CELLS.map((k) => r[k]).join(' | ')} |`));
  }
  return { text: out.join('\n') + '\n', lines };
}

function checkOutput(yamlText: string): Record<string, any> {
  assertStructure(yamlText);
  return yaml.load(yamlText, { schema: yaml.CORE_SCHEMA }) as Record<string, any>;
}

test('property: hostile text in every field of a base catalog comes back exactly, loads, and stays inside strings and comments', () => {
  const arb = fc.record({
    docName: fileName,
    title: fc.option(hostile(), { nil: undefined }),
    // A comment line of the base (no LF, CR or NUL, which the base itself could not hold).
    header: fc.array(hostile({ exclude: /[\n\r\u0000]/g }), { maxLength: 3 }),
    texts: fc.array(hostile(), { minLength: 8, maxLength: 8 }),
    tables: fc.array(
      fc.record({
        heading: headingText,
        note: fc.option(hostile(), { nil: undefined }),
        rows: fc.array(fc.record({ cells: cellsArb, note: fc.option(hostile(), { nil: undefined }), param: fc.boolean(), feature: fc.boolean() }), { minLength: 1, maxLength: 3 }),
      }),
      { minLength: 1, maxLength: 3 },
    ),
  });
  fc.assert(
    fc.property(arb, (g) => {
      const md = markdown(undefined, g.tables.map((t) => ({ heading: t.heading, rows: t.rows.map((r) => r.cells) })));
      const [groupNodes, groupAdmins, feature, param, prose, proseService, proseDescription, proseNote] = g.texts;
      const rules: Record<string, unknown>[] = [];
      g.tables.forEach((t, i) => {
        t.rows.forEach((r, j) =>
          rules.push({
            id: `t${i + 1}-r${j + 1}`,
            table: `T${i + 1}`,
            row: j + 1,
            cells: r.cells,
            ports: r.param ? [{ param: 'smtp_port' }] : [22],
            transport: 'tcp',
            from: ['admins'],
            to: ['nodes'],
            ...(r.feature ? { feature: 'debug' } : {}),
            ...(r.note !== undefined ? { note: r.note } : {}),
          }),
        );
        if (i === 0) rules.push({ id: 'p1', table: 'T1', prose, service: proseService || 'x', description: proseDescription, ports: [443], transport: 'tcp', from: ['nodes'], to: ['nodes'], note: proseNote });
      });
      const base = {
        name: 'fz',
        ...(g.title !== undefined ? { title: g.title } : {}),
        document: g.docName,
        host: 'nodes',
        tables: Object.fromEntries(g.tables.map((t, i) => [`T${i + 1}`, { heading: t.heading, line: md.lines[i], ...(t.note !== undefined ? { note: t.note } : {}) }])),
        groups: { nodes: { description: groupNodes }, admins: { description: groupAdmins, default: ['10.0.0.0/8'] } },
        features: { debug: { description: feature, default: false } },
        params: { smtp_port: { kind: 'port', choices: [25, 587], default: 587, description: param } },
        rules,
      };
      const baseText = g.header.map((h) => `# ${h}\n`).join('') + yaml.dump(base, { lineWidth: -1 });
      // The generator's own check: the loader reads this base as generated.
      assert.equal(loadCatalog(new SourceText('base.yaml', baseText)).doc.value, base);
      const r = importCatalog({ doc: { path: `docs/${g.docName}`, text: md.text }, base: { path: 'base.yaml', text: baseText } });
      assert.is(r.kept, rules.length - 1, 'every row kept from the base');
      assert.equal(checkOutput(r.yaml), base, 'the base catalog, exactly');
      assert.equal(loadCatalog(new SourceText('out.yaml', r.yaml)).doc.value, base);
    }),
    { seed: SEED, numRuns: RUNS, includeErrorInReport: true },
  );
});

test('property: hostile cells, headings, title, file name and map phrases: the output reads back as the document says, and stays inside strings and comments', () => {
  const decidedRow = fc.record({ service: cellText, description: cellText, source: cellText }).map((c) => ({ port: '22', protocol: 'TCP', direction: 'inbound', destination: 'All nodes', ...c }));
  const arb = fc.record({
    docName: fileName,
    title: fc.option(titleText, { nil: undefined }),
    decided: fc.boolean(),
    tables: fc.array(fc.record({ heading: headingText, rows: fc.array(cellsArb, { minLength: 1, maxLength: 3 }), decidedRows: fc.array(decidedRow, { minLength: 1, maxLength: 3 }) }), { minLength: 1, maxLength: 3 }),
  });
  fc.assert(
    fc.property(arb, (g) => {
      const tables = g.tables.map((t) => ({ heading: t.heading, rows: g.decided ? t.decidedRows : t.rows }));
      const md = markdown(g.title, tables);
      // With decided rows, a map gives every (hostile) Source cell a group.
      const sources = [...new Set(tables.flatMap((t) => t.rows.map((r) => r.source)))];
      const map = g.decided ? { path: 'map.yaml', text: yaml.dump({ groups: Object.fromEntries(sources.map((s) => [s, 'admins'])) }, { lineWidth: -1 }) } : undefined;
      const r = importCatalog({ doc: { path: `docs/${g.docName}`, text: md.text }, map });
      const cat = checkOutput(r.yaml);
      assert.is(cat.document, g.docName);
      assert.is(cat.title, g.title);
      assert.equal(Object.values(cat.tables).map((t: any) => [t.heading, t.line]), tables.map((t, i) => [t.heading, md.lines[i]]));
      assert.equal(cat.rules.map((x: any) => x.cells), tables.flatMap((t) => t.rows));
      if (g.decided) {
        assert.is(r.undecided, 0, JSON.stringify(r.diagnostics.map((d) => d.message)));
        loadCatalog(new SourceText('out.yaml', r.yaml));
        assert.ok(cat.rules.every((x: any) => x.from.includes('admins')));
      }
    }),
    { seed: SEED, numRuns: RUNS, includeErrorInReport: true },
  );
});

test('catalog import prints at most 50 diagnostics, then how many more; the summary still counts every row', () => {
  const dir = tmpDir();
  const rows = Array.from({ length: 70 }, (_, i) => `| ${1000 + i} | HTTP | Svc ${i} | bidirectional | Unknown hosts ${i} | All nodes |`);
  const doc = path.join(dir, 'many.md');
  fs.writeFileSync(doc, ['# Ports', '', '| Port | Protocol | Service Name | Direction | Source | Destination |', '| --- | --- | --- | --- | --- | --- |', ...rows, ''].join('\n'));
  const r = runCli(['catalog', 'import', doc, '-o', path.join(dir, 'out.yaml')]);
  assert.is(r.code, 2, r.stderr);
  assertNoStack(r.stderr);
  const shown = r.stderr.split('\n').filter((l) => /^\S+:\d+:\d+: error: /.test(l));
  assert.is(shown.length, 50, r.stderr.slice(0, 2000));
  assert.match(r.stderr, /^… and 20 more not shown$/m);
  assert.match(r.stderr, /import: 70 rows from .*many\.md; 1 table read: 1 imported, 0 skipped; 70 rows in the imported tables: 70 imported, 0 skipped; 70 undecided/);
});

test.run();
