import { uuid4, setCurrentDetails } from '@temporalio/workflow';
import type { BalanceSettlementInput, BalanceSettlementResult } from '../contract';
import { db, formatSats, payments } from './legPayments';

/**
 * Operator balance settle: pays an LP all or part of its remaining fiat in sats at
 * a given rate, as one `settlement` leg from the machine wallet (exactly once).
 */
export async function balanceSettlementWorkflow(
  input: BalanceSettlementInput,
): Promise<BalanceSettlementResult> {
  const legId = uuid4().replace(/-/g, '').slice(0, 24);
  const prepared = await db.prepareBalanceSettlement({ leg_id: legId, ...input });
  if (!prepared.leg_id) {
    return {
      leg_id: null,
      status: 'nothing_to_settle',
      amount_sats: 0,
      amount_fiat_cents: prepared.amount_fiat_cents,
      error: prepared.reason,
    };
  }
  setCurrentDetails(`settlement ${formatSats(prepared.amount_sats)} sats → enrolment ${input.client_id}`);
  try {
    const r = await payments.payLeg.executeWithOptions(
      { summary: `settlement ${formatSats(prepared.amount_sats)} sats → lp ${input.client_id}` },
      [{ leg_id: prepared.leg_id }],
    );
    return {
      leg_id: prepared.leg_id,
      status: r.status === 'completed' ? 'completed' : 'failed',
      amount_sats: prepared.amount_sats,
      amount_fiat_cents: prepared.amount_fiat_cents,
      ...(r.status === 'completed' ? {} : { error: `leg is ${r.status}` }),
    };
  } catch (err) {
    const reason = (err as { cause?: { message?: string } }).cause?.message ?? (err as Error).message;
    const failed = await db.failLeg({ leg_id: prepared.leg_id, reason });
    return {
      leg_id: prepared.leg_id,
      status: failed.status === 'completed' ? 'completed' : 'failed',
      amount_sats: prepared.amount_sats,
      amount_fiat_cents: prepared.amount_fiat_cents,
      ...(failed.status === 'completed' ? {} : { error: reason }),
    };
  }
}
