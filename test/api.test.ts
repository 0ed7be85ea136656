// The library API a provisioning pipeline embeds: compile() takes texts (no
// file system needed), returns files or positioned diagnostics, and never
// throws for bad input.

import * as fs from 'fs';
import * as path from 'path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import * as api from '../src/index';
import type { CompileResult, Diagnostic } from '../src/index';
import { fixture, ROOT, runCli } from './helpers/cli';

const read = (...p: string[]) => fs.readFileSync(fixture(...p), 'utf8');
const example = () => ({ path: 'fixtures/profiles/example.yaml', text: read('profiles', 'example.yaml') });

function assertFailure(r: CompileResult, file: string): Diagnostic[] {
  assert.is(r.ok, false);
  if (r.ok) throw new Error('unreachable');
  assert.ok(Array.isArray(r.diagnostics) && r.diagnostics.length > 0, 'at least one diagnostic');
  assert.equal(Object.keys(r).sort(), ['diagnostics', 'ok'], 'a failure carries no files');
  for (const d of r.diagnostics) {
    assert.is(d.level, 'error');
    assert.is(d.file, file);
    assert.type(d.message, 'string');
    assert.ok(d.message.length > 0);
    assert.ok(d.pos, `positioned: ${d.message}`);
    assert.ok(Number.isInteger(d.pos!.line) && d.pos!.line >= 1, 'line');
    assert.ok(Number.isInteger(d.pos!.col) && d.pos!.col >= 1, 'col');
    assert.type(d.sourceLine, 'string');
  }
  return r.diagnostics;
}

test('the package entry point is build/src/index.js and exports the API', () => {
  const pkg = JSON.parse(fs.readFileSync(path.join(ROOT, 'package.json'), 'utf8'));
  assert.is(pkg.main, 'build/src/index.js');
  const viaMain = require(path.join(ROOT, pkg.main));
  for (const name of ['compile', 'load', 'formatDiagnostic', 'CompileError', 'errorCount', 'writeOutputs', 'checkOutputs', 'catalogSchema', 'profileSchema'])
    assert.ok(name in viaMain, `exports ${name}`);
  assert.is(viaMain.compile, api.compile);
});

test('compile(): ok, files and diagnostics have the documented shapes', () => {
  const r = api.compile({ profile: example() });
  assert.is(r.ok, true);
  if (!r.ok) return;
  assert.is(r.environment, 'prod-east');
  assert.equal(r.diagnostics, []);
  assert.ok(r.files.length >= 1);
  for (const f of r.files) {
    assert.equal(Object.keys(f).sort(), ['content', 'path', 'target']);
    assert.ok(f.path.startsWith(`prod-east/${f.target}/`), f.path);
    assert.not.match(f.path, /(^|\/)\.\.?(\/|$)|\\/, 'no . or .. segments, no backslashes');
    assert.type(f.content, 'string');
    assert.ok(f.content.endsWith('\n'), `${f.path} ends with a newline`);
  }
  const nft = r.files.find((f) => f.path === 'prod-east/nftables/portcullis.nft');
  assert.ok(nft, 'the nftables file is among the default targets');
  assert.is(nft!.target, 'nftables');
  // The IR comes along, for explain/lint-style tooling.
  assert.ok(r.ir.rules.length > 0);
  assert.is(r.ir.environment, 'prod-east');
});

test('compile({targets}) emits only those targets, in a stable order', () => {
  const r = api.compile({ profile: example(), targets: ['nftables'] });
  assert.ok(r.ok);
  if (!r.ok) return;
  assert.equal(
    r.files.map((f) => f.path),
    ['prod-east/nftables/portcullis.nft'],
  );
});

test('the library and the CLI produce the same bytes', () => {
  const r = api.compile({ profile: example(), targets: ['nftables'] });
  assert.ok(r.ok);
  if (!r.ok) return;
  const cli = runCli(['compile', '--profile', 'fixtures/profiles/example.yaml', '--target', 'nftables', '--stdout']);
  assert.is(cli.code, 0, cli.stderr);
  assert.is(r.files[0].content, cli.stdout);
});

