// iptables backend: the outputs load for real (ipset restore, iptables-restore,
// ip6tables-restore, by the live apply) in a throwaway network namespace, twice; the rule count
// does not depend on the number of addresses; descriptions cannot escape.
import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { compile } from '../src/compile';
import { writeOutputs } from '../src/index';
import { BOOT_COMMANDS, LIVE_COMMANDS } from '../src/targets/iptables/host';
import { IPSET_MAXELEM } from '../src/targets/iptables/render';
import { fixture, ROOT } from './helpers/cli';

function tmpdir(): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), 'pc-ipt-'));
}

function profileText(nodes: string[], extra = ''): string {
  return [
    'environment: ipt-test',
    'groups:',
    '  admins: [198.51.100.0/24, "2001:db8:ad::/48"]',
    '  users: [0.0.0.0/0, "::/0"]',
    `  nodes: [${nodes.join(', ')}]`,
    '  smtp_relay: [10.20.1.25]',
    'features: { smtp: true }',
    extra,
  ].join('\n');
}

function compileTo(dir: string, profile: string, catalog?: { path: string; text: string }): string {
  const r = compile({ profile: { path: 'p.yaml', text: profile }, catalog, targets: ['iptables'] });
  if (!r.ok) throw new Error(JSON.stringify(r.diagnostics));
  writeOutputs(dir, r.files);
  return path.join(dir, r.environment, 'iptables');
}

/** Loads the three files into a fresh user+network namespace by the live
 * apply of the headers (LIVE_COMMANDS), twice, and returns `iptables -S` /
 * `ip6tables -S` output. */
function loadInNamespace(dir: string): { code: number; out: string; err: string } {
  const script = `set -e
    cd ${dir}
    ${LIVE_COMMANDS.join('\n')}
    ${LIVE_COMMANDS.join('\n')}
    echo ===v4; iptables -S
    echo ===v6; ip6tables -S
    echo ===sets; ipset list -t | grep -E '^(Name|Number of entries)'`;
  const r = spawnSync('unshare', ['-Urn', 'sh', '-c', script], { encoding: 'utf8' });
  return { code: r.status ?? -1, out: r.stdout, err: r.stderr };
}

function ruleCount(listing: string, fam: 'v4' | 'v6'): number {
  const part = listing.split(`===${fam}`)[1].split('===')[0];
  return part.split('\n').filter((l) => l.startsWith('-A ')).length;
}

test('example profile: ipsets and rules load for real, twice, into a namespace', () => {
  const dir = tmpdir();
  const r = compile({ profile: { path: 'example.yaml', text: fs.readFileSync(fixture('profiles', 'example.yaml'), 'utf8') }, targets: ['iptables'] });
  assert.ok(r.ok);
  if (!r.ok) return;
  assert.equal(r.files.map((f) => f.path), ['prod-east/iptables/ipsets', 'prod-east/iptables/rules.v4', 'prod-east/iptables/rules.v6']);
  for (const f of r.files) {
    fs.mkdirSync(path.dirname(path.join(dir, f.path)), { recursive: true });
    fs.writeFileSync(path.join(dir, f.path), f.content);
  }
  const loaded = loadInNamespace(path.join(dir, 'prod-east', 'iptables'));
  assert.is(loaded.code, 0, loaded.err);
  // One jump each, even after applying twice.
  assert.is(loaded.out.split('\n').filter((l) => l === '-A INPUT -j PORTCULLIS-INPUT').length, 2); // v4 + v6
  assert.match(loaded.out, /-A PORTCULLIS-INPUT -p tcp -m set --match-set pc-admins_v4 src -m multiport --dports 22,/);
  assert.match(loaded.out, /-A PORTCULLIS-INPUT -p tcp -m set --match-set pc-admins_v6 src -m multiport --dports 22,/);
  assert.match(loaded.out, /-A PORTCULLIS-INPUT -j DROP/);
  // No multiport match holds more than 15 ports (a range counts as two).
  for (const m of loaded.out.matchAll(/--dports (\S+)/g)) {
    const weight = m[1].split(',').reduce((n, p) => n + (p.includes(':') ? 2 : 1), 0);
    assert.ok(weight <= 15, `multiport over 15: ${m[1]}`);
  }
  fs.rmSync(dir, { recursive: true, force: true });
});

