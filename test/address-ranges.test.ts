// The range algebra the audit and diff rest on (src/addresses.ts), against
// the obvious model: a set of integers in a small universe. Subtraction and
// union are linear merges of sorted lists; these properties are what makes
// that safe.
import fc from 'fast-check';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { AddrRange, Cidr, cidrRange, Family, formatAddress, intersectRanges, mergeRanges, normalizeCidrs, parseAddress, subtractRanges, unionRanges } from '../src/addresses';

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

/** Blocks of one family in a small window of its space (near the top of
 * IPv4, and in the middle of IPv6 to cross 64-bit words), so that they
 * overlap, nest, repeat and touch often. */
function blocks(family: Family) {
  const bits = family === 'ipv4' ? 32 : 128;
  const origin = family === 'ipv4' ? 0xffffff00n : 0x20010db8ffffffffffffffffffffff00n;
  return fc.array(
    fc.tuple(fc.integer({ min: 0, max: 255 }), fc.integer({ min: bits - 6, max: bits })).map(([off, prefix]): Cidr => {
      const size = 1n << BigInt(bits - prefix);
      const base = origin + BigInt(off);
      return { family, base: base - (base % size), prefix };
    }),
    { maxLength: 40 },
  );
}

for (const family of ['ipv4', 'ipv6'] as const) {
  test(`normalizeCidrs (${family}): exactly the addresses given, as the fewest sorted aligned blocks, a lone block kept as the same object`, () => {
    fc.assert(
      fc.property(blocks(family), (cidrs) => {
        const got = normalizeCidrs(cidrs, family);
        const want = mergeRanges(cidrs.map(cidrRange));
        assert.equal(mergeRanges(got.map(cidrRange)), want);
        // Sorted, disjoint and not joinable: no two neighbours form one block.
        for (let i = 1; i < got.length; i++) {
          const a = cidrRange(got[i - 1]);
          const b = cidrRange(got[i]);
          assert.ok(a.hi < b.lo);
          if (a.hi + 1n === b.lo && got[i - 1].prefix === got[i].prefix) {
            const size = b.hi - b.lo + 1n;
            assert.ok(a.lo % (2n * size) !== 0n, 'two halves of one block left apart');
          }
        }
        for (const c of got) assert.is(c.base % (1n << BigInt((family === 'ipv4' ? 32 : 128) - c.prefix)), 0n);
        for (const c of cidrs) {
          const r = cidrRange(c);
          const alone = cidrs.every((o) => o === c || (o.base === c.base && o.prefix === c.prefix) || cidrRange(o).hi + 1n < r.lo || r.hi + 1n < cidrRange(o).lo);
          if (alone && cidrs.filter((o) => o.base === c.base && o.prefix === c.prefix).length === 1) assert.ok(got.includes(c), 'a block touching no other is kept as it is');
        }
      }),
      { numRuns: 1500 },
    );
  });
}

test('parseAddress then formatAddress: the canonical text, whatever the spelling', () => {
  const cases: [string, string][] = [
    ['10.0.0.1', '10.0.0.1'],
    [' 10.0.0.1/32 ', '10.0.0.1'],
    ['10.0.0.0/8', '10.0.0.0/8'],
    ['0.0.0.0/0', '0.0.0.0/0'],
    ['2001:DB8:0:0:0:0:0:1', '2001:db8::1'],
    ['2001:db8:0000::/48', '2001:db8::/48'],
    ['::ffff:192.0.2.1', '::ffff:c000:201'],
    ['1:0:0:2:0:0:0:3', '1:0:0:2::3'],
    ['1:2:3:4:5:6:7:8', '1:2:3:4:5:6:7:8'],
    ['::', '::'],
    ['1:2:3:4:5:6:1.2.3.4/128', '1:2:3:4:5:6:102:304'],
    ['1::1.2.3.4', '1::102:304'],
  ];
  for (const [text, want] of cases) {
    const r = parseAddress(text);
    assert.ok(r.ok, text);
    if (r.ok) assert.is(formatAddress(r.cidr), want, text);
  }
  for (const bad of ['10.0.0.01', '10.0.0', '10.0.0.1.', '256.0.0.1', '1.2.3.4/33', '1.2.3.4/032', '::1.2.3.4', '1::2::3', ':1::2', '1:2:3:4:5:6:7:8:9', '12345::', 'fe80::1%eth0', '1:2:3:4:5:6:7::1.2.3.4', '10.0.0.1/24', '', '1.2.3.4/'])
    assert.not.ok(parseAddress(bad).ok, bad);
});

test.run();
