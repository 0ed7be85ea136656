// The command line: parses arguments, reads files, calls the library, prints
// diagnostics, and maps outcomes to exit codes (0 ok, 1 finding, 2 bad input).

import * as fs from 'fs';
import type { TargetName } from './targets/base';
import { availableTargets } from './targets';
import { compileMany, CompileManyResult, InputText, isTargetName, load, loadMany, render } from './compile';
import { compileManyOnThreads, threadsFor } from './compile-workers';
import { CompileError, Diagnostic, errorCount, formatDiagnostic, formatDiagnostics } from './diagnostics';
import { catalogSchema, profileSchema } from './load/schemas';
import { checkOutputs, OutputError, writeOutputs } from './output';
import { changedProfiles, expandSpecs, loadProject, Project, PROJECT_FILE } from './project';
import { InputError, readCatalogSpec, readFile, readSpec } from './sources';
import { terminalJson, visible, visibleLine } from './terminal';

/** Bad usage or input: message to stderr, exit 2. */
class UsageError extends Error {}

function parseTargets(spec: string): TargetName[] {
  if (spec === 'all') return availableTargets();
  const out: TargetName[] = [];
  for (const t of spec.split(',').map((s) => s.trim()).filter(Boolean)) {
    if (!isTargetName(t)) throw new UsageError(`error: unknown target '${t}' (known: ${availableTargets().join(', ')}, all)`);
    if (!availableTargets().includes(t)) throw new UsageError(`error: target '${t}' is not implemented yet (available: ${availableTargets().join(', ')})`);
    if (!out.includes(t)) out.push(t);
  }
  if (!out.length) throw new UsageError('error: --target names no target');
  return out;
}

/** Runs a command body; bad input (a CompileError) is printed, exit 2. */
function reportingBadInput(body: () => number): number {
  try {
    return body();
  } catch (e) {
    if (e instanceof CompileError) {
      printDiagnostics(e.diagnostics);
      return 2;
    }
    throw e;
  }
}

function printDiagnostics(ds: Diagnostic[]): void {
  process.stderr.write(formatDiagnostics(ds) + '\n');
  const n = errorCount(ds);
  process.stderr.write(`${n} error${n === 1 ? '' : 's'}; nothing written.\n`);
}

/** What a compile, validate or lint run works on: its profiles (from
 * `--profile` files, directories and patterns, or the project file), catalog,
 * targets and output directory. */
interface Inputs {
  /** Each profile read, or why it could not be. */
  profiles: InputText[];
  readErrors: string[];
  catalog?: InputText;
  catalogSpec?: string;
  target: string;
  outDir: string;
  project?: Project;
}

interface ManyArgs {
  profile?: string[];
  catalog?: string;
  changed?: string[];
  /** The command, then what follows `--`. */
  _?: (string | number)[];
}

/** Profiles named on the command line or by ./portcullis.yaml, read. Bad
 * input is gathered (every profile is tried) rather than thrown, except a
 * bad project file or catalog, which stops here (CompileError, InputError). */
function gatherInputs(args: ManyArgs & { target?: string; 'out-dir'?: string }): Inputs {
  let project: Project | undefined;
  const readErrors: string[] = [];
  let files: string[];
  if (args.profile !== undefined) {
    if (!args.profile.length) throw new UsageError('error: --profile needs a file, a directory or a pattern');
    const x = expandSpecs(args.profile.map(String));
    files = x.files;
    readErrors.push(...x.errors);
  } else if (fs.existsSync(PROJECT_FILE)) {
    project = loadProject(PROJECT_FILE);
    files = project.profiles;
  } else {
    throw new UsageError(
      `error: no profile given, and no ${PROJECT_FILE} in this directory\n` +
        `  hint: give --profile FILE (repeat it, or give a directory or a quoted pattern such as 'envs/*.yaml'), or write a ${PROJECT_FILE} (see docs/cli.md)`,
    );
  }
  const profiles: InputText[] = [];
  for (const f of files) {
    try {
      profiles.push(readFile(f));
    } catch (e) {
      if (e instanceof InputError) readErrors.push(e.message);
      else throw e;
    }
  }
  const catalogSpec = args.catalog ?? project?.catalog;
  const catalog = catalogSpec ? readCatalogSpec(catalogSpec, false) : undefined;
  return { profiles, readErrors, catalog, catalogSpec, target: args.target ?? project?.targets ?? 'all', outDir: args['out-dir'] ?? project?.outDir ?? 'out', project };
}