test('restrict: output chain ends in DROP and carries the egress rules', () => {
  const dir = tmpdir();
  const out = compileTo(dir, profileText(['10.20.0.11', '"2001:db8:20::11"'], 'egress: restrict'));
  const loaded = loadInNamespace(out);
  assert.is(loaded.code, 0, loaded.err);
  assert.match(loaded.out, /-A PORTCULLIS-OUTPUT -p tcp -m set --match-set pc-smtp_relay_v4 dst -m tcp --dport 587 /);
  assert.match(loaded.out, /-A PORTCULLIS-OUTPUT -p tcp -m set --match-set pc-nodes_v6 dst -m multiport --dports/);
  assert.match(loaded.out, /-A PORTCULLIS-OUTPUT -j DROP/);
  fs.rmSync(dir, { recursive: true, force: true });
});

test('10,000 node addresses give the same rule count as 3 (only set sizes grow)', () => {
  const small = tmpdir();
  const large = tmpdir();
  const few = ['10.20.0.11', '10.20.0.12', '10.20.0.13'];
  // Non-adjacent addresses so normalization cannot merge them into a few CIDRs.
  const many = Array.from({ length: 10000 }, (_, i) => `10.${100 + (i >> 8) % 100}.${i & 255}.${(i % 2) * 2 + 1}`);
  const a = loadInNamespace(compileTo(small, profileText(few)));
  const b = loadInNamespace(compileTo(large, profileText(many.map((x) => x))));
  assert.is(a.code, 0, a.err);
  assert.is(b.code, 0, b.err);
  assert.is(ruleCount(b.out, 'v4'), ruleCount(a.out, 'v4'));
  assert.is(ruleCount(b.out, 'v6'), ruleCount(a.out, 'v6'));
  assert.match(b.out, /Name: pc-nodes_v4\nNumber of entries: 10000/);
  fs.rmSync(small, { recursive: true, force: true });
  fs.rmSync(large, { recursive: true, force: true });
});

test('hostile descriptions stay in comments and the rules still load', () => {
  const nasty = `He said "hi" \\ $(rm -rf /) \`id\` <b>&amp; */ -- ]]>\nCOMMIT\n-A INPUT -j ACCEPT`;
  const catalog = fs.readFileSync(path.join(ROOT, 'catalog', 'thoughtspot.yaml'), 'utf8');
  const replaced = catalog.replace('"Secure shell access. Also used for scp (secure copy)."', JSON.stringify(nasty));
  assert.is.not(replaced, catalog, 'test setup: description not found in the catalog');
  const dir = tmpdir();
  const out = compileTo(dir, profileText(['10.20.0.11']), { path: 'nasty.yaml', text: replaced });
  const rules = fs.readFileSync(path.join(out, 'rules.v4'), 'utf8');
  // The text is kept on one comment line, quotes, $() and all.
  assert.ok(rules.includes(`# T1.1 SSH: He said "hi" \\ $(rm -rf /) \`id\` <b>&amp; */ -- ]]> COMMIT -A INPUT -j ACCEPT`), rules.slice(0, 3000));
  // No line outside a comment says COMMIT except the real one, and no injected rule.
  assert.is(rules.split('\n').filter((l) => l === 'COMMIT').length, 1);
  assert.not.ok(rules.split('\n').some((l) => l.startsWith('-A INPUT -j ACCEPT')));
  const loaded = loadInNamespace(out);
  assert.is(loaded.code, 0, loaded.err);
  fs.rmSync(dir, { recursive: true, force: true });
});

function filesOf(text: string): Record<string, string> {
  const r = compile({ profile: { path: 'p.yaml', text }, targets: ['iptables'] });
  if (!r.ok) throw new Error(JSON.stringify(r.diagnostics));
  return Object.fromEntries(r.files.map((f) => [path.basename(f.path), f.content]));
}

const statements = (file: string) => file.split('\n').filter((l) => l && !l.startsWith('#'));

test('rules.v4/v6 are the whole filter table for boot: built-in chains at ACCEPT, our chains, one hook each; FORWARD not hooked', () => {
  for (const [hook, lines] of [
    ['first', ['-I INPUT 1 -j PORTCULLIS-INPUT', '-I OUTPUT 1 -j PORTCULLIS-OUTPUT']],
    ['last', ['-A INPUT -j PORTCULLIS-INPUT', '-A OUTPUT -j PORTCULLIS-OUTPUT']],
  ] as const) {
    const files = filesOf(profileText(['10.20.0.11'], `iptables: { hook: ${hook} }`));
    assert.equal(Object.keys(files), ['ipsets', 'rules.v4', 'rules.v6']);
    for (const f of ['rules.v4', 'rules.v6']) {
      const st = statements(files[f]);
      assert.equal(st.slice(0, 8), ['*filter', ':INPUT ACCEPT [0:0]', ':FORWARD ACCEPT [0:0]', ':OUTPUT ACCEPT [0:0]', ':PORTCULLIS-INPUT - [0:0]', ':PORTCULLIS-OUTPUT - [0:0]', ...lines]);
      assert.equal(st.filter((l) => /^-[AI] (INPUT|FORWARD|OUTPUT) /.test(l)), lines, `${f}: the two hooks are the only rules in built-in chains`);
      assert.is(st[st.length - 1], 'COMMIT');
      // The header gives the boot install and the live apply verbatim.
      for (const c of [...BOOT_COMMANDS, ...LIVE_COMMANDS]) assert.ok(files[f].includes(`#   ${c}\n`), `${f} header lacks ${c}`);
      assert.ok(files[f].includes(`(iptables.hook: ${hook})`));
    }
  }
});

