/**
 * The operator actions on a running settlement (SPEC §4, docs/settlement.md §7): each
 * is a validator and an action on the SettlementState, registered by
 * `registerOperatorActions` as an Update and as a Signal of the same name.
 */
import { ApplicationFailure, condition, isCancellation, log, setHandler } from '@temporalio/workflow';
import type { SignalDefinition, UpdateDefinition } from '@temporalio/common';
import {
  addNoteSignal,
  addNoteUpdate,
  closeSignal,
  closeUpdate,
  forceResetSignal,
  forceResetUpdate,
  partialDispenseSignal,
  partialDispenseUpdate,
  retrySignal,
  retryUpdate,
  voidFailedLegsSignal,
  voidFailedLegsUpdate,
  type AddNoteRequest,
  type CloseRequest,
  type OperatorActor,
  type PartialDispenseRequest,
  type SettlementActionResult,
  type VoidFailedLegsRequest,
  FailureType,
} from '../contract';
import { partialDispenseRefusal } from '../domain/partialDispense';
import { PAGE_SIZE, db, formatSats } from './legPayments';
import type { SettlementState } from './settlementState';

type Validate<A> = (s: SettlementState, a: A) => void;
type Act<A> = (s: SettlementState, a: A) => Promise<SettlementActionResult>;

function checkActor(a: OperatorActor | undefined): void {
  if (!a || typeof a.user_id !== 'string' || a.user_id.length === 0 || a.user_id.length > 100) {
    throw new Error('user_id (the acting operator) is required');
  }
}

// ---- retry: pay the failed legs again (or, resumed while waiting, wait again) ----------
const validateRetry: Validate<OperatorActor> = (s, a) => {
  checkActor(a);
  const waitAgain = s.resumedWaiting && s.status === 'pending' && s.phase === 'awaiting_operator' && s.idle();
  if (!waitAgain && (s.status !== 'errored' || s.phase !== 'awaiting_operator' || !s.idle())) {
    throw new Error(
      `settlement is ${s.status}${s.isStuck() ? ' (stuck)' : ''}; only an errored settlement can be retried`,
    );
  }
  if (!s.settlementId) throw new Error('no settlement row exists for this payment yet; nothing to retry');
};
const retry: Act<OperatorActor> = async (s, a) => {
  s.busy = true;
  try {
    s.plan = await db.prepareRetry({
      settlement_id: s.settlementId!,
      user_id: a.user_id,
      page_size: PAGE_SIZE,
      ...(s.resumedWaiting ? { resume_waiting: true } : {}),
    });
    s.stuck = false;
    s.setStatus(s.recorded ? 'processing' : 'pending');
    s.wake = true;
    return s.result(
      s.recorded ? `retrying: ${s.plan.payable} leg(s) to pay` : 'waiting again for the missing signal',
    );
  } finally {
    s.busy = false;
  }
};

// ---- forceReset: a stuck settlement becomes errored, in-flight payments cancelled -------
const validateForceReset: Validate<OperatorActor> = (s, a) => {
  checkActor(a);
  const { status, phase } = s;
  if (status !== 'pending' && status !== 'processing') {
    throw new Error(`settlement is ${status}; only a pending or processing settlement can be force-reset`);
  }
  if (s.resumedWaiting) {
    throw new Error(
      'its workflow closed while it waited for its signals: retry to wait for them again, or close it',
    );
  }
  if (s.orphaned) {
    // resumed: the run that held or paid this settlement is gone, nothing is paying it
    if (s.busy) throw new Error('another operator action is running; try again');
    return;
  }
  if (!s.isStuck() || (phase !== 'awaiting_signals' && phase !== 'paying')) {
    throw new Error(
      `settlement is ${status} but not stuck yet: force-reset is allowed ${Math.round(s.stuckAfterMs / 60000)} min after it started waiting or paying`,
    );
  }
  if (s.busy) throw new Error('another operator action is running; try again');
  if (phase === 'paying' && !s.roundRunning) {
    throw new Error(
      'the payment round has just ended and its outcome is being recorded; look again in a moment',
    );
  }
  if (!s.settlementId && phase === 'awaiting_signals') {
    // only reachable from the Temporal UI/CLI: the payment belongs to no known machine
    throw new Error(
      'no settlement row exists for this payment (no known machine); terminate the workflow instead',
    );
  }
};
const forceReset: Act<OperatorActor> = async (s, a) => {
  s.busy = true;
  try {
    if (s.roundRunning) {
      s.resetDuringRound = true;
      s.roundScope?.cancel();
      await condition(() => !s.roundRunning);
    }
    const r = await db.forceReset({
      payment_hash: s.paymentHash,
      settlement_id: s.settlementId,
      wallet_id: s.payment?.wallet_id ?? null,
      signer_pubkey: s.event?.pubkey ?? null,
      first_seen_at: s.firstSeenAt,
      user_id: a.user_id,
    });
    s.settlementId = r.settlement_id;
    if (r.completed_legs > 0) s.anyCompleted = true;
    s.stuck = false;
    s.phase = 'awaiting_operator';
    s.setStatus('errored');
    s.wake = true;
    return s.result('force-reset: in-flight payments cancelled, settlement errored (was stuck)');
  } finally {
    s.busy = false;
  }
};

