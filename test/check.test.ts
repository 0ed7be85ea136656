// `compile --check`: exit 0 when --out-dir matches, 1 with a unified diff of
// the drift (an edited file, a missing file, a stray file), 2 on bad input;
// it never writes. `--stdout` never writes either.

import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';
import { applyPatch, parsePatch } from 'diff';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { fixture, runCli } from './helpers/cli';
import { assertNoStack } from './helpers/diagnostics';
import { listing, readTree, rmTree, snapshot, tmpDir } from './helpers/tree';

const EXAMPLE = fixture('profiles', 'example.yaml');
const NFT = 'prod-east/nftables/portcullis.nft';

function check(out: string, ...extra: string[]) {
  return runCli(['compile', '--profile', EXAMPLE, '--out-dir', out, '--check', ...extra]);
}

/** A fresh out-dir holding a real compile of the example (every target). */
function compiled(fn: (out: string, work: string) => void): void {
  const work = tmpDir();
  try {
    const out = path.join(work, 'out');
    const r = runCli(['compile', '--profile', EXAMPLE, '--out-dir', out]);
    assert.is(r.code, 0, r.stderr);
    fn(out, work);
  } finally {
    rmTree(work);
  }
}

/** Runs fn and asserts it changed nothing under dir: paths, bytes, modes, mtimes. */
function unchanged<T>(dir: string, fn: () => T): T {
  const before = snapshot(dir);
  const result = fn();
  assert.equal(listing(dir), before.map((e) => e.path), 'directory listing changed');
  assert.equal(snapshot(dir), before, 'contents or mtimes changed');
  return result;
}

/** The patch for one file in a multi-file diff. */
function patchFor(diff: string, file: string) {
  return parsePatch(diff).find((p) => p.oldFileName === `a/${file}` || p.newFileName === `b/${file}`);
}

test('--check exits 0 and prints nothing when the out-dir matches', () => {
  compiled((out, work) => {
    const r = unchanged(work, () => check(out));
    assert.is(r.code, 0, r.stderr);
    assert.is(r.stdout, '');
    // Also per target, and for an explicit target list.
    assert.is(unchanged(work, () => check(out, '--target', 'nftables')).code, 0);
  });
});

test('--check ignores mtimes: a touched but identical file is not drift', () => {
  compiled((out, work) => {
    const f = path.join(out, NFT);
    fs.utimesSync(f, new Date(0), new Date(0));
    const r = unchanged(work, () => check(out));
    assert.is(r.code, 0, r.stdout + r.stderr);
  });
});

test('--check on an edited file: exit 1, a unified diff naming the file, that turns disk into the expected file', () => {
  compiled((out, work) => {
    const f = path.join(out, NFT);
    const good = fs.readFileSync(f, 'utf8');
    const edited = good.replace('tcp dport { 80, 443 } accept', 'tcp dport { 80, 443, 8443 } accept');
    assert.not.equal(edited, good, 'the edit applies');
    fs.writeFileSync(f, edited);
    const r = unchanged(work, () => check(out));
    assert.is(r.code, 1, r.stderr);
    assert.match(r.stdout, new RegExp(`^--- a/${NFT}$`, 'm'));
    assert.match(r.stdout, new RegExp(`^\\+\\+\\+ b/${NFT}$`, 'm'));
    assert.match(r.stdout, /^@@ -\d+,\d+ \+\d+,\d+ @@/m);
    assert.match(r.stdout, /^-\t\tip saddr @users_v4 tcp dport \{ 80, 443, 8443 \} accept/m);
    assert.match(r.stdout, /^\+\t\tip saddr @users_v4 tcp dport \{ 80, 443 \} accept/m);
    assert.match(r.stderr, /drift/);
    // Only the edited file is in the diff, and applying it restores the file.
    assert.is(parsePatch(r.stdout).length, 1);
    assert.is(applyPatch(edited, patchFor(r.stdout, NFT)!), good);
  });
});

