/**
 * Shared fast-check generators for the src/domain property tests. The edge cases
 * the issue names are biased in on purpose (0 and 1 sat, fee == wire, fee 0,
 * fractions 0 and 0.999999, 1-cent balances, balances below the dispense, fiat 0,
 * no commission rules, many rules with odd fractions summing to exactly 1).
 */
import { isDeepStrictEqual } from 'node:util';
import fc from 'fast-check';
import type { CommissionRule } from '../../../src/domain/commissionSplit';
import type { TxType } from '../../../src/domain/feeSplit';
import type { PlanInput, PlanLp } from '../../../src/domain/settlementPlan';
import type { RefInput } from '../../helpers/reference';

export const MILLION = 1_000_000n;
/** 21 million BTC in sats */
export const MAX_SUPPLY_SATS = 2_100_000_000_000_000;

/** An integer in [min, max] that may exceed 2^31 (fc.integer is 32-bit). */
export const safeInt = (min: number, max: number): fc.Arbitrary<number> =>
  fc.bigInt({ min: BigInt(min), max: BigInt(max) }).map(Number);

/**
 * Sat amounts up to the 21M BTC supply, small ones and 1-sat settlements strongly
 * represented; P × fraction and P × cents still go far beyond 2^53.
 */
export const satsArb: fc.Arbitrary<number> = fc.oneof(
  { weight: 2, arbitrary: fc.constantFrom(0, 1, 2, 3) },
  { weight: 3, arbitrary: fc.integer({ min: 0, max: 10_000 }) },
  { weight: 3, arbitrary: fc.integer({ min: 0, max: 100_000_000 }) },
  { weight: 1, arbitrary: safeInt(0, MAX_SUPPLY_SATS) },
  { weight: 1, arbitrary: safeInt(MAX_SUPPLY_SATS - 1_000, MAX_SUPPLY_SATS) },
);

/** Amounts up to the largest accepted (21M BTC), weighted towards the top: splitFees refuses more. */
export const wideSatsArb: fc.Arbitrary<number> = fc.oneof(
  { weight: 4, arbitrary: satsArb },
  { weight: 1, arbitrary: safeInt(MAX_SUPPLY_SATS / 2, MAX_SUPPLY_SATS) },
  { weight: 1, arbitrary: safeInt(MAX_SUPPLY_SATS - 1_000, MAX_SUPPLY_SATS) },
);

/** wire_sats with a fee in [0, wire]: fee 0 and fee == wire come up often. */
export const wireFeeArbOf = (
  sats: fc.Arbitrary<number>,
): fc.Arbitrary<{ wireSats: number; feeSats: number }> =>
  sats.chain((wireSats) =>
    fc
      .oneof(
        fc.constant(0),
        fc.constant(wireSats),
        fc.integer({ min: 0, max: Math.min(wireSats, 10) }),
        safeInt(0, wireSats),
      )
      .map((feeSats) => ({ wireSats, feeSats })),
  );
export const wireFeeArb = wireFeeArbOf(satsArb);

/** A fee fraction in parts per million, in [0, 1): 0 and 0.999999 included explicitly. */
export const feePpmArb: fc.Arbitrary<bigint> = fc.oneof(
  fc.constant(0n),
  fc.constant(999_999n),
  fc.constant(1n),
  fc.bigInt({ min: 0n, max: 100_000n }),
  fc.bigInt({ min: 0n, max: 999_999n }),
);

/** An available LP balance in cents (> 0): 1 cent is frequent. */
export const balanceCentsArb: fc.Arbitrary<number> = fc.oneof(
  { weight: 2, arbitrary: fc.constant(1) },
  { weight: 3, arbitrary: fc.integer({ min: 1, max: 100 }) },
  { weight: 3, arbitrary: fc.integer({ min: 1, max: 10_000_000 }) },
  { weight: 1, arbitrary: safeInt(1, 1_000_000_000_000) },
);

/** A dispensed fiat amount relative to the LP balance total B: 0, below, equal to, above B. */
export const fiatForBalancesArb = (B: number): fc.Arbitrary<number> =>
  fc.oneof(
    fc.constant(0),
    fc.constant(1),
    fc.constant(B),
    safeInt(0, B),
    safeInt(B, B + 1_000_000),
    fc.integer({ min: 0, max: 100_000_000 }),
  );

/**
 * fast-check's default size ('small') caps a generated array at about 10 elements
 * whatever its maxLength says: every array here whose maxLength is the point of the
 * test says `size: 'max'`, so lengths range over the whole [minLength, maxLength].
 * arbitraries.test.ts checks the generators reach the sizes they name.
 */
export const FULL = { size: 'max' } as const;

/** LPs in enrolment order; unique ids; some autoforward to a Lightning address. */
export const lpsArb = (maxLength: number, minLength = 0): fc.Arbitrary<PlanLp[]> =>
  fc
    .array(fc.tuple(balanceCentsArb, fc.boolean()), { minLength, maxLength, ...FULL })
    .map((items) => items.map(([availableCents, autoforward], i) => makeLp(i, availableCents, autoforward)));

export function makeLp(i: number, availableCents: number, autoforward = false): PlanLp {
  return {
    clientId: `client-${i}`,
    availableCents,
    walletId: `wallet-lp-${i}`,
    autoforwardAddress: autoforward ? `lp${i}@example.com` : null,
    label: `lp ${i}`,
  };
}

