import { NativeConnection, Runtime, makeTelemetryFilterString } from '@temporalio/worker';
import type { Config } from '../../config';
import type { Logger } from '../../logger';
import { createPaymentBackend } from '../../payments';
import { createWorker } from '../../worker/worker';
import { startMetricsServer } from '../../metrics/server';
import { exitWithSupervisor, loadSecretBox, openPool, temporalAddress } from '../runtime';
import { pinoTemporalLogger } from '../../worker/temporalLogger';

/** Connects to Temporal, retrying while the server comes up. */
export async function connectNative(address: string, log: Logger): Promise<NativeConnection> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await NativeConnection.connect({ address });
    } catch (err) {
      if (attempt % 10 === 1)
        log.warn({ address, err: (err as Error).message }, 'Temporal not reachable yet; retrying');
      await new Promise((r) => setTimeout(r, Math.min(500 * attempt, 5000)));
    }
  }
}

export async function workerCommand(config: Config, log: Logger): Promise<void> {
  exitWithSupervisor();
  const metrics = config.metricsPort
    ? await startMetricsServer(config.metricsPort, config.metricsHost, config.metricsToken)
    : null;
  Runtime.install({
    logger: pinoTemporalLogger(log.child({ component: 'temporal-sdk' })),
    telemetryOptions: { logging: { filter: makeTelemetryFilterString({ core: 'WARN' }), forward: {} } },
  });
  const pool = openPool(config, 'satmachine-worker', 50);
  const { backend } = createPaymentBackend(
    {
      kind: config.paymentBackend,
      lnbitsUrl: config.lnbitsUrl,
      lnurlAllowLoopback: config.lnurlAllowLoopback,
      secretBox: loadSecretBox(config),
    },
    pool,
    log,
  );
  const connection = await connectNative(temporalAddress(config), log);
  const worker = await createWorker({
    connection,
    namespace: config.temporal.namespace,
    taskQueue: config.temporal.taskQueue,
    deps: { pool, payments: backend, secretBox: loadSecretBox(config), logger: log },
    // a prebuilt workflow bundle (scripts or tests build it once) saves the webpack step at start
    ...(process.env.WORKFLOW_BUNDLE_PATH
      ? { workflowBundle: { codePath: process.env.WORKFLOW_BUNDLE_PATH } }
      : {}),
  });
  log.info({ task_queue: config.temporal.taskQueue }, 'worker running');
  // the SDK shuts the worker down on SIGINT/SIGTERM and run() resolves
  await worker.run();
  await connection.close();
  await backend.close();
  await pool.end();
  metrics?.close();
}
