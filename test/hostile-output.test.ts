// Hostile catalog and profile text shown by diff, explain, lint, verify and
// catalog import: markdown for PR comments renders as that text and nothing
// else (checked with a real GFM renderer), and terminal output quotes every
// control and bidi character and keeps each input text on its line (checked
// through the real CLI).
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import fc from 'fast-check';
import { markdownCell } from '../src/analysis/markdown';
import { runCli } from './helpers/cli';

// micromark with the GFM extensions: the CommonMark/GFM reference behaviour
// (what GitHub's cmark-gfm does), with raw HTML and every link protocol let
// through as GitHub's renderer sees them before its sanitizer.
// eslint-disable-next-line @typescript-eslint/no-var-requires
const { micromark } = require('micromark') as typeof import('micromark');
// eslint-disable-next-line @typescript-eslint/no-var-requires
const { gfm, gfmHtml } = require('micromark-extension-gfm') as typeof import('micromark-extension-gfm');

const render = (md: string) => micromark(md, { allowDangerousHtml: true, allowDangerousProtocol: true, extensions: [gfm()], htmlExtensions: [gfmHtml()] });

const ESC = '\u001b';
/** One text per attack on markdown or on a terminal. */
const HOSTILE = [
  '<img src=x onerror=alert(1)><script>alert(2)</script><!-- hide',
  'ping @octocat and @github/security-team, mail me@evil.example',
  'fixes #123, GH-45 and octo/repo#6, see deadbeefcafe1234',
  '[click](javascript:alert(1)) ![pixel](https://evil.example/p.png) [ref][1] [^1]',
  'https://evil.example/a www.evil.example <https://evil.example/b> <me@evil.example> HTTP://X.example WWW.x.example ftp://f.example x:y@z.example',
  '*em* **strong** _u_ ~~gone~~ $x^2$ `code` ``` fence',
  'a | b || c \\| d \\',
  '&lt;b&gt; &amp; &#64;x &copy;',
  `${ESC}[31mred${ESC}[0m ${ESC}]0;pwned title\u0007 \u009b2J \u202eevil\u202c \u2066iso\u2069 \u200fmark`,
  'two\nlines\r\n+ opened ingress tcp 1-65535: 0.0.0.0/0 -> 192.0.2.100',
  '  spaced  out  ',
];

/** A YAML double-quoted scalar: every non-ASCII or control character as an
 * escape (raw C1 characters are not allowed in a YAML stream). */
