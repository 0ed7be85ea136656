// The list scan (src/load/yaml-lists.ts) must never change what a document
// reads as: for any text, parseYaml gives what js-yaml alone gives
// (parseYamlAsWritten): the same value, the same position for every value
// and key, the same errors. Documents are generated from the places a long
// list can sit (values, keys, compact and indented block lists, inside
// strings, block scalars, comments, flow collections, after anchors and
// tags) and from items and separators that are and are not in the scanned
// subset. The scan must also be used: most plain cases go through it.

import { spawnSync } from 'child_process';
import fc from 'fast-check';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { CompileError, SourceText } from '../src/diagnostics';
import { MAX_VALUES, ParsedDoc, parseMasked, parseYaml, parseYamlAsWritten, PathSeg } from '../src/load/yaml';
import { maskLists, MIN_SCANNED_ITEMS } from '../src/load/yaml-lists';
import * as path from 'path';
import { ROOT } from './helpers/cli';

const { scaleProfile } = require(path.join(ROOT, 'bench', 'scale-profile.js')) as { scaleProfile: (n: number) => string };

type Outcome = { ok: true; doc: ParsedDoc } | { ok: false; errors: string[] };

function outcome(read: () => ParsedDoc): Outcome {
  try {
    return { ok: true, doc: read() };
  } catch (e) {
    if (!(e instanceof CompileError)) throw e;
    return { ok: false, errors: e.diagnostics.map((d) => `${d.pos?.line}:${d.pos?.col} ${d.message} ${d.hint ?? ''}`) };
  }
}

/** Every value's and key's position, by path, as the document tells them. */
function positions(doc: ParsedDoc): string[] {
  const out: string[] = [];
  const seen = new Set<unknown>();
  const walk = (v: unknown, path: PathSeg[]) => {
    const p = doc.pos(path);
    const k = doc.keyPosOf(path);
    out.push(`${JSON.stringify(path)} ${p.line}:${p.col} key ${k.line}:${k.col} at ${doc.offsetOf(path)}/${doc.offsetOf(path, true)}`);
    if (v === null || typeof v !== 'object' || seen.has(v)) return;
    seen.add(v);
    if (Array.isArray(v)) v.forEach((x, i) => walk(x, [...path, i]));
    else for (const [key, x] of Object.entries(v)) walk(x, [...path, key]);
  };
  walk(doc.value, []);
  // Paths that are not there fall back to an ancestor: the same ancestor.
  out.push(JSON.stringify(doc.pos(['nope', 99, 'x'])), JSON.stringify(doc.pos([0, 'x'])), String(doc.size));
  return out;
}

function assertSame(text: string, fast: Outcome, slow: Outcome): void {
  const show = `\n--- text ---\n${text.length > 3000 ? text.slice(0, 3000) + '...' : text}`;
  assert.is(fast.ok, slow.ok, `one reading failed and the other did not${show}\n${JSON.stringify(fast.ok ? slow : fast)}`);
  if (!fast.ok || !slow.ok) {
    assert.equal((fast as { errors: string[] }).errors, (slow as { errors: string[] }).errors, `errors differ${show}`);
    return;
  }
  assert.equal(fast.doc.value, slow.doc.value, `values differ${show}`);
  assert.equal(positions(fast.doc), positions(slow.doc), `positions differ${show}`);
}

