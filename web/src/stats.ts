import { api, ok } from './api/client';
import { parseCents } from './format';

export interface DayStats {
  count: number;
  /** settlements that need the operator (errored, rejected) */
  attention: number;
  /** fiat volume in cents: all, cash-out, cash-in (rejected ones excluded) */
  volume: bigint;
  cashOut: bigint;
  cashIn: bigint;
}

/**
 * A machine's settlements since `since` (the start of the user's day), aggregated by
 * the API in one query: GET /api/v1/machines/:id/stats.
 */
export async function statsSince(machineId: string, since: Date): Promise<DayStats> {
  const s = await ok(
    api.GET('/api/v1/machines/{id}/stats', {
      params: { path: { id: machineId }, query: { since: since.toISOString() } },
    }),
  );
  return {
    count: s.settlements,
    attention: s.attention,
    volume: parseCents(s.volume.total) ?? 0n,
    cashOut: parseCents(s.volume.cash_out) ?? 0n,
    cashIn: parseCents(s.volume.cash_in) ?? 0n,
  };
}
