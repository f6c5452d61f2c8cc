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
  key_state: KeyState;
  key_proven_at: Date | null;
  created_at: Date;
  updated_at: Date;
}

/**
 * Proof of a registration's machine key (docs/protocol.md §2.1): `unverified` until an
 * event signed by the key and addressed (p tag) to this operator is recorded, then
 * `proven`; `unproven` when another operator's registration of the key was proven.
 */
export type KeyState = 'unverified' | 'proven' | 'unproven';

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

/**
 * A new registration is `unverified`, or `unproven` when another registration of the
 * key is proven already (the API refuses that case with a 409 before inserting).
 */
export async function insertMachine(db: Queryable, m: NewMachine): Promise<MachineRow> {
  const { rows } = await db.query<MachineRow>(
    `INSERT INTO satmachine.dca_machines
       (id, operator_user_id, machine_npub, machine_pubkey_hex, wallet_id, name, location, fiat_code,
        operator_cash_in_fee_fraction, operator_cash_out_fee_fraction, distribution_delay_seconds, key_state)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, COALESCE($9::numeric, 0), COALESCE($10::numeric, 0), COALESCE($11::int, 0),
             CASE WHEN EXISTS (SELECT 1 FROM satmachine.dca_machines
                                WHERE machine_pubkey_hex = $4 AND key_state = 'proven')
                  THEN 'unproven' ELSE 'unverified' END)
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

/**
 * The registration of a machine key that an event addressed to `addressedTo` (the
 * event's p tags) routes to: the registration whose operator's Nostr key is tagged,
 * never an `unproven` one. Without p tags (a beacon, or only the signer is known) the
 * proven registration decides, or else the key's only registration. Never "the first
 * row": another operator's registration of the same key is not a candidate.
 */
export async function getMachineByPubkey(
  db: Queryable,
  pubkeyHex: string,
  addressedTo: readonly string[] | null,
): Promise<MachineRow | null> {
  if (addressedTo) {
    const { rows } = await db.query<MachineRow>(
      `SELECT m.* FROM satmachine.dca_machines m JOIN satmachine.users u ON u.id = m.operator_user_id
        WHERE m.machine_pubkey_hex = $1 AND u.nostr_pubkey = ANY($2::text[]) AND m.key_state <> 'unproven'
        ORDER BY m.key_state = 'proven' DESC, m.is_active DESC, m.created_at, m.id LIMIT 1`,
      [pubkeyHex, [...addressedTo]],
    );
    return rows[0] ?? null;
  }
  const { rows } = await db.query<MachineRow>(
    `SELECT * FROM satmachine.dca_machines WHERE machine_pubkey_hex = $1 AND key_state <> 'unproven'
      ORDER BY key_state = 'proven' DESC LIMIT 2`,
    [pubkeyHex],
  );
  if (rows[0]?.key_state === 'proven') return rows[0];
  return rows.length === 1 ? rows[0]! : null;
}

/** Row lock on a machine: holds off inserts of deposits / settlements for it (their foreign key shares it). */
export async function lockMachineRow(db: Queryable, id: string): Promise<void> {
  await db.query('SELECT 1 FROM satmachine.dca_machines WHERE id = $1 FOR UPDATE', [id]);
}

/** Serialises registrations and proofs of one machine key until the transaction ends. */
export async function lockMachineKey(db: Queryable, pubkeyHex: string): Promise<void> {
  await db.query("SELECT pg_advisory_xact_lock(hashtext('satmachine:machine-key:' || $1))", [pubkeyHex]);
}

/** The operator's own registration of this key, other than `exceptId`, if any. */
export async function operatorRegistrationOfKey(
  db: Queryable,
  operatorId: string,
  pubkeyHex: string,
  exceptId: string | null,
): Promise<string | null> {
  const { rows } = await db.query<{ id: string }>(
    `SELECT id FROM satmachine.dca_machines
      WHERE machine_pubkey_hex = $1 AND operator_user_id = $2 AND id IS DISTINCT FROM $3`,
    [pubkeyHex, operatorId, exceptId],
  );
  return rows[0]?.id ?? null;
}

/** Whether some registration of this key, other than `exceptId`, is proven. */
export async function keyProvenElsewhere(
  db: Queryable,
  pubkeyHex: string,
  exceptId: string | null,
): Promise<boolean> {
  const { rows } = await db.query<{ proven: boolean }>(
    `SELECT EXISTS (SELECT 1 FROM satmachine.dca_machines
                     WHERE machine_pubkey_hex = $1 AND key_state = 'proven' AND id IS DISTINCT FROM $2) AS proven`,
    [pubkeyHex, exceptId],
  );
  return rows[0]!.proven;
}

/**
 * The machine proved this registration: an event signed by its key and addressed to
 * its operator is being recorded in this transaction (`db` must be in one). Every other
 * registration of the key becomes `unproven`. Answers the registration's state after:
 * `proven`, or `unproven` when another registration was proven first (then nothing
 * changes and the caller must not record the event for this registration).
 */
export async function proveMachineKey(db: Queryable, machineId: string): Promise<KeyState | null> {
  const before = await getMachine(db, machineId);
  if (!before) return null;
  if (before.key_state === 'proven') return 'proven';
  await lockMachineKey(db, before.machine_pubkey_hex);
  // NO KEY UPDATE, not UPDATE: a concurrent insert of a row that references the machine
  // (a beacon's telemetry row) takes KEY SHARE on it; FOR UPDATE would wait for that
  // insert while it waits for us (a deadlock the ingest saw with two first events at once)
  const { rows } = await db.query<MachineRow>(
    'SELECT * FROM satmachine.dca_machines WHERE id = $1 FOR NO KEY UPDATE',
    [machineId],
  );
  const m = rows[0];
  if (!m) return null;
  if (m.key_state !== 'unverified') return m.key_state;
  if (await keyProvenElsewhere(db, m.machine_pubkey_hex, m.id)) {
    await setKeyState(db, m.id, 'unproven');
    return 'unproven';
  }
  await db.query(
    `UPDATE satmachine.dca_machines SET key_state = 'unproven', updated_at = now()
      WHERE machine_pubkey_hex = $1 AND id <> $2 AND key_state = 'unverified'`,
    [m.machine_pubkey_hex, m.id],
  );
  await db.query(
    `UPDATE satmachine.dca_machines SET key_state = 'proven', key_proven_at = now(), updated_at = now()
      WHERE id = $1`,
    [m.id],
  );
  return 'proven';
}

async function setKeyState(db: Queryable, id: string, state: KeyState): Promise<void> {
  await db.query(
    `UPDATE satmachine.dca_machines SET key_state = $2,
            key_proven_at = CASE WHEN $2 = 'proven' THEN key_proven_at END, updated_at = now()
      WHERE id = $1`,
    [id, state],
  );
}

/**
 * The proven registration of a key lets go of it (deactivated, deleted, or given
 * another key): the other registrations are `unverified` again and the machine's next
 * addressed event decides. Call under lockMachineKey.
 */
export async function releaseMachineKey(db: Queryable, pubkeyHex: string, exceptId: string): Promise<void> {
  await db.query(
    `UPDATE satmachine.dca_machines SET key_state = 'unverified', updated_at = now()
      WHERE machine_pubkey_hex = $1 AND id <> $2 AND key_state = 'unproven'`,
    [pubkeyHex, exceptId],
  );
}

/**
 * After an operator's change of a registration (in the same transaction, under
 * lockMachineKey of both keys): a new key starts `unverified` (or `unproven` when it
 * is proven elsewhere); a proven registration that is deactivated or leaves its key
 * releases it; a registration reactivated while another one is proven is `unproven`.
 */
export async function settleKeyStateAfterChange(
  db: Queryable,
  before: MachineRow,
  after: MachineRow,
): Promise<MachineRow> {
  const keyChanged = before.machine_pubkey_hex !== after.machine_pubkey_hex;
  const leaves = keyChanged || (before.is_active && !after.is_active);
  if (leaves && before.key_state === 'proven')
    await releaseMachineKey(db, before.machine_pubkey_hex, before.id);
  let state: KeyState = after.key_state;
  if (keyChanged || (before.key_state === 'proven' && !after.is_active)) state = 'unverified';
  if (state !== 'proven' && (await keyProvenElsewhere(db, after.machine_pubkey_hex, after.id))) {
    state = 'unproven';
  } else if (state === 'unproven' && !(await keyProvenElsewhere(db, after.machine_pubkey_hex, after.id))) {
    state = 'unverified';
  }
  if (state === after.key_state) return after;
  await setKeyState(db, after.id, state);
  return (await getMachine(db, after.id))!;
}

export async function getActiveMachineByWallet(db: Queryable, walletId: string): Promise<MachineRow | null> {
  const { rows } = await db.query<MachineRow>(
    'SELECT * FROM satmachine.dca_machines WHERE wallet_id = $1 AND is_active LIMIT 1',
    [walletId],
  );
  return rows[0] ?? null;
}

/** Every registration of every machine key, active or not (the ingest's key directory). */
export async function listMachineRegistrations(db: Queryable): Promise<MachineRow[]> {
  const { rows } = await db.query<MachineRow>(
    'SELECT * FROM satmachine.dca_machines ORDER BY created_at, id',
  );
  return rows;
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
