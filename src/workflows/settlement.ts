import {
  ApplicationFailure,
  CancellationScope,
  condition,
  executeChild,
  isCancellation,
  log,
  patched,
  setCurrentDetails,
  setHandler,
  sleep,
  upsertSearchAttributes,
  workflowInfo,
  allHandlersFinished,
} from '@temporalio/workflow';
import {
  SA_MACHINE_ID,
  SA_OPERATOR_ID,
  SA_SETTLEMENT_STATUS,
  SA_TX_TYPE,
  addNoteSignal,
  addNoteUpdate,
  atmEventSignal,
  closeSignal,
  closeUpdate,
  forceResetSignal,
  forceResetUpdate,
  partialDispenseSignal,
  partialDispenseUpdate,
  paymentObservedSignal,
  retrySignal,
  retryUpdate,
  stateQuery,
  voidFailedLegsSignal,
  voidFailedLegsUpdate,
  type AddNoteRequest,
  type CloseRequest,
  type OperatorActor,
  type PartialDispenseRequest,
  type PaymentObservedSignal,
  type SettlementActionResult,
  type SettlementPhase,
  type SettlementSearchStatus,
  type SettlementStatus,
  type SettlementWorkflowInput,
  type SignedEvent,
  type VoidFailedLegsRequest,
} from '../contract';
import { parseCents } from '../domain/decimal';
import { partialDispenseRefusal } from '../domain/partialDispense';
import type { AttributionResult, MachineInfo, PaymentAttribution, PlanSummary } from '../activities/types';
import { PAGE_SIZE, db, formatSats, payPage, runLimited, type PageOutcome } from './legPayments';
import { legBatchWorkflow } from './legBatch';

/** Children paid at once when a settlement fans out over several pages. */
const CHILD_CONCURRENCY = 4;
const DEFAULT_STUCK_AFTER_MS = 30 * 60 * 1000;
/** Distinct ATM events (one per signer) and payment observations (one per wallet and direction) kept. */
export const MAX_CANDIDATES = 8;
/**
 * A decision on an outgoing payment (a cash-in) waits this long for more candidates:
 * the same payment may have reached another machine's wallet (machine B paid machine
 * A's invoice), and the payee's incoming observation, once it arrives, goes first.
 */
const DEFAULT_CASH_IN_GRACE_MS = 10_000;

export interface SettlementOutcome {
  payment_hash: string;
  settlement_id: string | null;
  status: SettlementStatus;
  reason?: string;
}

/** The innermost message of a failure chain (ActivityFailure → ApplicationFailure → …). */
function deepestMessage(err: unknown): string {
  let e = err as { message?: string; cause?: unknown } | undefined;
  let message = e?.message ?? String(err);
  while (e?.cause) {
    e = e.cause;
    if (e.message) message = e.message;
  }
  return message;
}

function checkActor(a: OperatorActor | undefined): void {
  if (!a || typeof a.user_id !== 'string' || a.user_id.length === 0 || a.user_id.length > 100) {
    throw new Error('user_id (the acting operator) is required');
  }
}

/**
 * One ATM transaction, from its two signals to every leg paid exactly once
 * (docs/settlement.md). Workflow id: settlement-<payment_hash>.
 */
