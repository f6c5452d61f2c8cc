import fc from 'fast-check';
import { allocateDca, type DcaAllocation, type LpBalance } from '../../../src/domain/dcaAllocation';
import {
  balanceCentsArb,
  check,
  fiatForBalancesArb,
  FULL,
  safeInt,
  same,
  sumNum,
  wideSatsArb,
} from './arbitraries';

const balancesArb = (maxLength: number, minLength = 0): fc.Arbitrary<LpBalance[]> =>
  fc
    .array(balanceCentsArb, { minLength, maxLength, ...FULL })
    .map((cs) => cs.map((availableCents, i) => ({ clientId: `c${i}`, availableCents })));

const caseArb = (maxLps: number, minLps = 0) =>
  fc
    .tuple(wideSatsArb, balancesArb(maxLps, minLps))
    .chain(([principal, balances]) =>
      fiatForBalancesArb(balances.reduce((a, b) => a + b.availableCents, 0)).map(
        (fiat) => [principal, fiat, balances] as const,
      ),
    );

/** SPEC §4 step 5, checked with BigInt against the exact quotas. */
function checkAllocation(principal: number, fiat: number, balances: LpBalance[], out: DcaAllocation): void {
  const F = BigInt(fiat);
  const B = sumNum(balances.map((b) => b.availableCents));
  const C = F < B ? F : B;
  const Pc = F === 0n ? 0n : (BigInt(principal) * C) / F;

  same(BigInt(out.coveredCents), C);
  same(BigInt(out.coveredPrincipalSats), Pc);
  same(BigInt(out.uncoveredPrincipalSats), BigInt(principal) - Pc);
  check(out.uncoveredPrincipalSats >= 0, 'out.uncoveredPrincipalSats >= 0');
  same(
    out.shares.map((s) => s.clientId),
    balances.map((b) => b.clientId),
  );

  // Σ f_i == C, 0 ≤ f_i ≤ b_i, f_i ∈ {floor, ceil} of C × b_i / B
  same(sumNum(out.shares.map((s) => s.fiatCents)), C);
  // Σ s_i == Pc, s_i ∈ {floor, ceil} of Pc × f_i / C
  same(sumNum(out.shares.map((s) => s.sats)), Pc);
  out.shares.forEach((s, i) => {
    const b = BigInt(balances[i]!.availableCents);
    const f = BigInt(s.fiatCents);
    const sats = BigInt(s.sats);
    const who = () => `${s.clientId}: ${s.fiatCents} cents of ${b}, ${s.sats} sats`;
    check(Number.isSafeInteger(s.fiatCents) && Number.isSafeInteger(s.sats), who);
    check(f >= 0n && f <= b && sats >= 0n, who);
    if (C === 0n) {
      check(f === 0n && sats === 0n, who);
      return;
    }
    // f_i = floor or ceil of C × b_i / B; s_i = floor or ceil of Pc × f_i / C (never below the floor)
    check(f >= (C * b) / B && (f - 1n) * B < C * b, who);
    check(sats >= (Pc * f) / C && (sats - 1n) * C < Pc * f, who);
    // no sats for an LP whose fiat share is 0 cents
    if (f === 0n) check(sats === 0n, who);
  });
}

