// Line limits (issue 12, class 1), without a kernel: the shared comment
// wrapper (commentLines), the last-step guard every backend runs
// (checkLines), and every target's output for inputs with 20 KiB hostile
// texts in every text field: no line over its reader's limit, input text
// only in comment lines, AWS descriptions within 255 characters of AWS's
// alphabet, Azure descriptions within 140. The kernel side (real loads,
// state compared with short texts) is test/line-limits-kernel.test.ts.
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import fc from 'fast-check';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { AZURE_LIMITS, AZURE_LINE_MAX } from '../src/targets/azure-nsg/render';
import { checkLines, COMMENT_TEXT_MAX, commentLines, oneLine, utf8Length } from '../src/targets/base';
import type { LineLimit, TargetName } from '../src/targets/base';
import { FIREWALLD_LINE_MAX } from '../src/targets/firewalld/render';
import { IPSET_RESTORE_LINE_MAX, IPSETS_LINE_LIMIT, IPTABLES_COMMENT_MAX, IPTABLES_RESTORE_LINE_MAX, RULES_LINE_LIMIT } from '../src/targets/iptables/render';
import { NFT_COMMENT_MAX, NFT_LINE_LIMIT, NFT_LINE_MAX } from '../src/targets/nftables/render';
import { AWS_DESCRIPTION_MAX, TERRAFORM_LINE_MAX } from '../src/targets/terraform-aws/render';
import { compile, OutputEntry } from '../src/compile';
import { formatDiagnostic } from '../src/diagnostics';
import { AWS_DESCRIPTION, loadModule } from './helpers/aws-sg-model';
import { NsgModel } from './helpers/azure-nsg-model';
import { hostileInputs, Shape, TEXT_FIELDS, TextField, textsIn } from './helpers/hostile-inputs';

// ------------------------------------------------------------ commentLines

const LINE_BREAKING = /[\u0000-\u0008\u000a-\u001f\u007f-\u009f\u2028\u2029]/;

const anyText = fc.oneof(
  fc.string({ unit: 'grapheme', maxLength: 3000 }),
  fc.string({ unit: 'binary', maxLength: 3000 }),
  fc.array(fc.constantFrom('\n', '\r\n', ' ', ',', '#', 'é', '漢', '😀', '\u0085', '\u2028', 'word', '12345,', '-A INPUT -j ACCEPT'), { maxLength: 800 }).map((a) => a.join('')),
);

test('commentLines: every line fits, holds no line break or control, and the text survives (bar blanks)', () => {
  fc.assert(
    fc.property(anyText, fc.integer({ min: 8, max: 600 }), (text, max) => {
      const lines = commentLines(text, max);
      assert.ok(lines.length >= 1);
      for (const [i, l] of lines.entries()) {
        assert.ok(utf8Length(l) <= max, `line ${i} is ${utf8Length(l)} bytes > ${max}`);
        assert.not.ok(LINE_BREAKING.test(l), `line ${i} holds a line break or control`);
        if (i > 0) assert.ok(l.startsWith('  ') && l.length > 2, 'a continuation line is indented and not empty');
      }
      const squeeze = (s: string) => s.replace(/ /g, '').replace(/\uFFFD/g, '');
      assert.is(squeeze(lines.join('')), squeeze(oneLine(text)));
      if (utf8Length(oneLine(text)) <= max) assert.equal(lines, [oneLine(text)]);
    }),
    { numRuns: 300 },
  );
});

test('commentLines: long text breaks at spaces and after commas, counts UTF-8 bytes', () => {
  const words = Array.from({ length: 200 }, (_, i) => `word${i}`).join(' ');
  const lines = commentLines(words, 100);
  assert.ok(lines.length > 1);
  for (const l of lines) assert.match(l, /^( {2})?word\d+( word\d+)*$/, 'whole words on every line');
  const ports = commentLines(Array.from({ length: 300 }, (_, i) => 20000 + 2 * i).join(','), 100);
  for (const l of ports) assert.match(l, /^( {2})?\d{5}(,\d{5})*,?$/, 'whole port numbers on every line');
  // 200 three-byte characters are 600 bytes: cut by bytes, on character boundaries.
  const wide = commentLines('漢'.repeat(200), 100);
  for (const l of wide) assert.ok(utf8Length(l) <= 100 && !l.includes('\uFFFD'));
  assert.is(wide.join('').replace(/ /g, ''), '漢'.repeat(200));
});

