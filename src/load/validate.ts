// JSON Schema validation (ajv) whose errors point at YAML positions.

import type { ErrorObject, ValidateFunction } from 'ajv';
import { clip, describeValue, Diagnostic, quoteName, quoteText, suggestion } from '../diagnostics';
import { ParsedDoc, PathSeg } from './yaml';
import { catalogSchema, profileSchema } from './schemas';

type AjvOptions = import('ajv').Options;

/** A validator that tools/generate.js wrote as export `name` of
 * src/generated/validators, used when the export `stampKey` there equals
 * `stamp` (the schema of this build, so the bundle needs no ajv); else
 * compiled now with ajv and the same options. Made once, when first asked. */
export function generatedValidator(name: string, stampKey: string, stamp: () => string, schema: object, options: AjvOptions): () => ValidateFunction {
  let made: ValidateFunction | undefined;
  return () => {
    if (made) return made;
    try {
      // eslint-disable-next-line @typescript-eslint/no-var-requires
      const gen = require('../generated/validators') as Record<string, unknown>;
      if (typeof gen[name] === 'function' && gen[stampKey] === stamp()) return (made = gen[name] as ValidateFunction);
    } catch {
      // not generated: fall through
    }
    // eslint-disable-next-line @typescript-eslint/no-var-requires
    const Ajv = (require('ajv') as typeof import('ajv')).default;
    return (made = new Ajv(options).compile(schema));
  };
}

const SHAPE_OPTIONS: AjvOptions = { allErrors: true, strict: true, useDefaults: true, verbose: true };
const schemasStamp = () => JSON.stringify([catalogSchema, profileSchema]);

const validators = {
  catalog: generatedValidator('catalog', 'schemasStamp', schemasStamp, catalogSchema, SHAPE_OPTIONS),
  profile: generatedValidator('profile', 'schemasStamp', schemasStamp, profileSchema, SHAPE_OPTIONS),
};

/** Above this many values a document is checked for its first shape error
 * only: ajv's every-error mode makes up to three error objects per value
 * (a quarter of a GiB for the largest document the parser accepts). */
const ALL_ERRORS_UP_TO = 20_000;

/** Validators that stop at the first error (only a large document uses
 * them; compiling them costs ~0.1 s, so the build writes them too). */
const firstErrorValidators = {
  catalog: generatedValidator('catalogFirstError', 'schemasStamp', schemasStamp, catalogSchema, { ...SHAPE_OPTIONS, allErrors: false }),
  profile: generatedValidator('profileFirstError', 'schemasStamp', schemasStamp, profileSchema, { ...SHAPE_OPTIONS, allErrors: false }),
};

export function validateCatalogShape(doc: ParsedDoc): Diagnostic[] {
  return validateShape(doc, 'catalog');
}

export function validateProfileShape(doc: ParsedDoc): Diagnostic[] {
  return validateShape(doc, 'profile');
}

/** A JSON pointer's segments; all-digit ones as numbers (an index, or a
 * key: positions are looked up by pointer, so the same either way). */
function splitPointer(p: string): PathSeg[] {
  if (!p) return [];
  return p
    .slice(1)
    .split('/')
    .map((s) => s.replace(/~1/g, '/').replace(/~0/g, '~'))
    .map((s) => (/^\d+$/.test(s) ? Number(s) : s));
}

function valueAt(root: unknown, path: PathSeg[]): unknown {
  let v: unknown = root;
  for (const s of path) v = v && typeof v === 'object' ? (v as Record<string, unknown>)[s as string] : undefined;
  return v;
}

/** Shape errors listed one by one; the rest are counted. */
const MAX_SHAPE_LISTED = 200;

/** The key an error is about, for errors reported at a key. */
function keyOf(e: ErrorObject): string | undefined {
  if (e.keyword === 'additionalProperties') return String(e.params.additionalProperty);
  if (e.keyword === 'propertyNames') return String(e.params.propertyName);
  return undefined;
}

/** How one kind of input words and orders its shape errors, where it
 * differs from a profile's and a catalog's (the defaults). */
