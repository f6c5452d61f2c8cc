import type { SettlementStatus, SignedEvent } from '../contract';
import { formatCents, formatPpm, parseCents, parsePpm } from '../domain/decimal';
import { splitFees } from '../domain/feeSplit';
import type { SettlementEventContent } from '../domain/settlementEvent';
import { toNpub } from '../domain/nostrKeys';
import { FailureType } from '../contract';
import { getActiveMachineByWallet, getMachine, getMachineByPubkey, proveMachineKey } from '../db/machines';
import { withTransaction, type Queryable } from '../db/pool';
import {
  clearSettlementNotes,
  getSettlementByHash,
  insertSettlement,
  overwriteSettlement,
  setSettlementStatus,
  type SettlementData,
} from '../db/settlements';
import { getSuperConfig } from '../db/superConfig';
import { applyCassetteCounts } from '../db/cassettes';
import { settlementsConcluded } from '../metrics/registry';
import type { ActivityDeps } from './deps';
import { notRetryable } from './failures';
import { createOwnEventOpener } from './ownEvent';
import { verifySignature } from '../nostr/codec';
import { machineInfo, npubPrefix } from './machineInfo';
import type { MachineInfo, RecordedSettlement } from './types';

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

/** The settlement row (SPEC §4 step 3): recorded, rejected, or waiting for its signals. */
export function createSettlementRecordActivities(deps: ActivityDeps) {
  const openOwnEvent = createOwnEventOpener(deps);
  /**
   * The machine's own event, opened again: its signature checked again (the workflow
   * hands it back from its history) and never another machine's (null then).
   */
  async function reopen(
    machineId: string,
    event: SignedEvent | undefined,
  ): Promise<SettlementEventContent | null> {
    if (!event || !verifySignature(event)) return null;
    const m = await getMachine(deps.pool, machineId);
    if (!m) return null;
    const opened = await openOwnEvent(m, event);
    return opened.ok ? opened.content : null;
  }
  const { pool, logger } = deps;
  const log = logger.child({ component: 'settlement' });

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

  /** Step 3: record the settlement idempotently (UNIQUE payment_hash), with its fee split. */
  async function recordSettlement(input: {
    payment_hash: string;
    machine_id: string;
    event_id: string;
    event_created_at: number;
    /** the signed, encrypted event: opened here (histories recorded before the summary pass `content`) */
    event?: SignedEvent;
    content?: SettlementEventContent;
    observed_amount_sats: number;
    first_seen_at: string;
  }): Promise<RecordedSettlement> {
    const content = input.content ?? (await reopen(input.machine_id, input.event));
    if (!content)
      throw notRetryable(
        "the machine's own event could not be opened again to record it (was its operator key replaced?)",
        FailureType.InvalidData,
      );
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
          FailureType.MachineKeyUnproven,
        );
      }
      const machine = (await getMachine(c, input.machine_id))!;
      const config = await getSuperConfig(c);
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
      if (existing && existing.machine_id !== input.machine_id) await clearSettlementNotes(c, existing.id);
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
    /** the machine's own signed event, opened here to keep its amounts and split on the row */
    event?: SignedEvent | null;
    /** histories recorded before the summary pass the content itself */
    content?: SettlementEventContent | null;
    observed_amount_sats: number | null;
    reason: string;
    first_seen_at: string;
    /** pubkeys of every candidate ATM event (by payment): named in the row, by npub prefix */
    candidate_signers?: string[];
  }): Promise<RecordedSettlement> {
    const content = input.content ?? (input.event ? await reopen(input.machine_id, input.event) : null);
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
          content,
          input.event_id,
          input.observed_amount_sats,
        ),
        ...(content ? await auditSplit(c, input.machine_id, content) : {}),
        status: 'rejected',
        error_message: `rejected: ${input.reason}${signers}`.slice(0, 1000),
        created_at: new Date(input.first_seen_at),
      };
      const row = existing
        ? await overwriteSettlement(c, existing.id, { ...data, created_at: existing.created_at })
        : (await insertSettlement(c, data)).row;
      if (existing && existing.machine_id !== input.machine_id) await clearSettlementNotes(c, existing.id);
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
          await clearSettlementNotes(c, existing.id);
        } else await setSettlementStatus(c, existing.id, 'pending', missing);
      }
    });
    const row = (await getSettlementByHash(pool, input.payment_hash))!;
    return { settlement_id: row.id, machine: machineInfo(machine) };
  }

  return { recordSettlement, recordRejected, markAwaiting };
}