/** Read errors and diagnostics of every profile, one summary line; exit 2. */
function printBadInput(readErrors: string[], ds: Diagnostic[]): number {
  for (const m of readErrors) process.stderr.write(visible(m) + '\n');
  if (ds.length) process.stderr.write(formatDiagnostics(ds) + '\n');
  // One unreadable file is its one line, as for any input; with more
  // (several profiles), the summary counts them all.
  const n = errorCount(ds) + readErrors.length;
  if (ds.length || readErrors.length > 1) process.stderr.write(`${n} error${n === 1 ? '' : 's'}; nothing written.\n`);
  return 2;
}

/** The loaded profiles `--changed` selects (all without it). */
function selectChanged<T extends { file: string; environment: string }>(items: T[], args: ManyArgs, inputs: Inputs): T[] {
  if (args.changed === undefined) return items;
  // `--changed -- -odd-name.yaml`: the files after `--` are changed files
  // too (a file name may start with '-'); dropping them would check nothing.
  const afterDashes = (args._ ?? []).slice(1).map(String);
  const chosen = new Set(
    changedProfiles({
      profiles: items,
      changed: [...args.changed.map(String), ...afterDashes],
      catalog: inputs.catalog && inputs.catalogSpec && fs.existsSync(inputs.catalogSpec) ? inputs.catalogSpec : undefined,
      projectFile: inputs.project?.file,
      outDir: inputs.outDir,
    }),
  );
  return items.filter((i) => chosen.has(i.file));
}

interface CompileArgs extends ManyArgs {
  target?: string;
  'out-dir'?: string;
  stdout?: boolean;
  check?: boolean;
}

function runCompile(args: CompileArgs): number {
  return reportingBadInput(() => {
    const inputs = gatherInputs(args);
    const targets = parseTargets(inputs.target);
    if (args.stdout && inputs.profiles.length + inputs.readErrors.length > 1)
      throw new UsageError(
        `error: --stdout prints one environment, and ${inputs.profiles.length + inputs.readErrors.length} profiles are given\n` +
          '  hint: give one profile with --stdout, or write them all with --out-dir DIR (each to DIR/<environment>/)',
      );
    if (!inputs.profiles.length && !inputs.readErrors.length) throw new UsageError('error: no profile to compile');
    if (!inputs.profiles.length) return printBadInput(inputs.readErrors, []);
    const options = { profiles: inputs.profiles, catalog: inputs.catalog, targets };
    // Several profiles take the threaded path, on one thread too: it keeps
    // no loaded policy per environment (compileMany keeps them for library
    // users, and with 50 the collector spends 4% of the run tracing them),
    // and with --check it compares each environment once compiled, keeping
    // only its drift.
    if (inputs.profiles.length === 1) return finishCompile(compileMany(options), args, inputs);
    // main() returns now, the exit code is set at the end.
    asyncExit(
      compileManyOnThreads(options, threadsFor(inputs.profiles.length), args.check ? inputs.outDir : undefined).then(({ result, drift }) => reportingBadInput(() => finishCompile(result, args, inputs, drift))),
      UsageError,
    );
    return 0;
  });
}

