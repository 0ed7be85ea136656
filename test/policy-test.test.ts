// `portcullis test`: files of expectations checked against a policy over
// whole address ranges. Expected outcomes are read off the catalog rows
// (catalog/thoughtspot.yaml, fixtures/catalogs/roles.yaml) and the profiles
// by hand, as the comments in fixtures/tests/*.yaml say, not from the code;
// the JUnit output is validated against the Jenkins JUnit XSD by xmllint.

import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { cidrRange, Family, formatAddress, parseAddress } from '../src/addresses';
import { explainFlow } from '../src/analysis/explain';
import { TRANSPORTS } from '../src/analysis/flows';
import { carries } from '../src/transports';
import { explainQuery } from '../src/policy-test/ports';
import { load, Loaded, render, roleIRs } from '../src/compile';
import { CompileError } from '../src/diagnostics';
import * as api from '../src/index';
import { allowedRects, policyContext, portPieces, roleOf } from '../src/policy-test/evaluate';
import { ROOT, runCli } from './helpers/cli';
import { assertTerminalSafe, fileLine, parseDiagnostics } from './helpers/diagnostics';
import { rmTree, tmpDir } from './helpers/tree';

const read = (p: string) => ({ path: p, text: fs.readFileSync(path.join(ROOT, p), 'utf8') });
const EXAMPLE = 'fixtures/profiles/example.yaml';
const ROLES_CATALOG = 'fixtures/catalogs/roles.yaml';
const ROLES = 'fixtures/profiles/roles.yaml';
const XSD = path.join(ROOT, 'test', 'schemas', 'junit-10.xsd');

const example = (text?: string): Loaded => load({ profile: text === undefined ? read(EXAMPLE) : { path: EXAMPLE, text } });
const roles = (): Loaded => load({ profile: read(ROLES), catalog: read(ROLES_CATALOG) });
const run = (loaded: Loaded, file: string, target?: api.TargetName) => api.testPolicy(loaded, { expectations: read(file), target });
const byName = (r: api.PolicyTestReport, name: string) => {
  const x = r.results.find((e) => e.expectation.name === name);
  assert.ok(x, `no expectation named ${name}`);
  return x!;
};
/** Every rule id and catalog row a result's findings name. */
const rulesOf = (r: api.ExpectationResult) => [...new Set(r.findings.flatMap((f) => f.example.explanations.flatMap((e) => e.explanation.rules.map((x) => x.id))))].sort();
const rowsOf = (r: api.ExpectationResult) => [...new Set(r.findings.flatMap((f) => f.example.explanations.flatMap((e) => e.explanation.rules.flatMap((x) => x.rows.map((row) => row.ref)))))];

function xmllint(file: string): { code: number; out: string } {
  const r = spawnSync('xmllint', ['--noout', '--schema', XSD, file], { encoding: 'utf8' });
  if (r.error) throw new Error(`xmllint is not installed (test/run.sh installs libxml2-utils): ${r.error.message}`);
  return { code: r.status ?? -1, out: r.stdout + r.stderr };
}

// ------------------------------------------------------------ built-in catalog

test('built-in catalog: every expectation of example-pass.yaml holds (T1.1 SSH, T1.2/T1.3, T3 off, T2 dynamic, T4.3)', () => {
  const r = run(example(), 'fixtures/tests/example-pass.yaml');
  assert.equal(r.results.map((x) => [x.expectation.line, x.ok]), [
    [6, true],
    [15, true],
    [21, true],
    [27, true],
    [36, true],
    [41, true],
    [48, true],
    [54, true],
  ]);
  assert.is(r.failed, 0);
});

