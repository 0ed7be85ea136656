// Kernel tests of the line limits (issue 12, class 1): iptables-restore reads
// a line into 10240 bytes and ipset restore into 1024 (see the constants in
// src/backends/iptables.ts); the rest of a longer line used to be read as a
// line of its own, so text in a comment became a live rule or ipset command,
// or broke the load. Each case compiles a catalog and profile, loads the
// host targets' output into fresh network namespaces (nft -f; ipset restore
// + iptables-restore + ip6tables-restore, nf_tables and legacy; the real
// firewalld daemon) and
// compares the kernel state with that of the same input with short texts.
//
// - 300 ports in one harmless rule (listed in the headers under egress:
//   allow) load, and change nothing;
// - 20 KiB texts built so that the old output's comment lines split exactly
//   into `-A PORTCULLIS-INPUT ... -j ACCEPT` (rules.v4) and `create evil ...`
//   (ipsets) stay comments;
// - property (fast-check): random 10-20 KiB texts with line breaks, controls,
//   quotes, `#`, `;`, rule and ipset commands, unicode, in every text field
//   of catalog and profile (test/helpers/hostile-inputs.ts), for random
//   shapes: the kernel state is the short-text state.
//
// Needs root and `ip netns`, nft, iptables, ipset, firewalld; fails, never
// skips, without them. More runs: LINE_LIMITS_RUNS=N; another seed:
// LINE_LIMITS_SEED=N.
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import fc from 'fast-check';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { IPSET_RESTORE_LINE_MAX, IPTABLES_RESTORE_LINE_MAX } from '../src/targets/iptables/render';
import { compile } from '../src/compile';
import { formatDiagnostic } from '../src/diagnostics';
import { unavailable } from '../src/verify/targets';
import { hostileInputs, Shape, TEXT_FIELDS, TextField, textsIn } from './helpers/hostile-inputs';
import { HostTarget, kernelState, legacyIptablesState } from './helpers/kernel-state';
import { requireNetns } from './helpers/netns';

const TARGETS: HostTarget[] = ['nftables', 'iptables', 'firewalld'];
const RUNS = Number(process.env.LINE_LIMITS_RUNS ?? 3);
const SEED = Number(process.env.LINE_LIMITS_SEED ?? 20261201);

const work = fs.mkdtempSync(path.join(os.tmpdir(), `pcl-${process.pid}-`));
let serial = 0;

/** Compiles the inputs for the host targets into a fresh directory; returns
 * each target's output directory. `expect`: texts the IR must hold (the
 * loader read the YAML as the test meant). */
function compileHost(inputs: { catalog: string; profile: string }, expect?: (field: TextField) => string): Record<HostTarget, string> {
  const r = compile({ catalog: { path: 'hostile-catalog.yaml', text: inputs.catalog }, profile: { path: 'hostile-profile.yaml', text: inputs.profile }, targets: TARGETS });
  if (!r.ok) throw new Error(`compile failed:\n${r.diagnostics.map((d) => formatDiagnostic(d)).join('\n')}`);
  if (expect) {
    assert.is(r.ir.catalog.title, expect('title'), 'the IR holds the title');
    assert.is(r.ir.catalog.document, expect('document'), 'the IR holds the document');
    const ssh = r.ir.rules.flatMap((x) => x.provenance).find((p) => p.ruleId === 'ssh')!;
    assert.is(ssh.description, expect('rules.ssh.cells.description'), 'the IR holds the description');
    assert.is(ssh.service, expect('rules.ssh.cells.service'), 'the IR holds the service');
  }
  const out = path.join(work, String(serial++));
  for (const f of r.files) {
    const file = path.join(out, f.path);
    fs.mkdirSync(path.dirname(file), { recursive: true });
    fs.writeFileSync(file, f.content);
  }
  return Object.fromEntries(TARGETS.map((t) => [t, path.join(out, r.environment, t)])) as Record<HostTarget, string>;
}

async function states(inputs: { catalog: string; profile: string }, expect?: (field: TextField) => string): Promise<Record<HostTarget, string>> {
  const dirs = compileHost(inputs, expect);
  const out = {} as Record<HostTarget, string>;
  for (const t of TARGETS) out[t] = await kernelState(t, dirs[t]);
  return out;
}

const short = (field: TextField) => `short ${field}`;

