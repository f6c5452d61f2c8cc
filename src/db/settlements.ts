import type { Pool, Queryable } from './pool';
import { newId } from './ids';

/** What the settlement workflow writes of a settlement (insert, or the overwrite of a placeholder). */
export interface SettlementData {
  machine_id: string;
  payment_hash: string;
  bitspire_event_id: string | null;
  bitspire_txid: string | null;
  tx_type: 'cash_out' | 'cash_in' | null;
  wire_sats: number | null;
  fiat_amount: string | null;
  fiat_code: string | null;
  exchange_rate: string | null;
  principal_sats: number | null;
  fee_sats: number | null;
  platform_fee_sats: number | null;
  operator_fee_sats: number | null;
  fee_mismatch_sats: number | null;
  platform_fee_fraction: string | null;
  operator_fee_fraction: string | null;
  observed_amount_sats: number | null;
  bills_json: unknown;
  cassettes_json: unknown;
  status: string;
  error_message: string | null;
  created_at?: Date;
}

/** A stored settlement: what was written ({@link SettlementData}) and what the row keeps of its life. */
export interface SettlementRow extends SettlementData {
  id: string;
  refund_sats: number;
  notes: string | null;
  processing_claim: string | null;
  processing_started_at: Date | null;
  /** when it started waiting (again) for its signals; null = since created_at */
  waiting_since: Date | null;
  created_at: Date;
  updated_at: Date;
  processed_at: Date | null;
}

const COLUMNS = [
  'machine_id',
  'payment_hash',
  'bitspire_event_id',
  'bitspire_txid',
  'tx_type',
  'wire_sats',
  'fiat_amount',
  'fiat_code',
  'exchange_rate',
  'principal_sats',
  'fee_sats',
  'platform_fee_sats',
  'operator_fee_sats',
  'fee_mismatch_sats',
  'platform_fee_fraction',
  'operator_fee_fraction',
  'observed_amount_sats',
  'bills_json',
  'cassettes_json',
  'status',
  'error_message',
] as const;

function values(d: SettlementData): unknown[] {
  return COLUMNS.map((c) => {
    const v = d[c];
    return c === 'bills_json' || c === 'cassettes_json' ? (v == null ? null : JSON.stringify(v)) : v;
  });
}

export async function getSettlementByHash(
  db: Queryable,
  paymentHash: string,
  forUpdate = false,
): Promise<SettlementRow | null> {
  const { rows } = await db.query<SettlementRow>(
    `SELECT * FROM satmachine.dca_settlements WHERE payment_hash = $1${forUpdate ? ' FOR UPDATE' : ''}`,
    [paymentHash],
  );
  return rows[0] ?? null;
}

export async function getSettlement(
  db: Queryable,
  id: string,
  forUpdate = false,
): Promise<SettlementRow | null> {
  const { rows } = await db.query<SettlementRow>(
    `SELECT * FROM satmachine.dca_settlements WHERE id = $1${forUpdate ? ' FOR UPDATE' : ''}`,
    [id],
  );
  return rows[0] ?? null;
}

/**
 * Runs `fn` holding the settlement's operator-action lock (a session advisory lock on its
 * own connection, no transaction open): two actions on one settlement from the API are
 * taken one after the other, each with the row as the other left it.
 */
export async function withSettlementActionLock<T>(
  pool: Pool,
  settlementId: string,
  fn: (current: SettlementRow | null) => Promise<T>,
): Promise<T> {
  const c = await pool.connect();
  const key = `satmachine:settlement-action:${settlementId}`;
  try {
    await c.query('SELECT pg_advisory_lock(hashtext($1))', [key]);
    try {
      return await fn(await getSettlement(c, settlementId));
    } finally {
      await c.query('SELECT pg_advisory_unlock(hashtext($1))', [key]);
    }
  } finally {
    c.release();
  }
}

