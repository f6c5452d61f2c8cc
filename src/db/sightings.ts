import type { Queryable } from './pool';

/**
 * Settlement sightings: what the ingest forwarded to a settlement workflow, per
 * machine (docs/operations.md "Worklist"). The worklist shows a sighting as a `waiting` row
 * until a settlement row of the same operator exists for its payment hash.
 */
export type Sighting =
  | {
      signal: 'atm_event';
      payment_hash: string;
      machine_id: string;
      event_id: string;
      tx_type: 'cash_out' | 'cash_in';
      wire_sats: number;
      /** exact decimal, at most 2 places */
      fiat_amount: string;
      fiat_code: string;
    }
  | {
      signal: 'payment';
      payment_hash: string;
      machine_id: string;
      direction: 'incoming' | 'outgoing';
      amount_sats: number;
    };

/** Records a sighting; a re-delivery (same hash, machine and signal) keeps the first. */
export async function recordSighting(db: Queryable, s: Sighting): Promise<void> {
  const ev = s.signal === 'atm_event' ? s : null;
  const pay = s.signal === 'payment' ? s : null;
  await db.query(
    `INSERT INTO satmachine.settlement_sightings
       (payment_hash, machine_id, signal, event_id, tx_type, wire_sats, fiat_amount, fiat_code, direction, amount_sats)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
     ON CONFLICT (payment_hash, machine_id, signal) DO NOTHING`,
    [
      s.payment_hash,
      s.machine_id,
      s.signal,
      ev?.event_id ?? null,
      ev?.tx_type ?? null,
      ev?.wire_sats ?? null,
      ev?.fiat_amount ?? null,
      ev?.fiat_code ?? null,
      pay?.direction ?? null,
      pay?.amount_sats ?? null,
    ],
  );
}

/**
 * Deletes sightings older than `olderThanHours` whose payment hash has a settlement
 * row of the sighting machine's operator (they no longer show). Sightings without
 * one stay: they are what the worklist still lists as waiting. Returns how many went.
 */
export async function pruneSightings(db: Queryable, olderThanHours: number, batch = 5000): Promise<number> {
  const { rowCount } = await db.query(
    `DELETE FROM satmachine.settlement_sightings d
      USING (SELECT w.payment_hash, w.machine_id, w.signal
               FROM satmachine.settlement_sightings w
               JOIN satmachine.dca_machines m ON m.id = w.machine_id
              WHERE w.first_seen_at < now() - make_interval(hours => $1)
                AND EXISTS (SELECT 1 FROM satmachine.dca_settlements s
                              JOIN satmachine.dca_machines sm ON sm.id = s.machine_id
                             WHERE s.payment_hash = w.payment_hash
                               AND sm.operator_user_id = m.operator_user_id)
              LIMIT $2) old
      WHERE d.payment_hash = old.payment_hash AND d.machine_id = old.machine_id AND d.signal = old.signal`,
    [olderThanHours, batch],
  );
  return rowCount ?? 0;
}

/** A settlement in flight that has no settlement row of this operator yet. */
export interface WaitingRow {
  /** the keyset id of the row: its payment hash */
  id: string;
  payment_hash: string;
  /** the machine whose wallet saw the payment, else the machine that signed the event */
  machine_id: string;
  event_machine_id: string | null;
  payment_machine_id: string | null;
  event_id: string | null;
  tx_type: 'cash_out' | 'cash_in' | null;
  wire_sats: number | null;
  fiat_amount: string | null;
  fiat_code: string | null;
  direction: 'incoming' | 'outgoing' | null;
  amount_sats: number | null;
  first_seen_at: Date;
  /** first_seen_at in whole milliseconds (the cursor's precision) */
  cursor_ms: number;
}

/**
 * The operator's sightings with no settlement row of theirs for the payment hash, one
 * row per hash, first seen at least `thresholdMinutes` ago; newest first, keyset on
 * (first seen in ms, payment hash in byte order). Only the operator's own machines'
 * sightings count: a rival machine's event for the same hash never shows here, and
 * whether someone else recorded the hash never changes what shows.
 */
export async function waitingSightings(
  db: Queryable,
  operatorId: string,
  thresholdMinutes: number,
  page: { limit: number; before?: { created_at: Date; id: string } },
): Promise<WaitingRow[]> {
  const params: unknown[] = [operatorId, thresholdMinutes, page.limit];
  let after = '';
  if (page.before) {
    params.push(page.before.created_at, page.before.id);
    after = `AND (date_trunc('milliseconds', g.first_seen_at), g.payment_hash COLLATE "C") < ($4, $5 COLLATE "C")`;
  }
  const { rows } = await db.query<WaitingRow>(
    `WITH mine AS (
       SELECT w.* FROM satmachine.settlement_sightings w
         JOIN satmachine.dca_machines m ON m.id = w.machine_id
        WHERE m.operator_user_id = $1
          AND NOT EXISTS (SELECT 1 FROM satmachine.dca_settlements s
                            JOIN satmachine.dca_machines sm ON sm.id = s.machine_id
                           WHERE s.payment_hash = w.payment_hash AND sm.operator_user_id = $1)
     ), grouped AS (
       SELECT payment_hash, min(first_seen_at) AS first_seen_at,
              (array_agg(machine_id ORDER BY first_seen_at, machine_id) FILTER (WHERE signal = 'payment'))[1]
                AS payment_machine_id
         FROM mine GROUP BY payment_hash
     )
     SELECT g.payment_hash AS id, g.payment_hash, g.first_seen_at,
            (extract(epoch FROM date_trunc('milliseconds', g.first_seen_at)) * 1000)::bigint AS cursor_ms,
            COALESCE(g.payment_machine_id, e.machine_id) AS machine_id,
            e.machine_id AS event_machine_id, g.payment_machine_id,
            e.event_id, e.tx_type, e.wire_sats, e.fiat_amount::text AS fiat_amount, e.fiat_code,
            p.direction, p.amount_sats
       FROM grouped g
       LEFT JOIN LATERAL (SELECT * FROM mine x
                           WHERE x.payment_hash = g.payment_hash AND x.signal = 'payment'
                           ORDER BY x.first_seen_at, x.machine_id LIMIT 1) p ON true
       -- the event of the machine whose wallet saw the payment decides (as in the workflow)
       LEFT JOIN LATERAL (SELECT * FROM mine x
                           WHERE x.payment_hash = g.payment_hash AND x.signal = 'atm_event'
                           ORDER BY (x.machine_id = g.payment_machine_id) DESC NULLS LAST,
                                    x.first_seen_at, x.machine_id LIMIT 1) e ON true
      WHERE g.first_seen_at <= now() - make_interval(mins => $2)
        ${after}
      ORDER BY date_trunc('milliseconds', g.first_seen_at) DESC, g.payment_hash COLLATE "C" DESC
      LIMIT $3`,
    params,
  );
  return rows;
}

/** What a waiting row still waits for: null = both signals are in (being verified and recorded). */
export function missingSignal(w: WaitingRow): 'payment' | 'atm_event' | null {
  if (!w.payment_machine_id) return 'payment';
  if (!w.event_machine_id || w.event_machine_id !== w.payment_machine_id) return 'atm_event';
  return null;
}
