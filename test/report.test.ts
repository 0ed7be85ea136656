// `portcullis report`: the review page, rendered by the real headless
// Chromium (Debian's `chromium`, `--dump-dom`: the DOM after the page's
// script ran under its own CSP) and checked cell by cell against facts
// read off the catalog rows by hand (catalog/thoughtspot.yaml,
// fixtures/catalogs/roles.yaml), not from the code:
//   T1 row 1: admins -> nodes tcp 22 (SSH); T1 rows 2, 3: users -> nodes
//   tcp 80, 443; T3 (support, feature support): off in example.yaml;
//   T4 row 2: nodes -> smtp_relay tcp smtp_port (587 in example.yaml),
//   T4 row 3: nodes -> ldap_server ldap_port (636).
//   roles.yaml: 6443 (T1.1) into servers only, 30000-32767 (T1.6) from
//   users into agents only, 22 (T2.1) from admins into both.
// A screenshot of each page is written under build/test-artefacts/.
// The Chromium parts are skipped, saying so, only when chromium is absent.

import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { inlineJson } from '../src/report';
import { ROOT, runCli } from './helpers/cli';
import { hostileInputs } from './helpers/hostile-inputs';
import { rmTree, snapshot, tmpDir } from './helpers/tree';

const EXAMPLE = 'fixtures/profiles/example.yaml';
const PLUS_ADMIN = 'fixtures/profiles/example-plus-admin.yaml';
const ARTEFACTS = path.join(ROOT, 'build', 'test-artefacts');
fs.mkdirSync(ARTEFACTS, { recursive: true });
const dir = tmpDir('pc-report-');

const CHROMIUM = ['/usr/bin/chromium', '/usr/bin/chromium-browser'].find((p) => fs.existsSync(p));
if (!CHROMIUM) console.log('report.test: chromium is absent (apt-get install chromium): the Chromium parts are skipped');

function chromium(args: string[], timeoutMs = 120_000): { stdout: string; status: number | null; ms: number } {
  const profileDir = fs.mkdtempSync(path.join(dir, 'chromium-'));
  const t0 = Date.now();
  const r = spawnSync(
    CHROMIUM!,
    [
      '--headless',
      '--disable-gpu',
      '--no-sandbox',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
      '--hide-scrollbars',
      `--user-data-dir=${profileDir}`,
      ...args,
    ],
    { encoding: 'utf8', timeout: timeoutMs, maxBuffer: 64 * 1024 * 1024 },
  );
  return { stdout: r.stdout ?? '', status: r.status, ms: Date.now() - t0 };
}

const fileUrl = (f: string) => 'file://' + f.split('/').map(encodeURIComponent).join('/');

/** The DOM after scripts ran. */
function dumpDom(file: string, timeoutMs?: number): string {
  const r = chromium(['--dump-dom', fileUrl(file)], timeoutMs);
  assert.is(r.status, 0, `chromium --dump-dom exited ${r.status}`);
  assert.ok(r.stdout.includes('</html>'), 'chromium printed a whole document');
  return r.stdout;
}

function screenshot(file: string, png: string, size = '1400,2600'): void {
  const out = path.join(ARTEFACTS, png);
  fs.rmSync(out, { force: true });
  const r = chromium([`--screenshot=${out}`, `--window-size=${size}`, fileUrl(file)]);
  assert.is(r.status, 0);
  const bytes = fs.readFileSync(out);
  assert.ok(bytes.length > 1000, 'a non-empty screenshot');
  assert.equal([...bytes.subarray(0, 8)], [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a], 'a PNG');
}

function report(args: string[], out: string): string {
  const r = runCli(['report', ...args, '-o', out]);
  assert.is(r.code, 0, r.stderr);
  assert.is(r.stdout, '');
  return fs.readFileSync(out, 'utf8');
}

// ------------------------------------------------------------ a tiny DOM reader

interface Mx {
  groups: string[];
  /** "tcp 22" -> group -> cell */
  rows: Map<string, Map<string, { refs: string[]; added: boolean; removed: boolean; text: string }>>;
}

