import type { Queryable } from './pool';
import { newId } from './ids';

export type Role = 'super' | 'operator' | 'lp';

export interface UserRow {
  id: string;
  role: Role;
  name: string;
  nostr_pubkey: string | null;
  nostr_secret_enc: string | null;
  created_at: Date;
}

export async function insertUser(
  db: Queryable,
  u: {
    role: Role;
    name: string;
    nostr_pubkey?: string | null;
    nostr_secret_enc?: string | null;
    id?: string;
  },
): Promise<UserRow> {
  const { rows } = await db.query<UserRow>(
    `INSERT INTO satmachine.users (id, role, name, nostr_pubkey, nostr_secret_enc)
     VALUES ($1, $2, $3, $4, $5) RETURNING *`,
    [u.id ?? newId(), u.role, u.name, u.nostr_pubkey ?? null, u.nostr_secret_enc ?? null],
  );
  return rows[0]!;
}

export async function getUser(db: Queryable, id: string): Promise<UserRow | null> {
  const { rows } = await db.query<UserRow>('SELECT * FROM satmachine.users WHERE id = $1', [id]);
  return rows[0] ?? null;
}

export async function getUserByPubkey(db: Queryable, pubkeyHex: string): Promise<UserRow | null> {
  const { rows } = await db.query<UserRow>('SELECT * FROM satmachine.users WHERE nostr_pubkey = $1', [
    pubkeyHex,
  ]);
  return rows[0] ?? null;
}

export async function countUsers(db: Queryable, role?: Role): Promise<number> {
  const { rows } = await db.query<{ n: number }>(
    'SELECT count(*)::int AS n FROM satmachine.users WHERE $1::text IS NULL OR role = $1',
    [role ?? null],
  );
  return rows[0]!.n;
}

export async function listUsers(db: Queryable): Promise<UserRow[]> {
  const { rows } = await db.query<UserRow>('SELECT * FROM satmachine.users ORDER BY created_at, id');
  return rows;
}

/** Operators whose Nostr secret we hold: the `#p` filter of the ingest and the keys that decrypt. */
export async function listOperatorKeys(
  db: Queryable,
): Promise<{ id: string; nostr_pubkey: string; nostr_secret_enc: string }[]> {
  const { rows } = await db.query<{ id: string; nostr_pubkey: string; nostr_secret_enc: string }>(
    `SELECT id, nostr_pubkey, nostr_secret_enc FROM satmachine.users
      WHERE role = 'operator' AND nostr_pubkey IS NOT NULL AND nostr_secret_enc IS NOT NULL
      ORDER BY created_at`,
  );
  return rows;
}

export interface ApiKeyRow {
  id: string;
  user_id: string;
  key_prefix: string;
  created_at: Date;
  last_used_at: Date | null;
  revoked_at: Date | null;
}

export async function insertApiKey(
  db: Queryable,
  userId: string,
  keyHash: string,
  prefix: string,
): Promise<ApiKeyRow> {
  const { rows } = await db.query<ApiKeyRow>(
    `INSERT INTO satmachine.api_keys (id, user_id, key_hash, key_prefix) VALUES ($1, $2, $3, $4)
     RETURNING id, user_id, key_prefix, created_at, last_used_at, revoked_at`,
    [newId(), userId, keyHash, prefix],
  );
  return rows[0]!;
}

/** The user behind an active key, and the key's id (a pure read: see touchApiKeys). */
export async function findUserByApiKeyHash(
  db: Queryable,
  keyHash: string,
): Promise<(UserRow & { api_key_id: string }) | null> {
  const { rows } = await db.query<UserRow & { api_key_id: string }>(
    `SELECT u.*, k.id AS api_key_id FROM satmachine.api_keys k JOIN satmachine.users u ON u.id = k.user_id
      WHERE k.key_hash = $1 AND k.revoked_at IS NULL`,
    [keyHash],
  );
  return rows[0] ?? null;
}

/**
 * Stamps `last_used_at` of these keys (one statement for a batch), each at most once a
 * minute: a stamp less than a minute older than the new one is left as it is.
 */
export async function touchApiKeys(
  db: Queryable,
  keyIds: readonly string[],
  at: readonly Date[],
): Promise<void> {
  if (!keyIds.length) return;
  await db.query(
    `UPDATE satmachine.api_keys a SET last_used_at = u.at
       FROM unnest($1::text[], $2::timestamptz[]) AS u (id, at)
      WHERE a.id = u.id AND (a.last_used_at IS NULL OR a.last_used_at < u.at - interval '1 minute')`,
    [keyIds, at],
  );
}

/** A user's keys, newest first (active and revoked). */
export async function listApiKeys(db: Queryable, userId: string): Promise<ApiKeyRow[]> {
  const { rows } = await db.query<ApiKeyRow>(
    `SELECT id, user_id, key_prefix, created_at, last_used_at, revoked_at FROM satmachine.api_keys
      WHERE user_id = $1 ORDER BY created_at DESC, id`,
    [userId],
  );
  return rows;
}

/**
 * Revokes one of a user's keys. Refuses the user's last active key unless
 * `allowLast` (the platform locking out a compromised account).
 */
export async function revokeApiKey(
  db: Queryable,
  userId: string,
  keyId: string,
  allowLast: boolean,
): Promise<'revoked' | 'not_found' | 'last_key'> {
  const { rows } = await db.query<{ outcome: 'revoked' | 'not_found' | 'last_key' }>(
    `WITH active AS (
       -- every active key of the user, locked: two revocations at once cannot both take the last two
       SELECT id FROM satmachine.api_keys WHERE user_id = $1 AND revoked_at IS NULL FOR UPDATE
     ), target AS (
       SELECT id FROM active WHERE id = $2
     ), others AS (
       SELECT count(*) AS n FROM active WHERE id <> $2
     ), done AS (
       UPDATE satmachine.api_keys SET revoked_at = now()
        WHERE id IN (SELECT id FROM target) AND ($3 OR (SELECT n FROM others) > 0)
        RETURNING id
     )
     SELECT CASE WHEN NOT EXISTS (SELECT 1 FROM target) THEN 'not_found'
                 WHEN EXISTS (SELECT 1 FROM done) THEN 'revoked'
                 ELSE 'last_key' END AS outcome`,
    [userId, keyId, allowLast],
  );
  return rows[0]!.outcome;
}

/** Records a NIP-98 event id; false when it was used before (a replay). Purges expired ids. */
export async function claimNip98Event(db: Queryable, eventId: string, ttlSeconds: number): Promise<boolean> {
  await db.query('DELETE FROM satmachine.nip98_seen WHERE expires_at < now()');
  const { rowCount } = await db.query(
    `INSERT INTO satmachine.nip98_seen (event_id, expires_at) VALUES ($1, now() + make_interval(secs => $2))
     ON CONFLICT (event_id) DO NOTHING`,
    [eventId, ttlSeconds],
  );
  return (rowCount ?? 0) > 0;
}
