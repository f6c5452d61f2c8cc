import fc from 'fast-check';
import {
  BELOW_ONE_SAT,
  machineLegSats,
  NO_COMMISSION_RULES,
  planSettlement,
  type PlanInput,
  type PlannedLeg,
  type SettlementPlan,
} from '../../../src/domain/settlementPlan';
import type { CommissionRule } from '../../../src/domain/commissionSplit';
import { reference, type RefOutput } from '../../helpers/reference';
import {
  balanceCentsArb,
  check,
  equalPpm,
  FULL,
  lpsArb,
  makeLp,
  MILLION,
  planInputArb,
  rulesArb,
  safeInt,
  same,
  satsArb,
  sumNum,
  toRefInput,
  txTypeArb,
  wideSatsArb,
  wireFeeArb,
  wireFeeArbOf,
} from './arbitraries';

const base: PlanInput = {
  txType: 'cash_out',
  wireSats: 0,
  feeSats: 0,
  fiatAmountCents: 0,
  platformFractionPpm: 0n,
  operatorFractionPpm: 0n,
  superWalletId: 'wallet-super',
  lps: [],
  rules: [],
};

const rule = (fractionPpm: bigint, sortOrder: number, target = `wallet-op-${sortOrder}`): CommissionRule => ({
  target,
  label: `rule ${sortOrder}`,
  fractionPpm,
  sortOrder,
});

const amounts = (legs: PlannedLeg[], type: PlannedLeg['legType']) =>
  legs.filter((l) => l.legType === type).map((l) => l.amountSats);