// ---- partialDispense: the machine dispensed less than the event says (cash-out) ---------
const validatePartialDispense: Validate<PartialDispenseRequest> = (s, r) => {
  checkActor(r);
  const { status, phase } = s;
  if (!Number.isSafeInteger(r.fiat_amount_cents))
    throw new Error('fiat_amount_cents must be a whole number of cents');
  if (typeof r.note !== 'string' || r.note.length > 2000)
    throw new Error('note must be a string of at most 2000 characters');
  if (!s.recorded || !s.settlementId)
    throw new Error('the settlement is not recorded yet (still waiting for its signals)');
  if (s.txType !== 'cash_out') throw new Error('partial dispense applies to cash-out settlements only');
  if (status === 'refunded' || phase === 'done') throw new Error(`settlement is ${status}`);
  if (s.anyCompleted) {
    throw new Error(
      'a leg is already paid: Lightning payments cannot be clawed back, so the amounts can no longer change',
    );
  }
  if (phase === 'paying' || !s.idle())
    throw new Error('payments are in flight; wait for them to finish (or force-reset if stuck)');
  if (phase !== 'holding' && phase !== 'awaiting_operator')
    throw new Error(`settlement is ${status} (${phase})`);
  const refusal = partialDispenseRefusal(s.fiatCents, r.fiat_amount_cents);
  if (refusal) throw new Error(refusal);
};
const partialDispense: Act<PartialDispenseRequest> = async (s, r) => {
  s.busy = true;
  try {
    const out = await db.applyPartialDispense({
      settlement_id: s.settlementId!,
      fiat_amount_cents: r.fiat_amount_cents,
      note: r.note,
      user_id: r.user_id,
      page_size: PAGE_SIZE,
    });
    s.fiatCents = r.fiat_amount_cents;
    s.partial = true;
    s.plan = out.plan;
    s.setStatus(out.status);
    if (out.status === 'refunded') s.phase = 'done';
    s.wake = true;
    return s.result(
      out.status === 'refunded'
        ? `refunded: nothing dispensed, ${formatSats(out.refund_sats)} sats owed back to the customer`
        : `partial dispense recorded: ${out.plan?.payable ?? 0} leg(s) planned, ${formatSats(out.refund_sats)} sats owed back`,
    );
  } finally {
    s.busy = false;
  }
};

// ---- addNote: an append-only note, in any state once the row exists ---------------------
const validateNote: Validate<AddNoteRequest> = (s, n) => {
  checkActor(n);
  if (typeof n.text !== 'string' || n.text.trim().length === 0 || n.text.length > 2000) {
    throw new Error('text must be 1..2000 characters');
  }
  if (!s.settlementId) throw new Error('the settlement is not recorded yet');
};
const addNote: Act<AddNoteRequest> = async (s, n) => {
  await db.appendNote({ settlement_id: s.settlementId!, text: n.text, user_id: n.user_id });
  return s.result('note added');
};

// ---- voidFailedLegs: give up an errored settlement's failed legs -------------------------
const validateVoidFailedLegs: Validate<VoidFailedLegsRequest> = (s, r) => {
  checkActor(r);
  if (typeof r.note !== 'string' || r.note.trim().length === 0 || r.note.length > 2000)
    throw new Error('note must be 1..2000 characters');
  if (!s.settlementId) throw new Error('the settlement is not recorded yet');
  if (s.status !== 'errored' || s.phase !== 'awaiting_operator' || !s.idle())
    throw new Error(`settlement is ${s.status}; only an errored settlement's failed legs can be voided`);
};
const voidFailedLegs: Act<VoidFailedLegsRequest> = async (s, r) => {
  s.busy = true;
  try {
    const out = await db.voidFailedLegs({ settlement_id: s.settlementId!, note: r.note, user_id: r.user_id });
    s.setStatus(out.status);
    s.phase = 'done';
    s.wake = true;
    return s.result(
      `${out.voided} failed leg(s) voided (LP fiat released: ${out.fiat_released})` +
        `${out.paid ? `, ${out.paid} found paid` : ''}; settlement ${out.status}`,
    );
  } finally {
    s.busy = false;
  }
};

