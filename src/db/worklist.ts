import type { Queryable } from './pool';
import { operatorWorklist, type WorklistRow } from './settlements';
import { waitingSightings, type WaitingRow } from './sightings';

export type WorklistEntry = { kind: 'settlement'; row: WorklistRow } | { kind: 'waiting'; row: WaitingRow };

const key = (e: WorklistEntry): [number, string] => [Number(e.row.cursor_ms), e.row.id];

/** Newest first, then id in byte order, descending: the order of both queries (COLLATE "C"). */
function newerFirst(a: WorklistEntry, b: WorklistEntry): number {
  const [at, ai] = key(a);
  const [bt, bi] = key(b);
  if (at !== bt) return bt - at;
  return ai < bi ? 1 : ai > bi ? -1 : 0;
}

/**
 * One page of the complete worklist: the settlement rows of `operatorWorklist` and
 * the `waiting` sightings (no row yet), merged newest first on one keyset. Each
 * query returns its own first `limit` rows after the cursor, so the merged first
 * `limit` are exact. Up to `limit` entries; ask for one more to know of a next page.
 */
export async function completeWorklist(
  db: Queryable,
  operatorId: string,
  thresholdMinutes: number,
  page: { limit: number; before?: { created_at: Date; id: string } },
): Promise<WorklistEntry[]> {
  const [settled, waiting] = await Promise.all([
    operatorWorklist(db, operatorId, thresholdMinutes, page),
    waitingSightings(db, operatorId, thresholdMinutes, page),
  ]);
  const all: WorklistEntry[] = [
    ...settled.map((row) => ({ kind: 'settlement' as const, row })),
    ...waiting.map((row) => ({ kind: 'waiting' as const, row })),
  ];
  return all.sort(newerFirst).slice(0, page.limit);
}