/** What compile does with the compiled environments: print, check or write. */
function finishCompile(result: CompileManyResult, args: CompileArgs, inputs: Inputs, drifts?: Map<string, string>): number {
  if (!result.ok || inputs.readErrors.length) return printBadInput(inputs.readErrors, result.ok ? [] : result.diagnostics);
  const envs = selectChanged(
    result.environments.map((e) => ({ ...e, file: e.profile })),
    args,
    inputs,
  );
  const outDir = inputs.outDir;
  if (args.stdout) {
    const files = envs.flatMap((e) => e.files);
    const many = files.length > 1;
    for (const f of files) process.stdout.write((many ? `==> ${f.path} <==\n` : '') + f.content);
    return 0;
  }
  if (args.check) {
    const drifted: string[] = [];
    for (const env of envs) {
      const drift = drifts?.get(env.environment) ?? checkOutputs(outDir, env.files);
      if (!drift) continue;
      process.stdout.write(drift);
      drifted.push(env.environment);
    }
    if (!drifted.length) return 0;
    if (result.environments.length === 1) process.stderr.write(`drift: ${visibleLine(outDir)} differs from what portcullis would write\n`);
    else for (const env of drifted) process.stderr.write(`drift: ${visibleLine(outDir)}/${visibleLine(env)} differs from what portcullis would write\n`);
    if (envs.length > 1) process.stderr.write(`${drifted.length} of ${envs.length} environments drifted\n`);
    return 1;
  }
  const files = envs.flatMap((e) => e.files);
  if (!files.length) return 0;
  const { unchanged } = writeOutputs(outDir, files, { onWait: (m) => process.stderr.write(m + '\n') });
  const kept = new Set(unchanged);
  const dir = visibleLine(outDir);
  // One write: a line each would be a system call each (700 for 50 profiles).
  let listed = '';
  for (const f of files) listed += `${kept.has(f.path.slice(0, f.path.indexOf('/'))) ? 'unchanged' : 'wrote'} ${dir}/${f.path}\n`;
  process.stderr.write(listed);
  return 0;
}

function runValidate(args: ManyArgs): number {
  return reportingBadInput(() => {
    const inputs = gatherInputs(args);
    if (!inputs.profiles.length) return inputs.readErrors.length ? printBadInput(inputs.readErrors, []) : 0;
    const r = loadMany({ profiles: inputs.profiles, catalog: inputs.catalog });
    if (!r.ok || inputs.readErrors.length) return printBadInput(inputs.readErrors, r.ok ? [] : r.diagnostics);
    const chosen = selectChanged(
      r.loaded.map((l) => ({ l, file: l.profile.doc.source.path, environment: l.ir.environment })),
      args,
      inputs,
    );
    for (const { l: { ir }, file } of chosen)
      process.stdout.write(`${visibleLine(file)}: ok: environment '${ir.environment}', ${ir.rules.length} rules, ${ir.sets.length} address sets\n`);
    return 0;
  });
}

interface ExplainArgs {
  profile: string;
  catalog?: string;
  from: string;
  to: string;
  port: string;
  target?: string;
  json?: boolean;
}

function runExplain(args: ExplainArgs): number {
  // Loaded lazily: only this command needs the flow analysis.
  const { explainFlow, formatExplanation, targetLines } = require('./analysis/explain') as typeof import('./analysis/explain');
  const profile = readSpec(args.profile);
  const catalog = args.catalog ? readCatalogSpec(args.catalog, true) : undefined;
  return reportingBadInput(() => {
    const loaded = load({ profile, catalog });
    const e = explainFlow(loaded, { from: args.from, to: args.to, port: args.port });
    if (args.target) {
      const [target] = parseTargets(args.target);
      const result = render(loaded, [target]);
      if (result.ok) e.target_lines = targetLines(e, result.files);
    }
    process.stdout.write(args.json ? terminalJson(e) : formatExplanation(e));
    return e.verdict === 'allow' ? 0 : 1;
  });
}

