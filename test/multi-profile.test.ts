// Several environments in one run: compile, validate, lint and --check over
// repeated --profile, a directory, a pattern portcullis expands itself, and
// the project file portcullis.yaml. All or nothing: one bad profile means
// exit 2, every profile's diagnostics, and nothing written for any.

import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { compile, compileMany } from '../src/index';
import { BIN, fixture, runCli } from './helpers/cli';
import { assertNoStack, parseDiagnostics } from './helpers/diagnostics';
import { readTree, rmTree, snapshot, tmpDir } from './helpers/tree';

const EXAMPLE = fs.readFileSync(fixture('profiles', 'example.yaml'), 'utf8');
const TARGETS = ['azure-nsg', 'firewalld', 'iptables', 'nftables', 'terraform-aws'];

/** The example profile as environment `env`, with `edit` applied to its text. */
function profileText(env: string, edit: (t: string) => string = (t) => t): string {
  return edit(EXAMPLE.replace(/^environment: prod-east/m, `environment: ${env}`));
}

/** A work directory with envs/{dev,prod,stage}.yaml; fn runs in it. */
function withRepo(fn: (work: string) => void): void {
  const work = tmpDir('pct-multi-');
  try {
    fs.mkdirSync(path.join(work, 'envs'));
    for (const env of ['dev', 'prod', 'stage']) fs.writeFileSync(path.join(work, 'envs', `${env}.yaml`), profileText(env));
    fn(work);
  } finally {
    rmTree(work);
  }
}

const cli = (work: string, args: string[]) => runCli(args, { cwd: work });

/** The environment folders under dir. */
const envsIn = (dir: string) => fs.readdirSync(dir).filter((n) => !n.startsWith('.')).sort();

test('three profiles: one process, each environment to its own folder, the same bytes as one run each', () => {
  withRepo((work) => {
    const r = cli(work, ['compile', '--profile', 'envs/prod.yaml', '--profile', 'envs/dev.yaml', '--profile', 'envs/stage.yaml', '--out-dir', 'out']);
    assert.is(r.code, 0, r.stderr);
    assert.equal(envsIn(path.join(work, 'out')), ['dev', 'prod', 'stage']);
    for (const env of ['dev', 'prod', 'stage']) {
      assert.equal(fs.readdirSync(path.join(work, 'out', env)).sort(), TARGETS, env);
      const one = cli(work, ['compile', '--profile', `envs/${env}.yaml`, '--out-dir', `single-${env}`]);
      assert.is(one.code, 0, one.stderr);
      assert.equal(readTree(path.join(work, 'out', env)), readTree(path.join(work, `single-${env}`, env)), `${env} differs from its own run`);
    }
    // No staging or lock file is left behind.
    assert.equal(fs.readdirSync(path.join(work, 'out')).sort(), ['dev', 'prod', 'stage']);
    // The environments really differ where their profiles do.
    assert.match(fs.readFileSync(path.join(work, 'out', 'dev', 'nftables', 'portcullis.nft'), 'utf8'), /dev/);
  });
});

test('the yargs path takes repeated --profile too (the old "cannot read file: ERR_INVALID_ARG_TYPE")', () => {
  withRepo((work) => {
    // --target twice is outside the fast argument path: yargs parses this one.
    const r = cli(work, ['compile', '--profile', 'envs/prod.yaml', '--profile', 'envs/dev.yaml', '--target', 'nftables', '--out-dir=out', '--stdout=false']);
    assert.is(r.code, 0, r.stderr);
    assert.not.match(r.stderr, /ERR_INVALID_ARG_TYPE/);
    assert.equal(envsIn(path.join(work, 'out')), ['dev', 'prod']);
    // A shell-expanded list after one --profile works as well.
    const v = cli(work, ['validate', '--profile', 'envs/dev.yaml', 'envs/prod.yaml']);
    assert.is(v.code, 0, v.stderr);
    assert.equal(v.stdout.trim().split('\n').map((l) => l.split(':')[0]), ['envs/dev.yaml', 'envs/prod.yaml']);
  });
});

