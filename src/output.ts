// Writing and checking the output tree DIR/<env>/<target>/...
//
// A compile replaces each DIR/<env>/ as a whole, so a failure at any step
// leaves the old tree exactly as it was: a complete new env tree is staged
// next to it (the targets this run writes, new; every other entry carried
// over unchanged as hard links), then swapped in by two renames, which are
// rolled back on failure. A lock file (DIR/.portcullis.lock, holding the pid)
// serializes compiles into one DIR; under it, leftovers of a crashed run are
// removed, or renamed back when the crash came between the two renames.
//
// Neither writing nor checking goes through a symbolic link below DIR.

import * as fs from 'fs';
import * as path from 'path';
import type { OutputEntry } from './compile';
import { visible, visibleLine } from './terminal';

export class OutputError extends Error {}

export const LOCK_NAME = '.portcullis.lock';
/** How long a compile waits for another one holding the lock on the same
 * out-dir (a compile holds it for well under a second). */
const DEFAULT_LOCK_WAIT_MS = 30_000;
/** Files on disk larger than this are reported as drift, not read. */
const MAX_CHECKED_FILE_BYTES = 32 * 1024 * 1024;

const STAGING = /^\.(.+)\.portcullis-(new|old)-(\d+)-[0-9a-f]+$/;
const LOCK_TEMP = /^\.portcullis\.lock\.(?:stale-)?(\d+)-[0-9a-f]+$/;
/** Leftovers of versions that swapped target directories one by one. */
const OLD_STYLE_LEFTOVER = /^(?:\..+\.staging-\d+|.+\.old-\d+)$/;

/** A relative path of plain names: no empty, '.' or '..' component, no NUL. */
const PLAIN_RELATIVE = /^(?!\.\.?(?:\/|$))[^/\0]+(?:\/(?!\.\.?(?:\/|$))[^/\0]+)*$/;

/** Resolve a relative output path, refusing anything that leaves outDir. */
function inside(outDir: string, rel: string): string {
  const root = path.resolve(outDir);
  // The common case without path.resolve: plain names, no '.' or '..'.
  if (PLAIN_RELATIVE.test(rel)) return root === path.sep ? root + rel : root + path.sep + rel;
  const full = path.resolve(root, rel);
  if (full !== root && !full.startsWith(root + path.sep)) throw new OutputError(`error: refusing to write outside --out-dir: ${visibleLine(rel)}`);
  return full;
}

/** A checker of paths below outDir: the first component of rel that is a
 * symbolic link, or not a directory where one is needed (only the last
 * component may be a file). Each component is looked at once per checker,
 * so the files of one directory share its components' checks. With
 * dirsOnly, only the directories above rel's last component are looked at. */
function obstacleChecker(outDir: string): (rel: string, dirsOnly?: boolean) => { at: string; what: string } | undefined {
  const root = path.resolve(outDir);
  /** Per component path: what it is, as far as obstacles go. */
  const seen = new Map<string, 'missing' | 'link' | 'dir' | 'other'>();
  const kind = (at: string) => {
    let k = seen.get(at);
    if (k === undefined) {
      let st: fs.Stats | undefined;
      try {
        st = fs.lstatSync(path.join(root, at));
      } catch {
        st = undefined;
      }
      k = !st ? 'missing' : st.isSymbolicLink() ? 'link' : st.isDirectory() ? 'dir' : 'other';
      seen.set(at, k);
    }
    return k;
  };
  return (rel, dirsOnly = false) => {
    const parts = rel.split('/').filter(Boolean);
    let at = '';
    for (let i = 0; i < parts.length - (dirsOnly ? 1 : 0); i++) {
      at = i ? `${at}/${parts[i]}` : parts[i];
      const k = kind(at);
      if (k === 'missing') return undefined;
      if (k === 'link') return { at, what: 'a symbolic link' };
      if (i < parts.length - 1 && k !== 'dir') return { at, what: 'not a directory' };
    }
    return undefined;
  };
}

/** Target directories ("<env>/<target>") the entries belong to. */
function targetDirs(entries: OutputEntry[]): string[] {
  return [...new Set(entries.map((e) => e.path.split('/').slice(0, 2).join('/')))].sort();
}

