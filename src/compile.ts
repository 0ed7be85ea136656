// The library API: inputs in, files and diagnostics out. The CLI is a thin
// shell over these functions; a pipeline can call them directly.

import * as fs from 'fs';
import * as path from 'path';
import { availableTargets, backendFor, ALL_TARGETS } from './backends';
import { TargetLimitError, TargetName } from './backends/base';
import { CompileError, Diagnostic, SourceText } from './diagnostics';
import { buildIR } from './ir/build';
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
  ir: IR;
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

/** Load and analyze without rendering; throws CompileError on bad input. */
export function load(options: Pick<CompileOptions, 'profile' | 'catalog'>): Loaded {
  const catalog = options.catalog ? loadCatalog(new SourceText(options.catalog.path, options.catalog.text)) : loadBuiltinCatalog();
  const profile = loadProfile(new SourceText(options.profile.path, options.profile.text), catalog);
  return { catalog, profile, ir: buildIR(catalog, profile) };
}

export function compile(options: CompileOptions): CompileResult {
  try {
    return render(load(options), options.targets);
  } catch (e) {
    if (e instanceof CompileError) return { ok: false, diagnostics: e.diagnostics };
    throw e;
  }
}

/** The targets' files for an already loaded policy (what compile() does
 * after load(); for commands that loaded it already). A target whose limits
 * the policy exceeds gives a positioned diagnostic instead of files. */
export function render({ ir, profile }: Loaded, targets: TargetName[] = availableTargets()): CompileResult {
  const files: OutputEntry[] = [];
  const diagnostics: Diagnostic[] = [];
  for (const target of targets) {
    const backend = backendFor(target);
    if (!backend) throw new Error(`target '${target}' is not implemented`);
    try {
      for (const f of backend.render(ir)) files.push({ path: `${ir.environment}/${target}/${f.path}`, target, content: f.content });
    } catch (e) {
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
