import type { Queryable } from './pool';

export async function getCursor(db: Queryable, relayUrl: string, stream: string): Promise<number | null> {
  const { rows } = await db.query<{ last_created_at: number }>(
    'SELECT last_created_at FROM satmachine.ingest_cursors WHERE relay_url = $1 AND stream = $2',
    [relayUrl, stream],
  );
  return rows[0]?.last_created_at ?? null;
}

/**
 * Moves a cursor forward (never back), except that a stored value later than
 * `poisonedAfter` (a cursor an older version let a far-future event set) is
 * replaced outright.
 */
export async function saveCursor(
  db: Queryable,
  relayUrl: string,
  stream: string,
  createdAt: number,
  poisonedAfter: number,
): Promise<void> {
  await db.query(
    `INSERT INTO satmachine.ingest_cursors (relay_url, stream, last_created_at) VALUES ($1, $2, $3)
     ON CONFLICT (relay_url, stream) DO UPDATE
       SET last_created_at = CASE
             WHEN satmachine.ingest_cursors.last_created_at > $4 THEN excluded.last_created_at
             ELSE GREATEST(satmachine.ingest_cursors.last_created_at, excluded.last_created_at)
           END,
           updated_at = now()`,
    [relayUrl, stream, createdAt, poisonedAfter],
  );
}
