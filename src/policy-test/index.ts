// `portcullis test`: policy tests. A file of expectations (./expectations)
// is checked over whole address ranges by the flow model (./evaluate), each
// failure explained by explain (./run), reported as text or JUnit (./format).

import { Loaded, OutputEntry, render } from '../compile';
import { CompileError, SourceText } from '../diagnostics';
import type { TargetName } from '../targets/base';
import { loadExpectations } from './expectations';
import { formatJunit, formatText } from './format';
import { ExpectationResult, policyContext, runExpectations } from './run';

export { loadExpectations, groupRanges } from './expectations';
export type { Expectation, Endpoint } from './expectations';
export { runExpectations, policyContext } from './run';
export type { ExpectationResult, Finding } from './run';
export { formatJunit, formatText, xmlAttr, xmlText } from './format';
export { parsePortSpec } from './ports';

export interface PolicyTestOptions {
  /** The expectations file. */
  expectations: { path: string; text: string };
  /** Name the deciding lines of this target's output in failures. */
  target?: TargetName;
}

export interface PolicyTestReport {
  results: ExpectationResult[];
  passed: number;
  failed: number;
}

/** Loads the expectations against a loaded policy and runs them. Throws
 * CompileError on a bad expectations file (or a target that cannot
 * render the policy). */
export function testPolicy(loaded: Loaded, options: PolicyTestOptions): PolicyTestReport {
  const expectations = loadExpectations(new SourceText(options.expectations.path, options.expectations.text), loaded);
  let targetFiles: OutputEntry[] | undefined;
  if (options.target) {
    const r = render(loaded, [options.target]);
    if (!r.ok) throw new CompileError(r.diagnostics);
    targetFiles = r.files;
  }
  const results = runExpectations(policyContext(loaded), expectations, { targetFiles });
  const failed = results.filter((r) => !r.ok).length;
  return { results, passed: results.length - failed, failed };
}

export interface TestCommandArgs {
  profile: string;
  catalog?: string;
  target?: string;
  expectations: string;
  format: 'text' | 'junit';
}

/** The CLI command: exit 0 every expectation holds, 1 one fails, 2 bad
 * input (diagnostics on stderr, nothing on stdout). */
export function testCommand(args: TestCommandArgs): number {
  // eslint-disable-next-line @typescript-eslint/no-var-requires
  const { readCatalogSpec, readSpec, readFile, InputError } = require('../sources') as typeof import('../sources');
  const { load, isTargetName } = require('../compile') as typeof import('../compile');
  const { availableTargets } = require('../targets') as typeof import('../targets');
  const { errorCount, formatDiagnostics } = require('../diagnostics') as typeof import('../diagnostics');
  let target: TargetName | undefined;
  if (args.target !== undefined) {
    const t = args.target.trim();
    if (!isTargetName(t) || !availableTargets().includes(t)) throw new InputError(`error: unknown target '${t}' (known: ${availableTargets().join(', ')})`);
    target = t;
  }
  const profile = readSpec(args.profile);
  const catalog = args.catalog ? readCatalogSpec(args.catalog, true) : undefined;
  const expectations = readFile(args.expectations);
  try {
    const loaded = load({ profile, catalog });
    const report = testPolicy(loaded, { expectations, target });
    process.stdout.write(args.format === 'junit' ? formatJunit(report.results, expectations.path, loaded.ir.environment) : formatText(report.results, expectations.path));
    return report.failed ? 1 : 0;
  } catch (e) {
    if (!(e instanceof CompileError)) throw e;
    process.stderr.write(formatDiagnostics(e.diagnostics) + '\n');
    const n = errorCount(e.diagnostics);
    process.stderr.write(`${n} error${n === 1 ? '' : 's'}; no test run.\n`);
    return 2;
  }
}
