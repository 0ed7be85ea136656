// Reading inputs named on the command line: a file, or a git object
// `REV:PATH`, so a PR job can compare with main.
//
// Every input is bounded before it is read (a regular file or a blob of at
// most MAX_INPUT_BYTES), and a name from the command line never reaches git
// where git could take it for an option.

import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';
import type { InputText } from './compile';
import { packagePath } from './paths';
import { visibleLine } from './terminal';

export class InputError extends Error {}

/** The largest input read, file or git blob: 32 MiB. A 10,000-node profile
 * (bench/scale-profile.js) is about 340 KiB, so this is ~100 times what a
 * real site needs, yet small enough that reading and parsing stay bounded. */
export const MAX_INPUT_BYTES = 32 * 1024 * 1024;

const MiB = (n: number) => `${(n / (1024 * 1024)).toFixed(1)} MiB`;

/** Built-in catalogs, by the name `--catalog NAME` takes: each is
 * catalog/<name>.yaml of the package. A fixed list: the name chooses an
 * entry, never a path. */
export const BUILTIN_CATALOGS = ['thoughtspot', 'rke2'] as const;

/** `--catalog`: a file, a git object REV:PATH (where `git` allows it), or
 * the name of a built-in catalog when no file has that name. */
export function readCatalogSpec(spec: string, git: boolean): InputText {
  refuseOptionShaped(spec);
  if (/^[a-z][a-z0-9_-]{0,30}$/.test(spec) && !fs.existsSync(spec)) {
    if (!(BUILTIN_CATALOGS as readonly string[]).includes(spec))
      throw new InputError(`${visibleLine(spec)}: error: no such file, and no built-in catalog of that name\n  hint: built-in catalogs: ${BUILTIN_CATALOGS.join(', ')}; or give the path of a catalog file`);
    const file = packagePath('catalog', `${spec}.yaml`);
    const text = readFile(file).text;
    return { path: path.relative(process.cwd(), file) || file, text };
  }
  return git ? readSpec(spec) : readFile(spec);
}

/** A file, or (when no such file exists and it has the shape REV:PATH) a git blob. */
export function readSpec(spec: string): InputText {
  refuseOptionShaped(spec);
  if (fs.existsSync(spec) || !/^[^:]+:.+$/.test(spec)) return readFile(spec);
  return readGitBlob(spec);
}

export function readFile(file: string): InputText {
  refuseOptionShaped(file);
  const name = visibleLine(file);
  let fd: number;
  try {
    // O_NONBLOCK: opening a FIFO must not wait for a writer; it is refused below.
    fd = fs.openSync(file, fs.constants.O_RDONLY | fs.constants.O_NONBLOCK);
  } catch (e) {
    throw new InputError(`${name}: error: cannot read file: ${errnoText(e)}`);
  }
  try {
    const st = fs.fstatSync(fd);
    if (!st.isFile()) throw new InputError(`${name}: error: cannot read file: ${kindOf(st)}, not a regular file`);
    if (st.size > MAX_INPUT_BYTES) throw tooLarge(name, st.size);
    // Read at most one byte past the limit: the file may grow after fstat(),
    // and files like those in /proc report size 0.
    const chunks: Buffer[] = [];
    let total = 0;
    for (;;) {
      const buf = Buffer.allocUnsafe(Math.min(Math.max(st.size - total, 0) + 65536, MAX_INPUT_BYTES + 1 - total));
      if (!buf.length) throw tooLarge(name, total);
      const n = fs.readSync(fd, buf, 0, buf.length, null);
      if (n === 0) break;
      chunks.push(buf.subarray(0, n));
      total += n;
      if (total > MAX_INPUT_BYTES) throw tooLarge(name, total);
    }
    return { path: file, text: Buffer.concat(chunks, total).toString('utf8') };
  } catch (e) {
    if (e instanceof InputError) throw e;
    throw new InputError(`${name}: error: cannot read file: ${errnoText(e)}`);
  } finally {
    fs.closeSync(fd);
  }
}