test('--check with several: 0 when clean, 1 and a diff of only the drifted environment', () => {
  withRepo((work) => {
    const all = ['--profile', 'envs', '--out-dir', 'out'];
    assert.is(cli(work, ['compile', ...all]).code, 0);
    const clean = cli(work, ['compile', ...all, '--check']);
    assert.is(clean.code, 0, clean.stderr);
    assert.is(clean.stdout, '');
    // One environment drifts: its profile changes and the tree does not.
    fs.writeFileSync(path.join(work, 'envs', 'stage.yaml'), profileText('stage', (t) => t.replace('ldap_port: 636', 'ldap_port: 389')));
    const before = snapshot(work);
    const drift = cli(work, ['compile', ...all, '--check']);
    assert.is(drift.code, 1, drift.stderr);
    assert.equal(snapshot(work), before, '--check wrote something');
    const files = [...drift.stdout.matchAll(/^\+\+\+ b\/(\S+)/gm)].map((m) => m[1]);
    assert.ok(files.length > 0, drift.stdout);
    assert.ok(files.every((f) => f.startsWith('stage/')), files.join(' '));
    assert.match(drift.stdout, /389/);
    assert.match(drift.stderr, /^drift: out\/stage differs from what portcullis would write$/m);
    assert.not.match(drift.stderr, /out\/(dev|prod) differs/);
    assert.match(drift.stderr, /1 of 3 environments drifted/);
    // An environment never compiled is drift too (every file missing).
    fs.writeFileSync(path.join(work, 'envs', 'qa.yaml'), profileText('qa'));
    const missing = cli(work, ['compile', '--profile', 'envs/qa.yaml', '--profile', 'envs/dev.yaml', '--out-dir', 'out', '--check']);
    assert.is(missing.code, 1);
    assert.match(missing.stdout, /^\+\+\+ b\/qa\/nftables\/portcullis\.nft/m);
    assert.match(missing.stderr, /^drift: out\/qa differs/m);
    // --check on bad input: exit 2, not 1.
    fs.writeFileSync(path.join(work, 'envs', 'qa.yaml'), profileText('qa', (t) => t.replace('admins:', 'admin:')));
    assert.is(cli(work, ['compile', ...all, '--check']).code, 2);
  });
});

test('writing again: an environment whose files are already byte-identical is left alone (same inodes and mtimes, "unchanged"); one that differs in any way is rewritten', () => {
  withRepo((work) => {
    const all = ['--profile', 'envs', '--out-dir', 'out'];
    assert.is(cli(work, ['compile', ...all]).code, 0);
    const out = path.join(work, 'out');
    const stamp = (rel: string) => {
      const st = fs.lstatSync(path.join(out, rel));
      return `${st.ino}/${st.mtimeMs}`;
    };
    const files = (env: string) => [...readTree(path.join(out, env)).keys()].map((f) => `${env}/${f}`);
    const stamps = (env: string) => files(env).map(stamp).concat(stamp(env));
    const before = { dev: stamps('dev'), prod: stamps('prod'), stage: stamps('stage') };
    const expected = readTree(out);
    // Nothing changed: every file is reported unchanged and none touched.
    const again = cli(work, ['compile', ...all]);
    assert.is(again.code, 0, again.stderr);
    assert.not.match(again.stderr, /^wrote /m);
    assert.is(again.stderr.split('\n').filter((l) => l.startsWith('unchanged out/')).length, files('dev').length * 3, again.stderr);
    for (const env of ['dev', 'prod', 'stage'] as const) assert.equal(stamps(env), before[env], `${env} was rewritten`);
    // stage's profile changes: only stage is rewritten.
    fs.writeFileSync(path.join(work, 'envs', 'stage.yaml'), profileText('stage', (t) => t.replace('ldap_port: 636', 'ldap_port: 389')));
    const one = cli(work, ['compile', ...all]);
    assert.is(one.code, 0, one.stderr);
    assert.match(one.stderr, /^wrote out\/stage\/nftables\/portcullis\.nft$/m);
    assert.match(one.stderr, /^unchanged out\/dev\/nftables\/portcullis\.nft$/m);
    assert.equal(stamps('dev'), before.dev);
    assert.not.equal(stamps('stage'), before.stage);
    // Any difference on disk is rewritten back to the compiled tree: an edited
    // byte, an extra file in a target directory, a file replaced by a link, a
    // missing file.
    const edits: [string, (f: string) => void][] = [
      ['an edited byte', (f) => fs.appendFileSync(f, ' ')],
      ['an extra file', (f) => fs.writeFileSync(path.join(path.dirname(f), 'extra.conf'), 'x')],
      ['a symbolic link', (f) => (fs.rmSync(f), fs.symlinkSync('/etc/hostname', f))],
      ['a missing file', (f) => fs.rmSync(f)],
    ];
    for (const [what, edit] of edits) {
      assert.is(cli(work, ['compile', '--profile', 'envs/dev.yaml', '--out-dir', 'out']).code, 0);
      const clean = readTree(path.join(out, 'dev'));
      edit(path.join(out, 'dev', 'iptables', 'rules.v4'));
      const r = cli(work, ['compile', '--profile', 'envs/dev.yaml', '--out-dir', 'out']);
      assert.is(r.code, 0, r.stderr);
      assert.match(r.stderr, /^wrote out\/dev\/iptables\/rules\.v4$/m, what);
      assert.equal(readTree(path.join(out, 'dev')), clean, what);
    }
    assert.equal(readTree(path.join(out, 'dev')), new Map([...expected].filter(([k]) => k.startsWith('dev/')).map(([k, v]) => [k.slice(4), v])));
  });
});

