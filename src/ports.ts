// Port sets as sorted, merged inclusive ranges.

export interface PortRange {
  lo: number;
  hi: number;
}

/** Parses "22", 22 or "20000-65535"; undefined when malformed or out of 1..65535. */
export function parsePortSpec(spec: string | number): PortRange | undefined {
  const m = /^(\d{1,5})(?:-(\d{1,5}))?$/.exec(String(spec).trim());
  if (!m) return undefined;
  const lo = Number(m[1]);
  const hi = m[2] === undefined ? lo : Number(m[2]);
  if (lo < 1 || hi > 65535 || lo > hi) return undefined;
  return { lo, hi };
}

export function mergePorts(ranges: PortRange[]): PortRange[] {
  const sorted = [...ranges].sort((a, b) => a.lo - b.lo || a.hi - b.hi);
  const out: PortRange[] = [];
  for (const r of sorted) {
    const last = out[out.length - 1];
    if (last && r.lo <= last.hi + 1) last.hi = Math.max(last.hi, r.hi);
    else out.push({ ...r });
  }
  return out;
}

/** The ports in both lists, merged (any order, overlaps allowed). */
export function intersectPorts(a: PortRange[], b: PortRange[]): PortRange[] {
  const out: PortRange[] = [];
  for (const x of a)
    for (const y of b) {
      const lo = Math.max(x.lo, y.lo);
      const hi = Math.min(x.hi, y.hi);
      if (lo <= hi) out.push({ lo, hi });
    }
  return mergePorts(out);
}

export function formatPortRange(r: PortRange, sep = '-'): string {
  return r.lo === r.hi ? String(r.lo) : `${r.lo}${sep}${r.hi}`;
}

/** Number of single ports in the set. */
export function portCount(ranges: PortRange[]): number {
  return ranges.reduce((n, r) => n + r.hi - r.lo + 1, 0);
}

export function portsContain(ranges: PortRange[], port: number): boolean {
  return ranges.some((r) => r.lo <= port && port <= r.hi);
}
