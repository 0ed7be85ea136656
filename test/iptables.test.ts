// iptables backend: the outputs load for real (ipset restore, iptables-restore,
// ip6tables-restore) in a throwaway network namespace, twice; the rule count
// does not depend on the number of addresses; descriptions cannot escape.
import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { compile } from '../src/compile';
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
  for (const f of r.files) {
    const p = path.join(dir, f.path);
    fs.mkdirSync(path.dirname(p), { recursive: true });
    fs.writeFileSync(p, f.content);
  }
  return path.join(dir, r.environment, 'iptables');
}

/** Loads the four files into a fresh user+network namespace the way the
 * header says, twice, and returns `iptables -S` / `ip6tables -S` output. */
function loadInNamespace(dir: string): { code: number; out: string; err: string } {
  const apply = (fam: string, cmd: string) => `
    ipset restore -exist < ${dir}/ipsets.${fam}
    ${cmd}-restore --noflush < ${dir}/rules.${fam}
    ${cmd} -C INPUT -j PORTCULLIS-INPUT 2>/dev/null || ${cmd} -I INPUT 1 -j PORTCULLIS-INPUT
    ${cmd} -C OUTPUT -j PORTCULLIS-OUTPUT 2>/dev/null || ${cmd} -I OUTPUT 1 -j PORTCULLIS-OUTPUT`;
  const script = `set -e
    ${apply('v4', 'iptables')}
    ${apply('v6', 'ip6tables')}
    ${apply('v4', 'iptables')}
    ${apply('v6', 'ip6tables')}
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
  assert.equal(r.files.map((f) => f.path), ['prod-east/iptables/ipsets.v4', 'prod-east/iptables/rules.v4', 'prod-east/iptables/ipsets.v6', 'prod-east/iptables/rules.v6']);
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
  assert.not.ok(rules.split('\n').some((l) => l.startsWith('-A INPUT')));
  const loaded = loadInNamespace(out);
  assert.is(loaded.code, 0, loaded.err);
  fs.rmSync(dir, { recursive: true, force: true });
});

test.run();
