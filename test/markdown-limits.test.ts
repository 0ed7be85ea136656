// diff --format markdown: a huge input text stays in its one table cell,
// cut at 2000 characters with the cut said (rendered by micromark + GFM).
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { markdownCell } from '../src/analysis/markdown';

// eslint-disable-next-line @typescript-eslint/no-var-requires
const { micromark } = require('micromark') as typeof import('micromark');
// eslint-disable-next-line @typescript-eslint/no-var-requires
const { gfm, gfmHtml } = require('micromark-extension-gfm') as typeof import('micromark-extension-gfm');
const render = (md: string) => micromark(md, { allowDangerousHtml: true, allowDangerousProtocol: true, extensions: [gfm()], htmlExtensions: [gfmHtml()] });
const decode = (s: string) => s.replace(/&lt;/g, '<').replace(/&gt;/g, '>').replace(/&quot;/g, '"').replace(/&amp;/g, '&');

test('markdownCell: a huge text is cut at 2000 characters in one cell, the cut said; no markup', () => {
  const text = '@a|<b>'.repeat(1000);
  const html = render(`| h |\n| --- |\n| ${markdownCell(text)} |\n`);
  assert.not.match(html, /<b>/);
  const cells = [...html.matchAll(/<td>([\s\S]*?)<\/td>/g)].map((m) => decode(m[1]).replace(/\u200d/g, ''));
  assert.is(cells.length, 1);
  assert.is(cells[0], `${text.slice(0, 2000)}… (4000 more characters)`);
  assert.is(markdownCell('short'), 'short');
});

test.run();