test('built-in catalog: "users reach only 80 and 443" fails: users (0.0.0.0/0) holds the admins (T1.1 SSH) and the nodes (T2)', () => {
  const r = byName(run(example(), 'fixtures/tests/example-fail.yaml'), 'users reach only 80 and 443');
  assert.is(r.ok, false);
  assert.is(r.expectation.line, 7);
  const admins = r.findings.find((f) => f.sources.join() === '198.51.100.0/24');
  assert.ok(admins, 'the admins network is named');
  assert.is(admins!.problem, 'allowed');
  // The admins' ports with debug on: T1.1 SSH, T1.4-T1.8, T2's debug HTTP rows.
  assert.equal(admins!.ports.map((p) => (p.lo === p.hi ? `${p.lo}` : `${p.lo}-${p.hi}`)), ['22', '2101', '2201', '2211', '2231', '4001', '4021', '4201', '4231', '4241', '4251', '4501', '4852-4853', '12345']);
  assert.equal(admins!.destinations, ['10.20.0.11', '10.20.0.12/31']);
  const e = admins!.example.explanations[0].explanation;
  assert.is(e.verdict, 'allow');
  assert.equal(e.rules.map((x) => x.id), ['in-admins-v4-tcp']);
  assert.ok(e.rules[0].rows.some((row) => row.ref === 'T1.1' && row.service === 'SSH'));
  assert.ok(e.rules[0].profile_lines.includes(`${EXAMPLE}:3`), 'the admins line of the profile');
  // The nodes, also in 0.0.0.0/0, reach each other on T2's ports (the dynamic range among them).
  const nodes = r.findings.find((f) => f.sources.join() === '10.20.0.11,10.20.0.12/31');
  assert.ok(nodes);
  assert.ok(nodes!.ports.some((p) => p.lo === 20000 && p.hi === 65535));
  assert.ok(rowsOf(r).includes('T2.prose'));
  // No finding of 80 or 443: those are in `only`, and everyone has them.
  assert.not.ok(r.findings.some((f) => f.ports.some((p) => p.lo <= 443 && 80 <= p.hi && (p.lo <= 80 || p.hi >= 443) && (p.lo === 80 || p.lo === 443))));
});

test('built-in catalog: "support reaches nothing" fails with the feature off only through the users rows T1.2/T1.3', () => {
  const r = byName(run(example(), 'fixtures/tests/example-fail.yaml'), 'support reaches nothing');
  assert.is(r.ok, false);
  assert.is(r.findings.length, 1);
  const f = r.findings[0];
  assert.is(f.transport, 'tcp');
  assert.equal(f.ports, [
    { lo: 80, hi: 80 },
    { lo: 443, hi: 443 },
  ]);
  assert.equal(f.sources, ['203.0.113.16/28']);
  assert.equal(rulesOf(r), ['in-users-v4-tcp']);
  assert.equal(rowsOf(r).sort(), ['T1.2', 'T1.3']);
});

test('built-in catalog: support reaches nothing when users is narrower and the feature is off; with it on, T3 rows 1-4', () => {
  const narrow = fs.readFileSync(path.join(ROOT, EXAMPLE), 'utf8').replace('users:       [0.0.0.0/0]', 'users:       [192.0.2.0/24]');
  assert.ok(narrow.includes('192.0.2.0/24'), 'test setup');
  const file = path.join(tmpDir('pc-policy-'), 'support.yaml');
  fs.writeFileSync(file, '- name: support reaches nothing\n  from: support\n  reaches: nothing\n');
  const expectations = { path: file, text: fs.readFileSync(file, 'utf8') };
  const off = api.testPolicy(example(narrow), { expectations });
  assert.is(off.failed, 0);
  const onText = narrow.replace('support: false', 'support: true');
  assert.ok(onText.includes('support: true'), 'test setup');
  const on = api.testPolicy(example(onText), { expectations });
  assert.is(on.failed, 1);
  const f = on.results[0].findings;
  // T3.1 SSH 22, T3.2 HTTP 80, T3.3 HTTPS 443, T3.4 Simba 12345: support -> all nodes.
  assert.equal(f.flatMap((x) => x.ports.map((p) => p.lo)).sort((a, b) => a - b), [22, 80, 443, 12345]);
  assert.equal(rowsOf(on.results[0]).sort(), ['T3.1', 'T3.2', 'T3.3', 'T3.4']);
  rmTree(path.dirname(file));
});

