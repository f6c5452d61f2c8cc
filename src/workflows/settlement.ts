import { isCancellation, log, setHandler } from '@temporalio/workflow';
import {
  atmEventSignal,
  paymentObservedSignal,
  stateQuery,
  type SettlementWorkflowInput,
  type SignedEvent,
  innermostMessage,
} from '../contract';
import { parseCents } from '../domain/decimal';
import type { SettlementEventContent } from '../domain/settlementEvent';
import { settlementSummary, type SettlementSummary } from '../domain/settlementSummary';
import type { AttributionResult } from '../activities/types';
import { awaitAttribution, awaitBothSignals, type AttributionDecision } from './awaitSignals';
import { PAGE_SIZE, db, formatSats } from './legPayments';
import { registerOperatorActions } from './operatorActions';
import { holdBeforePaying, payUntilDone } from './paymentRound';
import { resumeFromDatabase } from './resumeSettlement';
import { SettlementState, type SettlementOutcome } from './settlementState';

export { MAX_CANDIDATES, type SettlementOutcome } from './settlementState';

/** The event's type and amounts: the activity's summary, or (older histories) from its content. */
function summaryOf(r: {
  summary?: SettlementSummary | null;
  content?: SettlementEventContent | null;
}): SettlementSummary | null {
  if (r.summary !== undefined) return r.summary;
  return r.content ? settlementSummary(r.content) : null;
}

/**
 * One ATM transaction, from its two signals to every leg paid exactly once: the
 * steps of SPEC §4 in order (docs/settlement.md §4). Workflow id: settlement-<payment_hash>.
 * The state lives in SettlementState; operator actions (Updates and their Signal
 * twins) in operatorActions.ts; steps 1–2 in awaitSignals.ts; 6–8 in paymentRound.ts;
 * a resumed run (§7.1) in resumeSettlement.ts.
 */
export async function settlementWorkflow(input: SettlementWorkflowInput): Promise<SettlementOutcome> {
  const s = new SettlementState(input);
  setHandler(atmEventSignal, (signal) => s.receiveAtmEvent(signal));
  setHandler(paymentObservedSignal, (p) => s.receivePayment(p));
  setHandler(stateQuery, () => s.snapshot());
  registerOperatorActions(s);

  if (input.resume) {
    const resumed = await resumeFromDatabase(s);
    if (resumed) return resumed;
    // null: a settlement whose workflow closed while it waited, retried: wait for its signals again
  }

  // the start set `pending` already (a resumed run upserts it: its start set the row's status)
  if (!s.lean || input.resume) s.setStatus('pending');
  s.describe('waiting for the ATM event and the payment');

  // ---- 1. wait for both signals (stuck after the threshold, keeps waiting) ----------
  let decision = null as AttributionDecision | null;
  if (s.byPayment) decision = await awaitAttribution(s);
  else await awaitBothSignals(s);
  if (s.closedReason !== null) return s.finish(s.closedReason);
  const atm: Pick<SignedEvent, 'id' | 'created_at'> = decision
    ? { id: decision.event_id, created_at: decision.event_created_at }
    : s.event!;
  const paid = decision ? decision.payment : s.payment!;
  s.stuck = false;

  // ---- 2. attribution check (by payment: decided while waiting) -------------------------
  s.phase = 'verifying';
  const attribution: AttributionResult = decision
    ? decision.kind === 'matched'
      ? { ok: true, machine: decision.machine, summary: summaryOf(decision)! }
      : { ok: false, machine: decision.machine, summary: summaryOf(decision), reason: decision.reason }
    : await db.verifyAttribution({ payment_hash: s.paymentHash, event: s.event!, payment: paid });
  // the machine's own signed event: the recording activities open it again (its plaintext
  // never enters this history); histories recorded before that carry `content` instead
  const ownEvent = s.eventById(atm.id);
  const opened = (content: SettlementEventContent | null | undefined) =>
    content ? { content } : { event: ownEvent };
  s.holdTagsForStatus(); // lean: machine and tx type go with the next status (rejected, recorded, processing)
  s.tagMachine(attribution.machine);
  if (!attribution.ok) {
    if (!attribution.machine) {
      log.warn('settlement belongs to no known machine; nothing recorded', { reason: attribution.reason });
      s.setStatus('rejected');
      return s.finish(attribution.reason);
    }
    const rejected = await db.recordRejected({
      payment_hash: s.paymentHash,
      machine_id: attribution.machine.id,
      event_id: atm.id,
      ...(attribution.summary || attribution.content ? opened(attribution.content) : { content: null }),
      observed_amount_sats: paid.amount_sats,
      reason: attribution.reason,
      first_seen_at: s.firstSeenAt,
      ...(decision ? { candidate_signers: s.candidateEvents.map((e) => e.pubkey) } : {}),
    });
    s.settlementId = rejected.settlement_id;
    s.setStatus(rejected.status);
    s.describe(`rejected: ${attribution.reason}`);
    return s.finish(attribution.reason);
  }
  const summary = summaryOf(attribution)!;
  s.txType = summary.tx_type;
  s.fiatCents = parseCents(summary.fiat_amount);
  s.tagTxType(s.txType);

  // ---- 3. record idempotently -----------------------------------------------------------
  let rec: Awaited<ReturnType<typeof db.recordSettlement>>;
  try {
    rec = await db.recordSettlement({
      payment_hash: s.paymentHash,
      machine_id: attribution.machine.id,
      event_id: atm.id,
      event_created_at: atm.created_at,
      ...opened(attribution.content),
      observed_amount_sats: paid.amount_sats,
      first_seen_at: s.firstSeenAt,
    });
  } catch (err) {
    if (isCancellation(err)) throw err;
    // the database refused the event's values (non-retryable): record the refusal instead
    const reason = `invalid data: ${innermostMessage(err)}`;
    const rejected = await db.recordRejected({
      payment_hash: s.paymentHash,
      machine_id: attribution.machine.id,
      event_id: atm.id,
      content: null,
      observed_amount_sats: paid.amount_sats,
      reason,
      first_seen_at: s.firstSeenAt,
    });
    s.settlementId = rejected.settlement_id;
    s.setStatus(rejected.status);
    return s.finish(reason);
  }
  s.settlementId = rec.settlement_id;
  s.recorded = true;
  if (rec.already_final) {
    s.setStatus(rec.status);
    return s.finish('already settled');
  }

  // ---- 4–5. split and DCA allocation (legs inserted as pending) --------------------------
  try {
    s.plan = await db.planLegs({ settlement_id: s.settlementId, page_size: PAGE_SIZE });
    s.setStatus('processing');
    s.describe(`${formatSats(summary.wire_sats)} sats · ${s.plan.payable} leg(s)`);
  } catch (err) {
    if (isCancellation(err)) throw err;
    const reason = `planning the legs failed: ${innermostMessage(err)}`;
    await db.markErrored({ settlement_id: s.settlementId, reason });
    s.setStatus('errored');
    s.describe(reason);
  }

  // ---- 6. optional hold: a durable window for partial dispense ---------------------------
  await holdBeforePaying(s);

  // ---- 7–8. pay every leg; errored waits for the operator --------------------------------
  return payUntilDone(s);
}
