// Temporary directories and byte-exact snapshots of directory trees, for
// asserting that a command wrote nothing (or exactly what it should).
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';

export function tmpDir(prefix = 'portcullis-test-'): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), prefix));
}

export function rmTree(dir: string): void {
  fs.rmSync(dir, { recursive: true, force: true });
}

export interface TreeEntry {
  /** '/'-separated, relative to the snapshot root; directories end in '/'. */
  path: string;
  kind: 'file' | 'dir' | 'link' | 'other';
  mtimeMs: number;
  mode: number;
  /** Files only: the bytes, base64. */
  content?: string;
}

/** Every entry under dir (hidden ones included), sorted, with file bytes and mtimes. */
export function snapshot(dir: string): TreeEntry[] {
  const out: TreeEntry[] = [];
  const walk = (abs: string, rel: string) => {
    for (const name of fs.readdirSync(abs).sort()) {
      const a = path.join(abs, name);
      const r = rel ? `${rel}/${name}` : name;
      const st = fs.lstatSync(a);
      if (st.isSymbolicLink()) out.push({ path: r, kind: 'link', mtimeMs: st.mtimeMs, mode: st.mode });
      else if (st.isDirectory()) {
        out.push({ path: `${r}/`, kind: 'dir', mtimeMs: st.mtimeMs, mode: st.mode });
        walk(a, r);
      } else if (st.isFile()) out.push({ path: r, kind: 'file', mtimeMs: st.mtimeMs, mode: st.mode, content: fs.readFileSync(a).toString('base64') });
      else out.push({ path: r, kind: 'other', mtimeMs: st.mtimeMs, mode: st.mode });
    }
  };
  if (fs.existsSync(dir)) walk(dir, '');
  return out;
}

/** Paths only (directories end in '/'), for readable assertion messages. */
export function listing(dir: string): string[] {
  return snapshot(dir).map((e) => e.path);
}

/** Files under dir as relative path -> utf8 content. */
export function readTree(dir: string): Map<string, string> {
  const m = new Map<string, string>();
  for (const e of snapshot(dir)) if (e.kind === 'file') m.set(e.path, Buffer.from(e.content!, 'base64').toString('utf8'));
  return m;
}