interface DiffArgs {
  old: string;
  new: string;
  catalog?: string;
  'old-catalog'?: string;
  'new-catalog'?: string;
  format: 'text' | 'markdown' | 'json';
}

function runDiff(args: DiffArgs): number {
  const { diffPolicies, formatDiffMarkdown, formatDiffText, isEmptyDiff } = require('./analysis/diff') as typeof import('./analysis/diff');
  const sides = (['old', 'new'] as const).map((which) => {
    const catalogSpec = args[`${which}-catalog`] ?? args.catalog;
    const profile = readSpec(args[which]);
    const catalog = catalogSpec ? readCatalogSpec(catalogSpec, true) : undefined;
    try {
      return load({ profile, catalog });
    } catch (e) {
      if (e instanceof CompileError) {
        process.stderr.write(`error in the ${which} side (${visibleLine(args[which])}):\n`);
        printDiagnostics(e.diagnostics);
        return undefined;
      }
      throw e;
    }
  });
  if (!sides[0] || !sides[1]) return 2;
  const d = diffPolicies(sides[0], sides[1]);
  const text = args.format === 'json' ? terminalJson(d) : args.format === 'markdown' ? formatDiffMarkdown(d) : formatDiffText(d);
  process.stdout.write(text);
  return isEmptyDiff(d) ? 0 : 1;
}

interface LintArgs extends ManyArgs {
  format: 'text' | 'sarif';
  'catalog-findings'?: boolean;
}

function runLint(args: LintArgs): number {
  const { lint, formatSarif, formatText } = require('./lint') as typeof import('./lint');
  return reportingBadInput(() => {
    const inputs = gatherInputs(args);
    if (!inputs.profiles.length && !inputs.readErrors.length) throw new UsageError('error: no profile to lint');
    if (!inputs.profiles.length) return printBadInput(inputs.readErrors, []);
    const r = loadMany({ profiles: inputs.profiles, catalog: inputs.catalog });
    if (!r.ok || inputs.readErrors.length) return printBadInput(inputs.readErrors, r.ok ? [] : r.diagnostics);
    const chosen = selectChanged(
      r.loaded.map((l) => ({ l, file: l.profile.doc.source.path, environment: l.ir.environment })),
      args,
      inputs,
    );
    // One report over every profile: a catalog finding that each profile's
    // run makes again is kept once.
    const report: ReturnType<typeof lint> = { findings: [], files: [] };
    const seen = new Set<string>();
    for (const { l } of chosen) {
      const one = lint(l, { catalogFindings: args['catalog-findings'] ?? !!inputs.catalogSpec });
      for (const f of one.findings) {
        const key = `${f.ruleId}\0${f.location.file}\0${f.location.pos.line}:${f.location.pos.col}\0${f.key}\0${f.message}`;
        if (seen.has(key)) continue;
        seen.add(key);
        report.findings.push(f);
      }
      for (const file of one.files) if (!report.files.includes(file)) report.files.push(file);
    }
    process.stdout.write(args.format === 'sarif' ? formatSarif(report) : formatText(report));
    return report.findings.some((f) => f.level === 'error' && !f.suppressed) ? 1 : 0;
  });
}

interface CatalogImportArgs {
  doc: string;
  base?: string;
  map?: string;
  output?: string;
}

