// Fuzz: random catalogs that pass the catalog JSON Schema (drawn from the
// schema itself, test/helpers/schema-arbitrary.ts) with random profiles for
// them. Names are drawn from one small shared vocabulary, so references
// sometimes resolve and sometimes point at nothing, at a name of another
// kind (a feature used as a group), or at a name the compiler makes for
// itself (extra_egress_1, extra-egress-1, table P). Whatever the input, no
// exception may escape: compile() for every target, and load() + render()
// per target, either succeed or return diagnostics that point into the
// inputs; the CLI exits 0 or 2, never with a stack trace. (Before the
// loader's meaning checks, the default seed found "internal: anti-lockout
// rule 'a' has no ipv4 rule from 'nodes'" within 40 runs: an anti-lockout
// rule from the nodes outward.)
//
// Runs: PORTCULLIS_FUZZ_RUNS (default 400); seed: PORTCULLIS_FUZZ_SEED
// (default fixed, so CI is reproducible; vary it to explore).

import Ajv from 'ajv';
import fc from 'fast-check';
import * as yaml from 'js-yaml';
import * as fs from 'fs';
import * as path from 'path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import * as api from '../src/index';
import { ALL_TARGETS } from '../src/targets';
import type { CompileResult, Diagnostic, InputText } from '../src/index';
import { parseAddress } from '../src/addresses';
import { parsePortSpec } from '../src/ports';
import { runCli } from './helpers/cli';
import { assertCaret, assertNoStack, parseDiagnostics } from './helpers/diagnostics';
import { arbitraryFromSchema, dotted, JsonSchema, matching } from './helpers/schema-arbitrary';
import { rmTree, tmpDir } from './helpers/tree';

const RUNS = Number(process.env.PORTCULLIS_FUZZ_RUNS ?? 400);
const SEED = Number(process.env.PORTCULLIS_FUZZ_SEED ?? 20261201);

// ------------------------------------------------------------- vocabulary

/** Names of every kind come from here, so a feature may be used as a group. */
const NAMES = ['nodes', 'admins', 'users', 'monitor', 'bmc', 'metrics', 'debug', 'app_port', 'extra_egress_1', 'extra_egress_2'];
/** Names the compiler makes for the profile's extra_egress entries. */
const COMPILER_GROUPS = ['extra_egress_1', 'extra_egress_2'];
const TABLES = ['T1', 'T2', 'T3'];
const RULE_IDS = ['ssh', 'app', 'gossip', 'metrics', 'extra-egress-1', 'extra-egress-2'];
const GOOD_PORTS = ['22', '80', '443', '8080-8090', '20000-65535', '1-65535', '65535', '1', '22-22'];
const BAD_PORTS = ['0', '70000', '90-80', '00022', '0-0'];
const GOOD_ADDRESSES = ['10.0.0.0/8', '192.0.2.1', '192.0.2.0/24', '198.51.100.7', '203.0.113.0/28', '0.0.0.0/0', '2001:db8::/32', '2001:db8::1', '::/0', '::ffff:192.0.2.1'];
const BAD_ADDRESSES = ['010.0.0.1', '::ffff:010.0.0.1', '::ffff:0x0a.0.0.1', '::10.0.0.1', '10.0.0.1/24', '1.2.3.4/33', 'fe80::1%eth0', 'host.example', '', ' '];

const fresh = matching(/^[a-z][a-z0-9_]{0,30}$/);

/** Mostly one of `names` (a reference that resolves), now and then any
 * name: unknown, or declared as another kind. */
function nameFrom(names: readonly string[]): fc.Arbitrary<string> {
  const others = fc.oneof(fc.constantFrom(...NAMES), fresh);
  return names.length ? fc.oneof({ arbitrary: fc.constantFrom(...names), weight: 30 }, { arbitrary: others, weight: 1 }) : others;
}

function mostly<T>(good: readonly T[], bad: fc.Arbitrary<T>, odds = 20): fc.Arbitrary<T> {
  return fc.oneof({ arbitrary: fc.constantFrom(...good), weight: odds }, { arbitrary: bad, weight: 1 });
}

