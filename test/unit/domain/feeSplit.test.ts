import fc from 'fast-check';
import {
  checkAmounts,
  InvalidAmountsError,
  mismatchTolerance,
  principalOf,
  splitFees,
  type FeeSplitInput,
} from '../../../src/domain/feeSplit';
import {
  check,
  feePpmArb,
  MILLION,
  same,
  txTypeArb,
  wideSatsArb,
  wireFeeArb,
  wireFeeArbOf,
} from './arbitraries';

const inputArbOf = (
  amounts: fc.Arbitrary<{ wireSats: number; feeSats: number }>,
): fc.Arbitrary<FeeSplitInput> =>
  fc.record({ txType: txTypeArb, amounts, platform: feePpmArb, operator: feePpmArb }).map((r) => ({
    txType: r.txType,
    wireSats: r.amounts.wireSats,
    feeSats: r.amounts.feeSats,
    platformFractionPpm: r.platform,
    operatorFractionPpm: r.operator,
  }));
/** amounts up to the 21M BTC supply */
const inputArb = inputArbOf(wireFeeArb);
/** amounts up to the 21M BTC supply, weighted towards the top */
const wideInputArb = inputArbOf(wireFeeArbOf(wideSatsArb));

describe('splitFees (SPEC §4 step 4)', () => {
  it('follows the spec formulas exactly (BigInt oracle)', () => {
    fc.assert(
      fc.property(inputArb, (input) => {
        const out = splitFees(input);
        const wire = BigInt(input.wireSats);
        const fee = BigInt(input.feeSats);
        const P = input.txType === 'cash_out' ? wire - fee : wire;
        const platform = (P * input.platformFractionPpm) / MILLION;
        const operator = (P * input.operatorFractionPpm) / MILLION;
        const superFee = platform < fee ? platform : fee;
        const mismatch = fee - platform - operator;
        const tenth = P / 1000n;
        const tolerance = tenth > 1n ? tenth : 1n;
        const abs = mismatch < 0n ? -mismatch : mismatch;

        same(BigInt(out.principalSats), P);
        same(BigInt(out.platformFeeSats), platform);
        same(BigInt(out.operatorFeeSats), operator);
        same(BigInt(out.feeMismatchSats), mismatch);
        same(BigInt(out.toleranceSats), tolerance);
        same(out.mismatchOverTolerance, abs > tolerance);
        same(BigInt(out.superFeeSats), superFee);
        same(BigInt(out.operatorRemainderSats), fee - superFee);
      }),
      { numRuns: 500 },
    );
  });

  it('fees are floors of the exact products, the super fee never exceeds the collected fee', () => {
    fc.assert(
      fc.property(wideInputArb, (input) => {
        const out = splitFees(input);
        const P = BigInt(out.principalSats);
        for (const [fee, ppm] of [
          [out.platformFeeSats, input.platformFractionPpm],
          [out.operatorFeeSats, input.operatorFractionPpm],
        ] as const) {
          // fee ≤ P × f < fee + 1, checked in ppm units
          check(BigInt(fee) * MILLION <= P * ppm, () => `${fee} > P × ${ppm} ppm`);
          check(P * ppm < (BigInt(fee) + 1n) * MILLION, () => `${fee} + 1 ≤ P × ${ppm} ppm`);
          check(Number.isSafeInteger(fee) && fee >= 0, () => `fee ${fee}`);
        }
        check(out.superFeeSats >= 0, 'out.superFeeSats >= 0');
        check(out.superFeeSats <= input.feeSats, 'out.superFeeSats <= input.feeSats');
        check(out.superFeeSats <= out.platformFeeSats, 'out.superFeeSats <= out.platformFeeSats');
        check(out.operatorRemainderSats >= 0, 'out.operatorRemainderSats >= 0');
        same(out.superFeeSats + out.operatorRemainderSats, input.feeSats);
        check(out.principalSats >= 0, 'out.principalSats >= 0');
        check(out.principalSats <= input.wireSats, 'out.principalSats <= input.wireSats');
      }),
      { numRuns: 500 },
    );
  });

  it('computes an example by hand', () => {
    // cash-out of 1,030,000 sats with a 30,000-sat fee: P = 1,000,000
    expect(
      splitFees({
        txType: 'cash_out',
        wireSats: 1_030_000,
        feeSats: 30_000,
        platformFractionPpm: 10_000n, // 0.01
        operatorFractionPpm: 20_000n, // 0.02
      }),
    ).toEqual({
      principalSats: 1_000_000,
      platformFeeSats: 10_000,
      operatorFeeSats: 20_000,
      feeMismatchSats: 0,
      toleranceSats: 1_000,
      mismatchOverTolerance: false,
      superFeeSats: 10_000,
      operatorRemainderSats: 20_000,
    });
    // cash-in: P is the whole wire amount; the ATM under-reported its fee
    const cashIn = splitFees({
      txType: 'cash_in',
      wireSats: 500_000,
      feeSats: 4_000,
      platformFractionPpm: 10_000n,
      operatorFractionPpm: 5_000n,
    });
    expect(cashIn.principalSats).toBe(500_000);
    expect(cashIn.platformFeeSats).toBe(5_000);
    expect(cashIn.operatorFeeSats).toBe(2_500);
    expect(cashIn.feeMismatchSats).toBe(-3_500);
    expect(cashIn.toleranceSats).toBe(500);
    expect(cashIn.mismatchOverTolerance).toBe(true);
    // the platform is capped by what was actually collected
    expect(cashIn.superFeeSats).toBe(4_000);
    expect(cashIn.operatorRemainderSats).toBe(0);
  });

  it('handles 1 sat, fee 0, fee == wire and the fractions 0 and 0.999999', () => {
    const base = { platformFractionPpm: 999_999n, operatorFractionPpm: 0n };
    const oneSat = splitFees({ ...base, txType: 'cash_out', wireSats: 1, feeSats: 0 });
    expect(oneSat).toMatchObject({
      principalSats: 1,
      platformFeeSats: 0,
      operatorFeeSats: 0,
      superFeeSats: 0,
    });
    expect(oneSat.toleranceSats).toBe(1);
    expect(oneSat.mismatchOverTolerance).toBe(false);

    const allFee = splitFees({ ...base, txType: 'cash_out', wireSats: 5_000, feeSats: 5_000 });
    expect(allFee).toMatchObject({ principalSats: 0, platformFeeSats: 0, superFeeSats: 0 });
    expect(allFee.operatorRemainderSats).toBe(5_000);
    expect(allFee.feeMismatchSats).toBe(5_000);

    const allFeeIn = splitFees({ ...base, txType: 'cash_in', wireSats: 5_000, feeSats: 5_000 });
    expect(allFeeIn.principalSats).toBe(5_000);
    expect(allFeeIn.platformFeeSats).toBe(4_999);
    expect(allFeeIn.superFeeSats).toBe(4_999);
    expect(allFeeIn.operatorRemainderSats).toBe(1);

    const noFee = splitFees({ ...base, txType: 'cash_in', wireSats: 1_000_000, feeSats: 0 });
    expect(noFee.platformFeeSats).toBe(999_999);
    expect(noFee.superFeeSats).toBe(0);
    expect(noFee.operatorRemainderSats).toBe(0);
    expect(noFee.feeMismatchSats).toBe(-999_999);
  });

  it('stays exact where P × fraction exceeds 2^53 (a float would be off by one)', () => {
    // 2,000,000,000,007,919 × 0.999999 = 1,999,998,000,007,918.992081
    const out = splitFees({
      txType: 'cash_in',
      wireSats: 2_000_000_000_007_919,
      feeSats: 0,
      platformFractionPpm: 999_999n,
      operatorFractionPpm: 999_999n,
    });
    expect(out.platformFeeSats).toBe(1_999_998_000_007_918);
    expect(out.operatorFeeSats).toBe(1_999_998_000_007_918);
    expect(out.toleranceSats).toBe(2_000_000_000_007);
  });

  it('refuses amounts beyond the 21M BTC supply, so every derived value stays an exact integer', () => {
    // Found by the BigInt-oracle property: with wire_sats near Number.MAX_SAFE_INTEGER the
    // mismatch (−18,014,371,487,884,217) is past 2^53 and cannot be a JS number. No real
    // settlement gets there: amounts above 2.1e15 sats are refused instead.
    expect(() =>
      splitFees({
        txType: 'cash_in',
        wireSats: Number.MAX_SAFE_INTEGER,
        feeSats: 0,
        platformFractionPpm: 999_999n,
        operatorFractionPpm: 999_998n,
      }),
    ).toThrow(/21,000,000 BTC/);
    const out = splitFees({
      txType: 'cash_in',
      wireSats: 2_100_000_000_000_000,
      feeSats: 0,
      platformFractionPpm: 999_999n,
      operatorFractionPpm: 999_998n,
    });
    expect(BigInt(out.feeMismatchSats)).toBe(
      -(2_100_000_000_000_000n * 999_999n) / 1_000_000n - (2_100_000_000_000_000n * 999_998n) / 1_000_000n,
    );
  });

  it('refuses invalid amounts and fractions outside [0, 1)', () => {
    const ok: FeeSplitInput = {
      txType: 'cash_out',
      wireSats: 100,
      feeSats: 10,
      platformFractionPpm: 0n,
      operatorFractionPpm: 0n,
    };
    expect(() => splitFees({ ...ok, feeSats: 101 })).toThrow(InvalidAmountsError);
    expect(() => splitFees({ ...ok, feeSats: -1 })).toThrow(InvalidAmountsError);
    expect(() => splitFees({ ...ok, wireSats: -1, feeSats: 0 })).toThrow(InvalidAmountsError);
    expect(() => splitFees({ ...ok, wireSats: 100.5 })).toThrow(InvalidAmountsError);
    expect(() => splitFees({ ...ok, feeSats: 0.5 })).toThrow(InvalidAmountsError);
    expect(() => splitFees({ ...ok, wireSats: Number.MAX_SAFE_INTEGER + 1 })).toThrow(InvalidAmountsError);
    expect(() => splitFees({ ...ok, wireSats: Number.NaN })).toThrow(InvalidAmountsError);
    expect(() => splitFees({ ...ok, platformFractionPpm: MILLION })).toThrow(InvalidAmountsError);
    expect(() => splitFees({ ...ok, operatorFractionPpm: -1n })).toThrow(InvalidAmountsError);
    expect(() => checkAmounts(0, 0)).not.toThrow();
    expect(() => checkAmounts(7, 7)).not.toThrow();
  });

  it('principalOf and mismatchTolerance', () => {
    expect(principalOf('cash_out', 1_000, 30)).toBe(970);
    expect(principalOf('cash_in', 1_000, 30)).toBe(1_000);
    expect(mismatchTolerance(0)).toBe(1);
    expect(mismatchTolerance(1_999)).toBe(1);
    expect(mismatchTolerance(2_000)).toBe(2);
    expect(mismatchTolerance(1_234_567)).toBe(1_234);
  });
});