test('built-in catalog: a single denied flow names the rule that opens the port to someone else; a deny of an allowed one names T1.1', () => {
  const r = run(example(), 'fixtures/tests/example-fail.yaml');
  const user = byName(r, 'one user reaches SSH');
  assert.is(user.findings.length, 1);
  assert.is(user.findings[0].problem, 'denied');
  const e = user.findings[0].example.explanations[0].explanation;
  assert.is(e.verdict, 'deny');
  assert.match(e.reasons.join('\n'), /22\/tcp is open to admins \(T1\.1 SSH\); 203\.0\.113\.5 is in users/);
  const admins = byName(r, 'admins have no SSH');
  assert.equal(rulesOf(admins), ['in-admins-v4-tcp']);
  assert.ok(rowsOf(admins).includes('T1.1'));
  // IPv6: the profile lists no IPv6 node, so admins' 2001:db8:ad::/48 has no node to reach.
  assert.ok(admins.findings.every((f) => f.family === 'ipv4'));
});

test('built-in catalog --target nftables: failures name the deciding lines of the rendered file, as explain --target does', () => {
  const loaded = example();
  const r = run(loaded, 'fixtures/tests/example-fail.yaml', 'nftables');
  const rendered = render(loaded, ['nftables']);
  assert.ok(rendered.ok);
  const nft = rendered.ok ? rendered.files.find((f) => f.path.endsWith('portcullis.nft'))!.content.split('\n') : [];
  const allowed = byName(r, 'admins have no SSH').findings[0].example.explanations[0].explanation;
  assert.ok(allowed.target_lines?.length);
  for (const l of allowed.target_lines!) {
    const m = /^portcullis\.nft:(\d+)$/.exec(l);
    assert.ok(m, l);
    assert.ok(nft[Number(m![1]) - 1].includes('in-admins-v4-tcp'), `line ${l} is the admins rule: ${nft[Number(m![1]) - 1]}`);
  }
  const denied = byName(r, 'one user reaches SSH').findings[0].example.explanations[0].explanation;
  assert.ok(denied.target_lines?.length);
  for (const l of denied.target_lines!) assert.match(nft[Number(/:(\d+)$/.exec(l)![1]) - 1], /policy drop;/);
  // Through the CLI, the same lines as explain --target prints.
  const cli = runCli(['test', '--profile', EXAMPLE, '--target', 'nftables', 'fixtures/tests/example-fail.yaml']);
  assert.is(cli.code, 1);
  const ex = runCli(['explain', '--profile', EXAMPLE, '--from', '203.0.113.5', '--to', '10.20.0.11', '--port', '22/tcp', '--target', 'nftables']);
  for (const l of ex.stdout.split('\n').filter((x) => x.includes('decided at'))) assert.ok(cli.stdout.includes(l.trim()), l);
});

// ------------------------------------------------------------ two roles

test('two roles: every expectation of roles-pass.yaml holds (etcd T1.2, NodePorts T1.6, API T1.1, kubelet T1.3, SSH T2.1, VXLAN T1.4)', () => {
  const r = run(roles(), 'fixtures/tests/roles-pass.yaml');
  assert.equal(
    r.results.filter((x) => !x.ok).map((x) => x.expectation.name),
    [],
  );
  assert.is(r.passed, 8);
});

