import type { Pool, Queryable } from './pool';
import { prepared } from './sql';

/**
 * The legs that hold an LP's fiat (SQL condition on satmachine.dca_payments, alias
 * optional): `dca` and `settlement` legs paid or being paid, and `dca` legs that
 * failed. A failed dca leg keeps holding: the LP's cash was dispensed to the
 * customer, the sats are still owed, and an operator retry re-creates the leg with
 * the same amounts — if the failure released the fiat, another settlement could
 * allocate it meanwhile and the retry would spend it twice. A retry or a partial
 * dispense voids the failed leg (voided legs hold nothing).
 *
 * The rule itself is the SQL function `satmachine.lp_leg_holds` (migration 0012): the
 * triggers that maintain `satmachine.lp_balances` and the formula here use the same one.
 */
export function holdsLpFiat(alias = ''): string {
  const a = alias ? `${alias}.` : '';
  return `(${a}client_id IS NOT NULL AND satmachine.lp_leg_holds(${a}leg_type, ${a}status))`;
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
 * failed dca) legs reserve balance. Ordered by enrolment (created_at, id). Run under
 * the machine lock: allocation (the only thing that lowers an available balance) is
 * serialised per machine, and the maintained rows read here are updated in the same
 * transaction as every leg and deposit.
 */