const portText = mostly(GOOD_PORTS, fc.oneof(fc.constantFrom(...BAD_PORTS), matching(/^[0-9]{1,5}(-[0-9]{1,5})?$/)));
const address = mostly(GOOD_ADDRESSES, fc.oneof(fc.constantFrom(...BAD_ADDRESSES), fc.string({ maxLength: 20 })));

interface Vocabulary {
  groups: string[];
  features: string[];
  params: string[];
  tables: string[];
}

const vocabulary: fc.Arbitrary<Vocabulary> = fc.record({
  groups: fc.uniqueArray(mostly(NAMES.filter((n) => !COMPILER_GROUPS.includes(n)), fc.constantFrom(...COMPILER_GROUPS), 6), { minLength: 1, maxLength: 5 }),
  features: fc.uniqueArray(fc.constantFrom(...NAMES), { maxLength: 3 }),
  params: fc.uniqueArray(fc.constantFrom(...NAMES), { maxLength: 3 }),
  // P is the profile's own table (extra_egress).
  tables: fc.uniqueArray(mostly(TABLES, fc.constant('P'), 10), { minLength: 1, maxLength: 3 }),
});

/** How often optional catalog keys appear: a rule cites a row more often
 * than prose, and is feature-gated now and then. */
const CATALOG_PRESENCE: Record<string, number> = {
  'rules.*.row': 0.85,
  'rules.*.prose': 0.15,
  'rules.*.feature': 0.15,
  'rules.*.anti_lockout': 0.3,
  'rules.*.cells': 0.8,
  'rules.*.cells.service': 0.9,
  'rules.*.service': 0.3,
  'params.*.choices': 0.3,
};

function catalogArbitrary(v: Vocabulary): fc.Arbitrary<unknown> {
  return arbitraryFromSchema(
    api.catalogSchema as unknown as JsonSchema,
    (p, s, derived) => {
      const at = dotted(p);
      if (at === 'groups.{}') return fc.constantFrom(...v.groups);
      if (at === 'features.{}' && v.features.length) return fc.constantFrom(...v.features);
      if (at === 'params.{}' && v.params.length) return fc.constantFrom(...v.params);
      if (at === 'tables.{}') return fc.constantFrom(...v.tables);
      if (at === 'host') return nameFrom(v.groups);
      // A group ref: mostly a bare name, sometimes feature-gated.
      if (/^rules\.\*\.(from|to)\.\*$/.test(at) && s.oneOf) return fc.oneof({ arbitrary: nameFrom(v.groups), weight: 8 }, { arbitrary: derived(), weight: 1 });
      if (/^rules\.\*\.(from|to)\.\*(\.group)?$/.test(at) && s.type === 'string') return nameFrom(v.groups);
      if (/^rules\.\*(\.(from|to)\.\*)?\.feature$/.test(at)) return nameFrom(v.features);
      if (at === 'rules.*.ports.*.param') return nameFrom(v.params);
      if (at === 'rules.*.ports.*' && s.oneOf) return v.params.length ? fc.oneof({ arbitrary: portText, weight: 3 }, { arbitrary: derived(), weight: 1 }) : portText;
      if ((at === 'rules.*.ports.*' || at === 'params.*.default') && s.type === 'string') return portText;
      if (at === 'params.*.choices.*') return fc.constantFrom(22, 80, 443, 8080, 8090, 1, 65535);
      if (at === 'rules.*.table') return mostly(v.tables, fc.constantFrom(...TABLES, 'P', 'T9', ''));
      if (at === 'rules.*.id') return fc.oneof(fc.constantFrom(...RULE_IDS), matching(/^[a-z0-9][a-z0-9-]{0,62}$/), matching(/^[a-z0-9][a-z0-9-]{0,62}$/));
      if (at === 'rules.*.row') return fc.integer({ min: 1, max: 30 });
      if (at === 'groups.*.default.*') return address;
      return undefined;
    },
    {
      maxItems: 4,
      maxKeys: 5,
      presence: (p) => CATALOG_PRESENCE[dotted(p)],
      // Every name of the vocabulary is declared (references to it resolve).
      keyCount: (p) => {
        const names = { groups: v.groups, features: v.features, params: v.params, tables: v.tables }[dotted(p)];
        return names && { min: names.length, max: names.length };
      },
    },
  );
}

