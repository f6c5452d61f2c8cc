import type { Queryable } from './pool';

export type LegStatus = 'pending' | 'completed' | 'failed' | 'skipped' | 'voided';

/** A leg as planned and inserted (`pending`, or `skipped` when there is nothing to pay). */
export interface NewLeg {
  id: string;
  settlement_id: string | null;
  client_id: string | null;
  machine_id: string;
  operator_user_id: string;
  leg_type: 'dca' | 'settlement' | 'autoforward' | 'super_fee' | 'operator_split';
  label: string | null;
  source_wallet_id: string | null;
  destination_wallet_id: string | null;
  destination_ln_address: string | null;
  amount_sats: number;
  amount_fiat: string;
  exchange_rate: string | null;
  transaction_time: Date | null;
  status: 'pending' | 'skipped';
  error_message: string | null;
  parent_leg_id: string | null;
  replaces_leg_id: string | null;
  sort_order: number;
}

/** A stored leg: what was inserted ({@link NewLeg}), any status since, and its payment. */
export interface LegRow extends Omit<NewLeg, 'status'> {
  external_payment_hash: string | null;
  status: LegStatus;
  created_at: Date;
  updated_at: Date;
  completed_at: Date | null;
}

const INSERT_COLUMNS: { name: keyof NewLeg; type: string }[] = [
  { name: 'id', type: 'text' },
  { name: 'settlement_id', type: 'text' },
  { name: 'client_id', type: 'text' },
  { name: 'machine_id', type: 'text' },
  { name: 'operator_user_id', type: 'text' },
  { name: 'leg_type', type: 'text' },
  { name: 'label', type: 'text' },
  { name: 'source_wallet_id', type: 'text' },
  { name: 'destination_wallet_id', type: 'text' },
  { name: 'destination_ln_address', type: 'text' },
  { name: 'amount_sats', type: 'bigint' },
  { name: 'amount_fiat', type: 'numeric' },
  { name: 'exchange_rate', type: 'numeric' },
  { name: 'transaction_time', type: 'timestamptz' },
  { name: 'status', type: 'text' },
  { name: 'error_message', type: 'text' },
  { name: 'parent_leg_id', type: 'text' },
  { name: 'replaces_leg_id', type: 'text' },
  { name: 'sort_order', type: 'int' },
];

/** Inserts many legs in one statement (one round trip whatever the fan-out). */
export async function insertLegs(db: Queryable, legs: readonly NewLeg[]): Promise<void> {
  if (!legs.length) return;
  const arrays = INSERT_COLUMNS.map((c) => legs.map((l) => l[c.name]));
  await db.query(
    `INSERT INTO satmachine.dca_payments (${INSERT_COLUMNS.map((c) => c.name).join(', ')})
     SELECT * FROM unnest(${INSERT_COLUMNS.map((c, i) => `$${i + 1}::${c.type}[]`).join(', ')})`,
    arrays,
  );
}

export async function getLeg(db: Queryable, id: string, forUpdate = false): Promise<LegRow | null> {
  const { rows } = await db.query<LegRow>(
    `SELECT * FROM satmachine.dca_payments WHERE id = $1${forUpdate ? ' FOR UPDATE' : ''}`,
    [id],
  );
  return rows[0] ?? null;
}

export async function listSettlementLegs(db: Queryable, settlementId: string): Promise<LegRow[]> {
  const { rows } = await db.query<LegRow>(
    'SELECT * FROM satmachine.dca_payments WHERE settlement_id = $1 ORDER BY sort_order, created_at, id',
    [settlementId],
  );
  return rows;
}

export async function countLiveLegs(db: Queryable, settlementId: string): Promise<number> {
  const { rows } = await db.query<{ n: number }>(
    `SELECT count(*)::int AS n FROM satmachine.dca_payments WHERE settlement_id = $1 AND status <> 'voided'`,
    [settlementId],
  );
  return rows[0]!.n;
}

export async function countCompletedLegs(db: Queryable, settlementId: string): Promise<number> {
  const { rows } = await db.query<{ n: number }>(
    `SELECT count(*)::int AS n FROM satmachine.dca_payments WHERE settlement_id = $1 AND status = 'completed'`,
    [settlementId],
  );
  return rows[0]!.n;
}

