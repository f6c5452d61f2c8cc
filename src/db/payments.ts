import type { Queryable } from './pool';
import type { LegRow } from './legs';

/** An operator's legs, newest first, optionally of one type / status / settlement. */
export async function listOperatorLegs(
  db: Queryable,
  operatorId: string,
  f: { leg_type?: string; status?: string; settlement_id?: string; limit: number },
): Promise<LegRow[]> {
  const params: unknown[] = [operatorId];
  const where = ['operator_user_id = $1'];
  for (const [col, v] of [
    ['leg_type', f.leg_type],
    ['status', f.status],
    ['settlement_id', f.settlement_id],
  ] as const) {
    if (v === undefined) continue;
    params.push(v);
    where.push(`${col} = $${params.length}`);
  }
  params.push(f.limit);
  const { rows } = await db.query<LegRow>(
    `SELECT * FROM satmachine.dca_payments WHERE ${where.join(' AND ')} ORDER BY created_at DESC, id DESC LIMIT $${params.length}`,
    params,
  );
  return rows;
}

export interface LpPayoutRow {
  id: string;
  leg_type: string;
  client_id: string;
  machine_id: string;
  machine_name: string;
  settlement_id: string | null;
  amount_sats: number;
  amount_fiat: string;
  currency: string;
  exchange_rate: string | null;
  external_payment_hash: string | null;
  destination: string | null;
  completed_at: Date;
}

/**
 * An LP's payouts across every operator: one row per completed dca / settlement /
 * autoforward leg, newest first, keyset-paginated on (completed_at, id).
 */
export async function listLpPayouts(
  db: Queryable,
  userId: string,
  page: { limit: number | null; before?: { at: Date; id: string } },
): Promise<LpPayoutRow[]> {
  const params: unknown[] = [userId];
  let cursor = '';
  if (page.before) {
    params.push(page.before.at, page.before.id);
    cursor = `AND (p.completed_at, p.id) < ($2, $3)`;
  }
  let limit = '';
  if (page.limit !== null) {
    params.push(page.limit);
    limit = `LIMIT $${params.length}`;
  }
  const { rows } = await db.query<LpPayoutRow>(
    `SELECT p.id, p.leg_type, p.client_id, p.machine_id, m.name AS machine_name, p.settlement_id, p.amount_sats,
            p.amount_fiat, m.fiat_code AS currency, p.exchange_rate, p.external_payment_hash,
            COALESCE(p.destination_ln_address, p.destination_wallet_id) AS destination, p.completed_at
       FROM satmachine.dca_payments p
       JOIN satmachine.dca_clients c ON c.id = p.client_id
       JOIN satmachine.dca_machines m ON m.id = p.machine_id
      WHERE c.user_id = $1 AND p.status = 'completed' AND p.leg_type IN ('dca', 'settlement', 'autoforward') ${cursor}
      ORDER BY p.completed_at DESC, p.id DESC ${limit}`,
    params,
  );
  return rows;
}