test('two profiles naming one environment: exit 2, an error at the later environment: naming the first file and its position', () => {
  withRepo((work) => {
    fs.writeFileSync(path.join(work, 'envs', 'prod-copy.yaml'), `# the same site again\n\n${profileText('prod')}`);
    const r = cli(work, ['compile', '--profile', 'envs/prod.yaml', '--profile', 'envs/dev.yaml', '--profile', 'envs/prod-copy.yaml', '--out-dir', 'out']);
    assert.is(r.code, 2, r.stderr);
    assertNoStack(r.stderr);
    const ds = parseDiagnostics(r.stderr);
    assert.is(ds.length, 1, r.stderr);
    assert.is(`${ds[0].file}:${ds[0].line}:${ds[0].col}`, 'envs/prod-copy.yaml:3:1');
    assert.is(ds[0].message, "environment 'prod' is named by two profiles: this one and envs/prod.yaml:1:1");
    assert.match(ds[0].hint ?? '', /one profile/);
    assert.not.ok(fs.existsSync(path.join(work, 'out')), 'something was written');
    // validate and lint refuse it as well.
    for (const cmd of ['validate', 'lint']) {
      const v = cli(work, [cmd, '--profile', 'envs/prod.yaml', '--profile', 'envs/prod-copy.yaml']);
      assert.is(v.code, 2, `${cmd}: ${v.stderr}`);
      assert.match(v.stderr, /named by two profiles/);
    }
    // The same file named twice (a directory and the file in it) is one profile, not a clash.
    fs.rmSync(path.join(work, 'envs', 'prod-copy.yaml'));
    const twice = cli(work, ['validate', '--profile', 'envs', '--profile', 'envs/dev.yaml']);
    assert.is(twice.code, 0, twice.stderr);
    assert.is(twice.stdout.trim().split('\n').length, 3);
  });
});