function profileArbitrary(catalog: Record<string, Record<string, unknown>>): fc.Arbitrary<unknown> {
  const groups = Object.keys(catalog.groups ?? {});
  const params = Object.keys(catalog.params ?? {});
  const features = Object.keys(catalog.features ?? {});
  // Mostly every catalog group with addresses (so rules compile), else
  // whatever the schema allows.
  const everyGroup = fc.record(Object.fromEntries(groups.map((g) => [g, fc.array(address, { minLength: 1, maxLength: 3 })])), { noNullPrototype: true });
  return arbitraryFromSchema(
    api.profileSchema as unknown as JsonSchema,
    (p, s, derived) => {
      const at = dotted(p);
      if (at === 'groups') return fc.oneof({ arbitrary: everyGroup, weight: 4 }, { arbitrary: derived(), weight: 1 });
      if (at === 'groups.{}') return nameFrom(groups);
      if (at === 'groups.*.*' || at === 'extra_egress.*.to.*') return address;
      if (at === 'params.{}') return nameFrom(params);
      if (at === 'features.{}') return nameFrom(features);
      if ((at === 'params.*' || at === 'extra_egress.*.ports.*') && s.type === 'string') return portText;
      return undefined;
    },
    { maxItems: 3, maxKeys: 5 },
  );
}

// ------------------------------------------------------- coherent inputs
//
// A catalog drawn at random almost always has some unresolved reference, so
// alone it would only test the first checks. Half the cases are therefore
// made coherent: every reference resolves, every port and address parses,
// each rule cites a row or prose. What stays random is what no reference
// check decides: directions, anti-lockout on any rule, a group on both
// ends, the compiler's own names used by the catalog, the profile's
// extra_egress. The result is checked against the schema like the rest.

type Raw = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

const validPort = (p: unknown) => (typeof p === 'string' || typeof p === 'number') && parsePortSpec(p) !== undefined;
const validAddress = (a: unknown) => typeof a === 'string' && parseAddress(a).ok;
const pickFrom = (name: string, names: string[]) => (names.includes(name) ? name : names[name.length % names.length]);

/** sound: also what the meaning checks reject (a group on both ends,
 * anti-lockout not into the nodes, the compiler's reserved names), so the
 * catalog compiles unless the profile is at fault. */
function coherentCatalog(input: unknown, sound: boolean): Raw {
  const c = structuredClone(input) as Raw;
  if (sound) {
    for (const name of Object.keys(c.groups))
      if (/^extra_egress_\d+$/.test(name)) {
        c.groups[`x${name}`.slice(0, 31)] = c.groups[name];
        delete c.groups[name];
      }
    for (const r of c.rules) if (/^extra-egress-\d+$/.test(r.id)) r.id = `x${r.id}`;
  }
  const groups = Object.keys(c.groups);
  // Coherent catalogs are one-role (host:); roles and unions stay random.
  c.host = pickFrom(c.host ?? groups[0], groups);
  delete c.roles;
  for (const g of Object.values<Raw>(c.groups)) delete g.union;
  for (const g of Object.values<Raw>(c.groups)) if (g.default) g.default = g.default.filter(validAddress);
  if ('P' in c.tables) {
    c.tables.T1 ??= c.tables.P;
    delete c.tables.P;
  }
  const tables = Object.keys(c.tables);
  const features = Object.keys(c.features ?? {});
  for (const p of Object.values<Raw>(c.params ?? {})) {
    if (!validPort(p.default)) p.default = 8080;
    const def = parsePortSpec(p.default)!;
    if (p.kind === 'port' && def.lo !== def.hi) p.kind = 'port-range';
    if (p.kind === 'port-range') delete p.choices;
    else if (p.choices && !p.choices.includes(def.lo)) p.choices.push(def.lo);
  }
  const params = Object.keys(c.params ?? {});
  const ids = new Set<string>();
  const rows = new Set<string>();
  c.rules.forEach((r: Raw, i: number) => {
    if (ids.has(r.id)) r.id = `${r.id.slice(0, 56)}-${i}`;
    ids.add(r.id);
    r.table = pickFrom(r.table, tables);
    if (r.row !== undefined) delete r.prose;
    else if (r.prose === undefined) r.row = i + 1;
    while (r.row !== undefined && rows.has(`${r.table}:${r.row}`)) r.row++;
    if (r.row !== undefined) rows.add(`${r.table}:${r.row}`);
    const gated = (f: unknown) => typeof f === 'string' && features.includes(f) && !r.anti_lockout;
    if (!gated(r.feature)) delete r.feature;
    const ref = (g: string | Raw) =>
      typeof g === 'string' ? pickFrom(g, groups) : gated(g.feature) ? { group: pickFrom(g.group, groups), feature: g.feature } : pickFrom(g.group, groups);
    const once = (list: (string | Raw)[]) => list.filter((g, j) => list.findIndex((x) => (typeof x === 'string' ? x : x.group) === (typeof g === 'string' ? g : g.group)) === j);
    r.from = once(r.from.map(ref));
    r.to = once(r.to.map(ref));
    if (sound) {
      const name = (g: string | Raw) => (typeof g === 'string' ? g : g.group);
      if (r.anti_lockout) {
        r.from = r.from.filter((g: string | Raw) => name(g) !== c.host);
        const outside = groups.find((g) => g !== c.host);
        if (!r.from.length && outside) r.from = [outside];
        if (r.from.length) r.to = [c.host];
        else {
          r.from = [c.host];
          delete r.anti_lockout;
        }
      }
      r.to = r.to.filter((g: string | Raw) => name(g) === c.host || !r.from.some((f: string | Raw) => name(f) === name(g)));
      if (!r.to.length) r.to = [c.host];
    }
    if (r.cells?.service !== undefined) r.cells.service ||= r.id;
    else r.service ||= r.id;
    r.ports = (r.ports ?? [22]).map((p: unknown) => (typeof p === 'object' ? (params.length ? { param: pickFrom((p as Raw).param, params) } : 22) : validPort(p) ? p : 22));
    coherentTransport(r);
  });
  return c;
}

