import { ApplicationFailure } from '@temporalio/common';
import { FailureType } from '../contract';
import type { Queryable } from '../db/pool';
import { PaymentAmbiguousError, type PaymentBackend, type PaymentResult } from '../payments/backend';

/** What became of a leg's payment: made (its result), never made (null), or still in flight. */
export type LegPaymentOutcome =
  { paid: PaymentResult | null; inFlight: null } | { paid: null; inFlight: string };

/**
 * Asks the backend about a leg's payment; an outcome it cannot tell yet is `inFlight` with the reason.
 * `db`: the caller's connection holding the leg lock (the ledger reads on it, no second connection).
 */
export async function lookupLegPayment(
  payments: PaymentBackend,
  legId: string,
  db?: Queryable,
): Promise<LegPaymentOutcome> {
  try {
    return { paid: await payments.lookupPayment(legId, db), inFlight: null };
  } catch (err) {
    if (!(err instanceof PaymentAmbiguousError)) throw err;
    return { paid: null, inFlight: err.message };
  }
}

/** An operator action refused because a leg's payment may still complete. */
export function paymentInFlight(legId: string, reason: string, what: string): ApplicationFailure {
  return ApplicationFailure.create({
    message: `the payment of leg ${legId} is still in flight (${reason}); ${what}`,
    type: FailureType.PaymentInFlight,
    nonRetryable: true,
  });
}
