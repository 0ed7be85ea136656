// Several profiles in one run: what `--profile` names (a file, a directory,
// or a pattern portcullis expands itself), and the optional project file
// `portcullis.yaml` that names a repository's profiles, catalog, targets
// and output directory so `portcullis compile` needs no arguments.
//
// Patterns are matched here, without a shell: `*` (any run of characters)
// and `?` (one character) in the last path segment only; like a shell, they
// do not match a leading '.'. A directory gives its *.yaml, *.yml and *.json
// files (not recursive). Both are sorted by code point, so the order of
// environments never depends on the locale.
//
// Paths in a project file are relative to its directory and stay inside it:
// absolute paths and '..' are refused, and every file and directory they
// reach is resolved (symbolic links followed) and must lie below it.

import * as fs from 'fs';
import * as path from 'path';
import { CompileError, Diagnostic, quoteText, SourceText } from './diagnostics';
import { projectSchema } from './load/schemas';
import { generatedValidator, shapeDiagnostics, ShapeWording } from './load/validate';
import { parseYaml, ParsedDoc } from './load/yaml';
import { BUILTIN_CATALOGS, readFile } from './sources';
import { visibleLine } from './terminal';

export const PROJECT_FILE = 'portcullis.yaml';

const PROFILE_EXTENSIONS = /\.(?:ya?ml|json)$/;

/** Code-point order (not the locale's). */
const byCodePoint = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);

export function hasWildcard(s: string): boolean {
  return /[*?]/.test(s);
}

/** Whether a file name matches a pattern of one path segment: `*` any run
 * of characters, `?` one character (code points), a leading '.' only by a
 * pattern that starts with one. Not a regular expression: `*a*a*a*a*b` on
 * a long name made one backtrack for minutes. This scan goes back only to
 * the last `*` seen, so it takes at most pattern length x name length steps. */
export function matchSegment(pattern: string, name: string): boolean {
  return segmentPattern(pattern).test(name);
}

const SURROGATE = /[\uD800-\uDFFF]/;

/** A pattern of one path segment, as a matcher (see matchSegment). */
export function segmentPattern(segment: string): { test(name: string): boolean } {
  // By code point ('?' is one character, an emoji too); indexing a string
  // is the same when it holds no surrogates.
  const p: string | string[] = SURROGATE.test(segment) ? [...segment] : segment;
  const dotOnly = !segment.startsWith('.');
  return {
    test(name: string): boolean {
      if (dotOnly && name.startsWith('.')) return false;
      const n: string | string[] = SURROGATE.test(name) ? [...name] : name;
      let i = 0;
      let j = 0;
      let star = -1;
      let resume = 0;
      while (j < n.length) {
        if (i < p.length && p[i] === '*') {
          star = i++;
          resume = j;
        } else if (i < p.length && (p[i] === '?' || p[i] === n[j])) {
          i++;
          j++;
        } else if (star >= 0) {
          // The last '*' takes one more character; nothing before it needs redoing.
          i = star + 1;
          j = ++resume;
        } else return false;
      }
      while (i < p.length && p[i] === '*') i++;
      return i === p.length;
    },
  };
}

/** What one spec names, or why it names nothing. */
export type Expansion = { files: string[] } | { error: string; hint?: string };

function isDir(p: string): boolean {
  try {
    return fs.statSync(p).isDirectory();
  } catch {
    return false;
  }
}

/** Directory listings already read, by absolute path: a project file's
 * thousand patterns over one big directory read it once. */
export type Listings = Map<string, fs.Dirent[]>;

function entries(dir: string, listings?: Listings): fs.Dirent[] {
  const known = listings?.get(dir);
  if (known) return known;
  let list: fs.Dirent[];
  try {
    list = fs.readdirSync(dir, { withFileTypes: true });
  } catch {
    list = [];
  }
  listings?.set(dir, list);
  return list;
}

/** A dirent that is (or links to) a directory is never a profile. */
function notDirectory(dir: string, d: fs.Dirent): boolean {
  if (d.isDirectory()) return false;
  return !(d.isSymbolicLink() && isDir(path.join(dir, d.name)));
}

/** The files a `--profile` (or project `profiles:`) entry names; `base`
 * resolves relative specs (the files keep the spec's own spelling). */
