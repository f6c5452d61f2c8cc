import { largestRemainder } from './largestRemainder';

export interface LpBalance {
  /** the enrolment (dca_clients.id) */
  clientId: string;
  /** available fiat in cents (> 0), already capped for fixed-mode daily limits */
  availableCents: number;
}

export interface DcaShare {
  clientId: string;
  fiatCents: number;
  sats: number;
}

export interface DcaAllocation {
  /** C = min(fiat_amount, Σ balances) */
  coveredCents: number;
  /** Pc = floor(P × C / fiat_amount) */
  coveredPrincipalSats: number;
  /** P − Pc: the operator's own cash; joins the operator remainder */
  uncoveredPrincipalSats: number;
  /** one per input balance, same order */
  shares: DcaShare[];
}

/**
 * Allocates a cash-out's principal to the LPs whose fiat was dispensed, weighted
 * by their available balances (SPEC §4 step 5). `balances` must be in enrolment
 * order (created_at, then id): every tie goes to the earlier enrolment.
 * Exact: Σ fiat == C, fiat_i ≤ balance_i, Σ sats == Pc.
 */
export function allocateDca(
  principalSats: number,
  fiatAmountCents: number,
  balances: readonly LpBalance[],
): DcaAllocation {
  if (!Number.isSafeInteger(principalSats) || principalSats < 0)
    throw new RangeError('principal must be a whole number ≥ 0');
  if (!Number.isSafeInteger(fiatAmountCents) || fiatAmountCents < 0)
    throw new RangeError('fiat amount must be whole cents ≥ 0');
  for (const b of balances) {
    if (!Number.isSafeInteger(b.availableCents) || b.availableCents <= 0) {
      throw new RangeError(`balance of ${b.clientId} must be whole cents > 0`);
    }
  }
  const weights = balances.map((b) => BigInt(b.availableCents));
  const B = weights.reduce((a, w) => a + w, 0n);
  const F = BigInt(fiatAmountCents);
  const C = F < B ? F : B;
  const Pc = F === 0n ? 0n : (BigInt(principalSats) * C) / F;
  const fiat = C === 0n ? weights.map(() => 0n) : largestRemainder(C, weights);
  const sats = C === 0n ? weights.map(() => 0n) : largestRemainder(Pc, fiat);
  return {
    coveredCents: Number(C),
    coveredPrincipalSats: Number(Pc),
    uncoveredPrincipalSats: principalSats - Number(Pc),
    shares: balances.map((b, i) => ({
      clientId: b.clientId,
      fiatCents: Number(fiat[i]!),
      sats: Number(sats[i]!),
    })),
  };
}
