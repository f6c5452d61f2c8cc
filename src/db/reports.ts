import type { Queryable } from './pool';

/**
 * Report queries over settlements and legs (docs/reports.md). Every query is scoped in
 * SQL: an operator's id (its machines only) or, for the platform, every operator (or
 * one). Rows come in (created_at, id) order, a keyset batch at a time, so a page and an
 * export of any size cost the same per batch and never hold a transaction open.
 */

/** Who the rows belong to: one operator, or (the platform) every operator. */
export type ReportScope = { operatorId: string } | { operatorId: null };

/** A position in (created_at, id) order; `at` is the timestamp text with microseconds. */
export interface KeysetPosition {
  at: string;
  id: string;
}

export interface DateRange {
  from: Date;
  to: Date;
}

export interface SettlementReportFilter extends DateRange {
  machineId?: string;
  status?: string;
  txType?: string;
}

export interface LegReportFilter extends DateRange {
  machineId?: string;
  status?: string;
  legType?: string;
  clientId?: string;
  lpUserId?: string;
}

export interface SettlementReportRow {
  id: string;
  created_at: Date;
  processed_at: Date | null;
  /** created_at as text with microseconds, for the keyset cursor */
  cursor_at: string;
  payment_hash: string;
  machine_id: string;
  machine_name: string;
  operator_user_id: string;
  tx_type: 'cash_out' | 'cash_in' | null;
  status: string;
  wire_sats: number | null;
  fee_sats: number | null;
  principal_sats: number | null;
  platform_fee_sats: number | null;
  operator_fee_sats: number | null;
  fee_mismatch_sats: number | null;
  refund_sats: number;
  fiat_amount: string | null;
  fiat_code: string | null;
  exchange_rate: string | null;
  bitspire_txid: string | null;
  error_message: string | null;
}

export interface LegReportRow {
  id: string;
  created_at: Date;
  completed_at: Date | null;
  cursor_at: string;
  settlement_id: string | null;
  payment_hash: string | null;
  machine_id: string;
  machine_name: string;
  operator_user_id: string;
  leg_type: string;
  status: string;
  label: string | null;
  client_id: string | null;
  lp_user_id: string | null;
  amount_sats: number;
  amount_fiat: string;
  currency: string;
  exchange_rate: string | null;
  destination: string | null;
  external_payment_hash: string | null;
  error_message: string | null;
}

const CURSOR_AT = (col: string) => `to_char(${col} AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')`;

class Where {
  readonly params: unknown[] = [];
  readonly parts: string[] = [];
  add(sql: (p: string) => string, value: unknown): void {
    this.params.push(value);
    this.parts.push(sql(`$${this.params.length}`));
  }
  addIf(sql: (p: string) => string, value: unknown): void {
    if (value !== undefined && value !== null) this.add(sql, value);
  }
  keyset(alias: string, after: KeysetPosition | undefined): void {
    if (!after) return;
    this.params.push(after.at, after.id);
    const n = this.params.length;
    this.parts.push(`(${alias}.created_at, ${alias}.id) > ($${n - 1}::timestamptz, $${n})`);
  }
  sql(): string {
    return this.parts.length ? this.parts.join(' AND ') : 'true';
  }
  limit(n: number): string {
    this.params.push(n);
    return `LIMIT $${this.params.length}`;
  }
}

/**
 * One batch of settlements created in [from, to), oldest first, after `after`.
 *
 * The rows are picked before they are decorated, and picked so that every batch is an
 * ordered index range scan whatever the planner estimates: for the platform, on
 * (created_at, id); for an operator or a machine, per machine on (machine_id,
 * created_at, id), each machine's first `limit` rows merged (a LATERAL subquery with
 * its own LIMIT). Joining the machines first and sorting would read every remaining row
 * of the range for each batch (quadratic over an export).
 */
export async function settlementReportBatch(
  db: Queryable,
  scope: ReportScope,
  f: SettlementReportFilter,
  after: KeysetPosition | undefined,
  limit: number,
): Promise<SettlementReportRow[]> {
  const w = new Where();
  w.add((p) => `s.created_at >= ${p}`, f.from);
  w.add((p) => `s.created_at < ${p}`, f.to);
  w.addIf((p) => `s.status = ${p}`, f.status);
  w.addIf((p) => `s.tx_type = ${p}`, f.txType);
  w.keyset('s', after);
  let pick: string;
  if (scope.operatorId === null && f.machineId === undefined) {
    pick = `SELECT s.* FROM satmachine.dca_settlements s WHERE ${w.sql()}
             ORDER BY s.created_at, s.id ${w.limit(limit)}`;
  } else {
    const inner = w.sql();
    const lim = w.limit(limit);
    const machines: string[] = [];
    if (scope.operatorId !== null) {
      w.params.push(scope.operatorId);
      machines.push(`mm.operator_user_id = $${w.params.length}`);
    }
    if (f.machineId !== undefined) {
      w.params.push(f.machineId);
      machines.push(`mm.id = $${w.params.length}`);
    }
    pick = `SELECT x.* FROM satmachine.dca_machines mm
             CROSS JOIN LATERAL (
               SELECT s.* FROM satmachine.dca_settlements s
                WHERE s.machine_id = mm.id AND ${inner}
                ORDER BY s.created_at, s.id ${lim}
             ) x
             WHERE ${machines.join(' AND ')}
             ORDER BY x.created_at, x.id ${lim}`;
  }
  const { rows } = await db.query<SettlementReportRow>(
    `SELECT s.id, s.created_at, s.processed_at, ${CURSOR_AT('s.created_at')} AS cursor_at,
            s.payment_hash, s.machine_id, m.name AS machine_name, m.operator_user_id, s.tx_type, s.status,
            s.wire_sats, s.fee_sats, s.principal_sats, s.platform_fee_sats, s.operator_fee_sats,
            s.fee_mismatch_sats, s.refund_sats, s.fiat_amount::text AS fiat_amount, s.fiat_code,
            s.exchange_rate::text AS exchange_rate, s.bitspire_txid, s.error_message
       FROM (${pick}) s
       JOIN satmachine.dca_machines m ON m.id = s.machine_id
      ORDER BY s.created_at, s.id`,
    w.params,
  );
  return rows;
}

