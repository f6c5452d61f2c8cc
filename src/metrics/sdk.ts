import { Counter } from 'prom-client';
import { registry } from './registry';

/**
 * The Temporal Core SDK serves its own Prometheus endpoint (Runtime.install
 * telemetryOptions.metrics.prometheus). The worker binds it to 127.0.0.1 on an
 * internal port and its /metrics appends that text to ours: one scrape gets both.
 * Names cannot collide: ours start with `satmachine_`, the SDK's with `temporal_`.
 */
export const SDK_METRIC_PREFIX = 'temporal_';

/** Prometheus options for the Core SDK: base units (seconds) and `_total` counters, like ours. */
export function sdkPrometheusOptions(bindAddress: string) {
  return {
    metricPrefix: SDK_METRIC_PREFIX,
    prometheus: { bindAddress, countersTotalSuffix: true, unitSuffix: true, useSecondsForDurations: true },
  };
}

export const sdkScrapeErrors = new Counter({
  name: 'satmachine_sdk_metrics_scrape_errors_total',
  help: 'Scrapes of the Temporal SDK metrics endpoint that failed (its metrics were left out of that scrape)',
  registers: [registry],
});

/**
 * Reads the SDK's exposition text from `url` (its /metrics). A failure leaves the
 * SDK part out of this scrape (counted in satmachine_sdk_metrics_scrape_errors_total)
 * rather than failing ours.
 */
export function sdkMetricsReader(url: string, timeoutMs = 2000): () => Promise<string> {
  return async () => {
    try {
      const res = await fetch(url, { signal: AbortSignal.timeout(timeoutMs) });
      if (!res.ok) throw new Error(`HTTP ${res.status}`);
      const text = await res.text();
      return text.endsWith('\n') ? text : `${text}\n`;
    } catch (err) {
      sdkScrapeErrors.inc();
      return `# Temporal SDK metrics unavailable (${url}): ${(err as Error).message.replace(/\s+/g, ' ')}\n`;
    }
  };
}

/**
 * The SDK metric names the Grafana dashboard (deploy/grafana/satmachine.json) queries,
 * as the Core SDK of @temporalio/worker 1.24 exports them with {@link sdkPrometheusOptions};
 * test/integration/workerMetrics.test.ts checks them against a real worker's /metrics.
 */
export const SDK_DASHBOARD_METRICS = [
  'temporal_workflow_task_schedule_to_start_latency_seconds',
  'temporal_activity_schedule_to_start_latency_seconds',
  'temporal_worker_task_slots_available',
  'temporal_worker_task_slots_used',
  'temporal_sticky_cache_size',
  'temporal_sticky_cache_hit_total',
  'temporal_workflow_completed_total',
  'temporal_workflow_task_execution_latency_seconds',
] as const;

/**
 * SDK counters the dashboard queries that the Core SDK exports only once the event has
 * happened (no zero sample before): a sticky task for a workflow evicted from the cache
 * (`sticky_cache_miss` in sdk-core's telemetry/metrics.rs).
 */
export const SDK_DASHBOARD_METRICS_ON_EVENT = ['temporal_sticky_cache_miss_total'] as const;