/** n ≥ 1 fractions in ppm, each ≥ 0, summing to exactly 1_000_000. */
export const fractionsArb = (maxLegs: number): fc.Arbitrary<bigint[]> =>
  fc.oneof(
    // the whole remainder to one rule
    fc.constant<bigint[]>([MILLION]),
    // n equal-ish shares: 1/3, 1/7, 1/11 … are odd in ppm (333334, 333333, 333333)
    fc.integer({ min: 1, max: maxLegs }).map((n) => equalPpm(n)),
    // random cut points of [0, 1]: zero-width legs possible
    fc
      .array(fc.bigInt({ min: 0n, max: MILLION }), { minLength: 0, maxLength: maxLegs - 1, ...FULL })
      .map((cuts) => {
        const sorted = [...cuts].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
        const bounds = [0n, ...sorted, MILLION];
        return bounds.slice(1).map((b, i) => b - bounds[i]!);
      }),
    // many odd positive fractions: ppm weights 1 … 999_999 rescaled exactly to 1
    fc
      .array(fc.bigInt({ min: 1n, max: 999_999n }), { minLength: 1, maxLength: maxLegs, ...FULL })
      .map((ws) => rescaleToMillion(ws)),
  );

/** n shares of one million in ppm, the extra ppm to the first ones. */
export function equalPpm(n: number): bigint[] {
  const base = MILLION / BigInt(n);
  const extra = Number(MILLION % BigInt(n));
  return Array.from({ length: n }, (_, i) => base + (i < extra ? 1n : 0n));
}

function rescaleToMillion(ws: bigint[]): bigint[] {
  const W = ws.reduce((a, b) => a + b, 0n);
  const out = ws.map((w) => (w * MILLION) / W);
  let left = MILLION - out.reduce((a, b) => a + b, 0n);
  for (let i = 0; left > 0n; i = (i + 1) % out.length, left--) out[i] = out[i]! + 1n;
  return out;
}

/** Commission rule sets: empty (no rules) often, else fractions summing to exactly 1. */
export const rulesArb = (maxLegs: number): fc.Arbitrary<CommissionRule[]> =>
  fc.oneof(
    { weight: 1, arbitrary: fc.constant<CommissionRule[]>([]) },
    {
      weight: 4,
      arbitrary: fractionsArb(maxLegs).chain((fractions) =>
        fc
          .tuple(
            // sort orders may repeat and come unsorted: the sort must be stable
            fc.array(fc.integer({ min: 0, max: 5 }), {
              minLength: fractions.length,
              maxLength: fractions.length,
            }),
            fc.array(fc.boolean(), { minLength: fractions.length, maxLength: fractions.length }),
          )
          .map(([orders, lnAddress]) =>
            fractions.map((fractionPpm, i) => ({
              target: lnAddress[i] ? `split${i}@example.org` : `wallet-split-${i}`,
              label: `split ${i}`,
              fractionPpm,
              sortOrder: orders[i]!,
            })),
          ),
      ),
    },
  );

export const txTypeArb: fc.Arbitrary<TxType> = fc.constantFrom('cash_out', 'cash_in');

/** A valid planSettlement input (what legPlanning builds from the DB). */
export const planInputArb = (
  maxLps = 25,
  maxRules = 12,
  txType: fc.Arbitrary<TxType> = txTypeArb,
  amounts: fc.Arbitrary<{ wireSats: number; feeSats: number }> = wireFeeArb,
  minLps = 0,
) =>
  fc
    .record({
      txType,
      amounts,
      platformFractionPpm: feePpmArb,
      operatorFractionPpm: feePpmArb,
      lps: lpsArb(maxLps, minLps),
      rules: rulesArb(maxRules),
      superWalletId: fc.constantFrom('wallet-super', null),
    })
    .chain((r) => {
      const B = r.lps.reduce((a, l) => a + l.availableCents, 0);
      return fiatForBalancesArb(B).map((fiatAmountCents): PlanInput => ({
        txType: r.txType,
        wireSats: r.amounts.wireSats,
        feeSats: r.amounts.feeSats,
        fiatAmountCents,
        platformFractionPpm: r.platformFractionPpm,
        operatorFractionPpm: r.operatorFractionPpm,
        superWalletId: r.superWalletId,
        lps: r.lps,
        rules: r.rules,
      }));
    });

/** The same input for the independent oracle of test/helpers/reference.ts. */
export function toRefInput(input: PlanInput): RefInput {
  return {
    txType: input.txType,
    wire: BigInt(input.wireSats),
    fee: BigInt(input.feeSats),
    fiatCents: BigInt(input.fiatAmountCents),
    platformPpm: input.platformFractionPpm,
    operatorPpm: input.operatorFractionPpm,
    lps: input.lps.map((l) => ({ id: l.clientId, balanceCents: BigInt(l.availableCents) })),
    rules: input.rules.map((r) => ({ fractionPpm: r.fractionPpm, sortOrder: r.sortOrder })),
  };
}

export const sumBig = (xs: readonly bigint[]): bigint => xs.reduce((a, b) => a + b, 0n);
export const sumNum = (xs: readonly number[]): bigint => xs.reduce((a, b) => a + BigInt(b), 0n);

/**
 * A cheap assertion for loops over thousands of items (jest's expect is slow
 * there): throws with the message, which fast-check reports with the input.
 */
export function check(cond: boolean, message: string | (() => string)): asserts cond {
  if (!cond) throw new Error(typeof message === 'string' ? message : message());
}

/** Deep equality without jest's per-call cost; on a difference, jest prints the diff. */
export function same<T>(actual: T, expected: T): void {
  if (!isDeepStrictEqual(actual, expected)) expect(actual).toEqual(expected);
}