/** Every invariant the issue asks for, checked on one plan (BigInt sums). */
function checkInvariants(input: PlanInput, plan: SettlementPlan): void {
  const legs = plan.legs;
  // sats conserve exactly: every leg but autoforward, skipped legs included
  const machineSats = sumNum(legs.filter((l) => l.legType !== 'autoforward').map((l) => l.amountSats));
  const expected = input.txType === 'cash_out' ? input.wireSats : input.feeSats;
  same(machineSats, BigInt(expected));
  same(machineLegSats(legs), expected);

  const keys = new Set<string>();
  legs.forEach((l, i) => {
    check(
      Number.isSafeInteger(l.amountSats) && l.amountSats >= 0,
      () => `leg ${l.key}: ${l.amountSats} sats`,
    );
    check(Number.isSafeInteger(l.amountFiatCents) && l.amountFiatCents >= 0, () => `leg ${l.key}: fiat`);
    // keys are unique, sort orders follow the leg list
    check(!keys.has(l.key), () => `duplicate key ${l.key}`);
    keys.add(l.key);
    check(l.sortOrder === i, () => `leg ${l.key} has sortOrder ${l.sortOrder}, at ${i}`);
  });

  const superLegs = legs.filter((l) => l.legType === 'super_fee');
  check(superLegs.length <= 1, 'one super_fee leg at most');
  same(
    superLegs.reduce((a, l) => a + l.amountSats, 0),
    plan.fees.superFeeSats,
  );
  for (const l of superLegs) {
    same(l.destinationWalletId, input.superWalletId);
    same(l.status, 'pending');
    check(l.amountSats > 0, 'super_fee leg of 0 sats');
  }

  const dcaLegs = legs.filter((l) => l.legType === 'dca');
  if (input.txType === 'cash_in') {
    same(plan.allocation, null);
    same(dcaLegs, []);
    same(
      legs.filter((l) => l.legType === 'autoforward'),
      [],
    );
    same(plan.operatorRemainderSats, plan.fees.operatorRemainderSats);
  } else {
    const alloc = plan.allocation!;
    const F = BigInt(input.fiatAmountCents);
    const B = sumNum(input.lps.map((l) => l.availableCents));
    const C = F < B ? F : B;
    const P = BigInt(input.wireSats - input.feeSats);
    const Pc = F === 0n ? 0n : (P * C) / F;
    // Σ fiat shares == C, 0 ≤ f_i ≤ b_i; Σ DCA sats == Pc
    same(BigInt(alloc.coveredCents), C);
    same(BigInt(alloc.coveredPrincipalSats), Pc);
    same(sumNum(alloc.shares.map((s) => s.fiatCents)), C);
    same(sumNum(alloc.shares.map((s) => s.sats)), Pc);
    same(sumNum(dcaLegs.map((l) => l.amountSats)), Pc);
    alloc.shares.forEach((s, i) => {
      const lp = input.lps[i]!;
      check(s.clientId === lp.clientId, 'shares follow the enrolment order');
      check(
        s.fiatCents >= 0 && s.fiatCents <= lp.availableCents,
        () => `${s.clientId}: ${s.fiatCents} cents`,
      );
      check(s.sats >= 0, () => `${s.clientId}: ${s.sats} sats`);
    });
    const byClient = new Map(input.lps.map((lp) => [lp.clientId, lp]));
    for (const l of dcaLegs) {
      const lp = byClient.get(l.clientId!)!;
      check(l.amountFiatCents <= lp.availableCents, () => `${l.key} debits more than the balance`);
      check(l.destinationWalletId === lp.walletId, () => `${l.key} pays the wrong wallet`);
      if (l.status === 'skipped') {
        check(
          l.amountSats === 0 && l.amountFiatCents === 0 && l.errorMessage === BELOW_ONE_SAT,
          () => `skipped ${l.key}: ${JSON.stringify(l)}`,
        );
      } else {
        check(l.amountSats > 0 && l.amountFiatCents > 0, () => `pending ${l.key}: ${JSON.stringify(l)}`);
      }
    }
    // the debited fiat never exceeds C
    check(sumNum(dcaLegs.map((l) => l.amountFiatCents)) <= C, 'DCA legs debit more than C');
    // autoforward legs follow their pending dca leg with the same sats
    legs.forEach((l, i) => {
      if (l.legType !== 'autoforward') return;
      const parent = legs[i - 1]!;
      check(
        parent.key === l.parentKey &&
          parent.legType === 'dca' &&
          parent.status === 'pending' &&
          l.amountSats === parent.amountSats &&
          l.destinationLnAddress === byClient.get(l.clientId!)!.autoforwardAddress,
        () => `autoforward ${l.key} does not follow its dca leg`,
      );
    });
    same(BigInt(plan.operatorRemainderSats), BigInt(plan.fees.operatorRemainderSats) + P - Pc);
  }

  // the operator remainder is all in operator_split legs (retained, or split by the rules)
  const splitLegs = legs.filter((l) => l.legType === 'operator_split');
  same(sumNum(splitLegs.map((l) => l.amountSats)), BigInt(plan.operatorRemainderSats));
  if (input.rules.length === 0) {
    same(plan.retainedSats, plan.operatorRemainderSats);
    same(
      splitLegs.every((l) => l.key === 'retained' && l.status === 'skipped'),
      true,
    );
    same(splitLegs.length, plan.operatorRemainderSats > 0 ? 1 : 0);
  } else {
    same(plan.retainedSats, 0);
    same(
      splitLegs.every((l) => l.status === 'pending' && l.amountSats > 0),
      true,
    );
  }
  // order: super_fee, then dca (+ autoforward), then operator splits
  const rank = { super_fee: 0, dca: 1, autoforward: 1, settlement: 1, operator_split: 2 } as const;
  legs.forEach((l, i) => {
    if (i > 0) check(rank[legs[i - 1]!.legType] <= rank[l.legType], () => `leg ${l.key} out of order`);
  });
}

type LegSummary = Pick<PlannedLeg, 'key' | 'legType' | 'amountSats' | 'amountFiatCents' | 'status'>;

