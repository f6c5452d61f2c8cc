import { Gauge } from 'prom-client';
import type { Pool } from '../db/pool';
import { registry } from '../metrics/registry';

let source: Pool | null = null;

/**
 * `satmachine_settlements{status}`: how many settlements are in each status, read
 * from PostgreSQL at scrape time (one grouped count).
 */
export function exposeSettlementGauge(pool: Pool): void {
  source = pool;
  if (registry.getSingleMetric('satmachine_settlements')) return;
  new Gauge({
    name: 'satmachine_settlements',
    help: 'Settlements by status (from the query store, at scrape time)',
    labelNames: ['status'] as const,
    registers: [registry],
    async collect() {
      if (!source) return;
      this.reset();
      const { rows } = await source.query<{ status: string; n: number }>(
        'SELECT status, count(*)::int AS n FROM satmachine.dca_settlements GROUP BY status',
      );
      for (const r of rows) this.set({ status: r.status }, r.n);
    },
  });
}
