import type { Config } from '../../config';
import { startIngest } from '../../ingest/ingestService';
import { startMetricsServer } from '../../metrics/server';
import type { Logger } from '../../logger';
import { createPaymentBackend } from '../../payments';
import { lazyTemporalClient } from '../../temporalClient';
import {
  exitWithSupervisor,
  loadSecretBox,
  openPool,
  relayUrls,
  temporalTarget,
  untilSignal,
} from '../runtime';

export async function ingestCommand(config: Config, log: Logger): Promise<void> {
  exitWithSupervisor();
  const metrics = config.metricsPort
    ? await startMetricsServer(config.metricsPort, config.metricsHost, { token: config.metricsToken })
    : null;
  const pool = openPool(config, 'satmachine-ingest', 10);
  const client = lazyTemporalClient(temporalTarget(config));
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
  const ingest = await startIngest({
    pool,
    client,
    relays: relayUrls(config),
    taskQueue: config.temporal.taskQueue,
    secretBox: loadSecretBox(config),
    payments: backend,
    logger: log,
    stuckAfterMs: config.stuckThresholdMinutes * 60_000,
    settlementStartDelayMs: config.settlementStartDelayMs,
  });
  await untilSignal();
  await ingest.stop();
  await client.connection.close().catch(() => undefined);
  await backend.close();
  await pool.end();
  metrics?.close();
}
