// Text from input in markdown that is posted to a pull request (diff
// --format markdown): it must render as that text and nothing else. No HTML,
// link, autolink, image, emphasis, code, math, table break or heading of its
// own, and none of GitHub's own links made from plain text (@mentions, #123
// and GH-123 references, commit hashes), which no markdown escape prevents.

import { visibleLine } from '../terminal';

/** Zero-width joiner: invisible, and not a word character, so GitHub sees
 * no mention, reference or hash where one is put. */
const ZWJ = '\u200d';

/** Where GitHub would link plain text: after '@' (mentions, emails), after
 * '#' (issue refs), after 'GH-' (refs), and every 6 digits of a word of 7 or
 * more hex digits (commit hashes are 7 to 40). */
const GITHUB_LINKS = /(?<=[@#])|(?<=\bGH-)(?=\d)|(?<=\b(?:[0-9a-f]{6})+)(?=[0-9a-f]+\b)/gi;

/** The characters that can start or end inline markup in GFM, escaped
 * with a backslash (an escaped character is always literal): the escape
 * itself, code, emphasis, strikethrough, links, images and footnotes, table
 * cells, math; and the ':' of '://' and the '.' of 'www.', without which no
 * autolink literal starts. '<', '>' and '&' (HTML, autolinks, entities) are
 * written as entities. In a table cell nothing else is markup: block syntax
 * (headings, lists, quotes, definitions) only starts a line. */
const MARKUP = /[\\`*_~[\]!|$<>&]|:(?=\/\/)|(?<=www)\./gi;

const ENTITIES: Record<string, string> = { '<': '&lt;', '>': '&gt;', '&': '&amp;' };

/** `text` as inline markdown that renders as exactly that text on one line:
 * control, bidi and line-break characters quoted (\xNN, \uNNNN) as on a
 * terminal, markup characters backslash-escaped, `<>&` as entities, and a
 * zero-width joiner where GitHub would make a link of plain text. Safe in a
 * table cell. */
export function markdownText(text: string): string {
  return visibleLine(text)
    .replace(GITHUB_LINKS, ZWJ)
    .replace(MARKUP, (c) => ENTITIES[c] ?? `\\${c}`);
}

/** Input characters in one table cell before it is cut, the cut said: a
 * comment has room for 65536 characters, a table row is one line. */
export const CELL_LIMIT = 2000;

/** A table cell of `text`: markdownText(), with the surrounding spaces a
 * table would trim kept as entities; at most `max` characters of it. */
export function markdownCell(text: string, max = CELL_LIMIT): string {
  if (text.length > max) {
    const chars = Array.from(text);
    if (chars.length > max) text = `${chars.slice(0, max).join('')}… (${chars.length - max} more characters)`;
  }
  const m = /^( *)([\s\S]*?)( *)$/.exec(text)!;
  const spaces = (s: string) => '&#32;'.repeat(s.length);
  return spaces(m[1]) + markdownText(m[2]) + spaces(m[3]);
}