/** Any transport the generator drew, made one the loader accepts, with
 * ports or ICMP types as that transport takes them. */
const COHERENT_TRANSPORTS: (string | string[])[] = ['tcp', 'udp', 'sctp', 'icmp', 'icmpv6', 'esp', 'gre', ['tcp', 'udp'], ['udp', 'esp']];
function coherentTransport(r: Raw): void {
  if (r.transport === undefined) {
    delete r.icmp_types;
    return;
  }
  const drawn = JSON.stringify(r.transport);
  const t = COHERENT_TRANSPORTS[[...drawn].reduce((n, ch) => n + ch.charCodeAt(0), 0) % COHERENT_TRANSPORTS.length];
  r.transport = t;
  const list = Array.isArray(t) ? t : [t];
  if (!list.some((x) => ['tcp', 'udp', 'sctp'].includes(x))) delete r.ports;
  else r.ports ??= [22];
  if (list.length === 1 && list[0].startsWith('icmp') && r.icmp_types) r.icmp_types = ['echo-request'];
  else delete r.icmp_types;
  if (r.anti_lockout && t !== 'tcp') delete r.anti_lockout;
}

function coherentProfile(input: unknown, catalog: Raw): Raw {
  const p = structuredClone(input) as Raw;
  for (const [name, list] of Object.entries<unknown[]>(p.groups)) {
    if (name in catalog.groups) p.groups[name] = list.filter(validAddress);
    else delete p.groups[name];
  }
  for (const [name, value] of Object.entries(p.params ?? {})) {
    const def = catalog.params?.[name];
    const range = parsePortSpec(value as string | number);
    if (!def || !range || (def.kind === 'port' && range.lo !== range.hi) || (def.choices && !def.choices.includes(range.lo))) delete p.params[name];
  }
  for (const name of Object.keys(p.features ?? {})) if (!(name in (catalog.features ?? {}))) delete p.features[name];
  for (const e of p.extra_egress ?? []) {
    e.to = e.to.filter(validAddress);
    if (!e.to.length) e.to = ['192.0.2.53'];
    e.ports = (e.ports ?? [53]).map((x: unknown) => (validPort(x) ? x : 53));
    coherentTransport(e);
  }
  return p;
}

type Mode = 'random' | 'coherent' | 'sound';

interface Case {
  mode: Mode;
  catalog: unknown;
  profile: unknown;
}