/** The legs the oracle's numbers imply, with SPEC §4's rules about which legs exist. */
function expectedLegs(input: PlanInput, ref: RefOutput): LegSummary[] {
  const out: LegSummary[] = [];
  const leg = (l: LegSummary) => out.push(l);
  if (ref.superFee > 0n) {
    leg({
      key: 'super_fee',
      legType: 'super_fee',
      amountSats: Number(ref.superFee),
      amountFiatCents: 0,
      status: 'pending',
    });
  }
  const lps = new Map(input.lps.map((l) => [l.clientId, l]));
  for (const d of ref.dca) {
    if (d.cents === 0n) continue; // no fiat share: no leg
    if (d.sats === 0n) {
      leg({ key: `dca:${d.id}`, legType: 'dca', amountSats: 0, amountFiatCents: 0, status: 'skipped' });
      continue;
    }
    const amountSats = Number(d.sats);
    leg({
      key: `dca:${d.id}`,
      legType: 'dca',
      amountSats,
      amountFiatCents: Number(d.cents),
      status: 'pending',
    });
    if (lps.get(d.id)!.autoforwardAddress) {
      leg({
        key: `autoforward:${d.id}`,
        legType: 'autoforward',
        amountSats,
        amountFiatCents: 0,
        status: 'pending',
      });
    }
  }
  if (ref.remainder > 0n && input.rules.length === 0) {
    leg({
      key: 'retained',
      legType: 'operator_split',
      amountSats: Number(ref.remainder),
      amountFiatCents: 0,
      status: 'skipped',
    });
  }
  ref.splits.forEach((s, i) => {
    if (s === 0n) return;
    leg({
      key: `split:${i}`,
      legType: 'operator_split',
      amountSats: Number(s),
      amountFiatCents: 0,
      status: 'pending',
    });
  });
  return out;
}

const summary = (legs: PlannedLeg[]): LegSummary[] =>
  legs.map(({ key, legType, amountSats, amountFiatCents, status }) => ({
    key,
    legType,
    amountSats,
    amountFiatCents,
    status,
  }));

function checkAgainstReference(input: PlanInput, plan: SettlementPlan): void {
  const ref = reference(toRefInput(input));
  same(BigInt(plan.fees.principalSats), ref.principal);
  same(BigInt(plan.fees.platformFeeSats), ref.platformFee);
  same(BigInt(plan.fees.operatorFeeSats), ref.operatorFee);
  same(BigInt(plan.fees.feeMismatchSats), ref.mismatch);
  same(BigInt(plan.fees.superFeeSats), ref.superFee);
  same(BigInt(plan.operatorRemainderSats), ref.remainder);
  if (input.txType === 'cash_out') {
    // sats and cents per LP, every LP (the plan's allocation keeps the zeros too)
    same(
      plan.allocation!.shares.map((s) => ({
        id: s.clientId,
        cents: BigInt(s.fiatCents),
        sats: BigInt(s.sats),
      })),
      ref.dca,
    );
  }
  same(summary(plan.legs), expectedLegs(input, ref));
}