test('one bad profile: exit 2, every bad profile reported, nothing written for any (tree snapshot before and after)', () => {
  withRepo((work) => {
    assert.is(cli(work, ['compile', '--profile', 'envs', '--out-dir', 'out']).code, 0);
    // dev changes (good), prod and stage go bad in two different ways.
    fs.writeFileSync(path.join(work, 'envs', 'dev.yaml'), profileText('dev', (t) => t.replace('ldap_port: 636', 'ldap_port: 389')));
    fs.writeFileSync(path.join(work, 'envs', 'prod.yaml'), profileText('prod', (t) => t.replace('admins:', 'admin:')));
    fs.writeFileSync(path.join(work, 'envs', 'stage.yaml'), profileText('stage', (t) => t.replace('10.20.0.13', '10.20.0.300')));
    const before = snapshot(work);
    const r = cli(work, ['compile', '--profile', 'envs', '--out-dir', 'out']);
    assert.is(r.code, 2, r.stderr);
    assertNoStack(r.stderr);
    const files = new Set(parseDiagnostics(r.stderr).map((d) => d.file));
    assert.equal([...files].sort(), ['envs/prod.yaml', 'envs/stage.yaml'], r.stderr);
    assert.match(r.stderr, /unknown group 'admin'/);
    assert.match(r.stderr, /nothing written\.$/m);
    assert.equal(snapshot(work), before, 'the tree changed although a profile was bad');
    // An unreadable profile among good ones: the same.
    const gone = cli(work, ['compile', '--profile', 'envs/dev.yaml', '--profile', 'envs/none.yaml', '--out-dir', 'out']);
    assert.is(gone.code, 2);
    assert.match(gone.stderr, /^envs\/none\.yaml: error: cannot read file: no such file$/m);
    assert.equal(snapshot(work), before);
  });
});

test('a directory gives its *.yaml, *.yml, *.json (sorted, not recursive, no hidden files); a pattern is matched by portcullis', () => {
  withRepo((work) => {
    const envs = path.join(work, 'envs');
    fs.writeFileSync(path.join(envs, 'qa.yml'), profileText('qa'));
    fs.writeFileSync(path.join(envs, 'edge.json'), JSON.stringify({ environment: 'edge', groups: { admins: ['198.51.100.0/24'], users: ['0.0.0.0/0'], nodes: ['10.9.0.1'] } }));
    fs.writeFileSync(path.join(envs, 'README.md'), '# not a profile\n');
    fs.writeFileSync(path.join(envs, '.hidden.yaml'), 'not: [a profile\n');
    fs.mkdirSync(path.join(envs, 'old'));
    fs.writeFileSync(path.join(envs, 'old', 'ancient.yaml'), 'not: [a profile\n');
    const v = cli(work, ['validate', '--profile', 'envs']);
    assert.is(v.code, 0, v.stderr);
    const order = (out: string) => out.trim().split('\n').map((l) => l.split(': ok')[0]);
    assert.equal(order(v.stdout), ['envs/dev.yaml', 'envs/edge.json', 'envs/prod.yaml', 'envs/qa.yml', 'envs/stage.yaml']);
    // Patterns, quoted (no shell expands them): '*' and '?' in the file name.
    const g = cli(work, ['validate', '--profile', 'envs/*.yaml']);
    assert.is(g.code, 0, g.stderr);
    assert.equal(order(g.stdout), ['envs/dev.yaml', 'envs/prod.yaml', 'envs/stage.yaml']);
    assert.equal(order(cli(work, ['validate', '--profile', 'envs/?ev.yaml', '--profile', 'envs/q*']).stdout), ['envs/dev.yaml', 'envs/qa.yml']);
    const c = cli(work, ['compile', '--profile', 'envs/[!x]*', '--out-dir', 'out']);
    assert.is(c.code, 2, 'brackets are not pattern syntax');
    const d = cli(work, ['compile', '--profile', 'envs/*.yaml', '--target', 'nftables', '--out-dir', 'out']);
    assert.is(d.code, 0, d.stderr);
    assert.equal(envsIn(path.join(work, 'out')), ['dev', 'prod', 'stage']);
    // Names nothing: exit 2, and why.
    const none = cli(work, ['validate', '--profile', 'envs/*.toml']);
    assert.is(none.code, 2);
    assert.match(none.stderr, /^envs\/\*\.toml: error: the pattern matches no file$/m);
    const deep = cli(work, ['validate', '--profile', '*/dev.yaml']);
    assert.is(deep.code, 2);
    assert.match(deep.stderr, /in the file name only/);
    const empty = cli(work, ['validate', '--profile', 'envs/old/..']);
    assert.is(empty.code, 0, 'a directory path with .. is still that directory');
    // A file a pattern finds is never taken for an option.
    fs.writeFileSync(path.join(work, '-odd.yaml'), profileText('odd'));
    const odd = cli(work, ['validate', '--profile', '*.yaml']);
    assert.is(odd.code, 0, odd.stderr);
    assert.equal(order(odd.stdout), ['./-odd.yaml']);
    fs.mkdirSync(path.join(work, 'nothing'));
    const e = cli(work, ['validate', '--profile', 'nothing']);
    assert.is(e.code, 2);
    assert.match(e.stderr, /^nothing: error: cannot read file: it is a directory with no profile in it$/m);
  });
});

