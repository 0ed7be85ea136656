// Names the compiler makes for itself (issue 12, class 6). The profile's
// extra_egress entry N becomes group extra_egress_N, rule extra-egress-N,
// cited as row N of table P. Before this change a catalog could use those
// names too, and then the profile silently replaced a catalog group's
// addresses: a port meant for one jump host was opened to wherever the
// profile's outbound entry led (here: SSH from the whole internet). Now the
// catalog loader reserves the names (a positioned error), and whatever a
// catalog calls its groups, adding extra_egress entries to a profile never
// changes what the catalog's own rules allow.

import fc from 'fast-check';
import * as fs from 'fs';
import * as path from 'path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import * as api from '../src/index';
import { formatAddress } from '../src/addresses';
import type { CompileResult } from '../src/index';
import { fixture, runCli } from './helpers/cli';
import { assertCaret, assertNoStack, parseDiagnostics } from './helpers/diagnostics';
import { rmTree, tmpDir } from './helpers/tree';

const MINI = fs.readFileSync(fixture('catalogs', 'mini.yaml'), 'utf8');

/** The mini catalog with a jump host group that may also SSH in. */
function catalogWithJumpHost(group: string): string {
  const text = MINI.replace('  monitor:\n', `  ${group}:\n    description: The jump host.\n    default: ["192.0.2.22"]\n  monitor:\n`).replace(
    '    from: [admins]\n    to: [nodes]\n    anti_lockout: true',
    `    from: [admins, ${group}]\n    to: [nodes]\n    anti_lockout: true`,
  );
  assert.is.not(text, MINI);
  return text;
}

/** A profile for it; `entries` outbound flows to the whole internet on 443. */
function profileWith(entries: number): string {
  const extra = Array.from({ length: entries }, (_, i) => `  - to: [0.0.0.0/0, "::/0"]\n    ports: [${443 + i}]\n    description: HTTPS out ${i + 1}\n`).join('');
  return (
    'environment: jump-lab\ngroups:\n  admins: [192.0.2.0/28]\n  nodes: [192.0.2.100, "2001:db8::100"]\nparams:\n  app_port: 8080\negress: restrict\n' +
    (entries ? `extra_egress:\n${extra}` : '')
  );
}

/** Where port 22 is open from, by the IR's ingress rules: the addresses. */
function sshSources(r: Extract<CompileResult, { ok: true }>): string[] {
  const sets = new Map(r.ir.sets.map((s) => [s.name, s]));
  return r.ir.rules
    .filter((x) => x.direction === 'ingress' && x.ports.some((p) => p.lo <= 22 && 22 <= p.hi))
    .flatMap((x) => sets.get(x.source!)!.cidrs.map(formatAddress))
    .sort();
}

test('a catalog group named extra_egress_1 cannot be given the profile\'s extra_egress addresses (SSH stays closed to the world)', () => {
  const catalog = { path: 'jump.yaml', text: catalogWithJumpHost('extra_egress_1') };
  const r = api.compile({ profile: { path: 'p.yaml', text: profileWith(1) }, catalog, targets: ['nftables'] });
  if (r.ok) assert.unreachable(`compiled, and port 22 is open from ${sshSources(r).join(', ')} (the jump host was 192.0.2.22)`);
  if (r.ok) return;
  assert.equal(
    r.diagnostics.map((d) => `${d.file}:${d.pos?.line}:${d.pos?.col}`),
    ['jump.yaml:15:3'],
  );
  assert.match(r.diagnostics[0].message, /group name 'extra_egress_1' is reserved/);
  assert.is(r.diagnostics[0].sourceLine, '  extra_egress_1:');
});

test('the same catalog with another group name: SSH is open from the admins and the jump host only', () => {
  const r = api.compile({ profile: { path: 'p.yaml', text: profileWith(1) }, catalog: { path: 'jump.yaml', text: catalogWithJumpHost('jump_host') }, targets: ['nftables'] });
  assert.ok(r.ok, JSON.stringify(!r.ok && r.diagnostics));
  if (!r.ok) return;
  assert.equal(sshSources(r), ['192.0.2.0/28', '192.0.2.22']);
  // The profile's flow exists, as its own group and rule.
  assert.ok(r.ir.rules.some((x) => x.id === 'out-extra_egress_1-v4-tcp' && x.provenance[0].ref === 'P.1'));
});