describe('planSettlement (SPEC §4 steps 4–5)', () => {
  it('conserves sats exactly and keeps every invariant', () => {
    fc.assert(
      fc.property(planInputArb(25, 12, txTypeArb, wireFeeArbOf(wideSatsArb)), (input) => {
        checkInvariants(input, planSettlement(input));
      }),
      { numRuns: 1000 },
    );
  });

  it('differential: super_fee, DCA legs (sats and cents per LP) and operator splits equal the reference', () => {
    fc.assert(
      fc.property(planInputArb(), (input) => {
        checkAgainstReference(input, planSettlement(input));
      }),
      { numRuns: 1000 },
    );
  });

  it('differential with small numbers (many ties, many below-1-sat and 0-cent shares)', () => {
    const small = fc
      .record({
        txType: fc.constantFrom('cash_out' as const, 'cash_in' as const),
        wire: fc.integer({ min: 0, max: 60 }),
        feeFrac: fc.integer({ min: 0, max: 4 }),
        platform: fc.constantFrom(0n, 1n, 250_000n, 500_000n, 999_999n),
        operator: fc.constantFrom(0n, 100_000n, 999_999n),
        cents: fc.array(fc.integer({ min: 1, max: 5 }), { maxLength: 12, ...FULL }),
        fiat: fc.integer({ min: 0, max: 40 }),
        rules: rulesArb(9),
      })
      .map((r): PlanInput => ({
        ...base,
        txType: r.txType,
        wireSats: r.wire,
        feeSats: Math.floor((r.wire * r.feeFrac) / 4),
        fiatAmountCents: r.fiat,
        platformFractionPpm: r.platform,
        operatorFractionPpm: r.operator,
        lps: r.cents.map((c, i) => makeLp(i, c, i % 3 === 0)),
        rules: r.rules,
      }));
    fc.assert(
      fc.property(small, (input) => {
        const plan = planSettlement(input);
        checkInvariants(input, plan);
        checkAgainstReference(input, plan);
      }),
      { numRuns: 1500 },
    );
  });

  it('cash-in: the lps are ignored and the legs sum to fee_sats', () => {
    fc.assert(
      fc.property(planInputArb(10, 8, fc.constant('cash_in' as const)), (input) => {
        const plan = planSettlement(input);
        expect(plan.legs.some((l) => l.legType === 'dca' || l.legType === 'autoforward')).toBe(false);
        expect(sumNum(plan.legs.map((l) => l.amountSats))).toBe(BigInt(input.feeSats));
      }),
      { numRuns: 300 },
    );
  });

  // between the ~25 LPs above and the 10,000 below: every plan against the reference
  it.each([
    { lps: '11 to 100', min: 11, max: 100, runs: 500 },
    { lps: '101 to 1,000', min: 101, max: 1_000, runs: 100 },
  ])('$lps LPs, $runs runs: invariants and the reference', ({ min, max, runs }) => {
    const sizes: number[] = [];
    fc.assert(
      fc.property(planInputArb(max, 12, txTypeArb, wireFeeArbOf(wideSatsArb), min), (input) => {
        sizes.push(input.lps.length);
        const plan = planSettlement(input);
        checkInvariants(input, plan);
        checkAgainstReference(input, plan);
      }),
      { numRuns: runs, endOnFailure: true },
    );
    // the runs spread over the range (not all at its lower end)
    expect(Math.min(...sizes)).toBeGreaterThanOrEqual(min);
    expect(sizes.filter((n) => n > (min + max) / 2).length).toBeGreaterThan(runs / 10);
  });

  it('10,000 LPs (a handful of runs)', () => {
    fc.assert(
      fc.property(
        wireFeeArb,
        lpsArb(10_000, 10_000),
        fc.boolean(),
        rulesArb(5),
        (amounts, lps, covered, rules) => {
          const B = lps.reduce((a, l) => a + l.availableCents, 0);
          const input: PlanInput = {
            ...base,
            ...amounts,
            fiatAmountCents: covered ? Math.floor(B / 3) : B + 1,
            platformFractionPpm: 10_000n,
            operatorFractionPpm: 20_000n,
            lps,
            rules,
          };
          const plan = planSettlement(input);
          checkInvariants(input, plan);
          checkAgainstReference(input, plan);
        },
      ),
      // no shrinking: shrinking 10,000-element inputs would take minutes
      { numRuns: 3, endOnFailure: true },
    );
  });

  it('0 LPs: the whole principal joins the operator remainder', () => {
    const plan = planSettlement({
      ...base,
      wireSats: 10_300,
      feeSats: 300,
      fiatAmountCents: 500,
      platformFractionPpm: 10_000n,
      rules: [rule(600_000n, 0), rule(400_000n, 1)],
    });
    expect(plan.allocation!.uncoveredPrincipalSats).toBe(10_000);
    expect(plan.operatorRemainderSats).toBe(10_200);
    expect(summary(plan.legs)).toEqual([
      { key: 'super_fee', legType: 'super_fee', amountSats: 100, amountFiatCents: 0, status: 'pending' },
      { key: 'split:0', legType: 'operator_split', amountSats: 6_120, amountFiatCents: 0, status: 'pending' },
      { key: 'split:1', legType: 'operator_split', amountSats: 4_080, amountFiatCents: 0, status: 'pending' },
    ]);
  });

  it('1 LP covering the dispense, with autoforward', () => {
    const plan = planSettlement({
      ...base,
      wireSats: 103_000,
      feeSats: 3_000,
      fiatAmountCents: 5_000,
      platformFractionPpm: 10_000n,
      operatorFractionPpm: 20_000n,
      lps: [makeLp(0, 10_000, true)],
      rules: [rule(MILLION, 0, 'op@example.com')],
    });
    expect(summary(plan.legs)).toEqual([
      { key: 'super_fee', legType: 'super_fee', amountSats: 1_000, amountFiatCents: 0, status: 'pending' },
      { key: 'dca:client-0', legType: 'dca', amountSats: 100_000, amountFiatCents: 5_000, status: 'pending' },
      {
        key: 'autoforward:client-0',
        legType: 'autoforward',
        amountSats: 100_000,
        amountFiatCents: 0,
        status: 'pending',
      },
      { key: 'split:0', legType: 'operator_split', amountSats: 2_000, amountFiatCents: 0, status: 'pending' },
    ]);
    const split = plan.legs.find((l) => l.key === 'split:0')!;
    expect(split.destinationLnAddress).toBe('op@example.com');
    expect(split.destinationWalletId).toBeNull();
    expect(plan.legs[2]!.parentKey).toBe('dca:client-0');
    expect(plan.legs[2]!.destinationLnAddress).toBe('lp0@example.com');
  });

  it('1-sat settlements', () => {
    // cash-out of 1 sat with 1 LP of 1 cent dispensing 1 cent: the LP gets the sat
    const out = planSettlement({ ...base, wireSats: 1, fiatAmountCents: 1, lps: [makeLp(0, 1)] });
    expect(summary(out.legs)).toEqual([
      { key: 'dca:client-0', legType: 'dca', amountSats: 1, amountFiatCents: 1, status: 'pending' },
    ]);
    // 1 sat over 3 LPs: the first enrolment gets it, the others are skipped below 1 sat
    const three = planSettlement({
      ...base,
      wireSats: 1,
      fiatAmountCents: 3,
      lps: [makeLp(0, 1), makeLp(1, 1), makeLp(2, 1)],
    });
    expect(three.legs.map((l) => [l.key, l.amountSats, l.amountFiatCents, l.status, l.errorMessage])).toEqual(
      [
        ['dca:client-0', 1, 1, 'pending', null],
        ['dca:client-1', 0, 0, 'skipped', BELOW_ONE_SAT],
        ['dca:client-2', 0, 0, 'skipped', BELOW_ONE_SAT],
      ],
    );
    // cash-in of 1 sat, all fee, platform 0.999999: floor(0.999999) = 0 → the operator keeps it
    const cashIn = planSettlement({
      ...base,
      txType: 'cash_in',
      wireSats: 1,
      feeSats: 1,
      platformFractionPpm: 999_999n,
    });
    expect(summary(cashIn.legs)).toEqual([
      { key: 'retained', legType: 'operator_split', amountSats: 1, amountFiatCents: 0, status: 'skipped' },
    ]);
    expect(cashIn.legs[0]!.errorMessage).toBe(NO_COMMISSION_RULES);
  });

  it('fee_sats == wire_sats on a cash-out: no principal, LPs with a fiat share get skipped legs', () => {
    const plan = planSettlement({
      ...base,
      wireSats: 5_000,
      feeSats: 5_000,
      fiatAmountCents: 1_000,
      platformFractionPpm: 999_999n,
      lps: [makeLp(0, 600), makeLp(1, 600)],
      rules: [rule(500_000n, 0), rule(500_000n, 1)],
    });
    expect(plan.fees.principalSats).toBe(0);
    expect(plan.legs.map((l) => [l.key, l.amountSats, l.status])).toEqual([
      ['dca:client-0', 0, 'skipped'],
      ['dca:client-1', 0, 'skipped'],
      ['split:0', 2_500, 'pending'],
      ['split:1', 2_500, 'pending'],
    ]);
  });

  it('fee 0: nothing for the platform even with a platform fraction', () => {
    const plan = planSettlement({
      ...base,
      wireSats: 100_000,
      feeSats: 0,
      fiatAmountCents: 2_000,
      platformFractionPpm: 50_000n,
      lps: [makeLp(0, 2_000)],
      rules: [rule(MILLION, 0)],
    });
    expect(plan.fees.platformFeeSats).toBe(5_000);
    expect(plan.fees.superFeeSats).toBe(0);
    expect(summary(plan.legs)).toEqual([
      { key: 'dca:client-0', legType: 'dca', amountSats: 100_000, amountFiatCents: 2_000, status: 'pending' },
    ]);
  });

  it('balances smaller than the dispense: uncovered principal goes to the operator', () => {
    // 100.00 dispensed, 90,000 sats principal; LPs hold 25.00 and 0.01
    const plan = planSettlement({
      ...base,
      wireSats: 93_000,
      feeSats: 3_000,
      fiatAmountCents: 10_000,
      platformFractionPpm: 10_000n,
      lps: [makeLp(0, 2_500), makeLp(1, 1)],
    });
    // C = 25.01, Pc = floor(90,000 × 2,501 / 10,000) = 22,509
    expect(plan.allocation!.coveredCents).toBe(2_501);
    expect(plan.allocation!.coveredPrincipalSats).toBe(22_509);
    expect(summary(plan.legs)).toEqual([
      { key: 'super_fee', legType: 'super_fee', amountSats: 900, amountFiatCents: 0, status: 'pending' },
      { key: 'dca:client-0', legType: 'dca', amountSats: 22_500, amountFiatCents: 2_500, status: 'pending' },
      { key: 'dca:client-1', legType: 'dca', amountSats: 9, amountFiatCents: 1, status: 'pending' },
      // 3,000 − 900 + 67,491 uncovered, no rules
      {
        key: 'retained',
        legType: 'operator_split',
        amountSats: 69_591,
        amountFiatCents: 0,
        status: 'skipped',
      },
    ]);
    expect(plan.retainedSats).toBe(69_591);
  });

  it('an LP with a 0-cent fiat share gets no leg', () => {
    // 0.01 dispensed over two 1-cent LPs: the second gets 0 cents and no leg at all
    const plan = planSettlement({
      ...base,
      wireSats: 10,
      fiatAmountCents: 1,
      lps: [makeLp(0, 1), makeLp(1, 1)],
    });
    expect(plan.allocation!.shares.map((s) => s.fiatCents)).toEqual([1, 0]);
    expect(plan.legs.map((l) => l.key)).toEqual(['dca:client-0']);
  });

  it('fiat_amount 0 (after a partial dispense to 0): no legs; any principal would go to the operator', () => {
    expect(planSettlement({ ...base, fiatAmountCents: 0, lps: [makeLp(0, 100)] }).legs).toEqual([]);
    const plan = planSettlement({
      ...base,
      wireSats: 50,
      feeSats: 10,
      fiatAmountCents: 0,
      lps: [makeLp(0, 100)],
      rules: [rule(MILLION, 0)],
    });
    expect(plan.allocation!.coveredPrincipalSats).toBe(0);
    expect(summary(plan.legs)).toEqual([
      { key: 'split:0', legType: 'operator_split', amountSats: 50, amountFiatCents: 0, status: 'pending' },
    ]);
  });

  it('rules with many legs and odd fractions summing to exactly 1', () => {
    // 1/7 in ppm: 142858 then 142857 ×6; the odd one is given the last sort_order
    const fractions = equalPpm(7);
    const rules = fractions.map((f, i) => rule(f, 6 - i)).reverse();
    const plan = planSettlement({ ...base, txType: 'cash_in', wireSats: 1_000, feeSats: 100, rules });
    const splits = amounts(plan.legs, 'operator_split');
    expect(splits.reduce((a, b) => a + b, 0)).toBe(100);
    // quotas 14.2857 ×6 and 14.2858: the largest remainder (sort_order 6) first, then the tie to sort_order 0
    expect(splits).toEqual([15, 14, 14, 14, 14, 14, 15]);
    fc.assert(
      fc.property(satsArb, rulesArb(60), (fee, rs) => {
        const input: PlanInput = { ...base, txType: 'cash_in', wireSats: fee, feeSats: fee, rules: rs };
        checkInvariants(input, planSettlement(input));
      }),
      { numRuns: 300 },
    );
  });

  it('1 LP and balances of 1 cent, randomly', () => {
    fc.assert(
      fc.property(
        wireFeeArb,
        fc.oneof(
          balanceCentsArb.map((c) => [c]),
          fc.array(fc.constant(1), { minLength: 1, maxLength: 50, ...FULL }),
        ),
        safeInt(0, 200),
        rulesArb(4),
        (amounts, cents, fiat, rules) => {
          const input: PlanInput = {
            ...base,
            ...amounts,
            fiatAmountCents: fiat,
            platformFractionPpm: 20_000n,
            lps: cents.map((c, i) => makeLp(i, c, i % 2 === 1)),
            rules,
          };
          const plan = planSettlement(input);
          checkInvariants(input, plan);
          checkAgainstReference(input, plan);
        },
      ),
      { numRuns: 500 },
    );
  });
});