function runCatalogImport(args: CatalogImportArgs): number {
  const { formatImportDiagnostics, formatImportErrors, importCatalog, importSummary } = require('./catalog-import') as typeof import('./catalog-import');
  const { writeFileAtomic } = require('./atomic-file') as typeof import('./atomic-file');
  let result: ReturnType<typeof importCatalog>;
  try {
    const doc = readFile(args.doc);
    const base = args.base ? readSpec(args.base) : undefined;
    const map = args.map ? readFile(args.map) : undefined;
    result = importCatalog({ doc, base, map });
  } catch (e) {
    if (e instanceof InputError) {
      process.stderr.write(visibleLine(e.message) + '\n');
      return 2;
    }
    if (e instanceof CompileError) {
      process.stderr.write(formatImportErrors(e.diagnostics));
      return 2;
    }
    throw e;
  }
  // Messages quote input text (cells, paths) for the terminal.
  const lines = [...formatImportDiagnostics(result.diagnostics), ...result.changes.map((c) => visibleLine(c.text)), visible(importSummary(result, args.doc, !!args.base))];
  if (args.output) {
    try {
      writeFileAtomic(args.output, result.yaml, 'the catalog');
    } catch (e) {
      process.stderr.write(lines.join('\n') + '\n' + visible((e as Error).message) + '\n');
      return 2;
    }
    lines.push(`wrote ${visibleLine(args.output)}`);
  } else process.stdout.write(result.yaml);
  process.stderr.write(lines.join('\n') + '\n');
  return result.undecided ? 2 : 0;
}

/** The common case, `compile` with plain `--flag value` options, parsed
 * without loading yargs (start-up time is paid once per pipeline step).
 * Anything else, including every mistake, goes to yargs, which owns the
 * CLI's usage and help. */
function fastCompileArgs(argv: string[]): CompileArgs | undefined {
  if (argv[0] !== 'compile') return undefined;
  const valued = ['profile', 'catalog', 'target', 'out-dir'];
  const flags = ['stdout', 'check'];
  const seen: Record<string, string | boolean> = {};
  const profiles: string[] = [];
  for (let i = 1; i < argv.length; i++) {
    const m = /^--([a-z-]+)(?:=(.*))?$/.exec(argv[i]);
    // --profile may be repeated; any other option given twice goes to yargs.
    if (!m || (m[1] in seen && m[1] !== 'profile')) return undefined;
    const [, name, inline] = m;
    if (flags.includes(name) && inline === undefined) seen[name] = true;
    else if (valued.includes(name)) {
      const value = inline ?? argv[++i];
      if (!value || value.startsWith('-')) return undefined;
      seen[name] = value;
      if (name === 'profile') profiles.push(value);
    } else return undefined;
  }
  if (seen.stdout && seen.check) return undefined;
  return {
    profile: profiles.length ? profiles : undefined,
    catalog: seen.catalog as string | undefined,
    target: seen.target as string | undefined,
    'out-dir': seen['out-dir'] as string | undefined,
    stdout: seen.stdout === true,
    check: seen.check === true,
  };
}

/** Asynchronous commands (apply, audit): main() returns at once and the
 * exit code is set when the command ends; bad usage and input exit 2 with
 * the message, never a stack trace. */
function asyncExit(p: Promise<number>, usageError: new (...a: never[]) => Error): void {
  p.then(
    (code) => {
      process.exitCode = code;
    },
    (e) => {
      if (e instanceof usageError || e instanceof InputError || e instanceof OutputError) process.stderr.write(visible((e as Error).message) + '\n');
      else process.stderr.write(`internal error: ${(e as Error).stack ?? e}\n`);
      process.exitCode = 2;
    },
  );
}

