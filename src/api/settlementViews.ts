import { z } from 'zod';
import { settlementWorkflowId } from '../contract';
import type { LegRow } from '../db/legs';
import type { SettlementRow } from '../db/settlements';
import { mismatchTolerance } from '../domain/feeSplit';
import type { ApiDeps } from './deps';

/**
 * What the API shows of settlements and their legs: the response schemas (named in
 * the OpenAPI document) and the mapping of database rows onto them.
 */

/** Statuses no operator action can change (their workflow is never started again). */
export const FINAL_STATUSES: readonly string[] = ['processed', 'partial', 'refunded', 'rejected'];

/** A settlement's statuses (`dca_settlements.status`), in the order the API lists them. */
export const STATUSES = [
  'pending',
  'processing',
  'processed',
  'partial',
  'refunded',
  'errored',
  'rejected',
] as const;

export const legShape = z
  .object({
    id: z.string(),
    settlement_id: z.string().nullable(),
    client_id: z.string().nullable(),
    machine_id: z.string(),
    leg_type: z.enum(['dca', 'settlement', 'autoforward', 'super_fee', 'operator_split']),
    label: z.string().nullable(),
    source_wallet_id: z.string().nullable(),
    destination_wallet_id: z.string().nullable(),
    destination_ln_address: z.string().nullable(),
    amount_sats: z.number().int(),
    amount_fiat: z.string(),
    exchange_rate: z.string().nullable(),
    external_payment_hash: z.string().nullable(),
    status: z.enum(['pending', 'completed', 'failed', 'skipped', 'voided']),
    error_message: z.string().nullable(),
    parent_leg_id: z.string().nullable(),
    replaces_leg_id: z.string().nullable(),
    created_at: z.string(),
    completed_at: z.string().nullable(),
  })
  .meta({ id: 'SettlementLeg' });

export function legView(l: LegRow) {
  return {
    id: l.id,
    settlement_id: l.settlement_id,
    client_id: l.client_id,
    machine_id: l.machine_id,
    leg_type: l.leg_type,
    label: l.label,
    source_wallet_id: l.source_wallet_id,
    destination_wallet_id: l.destination_wallet_id,
    destination_ln_address: l.destination_ln_address,
    amount_sats: l.amount_sats,
    amount_fiat: l.amount_fiat,
    exchange_rate: l.exchange_rate,
    external_payment_hash: l.external_payment_hash,
    status: l.status,
    error_message: l.error_message,
    parent_leg_id: l.parent_leg_id,
    replaces_leg_id: l.replaces_leg_id,
    created_at: l.created_at.toISOString(),
    completed_at: l.completed_at ? l.completed_at.toISOString() : null,
  };
}

export const settlementShape = z
  .object({
    id: z.string(),
    machine_id: z.string(),
    payment_hash: z.string(),
    bitspire_event_id: z.string().nullable(),
    bitspire_txid: z.string().nullable(),
    tx_type: z.enum(['cash_out', 'cash_in']).nullable(),
    wire_sats: z.number().int().nullable(),
    fiat_amount: z.string().nullable(),
    fiat_code: z.string().nullable(),
    exchange_rate: z.string().nullable(),
    principal_sats: z.number().int().nullable(),
    fee_sats: z.number().int().nullable(),
    platform_fee_sats: z.number().int().nullable(),
    operator_fee_sats: z.number().int().nullable(),
    fee_mismatch_sats: z.number().int().nullable(),
    fee_mismatch_tolerance_sats: z.number().int().nullable(),
    fee_mismatch_over_tolerance: z.boolean(),
    refund_sats: z.number().int(),
    status: z.enum(STATUSES),
    error_message: z.string().nullable(),
    notes: z.string().nullable(),
    created_at: z.string(),
    processed_at: z.string().nullable(),
    temporal_url: z.string(),
  })
  .meta({ id: 'Settlement' });

export function settlementView(s: SettlementRow, deps: ApiDeps) {
  const tolerance = s.principal_sats === null ? null : mismatchTolerance(s.principal_sats);
  return {
    id: s.id,
    machine_id: s.machine_id,
    payment_hash: s.payment_hash,
    bitspire_event_id: s.bitspire_event_id,
    bitspire_txid: s.bitspire_txid,
    tx_type: s.tx_type,
    wire_sats: s.wire_sats,
    fiat_amount: s.fiat_amount,
    fiat_code: s.fiat_code,
    exchange_rate: s.exchange_rate,
    principal_sats: s.principal_sats,
    fee_sats: s.fee_sats,
    platform_fee_sats: s.platform_fee_sats,
    operator_fee_sats: s.operator_fee_sats,
    fee_mismatch_sats: s.fee_mismatch_sats,
    fee_mismatch_tolerance_sats: tolerance,
    fee_mismatch_over_tolerance:
      tolerance !== null && s.fee_mismatch_sats !== null && Math.abs(s.fee_mismatch_sats) > tolerance,
    refund_sats: s.refund_sats,
    status: s.status as (typeof STATUSES)[number],
    error_message: s.error_message,
    notes: s.notes,
    created_at: s.created_at.toISOString(),
    processed_at: s.processed_at ? s.processed_at.toISOString() : null,
    temporal_url: temporalUrl(deps, s.payment_hash),
  };
}

export function temporalUrl(deps: ApiDeps, paymentHash: string): string {
  return `${deps.config.temporalUiUrl.replace(/\/$/, '')}/namespaces/${encodeURIComponent(deps.config.namespace)}/workflows/${settlementWorkflowId(paymentHash)}`;
}

export const actionShape = z
  .object({
    settlement: settlementShape,
    result: z.object({ status: z.string(), phase: z.string(), message: z.string() }),
  })
  .meta({ id: 'SettlementAction' });
