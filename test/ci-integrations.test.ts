// The CI integrations, run for real: the pre-commit hooks of
// .pre-commit-hooks.yaml by the real `pre-commit` (Debian's package) in a
// sample repository that names this checkout as its hook repository, and
// the composite action of action.yml, whose `run:` steps are executed as
// GitHub's runner does (bash -eo pipefail, inputs through `env:`, outputs
// through $GITHUB_OUTPUT) in a repository with a base and a head commit.
// Nothing reaches the network: the hook repository is a local path, the
// hooks are `language: system` (a `portcullis` wrapper on PATH), and the
// comment step posts through a stand-in `gh`.

import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as yaml from 'js-yaml';
import * as path from 'path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { BIN, fixture, ROOT } from './helpers/cli';
import { rmTree, tmpDir } from './helpers/tree';

const EXAMPLE = fs.readFileSync(fixture('profiles', 'example.yaml'), 'utf8');
const profileText = (env: string, edit: (t: string) => string = (t) => t) => edit(EXAMPLE.replace(/^environment: prod-east/m, `environment: ${env}`));

interface Ran {
  code: number;
  out: string;
}

function sh(cmd: string, args: string[], cwd: string, env: NodeJS.ProcessEnv = {}): Ran {
  const r = spawnSync(cmd, args, { cwd, env: { ...process.env, ...env }, encoding: 'utf8', timeout: 300_000 });
  if (r.error) throw r.error;
  return { code: r.status ?? -1, out: `${r.stdout}${r.stderr}` };
}

/** Git with a fixed identity and no user or system configuration. */
function gitEnv(home: string): NodeJS.ProcessEnv {
  return {
    HOME: home,
    GIT_CONFIG_NOSYSTEM: '1',
    GIT_CONFIG_GLOBAL: '/dev/null',
    GIT_AUTHOR_NAME: 'test',
    GIT_AUTHOR_EMAIL: 'test@example.invalid',
    GIT_COMMITTER_NAME: 'test',
    GIT_COMMITTER_EMAIL: 'test@example.invalid',
  };
}

function git(repo: string, env: NodeJS.ProcessEnv, ...args: string[]): string {
  const r = sh('git', args, repo, env);
  assert.is(r.code, 0, `git ${args.join(' ')}: ${r.out}`);
  return r.out.trim();
}

/** A repository with portcullis.yaml (envs/, nftables, firewall/), two
 * profiles and their committed tree, in one commit. */
function sampleRepo(work: string, env: NodeJS.ProcessEnv): string {
  const repo = path.join(work, 'repo');
  fs.mkdirSync(path.join(repo, 'envs'), { recursive: true });
  git(repo, env, 'init', '-q', '-b', 'main');
  fs.writeFileSync(path.join(repo, 'portcullis.yaml'), 'profiles: [envs]\ntargets: [nftables]\nout_dir: firewall\n');
  fs.writeFileSync(path.join(repo, 'envs', 'dev.yaml'), profileText('dev'));
  fs.writeFileSync(path.join(repo, 'envs', 'prod.yaml'), profileText('prod'));
  fs.writeFileSync(path.join(repo, 'README.md'), '# infra\n');
  compileIn(repo);
  git(repo, env, 'add', '-A');
  git(repo, env, 'commit', '-qm', 'base');
  return repo;
}

function compileIn(repo: string): void {
  const r = sh(process.execPath, [BIN, 'compile'], repo);
  assert.is(r.code, 0, r.out);
}

// ------------------------------------------------------------ pre-commit