const unesc = (s: string) => s.replace(/&lt;/g, '<').replace(/&gt;/g, '>').replace(/&quot;/g, '"').replace(/&#39;/g, "'").replace(/&amp;/g, '&');

function matrix(dom: string, role: string, direction: 'ingress' | 'egress'): Mx | undefined {
  const start = dom.indexOf(`<table class="matrix" data-role="${role}" data-direction="${direction}">`);
  if (start < 0) return undefined;
  const table = dom.slice(start, dom.indexOf('</table>', start));
  const groups = [...table.matchAll(/<th data-group="([^"]*)">/g)].map((m) => unesc(m[1]));
  const rows: Mx['rows'] = new Map();
  for (const m of table.matchAll(/<tr data-row="" data-transport="([^"]*)" data-ports="([^"]*)">([\s\S]*?)<\/tr>/g)) {
    const tds = m[3].split('<td').slice(3); // transport, ports
    const cells = new Map<string, { refs: string[]; added: boolean; removed: boolean; text: string }>();
    tds.forEach((td, i) => {
      if (td.startsWith(' class="e"')) return;
      const refs = /data-refs="([^"]*)"/.exec(td)![1].split(' ');
      cells.set(groups[i], { refs, added: td.includes('data-added="1"'), removed: td.includes('data-removed="1"'), text: td });
    });
    rows.set(`${m[1]} ${m[2]}`, cells);
  }
  return { groups, rows };
}

const cell = (m: Mx, key: string, group: string) => m.rows.get(key)?.get(group);

// ------------------------------------------------------------ without a browser

