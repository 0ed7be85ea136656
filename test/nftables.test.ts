// nftables backend: hostile catalog text stays inside `#` comments and the
// ruleset still loads for real; rule comments stay within nft's 128 bytes.
import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { compile } from '../src/compile';
import { chainPriority } from '../src/targets/nftables/render';
import { fixture, ROOT } from './helpers/cli';

const EXAMPLE = fs.readFileSync(fixture('profiles', 'example.yaml'), 'utf8');
const CATALOG = fs.readFileSync(path.join(ROOT, 'catalog', 'thoughtspot.yaml'), 'utf8');

function nftOf(catalogText: string, profileText = EXAMPLE): string {
  const r = compile({ profile: { path: 'p.yaml', text: profileText }, catalog: { path: 'c.yaml', text: catalogText }, targets: ['nftables'] });
  if (!r.ok) throw new Error(JSON.stringify(r.diagnostics));
  return r.files[0].content;
}

function loadListing(text: string, list = 'nft list ruleset'): { code: number; out: string; err: string } {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pc-nft-'));
  const file = path.join(dir, 'portcullis.nft');
  fs.writeFileSync(file, text);
  const r = spawnSync('unshare', ['-Urn', 'sh', '-c', `nft -f ${file} && ${list}`], { encoding: 'utf8' });
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

/** The example profile with extra top-level sections. */
const withHost = (extra: string, egress = 'allow') => `${EXAMPLE.replace(/^egress: allow\b/m, `egress: ${egress}`).trimEnd()}\n${extra}\n`;

/** The statements of one chain, `#` lines and blank lines dropped. */
function chain(text: string, name: 'input' | 'output'): string[] {
  const m = new RegExp(`\\n\\tchain ${name} \\{\\n([\\s\\S]*?)\\n\\t\\}`).exec(text);
  assert.ok(m, `no chain ${name}`);
  return m![1].split('\n').map((l) => l.trim()).filter((l) => l && !l.startsWith('#'));
}

test('chain priority: nft notation, and it loads and lists as written at both ends of the range', () => {
  assert.is(chainPriority(0), 'filter');
  assert.is(chainPriority(10), 'filter + 10');
  assert.is(chainPriority(-5), 'filter - 5');
  for (const p of [-199, 299]) {
    const text = nftOf(CATALOG, withHost(`nftables: { priority: ${p} }`, 'restrict'));
    const want = `type filter hook %s priority ${chainPriority(p)}; policy drop;`;
    for (const c of ['input', 'output'] as const) assert.is(chain(text, c)[0], want.replace('%s', c));
    // nft lists a priority symbolically only within 10 of a named one; its JSON gives the number.
    const loaded = loadListing(text, 'nft -j list chains');
    assert.is(loaded.code, 0, loaded.err);
    const chains = (JSON.parse(loaded.out).nftables as Array<{ chain?: { table: string; name: string; prio: number } }>).flatMap((o) => (o.chain?.table === 'portcullis' ? [o.chain] : []));
    assert.equal(chains.map((c) => [c.name, c.prio]).sort(), [['input', p], ['output', p]], `nft -j list chains: ${loaded.out}`);
  }
  assert.is(chain(nftOf(CATALOG), 'input')[0], 'type filter hook input priority filter; policy drop;', 'default 0 is "filter"');
});

test('input chain order: trusted interfaces first, then conntrack, loopback, ICMP, the baseline, the catalog, the log last', () => {
  const text = nftOf(CATALOG, withHost('host: { trusted_interfaces: [virbr0, docker0], log: { drops: true, rate: 3/second, group: 0 } }'));
  const input = chain(text, 'input');
  const at = (re: RegExp) => {
    const i = input.findIndex((l) => re.test(l));
    assert.ok(i >= 0, `input has ${re}:\n${input.join('\n')}`);
    return i;
  };
  const order = [
    at(/^iifname \{ "docker0", "virbr0" \} accept comment "trusted-interfaces"$/),
    at(/^ct state established,related accept$/),
    at(/^ct state invalid drop$/),
    at(/^iif "lo" accept$/),
    at(/^icmpv6 type /),
    at(/^ip6 saddr fe80::\/10 ip6 daddr fe80::\/10 udp sport 547 udp dport 546 accept comment "dhcpv6-client-in"$/),
    at(/comment "in-admins-v4-tcp /),
    at(/comment "in-users-v4-tcp /),
  ];
  assert.equal(order, [...order].sort((a, b) => a - b), 'rule order');
  assert.is(input[order[0] - 1], 'type filter hook input priority filter; policy drop;');
  // Group 0 is a valid NFLOG group; the rate goes through as written.
  assert.is(input[input.length - 1], 'limit rate 3/second log prefix "portcullis-drop in: " group 0');
  // Egress allow: the output chain stays empty (no trusted, baseline or log rules).
  assert.equal(chain(text, 'output'), ['type filter hook output priority filter; policy accept;']);
  assert.match(text, /^# Trusted interfaces: docker0, virbr0 \(input\)\.$/m);
  assert.match(text, /^# to NFLOG group 0\.$/m);
});

test('egress restrict: trusted interfaces, the egress baseline and the log in the output chain; a single interface is no set', () => {
  const text = nftOf(CATALOG, withHost('host: { platform: azure, trusted_interfaces: [cni0], log: { drops: true } }', 'restrict'));
  const output = chain(text, 'output');
  assert.is(output[1], 'oifname "cni0" accept comment "trusted-interfaces"');
  assert.is(chain(text, 'input')[1], 'iifname "cni0" accept comment "trusted-interfaces"');
  for (const rule of [
    'meta nfproto ipv4 udp sport 68 udp dport 67 accept comment "dhcpv4-client-out"',
    'ip6 daddr ff02::1:2 udp sport 546 udp dport 547 accept comment "dhcpv6-client-out"',
    'ip daddr 168.63.129.16 tcp dport { 80, 32526 } accept comment "platform-azure-wireserver-v4"',
  ])
    assert.ok(output.includes(rule), `output has ${rule}:\n${output.join('\n')}`);
  const base = output.findIndex((l) => l.includes('"dhcpv4-client-out"'));
  assert.ok(base > output.findIndex((l) => l.startsWith('icmpv6 type')) && base < output.findIndex((l) => l.includes('comment "out-')), 'baseline after ICMP, before the catalog');
  assert.is(output[output.length - 1], 'limit rate 10/minute log prefix "portcullis-drop out: "', 'default rate, kernel log');
  assert.match(text, /^# to the kernel log\.$/m);
  const loaded = loadListing(text);
  assert.is(loaded.code, 0, loaded.err);
  assert.match(loaded.out, /limit rate 10\/minute burst 5 packets log prefix "portcullis-drop out: "|limit rate 10\/minute log prefix "portcullis-drop out: "/);
  // Without the restrict, no egress baseline at all.
  assert.not.match(nftOf(CATALOG, withHost('host: { platform: azure }')), /dhcpv4-client-out|platform-azure/);
});

test('host.counters: every rule of both chains counts, and the policy drop is counted; none without it', () => {
  const text = nftOf(CATALOG, withHost('host: { counters: true, trusted_interfaces: [docker0], log: { drops: true } }', 'restrict'));
  for (const c of ['input', 'output'] as const) {
    const rules = chain(text, c).slice(1);
    const uncounted = rules.filter((l) => !/\bcounter\b/.test(l) && !l.startsWith('limit rate'));
    assert.equal(uncounted, [], `${c}: rules without a counter`);
    assert.ok(rules.includes(`counter comment "policy-drop-${c === 'input' ? 'in' : 'out'}"`), `${c}: policy counter`);
    assert.match(rules[rules.length - 1], /^limit rate /, `${c}: the log stays last`);
  }
  assert.ok(chain(text, 'input').includes('ip6 saddr fe80::/10 ip6 daddr fe80::/10 udp sport 547 udp dport 546 counter accept comment "dhcpv6-client-in"'));
  const loaded = loadListing(text);
  assert.is(loaded.code, 0, loaded.err);
  assert.match(loaded.out, /counter packets 0 bytes 0 comment "policy-drop-in"/);
  const plain = nftOf(CATALOG, withHost('', 'restrict'));
  assert.not.match(plain.split('\n').filter((l) => !/^\s*#/.test(l)).join('\n'), /\bcounter\b|limit rate|iifname/);
});

test.run();
