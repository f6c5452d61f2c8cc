import type { Queryable } from './pool';
import { newId } from './ids';

/** Bills per denomination (whole currency units), as counted or as the settlements say. */
export type BillCounts = Map<number, number>;

export interface CashCollectionRow {
  id: string;
  machine_id: string;
  collected_at: Date;
  note: string | null;
  created_by: string;
  created_at: Date;
  /** the previous collection's collected_at: this one's period starts there (null: the first) */
  period_from: Date | null;
  bills: { denomination: number; count: number }[];
}

const SELECT = `
  SELECT c.*,
         (SELECT max(p.collected_at) FROM satmachine.cash_collections p
           WHERE p.machine_id = c.machine_id AND p.collected_at < c.collected_at) AS period_from,
         COALESCE((SELECT json_agg(json_build_object('denomination', b.denomination, 'count', b.count)
                                   ORDER BY b.denomination)
                     FROM satmachine.cash_collection_bills b WHERE b.collection_id = c.id), '[]'::json) AS bills
    FROM satmachine.cash_collections c`;

/** The machine's latest collected_at (null: none yet). */
export async function lastCollectedAt(db: Queryable, machineId: string): Promise<Date | null> {
  const { rows } = await db.query<{ at: Date | null }>(
    'SELECT max(collected_at) AS at FROM satmachine.cash_collections WHERE machine_id = $1',
    [machineId],
  );
  return rows[0]?.at ?? null;
}

/**
 * Records a collection. Call inside a transaction holding `lockMachineCash`, after
 * checking that `collected_at` is later than the last collection (periods in order).
 */
export async function insertCollection(
  db: Queryable,
  c: {
    machine_id: string;
    collected_at: Date;
    note: string | null;
    created_by: string;
    bills: { denomination: number; count: number }[];
  },
): Promise<string> {
  const id = newId();
  await db.query(
    `INSERT INTO satmachine.cash_collections (id, machine_id, collected_at, note, created_by)
     VALUES ($1, $2, $3, $4, $5)`,
    [id, c.machine_id, c.collected_at, c.note, c.created_by],
  );
  if (c.bills.length) {
    await db.query(
      `INSERT INTO satmachine.cash_collection_bills (collection_id, denomination, count)
       SELECT $1, d, n FROM unnest($2::int[], $3::int[]) AS t(d, n)`,
      [id, c.bills.map((b) => b.denomination), c.bills.map((b) => b.count)],
    );
  }
  return id;
}

/** Serialises the collections of one machine (their order defines the periods). */
export async function lockMachineCash(db: Queryable, machineId: string): Promise<void> {
  await db.query("SELECT pg_advisory_xact_lock(hashtext('satmachine:cash:' || $1))", [machineId]);
}

export async function getCollection(
  db: Queryable,
  machineId: string,
  id: string,
): Promise<CashCollectionRow | null> {
  const { rows } = await db.query<CashCollectionRow>(`${SELECT} WHERE c.machine_id = $1 AND c.id = $2`, [
    machineId,
    id,
  ]);
  return rows[0] ?? null;
}

export async function listCollections(
  db: Queryable,
  machineId: string,
  limit: number,
): Promise<CashCollectionRow[]> {
  const { rows } = await db.query<CashCollectionRow>(
    `${SELECT} WHERE c.machine_id = $1 ORDER BY c.collected_at DESC LIMIT $2`,
    [machineId, limit],
  );
  return rows;
}

export interface SettledBills {
  /** bills per denomination the settlements report */
  bills: BillCounts;
  /** how many settlements reported them */
  settlements: number;
}

/**
 * What the machine's settlements of one direction in (from, to] report as bills:
 * inserted (cash-in) or dispensed (cash-out). Every status counts (the bills moved
 * whatever the Lightning side did), except `refunded`: nothing was dispensed.
 */
export async function settledBills(
  db: Queryable,
  machineId: string,
  txType: 'cash_in' | 'cash_out',
  from: Date | null,
  to: Date,
): Promise<SettledBills> {
  const { rows } = await db.query<{ denomination: number | null; count: string | null; settlements: number }>(
    `WITH s AS (
       SELECT id, bills_json FROM satmachine.dca_settlements
        WHERE machine_id = $1 AND tx_type = $2 AND status <> 'refunded'
          AND ($3::timestamptz IS NULL OR created_at > $3) AND created_at <= $4
     )
     SELECT (b->>'denomination')::int AS denomination, sum((b->>'count')::bigint)::text AS count,
            (SELECT count(*)::int FROM s) AS settlements
       FROM s LEFT JOIN LATERAL jsonb_array_elements(
              CASE WHEN jsonb_typeof(s.bills_json) = 'array' THEN s.bills_json ELSE '[]'::jsonb END) b ON true
      GROUP BY 1`,
    [machineId, txType, from, to],
  );
  const bills: BillCounts = new Map();
  for (const r of rows) {
    if (r.denomination === null || r.count === null) continue;
    bills.set(r.denomination, Number(r.count));
  }
  return { bills, settlements: rows[0]?.settlements ?? 0 };
}