test('--check on a missing file: exit 1, a diff from /dev/null', () => {
  compiled((out, work) => {
    const f = path.join(out, NFT);
    const good = fs.readFileSync(f, 'utf8');
    fs.rmSync(f);
    const r = unchanged(work, () => check(out));
    assert.is(r.code, 1, r.stderr);
    assert.match(r.stdout, /^--- \/dev\/null$/m);
    assert.match(r.stdout, new RegExp(`^\\+\\+\\+ b/${NFT}$`, 'm'));
    assert.match(r.stdout, /^@@ -0,0 \+1,\d+ @@/m);
    assert.is(applyPatch('', patchFor(r.stdout, NFT)!), good);
  });
});

test('--check on a stray file in a target directory: exit 1, a diff to /dev/null', () => {
  compiled((out, work) => {
    fs.writeFileSync(path.join(out, 'prod-east', 'nftables', 'old.nft'), 'table inet old {}\n');
    const r = unchanged(work, () => check(out));
    assert.is(r.code, 1, r.stderr);
    assert.match(r.stdout, /^--- a\/prod-east\/nftables\/old\.nft$/m);
    assert.match(r.stdout, /^\+\+\+ \/dev\/null$/m);
    assert.match(r.stdout, /^-table inet old \{\}$/m);
    assert.is(parsePatch(r.stdout).length, 1, 'only the stray file drifts');
  });
});

test('--check on a stray file in a nested directory of a target: drift too', () => {
  compiled((out, work) => {
    fs.mkdirSync(path.join(out, 'prod-east', 'nftables', 'sub'));
    fs.writeFileSync(path.join(out, 'prod-east', 'nftables', 'sub', 'x.nft'), 'x\n');
    const r = unchanged(work, () => check(out));
    assert.is(r.code, 1, r.stderr);
    assert.match(r.stdout, /^--- a\/prod-east\/nftables\/sub\/x\.nft$/m);
  });
});

// Regression: a symbolic link to a directory inside a target directory
// crashed --check (EISDIR stack trace, exit 1 by accident). It is drift.
test('--check with a symlink to a directory in a target directory: drift, no crash', () => {
  compiled((out, work) => {
    const target = path.join(work, 'elsewhere');
    fs.mkdirSync(target);
    fs.symlinkSync(target, path.join(out, 'prod-east', 'nftables', 'linked'));
    const r = unchanged(work, () => check(out, '--target', 'nftables'));
    assertNoStack(r.stderr);
    assert.is(r.code, 1, r.stderr);
    assert.match(r.stdout, /^drift: prod-east\/nftables\/linked is a symbolic link, and portcullis writes nothing there$/m);
  });
});

// Class 8 of issue #12: --check reads by the rules of writing. On the old
// code a committed link in place of the env or a target directory was
// followed, and every file behind it was printed as a diff (secrets in CI
// logs). Now a link in any component below --out-dir is drift, reported
// without its content.
const SECRET = `SECRET-${process.pid}-do-not-print`;

/** A directory and a file outside --out-dir, holding the secret. */
function secrets(work: string): { dir: string; file: string } {
  const dir = path.join(work, 'etc');
  fs.mkdirSync(path.join(dir, 'nftables'), { recursive: true });
  fs.writeFileSync(path.join(dir, 'shadow'), `${SECRET}\n`);
  fs.writeFileSync(path.join(dir, 'portcullis.nft'), `${SECRET}\n`);
  fs.writeFileSync(path.join(dir, 'nftables', 'portcullis.nft'), `${SECRET}\n`);
  for (const f of ['rules.v4', 'ipsets.v4', 'main.tf', 'nsg.json']) fs.writeFileSync(path.join(dir, f), `${SECRET}\n`);
  return { dir, file: path.join(dir, 'shadow') };
}

function replaceWithLink(at: string, to: string): void {
  fs.rmSync(at, { recursive: true, force: true });
  fs.symlinkSync(to, at);
}