export interface ShapeWording {
  /** The document as a whole in messages (default 'the document'). */
  root?: string;
  /** How a value is named in messages (default: its path joined with '.',
   * quoted; `root` for the document itself). */
  where?: (path: PathSeg[]) => string;
  /** The hint of an unknown key (default: did you mean, and the mapping's known keys). */
  unknownKeyHint?: (key: string, known: string[]) => string;
  /** Message and hint of a missing required key (default: "WHERE is missing
   * the required key 'KEY'", no hint). */
  missing?: (path: PathSeg[], where: string, key: string) => { message: string; hint?: string };
  /** The hint of a value of the wrong type (default none). */
  typeHint?: (path: PathSeg[], value: unknown) => string | undefined;
  /** Where errors under a oneOf go: 'oneOf' (default), the oneOf alone,
   * described by the schema's description; 'deepest', the errors below its
   * value when there are any (an unknown name in a list), else the oneOf. */
  oneOf?: 'oneOf' | 'deepest';
  /** 'document' (default): by the position of the value, or of the key for
   * a key's error; 'value': by the position of the value (a key's error at
   * its mapping); 'schema': as ajv reports them. */
  order?: 'document' | 'value' | 'schema';
  /** Most listed (default 200); past them the rest are counted in the last
   * one's `more` unless `countRest` is false. */
  maxListed?: number;
  countRest?: boolean;
}

/** The diagnostics of a validator's errors on `doc` (none when it is valid):
 * each at its value (or key) in the YAML, input text quoted and bounded,
 * one per position and message. */
