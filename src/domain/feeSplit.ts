import { PPM } from './decimal';

export type TxType = 'cash_out' | 'cash_in';

export interface FeeSplitInput {
  txType: TxType;
  wireSats: number;
  feeSats: number;
  /** platform fraction for this tx type, parts per million */
  platformFractionPpm: bigint;
  /** operator fraction for this tx type (machine setting), parts per million */
  operatorFractionPpm: bigint;
}

export interface FeeSplit {
  principalSats: number;
  platformFeeSats: number;
  operatorFeeSats: number;
  /** fee_sats − (platform + operator): positive = the ATM over-reported its fee */
  feeMismatchSats: number;
  toleranceSats: number;
  mismatchOverTolerance: boolean;
  /** the super_fee leg: min(platform fee, fee actually collected) */
  superFeeSats: number;
  /** what the operator's commission rules share (before uncovered principal joins it) */
  operatorRemainderSats: number;
}

export class InvalidAmountsError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'InvalidAmountsError';
  }
}

/** 21,000,000 BTC: no amount can be larger, and below it every product stays exact. */
export const MAX_SATS = 2_100_000_000_000_000;

export function checkAmounts(wireSats: number, feeSats: number): void {
  if (wireSats > MAX_SATS) throw new InvalidAmountsError(`wire_sats ${wireSats} exceeds 21,000,000 BTC`);
  if (!Number.isSafeInteger(wireSats) || wireSats < 0)
    throw new InvalidAmountsError(`wire_sats must be a whole number ≥ 0, got ${wireSats}`);
  if (!Number.isSafeInteger(feeSats) || feeSats < 0)
    throw new InvalidAmountsError(`fee_sats must be a whole number ≥ 0, got ${feeSats}`);
  if (feeSats > wireSats)
    throw new InvalidAmountsError(`fee_sats (${feeSats}) exceeds wire_sats (${wireSats})`);
}

/** Principal: what the customer exchanged. Cash-out: wire − fee; cash-in: wire. */
export function principalOf(txType: TxType, wireSats: number, feeSats: number): number {
  return txType === 'cash_out' ? wireSats - feeSats : wireSats;
}

/** Fee mismatch tolerance: max(1, floor(P × 0.001)). */
export function mismatchTolerance(principalSats: number): number {
  return Math.max(1, Math.floor(principalSats / 1000));
}

/**
 * The principal-based fee split (SPEC §4 step 4): fees are fractions of the
 * principal, floored; the mismatch against what the ATM reported is recorded.
 */
export function splitFees(input: FeeSplitInput): FeeSplit {
  checkAmounts(input.wireSats, input.feeSats);
  for (const [name, f] of [
    ['platform fraction', input.platformFractionPpm],
    ['operator fraction', input.operatorFractionPpm],
  ] as const) {
    if (f < 0n || f >= PPM) throw new InvalidAmountsError(`${name} must be in [0, 1), got ${f} ppm`);
  }
  const principal = principalOf(input.txType, input.wireSats, input.feeSats);
  const P = BigInt(principal);
  const platform = Number((P * input.platformFractionPpm) / PPM);
  const operator = Number((P * input.operatorFractionPpm) / PPM);
  // BigInt: platform + operator may pass 2^53 for absurd (but accepted) amounts
  const mismatch = Number(
    BigInt(input.feeSats) - (P * input.platformFractionPpm) / PPM - (P * input.operatorFractionPpm) / PPM,
  );
  const tolerance = mismatchTolerance(principal);
  const superFee = Math.min(platform, input.feeSats);
  return {
    principalSats: principal,
    platformFeeSats: platform,
    operatorFeeSats: operator,
    feeMismatchSats: mismatch,
    toleranceSats: tolerance,
    mismatchOverTolerance: Math.abs(mismatch) > tolerance,
    superFeeSats: superFee,
    operatorRemainderSats: input.feeSats - superFee,
  };
}