/** Items of the scanned subset. */
const goodItem = fc.oneof(
  { weight: 8, arbitrary: fc.tuple(fc.nat(255), fc.nat(255), fc.nat(255)).map(([a, b, c]) => `10.${a}.${b}.${c}`) },
  { weight: 3, arbitrary: fc.tuple(fc.nat(255), fc.integer({ min: 8, max: 32 })).map(([a, p]) => `172.16.${a}.0/${p}`) },
  { weight: 3, arbitrary: fc.nat(0xffff).map((g) => `"2001:db8::${g.toString(16)}"`) },
  { weight: 2, arbitrary: fc.nat(0xffff).map((g) => `2001:db8::${g.toString(16)}`) },
  { weight: 1, arbitrary: fc.nat(0xffff).map((g) => `'fe80::${g.toString(16)}/64'`) },
  { weight: 1, arbitrary: fc.constantFrom('::1', '1:2:3', '1/2', '1.2.3.4/', 'a:b', '010.1.1.1', '1.2.3', '::ffff:1.2.3.4', 'FE80::A') },
);
/** Items that are not, or whose neighbours change what they are. */
const badItem = fc.constantFrom(
  '1.5', '123', '0', '0b101', '0x1F', '1e5', '1E5', '.5', '...', '..', '.1.2', '/24', 'fe80::', '1.2.3.4:', '::', ':',
  '1.2.3.4#x', 'abc', 'null', 'true', '~', '""', "''", '"1.2.3.4', '"a\\"b"', '"1.2.3.4"x', '1.2.3.4 x', '1.2.3.4,', '[1.1.1.1]',
  '*a', '&b 1.1.1.1', '!!str 1.1.1.1', '- 1.1.1.1', '? 1.1.1.1', '1.1.1.1: x', '"::1": y', '1.1.1.1\t', '\t1.1.1.1', '1.2.3.4 # c',
  '\u00e91.1.1', '1.1.1.1\r', '.inf', '-1.2.3', '+1.2.3.4', '1_000', '{a: 1}', '"1.1.1.1\\n"', "'it''s'", '1.1.1.1 ', ' 1.1.1.1',
);
/** A list's items: of the subset, and often with one item that is not. */
const items = (min: number) =>
  fc
    .tuple(fc.array(goodItem, { minLength: min, maxLength: MIN_SCANNED_ITEMS + 8 }), fc.oneof({ weight: 4, arbitrary: fc.constant(null) }, { weight: 1, arbitrary: fc.tuple(badItem, fc.nat()) }))
    .map(([list, bad]) => {
      if (bad) list.splice(bad[1] % (list.length + 1), 0, bad[0]);
      return list;
    });

/** What goes between flow items (around the comma). */
const flowSep = fc.oneof(
  { weight: 6, arbitrary: fc.constantFrom(', ', ',', ' , ', ',\n    ', ',\n', '\n  , ', ', # note\n  ', ' ,\n\n  ', ',\r\n  ') },
  { weight: 1, arbitrary: fc.constantFrom(',#x\n ', ', \t', ',,', ' ', '\n', ',\n#x\n', ', #x, ', ',\r ') },
);

function flowList(items: string[], seps: string[], open: string, close: string): string {
  let s = '[' + open;
  items.forEach((it, i) => {
    s += it;
    if (i < items.length - 1) s += seps[i % seps.length];
  });
  return s + close + ']';
}

function blockList(items: string[], indent: number, extras: string[], k: number): string {
  const pad = ' '.repeat(indent);
  return items
    .map((it, i) => {
      const extra = extras[(i + k) % extras.length];
      if (extra === 'blank') return `${pad}- ${it}\n`;
      if (extra === 'comment') return `${pad}- ${it}\n${pad}# between\n`;
      if (extra === 'trail') return `${pad}- ${it}  # rack ${i}\n`;
      if (extra === 'gap') return `${pad}- ${it}\n\n`;
      if (extra === 'deeper') return `${pad}  - ${it}\n`;
      if (extra === 'wide') return `${pad}-   ${it}\n`;
      if (extra === 'crlf') return `${pad}- ${it}\r\n`;
      if (extra === 'more') return `${pad}- ${it}\n${pad}    continued\n`;
      return `${pad}- ${it}\n`;
    })
    .join('')
    .replace(/\n$/, '');
}

const listItems = items(MIN_SCANNED_ITEMS - 3);
const mostlyPlain = items(MIN_SCANNED_ITEMS);

const flow = fc
  .tuple(fc.oneof({ weight: 3, arbitrary: mostlyPlain }, { weight: 1, arbitrary: listItems }), fc.array(flowSep, { minLength: 1, maxLength: 2 }), fc.constantFrom('', ' ', '\n  ', ' # c\n  '), fc.constantFrom('', ' ', ',', ', ', '\n', ',\n'))
  .map(([items, seps, open, close]) => ({ kind: 'flow' as const, text: flowList(items, seps, open, close) }));

const blockExtras = fc.array(fc.oneof({ weight: 6, arbitrary: fc.constant('plain') }, { weight: 1, arbitrary: fc.constantFrom('blank', 'comment', 'trail', 'gap', 'deeper', 'wide', 'crlf', 'more') }), { minLength: 1, maxLength: 6 });
const block = fc
  .tuple(fc.oneof({ weight: 3, arbitrary: mostlyPlain }, { weight: 1, arbitrary: listItems }), blockExtras, fc.nat(5))
  .map(([items, extras, k]) => ({ kind: 'block' as const, items, extras, k }));