test('baseline, trusted interfaces and logging land where they belong', () => {
  const allow = filesOf(profileText(['10.20.0.11'], 'host: { trusted_interfaces: [docker0, virbr0], log: { drops: true } }'));
  const v6 = statements(allow['rules.v6']);
  const inRules = v6.filter((l) => l.startsWith('-A PORTCULLIS-INPUT'));
  assert.equal(inRules.slice(0, 2), ['-A PORTCULLIS-INPUT -i docker0 -m comment --comment "trusted interface" -j RETURN', '-A PORTCULLIS-INPUT -i virbr0 -m comment --comment "trusted interface" -j RETURN']);
  const dhcp = '-A PORTCULLIS-INPUT -s fe80::/10 -d fe80::/10 -p udp --sport 547 --dport 546 -m comment --comment "dhcpv6-client-in" -j ACCEPT';
  assert.ok(v6.includes(dhcp));
  assert.ok(v6.indexOf(dhcp) < v6.findIndex((l) => l.includes('--match-set')), 'the baseline comes before the catalog rules');
  assert.ok(v6.indexOf(dhcp) > v6.findIndex((l) => l.includes('ipv6-icmp')), 'and after ICMP');
  assert.match(allow['rules.v6'], /^# dhcpv6-client-in: DHCPv6 server replies/m);
  assert.not.match(allow['rules.v4'], /dhcpv6/);
  assert.equal(inRules.slice(-2), ['-A PORTCULLIS-INPUT -m limit --limit 10/minute -j LOG --log-prefix "portcullis-drop in: "', '-A PORTCULLIS-INPUT -j DROP']);
  assert.not.ok(v6.some((l) => l.startsWith('-A PORTCULLIS-OUTPUT')), 'egress: allow leaves our output chain empty');

  const restrict = filesOf(profileText(['10.20.0.11'], 'egress: restrict\nhost: { platform: azure, trusted_interfaces: [docker0], log: { drops: true, group: 5, rate: 3/second } }'));
  const v4 = statements(restrict['rules.v4']);
  const out = v4.filter((l) => l.startsWith('-A PORTCULLIS-OUTPUT'));
  assert.is(out[0], '-A PORTCULLIS-OUTPUT -o docker0 -m comment --comment "trusted interface" -j RETURN');
  assert.ok(out.includes('-A PORTCULLIS-OUTPUT -p udp --sport 68 --dport 67 -m comment --comment "dhcpv4-client-out" -j ACCEPT'));
  assert.ok(out.includes('-A PORTCULLIS-OUTPUT -d 168.63.129.16 -p tcp -m multiport --dports 80,32526 -m comment --comment "platform-azure-wireserver-v4" -j ACCEPT'));
  assert.equal(out.slice(-2), ['-A PORTCULLIS-OUTPUT -m limit --limit 3/second -j NFLOG --nflog-group 5 --nflog-prefix "portcullis-drop out: "', '-A PORTCULLIS-OUTPUT -j DROP']);
  assert.ok(v4.includes('-A PORTCULLIS-INPUT -m limit --limit 3/second -j NFLOG --nflog-group 5 --nflog-prefix "portcullis-drop in: "'));
  assert.ok(statements(restrict['rules.v6']).includes('-A PORTCULLIS-OUTPUT -d ff02::1:2 -p udp --sport 546 --dport 547 -m comment --comment "dhcpv6-client-out" -j ACCEPT'));
});

test('ipsets: one file for both families, every set at the same fixed maxelem whatever its size', () => {
  const files = filesOf(profileText(['10.20.0.11', '"2001:db8:20::11"']));
  const creates = statements(files.ipsets).filter((l) => l.startsWith('create '));
  assert.ok(creates.some((l) => l.includes('family inet ')) && creates.some((l) => l.includes('family inet6 ')), 'both families');
  for (const c of creates) assert.match(c, new RegExp(` maxelem ${IPSET_MAXELEM}$`));
});

test.run();