test('pre-commit runs portcullis-check and portcullis-lint from this checkout: pass, drift, lint error, a refused commit', () => {
  const which = sh('sh', ['-c', 'command -v pre-commit'], ROOT);
  assert.is(which.code, 0, 'pre-commit is not installed (Debian package pre-commit; test/run.sh installs it)');
  const work = tmpDir('pct-precommit-');
  try {
    const env = gitEnv(work);
    // The hooks are language: system: `portcullis` on PATH, here this checkout's CLI.
    const bin = path.join(work, 'bin');
    fs.mkdirSync(bin);
    fs.writeFileSync(path.join(bin, 'portcullis'), `#!/bin/sh\nexec '${process.execPath}' '${BIN}' "$@"\n`, { mode: 0o755 });
    const pcEnv = { ...env, PATH: `${bin}:${process.env.PATH}`, PRE_COMMIT_HOME: path.join(work, 'pre-commit-home'), PRE_COMMIT_COLOR: 'never' };
    // This checkout is the hook repository, at its current commit: its
    // committed .pre-commit-hooks.yaml must be the one on disk.
    const rev = sh('git', ['rev-parse', 'HEAD'], ROOT).out.trim();
    assert.match(rev, /^[0-9a-f]{40}$/, 'this checkout is not a git repository');
    const committed = sh('git', ['show', `${rev}:.pre-commit-hooks.yaml`], ROOT);
    assert.is(committed.out, fs.readFileSync(path.join(ROOT, '.pre-commit-hooks.yaml'), 'utf8'), '.pre-commit-hooks.yaml has uncommitted changes: commit them first');

    const repo = sampleRepo(work, env);
    fs.writeFileSync(path.join(repo, '.pre-commit-config.yaml'), `repos:\n  - repo: ${JSON.stringify(ROOT)}\n    rev: ${rev}\n    hooks:\n      - id: portcullis-check\n      - id: portcullis-lint\n`);
    git(repo, env, 'add', '.pre-commit-config.yaml');
    git(repo, env, 'commit', '-qm', 'hooks');
    const run = (...args: string[]) => sh('pre-commit', ['run', ...args], repo, pcEnv);

    const clean = run('--all-files');
    assert.is(clean.code, 0, clean.out);
    assert.match(clean.out, /portcullis compile --check\.+Passed/);
    assert.match(clean.out, /portcullis lint\.+Passed/);

    // A profile changes, the tree does not: the check fails with the diff.
    fs.writeFileSync(path.join(repo, 'envs', 'dev.yaml'), profileText('dev', (t) => t.replace('support: false ', 'support: true ')));
    git(repo, env, 'add', 'envs/dev.yaml');
    const drift = run();
    assert.is(drift.code, 1, drift.out);
    assert.match(drift.out, /portcullis compile --check\.+Failed/);
    assert.match(drift.out, /^\+\+\+ b\/dev\/nftables\/portcullis\.nft/m);
    assert.match(drift.out, /drift: firewall\/dev differs/);
    assert.not.match(drift.out, /firewall\/prod differs/);
    assert.match(drift.out, /portcullis lint\.+Passed/);
    // A staged file named like an option is a file name: the check still runs and fails.
    fs.writeFileSync(path.join(repo, '--help'), 'x\n');
    fs.writeFileSync(path.join(repo, '--out-dir=envs'), 'x\n');
    git(repo, env, 'add', '--', '--help', '--out-dir=envs');
    const optionNames = run();
    assert.is(optionNames.code, 1, optionNames.out);
    assert.match(optionNames.out, /drift: firewall\/dev differs/);
    assert.not.match(optionNames.out, /Options:|--version/, 'a file name was read as --help');
    git(repo, env, 'rm', '-q', '--cached', '--', '--help', '--out-dir=envs');
    fs.rmSync(path.join(repo, '--help'));
    fs.rmSync(path.join(repo, '--out-dir=envs'));

    // Only the other profile staged: dev's drift is not this commit's concern.
    git(repo, env, 'reset', '-q');
    fs.appendFileSync(path.join(repo, 'envs', 'prod.yaml'), '# reviewed\n');
    git(repo, env, 'add', 'envs/prod.yaml');
    const other = run();
    assert.is(other.code, 0, other.out);

    // Compiled and staged with the tree: passes.
    compileIn(repo);
    git(repo, env, 'add', '-A');
    const fixed = run();
    assert.is(fixed.code, 0, fixed.out);
    git(repo, env, 'commit', '-qm', 'support on in dev', '--no-verify');

    // A lint error (admins open to the world) fails the lint hook.
    fs.writeFileSync(path.join(repo, 'envs', 'prod.yaml'), profileText('prod', (t) => t.replace('admins:      [198.51.100.0/24,', 'admins:      [0.0.0.0/0,')));
    compileIn(repo);
    git(repo, env, 'add', '-A');
    const lint = run();
    assert.is(lint.code, 1, lint.out);
    assert.match(lint.out, /portcullis lint\.+Failed/);
    assert.match(lint.out, /envs\/prod\.yaml:\d+:\d+: error: .*\[PC001\]/);
    assert.match(lint.out, /portcullis compile --check\.+Passed/);

    // Installed as the git hook, it refuses the commit.
    const inst = sh('pre-commit', ['install'], repo, pcEnv);
    assert.is(inst.code, 0, inst.out);
    const commit = sh('git', ['commit', '-qm', 'open admins'], repo, pcEnv);
    assert.is.not(commit.code, 0, commit.out);
    assert.match(commit.out, /portcullis lint\.+Failed/);
  } finally {
    rmTree(work);
  }
});