// ---- close: reject for good a settlement that never got its ATM event's amounts ---------
const validateClose: Validate<CloseRequest> = (s, r) => {
  checkActor(r);
  const { status, phase } = s;
  if (typeof r.note !== 'string' || r.note.trim().length === 0 || r.note.length > 2000)
    throw new Error('note must be 1..2000 characters');
  if (!s.settlementId) throw new Error('no settlement row exists for this payment yet; nothing to close');
  if (s.recorded)
    throw new Error(
      "the settlement has the ATM event's amounts: it can no longer be closed (retry, partially dispense or void its failed legs instead)",
    );
  if (status !== 'pending' && status !== 'errored')
    throw new Error(`settlement is ${status}; only a settlement waiting for its signals can be closed`);
  if (s.busy) throw new Error('another operator action is running; try again');
  if (phase !== 'awaiting_signals' && phase !== 'awaiting_operator')
    throw new Error(`settlement is ${status} (${phase}); try again in a moment`);
};
const close: Act<CloseRequest> = async (s, r) => {
  s.busy = true;
  try {
    await db.closeUnfunded({ settlement_id: s.settlementId!, note: r.note, user_id: r.user_id });
    s.closedReason = `closed by operator: ${r.note}`;
    s.stuck = false;
    s.phase = 'done';
    s.setStatus('rejected');
    s.describe(s.closedReason);
    s.wake = true;
    return s.result('closed: settlement rejected for good (nothing was planned or paid)');
  } finally {
    s.busy = false;
  }
};

/** Every operator action, as an Update (validated, answered) and a Signal of the same name. */
export function registerOperatorActions(s: SettlementState): void {
  register(s, retryUpdate, retrySignal, validateRetry, retry);
  register(s, forceResetUpdate, forceResetSignal, validateForceReset, forceReset);
  register(s, partialDispenseUpdate, partialDispenseSignal, validatePartialDispense, partialDispense);
  register(s, voidFailedLegsUpdate, voidFailedLegsSignal, validateVoidFailedLegs, voidFailedLegs);
  register(s, closeUpdate, closeSignal, validateClose, close);
  register(s, addNoteUpdate, addNoteSignal, validateNote, addNote);
}

function register<A extends OperatorActor>(
  s: SettlementState,
  update: UpdateDefinition<SettlementActionResult, [A]>,
  signal: SignalDefinition<[A]>,
  validate: Validate<A>,
  act: Act<A>,
): void {
  const check = (a: A) => validate(s, a);
  const run = (a: A) => act(s, a);
  setHandler(update, ...asUpdate(s, check, run));
  setHandler(signal, asSignal(signal.name, check, run));
}

/**
 * The Update: validator and handler. An Update of a resumed run may arrive with its
 * start, before the state is loaded: it is accepted, then validated (refused with the
 * reason) once loaded. A run that is not resumed is loaded from the start: validator
 * and handler as given.
 */
function asUpdate<A extends OperatorActor>(
  s: SettlementState,
  validate: (a: A) => void,
  run: (a: A) => Promise<SettlementActionResult>,
): [(a: A) => Promise<SettlementActionResult>, { validator: (a: A) => void }] {
  const check = (a: A) => {
    if (s.resumeRefusal) throw new Error(s.resumeRefusal);
    validate(a);
  };
  const handler = async (a: A): Promise<SettlementActionResult> => {
    if (!s.loaded) {
      await condition(() => s.loaded);
      try {
        check(a);
      } catch (err) {
        throw ApplicationFailure.create({
          message: (err as Error).message,
          type: FailureType.InvalidState,
          nonRetryable: true,
        });
      }
    }
    return run(a);
  };
  return [handler, { validator: (a: A) => (s.loaded ? check(a) : checkActor(a)) }];
}

/** The Signal twin of an Update: a refused signal changes nothing and is logged with the reason. */
function asSignal<A>(name: string, validate: (a: A) => void, run: (a: A) => Promise<SettlementActionResult>) {
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
