import { ApplicationFailure } from '@temporalio/common';
import type { PaymentObservedSignal, SettlementStatus, SignedEvent } from '../contract';
import { formatCents, formatPpm, parseCents, parsePpm } from '../domain/decimal';
import { splitFees } from '../domain/feeSplit';
import { scalePartialDispense } from '../domain/partialDispense';
import { formatNote } from '../domain/notes';
import type { SettlementEventContent } from '../domain/settlementEvent';
import { toNpub } from '../domain/nostrKeys';
import {
  getActiveMachineByWallet,
  getMachine,
  getMachineByPubkey,
  getMachineByWallet,
  proveMachineKey,
  type MachineRow,
} from '../db/machines';
import { withTransaction, type Queryable } from '../db/pool';
import {
  applyPartialDispensePatch,
  getSettlement,
  getSettlementByHash,
  insertSettlement,
  markProcessingStarted,
  markWaitingAgain,
  overwriteSettlement,
  prependNote,
  setSettlementStatus,
  type SettlementData,
  type SettlementRow,
} from '../db/settlements';
import {
  countCompletedLegs,
  countLiveLegs,
  failPendingLeg,
  legCounts,
  markLegPaid,
  voidLegs,
} from '../db/legs';
import { getSuperConfig } from '../db/superConfig';
import { getUser } from '../db/users';
import { decodeSettlementEvent, pTags, verifySignature } from '../nostr/codec';
import { applyCassetteCounts } from '../db/cassettes';
import { settlementCandidatesDropped, settlementsConcluded } from '../metrics/registry';
import type { ActivityDeps } from './deps';
import { sealedColumns } from '../security/secretBox';
import { lookupLegPayment, paymentInFlight } from './legPaymentLookup';
import {
  planAndInsertLegs,
  planAndInsertLegsIn,
  planSummary,
  reconcileAndVoidFailedLegs,
} from './legPlanning';

export interface MachineInfo {
  id: string;
  operator_user_id: string;
  name: string;
  npub_prefix: string;
  distribution_delay_seconds: number;
}

/**
 * What the payment decides among every candidate event and payment observation a
 * settlement has received (docs/settlement.md §4.2). Only the chosen machine's data
 * comes back: nothing of another machine's event reaches the workflow.
 */
export type PaymentAttribution =
  | {
      kind: 'matched';
      machine: MachineInfo;
      content: SettlementEventContent;
      event_id: string;
      event_created_at: number;
      payment: PaymentObservedSignal;
    }
  | {
      kind: 'rejected';
      machine: MachineInfo;
      reason: string;
      content: SettlementEventContent | null;
      event_id: string;
      event_created_at: number;
      payment: PaymentObservedSignal;
    }
  | {
      kind: 'waiting';
      /** the observation a stuck row or a force-reset is filed under (a machine's wallet), if any */
      payment: PaymentObservedSignal | null;
      /** what is missing, for the stuck row: `waiting for <missing> since …` */
      missing: string;
    };

export type AttributionResult =
  | { ok: true; machine: MachineInfo; content: SettlementEventContent }
  | { ok: false; reason: string; machine: MachineInfo | null; content: SettlementEventContent | null };

export interface RecordedSettlement {
  settlement_id: string;
  status: SettlementStatus;
  /** true when the row already existed in a final state (a replayed payment) */
  already_final: boolean;
}

export interface PlanSummary {
  /** legs a payment round will pay (pending) */
  payable: number;
  /** sort-order ranges of at most `page_size` chains each, for batching */
  pages: { from: number; to: number }[];
  hold_seconds: number;
}

/** Where a settlement stands, for a fresh run of its closed workflow (resume mode). */
export interface ResumeState {
  settlement_id: string;
  status: SettlementStatus;
  /** the ATM event's amounts are recorded (false: it closed while waiting for its signals) */
  has_amounts: boolean;
  tx_type: 'cash_out' | 'cash_in' | null;
  fiat_cents: number;
  any_completed: boolean;
  /** a partial dispense was applied (refund_sats > 0) */
  partial: boolean;
  /** a payment round had started (processing_started_at) */
  started_paying: boolean;
  /** the pending legs (hold 0: a resumed run never holds again) */
  plan: PlanSummary;
  machine: MachineInfo | null;
}

