/**
 * Where one settlement stands: everything its workflow knows and every handler reads
 * or changes (state in one object, as in the `safe-message-handlers` sample).
 * Deterministic: no I/O here, only Temporal workflow APIs.
 */
import {
  allHandlersFinished,
  condition,
  log,
  patched,
  setCurrentDetails,
  upsertSearchAttributes,
  type CancellationScope,
} from '@temporalio/workflow';
import type { SearchAttributeUpdatePair } from '@temporalio/common';
import {
  SA_MACHINE_ID,
  SA_OPERATOR_ID,
  SA_SETTLEMENT_STATUS,
  SA_TX_TYPE,
  type AtmEventSignal,
  type PaymentObservedSignal,
  type SettlementActionResult,
  type SettlementPhase,
  type SettlementSearchStatus,
  type SettlementStatus,
  type SettlementWorkflowInput,
  type SettlementWorkflowState,
  type SignedEvent,
} from '../contract';
import type { MachineInfo, PlanSummary } from '../activities/types';

const DEFAULT_STUCK_AFTER_MS = 30 * 60 * 1000;
/** Distinct ATM events (one per signer) and payment observations (one per wallet and direction) kept. */
export const MAX_CANDIDATES = 8;

export interface SettlementOutcome {
  payment_hash: string;
  settlement_id: string | null;
  status: SettlementStatus;
  reason?: string;
}

export class SettlementState {
  readonly paymentHash: string;
  readonly stuckAfterMs: number;
  readonly firstSeenAt: string;
  /**
   * Attribution decided by the payment among every candidate (docs/settlement.md §4.2);
   * histories recorded before the patch replay the first-signal-wins path.
   */
  readonly byPayment: boolean;
  /**
   * Fewer fixed history events per settlement (patch `lean-settlement-events`,
   * docs/settlement.md §13.1): no upsert of the `pending` the start already set, and
   * the machine and tx-type tags of the main flow ride with its next status upsert.
   */
  readonly lean: boolean;
  /** tags held back until the next status upsert (lean only) */
  private deferTags = false;
  private heldTags: SearchAttributeUpdatePair[] = [];

  // ---- signals received -------------------------------------------------------------
  /** by payment: every distinct ATM event (the first of each signer) and payment observation */
  readonly candidateEvents: SignedEvent[] = [];
  readonly observations: PaymentObservedSignal[] = [];
  /** bumped whenever a candidate arrives: the attribution check is asked again */
  candidatesVersion = 0;
  droppedEvents = 0;
  droppedPayments = 0;
  /** the ATM event and the payment the settlement is decided on (first signals, before the patch) */
  event: SignedEvent | null = null;
  payment: PaymentObservedSignal | null = null;

  // ---- the settlement ---------------------------------------------------------------
  phase: SettlementPhase = 'awaiting_signals';
  status: SettlementStatus = 'pending';
  stuck = false;
  settlementId: string | null = null;
  machine: MachineInfo | null = null;
  txType: 'cash_out' | 'cash_in' | null = null;
  fiatCents = 0;
  /** the row holds the ATM event's amounts */
  recorded = false;
  plan: PlanSummary | null = null;
  partial = false;
  anyCompleted = false;
  rounds = 0;
  holdUntil: number | null = null;
  /** when the payment round under way started (workflow time) */
  roundStartedAt: number | null = null;

  // ---- coordination between the main flow and the operator handlers -------------------
  busy = false;
  roundRunning = false;
  roundScope: CancellationScope | null = null;
  resetDuringRound = false;
  /** set by an operator action: the main flow looks again */
  wake = false;
  /** resume mode (a fresh run of a closed workflow, §7.1): Updates wait until the state is loaded */
  loaded: boolean;
  orphaned = false;
  resumeRefusal: string | null = null;
  /** a resumed run of a settlement whose workflow closed while it waited for its signals (§7.1) */
  resumedWaiting = false;
  /** set by the close action: the settlement is rejected for good, the workflow ends */
  closedReason: string | null = null;

  constructor(readonly input: SettlementWorkflowInput) {
    this.paymentHash = input.payment_hash;
    this.stuckAfterMs = input.stuck_after_ms ?? DEFAULT_STUCK_AFTER_MS;
    this.firstSeenAt = new Date().toISOString();
    this.byPayment = patched('attribution-by-payment');
    this.lean = patched('lean-settlement-events');
    this.loaded = !input.resume;
  }

  // handlers change phase and status behind the compiler's back: the main flow reads them here
  currentPhase(): SettlementPhase {
    return this.phase;
  }
  currentStatus(): SettlementStatus {
    return this.status;
  }
  /**
   * Stuck: the wait or the round passed the threshold. Lean runs keep no timer for a
   * round (the SQL stuck check of the worklist sees it from processing_started_at):
   * a round is stuck once it has run stuckAfterMs, read at the workflow task's time.
   */
  isStuck(): boolean {
    if (this.stuck) return true;
    return (
      this.lean &&
      this.roundRunning &&
      this.roundStartedAt !== null &&
      Date.now() - this.roundStartedAt >= this.stuckAfterMs
    );
  }

  /** no operator action and no payment round under way */
  idle(): boolean {
    return !this.busy && !this.roundRunning;
  }

  /** The status, and the SettlementStatus search attribute (which also has the stuck states). */
  setStatus(s: SettlementStatus | SettlementSearchStatus): void {
    if (s !== 'stuck_pending' && s !== 'stuck_processing') this.status = s;
    upsertSearchAttributes([...this.heldTags, { key: SA_SETTLEMENT_STATUS, value: s }]);
    this.heldTags = [];
    this.deferTags = false;
  }

