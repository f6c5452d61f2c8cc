import { NativeConnection, Runtime, makeTelemetryFilterString } from '@temporalio/worker';
import type { Config } from '../../config';
import type { Logger } from '../../logger';
import { createPaymentBackend } from '../../payments';
import { createServer } from 'node:net';
import { createWorker } from '../../worker/worker';
import { setCurrentVersion, workerDeploymentFromEnv } from '../../worker/versioning';
import { startMetricsServer } from '../../metrics/server';
import { sdkMetricsReader, sdkPrometheusOptions } from '../../metrics/sdk';
import { exitWithSupervisor, loadSecretBox, openPool, relayUrls, temporalTarget } from '../runtime';
import {
  lazyTemporalClient,
  temporalConnectionOptions,
  type TemporalConnectionOptions,
} from '../../temporalClient';
import { ensureAlertEvaluatorInBackground } from '../../worker/alertEvaluator';
import { pinoTemporalLogger } from '../../worker/temporalLogger';
import { workerIdleInTransactionTimeoutMs } from '../../db/pool';
import { workerSettings } from '../../worker/settings';
import { temporalSdkPatched } from '../../worker/sdkPatch';

/**
 * Connects to Temporal with `options` (temporalConnectionOptions: address, TLS, API key),
 * retrying while the server comes up.
 */
export async function connectNative(
  options: TemporalConnectionOptions,
  log: Logger,
): Promise<NativeConnection> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await NativeConnection.connect(options);
    } catch (err) {
      if (attempt % 10 === 1)
        log.warn(
          { address: options.address, tls: Boolean(options.tls), err: (err as Error).message },
          'Temporal not reachable yet; retrying',
        );
      await new Promise((r) => setTimeout(r, Math.min(500 * attempt, 5000)));
    }
  }
}

/** A free TCP port on 127.0.0.1 (the SDK's internal metrics endpoint). */
function freeLocalPort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as { port: number };
      srv.close(() => resolve(port));
    });
  });
}

/** Where to read an exporter bound to `host:port`: a wildcard host is read on loopback. */
function localAddress(bind: string): string {
  const i = bind.lastIndexOf(':');
  const host = bind.slice(0, i);
  return ['0.0.0.0', '[::]', '::', ''].includes(host) ? `127.0.0.1:${bind.slice(i + 1)}` : bind;
}

export async function workerCommand(config: Config, log: Logger): Promise<void> {
  exitWithSupervisor();
  // reads the TLS files now: a wrong path stops the worker at start-up
  const connectionOptions = temporalConnectionOptions(temporalTarget(config));
  const deployment = workerDeploymentFromEnv();
  // the Core SDK's own Prometheus endpoint: WORKER_SDK_METRICS_ADDRESS, else an internal
  // 127.0.0.1 port whose text our /metrics appends (one scrape gets both)
  const sdkMetricsAddress =
    process.env.WORKER_SDK_METRICS_ADDRESS?.trim() ||
    (config.metricsPort ? `127.0.0.1:${await freeLocalPort()}` : undefined);
  Runtime.install({
    logger: pinoTemporalLogger(log.child({ component: 'temporal-sdk' })),
    telemetryOptions: {
      logging: { filter: makeTelemetryFilterString({ core: 'WARN' }), forward: {} },
      ...(sdkMetricsAddress ? { metrics: sdkPrometheusOptions(sdkMetricsAddress) } : {}),
    },
  });
  const metrics = config.metricsPort
    ? await startMetricsServer(config.metricsPort, config.metricsHost, {
        token: config.metricsToken,
        ...(sdkMetricsAddress
          ? {
              append: sdkMetricsReader(`http://${localAddress(sdkMetricsAddress)}/metrics`),
            }
          : {}),
      })
    : null;
  // slots, cache, pool size and leg execution: one place, recorded by the bench as they are
  const settings = workerSettings();
  // a leg's transaction stays open while the backend pays: the worker's idle limit outlasts any payment
  const pool = openPool(config, 'satmachine-worker', settings.pgPoolSize, {
    idleInTransactionTimeoutMs: workerIdleInTransactionTimeoutMs(),
  });
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
  const connection = await connectNative(connectionOptions, log);
  const worker = await createWorker({
    connection,
    namespace: config.temporal.namespace,
    taskQueue: config.temporal.taskQueue,
    deps: {
      pool,
      payments: backend,
      secretBox: loadSecretBox(config),
      logger: log,
      alerts: {
        relays: relayUrls(config),
        webhookAllowLoopback: config.alerts.webhookAllowLoopback,
        smtpUrl: config.alerts.smtpUrl,
        smtpFrom: config.alerts.smtpFrom,
        lnbitsUrl: config.lnbitsUrl,
      },
    },
    settings,
    ...(deployment ? { deployment } : {}),
    // a prebuilt workflow bundle (scripts or tests build it once) saves the webpack step at start
    ...(process.env.WORKFLOW_BUNDLE_PATH
      ? { workflowBundle: { codePath: process.env.WORKFLOW_BUNDLE_PATH } }
      : {}),
  });
  const sdkPatched = temporalSdkPatched();
  if (!sdkPatched)
    log.warn(
      'the Temporal SDK patch is not applied (every call into the workflow sandbox starts a thread): run `npm ci`, or `node scripts/patch-temporal-sdk.mjs`',
    );
  log.info(
    {
      task_queue: config.temporal.taskQueue,
      settings,
      temporal_sdk_patched: sdkPatched,
      ...(deployment ? { deployment: deployment.deploymentName, build_id: deployment.buildId } : {}),
      ...(sdkMetricsAddress ? { sdk_metrics: sdkMetricsAddress } : {}),
    },
    'worker running',
  );
  // the SDK shuts the worker down on SIGINT/SIGTERM and run() resolves
  const running = worker.run();
  // the platform-wide alert evaluator (docs/alerts.md): started once, kept when it runs
  const evaluator = ensureAlertEvaluatorInBackground(
    lazyTemporalClient(temporalTarget(config)),
    { taskQueue: config.temporal.taskQueue, intervalMs: config.alerts.evaluationSeconds * 1000 },
    log,
  );
  running.catch(() => undefined); // awaited below; no unhandled rejection while promoting
  if (deployment?.promote) {
    // the server knows the version once this worker has polled; setCurrentVersion waits for that
    try {
      const previous = await setCurrentVersion(connection, config.temporal.namespace, deployment, {
        identity: `satmachine-worker ${deployment.buildId}`,
      });
      log.info(
        { deployment: deployment.deploymentName, build_id: deployment.buildId, previous },
        'worker deployment version is current',
      );
    } catch (err) {
      log.error({ err: (err as Error).message }, 'worker deployment version not made current');
    }
  }
  await running;
  evaluator.stop();
  await connection.close();
  await backend.close();
  await pool.end();
  metrics?.close();
}
