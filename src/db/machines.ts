import type { Queryable } from './pool';
import { newId } from './ids';
import { buildSet } from './sql';

export interface MachineRow {
  id: string;
  operator_user_id: string;
  machine_npub: string;
  machine_pubkey_hex: string;
  wallet_id: string;
  name: string;
  location: string | null;
  fiat_code: string;
  is_active: boolean;
  operator_cash_in_fee_fraction: string;
  operator_cash_out_fee_fraction: string;
  distribution_delay_seconds: number;
  created_at: Date;
  updated_at: Date;
}

export interface NewMachine {
  operator_user_id: string;
  machine_npub: string;
  machine_pubkey_hex: string;
  wallet_id: string;
  name: string;
  location?: string | null;
  fiat_code: string;
  operator_cash_in_fee_fraction?: string;
  operator_cash_out_fee_fraction?: string;
  distribution_delay_seconds?: number;
}

export const MACHINE_UPDATABLE = [
  'machine_npub',
  'machine_pubkey_hex',
  'wallet_id',
  'name',
  'location',
  'fiat_code',
  'is_active',
  'operator_cash_in_fee_fraction',
  'operator_cash_out_fee_fraction',
  'distribution_delay_seconds',
] as const;

export async function insertMachine(db: Queryable, m: NewMachine): Promise<MachineRow> {
  const { rows } = await db.query<MachineRow>(
    `INSERT INTO satmachine.dca_machines
       (id, operator_user_id, machine_npub, machine_pubkey_hex, wallet_id, name, location, fiat_code,
        operator_cash_in_fee_fraction, operator_cash_out_fee_fraction, distribution_delay_seconds)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, COALESCE($9::numeric, 0), COALESCE($10::numeric, 0), COALESCE($11::int, 0))
     RETURNING *`,
    [
      newId(),
      m.operator_user_id,
      m.machine_npub,
      m.machine_pubkey_hex,
      m.wallet_id,
      m.name,
      m.location ?? null,
      m.fiat_code,
      m.operator_cash_in_fee_fraction ?? null,
      m.operator_cash_out_fee_fraction ?? null,
      m.distribution_delay_seconds ?? null,
    ],
  );
  return rows[0]!;
}

export async function getMachine(db: Queryable, id: string): Promise<MachineRow | null> {
  const { rows } = await db.query<MachineRow>('SELECT * FROM satmachine.dca_machines WHERE id = $1', [id]);
  return rows[0] ?? null;
}

/** Tenant-scoped read: another operator's machine is simply not found. */
export async function getOperatorMachine(
  db: Queryable,
  operatorId: string,
  id: string,
): Promise<MachineRow | null> {
  const { rows } = await db.query<MachineRow>(
    'SELECT * FROM satmachine.dca_machines WHERE id = $1 AND operator_user_id = $2',
    [id, operatorId],
  );
  return rows[0] ?? null;
}

export async function listOperatorMachines(db: Queryable, operatorId: string): Promise<MachineRow[]> {
  const { rows } = await db.query<MachineRow>(
    'SELECT * FROM satmachine.dca_machines WHERE operator_user_id = $1 ORDER BY created_at DESC, id',
    [operatorId],
  );
  return rows;
}

export async function getMachineByPubkey(db: Queryable, pubkeyHex: string): Promise<MachineRow | null> {
  const { rows } = await db.query<MachineRow>(
    'SELECT * FROM satmachine.dca_machines WHERE machine_pubkey_hex = $1',
    [pubkeyHex],
  );
  return rows[0] ?? null;
}

export async function getActiveMachineByWallet(db: Queryable, walletId: string): Promise<MachineRow | null> {
  const { rows } = await db.query<MachineRow>(
    'SELECT * FROM satmachine.dca_machines WHERE wallet_id = $1 AND is_active LIMIT 1',
    [walletId],
  );
  return rows[0] ?? null;
}

export async function listActiveMachines(db: Queryable): Promise<MachineRow[]> {
  const { rows } = await db.query<MachineRow>(
    'SELECT * FROM satmachine.dca_machines WHERE is_active ORDER BY created_at DESC',
  );
  return rows;
}

export async function updateMachine(
  db: Queryable,
  operatorId: string,
  id: string,
  patch: Partial<Record<(typeof MACHINE_UPDATABLE)[number], unknown>>,
): Promise<MachineRow | null> {
  const params: unknown[] = [];
  const set = buildSet(patch, MACHINE_UPDATABLE, params);
  if (!set.count) return getOperatorMachine(db, operatorId, id);
  params.push(id, operatorId);
  const { rows } = await db.query<MachineRow>(
    `UPDATE satmachine.dca_machines SET ${set.clause}, updated_at = now()
      WHERE id = $${params.length - 1} AND operator_user_id = $${params.length} RETURNING *`,
    params,
  );
  return rows[0] ?? null;
}

/** Whether money ever moved through this machine (then it can be deactivated, not deleted). */
export async function machineHasHistory(db: Queryable, id: string): Promise<boolean> {
  const { rows } = await db.query<{ used: boolean }>(
    `SELECT EXISTS (SELECT 1 FROM satmachine.dca_settlements WHERE machine_id = $1)
         OR EXISTS (SELECT 1 FROM satmachine.dca_deposits WHERE machine_id = $1)
         OR EXISTS (SELECT 1 FROM satmachine.dca_payments WHERE machine_id = $1) AS used`,
    [id],
  );
  return rows[0]!.used;
}

export async function deleteMachine(db: Queryable, operatorId: string, id: string): Promise<boolean> {
  const { rowCount } = await db.query(
    'DELETE FROM satmachine.dca_machines WHERE id = $1 AND operator_user_id = $2',
    [id, operatorId],
  );
  return (rowCount ?? 0) > 0;
}

/**
 * Serialises DCA allocation per machine for the rest of the transaction: two
 * settlements on one machine never read the same available LP balance.
 */
export async function lockMachine(db: Queryable, machineId: string): Promise<void> {
  await db.query("SELECT pg_advisory_xact_lock(hashtext('satmachine:machine:' || $1))", [machineId]);
}

/** The machine (active or not) that holds this wallet, newest first. */
export async function getMachineByWallet(db: Queryable, walletId: string): Promise<MachineRow | null> {
  const { rows } = await db.query<MachineRow>(
    'SELECT * FROM satmachine.dca_machines WHERE wallet_id = $1 ORDER BY is_active DESC, updated_at DESC LIMIT 1',
    [walletId],
  );
  return rows[0] ?? null;
}
