// nftables backend: hostile catalog text stays inside `#` comments and the
// ruleset still loads for real; rule comments stay within nft's 128 bytes.
import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { compile } from '../src/compile';
import { fixture, ROOT } from './helpers/cli';

const EXAMPLE = fs.readFileSync(fixture('profiles', 'example.yaml'), 'utf8');
const CATALOG = fs.readFileSync(path.join(ROOT, 'catalog', 'thoughtspot.yaml'), 'utf8');

function nftOf(catalogText: string, profileText = EXAMPLE): string {
  const r = compile({ profile: { path: 'p.yaml', text: profileText }, catalog: { path: 'c.yaml', text: catalogText }, targets: ['nftables'] });
  if (!r.ok) throw new Error(JSON.stringify(r.diagnostics));
  return r.files[0].content;
}

function loadListing(text: string): { code: number; out: string; err: string } {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pc-nft-'));
  const file = path.join(dir, 'portcullis.nft');
  fs.writeFileSync(file, text);
  const r = spawnSync('unshare', ['-Urn', 'sh', '-c', `nft -f ${file} && nft list ruleset`], { encoding: 'utf8' });
  fs.rmSync(dir, { recursive: true, force: true });
  return { code: r.status ?? -1, out: r.stdout, err: r.stderr };
}

test('hostile descriptions stay in # lines; the ruleset loads and has no injected statement', () => {
  const nasty = `He said "hi" \\ $(rm -rf /) \`id\` <b>&amp; */ }\n}\ntable ip evil { chain c { type filter hook input priority 0; policy accept; } }\n# done`;
  const catalog = CATALOG.replace('"Secure shell access. Also used for scp (secure copy)."', JSON.stringify(nasty));
  assert.is.not(catalog, CATALOG, 'test setup: description not found');
  const text = nftOf(catalog);
  assert.ok(text.includes(`# T1.1 SSH: He said "hi" \\ $(rm -rf /) \`id\` <b>&amp; */ } } table ip evil { chain c { type filter hook input priority 0; policy accept; } } # done`), 'text kept on one comment line');
  // Every line that mentions the injected table is a comment.
  for (const line of text.split('\n')) if (line.includes('evil')) assert.match(line, /^\s*#/, line);
  const loaded = loadListing(text);
  assert.is(loaded.code, 0, loaded.err);
  assert.not.match(loaded.out, /table ip evil/);
  assert.match(loaded.out, /table inet portcullis/);
});

test('rule comments are within 128 bytes and use a safe alphabet, even for long ids and many rows', () => {
  const text = nftOf(CATALOG);
  const comments = [...text.matchAll(/comment "([^"]*)"/g)].map((m) => m[1]);
  assert.ok(comments.length >= 4, 'rules carry comments');
  for (const c of comments) {
    assert.ok(Buffer.byteLength(c) < 128, c);
    assert.match(c, /^[A-Za-z0-9 .,:_+/-]+$/);
  }
  // A service name with quotes goes into # lines only, never into a comment string.
  const withQuotes = CATALOG.replace('service: "SSH"', 'service: "S\\"S;H"');
  assert.is.not(withQuotes, CATALOG, 'test setup: service not found');
  const quoted = nftOf(withQuotes);
  assert.ok(quoted.includes('# T1.1 S"S;H: Secure shell access.'), 'the name is kept in the # line');
  for (const c of [...quoted.matchAll(/comment "([^"]*)"/g)].map((m) => m[1])) assert.not.match(c, /"|;/);
});

test.run();
