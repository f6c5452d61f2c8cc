import { resolve } from 'node:path';

/**
 * Runtime configuration, read once from the environment by the CLI and passed
 * down. Every external part has an embedded default: leave its variable unset
 * and `satmachine start` runs it locally.
 */
export interface Config {
  dataDir: string;
  /** unset → embedded PostgreSQL under <dataDir>/pg */
  databaseUrl: string | undefined;
  embeddedPostgresPort: number;
  temporal: {
    /** unset → embedded Temporal: the dev server, or the real server with `mode: 'server'` */
    address: string | undefined;
    /** TEMPORAL_MODE: which Temporal `satmachine start` embeds when TEMPORAL_ADDRESS is unset */
    mode: 'dev' | 'server';
    /** TEMPORAL_HISTORY_SHARDS: history shards of the embedded real server (fixed once created) */
    historyShards: number;
    namespace: string;
    taskQueue: string;
    /** frontend (gRPC) port of the embedded dev server */
    port: number;
    uiPort: number;
    uiUrl: string;
  };
  /** unset → the embedded relay */
  nostrRelays: string[] | undefined;
  relayHost: string;
  relayPort: number;
  api: { host: string; port: number; publicUrl: string };
  paymentBackend: 'ledger' | 'lnbits';
  lnbitsUrl: string | undefined;
  /** 32-byte key (hex) that encrypts secrets at rest; `start` generates one under .data */
  secretKeyHex: string | undefined;
  stuckThresholdMinutes: number;
  /** worker / ingest: serve /metrics and /healthz on this port (0 = off) */
  metricsPort: number;
  metricsHost: string;
}

function int(name: string, fallback: number): number {
  const raw = process.env[name];
  if (raw === undefined || raw === '') return fallback;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < 0) throw new Error(`${name} must be a non-negative integer, got "${raw}"`);
  return n;
}

function str(name: string): string | undefined {
  const v = process.env[name];
  return v === undefined || v.trim() === '' ? undefined : v.trim();
}

export function loadConfig(): Config {
  const dataDir = resolve(str('SATMACHINE_DATA_DIR') ?? '.data');
  const apiHost = str('API_HOST') ?? '127.0.0.1';
  const apiPort = int('PORT', 3000);
  const uiPort = int('TEMPORAL_UI_PORT', 8233);
  const backend = str('PAYMENT_BACKEND') ?? 'ledger';
  if (backend !== 'ledger' && backend !== 'lnbits') {
    throw new Error(`PAYMENT_BACKEND must be "ledger" or "lnbits", got "${backend}"`);
  }
  const relays = str('NOSTR_RELAYS');
  const temporalMode = str('TEMPORAL_MODE') ?? 'dev';
  if (temporalMode !== 'dev' && temporalMode !== 'server') {
    throw new Error(
      `TEMPORAL_MODE must be "dev" (the CLI dev server) or "server" (the real server), got "${temporalMode}"`,
    );
  }
  const historyShards = int('TEMPORAL_HISTORY_SHARDS', 4);
  if (historyShards < 1) throw new Error('TEMPORAL_HISTORY_SHARDS must be at least 1');
  return {
    dataDir,
    databaseUrl: str('DATABASE_URL'),
    embeddedPostgresPort: int('EMBEDDED_PG_PORT', 54320),
    temporal: {
      address: str('TEMPORAL_ADDRESS'),
      mode: temporalMode,
      historyShards,
      namespace: str('TEMPORAL_NAMESPACE') ?? 'default',
      taskQueue: str('TEMPORAL_TASK_QUEUE') ?? 'satmachine-settlements',
      port: int('TEMPORAL_PORT', 7233),
      uiPort,
      uiUrl: str('TEMPORAL_UI_URL') ?? `http://127.0.0.1:${uiPort}`,
    },
    nostrRelays: relays
      ? relays
          .split(',')
          .map((r) => r.trim())
          .filter(Boolean)
      : undefined,
    relayHost: str('RELAY_HOST') ?? '127.0.0.1',
    relayPort: int('RELAY_PORT', 7447),
    api: {
      host: apiHost,
      port: apiPort,
      publicUrl: str('PUBLIC_URL') ?? `http://${apiHost}:${apiPort}`,
    },
    paymentBackend: backend,
    lnbitsUrl: str('LNBITS_URL'),
    secretKeyHex: str('SATMACHINE_SECRET_KEY'),
    stuckThresholdMinutes: int('STUCK_THRESHOLD_MINUTES', 30),
    metricsPort: int('METRICS_PORT', 0),
    metricsHost: str('METRICS_HOST') ?? '127.0.0.1',
  };
}