test('JSON text is accepted through the API too', () => {
  const r = api.compile({ profile: { path: 'x.json', text: read('profiles', 'variants', 'example.json') }, targets: ['nftables'] });
  const y = api.compile({ profile: example(), targets: ['nftables'] });
  assert.ok(r.ok && y.ok);
  if (r.ok && y.ok) assert.is(r.files[0].content, y.files[0].content);
});

test('a custom catalog through the API', () => {
  const r = api.compile({
    profile: { path: 'p.yaml', text: read('profiles', 'mini.yaml') },
    catalog: { path: 'c.yaml', text: read('catalogs', 'mini.yaml') },
    targets: ['nftables'],
  });
  assert.ok(r.ok, JSON.stringify(!r.ok && r.diagnostics));
  if (!r.ok) return;
  const text = r.files[0].content;
  assert.match(text, /ip saddr @admins_v4 tcp dport \{ 22, 8080 \} accept/);
  assert.match(text, /ip6 saddr @nodes_v6 udp dport 7946 accept/);
  assert.match(text, /ip saddr @monitor_v4 tcp dport 9100 accept/, 'catalog default address used for monitor');
});

test('bad input: ok:false with positioned diagnostics, never a throw (every bad profile fixture)', () => {
  const dir = fixture('profiles', 'bad');
  const files = fs.readdirSync(dir).sort();
  assert.ok(files.length >= 20, `${files.length} bad fixtures`);
  for (const name of files) {
    const file = `bad/${name}`;
    let r: CompileResult | undefined;
    try {
      r = api.compile({ profile: { path: file, text: fs.readFileSync(path.join(dir, name), 'utf8') } });
    } catch (e) {
      assert.unreachable(`compile() threw for ${name}: ${(e as Error).stack}`);
    }
    assertFailure(r!, file);
  }
});

test('bad catalog: diagnostics point into the catalog text', () => {
  const dir = fixture('catalogs', 'bad');
  for (const name of fs.readdirSync(dir).sort()) {
    const r = api.compile({ profile: { path: 'p.yaml', text: read('profiles', 'mini.yaml') }, catalog: { path: `cat/${name}`, text: fs.readFileSync(path.join(dir, name), 'utf8') } });
    assertFailure(r, `cat/${name}`);
  }
});

test('diagnostics carry message, position, hint and source line; formatDiagnostic prints FILE:LINE:COL', () => {
  const r = api.compile({ profile: { path: 'hb.yaml', text: read('profiles', 'bad', 'v4-host-bits.yaml') } });
  const [d] = assertFailure(r, 'hb.yaml');
  assert.equal(d.pos, { line: 9, col: 7 });
  assert.match(d.message, /'10\.0\.0\.1\/24' has host bits set/);
  assert.match(d.hint ?? '', /10\.0\.0\.0\/24/);
  assert.is(d.sourceLine, '    - 10.0.0.1/24');
  const text = api.formatDiagnostic(d);
  assert.match(text, /^hb\.yaml:9:7: error: .*host bits set\n {2}9 \| {5}- 10\.0\.0\.1\/24\n {4}\| {7}\^\n {2}hint: /);
});

test('several errors come back together, in source order', () => {
  const r = api.compile({ profile: { path: 'm.yaml', text: read('profiles', 'bad', 'many-errors.yaml') } });
  const ds = assertFailure(r, 'm.yaml');
  assert.equal(
    ds.map((d) => `${d.pos!.line}:${d.pos!.col}`),
    ['4:3', '5:22', '6:23', '8:14', '10:3'],
  );
});