test('a directory of hostile entries (a FIFO, a link to /dev/zero, a 200 MiB sparse file): each refused unread, exit 2, nothing written', () => {
  withRepo((work) => {
    const bad = path.join(work, 'bad');
    fs.mkdirSync(bad);
    spawnSync('mkfifo', [path.join(bad, 'fifo.yaml')]);
    fs.symlinkSync('/dev/zero', path.join(bad, 'zero.yaml'));
    fs.closeSync(fs.openSync(path.join(bad, 'huge.yaml'), 'w'));
    fs.truncateSync(path.join(bad, 'huge.yaml'), 200 * 1024 * 1024);
    const before = snapshot(path.join(work, 'envs'));
    const t0 = Date.now();
    const r = spawnSync(process.execPath, [BIN, 'compile', '--profile', 'envs', '--profile', 'bad', '--out-dir', 'out'], { cwd: work, encoding: 'utf8', timeout: 30_000 });
    assert.is(r.status, 2, r.stderr);
    assert.ok(Date.now() - t0 < 20_000, 'took too long: read without bound?');
    assert.match(r.stderr, /^bad\/fifo\.yaml: error: cannot read file: it is a FIFO \(named pipe\), not a regular file$/m);
    assert.match(r.stderr, /^bad\/zero\.yaml: error: cannot read file: it is a character device, not a regular file$/m);
    assert.match(r.stderr, /^bad\/huge\.yaml: error: input too large/m);
    assert.match(r.stderr, /^3 errors; nothing written\.$/m);
    assertNoStack(r.stderr);
    assert.not.ok(fs.existsSync(path.join(work, 'out')));
    assert.equal(snapshot(path.join(work, 'envs')), before);
  });
});

test('--stdout with several profiles is refused (exit 2, a hint); with one it prints as before', () => {
  withRepo((work) => {
    const r = cli(work, ['compile', '--profile', 'envs', '--stdout']);
    assert.is(r.code, 2);
    assert.is(r.stdout, '');
    assert.match(r.stderr, /--stdout prints one environment, and 3 profiles are given/);
    assert.match(r.stderr, /hint: .*--out-dir/);
    const one = cli(work, ['compile', '--profile', 'envs/dev.yaml', '--target', 'nftables', '--stdout']);
    assert.is(one.code, 0, one.stderr);
    assert.match(one.stdout, /^table inet portcullis/m);
  });
});

