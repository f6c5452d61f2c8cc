import { FailureType, type SettlementStatus } from '../contract';
import { formatCents, parseCents } from '../domain/decimal';
import { formatNote } from '../domain/notes';
import { withTransaction } from '../db/pool';
import { getSettlement, markWaitingAgain, prependNote, setSettlementStatus } from '../db/settlements';
import {
  countAllLegs,
  countCompletedLegs,
  countLiveLegs,
  failPendingLeg,
  legCounts,
  lockLegsInStatus,
  markLegPaid,
  operatorVoidedLegs,
  voidFailedLegByOperator,
} from '../db/legs';
import { settlementsConcluded } from '../metrics/registry';
import type { ActivityDeps } from './deps';
import { notRetryable } from './failures';
import { lookupLegPayment, paymentInFlight } from './legPaymentLookup';
import { planAndInsertLegsIn, planSummary, reconcileAndVoidFailedLegs } from './legPlanning';
import { createSettlementRecordActivities } from './settlementRecords';
import type { PlanSummary } from './types';

/** The operator actions on a settlement (SPEC §7): retry, force-reset, void failed legs, close, note. */
export function createOperatorActionActivities(deps: ActivityDeps) {
  const { pool, logger } = deps;
  const log = logger.child({ component: 'settlement' });
  const { markAwaiting } = createSettlementRecordActivities(deps);

  /**
   * Operator retry (from errored): failed legs voided, fresh pending copies, completed
   * legs untouched; or, when planning failed, the legs planned now. One transaction,
   * and safe to run again: a re-run (the result of a committed run was lost with its
   * worker) finds the settlement already moved on and answers the same.
   */
  async function prepareRetry(input: {
    settlement_id: string;
    user_id: string;
    page_size: number;
    /** a resumed run of a settlement whose workflow closed while it waited for its signals (§7.1) */
    resume_waiting?: boolean;
  }): Promise<PlanSummary> {
    return withTransaction(pool, async (c): Promise<PlanSummary> => {
      const s = await getSettlement(c, input.settlement_id, true);
      if (!s) throw notRetryable(`settlement ${input.settlement_id} not found`, FailureType.NotFound);
      if (input.resume_waiting && s.status === 'pending' && s.wire_sats === null) {
        // its workflow closed while it waited: wait again, the stuck clock restarted
        const again = 'waiting again for the missing signal (retried by operator; its workflow had closed)';
        if (s.error_message !== again) {
          await setSettlementStatus(c, s.id, 'pending', again);
          await markWaitingAgain(c, s.id);
          await prependNote(
            c,
            s.id,
            formatNote(new Date(), input.user_id, 'retry: waiting again for the missing signal'),
          );
        }
        return { payable: 0, pages: [], hold_seconds: 0 };
      }
      // the workflow retries only what it holds as errored: any other state is this retry, committed
      if (s.status === 'pending' && s.wire_sats === null) return { payable: 0, pages: [], hold_seconds: 0 };
      if (s.status === 'processing') return planSummary(c, s.id, 0, input.page_size);
      if (s.status !== 'errored')
        throw notRetryable(
          `settlement is ${s.status}; only an errored settlement can be retried`,
          FailureType.InvalidState,
        );
      if (s.wire_sats === null) {
        // force-reset while it waited for its signals: wait again
        await setSettlementStatus(
          c,
          s.id,
          'pending',
          'waiting again for the missing signal (retried by operator)',
        );
        await markWaitingAgain(c, s.id);
        await prependNote(
          c,
          s.id,
          formatNote(new Date(), input.user_id, 'retry: waiting again for the missing signal'),
        );
        return { payable: 0, pages: [], hold_seconds: 0 };
      }
      if ((await countLiveLegs(c, s.id)) === 0) {
        // planning itself failed earlier: plan now, under the machine lock
        const plan = await planAndInsertLegsIn(c, s.id, input.page_size);
        await prependNote(
          c,
          s.id,
          formatNote(new Date(), input.user_id, `retry: planned ${plan.payable} leg(s)`),
        );
        return plan;
      }
      const summary = await reconcileAndVoidFailedLegs(deps, c, s, input.page_size);
      await setSettlementStatus(c, s.id, 'processing', null);
      await prependNote(
        c,
        s.id,
        formatNote(new Date(), input.user_id, `retry: ${summary.payable} leg(s) to pay again`),
      );
      return summary;
    });
  }

  /** Force-reset of a stuck settlement: in-flight legs that did not pay fail, the settlement is errored. */
  async function forceReset(input: {
    payment_hash: string;
    settlement_id: string | null;
    wallet_id: string | null;
    signer_pubkey: string | null;
    first_seen_at: string;
    user_id: string;
  }): Promise<{ settlement_id: string | null; completed_legs: number }> {
    let id = input.settlement_id;
    if (!id) {
      id = (
        await markAwaiting({
          payment_hash: input.payment_hash,
          wallet_id: input.wallet_id,
          signer_pubkey: input.signer_pubkey,
          observed_amount_sats: null,
          event_id: null,
          missing: 'force-reset by operator (was stuck)',
          first_seen_at: input.first_seen_at,
        })
      ).settlement_id;
      if (!id) return { settlement_id: null, completed_legs: 0 };
    }
    const settlementId = id;
    await withTransaction(pool, async (c) => {
      const s = await getSettlement(c, settlementId, true);
      if (!s) throw notRetryable(`settlement ${settlementId} not found`, FailureType.NotFound);
      if (s.status === 'errored') return; // this reset, committed before (a re-run after a lost result)
      if (s.status !== 'pending' && s.status !== 'processing') {
        throw notRetryable(
          `settlement is ${s.status}; only a pending or processing one can be reset`,
          FailureType.InvalidState,
        );
      }
      // each leg locked first: a payLeg still paying it (cancelled, not yet stopped) finishes before the lookup
      for (const leg of await lockLegsInStatus(c, settlementId, 'pending')) {
        const { paid, inFlight } = await lookupLegPayment(deps.payments, leg.id, c);
        if (inFlight) {
          // still reserved (a failed dca leg holds its LP's fiat); a retry looks it up again before paying
          await failPendingLeg(
            c,
            leg.id,
            `cancelled by force-reset while its payment was in flight (${inFlight}); a retry looks it up before paying again`,
          );
        } else if (paid) {
          await markLegPaid(c, leg.id, paid.paymentHash);
        } else {
          await failPendingLeg(c, leg.id, 'cancelled by force-reset (was stuck)');
        }
      }
      await setSettlementStatus(c, settlementId, 'errored', 'force-reset by operator (was stuck)');
      settlementsConcluded.inc({ status: 'errored' });
      await prependNote(c, settlementId, formatNote(new Date(), input.user_id, 'force-reset (was stuck)'));
    });
    return { settlement_id: settlementId, completed_legs: await countCompletedLegs(pool, settlementId) };
  }

  /**
   * Operator gives up on the failed legs of an errored settlement: each is looked up at
   * the backend first (paid → completed); the rest are voided with the reason, which
   * releases the LP fiat a failed `dca` leg holds. No failed or pending leg remains, so
   * the settlement ends `processed` (`partial` after a partial dispense). One
   * transaction; a re-run (lost result) answers the same.
   */
  async function voidFailedLegs(input: {
    settlement_id: string;
    note: string;
    user_id: string;
  }): Promise<{ status: SettlementStatus; voided: number; paid: number; fiat_released: string }> {
    return withTransaction(pool, async (c) => {
      const s = await getSettlement(c, input.settlement_id, true);
      if (!s) throw notRetryable(`settlement ${input.settlement_id} not found`, FailureType.NotFound);
      const done = await operatorVoidedLegs(c, s.id);
      if ((s.status === 'processed' || s.status === 'partial') && done.voided > 0) {
        // this action, committed before (a re-run after a lost result): the same answer
        return { status: s.status, voided: done.voided, paid: 0, fiat_released: done.fiat };
      }
      if (s.status !== 'errored')
        throw notRetryable(
          `settlement is ${s.status}; only an errored settlement's failed legs can be voided`,
          FailureType.InvalidState,
        );
      const failed = await lockLegsInStatus(c, s.id, 'failed');
      if (failed.length === 0)
        throw notRetryable(
          'the settlement has no failed leg to void; retry it instead',
          FailureType.InvalidState,
        );
      if ((await legCounts(c, s.id)).pending > 0)
        throw notRetryable(
          'the settlement still has legs to pay; retry it instead',
          FailureType.InvalidState,
        );
      let paid = 0;
      let voided = 0;
      let releasedCents = 0;
      for (const leg of failed) {
        const { paid: made, inFlight } = await lookupLegPayment(deps.payments, leg.id);
        if (inFlight) throw paymentInFlight(leg.id, inFlight, 'void it once it has settled');
        if (made) {
          await markLegPaid(c, leg.id, made.paymentHash);
          paid++;
          continue;
        }
        await voidFailedLegByOperator(c, leg.id, input.note);
        voided++;
        if (leg.leg_type === 'dca') releasedCents += parseCents(leg.amount_fiat);
      }
      const status: SettlementStatus = s.refund_sats > 0 ? 'partial' : 'processed';
      await setSettlementStatus(c, s.id, status, null);
      settlementsConcluded.inc({ status });
      const released = formatCents(releasedCents);
      await prependNote(
        c,
        s.id,
        formatNote(
          new Date(),
          input.user_id,
          `void failed legs: ${voided} voided (LP fiat released ${released} ${s.fiat_code ?? ''})` +
            `${paid ? `, ${paid} found paid` : ''}. ${input.note}`,
        ),
      );
      return { status, voided, paid, fiat_released: released };
    });
  }

  /**
   * Operator closes for good a settlement that never got its ATM event's amounts (no
   * money arrived for it): `rejected` with `closed by operator: <note>`. Refused when
   * the row has amounts or any leg. One transaction; a re-run (lost result) answers the same.
   */
  async function closeUnfunded(input: {
    settlement_id: string;
    note: string;
    user_id: string;
  }): Promise<{ status: SettlementStatus }> {
    return withTransaction(pool, async (c) => {
      const s = await getSettlement(c, input.settlement_id, true);
      if (!s) throw notRetryable(`settlement ${input.settlement_id} not found`, FailureType.NotFound);
      const reason = `closed by operator: ${input.note}`.slice(0, 1000);
      if (s.status === 'rejected' && s.error_message === reason) return { status: 'rejected' };
      if (s.wire_sats !== null || (await countAllLegs(c, s.id)) > 0)
        throw notRetryable(
          "the settlement has the ATM event's amounts: it can no longer be closed (retry, partially dispense or void its failed legs instead)",
          FailureType.InvalidState,
        );
      if (s.status !== 'pending' && s.status !== 'errored')
        throw notRetryable(
          `settlement is ${s.status}; only a settlement waiting for its signals can be closed`,
          FailureType.InvalidState,
        );
      await setSettlementStatus(c, s.id, 'rejected', reason);
      await prependNote(c, s.id, formatNote(new Date(), input.user_id, `close: ${input.note}`));
      settlementsConcluded.inc({ status: 'rejected' });
      log.warn({ settlement_id: s.id, user_id: input.user_id }, 'settlement closed by operator');
      return { status: 'rejected' };
    });
  }

  async function appendNote(input: { settlement_id: string; text: string; user_id: string }): Promise<void> {
    await prependNote(pool, input.settlement_id, formatNote(new Date(), input.user_id, input.text));
  }

  return { prepareRetry, forceReset, voidFailedLegs, closeUnfunded, appendNote };
}
