import type { Queryable } from './pool';

export interface TelemetryRow {
  machine_id: string;
  beacon_cash_in: boolean | null;
  beacon_cash_out: boolean | null;
  beacon_cash_level: string | null;
  beacon_fiat: string | null;
  beacon_model: string | null;
  beacon_name: string | null;
  beacon_location: string | null;
  beacon_geo: string | null;
  beacon_fees_json: string | null;
  beacon_limits_json: string | null;
  beacon_denominations_json: string | null;
  beacon_version: string | null;
  beacon_received_at: Date | null;
  beacon_event_id: string | null;
  beacon_event_created_at: Date | null;
  telemetry_json: string | null;
  telemetry_received_at: Date | null;
  telemetry_event_id: string | null;
  telemetry_event_created_at: Date | null;
}

export interface BeaconFields {
  cash_in?: boolean | null;
  cash_out?: boolean | null;
  cash_level?: string | null;
  fiat?: string | null;
  model?: string | null;
  name?: string | null;
  location?: string | null;
  geo?: string | null;
  fees_json?: string | null;
  limits_json?: string | null;
  denominations_json?: string | null;
  version?: string | null;
}

export async function getTelemetry(db: Queryable, machineId: string): Promise<TelemetryRow | null> {
  const { rows } = await db.query<TelemetryRow>(
    'SELECT * FROM satmachine.dca_telemetry WHERE machine_id = $1',
    [machineId],
  );
  return rows[0] ?? null;
}

/**
 * Beacon upsert (kind 30078 bitspire-beacon): a field absent from the event never
 * erases a stored one (COALESCE), and an event older than the one applied is
 * ignored (newest created_at wins). Returns whether it applied.
 */
export async function upsertBeacon(
  db: Queryable,
  machineId: string,
  eventId: string,
  eventCreatedAt: Date,
  f: BeaconFields,
): Promise<boolean> {
  const { rowCount } = await db.query(
    `INSERT INTO satmachine.dca_telemetry AS t
       (machine_id, beacon_cash_in, beacon_cash_out, beacon_cash_level, beacon_fiat, beacon_model, beacon_name,
        beacon_location, beacon_geo, beacon_fees_json, beacon_limits_json, beacon_denominations_json, beacon_version,
        beacon_received_at, beacon_event_id, beacon_event_created_at)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, now(), $14, $15)
     ON CONFLICT (machine_id) DO UPDATE SET
       beacon_cash_in = COALESCE(excluded.beacon_cash_in, t.beacon_cash_in),
       beacon_cash_out = COALESCE(excluded.beacon_cash_out, t.beacon_cash_out),
       beacon_cash_level = COALESCE(excluded.beacon_cash_level, t.beacon_cash_level),
       beacon_fiat = COALESCE(excluded.beacon_fiat, t.beacon_fiat),
       beacon_model = COALESCE(excluded.beacon_model, t.beacon_model),
       beacon_name = COALESCE(excluded.beacon_name, t.beacon_name),
       beacon_location = COALESCE(excluded.beacon_location, t.beacon_location),
       beacon_geo = COALESCE(excluded.beacon_geo, t.beacon_geo),
       beacon_fees_json = COALESCE(excluded.beacon_fees_json, t.beacon_fees_json),
       beacon_limits_json = COALESCE(excluded.beacon_limits_json, t.beacon_limits_json),
       beacon_denominations_json = COALESCE(excluded.beacon_denominations_json, t.beacon_denominations_json),
       beacon_version = COALESCE(excluded.beacon_version, t.beacon_version),
       beacon_received_at = excluded.beacon_received_at,
       beacon_event_id = excluded.beacon_event_id,
       beacon_event_created_at = excluded.beacon_event_created_at
     WHERE t.beacon_event_created_at IS NULL
        OR t.beacon_event_created_at < excluded.beacon_event_created_at
        OR (t.beacon_event_created_at = excluded.beacon_event_created_at AND t.beacon_event_id > excluded.beacon_event_id)`,
    [
      machineId,
      f.cash_in ?? null,
      f.cash_out ?? null,
      f.cash_level ?? null,
      f.fiat ?? null,
      f.model ?? null,
      f.name ?? null,
      f.location ?? null,
      f.geo ?? null,
      f.fees_json ?? null,
      f.limits_json ?? null,
      f.denominations_json ?? null,
      f.version ?? null,
      eventId,
      eventCreatedAt,
    ],
  );
  return (rowCount ?? 0) > 0;
}

/** Fleet snapshot (kind 30079): stored raw; newest created_at wins. Returns whether it applied. */
export async function upsertFleetSnapshot(
  db: Queryable,
  machineId: string,
  eventId: string,
  eventCreatedAt: Date,
  raw: string,
): Promise<boolean> {
  const { rowCount } = await db.query(
    `INSERT INTO satmachine.dca_telemetry AS t
       (machine_id, telemetry_json, telemetry_received_at, telemetry_event_id, telemetry_event_created_at)
     VALUES ($1, $2, now(), $3, $4)
     ON CONFLICT (machine_id) DO UPDATE SET
       telemetry_json = excluded.telemetry_json,
       telemetry_received_at = excluded.telemetry_received_at,
       telemetry_event_id = excluded.telemetry_event_id,
       telemetry_event_created_at = excluded.telemetry_event_created_at
     WHERE t.telemetry_event_created_at IS NULL
        OR t.telemetry_event_created_at < excluded.telemetry_event_created_at
        OR (t.telemetry_event_created_at = excluded.telemetry_event_created_at AND t.telemetry_event_id > excluded.telemetry_event_id)`,
    [machineId, raw, eventId, eventCreatedAt],
  );
  return (rowCount ?? 0) > 0;
}

export interface MachineStatus {
  online: boolean;
  last_seen_at: string | null;
  cash_in: boolean | null;
  cash_out: boolean | null;
  cash_level: string | null;
  version: string | null;
}

/**
 * Live status per machine: last seen = the newest of its beacon, telemetry and
 * settlement; online when seen within `onlineSeconds`.
 */
export async function machineStatuses(
  db: Queryable,
  machineIds: readonly string[],
  onlineSeconds: number,
): Promise<Map<string, MachineStatus>> {
  if (!machineIds.length) return new Map();
  const { rows } = await db.query<{
    id: string;
    last_seen_at: Date | null;
    online: boolean;
    cash_in: boolean | null;
    cash_out: boolean | null;
    cash_level: string | null;
    version: string | null;
  }>(
    `SELECT m.id,
            GREATEST(t.beacon_received_at, t.telemetry_received_at, s.last_settlement) AS last_seen_at,
            COALESCE(GREATEST(t.beacon_received_at, t.telemetry_received_at, s.last_settlement)
                       >= now() - make_interval(secs => $2), false) AS online,
            t.beacon_cash_in AS cash_in, t.beacon_cash_out AS cash_out,
            t.beacon_cash_level AS cash_level, t.beacon_version AS version
       FROM unnest($1::text[]) AS m(id)
       LEFT JOIN satmachine.dca_telemetry t ON t.machine_id = m.id
       LEFT JOIN LATERAL (
         SELECT max(created_at) AS last_settlement FROM satmachine.dca_settlements WHERE machine_id = m.id
       ) s ON true`,
    [machineIds, onlineSeconds],
  );
  return new Map(
    rows.map((r) => [
      r.id,
      {
        online: r.online,
        last_seen_at: r.last_seen_at ? r.last_seen_at.toISOString() : null,
        cash_in: r.cash_in,
        cash_out: r.cash_out,
        cash_level: r.cash_level,
        version: r.version,
      },
    ]),
  );
}