function yamlString(s: string): string {
  return JSON.stringify(s).replace(/[^\x20-\x7e]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}

const dir = fs.mkdtempSync(path.join(os.tmpdir(), `pc-hostile-${process.pid}-`));
// A directory name that is itself hostile text (it reaches the diff's reasons
// and explain's profile lines).
const hostileDir = path.join(dir, `new @octocat #7 <img src=x onerror=alert(1)> [l](javascript:x) ${ESC}]0;t\u0007 \u202e`);
fs.mkdirSync(hostileDir);

const catalogFile = path.join(dir, 'catalog.yaml');
fs.writeFileSync(
  catalogFile,
  [
    'name: hostile',
    `title: ${yamlString(HOSTILE[0])}`,
    'host: nodes',
    'tables:',
    `  T1: { heading: ${yamlString(HOSTILE[2])}, note: ${yamlString(HOSTILE[8])} }`,
    'groups:',
    `  admins: { description: ${yamlString(HOSTILE[1])} }`,
    `  nodes: { description: ${yamlString(HOSTILE[3])} }`,
    'rules:',
    ...HOSTILE.flatMap((s, i) => [
      `  - id: r${i}`,
      '    table: T1',
      `    row: ${i + 1}`,
      `    cells: { port: "${1000 + i}", service: ${yamlString(s)}, description: ${yamlString(HOSTILE[(i + 1) % HOSTILE.length])} }`,
      `    ports: [${1000 + i}]`,
      '    from: [admins]',
      '    to: [nodes]',
    ]),
    // Two protocols on one port: lint's PC101, citing cells, services and the note.
    ...[0, 1].flatMap((i) => [
      `  - id: twin${i}`,
      '    table: T1',
      `    row: ${HOSTILE.length + 1 + i}`,
      `    cells: { port: "5000", protocol: ${yamlString(i ? 'HTTP' : HOSTILE[8])}, service: ${yamlString(HOSTILE[9 - i])} }`,
      `    note: ${yamlString(HOSTILE[8 + i])}`,
      '    ports: [5000]',
      '    from: [admins]',
      '    to: [nodes]',
    ]),
  ].join('\n') + '\n',
);
const profile = (admins: string) => `environment: hostile\ngroups:\n  admins: [${admins}]\n  nodes: [192.0.2.100]\n`;
const oldProfile = path.join(dir, 'old.yaml');
fs.writeFileSync(oldProfile, profile('192.0.2.0/28'));
const newProfile = path.join(hostileDir, 'new.yaml');
fs.writeFileSync(newProfile, profile('192.0.2.0/28, 198.51.100.0/24'));

/** What a terminal acts on: C0 controls but tab and newline, DEL, C1, bidi
 * marks, line separators (as src/terminal.ts quotes them, restated). */
// eslint-disable-next-line no-control-regex
const RAW_CONTROL = /[\u0000-\u0008\u000b-\u001f\u007f-\u009f\u061c\u200e\u200f\u202a-\u202e\u2028\u2029\u2066-\u2069]/;

/** `s` with controls quoted the way a terminal shows them (\xNN, \uNNNN),
 * written here independently of src/terminal.ts. */
function quoted(s: string): string {
  // eslint-disable-next-line no-control-regex
  return s.replace(/[\u0000-\u001f\u007f-\u009f\u061c\u200e\u200f\u202a-\u202e\u2028\u2029\u2066-\u2069]/g, (c) => {
    const n = c.charCodeAt(0);
    return n <= 0xff ? `\\x${n.toString(16).padStart(2, '0')}` : `\\u${n.toString(16).padStart(4, '0')}`;
  });
}

function assertTerminalSafe(out: string, what: string): void {
  const raw = RAW_CONTROL.exec(out);
  assert.not.ok(raw, `${what}: raw U+${raw?.[0].charCodeAt(0).toString(16).padStart(4, '0')} at ${raw?.index}:\n${JSON.stringify(out)}`);
  // The newline inside HOSTILE[9] does not start a line of its own.
  assert.not.ok(/^\+ opened ingress tcp 1-65535/m.test(out), `${what}: an input newline forged a line:\n${out}`);
  assert.not.ok(/^lines/m.test(out), `${what}: an input newline started a line:\n${out}`);
}

/** The text of an HTML fragment that holds no tags: entities decoded. */
function htmlText(html: string): string {
  return html.replace(/&(#x[0-9a-f]+|#\d+|[a-z]+);/gi, (m, e: string) => {
    if (e[0] === '#') return String.fromCodePoint(e[1].toLowerCase() === 'x' ? parseInt(e.slice(2), 16) : Number(e.slice(1)));
    const named: Record<string, string> = { lt: '<', gt: '>', amp: '&', quot: '"' };
    if (!(e in named)) throw new Error(`unexpected entity ${m}`);
    return named[e];
  });
}

const ZWJ = /\u200d/g;
/** The services of the rows that open the admins' ports, in row order. */
const SERVICES = [...HOSTILE, HOSTILE[9], HOSTILE[8]];

test('diff --format markdown: every input text renders as that text, with no HTML, link, image, mention, reference or table break of its own', () => {
  const r = runCli(['diff', oldProfile, newProfile, '--catalog', catalogFile, '--format', 'markdown']);
  assert.is(r.code, 1, r.stderr);
  const md = r.stdout;
  const html = render(md);
  // Only the markup of the comment itself: the summary, the headings, the table.
  const tags = [...new Set([...html.matchAll(/<\/?([a-zA-Z][\w-]*)/g)].map((m) => m[1].toLowerCase()))].sort();
  assert.equal(tags, ['h3', 'p', 'strong', 'table', 'tbody', 'td', 'th', 'thead', 'tr'], html);
  assert.not.ok(RAW_CONTROL.test(md), `raw control or bidi character in the markdown:\n${JSON.stringify(md)}`);
  const rows = [...html.matchAll(/<tr>([\s\S]*?)<\/tr>/g)].map((m) => [...m[1].matchAll(/<t[dh]>([\s\S]*?)<\/t[dh]>/g)].map((c) => c[1]));
  assert.ok(rows.length >= 2, html);
  for (const cells of rows) assert.is(cells.length, 6, `a row of ${cells.length} cells:\n${html}`);
  const body = rows.filter((c) => c[0] !== 'direction');
  assert.is(body.length, 1, 'one opened change: the admins\' new network on every port');
  const text = body[0].map(htmlText);
  for (const t of text) {
    // GitHub links these in plain text after rendering; a zero-width joiner breaks them.
    assert.not.ok(/(^|[^\w\u200d])@[a-z0-9]/i.test(t), `a mention: ${t}`);
    assert.not.ok(/#\d|\bGH-\d/i.test(t), `an issue reference: ${t}`);
    assert.not.ok(/\b[0-9a-f]{7,40}\b/i.test(t), `a commit hash: ${t}`);
  }
  const visibleText = text.map((t) => t.replace(ZWJ, ''));
  assert.is(visibleText[1], `${1000}-${1000 + HOSTILE.length - 1}, 5000/tcp`);
  assert.is(visibleText[2], '198.51.100.0/24');
  assert.is(visibleText[3], '192.0.2.100/32');
  assert.is(visibleText[4], SERVICES.map((s, i) => `T1.${i + 1} ${quoted(s)}`).join('; '));
  assert.is(visibleText[5], `addresses added to group 'admins' (${quoted(newProfile)}:3)`);
});

test('property: any text in a table cell renders as itself, in one cell, with no markup of its own', () => {
  // Texts made of the pieces markup is made of.
  const piece = fc.constantFrom(
    ...'<>&[]()!*_~`|\\$#@:/.;"\'-+=^{}1aZ \t\n\r'.split(''),
    'http://', 'https://', 'www.', 'ftp://', 'mailto:', 'javascript:', '<img src=x>', '&amp;', '&#64;', '@user', '#12', 'GH-3', 'deadbeef12', 'x@y.z',
    ESC, '\u009b', '\u202e', '\u2066', '\u2028', '\u0000', '\u007f',
  );
  fc.assert(
    fc.property(fc.array(piece, { maxLength: 30 }).map((a) => a.join('')), (text) => {
      const html = render(`| h |\n| --- |\n| ${markdownCell(text)} |\n`);
      const tags = [...new Set([...html.matchAll(/<\/?([a-zA-Z][\w-]*)/g)].map((m) => m[1].toLowerCase()))].sort();
      assert.equal(tags, ['table', 'tbody', 'td', 'th', 'thead', 'tr'], html);
      const cells = [...html.matchAll(/<td>([\s\S]*?)<\/td>/g)].map((m) => m[1]);
      assert.is(cells.length, 1, html);
      const shown = htmlText(cells[0]);
      assert.not.ok(/(^|[^\w\u200d])@[a-z0-9]/i.test(shown) || /#\d|\bGH-\d/i.test(shown) || /\b[0-9a-f]{7,40}\b/i.test(shown), `GitHub would link: ${shown}`);
      assert.is(shown.replace(ZWJ, ''), quoted(text.replace(ZWJ, '')));
    }),
    { numRuns: 2000, seed: 12 },
  );
});

test('diff text and JSON: input text quoted on the terminal; JSON parses back to the input', () => {
  const r = runCli(['diff', oldProfile, newProfile, '--catalog', catalogFile]);
  assert.is(r.code, 1, r.stderr);
  assertTerminalSafe(r.stdout + r.stderr, 'diff');
  assert.ok(r.stdout.includes(`T1.9 ${quoted(HOSTILE[8])}`), r.stdout);
  const j = runCli(['diff', oldProfile, newProfile, '--catalog', catalogFile, '--format', 'json']);
  assert.is(j.code, 1, j.stderr);
  assertTerminalSafe(j.stdout, 'diff --format json');
  const d = JSON.parse(j.stdout);
  assert.equal(
    d.opened[0].rows.map((x: { service: string }) => x.service),
    SERVICES,
  );
});

test('explain text and JSON: headings, services, descriptions and paths quoted', () => {
  for (let i = 0; i < HOSTILE.length; i++) {
    const args = ['explain', '--profile', newProfile, '--catalog', catalogFile, '--from', '198.51.100.7', '--to', '192.0.2.100', '--port', `${1000 + i}/tcp`];
    const r = runCli(args);
    assert.is(r.code, 0, r.stderr);
    assertTerminalSafe(r.stdout + r.stderr, `explain port ${1000 + i}`);
    assert.ok(r.stdout.includes(`: ${quoted(HOSTILE[i])}: ${quoted(HOSTILE[(i + 1) % HOSTILE.length])}\n`), r.stdout);
    assert.ok(r.stdout.includes(`address from ${quoted(newProfile)}:4`), r.stdout);
    const j = runCli([...args, '--json']);
    assertTerminalSafe(j.stdout, 'explain --json');
    const row = JSON.parse(j.stdout).rules[0].rows[0];
    assert.equal([row.heading, row.service, row.description], [HOSTILE[2], HOSTILE[i], HOSTILE[(i + 1) % HOSTILE.length]]);
  }
});

test('lint text and SARIF: cells, services, notes and source lines quoted', () => {
  const r = runCli(['lint', '--profile', newProfile, '--catalog', catalogFile]);
  assert.ok(r.code === 0 || r.code === 1, r.stderr);
  assert.match(r.stdout, /\[PC101\]/);
  assertTerminalSafe(r.stdout + r.stderr, 'lint');
  assert.ok(r.stdout.includes(quoted(HOSTILE[8])), r.stdout);
  const s = runCli(['lint', '--profile', newProfile, '--catalog', catalogFile, '--format', 'sarif']);
  assertTerminalSafe(s.stdout, 'lint --format sarif');
  const sarif = JSON.parse(s.stdout);
  assert.ok(sarif.runs[0].results.some((x: { message: { text: string } }) => x.message.text.includes(HOSTILE[8])), 'SARIF keeps the text itself');
});

test('lint: a source line with raw bidi characters is quoted, the caret still under its column', () => {
  const file = path.join(dir, 'dup.yaml');
  // Raw bidi marks are allowed in a YAML comment; the line has a finding
  // (the second, duplicate entry).
  fs.writeFileSync(file, `environment: hostile\ngroups:\n  admins: [192.0.2.0/28, 192.0.2.0/28]  # \u202etxt.exe\u202c \u2066x\u2069\n  nodes: [192.0.2.100]\n`);
  const r = runCli(['lint', '--profile', file, '--catalog', catalogFile]);
  assertTerminalSafe(r.stdout + r.stderr, 'lint source line');
  const shown = r.stdout.split('\n');
  const i = shown.findIndex((l) => /^ {2}3 \| /.test(l));
  assert.ok(i >= 0, r.stdout);
  assert.is(shown[i], '  3 |   admins: [192.0.2.0/28, 192.0.2.0/28]  # \\u202etxt.exe\\u202c \\u2066x\\u2069');
  const col = Number(/dup\.yaml:3:(\d+):/.exec(shown[i - 1])?.[1]);
  assert.ok(col > 0, shown[i - 1]);
  assert.is(shown[i + 1].indexOf('^'), '  3 | '.length + col - 1, `${shown[i]}\n${shown[i + 1]}`);
});

test('verify: a hostile profile path and bad profile text are quoted in its errors', () => {
  const bad = path.join(hostileDir, 'bad.yaml');
  fs.writeFileSync(bad, `environment: hostile\ngroups:\n  admins: [${yamlString(HOSTILE[8])}]\n  nodes: [192.0.2.100]\n`);
  const r = runCli(['verify', '--profile', bad, '--catalog', catalogFile, '--target', 'nftables']);
  assert.is(r.code, 2, r.stderr);
  assertTerminalSafe(r.stdout + r.stderr, 'verify');
  assert.ok(r.stderr.includes(quoted(hostileDir)), r.stderr);
  const missing = runCli(['verify', '--profile', path.join(hostileDir, `no${ESC}[2J.yaml`)]);
  assert.is(missing.code, 2, missing.stderr);
  assertTerminalSafe(missing.stderr, 'verify, missing file');
});

test('catalog import: messages quote the cells and paths they cite', () => {
  const doc = path.join(hostileDir, 'vendor.md');
  fs.writeFileSync(
    doc,
    [
      '## Ports',
      '',
      '|Port|Protocol|Service Name|Direction|Source|Destination|Description|',
      '|----|--------|------------|---------|------|-----------|-----------|',
      `|22|SSH|${HOSTILE[8]}|inbound|Administrators IP addresses|All nodes|${HOSTILE[0]}|`,
      `|9${ESC}[8m9|TCP|x\u202ey|inbound|${ESC}]0;t\u0007|All nodes|d|`,
      '',
    ].join('\n'),
  );
  const r = runCli(['catalog', 'import', doc]);
  assertTerminalSafe(r.stderr, 'catalog import messages');
  assert.ok(r.stderr.includes(quoted(hostileDir)), r.stderr);
});

test.after(() => {
  if (!process.env.PC_KEEP) fs.rmSync(dir, { recursive: true, force: true });
});

test.run();
