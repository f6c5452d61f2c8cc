import type { Logger } from '../logger';
import { secretContext, type SecretBox } from '../security/secretBox';
import type { Queryable } from './pool';

/** Every column that holds a SecretBox value, with its row key. */
export const SEALED_COLUMNS = [
  { table: 'users', key: 'id', column: 'nostr_secret_enc' },
  { table: 'lnbits_wallets', key: 'wallet_id', column: 'admin_key_enc' },
  { table: 'lnbits_wallets', key: 'wallet_id', column: 'invoice_key_enc' },
  { table: 'alert_webhooks', key: 'id', column: 'secret_enc' },
] as const;

export interface ResealResult {
  resealed: number;
  /** v1 values the key cannot open (sealed under another SATMACHINE_SECRET_KEY): left as they are */
  unopenable: { table: string; column: string; id: string }[];
}

/**
 * Re-seals every v1 value (no row binding) as v2, bound to its row. Run by
 * `satmachine migrate` and `satmachine start` after the migrations. Each row is
 * updated only if it still holds the value read (compare-and-set): a concurrent
 * write (which seals v2 itself) wins. Running it again is a no-op.
 */
export async function resealLegacySecrets(
  db: Queryable,
  box: SecretBox,
  log?: Logger,
): Promise<ResealResult> {
  const out: ResealResult = { resealed: 0, unopenable: [] };
  for (const { table, key, column } of SEALED_COLUMNS) {
    const { rows } = await db.query<{ id: string; sealed: string }>(
      `SELECT ${key} AS id, ${column} AS sealed FROM satmachine.${table} WHERE ${column} LIKE 'v1.%'`,
    );
    for (const r of rows) {
      const context = secretContext(table, column, r.id);
      let plain: string;
      try {
        plain = box.open(r.sealed, context);
      } catch (err) {
        out.unopenable.push({ table, column, id: r.id });
        log?.warn({ table, column, id: r.id, err: (err as Error).message }, 'cannot re-seal a stored secret');
        continue;
      }
      const { rowCount } = await db.query(
        `UPDATE satmachine.${table} SET ${column} = $3 WHERE ${key} = $1 AND ${column} = $2`,
        [r.id, r.sealed, box.seal(plain, context)],
      );
      out.resealed += rowCount ?? 0;
    }
  }
  if (out.resealed)
    log?.info({ resealed: out.resealed }, 'stored secrets re-sealed bound to their rows (v2)');
  return out;
}

/** How many stored values are still v1 (for tests and the operator). */
export async function legacySecretCount(db: Queryable): Promise<number> {
  let n = 0;
  for (const { table, column } of SEALED_COLUMNS) {
    const { rows } = await db.query<{ n: number }>(
      `SELECT count(*)::int AS n FROM satmachine.${table} WHERE ${column} LIKE 'v1.%'`,
    );
    n += rows[0]!.n;
  }
  return n;
}
