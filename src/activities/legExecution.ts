import type { DestinationKind, PaymentBackend } from '../payments/backend';

/**
 * How a leg's `payLeg` activity runs (docs/settlement.md §4.6):
 * - `local`: a local activity, run by the worker inside the workflow task. For a
 *   payment that is one short, idempotent PostgreSQL transaction (the embedded
 *   ledger): no task-queue round trip, one history event instead of three.
 * - `activity`: a normal activity on the task queue, with heartbeats. For a
 *   payment that talks to an outside system (LNbits, LNURL-pay to a Lightning
 *   address): it can take minutes, and a dead worker is noticed by its heartbeat.
 * Either way: one activity per leg, its own retry policy, the leg id as idempotency key.
 */
export type LegRunAs = 'local' | 'activity';

/** The destination a leg pays to, as its row says. */
export function destinationKind(leg: { destination_ln_address: string | null }): DestinationKind {
  return leg.destination_ln_address ? 'lightning_address' : 'wallet';
}

/**
 * The one place that decides how a leg is paid: from where the backend says it pays
 * that kind of destination (`PaymentBackend.venueOf`). `localLegPayments: false`
 * (LOCAL_LEG_PAYMENTS=0) runs every leg as a normal activity.
 */
export function legRunsAs(
  payments: Pick<PaymentBackend, 'venueOf'>,
  leg: { destination_ln_address: string | null },
  localLegPayments = true,
): LegRunAs {
  return localLegPayments && payments.venueOf(destinationKind(leg)) === 'database' ? 'local' : 'activity';
}
