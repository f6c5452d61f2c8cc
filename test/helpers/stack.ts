import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { Client, Connection } from '@temporalio/client';
import {
  NativeConnection,
  Runtime,
  DefaultLogger,
  type Worker,
  type WorkflowBundleOption,
} from '@temporalio/worker';
import { createPool, type Pool } from '../../src/db/pool';
import { logger } from '../../src/logger';
import { LedgerBackend } from '../../src/payments/ledger';
import type { PaymentBackend } from '../../src/payments/backend';
import { SecretBox } from '../../src/security/secretBox';
import { createWorker } from '../../src/worker/worker';
import type { AlertDeliveryConfig } from '../../src/activities';

export const testLogger = logger;
export const TEST_SECRET_KEY = '00'.repeat(31) + '01';

let runtimeInstalled = false;
export function quietRuntime(): void {
  if (runtimeInstalled) return;
  runtimeInstalled = true;
  try {
    Runtime.install({ logger: new DefaultLogger('ERROR') });
  } catch {
    /* already installed in this worker process */
  }
}

/** A fresh database (from the migrated template) for one test file; dropped by `close`. */
export async function freshDatabase(): Promise<{
  pool: Pool;
  url: string;
  name: string;
  close: () => Promise<void>;
}> {
  const admin = process.env.SATMACHINE_TEST_PG_URL!;
  const name = `t_${randomBytes(6).toString('hex')}`;
  const c = new pg.Client({ connectionString: admin });
  await c.connect();
  await c.query(`CREATE DATABASE ${name} TEMPLATE ${process.env.SATMACHINE_TEST_TEMPLATE_DB}`);
  await c.end();
  const url = admin.replace(/\/postgres$/, `/${name}`);
  const pool = createPool({ connectionString: url, max: 30, applicationName: 'satmachine-test' });
  return {
    pool,
    url,
    name,
    close: async () => {
      await pool.end();
      const d = new pg.Client({ connectionString: admin });
      await d.connect();
      await d.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
      await d.end();
    },
  };
}

export function uniqueTaskQueue(prefix = 'test'): string {
  return `${prefix}-${randomBytes(5).toString('hex')}`;
}

export async function temporalClient(): Promise<{ client: Client; close: () => Promise<void> }> {
  const connection = await Connection.connect({ address: process.env.SATMACHINE_TEST_TEMPORAL_ADDRESS! });
  return { client: new Client({ connection, namespace: 'default' }), close: () => connection.close() };
}

export interface TestWorker {
  worker: Worker;
  taskQueue: string;
  /** runs the worker until `fn` settles */
  runUntil<T>(fn: () => Promise<T>): Promise<T>;
  /** starts the worker in the background; `stop()` shuts it down */
  start(): { stop: () => Promise<void> };
}

/** A worker on a unique task queue, using the bundle built by the global setup. */
export async function testWorker(opts: {
  pool: Pool;
  taskQueue?: string;
  payments?: PaymentBackend;
  secretBox?: SecretBox;
  logger?: typeof logger;
  /** another workflow bundle than the global setup's (a patched build) */
  workflowBundle?: WorkflowBundleOption;
  /** Worker Versioning: poll as this deployment version */
  deployment?: { deploymentName: string; buildId: string };
  /** legs the backend pays in the database as local activities (default: LOCAL_LEG_PAYMENTS, on) */
  localLegPayments?: boolean;
  /** alert delivery (relays, loopback webhooks, SMTP) */
  alerts?: AlertDeliveryConfig;
}): Promise<TestWorker> {
  quietRuntime();
  const taskQueue = opts.taskQueue ?? uniqueTaskQueue();
  const connection = await NativeConnection.connect({
    address: process.env.SATMACHINE_TEST_TEMPORAL_ADDRESS!,
  });
  const worker = await createWorker({
    connection,
    namespace: 'default',
    taskQueue,
    deps: {
      pool: opts.pool,
      payments: opts.payments ?? new LedgerBackend({ pool: opts.pool, logger }),
      secretBox: opts.secretBox ?? new SecretBox(TEST_SECRET_KEY),
      logger: opts.logger ?? logger,
      ...(opts.localLegPayments !== undefined ? { localLegPayments: opts.localLegPayments } : {}),
      ...(opts.alerts ? { alerts: opts.alerts } : {}),
    },
    workflowBundle: opts.workflowBundle ?? { codePath: process.env.SATMACHINE_TEST_BUNDLE! },
    ...(opts.deployment ? { deployment: opts.deployment } : {}),
  });
  return {
    worker,
    taskQueue,
    runUntil: async (fn) => {
      try {
        return await worker.runUntil(fn);
      } finally {
        await connection.close();
      }
    },
    start: () => {
      const running = worker.run();
      return {
        stop: async () => {
          worker.shutdown();
          await running;
          await connection.close();
        },
      };
    },
  };
}

/** Polls `fn` until it returns a truthy value (or throws after `timeoutMs`). */
export async function eventually<T>(
  fn: () => Promise<T | null | undefined | false>,
  timeoutMs = 30_000,
  what = 'condition',
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const v = await fn();
      if (v) return v;
    } catch (err) {
      last = err;
    }
    if (Date.now() > deadline)
      throw new Error(`timed out waiting for ${what}${last ? `: ${(last as Error).message}` : ''}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}