export function main(argv: string[]): number {
  let code = 0;
  try {
    const fast = fastCompileArgs(argv);
    if (fast) return runCompile(fast);
    // eslint-disable-next-line @typescript-eslint/no-var-requires
    // The factory, not the singleton (which parses process.argv on load).
    const yargs = require('yargs/yargs') as typeof import('yargs');
    yargs(argv)
      .scriptName('portcullis')
      .usage('$0 <command> [options]')
      .command(
        'compile',
        'compile profiles (and a catalog) into firewall configuration, one folder per environment',
        (y) =>
          y
            .option('profile', {
              type: 'string',
              array: true,
              describe: `site profile (YAML or JSON); repeat it, or give a directory (its *.yaml, *.yml, *.json) or a quoted pattern ('envs/*.yaml'); default: the profiles of ./${PROJECT_FILE}`,
            })
            .option('changed', {
              type: 'string',
              array: true,
              describe: 'only the profiles these changed files concern (a profile, a file under its output folder; all when the catalog or the project file changed): for pre-commit and pull requests',
            })
            .option('catalog', { type: 'string', describe: 'port catalog (default: the built-in one)' })
            .option('target', { type: 'string', describe: `comma-separated targets, or all (${availableTargets().join(', ')}); default all` })
            .option('out-dir', { type: 'string', describe: 'writes DIR/<environment>/<target>/...; default out' })
            .option('stdout', { type: 'boolean', describe: 'print instead of writing' })
            .option('check', { type: 'boolean', describe: 'compare with --out-dir, print a unified diff of drift, exit 1 on drift; writes nothing' })
            .conflicts('stdout', 'check'),
        (a) => {
          code = runCompile(a as unknown as CompileArgs);
        },
      )
      .command(
        'validate',
        'check profiles (and a catalog) without writing anything',
        (y) =>
          y
            .option('profile', {
              type: 'string',
              array: true,
              describe: `site profile (YAML or JSON); repeat it, or give a directory (its *.yaml, *.yml, *.json) or a quoted pattern ('envs/*.yaml'); default: the profiles of ./${PROJECT_FILE}`,
            })
            .option('changed', {
              type: 'string',
              array: true,
              describe: 'only the profiles these changed files concern (a profile, a file under its output folder; all when the catalog or the project file changed): for pre-commit and pull requests',
            })
            .option('catalog', { type: 'string' }),
        (a) => {
          code = runValidate(a as unknown as ManyArgs);
        },
      )
      .command(
        'explain',
        'say whether the policy allows one flow, and why',
        (y) =>
          y
            .option('profile', { type: 'string', demandOption: true })
            .option('catalog', { type: 'string' })
            .option('from', { type: 'string', demandOption: true, describe: 'source address' })
            .option('to', { type: 'string', demandOption: true, describe: 'destination address' })
            .option('port', { type: 'string', demandOption: true, describe: 'N/tcp, N/udp, N/sctp, TYPE/icmp, TYPE/icmpv6 (name or number), or a portless protocol: esp, ah, gre, ipip, vrrp or its number' })
            .option('target', { type: 'string', describe: "also name the lines of this target's output that decide the flow" })
            .option('json', { type: 'boolean', describe: 'print JSON' }),
        (a) => {
          code = runExplain(a as unknown as ExplainArgs);
        },
      )
      .command(
        'diff <old> <new>',
        'compare the flows two policy versions allow (files or git REV:PATH)',
        (y) =>
          y
            .positional('old', { type: 'string', demandOption: true })
            .positional('new', { type: 'string', demandOption: true })
            .option('catalog', { type: 'string', describe: 'catalog for both sides' })
            .option('old-catalog', { type: 'string' })
            .option('new-catalog', { type: 'string' })
            .option('format', { choices: ['text', 'markdown', 'json'] as const, default: 'text' as const }),
        (a) => {
          code = runDiff(a as unknown as DiffArgs);
        },
      )
      .command(
        'verify',
        'prove the compiled rules with real packets in network namespaces (Linux, root)',
        (y) =>
          y
            .option('profile', { type: 'string', demandOption: true, describe: 'site profile (YAML or JSON)' })
            .option('catalog', { type: 'string', describe: 'port catalog: a file, or a built-in catalog by name (thoughtspot, rke2; default: the built-in one)' })
            .option('role', { type: 'string', describe: 'verify this role only, for a catalog with several (default: every role, each on a node of its own)' })
            .option('target', { type: 'string', default: 'all', describe: 'nftables, iptables, firewalld (comma-separated), or all' })
            .option('from-dir', {
              type: 'string',
              describe:
                'verify the files under DIR/<environment>/<target>/ (DIR/<environment>/<target>/<role>/ with several roles; as compile --out-dir DIR wrote them, or edited) instead of compiling',
            }),
        (a) => {
          // Loaded lazily: only this command needs namespaces. Asynchronous:
          // main() returns 0 now and verify sets process.exitCode when done.
          (require('./verify') as typeof import('./verify')).verifyCommand(a as unknown as import('./verify').VerifyArgs);
        },
      )
      .command(
        'apply',
        'put a target live on this host with automatic rollback unless confirmed (root)',
        (y) =>
          y
            .option('profile', { type: 'string', describe: 'site profile (YAML or JSON)' })
            .option('catalog', { type: 'string', describe: 'port catalog (default: the built-in one)' })
            .option('target', { type: 'string', describe: 'nftables, iptables or firewalld' })
            .option('role', { type: 'string', describe: "this host's role, for a catalog with several (servers, agents, ...)" })
            .option('from-dir', { type: 'string', describe: 'apply DIR/<environment>/<target>/[<role>/] (as compile --out-dir DIR wrote it) instead of compiling' })
            .option('confirm-timeout', { type: 'number', describe: 'seconds to wait for confirmation before rolling back (default 60)' })
            // yargs reads --no-confirm as confirm: false (boolean negation).
            .option('confirm', { type: 'boolean', describe: '--confirm: confirm the apply waiting in this network namespace; --no-confirm: apply without waiting (pipelines that check reachability themselves)' })
            .option('force', { type: 'boolean', describe: 'apply even when the rules would drop this SSH connection\'s client' })
            .option('json', { type: 'boolean', describe: 'print the outcome as one JSON object' })
            .check((a) => {
              if (a.confirm === false && a['confirm-timeout'] !== undefined) throw new UsageError('error: --confirm-timeout and --no-confirm exclude each other');
              if (a.confirm) {
                const extra = ['profile', 'catalog', 'target', 'role', 'from-dir', 'confirm-timeout', 'force'].filter((k) => a[k] !== undefined);
                if (extra.length) throw new UsageError(`error: --confirm takes no other option (got --${extra.join(', --')})`);
              } else if (!a.profile || !a.target) throw new UsageError('error: apply needs --profile and --target (or --confirm)');
              return true;
            }),
        (a) => {
          const op = require('./operate/apply') as typeof import('./operate/apply');
          const args = { ...(a as unknown as import('./operate/apply').ApplyArgs), 'no-confirm': a.confirm === false, confirm: a.confirm === true };
          asyncExit(op.applyCommand(args), op.OperateError);
        },
      )
      .command(
        'audit',
        "compare this host's live rules with the compiled policy (exit 1 on drift)",
        (y) =>
          y
            .option('profile', { type: 'string', demandOption: true, describe: 'site profile (YAML or JSON)' })
            .option('catalog', { type: 'string', describe: 'port catalog (default: the built-in one)' })
            .option('target', { type: 'string', demandOption: true, describe: 'nftables, iptables or firewalld' })
            .option('role', { type: 'string', describe: "this host's role, for a catalog with several" })
            .option('format', { choices: ['text', 'markdown', 'json'] as const, default: 'text' as const }),
        (a) => {
          const op = require('./operate/apply') as typeof import('./operate/apply');
          asyncExit(op.auditCommand(a as unknown as import('./operate/apply').AuditArgs), op.OperateError);
        },
      )
      .command(
        'lint',
        'report risky or stale profile entries (and catalog judgement calls); exit 1 on an error finding',
        (y) =>
          y
            .option('profile', {
              type: 'string',
              array: true,
              describe: `site profile (YAML or JSON); repeat it, or give a directory (its *.yaml, *.yml, *.json) or a quoted pattern ('envs/*.yaml'); default: the profiles of ./${PROJECT_FILE}`,
            })
            .option('changed', {
              type: 'string',
              array: true,
              describe: 'only the profiles these changed files concern (a profile, a file under its output folder; all when the catalog or the project file changed): for pre-commit and pull requests',
            })
            .option('catalog', { type: 'string', describe: 'port catalog (default: the built-in one); also turns on catalog findings' })
            .option('format', { choices: ['text', 'sarif'] as const, default: 'text' as const, describe: 'text, or SARIF 2.1.0 for code scanning' })
            .option('catalog-findings', { type: 'boolean', describe: 'report catalog findings (PC1xx); default: on with --catalog, off for the built-in one' }),
        (a) => {
          code = runLint(a as unknown as LintArgs);
        },
      )
      .command('catalog', 'catalog tools', (y) =>
        y
          .command(
            'import <doc>',
            'markdown port tables -> catalog YAML',
            (y2) =>
              y2
                .positional('doc', { type: 'string', demandOption: true, describe: 'the vendor document (markdown)' })
                .option('base', { type: 'string', describe: 'catalog whose decisions are kept for unchanged rows (a file or git REV:PATH)' })
                .option('map', { type: 'string', describe: 'YAML: groups (phrase -> group), ports (port cell -> param), params, host or roles, unions, headings, features' })
                .option('output', { alias: 'o', type: 'string', describe: 'write the catalog here (default: stdout)' }),
            (a) => {
              code = runCatalogImport(a as unknown as CatalogImportArgs);
            },
          )
          .demandCommand(1, 'give a catalog command (import)'),
      )
      .command(
        'test <expectations>',
        'check a file of expectations (flows allowed, denied, only these ports) against the policy; exit 1 on a failure',
        (y) =>
          y
            .positional('expectations', { type: 'string', demandOption: true, describe: 'the expectations file (YAML list)' })
            .option('profile', { type: 'string', demandOption: true, describe: 'site profile (YAML or JSON)' })
            .option('catalog', { type: 'string', describe: 'port catalog (default: the built-in one)' })
            .option('target', { type: 'string', describe: "also name the lines of this target's output that decide each failure" })
            .option('format', { choices: ['text', 'junit'] as const, default: 'text' as const, describe: 'text, or JUnit XML for CI test reports' }),
        (a) => {
          // Loaded lazily: only this command needs the policy tests.
          code = (require('./policy-test') as typeof import('./policy-test')).testCommand(a as unknown as import('./policy-test').TestCommandArgs);
        },
      )
      .command(
        'report',
        'write the review page: one self-contained HTML file of who reaches what, with --against the flows a change opens and closes',
        (y) =>
          y
            .option('profile', { type: 'string', demandOption: true, describe: 'site profile (YAML or JSON)' })
            .option('catalog', { type: 'string', describe: 'port catalog (default: the built-in one)' })
            .option('against', { type: 'string', describe: 'the old profile to compare with (a file or git REV:PATH)' })
            .option('o', { type: 'string', alias: 'output', describe: 'write the page to this file (default: stdout)' }),
        (a) => {
          // Loaded lazily: only this command needs the review page.
          code = (require('./report') as typeof import('./report')).reportCommand(a as unknown as import('./report').ReportCommandArgs);
        },
      )
      .command(
        'schema <kind>',
        'print the JSON Schema of the profile or catalog format',
        (y) => y.positional('kind', { choices: ['profile', 'catalog'] as const, demandOption: true }),
        (a) => {
          process.stdout.write(JSON.stringify(a.kind === 'profile' ? profileSchema : catalogSchema, null, 2) + '\n');
        },
      )
      .demandCommand(1, 'give a command')
      .strict()
      .help()
      .version()
      .fail((msg, err) => {
        if (err) throw err;
        throw new UsageError(`error: ${msg}\n(see portcullis --help)`);
      })
      .parseSync();
  } catch (e) {
    if (e instanceof UsageError || e instanceof OutputError || e instanceof InputError) {
      process.stderr.write(visible(e.message) + '\n');
      return 2;
    }
    throw e;
  }
  return code;
}
