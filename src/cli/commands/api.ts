import type { Server } from 'node:http';
import type { Config } from '../../config';
import { createApp } from '../../api/app';
import { applyHeapHeadroom } from '../../api/heapHeadroom';
import { stopSettlementGauge } from '../../api/settlementGauge';
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

export async function apiCommand(config: Config, log: Logger): Promise<void> {
  exitWithSupervisor();
  applyHeapHeadroom(config.apiHeapGrowingPercent);
  const pool = openPool(config, 'satmachine-api', 20);
  const temporal = lazyTemporalClient(temporalTarget(config));
  const { ledger, lnbits } = createPaymentBackend(
    {
      kind: config.paymentBackend,
      lnbitsUrl: config.lnbitsUrl,
      lnurlAllowLoopback: config.lnurlAllowLoopback,
      secretBox: loadSecretBox(config),
    },
    pool,
    log,
  );
  const app = createApp({
    pool,
    temporal,
    secretBox: loadSecretBox(config),
    logger: log,
    ledger,
    lnbits: lnbits?.wallets ?? null,
    config: {
      taskQueue: config.temporal.taskQueue,
      namespace: config.temporal.namespace,
      temporalUiUrl: config.temporal.uiUrl,
      publicUrl: config.api.publicUrl,
      relays: relayUrls(config),
      stuckThresholdMinutes: config.stuckThresholdMinutes,
      metricsToken: config.metricsToken,
      settlementGaugeIntervalMs: config.settlementGaugeIntervalMs,
      apiKeyCacheTtlMs: config.apiKeyCacheTtlMs,
      webhookAllowLoopback: config.alerts.webhookAllowLoopback,
    },
  });
  const server: Server = await new Promise((resolve, reject) => {
    const s = app.listen(config.api.port, config.api.host, () => resolve(s));
    s.once('error', (err) =>
      reject(
        new Error(
          `API cannot listen on ${config.api.host}:${config.api.port} (${err.message}); set PORT to another port`,
        ),
      ),
    );
  });
  log.info({ url: config.api.publicUrl }, 'API listening');
  if (config.api.publicUrlDefaulted && ['0.0.0.0', '::', '[::]'].includes(config.api.host)) {
    log.warn(
      { public_url: config.api.publicUrl },
      'PUBLIC_URL is unset and the API listens on every interface: NIP-98 requests are checked against ' +
        `${config.api.publicUrl}, which no client signs for; set PUBLIC_URL to the URL clients use`,
    );
  }
  await untilSignal();
  await new Promise<void>((r) => server.close(() => r()));
  await stopSettlementGauge();
  await temporal.connection.close().catch(() => undefined);
  await pool.end();
}
