import type { Queryable } from './pool';
import type { DateRange, ReportScope } from './reports';

export type Period = 'day' | 'month';

export interface VolumeRow {
  period_start: Date;
  currency: string | null;
  tx_type: string | null;
  settlements: number;
  wire_sats: number;
  fee_sats: number;
  fiat_amount: string;
}

export interface RevenueLegRow {
  period_start: Date;
  leg_type: 'super_fee' | 'operator_split';
  status: string;
  label: string | null;
  destination: string | null;
  sats: number;
  legs: number;
}

export interface RevenueFilter extends DateRange {
  period: Period;
  machineId?: string;
}

function scopeSql(scope: ReportScope, f: RevenueFilter): { where: string; params: unknown[] } {
  const params: unknown[] = [f.period, f.from, f.to];
  const where = ['s.created_at >= $2', 's.created_at < $3'];
  if (scope.operatorId !== null) {
    params.push(scope.operatorId);
    where.push(`m.operator_user_id = $${params.length}`);
  }
  if (f.machineId !== undefined) {
    params.push(f.machineId);
    where.push(`s.machine_id = $${params.length}`);
  }
  return { where: where.join(' AND '), params };
}

/**
 * Volume per UTC period, currency and tx type: settlements created in [from, to) that
 * carry an amount and were not rejected (a rejected one moved nothing).
 */
export async function volumeByPeriod(
  db: Queryable,
  scope: ReportScope,
  f: RevenueFilter,
): Promise<VolumeRow[]> {
  const { where, params } = scopeSql(scope, f);
  const { rows } = await db.query<VolumeRow>(
    `SELECT date_trunc($1, s.created_at, 'UTC') AS period_start, s.fiat_code AS currency, s.tx_type,
            count(*)::int AS settlements, COALESCE(sum(s.wire_sats), 0)::bigint AS wire_sats,
            COALESCE(sum(s.fee_sats), 0)::bigint AS fee_sats,
            COALESCE(sum(s.fiat_amount), 0)::numeric(18,2)::text AS fiat_amount
       FROM satmachine.dca_settlements s
       JOIN satmachine.dca_machines m ON m.id = s.machine_id
      WHERE ${where} AND s.status <> 'rejected' AND s.wire_sats IS NOT NULL
      GROUP BY 1, 2, 3
      ORDER BY 1, 2, 3`,
    params,
  );
  return rows;
}

/**
 * Fee legs (super_fee: the platform; operator_split: each commission split, and the
 * remainder kept in the machine wallet when there are no rules) of the settlements
 * created in [from, to), per UTC period of their settlement, type, status and
 * destination. Voided legs (replaced or abandoned) are left out.
 */
export async function revenueLegsByPeriod(
  db: Queryable,
  scope: ReportScope,
  f: RevenueFilter,
): Promise<RevenueLegRow[]> {
  const { where, params } = scopeSql(scope, f);
  const { rows } = await db.query<RevenueLegRow>(
    `SELECT date_trunc($1, s.created_at, 'UTC') AS period_start, l.leg_type, l.status, l.label,
            COALESCE(l.destination_ln_address, l.destination_wallet_id) AS destination,
            sum(l.amount_sats)::bigint AS sats, count(*)::int AS legs
       FROM satmachine.dca_settlements s
       JOIN satmachine.dca_machines m ON m.id = s.machine_id
       JOIN satmachine.dca_payments l ON l.settlement_id = s.id
      WHERE ${where} AND l.leg_type IN ('super_fee', 'operator_split') AND l.status <> 'voided'
      GROUP BY 1, 2, 3, 4, 5
      ORDER BY 1, 2, 4 NULLS FIRST, 5 NULLS FIRST, 3`,
    params,
  );
  return rows;
}