// ------------------------------------------------------------ the action

interface ActionStep {
  id: string;
  name?: string;
  shell?: string;
  run?: string;
  uses?: string;
  env?: Record<string, string>;
  'working-directory'?: string;
  if?: string;
}
interface Action {
  inputs: Record<string, { default?: string }>;
  outputs: Record<string, { value: string }>;
  runs: { using: string; steps: ActionStep[] };
}

const ACTION = yaml.load(fs.readFileSync(path.join(ROOT, 'action.yml'), 'utf8')) as Action;

interface Github {
  token: string;
  repository: string;
  event: { pull_request?: { number: number; base: { sha: string } } };
}

/** Runs the action's steps the way the runner does; returns its outputs,
 * each step's exit status and output, and whether it failed. */
function runAction(workspace: string, temp: string, inputs: Record<string, string>, github: Github, extraPath = ''): { outputs: Record<string, string>; steps: Record<string, Ran>; failed?: string } {
  const steps: Record<string, Record<string, string>> = {};
  const ran: Record<string, Ran> = {};
  // ${{ }} expressions of the forms the action uses; anything else is a test failure.
  const evaluate = (text: string, inputValues: Record<string, string>): string =>
    text.replace(/\$\{\{\s*([^}]*?)\s*\}\}/g, (_, expr: string) => {
      let m: RegExpExecArray | null;
      if ((m = /^inputs\.([\w-]+)$/.exec(expr))) return inputValues[m[1]] ?? '';
      if ((m = /^steps\.([\w-]+)\.outputs\.([\w-]+)$/.exec(expr))) return steps[m[1]]?.[m[2]] ?? '';
      if ((m = /^github\.([\w.]+)$/.exec(expr))) {
        let v: unknown = github;
        for (const k of m[1].split('.')) v = v && typeof v === 'object' ? (v as Record<string, unknown>)[k] : undefined;
        return v === undefined ? '' : String(v);
      }
      throw new Error(`action.yml: an expression the test does not know: ${expr}`);
    });
  const inputValues: Record<string, string> = {};
  for (const [k, spec] of Object.entries(ACTION.inputs)) inputValues[k] = inputs[k] ?? evaluate(spec.default ?? '', {});
  let failed: string | undefined;
  for (const step of ACTION.runs.steps) {
    assert.ok(step.run, `step ${step.id} is not a run: step`);
    assert.is(step.shell, 'bash');
    assert.is(step.if, undefined, 'steps decide in shell, not with if:');
    const outFile = path.join(temp, `output-${step.id}`);
    fs.writeFileSync(outFile, '');
    const script = path.join(temp, `step-${step.id}.sh`);
    fs.writeFileSync(script, step.run!);
    const env: NodeJS.ProcessEnv = {
      ...process.env,
      PATH: `${extraPath ? `${extraPath}:` : ''}${process.env.PATH}`,
      GITHUB_OUTPUT: outFile,
      GITHUB_ACTION_PATH: ROOT,
      GITHUB_WORKSPACE: workspace,
      RUNNER_TEMP: temp,
      GITHUB_API_URL: 'http://127.0.0.1:9',
    };
    for (const [k, v] of Object.entries(step.env ?? {})) env[k] = evaluate(v, inputValues);
    const cwd = path.resolve(workspace, evaluate(step['working-directory'] ?? '.', inputValues));
    // GitHub's `shell: bash`.
    const r = spawnSync('bash', ['--noprofile', '--norc', '-eo', 'pipefail', script], { cwd, env, encoding: 'utf8', timeout: 300_000 });
    ran[step.id] = { code: r.status ?? -1, out: `${r.stdout}${r.stderr}` };
    steps[step.id] = {};
    for (const line of fs.readFileSync(outFile, 'utf8').split('\n')) {
      const i = line.indexOf('=');
      if (i > 0) steps[step.id][line.slice(0, i)] = line.slice(i + 1);
    }
    if (r.status !== 0) {
      failed = step.id;
      break;
    }
  }
  const outputs: Record<string, string> = {};
  for (const [k, o] of Object.entries(ACTION.outputs)) outputs[k] = evaluate(o.value, inputValues);
  return { outputs, steps: ran, failed };
}