describe('allocateDca (SPEC §4 step 5)', () => {
  it('Σ fiat == C = min(fiat, Σ balances), f_i ≤ b_i, Σ sats == Pc = floor(P × C / fiat)', () => {
    fc.assert(
      fc.property(caseArb(40), ([principal, fiat, balances]) => {
        checkAllocation(principal, fiat, balances, allocateDca(principal, fiat, balances));
      }),
      { numRuns: 1000 },
    );
  });

  it('balances covering the dispense take the whole principal; smaller balances are spent in full', () => {
    fc.assert(
      fc.property(caseArb(20, 1), ([principal, fiat, balances]) => {
        const out = allocateDca(principal, fiat, balances);
        const B = balances.reduce((a, b) => a + b.availableCents, 0);
        if (fiat > 0 && fiat <= B) {
          same(out.coveredPrincipalSats, principal);
          same(out.uncoveredPrincipalSats, 0);
        }
        if (fiat >= B) {
          same(
            out.shares.map((s) => s.fiatCents),
            balances.map((b) => b.availableCents),
          );
        }
      }),
      { numRuns: 500 },
    );
  });

  it('ties go to the earlier enrolment (fiat and sats)', () => {
    const three = [1, 2, 3].map((i) => ({ clientId: `c${i}`, availableCents: 100 }));
    const out = allocateDca(2, 100, three);
    expect(out.shares.map((s) => s.fiatCents)).toEqual([34, 33, 33]);
    // quotas of 2 sats by 34/33/33 cents: 0.68, 0.66, 0.66 → the tie goes to c2
    expect(out.shares.map((s) => s.sats)).toEqual([1, 1, 0]);

    const twoSats = allocateDca(1, 100, three.slice(0, 2));
    expect(twoSats.shares.map((s) => [s.fiatCents, s.sats])).toEqual([
      [50, 1],
      [50, 0],
    ]);
  });

  it('computes a partly covered dispense by hand', () => {
    // 100.00 dispensed, LPs hold 30.00 and 20.00: C = 50.00, Pc = floor(99,999 × 5,000 / 10,000)
    const out = allocateDca(99_999, 10_000, [
      { clientId: 'a', availableCents: 3_000 },
      { clientId: 'b', availableCents: 2_000 },
    ]);
    expect(out).toEqual({
      coveredCents: 5_000,
      coveredPrincipalSats: 49_999,
      uncoveredPrincipalSats: 50_000,
      shares: [
        { clientId: 'a', fiatCents: 3_000, sats: 29_999 }, // 29,999.4
        { clientId: 'b', fiatCents: 2_000, sats: 20_000 }, // 19,999.6
      ],
    });
  });

  it('0 LPs: nothing covered, the whole principal is the operator’s', () => {
    expect(allocateDca(12_345, 5_000, [])).toEqual({
      coveredCents: 0,
      coveredPrincipalSats: 0,
      uncoveredPrincipalSats: 12_345,
      shares: [],
    });
  });

  it('1 LP, 1 sat, 1 cent', () => {
    expect(allocateDca(1, 1, [{ clientId: 'x', availableCents: 1 }]).shares).toEqual([
      { clientId: 'x', fiatCents: 1, sats: 1 },
    ]);
    // the LP's single cent covers half of a 2-cent dispense: floor(1 × 1 / 2) = 0 sats
    const half = allocateDca(1, 2, [{ clientId: 'x', availableCents: 1 }]);
    expect(half.shares).toEqual([{ clientId: 'x', fiatCents: 1, sats: 0 }]);
    expect(half.uncoveredPrincipalSats).toBe(1);
    // one LP with a large balance takes everything
    expect(allocateDca(777, 500, [{ clientId: 'x', availableCents: 1_000_000 }]).shares).toEqual([
      { clientId: 'x', fiatCents: 500, sats: 777 },
    ]);
  });

  it('fiat_amount 0 (nothing dispensed) covers nothing', () => {
    const out = allocateDca(500, 0, [{ clientId: 'x', availableCents: 100 }]);
    expect(out.coveredCents).toBe(0);
    expect(out.coveredPrincipalSats).toBe(0);
    expect(out.uncoveredPrincipalSats).toBe(500);
    expect(out.shares).toEqual([{ clientId: 'x', fiatCents: 0, sats: 0 }]);
    expect(allocateDca(0, 0, []).uncoveredPrincipalSats).toBe(0);
  });

  it('balances of 1 cent: the earliest LPs get the cents', () => {
    const lps = Array.from({ length: 10 }, (_, i) => ({ clientId: `c${i}`, availableCents: 1 }));
    const out = allocateDca(1_000, 4, lps);
    expect(out.shares.map((s) => s.fiatCents)).toEqual([1, 1, 1, 1, 0, 0, 0, 0, 0, 0]);
    expect(out.shares.map((s) => s.sats)).toEqual([250, 250, 250, 250, 0, 0, 0, 0, 0, 0]);
  });

  it('stays exact where P × C exceeds 2^53', () => {
    const P = Number.MAX_SAFE_INTEGER;
    const out = allocateDca(P, 1_000_000_000_000, [
      { clientId: 'a', availableCents: 333_333_333_333 },
      { clientId: 'b', availableCents: 1 },
    ]);
    checkAllocation(
      P,
      1_000_000_000_000,
      [
        { clientId: 'a', availableCents: 333_333_333_333 },
        { clientId: 'b', availableCents: 1 },
      ],
      out,
    );
    expect(out.coveredPrincipalSats).toBe(Number((BigInt(P) * 333_333_333_334n) / 1_000_000_000_000n));
  });

  // between the 40 LPs above and the 10,000 below
  it.each([
    { lps: '11 to 100', min: 11, max: 100, runs: 500 },
    { lps: '101 to 1,000', min: 101, max: 1_000, runs: 100 },
  ])('$lps LPs, $runs runs', ({ min, max, runs }) => {
    const sizes: number[] = [];
    fc.assert(
      fc.property(caseArb(max, min), ([principal, fiat, balances]) => {
        sizes.push(balances.length);
        checkAllocation(principal, fiat, balances, allocateDca(principal, fiat, balances));
      }),
      { numRuns: runs, endOnFailure: true },
    );
    expect(Math.min(...sizes)).toBeGreaterThanOrEqual(min);
    expect(sizes.filter((n) => n > (min + max) / 2).length).toBeGreaterThan(runs / 10);
  });

  it('10,000 LPs (a handful of runs)', () => {
    fc.assert(
      fc.property(
        wideSatsArb,
        fc.array(balanceCentsArb, { minLength: 10_000, maxLength: 10_000 }),
        fc.boolean(),
        safeInt(0, 1_000_000_000),
        (principal, cents, covered, extra) => {
          const balances = cents.map((availableCents, i) => ({ clientId: `c${i}`, availableCents }));
          const B = cents.reduce((a, b) => a + b, 0);
          const fiat = covered ? Math.floor(B / 2) + 1 : B + extra;
          checkAllocation(principal, fiat, balances, allocateDca(principal, fiat, balances));
        },
      ),
      // no shrinking: shrinking 10,000-element inputs would take minutes
      { numRuns: 4, endOnFailure: true },
    );
    // 10,000 one-cent LPs, 50.00 dispensed: the first 5,000 enrolments are used
    const ones = Array.from({ length: 10_000 }, (_, i) => ({ clientId: `c${i}`, availableCents: 1 }));
    const out = allocateDca(5_000, 5_000, ones);
    expect(out.shares.filter((s) => s.fiatCents === 1).map((s) => s.clientId)).toEqual(
      ones.slice(0, 5_000).map((b) => b.clientId),
    );
    expect(out.shares.every((s) => s.sats === s.fiatCents)).toBe(true);
  });

  it('refuses balances that are not whole cents > 0 and bad amounts', () => {
    expect(() => allocateDca(1, 1, [{ clientId: 'x', availableCents: 0 }])).toThrow(RangeError);
    expect(() => allocateDca(1, 1, [{ clientId: 'x', availableCents: -5 }])).toThrow(RangeError);
    expect(() => allocateDca(1, 1, [{ clientId: 'x', availableCents: 1.5 }])).toThrow(RangeError);
    expect(() => allocateDca(-1, 1, [])).toThrow(RangeError);
    expect(() => allocateDca(1.5, 1, [])).toThrow(RangeError);
    expect(() => allocateDca(1, -1, [])).toThrow(RangeError);
    expect(() => allocateDca(1, 0.5, [])).toThrow(RangeError);
  });
});