function listFiles(dir: string, prefix = ''): string[] {
  let names: fs.Dirent[];
  try {
    names = fs.readdirSync(dir, { withFileTypes: true });
  } catch {
    return [];
  }
  // Symbolic links are listed (as drift) but never followed or read.
  return names.flatMap((d) =>
    d.isDirectory() && !d.isSymbolicLink() ? listFiles(path.join(dir, d.name), `${prefix}${d.name}/`) : [`${prefix}${d.name}`],
  );
}

function lstatOrUndefined(p: string): fs.Stats | undefined {
  try {
    return fs.lstatSync(p);
  } catch {
    return undefined;
  }
}

const exists = (p: string) => lstatOrUndefined(p) !== undefined;

/** Removing what is no longer needed is best effort: what stays (say, an
 * immutable directory) is a leftover the next run tries again. */
function removeQuietly(p: string): void {
  try {
    removeTree(p);
    return;
  } catch {
    // anything unusual (a type readdir cannot tell, a race): the general way
  }
  try {
    fs.rmSync(p, { recursive: true, force: true });
  } catch {
    // left for the next run
  }
}

/** p and everything below it, links removed not followed. The trees removed
 * are portcullis's own (staging, the old env): a readdir per directory and no
 * failed rmdir per level, which is what makes fs.rmSync slow on many small
 * trees. Throws on anything it does not expect. */
function removeTree(p: string): void {
  for (const d of fs.readdirSync(p, { withFileTypes: true })) {
    const child = path.join(p, d.name);
    if (d.isDirectory()) removeTree(child);
    else fs.unlinkSync(child);
  }
  fs.rmdirSync(p);
}

/** Unique among live processes by the pid; the random part keeps names of
 * one run apart. */
const suffix = () => `${process.pid}-${Math.floor(Math.random() * 0x100000000).toString(16).padStart(8, '0')}`;

export interface WriteOptions {
  /** Called once when another compile holds the out-dir's lock and this one waits. */
  onWait?: (message: string) => void;
}

/** The environments written, and those left alone because their target
 * directories already held exactly these files (their files keep their
 * times, so tools that look at mtimes see no change). */
export interface WriteResult {
  written: string[];
  unchanged: string[];
}

export function writeOutputs(outDir: string, entries: OutputEntry[], options: WriteOptions = {}): WriteResult {
  const created: string[] = [];
  let before: fs.Stats | undefined;
  try {
    before = fs.statSync(outDir);
  } catch {
    before = undefined;
  }
  try {
    return writeAll(outDir, entries, created, options);
  } catch (e) {
    // The out-dir (and parents) this run created go too, and an existing
    // out-dir gets its times back (staging and the lock file touched it).
    for (const d of created.reverse()) {
      try {
        fs.rmdirSync(d);
      } catch {
        break;
      }
    }
    if (before?.isDirectory()) {
      try {
        fs.utimesSync(outDir, before.atimeMs / 1000, before.mtimeMs / 1000);
      } catch {
        // only cosmetic
      }
    }
    if (e instanceof OutputError) throw e;
    const err = e as NodeJS.ErrnoException;
    if (!err.code) throw e;
    const why =
      err.code === 'ENOTDIR'
        ? 'a path component is a file, not a directory'
        : err.code === 'EACCES' || err.code === 'EPERM'
          ? 'permission denied'
          : err.code === 'EROFS'
            ? 'read-only file system'
            : err.code === 'ENOSPC'
              ? 'no space left on the device'
              : err.code;
    throw new OutputError(`error: cannot write to --out-dir ${visibleLine(outDir)}: ${why} (${visibleLine(err.path ?? outDir)}); nothing written`);
  }
}