test('the page is one self-contained file with a strict CSP; stdout without -o', () => {
  const r = runCli(['report', '--profile', EXAMPLE]);
  assert.is(r.code, 0, r.stderr);
  const html = r.stdout;
  assert.ok(html.startsWith('<!DOCTYPE html>'));
  const csp = /<meta http-equiv="Content-Security-Policy" content="([^"]*)">/.exec(html);
  assert.ok(csp, 'a CSP meta tag');
  const policy = unesc(csp![1]);
  assert.match(policy, /default-src 'none'/);
  assert.match(policy, /script-src 'sha256-[A-Za-z0-9+/=]+'/);
  assert.match(policy, /style-src 'sha256-[A-Za-z0-9+/=]+'/);
  assert.not.match(policy, /unsafe-inline|unsafe-eval|http/);
  // No external asset, no network: nothing loads from anywhere.
  assert.not.match(html, /\s(src|href)="(?!#)/);
  assert.not.match(html, /https?:\/\//);
  assert.not.match(html, /\sstyle="/, 'no inline style attribute (the CSP would block it)');
  // Same input, same bytes.
  assert.is(runCli(['report', '--profile', EXAMPLE]).stdout, html);
});

test('-o writes the file atomically; bad input exits 2 and writes nothing', () => {
  const out = path.join(dir, 'atomic', 'page.html');
  fs.mkdirSync(path.dirname(out));
  report(['--profile', EXAMPLE], out);
  assert.equal(fs.readdirSync(path.dirname(out)), ['page.html']);
  const before = snapshot(path.dirname(out));
  const bad = runCli(['report', '--profile', 'fixtures/profiles/bad/unknown-group.yaml', '-o', out]);
  const badFile = fs.existsSync(path.join(ROOT, 'fixtures/profiles/bad/unknown-group.yaml'));
  if (badFile) {
    assert.is(bad.code, 2);
    assert.match(bad.stderr, /error:/);
  }
  const badAgainst = runCli(['report', '--profile', EXAMPLE, '--against', path.join(dir, 'missing.yaml'), '-o', out]);
  assert.is(badAgainst.code, 2);
  assert.equal(snapshot(path.dirname(out)), before, 'nothing written');
  const notDir = runCli(['report', '--profile', EXAMPLE, '-o', path.join(dir, 'no-such-dir', 'x.html')]);
  assert.is(notDir.code, 2);
  assert.match(notDir.stderr, /cannot write the report/);
});

test('inline JSON cannot end its script element', () => {
  const s = inlineJson({ a: '</script><script>alert(1)</script>', b: '<!--', c: '\u2028&' });
  assert.not.match(s, /[<>&\u2028]/);
  assert.equal(JSON.parse(s), { a: '</script><script>alert(1)</script>', b: '<!--', c: '\u2028&' });
});

// ------------------------------------------------------------ in Chromium

const chromeTest = (name: string, fn: () => void) => (CHROMIUM ? test(name, fn) : test.skip(`${name} (chromium absent)`, fn));

chromeTest('example.yaml: the matrix has the catalog rows\' cells, features and params', () => {
  const file = path.join(dir, 'example.html');
  report(['--profile', EXAMPLE], file);
  const dom = dumpDom(file);
  // The page's script ran (the CSP admits it by hash): it showed the filter.
  assert.match(dom, /<input id="filter" type="search"[^>]*>/);
  assert.not.match(/<input id="filter"[^>]*>/.exec(dom)![0], /hidden/);
  const ing = matrix(dom, 'nodes', 'ingress')!;
  assert.ok(ing, 'an ingress matrix for the nodes');
  assert.equal(cell(ing, 'tcp 22', 'admins')?.refs, ['T1.1']);
  assert.ok(cell(ing, 'tcp 443', 'users')?.refs.includes('T1.3'));
  assert.ok(cell(ing, 'tcp 80', 'users')?.refs.includes('T1.2'));
  assert.is(cell(ing, 'tcp 22', 'users'), undefined, 'users do not reach SSH');
  assert.not.ok(ing.groups.includes('support'), 'support is off: no support column');
  assert.match(cell(ing, 'tcp 22', 'admins')!.text, /SSH/);
  assert.match(cell(ing, 'tcp 22', 'admins')!.text, /fixtures\/profiles\/example\.yaml:3/, 'the profile line of admins');
  assert.match(cell(ing, 'tcp 22', 'admins')!.text, /title="ingress admins tcp 22: T1\.1 SSH"/);
  const eg = matrix(dom, 'nodes', 'egress')!;
  assert.ok(cell(eg, 'tcp 587', 'smtp_relay')?.refs.includes('T4.2'));
  assert.ok(cell(eg, 'tcp 636', 'ldap_server')?.refs.includes('T4.3'));
  assert.is(cell(eg, 'tcp 25', 'smtp_relay'), undefined, 'smtp_port is 587, not 25');
  assert.match(dom, /egress: allow — all outbound/);
  // Features and params, with where they were set.
  assert.match(dom, /<tr data-feature="support" data-on="0"><td>support<\/td><td class="off">off<\/td><td>profile fixtures\/profiles\/example\.yaml:16<\/td>/);
  assert.match(dom, /<tr data-feature="debug" data-on="1"><td>debug<\/td><td class="on">on<\/td>/);
  assert.match(dom, /<tr data-param="smtp_port"><td>smtp_port<\/td><td class="port">587<\/td>/);
  assert.match(dom, /<tr data-param="dynamic_ports"><td>dynamic_ports<\/td><td class="port">20000-65535<\/td>/);
  assert.not.match(dom, /data-added|data-removed/, 'no change marks without --against');
  screenshot(file, 'report-example.png');
});

chromeTest('support on: the support column appears with T3 rows', () => {
  const prof = path.join(dir, 'support-on.yaml');
  fs.writeFileSync(prof, fs.readFileSync(path.join(ROOT, EXAMPLE), 'utf8').replace('support: false', 'support: true'));
  const file = path.join(dir, 'support.html');
  report(['--profile', prof], file);
  const ing = matrix(dumpDom(file), 'nodes', 'ingress')!;
  assert.ok(ing.groups.includes('support'));
  assert.ok(cell(ing, 'tcp 22', 'support')?.refs.every((r) => r.startsWith('T3.')));
});

chromeTest('--against: the cells a change opens (and, the other way round, closes) are marked', () => {
  // example-plus-admin.yaml adds 192.0.2.0/25 to admins: every admins cell
  // opens for it (diff-explain.md's worked example: 22, 2101, 2201, 2211,
  // 2231, 4001, 4021, 4201, 4231, 4241, 4251, 4501, 4852-4853, 12345/tcp).
  const file = path.join(dir, 'against.html');
  report(['--profile', PLUS_ADMIN, '--against', EXAMPLE], file);
  const dom = dumpDom(file);
  const ing = matrix(dom, 'nodes', 'ingress')!;
  const added = [...ing.rows].flatMap(([k, cells]) => [...cells].filter(([, c]) => c.added).map(([g]) => `${g} ${k}`));
  for (const p of ['22', '2101', '2201', '12345']) assert.ok(added.includes(`admins tcp ${p}`), `admins tcp ${p} opened`);
  assert.ok(added.every((a) => a.startsWith('admins ')), `only admins cells opened: ${added.join(', ')}`);
  assert.not.ok(cell(ing, 'tcp 443', 'users')!.added, 'users 443 unchanged');
  assert.not.ok(cell(ing, 'tcp 2100', 'nodes')!.added, 'node to node unchanged');
  assert.not.match(dom, /data-removed/);
  assert.match(dom, /<p id="change-summary">1 flow change opened, 0 closed\.<\/p>/);
  assert.match(dom, /class="legend"[\s\S]*opened by this change[\s\S]*closed by this change/);
  screenshot(file, 'report-against.png');
  // The other way round: the same cells closed.
  const back = path.join(dir, 'back.html');
  report(['--profile', EXAMPLE, '--against', PLUS_ADMIN], back);
  const ing2 = matrix(dumpDom(back), 'nodes', 'ingress')!;
  assert.ok(cell(ing2, 'tcp 22', 'admins')!.removed);
  assert.not.ok(cell(ing2, 'tcp 22', 'admins')!.added);
  assert.not.ok(cell(ing2, 'tcp 443', 'users')!.removed);
});

chromeTest('--against REV:PATH reads the old side from git', () => {
  const file = path.join(dir, 'rev.html');
  const r = runCli(['report', '--profile', PLUS_ADMIN, '--against', `HEAD:${EXAMPLE}`, '-o', file]);
  if (r.code !== 0 && /not a git|git/.test(r.stderr)) return; // not in a git checkout
  assert.is(r.code, 0, r.stderr);
  const ing = matrix(dumpDom(file), 'nodes', 'ingress')!;
  assert.ok(cell(ing, 'tcp 22', 'admins')!.added);
});

chromeTest('a multi-role catalog: one matrix per role and direction', () => {
  const file = path.join(dir, 'roles.html');
  report(['--profile', 'fixtures/profiles/roles.yaml', '--catalog', 'fixtures/catalogs/roles.yaml'], file);
  const dom = dumpDom(file);
  const servers = matrix(dom, 'servers', 'ingress')!;
  const agents = matrix(dom, 'agents', 'ingress')!;
  assert.ok(servers && agents, 'both roles');
  assert.equal(cell(servers, 'tcp 6443', 'nodes')?.refs, ['T1.1']);
  assert.is(servers.rows.get('tcp 6443') && agents.rows.get('tcp 6443'), undefined, 'the API is on the servers only');
  assert.equal(cell(agents, 'tcp 30000-32767', 'users')?.refs, ['T1.6']);
  assert.not.ok(servers.rows.has('tcp 30000-32767'), 'NodePorts on agents only');
  assert.equal(cell(servers, 'tcp 22', 'admins')?.refs, ['T2.1']);
  assert.equal(cell(agents, 'tcp 22', 'admins')?.refs, ['T2.1']);
  assert.ok(cell(agents, 'udp 8472', 'nodes')?.refs.includes('T1.4'));
  assert.not.ok(agents.rows.has('udp 51820'), 'wireguard is off by default');
  assert.match(dom, /<h2 id="role-servers"[^>]*>Role servers<\/h2>/);
  assert.match(dom, /<h2 id="role-agents"[^>]*>Role agents<\/h2>/);
  screenshot(file, 'report-roles.png');
});

chromeTest('hostile catalog and profile text stays text: no element injected', () => {
  const PAYLOAD = '</script><script>document.title="pwned"</script><img src=x onerror="document.title=1"><b id="injected">x</b><!--';
  const { catalog, profile } = hostileInputs({ egress: 'restrict', backupPorts: 3 }, (f) => `${f} ${PAYLOAD}`);
  // The old side's path is hostile too: it is printed in the page and in its inline JSON.
  const hostileDir = path.join(dir, 'a<', 'script><b id="injected-path">');
  fs.mkdirSync(hostileDir, { recursive: true });
  const cat = path.join(dir, 'hostile-catalog.yaml');
  const prof = path.join(hostileDir, 'profile.yaml');
  fs.writeFileSync(cat, catalog);
  fs.writeFileSync(prof, profile);
  const file = path.join(dir, 'hostile.html');
  const html = report(['--profile', prof, '--catalog', cat, '--against', prof], file);
  assert.not.match(html, /<(img|b id)/i);
  const dom = dumpDom(file);
  assert.not.match(dom, /<img|<b id=|<script>document/i);
  assert.is((dom.match(/<script/g) ?? []).length, 2, 'only the page\'s own two script elements');
  assert.match(dom, /<title>portcullis report: hostile-lab<\/title>/);
  // The text is there, as text.
  assert.ok(dom.includes('&lt;b id="injected"&gt;x&lt;/b&gt;'));
  assert.ok(dom.includes('&lt;/script&gt;&lt;script&gt;document.title="pwned"'));
  const data = /<script type="application\/json" id="portcullis-data">([^<]*)<\/script>/.exec(dom);
  assert.ok(data, 'the inline JSON is one text node');
  assert.ok(JSON.parse(unesc(data![1])).against.includes('</script><b id="injected-path">'));
  screenshot(file, 'report-hostile.png');
});

chromeTest('10,000 nodes: a few hundred KB, addresses summarised, renders in Chromium', () => {
  // eslint-disable-next-line @typescript-eslint/no-var-requires
  const { scaleProfile } = require(path.join(ROOT, 'bench', 'scale-profile.js')) as { scaleProfile: (n: number) => string };
  const prof = path.join(dir, 'scale.yaml');
  fs.writeFileSync(prof, scaleProfile(10_000));
  // The old side: 100 nodes fewer (the same environment name).
  const old = path.join(dir, 'scale-old.yaml');
  fs.writeFileSync(old, scaleProfile(9_900).replace('scale-9900', 'scale-10000'));
  const file = path.join(dir, 'scale.html');
  const t0 = Date.now();
  report(['--profile', prof, '--against', old], file);
  const ms = Date.now() - t0;
  const size = fs.statSync(file).size;
  console.log(`report.test: 10,000 nodes with --against: ${(size / 1024).toFixed(0)} KB in ${ms} ms`);
  assert.ok(size < 3 * 1024 * 1024, `a few MB at most (${size} bytes)`);
  const html = fs.readFileSync(file, 'utf8');
  // The nodes are counted and listed once, collapsed, not cell by cell.
  assert.match(html, /<tr data-group-row="nodes"><td>nodes<\/td><td>[^<]*<\/td><td>8000 CIDRs<\/td><td>2000 CIDRs<\/td><td><details><summary>10000 entries/);
  assert.match(html, /… and 9500 more \(see the profile\)/);
  assert.ok((html.match(/<td/g) ?? []).length < 5000, 'no table cell per address');
  const r = chromium(['--dump-dom', fileUrl(file)], 180_000);
  console.log(`report.test: 10,000 nodes: chromium --dump-dom in ${r.ms} ms`);
  assert.is(r.status, 0);
  const ing = matrix(r.stdout, 'nodes', 'ingress')!;
  assert.equal(cell(ing, 'tcp 22', 'admins')?.refs, ['T1.1']);
  assert.ok(cell(ing, 'tcp 22', 'support'), 'support is on in the scale profile');
  assert.ok([...ing.rows.values()].some((cells) => [...cells.values()].some((c) => c.added)), 'the added nodes open cells');
  screenshot(file, 'report-10000.png', '1400,1600');
});

/** Characters that hide, fake or reorder text (bidi overrides, isolates
 * and marks, zero-width and other invisible characters, controls), written
 * here independently of src/report/html.ts. */
// eslint-disable-next-line no-control-regex
const INVISIBLE_RAW = /[\u0001-\u0008\u000b-\u001f\u007f-\u009f\u061c\u115f\u1160\u180e\u200b-\u200f\u2028-\u202e\u2060-\u2064\u2066-\u2069\u3164\ufeff\uffa0]|\u{e0041}/u;

chromeTest('bidi overrides, zero-width and control characters are shown quoted, never raw; the text is still there', () => {
  const TRICK = 'SSH\u202e22 nimda\u202c zw\u200bsp\u200c\u200d\u2060\ufeff lrm\u200e iso\u2066x\u2069 ctl\u0001\u0007\u001b[31m\u0085 tag\u{e0041} ls\u2028ps\u2029 cr\r "q" \'a\' ]]> <!-- --> javascript:alert(1)';
  const { catalog, profile } = hostileInputs({ egress: 'restrict', backupPorts: 3 }, (f) => `${f} ${TRICK}`);
  const cat = path.join(dir, 'bidi-catalog.yaml');
  const prof = path.join(dir, 'bidi-profile.yaml');
  fs.writeFileSync(cat, catalog);
  fs.writeFileSync(prof, profile);
  const file = path.join(dir, 'bidi.html');
  const html = report(['--profile', prof, '--catalog', cat], file);
  const raw = INVISIBLE_RAW.exec(html);
  assert.not.ok(raw, `raw U+${raw?.[0].codePointAt(0)!.toString(16)} in the page at ${raw?.index}`);
  const dom = dumpDom(file);
  const rawDom = INVISIBLE_RAW.exec(dom);
  assert.not.ok(rawDom, `raw U+${rawDom?.[0].codePointAt(0)!.toString(16)} in the DOM`);
  // Every character is there, quoted as the terminal quotes it.
  const quoted = 'SSH\\u202e22 nimda\\u202c zw\\u200bsp\\u200c\\u200d\\u2060\\ufeff lrm\\u200e iso\\u2066x\\u2069 ctl\\x01\\x07\\x1b[31m\\x85 tag\\u{e0041} ls\\u2028ps\\u2029 cr\\x0d &quot;q&quot; \'a\' ]]&gt; &lt;!-- --&gt; javascript:alert(1)';
  const ing = matrix(dom, 'nodes', 'ingress')!;
  const ssh = cell(ing, 'tcp 22', 'admins')!;
  assert.ok(ssh.text.includes(`rules.ssh.cells.service ${quoted}`), ssh.text);
  // In text, the serialised DOM writes quotes as they are.
  assert.ok(dom.includes(`<td>groups.admins.description ${quoted.replace(/&quot;/g, '"')}</td>`), 'a group description');
  assert.is((dom.match(/<script/g) ?? []).length, 2);
  assert.not.match(dom, /href="javascript/i);
});

chromeTest('the CSP blocks inline handlers and scripts: added to the page by hand, none runs, the page\'s own script does', () => {
  const file = path.join(dir, 'csp.html');
  const html = report(['--profile', EXAMPLE], file);
  // What an injection would add, if one got through esc(): each would set the title.
  const injected = html.replace(
    '</body>',
    '<img src="x.png" onerror="document.title=\'onerror ran\'"><svg onload="document.title=\'onload ran\'"></svg>' +
      '<script>document.title="inline ran"</script><a id="jsurl" href="javascript:document.title=\'url ran\'">x</a>' +
      '<iframe srcdoc="<script>parent.document.title=\'srcdoc ran\'</script>"></iframe><style>body{background:red}</style></body>',
  );
  const hacked = path.join(dir, 'csp-hacked.html');
  fs.writeFileSync(hacked, injected);
  const dom = dumpDom(hacked);
  assert.match(dom, /<title>portcullis report: prod-east<\/title>/, 'no injected handler or script ran');
  assert.not.match(/<input id="filter"[^>]*>/.exec(dom)![0], /hidden/, 'the page\'s own script ran (admitted by its hash)');
  // The same page with a CSP that admits inline code: the test can fail.
  const open = injected.replace(/<meta http-equiv="Content-Security-Policy"[^>]*>/, '');
  const openFile = path.join(dir, 'csp-open.html');
  fs.writeFileSync(openFile, open);
  assert.match(dumpDom(openFile), /<title>(onerror|onload|inline|srcdoc) ran<\/title>/, 'without the CSP the injected code runs');
});

chromeTest('huge texts: a 50 KB service in a rule of 200 ports, and in every other field, gives a bounded page that renders', () => {
  const big = (f: string) => `${f} ${'<b>&\u202e'.repeat(10)}${'x'.repeat(50_000)}`;
  const { catalog, profile } = hostileInputs({ egress: 'restrict', backupPorts: 200 }, big);
  const cat = path.join(dir, 'huge-catalog.yaml');
  const prof = path.join(dir, 'huge-profile.yaml');
  fs.writeFileSync(cat, catalog);
  fs.writeFileSync(prof, profile);
  const file = path.join(dir, 'huge.html');
  const t0 = Date.now();
  const html = report(['--profile', prof, '--catalog', cat], file);
  const ms = Date.now() - t0;
  console.log(`report.test: ${(catalog.length / 1024).toFixed(0)} KB of catalog text: a ${(html.length / 1024).toFixed(0)} KB page in ${ms} ms`);
  // Each field once at most 5000 characters, each cell's texts 200:
  // without the cut, 200 cells x 2 x 50 KB of the backup rule's service alone.
  assert.ok(html.length < 1024 * 1024, `${html.length} characters`);
  const eg = matrix(dumpDom(file, 60_000), 'nodes', 'egress')!;
  const backup = cell(eg, 'tcp 20000', 'backup')!;
  assert.ok(backup, 'the backup rule\'s first port');
  assert.match(backup.text, /rules\.backup\.service &lt;b&gt;&amp;\\u202e/);
  assert.match(backup.text, /x… \(\d+ more characters\)/);
  assert.is(eg.rows.size >= 200, true);
});

chromeTest('a port open to many catalog rows: the cell lists 25 of them and counts the rest', () => {
  // 60 rows, each from its own table, all admins -> nodes tcp 22 (the IR
  // keeps every row's provenance on the one merged rule).
  const rows = Array.from({ length: 60 }, (_, i) => `  - { id: r${i}, table: T1, row: ${i + 1}, cells: { service: "svc ${i}" }, ports: [22, ${30000 + 2 * i}], from: [admins], to: [nodes] }`);
  const cat = path.join(dir, 'many-rows.yaml');
  fs.writeFileSync(cat, `name: many\nhost: nodes\ntables: { T1: { heading: h } }\ngroups: { admins: {}, nodes: {} }\nrules:\n${rows.join('\n')}\n`);
  const prof = path.join(dir, 'many-rows-profile.yaml');
  fs.writeFileSync(prof, 'environment: many\ngroups:\n  admins: [192.0.2.0/28]\n  nodes: [192.0.2.100]\n');
  const file = path.join(dir, 'many.html');
  report(['--profile', prof, '--catalog', cat], file);
  const ing = matrix(dumpDom(file), 'nodes', 'ingress')!;
  const c = cell(ing, 'tcp 22', 'admins')!;
  assert.is(c.refs.length, 25);
  assert.match(c.text, /data-more="35"/);
  assert.match(c.text, /\(\+35 more rows\)<\/summary>/);
  assert.is((c.text.match(/<li><b>/g) ?? []).length, 25);
  assert.equal(cell(ing, 'tcp 30002', 'admins')?.refs, ['T1.2']);
});

test.after(() => rmTree(dir));
test.run();