type List = { kind: 'flow'; text: string } | { kind: 'block'; items: string[]; extras: string[]; k: number };

/** A block list at an indentation, or a flow list (indentation only prefixes it). */
function listAt(list: List, indent: number): string {
  return list.kind === 'flow' ? ' '.repeat(indent) + list.text : blockList(list.items, indent, list.extras, list.k);
}

/** Places a list can sit, each with text around it. */
const places: ((l: List) => string)[] = [
  (l) => (l.kind === 'flow' ? `nodes: ${l.text}\n` : `nodes:\n${listAt(l, 2)}\n`),
  (l) => `environment: lab\ngroups:\n  nodes:${l.kind === 'flow' ? ' ' + l.text : '\n' + listAt(l, 4)}\n  users: [192.0.2.1]\nfeatures: {}\n`,
  (l) => `nodes:\n${listAt(l, 0)}\nnext: 1\n`,
  (l) => `a:\n  nodes:\n${listAt(l, 2)}\n  b: 2\nc: 3\n`,
  (l) => `${listAt(l, 0)}\n`,
  (l) => `- first\n- ${listAt(l, 2).replace(/^ */, '')}\n- last\n`,
  (l) => `- name: x\n  nodes:\n${listAt(l, 2)}\n- name: y\n`,
  (l) => `- name: x\n  nodes:\n${listAt(l, 4)}\n`,
  (l) => `- foo:\n${listAt(l, 0)}\n`,
  (l) => `- \n${listAt(l, 2)}\n`,
  (l) => `nodes: &a${l.kind === 'flow' ? ' ' + l.text : '\n' + listAt(l, 2)}\nagain: *a\nmore: [*a, *a]\n`,
  (l) => `nodes: !!seq${l.kind === 'flow' ? ' ' + l.text : '\n' + listAt(l, 2)}\n`,
  (l) => `nodes: !!str${l.kind === 'flow' ? ' ' + l.text : '\n' + listAt(l, 2)}\n`,
  (l) => `nodes: !!map${l.kind === 'flow' ? ' ' + l.text : '\n' + listAt(l, 2)}\n`,
  (l) => `? ${listAt(l, 2).replace(/^ */, '')}\n: value\n`,
  (l) => `${l.kind === 'flow' ? l.text : listAt(l, 0)}: value\n`,
  (l) => `note: "${listAt(l, 2)}"\n`,
  (l) => `note: '${listAt(l, 2)}'\n`,
  (l) => `note: |\n${listAt(l, 2).replace(/^/gm, '  ')}\nafter: 1\n`,
  (l) => `note: >-\n  ${listAt(l, 2)}\n`,
  (l) => `# ${listAt(l, 2)}\nkey: 1\n`,
  (l) => `note: plain text\n  ${listAt(l, 2)}\n`,
  (l) => `outer: {a: ${l.kind === 'flow' ? l.text : '1'}, b: 2}\n`,
  (l) => `outer: [${l.kind === 'flow' ? l.text : '1'}, x]\n`,
  (l) => `nodes: ${l.kind === 'flow' ? l.text : listAt(l, 2)} extra\n`,
  (l) => `nodes: ${l.kind === 'flow' ? l.text : listAt(l, 2)}\n  extra: 1\n`,
  (l) => `nodes: ${l.kind === 'flow' ? l.text : listAt(l, 2)}: 3\n`,
  (l) => `nodes: ${l.kind === 'flow' ? l.text : '[1.1.1.1]'}\nnodes: [2.2.2.2]\n`,
  (l) => `---\nnodes:\n${listAt(l, 2)}\n---\nsecond: 1\n`,
  (l) => `---\nnodes:\n${listAt(l, 2)}\n...\n`,
  (l) => `nodes:\n${listAt(l, 2)}\n    deeper: 1\n`,
  (l) => `nodes:\n${listAt(l, 2)}\n  - name: tail\n`,
  (l) => `nodes:\n${listAt(l, 2)}\n- tail\n`,
  (l) => `nodes:\n\n  # first the nodes\n${listAt(l, 2)}\n\nafter: 1\n`,
  (l) => `\t${listAt(l, 2)}\n`,
  (l) => `nodes:\n${listAt(l, 3)}\n x: 1\n`,
  (l) => `"quoted key":\n${listAt(l, 0)}\n'other': 1\n`,
  (l) => `key: # comment\n${listAt(l, 2)}\n`,
  (l) => `a: b:\n${listAt(l, 0)}\n`,
  (l) => `%YAML 1.2\n---\nnodes: ${l.kind === 'flow' ? l.text : '\n' + listAt(l, 2)}\n`,
];

