import { allocateDca, type DcaAllocation } from './dcaAllocation';
import { splitCommission, type CommissionRule } from './commissionSplit';
import { splitFees, type FeeSplit, type TxType } from './feeSplit';
import { isLightningAddress } from './validation';

export type LegType = 'dca' | 'settlement' | 'autoforward' | 'super_fee' | 'operator_split';

export interface PlanLp {
  clientId: string;
  availableCents: number;
  walletId: string;
  /** set when the LP forwards its sats to a Lightning address */
  autoforwardAddress: string | null;
  label: string | null;
}

export interface PlanInput {
  txType: TxType;
  wireSats: number;
  feeSats: number;
  fiatAmountCents: number;
  platformFractionPpm: bigint;
  operatorFractionPpm: bigint;
  superWalletId: string | null;
  /** eligible LPs in enrolment order (created_at, id); ignored for cash-in */
  lps: readonly PlanLp[];
  rules: readonly CommissionRule[];
}

export interface PlannedLeg {
  /** stable within one plan: 'super_fee', 'dca:<client>', 'autoforward:<client>', 'split:<n>', 'retained' */
  key: string;
  legType: LegType;
  amountSats: number;
  amountFiatCents: number;
  clientId: string | null;
  destinationWalletId: string | null;
  destinationLnAddress: string | null;
  label: string | null;
  status: 'pending' | 'skipped';
  errorMessage: string | null;
  /** for autoforward: the key of the dca leg it follows */
  parentKey: string | null;
  sortOrder: number;
}

export interface SettlementPlan {
  fees: FeeSplit;
  allocation: DcaAllocation | null;
  /** R: fee − super_fee, plus principal not covered by LP balances */
  operatorRemainderSats: number;
  /** sats that stay in the machine wallet (R when there are no commission rules) */
  retainedSats: number;
  legs: PlannedLeg[];
}

export const BELOW_ONE_SAT = 'below 1 sat';
export const NO_COMMISSION_RULES = 'no commission split rules: the remainder stays in the machine wallet';

export class ConservationError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ConservationError';
  }
}

/** Σ sats of the legs that leave the machine wallet (everything but autoforward, which is a second hop). */
export function machineLegSats(legs: readonly Pick<PlannedLeg, 'legType' | 'amountSats'>[]): number {
  return legs.filter((l) => l.legType !== 'autoforward').reduce((a, l) => a + l.amountSats, 0);
}

/**
 * The whole distribution of one settlement (SPEC §4 steps 4–5), pure. Conservation
 * is checked before returning: Σ machine legs (a retained remainder included, as a
 * skipped leg) == wire_sats for cash-out and fee_sats for cash-in.
 */
export function planSettlement(input: PlanInput): SettlementPlan {
  const fees = splitFees(input);
  const legs: PlannedLeg[] = [];
  let order = 0;
  const leg = (l: Omit<PlannedLeg, 'sortOrder'>) => legs.push({ ...l, sortOrder: order++ });

  if (fees.superFeeSats > 0) {
    leg({
      key: 'super_fee',
      legType: 'super_fee',
      amountSats: fees.superFeeSats,
      amountFiatCents: 0,
      clientId: null,
      destinationWalletId: input.superWalletId,
      destinationLnAddress: null,
      label: 'platform fee',
      status: 'pending',
      errorMessage: null,
      parentKey: null,
    });
  }

  let allocation: DcaAllocation | null = null;
  let uncovered = 0;
  if (input.txType === 'cash_out') {
    const lps = input.lps;
    allocation = allocateDca(fees.principalSats, input.fiatAmountCents, lps);
    uncovered = allocation.uncoveredPrincipalSats;
    allocation.shares.forEach((share, i) => {
      const lp = lps[i]!;
      if (share.fiatCents === 0) return; // no fiat share: no leg
      const key = `dca:${lp.clientId}`;
      if (share.sats === 0) {
        leg({
          key,
          legType: 'dca',
          amountSats: 0,
          amountFiatCents: 0,
          clientId: lp.clientId,
          destinationWalletId: lp.walletId,
          destinationLnAddress: null,
          label: lp.label,
          status: 'skipped',
          errorMessage: BELOW_ONE_SAT,
          parentKey: null,
        });
        return;
      }
      leg({
        key,
        legType: 'dca',
        amountSats: share.sats,
        amountFiatCents: share.fiatCents,
        clientId: lp.clientId,
        destinationWalletId: lp.walletId,
        destinationLnAddress: null,
        label: lp.label,
        status: 'pending',
        errorMessage: null,
        parentKey: null,
      });
      if (lp.autoforwardAddress) {
        leg({
          key: `autoforward:${lp.clientId}`,
          legType: 'autoforward',
          amountSats: share.sats,
          amountFiatCents: 0,
          clientId: lp.clientId,
          destinationWalletId: null,
          destinationLnAddress: lp.autoforwardAddress,
          label: lp.label,
          status: 'pending',
          errorMessage: null,
          parentKey: key,
        });
      }
    });
  }

  const remainder = fees.operatorRemainderSats + uncovered;
  let retained = 0;
  if (remainder > 0) {
    if (input.rules.length === 0) {
      retained = remainder;
      leg({
        key: 'retained',
        legType: 'operator_split',
        amountSats: remainder,
        amountFiatCents: 0,
        clientId: null,
        destinationWalletId: null,
        destinationLnAddress: null,
        label: 'operator remainder',
        status: 'skipped',
        errorMessage: NO_COMMISSION_RULES,
        parentKey: null,
      });
    } else {
      splitCommission(remainder, input.rules).forEach(({ rule, sats }, i) => {
        if (sats === 0) return;
        const address = isLightningAddress(rule.target);
        leg({
          key: `split:${i}`,
          legType: 'operator_split',
          amountSats: sats,
          amountFiatCents: 0,
          clientId: null,
          destinationWalletId: address ? null : rule.target,
          destinationLnAddress: address ? rule.target : null,
          label: rule.label,
          status: 'pending',
          errorMessage: null,
          parentKey: null,
        });
      });
    }
  }

  const expected = input.txType === 'cash_out' ? input.wireSats : input.feeSats;
  const total = machineLegSats(legs);
  if (total !== expected) {
    throw new ConservationError(`legs sum to ${total} sats, expected ${expected} (${input.txType})`);
  }
  if (legs.some((l) => l.amountSats < 0)) throw new ConservationError('a leg is negative');
  return { fees, allocation, operatorRemainderSats: remainder, retainedSats: retained, legs };
}