/** Inserts a settlement; on a payment hash already recorded, returns the stored row unchanged. */
export async function insertSettlement(
  db: Queryable,
  d: SettlementData,
): Promise<{ row: SettlementRow; inserted: boolean }> {
  const cols = ['id', ...COLUMNS, 'created_at'];
  const params = [newId(), ...values(d), d.created_at ?? new Date()];
  const { rows } = await db.query<SettlementRow>(
    `INSERT INTO satmachine.dca_settlements (${cols.join(', ')})
     VALUES (${cols.map((_, i) => `$${i + 1}`).join(', ')})
     ON CONFLICT (payment_hash) DO NOTHING RETURNING *`,
    params,
  );
  if (rows[0]) return { row: rows[0], inserted: true };
  return { row: (await getSettlementByHash(db, d.payment_hash))!, inserted: false };
}

/** Fills a placeholder row (written while the settlement waited for its signals). */
export async function overwriteSettlement(
  db: Queryable,
  id: string,
  d: SettlementData,
): Promise<SettlementRow> {
  const params = [...values(d), id];
  const { rows } = await db.query<SettlementRow>(
    `UPDATE satmachine.dca_settlements SET ${COLUMNS.map((c, i) => `${c} = $${i + 1}`).join(', ')}, updated_at = now()
      WHERE id = $${params.length} RETURNING *`,
    params,
  );
  return rows[0]!;
}

export async function setSettlementStatus(
  db: Queryable,
  id: string,
  status: string,
  errorMessage: string | null,
): Promise<SettlementRow> {
  const { rows } = await db.query<SettlementRow>(
    `UPDATE satmachine.dca_settlements
        SET status = $2,
            error_message = $3,
            processed_at = CASE WHEN $2 IN ('processed', 'partial', 'refunded') THEN now() ELSE processed_at END,
            updated_at = now()
      WHERE id = $1 RETURNING *`,
    [id, status, errorMessage],
  );
  return rows[0]!;
}

/** An operator retry restarted the wait for the missing signal: the stuck clock starts again. */
export async function markWaitingAgain(db: Queryable, id: string): Promise<void> {
  await db.query(
    `UPDATE satmachine.dca_settlements SET waiting_since = now(), updated_at = now() WHERE id = $1`,
    [id],
  );
}

export async function markProcessingStarted(db: Queryable, id: string): Promise<void> {
  await db.query(
    `UPDATE satmachine.dca_settlements
        SET processing_started_at = now(), updated_at = now()
      WHERE id = $1`,
    [id],
  );
}

/** Prepends a note (newest first, blank line between entries). */
export async function prependNote(db: Queryable, id: string, note: string): Promise<SettlementRow | null> {
  const { rows } = await db.query<SettlementRow>(
    `UPDATE satmachine.dca_settlements
        SET notes = CASE WHEN notes IS NULL OR notes = '' THEN $2 ELSE $2 || E'\\n\\n' || notes END,
            updated_at = now()
      WHERE id = $1 RETURNING *`,
    [id, note],
  );
  return rows[0] ?? null;
}

export interface PartialDispensePatch {
  wire_sats: number;
  fee_sats: number;
  principal_sats: number;
  platform_fee_sats: number;
  operator_fee_sats: number;
  fee_mismatch_sats: number;
  fiat_amount: string;
  refund_sats: number;
}

export async function applyPartialDispensePatch(
  db: Queryable,
  id: string,
  p: PartialDispensePatch,
): Promise<SettlementRow> {
  const { rows } = await db.query<SettlementRow>(
    `UPDATE satmachine.dca_settlements
        SET wire_sats = $2, fee_sats = $3, principal_sats = $4, platform_fee_sats = $5,
            operator_fee_sats = $6, fee_mismatch_sats = $7, fiat_amount = $8, refund_sats = $9,
            error_message = NULL, processed_at = NULL, updated_at = now()
      WHERE id = $1 RETURNING *`,
    [
      id,
      p.wire_sats,
      p.fee_sats,
      p.principal_sats,
      p.platform_fee_sats,
      p.operator_fee_sats,
      p.fee_mismatch_sats,
      p.fiat_amount,
      p.refund_sats,
    ],
  );
  return rows[0]!;
}

