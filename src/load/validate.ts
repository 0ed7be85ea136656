// JSON Schema validation (ajv) whose errors point at YAML positions.

import type { ErrorObject, ValidateFunction } from 'ajv';
import { Diagnostic, suggestion } from '../diagnostics';
import { ParsedDoc, PathSeg } from './yaml';
import { catalogSchema, profileSchema } from './schemas';

interface Validators {
  catalog: ValidateFunction;
  profile: ValidateFunction;
}
let validators: Validators | undefined;

/** The standalone validators tools/generate.js wrote, if they match the
 * schemas in this build; else compiled now with ajv (same options). */
function getValidators(): Validators {
  if (validators) return validators;
  try {
    // eslint-disable-next-line @typescript-eslint/no-var-requires
    const gen = require('../generated/validators') as Validators & { schemasStamp: string };
    if (gen.schemasStamp === JSON.stringify([catalogSchema, profileSchema])) return (validators = gen);
  } catch {
    // not generated: fall through
  }
  // eslint-disable-next-line @typescript-eslint/no-var-requires
  const Ajv = (require('ajv') as typeof import('ajv')).default;
  const ajv = new Ajv({ allErrors: true, strict: true, useDefaults: true, verbose: true });
  return (validators = { catalog: ajv.compile(catalogSchema), profile: ajv.compile(profileSchema) });
}

export function validateCatalogShape(doc: ParsedDoc): Diagnostic[] {
  return validateShape(doc, getValidators().catalog);
}

export function validateProfileShape(doc: ParsedDoc): Diagnostic[] {
  return validateShape(doc, getValidators().profile);
}

function splitPointer(p: string): PathSeg[] {
  if (!p) return [];
  return p
    .slice(1)
    .split('/')
    .map((s) => s.replace(/~1/g, '/').replace(/~0/g, '~'));
}

function describe(value: unknown): string {
  if (value === undefined) return 'empty';
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'a list';
  if (typeof value === 'object') return 'a mapping';
  return `${typeof value} ${JSON.stringify(value)}`;
}

function valueAt(root: unknown, path: PathSeg[]): unknown {
  let v: unknown = root;
  for (const s of path) v = v && typeof v === 'object' ? (v as Record<string, unknown>)[s as string] : undefined;
  return v;
}

function validateShape(doc: ParsedDoc, validate: ValidateFunction): Diagnostic[] {
  if (validate(doc.value)) return [];
  const errors = (validate.errors ?? []) as ErrorObject[];
  // oneOf failures also report every branch's own error; keep only the
  // oneOf itself for those paths, described by the schema's description.
  const oneOfPaths = new Set(errors.filter((e) => e.keyword === 'oneOf').map((e) => e.instancePath));
  const out: Diagnostic[] = [];
  const seen = new Set<string>();
  for (const e of errors) {
    if (e.keyword !== 'oneOf' && [...oneOfPaths].some((p) => e.instancePath === p || e.instancePath.startsWith(p + '/')))
      continue;
    const path = splitPointer(e.instancePath);
    const value = valueAt(doc.value, path);
    const where = path.length ? `'${path.join('.')}'` : 'the document';
    let d: Diagnostic;
    switch (e.keyword) {
      case 'additionalProperties': {
        const key = String(e.params.additionalProperty);
        const known = Object.keys((e.parentSchema as { properties?: object }).properties ?? {});
        d = doc.error([...path, key], `unknown key '${key}' in ${where}`, suggestion(key, known), true);
        break;
      }
      case 'required':
        d = doc.error(path, `${where} is missing the required key '${e.params.missingProperty}'`);
        break;
      case 'propertyNames': {
        const key = String(e.params.propertyName);
        d = doc.error([...path, key], `'${key}' is not a valid name in ${where}`, 'names are lower case letters, digits and _, starting with a letter', true);
        break;
      }
      case 'enum':
        d = doc.error(path, `${where} must be one of ${(e.params.allowedValues as unknown[]).map((v) => `'${v}'`).join(', ')}, not ${describe(value)}`);
        break;
      case 'type':
        d = doc.error(path, `${where} must be ${e.params.type === 'array' ? 'a list' : e.params.type === 'object' ? 'a mapping' : `a ${e.params.type}`}, not ${describe(value)}`);
        break;
      case 'pattern':
        d = doc.error(path, `${where} has an invalid value ${JSON.stringify(value)}`, `it must match ${e.params.pattern}`);
        break;
      case 'oneOf': {
        const desc = (e.parentSchema as { description?: string }).description;
        d = doc.error(path, `${where} has an invalid value ${describe(value)}`, desc ?? formsOf(e.schema));
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

function formsOf(branches: unknown): string | undefined {
  if (!Array.isArray(branches)) return undefined;
  const forms = branches.map((b: { type?: string; pattern?: string; required?: string[] }) =>
    b.type === 'object' ? `a mapping with ${(b.required ?? []).join(', ')}` : b.pattern ? `a string matching ${b.pattern}` : `a ${b.type}`,
  );
  return `expected ${forms.join(', or ')}`;
}
