import { randomBytes } from 'node:crypto';
import { settlementWorkflowId } from '../../src/contract';
import { SDK_DASHBOARD_METRICS } from '../../src/metrics/sdk';
import { createMachine, type Operator, createSuperAndOperator } from '../helpers/fixtures';
import { freePort } from '../helpers/ports';
import { spawnSatmachine, type SpawnedProcess } from '../helpers/processes';
import { awaitSettled, sendSettlement } from '../helpers/settle';
import { eventually, freshDatabase, temporalClient, uniqueTaskQueue } from '../helpers/stack';

/** The metric families of an exposition text, by name (`# TYPE` lines). */
function families(text: string): string[] {
  return [...text.matchAll(/^# TYPE (\S+) \S+$/gm)].map((m) => m[1]!);
}

/** `name{labels} value` samples whose name and labels match. */
function samples(text: string, name: string, labels: Record<string, string> = {}): number[] {
  return text
    .split('\n')
    .filter((l) => l.startsWith(`${name}{`) || l.startsWith(`${name} `))
    .filter((l) => Object.entries(labels).every(([k, v]) => l.includes(`${k}="${v}"`)))
    .map((l) => Number(l.slice(l.lastIndexOf(' ') + 1)));
}

/**
 * `satmachine worker` as a real process: its /metrics serves our registry and the
 * Temporal Core SDK's metrics in one scrape, and WORKER_VERSIONING makes it poll as
 * a Worker Deployment version that it promotes to current.
 */
describe('the worker process: SDK metrics beside ours, Worker Versioning from the environment', () => {
  let db: Awaited<ReturnType<typeof freshDatabase>>;
  let temporal: Awaited<ReturnType<typeof temporalClient>>;
  let operator: Operator;
  let worker: SpawnedProcess;
  let metricsUrl: string;
  const taskQueue = uniqueTaskQueue('metrics');
  const deploymentName = `satm-${randomBytes(4).toString('hex')}`;
  const buildId = '0.1.0+abc1234';

  beforeAll(async () => {
    db = await freshDatabase();
    temporal = await temporalClient();
    operator = await createSuperAndOperator(db.pool);
    const port = await freePort();
    metricsUrl = `http://127.0.0.1:${port}/metrics`;
    worker = spawnSatmachine('worker', {
      databaseUrl: db.url,
      taskQueue,
      extra: {
        METRICS_PORT: String(port),
        WORKER_VERSIONING: '1',
        SATMACHINE_DEPLOYMENT_NAME: deploymentName,
        SATMACHINE_BUILD_ID: buildId,
        // legs as normal activities (as with LNbits): the dashboard's activity metrics need one
        LOCAL_LEG_PAYMENTS: '0',
      },
    });
    await worker.waitFor('worker deployment version is current');
  });
  afterAll(async () => {
    await worker?.kill('SIGTERM');
    await temporal.close();
    await db.close();
  });

  it('settles on the promoted version and exposes temporal_ SDK metrics beside satmachine_ ones', async () => {
    const machine = await createMachine(db.pool, operator, { name: 'metered' });
    const hashes: string[] = [];
    for (let i = 0; i < 3; i++)
      hashes.push(
        await sendSettlement(db.pool, temporal.client, taskQueue, machine, operator, {
          wireSats: 100_000 + i,
          feeSats: 4_000,
          fiat: '100.00',
        }),
      );
    for (const h of hashes)
      expect((await awaitSettled(db.pool, temporal.client, h)).status).toBe('processed');

    // the settlements ran on the deployment version the worker made current
    const d = await temporal.client.workflow.getHandle(settlementWorkflowId(hashes[0]!)).describe();
    expect(d.raw.workflowExecutionInfo?.versioningInfo?.deploymentVersion).toMatchObject({
      deploymentName,
      buildId,
    });
    expect(d.raw.workflowExecutionInfo?.versioningInfo?.behavior).toBe(
      // AUTO_UPGRADE (temporal.api.enums.v1.VersioningBehavior)
      2,
    );

    const text = await eventually(
      async () => {
        const t = await (await fetch(metricsUrl)).text();
        // the SDK exports on its own schedule: wait for the completed workflows to show
        const done = samples(t, 'temporal_workflow_completed_total', { task_queue: taskQueue });
        return done.reduce((a, b) => a + b, 0) >= 3 ? t : null;
      },
      30_000,
      'the SDK to export the completed workflows',
    );
    const names = families(text);
    // ours: the settlements and legs counted by this worker
    expect(samples(text, 'satmachine_settlements_concluded_total', { status: 'processed' })).toEqual([3]);
    const { rows } = await db.pool.query<{ n: number }>(
      `SELECT count(*)::int AS n FROM satmachine.dca_payments WHERE status = 'completed'`,
    );
    expect(rows[0]!.n).toBeGreaterThan(0);
    expect(samples(text, 'satmachine_legs_total', { outcome: 'completed' }).reduce((a, b) => a + b, 0)).toBe(
      rows[0]!.n,
    );
    // the SDK's, every one the dashboard queries
    for (const n of SDK_DASHBOARD_METRICS) expect(names).toContain(n);
    expect(
      samples(text, 'temporal_worker_task_slots_available', { task_queue: taskQueue }).length,
    ).toBeGreaterThan(0);
    // one scrape, two prefixes, no family twice
    expect(names.every((n) => n.startsWith('satmachine_') || n.startsWith('temporal_'))).toBe(true);
    expect(new Set(names).size).toBe(names.length);
  });
});