export function expandSpec(spec: string, base = '.', listings?: Listings): Expansion {
  const full = path.resolve(base, spec);
  const join = (name: string) => (spec.endsWith('/') ? `${spec}${name}` : `${spec}/${name}`);
  if (isDir(full)) {
    const files = entries(full, listings)
      .filter((d) => PROFILE_EXTENSIONS.test(d.name) && !d.name.startsWith('.') && notDirectory(full, d))
      .map((d) => d.name)
      .sort(byCodePoint)
      .map(join);
    if (!files.length) return { error: 'cannot read file: it is a directory with no profile in it', hint: 'a directory gives its *.yaml, *.yml and *.json files (not those of its subdirectories)' };
    return { files };
  }
  if (!hasWildcard(spec) || fs.existsSync(full)) return { files: [spec] };
  const slash = spec.lastIndexOf('/');
  const dirPart = slash >= 0 ? spec.slice(0, slash + 1) : '';
  const namePart = spec.slice(slash + 1);
  if (hasWildcard(dirPart)) return { error: "a pattern may use '*' and '?' in the file name only", hint: 'name the directory itself, or list the files' };
  if (!namePart) return { error: 'the pattern names no file' };
  const dir = path.resolve(base, dirPart || '.');
  if (!isDir(dir)) return { error: `no such directory ${quoteText(dirPart)}` };
  const re = segmentPattern(namePart);
  const files = entries(dir, listings)
    .filter((d) => re.test(d.name) && notDirectory(dir, d))
    .map((d) => d.name)
    .sort(byCodePoint)
    // A name a pattern found is never taken for an option ('-x.yaml').
    .map((name) => (dirPart || (name.startsWith('-') ? './' : '')) + name);
  if (!files.length) return { error: 'the pattern matches no file', hint: "portcullis matches '*' and '?' in the file name itself (quote the pattern so the shell leaves it alone)" };
  return { files };
}

/** Every spec expanded, in order, each file once (the first time it is
 * named); messages for specs that name nothing. */
export function expandSpecs(specs: string[], base = '.'): { files: string[]; errors: string[] } {
  const files: string[] = [];
  const seen = new Set<string>();
  const errors: string[] = [];
  for (const spec of specs) {
    const x = expandSpec(spec, base);
    if ('error' in x) {
      errors.push(`${visibleLine(spec)}: error: ${x.error}${x.hint ? `\n  hint: ${x.hint}` : ''}`);
      continue;
    }
    for (const f of x.files) {
      const key = path.resolve(base, f);
      if (!seen.has(key)) {
        seen.add(key);
        files.push(f);
      }
    }
  }
  return { files, errors };
}

// ------------------------------------------------------------ project file

export interface Project {
  /** The project file, as read (relative to the working directory). */
  file: string;
  /** Its directory: every path in it is relative to this one. */
  dir: string;
  /** Profile files, relative to the working directory, in order. */
  profiles: string[];
  /** A catalog file (relative to the working directory) or a built-in catalog's name. */
  catalog?: string;
  /** A `--target` value: 'all' or a comma-separated list. */
  targets?: string;
  outDir?: string;
}

/** The standalone validator tools/generate.js wrote, when it matches the
 * schema of this build; else compiled with ajv (same options). */
const getValidator = generatedValidator('project', 'projectStamp', () => JSON.stringify(projectSchema), projectSchema, { allErrors: true, strict: true, verbose: true });

/** How the project file words its shape errors. A oneOf (targets) is
 * reported as itself unless errors below its value say more (an unknown
 * name in a list of targets); errors are listed in the schema's order. */
const WORDING: ShapeWording = {
  root: 'the project file',
  unknownKeyHint: () => `known keys: ${Object.keys(projectSchema.properties).join(', ')}`,
  missing: (_path, where, key) => ({ message: `${where} is missing the required key '${key}'`, hint: "profiles: a list of profile files, directories or patterns, e.g. ['envs/*.yaml']" }),
  oneOf: 'deepest',
  order: 'schema',
  maxListed: Infinity,
};

function validateProject(doc: ParsedDoc): Diagnostic[] {
  return shapeDiagnostics(doc, getValidator(), WORDING);
}

/** Whether `p` (absolute, resolved) is `root` or below it. */
function within(root: string, p: string): boolean {
  return p === root || p.startsWith(root.endsWith(path.sep) ? root : root + path.sep);
}

/** The real path of p, or of its deepest existing ancestor (p need not exist). */
function realOrAncestor(p: string): string {
  for (let cur = p; ; cur = path.dirname(cur)) {
    try {
      return path.join(fs.realpathSync(cur), path.relative(cur, p));
    } catch {
      if (path.dirname(cur) === cur) return p;
    }
  }
}

/** Why a path from the project file is not acceptable, or undefined. */
function outsideWhy(rel: string, dir: string, realRoot: string): string | undefined {
  if (rel.includes('\0')) return 'it contains a NUL character';
  if (path.isAbsolute(rel)) return 'it is an absolute path; paths in the project file are relative to its directory';
  const norm = path.normalize(rel);
  if (norm === '..' || norm.startsWith('..' + path.sep)) return "it leads out of the project's directory";
  if (!within(realRoot, realOrAncestor(path.resolve(dir, rel)))) return "it leads out of the project's directory (through a symbolic link)";
  return undefined;
}

/** Why a path that resolved inside the project cannot be a profile, for
 * the errors a read would word without the project file's position: a loop
 * of symbolic links. (A missing file is left to the read, as on the
 * command line.) */
function unreadableWhy(abs: string): string | undefined {
  try {
    fs.statSync(abs);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ELOOP') return 'it is a loop of symbolic links';
  }
  return undefined;
}

/** Why out_dir cannot be written to (it need not exist yet). */
function outDirWhy(abs: string): string | undefined {
  try {
    if (!fs.statSync(abs).isDirectory()) return 'it is a file, not a directory';
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ELOOP') return 'it is a loop of symbolic links';
    if (code === 'ENOTDIR') return 'a part of it is a file, not a directory';
  }
  return undefined;
}

