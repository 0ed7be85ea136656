// fast-check arbitraries derived from a JSON Schema (the subset the input
// schemas of src/load/schemas.ts use): every value drawn is valid against
// the schema. A hook may replace the arbitrary at any path, so a test can
// draw names from a shared vocabulary (references that sometimes resolve
// and sometimes do not) while the shape stays the schema's.

import fc from 'fast-check';

/** Path of a value: property names, '*' for an array item or a mapping's
 * free-form value, '{}' for a mapping's free-form key. */
export type SchemaPath = readonly string[];

/** Replaces the arbitrary at a path; `derived()` is the one the schema
 * alone gives (to mix with). Undefined: keep the derived one. */
export type Hook = (path: SchemaPath, schema: JsonSchema, derived: () => fc.Arbitrary<unknown>) => fc.Arbitrary<unknown> | undefined;

export interface JsonSchema {
  $ref?: string;
  type?: string;
  enum?: readonly unknown[];
  oneOf?: readonly JsonSchema[];
  properties?: Readonly<Record<string, JsonSchema>>;
  required?: readonly string[];
  additionalProperties?: boolean | JsonSchema;
  propertyNames?: JsonSchema;
  minProperties?: number;
  items?: JsonSchema;
  minItems?: number;
  pattern?: string;
  minLength?: number;
  minimum?: number;
  maximum?: number;
  definitions?: Readonly<Record<string, JsonSchema>>;
}

export interface Limits {
  /** Most items in an array / entries in a free-form mapping. */
  maxItems: number;
  maxKeys: number;
  /** How often an optional property is present (0-1), by its path; default 0.5. */
  presence?: (path: SchemaPath) => number | undefined;
  /** Bounds on the number of entries of a free-form mapping, by its path. */
  keyCount?: (path: SchemaPath) => { min: number; max: number } | undefined;
}

const matchingCache = new Map<string, fc.Arbitrary<string>>();

/** fc.stringMatching, built once per pattern (building one is costly). */
export function matching(pattern: RegExp | string): fc.Arbitrary<string> {
  const source = typeof pattern === 'string' ? pattern : pattern.source;
  let arb = matchingCache.get(source);
  if (!arb) matchingCache.set(source, (arb = fc.stringMatching(new RegExp(source))));
  return arb;
}

/** Path as a dotted string, for hooks: "rules.*.from.*". */
export const dotted = (path: SchemaPath): string => path.join('.');

export function arbitraryFromSchema(root: JsonSchema, hook: Hook, limits: Limits = { maxItems: 4, maxKeys: 4 }): fc.Arbitrary<unknown> {
  const resolve = (s: JsonSchema): JsonSchema => {
    if (!s.$ref) return s;
    const m = /^#\/definitions\/(.+)$/.exec(s.$ref);
    const target = m && root.definitions?.[m[1]];
    if (!target) throw new Error(`schema-arbitrary: unsupported $ref ${s.$ref}`);
    return resolve(target);
  };

  const walk = (schema: JsonSchema, path: SchemaPath): fc.Arbitrary<unknown> => {
    const s = resolve(schema);
    return hook(path, s, () => derive(s, path)) ?? derive(s, path);
  };

  const derive = (s: JsonSchema, path: SchemaPath): fc.Arbitrary<unknown> => {
    if (s.enum) return fc.constantFrom(...s.enum);
    if (s.oneOf) {
      // Branches must not overlap (oneOf): the input schemas' branches
      // differ by type, so any branch's value is valid.
      return fc.oneof(...s.oneOf.map((b) => walk(b, path)));
    }
    switch (s.type) {
      case 'object':
        return objectOf(s, path);
      case 'array':
        return fc.array(walk(s.items ?? {}, [...path, '*']), { minLength: s.minItems ?? 0, maxLength: Math.max(s.minItems ?? 0, limits.maxItems) });
      case 'string':
        if (s.pattern) return matching(s.pattern);
        return fc.string({ minLength: s.minLength ?? 0, maxLength: 24 });
      case 'integer':
        return fc.integer({ min: s.minimum ?? -(2 ** 31), max: s.maximum ?? 2 ** 31 });
      case 'boolean':
        return fc.boolean();
      default:
        throw new Error(`schema-arbitrary: unsupported schema at ${dotted(path)}: ${JSON.stringify(s).slice(0, 200)}`);
    }
  };

  const objectOf = (s: JsonSchema, path: SchemaPath): fc.Arbitrary<unknown> => {
    const props = s.properties ?? {};
    const required = new Set(s.required ?? []);
    // Each optional key is present with its own frequency.
    const entries = Object.entries(props).map(([k, v]) => {
      const value = walk(v, [...path, k]);
      if (required.has(k)) return value.map((x) => [k, x] as const);
      const p = limits.presence?.([...path, k]) ?? 0.5;
      return fc.integer({ min: 0, max: 99 }).chain((roll) => (roll < p * 100 ? value.map((x) => [k, x] as const) : fc.constant(undefined)));
    });
    const named = fc.tuple(...entries).map((kv) => Object.fromEntries(kv.filter((e): e is readonly [string, unknown] => e !== undefined)));
    const extra = s.additionalProperties;
    if (extra === false || extra === undefined) return named;
    if (Object.keys(props).length) throw new Error(`schema-arbitrary: named and free-form keys at ${dotted(path)}`);
    const keys = s.propertyNames ? walk(s.propertyNames, [...path, '{}']) : fc.string({ maxLength: 12 });
    const values = walk(extra === true ? {} : extra, [...path, '*']);
    const min = s.minProperties ?? 0;
    const count = limits.keyCount?.(path) ?? { min, max: Math.max(min, limits.maxKeys) };
    return fc.dictionary(keys as fc.Arbitrary<string>, values, { minKeys: Math.max(min, count.min), maxKeys: Math.max(min, count.max), noNullPrototype: true });
  };

  return walk(root, []);
}