test('load() throws CompileError (with the same diagnostics) on bad input', () => {
  const profile = { path: 'hb.yaml', text: read('profiles', 'bad', 'v4-host-bits.yaml') };
  try {
    api.load({ profile });
    assert.unreachable('load() should throw');
  } catch (e) {
    assert.instance(e, api.CompileError);
    assert.equal((e as InstanceType<typeof api.CompileError>).diagnostics, (api.compile({ profile }) as { diagnostics: Diagnostic[] }).diagnostics);
  }
});

test('compile() does not touch the file system it is not asked to', () => {
  const before = fs.readdirSync(ROOT).sort();
  api.compile({ profile: example() });
  api.compile({ profile: { path: 'b.yaml', text: 'environment: [' } });
  assert.equal(fs.readdirSync(ROOT).sort(), before);
});

test('non-string and odd inputs are diagnostics, not crashes', () => {
  for (const text of ['', '   \n', '# only a comment\n', '[]', '42', 'null', '"a string"', '{}', 'environment: x\ngroups: []\n']) {
    let r: CompileResult | undefined;
    try {
      r = api.compile({ profile: { path: 'odd.yaml', text } });
    } catch (e) {
      assert.unreachable(`compile() threw for ${JSON.stringify(text)}: ${(e as Error).stack}`);
    }
    assert.is(r!.ok, false, JSON.stringify(text));
    if (!r!.ok) assert.ok(r!.diagnostics.length > 0 && r!.diagnostics.every((d) => d.file === 'odd.yaml'), JSON.stringify(text));
  }
});

test('the IR names address sets and never multiplies addresses by ports', () => {
  const many = Array.from({ length: 600 }, (_, i) => `10.${20 + (i >> 8)}.${i & 255}.1`);
  const big = read('profiles', 'example.yaml').replace('nodes:       [10.20.0.11, 10.20.0.12, 10.20.0.13]', `nodes: [${many.join(', ')}]`);
  const small = api.compile({ profile: example(), targets: ['nftables'] });
  const large = api.compile({ profile: { path: 'big.yaml', text: big }, targets: ['nftables'] });
  assert.ok(small.ok && large.ok);
  if (!small.ok || !large.ok) return;
  assert.is(large.ir.rules.length, small.ir.rules.length);
  assert.equal(
    large.ir.rules.map((r) => r.id),
    small.ir.rules.map((r) => r.id),
  );
  const nodes = large.ir.sets.find((s) => s.name === 'nodes_v4')!;
  assert.is(nodes.cidrs.length, 600);
  const accepts = (t: string) => t.split('\n').filter((l) => / accept comment /.test(l)).length;
  assert.is(accepts(large.files[0].content), accepts(small.files[0].content));
});

test('off-host rules from one source to two destinations stay two rules (IR ids name both ends)', () => {
  const r = api.compile({
    profile: { path: 'offhost.yaml', text: read('profiles', 'offhost.yaml') },
    catalog: { path: 'offhost-catalog.yaml', text: read('catalogs', 'offhost.yaml') },
    targets: ['nftables'],
  });
  assert.ok(r.ok, JSON.stringify(!r.ok && r.diagnostics));
  if (!r.ok) return;
  const off = r.ir.rules.filter((x) => x.scope === 'off-host');
  assert.equal(
    off.map((x) => [x.sourceGroup, x.destinationGroup, x.destination, x.ports.map((p) => `${p.lo}-${p.hi}`).join(','), x.provenance.map((p) => p.ref).join(' ')]),
    [
      ['support', 'bmc', 'bmc_v4', '623-623', 'T1.2'],
      ['support', 'storage', 'storage_v4', '443-443', 'T1.3'],
    ],
  );
  assert.is(new Set(off.map((x) => x.id)).size, 2);
  for (const x of off) assert.ok(x.id.includes(x.sourceGroup) && x.id.includes(x.destinationGroup), x.id);
});

test('the schemas are exported and are what `portcullis schema` prints', () => {
  for (const kind of ['profile', 'catalog'] as const) {
    const r = runCli(['schema', kind]);
    assert.is(r.code, 0, r.stderr);
    assert.equal(JSON.parse(r.stdout), JSON.parse(JSON.stringify(kind === 'profile' ? api.profileSchema : api.catalogSchema)));
  }
});