test('CLI: the reserved group name is exit 2 with a caret, for compile and validate, nothing written', () => {
  const work = tmpDir(`portcullis-names-${process.pid}-`);
  try {
    const catalog = path.join(work, 'jump.yaml');
    const profile = path.join(work, 'p.yaml');
    fs.writeFileSync(catalog, catalogWithJumpHost('extra_egress_1'));
    fs.writeFileSync(profile, profileWith(1));
    const out = path.join(work, 'out');
    for (const args of [
      ['compile', '--profile', profile, '--catalog', catalog, '--target', 'all', '--out-dir', out],
      ['validate', '--profile', profile, '--catalog', catalog],
    ]) {
      const r = runCli(args);
      assertNoStack(r.stderr);
      assert.is(r.code, 2, r.stderr);
      const ds = parseDiagnostics(r.stderr);
      assert.equal(
        ds.map((d) => `${d.line}:${d.col}`),
        ['15:3'],
        r.stderr,
      );
      assert.is(ds[0].file, catalog);
      assertCaret(ds[0], catalog);
      assert.match(ds[0].hint ?? '', /not of the form extra_egress_N/);
    }
    assert.not.ok(fs.existsSync(out), 'nothing written');
  } finally {
    rmTree(work);
  }
});

test('a catalog rule id extra-egress-1 cannot share its id with the profile\'s first extra_egress rule', () => {
  // Before: two different rows (T2.1 and P.1) were cited under one id.
  const catalog = { path: 'c.yaml', text: MINI.replace('  - id: gossip', '  - id: extra-egress-1') };
  const r = api.compile({ profile: { path: 'p.yaml', text: profileWith(1) }, catalog, targets: ['nftables'] });
  if (r.ok) {
    const refs = [...new Set(r.ir.rules.flatMap((x) => x.provenance).filter((p) => p.ruleId === 'extra-egress-1').map((p) => p.ref))];
    assert.unreachable(`compiled; rule id extra-egress-1 cites ${refs.join(' and ')}`);
  }
  if (r.ok) return;
  assert.equal(
    r.diagnostics.map((d) => `${d.pos?.line}:${d.pos?.col} ${d.message}`),
    ["45:9 rule id 'extra-egress-1' is reserved: the profile's extra_egress and extra_ingress entries become rules extra-egress-1, extra-ingress-1, ..."],
  );
});

// Any group name, any number of profile entries: either the catalog is
// refused with a positioned error at the group, or every catalog rule
// allows exactly what it allows without the profile's extra_egress.
test('property: extra_egress never changes what the catalog\'s own rules allow', () => {
  const catalogRules = (r: Extract<CompileResult, { ok: true }>) => {
    const sets = new Map(r.ir.sets.map((s) => [s.name, s]));
    return r.ir.rules
      .filter((x) => x.provenance.every((p) => p.table !== 'P'))
      .map((x) => ({
        id: x.id,
        ports: x.ports,
        peers: (x.direction === 'ingress' ? sets.get(x.source!) : sets.get(x.destination!))?.cidrs.map(formatAddress),
      }));
  };
  const name = fc.oneof(fc.constantFrom('extra_egress_1', 'extra_egress_2', 'extra_egress_3', 'extra_egress_10', 'extra_egress_01', 'extra_egress', 'jump_host'), fc.stringMatching(/^extra_egress_[0-9]{1,3}$/));
  fc.assert(
    fc.property(name, fc.integer({ min: 0, max: 3 }), (group, entries) => {
      const catalog = { path: 'c.yaml', text: catalogWithJumpHost(group) };
      const without = api.compile({ profile: { path: 'p.yaml', text: profileWith(0) }, catalog, targets: ['nftables'] });
      const withExtra = api.compile({ profile: { path: 'p.yaml', text: profileWith(entries) }, catalog, targets: ['nftables'] });
      if (!withExtra.ok) {
        assert.is(without.ok, false, `${group}: refused only once the profile adds extra_egress`);
        assert.ok(/^extra_egress_[0-9]+$/.test(group), `${group} refused: ${withExtra.diagnostics.map((d) => d.message).join('; ')}`);
        assert.equal(
          withExtra.diagnostics.map((d) => `${d.pos?.line}:${d.pos?.col}`),
          ['15:3'],
        );
        return;
      }
      assert.ok(without.ok);
      if (!without.ok) return;
      assert.not.ok(/^extra_egress_[0-9]+$/.test(group), `${group} must be reserved`);
      assert.equal(catalogRules(withExtra), catalogRules(without), `${group} with ${entries} extra_egress entries`);
      assert.equal(sshSources(withExtra), ['192.0.2.0/28', '192.0.2.22']);
    }),
    { numRuns: 60, seed: 12 },
  );
});

test.run();