export async function completeLeg(db: Queryable, id: string, externalPaymentHash: string): Promise<void> {
  await db.query(
    `UPDATE satmachine.dca_payments
        SET status = 'completed', external_payment_hash = $2, error_message = NULL,
            completed_at = now(), updated_at = now()
      WHERE id = $1`,
    [id, externalPaymentHash],
  );
}

/** Fails a leg that is still pending; returns false when it had already settled one way or another. */
/** The backend says this leg's payment was made after all: completed, with its payment hash. */
export async function markLegPaid(db: Queryable, id: string, paymentHash: string): Promise<void> {
  await db.query(
    `UPDATE satmachine.dca_payments
        SET status = 'completed', external_payment_hash = $2, error_message = NULL, completed_at = now(), updated_at = now()
      WHERE id = $1 AND status IN ('pending', 'failed')`,
    [id, paymentHash],
  );
}

export async function failPendingLeg(db: Queryable, id: string, reason: string): Promise<boolean> {
  const { rowCount } = await db.query(
    `UPDATE satmachine.dca_payments SET status = 'failed', error_message = $2, updated_at = now()
      WHERE id = $1 AND status = 'pending'`,
    [id, reason],
  );
  return (rowCount ?? 0) > 0;
}

export async function voidLegs(
  db: Queryable,
  settlementId: string,
  statuses: readonly LegStatus[],
): Promise<number> {
  const { rowCount } = await db.query(
    `UPDATE satmachine.dca_payments SET status = 'voided', updated_at = now()
      WHERE settlement_id = $1 AND status = ANY($2::text[])`,
    [settlementId, statuses],
  );
  return rowCount ?? 0;
}

export interface LegCounts {
  pending: number;
  completed: number;
  failed: number;
  skipped: number;
  voided: number;
}

export async function legCounts(db: Queryable, settlementId: string): Promise<LegCounts> {
  const { rows } = await db.query<{ status: LegStatus; n: number }>(
    `SELECT status, count(*)::int AS n FROM satmachine.dca_payments WHERE settlement_id = $1 GROUP BY status`,
    [settlementId],
  );
  const counts: LegCounts = { pending: 0, completed: 0, failed: 0, skipped: 0, voided: 0 };
  for (const r of rows) counts[r.status] = r.n;
  return counts;
}

/**
 * Sort orders of the pending legs that start a payment chain: every pending leg but
 * an autoforward whose parent leg is itself still pending (that one follows its parent).
 */
export async function pendingRootLegSortOrders(db: Queryable, settlementId: string): Promise<number[]> {
  const { rows } = await db.query<{ sort_order: number }>(
    `SELECT l.sort_order FROM satmachine.dca_payments l
       LEFT JOIN satmachine.dca_payments p ON p.id = l.parent_leg_id
      WHERE l.settlement_id = $1 AND l.status = 'pending' AND (p.id IS NULL OR p.status <> 'pending')
      ORDER BY l.sort_order`,
    [settlementId],
  );
  return rows.map((r) => r.sort_order);
}

/**
 * Root legs with sort_order in [from, to], plus the pending legs that follow them.
 * Two index range scans (settlement_id, sort_order) and (parent_leg_id), never a
 * scan of every leg of the settlement: a 10,000-LP fan-out reads 40 pages.
 */
export async function pendingLegsInRange(
  db: Queryable,
  settlementId: string,
  from: number,
  to: number,
): Promise<LegRow[]> {
  const { rows } = await db.query<LegRow>(
    `WITH page AS MATERIALIZED (
       SELECT * FROM satmachine.dca_payments
        WHERE settlement_id = $1 AND sort_order BETWEEN $2 AND $3)
     SELECT l.* FROM page l
       LEFT JOIN satmachine.dca_payments p ON p.id = l.parent_leg_id
      WHERE l.status = 'pending' AND (p.id IS NULL OR p.status <> 'pending')
     UNION ALL
     SELECT f.* FROM page p
       JOIN satmachine.dca_payments f ON f.parent_leg_id = p.id
      WHERE p.status = 'pending' AND f.status = 'pending' AND f.settlement_id = $1
     ORDER BY sort_order`,
    [settlementId, from, to],
  );
  return rows;
}

export async function maxSortOrder(db: Queryable, settlementId: string): Promise<number> {
  const { rows } = await db.query<{ m: number | null }>(
    'SELECT max(sort_order) AS m FROM satmachine.dca_payments WHERE settlement_id = $1',
    [settlementId],
  );
  return rows[0]!.m ?? -1;
}

