/**
 * Steps 1–2 of a settlement (docs/settlement.md §4.1–4.2): wait for the ATM event and
 * the payment, stuck past the threshold (and still waiting), until the attribution
 * check can decide. Two paths: by payment (patch `attribution-by-payment`, every
 * candidate) and, for histories recorded before it, the first signal of each kind.
 */
import { condition } from '@temporalio/workflow';
import type { PaymentAttribution } from '../activities/types';
import { db } from './legPayments';
import type { SettlementState } from './settlementState';

/** The attribution check's answer once the payment decided: matched, or rejected. */
export type AttributionDecision = Exclude<PaymentAttribution, { kind: 'waiting' }>;

/**
 * A decision on an outgoing payment (a cash-in) waits this long for more candidates:
 * the same payment may have reached another machine's wallet (machine B paid machine
 * A's invoice), and the payee's incoming observation, once it arrives, goes first.
 */
const DEFAULT_CASH_IN_GRACE_MS = 10_000;

/**
 * By payment (patch `attribution-by-payment`): waits, asking the attribution check
 * again whenever a new candidate event or payment observation has arrived, until the
 * payment decides (matched or, for the machine's own event, rejected). Stuck past the
 * threshold as before, naming the candidate signers. Null: closed by the operator.
 */
export async function awaitAttribution(s: SettlementState): Promise<AttributionDecision | null> {
  let tried = 0;
  let droppedNoted = 0;
  let notedEvents = 0;
  let notedPayments = 0;
  let graceOver = false;
  let missing = 'the Lightning payment';
  const dropped = () => s.droppedEvents + s.droppedPayments;
  const untried = () =>
    s.candidatesVersion !== tried && s.candidateEvents.length > 0 && s.observations.length > 0;
  const markStuck = async () => {
    // filed under a wallet that saw the payment (the payee's first), never under a mere signer
    const filed =
      s.payment ?? s.observations.find((o) => o.direction === 'incoming') ?? s.observations[0] ?? null;
    const marked = await db.markAwaiting({
      payment_hash: s.paymentHash,
      wallet_id: filed?.wallet_id ?? null,
      signer_pubkey: null,
      observed_amount_sats: filed?.amount_sats ?? null,
      observed_direction: filed?.direction ?? null,
      event_id: null,
      missing: `waiting for ${missing} since ${s.firstSeenAt}`,
      first_seen_at: s.firstSeenAt,
      candidate_signers: s.candidateEvents.map((e) => e.pubkey),
    });
    s.settlementId = marked.settlement_id ?? s.settlementId;
    s.tagMachine(marked.machine);
    s.describe(`stuck: waiting for ${missing}`);
  };
  for (;;) {
    // an operator action under way (a force-reset) decides first: signals that arrive meanwhile wait
    await condition(() => !s.busy);
    if (s.closedReason !== null) return null; // closed by the operator
    if (s.currentStatus() === 'errored') {
      // force-reset while waiting: nothing happens until the operator retries
      s.phase = 'awaiting_operator';
      await s.waitForOperator();
      continue;
    }
    if (dropped() > droppedNoted) {
      const [e, p] = [s.droppedEvents, s.droppedPayments];
      await db.noteDroppedCandidates({
        payment_hash: s.paymentHash,
        events: e - notedEvents,
        payments: p - notedPayments,
        kept_events: s.candidateEvents.length,
        kept_payments: s.observations.length,
      });
      [notedEvents, notedPayments, droppedNoted] = [e, p, e + p];
      continue;
    }
    if (untried()) {
      tried = s.candidatesVersion;
      s.phase = 'verifying';
      const a = await db.attributePayment({
        payment_hash: s.paymentHash,
        events: [...s.candidateEvents],
        payments: [...s.observations],
      });
      if (a.kind !== 'waiting') {
        if (a.payment.direction === 'outgoing' && !graceOver) {
          // a cash-in decides only once no payee observation came within the grace
          graceOver = !(await condition(untried, s.input.cash_in_grace_ms ?? DEFAULT_CASH_IN_GRACE_MS));
          if (!graceOver) continue;
        }
        s.event = s.candidateEvents.find((e) => e.id === a.event_id) ?? null;
        s.payment = a.payment;
        return a;
      }
      s.phase = 'awaiting_signals';
      missing = a.missing;
      s.payment = a.payment; // where a stuck row or a force-reset is filed (a machine's wallet)
      if (s.stuck) await markStuck();
      continue;
    }
    if (s.candidateEvents.length > 0 && s.observations.length === 0) missing = 'the Lightning payment';
    else if (s.candidateEvents.length === 0) missing = 'the ATM event (kind 21000)';
    s.phase = 'awaiting_signals';
    const arrived = await condition(
      () => untried() || s.wake || dropped() > droppedNoted,
      s.stuck ? undefined : s.stuckAfterMs,
    );
    if (s.wake) {
      s.wake = false;
      continue;
    }
    if (!arrived && !s.stuck) {
      s.stuck = true;
      s.setStatus('stuck_pending');
      await markStuck();
    }
  }
}

/**
 * Before the patch `attribution-by-payment`: the first ATM event and the first payment
 * decide; waits until both are in (or the operator closed the settlement).
 */
export async function awaitBothSignals(s: SettlementState): Promise<void> {
  const both = () => s.event !== null && s.payment !== null;
  for (;;) {
    // an operator action under way (a force-reset) decides first: signals that arrive meanwhile wait
    await condition(() => !s.busy);
    if (s.closedReason !== null) return; // closed by the operator
    if (s.currentStatus() === 'errored') {
      // force-reset while waiting: nothing happens until the operator retries
      s.phase = 'awaiting_operator';
      await s.waitForOperator();
      continue;
    }
    if (both()) return;
    s.phase = 'awaiting_signals';
    const arrived = await condition(() => both() || s.wake, s.stuck ? undefined : s.stuckAfterMs);
    if (s.wake) {
      s.wake = false;
      continue;
    }
    if (!arrived && !s.stuck) {
      s.stuck = true;
      s.setStatus('stuck_pending');
      const { event, payment } = s;
      const missing =
        !event && !payment
          ? 'the ATM event and the payment'
          : !event
            ? 'the ATM event (kind 21000)'
            : 'the Lightning payment';
      const marked = await db.markAwaiting({
        payment_hash: s.paymentHash,
        wallet_id: payment?.wallet_id ?? null,
        signer_pubkey: event?.pubkey ?? null,
        observed_amount_sats: payment?.amount_sats ?? null,
        event_id: event?.id ?? null,
        missing: `waiting for ${missing} since ${s.firstSeenAt}`,
        first_seen_at: s.firstSeenAt,
      });
      s.settlementId = marked.settlement_id;
      s.tagMachine(marked.machine);
      s.describe(`stuck: waiting for ${missing}`);
    }
  }
}
