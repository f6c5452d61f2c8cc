import type { Queryable } from './pool';

export interface CassetteRow {
  machine_id: string;
  position: number;
  denomination: number;
  count: number;
  updated_at: Date;
  updated_by: string | null;
  state_denomination: number | null;
  state_count: number | null;
  state_at: Date | null;
  state_event_id: string | null;
}

export type CassettePositions = Record<string, { denomination: number; count: number }>;

export async function listCassettes(db: Queryable, machineId: string): Promise<CassetteRow[]> {
  const { rows } = await db.query<CassetteRow>(
    'SELECT * FROM satmachine.cassette_configs WHERE machine_id = $1 ORDER BY position',
    [machineId],
  );
  return rows;
}

export async function getCassette(
  db: Queryable,
  machineId: string,
  position: number,
): Promise<CassetteRow | null> {
  const { rows } = await db.query<CassetteRow>(
    'SELECT * FROM satmachine.cassette_configs WHERE machine_id = $1 AND position = $2',
    [machineId, position],
  );
  return rows[0] ?? null;
}

/** Operator edit of an existing position (never creates one). */
export async function updateCassette(
  db: Queryable,
  machineId: string,
  position: number,
  patch: { denomination?: number; count?: number },
  updatedBy: string,
): Promise<CassetteRow | null> {
  const { rows } = await db.query<CassetteRow>(
    `UPDATE satmachine.cassette_configs
        SET denomination = COALESCE($3, denomination), count = COALESCE($4, count),
            updated_at = now(), updated_by = $5
      WHERE machine_id = $1 AND position = $2 RETURNING *`,
    [machineId, position, patch.denomination ?? null, patch.count ?? null, updatedBy],
  );
  return rows[0] ?? null;
}

/** The parameters of an ATM-reported state write: $1 machine, $2–$4 positions, denominations and counts, $5 the event's time, $6 its id. */
function stateParams(
  machineId: string,
  entries: [string, CassettePositions[string]][],
  eventCreatedAt: Date,
  eventId: string,
): unknown[] {
  return [
    machineId,
    entries.map(([p]) => Number(p)),
    entries.map(([, v]) => v.denomination),
    entries.map(([, v]) => v.count),
    eventCreatedAt,
    eventId,
  ];
}

/**
 * The ATM's bootstrap state (kind 30078 bitspire-cassettes-state): one row per
 * position, both the operator view and the reported state. Idempotent on event id;
 * an event older than the state applied is ignored. Returns whether it applied.
 */
export async function applyBootstrapState(
  db: Queryable,
  machineId: string,
  eventId: string,
  eventCreatedAt: Date,
  positions: CassettePositions,
): Promise<boolean> {
  await db.query("SELECT pg_advisory_xact_lock(hashtext('satmachine:cassettes:' || $1))", [machineId]);
  const { rows } = await db.query<{ seen: boolean; newer: boolean }>(
    `SELECT bool_or(state_event_id = $2) AS seen, bool_or(state_at > $3) AS newer
       FROM satmachine.cassette_configs WHERE machine_id = $1`,
    [machineId, eventId, eventCreatedAt],
  );
  if (rows[0]?.seen || rows[0]?.newer) return false;
  const entries = Object.entries(positions);
  await db.query(
    `INSERT INTO satmachine.cassette_configs
       (machine_id, position, denomination, count, updated_at, updated_by,
        state_denomination, state_count, state_at, state_event_id)
     SELECT $1, p, d, n, now(), 'atm-bootstrap', d, n, $5, $6
       FROM unnest($2::int[], $3::int[], $4::int[]) AS t(p, d, n)
     ON CONFLICT (machine_id, position) DO UPDATE SET
       denomination = excluded.denomination, count = excluded.count,
       updated_at = excluded.updated_at, updated_by = excluded.updated_by,
       state_denomination = excluded.state_denomination, state_count = excluded.state_count,
       state_at = excluded.state_at, state_event_id = excluded.state_event_id`,
    stateParams(machineId, entries, eventCreatedAt, eventId),
  );
  return true;
}

/**
 * A settlement's `cassettes` (the counts after the transaction) update the
 * ATM-reported state; a report older than the one stored is ignored.
 */
export async function applyCassetteCounts(
  db: Queryable,
  machineId: string,
  positions: CassettePositions,
  eventId: string,
  eventCreatedAt: Date,
): Promise<void> {
  const entries = Object.entries(positions);
  if (!entries.length) return;
  await db.query(
    `INSERT INTO satmachine.cassette_configs
       (machine_id, position, denomination, count, updated_by, state_denomination, state_count, state_at, state_event_id)
     SELECT $1, p, d, n, 'atm-settlement', d, n, $5, $6
       FROM unnest($2::int[], $3::int[], $4::int[]) AS t(p, d, n)
     ON CONFLICT (machine_id, position) DO UPDATE SET
       state_denomination = excluded.state_denomination, state_count = excluded.state_count,
       state_at = excluded.state_at, state_event_id = excluded.state_event_id
     WHERE satmachine.cassette_configs.state_at IS NULL OR satmachine.cassette_configs.state_at <= excluded.state_at`,
    stateParams(machineId, entries, eventCreatedAt, eventId),
  );
}