/** `REV:PATH` from the repository of the working directory. The spec only
 * ever follows `--end-of-options`; git resolves it to an object id, and the
 * later commands get only that id (40 or 64 hex digits, never an option). */
function readGitBlob(spec: string): InputText {
  const name = visibleLine(spec);
  const resolved = git(name, ['rev-parse', '--verify', '--quiet', '--end-of-options', spec]);
  const oid = resolved.stdout.toString('latin1').trim();
  if (resolved.status !== 0 || !/^(?:[0-9a-f]{40}|[0-9a-f]{64})$/.test(oid))
    throw new InputError(`${name}: error: not a file, and git cannot resolve it as REV:PATH in the repository here`);
  const meta = git(name, ['cat-file', '--batch-check=%(objecttype) %(objectsize)'], `${oid}\n`);
  const m = /^(\w+) (\d+)\n?$/.exec(meta.stdout.toString('latin1'));
  if (meta.status !== 0 || !m) throw new InputError(`${name}: error: git cannot read object ${oid}`);
  if (m[1] !== 'blob') throw new InputError(`${name}: error: it names a git ${m[1]}, not a file (give REV:PATH of a file)`);
  const size = Number(m[2]);
  if (size > MAX_INPUT_BYTES) throw tooLarge(name, size);
  const blob = git(name, ['cat-file', 'blob', oid], undefined, size + 1);
  if (blob.status !== 0 || blob.stdout.length !== size) throw new InputError(`${name}: error: git cannot read blob ${oid}`);
  return { path: spec, text: blob.stdout.toString('utf8') };
}

function git(name: string, args: string[], input?: string, maxBuffer = 1024 * 1024): { status: number | null; stdout: Buffer } {
  const r = spawnSync('git', args, { input, maxBuffer, stdio: ['pipe', 'pipe', 'pipe'] });
  if (r.error) {
    const code = (r.error as NodeJS.ErrnoException).code;
    if (code === 'ENOBUFS') throw tooLarge(name, maxBuffer);
    throw new InputError(`${name}: error: cannot run git to read it: ${code ?? r.error.message}`);
  }
  return { status: r.status, stdout: r.stdout };
}

/** A name starting with '-' is never a revision, and refusing it everywhere
 * means no tool can ever take an input name for an option. */
function refuseOptionShaped(spec: string): void {
  if (spec === '') throw new InputError("error: an input name is empty (a lone '-' is not standard input here; give a file)");
  if (spec.includes('\0')) throw new InputError(`${visibleLine(spec)}: error: an input name cannot contain a NUL character`);
  if (spec.startsWith('-'))
    throw new InputError(
      `${visibleLine(spec)}: error: an input name cannot start with '-' (it could be read as an option)\n` +
        `  hint: for a file whose name starts with '-', write ./${visibleLine(spec)}`,
    );
}

function tooLarge(name: string, size: number): InputError {
  return new InputError(`${name}: error: input too large (${size > MAX_INPUT_BYTES + 1 ? MiB(size) : `more than ${MiB(MAX_INPUT_BYTES)}`}; the limit is ${MiB(MAX_INPUT_BYTES)})`);
}

function kindOf(st: fs.Stats): string {
  if (st.isDirectory()) return 'it is a directory';
  if (st.isFIFO()) return 'it is a FIFO (named pipe)';
  if (st.isCharacterDevice()) return 'it is a character device';
  if (st.isBlockDevice()) return 'it is a block device';
  if (st.isSocket()) return 'it is a socket';
  return 'it is a special file';
}

function errnoText(e: unknown): string {
  const code = (e as NodeJS.ErrnoException).code;
  if (code === 'ENOENT') return 'no such file';
  if (code === 'EISDIR') return 'it is a directory';
  if (code === 'EACCES' || code === 'EPERM') return 'permission denied';
  if (code === 'ENOTDIR') return 'a path component is not a directory';
  return code ?? String(e);
}
