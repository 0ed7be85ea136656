// eachText (src/targets/base.ts): the helper big sets render with gives
// byte for byte what {{#each}} gives for the blocks the build lets it have
// (tools/each-text-check.js: text, one plain {{this}}, parent fields), and
// the build refuses every other block.
import Handlebars from 'handlebars';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { eachText, TEMPLATE_OPTIONS } from '../src/targets/base';

function env() {
  const hb = Handlebars.create();
  hb.registerHelper({ eachText, up: (s: string) => String(s).toUpperCase(), xml: (s: string) => String(s).replace(/&/g, '&amp;').replace(/</g, '&lt;'), tick: () => '' });
  return { hb };
}

const ITEMS = ['10.0.0.1', '$&', "$'x", '2001:db8::/32', 'a&b<c', '', 'UPPER', '{{this}}', '\\'];

// eslint-disable-next-line @typescript-eslint/no-var-requires
const { eachTextProblems } = require('../../tools/each-text-check.js') as { eachTextProblems: (hb: typeof Handlebars, source: string) => string[] };

for (const body of ['\t\t\t{{this}},\n', 'add {{../name}}-n {{this}}\n', '{{! a note }}[{{this}}]', '{{this}}']) {
  test(`eachText renders ${JSON.stringify(body)} as each does, and the build allows it`, () => {
    const { hb } = env();
    const ctx = { name: 'set', xs: ITEMS };
    const want = hb.compile(`{{#each xs}}${body}{{/each}}`, TEMPLATE_OPTIONS)(ctx);
    assert.is(hb.compile(`{{#eachText xs}}${body}{{/eachText}}`, TEMPLATE_OPTIONS)(ctx), want);
    assert.equal(eachTextProblems(Handlebars, `x\n{{#eachText xs}}${body}{{/eachText}}`), []);
  });
}

for (const body of ['{{up this}}\n', '<entry>{{xml this}}</entry>', '{{this}}{{this}}', '{{#if this}}yes {{this}}{{else}}empty{{/if}};', 'none;', '{{@index}} {{this}}', '{{this.length}}', '{{tick}}{{this}}']) {
  test(`the build refuses an eachText block ${JSON.stringify(body)}, at its line`, () => {
    const problems = eachTextProblems(Handlebars, `x\ny\n{{#eachText xs}}${body}{{/eachText}}`);
    assert.ok(problems.length > 0);
    assert.ok(problems.every((p) => p.startsWith('3: ')), problems.join('; '));
  });
}

test('every eachText block of the shipped templates is one the build allows', () => {
  const fs = require('fs') as typeof import('fs');
  const path = require('path') as typeof import('path');
  const dir = path.join(__dirname, '..', '..', 'templates');
  let blocks = 0;
  for (const backend of fs.readdirSync(dir))
    for (const f of fs.readdirSync(path.join(dir, backend))) {
      const text = fs.readFileSync(path.join(dir, backend, f), 'utf8');
      blocks += (text.match(/{{#eachText /g) ?? []).length;
      assert.equal(eachTextProblems(Handlebars, text), [], `${backend}/${f}`);
    }
  assert.ok(blocks >= 2);
});

test('eachText renders a plain {{this}} block twice however many items, and an empty list as its else', () => {
  const { hb } = env();
  const xs = Array.from({ length: 1000 }, (_, i) => `10.0.${i >> 8}.${i & 255}`);
  let reads = 0;
  const ctx = {
    xs,
    get tick() {
      reads++;
      return 'T';
    },
  };
  const out = hb.compile('{{#eachText xs}}\t{{this}},{{../tick}}\n{{/eachText}}', TEMPLATE_OPTIONS)(ctx);
  assert.is(out, xs.map((x) => `\t${x},T\n`).join(''));
  // Once for the shape and once to check it on the first item; each reads it 1000 times.
  assert.is(reads, 2);
  reads = 0;
  hb.compile('{{#each xs}}{{../tick}}{{/each}}', TEMPLATE_OPTIONS)(ctx);
  assert.is(reads, 1000);
  assert.is(hb.compile('{{#eachText xs}}{{this}}{{else}}nothing{{/eachText}}', TEMPLATE_OPTIONS)({ xs: [] }), 'nothing');
});

test.run();
