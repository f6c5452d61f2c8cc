import { Gauge } from 'prom-client';
import type { Pool } from '../db/pool';
import { countSettlementsByStatus } from '../db/settlements';
import type { Logger } from '../logger';
import { registry } from '../metrics/registry';

export const DEFAULT_SETTLEMENT_GAUGE_INTERVAL_MS = 15_000;

const settlements =
  (registry.getSingleMetric('satmachine_settlements') as Gauge<'status'> | undefined) ??
  new Gauge({
    name: 'satmachine_settlements',
    help: 'Settlements by status (counted in the background every SETTLEMENT_GAUGE_INTERVAL_MS, not at scrape time)',
    labelNames: ['status'] as const,
    registers: [registry],
  });

const refreshedAt =
  (registry.getSingleMetric('satmachine_settlements_refreshed_timestamp_seconds') as Gauge | undefined) ??
  new Gauge({
    name: 'satmachine_settlements_refreshed_timestamp_seconds',
    help: 'When satmachine_settlements was last counted (Unix time); a stale value means the count fails',
    registers: [registry],
  });

let source: { pool: Pool; log: Logger | null } | null = null;
let timer: NodeJS.Timeout | null = null;
let inFlight: Promise<void> | null = null;

/**
 * Counts settlements by status once, into the cached gauge (one grouped count).
 * A failure (PostgreSQL down) keeps the last values; the timestamp tells their age.
 */
export function refreshSettlementGauge(): Promise<void> {
  if (!source) return Promise.resolve();
  const { pool, log } = source;
  inFlight ??= (async () => {
    try {
      const rows = await countSettlementsByStatus(pool);
      settlements.reset();
      for (const r of rows) settlements.set({ status: r.status }, r.n);
      refreshedAt.set(Date.now() / 1000);
    } catch (err) {
      log?.warn(
        { err: (err as Error).message },
        'could not count settlements for /metrics; keeping the last count',
      );
    } finally {
      inFlight = null;
    }
  })();
  return inFlight;
}

/**
 * `satmachine_settlements{status}`: served from a cache that a background timer
 * refreshes every `intervalMs`, so a scrape (however frequent, whoever sends it)
 * costs the database nothing. One refresher per process: a second call re-targets it.
 */
export function exposeSettlementGauge(pool: Pool, opts: { intervalMs?: number; logger?: Logger } = {}): void {
  source = { pool, log: opts.logger ?? null };
  if (timer) clearInterval(timer);
  timer = setInterval(
    () => void refreshSettlementGauge(),
    opts.intervalMs ?? DEFAULT_SETTLEMENT_GAUGE_INTERVAL_MS,
  );
  // the refresher never keeps a process alive on its own
  timer.unref();
  void refreshSettlementGauge();
}

/** Stops the background refresh (API shutdown). */
export async function stopSettlementGauge(): Promise<void> {
  if (timer) clearInterval(timer);
  timer = null;
  await inFlight;
  source = null;
}
