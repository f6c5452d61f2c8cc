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

export async function insertApiKey(
  db: Queryable,
  userId: string,
  keyHash: string,
  prefix: string,
): Promise<void> {
  await db.query(
    'INSERT INTO satmachine.api_keys (id, user_id, key_hash, key_prefix) VALUES ($1, $2, $3, $4)',
    [newId(), userId, keyHash, prefix],
  );
}

export async function findUserByApiKeyHash(db: Queryable, keyHash: string): Promise<UserRow | null> {
  const { rows } = await db.query<UserRow>(
    `UPDATE satmachine.api_keys k SET last_used_at = now()
       FROM satmachine.users u
      WHERE k.key_hash = $1 AND k.revoked_at IS NULL AND u.id = k.user_id
      RETURNING u.*`,
    [keyHash],
  );
  return rows[0] ?? null;
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
