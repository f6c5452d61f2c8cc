import fc from 'fast-check';
import {
  PartialDispenseError,
  partialDispenseRefusal,
  scalePartialDispense,
} from '../../../src/domain/partialDispense';
import { planSettlement, type PlanInput } from '../../../src/domain/settlementPlan';
import {
  check,
  feePpmArb,
  lpsArb,
  rulesArb,
  safeInt,
  same,
  sumNum,
  wideSatsArb,
  wireFeeArbOf,
} from './arbitraries';

/** an original cash-out and a smaller dispensed amount 0 ≤ new < old */
const dispenseArb = fc
  .record({
    amounts: wireFeeArbOf(wideSatsArb),
    oldFiatCents: fc.oneof(
      fc.constant(1),
      fc.integer({ min: 1, max: 100_000 }),
      safeInt(1, 1_000_000_000_000_000),
    ),
  })
  .chain(({ amounts, oldFiatCents }) =>
    fc
      .oneof(fc.constant(0), fc.constant(oldFiatCents - 1), safeInt(0, oldFiatCents - 1))
      .map((newFiatCents) => ({
        oldWireSats: amounts.wireSats,
        oldFeeSats: amounts.feeSats,
        oldFiatCents,
        newFiatCents,
      })),
  );

describe('partial dispense (SPEC §4 operator actions)', () => {
  it('wire and fee become floor(old × new / old_fiat), exactly, and stay consistent', () => {
    fc.assert(
      fc.property(dispenseArb, (input) => {
        same(partialDispenseRefusal(input.oldFiatCents, input.newFiatCents), null);
        const out = scalePartialDispense(input);
        const n = BigInt(input.newFiatCents);
        const o = BigInt(input.oldFiatCents);
        same(BigInt(out.wireSats), (BigInt(input.oldWireSats) * n) / o);
        same(BigInt(out.feeSats), (BigInt(input.oldFeeSats) * n) / o);
        // still a valid settlement: 0 ≤ fee ≤ wire ≤ old wire; the refund is ≥ 0
        check(out.feeSats >= 0, 'out.feeSats >= 0');
        check(out.feeSats <= out.wireSats, 'out.feeSats <= out.wireSats');
        check(out.wireSats <= input.oldWireSats, 'out.wireSats <= input.oldWireSats');
        check(out.feeSats <= input.oldFeeSats, 'out.feeSats <= input.oldFeeSats');
        if (input.newFiatCents === 0) same(out, { wireSats: 0, feeSats: 0 });
      }),
      { numRuns: 1000 },
    );
  });

  it('redistributing the scaled amounts conserves the new wire_sats exactly', () => {
    fc.assert(
      fc.property(
        dispenseArb,
        feePpmArb,
        feePpmArb,
        lpsArb(15),
        rulesArb(6),
        (d, platformFractionPpm, operatorFractionPpm, lps, rules) => {
          const scaled = scalePartialDispense(d);
          const input: PlanInput = {
            txType: 'cash_out',
            wireSats: scaled.wireSats,
            feeSats: scaled.feeSats,
            fiatAmountCents: d.newFiatCents,
            platformFractionPpm,
            operatorFractionPpm,
            superWalletId: 'wallet-super',
            lps,
            rules,
          };
          const plan = planSettlement(input);
          const machine = plan.legs.filter((l) => l.legType !== 'autoforward').map((l) => l.amountSats);
          expect(sumNum(machine)).toBe(BigInt(scaled.wireSats));
          // with the refund, the customer's original wire is accounted for to the sat
          expect(sumNum(machine) + BigInt(d.oldWireSats - scaled.wireSats)).toBe(BigInt(d.oldWireSats));
          if (d.newFiatCents === 0) expect(plan.legs).toEqual([]);
        },
      ),
      { numRuns: 500 },
    );
  });

  it('computes an example by hand, exact beyond 2^53', () => {
    expect(
      scalePartialDispense({
        oldFiatCents: 10_000,
        newFiatCents: 6_000,
        oldWireSats: 103_001,
        oldFeeSats: 3_001,
      }),
    ).toEqual({ wireSats: 61_800, feeSats: 1_800 });
    // 9,007,199,254,740,991 × 2 / 3 = 6,004,799,503,160,660.67 (a float rounds it up to …661)
    expect(
      scalePartialDispense({
        oldFiatCents: 3,
        newFiatCents: 2,
        oldWireSats: Number.MAX_SAFE_INTEGER,
        oldFeeSats: Number.MAX_SAFE_INTEGER,
      }),
    ).toEqual({ wireSats: 6_004_799_503_160_660, feeSats: 6_004_799_503_160_660 });
    expect(scalePartialDispense({ oldFiatCents: 1, newFiatCents: 0, oldWireSats: 1, oldFeeSats: 1 })).toEqual(
      {
        wireSats: 0,
        feeSats: 0,
      },
    );
  });

  it('refuses 0 > new, new ≥ old and fractional cents', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 1_000_000 }),
        fc.integer({ min: 0, max: 1_000_000 }),
        (old, extra) => {
          expect(partialDispenseRefusal(old, old + extra)).toMatch(/less than the original/);
        },
      ),
    );
    expect(partialDispenseRefusal(100, -1)).toMatch(/≥ 0/);
    expect(partialDispenseRefusal(100, 50.5)).toMatch(/≥ 0/);
    expect(partialDispenseRefusal(100, Number.NaN)).not.toBeNull();
    expect(partialDispenseRefusal(0, 0)).not.toBeNull();
    expect(partialDispenseRefusal(12_345, 12_345)).toBe(
      'the dispensed amount must be less than the original 123.45',
    );
    expect(partialDispenseRefusal(100, 0)).toBeNull();
    expect(partialDispenseRefusal(100, 99)).toBeNull();
    expect(() =>
      scalePartialDispense({ oldFiatCents: 100, newFiatCents: 100, oldWireSats: 10, oldFeeSats: 1 }),
    ).toThrow(PartialDispenseError);
    expect(() =>
      scalePartialDispense({ oldFiatCents: 100, newFiatCents: -1, oldWireSats: 10, oldFeeSats: 1 }),
    ).toThrow(PartialDispenseError);
  });
});