test('action.yml: a composite action whose scripts take input only from env (no ${{ }} inside run:)', () => {
  assert.is(ACTION.runs.using, 'composite');
  for (const s of ACTION.runs.steps) assert.not.match(s.run ?? '', /\$\{\{/, `step ${s.id}: an expression inside the script`);
  assert.equal(ACTION.runs.steps.map((s) => s.id), ['setup', 'check', 'lint', 'diff', 'comment', 'verdict']);
});

test("action.yml's steps as shell: check, SARIF, the PR's markdown diff, the guarded comment, the verdict", () => {
  const work = tmpDir('pct-action-');
  try {
    const env = gitEnv(work);
    const repo = sampleRepo(work, env);
    const base = git(repo, env, 'rev-parse', 'HEAD');
    // The pull request: dev turns support on (compiled and committed); prod is untouched.
    fs.writeFileSync(path.join(repo, 'envs', 'dev.yaml'), profileText('dev', (t) => t.replace('support: false ', 'support: true ')));
    compileIn(repo);
    git(repo, env, 'add', '-A');
    git(repo, env, 'commit', '-qm', 'support in dev');
    const temp = path.join(work, 'runner-temp');
    fs.mkdirSync(temp);
    const github: Github = { token: '', repository: 'acme/infra', event: { pull_request: { number: 7, base: { sha: base } } } };
    const inputs = { install: 'false' };

    const a = runAction(repo, temp, inputs, github);
    assert.is(a.failed, undefined, JSON.stringify(a.steps, null, 1));
    assert.is(a.outputs.drift, 'false');
    assert.is(a.outputs['lint-status'], '0');
    const sarif = JSON.parse(fs.readFileSync(path.join(repo, a.outputs['sarif-file']), 'utf8')) as { version: string; runs: unknown[] };
    assert.is(sarif.version, '2.1.0');
    assert.is(sarif.runs.length, 1);
    const md = fs.readFileSync(a.outputs['markdown-file'], 'utf8');
    assert.match(md, /^## portcullis: policy changes$/m);
    assert.match(md, /^### envs\/dev\.yaml$/m);
    assert.not.match(md, /envs\/prod\.yaml/, 'prod did not change');
    assert.match(md, /1 flow change opened, 0 closed/);
    assert.match(md, /T3\.1 SSH/);
    // Without a token the comment is skipped, and the job passes.
    assert.is(a.outputs.commented, 'false');
    assert.match(a.steps.comment.out, /comment skipped: no token/);
    assert.is(a.steps.verdict.code, 0);

    // With a token: posted through gh (a stand-in that records its arguments).
    const fakeBin = path.join(work, 'fake-bin');
    fs.mkdirSync(fakeBin);
    const calls = path.join(work, 'gh-calls');
    fs.writeFileSync(path.join(fakeBin, 'gh'), `#!/bin/sh\nprintf '%s\\n' "$@" > '${calls}'\necho "token=$GH_TOKEN" >> '${calls}'\n`, { mode: 0o755 });
    const b = runAction(repo, temp, inputs, { ...github, token: 'tok-123' }, fakeBin);
    assert.is(b.failed, undefined, JSON.stringify(b.steps, null, 1));
    assert.is(b.outputs.commented, 'true');
    assert.equal(fs.readFileSync(calls, 'utf8').trim().split('\n'), ['pr', 'comment', '7', '--repo', 'acme/infra', '--body-file', b.outputs['markdown-file'], 'token=tok-123']);
    // comment: false, or a push (no pull request): skipped.
    assert.is(runAction(repo, temp, { ...inputs, comment: 'false' }, { ...github, token: 't' }, fakeBin).outputs.commented, 'false');
    const push = runAction(repo, temp, inputs, { token: 't', repository: 'acme/infra', event: {} }, fakeBin);
    assert.is(push.failed, undefined);
    assert.is(push.outputs['markdown-file'], '');
    assert.is(push.outputs.commented, 'false');

    // A head commit whose tree drifted: drift=true, the diff is still made, the verdict fails.
    fs.writeFileSync(path.join(repo, 'envs', 'prod.yaml'), profileText('prod', (t) => t.replace('admins:      [198.51.100.0/24,', 'admins:      [0.0.0.0/0,')));
    git(repo, env, 'commit', '-qam', 'open admins, not compiled');
    const c = runAction(repo, temp, inputs, github);
    assert.is(c.failed, 'verdict');
    assert.is(c.outputs.drift, 'true');
    assert.match(c.steps.check.out, /^\+\+\+ b\/prod\/nftables\/portcullis\.nft/m);
    assert.is(c.outputs['lint-status'], '1');
    const sarif2 = JSON.parse(fs.readFileSync(path.join(repo, 'portcullis.sarif'), 'utf8')) as { runs: { results: { ruleId: string }[] }[] };
    assert.ok(sarif2.runs[0].results.some((r) => r.ruleId === 'PC001'));
    const md2 = fs.readFileSync(c.outputs['markdown-file'], 'utf8');
    assert.match(md2, /^### envs\/prod\.yaml$/m);
    assert.match(md2, /^### envs\/dev\.yaml$/m);
    assert.match(c.steps.verdict.out, /compile --check: exit 1/);
    assert.match(c.steps.verdict.out, /lint: exit 1/);

    // Explicit profiles (a quoted pattern) and out-dir instead of the project file.
    const d = runAction(repo, temp, { ...inputs, profiles: "envs/d*.yaml\n envs/dev.yaml", 'out-dir': 'firewall', target: 'nftables' }, github);
    assert.is(d.outputs.drift, 'false', d.steps.check.out);
    assert.is(d.failed, undefined, JSON.stringify(d.steps, null, 1));
  } finally {
    rmTree(work);
  }
});

test('action.yml with hostile input: a base that is an option, a PR file name with markup and $(...), a comment over the limit', () => {
  const work = tmpDir('pct-action-hostile-');
  try {
    const env = gitEnv(work);
    const repo = sampleRepo(work, env);
    const base = git(repo, env, 'rev-parse', 'HEAD');
    // The pull request adds a profile whose name is markdown and shell.
    const name = 'x`$(touch PWNED)` @octocat #12 <img src=http:__evil.example_p.png> [l](javascript:x).yaml';
    fs.writeFileSync(path.join(repo, 'envs', name), profileText('evil'));
    fs.writeFileSync(path.join(repo, 'envs', 'dev.yaml'), profileText('dev', (t) => t.replace('support: false ', 'support: true ')));
    compileIn(repo);
    git(repo, env, 'add', '-A');
    git(repo, env, 'commit', '-qm', 'pr');
    const temp = path.join(work, 'runner-temp');
    fs.mkdirSync(temp);
    const github: Github = { token: '', repository: 'acme/infra', event: { pull_request: { number: 7, base: { sha: base } } } };

    const a = runAction(repo, temp, { install: 'false' }, github);
    assert.is(a.failed, undefined, JSON.stringify(a.steps, null, 1));
    assert.not.ok(fs.existsSync(path.join(repo, 'PWNED')) || fs.existsSync(path.join(repo, 'envs', 'PWNED')), 'a file name ran as shell');
    const md = fs.readFileSync(a.outputs['markdown-file'], 'utf8');
    // eslint-disable-next-line @typescript-eslint/no-var-requires
    const { micromark } = require('micromark') as typeof import('micromark');
    // eslint-disable-next-line @typescript-eslint/no-var-requires
    const { gfm, gfmHtml } = require('micromark-extension-gfm') as typeof import('micromark-extension-gfm');
    const html = micromark(md, { allowDangerousHtml: true, allowDangerousProtocol: true, extensions: [gfm()], htmlExtensions: [gfmHtml()] });
    assert.not.match(html, /<img|<a |<code/i, html);
    const heading = [...html.matchAll(/<h3>([^<]*)<\/h3>/g)].map((m) => m[1]).find((h) => h.includes('octocat'));
    assert.ok(heading, html);
    assert.not.match(heading!, /(^|[^\w\u200d])@octocat|#12/, 'a mention or reference GitHub would link');
    assert.match(heading!.replace(/\u200d/g, ''), /x`\$\(touch PWNED\)` @octocat #12 &lt;img src=http:__evil\.example_p\.png&gt; \[l\]\(javascript:x\)\.yaml/);
    // Untrusted output is printed between ::stop-commands:: and its token.
    const stop = /^::stop-commands::(portcullis-\d+)$/m.exec(a.steps.diff.out);
    assert.ok(stop, a.steps.diff.out);
    assert.ok(a.steps.diff.out.includes(`\n::${stop![1]}::\n`));

    // A base that is an option of git diff: refused, nothing written, the verdict fails.
    const out = path.join(work, 'written-by-git');
    const b = runAction(repo, temp, { install: 'false', base: `--output=${out}` }, github);
    assert.not.ok(fs.existsSync(out), 'git diff took the base as an option');
    assert.match(b.steps.diff.out, /base: not a revision/);
    assert.is(b.failed, 'verdict');
    // A branch name resolves to its commit; one that is not a commit is refused.
    assert.is(runAction(repo, temp, { install: 'false', base: 'main~1' }, github).steps.diff.code, 0);
    assert.match(runAction(repo, temp, { install: 'false', base: 'no-such-rev' }, github).steps.diff.out, /base: not a commit/);

    // Over the limit: cut at a line end, with the note, under the limit.
    process.env.PORTCULLIS_COMMENT_LIMIT = '300';
    let c;
    try {
      c = runAction(repo, temp, { install: 'false' }, github);
    } finally {
      delete process.env.PORTCULLIS_COMMENT_LIMIT;
    }
    const cut = fs.readFileSync(c.outputs['markdown-file'], 'utf8');
    assert.ok(cut.length <= 300, `${cut.length} characters`);
    assert.match(cut, /\*\*portcullis:\*\* the comment is cut here \(\d+ more characters/);
    assert.ok(md.startsWith(cut.slice(0, cut.indexOf('\n\n**portcullis:** the comment is cut'))), 'cut at a line of the whole comment');
  } finally {
    rmTree(work);
  }
});

test('comment.js truncate: at most the limit, at a line end; a short comment is unchanged', () => {
  // eslint-disable-next-line @typescript-eslint/no-var-requires
  const { truncate } = require(path.join(ROOT, 'integrations', 'github', 'comment.js')) as { truncate: (md: string, n: number) => string };
  const md = Array.from({ length: 5000 }, (_, i) => `| in | ${i} | ${'y'.repeat(i % 50)} |`).join('\n') + '\n';
  const t = truncate(md, 65000);
  assert.ok(md.length > 65000 && t.length <= 65000, String(t.length));
  const kept = t.slice(0, t.indexOf('\n\n**portcullis:**'));
  assert.ok(md.startsWith(kept + '\n'), 'whole lines kept');
  assert.is(truncate('short\n', 65000), 'short\n');
});

test.run();
