import type { Queryable } from './pool';
import { holdsLpFiat } from './lpBalances';
import type { DateRange } from './reports';
import type { Period } from './reportsRevenue';

/** Whose enrolments a statement covers: an LP's own, an operator's machines', or any (the platform). */
export interface StatementScope {
  operatorId?: string;
  lpUserId?: string;
  clientId?: string;
  machineId?: string;
}

export interface StatementEnrolmentRow {
  client_id: string;
  machine_id: string;
  machine_name: string;
  operator_user_id: string;
  user_id: string;
  lp_name: string;
  username: string | null;
  currency: string;
}

/** Sums per enrolment and period; period_start null = everything before `from` (the opening). */
export interface StatementBucketRow {
  client_id: string;
  period_start: Date | null;
  kind: 'deposit' | 'dca' | 'settlement' | 'autoforward';
  fiat: string;
  sats: number;
  count: number;
}

export interface StatementPendingRow {
  client_id: string;
  pending_fiat: string;
  pending_sats: number;
}

/** The enrolments a statement covers, by machine name then id. */
export async function statementEnrolments(
  db: Queryable,
  scope: StatementScope,
  limit: number,
): Promise<StatementEnrolmentRow[]> {
  const params: unknown[] = [];
  const where: string[] = [];
  for (const [col, v] of [
    ['m.operator_user_id', scope.operatorId],
    ['c.user_id', scope.lpUserId],
    ['c.id', scope.clientId],
    ['c.machine_id', scope.machineId],
  ] as const) {
    if (v === undefined) continue;
    params.push(v);
    where.push(`${col} = $${params.length}`);
  }
  params.push(limit);
  const { rows } = await db.query<StatementEnrolmentRow>(
    `SELECT c.id AS client_id, c.machine_id, m.name AS machine_name, m.operator_user_id, c.user_id,
            u.name AS lp_name, c.username, m.fiat_code AS currency
       FROM satmachine.dca_clients c
       JOIN satmachine.dca_machines m ON m.id = c.machine_id
       JOIN satmachine.users u ON u.id = c.user_id
      WHERE ${where.length ? where.join(' AND ') : 'true'}
      ORDER BY m.name, c.id
      LIMIT $${params.length}`,
    params,
  );
  return rows;
}

/**
 * Confirmed deposits (by confirmed_at) and completed payouts (by completed_at) of the
 * enrolments up to `to`, per UTC period from `from`; what came before `from` in one
 * opening bucket (period_start null).
 */
export async function statementBuckets(
  db: Queryable,
  clientIds: string[],
  range: DateRange & { period: Period },
): Promise<StatementBucketRow[]> {
  const bucket = (at: string) => `CASE WHEN ${at} < $3 THEN NULL ELSE date_trunc($2, ${at}, 'UTC') END`;
  const { rows } = await db.query<StatementBucketRow>(
    `SELECT d.client_id, ${bucket('COALESCE(d.confirmed_at, d.created_at)')} AS period_start,
            'deposit' AS kind, sum(d.amount)::numeric(18,2)::text AS fiat, 0::bigint AS sats, count(*)::int AS count
       FROM satmachine.dca_deposits d
      WHERE d.client_id = ANY($1) AND d.status = 'confirmed' AND COALESCE(d.confirmed_at, d.created_at) < $4
      GROUP BY 1, 2
     UNION ALL
     SELECT l.client_id, ${bucket('l.completed_at')} AS period_start, l.leg_type AS kind,
            sum(l.amount_fiat)::numeric(18,2)::text AS fiat, sum(l.amount_sats)::bigint AS sats, count(*)::int AS count
       FROM satmachine.dca_payments l
      WHERE l.client_id = ANY($1) AND l.status = 'completed'
        AND l.leg_type IN ('dca', 'settlement', 'autoforward') AND l.completed_at < $4
      GROUP BY 1, 2, 3`,
    [clientIds, range.period, range.from, range.to],
  );
  return rows;
}

/** Fiat held now by legs not paid yet (pending, or failed dca awaiting the operator): as the balance endpoint counts it. */
export async function statementPending(db: Queryable, clientIds: string[]): Promise<StatementPendingRow[]> {
  const { rows } = await db.query<StatementPendingRow>(
    `SELECT client_id, sum(amount_fiat)::numeric(18,2)::text AS pending_fiat, sum(amount_sats)::bigint AS pending_sats
       FROM satmachine.dca_payments
      WHERE client_id = ANY($1) AND ${holdsLpFiat()} AND status <> 'completed'
      GROUP BY client_id`,
    [clientIds],
  );
  return rows;
}
