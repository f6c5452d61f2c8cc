import type { Pool } from './pool';
import { withTransaction } from './pool';

/** A signed Nostr event as stored by the embedded relay. */
export interface StoredEvent {
  id: string;
  pubkey: string;
  kind: number;
  created_at: number;
  tags: string[][];
  content: string;
  sig: string;
}

export interface EventQuery {
  ids?: string[];
  authors?: string[];
  kinds?: number[];
  since?: number;
  until?: number;
  limit?: number;
  tags?: { name: string; values: string[] }[];
}

export type SaveOutcome = 'saved' | 'duplicate' | 'replaced-newer-exists';

export function isReplaceable(kind: number): boolean {
  return kind === 0 || kind === 3 || (kind >= 10000 && kind < 20000);
}
export function isParameterizedReplaceable(kind: number): boolean {
  return kind >= 30000 && kind < 40000;
}
export function isEphemeral(kind: number): boolean {
  return kind >= 20000 && kind < 30000;
}

function dTag(event: StoredEvent): string {
  return event.tags.find((t) => t[0] === 'd')?.[1] ?? '';
}

/**
 * Stores an event. Replaceable and parameterised-replaceable events keep only the
 * newest per (pubkey, kind[, d]) — an older one than stored is refused, so history
 * re-published out of order never rolls state back. `retainSeconds` sets an expiry
 * (used for ephemeral kinds the relay keeps for catch-up).
 */
export async function saveEvent(
  pool: Pool,
  event: StoredEvent,
  retainSeconds?: number,
): Promise<SaveOutcome> {
  return withTransaction(pool, async (c) => {
    const d = isParameterizedReplaceable(event.kind) ? dTag(event) : '';
    if (isReplaceable(event.kind) || isParameterizedReplaceable(event.kind)) {
      await c.query('SELECT pg_advisory_xact_lock(hashtext($1))', [`${event.pubkey}:${event.kind}:${d}`]);
      const { rows } = await c.query<{ id: string; created_at: number }>(
        'SELECT id, created_at FROM nostr_relay.events WHERE pubkey = $1 AND kind = $2 AND d_tag = $3',
        [event.pubkey, event.kind, d],
      );
      for (const row of rows) {
        if (row.id === event.id) return 'duplicate';
        const newerStored =
          row.created_at > event.created_at || (row.created_at === event.created_at && row.id < event.id);
        if (newerStored) return 'replaced-newer-exists';
      }
      if (rows.length) {
        await c.query('DELETE FROM nostr_relay.events WHERE id = ANY($1)', [rows.map((r) => r.id)]);
      }
    }
    const inserted = await c.query(
      `INSERT INTO nostr_relay.events (id, pubkey, kind, created_at, tags, content, sig, d_tag, expires_at)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8,
               CASE WHEN $9::int IS NULL THEN NULL ELSE now() + make_interval(secs => $9::int) END)
       ON CONFLICT (id) DO NOTHING`,
      [
        event.id,
        event.pubkey,
        event.kind,
        event.created_at,
        JSON.stringify(event.tags),
        event.content,
        event.sig,
        d,
        retainSeconds ?? null,
      ],
    );
    if (!inserted.rowCount) return 'duplicate';
    const single = event.tags.filter(
      (t) => typeof t[0] === 'string' && t[0].length === 1 && typeof t[1] === 'string',
    );
    if (single.length) {
      await c.query(
        `INSERT INTO nostr_relay.event_tags (event_id, name, value)
         SELECT $1, n, v FROM unnest($2::text[], $3::text[]) AS t(n, v)`,
        [event.id, single.map((t) => t[0]), single.map((t) => t[1])],
      );
    }
    return 'saved';
  });
}

/** Where a page of a newest-first stream ended: the next page starts after it. */
export interface PagePosition {
  created_at: number;
  id: string;
}

/**
 * One page of the events matching `q`, newest first (ties: lowest id first, as
 * NIP-01 orders them), starting after `after`. Keyset paging: every page is a
 * short indexed query, and no connection is held between pages.
 */
export async function queryEventsPage(
  pool: Pool,
  q: EventQuery,
  pageSize: number,
  after?: PagePosition,
): Promise<StoredEvent[]> {
  const where: string[] = ['(e.expires_at IS NULL OR e.expires_at > now())'];
  const params: unknown[] = [];
  const p = (v: unknown) => {
    params.push(v);
    return `$${params.length}`;
  };
  if (q.ids) where.push(`e.id = ANY(${p(q.ids)}::text[])`);
  if (q.authors) where.push(`e.pubkey = ANY(${p(q.authors)}::text[])`);
  if (q.kinds) where.push(`e.kind = ANY(${p(q.kinds)}::int[])`);
  if (q.since !== undefined) where.push(`e.created_at >= ${p(q.since)}`);
  if (q.until !== undefined) where.push(`e.created_at <= ${p(q.until)}`);
  for (const tag of q.tags ?? []) {
    where.push(
      `EXISTS (SELECT 1 FROM nostr_relay.event_tags t WHERE t.event_id = e.id AND t.name = ${p(tag.name)}
               AND t.value = ANY(${p(tag.values)}::text[]))`,
    );
  }
  if (after) {
    const at = p(after.created_at);
    where.push(`(e.created_at < ${at} OR (e.created_at = ${at} AND e.id > ${p(after.id)}))`);
  }
  const { rows } = await pool.query<StoredEvent>(
    `SELECT e.id, e.pubkey, e.kind, e.created_at, e.tags, e.content, e.sig
       FROM nostr_relay.events e
      WHERE ${where.join(' AND ')}
      ORDER BY e.created_at DESC, e.id ASC
      LIMIT ${p(pageSize)}`,
    params,
  );
  return rows;
}

/**
 * The newest `limit` events matching `q`, page by page (newest first). Stop
 * iterating to stop querying: nothing past the current page is ever read.
 */
export async function* streamEvents(
  pool: Pool,
  q: EventQuery,
  limit: number,
  pageSize: number,
): AsyncGenerator<StoredEvent[]> {
  let remaining = limit;
  let after: PagePosition | undefined;
  while (remaining > 0) {
    const size = Math.min(pageSize, remaining);
    const page = await queryEventsPage(pool, q, size, after);
    if (page.length) yield page;
    if (page.length < size) return;
    remaining -= page.length;
    const last = page[page.length - 1]!;
    after = { created_at: last.created_at, id: last.id };
  }
}

/**
 * Whether `pubkey` (hex) belongs to a registered machine or to a user (operator,
 * super, LP) of satmachine: the keys the relay's "known" write policy accepts.
 * A machine key may be registered more than once; EXISTS does not care.
 */
export async function isKnownPublisher(pool: Pool, pubkey: string): Promise<boolean> {
  const { rows } = await pool.query<{ known: boolean }>(
    `SELECT EXISTS (SELECT 1 FROM satmachine.dca_machines WHERE machine_pubkey_hex = $1)
         OR EXISTS (SELECT 1 FROM satmachine.users WHERE nostr_pubkey = $1) AS known`,
    [pubkey],
  );
  return rows[0]?.known === true;
}

export async function purgeExpiredEvents(pool: Pool): Promise<number> {
  const { rowCount } = await pool.query('DELETE FROM nostr_relay.events WHERE expires_at <= now()');
  return rowCount ?? 0;
}
