import { api, ok, type Settlement } from './api/client';
import { parseCents } from './format';

export interface DayStats {
  count: number;
  /** settlements that need the operator (errored, rejected) */
  attention: number;
  /** fiat volume in cents: all, cash-out, cash-in (rejected ones excluded) */
  volume: bigint;
  cashOut: bigint;
  cashIn: bigint;
  /** more settlements than the pages read: the numbers are a lower bound */
  truncated: boolean;
}

const PAGE = 200;
const MAX_PAGES = 10;

/**
 * A machine's settlements since `since`, read newest first from GET /api/v1/settlements
 * page by page until older ones start. (An API aggregate would be cheaper for very busy
 * machines; see the console's notes.)
 */
export async function settlementsSince(
  machineId: string,
  since: Date,
): Promise<{ items: Settlement[]; truncated: boolean }> {
  const items: Settlement[] = [];
  let cursor: string | undefined;
  for (let page = 0; page < MAX_PAGES; page++) {
    const r = await ok(
      api.GET('/api/v1/settlements', { params: { query: { machine_id: machineId, limit: PAGE, cursor } } }),
    );
    for (const s of r.items) {
      if (new Date(s.created_at) < since) return { items, truncated: false };
      items.push(s);
    }
    if (!r.next_cursor) return { items, truncated: false };
    cursor = r.next_cursor;
  }
  return { items, truncated: true };
}

export function dayStats(items: Settlement[], truncated: boolean): DayStats {
  const stats: DayStats = { count: 0, attention: 0, volume: 0n, cashOut: 0n, cashIn: 0n, truncated };
  for (const s of items) {
    stats.count++;
    if (s.status === 'errored' || s.status === 'rejected') stats.attention++;
    if (s.status === 'rejected' || s.fiat_amount === null) continue;
    const cents = parseCents(s.fiat_amount) ?? 0n;
    stats.volume += cents;
    if (s.tx_type === 'cash_in') stats.cashIn += cents;
    else stats.cashOut += cents;
  }
  return stats;
}