const cases: fc.Arbitrary<Case> = fc.constantFrom<Mode>('random', 'coherent', 'sound').chain((mode) =>
  vocabulary
    .chain(catalogArbitrary)
    .map((catalog) => (mode === 'random' ? catalog : coherentCatalog(catalog, mode === 'sound')))
    .chain((catalog) =>
      profileArbitrary(catalog as Raw).map((profile) => ({ mode, catalog, profile: mode === 'random' ? profile : coherentProfile(profile, catalog as Raw) })),
    ),
);

// ------------------------------------------------------------------ checks

const ajv = new Ajv({ allErrors: true, strict: true });
const catalogValid = ajv.compile(api.catalogSchema);
const profileValid = ajv.compile(api.profileSchema);

const CATALOG = 'fuzz/catalog.yaml';
const PROFILE = 'fuzz/profile.yaml';

function texts(c: Case): { catalog: InputText; profile: InputText } {
  // The generator's promise, checked: the catalog passes the schema.
  assert.ok(catalogValid(structuredClone(c.catalog)), `generated catalog is not schema-valid: ${ajv.errorsText(catalogValid.errors)}`);
  assert.ok(profileValid(structuredClone(c.profile)), `generated profile is not schema-valid: ${ajv.errorsText(profileValid.errors)}`);
  return {
    catalog: { path: CATALOG, text: yaml.dump(c.catalog, { noRefs: true, lineWidth: -1 }) },
    profile: { path: PROFILE, text: yaml.dump(c.profile, { noRefs: true, lineWidth: -1 }) },
  };
}

function assertPositioned(ds: Diagnostic[], inputs: { catalog: InputText; profile: InputText }): void {
  assert.ok(ds.length > 0, 'a failure has at least one diagnostic');
  const lines = new Map([inputs.catalog, inputs.profile].map((t) => [t.path, t.text.split('\n')]));
  for (const d of ds) {
    const where = `${d.file}:${d.pos?.line}:${d.pos?.col}: ${d.message}`;
    assert.is(d.level, 'error', where);
    assert.ok(lines.has(d.file), `diagnostic points into an input: ${where}`);
    assert.ok(d.pos && Number.isInteger(d.pos.line) && Number.isInteger(d.pos.col) && d.pos.line >= 1 && d.pos.col >= 1, `positioned: ${where}`);
    const text = lines.get(d.file)!;
    assert.ok(d.pos.line <= text.length, `line within the file: ${where}`);
    assert.is(d.sourceLine, text[d.pos.line - 1].replace(/\r$/, ''), `quoted line: ${where}`);
    assert.ok(typeof d.message === 'string' && d.message.length > 0, where);
    assert.not.match(d.message, /\bundefined\b|\[object Object\]|\bNaN\b|^internal/, `message: ${where}`);
  }
}

/** What a backend relies on: rules name sets the IR has, one family each. */
function assertIrConsistent(r: Extract<CompileResult, { ok: true }>): void {
  const sets = new Map(r.ir.sets.map((s) => [s.name, s]));
  for (const rule of r.ir.rules) {
    for (const name of [rule.source, rule.destination]) {
      if (name === undefined) continue;
      assert.ok(sets.has(name), `rule ${rule.id} names set ${name}`);
      assert.is(sets.get(name)!.family, rule.family, `family of ${name} in ${rule.id}`);
    }
    assert.ok(rule.ports.length > 0, `rule ${rule.id} opens ports (or ICMP types, or its portless protocol)`);
  }
  for (const f of r.files) assert.ok(f.content.endsWith('\n'), `${f.path} ends with a newline`);
}

type Outcome = 'ok' | 'error';

