// The library API: inputs in, files and diagnostics out. The CLI is a thin
// shell over these functions; a pipeline can call them directly.

import * as fs from 'fs';
import * as path from 'path';
import { availableTargets, backendFor, ALL_TARGETS } from './targets';
import { TargetLimitError, TargetName, TransportRefusal } from './targets/base';
import { clip, CompileError, Diagnostic, SourceText } from './diagnostics';
import { buildRoleIRs } from './ir/build';
import type { IR } from './ir/types';
import { analyzeCatalog, Catalog, loadCatalog } from './load/catalog';
import { DocSnapshot, ParsedDoc } from './load/yaml';
import { loadProfile, Profile } from './load/profile';
import { packagePath } from './paths';

export const BUILTIN_CATALOG_NAME = 'catalog/thoughtspot.yaml';

export interface InputText {
  /** Shown in diagnostics. */
  path: string;
  text: string;
}

export interface CompileOptions {
  profile: InputText;
  /** Defaults to the built-in catalog. */
  catalog?: InputText;
  /** Defaults to every available target. */
  targets?: TargetName[];
}

export interface OutputEntry {
  /** `<environment>/<target>/<file>`, '/'-separated, relative to the output directory. */
  path: string;
  target: TargetName;
  content: string;
}

export type CompileResult =
  | { ok: true; environment: string; ir: IR; files: OutputEntry[]; diagnostics: Diagnostic[] }
  | { ok: false; diagnostics: Diagnostic[] };

export function builtinCatalogText(): InputText {
  const file = packagePath(BUILTIN_CATALOG_NAME);
  return { path: path.relative(process.cwd(), file) || file, text: fs.readFileSync(file, 'utf8') };
}

export interface Loaded {
  catalog: Catalog;
  profile: Profile;
  /** The first role's policy: the only one of a one-role catalog. */
  ir: IR;
  /** One policy per firewalled role, in catalog order (roles[0] is ir).
   * Absent in a Loaded made by hand: [ir]. */
  roles?: IR[];
}

/** Every role's IR of a loaded policy. */
export function roleIRs(loaded: Loaded): IR[] {
  return loaded.roles?.length ? loaded.roles : [loaded.ir];
}

interface CatalogSnapshot {
  text: string;
  doc: DocSnapshot;
}

/** The built-in catalog: from the snapshot tools/bundle.js puts in the
 * bundle (parsed and schema-checked at build time) when the file on disk is
 * still the text it was made from; else parsed like any catalog. */
function loadBuiltinCatalog(): Catalog {
  const input = builtinCatalogText();
  const source = new SourceText(input.path, input.text);
  let snap: CatalogSnapshot | undefined;
  try {
    // eslint-disable-next-line @typescript-eslint/no-var-requires
    snap = require('portcullis:builtin-catalog') as CatalogSnapshot;
  } catch {
    snap = undefined; // not bundled
  }
  if (snap && snap.text === input.text) return analyzeCatalog(ParsedDoc.fromSnapshot(source, snap.doc));
  return loadCatalog(source);
}

// ------------------------------------------------------------ arguments
//
// JavaScript callers get no type checking: each entry point checks its
// arguments itself and throws a TypeError naming the argument, before any
// of it reaches the loader. Bad input *text* is not an argument error: it
// comes back as diagnostics (compile, render) or a CompileError (load).

/** What a value is, for an argument error: its type, and a short preview. */
export function describeArgument(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return `an array of ${v.length}`;
  if (typeof v === 'string') return `string ${JSON.stringify(v.length > 40 ? `${v.slice(0, 40)}…` : v)}`;
  if (typeof v === 'object') {
    const kind = (Object.getPrototypeOf(v) as { constructor?: { name?: unknown } } | null)?.constructor?.name;
    if (typeof kind === 'string' && kind !== 'Object' && kind !== '') return `a ${kind.slice(0, 40)}`;
    const keys = Object.keys(v as object);
    const shown = keys.slice(0, 5).map((k) => `${/^[A-Za-z_$][\w$]{0,30}$/.test(k) ? k : JSON.stringify(k.slice(0, 30))}: ${typeOf((v as Record<string, unknown>)[k])}`);
    return keys.length ? `{${shown.join(', ')}${keys.length > 5 ? ', …' : ''}}` : '{}';
  }
  return typeOf(v);
}

