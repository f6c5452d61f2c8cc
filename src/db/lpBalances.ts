import type { Queryable } from './pool';

/**
 * The legs that hold an LP's fiat (SQL condition on satmachine.dca_payments, alias
 * optional): `dca` and `settlement` legs paid or being paid, and `dca` legs that
 * failed. A failed dca leg keeps holding: the LP's cash was dispensed to the
 * customer, the sats are still owed, and an operator retry re-creates the leg with
 * the same amounts — if the failure released the fiat, another settlement could
 * allocate it meanwhile and the retry would spend it twice. A retry or a partial
 * dispense voids the failed leg (voided legs hold nothing).
 */
export function holdsLpFiat(alias = ''): string {
  const a = alias ? `${alias}.` : '';
  return `(${a}leg_type IN ('dca', 'settlement') AND (${a}status IN ('pending', 'completed') OR (${a}leg_type = 'dca' AND ${a}status = 'failed')))`;
}

export interface EligibleLpRow {
  client_id: string;
  user_id: string;
  username: string | null;
  created_at: Date;
  dca_wallet_id: string;
  default_dca_mode: 'flow' | 'fixed';
  autoforward_enabled: boolean;
  autoforward_ln_address: string | null;
  /** confirmed deposits − fiat the LP's legs hold (holdsLpFiat), in cents */
  available_cents: number;
}

/**
 * LPs a cash-out at this machine distributes to (SPEC §4 step 5): active
 * enrolments whose LP has preferences; flow mode takes the whole available balance,
 * fixed mode at most what its daily limit leaves for today (UTC). Pending (and
 * failed dca) legs reserve balance. Ordered by enrolment (created_at, id). Run under the machine lock.
 */
export async function eligibleLpsForMachine(db: Queryable, machineId: string): Promise<EligibleLpRow[]> {
  const { rows } = await db.query<EligibleLpRow>(
    `WITH enrolled AS (
       SELECT c.id, c.user_id, c.username, c.created_at FROM satmachine.dca_clients c
        WHERE c.machine_id = $1 AND c.status = 'active'
     ),
     deposits AS (
       SELECT d.client_id, sum(d.amount) AS total FROM satmachine.dca_deposits d
        WHERE d.client_id IN (SELECT id FROM enrolled) AND d.status = 'confirmed'
        GROUP BY d.client_id
     ),
     spent AS (
       SELECT p.client_id,
              sum(p.amount_fiat) AS total,
              sum(p.amount_fiat) FILTER (
                WHERE p.leg_type = 'dca' AND p.created_at >= date_trunc('day', now() AT TIME ZONE 'UTC') AT TIME ZONE 'UTC'
              ) AS today
         FROM satmachine.dca_payments p
        WHERE p.client_id IN (SELECT id FROM enrolled)
          AND ${holdsLpFiat('p')}
        GROUP BY p.client_id
     ),
     balances AS (
       SELECT e.id AS client_id, e.user_id, e.username, e.created_at,
              lp.dca_wallet_id, lp.default_dca_mode, lp.autoforward_enabled, lp.autoforward_ln_address,
              COALESCE(d.total, 0) - COALESCE(s.total, 0) AS available,
              CASE WHEN lp.default_dca_mode = 'fixed'
                   THEN GREATEST(COALESCE(lp.fixed_mode_daily_limit, 0) - COALESCE(s.today, 0), 0)
              END AS fixed_room
         FROM enrolled e
         JOIN satmachine.dca_lp lp ON lp.user_id = e.user_id
         LEFT JOIN deposits d ON d.client_id = e.id
         LEFT JOIN spent s ON s.client_id = e.id
     )
     SELECT client_id, user_id, username, created_at, dca_wallet_id, default_dca_mode,
            autoforward_enabled, autoforward_ln_address,
            (LEAST(available, COALESCE(fixed_room, available)) * 100)::bigint AS available_cents
       FROM balances
      WHERE LEAST(available, COALESCE(fixed_room, available)) > 0
      ORDER BY created_at, client_id`,
    [machineId],
  );
  return rows;
}

export interface ClientBalanceRow {
  client_id: string;
  machine_id: string;
  user_id: string;
  username: string | null;
  currency: string;
  confirmed_deposits: string;
  spent_fiat: string;
  pending_fiat: string;
  remaining_balance: string;
  total_sats: number;
  pending_sats: number;
}

const BALANCE_SELECT = `
  SELECT c.id AS client_id, c.machine_id, c.user_id, c.username, m.fiat_code AS currency,
         COALESCE(d.total, 0)::numeric(18,2)::text AS confirmed_deposits,
         COALESCE(p.spent, 0)::numeric(18,2)::text AS spent_fiat,
         COALESCE(p.pending, 0)::numeric(18,2)::text AS pending_fiat,
         (COALESCE(d.total, 0) - COALESCE(p.spent, 0) - COALESCE(p.pending, 0))::numeric(18,2)::text AS remaining_balance,
         COALESCE(p.sats, 0)::bigint AS total_sats,
         COALESCE(p.pending_sats, 0)::bigint AS pending_sats
    FROM satmachine.dca_clients c
    JOIN satmachine.dca_machines m ON m.id = c.machine_id
    LEFT JOIN LATERAL (
      SELECT sum(amount) AS total FROM satmachine.dca_deposits
       WHERE client_id = c.id AND status = 'confirmed'
    ) d ON true
    LEFT JOIN LATERAL (
      SELECT sum(amount_fiat) FILTER (WHERE status = 'completed') AS spent,
             sum(amount_fiat) FILTER (WHERE status <> 'completed') AS pending,
             sum(amount_sats) FILTER (WHERE status = 'completed') AS sats,
             sum(amount_sats) FILTER (WHERE status <> 'completed') AS pending_sats
        FROM satmachine.dca_payments
       WHERE client_id = c.id AND ${holdsLpFiat()}
    ) p ON true`;

/** Balance of one enrolment, scoped to its operator. */
export async function operatorClientBalance(
  db: Queryable,
  operatorId: string,
  clientId: string,
): Promise<ClientBalanceRow | null> {
  const { rows } = await db.query<ClientBalanceRow>(
    `${BALANCE_SELECT} WHERE c.id = $1 AND m.operator_user_id = $2`,
    [clientId, operatorId],
  );
  return rows[0] ?? null;
}

/** Every enrolment of one LP, across operators. */
export async function lpBalances(
  db: Queryable,
  userId: string,
): Promise<(ClientBalanceRow & { machine_name: string; operator_user_id: string })[]> {
  const { rows } = await db.query<ClientBalanceRow & { machine_name: string; operator_user_id: string }>(
    `SELECT b.*, m.name AS machine_name, m.operator_user_id FROM (${BALANCE_SELECT} WHERE c.user_id = $1) b
       JOIN satmachine.dca_machines m ON m.id = b.machine_id
      ORDER BY m.name, b.client_id`,
    [userId],
  );
  return rows;
}
