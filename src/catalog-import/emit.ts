// A small, deterministic YAML writer for catalogs, in the style of the
// built-in catalog: top-level blocks, short values in flow style, strings
// double-quoted (JSON string syntax is valid YAML), identifiers plain.

const RESERVED = new Set(['true', 'false', 'null', 'yes', 'no', 'on', 'off', 'y', 'n']);

export function scalar(v: unknown): string {
  if (typeof v === 'number' || typeof v === 'boolean') return String(v);
  if (v === null || v === undefined) return 'null';
  const s = String(v);
  if (/^[A-Za-z][A-Za-z0-9_./-]*$/.test(s) && !RESERVED.has(s.toLowerCase())) return s;
  return JSON.stringify(s);
}

export function key(k: string): string {
  return /^[A-Za-z_][A-Za-z0-9_]*$/.test(k) && !RESERVED.has(k.toLowerCase()) ? k : JSON.stringify(k);
}

export function flow(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map(flow).join(', ')}]`;
  if (v !== null && typeof v === 'object') {
    const e = Object.entries(v as Record<string, unknown>).filter(([, x]) => x !== undefined);
    return e.length ? `{ ${e.map(([k, x]) => `${key(k)}: ${flow(x)}`).join(', ')} }` : '{}';
  }
  return scalar(v);
}

/** A mapping of mappings, one level of block style: `name:\n  k: v`. */
export function blockOfBlocks(name: string, value: Record<string, Record<string, unknown>>, order: string[]): string[] {
  const out = [`${name}:`];
  for (const [k, inner] of Object.entries(value)) {
    if (!Object.values(inner).some((x) => x !== undefined)) {
      out.push(`  ${key(k)}: {}`);
      continue;
    }
    out.push(`  ${key(k)}:`);
    const keys = [...order.filter((o) => o in inner), ...Object.keys(inner).filter((o) => !order.includes(o))];
    for (const ik of keys) if (inner[ik] !== undefined) out.push(`    ${key(ik)}: ${flow(inner[ik])}`);
  }
  return out;
}
