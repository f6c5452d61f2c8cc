import type { Queryable } from './pool';
import { buildSet } from './sql';

export interface SuperConfigRow {
  id: 'default';
  platform_cash_in_fee_fraction: string;
  platform_cash_out_fee_fraction: string;
  super_wallet_id: string | null;
  updated_at: Date;
}

export const SUPER_CONFIG_UPDATABLE = [
  'platform_cash_in_fee_fraction',
  'platform_cash_out_fee_fraction',
  'super_wallet_id',
] as const;

export async function getSuperConfig(db: Queryable): Promise<SuperConfigRow> {
  const { rows } = await db.query<SuperConfigRow>(
    "SELECT * FROM satmachine.super_config WHERE id = 'default'",
  );
  return rows[0]!;
}

export async function updateSuperConfig(
  db: Queryable,
  patch: Partial<Record<(typeof SUPER_CONFIG_UPDATABLE)[number], unknown>>,
): Promise<SuperConfigRow> {
  const params: unknown[] = [];
  const set = buildSet(patch, SUPER_CONFIG_UPDATABLE, params);
  if (!set.count) return getSuperConfig(db);
  const { rows } = await db.query<SuperConfigRow>(
    `UPDATE satmachine.super_config SET ${set.clause}, updated_at = now() WHERE id = 'default' RETURNING *`,
    params,
  );
  return rows[0]!;
}
