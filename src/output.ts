// Writing and checking the output tree. Writes are all-or-nothing per run:
// every target directory is staged next to its final place and swapped in
// by rename only once all of them are written.

import * as fs from 'fs';
import * as path from 'path';
import type { OutputEntry } from './compile';

export class OutputError extends Error {}

/** Resolve a relative output path, refusing anything that leaves outDir. */
function inside(outDir: string, rel: string): string {
  const root = path.resolve(outDir);
  const full = path.resolve(root, rel);
  if (full !== root && !full.startsWith(root + path.sep)) throw new OutputError(`error: refusing to write outside --out-dir: ${rel}`);
  return full;
}

/** Refuse symlinks on the way down from outDir, so a link cannot redirect writes. */
function assertNoLinks(outDir: string, rel: string): void {
  let cur = path.resolve(outDir);
  for (const part of rel.split('/').filter(Boolean)) {
    cur = path.join(cur, part);
    let st: fs.Stats;
    try {
      st = fs.lstatSync(cur);
    } catch {
      return;
    }
    if (st.isSymbolicLink()) throw new OutputError(`error: refusing to write through a symbolic link: ${cur}`);
  }
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

export function writeOutputs(outDir: string, entries: OutputEntry[]): void {
  try {
    writeAll(outDir, entries);
  } catch (e) {
    if (e instanceof OutputError) throw e;
    const err = e as NodeJS.ErrnoException;
    if (!err.code) throw e;
    const why = err.code === 'ENOTDIR' ? 'a path component is a file, not a directory' : err.code === 'EACCES' || err.code === 'EPERM' ? 'permission denied' : err.code;
    throw new OutputError(`error: cannot write to --out-dir ${outDir}: ${why} (${err.path ?? outDir}); nothing written`);
  }
}

function writeAll(outDir: string, entries: OutputEntry[]): void {
  if (fs.existsSync(outDir) && !fs.statSync(outDir).isDirectory()) throw new OutputError(`error: --out-dir ${outDir} is not a directory; nothing written`);
  const dirs = targetDirs(entries);
  const staged: { staging: string; final: string }[] = [];
  try {
    for (const rel of dirs) {
      assertNoLinks(outDir, rel);
      const final = inside(outDir, rel);
      const staging = inside(outDir, `${path.posix.dirname(rel)}/.${path.posix.basename(rel)}.staging-${process.pid}`);
      fs.rmSync(staging, { recursive: true, force: true });
      fs.mkdirSync(staging, { recursive: true });
      staged.push({ staging, final });
      for (const e of entries.filter((x) => x.path.startsWith(rel + '/'))) {
        const file = inside(staging, e.path.slice(rel.length + 1));
        fs.mkdirSync(path.dirname(file), { recursive: true });
        fs.writeFileSync(file, e.content);
      }
    }
  } catch (e) {
    for (const s of staged) fs.rmSync(s.staging, { recursive: true, force: true });
    throw e;
  }
  for (const { staging, final } of staged) {
    const old = `${final}.old-${process.pid}`;
    if (fs.existsSync(final)) fs.renameSync(final, old);
    fs.renameSync(staging, final);
    fs.rmSync(old, { recursive: true, force: true });
  }
}

/** Unified diff from what is on disk to what would be written; '' when equal.
 * Files on disk in a target directory that would no longer be written count as drift. */
export function checkOutputs(outDir: string, entries: OutputEntry[]): string {
  const patches: string[] = [];
  const wanted = new Map(entries.map((e) => [e.path, e.content]));
  const onDisk = new Set<string>();
  for (const rel of targetDirs(entries)) for (const f of listFiles(inside(outDir, rel))) onDisk.add(`${rel}/${f}`);
  for (const p of [...new Set([...wanted.keys(), ...onDisk])].sort()) {
    const want = wanted.get(p);
    const full = inside(outDir, p);
    if (onDisk.has(p) && !fs.lstatSync(full).isFile()) {
      patches.push(`drift: ${p} is ${fs.lstatSync(full).isSymbolicLink() ? 'a symbolic link' : 'not a regular file'}${want === undefined ? ', and portcullis writes nothing there' : ''}\n`);
      continue;
    }
    const have = onDisk.has(p) ? fs.readFileSync(full, 'utf8') : undefined;
    if (want === have) continue;
    // Loaded only when there is drift to show.
    // eslint-disable-next-line @typescript-eslint/no-var-requires
    const { createTwoFilesPatch } = require('diff') as typeof import('diff');
    patches.push(
      createTwoFilesPatch(have === undefined ? '/dev/null' : `a/${p}`, want === undefined ? '/dev/null' : `b/${p}`, have ?? '', want ?? '', undefined, undefined, { context: 3 }),
    );
  }
  return patches.join('');
}
