import type { SettlementStatus } from '../contract';
import { parseCents } from '../domain/decimal';
import { getMachine } from '../db/machines';
import { getSettlementByHash, markProcessingStarted, setSettlementStatus } from '../db/settlements';
import { legCounts } from '../db/legs';
import { settlementsConcluded } from '../metrics/registry';
import type { ActivityDeps } from './deps';
import { planAndInsertLegs, planSummary } from './legPlanning';
import { machineInfo } from './machineInfo';
import type { PlanSummary, ResumeState, RoundOutcome } from './types';

/** A settlement's payment rounds: legs planned, paying started, round concluded, resume, errored. */
export function createRoundLifecycleActivities(deps: ActivityDeps) {
  const { pool } = deps;

  /** Steps 4–5: split and DCA allocation under the machine lock; legs inserted as pending. Idempotent. */
  async function planLegs(input: { settlement_id: string; page_size: number }): Promise<PlanSummary> {
    return planAndInsertLegs(deps, input.settlement_id, input.page_size);
  }

  /** Payments start (after any hold): the stuck-processing clock starts here. */
  async function startPaying(input: { settlement_id: string }): Promise<void> {
    await markProcessingStarted(pool, input.settlement_id);
  }

  /** After a payment round: processed / partial when every leg is done, errored when one failed. */
  async function concludeRound(input: { settlement_id: string; partial: boolean }): Promise<RoundOutcome> {
    const counts = await legCounts(pool, input.settlement_id);
    let status: SettlementStatus;
    let error: string | null = null;
    if (counts.failed > 0) {
      status = 'errored';
      error = `${counts.failed} leg(s) failed; fix the cause and retry`;
    } else if (counts.pending > 0) {
      status = 'processing';
    } else {
      status = input.partial ? 'partial' : 'processed';
    }
    await setSettlementStatus(pool, input.settlement_id, status, error);
    if (status !== 'processing') settlementsConcluded.inc({ status });
    return {
      status,
      error_message: error,
      completed: counts.completed,
      failed: counts.failed,
      pending: counts.pending,
    };
  }

  /** A step failed for good (e.g. the database refused a value): errored, with the reason, for the operator. */
  async function markErrored(input: { settlement_id: string; reason: string }): Promise<void> {
    await setSettlementStatus(pool, input.settlement_id, 'errored', input.reason.slice(0, 1000));
    settlementsConcluded.inc({ status: 'errored' });
  }

  /**
   * A fresh run for a settlement whose workflow closed (terminated, timed out, …)
   * loads where the settlement stands from the database: the run picks up there.
   */
  async function loadForResume(input: {
    payment_hash: string;
    page_size: number;
  }): Promise<ResumeState | null> {
    const s = await getSettlementByHash(pool, input.payment_hash);
    if (!s) return null;
    const machine = await getMachine(pool, s.machine_id);
    const counts = await legCounts(pool, s.id);
    return {
      settlement_id: s.id,
      status: s.status as SettlementStatus,
      has_amounts: s.wire_sats !== null && s.tx_type !== null,
      tx_type: s.tx_type,
      fiat_cents: s.fiat_amount === null ? 0 : parseCents(s.fiat_amount),
      any_completed: counts.completed > 0,
      partial: s.refund_sats > 0,
      started_paying: s.processing_started_at !== null,
      plan: await planSummary(pool, s.id, 0, input.page_size),
      machine: machine ? machineInfo(machine) : null,
    };
  }

  return { planLegs, startPaying, concludeRound, markErrored, loadForResume };
}
