import type { Queryable } from './pool';
import { newId } from './ids';

export interface CommissionSplitRow {
  id: string;
  operator_user_id: string;
  machine_id: string | null;
  target: string;
  label: string | null;
  fraction: string;
  sort_order: number;
  created_at: Date;
}

export interface CommissionSplitLeg {
  target: string;
  label: string | null;
  fraction: string;
  sort_order: number;
}

/** Rules of one scope: the operator default (machineId null) or one machine's override. */
export async function getCommissionSplits(
  db: Queryable,
  operatorId: string,
  machineId: string | null,
): Promise<CommissionSplitRow[]> {
  const { rows } = await db.query<CommissionSplitRow>(
    `SELECT * FROM satmachine.dca_commission_splits
      WHERE operator_user_id = $1 AND machine_id IS NOT DISTINCT FROM $2
      ORDER BY sort_order, created_at, id`,
    [operatorId, machineId],
  );
  return rows;
}

/** The machine's own rules when it has any, else the operator default. */
export async function getEffectiveCommissionSplits(
  db: Queryable,
  operatorId: string,
  machineId: string,
): Promise<CommissionSplitRow[]> {
  const own = await getCommissionSplits(db, operatorId, machineId);
  return own.length ? own : getCommissionSplits(db, operatorId, null);
}

/** Atomic replace of one scope (call inside a transaction). */
export async function replaceCommissionSplits(
  db: Queryable,
  operatorId: string,
  machineId: string | null,
  legs: readonly CommissionSplitLeg[],
): Promise<CommissionSplitRow[]> {
  await db.query(
    `DELETE FROM satmachine.dca_commission_splits
      WHERE operator_user_id = $1 AND machine_id IS NOT DISTINCT FROM $2`,
    [operatorId, machineId],
  );
  if (legs.length) {
    await db.query(
      `INSERT INTO satmachine.dca_commission_splits (id, operator_user_id, machine_id, target, label, fraction, sort_order)
       SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::numeric[], $7::int[])`,
      [
        legs.map(() => newId()),
        legs.map(() => operatorId),
        legs.map(() => machineId),
        legs.map((l) => l.target),
        legs.map((l) => l.label),
        legs.map((l) => l.fraction),
        legs.map((l) => l.sort_order),
      ],
    );
  }
  return getCommissionSplits(db, operatorId, machineId);
}