export interface RoundOutcome {
  status: SettlementStatus;
  error_message: string | null;
  completed: number;
  failed: number;
  pending: number;
}

const FINAL: readonly string[] = ['processed', 'partial', 'refunded', 'rejected'];

/** Candidate signers as the operator reads them: the first characters of their npub. */
function signerNames(pubkeys: readonly string[]): string {
  const names = [...new Set(pubkeys.map((p) => p.toLowerCase()))].map((p) => {
    try {
      return `${toNpub(p).slice(0, 20)}…`;
    } catch {
      return `${p.slice(0, 16)}…`;
    }
  });
  return names.join(', ');
}

/** The start of a machine's npub that tells keys apart in a log: `npub1` and the key's first 8 characters. */
export function npubPrefix(npub: string): string {
  return npub.startsWith('npub1') ? npub.slice(0, 13) : npub.slice(0, 8);
}

function machineInfo(m: MachineRow): MachineInfo {
  return {
    id: m.id,
    operator_user_id: m.operator_user_id,
    name: m.name,
    npub_prefix: m.machine_npub.slice(0, 8),
    distribution_delay_seconds: m.distribution_delay_seconds,
  };
}

const notRetryable = (message: string, type: string) =>
  ApplicationFailure.create({ message, type, nonRetryable: true });