// ------------------------------------------------------------ checkLines

test('checkLines: a line over the limit, a control character or a bad rule line is an internal error', () => {
  const limit = { maxBytes: 20, reader: 'a test reader' };
  const files = (content: string) => [{ path: 'f', content }];
  assert.not.throws(() => checkLines('nftables', files('short\n\tok\n'), () => limit));
  assert.throws(() => checkLines('nftables', files(`ok\n${'x'.repeat(21)}\n`), () => limit), /internal: nftables: f line 2 is 21 bytes, more than the 20 that a test reader reads as one line/);
  assert.throws(() => checkLines('nftables', files('é'.repeat(11)), () => limit), /is 22 bytes/);
  for (const c of ['\r', '\u0000', '\u001b', '\u0085', '\u2028'])
    assert.throws(() => checkLines('iptables', files(`# a${c}b`), () => limit), /internal: iptables: f line 1 holds the control character U\+/);
  const rules = (line: string) => checkLines('iptables', [{ path: 'rules.v4', content: `*filter\n${line}\nCOMMIT\n` }], () => RULES_LINE_LIMIT);
  assert.not.throws(() => rules(`-A X -m comment --comment "${'c'.repeat(IPTABLES_COMMENT_MAX)}" -j ACCEPT`));
  assert.not.throws(() => rules(`# ${'x '.repeat(600)}`), 'a comment line may have any number of words');
  assert.throws(() => rules(`-A X -m comment --comment "${'c'.repeat(IPTABLES_COMMENT_MAX + 1)}" -j ACCEPT`), /a comment of 256 bytes/);
  assert.throws(() => rules(`-A X -m comment --comment "${'c '.repeat(600)}" -j ACCEPT`), /an argument of 1200 bytes, more than iptables-restore's 1023/);
  assert.throws(() => rules(`-A X${' -j'.repeat(300)}`), /302 arguments, more than iptables-restore's 247/);
  const nft = (line: string) => checkLines('nftables', [{ path: 'portcullis.nft', content: `\t\t${line}\n` }], () => NFT_LINE_LIMIT);
  assert.not.throws(() => nft(`tcp dport 22 accept comment "${'c'.repeat(NFT_COMMENT_MAX)}"`));
  assert.throws(() => nft(`tcp dport 22 accept comment "${'c'.repeat(NFT_COMMENT_MAX + 1)}"`), /a comment of 129 bytes, more than nft's 128/);
  assert.not.throws(() => nft(`# text that says comment "${'c'.repeat(NFT_COMMENT_MAX + 1)}"`), 'a # line is text');
  const ipsets = (line: string) => checkLines('iptables', [{ path: 'ipsets', content: `${line}\n` }], () => IPSETS_LINE_LIMIT);
  assert.not.throws(() => ipsets('  # a b c d e f g h i j k l m n o p q r s t u v w x y z 1 2 3 4 5 6'));
  assert.throws(() => ipsets(`add s${' x'.repeat(40)}`), /42 words, more than ipset restore's 30/);
  assert.throws(() => ipsets(`# ${'x'.repeat(IPSET_RESTORE_LINE_MAX)}`), /1024 bytes, more than the 1022 that ipset restore/);
});

test('checkLines: a limit\'s checkOnly pattern holds on every line its check finds a problem in, so the two readings agree', () => {
  const word = fc.oneof(
    fc.constantFrom('-A', 'X', '-m', 'comment', '--comment', 'add', 's', 'accept', '#', 'comment "', '"', ' comment "x"', '-j', 'ACCEPT', '\t'),
    fc.string({ maxLength: 8 }).map((w) => w.replace(/[\n\u0000-\u0008\u000b-\u001f\u007f-\u009f\u2028\u2029]/g, '')),
    fc.nat(400).map((n) => 'c'.repeat(n)),
    fc.nat(300).map((n) => 'x '.repeat(n)),
  );
  const line = fc.array(word, { maxLength: 40 }).map((ws) => ws.join(' '));
  for (const limit of [RULES_LINE_LIMIT, IPSETS_LINE_LIMIT, NFT_LINE_LIMIT]) {
    const only = limit.checkOnly!;
    const picks = (l: string) => ('holding' in only ? l.includes(only.holding) : l.length >= only.minLength);
    fc.assert(
      fc.property(fc.array(line, { minLength: 1, maxLength: 6 }), (lines) => {
        for (const l of lines) if (limit.check!(l) !== undefined) assert.ok(picks(l), `a problem in a line checkOnly skips: ${JSON.stringify(l.slice(0, 200))}`);
        const content = lines.join('\n');
        const outcome = (lim: LineLimit) => {
          try {
            checkLines('iptables', [{ path: 'f', content }], () => lim);
            return 'ok';
          } catch (e) {
            return (e as Error).message;
          }
        };
        assert.is(outcome(limit), outcome({ ...limit, checkOnly: undefined }));
      }),
      { numRuns: 400, seed: 7 },
    );
  }
});

// ------------------------------------------------------------ every target

/** A 20 KiB text that is hostile to every target's syntax. */
function hostile(field: TextField): string {
  const bits = [`${field}:`, 'line\nbreak', 'cr\rlf\r\n', 'tab\t', 'esc\u001b[2J', 'nel\u0085', 'ls\u2028', '"quoted"', "'single'", 'back\\slash', '# hash', 'semi;colon', '-A INPUT -j ACCEPT', 'add set pc-admins_v4 0.0.0.0/1', '${var.x} %{ if }', '--> <!-- ]]> &amp;', '</description>', "[variables('x')]", 'é 漢字 😀 \u202e', `accept comment "${'c'.repeat(200)}"`, `-m comment --comment "${'c'.repeat(300)}"`];
  let s = '';
  while (s.length < 20 * 1024) s += bits.join(' ') + ' ';
  return s;
}

/** The readers' limits, from the constants the backends cite. */
function lineMax(target: TargetName, file: string): number {
  switch (target) {
    case 'iptables':
      return path.basename(file).startsWith('ipsets') ? IPSET_RESTORE_LINE_MAX : IPTABLES_RESTORE_LINE_MAX;
    case 'nftables':
      return NFT_LINE_MAX;
    case 'firewalld':
      return FIREWALLD_LINE_MAX;
    case 'terraform-aws':
      return TERRAFORM_LINE_MAX;
    case 'azure-nsg':
      return AZURE_LINE_MAX;
  }
}

function compileAll(shape: Shape, text: (f: TextField) => string, targets: TargetName[]): OutputEntry[] {
  const inputs = hostileInputs(shape, text);
  const carried = textsIn(inputs.catalog, inputs.profile);
  for (const f of TEXT_FIELDS) assert.is(carried.get(f), text(f), `the YAML carries the text of ${f}`);
  const r = compile({ catalog: { path: 'hostile-catalog.yaml', text: inputs.catalog }, profile: { path: 'hostile-profile.yaml', text: inputs.profile }, targets });
  if (!r.ok) throw new Error(`compile failed:\n${r.diagnostics.map((d) => formatDiagnostic(d)).join('\n')}`);
  return r.files;
}

const HOST: TargetName[] = ['nftables', 'iptables', 'firewalld'];
const CLOUD: TargetName[] = ['terraform-aws', 'azure-nsg'];

/** Lines a host target may write besides comments: the statements its
 * templates make, none of which carries input text. */
const STATEMENT: Partial<Record<string, RegExp>> = {
  'rules.v': /^(\*filter|COMMIT|:(INPUT|FORWARD|OUTPUT) ACCEPT \[0:0\]|:PORTCULLIS-(INPUT|OUTPUT) - \[0:0\]|-(I (INPUT|OUTPUT) 1|A (INPUT|OUTPUT)) -j PORTCULLIS-(INPUT|OUTPUT)|-A PORTCULLIS-(INPUT|OUTPUT)( [-A-Za-z0-9 ,:_./@]*)?( -m comment --comment "[A-Za-z0-9 .,:_+/-]*")? -j (ACCEPT|DROP|RETURN|(LOG|NFLOG( --nflog-group \d+)?) --(log|nflog)-prefix "portcullis-drop (in|out): "))$/,
  ipsets: /^(create|flush|add|swap|destroy) [-A-Za-z0-9_.:/ ]+$/,
};

for (const egress of ['allow', 'restrict'] as const)
  test(`20 KiB hostile texts in every field (egress: ${egress}): no line over its reader's limit, text only in comments, in every target`, () => {
    const files = compileAll({ egress, backupPorts: 300 }, hostile, HOST).concat(compileAll({ egress, backupPorts: 3 }, hostile, CLOUD));
    for (const t of [...HOST, ...CLOUD]) assert.ok(files.some((f) => f.target === t), `${t} wrote files`);
    for (const f of files) {
      const max = lineMax(f.target, f.path);
      f.content.split('\n').forEach((line, i) => {
        assert.ok(utf8Length(line) <= max, `${f.path} line ${i + 1}: ${utf8Length(line)} bytes > ${max}`);
        assert.not.ok(/[\r\u0085\u2028\u001b]/.test(line), `${f.path} line ${i + 1}: a line break or control character`);
        const shape = Object.entries(STATEMENT).find(([k]) => path.basename(f.path).startsWith(k))?.[1];
        if (shape && !/^\s*(#|$)/.test(line)) assert.match(line, shape, `${f.path} line ${i + 1} is not a statement of ours: ${line.slice(0, 200)}`);
      });
      // Comments are wrapped: every comment line of ours is short.
      for (const line of f.content.split('\n')) if (/^\s*# /.test(line)) assert.ok(utf8Length(line.trim()) <= COMMENT_TEXT_MAX + 2, `${f.path}: a comment line over the wrap width`);
    }
    // The text is there, as comments (not dropped): the ssh row's description, wrapped.
    const rulesV4 = files.find((f) => f.path.endsWith('iptables/rules.v4'))!.content;
    const wrapped = rulesV4.split('\n').filter((l) => l.startsWith('# ')).map((l) => l.slice(2)).join(' ');
    assert.ok(wrapped.replace(/ /g, '').includes(oneLine(hostile('rules.ssh.cells.description')).slice(0, 2000).replace(/ /g, '')), 'the description is in the comments');
    const nft = files.find((f) => f.path.endsWith('portcullis.nft'))!.content;
    const statements = nft.split('\n').filter((l) => !/^\s*#/.test(l)).join('\n');
    const comments = [...statements.matchAll(/ comment "([^"]*)"/g)];
    assert.ok(comments.length > 5, 'nft rules have comments');
    for (const m of comments) assert.ok(utf8Length(m[1]) <= NFT_COMMENT_MAX, `nft comment within 128 bytes: ${m[1]}`);
  });

test('terraform-aws: hostile texts give descriptions AWS accepts (at most 255 of its characters), parsed back by HCL', async () => {
  for (const egress of ['allow', 'restrict'] as const) {
    const files = compileAll({ egress, backupPorts: 3 }, hostile, ['terraform-aws']);
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), `pcl-tf-${process.pid}-`));
    try {
      for (const f of files) fs.writeFileSync(path.join(dir, path.basename(f.path)), f.content);
      // loadModule refuses any description AWS would refuse (alphabet, length).
      const mod = await loadModule(dir, { vpc_id: 'vpc-0123456789abcdef0' });
      assert.ok(mod.rules.length > 10, 'rules parsed');
      const texty = mod.rules.filter((r) => r.description.includes('rules.ssh.cells.service'));
      assert.ok(texty.length > 0, 'descriptions carry the (sanitized) text');
      for (const r of mod.rules) {
        assert.ok(r.description.length <= AWS_DESCRIPTION_MAX, `${r.key}: ${r.description.length} characters`);
        assert.match(r.description, AWS_DESCRIPTION);
      }
      for (const g of mod.groups.values()) assert.ok(g.description.length <= AWS_DESCRIPTION_MAX && AWS_DESCRIPTION.test(g.description));
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  }
});

test('azure-nsg: hostile texts give rule descriptions of at most 140 characters, metadata kept as wrapped text', () => {
  for (const egress of ['allow', 'restrict'] as const) {
    const nsg = compileAll({ egress, backupPorts: 3 }, hostile, ['azure-nsg']).find((f) => f.path.endsWith('nsg.json'))!;
    const template = JSON.parse(nsg.content);
    // The model refuses a description over 140 characters, among others.
    new NsgModel(template, { virtualNetwork: ['10.0.0.0/8'] });
    const rules = template.resources[0].properties.securityRules as { name: string; properties: { description: string } }[];
    for (const r of rules) assert.ok(r.properties.description.length <= AZURE_LIMITS.descriptionLength, `${r.name}: ${r.properties.description.length}`);
    const provenance = Object.values(template.metadata.rules as Record<string, string[]>).flat();
    assert.ok(provenance.some((l) => l.includes('rules.ssh.cells.description:')), 'the description is in the metadata');
    for (const l of [...provenance, ...template.metadata.comments]) assert.ok(utf8Length(l) <= COMMENT_TEXT_MAX && !/[\n\r\u2028]/.test(l));
  }
});

test.run();