/** The first places are where lists usually are: chosen more often. */
const USUAL_PLACES = 8;
const place = fc.oneof({ weight: 3, arbitrary: fc.nat(USUAL_PLACES - 1) }, { weight: 2, arbitrary: fc.integer({ min: USUAL_PLACES, max: places.length - 1 }) });

const doc = fc
  .tuple(fc.array(fc.tuple(place, fc.oneof(flow, block)), { minLength: 1, maxLength: 3 }), fc.constantFrom('', 'x: 1\n', '# head\n', 'list: &l [1.1.1.1]\n'))
  .map(([parts, head]) => head + parts.map(([p, l]) => places[p](l)).join(''));

test('any document reads the same with and without the list scan: value, every position, errors', () => {
  let scanned = 0;
  let runs = 0;
  fc.assert(
    fc.property(doc, (text) => {
      runs++;
      const source = () => new SourceText('doc.yaml', text);
      const slow = outcome(() => parseYamlAsWritten(source()));
      const masked = outcome(() => parseMasked(source()) ?? (undefined as unknown as ParsedDoc));
      if (masked.ok && masked.doc) {
        scanned++;
        assertSame(text, masked, slow);
      }
      assertSame(text, outcome(() => parseYaml(source())), slow);
    }),
    { numRuns: 5000, seed: 17 },
  );
  // The test means something only if the scan is used, and not always.
  assert.ok(scanned > runs / 20 && scanned < runs, `the scan was kept in ${scanned} of ${runs} documents`);
});

test('one list where lists usually are, items mostly in the subset: the scan is kept and reads the same', () => {
  let scanned = 0;
  let runs = 0;
  fc.assert(
    fc.property(fc.nat(USUAL_PLACES - 1), fc.oneof(flow, block), (p, list) => {
      runs++;
      const text = places[p](list);
      const slow = outcome(() => parseYamlAsWritten(new SourceText('doc.yaml', text)));
      const masked = parseMasked(new SourceText('doc.yaml', text));
      if (masked) {
        scanned++;
        assertSame(text, { ok: true, doc: masked }, slow);
      }
      assertSame(text, outcome(() => parseYaml(new SourceText('doc.yaml', text))), slow);
    }),
    { numRuns: 1500, seed: 18 },
  );
  assert.ok(scanned > runs / 3, `the scan was kept in ${scanned} of ${runs} documents`);
});

test('the forms users write are scanned, with values and positions as js-yaml has them', () => {
  const addrs = Array.from({ length: 40 }, (_, i) => `10.0.${i >> 4}.${i & 15}`);
  const v6 = Array.from({ length: 40 }, (_, i) => `"2001:db8::${i.toString(16)}"`);
  const texts = [
    `environment: lab\ngroups:\n  nodes: [${addrs.join(', ')}]\n  users: [${v6.join(', ')}]\n`,
    `environment: lab\ngroups:\n  nodes:\n${addrs.map((a) => `    - ${a}`).join('\n')}\n  users:\n${v6.map((a) => `  - ${a}`).join('\n')}\n`,
    `environment: lab\ngroups:\n  nodes: [\n${addrs.map((a) => `    ${a},  # host ${a}`).join('\n')}\n  ]\n`,
    `environment: lab\ngroups:\n  nodes:\n${addrs.map((a, i) => `    - ${a}${i % 7 ? '' : '   # rack'}\n${i % 9 ? '' : '\n    # next rack\n'}`).join('')}features: {}\n`,
    scaleProfile(1000),
  ];
  for (const text of texts) {
    const source = () => new SourceText('p.yaml', text);
    assert.ok(maskLists(text), `no list was found in\n${text.slice(0, 400)}`);
    const fast = parseMasked(source());
    assert.ok(fast, `the scan was not kept for\n${text.slice(0, 400)}`);
    assertSame(text, { ok: true, doc: fast }, outcome(() => parseYamlAsWritten(source())));
  }
});