export function createSettlementRecordActivities(deps: ActivityDeps) {
  const { pool, logger } = deps;
  const log = logger.child({ component: 'settlement' });

  async function operatorSecret(operatorId: string): Promise<string | null> {
    const user = await getUser(pool, operatorId);
    if (!user?.nostr_secret_enc) return null;
    return deps.secretBox.open(user.nostr_secret_enc, sealedColumns.operatorNostrSecret(user.id));
  }

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
    const walletMachine = await getActiveMachineByWallet(pool, payment.wallet_id);
    // the signer's registration that the event is addressed to (p tag), never "the first row"
    const signerMachine = await getMachineByPubkey(pool, event.pubkey.toLowerCase(), pTags(event));
    const machine = walletMachine ?? signerMachine;
    const info = machine ? machineInfo(machine) : null;
    const reject = (reason: string, content: SettlementEventContent | null = null): AttributionResult => ({
      ok: false,
      reason,
      machine: info,
      content,
    });

    if (!verifySignature(event)) return reject('event signature is invalid');
    if (!walletMachine) {
      const inactive = await getMachineByWallet(pool, payment.wallet_id);
      return reject(
        inactive
          ? `machine ${inactive.id} (${inactive.name}) is not active`
          : `payment was seen on wallet ${payment.wallet_id}, which belongs to no machine`,
      );
    }
    if (event.pubkey.toLowerCase() !== walletMachine.machine_pubkey_hex) {
      const who = signerMachine ? `machine ${signerMachine.id} (${signerMachine.name})` : 'an unknown key';
      return reject(
        `event signed by ${who}, but the payment was seen on the wallet of machine ${walletMachine.id} (${walletMachine.name})`,
      );
    }
    if (walletMachine.key_state === 'unproven') {
      return reject(
        "this machine's key was proven by another operator's registration: the machine addresses another operator",
      );
    }
    const operator = await getUser(pool, walletMachine.operator_user_id);
    const tags = pTags(event);
    if (!operator?.nostr_pubkey || !tags.includes(operator.nostr_pubkey)) {
      return reject(
        `event is not addressed (p tag) to the machine's operator ${walletMachine.operator_user_id}`,
      );
    }
    const secret = await operatorSecret(walletMachine.operator_user_id);
    if (!secret) return reject(`no Nostr key is held for operator ${walletMachine.operator_user_id}`);
    const decoded = decodeSettlementEvent(event, secret);
    if (!decoded.ok) return reject(decoded.reason);
    const c = decoded.content;
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
    return { ok: true, machine: machineInfo(walletMachine), content: c };
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
    if (m.key_state === 'unproven') {
      return fail(
        "this machine's key was proven by another operator's registration: the machine addresses another operator",
      );
    }
    const operator = await getUser(pool, m.operator_user_id);
    if (!operator?.nostr_pubkey || !pTags(event).includes(operator.nostr_pubkey)) {
      return fail(`event is not addressed (p tag) to the machine's operator ${m.operator_user_id}`);
    }
    const secret = await operatorSecret(m.operator_user_id);
    if (!secret) return fail(`no Nostr key is held for operator ${m.operator_user_id}`);
    const decoded = decodeSettlementEvent(event, secret);
    if (!decoded.ok) return fail(decoded.reason);
    const c = decoded.content;
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
      if (verdict.kind === 'ok') return { kind: 'matched', content: verdict.content, ...chosen };
      return { kind: 'rejected', reason: verdict.reason, content: verdict.content, ...chosen };
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

  function baseData(
    paymentHash: string,
    machineId: string,
    content: SettlementEventContent | null,
    eventId: string | null,
    observed: number | null,
  ): SettlementData {
    return {
      machine_id: machineId,
      payment_hash: paymentHash,
      bitspire_event_id: eventId,
      bitspire_txid: content?.txid ?? null,
      tx_type: content?.tx_type ?? null,
      wire_sats: content?.wire_sats ?? null,
      fiat_amount: content ? formatCents(parseCents(content.fiat_amount)) : null,
      fiat_code: content?.fiat_code ?? null,
      exchange_rate: content ? String(content.exchange_rate) : null,
      principal_sats: null,
      fee_sats: content?.fee_sats ?? null,
      platform_fee_sats: null,
      operator_fee_sats: null,
      fee_mismatch_sats: null,
      platform_fee_fraction: null,
      operator_fee_fraction: null,
      observed_amount_sats: observed,
      bills_json: content?.bills ?? null,
      cassettes_json: content?.cassettes ?? null,
      status: 'pending',
      error_message: null,
    };
  }

  /**
   * The split of an event that was checked and rejected, for audit: what it would
   * have paid (principal, fees, mismatch and the fractions used). Nothing when the
   * amounts cannot be split (e.g. fee_sats above wire_sats).
   */
  async function auditSplit(
    c: Queryable,
    machineId: string,
    content: SettlementEventContent,
  ): Promise<Partial<SettlementData>> {
    const machine = await getMachine(c, machineId);
    if (!machine) return {};
    const config = await getSuperConfig(c);
    const cashOut = content.tx_type === 'cash_out';
    const platformFraction = cashOut
      ? config.platform_cash_out_fee_fraction
      : config.platform_cash_in_fee_fraction;
    const operatorFraction = cashOut
      ? machine.operator_cash_out_fee_fraction
      : machine.operator_cash_in_fee_fraction;
    try {
      const split = splitFees({
        txType: content.tx_type,
        wireSats: content.wire_sats,
        feeSats: content.fee_sats,
        platformFractionPpm: parsePpm(platformFraction),
        operatorFractionPpm: parsePpm(operatorFraction),
      });
      return {
        principal_sats: split.principalSats,
        platform_fee_sats: split.platformFeeSats,
        operator_fee_sats: split.operatorFeeSats,
        fee_mismatch_sats: split.feeMismatchSats,
        platform_fee_fraction: formatPpm(parsePpm(platformFraction)),
        operator_fee_fraction: formatPpm(parsePpm(operatorFraction)),
      };
    } catch {
      return {};
    }
  }

  /** A waiting placeholder filed under another machine moves: its notes were that operator's, not this one's. */
  async function clearNotes(c: Queryable, settlementId: string): Promise<void> {
    await c.query('UPDATE satmachine.dca_settlements SET notes = NULL WHERE id = $1', [settlementId]);
  }

  /** Step 3: record the settlement idempotently (UNIQUE payment_hash), with its fee split. */
  async function recordSettlement(input: {
    payment_hash: string;
    machine_id: string;
    event_id: string;
    event_created_at: number;
    content: SettlementEventContent;
    observed_amount_sats: number;
    first_seen_at: string;
  }): Promise<RecordedSettlement> {
    return withTransaction(pool, async (c) => {
      const existing = await getSettlementByHash(c, input.payment_hash, true);
      if (existing && (existing.wire_sats !== null || existing.status !== 'pending')) {
        return {
          settlement_id: existing.id,
          status: existing.status as SettlementStatus,
          already_final: FINAL.includes(existing.status),
        };
      }
      // the machine's first recorded event proves its registration of the key (and
      // marks the other operators' registrations unproven), in this transaction
      if ((await proveMachineKey(c, input.machine_id)) !== 'proven') {
        throw notRetryable(
          "another operator's registration of this machine key was proven first; the settlement is not recorded for this one",
          'MachineKeyUnproven',
        );
      }
      const machine = (await getMachine(c, input.machine_id))!;
      const config = await getSuperConfig(c);
      const content = input.content;
      const cashOut = content.tx_type === 'cash_out';
      const platformFraction = cashOut
        ? config.platform_cash_out_fee_fraction
        : config.platform_cash_in_fee_fraction;
      const operatorFraction = cashOut
        ? machine.operator_cash_out_fee_fraction
        : machine.operator_cash_in_fee_fraction;
      const split = splitFees({
        txType: content.tx_type,
        wireSats: content.wire_sats,
        feeSats: content.fee_sats,
        platformFractionPpm: parsePpm(platformFraction),
        operatorFractionPpm: parsePpm(operatorFraction),
      });
      const data: SettlementData = {
        ...baseData(
          input.payment_hash,
          input.machine_id,
          content,
          input.event_id,
          input.observed_amount_sats,
        ),
        principal_sats: split.principalSats,
        platform_fee_sats: split.platformFeeSats,
        operator_fee_sats: split.operatorFeeSats,
        fee_mismatch_sats: split.feeMismatchSats,
        platform_fee_fraction: formatPpm(parsePpm(platformFraction)),
        operator_fee_fraction: formatPpm(parsePpm(operatorFraction)),
        created_at: new Date(input.first_seen_at),
      };
      const row = existing
        ? await overwriteSettlement(c, existing.id, { ...data, created_at: existing.created_at })
        : (await insertSettlement(c, data)).row;
      if (existing && existing.machine_id !== input.machine_id) await clearNotes(c, existing.id);
      if (cashOut && Object.keys(content.cassettes).length) {
        await applyCassetteCounts(
          c,
          input.machine_id,
          content.cassettes,
          input.event_id,
          new Date(input.event_created_at * 1000),
        );
      }
      if (split.mismatchOverTolerance) {
        log.warn(
          {
            settlement_id: row.id,
            payment_hash: input.payment_hash,
            bitspire_fee_sats: content.fee_sats,
            expected_fee_sats: split.platformFeeSats + split.operatorFeeSats,
            delta_sats: split.feeMismatchSats,
            tolerance_sats: split.toleranceSats,
            principal_sats: split.principalSats,
            platform_fee_fraction: formatPpm(parsePpm(platformFraction)),
            operator_fee_fraction: formatPpm(parsePpm(operatorFraction)),
            tx_type: content.tx_type,
            machine_npub_prefix: npubPrefix(machine.machine_npub),
          },
          'fee mismatch over tolerance: the ATM reported a fee that differs from the configured fractions',
        );
      }
      return { settlement_id: row.id, status: row.status as SettlementStatus, already_final: false };
    });
  }

  /** Attribution failed: the row is inserted (or turned) `rejected` with the reason, and never distributed. */
  async function recordRejected(input: {
    payment_hash: string;
    machine_id: string;
    event_id: string | null;
    content: SettlementEventContent | null;
    observed_amount_sats: number | null;
    reason: string;
    first_seen_at: string;
    /** pubkeys of every candidate ATM event (by payment): named in the row, by npub prefix */
    candidate_signers?: string[];
  }): Promise<RecordedSettlement> {
    const signers = input.candidate_signers?.length
      ? `; ATM events received from ${signerNames(input.candidate_signers)}`
      : '';
    return withTransaction(pool, async (c) => {
      const existing = await getSettlementByHash(c, input.payment_hash, true);
      if (existing && (existing.wire_sats !== null || existing.status !== 'pending')) {
        return {
          settlement_id: existing.id,
          status: existing.status as SettlementStatus,
          already_final: FINAL.includes(existing.status),
        };
      }
      const data: SettlementData = {
        ...baseData(
          input.payment_hash,
          input.machine_id,
          input.content,
          input.event_id,
          input.observed_amount_sats,
        ),
        ...(input.content ? await auditSplit(c, input.machine_id, input.content) : {}),
        status: 'rejected',
        error_message: `rejected: ${input.reason}${signers}`.slice(0, 1000),
        created_at: new Date(input.first_seen_at),
      };
      const row = existing
        ? await overwriteSettlement(c, existing.id, { ...data, created_at: existing.created_at })
        : (await insertSettlement(c, data)).row;
      if (existing && existing.machine_id !== input.machine_id) await clearNotes(c, existing.id);
      log.warn(
        { settlement_id: row.id, payment_hash: input.payment_hash, reason: input.reason },
        'settlement rejected',
      );
      settlementsConcluded.inc({ status: 'rejected' });
      return { settlement_id: row.id, status: 'rejected', already_final: false };
    });
  }

  /**
   * Step 1 past the threshold: the settlement shows as a pending row whose error
   * says which half is missing, so the operator sees it in the stuck worklist.
   */
  async function markAwaiting(input: {
    payment_hash: string;
    wallet_id: string | null;
    signer_pubkey: string | null;
    observed_amount_sats: number | null;
    event_id: string | null;
    missing: string;
    first_seen_at: string;
    /** pubkeys of the ATM events received so far (named in the row, by npub prefix) */
    candidate_signers?: string[];
    /** the direction of the observation on `wallet_id` (absent: recorded before it was passed) */
    observed_direction?: 'incoming' | 'outgoing' | null;
  }): Promise<{ settlement_id: string | null; machine: MachineInfo | null }> {
    let machine =
      (input.wallet_id ? await getActiveMachineByWallet(pool, input.wallet_id) : null) ??
      (input.signer_pubkey ? await getMachineByPubkey(pool, input.signer_pubkey, null) : null);
    if (
      machine &&
      input.observed_direction === 'outgoing' &&
      !(input.candidate_signers ?? []).some((p) => p.toLowerCase() === machine!.machine_pubkey_hex)
    ) {
      // A payment that left a machine's wallet gives that machine no claim on the hash until
      // its own event comes: it may have paid another machine's invoice (docs/settlement.md
      // §4.2). Filed under it, the payer's operator could close or hold the payee's settlement.
      log.warn(
        { payment_hash: input.payment_hash, machine_id: machine.id },
        "settlement waits: an outgoing payment without its machine's event files no row",
      );
      machine = null;
    }
    const signers = input.candidate_signers?.length
      ? `; ATM events received from ${signerNames(input.candidate_signers)}`
      : input.candidate_signers
        ? '; no ATM event received yet'
        : '';
    const missing = `${input.missing}${signers}`.slice(0, 1000);
    if (!machine) {
      log.warn(
        { payment_hash: input.payment_hash, missing },
        'settlement waits for its signals but belongs to no known machine',
      );
      return { settlement_id: null, machine: null };
    }
    const data: SettlementData = {
      ...baseData(input.payment_hash, machine.id, null, input.event_id, input.observed_amount_sats),
      error_message: missing,
      created_at: new Date(input.first_seen_at),
    };
    await withTransaction(pool, async (c) => {
      const existing = await getSettlementByHash(c, input.payment_hash, true);
      if (!existing) await insertSettlement(c, data);
      else if (existing.status === 'pending' && existing.wire_sats === null) {
        if (existing.machine_id !== machine.id) {
          // filed under another machine's wallet before: it moves, without that operator's notes
          await overwriteSettlement(c, existing.id, { ...data, created_at: existing.created_at });
          await clearNotes(c, existing.id);
        } else await setSettlementStatus(c, existing.id, 'pending', missing);
      }
    });
    const row = (await getSettlementByHash(pool, input.payment_hash))!;
    return { settlement_id: row.id, machine: machineInfo(machine) };
  }

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
      if (!s) throw notRetryable(`settlement ${input.settlement_id} not found`, 'NotFound');
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
          'InvalidState',
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

  /** A step failed for good (e.g. the database refused a value): errored, with the reason, for the operator. */
  async function markErrored(input: { settlement_id: string; reason: string }): Promise<void> {
    await setSettlementStatus(pool, input.settlement_id, 'errored', input.reason.slice(0, 1000));
    settlementsConcluded.inc({ status: 'errored' });
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
      if (!s) throw notRetryable(`settlement ${settlementId} not found`, 'NotFound');
      if (s.status === 'errored') return; // this reset, committed before (a re-run after a lost result)
      if (s.status !== 'pending' && s.status !== 'processing') {
        throw notRetryable(
          `settlement is ${s.status}; only a pending or processing one can be reset`,
          'InvalidState',
        );
      }
      // each leg locked first: a payLeg still paying it (cancelled, not yet stopped) finishes before the lookup
      const { rows } = await c.query<{ id: string }>(
        `SELECT id FROM satmachine.dca_payments WHERE settlement_id = $1 AND status = 'pending'
          ORDER BY sort_order FOR UPDATE`,
        [settlementId],
      );
      for (const leg of rows) {
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
   * Partial dispense (cash-out): the machine dispensed less fiat than the event
   * said. Amounts scale by new/old, the split runs again, open legs are voided and
   * new ones planned; `refund_sats` is what is owed back to the customer.
   */
  async function applyPartialDispense(input: {
    settlement_id: string;
    fiat_amount_cents: number;
    note: string;
    user_id: string;
    page_size: number;
  }): Promise<{ status: SettlementStatus; plan: PlanSummary | null; refund_sats: number }> {
    // a failed leg may have paid after all (an ambiguous failure, a force-reset mid-payment): ask first
    await withTransaction(pool, async (c) => {
      const { rows } = await c.query<{ id: string }>(
        `SELECT id FROM satmachine.dca_payments WHERE settlement_id = $1 AND status = 'failed'
          ORDER BY sort_order FOR UPDATE`,
        [input.settlement_id],
      );
      for (const leg of rows) {
        const { paid, inFlight } = await lookupLegPayment(deps.payments, leg.id, c);
        if (inFlight)
          throw paymentInFlight(leg.id, inFlight, 'the amounts can change only once it has settled');
        if (paid) await markLegPaid(c, leg.id, paid.paymentHash);
      }
    });
    return withTransaction(pool, async (c) => {
      const s = await getSettlement(c, input.settlement_id, true);
      if (!s) throw notRetryable(`settlement ${input.settlement_id} not found`, 'NotFound');
      if (s.fiat_amount !== null && parseCents(s.fiat_amount) === input.fiat_amount_cents) {
        // this partial dispense, committed before (a re-run after a lost result): the same answer
        return s.status === 'refunded'
          ? { status: 'refunded' as SettlementStatus, plan: null, refund_sats: s.refund_sats }
          : {
              status: 'processing' as SettlementStatus,
              plan: await planSummary(
                c,
                s.id,
                (await getMachine(c, s.machine_id))!.distribution_delay_seconds,
                input.page_size,
              ),
              refund_sats: s.refund_sats,
            };
      }
      if (s.tx_type !== 'cash_out')
        throw notRetryable('partial dispense applies to cash-out settlements only', 'InvalidState');
      if (await countCompletedLegs(c, s.id)) {
        throw notRetryable(
          'a leg is already paid: Lightning payments cannot be clawed back, so the amounts can no longer change',
          'InvalidState',
        );
      }
      const oldCents = parseCents(s.fiat_amount!);
      const scaled = scalePartialDispense({
        oldFiatCents: oldCents,
        newFiatCents: input.fiat_amount_cents,
        oldWireSats: s.wire_sats!,
        oldFeeSats: s.fee_sats!,
      });
      const split = splitFees({
        txType: 'cash_out',
        wireSats: scaled.wireSats,
        feeSats: scaled.feeSats,
        platformFractionPpm: parsePpm(s.platform_fee_fraction ?? '0'),
        operatorFractionPpm: parsePpm(s.operator_fee_fraction ?? '0'),
      });
      await voidLegs(c, s.id, ['pending', 'failed', 'skipped']);
      const refund = s.wire_sats! - scaled.wireSats + s.refund_sats;
      await applyPartialDispensePatch(c, s.id, {
        wire_sats: scaled.wireSats,
        fee_sats: scaled.feeSats,
        principal_sats: split.principalSats,
        platform_fee_sats: split.platformFeeSats,
        operator_fee_sats: split.operatorFeeSats,
        fee_mismatch_sats: split.feeMismatchSats,
        fiat_amount: formatCents(input.fiat_amount_cents),
        refund_sats: refund,
      });
      await prependNote(
        c,
        s.id,
        formatNote(
          new Date(),
          input.user_id,
          `partial dispense: ${formatCents(oldCents)} → ${formatCents(input.fiat_amount_cents)} ${s.fiat_code ?? ''}; ` +
            `wire ${s.wire_sats} → ${scaled.wireSats} sats, refund ${refund} sats. ${input.note}`.trim(),
        ),
      );
      if (input.fiat_amount_cents === 0) {
        await setSettlementStatus(c, s.id, 'refunded', null);
        settlementsConcluded.inc({ status: 'refunded' });
        return { status: 'refunded' as SettlementStatus, plan: null, refund_sats: refund };
      }
      const plan = await planAndInsertLegsIn(c, s.id, input.page_size); // → processing
      return { status: 'processing' as SettlementStatus, plan, refund_sats: refund };
    });
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
      if (!s) throw notRetryable(`settlement ${input.settlement_id} not found`, 'NotFound');
      const { rows: done } = await c.query<{ voided: number; fiat: string }>(
        `SELECT count(*)::int AS voided, COALESCE(sum(amount_fiat) FILTER (WHERE leg_type = 'dca'), 0)::numeric(18,2)::text AS fiat
           FROM satmachine.dca_payments WHERE settlement_id = $1 AND error_message LIKE 'voided by operator:%'`,
        [s.id],
      );
      if ((s.status === 'processed' || s.status === 'partial') && done[0]!.voided > 0) {
        // this action, committed before (a re-run after a lost result): the same answer
        return { status: s.status, voided: done[0]!.voided, paid: 0, fiat_released: done[0]!.fiat };
      }
      if (s.status !== 'errored')
        throw notRetryable(
          `settlement is ${s.status}; only an errored settlement's failed legs can be voided`,
          'InvalidState',
        );
      const { rows: failed } = await c.query<{ id: string; leg_type: string; amount_fiat: string }>(
        `SELECT id, leg_type, amount_fiat FROM satmachine.dca_payments WHERE settlement_id = $1 AND status = 'failed'
          ORDER BY sort_order FOR UPDATE`,
        [s.id],
      );
      if (failed.length === 0)
        throw notRetryable('the settlement has no failed leg to void; retry it instead', 'InvalidState');
      if ((await legCounts(c, s.id)).pending > 0)
        throw notRetryable('the settlement still has legs to pay; retry it instead', 'InvalidState');
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
        await c.query(
          `UPDATE satmachine.dca_payments SET status = 'voided', error_message = $2, updated_at = now()
            WHERE id = $1 AND status = 'failed'`,
          [leg.id, `voided by operator: ${input.note}`.slice(0, 1000)],
        );
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
      if (!s) throw notRetryable(`settlement ${input.settlement_id} not found`, 'NotFound');
      const reason = `closed by operator: ${input.note}`.slice(0, 1000);
      if (s.status === 'rejected' && s.error_message === reason) return { status: 'rejected' };
      const { rows } = await c.query<{ n: number }>(
        'SELECT count(*)::int AS n FROM satmachine.dca_payments WHERE settlement_id = $1',
        [s.id],
      );
      if (s.wire_sats !== null || rows[0]!.n > 0)
        throw notRetryable(
          "the settlement has the ATM event's amounts: it can no longer be closed (retry, partially dispense or void its failed legs instead)",
          'InvalidState',
        );
      if (s.status !== 'pending' && s.status !== 'errored')
        throw notRetryable(
          `settlement is ${s.status}; only a settlement waiting for its signals can be closed`,
          'InvalidState',
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

  async function getSettlementStatus(input: { settlement_id: string }): Promise<SettlementRow | null> {
    return getSettlement(pool, input.settlement_id);
  }

  return {
    verifyAttribution,
    attributePayment,
    noteDroppedCandidates,
    recordSettlement,
    recordRejected,
    markAwaiting,
    planLegs,
    startPaying,
    concludeRound,
    prepareRetry,
    forceReset,
    applyPartialDispense,
    appendNote,
    loadForResume,
    voidFailedLegs,
    closeUnfunded,
    getSettlementStatus,
    markErrored,
  };
}
