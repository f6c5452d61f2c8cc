import { registry } from '../../src/metrics/registry';

/** satmachine_ingest_dropped_total for one reason (0 before the first drop of that reason). */
export async function ingestDroppedCount(reason: string): Promise<number> {
  const m = await registry.getSingleMetric('satmachine_ingest_dropped_total')!.get();
  return m.values.find((v) => v.labels.reason === reason)?.value ?? 0;
}