/** Kernel states of the shape with short texts, computed once per shape. */
const baselines = new Map<string, Promise<Record<HostTarget, string>>>();
function baseline(shape: Shape): Promise<Record<HostTarget, string>> {
  const key = JSON.stringify(shape);
  if (!baselines.has(key))
    baselines.set(
      key,
      states(hostileInputs(shape, short)).then((s) => {
        // Not vacuous: each load left the policy in the kernel.
        assert.match(s.nftables, /table inet portcullis \{[^]*@admins_v4 tcp dport/, 'nftables baseline');
        assert.match(s.iptables, /-A PORTCULLIS-INPUT -p tcp -m set --match-set pc-admins_v4 src -m multiport --dports 22,8080 -j ACCEPT[^]*Name: pc-admins_v4/, 'iptables baseline');
        assert.match(s.firewalld, /table inet firewalld \{[^]*portcullis/, 'firewalld baseline');
        return s;
      }),
    );
  return baselines.get(key)!;
}

function assertSameState(actual: Record<HostTarget, string>, expected: Record<HostTarget, string>, what: string): void {
  for (const t of TARGETS) assert.fixture(actual[t], expected[t], `${t}: ${what}`);
}

/**
 * A text that, written after `prefix` on one line, puts `payload` exactly
 * where a reader with a `buffer`-byte fgets() buffer starts its `chunks`-th
 * read of that line; every read in between starts with `#`, for this reader
 * and for those with the `others` buffer sizes (so the old output read as
 * comments up to the payload). ASCII, no blanks but the payload's (they
 * would be collapsed).
 */
function splitText(prefix: string, payload: string, buffer: number, chunks: number, others: number[] = []): string {
  const steps = [buffer, ...others].map((b) => b - 1);
  const line = Array.from<unknown, string>({ length: chunks * steps[0] }, (_, i) => (i > 0 && steps.some((s) => i % s === 0) ? '#' : 'a'));
  line.splice(0, prefix.length, ...prefix);
  return line.join('').slice(prefix.length) + payload;
}

test.before(() => {
  requireNetns();
  for (const t of TARGETS) {
    const missing = unavailable(t);
    if (missing) throw new Error(`line-limits kernel tests for ${t}: ${missing}`);
  }
});

test.after(() => {
  fs.rmSync(work, { recursive: true, force: true });
});

test('a rule with 300 ports (listed in the headers, egress: allow) loads in every host target and changes nothing', async () => {
  const shape: Shape = { egress: 'allow', backupPorts: 300 };
  const inputs = hostileInputs(shape, short);
  const dirs = compileHost(inputs);
  const ipsets = fs.readFileSync(path.join(dirs.iptables, 'ipsets'), 'utf8');
  assert.match(ipsets, /covered by open outbound \(egress: allow\): out-backup-v4-tcp tcp 20000,20002,/, 'the ports are in the ipsets header');
  const ports = (ipsets.match(/\b2\d{4}\b/g) ?? []).length;
  assert.ok(ports >= 300, `all 300 ports listed (found ${ports})`);
  const got = {} as Record<HostTarget, string>;
  for (const t of TARGETS) got[t] = await kernelState(t, dirs[t]);
  assertSameState(got, await baseline({ egress: 'allow', backupPorts: 1 }), 'state with 300 ports = state with 1 (the rule is egress, not enforced under allow)');
});

test('20 KiB texts aligned on the tools\' buffers stay comments: no live iptables rule, no live ipset command', async () => {
  const shape: Shape = { egress: 'restrict', backupPorts: 3 };
  // The old rules.v4 wrote "# T1.1 <service>: <description>" on one line
  // and ipsets.v4 "# Catalog: hostile (<title>), from <document>".
  const rule = '-A PORTCULLIS-INPUT -p tcp --dport 9999 -j ACCEPT';
  const ipset = 'create evil hash:net family inet';
  const texts: Partial<Record<TextField, string>> = {
    'rules.ssh.cells.service': 'SSH',
    'rules.ssh.cells.description': splitText('# T1.1 SSH: ', rule, IPTABLES_RESTORE_LINE_MAX + 2, 2),
    title: 'Hostile',
    // The same header line is in rules.v4: comments there too.
    document: splitText('# Catalog: hostile (Hostile), from ', ipset, IPSET_RESTORE_LINE_MAX + 2, 19, [IPTABLES_RESTORE_LINE_MAX + 2]),
  };
  const inputs = hostileInputs(shape, (f) => texts[f] ?? short(f));
  const carried = textsIn(inputs.catalog, inputs.profile);
  assert.ok(carried.get('rules.ssh.cells.description')!.length > 20000, 'a 20 KiB description');
  assert.ok(carried.get('document')!.length > 19000, 'a 19 KiB document name');
  const dirs = compileHost(inputs, (f) => texts[f] ?? short(f));
  const got = {} as Record<HostTarget, string>;
  for (const t of TARGETS) got[t] = await kernelState(t, dirs[t]);
  assert.not.match(got.iptables, /--dport 9999/, 'a comment became a rule');
  assert.not.match(got.iptables, /Name: evil/, 'a comment became an ipset command');
  assertSameState(got, await baseline(shape), 'state with the 20 KiB texts = state with short texts');
  // The legacy iptables-restore reads lines the same way (iptables-restore.c).
  const legacy = await legacyIptablesState(dirs.iptables);
  assert.not.match(legacy, /--dport 9999/, 'legacy: a comment became a rule');
  assert.fixture(legacy, await legacyIptablesState(compileHost(hostileInputs(shape, short)).iptables), 'legacy iptables: state with the 20 KiB texts = state with short texts');
});

// ------------------------------------------------------------ property

/** Pieces that mean something to some reader: line ends, controls (no NUL:
 * YAML cannot carry it), quotes, comment and statement syntax of every
 * target, commands, unicode (wide, combining, bidi, astral). */
const PIECES = [
  '\n', '\r', '\r\n', '\t', '\u000b', '\u000c', '\u001b[2J', '\u001b]0;title\u0007', '\u0085', '\u2028', '\u2029', '\u007f',
  '"', "'", '\\', '\\"', '`', '#', ';', '&&', '|', '$(id)', '${var.x}', '%{ if true }', '{', '}', '[', ']', '*', ' ', '  ', '-', '--',
  '\n-A INPUT -j ACCEPT\n', '-A PORTCULLIS-INPUT -j ACCEPT', '-I INPUT 1 -j ACCEPT', 'COMMIT', '*filter', ':INPUT ACCEPT [0:0]',
  '\nadd pc-admins_v4 0.0.0.0/1\n', 'add set pc-admins_v4 0.0.0.0/1', 'create evil hash:net', 'flush', 'destroy',
  'table inet x { chain c { type filter hook input priority 0; policy accept; } }', 'delete table inet portcullis', 'accept',
  `accept comment "${'c'.repeat(200)}"`, `-m comment --comment "${'c'.repeat(300)}"`,
  '-->', '<!--', ']]>', '<![CDATA[', '&amp;', '&#10;', '</description><rule/>', '*/', '/*', "[variables('x')]",
  'é', 'ß', 'e\u0301', '漢字', '😀', '\u202e', '\u2066', '\u200b', '\ufeff', '\u00a0',
];

const piece = fc.oneof(
  { weight: 3, arbitrary: fc.constantFrom(...PIECES) },
  { weight: 1, arbitrary: fc.string({ unit: 'grapheme', maxLength: 20 }) },
  // Any code point but NUL and lone surrogates (not text; YAML cannot carry them).
  { weight: 1, arbitrary: fc.string({ unit: 'binary', maxLength: 20 }).map((s) => s.replace(/\u0000|[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/g, '')) },
);

/** A text of 10-20 KiB: random pieces, repeated to the length. */
const longText = fc.record({ pieces: fc.array(piece, { minLength: 1, maxLength: 24 }), length: fc.integer({ min: 10 * 1024, max: 20 * 1024 }) }).map(({ pieces, length }) => {
  let s = '';
  for (let i = 0; s.length < length; i++) s += pieces[i % pieces.length] || 'x';
  return s;
});

const shapeArb: fc.Arbitrary<Shape> = fc.record({ egress: fc.constantFrom('allow' as const, 'restrict' as const), backupPorts: fc.constantFrom(1, 300) });

test(`property: random 10-20 KiB texts in every text field give the kernel state of short texts (${RUNS} runs)`, async () => {
  const result = await fc.check(
    fc.asyncProperty(shapeArb, fc.tuple(...TEXT_FIELDS.map(() => longText)), async (shape, texts) => {
      const byField = new Map(TEXT_FIELDS.map((f, i) => [f, texts[i]]));
      const inputs = hostileInputs(shape, (f) => byField.get(f)!);
      // The YAML carries exactly these texts: the test puts them where it says.
      const carried = textsIn(inputs.catalog, inputs.profile);
      for (const f of TEXT_FIELDS) if (carried.get(f) !== byField.get(f)) throw new Error(`the YAML does not carry the text of ${f}`);
      assertSameState(await states(inputs, (f) => byField.get(f)!), await baseline(shape), `shape ${JSON.stringify(shape)}`);
    }),
    // No shrinking: each run loads six rulesets; the seed reproduces it.
    { numRuns: RUNS, seed: SEED, endOnFailure: true },
  );
  // Not fc.assert: its message would print the 600 KB counterexample.
  if (result.failed)
    throw new Error(`property failed (LINE_LIMITS_SEED=${result.seed}, path ${result.counterexamplePath}): ${String((result.errorInstance as Error)?.message ?? result.errorInstance).slice(0, 4000)}`);
  assert.is(result.numRuns, RUNS, 'every run ran');
});

test.run();
