import type { Queryable } from './pool';
import { buildSet } from './sql';

export interface LpPreferencesRow {
  user_id: string;
  dca_wallet_id: string;
  default_dca_mode: 'flow' | 'fixed';
  fixed_mode_daily_limit: string | null;
  autoforward_ln_address: string | null;
  autoforward_enabled: boolean;
  created_at: Date;
  updated_at: Date;
}

export const LP_UPDATABLE = [
  'dca_wallet_id',
  'default_dca_mode',
  'fixed_mode_daily_limit',
  'autoforward_ln_address',
  'autoforward_enabled',
] as const;

export type LpPatch = Partial<Record<(typeof LP_UPDATABLE)[number], unknown>>;

export async function getLpPreferences(db: Queryable, userId: string): Promise<LpPreferencesRow | null> {
  const { rows } = await db.query<LpPreferencesRow>('SELECT * FROM satmachine.dca_lp WHERE user_id = $1', [
    userId,
  ]);
  return rows[0] ?? null;
}

export async function insertLpPreferences(
  db: Queryable,
  userId: string,
  p: { dca_wallet_id: string } & LpPatch,
): Promise<LpPreferencesRow> {
  const { rows } = await db.query<LpPreferencesRow>(
    `INSERT INTO satmachine.dca_lp (user_id, dca_wallet_id, default_dca_mode, fixed_mode_daily_limit,
                                    autoforward_ln_address, autoforward_enabled)
     VALUES ($1, $2, COALESCE($3, 'flow'), $4, $5, COALESCE($6, false)) RETURNING *`,
    [
      userId,
      p.dca_wallet_id,
      p.default_dca_mode ?? null,
      p.fixed_mode_daily_limit ?? null,
      p.autoforward_ln_address ?? null,
      p.autoforward_enabled ?? null,
    ],
  );
  return rows[0]!;
}

export async function updateLpPreferences(
  db: Queryable,
  userId: string,
  patch: LpPatch,
): Promise<LpPreferencesRow | null> {
  const params: unknown[] = [];
  const set = buildSet(patch, LP_UPDATABLE, params);
  if (!set.count) return getLpPreferences(db, userId);
  params.push(userId);
  const { rows } = await db.query<LpPreferencesRow>(
    `UPDATE satmachine.dca_lp SET ${set.clause}, updated_at = now() WHERE user_id = $${params.length} RETURNING *`,
    params,
  );
  return rows[0] ?? null;
}

/** Current payout destinations of the LPs behind these enrolments. */
export async function lpDestinations(
  db: Queryable,
  clientIds: readonly string[],
): Promise<
  Map<string, Pick<LpPreferencesRow, 'dca_wallet_id' | 'autoforward_enabled' | 'autoforward_ln_address'>>
> {
  if (!clientIds.length) return new Map();
  const { rows } = await db.query<{
    client_id: string;
    dca_wallet_id: string;
    autoforward_enabled: boolean;
    autoforward_ln_address: string | null;
  }>(
    `SELECT c.id AS client_id, lp.dca_wallet_id, lp.autoforward_enabled, lp.autoforward_ln_address
       FROM satmachine.dca_clients c JOIN satmachine.dca_lp lp ON lp.user_id = c.user_id
      WHERE c.id = ANY($1::text[])`,
    [clientIds],
  );
  return new Map(rows.map((r) => [r.client_id, r]));
}