export async function eligibleLpsForMachine(db: Queryable, machineId: string): Promise<EligibleLpRow[]> {
  const { rows } = await db.query<EligibleLpRow>(
    `WITH balances AS (
       SELECT c.id AS client_id, c.user_id, c.username, c.created_at,
              lp.dca_wallet_id, lp.default_dca_mode, lp.autoforward_enabled, lp.autoforward_ln_address,
              COALESCE(b.confirmed_deposits - b.spent_fiat - b.pending_fiat, 0) AS available,
              CASE WHEN lp.default_dca_mode = 'fixed'
                   THEN GREATEST(COALESCE(lp.fixed_mode_daily_limit, 0) - COALESCE(
                          (SELECT sum(y.held_fiat) FROM satmachine.lp_dca_daily y
                            WHERE y.client_id = c.id AND y.day >= (now() AT TIME ZONE 'UTC')::date), 0), 0)
              END AS fixed_room
         FROM satmachine.dca_clients c
         JOIN satmachine.dca_lp lp ON lp.user_id = c.user_id
         LEFT JOIN satmachine.lp_balances b ON b.client_id = c.id
        WHERE c.machine_id = $1 AND c.status = 'active'
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
         COALESCE(b.confirmed_deposits, 0)::numeric(18,2)::text AS confirmed_deposits,
         COALESCE(b.spent_fiat, 0)::numeric(18,2)::text AS spent_fiat,
         COALESCE(b.pending_fiat, 0)::numeric(18,2)::text AS pending_fiat,
         COALESCE(b.confirmed_deposits - b.spent_fiat - b.pending_fiat, 0)::numeric(18,2)::text AS remaining_balance,
         COALESCE(b.total_sats, 0)::bigint AS total_sats,
         COALESCE(b.pending_sats, 0)::bigint AS pending_sats
    FROM satmachine.dca_clients c
    JOIN satmachine.dca_machines m ON m.id = c.machine_id
    LEFT JOIN satmachine.lp_balances b ON b.client_id = c.id`;

/** Balance of one enrolment, scoped to its operator. */
export async function operatorClientBalance(
  db: Queryable,
  operatorId: string,
  clientId: string,
): Promise<ClientBalanceRow | null> {
  const { rows } = await db.query<ClientBalanceRow>(
    prepared('lp-balance-of-client', `${BALANCE_SELECT} WHERE c.id = $1 AND m.operator_user_id = $2`, [
      clientId,
      operatorId,
    ]),
  );
  return rows[0] ?? null;
}

/** Every enrolment of one LP, across operators. */
export async function lpBalances(
  db: Queryable,
  userId: string,
): Promise<(ClientBalanceRow & { machine_name: string; operator_user_id: string })[]> {
  const { rows } = await db.query<ClientBalanceRow & { machine_name: string; operator_user_id: string }>(
    // prepared: every LP's balance page and API read runs it (b.* is BALANCE_SELECT's explicit list)
    prepared(
      'lp-balances-of-user',
      `SELECT b.*, m.name AS machine_name, m.operator_user_id FROM (${BALANCE_SELECT} WHERE c.user_id = $1) b
         JOIN satmachine.dca_machines m ON m.id = b.machine_id
        ORDER BY m.name, b.client_id`,
      [userId],
    ),
  );
  return rows;
}

/**
 * What an enrolment has left to settle, in cents: confirmed deposits − the fiat its
 * legs hold. Read under the machine lock when the answer decides a new leg.
 */
export async function remainingCents(db: Queryable, clientId: string): Promise<number> {
  const { rows } = await db.query<{ remaining_cents: number }>(
    `SELECT COALESCE(((b.confirmed_deposits - b.spent_fiat - b.pending_fiat) * 100)::bigint, 0) AS remaining_cents
       FROM (SELECT $1::text AS client_id) k
       LEFT JOIN satmachine.lp_balances b ON b.client_id = k.client_id`,
    [clientId],
  );
  return rows[0]!.remaining_cents;
}

/** One enrolment whose maintained balance differs from the formula (amounts as text, exact). */
export interface BalanceDifference {
  client_id: string;
  /** null: a per-enrolment figure; a date (YYYY-MM-DD): that UTC day's fiat held by dca legs */
  day: string | null;
  stored: Record<string, string>;
  computed: Record<string, string>;
}

/**
 * Every maintained LP balance row (satmachine.lp_balances, satmachine.lp_dca_daily)
 * compared with the formula over all deposits and legs, in one snapshot. Empty when
 * they agree. A missing row counts as zeros.
 */
export async function lpBalanceDifferences(pool: Pool): Promise<BalanceDifference[]> {
  const client = await pool.connect();
  try {
    // one snapshot for both comparisons; a full scan may outlast the pool's statement_timeout
    await client.query('BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY');
    await client.query('SET LOCAL statement_timeout = 0');
    const { rows: perClient } = await client.query<BalanceDifference>(
      `WITH deposits AS (
         SELECT client_id, sum(amount) AS confirmed_deposits FROM satmachine.dca_deposits
          WHERE status = 'confirmed' GROUP BY client_id
       ), legs AS (
         SELECT client_id,
                sum(amount_fiat) FILTER (WHERE status = 'completed') AS spent_fiat,
                sum(amount_fiat) FILTER (WHERE status <> 'completed') AS pending_fiat,
                sum(amount_sats) FILTER (WHERE status = 'completed') AS total_sats,
                sum(amount_sats) FILTER (WHERE status <> 'completed') AS pending_sats
           FROM satmachine.dca_payments WHERE ${holdsLpFiat()} GROUP BY client_id
       ), computed AS (
         SELECT c.id AS client_id,
                COALESCE(d.confirmed_deposits, 0)::numeric(18,2) AS confirmed_deposits,
                COALESCE(l.spent_fiat, 0)::numeric(18,2) AS spent_fiat,
                COALESCE(l.pending_fiat, 0)::numeric(18,2) AS pending_fiat,
                COALESCE(l.total_sats, 0)::bigint AS total_sats,
                COALESCE(l.pending_sats, 0)::bigint AS pending_sats
           FROM satmachine.dca_clients c
           LEFT JOIN deposits d ON d.client_id = c.id
           LEFT JOIN legs l ON l.client_id = c.id
       ), stored AS (
         SELECT client_id, confirmed_deposits, spent_fiat, pending_fiat, total_sats, pending_sats
           FROM satmachine.lp_balances
       ), zero AS (
         SELECT 0::numeric(18,2) AS confirmed_deposits, 0::numeric(18,2) AS spent_fiat,
                0::numeric(18,2) AS pending_fiat, 0::bigint AS total_sats, 0::bigint AS pending_sats
       )
       SELECT COALESCE(c.client_id, s.client_id) AS client_id, NULL::text AS day,
              jsonb_build_object(
                'confirmed_deposits', COALESCE(s.confirmed_deposits, z.confirmed_deposits)::text,
                'spent_fiat', COALESCE(s.spent_fiat, z.spent_fiat)::text,
                'pending_fiat', COALESCE(s.pending_fiat, z.pending_fiat)::text,
                'total_sats', COALESCE(s.total_sats, z.total_sats)::text,
                'pending_sats', COALESCE(s.pending_sats, z.pending_sats)::text) AS stored,
              jsonb_build_object(
                'confirmed_deposits', COALESCE(c.confirmed_deposits, z.confirmed_deposits)::text,
                'spent_fiat', COALESCE(c.spent_fiat, z.spent_fiat)::text,
                'pending_fiat', COALESCE(c.pending_fiat, z.pending_fiat)::text,
                'total_sats', COALESCE(c.total_sats, z.total_sats)::text,
                'pending_sats', COALESCE(c.pending_sats, z.pending_sats)::text) AS computed
         FROM computed c FULL JOIN stored s ON s.client_id = c.client_id CROSS JOIN zero z
        WHERE (COALESCE(s.confirmed_deposits, 0), COALESCE(s.spent_fiat, 0), COALESCE(s.pending_fiat, 0),
               COALESCE(s.total_sats, 0), COALESCE(s.pending_sats, 0))
              IS DISTINCT FROM
              (COALESCE(c.confirmed_deposits, 0), COALESCE(c.spent_fiat, 0), COALESCE(c.pending_fiat, 0),
               COALESCE(c.total_sats, 0), COALESCE(c.pending_sats, 0))
              -- a row for an enrolment that does not exist is a difference too
           OR c.client_id IS NULL
        ORDER BY 1`,
    );
    const { rows: perDay } = await client.query<BalanceDifference>(
      `WITH computed AS (
         SELECT client_id, (created_at AT TIME ZONE 'UTC')::date AS day, sum(amount_fiat) AS held_fiat
           FROM satmachine.dca_payments WHERE leg_type = 'dca' AND ${holdsLpFiat()} GROUP BY 1, 2
       )
       SELECT COALESCE(c.client_id, s.client_id) AS client_id, COALESCE(c.day, s.day)::text AS day,
              jsonb_build_object('held_fiat', COALESCE(s.held_fiat, 0)::numeric(18,2)::text) AS stored,
              jsonb_build_object('held_fiat', COALESCE(c.held_fiat, 0)::numeric(18,2)::text) AS computed
         FROM computed c FULL JOIN satmachine.lp_dca_daily s ON s.client_id = c.client_id AND s.day = c.day
        WHERE COALESCE(s.held_fiat, 0) <> COALESCE(c.held_fiat, 0)
        ORDER BY 1, 2`,
    );
    await client.query('COMMIT');
    return [...perClient, ...perDay];
  } catch (err) {
    await client.query('ROLLBACK').catch(() => undefined);
    throw err;
  } finally {
    client.release();
  }
}

/**
 * Rebuilds every maintained LP balance row from the formula (`satmachine.lp_balances_rebuild`,
 * the migration's backfill), under the locks migration 0012 takes: deposit and leg writers
 * wait until it commits (seconds over a million legs).
 */
export async function rebuildLpBalances(pool: Pool): Promise<void> {
  const client = await pool.connect();
  try {
    await client.query('BEGIN');
    await client.query('SET LOCAL statement_timeout = 0');
    await client.query(
      'LOCK TABLE satmachine.dca_clients, satmachine.dca_deposits, satmachine.dca_payments IN SHARE ROW EXCLUSIVE MODE',
    );
    await client.query('SELECT satmachine.lp_balances_rebuild()');
    await client.query('COMMIT');
  } catch (err) {
    await client.query('ROLLBACK').catch(() => undefined);
    throw err;
  } finally {
    client.release();
  }
}

/** How many maintained rows a reconciliation compared (for its report). */
export async function lpBalanceRowCounts(db: Queryable): Promise<{ enrolments: number; days: number }> {
  const { rows } = await db.query<{ enrolments: number; days: number }>(
    `SELECT (SELECT count(*) FROM satmachine.lp_balances)::int AS enrolments,
            (SELECT count(*) FROM satmachine.lp_dca_daily)::int AS days`,
  );
  return rows[0]!;
}

/** The enrolment an operator balance-settle acts on: its machine, wallet and operator. */
export async function enrolmentForSettle(
  db: Queryable,
  clientId: string,
): Promise<{ machine_id: string; wallet_id: string; operator_user_id: string } | null> {
  const { rows } = await db.query<{ machine_id: string; wallet_id: string; operator_user_id: string }>(
    `SELECT c.machine_id, m.wallet_id, m.operator_user_id FROM satmachine.dca_clients c
       JOIN satmachine.dca_machines m ON m.id = c.machine_id WHERE c.id = $1`,
    [clientId],
  );
  return rows[0] ?? null;
}