function writeAll(outDir: string, entries: OutputEntry[], created: string[], options: WriteOptions): WriteResult {
  const root = path.resolve(outDir);
  if (fs.existsSync(root) && !fs.statSync(root).isDirectory()) throw new OutputError(`error: --out-dir ${visibleLine(outDir)} is not a directory; nothing written`);
  const envs = new Map<string, Set<string>>();
  const envEntries = new Map<string, OutputEntry[]>();
  for (const e of entries) {
    const parts = e.path.split('/');
    // A leading dot is kept for portcullis's own staging and lock names.
    if (parts.length < 3 || parts[0].startsWith('.') || parts.some((p) => !p || p === '.' || p === '..' || p.includes('\0'))) throw new OutputError(`error: refusing to write a bad output path: ${visibleLine(e.path)}`);
    inside(root, e.path);
    if (!envs.has(parts[0])) {
      envs.set(parts[0], new Set());
      envEntries.set(parts[0], []);
    }
    envs.get(parts[0])!.add(parts[1]);
    envEntries.get(parts[0])!.push(e);
  }
  const blocking = obstacleChecker(root);
  for (const [env, targets] of envs) {
    const st = lstatOrUndefined(path.join(root, env));
    if (st && !st.isDirectory())
      throw new OutputError(
        `error: cannot write ${visibleLine(path.join(outDir, env))}: it is ${st.isSymbolicLink() ? 'a symbolic link, which portcullis never writes through' : 'a file, not a directory'}; nothing written`,
      );
    // A committed link in place of a target directory is refused rather than replaced.
    for (const t of targets) if (blocking(`${env}/${t}`)?.what === 'a symbolic link') throw new OutputError(`error: refusing to write through a symbolic link: ${visibleLine(path.join(outDir, env, t))}; nothing written`);
  }
  mkdirsRecording(root, created);
  const lock = acquireLock(root, outDir, options.onWait);
  const result: WriteResult = { written: [], unchanged: [] };
  try {
    cleanLeftovers(root);
    const staged: { env: string; staging: string }[] = [];
    try {
      for (const [env, targets] of envs) {
        // Under the lock, so no other compile changes it meanwhile.
        if (unchangedOnDisk(root, envEntries.get(env)!) && !hasOldStyleLeftovers(path.join(root, env))) {
          result.unchanged.push(env);
          continue;
        }
        const staging = path.join(root, `.${env}.portcullis-new-${suffix()}`);
        fs.mkdirSync(staging);
        staged.push({ env, staging });
        stageEnv(path.join(root, env), staging, targets, envEntries.get(env)!);
        result.written.push(env);
      }
      lock.assertHeld();
      swapIn(root, staged);
    } catch (e) {
      for (const s of staged) removeQuietly(s.staging);
      throw e;
    }
  } finally {
    lock.release();
  }
  return result;
}

/** Whether envDir holds leftovers of older versions (removed by a rewrite). */
function hasOldStyleLeftovers(envDir: string): boolean {
  return fs.readdirSync(envDir, { withFileTypes: true }).some((d) => d.isDirectory() && OLD_STYLE_LEFTOVER.test(d.name));
}

function mkdirsRecording(dir: string, created: string[]): void {
  const missing: string[] = [];
  for (let d = dir; !fs.existsSync(d); d = path.dirname(d)) missing.unshift(d);
  for (const d of missing) {
    fs.mkdirSync(d);
    created.push(d);
  }
}

/** The new env tree in staging: old entries carried over, then the new targets. */
function stageEnv(envDir: string, staging: string, targets: Set<string>, entries: OutputEntry[]): void {
  const old = lstatOrUndefined(envDir);
  // Checked again under the lock: never read through a link swapped in meanwhile.
  if (old && !old.isDirectory()) throw new OutputError(`error: cannot write ${visibleLine(envDir)}: it is ${old.isSymbolicLink() ? 'a symbolic link' : 'not a directory'}; nothing written`);
  if (old) {
    for (const d of fs.readdirSync(envDir, { withFileTypes: true })) {
      if (targets.has(d.name) || (d.isDirectory() && OLD_STYLE_LEFTOVER.test(d.name))) continue;
      carry(path.join(envDir, d.name), path.join(staging, d.name));
    }
  }
  const env = entries[0].path.split('/')[0];
  const made = new Set<string>();
  for (const e of entries) {
    const file = inside(staging, e.path.slice(env.length + 1));
    const dir = path.dirname(file);
    if (!made.has(dir)) {
      fs.mkdirSync(dir, { recursive: true });
      made.add(dir);
    }
    fs.writeFileSync(file, e.content, { flag: 'wx' });
  }
  if (old) fs.chmodSync(staging, old.mode & 0o7777);
}

