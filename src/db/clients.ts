import type { Queryable } from './pool';
import { newId } from './ids';
import { buildSet } from './sql';

export interface ClientRow {
  id: string;
  machine_id: string;
  user_id: string;
  username: string | null;
  status: 'active' | 'inactive';
  created_at: Date;
  updated_at: Date;
  /** derived: the LP has set its preferences (a payout wallet) */
  lp_onboarded: boolean;
}

const SELECT = `
  SELECT c.id, c.machine_id, c.user_id, c.username, c.status, c.created_at, c.updated_at,
         (lp.user_id IS NOT NULL) AS lp_onboarded
    FROM satmachine.dca_clients c
    LEFT JOIN satmachine.dca_lp lp ON lp.user_id = c.user_id`;

export const CLIENT_UPDATABLE = ['username', 'status'] as const;

export async function insertClient(
  db: Queryable,
  machineId: string,
  userId: string,
  username: string | null,
): Promise<ClientRow> {
  const id = newId();
  await db.query(
    'INSERT INTO satmachine.dca_clients (id, machine_id, user_id, username) VALUES ($1, $2, $3, $4)',
    [id, machineId, userId, username],
  );
  return (await getClient(db, id))!;
}

export async function getClient(db: Queryable, id: string): Promise<ClientRow | null> {
  const { rows } = await db.query<ClientRow>(`${SELECT} WHERE c.id = $1`, [id]);
  return rows[0] ?? null;
}

/** Tenant-scoped: an enrolment at another operator's machine is not found. */
export async function getOperatorClient(
  db: Queryable,
  operatorId: string,
  id: string,
): Promise<ClientRow | null> {
  const { rows } = await db.query<ClientRow>(
    `${SELECT} JOIN satmachine.dca_machines m ON m.id = c.machine_id WHERE c.id = $1 AND m.operator_user_id = $2`,
    [id, operatorId],
  );
  return rows[0] ?? null;
}

export async function listMachineClients(db: Queryable, machineId: string): Promise<ClientRow[]> {
  const { rows } = await db.query<ClientRow>(
    `${SELECT} WHERE c.machine_id = $1 ORDER BY c.created_at DESC, c.id`,
    [machineId],
  );
  return rows;
}

export async function listOperatorClients(db: Queryable, operatorId: string): Promise<ClientRow[]> {
  const { rows } = await db.query<ClientRow>(
    `${SELECT} JOIN satmachine.dca_machines m ON m.id = c.machine_id WHERE m.operator_user_id = $1
      ORDER BY c.created_at DESC, c.id`,
    [operatorId],
  );
  return rows;
}

/** An LP's enrolments across every operator, with the machine they are at. */
export async function listUserEnrolments(
  db: Queryable,
  userId: string,
): Promise<
  (ClientRow & { machine_name: string; fiat_code: string; operator_user_id: string; operator_name: string })[]
> {
  const { rows } = await db.query<
    ClientRow & { machine_name: string; fiat_code: string; operator_user_id: string; operator_name: string }
  >(
    `${SELECT.replace('SELECT c.id', 'SELECT m.name AS machine_name, m.fiat_code, m.operator_user_id, u.name AS operator_name, c.id')}
       JOIN satmachine.dca_machines m ON m.id = c.machine_id
       JOIN satmachine.users u ON u.id = m.operator_user_id
      WHERE c.user_id = $1 ORDER BY c.created_at DESC, c.id`,
    [userId],
  );
  return rows;
}

export async function updateClient(
  db: Queryable,
  id: string,
  patch: Partial<Record<(typeof CLIENT_UPDATABLE)[number], unknown>>,
): Promise<ClientRow | null> {
  const params: unknown[] = [];
  const set = buildSet(patch, CLIENT_UPDATABLE, params);
  if (set.count) {
    params.push(id);
    await db.query(
      `UPDATE satmachine.dca_clients SET ${set.clause}, updated_at = now() WHERE id = $${params.length}`,
      params,
    );
  }
  return getClient(db, id);
}

export async function clientHasMoney(db: Queryable, id: string): Promise<boolean> {
  const { rows } = await db.query<{ used: boolean }>(
    `SELECT EXISTS (SELECT 1 FROM satmachine.dca_deposits WHERE client_id = $1)
         OR EXISTS (SELECT 1 FROM satmachine.dca_payments WHERE client_id = $1) AS used`,
    [id],
  );
  return rows[0]!.used;
}

export async function deleteClient(db: Queryable, id: string): Promise<void> {
  await db.query('DELETE FROM satmachine.dca_clients WHERE id = $1', [id]);
}