test('the project file: `compile` with no arguments builds it, `--check` checks it; paths relative to it', () => {
  withRepo((work) => {
    fs.writeFileSync(path.join(work, 'portcullis.yaml'), 'profiles:\n  - envs/*.yaml\ntargets: [nftables, iptables]\nout_dir: firewall\n');
    const r = cli(work, ['compile']);
    assert.is(r.code, 0, r.stderr);
    assert.equal(envsIn(path.join(work, 'firewall')), ['dev', 'prod', 'stage']);
    assert.equal(fs.readdirSync(path.join(work, 'firewall', 'dev')).sort(), ['iptables', 'nftables']);
    assert.not.ok(fs.existsSync(path.join(work, 'out')));
    assert.is(cli(work, ['compile', '--check']).code, 0);
    assert.is(cli(work, ['validate']).code, 0);
    assert.is(cli(work, ['lint']).code, 0);
    fs.writeFileSync(path.join(work, 'envs', 'dev.yaml'), profileText('dev', (t) => t.replace('ldap_port: 636', 'ldap_port: 389')));
    const drift = cli(work, ['compile', '--check']);
    assert.is(drift.code, 1);
    assert.match(drift.stderr, /^drift: firewall\/dev differs/m);
    // --changed: only the profiles the changed files concern.
    assert.is(cli(work, ['compile', '--check', '--changed', 'envs/prod.yaml', 'README.md']).code, 0);
    assert.is(cli(work, ['compile', '--check', '--changed', 'envs/dev.yaml']).code, 1);
    assert.is(cli(work, ['compile', '--check', '--changed', 'firewall/dev/nftables/portcullis.nft']).code, 1, 'a changed output file selects its environment');
    assert.is(cli(work, ['compile', '--check', '--changed', 'portcullis.yaml']).code, 1, 'a changed project file selects every environment');
    assert.is(cli(work, ['compile', '--check', '--changed']).code, 0, 'no changed file: nothing to check');
    assert.is(cli(work, ['compile', '--check', '--changed', '--', 'envs/dev.yaml']).code, 1, 'files after -- are changed files too');
    assert.is(cli(work, ['compile', '--check', '--changed', 'README.md', '--', 'envs/prod.yaml']).code, 0);
    // Options on the command line win over the project's.
    assert.is(cli(work, ['compile', '--target', 'nftables', '--out-dir', 'other']).code, 0);
    assert.equal(fs.readdirSync(path.join(work, 'other', 'dev')), ['nftables']);
    // --profile given: the project file is not used.
    const p = cli(work, ['compile', '--profile', 'envs/dev.yaml', '--check']);
    assert.is(p.code, 1, 'compared with out/, which does not exist');
    assert.match(p.stderr, /^drift: out differs/m);
    // A project file in a subdirectory is found only from there, with paths relative to it.
    fs.mkdirSync(path.join(work, 'sub', 'p'), { recursive: true });
    fs.copyFileSync(path.join(work, 'envs', 'prod.yaml'), path.join(work, 'sub', 'p', 'a.yaml'));
    fs.writeFileSync(path.join(work, 'sub', 'portcullis.yaml'), 'profiles: [p]\n');
    const sub = runCli(['compile', '--target', 'nftables'], { cwd: path.join(work, 'sub') });
    assert.is(sub.code, 0, sub.stderr);
    assert.ok(fs.existsSync(path.join(work, 'sub', 'out', 'prod', 'nftables', 'portcullis.nft')));
  });
});

test('the project file is checked with positions; its paths must stay inside its directory', () => {
  withRepo((work) => {
    const write = (text: string) => fs.writeFileSync(path.join(work, 'portcullis.yaml'), text);
    const errs = (args: string[] = ['compile']) => {
      const r = cli(work, args);
      assert.is(r.code, 2, r.stderr);
      assertNoStack(r.stderr);
      return parseDiagnostics(r.stderr).map((d) => `${d.line}:${d.col} ${d.message}`);
    };
    write('profiles: [envs]\nout_dirs: x\ntargets: [nftables, pf]\n');
    assert.equal(errs(), [
      "2:1 unknown key 'out_dirs' in the project file",
      "3:21 'targets.1' must be one of 'nftables', 'iptables', 'firewalld', 'terraform-aws', 'azure-nsg', not string \"pf\"",
    ]);
    write('catalog: rke2\n');
    assert.equal(errs(), ["1:1 the project file is missing the required key 'profiles'"]);
    write('profiles: envs\n');
    assert.equal(errs(), ["1:11 'profiles' must be a list, not string \"envs\""]);
    write('profiles: [envs, [x]\n');
    assert.match(errs()[0], /^\d+:\d+ invalid YAML/);
    fs.symlinkSync('/etc', path.join(work, 'etc-link'));
    write(`profiles:\n  - ../outside.yaml\n  - ${path.join(work, 'envs', 'dev.yaml')}\n  - etc-link/*.conf\n  - envs/*.none\ncatalog: ../cat.yaml\nout_dir: ../firewall\n`);
    assert.equal(errs(), [
      '2:5 profile "../outside.yaml" is not allowed: it leads out of the project\'s directory',
      `3:5 profile ${JSON.stringify(path.join(work, 'envs', 'dev.yaml'))} is not allowed: it is an absolute path; paths in the project file are relative to its directory`,
      '4:5 profile "etc-link/*.conf" is not allowed: it leads out of the project\'s directory (through a symbolic link)',
      '5:5 "envs/*.none": the pattern matches no file',
      '6:10 catalog "../cat.yaml" is not allowed: it leads out of the project\'s directory',
      '7:10 out_dir "../firewall" is not allowed: it leads out of the project\'s directory',
    ]);
    write('profiles: [envs]\nout_dir: etc-link/x\n');
    assert.equal(errs(), ['2:10 out_dir "etc-link/x" is not allowed: it leads out of the project\'s directory (through a symbolic link)']);
    write('profiles: [envs]\ncatalog: nope\n');
    assert.equal(errs(['validate']), ['2:10 catalog "nope": no such file, and no built-in catalog of that name']);
    assert.not.ok(fs.existsSync(path.join(work, 'out')));
    // No project file and no --profile: a usage error that says what to do.
    fs.rmSync(path.join(work, 'portcullis.yaml'));
    const none = cli(work, ['compile']);
    assert.is(none.code, 2);
    assert.match(none.stderr, /no profile given, and no portcullis\.yaml in this directory/);
  });
});