/** A copy of src at dst that is byte-, mode- and mtime-identical: hard links
 * for everything but directories (links included: link(2) does not follow). */
function carry(src: string, dst: string): void {
  const st = fs.lstatSync(src);
  if (st.isDirectory()) {
    fs.mkdirSync(dst);
    for (const name of fs.readdirSync(src)) carry(path.join(src, name), path.join(dst, name));
    fs.chmodSync(dst, st.mode & 0o7777);
    fs.utimesSync(dst, st.atimeMs / 1000, st.mtimeMs / 1000);
    return;
  }
  try {
    fs.linkSync(src, dst);
  } catch (e) {
    // Hard links can be refused (fs.protected_hardlinks, link count): copy.
    if (st.isSymbolicLink()) {
      fs.symlinkSync(fs.readlinkSync(src), dst);
      fs.lutimesSync(dst, st.atimeMs / 1000, st.mtimeMs / 1000);
    } else if (st.isFile()) {
      fs.copyFileSync(src, dst, fs.constants.COPYFILE_EXCL);
      fs.chmodSync(dst, st.mode & 0o7777);
      fs.utimesSync(dst, st.atimeMs / 1000, st.mtimeMs / 1000);
    } else throw e;
  }
}

/** Each staged env replaces its env dir by two renames; any failure puts
 * every env back as it was. */
function swapIn(root: string, staged: { env: string; staging: string }[]): void {
  const done: { envDir: string; staging: string; old?: string; swapped: boolean }[] = [];
  try {
    for (const { env, staging } of staged) {
      const envDir = path.join(root, env);
      const step: (typeof done)[number] = { envDir, staging, swapped: false };
      if (exists(envDir)) {
        const old = path.join(root, `.${env}.portcullis-old-${suffix()}`);
        fs.renameSync(envDir, old);
        step.old = old;
      }
      done.push(step);
      fs.renameSync(staging, envDir);
      step.swapped = true;
    }
  } catch (e) {
    try {
      for (const s of done.reverse()) {
        if (s.swapped) fs.renameSync(s.envDir, s.staging);
        if (s.old) fs.renameSync(s.old, s.envDir);
      }
    } catch (again) {
      const code = (again as NodeJS.ErrnoException).code ?? String(again);
      throw new OutputError(
        `error: cannot write to --out-dir: ${(e as NodeJS.ErrnoException).code ?? e}, and putting the old tree back failed too (${code}); ` +
          'the next compile into this --out-dir restores it',
      );
    }
    throw e;
  }
  for (const s of done) if (s.old) removeQuietly(s.old);
}

/** Under the lock, no other run is writing: any staging or old tree is a
 * crashed run's. An old tree whose env dir is missing is the env as it was
 * (the crash came between the two renames), so it is renamed back. */
function cleanLeftovers(root: string): void {
  const names = fs.readdirSync(root).sort();
  for (const name of names) {
    const t = LOCK_TEMP.exec(name);
    if (t && !alive(Number(t[1]))) removeQuietly(path.join(root, name));
  }
  const olds = new Map<string, string[]>();
  for (const name of names) {
    const m = STAGING.exec(name);
    if (!m) continue;
    if (m[2] === 'new') removeQuietly(path.join(root, name));
    else olds.set(m[1], [...(olds.get(m[1]) ?? []), name]);
  }
  for (const [env, list] of olds) {
    let keep: string | undefined;
    if (!exists(path.join(root, env))) {
      // More than one only after several crashes: the newest rename wins.
      keep = list.reduce((a, b) => (fs.lstatSync(path.join(root, a)).ctimeMs >= fs.lstatSync(path.join(root, b)).ctimeMs ? a : b));
      fs.renameSync(path.join(root, keep), path.join(root, env));
    }
    for (const name of list) if (name !== keep) removeQuietly(path.join(root, name));
  }
}

// --- the lock ---------------------------------------------------------------

interface Lock {
  /** Throws unless the lock file is still the one this run made. */
  assertHeld(): void;
  release(): void;
}

