import { completePendingLegFound, failPendingLeg, getLeg, pendingLegsInRange } from '../db/legs';
import { withTransaction } from '../db/pool';
import type { ActivityDeps } from './deps';
import { legsPaid } from '../metrics/registry';
import { legRunsAs } from './legExecution';
import type { LegTask } from './types';

export function createLegActivities(deps: ActivityDeps) {
  const { pool } = deps;

  /** The pending legs of one page (root legs in the sort-order range and the legs that follow them). */
  async function loadLegPage(input: { settlement_id: string; from: number; to: number }): Promise<LegTask[]> {
    const legs = await pendingLegsInRange(pool, input.settlement_id, input.from, input.to);
    return legs.map((l) => ({
      id: l.id,
      leg_type: l.leg_type,
      amount_sats: l.amount_sats,
      label: l.label,
      destination: l.destination_ln_address ?? l.destination_wallet_id ?? '(none)',
      parent_leg_id: l.parent_leg_id,
      run_as: legRunsAs(deps.payments, l, deps.localLegPayments ?? true),
    }));
  }

  /**
   * Fails a leg after its payment gave up (retries exhausted, or its parent failed).
   * Looks the payment up first: an ambiguous failure that did pay is completed instead.
   */
  async function failLeg(input: { leg_id: string; reason: string }): Promise<{ status: string }> {
    return withTransaction(pool, async (c) => {
      const leg = await getLeg(c, input.leg_id, true);
      if (!leg) return { status: 'missing' };
      if (leg.status !== 'pending') return { status: leg.status };
      const paid = await deps.payments.lookupPayment(leg.id, c);
      if (paid) {
        await completePendingLegFound(c, leg.id, paid.paymentHash);
        return { status: 'completed' };
      }
      await failPendingLeg(c, leg.id, input.reason.slice(0, 1000));
      legsPaid.inc({ leg_type: leg.leg_type, outcome: 'failed' });
      return { status: 'failed' };
    });
  }

  return { loadLegPage, failLeg };
}
