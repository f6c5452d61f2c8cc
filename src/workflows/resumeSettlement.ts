/**
 * Resume mode (docs/settlement.md §7.1): the workflow of this payment closed
 * (terminated, timed out, failed) before the settlement was final, and an operator
 * action started this run. The state comes from the database; completed legs stay
 * completed, failed ones are looked up by the action that re-pays them. Nothing is
 * paid until the operator acts.
 */
import { log, patched, upsertSearchAttributes } from '@temporalio/workflow';
import { SA_TX_TYPE } from '../contract';
import { PAGE_SIZE, db } from './legPayments';
import { payUntilDone } from './paymentRound';
import type { SettlementOutcome, SettlementState } from './settlementState';

/**
 * Loads the settlement and goes on from where it stood. Null: a settlement whose
 * workflow closed while it waited for its signals, retried: the caller waits for them
 * again (patch `resume-closed-wait`).
 */
export async function resumeFromDatabase(s: SettlementState): Promise<SettlementOutcome | null> {
  s.phase = 'verifying';
  const r = await db.loadForResume({ payment_hash: s.paymentHash, page_size: PAGE_SIZE });
  if (!r) {
    s.resumeRefusal = 'no settlement is recorded for this payment; nothing to resume';
    s.loaded = true;
    return s.finish(s.resumeRefusal);
  }
  s.settlementId = r.settlement_id;
  s.tagMachine(r.machine);
  if (r.tx_type) {
    s.txType = r.tx_type;
    upsertSearchAttributes([{ key: SA_TX_TYPE, value: r.tx_type }]);
  }
  s.fiatCents = r.fiat_cents;
  s.recorded = r.has_amounts;
  s.anyCompleted = r.any_completed;
  s.partial = r.partial;
  s.plan = r.plan;
  log.info('settlement resumed from the database', { settlement_id: r.settlement_id, status: r.status });
  if (r.status !== 'pending' && r.status !== 'processing' && r.status !== 'errored') {
    s.setStatus(r.status);
    s.loaded = true;
    return s.finish(`already ${r.status}`);
  }
  if (!r.has_amounts && patched('resume-closed-wait')) {
    // its workflow closed while it waited for its signals (they are gone with it): the operator
    // retries (wait for them again: a re-published event and payment reach this run) or closes it
    s.resumedWaiting = true;
    s.phase = 'awaiting_operator';
    s.setStatus(r.status);
    s.describe('resumed: its workflow closed while it waited for its signals; retry or close');
    s.loaded = true;
    await s.waitForOperator();
    s.resumedWaiting = false;
    if (s.closedReason !== null) return s.finish(s.closedReason);
    return null;
  }
  if (!r.has_amounts) {
    s.resumeRefusal =
      `settlement is ${r.status} without the ATM event's amounts: its workflow closed while it waited for its signals, ` +
      'so nothing can be paid (the payment hash may be replayed by the machine)';
    s.setStatus(r.status);
    s.loaded = true;
    return s.finish(s.resumeRefusal);
  }
  if (r.status === 'errored') {
    s.phase = 'awaiting_operator';
    s.setStatus('errored');
    s.describe('errored (resumed): waiting for the operator');
    s.loaded = true;
    return payUntilDone(s);
  }
  // recorded and planned or being paid, but the run that held or paid it is gone: stuck
  // until the operator force-resets it (or, never paid yet, partially dispenses it)
  s.orphaned = true;
  s.stuck = true;
  s.phase = r.started_paying ? 'paying' : 'holding';
  s.setStatus(r.status);
  s.setStatus(r.status === 'pending' ? 'stuck_pending' : 'stuck_processing');
  s.describe(`stuck (resumed): its workflow closed while ${r.started_paying ? 'paying' : 'holding'}`);
  s.loaded = true;
  await s.waitForOperator();
  s.orphaned = false;
  s.stuck = false;
  return payUntilDone(s);
}