test('lint with several: the findings of each, one SARIF run with every result', () => {
  const broad = fixture('profiles', 'lint-broad.yaml');
  const unused = fixture('profiles', 'lint-unused.yaml');
  const text = runCli(['lint', '--profile', broad, '--profile', unused]);
  const one = (f: string) => runCli(['lint', '--profile', f, '--format', 'sarif']);
  const r = runCli(['lint', '--profile', broad, '--profile', unused, '--format', 'sarif']);
  assert.is(r.code, text.code, r.stderr);
  const sarif = JSON.parse(r.stdout) as { runs: { results: { ruleId: string; locations: { physicalLocation: { artifactLocation: { uri: string } } }[] }[]; artifacts: { location: { uri: string } }[] }[] };
  assert.is(sarif.runs.length, 1);
  const uris = new Set(sarif.runs[0].results.map((x) => x.locations[0].physicalLocation.artifactLocation.uri));
  assert.ok([...uris].some((u) => u.endsWith('lint-broad.yaml')) && [...uris].some((u) => u.endsWith('lint-unused.yaml')), [...uris].join(' '));
  const count = (s: string) => (JSON.parse(s) as typeof sarif).runs[0].results.length;
  assert.is(sarif.runs[0].results.length, count(one(broad).stdout) + count(one(unused).stdout));
  const arts = sarif.runs[0].artifacts.map((a) => a.location.uri);
  assert.ok(arts.some((u) => u.endsWith('lint-broad.yaml')) && arts.some((u) => u.endsWith('lint-unused.yaml')));
  // Text: each file's findings, one summary line.
  assert.match(text.stdout, /lint-broad\.yaml:\d+:\d+: /);
  assert.match(text.stdout, /lint-unused\.yaml:\d+:\d+: /);
  assert.is(text.stdout.match(/^lint: /gm)?.length, 1);
});

test('library: compileMany() is compile() per profile, all or nothing; compile() is unchanged', () => {
  const input = (env: string, edit?: (t: string) => string) => ({ path: `${env}.yaml`, text: profileText(env, edit) });
  const many = compileMany({ profiles: [input('a'), input('b')], targets: ['nftables'] });
  assert.ok(many.ok);
  if (!many.ok) return;
  assert.equal(many.environments.map((e) => [e.environment, e.profile]), [['a', 'a.yaml'], ['b', 'b.yaml']]);
  const single = compile({ profile: input('b'), targets: ['nftables'] });
  assert.ok(single.ok);
  if (single.ok) assert.equal(many.environments[1].files, single.files);
  assert.equal(many.files, many.environments.flatMap((e) => e.files));
  const bad = compileMany({ profiles: [input('a'), input('b', (t) => t.replace('admins:', 'admin:')), { path: 'c.yaml', text: profileText('a') }] });
  assert.not.ok(bad.ok);
  assert.equal(bad.diagnostics.map((d) => d.file), ['b.yaml', 'c.yaml']);
  assert.throws(() => compileMany({ profiles: [] }), /profiles must be a non-empty array/);
  assert.throws(() => compileMany({ profiles: ['a.yaml'] } as never), /profiles\[0\] must be/);
});

test.run();
