import type { Queryable } from './pool';
import { newId } from './ids';

export interface DepositRow {
  id: string;
  client_id: string;
  machine_id: string;
  creator_user_id: string;
  amount: string;
  currency: string;
  status: 'pending' | 'confirmed' | 'rejected';
  notes: string | null;
  created_at: Date;
  confirmed_at: Date | null;
}

export async function insertDeposit(
  db: Queryable,
  d: {
    client_id: string;
    machine_id: string;
    creator_user_id: string;
    amount: string;
    notes: string | null;
  },
): Promise<DepositRow> {
  // the currency is the machine's, read under a share lock in the same statement: a concurrent
  // change of the machine's fiat_code (which locks the row) is either refused or seen here
  const { rows } = await db.query<DepositRow>(
    `INSERT INTO satmachine.dca_deposits (id, client_id, machine_id, creator_user_id, amount, currency, notes)
     SELECT $1, $2, m.id, $4, $5, m.fiat_code, $6 FROM satmachine.dca_machines m WHERE m.id = $3 FOR SHARE
     RETURNING *`,
    [newId(), d.client_id, d.machine_id, d.creator_user_id, d.amount, d.notes],
  );
  return rows[0]!;
}

/** A deposit recorded as already confirmed (the demo's seed data). */
export async function insertConfirmedDeposit(
  db: Queryable,
  d: { client_id: string; machine_id: string; creator_user_id: string; amount: string; currency: string },
): Promise<void> {
  await db.query(
    `INSERT INTO satmachine.dca_deposits (id, client_id, machine_id, creator_user_id, amount, currency, status, confirmed_at)
     VALUES ($1, $2, $3, $4, $5, $6, 'confirmed', now())`,
    [newId(), d.client_id, d.machine_id, d.creator_user_id, d.amount, d.currency],
  );
}

export async function getOperatorDeposit(
  db: Queryable,
  operatorId: string,
  id: string,
  forUpdate = false,
): Promise<DepositRow | null> {
  const { rows } = await db.query<DepositRow>(
    `SELECT d.* FROM satmachine.dca_deposits d JOIN satmachine.dca_machines m ON m.id = d.machine_id
      WHERE d.id = $1 AND m.operator_user_id = $2${forUpdate ? ' FOR UPDATE OF d' : ''}`,
    [id, operatorId],
  );
  return rows[0] ?? null;
}

export async function listOperatorDeposits(
  db: Queryable,
  operatorId: string,
  f: { client_id?: string; machine_id?: string; status?: string },
): Promise<DepositRow[]> {
  const params: unknown[] = [operatorId];
  const where = ['m.operator_user_id = $1'];
  for (const [col, v] of [
    ['d.client_id', f.client_id],
    ['d.machine_id', f.machine_id],
    ['d.status', f.status],
  ] as const) {
    if (v === undefined) continue;
    params.push(v);
    where.push(`${col} = $${params.length}`);
  }
  const { rows } = await db.query<DepositRow>(
    `SELECT d.* FROM satmachine.dca_deposits d JOIN satmachine.dca_machines m ON m.id = d.machine_id
      WHERE ${where.join(' AND ')} ORDER BY d.created_at DESC, d.id`,
    params,
  );
  return rows;
}

/** Amount / notes of a deposit still pending (a confirmed one is never edited). */
export async function updatePendingDeposit(
  db: Queryable,
  id: string,
  patch: { amount?: string; notes?: string | null },
): Promise<DepositRow | null> {
  const { rows } = await db.query<DepositRow>(
    `UPDATE satmachine.dca_deposits
        SET amount = COALESCE($2::numeric, amount),
            notes = CASE WHEN $4 THEN $3 ELSE notes END
      WHERE id = $1 AND status = 'pending' RETURNING *`,
    [id, patch.amount ?? null, patch.notes ?? null, patch.notes !== undefined],
  );
  return rows[0] ?? null;
}

/** pending → confirmed (stamps confirmed_at) | rejected. */
export async function setDepositStatus(
  db: Queryable,
  id: string,
  status: 'confirmed' | 'rejected',
  notes: string | undefined,
): Promise<DepositRow | null> {
  const { rows } = await db.query<DepositRow>(
    `UPDATE satmachine.dca_deposits
        SET status = $2, notes = COALESCE($3, notes),
            confirmed_at = CASE WHEN $2 = 'confirmed' THEN now() ELSE confirmed_at END
      WHERE id = $1 AND status = 'pending' RETURNING *`,
    [id, status, notes ?? null],
  );
  return rows[0] ?? null;
}

export async function deleteUnconfirmedDeposit(db: Queryable, id: string): Promise<boolean> {
  const { rowCount } = await db.query(
    `DELETE FROM satmachine.dca_deposits WHERE id = $1 AND status <> 'confirmed'`,
    [id],
  );
  return (rowCount ?? 0) > 0;
}

export interface LpDepositRow extends DepositRow {
  machine_name: string;
}

/** An LP's own deposits across its enrolments (every operator), newest first, keyset paginated. */
export async function listLpDeposits(
  db: Queryable,
  userId: string,
  page: { limit: number; before?: { at: Date; id: string } },
): Promise<LpDepositRow[]> {
  const params: unknown[] = [userId];
  let cursor = '';
  if (page.before) {
    params.push(page.before.at, page.before.id);
    cursor = 'AND (d.created_at, d.id) < ($2, $3)';
  }
  params.push(page.limit);
  const { rows } = await db.query<LpDepositRow>(
    `SELECT d.*, m.name AS machine_name
       FROM satmachine.dca_deposits d
       JOIN satmachine.dca_clients c ON c.id = d.client_id
       JOIN satmachine.dca_machines m ON m.id = d.machine_id
      WHERE c.user_id = $1 ${cursor}
      ORDER BY d.created_at DESC, d.id DESC LIMIT $${params.length}`,
    params,
  );
  return rows;
}

/** Whether money in the machine's currency is on record: deposits or settlements. */
export async function machineHasMoneyRecords(db: Queryable, machineId: string): Promise<boolean> {
  const { rows } = await db.query<{ any: boolean }>(
    `SELECT EXISTS (SELECT 1 FROM satmachine.dca_deposits WHERE machine_id = $1)
         OR EXISTS (SELECT 1 FROM satmachine.dca_settlements WHERE machine_id = $1) AS any`,
    [machineId],
  );
  return rows[0]!.any;
}