test('two roles: failures are decided by the role of each end (agents in, servers/agents out under egress: restrict)', () => {
  const r = run(roles(), 'fixtures/tests/roles-fail.yaml', 'nftables');
  assert.is(r.failed, 3);
  const nodeports = byName(r, 'every user reaches the NodePorts');
  // Every server and agent is a user too (0.0.0.0/0); the agents let them in (T1.6), no node's egress lets them out.
  assert.equal(nodeports.findings.map((f) => [f.sources, f.destinations]), [[['10.30.0.11', '10.30.0.12/31', '10.30.1.21', '10.30.1.22'], ['10.30.1.21', '10.30.1.22']]]);
  const sides = nodeports.findings[0].example.explanations;
  assert.equal(sides.map((s) => [s.role, s.explanation.verdict]), [
    ['agents', 'allow'],
    ['servers', 'deny'],
  ]);
  assert.ok(sides[0].explanation.rules[0].rows.some((row) => row.ref === 'T1.6'));
  // --target: each role's lines come from its own folder.
  assert.ok(sides[0].explanation.target_lines!.every((l) => l.startsWith('agents/')));
  assert.ok(sides[1].explanation.target_lines!.every((l) => l.startsWith('servers/')));

  const etcd = byName(r, 'agents reach etcd');
  assert.equal(etcd.findings.map((f) => f.problem), ['denied']);
  const serversSide = etcd.findings[0].example.explanations.find((s) => s.role === 'servers')!;
  assert.match(serversSide.explanation.reasons.join('\n'), /2379\/tcp is open to servers \(T1\.2 etcd\)/);

  const api6443 = byName(r, 'admins never reach the API');
  assert.equal(rulesOf(api6443), ['in-admins-v4-tcp']);
  assert.equal(rowsOf(api6443), ['T2.2']);
  assert.equal(api6443.findings[0].destinations, ['10.30.0.11', '10.30.0.12/31']);
});

test('two roles: users reach the agents but not the servers on 6443, through the CLI (exit 0 / 1)', () => {
  const pass = runCli(['test', '--profile', ROLES, '--catalog', ROLES_CATALOG, 'fixtures/tests/roles-pass.yaml']);
  assert.is(pass.code, 0, pass.stderr);
  assert.match(pass.stdout, /roles-pass\.yaml: 8 expectations, 8 passed, 0 failed/);
  const fail = runCli(['test', '--profile', ROLES, '--catalog', ROLES_CATALOG, 'fixtures/tests/roles-fail.yaml']);
  assert.is(fail.code, 1);
  assert.match(fail.stdout, /FAIL fixtures\/tests\/roles-fail\.yaml:22: admins never reach the API/);
  assert.match(fail.stdout, /decided by role servers:/);
});

// ------------------------------------------------------------ every transport

test('every transport: sctp, gre, ICMP types by name and number, esp and ah in only (fixtures/tests/transports-pass.yaml)', () => {
  const loaded = load({ profile: read('fixtures/profiles/transports.yaml'), catalog: read('fixtures/catalogs/transports.yaml') });
  const r = run(loaded, 'fixtures/tests/transports-pass.yaml');
  assert.equal(r.results.filter((x) => !x.ok).map((x) => x.expectation.name), []);
  assert.is(r.passed, 7);
  // Leave ESP and AH out of only: T1.5 (esp) and T1.6 (protocol 51) are named.
  const dir = tmpDir('pc-policy-');
  const file = path.join(dir, 'x.yaml');
  fs.writeFileSync(file, '- {from: vpn_peers, to: nodes, only: [500/udp, 4500/udp]}\n');
  const f = api.testPolicy(loaded, { expectations: { path: file, text: fs.readFileSync(file, 'utf8') } }).results[0];
  assert.is(f.ok, false);
  assert.equal(f.findings.map((x) => [x.problem, x.transport]).sort(), [
    ['allowed', 'ah'],
    ['allowed', 'esp'],
  ]);
  assert.equal(rowsOf(f).sort(), ['T1.5', 'T1.6']);
  rmTree(dir);
});

// ------------------------------------------------------------ the model against explain

