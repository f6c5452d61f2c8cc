import fc from 'fast-check';
import { largestRemainder } from '../../../src/domain/largestRemainder';
import { check, FULL, sumBig } from './arbitraries';

const weightArb = fc.oneof(
  fc.constant(0n),
  fc.constant(1n),
  fc.bigInt({ min: 0n, max: 10n }),
  fc.bigInt({ min: 0n, max: 1_000_000n }),
  fc.bigInt({ min: 0n, max: 1n << 64n }),
);
const totalArb = fc.oneof(
  fc.constant(0n),
  fc.constant(1n),
  fc.bigInt({ min: 0n, max: 100n }),
  fc.bigInt({ min: 0n, max: 1n << 53n }),
  fc.bigInt({ min: 0n, max: 1n << 96n }),
);
/** weights with at least one non-zero entry */
const weightsArb = fc
  .array(weightArb, { minLength: 1, maxLength: 60, ...FULL })
  .filter((ws) => ws.some((w) => w > 0n));

/**
 * Checks everything largest remainder promises against the exact quotas
 * q_i = total × w_i / W (kept as floor + remainder/W, no float anywhere).
 */
function checkHamilton(total: bigint, weights: bigint[], parts: bigint[]): void {
  const W = sumBig(weights);
  expect(parts).toHaveLength(weights.length);
  expect(sumBig(parts)).toBe(total);
  const floors = weights.map((w) => (total * w) / W);
  const rems = weights.map((w) => (total * w) % W);
  const bumped = parts.map((p, i) => p - floors[i]!);
  bumped.forEach((b, i) => {
    // floor(q_i) or floor(q_i) + 1, and exactly q_i when q_i is whole
    check(
      b === 0n || (b === 1n && rems[i] !== 0n),
      () => `part ${i} is ${parts[i]}, quota floor ${floors[i]}`,
    );
  });
  // the +1 went to the largest remainders, ties to the earlier index: the weakest
  // bumped index still ranks before the strongest index left as is
  const ranksBefore = (i: number, j: number) => rems[i]! > rems[j]! || (rems[i] === rems[j] && i < j);
  let weakestBumped = -1;
  let strongestKept = -1;
  for (let i = 0; i < parts.length; i++) {
    if (bumped[i] === 1n) {
      if (weakestBumped < 0 || ranksBefore(weakestBumped, i)) weakestBumped = i;
    } else if (strongestKept < 0 || ranksBefore(i, strongestKept)) strongestKept = i;
  }
  if (weakestBumped >= 0 && strongestKept >= 0 && !ranksBefore(weakestBumped, strongestKept)) {
    throw new Error(
      `index ${weakestBumped} (rem ${rems[weakestBumped]}) got a unit before ${strongestKept} (rem ${rems[strongestKept]})`,
    );
  }
}

describe('largestRemainder', () => {
  it('sums to the total, parts are floor or ceil of the quota, leftovers by largest remainder then index', () => {
    fc.assert(
      fc.property(totalArb, weightsArb, (total, weights) => {
        checkHamilton(total, weights, largestRemainder(total, weights));
      }),
      { numRuns: 1000 },
    );
  });

  it('never gives anything to a zero weight and is exact for proportional weights', () => {
    fc.assert(
      fc.property(totalArb, weightsArb, fc.bigInt({ min: 1n, max: 1000n }), (total, weights, k) => {
        const parts = largestRemainder(total, weights);
        weights.forEach((w, i) => {
          if (w === 0n) expect(parts[i]).toBe(0n);
        });
        // scaling every weight by k changes nothing
        expect(
          largestRemainder(
            total,
            weights.map((w) => w * k),
          ),
        ).toEqual(parts);
      }),
    );
  });

  it('splitting a total equal to W gives back the weights', () => {
    fc.assert(
      fc.property(weightsArb, (weights) => {
        expect(largestRemainder(sumBig(weights), weights)).toEqual(weights);
      }),
    );
  });

  it('gives ties to the earlier index', () => {
    expect(largestRemainder(1n, [1n, 1n, 1n])).toEqual([1n, 0n, 0n]);
    expect(largestRemainder(2n, [1n, 1n, 1n])).toEqual([1n, 1n, 0n]);
    expect(largestRemainder(5n, [3n, 3n])).toEqual([3n, 2n]);
    // the largest remainder wins over the earlier index
    expect(largestRemainder(1n, [1n, 2n])).toEqual([0n, 1n]);
    expect(largestRemainder(10n, [1n, 1n, 1n, 1n, 0n, 1n, 1n, 1n])).toEqual([2n, 2n, 2n, 1n, 0n, 1n, 1n, 1n]);
  });

  it('is exact with products far beyond 2^53', () => {
    const total = 2_100_000_000_000_000n;
    const parts = largestRemainder(total, [999_999n, 1n]);
    expect(parts).toEqual([2_099_997_900_000_000n, 2_100_000_000n]);
    checkHamilton(total, [999_999n, 1n], parts);
    const big = (1n << 90n) + 7n;
    checkHamilton(big, [3n, 5n, 7n], largestRemainder(big, [3n, 5n, 7n]));
  });

  it('handles empty and all-zero weights, refuses negatives', () => {
    expect(largestRemainder(0n, [])).toEqual([]);
    expect(largestRemainder(0n, [0n, 0n])).toEqual([0n, 0n]);
    expect(() => largestRemainder(1n, [])).toThrow(RangeError);
    expect(() => largestRemainder(1n, [0n, 0n])).toThrow(RangeError);
    expect(() => largestRemainder(-1n, [1n])).toThrow(RangeError);
    expect(() => largestRemainder(1n, [2n, -1n])).toThrow(RangeError);
    expect(largestRemainder(0n, [5n, 7n])).toEqual([0n, 0n]);
  });

  it('splits over 10,000 weights quickly and exactly', () => {
    fc.assert(
      fc.property(
        fc.bigInt({ min: 0n, max: 1n << 60n }),
        fc.array(fc.bigInt({ min: 1n, max: 1_000_000n }), { minLength: 10_000, maxLength: 10_000 }),
        (total, weights) => {
          checkHamilton(total, weights, largestRemainder(total, weights));
        },
      ),
      // no shrinking: shrinking 10,000-element inputs would take minutes
      { numRuns: 3, endOnFailure: true },
    );
  });
});
