import type { Pool } from '../../src/db/pool';

/**
 * A fingerprint of every row of every satmachine table, to prove a refused request wrote
 * nothing. api_keys without last_used_at (every request stamps it; a revocation still
 * shows), nip98_seen by count (a replay guard, not tenant data).
 */
export async function fingerprint(pool: Pool): Promise<Record<string, string>> {
  const { rows: tables } = await pool.query<{ table_name: string }>(
    `SELECT table_name FROM information_schema.tables WHERE table_schema = 'satmachine' AND table_type = 'BASE TABLE'
      ORDER BY table_name`,
  );
  const out: Record<string, string> = {};
  for (const { table_name: t } of tables) {
    const sql =
      t === 'nip98_seen'
        ? `SELECT count(*)::text AS f FROM satmachine.${t}`
        : t === 'api_keys'
          ? `SELECT count(*)::text || ':' || COALESCE(md5(string_agg(concat_ws('|', id, user_id, key_hash, revoked_at), ','
                ORDER BY id)), '') AS f FROM satmachine.api_keys`
          : `SELECT count(*)::text || ':' || COALESCE(md5(string_agg(x::text, ',' ORDER BY x::text)), '') AS f
               FROM satmachine.${t} x`;
    out[t] = (await pool.query<{ f: string }>(sql)).rows[0]!.f;
  }
  return out;
}

/** The tables whose fingerprint differs. */
export function changedTables(before: Record<string, string>, after: Record<string, string>): string[] {
  return [...new Set([...Object.keys(before), ...Object.keys(after)])].filter((t) => before[t] !== after[t]);
}