// Argument errors: a JavaScript caller gets a TypeError naming the argument
// and what it got, from the entry point itself, never one from deep inside
// the loader (before: "Cannot read properties of undefined (reading
// 'length')" and the like, with a stack through src/load/yaml.ts).
function throwsArgumentError(call: () => unknown, message: RegExp): void {
  let caught: unknown;
  try {
    call();
  } catch (e) {
    caught = e;
  }
  assert.ok(caught !== undefined, `expected a TypeError matching ${message}`);
  assert.instance(caught, TypeError);
  const e = caught as TypeError;
  assert.match(e.message, message);
  // Thrown by the entry point, before any of the argument was used.
  const frames = (e.stack ?? '').split('\n').filter((l) => /^\s+at /.test(l));
  assert.not.match(frames[0] ?? '', /[/\\]src[/\\](load|ir|targets)[/\\]/, `thrown from inside the compiler:\n${e.stack}`);
}

test('compile(): bad arguments are TypeErrors naming the argument', () => {
  const profile = example();
  const anyApi = api as unknown as Record<string, (...a: unknown[]) => unknown>;
  throwsArgumentError(() => anyApi.compile('fixtures/profiles/example.yaml'), /^compile\(\): options must be an object \{profile, catalog\?, targets\?\}, got string "fixtures\/profiles\/example\.yaml"$/);
  throwsArgumentError(() => anyApi.compile(), /^compile\(\): options must be an object .*, got undefined$/);
  throwsArgumentError(() => anyApi.compile(null), /^compile\(\): options must be an object .*, got null$/);
  throwsArgumentError(() => anyApi.compile({ profile: 'fixtures/profiles/example.yaml' }), /^compile\(\): options\.profile must be \{path: string, text: string\}, got string "fixtures\/profiles\/example\.yaml" \(pass the text itself/);
  throwsArgumentError(() => anyApi.compile({ profile: 42 }), /^compile\(\): options\.profile must be \{path: string, text: string\}, got number$/);
  throwsArgumentError(() => anyApi.compile({ profile: null }), /options\.profile must be .*, got null$/);
  throwsArgumentError(() => anyApi.compile({}), /options\.profile must be .*, got undefined$/);
  throwsArgumentError(() => anyApi.compile({ profile: { path: 'p.yaml' } }), /options\.profile must be \{path: string, text: string\}, got \{path: string\}$/);
  throwsArgumentError(() => anyApi.compile({ profile: { path: 'p.yaml', text: Buffer.from('x') } }), /options\.profile must be .*, got \{path: string, text: object\}$/);
  throwsArgumentError(() => anyApi.compile({ profile: Buffer.from('environment: x') }), /options\.profile must be .*, got a Buffer$/);
  throwsArgumentError(() => anyApi.compile({ profile, catalog: 'catalog/thoughtspot.yaml' }), /^compile\(\): options\.catalog must be \{path: string, text: string\} or omitted \(the built-in catalog\), got string/);
  throwsArgumentError(() => anyApi.compile({ profile, catalog: null }), /options\.catalog must be .*, got null$/);
  throwsArgumentError(() => anyApi.compile({ profile, targets: 'nftables' }), /^compile\(\): options\.targets must be an array of target names \(nftables, iptables, firewalld, terraform-aws, azure-nsg\) or omitted \(all of them\), got string "nftables"$/);
  throwsArgumentError(() => anyApi.compile({ profile, targets: ['nftables', 'pf'] }), /^compile\(\): options\.targets\[1\] must be one of nftables, .*, got string "pf"$/);
  throwsArgumentError(() => anyApi.compile({ profile, targets: [1] }), /options\.targets\[0\] must be one of .*, got number$/);
  throwsArgumentError(() => anyApi.compile({ profile, targets: [] }), /^compile\(\): options\.targets is empty/);
  throwsArgumentError(() => anyApi.compile({ profile, targets: ['nftables', 'nftables'] }), /options\.targets names 'nftables' twice/);
  throwsArgumentError(() => anyApi.compile({ profile, target: ['nftables'] }), /^compile\(\): unknown option "target" \(known: profile, catalog, targets\)$/);
});

test('load(), render() and the output functions check their arguments too', () => {
  const anyApi = api as unknown as Record<string, (...a: unknown[]) => unknown>;
  throwsArgumentError(() => anyApi.load('fixtures/profiles/example.yaml'), /^load\(\): options must be an object/);
  throwsArgumentError(() => anyApi.load({ profile: 7 }), /^load\(\): options\.profile must be \{path: string, text: string\}, got number$/);
  throwsArgumentError(() => anyApi.render({}), /^render\(\): loaded must be what load\(\) returns \(\{catalog, profile, ir\}\), got \{\}$/);
  throwsArgumentError(() => anyApi.render(null), /^render\(\): loaded must be .*, got null$/);
  throwsArgumentError(() => anyApi.render({ ir: {}, profile: {} }), /^render\(\): loaded must be/);
  const loaded = api.load({ profile: example() });
  throwsArgumentError(() => anyApi.render(loaded, 'nftables'), /^render\(\): targets must be an array of target names/);
  throwsArgumentError(() => anyApi.render(loaded, ['pf']), /^render\(\): targets\[0\] must be one of/);
  // The same values, well-formed, work.
  const r = api.render(loaded, ['nftables']);
  assert.ok(r.ok);
  throwsArgumentError(() => anyApi.writeOutputs(undefined, []), /^writeOutputs\(\): outDir must be a directory path \(a non-empty string\), got undefined$/);
  throwsArgumentError(() => anyApi.writeOutputs('', []), /^writeOutputs\(\): outDir must be/);
  throwsArgumentError(() => anyApi.writeOutputs('/tmp/unused', 'files'), /^writeOutputs\(\): entries must be an array of \{path, target, content\}/);
  throwsArgumentError(() => anyApi.writeOutputs('/tmp/unused', [{ path: 'a/b/c' }]), /^writeOutputs\(\): entries\[0\] must be \{path: string, target: string, content: string\}, got \{path: string\}$/);
  throwsArgumentError(() => anyApi.writeOutputs('/tmp/unused', [{ path: '../../etc/x', target: 'nftables', content: '' }]), /^writeOutputs\(\): entries\[0\]\.path must be '<environment>\/<target>\/<file>'/);
  throwsArgumentError(() => anyApi.writeOutputs('/tmp/unused', [], { onWait: 'yes' }), /^writeOutputs\(\): options must be \{onWait\?: \(message: string\) => void\}, got \{onWait: string\}$/);
  throwsArgumentError(() => anyApi.writeOutputs('/tmp/unused', [], null), /^writeOutputs\(\): options must be/);
  throwsArgumentError(() => anyApi.checkOutputs('/tmp/unused', [{ path: 'env/nftables/../../x', target: 'nftables', content: '' }]), /^checkOutputs\(\): entries\[0\]\.path must be/);
  throwsArgumentError(() => anyApi.formatDiagnostic('oops'), /^formatDiagnostic\(\): d must be a diagnostic/);
  assert.not.ok(fs.existsSync('/tmp/unused'), 'nothing written for a rejected call');
});

test('well-formed calls are unaffected: omitted catalog/targets, an explicit undefined catalog, every target by name', () => {
  const all = api.compile({ profile: example() });
  const named = api.compile({ profile: example(), catalog: undefined, targets: ['nftables', 'iptables', 'firewalld', 'terraform-aws', 'azure-nsg'] });
  assert.ok(all.ok && named.ok);
  if (all.ok && named.ok) assert.equal(named.files.map((f) => f.path).sort(), all.files.map((f) => f.path).sort());
});

test.run();
