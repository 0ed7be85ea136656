// The range algebra the audit and diff rest on (src/addresses.ts), against
// the obvious model: a set of integers in a small universe. Subtraction and
// union are linear merges of sorted lists; these properties are what makes
// that safe.
import fc from 'fast-check';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { AddrRange, intersectRanges, mergeRanges, subtractRanges, unionRanges } from '../src/addresses';

const UNIVERSE = 64;

const ranges = fc
  .array(
    fc.tuple(fc.integer({ min: 0, max: UNIVERSE - 1 }), fc.integer({ min: 0, max: 8 })).map(([lo, len]) => ({ lo: BigInt(lo), hi: BigInt(Math.min(UNIVERSE - 1, lo + len)) })),
    { maxLength: 10 },
  )
  .map((rs) => mergeRanges(rs));

function members(rs: AddrRange[]): number[] {
  const out = new Set<number>();
  for (const r of rs) for (let v = Number(r.lo); v <= Number(r.hi); v++) out.add(v);
  return [...out].sort((a, b) => a - b);
}

/** Sorted, non-overlapping, non-adjacent: the form every caller relies on. */
function canonical(rs: AddrRange[]): boolean {
  return rs.every((r, i) => r.lo <= r.hi && (i === 0 || rs[i - 1].hi + 1n < r.lo));
}

test('subtractRanges is set difference, and its result is sorted and disjoint', () => {
  fc.assert(
    fc.property(ranges, ranges, (a, b) => {
      const got = subtractRanges(a, b);
      const bs = new Set(members(b));
      assert.equal(members(got), members(a).filter((v) => !bs.has(v)));
      assert.ok(canonical(got), JSON.stringify(got, (_, v) => (typeof v === 'bigint' ? Number(v) : v)));
    }),
    { numRuns: 2000 },
  );
});

test('unionRanges is set union in canonical form; intersectRanges is intersection', () => {
  fc.assert(
    fc.property(ranges, ranges, (a, b) => {
      const u = unionRanges(a, b);
      assert.equal(members(u), [...new Set([...members(a), ...members(b)])].sort((x, y) => x - y));
      assert.ok(canonical(u));
      const bs = new Set(members(b));
      assert.equal(members(intersectRanges(a, b)), members(a).filter((v) => bs.has(v)));
    }),
    { numRuns: 2000 },
  );
});

test('a range of b spanning several ranges of a is subtracted from each', () => {
  const r = (lo: number, hi: number): AddrRange => ({ lo: BigInt(lo), hi: BigInt(hi) });
  assert.equal(subtractRanges([r(0, 2), r(4, 6), r(8, 10)], [r(1, 9)]), [r(0, 0), r(10, 10)]);
  assert.equal(subtractRanges([r(0, 10)], [r(2, 3), r(5, 5), r(9, 20)]), [r(0, 1), r(4, 4), r(6, 8)]);
});

test.run();