/** Addresses at every edge of every set of every role (and one inside). */
function probeAddresses(loaded: Loaded, family: Family): bigint[] {
  const out = new Set<bigint>();
  const max = family === 'ipv4' ? (1n << 32n) - 1n : (1n << 128n) - 1n;
  for (const ir of roleIRs(loaded))
    for (const s of ir.sets)
      for (const c of s.cidrs)
        if (c.family === family) {
          const r = cidrRange(c);
          for (const v of [r.lo - 1n, r.lo, r.hi, r.hi + 1n]) if (v >= 0n && v <= max) out.add(v);
        }
  // The host baseline's literal addresses (DHCP, the platform endpoints).
  for (const ir of roleIRs(loaded))
    for (const b of ir.hostPolicy.baseline)
      for (const c of [...(b.source ?? []), ...(b.destination ?? [])])
        if (c.family === family) {
          const r = cidrRange(c);
          out.add(r.lo);
          out.add(r.hi);
        }
  const extra = family === 'ipv4' ? ['192.0.2.7', '203.0.113.20'] : ['2001:db8:ff::1', 'fe80::1', 'fe80::2'];
  for (const t of extra) {
    const p = parseAddress(t);
    if (p.ok) out.add(p.cidr.base);
  }
  return [...out].sort((a, b) => (a < b ? -1 : 1));
}

for (const [label, make] of [
  ['built-in catalog', () => example()],
  ['two roles', () => roles()],
  ['egress: restrict on AWS (host-options.yaml)', () => load({ profile: read('fixtures/profiles/host-options.yaml') })],
  ['extra egress (extra-egress.yaml)', () => load({ profile: read('fixtures/profiles/extra-egress.yaml') })],
  ['the transports catalog', () => load({ profile: read('fixtures/profiles/transports.yaml'), catalog: read('fixtures/catalogs/transports.yaml') })],
] as const) {
  test(`${label}: the whole-range answer agrees with explain on every probe flow (each role deciding its end)`, () => {
    const loaded = make();
    const ctx = policyContext(loaded);
    const fmt = (family: Family, v: bigint) => formatAddress({ family, base: v, prefix: family === 'ipv4' ? 32 : 128 });
    let checked = 0;
    for (const family of ['ipv4', 'ipv6'] as Family[]) {
      const addrs = probeAddresses(loaded, family);
      for (const transport of TRANSPORTS.filter((t) => carries(t, family))) {
        // Every piece when few; else 30 spread over the space, and the DHCP ports.
        const all = portPieces(ctx, transport, family, []);
        const pieces = all.length <= 30 ? all : all.filter((p, i) => i % Math.ceil(all.length / 30) === 0 || [67, 68, 546, 547].some((x) => p.lo <= x && x <= p.hi));
        for (const piece of pieces) {
          const rects = allowedRects(ctx, family, transport, piece.lo);
          for (const s of addrs)
            for (const d of addrs) {
              const model = rects.some((r) => r.src.some((x) => x.lo <= s && s <= x.hi) && r.dst.some((x) => x.lo <= d && d <= x.hi));
              const sides = [roleOf(ctx, family, d), roleOf(ctx, family, s)].filter((x, i, a) => x >= 0 && a.indexOf(x) === i);
              if (!sides.length) sides.push(0);
              const query = explainQuery(transport, piece.lo);
              const verdict = sides.every((i) => explainFlow({ ...loaded, ir: ctx.irs[i] }, { from: fmt(family, s), to: fmt(family, d), port: query }).verdict === 'allow');
              if (model !== verdict) assert.unreachable(`${fmt(family, s)} -> ${fmt(family, d)} ${query}: model ${model}, explain ${verdict}`);
              checked++;
            }
        }
      }
    }
    assert.ok(checked > 1000, `checked ${checked}`);
  });
}

test('DHCPv6 replies between link-local addresses are allowed (the host baseline, as explain says), other link-local flows not', () => {
  const dir = tmpDir('pc-policy-');
  const file = path.join(dir, 'x.yaml');
  fs.writeFileSync(file, '- {from: "fe80::/10", to: "fe80::/10", port: 546/udp, expect: allow}\n- {from: "fe80::/10", to: "fe80::/10", only: [546/udp]}\n');
  const r = api.testPolicy(example(), { expectations: { path: file, text: fs.readFileSync(file, 'utf8') } });
  assert.equal(r.results.map((x) => x.ok), [true, true]);
  rmTree(dir);
});