/** The legs of one enrolment (the caller checked the enrolment is its own), newest first, keyset paginated. */
export async function listClientLegs(
  db: Queryable,
  clientId: string,
  page: { limit: number; before?: { at: Date; id: string } },
): Promise<LegRow[]> {
  const params: unknown[] = [clientId];
  let cursor = '';
  if (page.before) {
    params.push(page.before.at, page.before.id);
    cursor = 'AND (created_at, id) < ($2, $3)';
  }
  params.push(page.limit);
  const { rows } = await db.query<LegRow>(
    `SELECT * FROM satmachine.dca_payments WHERE client_id = $1 ${cursor}
      ORDER BY created_at DESC, id DESC LIMIT $${params.length}`,
    params,
  );
  return rows;
}

export async function countPendingLegs(db: Queryable, settlementId: string): Promise<number> {
  const { rows } = await db.query<{ n: number }>(
    `SELECT count(*)::int AS n FROM satmachine.dca_payments WHERE settlement_id = $1 AND status = 'pending'`,
    [settlementId],
  );
  return rows[0]!.n;
}

/** Every leg of a settlement, whatever its status (voided ones too). */
export async function countAllLegs(db: Queryable, settlementId: string): Promise<number> {
  const { rows } = await db.query<{ n: number }>(
    'SELECT count(*)::int AS n FROM satmachine.dca_payments WHERE settlement_id = $1',
    [settlementId],
  );
  return rows[0]!.n;
}

/**
 * The legs of a settlement in one status, locked (FOR UPDATE), for an operator action,
 * answered in sort order. Locked in leg id order, then their LPs' balance rows in client id
 * order: the order every ledger payment takes them in (migration 0020 locks a batch's legs
 * by id, and the balance trigger its rows by client id), so an operator action updating
 * these legs one by one never waits on a payment in a circle.
 */
export async function lockLegsInStatus(
  db: Queryable,
  settlementId: string,
  status: 'pending' | 'failed',
): Promise<LegRow[]> {
  const { rows } = await db.query<LegRow>(
    `SELECT * FROM satmachine.dca_payments WHERE settlement_id = $1 AND status = $2
      ORDER BY id FOR UPDATE`,
    [settlementId, status],
  );
  const clients = [...new Set(rows.map((l) => l.client_id).filter((c): c is string => c !== null))];
  if (clients.length) {
    await db.query(
      'SELECT 1 FROM satmachine.lp_balances WHERE client_id = ANY($1::text[]) ORDER BY client_id FOR UPDATE',
      [clients],
    );
  }
  return rows.sort((a, b) => a.sort_order - b.sort_order || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
}

/** A pending leg whose payment the backend found made: completed with its payment hash. */
export async function completePendingLegFound(db: Queryable, id: string, paymentHash: string): Promise<void> {
  await db.query(
    `UPDATE satmachine.dca_payments SET status = 'completed', external_payment_hash = $2, completed_at = now(), updated_at = now()
      WHERE id = $1`,
    [id, paymentHash],
  );
}

/** A failed leg replaced by a fresh copy (retry): voided. */
export async function voidLeg(db: Queryable, id: string): Promise<void> {
  await db.query(`UPDATE satmachine.dca_payments SET status = 'voided', updated_at = now() WHERE id = $1`, [
    id,
  ]);
}

/** A failed leg the operator gives up on: voided with the operator's reason. */
export async function voidFailedLegByOperator(db: Queryable, id: string, note: string): Promise<void> {
  await db.query(
    `UPDATE satmachine.dca_payments SET status = 'voided', error_message = $2, updated_at = now()
      WHERE id = $1 AND status = 'failed'`,
    [id, `voided by operator: ${note}`.slice(0, 1000)],
  );
}

/** The legs an operator voided (voidFailedLegByOperator) and the LP fiat their dca legs released. */
export async function operatorVoidedLegs(
  db: Queryable,
  settlementId: string,
): Promise<{ voided: number; fiat: string }> {
  const { rows } = await db.query<{ voided: number; fiat: string }>(
    `SELECT count(*)::int AS voided, COALESCE(sum(amount_fiat) FILTER (WHERE leg_type = 'dca'), 0)::numeric(18,2)::text AS fiat
       FROM satmachine.dca_payments WHERE settlement_id = $1 AND error_message LIKE 'voided by operator:%'`,
    [settlementId],
  );
  return rows[0]!;
}