const LINK_CASES: [string, (out: string, s: { dir: string; file: string }) => void, RegExp][] = [
  ['the env dir', (out, s) => replaceWithLink(path.join(out, 'prod-east'), s.dir), /^drift: prod-east is a symbolic link; portcullis does not read through it$/m],
  ['a target dir', (out, s) => replaceWithLink(path.join(out, 'prod-east', 'nftables'), s.dir), /^drift: prod-east\/nftables is a symbolic link; portcullis does not read through it$/m],
  ['a subdirectory of a target', (out, s) => replaceWithLink(path.join(out, 'prod-east', 'firewalld', 'zones'), s.dir), /^drift: prod-east\/firewalld\/zones is a symbolic link, and portcullis writes nothing there$/m],
  ['an output file', (out, s) => replaceWithLink(path.join(out, NFT), s.file), /^drift: prod-east\/nftables\/portcullis\.nft is a symbolic link$/m],
  ['a stray file', (out, s) => fs.symlinkSync(s.file, path.join(out, 'prod-east', 'iptables', 'leak')), /^drift: prod-east\/iptables\/leak is a symbolic link, and portcullis writes nothing there$/m],
];

for (const [what, plant, message] of LINK_CASES)
  test(`--check with a symbolic link as ${what}, pointing outside --out-dir: drift, and the target's content is never printed`, () => {
    compiled((out, work) => {
      const s = secrets(work);
      plant(out, s);
      const r = unchanged(work, () => check(out));
      assert.not.ok(r.stdout.includes(SECRET) || r.stderr.includes(SECRET), `the secret was printed:\n${r.stdout}${r.stderr}`);
      assertNoStack(r.stderr);
      assert.is(r.code, 1, r.stderr);
      assert.match(r.stdout, message);
      // Writing refuses the same links (or replaces the whole env without following them).
      const w = runCli(['compile', '--profile', EXAMPLE, '--out-dir', out]);
      assert.not.ok(w.stdout.includes(SECRET) || w.stderr.includes(SECRET));
      assert.is(fs.readFileSync(s.file, 'utf8'), `${SECRET}\n`, 'the file behind the link is untouched');
    });
  });

test('--check with a FIFO or an oversized file in a target dir: drift without reading it', () => {
  compiled((out, work) => {
    spawnSync('mkfifo', [path.join(out, 'prod-east', 'nftables', 'pipe')]);
    fs.rmSync(path.join(out, 'prod-east', 'iptables', 'rules.v4'));
    fs.closeSync(fs.openSync(path.join(out, 'prod-east', 'iptables', 'rules.v4'), 'w'));
    fs.truncateSync(path.join(out, 'prod-east', 'iptables', 'rules.v4'), 64 * 1024 * 1024);
    const r = unchanged(work, () => check(out));
    assert.is(r.code, 1, r.stderr);
    assert.match(r.stdout, /^drift: prod-east\/nftables\/pipe is not a regular file, and portcullis writes nothing there$/m);
    assert.match(r.stdout, /^drift: prod-east\/iptables\/rules\.v4 is larger than 32 MiB$/m);
  });
});

test('--check shows control characters in file names and drifted text quoted, never raw', () => {
  compiled((out, work) => {
    fs.writeFileSync(path.join(out, 'prod-east', 'nftables', 'x\x1b]0;pwned\x07'), 'evil \x1b[2J text\n');
    const r = unchanged(work, () => check(out));
    assert.is(r.code, 1, r.stderr);
    assert.not.match(r.stdout + r.stderr, /[\x1b\x07]/);
    assert.match(r.stdout, /^--- a\/prod-east\/nftables\/x\\x1b\]0;pwned\\x07$/m);
    assert.match(r.stdout, /^-evil \\x1b\[2J text$/m);
  });
});