function alive(pid: number): boolean {
  if (!Number.isSafeInteger(pid) || pid <= 0) return false;
  // Our own pid in a lock file is a dead run's that had the same pid.
  if (pid === process.pid) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

function lockWaitMs(): number {
  const v = Number(process.env.PORTCULLIS_LOCK_WAIT_MS);
  return Number.isFinite(v) && v >= 0 ? v : DEFAULT_LOCK_WAIT_MS;
}

function pause(ms: number): void {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}

/** The lock file's holder: its pid as written (NaN if unreadable), its inode;
 * undefined when there is no lock file. */
function lockHolder(file: string): { pid: number; ino: number } | undefined {
  let fd: number;
  try {
    fd = fs.openSync(file, fs.constants.O_RDONLY | fs.constants.O_NOFOLLOW | fs.constants.O_NONBLOCK);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw new OutputError(`error: the lock file ${visibleLine(file)} cannot be read (${(e as NodeJS.ErrnoException).code}); nothing written`);
  }
  try {
    const st = fs.fstatSync(fd);
    if (!st.isFile()) throw new OutputError(`error: the lock file ${visibleLine(file)} is not a regular file; nothing written`);
    const buf = Buffer.alloc(32);
    const n = fs.readSync(fd, buf, 0, buf.length, 0);
    const m = /^(\d+)\n$/.exec(buf.subarray(0, n).toString('latin1'));
    return { pid: m ? Number(m[1]) : NaN, ino: st.ino };
  } finally {
    fs.closeSync(fd);
  }
}

/** The lock file is made complete (the pid in it) and then linked into place,
 * so it is never seen empty; link(2) fails if it exists. */
function acquireLock(root: string, outDir: string, onWait?: (message: string) => void): Lock {
  const file = path.join(root, LOCK_NAME);
  const deadline = Date.now() + lockWaitMs();
  let told = false;
  for (;;) {
    const temp = path.join(root, `${LOCK_NAME}.${suffix()}`);
    fs.writeFileSync(temp, `${process.pid}\n`, { flag: 'wx' });
    const ino = fs.lstatSync(temp).ino;
    let got = false;
    try {
      fs.linkSync(temp, file);
      got = true;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
    } finally {
      fs.rmSync(temp, { force: true });
    }
    if (got) return heldLock(file, ino);
    const holder = lockHolder(file);
    if (!holder) continue;
    if (!alive(holder.pid)) {
      takeOver(file, holder);
      continue;
    }
    if (Date.now() >= deadline)
      throw new OutputError(
        `error: another compile (pid ${holder.pid}) is writing to --out-dir ${visibleLine(outDir)}: it holds ${visibleLine(file)}; nothing written\n` +
          '  hint: wait for it to finish; if no such compile is running, remove the lock file',
      );
    if (!told) onWait?.(`waiting for the compile with pid ${holder.pid}, which holds ${visibleLine(file)}`);
    told = true;
    pause(20);
  }
}

/** Moves a dead run's lock file aside and deletes it. If, in the meantime,
 * a live run had replaced it, that lock is put back (or, if a third run got
 * in first, the live run notices at assertHeld() and stops). */
function takeOver(file: string, stale: { pid: number; ino: number }): void {
  const aside = `${file}.stale-${suffix()}`;
  try {
    fs.renameSync(file, aside);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return;
    throw e;
  }
  const moved = lockHolder(aside);
  const same = moved && moved.ino === stale.ino && (moved.pid === stale.pid || (Number.isNaN(moved.pid) && Number.isNaN(stale.pid)));
  if (!same) {
    try {
      fs.linkSync(aside, file);
    } catch {
      // A third run holds the lock now; the one moved aside will see it lost.
    }
  }
  fs.rmSync(aside, { force: true });
}

function heldLock(file: string, ino: number): Lock {
  const mine = () => {
    try {
      return fs.lstatSync(file).ino === ino;
    } catch {
      return false;
    }
  };
  return {
    assertHeld() {
      if (!mine()) throw new OutputError(`error: another compile took over the lock ${visibleLine(file)}; nothing written`);
    },
    release() {
      if (mine()) fs.rmSync(file, { force: true });
    },
  };
}

// --- checking -----------------------------------------------------------------

/** A file's bytes as text, read only if it is a regular file (no link, no
 * FIFO) no larger than the limit; otherwise why it is not read. */
function readChecked(full: string): { text: string } | { why: string } {
  let fd: number;
  try {
    fd = fs.openSync(full, fs.constants.O_RDONLY | fs.constants.O_NOFOLLOW | fs.constants.O_NONBLOCK);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    return { why: code === 'ELOOP' ? 'a symbolic link' : `unreadable (${code})` };
  }
  try {
    const st = fs.fstatSync(fd);
    if (!st.isFile()) return { why: 'not a regular file' };
    if (st.size > MAX_CHECKED_FILE_BYTES) return { why: `larger than ${MAX_CHECKED_FILE_BYTES / (1024 * 1024)} MiB` };
    const buf = Buffer.alloc(st.size);
    let n = 0;
    while (n < st.size) {
      const r = fs.readSync(fd, buf, n, st.size - n, n);
      if (r === 0) break;
      n += r;
    }
    return { text: buf.subarray(0, n).toString('utf8') };
  } finally {
    fs.closeSync(fd);
  }
}

type Drift =
  | { kind: 'blocked'; at: string; what: string }
  | { kind: 'unread'; path: string; why: string; wanted: boolean }
  | { kind: 'differs'; path: string; have: string | undefined; want: string | undefined };

/** Every difference between what is on disk and what would be written, in
 * path order. Files on disk in a target directory that would no longer be
 * written count. Reading follows the rules of writing: nothing is read
 * through a symbolic link below outDir; a link (or a file where a directory
 * belongs) is a difference, reported without its content. */
function* drifts(outDir: string, entries: OutputEntry[]): Generator<Drift> {
  const wanted = new Map(entries.map((e) => [e.path, e.content]));
  const onDisk = new Set<string>();
  const blocked = new Map<string, string>();
  const listed = obstacleChecker(outDir);
  for (const rel of targetDirs(entries)) {
    const o = listed(rel);
    if (o) blocked.set(o.at, o.what);
    else for (const f of listFiles(inside(outDir, rel))) onDisk.add(`${rel}/${f}`);
  }
  for (const [at, what] of [...blocked].sort()) yield { kind: 'blocked', at, what };
  const under = (p: string) => [...blocked.keys()].some((b) => p === b || p.startsWith(b + '/'));
  // Checked again before reading, each component once (files are read in
  // path order, a directory's together): one may have changed since the
  // listing. The file itself is opened without following a link.
  const reading = obstacleChecker(outDir);
  for (const p of [...new Set([...wanted.keys(), ...onDisk])].sort()) {
    if (under(p)) continue;
    const want = wanted.get(p);
    let have: string | undefined;
    if (onDisk.has(p)) {
      const o = reading(p, true);
      const got = o ? { why: o.what } : readChecked(inside(outDir, p));
      if ('why' in got) {
        yield { kind: 'unread', path: p, why: got.why, wanted: want !== undefined };
        continue;
      }
      have = got.text;
    }
    if (want !== have) yield { kind: 'differs', path: p, have, want };
  }
}

/** Whether the target directories on disk hold exactly these files, byte for byte. */
function unchangedOnDisk(outDir: string, entries: OutputEntry[]): boolean {
  return drifts(outDir, entries).next().done === true;
}

/** Unified diff from what is on disk to what would be written; '' when equal. */
export function checkOutputs(outDir: string, entries: OutputEntry[]): string {
  const patches: string[] = [];
  for (const d of drifts(outDir, entries)) {
    if (d.kind === 'blocked') {
      patches.push(`drift: ${visibleLine(d.at)} is ${d.what}; portcullis does not read through it\n`);
      continue;
    }
    if (d.kind === 'unread') {
      patches.push(`drift: ${visibleLine(d.path)} is ${d.why}${d.wanted ? '' : ', and portcullis writes nothing there'}\n`);
      continue;
    }
    // Loaded only when there is drift to show.
    // eslint-disable-next-line @typescript-eslint/no-var-requires
    const { createTwoFilesPatch } = require('diff') as typeof import('diff');
    const name = visibleLine(d.path);
    patches.push(
      visible(createTwoFilesPatch(d.have === undefined ? '/dev/null' : `a/${name}`, d.want === undefined ? '/dev/null' : `b/${name}`, d.have ?? '', d.want ?? '', undefined, undefined, { context: 3 })),
    );
  }
  return patches.join('');
}