export interface SettlementListFilter {
  operatorId: string;
  status?: string;
  machineId?: string;
  /** created at or after (UTC) */
  from?: Date;
  /** created before (UTC) */
  to?: Date;
  limit: number;
  before?: { created_at: Date; id: string };
}

export async function listOperatorSettlements(
  db: Queryable,
  f: SettlementListFilter,
): Promise<SettlementRow[]> {
  const params: unknown[] = [f.operatorId];
  const where = ['m.operator_user_id = $1'];
  if (f.status) {
    params.push(f.status);
    where.push(`s.status = $${params.length}`);
  }
  if (f.machineId) {
    params.push(f.machineId);
    where.push(`s.machine_id = $${params.length}`);
  }
  if (f.from) {
    params.push(f.from);
    where.push(`s.created_at >= $${params.length}`);
  }
  if (f.to) {
    params.push(f.to);
    where.push(`s.created_at < $${params.length}`);
  }
  if (f.before) {
    params.push(f.before.created_at, f.before.id);
    where.push(`(s.created_at, s.id) < ($${params.length - 1}, $${params.length})`);
  }
  params.push(f.limit);
  const { rows } = await db.query<SettlementRow>(
    `SELECT s.* FROM satmachine.dca_settlements s
       JOIN satmachine.dca_machines m ON m.id = s.machine_id
      WHERE ${where.join(' AND ')}
      ORDER BY s.created_at DESC, s.id DESC
      LIMIT $${params.length}`,
    params,
  );
  return rows;
}

export async function getOperatorSettlement(
  db: Queryable,
  operatorId: string,
  id: string,
): Promise<SettlementRow | null> {
  const { rows } = await db.query<SettlementRow>(
    `SELECT s.* FROM satmachine.dca_settlements s
       JOIN satmachine.dca_machines m ON m.id = s.machine_id
      WHERE s.id = $1 AND m.operator_user_id = $2`,
    [id, operatorId],
  );
  return rows[0] ?? null;
}

export interface Worklist {
  rejected: SettlementRow[];
  errored: SettlementRow[];
  stuck_pending: SettlementRow[];
  stuck_processing: SettlementRow[];
  /** recorded, legs planned, payments not started (hold window); threshold 0 only */
  holding: SettlementRow[];
}

/**
 * The operator's worklist. Stuck = still pending / processing and older than the
 * threshold (pending: since first seen, or since an operator retry restarted the
 * wait; processing: since the current payment round started — a hold is not stuck).
 * threshold 0 lists everything recorded in flight, including `holding`: processing
 * whose payments have not started (its hold window, docs/settlement.md step 6).
 * One page, newest first across every bucket (keyset on created_at at millisecond
 * precision, the precision of the API's cursor, then id in byte order). Returns up
 * to `limit` rows; the caller asks for one more to know whether a next page exists.
 * Settlements without a row yet: `waitingSightings` (src/db/sightings.ts).
 */