test('--check against an out-dir that does not exist: exit 1, and it is not created', () => {
  const work = tmpDir();
  try {
    const out = path.join(work, 'never');
    const r = check(out, '--target', 'nftables');
    assert.is(r.code, 1, r.stderr);
    assert.match(r.stdout, new RegExp(`^\\+\\+\\+ b/${NFT}$`, 'm'));
    assert.equal(listing(work), []);
  } finally {
    rmTree(work);
  }
});

test('--check after a policy change shows the change, and a compile then makes --check pass', () => {
  compiled((out, work) => {
    const profile = path.join(work, 'p.yaml');
    fs.writeFileSync(profile, fs.readFileSync(EXAMPLE, 'utf8').replace('ldap_port: 636', 'ldap_port: 389'));
    const r = unchanged(work, () => runCli(['compile', '--profile', profile, '--out-dir', out, '--check', '--target', 'nftables']));
    assert.is(r.code, 1, r.stderr);
    assert.match(r.stdout, /^-# Params: dynamic_ports=20000-65535 ldap_port=636 smtp_port=587$/m);
    assert.match(r.stdout, /^\+# Params: dynamic_ports=20000-65535 ldap_port=389 smtp_port=587$/m);
    assert.is(runCli(['compile', '--profile', profile, '--out-dir', out, '--target', 'nftables']).code, 0);
    assert.is(runCli(['compile', '--profile', profile, '--out-dir', out, '--check', '--target', 'nftables']).code, 0);
  });
});

test('--check with bad input: exit 2, no diff, nothing written', () => {
  compiled((out, work) => {
    fs.writeFileSync(path.join(out, NFT), 'drifted\n');
    const r = unchanged(work, () => runCli(['compile', '--profile', fixture('profiles', 'bad', 'v4-host-bits.yaml'), '--out-dir', out, '--check']));
    assert.is(r.code, 2, r.stderr);
    assert.is(r.stdout, '');
    assert.match(r.stderr, /v4-host-bits\.yaml:9:7: error: /);
    assertNoStack(r.stderr);
  });
});

test('--check with an unreadable profile: exit 2, nothing written', () => {
  compiled((out, work) => {
    const r = unchanged(work, () => runCli(['compile', '--profile', path.join(work, 'nope.yaml'), '--out-dir', out, '--check']));
    assert.is(r.code, 2, r.stderr);
    assertNoStack(r.stderr);
  });
});

test('--stdout writes nothing to disk (default out-dir, explicit out-dir)', () => {
  const work = tmpDir();
  try {
    // cwd = an empty directory: the default --out-dir ("out") must not appear.
    const a = runCli(['compile', '--profile', EXAMPLE, '--stdout'], { cwd: work });
    assert.is(a.code, 0, a.stderr);
    assert.match(a.stdout, /^table inet portcullis \{$/m);
    assert.equal(listing(work), []);
    const b = runCli(['compile', '--profile', EXAMPLE, '--stdout', '--out-dir', path.join(work, 'o')], { cwd: work });
    assert.is(b.code, 0, b.stderr);
    assert.equal(listing(work), []);
    assert.is(b.stdout, a.stdout);
  } finally {
    rmTree(work);
  }
});

test('--stdout of one target prints exactly the file that compile writes', () => {
  compiled((out) => {
    const r = runCli(['compile', '--profile', EXAMPLE, '--target', 'nftables', '--stdout']);
    assert.is(r.code, 0, r.stderr);
    assert.is(r.stdout, readTree(out).get(NFT));
  });
});

test('a successful compile leaves no staging or backup directories behind', () => {
  compiled((out) => {
    // Once more over the existing tree, which exercises the swap.
    assert.is(runCli(['compile', '--profile', EXAMPLE, '--out-dir', out]).code, 0);
    const hidden = listing(out).filter((p) => p.split('/').some((s) => s.startsWith('.') || /staging|old-\d+/.test(s)));
    assert.equal(hidden, []);
  });
});

test.run();
