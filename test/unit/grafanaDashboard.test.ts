import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { exposeSettlementGauge } from '../../src/api/settlementGauge';
import { createPool } from '../../src/db/pool';
import { registry } from '../../src/metrics/registry';
import { SDK_DASHBOARD_METRICS, SDK_DASHBOARD_METRICS_ON_EVENT } from '../../src/metrics/sdk';

interface Panel {
  type: string;
  title: string;
  id: number;
  gridPos: { h: number; w: number; x: number; y: number };
  targets?: { expr: string; refId: string }[];
}

const dashboard = JSON.parse(
  readFileSync(join(__dirname, '..', '..', 'deploy', 'grafana', 'satmachine.json'), 'utf8'),
) as { uid: string; title: string; panels: Panel[]; templating: { list: { name: string }[] } };

/** Every metric name a PromQL expression reads (ours and the SDK's). */
function metricNames(expr: string): string[] {
  return [...expr.matchAll(/\b(?:satmachine|temporal)_[a-z0-9_]+/g)].map((m) => m[0]);
}

describe('the Grafana dashboard (deploy/grafana/satmachine.json)', () => {
  const queries = dashboard.panels.flatMap((p) => (p.targets ?? []).map((t) => ({ panel: p.title, ...t })));

  it('is a dashboard of panels with queries, unique ids and a Prometheus datasource variable', () => {
    expect(dashboard.uid).toBe('satmachine');
    expect(dashboard.templating.list.map((v) => v.name)).toContain('datasource');
    const ids = dashboard.panels.map((p) => p.id);
    expect(new Set(ids).size).toBe(ids.length);
    for (const p of dashboard.panels.filter((x) => x.type !== 'row')) {
      expect(p.targets?.length).toBeGreaterThan(0);
      expect(p.gridPos.x + p.gridPos.w).toBeLessThanOrEqual(24);
    }
    for (const q of queries) expect(metricNames(q.expr).length).toBeGreaterThan(0);
  });

  it('queries only metrics our registry or the Temporal SDK export', async () => {
    // the API registers the settlements-by-status gauge at start; registration reads nothing
    const pool = createPool({ connectionString: 'postgres://unused@127.0.0.1:1/unused', max: 1 });
    exposeSettlementGauge(pool);
    await pool.end();
    const ours = new Set(registry.getMetricsAsArray().map((m) => m.name));
    const sdk = new Set<string>([...SDK_DASHBOARD_METRICS, ...SDK_DASHBOARD_METRICS_ON_EVENT]);
    const unknown: string[] = [];
    for (const q of queries)
      for (const name of metricNames(q.expr)) {
        // a histogram is queried through its _bucket / _sum / _count series
        const base = name.replace(/_(bucket|sum|count)$/, '');
        if (!ours.has(name) && !ours.has(base) && !sdk.has(name) && !sdk.has(base))
          unknown.push(`${q.panel}: ${name}`);
      }
    expect(unknown).toEqual([]);
  });

  it('has the panels the operators asked for', () => {
    const all = queries.map((q) => q.expr).join('\n');
    for (const name of [
      'satmachine_settlements_concluded_total',
      'satmachine_legs_total',
      'satmachine_ingest_dropped_total',
      'satmachine_http_requests_total',
      'satmachine_http_request_duration_seconds_bucket',
      'temporal_workflow_task_schedule_to_start_latency_seconds_bucket',
      'temporal_worker_task_slots_available',
      'temporal_sticky_cache_hit_total',
      'temporal_sticky_cache_miss_total',
    ])
      expect(all).toContain(name);
  });
});
