import type { PaymentObservedSignal, SignedEvent } from '../contract';
import { settlementSummary, type SettlementEventContent } from '../domain/settlementEvent';
import { getMachineByPubkey, getMachineByWallet, type MachineRow } from '../db/machines';
import { pTags, verifySignature } from '../nostr/codec';
import { settlementCandidatesDropped } from '../metrics/registry';
import type { ActivityDeps } from './deps';
import { machineInfo } from './machineInfo';
import { createOwnEventOpener } from './ownEvent';
import type { AttributionResult, PaymentAttribution } from './types';

/** Attribution (SPEC §4 step 2): which machine's event, if any, a payment settles. */
export function createAttributionActivities(deps: ActivityDeps) {
  const { pool, logger } = deps;
  const log = logger.child({ component: 'settlement' });

  const openOwnEvent = createOwnEventOpener(deps);

  /**
   * The attribution check (SPEC §4 step 2): the event is really signed by the
   * machine whose wallet saw this payment, addressed to its operator, and its
   * amounts agree with the payment.
   */
  async function verifyAttribution(input: {
    payment_hash: string;
    event: SignedEvent;
    payment: PaymentObservedSignal;
  }): Promise<AttributionResult> {
    const { event, payment } = input;
    // one lookup: the wallet's active machine comes first (at most one is active per wallet)
    const byWallet = await getMachineByWallet(pool, payment.wallet_id);
    const walletMachine = byWallet?.is_active ? byWallet : null;
    // the signer's registration that the event is addressed to (p tag), never "the first row"
    const signerMachine = await getMachineByPubkey(pool, event.pubkey.toLowerCase(), pTags(event));
    const machine = walletMachine ?? signerMachine;
    const info = machine ? machineInfo(machine) : null;
    const reject = (reason: string, content: SettlementEventContent | null = null): AttributionResult => ({
      ok: false,
      reason,
      machine: info,
      summary: content && settlementSummary(content),
    });

    if (!verifySignature(event)) return reject('event signature is invalid');
    if (!walletMachine) {
      return reject(
        byWallet
          ? `machine ${byWallet.id} (${byWallet.name}) is not active`
          : `payment was seen on wallet ${payment.wallet_id}, which belongs to no machine`,
      );
    }
    if (event.pubkey.toLowerCase() !== walletMachine.machine_pubkey_hex) {
      const who = signerMachine ? `machine ${signerMachine.id} (${signerMachine.name})` : 'an unknown key';
      return reject(
        `event signed by ${who}, but the payment was seen on the wallet of machine ${walletMachine.id} (${walletMachine.name})`,
      );
    }
    const opened = await openOwnEvent(walletMachine, event);
    if (!opened.ok) return reject(opened.reason);
    const c = opened.content;
    if (c.payment_hash !== input.payment_hash) {
      return reject(`event is for payment ${c.payment_hash}, not ${input.payment_hash}`, c);
    }
    const expectedDirection = c.tx_type === 'cash_out' ? 'incoming' : 'outgoing';
    if (payment.direction !== expectedDirection) {
      return reject(
        `a ${c.tx_type} needs an ${expectedDirection} payment, but it was ${payment.direction}`,
        c,
      );
    }
    if (payment.amount_sats !== c.wire_sats) {
      return reject(`payment amount ${payment.amount_sats} sats ≠ wire_sats ${c.wire_sats}`, c);
    }
    if (c.fee_sats < 0 || c.fee_sats > c.wire_sats) {
      return reject(`fee_sats ${c.fee_sats} is outside 0..wire_sats (${c.wire_sats})`, c);
    }
    if (c.fiat_code !== walletMachine.fiat_code) {
      return reject(`fiat_code ${c.fiat_code} differs from the machine's ${walletMachine.fiat_code}`, c);
    }
    return { ok: true, machine: machineInfo(walletMachine), summary: settlementSummary(c) };
  }

  type PairVerdict =
    | { kind: 'ok'; content: SettlementEventContent }
    | { kind: 'fail'; reason: string; content: SettlementEventContent | null }
    /** not this payment: the event is for another hash, or its tx_type needs the other direction */
    | { kind: 'skip'; why: string };

  /** The checks of one machine's own event against one payment seen on that machine's wallet. */
  async function checkPair(
    paymentHash: string,
    m: MachineRow,
    event: SignedEvent,
    payment: PaymentObservedSignal,
  ): Promise<PairVerdict> {
    const fail = (reason: string, content: SettlementEventContent | null = null): PairVerdict => ({
      kind: 'fail',
      reason,
      content,
    });
    if (!m.is_active) return fail(`machine ${m.id} (${m.name}) is not active`);
    const opened = await openOwnEvent(m, event);
    if (!opened.ok) return fail(opened.reason);
    const c = opened.content;
    if (c.payment_hash !== paymentHash)
      return { kind: 'skip', why: `event is for payment ${c.payment_hash}` };
    const expectedDirection = c.tx_type === 'cash_out' ? 'incoming' : 'outgoing';
    if (payment.direction !== expectedDirection) {
      return { kind: 'skip', why: `a ${c.tx_type} needs an ${expectedDirection} payment` };
    }
    if (payment.amount_sats !== c.wire_sats) {
      return fail(`payment amount ${payment.amount_sats} sats ≠ wire_sats ${c.wire_sats}`, c);
    }
    if (c.fee_sats < 0 || c.fee_sats > c.wire_sats) {
      return fail(`fee_sats ${c.fee_sats} is outside 0..wire_sats (${c.wire_sats})`, c);
    }
    if (c.fiat_code !== m.fiat_code) {
      return fail(`fiat_code ${c.fiat_code} differs from the machine's ${m.fiat_code}`, c);
    }
    return { kind: 'ok', content: c };
  }

  /**
   * The attribution check, decided by the payment (SPEC §4 step 2, docs/settlement.md
   * §4.2): among every candidate event and payment observation received, the
   * settlement is the event signed by the machine that owns the wallet which saw the
   * payment, in the direction its tx_type needs. Observations are tried incoming
   * first (the payee's machine owns the invoice, hence the hash), then in order of
   * arrival; while an active machine's wallet received the payment and that machine's
   * event has not come, no outgoing observation (a cash-in of another machine that
   * paid this invoice) decides. An event of any other machine never rejects and is
   * never read (not even decrypted). `rejected` only when the machine's own event
   * fails a check; no decision yet → `waiting`.
   */
  async function attributePayment(input: {
    payment_hash: string;
    events: SignedEvent[];
    payments: PaymentObservedSignal[];
  }): Promise<PaymentAttribution> {
    const ordered = input.payments
      .map((p, i) => ({ p, i }))
      .filter(({ p }) => p && p.payment_hash === input.payment_hash)
      .sort((a, b) => (a.p.direction === b.p.direction ? a.i - b.i : a.p.direction === 'incoming' ? -1 : 1));
    let fileUnder: PaymentObservedSignal | null = null;
    let missing: string | null = null;
    let payeeWaits = false;
    for (const { p } of ordered) {
      const m = await getMachineByWallet(pool, p.wallet_id);
      if (!m) continue; // not a machine's wallet (the payment listener signals only those)
      const own = input.events.find(
        (e) =>
          typeof e?.pubkey === 'string' &&
          e.pubkey.toLowerCase() === m.machine_pubkey_hex &&
          verifySignature(e),
      );
      if (!own) {
        if (m.is_active) {
          fileUnder ??= p;
          missing ??= 'the ATM event (kind 21000) of the machine whose wallet saw the payment';
          if (p.direction === 'incoming') payeeWaits = true;
        }
        continue;
      }
      if (p.direction === 'outgoing' && payeeWaits) continue;
      const verdict = await checkPair(input.payment_hash, m, own, p);
      if (verdict.kind === 'skip') {
        if (m.is_active) {
          fileUnder ??= p;
          missing ??= `a payment that fits the machine's ATM event (${verdict.why})`;
        }
        log.info(
          { payment_hash: input.payment_hash, machine_id: m.id, direction: p.direction, why: verdict.why },
          "a payment on the machine's wallet is not this event's: waiting for the right one",
        );
        continue;
      }
      const info = machineInfo(m);
      const chosen = { event_id: own.id, event_created_at: own.created_at, payment: p, machine: info };
      // the type and amounts only: the decrypted content stays out of the workflow's history
      if (verdict.kind === 'ok')
        return { kind: 'matched', summary: settlementSummary(verdict.content), ...chosen };
      return {
        kind: 'rejected',
        reason: verdict.reason,
        summary: verdict.content && settlementSummary(verdict.content),
        ...chosen,
      };
    }
    return {
      kind: 'waiting',
      payment: fileUnder,
      missing: missing ?? 'the Lightning payment on the wallet of the machine that signed the ATM event',
    };
  }

  /** Candidates a settlement workflow dropped (over its bound): logged and counted. */
  async function noteDroppedCandidates(input: {
    payment_hash: string;
    events: number;
    payments: number;
    kept_events: number;
    kept_payments: number;
  }): Promise<void> {
    if (input.events > 0) settlementCandidatesDropped.inc({ kind: 'event' }, input.events);
    if (input.payments > 0) settlementCandidatesDropped.inc({ kind: 'payment' }, input.payments);
    log.warn(
      {
        payment_hash: input.payment_hash,
        dropped_events: input.events,
        dropped_payments: input.payments,
        kept_events: input.kept_events,
        kept_payments: input.kept_payments,
      },
      'settlement candidates dropped: more distinct ATM events or payment observations than it keeps',
    );
  }

  return { verifyAttribution, attributePayment, noteDroppedCandidates };
}
