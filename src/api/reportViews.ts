import { z } from 'zod';
import type { LegReportRow, SettlementReportRow } from '../db/reports';
import { STATUSES } from './settlementViews';

/** Report rows as the API shows them: one shape for a JSON page and a CSV line (same keys, same order). */

export const LEG_TYPES = ['dca', 'settlement', 'autoforward', 'super_fee', 'operator_split'] as const;
export const LEG_STATUSES = ['pending', 'completed', 'failed', 'skipped', 'voided'] as const;

export const settlementReportShape = z
  .object({
    created_at: z.string(),
    processed_at: z.string().nullable(),
    id: z.string(),
    payment_hash: z.string(),
    operator_user_id: z.string(),
    machine_id: z.string(),
    machine_name: z.string(),
    tx_type: z.enum(['cash_out', 'cash_in']).nullable(),
    status: z.enum(STATUSES),
    wire_sats: z.number().int().nullable(),
    fee_sats: z.number().int().nullable(),
    principal_sats: z.number().int().nullable(),
    platform_fee_sats: z.number().int().nullable(),
    operator_fee_sats: z.number().int().nullable(),
    fee_mismatch_sats: z.number().int().nullable(),
    refund_sats: z.number().int(),
    fiat_amount: z.string().nullable().describe('exact decimal in fiat_code'),
    fiat_code: z.string().nullable(),
    exchange_rate: z.string().nullable().describe('sats per one fiat unit'),
    bitspire_txid: z.string().nullable(),
    error_message: z.string().nullable(),
  })
  .meta({ id: 'SettlementReportRow' });

export type SettlementReportView = z.infer<typeof settlementReportShape>;
export const SETTLEMENT_REPORT_COLUMNS = Object.keys(settlementReportShape.shape) as readonly string[];

export function settlementReportView(r: SettlementReportRow): SettlementReportView {
  return {
    created_at: r.created_at.toISOString(),
    processed_at: r.processed_at ? r.processed_at.toISOString() : null,
    id: r.id,
    payment_hash: r.payment_hash,
    operator_user_id: r.operator_user_id,
    machine_id: r.machine_id,
    machine_name: r.machine_name,
    tx_type: r.tx_type,
    status: r.status as SettlementReportView['status'],
    wire_sats: r.wire_sats,
    fee_sats: r.fee_sats,
    principal_sats: r.principal_sats,
    platform_fee_sats: r.platform_fee_sats,
    operator_fee_sats: r.operator_fee_sats,
    fee_mismatch_sats: r.fee_mismatch_sats,
    refund_sats: r.refund_sats,
    fiat_amount: r.fiat_amount,
    fiat_code: r.fiat_code,
    exchange_rate: r.exchange_rate,
    bitspire_txid: r.bitspire_txid,
    error_message: r.error_message,
  };
}

export const legReportShape = z
  .object({
    created_at: z.string(),
    completed_at: z.string().nullable(),
    id: z.string(),
    settlement_id: z.string().nullable(),
    payment_hash: z.string().nullable().describe("the settlement's Lightning payment hash"),
    operator_user_id: z.string(),
    machine_id: z.string(),
    machine_name: z.string(),
    leg_type: z.enum(LEG_TYPES),
    status: z.enum(LEG_STATUSES),
    label: z.string().nullable(),
    client_id: z.string().nullable().describe('the LP enrolment (dca, settlement, autoforward legs)'),
    lp_user_id: z.string().nullable(),
    amount_sats: z.number().int(),
    amount_fiat: z
      .string()
      .describe('exact decimal in currency (LP fiat of dca / settlement legs, else 0.00)'),
    currency: z.string(),
    exchange_rate: z.string().nullable(),
    destination: z.string().nullable(),
    external_payment_hash: z.string().nullable(),
    error_message: z.string().nullable(),
  })
  .meta({ id: 'LegReportRow' });

export type LegReportView = z.infer<typeof legReportShape>;
export const LEG_REPORT_COLUMNS = Object.keys(legReportShape.shape) as readonly string[];

export function legReportView(r: LegReportRow): LegReportView {
  return {
    created_at: r.created_at.toISOString(),
    completed_at: r.completed_at ? r.completed_at.toISOString() : null,
    id: r.id,
    settlement_id: r.settlement_id,
    payment_hash: r.payment_hash,
    operator_user_id: r.operator_user_id,
    machine_id: r.machine_id,
    machine_name: r.machine_name,
    leg_type: r.leg_type as LegReportView['leg_type'],
    status: r.status as LegReportView['status'],
    label: r.label,
    client_id: r.client_id,
    lp_user_id: r.lp_user_id,
    amount_sats: r.amount_sats,
    amount_fiat: r.amount_fiat,
    currency: r.currency,
    exchange_rate: r.exchange_rate,
    destination: r.destination,
    external_payment_hash: r.external_payment_hash,
    error_message: r.error_message,
  };
}