test('an error inside or after a scanned list is js-yaml\'s, at its place', () => {
  const addrs = Array.from({ length: 40 }, (_, i) => `10.0.0.${i}`);
  const texts = [
    `nodes: [${addrs.join(', ')}]\nnodes: [1.1.1.1]\n`, // duplicate key
    `nodes: [${addrs.join(', ')}]\n  bad: 1\n`,
    `nodes:\n${addrs.map((a) => `  - ${a}`).join('\n')}\n - 9.9.9.9\n`,
    `nodes: [${addrs.join(', ')}, {]\n`,
    `nodes: [${addrs.join(', ')}\n`,
    `nodes: [${addrs.join(', ')}]\n---\nmore: 1\n`,
  ];
  for (const text of texts) {
    const slow = outcome(() => parseYamlAsWritten(new SourceText('p.yaml', text)));
    const fast = outcome(() => parseYaml(new SourceText('p.yaml', text)));
    assertSame(text, fast, slow);
    assert.ok(!fast.ok, `expected an error for\n${text}`);
  }
});

test('lists that may hold more than the value limit are left to js-yaml: no more strings made, the same error', () => {
  const items = (n: number) => Array.from({ length: n }, (_, i) => `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`);
  const flow = `nodes: [${items(200).join(', ')}]\n`;
  const block = `nodes:\n${items(200).map((a) => `  - ${a}`).join('\n')}\n`;
  for (const text of [flow, block]) {
    assert.ok(maskLists(text, 200), 'a list within the limit is scanned');
    assert.is(maskLists(text, 199), undefined, 'a list over the limit is not');
    assert.is(maskLists(text + text.replace('nodes', 'more'), 300), undefined, 'nor lists over it together');
  }
  const over = `environment: lab\ngroups:\n  nodes: [${items(MAX_VALUES + 1).join(', ')}]\n`;
  assert.is(parseMasked(new SourceText('p.yaml', over)), undefined);
  assertSame(over, outcome(() => parseYaml(new SourceText('p.yaml', over))), outcome(() => parseYamlAsWritten(new SourceText('p.yaml', over))));
});

test('hostile shapes of about 200 KB are scanned in bounded time (hang guard, not a timing)', () => {
  // In a child process with a generous timeout: a regular expression that
  // backtracks without bound would hang here rather than pass slowly.
  const script = `
    const { maskLists } = require(${JSON.stringify(path.join(ROOT, 'build', 'src', 'load', 'yaml-lists.js'))});
    const N = 200000, item = '10.0.0.1';
    const texts = [
      'k: [' + Array(N / 10).fill(item).join(', '),
      'k: [' + Array(N / 10).fill(item).join(', ') + ', x]',
      'k: ' + '['.repeat(N),
      'k: ' + Array(N / 10).fill('[1.1.1.1, ').join(''),
      'k: [\\n' + Array(N / 20).fill('  1.1.1.1, # c, 2.2.2.2, # d').join('\\n') + '\\n x]',
      'k: [ ' + Array(N / 20).fill(' #, 1.1.1.1').join('\\n'),
      'k: [' + Array(N / 10).fill('"1.1.1.1').join(', ') + ']',
      'k: [' + '1'.repeat(N) + ':]',
      'k: [' + '1.'.repeat(N / 2) + ':, ]',
      'k: [' + ':'.repeat(N) + ']',
      'k:\\n' + Array(N / 10).fill('  - 1.1.1.1').join('\\n') + '\\n     deeper',
      Array(N / 10).fill('k:').join('\\n') + '\\n' + Array(N / 10).fill('- 1.1.1.1').join('\\n') + '\\n  x',
      'k:\\n' + Array(N / 10).fill('  - 1.1.1.1\\n   \\n  # c\\n').join('') + '\\n      x',
      'k: [' + ' '.repeat(N) + '1.1.1.1' + ' '.repeat(N),
      'k: [\\n' + Array(N / 10).fill('1.1.1.1\\n,\\n').join('') + 'x',
      'k: [' + Array(N / 100).fill('1'.repeat(99)).join(',') + ']',
      Array(N / 2).fill('k: 1').join('\\n'),
      Array(N / 2).fill('k: 1').join('\\n') + '\\nz: [' + Array(40).fill(item).join(', ') + ']',
    ];
    let masked = 0;
    for (const t of texts) if (maskLists(t)) masked++;
    console.log('scanned ' + texts.length + ', masked ' + masked);
  `;
  const r = spawnSync(process.execPath, ['-e', script], { encoding: 'utf8', timeout: 120_000 });
  assert.ok(!r.error && r.signal === null, `the scan did not finish: ${r.error?.message ?? r.signal}`);
  assert.is(r.stdout.trim(), 'scanned 18, masked 1', r.stderr);
});

test.run();