/** Reads and checks `file` (default ./portcullis.yaml); throws CompileError
 * with positioned diagnostics, or InputError when it cannot be read. */
export function loadProject(file = PROJECT_FILE): Project {
  const input = readFile(file);
  const source = new SourceText(input.path, input.text);
  const doc = parseYaml(source);
  if (doc.value === undefined || doc.value === null)
    throw new CompileError([source.diagnostic({ line: 1, col: 1 }, 'the project file is empty', "give at least profiles: [...], e.g. profiles: ['envs/*.yaml']")]);
  const shape = validateProject(doc);
  if (shape.length) throw new CompileError(shape);
  const raw = doc.value as { profiles: string[]; catalog?: string; targets?: 'all' | string[]; out_dir?: string };
  const dir = path.dirname(file);
  const realRoot = fs.realpathSync(path.resolve(dir));
  const errors: Diagnostic[] = [];
  const shown = (rel: string) => (dir === '.' ? rel : path.join(dir, rel));

  const profiles: string[] = [];
  const seen = new Set<string>();
  const listings: Listings = new Map();
  raw.profiles.forEach((spec, i) => {
    const why = outsideWhy(spec, dir, realRoot);
    if (why) return errors.push(doc.error(['profiles', i], `profile ${quoteText(spec)} is not allowed: ${why}`));
    const x = expandSpec(spec, dir, listings);
    if ('error' in x) return errors.push(doc.error(['profiles', i], `${quoteText(spec)}: ${x.error}`, x.hint));
    for (const f of x.files) {
      // Each file is looked at once, however many entries name it.
      const key = path.resolve(dir, f);
      if (seen.has(key)) continue;
      seen.add(key);
      const from = f === spec ? `profile ${quoteText(f)}` : `${quoteText(f)} (from ${quoteText(spec)})`;
      const fwhy = outsideWhy(f, dir, realRoot) ?? unreadableWhy(key);
      if (fwhy) {
        errors.push(doc.error(['profiles', i], `${from} is not allowed: ${fwhy}`));
        continue;
      }
      profiles.push(shown(f));
    }
  });

  let catalog: string | undefined;
  if (raw.catalog !== undefined) {
    const c = raw.catalog;
    if (/^[a-z][a-z0-9_-]{0,30}$/.test(c) && !fs.existsSync(path.resolve(dir, c))) {
      if (!(BUILTIN_CATALOGS as readonly string[]).includes(c))
        errors.push(doc.error(['catalog'], `catalog ${quoteText(c)}: no such file, and no built-in catalog of that name`, `built-in catalogs: ${BUILTIN_CATALOGS.join(', ')}; or give a catalog file relative to the project file`));
      else catalog = c;
    } else {
      const why = outsideWhy(c, dir, realRoot);
      if (why) errors.push(doc.error(['catalog'], `catalog ${quoteText(c)} is not allowed: ${why}`));
      // A path that looks like a built-in name must not be read as one.
      else catalog = /^[a-z][a-z0-9_-]{0,30}$/.test(c) ? `./${shown(c)}` : shown(c);
    }
  }

  let outDir: string | undefined;
  if (raw.out_dir !== undefined) {
    const why = outsideWhy(raw.out_dir, dir, realRoot) ?? outDirWhy(path.resolve(dir, raw.out_dir));
    if (why) errors.push(doc.error(['out_dir'], `out_dir ${quoteText(raw.out_dir)} is not allowed: ${why}`));
    else if (path.normalize(raw.out_dir) === '.') errors.push(doc.error(['out_dir'], "out_dir cannot be the project's directory itself", 'name a folder for the generated tree, e.g. out_dir: firewall'));
    else outDir = shown(raw.out_dir);
  }
  if (errors.length) throw new CompileError(errors);
  const targets = raw.targets === undefined ? undefined : raw.targets === 'all' ? 'all' : raw.targets.join(',');
  return { file, dir, profiles, catalog, targets, outDir };
}

/** The profiles a list of changed files concerns (pre-commit, a PR's
 * files): all of them when the project file or the catalog changed; else
 * those whose file changed or whose output folder holds a changed file. */
export function changedProfiles(opts: {
  profiles: { file: string; environment: string }[];
  changed: string[];
  catalog?: string;
  projectFile?: string;
  outDir?: string;
}): string[] {
  const abs = (p: string) => path.resolve(p);
  const changed = new Set(opts.changed.map(abs));
  const all = opts.profiles.map((p) => p.file);
  if ((opts.projectFile && changed.has(abs(opts.projectFile))) || (opts.catalog && changed.has(abs(opts.catalog)))) return all;
  const out = opts.outDir ? abs(opts.outDir) : undefined;
  return opts.profiles
    .filter((p) => {
      if (changed.has(abs(p.file))) return true;
      if (!out) return false;
      const envDir = path.join(out, p.environment);
      return [...changed].some((c) => within(envDir, c));
    })
    .map((p) => p.file);
}