export function shapeDiagnostics(doc: ParsedDoc, validate: ValidateFunction, wording: ShapeWording = {}): Diagnostic[] {
  if (validate(doc.value)) return [];
  const errors = (validate.errors ?? []) as ErrorObject[];
  const root = wording.root ?? 'the document';
  const maxListed = wording.maxListed ?? MAX_SHAPE_LISTED;
  const oneOfAt = new Set(errors.filter((e) => e.keyword === 'oneOf').map((e) => e.instancePath));
  let reported = oneOfAt;
  if (wording.oneOf === 'deepest' && oneOfAt.size) {
    // Every proper prefix of a path that has an error: a oneOf there has errors below it.
    const above = new Set<string>();
    for (const { instancePath: p } of errors) for (let i = p.lastIndexOf('/'); i >= 0; i = i > 0 ? p.lastIndexOf('/', i - 1) : -1) above.add(p.slice(0, i));
    reported = new Set([...oneOfAt].filter((p) => !above.has(p)));
  }
  // In the chosen order; only the first maxListed become diagnostics (a
  // file of a million wrong values must not make a million messages).
  const found: { e: ErrorObject; path: PathSeg[]; at: number; i: number }[] = [];
  errors.forEach((e, i) => {
    if (e.keyword === 'oneOf') {
      if (!reported.has(e.instancePath)) return;
    } else {
      // A reported oneOf stands for the errors of its branches; under
      // 'deepest', a oneOf with errors below is reported by those, not by
      // the other branches' complaints about the value as a whole.
      if (underOneOf(e.instancePath, reported)) return;
      if (wording.oneOf === 'deepest' && oneOfAt.has(e.instancePath)) return;
    }
    // A name's own failure (its pattern) is reported by propertyNames, at the
    // name; as itself it would describe the whole mapping.
    if ((e as ErrorObject & { propertyName?: string }).propertyName !== undefined) return;
    const path = splitPointer(e.instancePath);
    const key = keyOf(e);
    const order = wording.order ?? 'document';
    const at = order === 'schema' ? 0 : key === undefined || order === 'value' ? doc.offsetOf(path) : doc.offsetOf([...path, key], true);
    found.push({ e, path, at, i });
  });
  found.sort((a, b) => a.at - b.at || a.i - b.i);
  const out: Diagnostic[] = [];
  const seen = new Set<string>();
  for (let n = 0; n < found.length; n++) {
    if (out.length >= maxListed) {
      if (wording.countRest === false) break;
      const rest = new Set(found.slice(n).map((f) => `${f.at}:${f.e.keyword}:${keyOf(f.e)}`));
      out[out.length - 1].more = rest.size;
      break;
    }
    const { e, path } = found[n];
    const value = valueAt(doc.value, path);
    const where = wording.where ? wording.where(path) : path.length ? quoteName(path.map((s) => clip(String(s), 40)).join('.'), 120) : root;
    let d: Diagnostic;
    switch (e.keyword) {
      case 'additionalProperties': {
        const key = keyOf(e)!;
        const known = Object.keys((e.parentSchema as { properties?: object }).properties ?? {});
        d = doc.error([...path, key], `unknown key ${quoteName(key)} in ${where}`, wording.unknownKeyHint ? wording.unknownKeyHint(key, known) : suggestion(key, known), true);
        break;
      }
      case 'required': {
        const key = String(e.params.missingProperty);
        const m = wording.missing ? wording.missing(path, where, key) : { message: `${where} is missing the required key '${key}'` };
        d = doc.error(path, m.message, m.hint);
        break;
      }
      case 'propertyNames': {
        const key = keyOf(e)!;
        d = doc.error([...path, key], `${quoteName(key)} is not a valid name in ${where}`, 'names are lower case letters, digits and _, starting with a letter', true);
        break;
      }
      case 'enum':
        d = doc.error(path, `${where} must be one of ${(e.params.allowedValues as unknown[]).map((v) => `'${v}'`).join(', ')}, not ${describeValue(value)}`);
        break;
      case 'type':
        d = doc.error(
          path,
          `${where} must be ${e.params.type === 'array' ? 'a list' : e.params.type === 'object' ? 'a mapping' : `a ${e.params.type}`}, not ${describeValue(value)}`,
          wording.typeHint?.(path, value),
        );
        break;
      case 'pattern':
        d = doc.error(path, `${where} has an invalid value ${typeof value === 'string' ? quoteText(value) : describeValue(value)}`, `it must match ${e.params.pattern}`);
        break;
      case 'oneOf': {
        const desc = (e.parentSchema as { description?: string }).description;
        d = doc.error(path, `${where} has an invalid value ${describeValue(value)}`, desc ?? formsOf(e.schema));
        break;
      }
      default:
        d = doc.error(path, `${where} ${e.message ?? 'is invalid'}`);
    }
    const key = `${d.pos?.line}:${d.pos?.col}:${d.message}`;
    if (!seen.has(key)) {
      seen.add(key);
      out.push(d);
    }
  }
  return out;
}

function validateShape(doc: ParsedDoc, kind: 'catalog' | 'profile'): Diagnostic[] {
  const firstOnly = doc.size > ALL_ERRORS_UP_TO;
  const out = shapeDiagnostics(doc, (firstOnly ? firstErrorValidators : validators)[kind]());
  if (firstOnly && out.length) {
    const d = out[0];
    const note = `(the document holds ${doc.size} values: only its first shape error is reported)`;
    out[0] = { ...d, hint: d.hint ? `${d.hint} ${note}` : note };
  }
  return out;
}

/** Whether the pointer `p` is one of `paths` or lies under one: its
 * prefixes are looked up (documents are shallow), not the set scanned,
 * which would be quadratic in the number of errors. */
function underOneOf(p: string, paths: Set<string>): boolean {
  if (!paths.size) return false;
  for (let end = p.length; ; end = p.lastIndexOf('/', end - 1)) {
    if (paths.has(p.slice(0, end))) return true;
    if (end <= 0) return false;
  }
}

function formsOf(branches: unknown): string | undefined {
  if (!Array.isArray(branches)) return undefined;
  const forms = branches.map((b: { type?: string; pattern?: string; required?: string[] }) =>
    b.type === 'object' ? `a mapping with ${(b.required ?? []).join(', ')}` : b.pattern ? `a string matching ${b.pattern}` : `a ${b.type}`,
  );
  return `expected ${forms.join(', or ')}`;
}