test('the ICMP every host lets in (echo-request, IPv4) is allowed for every address, as explain says; only/reaches leave it out', () => {
  const ctx = policyContext(example());
  const N = ctx.nodes[0].ipv4;
  // echo-request is type 8; the nodes let it in from anywhere (the host ICMP policy, no catalog row).
  const rects = allowedRects(ctx, 'ipv4', 'icmp', 8);
  const reaches = (src: string) => {
    const p = parseAddress(src);
    const v = p.ok ? p.cidr.base : -1n;
    return rects.some((r) => r.src.some((x) => x.lo <= v && v <= x.hi) && r.dst.some((x) => x.lo <= N[0].lo && N[0].lo <= x.hi));
  };
  for (const src of ['0.0.0.0', '192.0.2.7', '198.51.100.1', '10.20.0.12', '255.255.255.255']) assert.ok(reaches(src), src);
  // Without it no catalog rule lets ICMP into a node (out of them, egress: allow leaves everything open).
  const intoNodes = (rs: ReturnType<typeof allowedRects>) => rs.some((r) => r.dst.some((x) => x.lo <= N[0].lo && N[0].lo <= x.hi));
  assert.not.ok(intoNodes(allowedRects(ctx, 'ipv4', 'icmp', 8, { hostIcmp: false })));
  // Type 13 (timestamp-request) is not in it: nothing lets it in.
  assert.not.ok(intoNodes(allowedRects(ctx, 'ipv4', 'icmp', 13)));
  // The pieces of the ICMP space are cut at each type of the policy.
  assert.ok(portPieces(ctx, 'icmp', 'ipv4', []).some((p) => p.lo === 8 && p.hi === 8));
});

// ------------------------------------------------------------ bad input

test('a bad expectations file: every error at its line and column, with hints; exit 2 and nothing on stdout', () => {
  const file = 'fixtures/tests/bad.yaml';
  const r = runCli(['test', '--profile', EXAMPLE, file]);
  assert.is(r.code, 2);
  assert.is(r.stdout, '');
  const ds = parseDiagnostics(r.stderr);
  assert.equal(
    ds.map((d) => [d.file, d.line, d.col]),
    [
      [file, 3, 9],
      [file, 7, 9],
      [file, 9, 9],
      [file, 13, 9],
      [file, 14, 3],
    ],
  );
  for (const d of ds) {
    assert.is(d.source, fileLine(file, d.line));
    assert.ok(d.caretCol === d.col, `caret of ${d.line}`);
  }
  assert.match(ds[0].message, /unknown group 'admin'/);
  assert.match(ds[0].hint!, /did you mean 'admins'\?/);
  assert.match(ds[1].message, /host bits set/);
  assert.match(ds[1].hint!, /10\.20\.0\.0\/24/);
  assert.match(ds[2].message, /port '22\/tpc'/);
  assert.match(ds[3].message, /has port but no expect/);
  assert.match(ds[4].message, /mixes port and only/);
  assert.match(r.stderr, /5 errors; no test run\./);
});