  /**
   * Lean: the tags set from here on wait for the next status upsert (one
   * UpsertWorkflowSearchAttributes event instead of three); every path of the main
   * flow after attribution ends in one (recorded, rejected, errored, processing).
   */
  holdTagsForStatus(): void {
    this.deferTags = this.lean;
  }

  private tag(pairs: SearchAttributeUpdatePair[]): void {
    if (this.deferTags) this.heldTags.push(...pairs);
    else upsertSearchAttributes(pairs);
  }

  /** The TxType search attribute. */
  tagTxType(t: 'cash_out' | 'cash_in'): void {
    this.tag([{ key: SA_TX_TYPE, value: t }]);
  }

  /** The workflow's current details in the Temporal UI. */
  describe(extra: string): void {
    const amount = this.event && this.txType ? `${this.txType} ` : '';
    setCurrentDetails(`${amount}${this.machine ? `at ${this.machine.name} · ` : ''}${extra}`);
  }

  /** The MachineId and OperatorId search attributes, once the machine is known. */
  tagMachine(m: MachineInfo | null): void {
    // by payment, a row first filed under a payer's wallet moves to the payee's machine: so do the tags
    if (!m || (this.machine && (!this.byPayment || this.machine.id === m.id))) return;
    this.machine = m;
    this.tag([
      { key: SA_MACHINE_ID, value: m.id },
      { key: SA_OPERATOR_ID, value: m.operator_user_id },
    ]);
  }

  /** What an operator action answers. */
  result(message: string): SettlementActionResult {
    return { settlement_id: this.settlementId, status: this.status, phase: this.phase, message };
  }

  /** Waits until an operator action wakes the main flow and no action or round is under way. */
  async waitForOperator(): Promise<void> {
    await condition(() => this.wake && this.idle());
    this.wake = false;
  }

  /** The end of the workflow: once every handler has finished. */
  async finish(reason?: string): Promise<SettlementOutcome> {
    if (this.heldTags.length) upsertSearchAttributes(this.heldTags.splice(0));
    this.deferTags = false;
    this.phase = 'done';
    await condition(allHandlersFinished);
    return {
      payment_hash: this.paymentHash,
      settlement_id: this.settlementId,
      status: this.status,
      ...(reason ? { reason } : {}),
    };
  }

  // ---- the signals that feed the settlement -------------------------------------------
  /** A received ATM event by id (the decided candidate, or the one event of the old path). */
  eventById(id: string): SignedEvent | undefined {
    return this.candidateEvents.find((e) => e.id === id) ?? (this.event?.id === id ? this.event : undefined);
  }

  receiveAtmEvent(signal: AtmEventSignal | undefined): void {
    const e = signal?.event;
    if (!e || typeof e.id !== 'string') return log.warn('atmEvent without an event ignored');
    if (this.byPayment) {
      // every distinct event is a candidate (the first of each signer), up to MAX_CANDIDATES
      if (typeof e.pubkey !== 'string') return log.warn('atmEvent without a signer ignored');
      if (this.candidateEvents.some((k) => k.id === e.id)) return; // a re-delivery
      const signer = e.pubkey.toLowerCase();
      const reason = this.candidateEvents.some((k) => k.pubkey.toLowerCase() === signer)
        ? 'a second, different atmEvent of the same signer'
        : this.candidateEvents.length >= MAX_CANDIDATES
          ? `more than ${MAX_CANDIDATES} distinct ATM events`
          : null;
      if (reason) {
        this.droppedEvents++;
        return log.warn(`${reason} dropped`, { dropped: e.id, signer: signer.slice(0, 16) });
      }
      this.candidateEvents.push(e);
      this.candidatesVersion++;
      return;
    }
    if (this.event === null) this.event = e;
    else if (this.event.id !== e.id)
      log.warn('a second, different atmEvent ignored', { kept: this.event.id, ignored: e.id });
  }

  receivePayment(p: PaymentObservedSignal | undefined): void {
    if (!p || p.payment_hash !== this.paymentHash)
      return log.warn('paymentObserved for another payment ignored');
    if (this.byPayment) {
      // one observation per wallet and direction (the backends report at least once)
      if (this.observations.some((o) => o.wallet_id === p.wallet_id && o.direction === p.direction)) return;
      if (this.observations.length >= MAX_CANDIDATES) {
        this.droppedPayments++;
        return log.warn(`more than ${MAX_CANDIDATES} payment observations: one dropped`, {
          wallet_id: p.wallet_id,
          direction: p.direction,
        });
      }
      this.observations.push(p);
      this.candidatesVersion++;
      return;
    }
    if (this.payment === null) this.payment = p;
  }

  /** The `state` query. */
  snapshot(): SettlementWorkflowState {
    return {
      payment_hash: this.paymentHash,
      settlement_id: this.settlementId,
      phase: this.phase,
      status: this.status,
      stuck: this.isStuck(),
      has_atm_event: this.byPayment ? this.candidateEvents.length > 0 : this.event !== null,
      has_payment: this.byPayment ? this.observations.length > 0 : this.payment !== null,
      hold_until: this.holdUntil === null ? null : new Date(this.holdUntil).toISOString(),
      rounds: this.rounds,
      ...(this.byPayment
        ? {
            candidate_events: this.candidateEvents.length,
            payment_observations: this.observations.length,
            dropped_events: this.droppedEvents,
            dropped_payments: this.droppedPayments,
          }
        : {}),
    };
  }
}