function checkCase(c: Case): Outcome {
  const inputs = texts(c);
  let result: CompileResult;
  try {
    result = api.compile({ ...inputs, targets: ALL_TARGETS });
  } catch (e) {
    throw new Error(`compile() threw ${(e as Error).stack}\n--- catalog\n${inputs.catalog.text}--- profile\n${inputs.profile.text}`);
  }
  if (result.ok) assertIrConsistent(result);
  else assertPositioned(result.diagnostics, inputs);

  // load() + render() per target: the same verdict, never a throw but CompileError.
  let loaded: api.Loaded | undefined;
  try {
    loaded = api.load(inputs);
  } catch (e) {
    if (!(e instanceof api.CompileError)) throw new Error(`load() threw ${(e as Error).stack}\n--- catalog\n${inputs.catalog.text}--- profile\n${inputs.profile.text}`);
    assertPositioned(e.diagnostics, inputs);
  }
  if (loaded) {
    let allOk = true;
    for (const target of ALL_TARGETS) {
      let r: CompileResult;
      try {
        r = api.render(loaded, [target]);
      } catch (e) {
        throw new Error(`render(${target}) threw ${(e as Error).stack}\n--- catalog\n${inputs.catalog.text}--- profile\n${inputs.profile.text}`);
      }
      if (!r.ok) {
        allOk = false;
        assertPositioned(r.diagnostics, inputs);
      }
    }
    assert.is(allOk, result.ok, 'render() per target agrees with compile()');
  } else assert.is(result.ok, false, 'load() failed, so compile() must fail');
  return result.ok ? 'ok' : 'error';
}

test('random schema-valid catalogs and profiles: compile() and load()+render() never throw; failures are positioned', () => {
  const seen: Record<Outcome, number> = { ok: 0, error: 0 };
  fc.assert(
    fc.property(cases, (c) => {
      seen[checkCase(c)]++;
    }),
    { numRuns: RUNS, seed: SEED, includeErrorInReport: true },
  );
  // Both paths must really be exercised, or the fuzz proves nothing about
  // the backends (ok) or about the checks (error).
  assert.ok(seen.ok >= RUNS * 0.05, `successful compiles: ${seen.ok} of ${RUNS}`);
  assert.ok(seen.error >= RUNS * 0.05, `failed compiles: ${seen.error} of ${RUNS}`);
});

test('the CLI on a sample of them: exit 0 or 2, positioned errors with a caret, never a stack trace', () => {
  const work = tmpDir(`portcullis-fuzz-${process.pid}-`);
  try {
    const sample = fc.sample(cases, { numRuns: 200, seed: SEED + 1 });
    const picked: { c: Case; ok: boolean; diagnostics: Diagnostic[] }[] = [];
    let ok = 0;
    let bad = 0;
    for (const c of sample) {
      const r = api.compile({ ...texts(c), targets: ALL_TARGETS });
      if (r.ok && ok < 6) picked.push({ c, ok: true, diagnostics: [] }), ok++;
      else if (!r.ok && bad < 10) picked.push({ c, ok: false, diagnostics: r.diagnostics }), bad++;
    }
    assert.ok(ok >= 3 && bad >= 6, `sample has both outcomes (${ok} ok, ${bad} failing)`);
    picked.forEach(({ c, ok, diagnostics }, i) => {
      const inputs = texts(c);
      const catalog = path.join(work, `catalog-${i}.yaml`);
      const profile = path.join(work, `profile-${i}.yaml`);
      fs.writeFileSync(catalog, inputs.catalog.text);
      fs.writeFileSync(profile, inputs.profile.text);
      for (const args of [
        ['compile', '--profile', profile, '--catalog', catalog, '--target', 'all', '--stdout'],
        ['validate', '--profile', profile, '--catalog', catalog],
      ]) {
        const r = runCli(args);
        const what = `${args[0]} of case ${i}:\n${r.stderr}\nlibrary: ${diagnostics.map(api.formatDiagnostic).join('\n')}\n--- catalog\n${inputs.catalog.text}--- profile\n${inputs.profile.text}`;
        assertNoStack(r.stderr);
        // validate does not render, so a target's limit is no error there.
        if (args[0] === 'compile') assert.is(r.code, ok ? 0 : 2, what);
        else assert.ok(r.code === 0 || r.code === 2, what);
        if (r.code === 2) {
          const ds = parseDiagnostics(r.stderr);
          assert.ok(ds.length > 0, what);
          for (const d of ds) {
            assert.ok(d.file === catalog || d.file === profile, what);
            assertCaret(d, d.file);
          }
          assert.match(r.stderr, /^\d+ errors?; nothing written\.$/m, what);
          assert.is(r.stdout, '', what);
        }
      }
    });
  } finally {
    rmTree(work);
  }
});

test.run();