test('shape errors come from the JSON Schema, positioned: unknown key (did you mean), a bare port number, not a list, empty list', () => {
  const dir = tmpDir('pc-policy-');
  const cases: [string, RegExp, number, number, RegExp?][] = [
    ['- from: admins\n  to: nodes\n  ports: 22/tcp\n', /unknown key 'ports' in expectation 1/, 3, 3, /did you mean 'port'\?/],
    ['- from: admins\n  to: nodes\n  port: 22\n  expect: allow\n', /expectation 1: 'port' must be a string, not number 22/, 3, 9, /"22\/tcp"/],
    ['- from: admins\n  to: nodes\n  port: 22/tcp\n  expect: maybe\n', /'expect' must be one of 'allow', 'deny'/, 4, 11],
    ['from: admins\n', /the document must be a list/, 1, 1],
    ['[]\n', /holds no expectations/, 1, 1],
    ['- to: nodes\n  reaches: nothing\n', /has no 'from'/, 1, 3],
    ['- from: admins\n  to: nodes\n  only: [22/tcp, 80-79/tcp]\n', /the range ends below its start/, 3, 18, /79-80\/tcp/],
    ['- from: 10.20.0.11\n  to: "2001:db8::1"\n  port: 22/tcp\n  expect: deny\n', /different address families/, 2, 7],
    ['- from: admins\n  to: nodes\n  port: 22/tcp\n  expect: allow\n---\n- from: users\n', /second document/, 5, 1],
  ];
  for (const [text, message, line, col, hint] of cases) {
    const file = path.join(dir, 'x.yaml');
    fs.writeFileSync(file, text);
    const r = runCli(['test', '--profile', EXAMPLE, file]);
    assert.is(r.code, 2, text);
    const d = parseDiagnostics(r.stderr)[0];
    assert.ok(d, r.stderr);
    assert.match(d.message, message);
    assert.equal([d.line, d.col], [line, col], `${text}: ${r.stderr}`);
    if (hint) assert.match(d.hint ?? '', hint);
  }
  // The library throws the same diagnostics as a CompileError.
  try {
    api.loadExpectations(new (require('../src/diagnostics').SourceText)('x.yaml', '- from: admin\n  to: nodes\n  port: 22/tcp\n  expect: allow\n'), example());
    assert.unreachable('no error');
  } catch (e) {
    assert.instance(e, CompileError);
  }
  rmTree(dir);
});

test('an expectation over no address pair fails, saying so (an empty group, no common family)', () => {
  const dir = tmpDir('pc-policy-');
  const file = path.join(dir, 'x.yaml');
  // bmc has no default and example.yaml lists none; admins' IPv6 network and an IPv4 node share no family.
  fs.writeFileSync(file, '- {from: users, to: bmc, port: 80/tcp, expect: deny}\n- {from: "2001:db8:ad::/48", to: nodes, port: 22/tcp, expect: allow}\n');
  const r = runCli(['test', '--profile', EXAMPLE, file]);
  assert.is(r.code, 1);
  assert.match(r.stdout, /checks no flow: 'bmc' has no addresses in this profile/);
  assert.match(r.stdout, /checks no flow: from and to share no address family/);
  rmTree(dir);
});

test('exit codes: 0 all pass, 1 a failure, 2 a missing file, a bad profile, an unknown target or format', () => {
  assert.is(runCli(['test', '--profile', EXAMPLE, 'fixtures/tests/example-pass.yaml']).code, 0);
  assert.is(runCli(['test', '--profile', EXAMPLE, 'fixtures/tests/example-fail.yaml']).code, 1);
  assert.is(runCli(['test', '--profile', EXAMPLE, 'fixtures/tests/no-such.yaml']).code, 2);
  assert.is(runCli(['test', '--profile', 'fixtures/profiles/bad/unknown-group.yaml', 'fixtures/tests/example-pass.yaml']).code, 2);
  assert.is(runCli(['test', '--profile', EXAMPLE, '--target', 'pf', 'fixtures/tests/example-pass.yaml']).code, 2);
  assert.is(runCli(['test', '--profile', EXAMPLE, '--format', 'tap', 'fixtures/tests/example-pass.yaml']).code, 2);
  assert.is(runCli(['test', '--profile', EXAMPLE]).code, 2);
});

// ------------------------------------------------------------ JUnit

