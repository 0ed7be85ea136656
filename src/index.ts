// Public library API. Every function checks its arguments at run time (a
// JavaScript caller has no compiler to do it) and throws a TypeError that
// names the argument; see describeArgument in ./compile.
import { describeArgument, OutputEntry } from './compile';
import { Diagnostic, formatDiagnostic as formatDiagnosticUnchecked } from './diagnostics';
import * as output from './output';

export { compile, compileMany, load, loadMany, render, roleIRs, builtinCatalogText, BUILTIN_CATALOG_NAME } from './compile';
export type { CompileOptions, CompileResult, CompileManyOptions, CompileManyResult, EnvironmentResult, LoadManyResult, InputText, OutputEntry, Loaded } from './compile';
export { expandSpec, expandSpecs, loadProject, PROJECT_FILE } from './project';
export type { Project } from './project';
export { CompileError, errorCount } from './diagnostics';
export type { WriteOptions, WriteResult } from './output';
export type { Diagnostic, Position } from './diagnostics';
export type { IR, Rule, AddressSet, Provenance } from './ir/types';
export type { TargetName } from './targets/base';
export { catalogSchema, profileSchema, expectationsSchema, projectSchema } from './load/schemas';
export { testPolicy, loadExpectations, runExpectations, policyContext, formatJunit, formatText as formatTestText } from './policy-test';
export type { PolicyTestOptions, PolicyTestReport, Expectation, ExpectationResult, Finding } from './policy-test';

const isRecord = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

export function formatDiagnostic(d: Diagnostic): string {
  if (!isRecord(d) || typeof d.file !== 'string' || typeof d.message !== 'string' || (d.level !== 'error' && d.level !== 'warning'))
    throw new TypeError(`formatDiagnostic(): d must be a diagnostic {level: 'error' | 'warning', file: string, message: string, ...}, got ${describeArgument(d)}`);
  return formatDiagnosticUnchecked(d);
}

/** A relative '<environment>/<target>/<file>' path, as compile() makes. */
const ENTRY_PATH = /^(?![./])(?!.*\/\.{1,2}(\/|$))(?!.*\/\/)[^\\\0]+\/[^\\\0]+\/[^\\\0]+$/;

function checkOutputArgs(fn: string, outDir: unknown, entries: unknown): void {
  if (typeof outDir !== 'string' || outDir === '' || outDir.includes('\0'))
    throw new TypeError(`${fn}(): outDir must be a directory path (a non-empty string), got ${describeArgument(outDir)}`);
  if (!Array.isArray(entries)) throw new TypeError(`${fn}(): entries must be an array of {path, target, content} (compile()'s files), got ${describeArgument(entries)}`);
  entries.forEach((e: unknown, i) => {
    if (!isRecord(e) || typeof e.path !== 'string' || typeof e.target !== 'string' || typeof e.content !== 'string')
      throw new TypeError(`${fn}(): entries[${i}] must be {path: string, target: string, content: string}, got ${describeArgument(e)}`);
    if (!ENTRY_PATH.test(e.path) || e.path.split('/').some((seg) => seg === '.' || seg === '..'))
      throw new TypeError(`${fn}(): entries[${i}].path must be '<environment>/<target>/<file>' ('/'-separated, relative, no '.' or '..' parts), got ${describeArgument(e.path)}`);
  });
}

export function writeOutputs(outDir: string, entries: OutputEntry[], options: output.WriteOptions = {}): output.WriteResult {
  checkOutputArgs('writeOutputs', outDir, entries);
  if (!isRecord(options) || (options.onWait !== undefined && typeof options.onWait !== 'function'))
    throw new TypeError(`writeOutputs(): options must be {onWait?: (message: string) => void}, got ${describeArgument(options)}`);
  return output.writeOutputs(outDir, entries, options);
}

export function checkOutputs(outDir: string, entries: OutputEntry[]): string {
  checkOutputArgs('checkOutputs', outDir, entries);
  return output.checkOutputs(outDir, entries);
}