function typeOf(v: unknown): string {
  return v === null ? 'null' : Array.isArray(v) ? 'array' : typeof v;
}

function argumentError(fn: string, what: string, expected: string, got: unknown): TypeError {
  return new TypeError(`${fn}(): ${what} must be ${expected}, got ${describeArgument(got)}`);
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function checkInputText(fn: string, what: string, v: unknown, optional: boolean): void {
  if (optional && v === undefined) return;
  if (isRecord(v) && typeof v.path === 'string' && typeof v.text === 'string') return;
  const e = argumentError(fn, what, `{path: string, text: string}${optional ? ' or omitted (the built-in catalog)' : ''}`, v);
  // The likely mistake: a file name where its contents belong.
  if (typeof v === 'string') e.message += ` (pass the text itself: {path, text: fs.readFileSync(path, 'utf8')})`;
  throw e;
}

/** Targets: an array of distinct target names, or omitted (every available target). */
export function checkTargets(fn: string, what: string, v: unknown): void {
  if (v === undefined) return;
  const known = availableTargets();
  const expected = `an array of target names (${known.join(', ')}) or omitted (all of them)`;
  if (!Array.isArray(v)) throw argumentError(fn, what, expected, v);
  if (!v.length) throw new TypeError(`${fn}(): ${what} is empty; omit it for every target, or name at least one of ${known.join(', ')}`);
  v.forEach((t, i) => {
    if (typeof t !== 'string' || !(known as string[]).includes(t))
      throw new TypeError(`${fn}(): ${what}[${i}] must be one of ${known.join(', ')}, got ${describeArgument(t)}`);
    if (v.indexOf(t) !== i) throw new TypeError(`${fn}(): ${what} names '${t}' twice`);
  });
}

function checkOptions(fn: string, options: unknown, allowed: readonly string[]): asserts options is CompileOptions {
  if (!isRecord(options)) throw argumentError(fn, 'options', `an object {${allowed.map((k) => (k === 'profile' ? k : `${k}?`)).join(', ')}}`, options);
  for (const key of Object.keys(options))
    if (!allowed.includes(key)) throw new TypeError(`${fn}(): unknown option ${JSON.stringify(key.slice(0, 40))} (known: ${allowed.join(', ')})`);
  checkInputText(fn, 'options.profile', options.profile, false);
  checkInputText(fn, 'options.catalog', options.catalog, true);
  checkTargets(fn, 'options.targets', options.targets);
}

const COMPILE_OPTIONS = ['profile', 'catalog', 'targets'] as const;

function loadChecked(options: CompileOptions): Loaded {
  const catalog = options.catalog ? loadCatalog(new SourceText(options.catalog.path, options.catalog.text)) : loadBuiltinCatalog();
  return loadAgainst(catalog, options.profile);
}

/** A profile loaded against a loaded catalog, with every role's IR; throws CompileError. */
function loadAgainst(catalog: Catalog, p: InputText): Loaded {
  const profile = loadProfile(new SourceText(p.path, p.text), catalog);
  const roles = buildRoleIRs(catalog, profile);
  return { catalog, profile, ir: roles[0], roles };
}

/** Load and analyze without rendering; throws CompileError on bad input. */
export function load(options: Pick<CompileOptions, 'profile' | 'catalog'>): Loaded {
  // compile()'s options are accepted too, so one object serves both.
  checkOptions('load', options, COMPILE_OPTIONS);
  return loadChecked(options);
}

export function compile(options: CompileOptions): CompileResult {
  checkOptions('compile', options, COMPILE_OPTIONS);
  try {
    return renderChecked(loadChecked(options), options.targets ?? availableTargets());
  } catch (e) {
    if (e instanceof CompileError) return { ok: false, diagnostics: e.diagnostics };
    throw e;
  }
}

/** The targets' files for an already loaded policy (what compile() does
 * after load(); for commands that loaded it already). A target whose limits
 * the policy exceeds gives a positioned diagnostic instead of files. */
export function render(loaded: Loaded, targets?: TargetName[]): CompileResult {
  const l: unknown = loaded;
  if (
    !isRecord(l) ||
    !isRecord(l.ir) ||
    !Array.isArray(l.ir.rules) ||
    !Array.isArray(l.ir.sets) ||
    typeof l.ir.environment !== 'string' ||
    !isRecord(l.profile) ||
    !(l.profile.groups instanceof Map) ||
    !isRecord(l.profile.doc) ||
    typeof l.profile.doc.error !== 'function'
  )
    throw argumentError('render', 'loaded', 'what load() returns ({catalog, profile, ir})', l);
  checkTargets('render', 'targets', targets);
  return renderChecked(loaded, targets ?? availableTargets());
}

/** Where a refusal points: the catalog rule, or the profile entry, whose
 * row asked for what the target cannot express. */
function refusalAt({ catalog, profile }: Loaded, e: TransportRefusal): Diagnostic {
  const message = `target ${e.target}: ${e.message}`;
  for (const p of e.rule.provenance) {
    const rule = catalog.rules.find((r) => r.id === p.ruleId);
    if (rule) return catalog.doc.error(hasKey(catalog.doc.value, [...rule.path, 'transport']) ? [...rule.path, 'transport'] : rule.path, message, e.hint);
    const entry = [...profile.extraEgress, ...profile.extraIngress].find((x) => x.ruleId === p.ruleId);
    if (entry) return profile.doc.error(hasKey(profile.doc.value, [...entry.path, 'transport']) ? [...entry.path, 'transport'] : entry.path, message, e.hint);
  }
  return profile.doc.error(['groups'], message, e.hint, true);
}

/** Whether the document has a value at path. */
function hasKey(value: unknown, path: (string | number)[]): boolean {
  let v = value;
  for (const k of path) {
    if (v === null || typeof v !== 'object' || !(k in (v as object))) return false;
    v = (v as Record<string | number, unknown>)[k];
  }
  return true;
}

function renderChecked(loaded: Loaded, targets: TargetName[]): CompileResult {
  const { ir, profile } = loaded;
  const files: OutputEntry[] = [];
  const diagnostics: Diagnostic[] = [];
  for (const target of targets) {
    const backend = backendFor(target);
    if (!backend) throw new Error(`internal: target '${target}' has no backend`);
    try {
      // One role: today's layout. Several: the backend's combined output,
      // or one folder per role (<target>/<role>/...).
      const irs = roleIRs(loaded);
      const rendered =
        irs.length === 1
          ? backend.render(ir)
          : backend.renderRoles
            ? backend.renderRoles(irs)
            : irs.flatMap((r) => backend.render(r).map((f) => ({ ...f, path: `${r.host}/${f.path}` })));
      for (const f of rendered) files.push({ path: `${ir.environment}/${target}/${f.path}`, target, content: f.content });
    } catch (e) {
      if (e instanceof TransportRefusal) {
        diagnostics.push(refusalAt(loaded, e));
        continue;
      }
      if (!(e instanceof TargetLimitError)) throw e;
      const at = e.group && profile.groups.has(e.group) ? ['groups', e.group] : ['groups'];
      diagnostics.push(profile.doc.error(at, `target ${e.target}: ${e.message}`, e.hint, true));
    }
  }
  if (diagnostics.length) return { ok: false, diagnostics };
  return { ok: true, environment: ir.environment, ir, files, diagnostics: [] };
}

export function isTargetName(s: string): s is TargetName {
  return (ALL_TARGETS as string[]).includes(s);
}

// ------------------------------------------------------------ many profiles
//
// Several environments in one call: the catalog is loaded once, every
// profile against it, and every profile's diagnostics are collected before
// anything is decided, so one run reports every bad file. Two profiles that
// name one environment are an error at each later `environment:`, naming
// the first file (its position too). Either every environment compiles or
// the result holds only diagnostics.

export interface CompileManyOptions {
  profiles: InputText[];
  /** Defaults to the built-in catalog. */
  catalog?: InputText;
  /** Defaults to every available target. */
  targets?: TargetName[];
}

export interface EnvironmentResult {
  environment: string;
  /** The profile's path, as given. */
  profile: string;
  loaded: Loaded;
  /** This environment's files, '<environment>/<target>/<file>'. */
  files: OutputEntry[];
}

export type LoadManyResult = { ok: true; loaded: Loaded[] } | { ok: false; diagnostics: Diagnostic[] };

export type CompileManyResult =
  | { ok: true; environments: EnvironmentResult[]; files: OutputEntry[]; diagnostics: Diagnostic[] }
  | { ok: false; diagnostics: Diagnostic[] };

const COMPILE_MANY_OPTIONS = ['profiles', 'catalog', 'targets'] as const;

function checkManyOptions(fn: string, options: unknown, allowed: readonly string[]): asserts options is CompileManyOptions {
  if (!isRecord(options)) throw argumentError(fn, 'options', `an object {profiles, ${allowed.filter((k) => k !== 'profiles').map((k) => `${k}?`).join(', ')}}`, options);
  for (const key of Object.keys(options))
    if (!allowed.includes(key)) throw new TypeError(`${fn}(): unknown option ${JSON.stringify(key.slice(0, 40))} (known: ${allowed.join(', ')})`);
  if (!Array.isArray(options.profiles) || !options.profiles.length) throw argumentError(fn, 'options.profiles', 'a non-empty array of {path: string, text: string}', options.profiles);
  options.profiles.forEach((p: unknown, i: number) => checkInputText(fn, `options.profiles[${i}]`, p, false));
  checkInputText(fn, 'options.catalog', options.catalog, true);
  checkTargets(fn, 'options.targets', options.targets);
}

/** The catalog of a many-profile run, or its diagnostics. */
export function loadManyCatalog(options: Pick<CompileManyOptions, 'catalog'>): { ok: true; catalog: Catalog } | { ok: false; diagnostics: Diagnostic[] } {
  try {
    return { ok: true, catalog: options.catalog ? loadCatalog(new SourceText(options.catalog.path, options.catalog.text)) : loadBuiltinCatalog() };
  } catch (e) {
    if (e instanceof CompileError) return { ok: false, diagnostics: e.diagnostics };
    throw e;
  }
}

/** What duplicate detection needs of one loaded profile: its environment and
 * a diagnostic at its `environment:` key (message to be filled in). */
export interface NamedEnvironment {
  environment: string;
  at: Diagnostic;
}

function namedEnvironment(l: Loaded): NamedEnvironment {
  return { environment: l.profile.environment, at: l.profile.doc.error(['environment'], '', undefined, true) };
}

/** One profile of a many-profile run, loaded and rendered on its own; plain
 * data apart from `loaded`, so it can come from a worker thread. */
export type ProfileStep =
  | { profile: string; ok: false; loadDiagnostics: Diagnostic[] }
  | ({ profile: string; ok: true; loaded?: Loaded; renderDiagnostics: Diagnostic[]; files: OutputEntry[] } & NamedEnvironment);

function loadStep(catalog: Catalog, p: InputText): Loaded | Diagnostic[] {
  try {
    return loadAgainst(catalog, p);
  } catch (e) {
    if (e instanceof CompileError) return e.diagnostics;
    throw e;
  }
}

/** Loads and renders one profile. keepLoaded: keep the loaded policy (not
 * sent between threads). */
export function profileStep(catalog: Catalog, p: InputText, targets: TargetName[], keepLoaded: boolean): ProfileStep {
  const l = loadStep(catalog, p);
  if (Array.isArray(l)) return { profile: p.path, ok: false, loadDiagnostics: l };
  let r: CompileResult;
  try {
    r = renderChecked(l, targets);
  } catch (e) {
    if (!(e instanceof CompileError)) throw e;
    r = { ok: false, diagnostics: e.diagnostics };
  }
  return { profile: p.path, ok: true, ...namedEnvironment(l), loaded: keepLoaded ? l : undefined, renderDiagnostics: r.ok ? [] : r.diagnostics, files: r.ok ? r.files : [] };
}

/** The outcome of every profile's step, decided as a whole and in profile
 * order: load errors of any profile, then environments named twice, then
 * render errors; otherwise every environment. */
export function assembleSteps(steps: ProfileStep[]): CompileManyResult {
  const diagnostics = steps.flatMap((s) => (s.ok ? [] : s.loadDiagnostics));
  const named = steps.filter((s): s is Extract<ProfileStep, { ok: true }> => s.ok);
  diagnostics.push(...duplicateEnvironments(named));
  if (!diagnostics.length) diagnostics.push(...named.flatMap((s) => s.renderDiagnostics));
  if (diagnostics.length) return { ok: false, diagnostics };
  // Steps from worker threads carry no `loaded` (it does not cross threads);
  // only the CLI gets those results, and it reads files and names only.
  const environments = named.map((s) => ({ environment: s.environment, profile: s.profile, loaded: s.loaded as Loaded, files: s.files }));
  return { ok: true, environments, files: environments.flatMap((e) => e.files), diagnostics: [] };
}

function loadManyChecked(options: CompileManyOptions): LoadManyResult {
  const c = loadManyCatalog(options);
  if (!c.ok) return c;
  const diagnostics: Diagnostic[] = [];
  const loaded: Loaded[] = [];
  for (const p of options.profiles) {
    const l = loadStep(c.catalog, p);
    if (Array.isArray(l)) diagnostics.push(...l);
    else loaded.push(l);
  }
  diagnostics.push(...duplicateEnvironments(loaded.map(namedEnvironment)));
  return diagnostics.length ? { ok: false, diagnostics } : { ok: true, loaded };
}

/** An error at every profile whose environment an earlier profile names. */
function duplicateEnvironments(named: NamedEnvironment[]): Diagnostic[] {
  const first = new Map<string, NamedEnvironment>();
  const out: Diagnostic[] = [];
  for (const n of named) {
    const earlier = first.get(n.environment);
    if (!earlier) {
      first.set(n.environment, n);
      continue;
    }
    const there = `${earlier.at.file}:${earlier.at.pos?.line}:${earlier.at.pos?.col}`;
    out.push({
      ...n.at,
      message: clip(`environment '${n.environment}' is named by two profiles: this one and ${there}`),
      hint: 'each environment is compiled from one profile (it names the output folder); rename one, or leave one file out',
    });
  }
  return out;
}

/** Load several profiles against one catalog; every problem of every
 * profile comes back as diagnostics (never thrown). */
export function loadMany(options: Pick<CompileManyOptions, 'profiles' | 'catalog'>): LoadManyResult {
  checkManyOptions('loadMany', options, COMPILE_MANY_OPTIONS);
  return loadManyChecked(options);
}

/** compile() for several profiles: all environments, or only diagnostics. */
export function compileMany(options: CompileManyOptions): CompileManyResult {
  checkManyOptions('compileMany', options, COMPILE_MANY_OPTIONS);
  const c = loadManyCatalog(options);
  if (!c.ok) return c;
  const targets = options.targets ?? availableTargets();
  return assembleSteps(options.profiles.map((p) => profileStep(c.catalog, p, targets, true)));
}