export async function operatorWorklist(
  db: Queryable,
  operatorId: string,
  thresholdMinutes: number,
  page: { limit: number; before?: { created_at: Date; id: string } } = { limit: 1000 },
): Promise<WorklistRow[]> {
  const params: unknown[] = [operatorId, thresholdMinutes, page.limit];
  let after = '';
  if (page.before) {
    params.push(page.before.created_at, page.before.id);
    after = `AND (date_trunc('milliseconds', s.created_at), s.id COLLATE "C") < ($4, $5 COLLATE "C")`;
  }
  const { rows } = await db.query<WorklistRow>(
    `SELECT s.*,
            -- the row's keyset position, exact (a JS Date parsed from microseconds can be 1 ms off)
            (extract(epoch FROM date_trunc('milliseconds', s.created_at)) * 1000)::bigint AS cursor_ms,
            CASE WHEN s.status IN ('rejected', 'errored') THEN s.status
                 WHEN s.status = 'pending' THEN 'stuck_pending'
                 WHEN s.processing_started_at IS NULL THEN 'holding'
                 ELSE 'stuck_processing' END AS bucket
       FROM satmachine.dca_settlements s
       JOIN satmachine.dca_machines m ON m.id = s.machine_id
      WHERE m.operator_user_id = $1
        AND (s.status IN ('rejected', 'errored')
             OR (s.status = 'pending' AND COALESCE(s.waiting_since, s.created_at) <= now() - make_interval(mins => $2))
             OR (s.status = 'processing' AND s.processing_started_at <= now() - make_interval(mins => $2))
             -- in its hold (payments not started): never stuck, listed with everything in flight
             OR (s.status = 'processing' AND s.processing_started_at IS NULL AND $2 = 0))
        ${after}
      ORDER BY date_trunc('milliseconds', s.created_at) DESC, s.id COLLATE "C" DESC
      LIMIT $3`,
    params,
  );
  return rows;
}

export type WorklistRow = SettlementRow & { bucket: keyof Worklist; cursor_ms: number };

/** Sorts a page of worklist rows into its buckets (order kept). */
export function worklistBuckets(rows: WorklistRow[]): Worklist {
  const out: Worklist = { rejected: [], errored: [], stuck_pending: [], stuck_processing: [], holding: [] };
  for (const { bucket, cursor_ms: _at, ...row } of rows) out[bucket].push(row);
  return out;
}

export interface MachineDayStats {
  settlements: number;
  attention: number;
  volume_cash_out: string;
  volume_cash_in: string;
}

/** One machine's settlements since a time: how many, how many need the operator, fiat volume by direction. */
export async function machineStatsSince(
  db: Queryable,
  machineId: string,
  since: Date,
): Promise<MachineDayStats> {
  const { rows } = await db.query<MachineDayStats>(
    `SELECT count(*)::int AS settlements,
            count(*) FILTER (WHERE status IN ('errored', 'rejected'))::int AS attention,
            COALESCE(sum(fiat_amount) FILTER (WHERE status <> 'rejected' AND tx_type = 'cash_out'), 0)::numeric(18,2)::text AS volume_cash_out,
            COALESCE(sum(fiat_amount) FILTER (WHERE status <> 'rejected' AND tx_type = 'cash_in'), 0)::numeric(18,2)::text AS volume_cash_in
       FROM satmachine.dca_settlements WHERE machine_id = $1 AND created_at >= $2`,
    [machineId, since],
  );
  return rows[0]!;
}

/** Tenant-scoped lookup by payment hash: another operator's settlement is not found. */
export async function getOperatorSettlementByHash(
  db: Queryable,
  operatorId: string,
  paymentHash: string,
): Promise<SettlementRow | null> {
  const { rows } = await db.query<SettlementRow>(
    `SELECT s.* FROM satmachine.dca_settlements s
       JOIN satmachine.dca_machines m ON m.id = s.machine_id
      WHERE s.payment_hash = $1 AND m.operator_user_id = $2`,
    [paymentHash, operatorId],
  );
  return rows[0] ?? null;
}

/** A waiting placeholder filed under another machine moves: its notes were that operator's, not this one's. */
export async function clearSettlementNotes(db: Queryable, id: string): Promise<void> {
  await db.query('UPDATE satmachine.dca_settlements SET notes = NULL WHERE id = $1', [id]);
}

/** Settlements by status, every tenant (the /metrics gauge). */
export async function countSettlementsByStatus(db: Queryable): Promise<{ status: string; n: number }[]> {
  const { rows } = await db.query<{ status: string; n: number }>(
    'SELECT status, count(*)::int AS n FROM satmachine.dca_settlements GROUP BY status',
  );
  return rows;
}