test('JUnit: one testsuite, one testcase per expectation (classname: the file), failures with messages; valid against the Jenkins XSD', () => {
  const dir = tmpDir('pc-policy-');
  for (const [profile, catalog, file, failures] of [
    [EXAMPLE, undefined, 'fixtures/tests/example-pass.yaml', 0],
    [EXAMPLE, undefined, 'fixtures/tests/example-fail.yaml', 4],
    [ROLES, ROLES_CATALOG, 'fixtures/tests/roles-fail.yaml', 3],
  ] as const) {
    const r = runCli(['test', '--profile', profile, ...(catalog ? ['--catalog', catalog] : []), '--format', 'junit', '--target', 'nftables', file]);
    assert.is(r.code, failures ? 1 : 0, r.stderr);
    const out = path.join(dir, 'junit.xml');
    fs.writeFileSync(out, r.stdout);
    const v = xmllint(out);
    assert.is(v.code, 0, v.out);
    const cases = r.stdout.match(/<testcase /g) ?? [];
    const listed = (fs.readFileSync(path.join(ROOT, file), 'utf8').match(/^- /gm) ?? []).length;
    assert.is(cases.length, listed);
    assert.is((r.stdout.match(/<testsuite /g) ?? []).length, 1);
    assert.match(r.stdout, new RegExp(`failures="${failures}"`));
    assert.is((r.stdout.match(/<failure /g) ?? []).length, failures);
    for (const c of r.stdout.match(/<testcase [^>]*>/g) ?? []) assert.match(c, new RegExp(`classname="${file.replace(/\./g, '\\.')}"`));
  }
  const fail = runCli(['test', '--profile', EXAMPLE, '--format', 'junit', 'fixtures/tests/example-fail.yaml']).stdout;
  assert.match(fail, /<testcase name="admins have no SSH \(line 26\)" classname="fixtures\/tests\/example-fail\.yaml">/);
  assert.match(fail, /message="allowed: tcp 22 from 198\.51\.100\.0\/24 to 10\.20\.0\.11, 10\.20\.0\.12\/31"/);
  assert.match(fail, /in-admins-v4-tcp/);
  rmTree(dir);
});

test('JUnit and text: hostile names stay text (control characters, ]]>, quotes, markup, bidi); the XML stays valid', () => {
  const dir = tmpDir('pc-policy-');
  // A file name with markup and quotes, names with escapes YAML turns into control characters.
  const file = path.join(dir, 'a"b<c>&\'d.yaml');
  const names = ['bell\\a esc\\e[31m nul-ish\\x01 ]]> \\"q\\" \'a\' <x>&amp; \\u202Eevil\\u2028line\\x85next'];
  fs.writeFileSync(file, names.map((n) => `- name: "${n}"\n  from: admins\n  to: nodes\n  port: 22/tcp\n  expect: deny\n`).join('') + '- name: "ok ]]>"\n  from: admins\n  to: nodes\n  port: 22/tcp\n  expect: allow\n');
  const r = runCli(['test', '--profile', EXAMPLE, '--format', 'junit', file]);
  assert.is(r.code, 1, r.stderr);
  const out = path.join(dir, 'junit.xml');
  fs.writeFileSync(out, r.stdout);
  const v = xmllint(out);
  assert.is(v.code, 0, v.out);
  // eslint-disable-next-line no-control-regex
  assert.not.match(r.stdout, /[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\u202e\u2028]/);
  assert.not.ok(r.stdout.includes(']]>'), 'no raw ]]>');
  assert.ok(r.stdout.includes('\\x07') && r.stdout.includes('\\x1b[31m') && r.stdout.includes('\\x01') && r.stdout.includes('\\u202e') && r.stdout.includes('\\x85'));
  assert.ok(r.stdout.includes('&quot;q&quot; &apos;a&apos; &lt;x&gt;&amp;amp;'));
  assert.ok(r.stdout.includes('classname="' + file.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;').replace(/'/g, '&apos;') + '"'));
  // Parsed back (xmllint --xpath), the name is the quoted text.
  const x = spawnSync('xmllint', ['--xpath', 'string(/testsuite/testcase[1]/@name)', out], { encoding: 'utf8' });
  assert.ok(x.stdout.startsWith('bell\\x07 esc\\x1b[31m nul-ish\\x01 ]]> "q" \'a\' <x>&amp; \\u202eevil\\u2028line\\x85next'), x.stdout);
  // The text report quotes the same characters and keeps each name on its line.
  const t = runCli(['test', '--profile', EXAMPLE, file]);
  assert.is(t.code, 1);
  assertTerminalSafe(t.stdout);
  assert.match(t.stdout, /^FAIL .*bell\\x07 esc\\x1b\[31m/m);
  rmTree(dir);
});

test.run();
