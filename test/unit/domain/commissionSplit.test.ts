import fc from 'fast-check';
import { rulesSumToOne, splitCommission, type CommissionRule } from '../../../src/domain/commissionSplit';
import {
  check,
  equalPpm,
  fractionsArb,
  MILLION,
  rulesArb,
  same,
  sumBig,
  sumNum,
  wideSatsArb,
} from './arbitraries';

const rule = (fractionPpm: bigint, sortOrder: number, target = `w${sortOrder}`): CommissionRule => ({
  target,
  label: null,
  fractionPpm,
  sortOrder,
});

/** non-empty rule sets (fractions sum to exactly 1) */
const ruleSetArb = rulesArb(40).filter((rs) => rs.length > 0);

describe('splitCommission (SPEC §4 step 4, operator remainder)', () => {
  it('the generators only build fractions that sum to exactly 1', () => {
    fc.assert(
      fc.property(fractionsArb(60), (fs) => {
        same(sumBig(fs), MILLION);
        check(
          fs.every((f) => f >= 0n),
          'fractions ≥ 0',
        );
      }),
    );
  });

  it('Σ == R, each share is floor or ceil of R × fraction, leftovers by largest remainder then sort_order', () => {
    fc.assert(
      fc.property(wideSatsArb, ruleSetArb, (R, rules) => {
        const out = splitCommission(R, rules);
        same(sumNum(out.map((o) => o.sats)), BigInt(R));
        // sorted by sort_order, stable for equal sort orders
        const sorted = [...rules].sort((a, b) => a.sortOrder - b.sortOrder);
        out.forEach((o, i) => check(o.rule === sorted[i], 'shares follow the rules sorted by sort_order'));
        check(out.length === rules.length, 'one share per rule');

        const rems = out.map((o) => (BigInt(R) * o.rule.fractionPpm) % MILLION);
        const bumps = out.map((o) => BigInt(o.sats) - (BigInt(R) * o.rule.fractionPpm) / MILLION);
        bumps.forEach((b, i) => {
          check(b === 0n || (b === 1n && rems[i] !== 0n), () => `share ${i}: ${out[i]!.sats} sats`);
        });
        // the leftover sats go to the largest remainders, ties to the earlier sort_order
        for (let i = 0; i < out.length; i++) {
          for (let j = 0; j < out.length; j++) {
            if (bumps[i] === 1n && bumps[j] === 0n) {
              check(
                rems[i]! > rems[j]! || (rems[i] === rems[j] && i < j),
                () => `share ${i} got a sat before ${j}`,
              );
            }
          }
        }
      }),
      { numRuns: 500 },
    );
  });

  it('no rules: nothing is split (the plan keeps R as a retained leg)', () => {
    expect(splitCommission(1_000, [])).toEqual([]);
    expect(splitCommission(0, [])).toEqual([]);
  });

  it('ties go to the earlier sort_order', () => {
    const thirds = equalPpm(3); // 333334, 333333, 333333
    expect(thirds).toEqual([333_334n, 333_333n, 333_333n]);
    // given out of order: the output follows sort_order
    const rules = [rule(thirds[2]!, 2), rule(thirds[0]!, 0), rule(thirds[1]!, 1)];
    expect(splitCommission(1, rules).map((o) => [o.rule.sortOrder, o.sats])).toEqual([
      [0, 1],
      [1, 0],
      [2, 0],
    ]);
    // 2 sats: 0.666668, 0.666666, 0.666666 → sort_order 0 then 1 (tie with 2)
    expect(splitCommission(2, rules).map((o) => o.sats)).toEqual([1, 1, 0]);
    expect(splitCommission(100, rules).map((o) => o.sats)).toEqual([34, 33, 33]);
    // equal fractions and reversed sort orders: the tie follows sort_order, not input order
    const halves = [rule(500_000n, 9, 'late'), rule(500_000n, 1, 'early')];
    expect(splitCommission(3, halves).map((o) => [o.rule.target, o.sats])).toEqual([
      ['early', 2],
      ['late', 1],
    ]);
  });

  it('many legs with odd fractions summing to exactly 1', () => {
    const fractions = [1n, 999n, 7n, 142_857n, 333_333n, 3n, 522_800n];
    expect(sumBig(fractions)).toBe(MILLION);
    const rules = fractions.map((f, i) => rule(f, i));
    expect(splitCommission(1_000_000, rules).map((o) => BigInt(o.sats))).toEqual(fractions);
    const out = splitCommission(12_345, rules).map((o) => o.sats);
    expect(out.reduce((a, b) => a + b, 0)).toBe(12_345);
    // exact quotas: 0.012345, 12.332655, 0.086415, 1763.569665, 4114.995885, 0.037035, 6453.966
    expect(out).toEqual([0, 12, 0, 1_764, 4_115, 0, 6_454]);
    const seventeen = equalPpm(17).map((f, i) => rule(f, i));
    expect(splitCommission(16, seventeen).map((o) => o.sats)).toEqual([...Array<number>(16).fill(1), 0]);
  });

  it('a fraction of 1 takes everything; a fraction of 0 takes nothing', () => {
    expect(splitCommission(987_654_321, [rule(MILLION, 0)]).map((o) => o.sats)).toEqual([987_654_321]);
    expect(splitCommission(5, [rule(0n, 0), rule(MILLION, 1)]).map((o) => o.sats)).toEqual([0, 5]);
    expect(splitCommission(0, [rule(400_000n, 0), rule(600_000n, 1)]).map((o) => o.sats)).toEqual([0, 0]);
  });

  it('refuses fractions that do not sum to 1', () => {
    expect(rulesSumToOne([{ fractionPpm: 999_999n }])).toBe(false);
    expect(rulesSumToOne([{ fractionPpm: 500_000n }, { fractionPpm: 500_001n }])).toBe(false);
    expect(rulesSumToOne([{ fractionPpm: 500_000n }, { fractionPpm: 500_000n }])).toBe(true);
    expect(rulesSumToOne([])).toBe(false);
    expect(() => splitCommission(10, [rule(999_999n, 0)])).toThrow(RangeError);
    expect(() => splitCommission(10, [rule(600_000n, 0), rule(600_000n, 1)])).toThrow(RangeError);
  });
});