/**
 * One batch of legs created in [from, to), oldest first, after `after`: picked by an
 * ordered range scan on (operator_user_id, created_at, id) or, for the platform,
 * (created_at, id), then decorated (machine, settlement hash, LP).
 */
export async function legReportBatch(
  db: Queryable,
  scope: ReportScope,
  f: LegReportFilter,
  after: KeysetPosition | undefined,
  limit: number,
): Promise<LegReportRow[]> {
  const w = new Where();
  w.add((p) => `l.created_at >= ${p}`, f.from);
  w.add((p) => `l.created_at < ${p}`, f.to);
  w.addIf((p) => `l.operator_user_id = ${p}`, scope.operatorId);
  w.addIf((p) => `l.machine_id = ${p}`, f.machineId);
  w.addIf((p) => `l.status = ${p}`, f.status);
  w.addIf((p) => `l.leg_type = ${p}`, f.legType);
  w.addIf((p) => `l.client_id = ${p}`, f.clientId);
  w.addIf((p) => `l.client_id IN (SELECT id FROM satmachine.dca_clients WHERE user_id = ${p})`, f.lpUserId);
  w.keyset('l', after);
  const lim = w.limit(limit);
  const { rows } = await db.query<LegReportRow>(
    `SELECT l.id, l.created_at, l.completed_at, ${CURSOR_AT('l.created_at')} AS cursor_at,
            l.settlement_id, s.payment_hash, l.machine_id, m.name AS machine_name, l.operator_user_id,
            l.leg_type, l.status, l.label, l.client_id, c.user_id AS lp_user_id, l.amount_sats,
            l.amount_fiat::text AS amount_fiat, m.fiat_code AS currency, l.exchange_rate::text AS exchange_rate,
            COALESCE(l.destination_ln_address, l.destination_wallet_id) AS destination,
            l.external_payment_hash, l.error_message
       FROM (SELECT l.* FROM satmachine.dca_payments l WHERE ${w.sql()} ORDER BY l.created_at, l.id ${lim}) l
       JOIN satmachine.dca_machines m ON m.id = l.machine_id
       LEFT JOIN satmachine.dca_settlements s ON s.id = l.settlement_id
       LEFT JOIN satmachine.dca_clients c ON c.id = l.client_id
      ORDER BY l.created_at, l.id`,
    w.params,
  );
  return rows;
}

/** Does the machine exist in this scope? (another tenant's machine is "not found") */
export async function machineInScope(db: Queryable, scope: ReportScope, machineId: string): Promise<boolean> {
  const { rowCount } = await db.query(
    `SELECT 1 FROM satmachine.dca_machines WHERE id = $1 AND ($2::text IS NULL OR operator_user_id = $2)`,
    [machineId, scope.operatorId],
  );
  return rowCount === 1;
}

/** Does the enrolment exist in this scope? */
export async function enrolmentInScope(
  db: Queryable,
  scope: ReportScope,
  clientId: string,
): Promise<boolean> {
  const { rowCount } = await db.query(
    `SELECT 1 FROM satmachine.dca_clients c JOIN satmachine.dca_machines m ON m.id = c.machine_id
      WHERE c.id = $1 AND ($2::text IS NULL OR m.operator_user_id = $2)`,
    [clientId, scope.operatorId],
  );
  return rowCount === 1;
}

/** Is this LP enrolled at any machine in scope? */
export async function lpInScope(db: Queryable, scope: ReportScope, lpUserId: string): Promise<boolean> {
  const { rowCount } = await db.query(
    `SELECT 1 FROM satmachine.dca_clients c JOIN satmachine.dca_machines m ON m.id = c.machine_id
      WHERE c.user_id = $1 AND ($2::text IS NULL OR m.operator_user_id = $2) LIMIT 1`,
    [lpUserId, scope.operatorId],
  );
  return rowCount === 1;
}

/** Is this an operator account? (the platform's operator filter) */
export async function operatorExists(db: Queryable, operatorId: string): Promise<boolean> {
  const { rowCount } = await db.query(`SELECT 1 FROM satmachine.users WHERE id = $1 AND role = 'operator'`, [
    operatorId,
  ]);
  return rowCount === 1;
}
