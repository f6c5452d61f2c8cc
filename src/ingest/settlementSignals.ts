import { WorkflowExecutionAlreadyStartedError, type Client } from '@temporalio/client';
import {
  SA_SETTLEMENT_STATUS,
  SETTLEMENT_WORKFLOW,
  atmEventSignal,
  paymentObservedSignal,
  settlementWorkflowId,
  type AtmEventSignal,
  type PaymentObservedSignal,
  type SettlementWorkflowInput,
} from '../contract';
import type { Pool } from '../db/pool';
import { pruneSightings, recordSighting } from '../db/sightings';
import { formatCents, parseCents } from '../domain/decimal';
import type { SettlementEventContent } from '../domain/settlementEvent';
import { DEFAULT_SETTLEMENT_START_DELAY_MS } from '../config';

export type SignalOutcome = 'signalled' | 'already_closed';

/** sightings of settled payments are pruned at most this often per process… */
const PRUNE_EVERY_MS = 10 * 60_000;
/** …once they are this old (their settlement row shows instead) */
const PRUNE_AFTER_HOURS = 24;

/**
 * Feeds a settlement workflow with signalWithStart: whichever of the ATM event and
 * the payment comes first starts it. The workflow id is the payment hash, so
 * replicas and re-deliveries converge on one workflow; a closed one is never
 * started again (REJECT_DUPLICATE).
 *
 * With a pool, every signal that reached its workflow is also recorded as a sighting
 * of the machine it is routed to (src/db/sightings.ts), after the signal: the worklist
 * lists the settlement from its first signal on. A failure to record throws, so the
 * ingest retries the event (the signal again is a no-op for the workflow); the
 * settlement itself never waits for the worklist's bookkeeping.
 */
export class SettlementSignals {
  private lastPrune = 0;

  constructor(
    private readonly client: Client,
    private readonly taskQueue: string,
    private readonly stuckAfterMs?: number,
    private readonly pool?: Pool,
    /**
     * How long a settlement workflow started by one signal waits before its first workflow task,
     * unless the other signal comes first (Temporal's start delay; SETTLEMENT_START_DELAY_MS).
     * The ATM event and the payment of one transaction come by two paths (relay, wallet) tens of
     * milliseconds apart: without the delay the first signal's task only starts waiting for the
     * second (a workflow task, a stuck timer started and cancelled), and the second brings
     * another task. With it, the second signalWithStart dispatches the first task at once with
     * both signals in it: one task instead of two, and no added latency for the pair. A signal
     * whose partner comes later (or never) meets a workflow that starts waiting this much later.
     */
    private readonly startDelayMs: number = DEFAULT_SETTLEMENT_START_DELAY_MS,
  ) {}

  private async sighted(record: Parameters<typeof recordSighting>[1]): Promise<void> {
    if (!this.pool) return;
    await recordSighting(this.pool, record);
    if (Date.now() - this.lastPrune < PRUNE_EVERY_MS) return;
    this.lastPrune = Date.now();
    await pruneSightings(this.pool, PRUNE_AFTER_HOURS);
  }

  private options(paymentHash: string) {
    const args: [SettlementWorkflowInput] = [
      { payment_hash: paymentHash, ...(this.stuckAfterMs ? { stuck_after_ms: this.stuckAfterMs } : {}) },
    ];
    return {
      workflowId: settlementWorkflowId(paymentHash),
      taskQueue: this.taskQueue,
      args,
      workflowIdReusePolicy: 'REJECT_DUPLICATE' as const,
      typedSearchAttributes: [{ key: SA_SETTLEMENT_STATUS, value: 'pending' }],
      staticSummary: `settlement of payment ${paymentHash.slice(0, 16)}…`,
      // both paths call signalWithStart: the second one dispatches the first task at once
      // (a plain signal would not: it waits for the delay)
      ...(this.startDelayMs > 0 ? { startDelay: this.startDelayMs } : {}),
    };
  }

  /**
   * `sighting`: the machine the event is routed to (its operator p-tagged it) and the
   * decrypted content; without it nothing is recorded for the worklist.
   */
  async atmEvent(
    paymentHash: string,
    signal: AtmEventSignal,
    sighting?: { machine_id: string; content: SettlementEventContent },
  ): Promise<SignalOutcome> {
    try {
      await this.client.workflow.signalWithStart(SETTLEMENT_WORKFLOW, {
        ...this.options(paymentHash),
        signal: atmEventSignal,
        signalArgs: [signal],
      });
      if (sighting) {
        const c = sighting.content;
        await this.sighted({
          signal: 'atm_event',
          payment_hash: paymentHash,
          machine_id: sighting.machine_id,
          event_id: signal.event.id,
          tx_type: c.tx_type,
          wire_sats: c.wire_sats,
          fiat_amount: formatCents(parseCents(c.fiat_amount)),
          fiat_code: c.fiat_code,
        });
      }
      return 'signalled';
    } catch (err) {
      if (err instanceof WorkflowExecutionAlreadyStartedError) return 'already_closed';
      throw err;
    }
  }

  /** `machineId`: the active machine whose wallet saw the payment (none: nothing recorded) */
  async paymentObserved(p: PaymentObservedSignal, machineId?: string): Promise<SignalOutcome> {
    try {
      await this.client.workflow.signalWithStart(SETTLEMENT_WORKFLOW, {
        ...this.options(p.payment_hash),
        signal: paymentObservedSignal,
        signalArgs: [p],
      });
      if (machineId) {
        await this.sighted({
          signal: 'payment',
          payment_hash: p.payment_hash,
          machine_id: machineId,
          direction: p.direction,
          amount_sats: p.amount_sats,
        });
      }
      return 'signalled';
    } catch (err) {
      if (err instanceof WorkflowExecutionAlreadyStartedError) return 'already_closed';
      throw err;
    }
  }
}