export async function settlementWorkflow(input: SettlementWorkflowInput): Promise<SettlementOutcome> {
  const paymentHash = input.payment_hash;
  const stuckAfterMs = input.stuck_after_ms ?? DEFAULT_STUCK_AFTER_MS;
  const firstSeenAt = new Date().toISOString();
  // attribution decided by the payment among every candidate (docs/settlement.md §4.2);
  // histories recorded before it replay the first-signal-wins path
  const byPayment = patched('attribution-by-payment');
  const candidateEvents: SignedEvent[] = [];
  const observations: PaymentObservedSignal[] = [];
  let candidatesVersion = 0;
  let droppedEvents = 0;
  let droppedPayments = 0;

  let event = null as SignedEvent | null;
  let payment = null as PaymentObservedSignal | null;
  let phase = 'awaiting_signals' as SettlementPhase;
  let status = 'pending' as SettlementStatus;
  let stuck = false as boolean;
  let settlementId: string | null = null;
  let machine: MachineInfo | null = null;
  let txType: 'cash_out' | 'cash_in' | null = null;
  let fiatCents = 0;
  let recorded = false;
  let plan: PlanSummary | null = null;
  let partial = false;
  let anyCompleted = false;
  let rounds = 0;
  let holdUntil: number | null = null;
  // coordination between the main flow and operator handlers
  let busy = false as boolean;
  let roundRunning = false as boolean;
  let roundScope: CancellationScope | null = null;
  let resetDuringRound = false as boolean;
  let wake = false as boolean;
  // resume mode (a fresh run of a closed workflow, §7.1): Updates wait until the state is loaded
  let loaded = !input.resume;
  let orphaned = false as boolean;
  let resumeRefusal = null as string | null;
  // a resumed run of a settlement whose workflow closed while it waited for its signals (§7.1)
  let resumedWaiting = false as boolean;
  // set by the close action: the settlement is rejected for good, the workflow ends
  let closedReason = null as string | null;

  const setStatus = (s: SettlementStatus | SettlementSearchStatus) => {
    if (s !== 'stuck_pending' && s !== 'stuck_processing') status = s;
    upsertSearchAttributes([{ key: SA_SETTLEMENT_STATUS, value: s }]);
  };
  const describe = (extra: string) => {
    const amount = event && txType ? `${txType} ` : '';
    setCurrentDetails(`${amount}${machine ? `at ${machine.name} · ` : ''}${extra}`);
  };
  const tagMachine = (m: MachineInfo | null) => {
    // by payment, a row first filed under a payer's wallet moves to the payee's machine: so do the tags
    if (!m || (machine && (!byPayment || machine.id === m.id))) return;
    machine = m;
    upsertSearchAttributes([
      { key: SA_MACHINE_ID, value: m.id },
      { key: SA_OPERATOR_ID, value: m.operator_user_id },
    ]);
  };
  const result = (message: string): SettlementActionResult => ({
    settlement_id: settlementId,
    status,
    phase,
    message,
  });
  // handlers change phase and status behind the compiler's back: read them through functions
  const currentPhase = (): SettlementPhase => phase;
  const currentStatus = (): SettlementStatus => status;

  // ---- signals that feed the settlement --------------------------------------------
  setHandler(atmEventSignal, (signal) => {
    const e = signal?.event;
    if (!e || typeof e.id !== 'string') return log.warn('atmEvent without an event ignored');
    if (byPayment) {
      // every distinct event is a candidate (the first of each signer), up to MAX_CANDIDATES
      if (typeof e.pubkey !== 'string') return log.warn('atmEvent without a signer ignored');
      if (candidateEvents.some((k) => k.id === e.id)) return; // a re-delivery
      const signer = e.pubkey.toLowerCase();
      const reason = candidateEvents.some((k) => k.pubkey.toLowerCase() === signer)
        ? 'a second, different atmEvent of the same signer'
        : candidateEvents.length >= MAX_CANDIDATES
          ? `more than ${MAX_CANDIDATES} distinct ATM events`
          : null;
      if (reason) {
        droppedEvents++;
        return log.warn(`${reason} dropped`, { dropped: e.id, signer: signer.slice(0, 16) });
      }
      candidateEvents.push(e);
      candidatesVersion++;
      return;
    }
    if (event === null) event = e;
    else if (event.id !== e.id)
      log.warn('a second, different atmEvent ignored', { kept: event.id, ignored: e.id });
  });
  setHandler(paymentObservedSignal, (p) => {
    if (!p || p.payment_hash !== paymentHash) return log.warn('paymentObserved for another payment ignored');
    if (byPayment) {
      // one observation per wallet and direction (the backends report at least once)
      if (observations.some((o) => o.wallet_id === p.wallet_id && o.direction === p.direction)) return;
      if (observations.length >= MAX_CANDIDATES) {
        droppedPayments++;
        return log.warn(`more than ${MAX_CANDIDATES} payment observations: one dropped`, {
          wallet_id: p.wallet_id,
          direction: p.direction,
        });
      }
      observations.push(p);
      candidatesVersion++;
      return;
    }
    if (payment === null) payment = p;
  });
  setHandler(stateQuery, () => ({
    payment_hash: paymentHash,
    settlement_id: settlementId,
    phase,
    status,
    stuck,
    has_atm_event: byPayment ? candidateEvents.length > 0 : event !== null,
    has_payment: byPayment ? observations.length > 0 : payment !== null,
    hold_until: holdUntil === null ? null : new Date(holdUntil).toISOString(),
    rounds,
    ...(byPayment
      ? {
          candidate_events: candidateEvents.length,
          payment_observations: observations.length,
          dropped_events: droppedEvents,
          dropped_payments: droppedPayments,
        }
      : {}),
  }));

  // ---- operator actions: an Update each, and a Signal of the same name ---------------
  const idle = () => !busy && !roundRunning;

  const validateRetry = (a: OperatorActor) => {
    checkActor(a);
    const waitAgain = resumedWaiting && status === 'pending' && phase === 'awaiting_operator' && idle();
    if (!waitAgain && (status !== 'errored' || phase !== 'awaiting_operator' || !idle())) {
      throw new Error(
        `settlement is ${status}${stuck ? ' (stuck)' : ''}; only an errored settlement can be retried`,
      );
    }
    if (!settlementId) throw new Error('no settlement row exists for this payment yet; nothing to retry');
  };
  const retry = async (a: OperatorActor): Promise<SettlementActionResult> => {
    busy = true;
    try {
      plan = await db.prepareRetry({
        settlement_id: settlementId!,
        user_id: a.user_id,
        page_size: PAGE_SIZE,
        ...(resumedWaiting ? { resume_waiting: true } : {}),
      });
      stuck = false;
      setStatus(recorded ? 'processing' : 'pending');
      wake = true;
      return result(
        recorded ? `retrying: ${plan.payable} leg(s) to pay` : 'waiting again for the missing signal',
      );
    } finally {
      busy = false;
    }
  };

  const validateForceReset = (a: OperatorActor) => {
    checkActor(a);
    if (status !== 'pending' && status !== 'processing') {
      throw new Error(`settlement is ${status}; only a pending or processing settlement can be force-reset`);
    }
    if (resumedWaiting) {
      throw new Error(
        'its workflow closed while it waited for its signals: retry to wait for them again, or close it',
      );
    }
    if (orphaned) {
      // resumed: the run that held or paid this settlement is gone, nothing is paying it
      if (busy) throw new Error('another operator action is running; try again');
      return;
    }
    if (!stuck || (phase !== 'awaiting_signals' && phase !== 'paying')) {
      throw new Error(
        `settlement is ${status} but not stuck yet: force-reset is allowed ${Math.round(stuckAfterMs / 60000)} min after it started waiting or paying`,
      );
    }
    if (busy) throw new Error('another operator action is running; try again');
    if (phase === 'paying' && !roundRunning) {
      throw new Error(
        'the payment round has just ended and its outcome is being recorded; look again in a moment',
      );
    }
    if (!settlementId && phase === 'awaiting_signals') {
      // only reachable from the Temporal UI/CLI: the payment belongs to no known machine
      throw new Error(
        'no settlement row exists for this payment (no known machine); terminate the workflow instead',
      );
    }
  };
  const forceReset = async (a: OperatorActor): Promise<SettlementActionResult> => {
    busy = true;
    try {
      if (roundRunning) {
        resetDuringRound = true;
        roundScope?.cancel();
        await condition(() => !roundRunning);
      }
      const r = await db.forceReset({
        payment_hash: paymentHash,
        settlement_id: settlementId,
        wallet_id: payment?.wallet_id ?? null,
        signer_pubkey: event?.pubkey ?? null,
        first_seen_at: firstSeenAt,
        user_id: a.user_id,
      });
      settlementId = r.settlement_id;
      if (r.completed_legs > 0) anyCompleted = true;
      stuck = false;
      phase = 'awaiting_operator';
      setStatus('errored');
      wake = true;
      return result('force-reset: in-flight payments cancelled, settlement errored (was stuck)');
    } finally {
      busy = false;
    }
  };

  const validatePartialDispense = (r: PartialDispenseRequest) => {
    checkActor(r);
    if (!Number.isSafeInteger(r.fiat_amount_cents))
      throw new Error('fiat_amount_cents must be a whole number of cents');
    if (typeof r.note !== 'string' || r.note.length > 2000)
      throw new Error('note must be a string of at most 2000 characters');
    if (!recorded || !settlementId)
      throw new Error('the settlement is not recorded yet (still waiting for its signals)');
    if (txType !== 'cash_out') throw new Error('partial dispense applies to cash-out settlements only');
    if (status === 'refunded' || phase === 'done') throw new Error(`settlement is ${status}`);
    if (anyCompleted) {
      throw new Error(
        'a leg is already paid: Lightning payments cannot be clawed back, so the amounts can no longer change',
      );
    }
    if (phase === 'paying' || !idle())
      throw new Error('payments are in flight; wait for them to finish (or force-reset if stuck)');
    if (phase !== 'holding' && phase !== 'awaiting_operator')
      throw new Error(`settlement is ${status} (${phase})`);
    const refusal = partialDispenseRefusal(fiatCents, r.fiat_amount_cents);
    if (refusal) throw new Error(refusal);
  };
  const partialDispense = async (r: PartialDispenseRequest): Promise<SettlementActionResult> => {
    busy = true;
    try {
      const out = await db.applyPartialDispense({
        settlement_id: settlementId!,
        fiat_amount_cents: r.fiat_amount_cents,
        note: r.note,
        user_id: r.user_id,
        page_size: PAGE_SIZE,
      });
      fiatCents = r.fiat_amount_cents;
      partial = true;
      plan = out.plan;
      setStatus(out.status);
      if (out.status === 'refunded') phase = 'done';
      wake = true;
      return result(
        out.status === 'refunded'
          ? `refunded: nothing dispensed, ${formatSats(out.refund_sats)} sats owed back to the customer`
          : `partial dispense recorded: ${out.plan?.payable ?? 0} leg(s) planned, ${formatSats(out.refund_sats)} sats owed back`,
      );
    } finally {
      busy = false;
    }
  };

  const validateNote = (n: AddNoteRequest) => {
    checkActor(n);
    if (typeof n.text !== 'string' || n.text.trim().length === 0 || n.text.length > 2000) {
      throw new Error('text must be 1..2000 characters');
    }
    if (!settlementId) throw new Error('the settlement is not recorded yet');
  };
  const addNote = async (n: AddNoteRequest): Promise<SettlementActionResult> => {
    await db.appendNote({ settlement_id: settlementId!, text: n.text, user_id: n.user_id });
    return result('note added');
  };

  const validateVoidFailedLegs = (r: VoidFailedLegsRequest) => {
    checkActor(r);
    if (typeof r.note !== 'string' || r.note.trim().length === 0 || r.note.length > 2000)
      throw new Error('note must be 1..2000 characters');
    if (!settlementId) throw new Error('the settlement is not recorded yet');
    if (status !== 'errored' || phase !== 'awaiting_operator' || !idle())
      throw new Error(`settlement is ${status}; only an errored settlement's failed legs can be voided`);
  };
  const voidFailedLegs = async (r: VoidFailedLegsRequest): Promise<SettlementActionResult> => {
    busy = true;
    try {
      const out = await db.voidFailedLegs({ settlement_id: settlementId!, note: r.note, user_id: r.user_id });
      setStatus(out.status);
      phase = 'done';
      wake = true;
      return result(
        `${out.voided} failed leg(s) voided (LP fiat released: ${out.fiat_released})` +
          `${out.paid ? `, ${out.paid} found paid` : ''}; settlement ${out.status}`,
      );
    } finally {
      busy = false;
    }
  };

  const validateClose = (r: CloseRequest) => {
    checkActor(r);
    if (typeof r.note !== 'string' || r.note.trim().length === 0 || r.note.length > 2000)
      throw new Error('note must be 1..2000 characters');
    if (!settlementId) throw new Error('no settlement row exists for this payment yet; nothing to close');
    if (recorded)
      throw new Error(
        "the settlement has the ATM event's amounts: it can no longer be closed (retry, partially dispense or void its failed legs instead)",
      );
    if (status !== 'pending' && status !== 'errored')
      throw new Error(`settlement is ${status}; only a settlement waiting for its signals can be closed`);
    if (busy) throw new Error('another operator action is running; try again');
    if (phase !== 'awaiting_signals' && phase !== 'awaiting_operator')
      throw new Error(`settlement is ${status} (${phase}); try again in a moment`);
  };
  const close = async (r: CloseRequest): Promise<SettlementActionResult> => {
    busy = true;
    try {
      await db.closeUnfunded({ settlement_id: settlementId!, note: r.note, user_id: r.user_id });
      closedReason = `closed by operator: ${r.note}`;
      stuck = false;
      phase = 'done';
      setStatus('rejected');
      describe(closedReason);
      wake = true;
      return result('closed: settlement rejected for good (nothing was planned or paid)');
    } finally {
      busy = false;
    }
  };

  /**
   * An Update of a resumed run may arrive with its start, before the state is
   * loaded: it is accepted, then validated (refused with the reason) once loaded.
   * A run that is not resumed is loaded from the start: validator and handler as given.
   */
  function whenLoaded<A extends OperatorActor>(
    validate: (a: A) => void,
    run: (a: A) => Promise<SettlementActionResult>,
  ) {
    const check = (a: A) => {
      if (resumeRefusal) throw new Error(resumeRefusal);
      validate(a);
    };
    return {
      validator: (a: A) => (loaded ? check(a) : checkActor(a)),
      handler: async (a: A): Promise<SettlementActionResult> => {
        if (!loaded) {
          await condition(() => loaded);
          try {
            check(a);
          } catch (err) {
            throw ApplicationFailure.create({
              message: (err as Error).message,
              type: 'InvalidState',
              nonRetryable: true,
            });
          }
        }
        return run(a);
      },
    };
  }
  const onUpdate = <A extends OperatorActor>(
    validate: (a: A) => void,
    run: (a: A) => Promise<SettlementActionResult>,
  ): [(a: A) => Promise<SettlementActionResult>, { validator: (a: A) => void }] => {
    const h = whenLoaded(validate, run);
    return [h.handler, { validator: h.validator }];
  };

  /** The Signal twin of an Update: a refused signal changes nothing and is logged with the reason. */
  function asSignal<A>(
    name: string,
    validate: (a: A) => void,
    run: (a: A) => Promise<SettlementActionResult>,
  ) {
    return async (a: A) => {
      try {
        validate(a);
      } catch (err) {
        log.warn(`signal ${name} refused`, { reason: (err as Error).message });
        return;
      }
      try {
        const r = await run(a);
        log.info(`signal ${name} applied`, { message: r.message });
      } catch (err) {
        if (isCancellation(err)) throw err;
        log.warn(`signal ${name} failed`, { reason: (err as Error).message });
      }
    };
  }

  setHandler(retryUpdate, ...onUpdate(validateRetry, retry));
  setHandler(retrySignal, asSignal('retry', validateRetry, retry));
  setHandler(forceResetUpdate, ...onUpdate(validateForceReset, forceReset));
  setHandler(forceResetSignal, asSignal('forceReset', validateForceReset, forceReset));
  setHandler(partialDispenseUpdate, ...onUpdate(validatePartialDispense, partialDispense));
  setHandler(partialDispenseSignal, asSignal('partialDispense', validatePartialDispense, partialDispense));
  setHandler(voidFailedLegsUpdate, ...onUpdate(validateVoidFailedLegs, voidFailedLegs));
  setHandler(voidFailedLegsSignal, asSignal('voidFailedLegs', validateVoidFailedLegs, voidFailedLegs));
  setHandler(closeUpdate, ...onUpdate(validateClose, close));
  setHandler(closeSignal, asSignal('close', validateClose, close));
  setHandler(addNoteUpdate, ...onUpdate(validateNote, addNote));
  setHandler(addNoteSignal, asSignal('addNote', validateNote, addNote));

  const finish = async (reason?: string): Promise<SettlementOutcome> => {
    phase = 'done';
    await condition(allHandlersFinished);
    return { payment_hash: paymentHash, settlement_id: settlementId, status, ...(reason ? { reason } : {}) };
  };

  /**
   * Step 1–2 by payment (patch `attribution-by-payment`): waits, asking the attribution
   * check again whenever a new candidate event or payment observation has arrived,
   * until the payment decides (matched or, for the machine's own event, rejected).
   * Stuck past the threshold as before, naming the candidate signers.
   */
  async function awaitAttribution(): Promise<Exclude<PaymentAttribution, { kind: 'waiting' }> | null> {
    let tried = 0;
    let droppedNoted = 0;
    let notedEvents = 0;
    let notedPayments = 0;
    let graceOver = false;
    let missing = 'the Lightning payment';
    const dropped = () => droppedEvents + droppedPayments;
    const untried = () =>
      candidatesVersion !== tried && candidateEvents.length > 0 && observations.length > 0;
    const markStuck = async () => {
      // filed under a wallet that saw the payment (the payee's first), never under a mere signer
      const filed =
        payment ?? observations.find((o) => o.direction === 'incoming') ?? observations[0] ?? null;
      const marked = await db.markAwaiting({
        payment_hash: paymentHash,
        wallet_id: filed?.wallet_id ?? null,
        signer_pubkey: null,
        observed_amount_sats: filed?.amount_sats ?? null,
        observed_direction: filed?.direction ?? null,
        event_id: null,
        missing: `waiting for ${missing} since ${firstSeenAt}`,
        first_seen_at: firstSeenAt,
        candidate_signers: candidateEvents.map((e) => e.pubkey),
      });
      settlementId = marked.settlement_id ?? settlementId;
      tagMachine(marked.machine);
      describe(`stuck: waiting for ${missing}`);
    };
    for (;;) {
      // an operator action under way (a force-reset) decides first: signals that arrive meanwhile wait
      await condition(() => !busy);
      if (closedReason !== null) return null; // closed by the operator
      if (currentStatus() === 'errored') {
        // force-reset while waiting: nothing happens until the operator retries
        phase = 'awaiting_operator';
        await condition(() => wake && idle());
        wake = false;
        continue;
      }
      if (dropped() > droppedNoted) {
        const [e, p] = [droppedEvents, droppedPayments];
        await db.noteDroppedCandidates({
          payment_hash: paymentHash,
          events: e - notedEvents,
          payments: p - notedPayments,
          kept_events: candidateEvents.length,
          kept_payments: observations.length,
        });
        [notedEvents, notedPayments, droppedNoted] = [e, p, e + p];
        continue;
      }
      if (untried()) {
        tried = candidatesVersion;
        phase = 'verifying';
        const a = await db.attributePayment({
          payment_hash: paymentHash,
          events: [...candidateEvents],
          payments: [...observations],
        });
        if (a.kind !== 'waiting') {
          if (a.payment.direction === 'outgoing' && !graceOver) {
            // a cash-in decides only once no payee observation came within the grace
            graceOver = !(await condition(untried, input.cash_in_grace_ms ?? DEFAULT_CASH_IN_GRACE_MS));
            if (!graceOver) continue;
          }
          event = candidateEvents.find((e) => e.id === a.event_id) ?? null;
          payment = a.payment;
          return a;
        }
        phase = 'awaiting_signals';
        missing = a.missing;
        payment = a.payment; // where a stuck row or a force-reset is filed (a machine's wallet)
        if (stuck) await markStuck();
        continue;
      }
      if (candidateEvents.length > 0 && observations.length === 0) missing = 'the Lightning payment';
      else if (candidateEvents.length === 0) missing = 'the ATM event (kind 21000)';
      phase = 'awaiting_signals';
      const arrived = await condition(
        () => untried() || wake || dropped() > droppedNoted,
        stuck ? undefined : stuckAfterMs,
      );
      if (wake) {
        wake = false;
        continue;
      }
      if (!arrived && !stuck) {
        stuck = true;
        setStatus('stuck_pending');
        await markStuck();
      }
    }
  }

  if (input.resume) {
    const resumed = await resumeFromDatabase();
    if (resumed) return resumed;
    // null: a settlement whose workflow closed while it waited, retried: wait for its signals again
  }

  setStatus('pending');
  describe('waiting for the ATM event and the payment');

  // ---- 1. wait for both signals (stuck after the threshold, keeps waiting) ----------
  let decision = null as Exclude<PaymentAttribution, { kind: 'waiting' }> | null;
  if (byPayment) decision = await awaitAttribution();
  else {
    const both = () => event !== null && payment !== null;
    for (;;) {
      // an operator action under way (a force-reset) decides first: signals that arrive meanwhile wait
      await condition(() => !busy);
      if (closedReason !== null) break; // closed by the operator
      if (currentStatus() === 'errored') {
        // force-reset while waiting: nothing happens until the operator retries
        phase = 'awaiting_operator';
        await condition(() => wake && idle());
        wake = false;
        continue;
      }
      if (both()) break;
      phase = 'awaiting_signals';
      const arrived = await condition(() => both() || wake, stuck ? undefined : stuckAfterMs);
      if (wake) {
        wake = false;
        continue;
      }
      if (!arrived && !stuck) {
        stuck = true;
        setStatus('stuck_pending');
        const missing =
          !event && !payment
            ? 'the ATM event and the payment'
            : !event
              ? 'the ATM event (kind 21000)'
              : 'the Lightning payment';
        const marked = await db.markAwaiting({
          payment_hash: paymentHash,
          wallet_id: payment?.wallet_id ?? null,
          signer_pubkey: event?.pubkey ?? null,
          observed_amount_sats: payment?.amount_sats ?? null,
          event_id: event?.id ?? null,
          missing: `waiting for ${missing} since ${firstSeenAt}`,
          first_seen_at: firstSeenAt,
        });
        settlementId = marked.settlement_id;
        tagMachine(marked.machine);
        describe(`stuck: waiting for ${missing}`);
      }
    }
  }
  if (closedReason !== null) return finish(closedReason);
  const atm: Pick<SignedEvent, 'id' | 'created_at'> = decision
    ? { id: decision.event_id, created_at: decision.event_created_at }
    : event!;
  const paid = decision ? decision.payment : payment!;
  stuck = false;

  // ---- 2. attribution check -----------------------------------------------------------
  phase = 'verifying';
  const attribution: AttributionResult = decision
    ? decision.kind === 'matched'
      ? { ok: true, machine: decision.machine, content: decision.content }
      : { ok: false, machine: decision.machine, content: decision.content, reason: decision.reason }
    : await db.verifyAttribution({ payment_hash: paymentHash, event: event!, payment: paid });
  tagMachine(attribution.machine);
  if (!attribution.ok) {
    if (!attribution.machine) {
      log.warn('settlement belongs to no known machine; nothing recorded', { reason: attribution.reason });
      setStatus('rejected');
      return finish(attribution.reason);
    }
    const rec = await db.recordRejected({
      payment_hash: paymentHash,
      machine_id: attribution.machine.id,
      event_id: atm.id,
      content: attribution.content,
      observed_amount_sats: paid.amount_sats,
      reason: attribution.reason,
      first_seen_at: firstSeenAt,
      ...(decision ? { candidate_signers: candidateEvents.map((e) => e.pubkey) } : {}),
    });
    settlementId = rec.settlement_id;
    setStatus(rec.status);
    describe(`rejected: ${attribution.reason}`);
    return finish(attribution.reason);
  }
  const content = attribution.content;
  txType = content.tx_type;
  fiatCents = parseCents(content.fiat_amount);
  upsertSearchAttributes([{ key: SA_TX_TYPE, value: txType }]);

  // ---- 3. record idempotently -----------------------------------------------------------
  let rec: Awaited<ReturnType<typeof db.recordSettlement>>;
  try {
    rec = await db.recordSettlement({
      payment_hash: paymentHash,
      machine_id: attribution.machine.id,
      event_id: atm.id,
      event_created_at: atm.created_at,
      content,
      observed_amount_sats: paid.amount_sats,
      first_seen_at: firstSeenAt,
    });
  } catch (err) {
    if (isCancellation(err)) throw err;
    // the database refused the event's values (non-retryable): record the refusal instead
    const reason = `invalid data: ${deepestMessage(err)}`;
    const rejected = await db.recordRejected({
      payment_hash: paymentHash,
      machine_id: attribution.machine.id,
      event_id: atm.id,
      content: null,
      observed_amount_sats: paid.amount_sats,
      reason,
      first_seen_at: firstSeenAt,
    });
    settlementId = rejected.settlement_id;
    setStatus(rejected.status);
    return finish(reason);
  }
  settlementId = rec.settlement_id;
  recorded = true;
  if (rec.already_final) {
    setStatus(rec.status);
    return finish('already settled');
  }

  // ---- 4–5. split and DCA allocation (legs inserted as pending) --------------------------
  try {
    plan = await db.planLegs({ settlement_id: settlementId, page_size: PAGE_SIZE });
    setStatus('processing');
    describe(`${formatSats(content.wire_sats)} sats · ${plan.payable} leg(s)`);
  } catch (err) {
    if (isCancellation(err)) throw err;
    const reason = `planning the legs failed: ${deepestMessage(err)}`;
    await db.markErrored({ settlement_id: settlementId, reason });
    setStatus('errored');
    describe(reason);
  }

  // ---- 6. optional hold: a durable window for partial dispense ---------------------------
  if (plan && plan.hold_seconds > 0) {
    phase = 'holding';
    holdUntil = Date.now() + plan.hold_seconds * 1000;
    describe(`holding ${plan.hold_seconds}s before paying`);
    await sleep(plan.hold_seconds * 1000);
    await condition(() => !busy);
    holdUntil = null;
  }

  // ---- 7–8. pay every leg; errored waits for the operator --------------------------------
  return payUntilDone();

  async function payUntilDone(): Promise<SettlementOutcome> {
    const payAll = async (p: PlanSummary): Promise<PageOutcome> => {
      const total: PageOutcome = { completed: 0, failed: 0 };
      const add = (o: PageOutcome) => {
        total.completed += o.completed;
        total.failed += o.failed;
      };
      if (p.pages.length === 1) add(await payPage(settlementId!, p.pages[0]!.from, p.pages[0]!.to));
      else if (p.pages.length > 1) {
        const wfId = workflowInfo().workflowId;
        const pages = p.pages.map((page, i) => ({ page, i }));
        await runLimited(pages, CHILD_CONCURRENCY, async ({ page, i }) => {
          add(
            await executeChild(legBatchWorkflow, {
              // a resumed run's children never meet those of the run before it
              workflowId: `${wfId}${input.resume ? `-run${workflowInfo().runId.slice(0, 8)}` : ''}-round${rounds}-page${i + 1}`,
              args: [{ settlement_id: settlementId!, from: page.from, to: page.to }],
              staticSummary: `legs ${page.from}–${page.to} of ${wfId}`,
            }),
          );
        });
      }
      return total;
    };

    while (currentPhase() !== 'done') {
      if (currentStatus() === 'refunded') break;
      if (currentStatus() === 'errored') {
        phase = 'awaiting_operator';
        await condition(() => wake && idle());
        wake = false;
        continue;
      }
      rounds++;
      phase = 'paying';
      roundRunning = true;
      await db.startPaying({ settlement_id: settlementId! });
      describe(`paying ${plan?.payable ?? 0} leg(s), round ${rounds}`);
      const round = CancellationScope.cancellable(async () => {
        roundScope = CancellationScope.current();
        return payAll(plan ?? { payable: 0, pages: [], hold_seconds: 0 });
      })
        .then((o) => {
          if (o.completed > 0) anyCompleted = true;
        })
        .catch((err) => {
          if (!isCancellation(err)) throw err;
        })
        .finally(() => {
          roundRunning = false;
          roundScope = null;
        });
      if (!(await condition(() => !roundRunning, stuckAfterMs))) {
        stuck = true;
        setStatus('stuck_processing');
        describe(`stuck: paying for more than ${Math.round(stuckAfterMs / 60000)} min`);
      }
      await round;
      await condition(() => !busy);
      if (resetDuringRound) {
        // the force-reset handler recorded the outcome (errored); wait for the operator
        resetDuringRound = false;
        continue;
      }
      const outcome = await db.concludeRound({ settlement_id: settlementId!, partial });
      stuck = false;
      if (outcome.completed > 0) anyCompleted = true;
      setStatus(outcome.status);
      if (outcome.status === 'processed' || outcome.status === 'partial') break;
      if (outcome.status === 'errored') describe(`errored: ${outcome.error_message ?? 'a leg failed'}`);
    }
    describe(`${status}`);
    return finish();
  }

  /**
   * Resume mode (§7.1): the workflow of this payment closed (terminated, timed out,
   * failed) before the settlement was final, and an operator action started this run.
   * The state comes from the database; completed legs stay completed, failed ones are
   * looked up by the action that re-pays them. Nothing is paid until the operator acts.
   */
  async function resumeFromDatabase(): Promise<SettlementOutcome | null> {
    phase = 'verifying';
    const s = await db.loadForResume({ payment_hash: paymentHash, page_size: PAGE_SIZE });
    if (!s) {
      resumeRefusal = 'no settlement is recorded for this payment; nothing to resume';
      loaded = true;
      return finish(resumeRefusal);
    }
    settlementId = s.settlement_id;
    tagMachine(s.machine);
    if (s.tx_type) {
      txType = s.tx_type;
      upsertSearchAttributes([{ key: SA_TX_TYPE, value: s.tx_type }]);
    }
    fiatCents = s.fiat_cents;
    recorded = s.has_amounts;
    anyCompleted = s.any_completed;
    partial = s.partial;
    plan = s.plan;
    log.info('settlement resumed from the database', { settlement_id: s.settlement_id, status: s.status });
    if (s.status !== 'pending' && s.status !== 'processing' && s.status !== 'errored') {
      setStatus(s.status);
      loaded = true;
      return finish(`already ${s.status}`);
    }
    if (!s.has_amounts && patched('resume-closed-wait')) {
      // its workflow closed while it waited for its signals (they are gone with it): the operator
      // retries (wait for them again: a re-published event and payment reach this run) or closes it
      resumedWaiting = true;
      phase = 'awaiting_operator';
      setStatus(s.status);
      describe('resumed: its workflow closed while it waited for its signals; retry or close');
      loaded = true;
      await condition(() => wake && idle());
      wake = false;
      resumedWaiting = false;
      if (closedReason !== null) return finish(closedReason);
      return null;
    }
    if (!s.has_amounts) {
      resumeRefusal =
        `settlement is ${s.status} without the ATM event's amounts: its workflow closed while it waited for its signals, ` +
        'so nothing can be paid (the payment hash may be replayed by the machine)';
      setStatus(s.status);
      loaded = true;
      return finish(resumeRefusal);
    }
    if (s.status === 'errored') {
      phase = 'awaiting_operator';
      setStatus('errored');
      describe('errored (resumed): waiting for the operator');
      loaded = true;
      return payUntilDone();
    }
    // recorded and planned or being paid, but the run that held or paid it is gone: stuck
    // until the operator force-resets it (or, never paid yet, partially dispenses it)
    orphaned = true;
    stuck = true;
    phase = s.started_paying ? 'paying' : 'holding';
    setStatus(s.status);
    setStatus(s.status === 'pending' ? 'stuck_pending' : 'stuck_processing');
    describe(`stuck (resumed): its workflow closed while ${s.started_paying ? 'paying' : 'holding'}`);
    loaded = true;
    await condition(() => wake && idle());
    wake = false;
    orphaned = false;
    stuck = false;
    return payUntilDone();
  }
}
