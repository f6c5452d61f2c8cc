import { resolve } from 'node:path';

/** API_HEAP_GROWING_PERCENT's default: the old generation may grow to 3× its live size between full GCs (src/api/heapHeadroom.ts) */
export const DEFAULT_API_HEAP_GROWING_PERCENT = 200;

/** SETTLEMENT_START_DELAY_MS's default (src/ingest/settlementSignals.ts says why) */
export const DEFAULT_SETTLEMENT_START_DELAY_MS = 1_000;

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
    /**
     * TLS to the cluster at TEMPORAL_ADDRESS (undefined = plaintext): TEMPORAL_TLS=1, or implied by
     * any of TEMPORAL_TLS_CERT/_KEY (mTLS client pair), TEMPORAL_TLS_CA, TEMPORAL_TLS_SERVER_NAME,
     * TEMPORAL_API_KEY. Paths only: the files are read when a connection's options are built.
     */
    tls: TemporalTlsConfig | undefined;
    /** TEMPORAL_API_KEY: Temporal Cloud API-key auth (sent as a bearer token; implies TLS) */
    apiKey: string | undefined;
  };
  /** unset → the embedded relay */
  nostrRelays: string[] | undefined;
  relayHost: string;
  relayPort: number;
  /** limits and write policy of the embedded relay (`satmachine relay`) */
  relay: {
    maxFilters: number;
    maxLimit: number;
    maxSubscriptions: number;
    maxConnectionsPerIp: number;
    maxMessageBytes: number;
    writePolicy: 'known' | 'open';
  };
  /**
   * publicUrl (PUBLIC_URL, default http://<API_HOST>:<PORT>): the one origin NIP-98 tokens are
   * checked against (never the Host header); publicUrlDefaulted when PUBLIC_URL is unset
   */
  api: { host: string; port: number; publicUrl: string; publicUrlDefaulted: boolean };
  paymentBackend: 'ledger' | 'lnbits';
  lnbitsUrl: string | undefined;
  /** LNURL_ALLOW_LOOPBACK=1: Lightning addresses may resolve to 127.0.0.0/8 / ::1 (tests only; refused in production) */
  lnurlAllowLoopback: boolean;
  /** 32-byte key (hex) that encrypts secrets at rest; `start` generates one under .data */
  secretKeyHex: string | undefined;
  stuckThresholdMinutes: number;
  /** worker / ingest: serve /metrics and /healthz on this port (0 = off) */
  metricsPort: number;
  metricsHost: string;
  /** METRICS_TOKEN: when set, every /metrics (API, worker, ingest) needs `Authorization: Bearer <token>` */
  metricsToken: string | undefined;
  /** API: how often satmachine_settlements is counted in the background */
  settlementGaugeIntervalMs: number;
  /** API: how long an API key found active is trusted without a new look-up (a revocation elsewhere takes this long) */
  apiKeyCacheTtlMs: number;
  /** API: V8 old-generation headroom after each full GC, in % of the live heap (0 = V8's own choice); see src/api/heapHeadroom.ts */
  apiHeapGrowingPercent: number;
  /** ingest: how long a settlement started by one signal waits for the other before its first workflow task */
  settlementStartDelayMs: number;
  /** alerts (docs/alerts.md) */
  alerts: {
    /** WEBHOOK_ALLOW_LOOPBACK=1: webhook URLs may reach 127.0.0.0/8 / ::1 (tests only; refused in production) */
    webhookAllowLoopback: boolean;
    /** SMTP_URL: smtp://user:password@host:587 or smtps://…:465; unset = no e-mail alerts */
    smtpUrl: string | undefined;
    /** SMTP_FROM: sender of alert e-mails */
    smtpFrom: string;
    /** ALERT_EVALUATION_SECONDS: time between two evaluations of the alert rules (default 60) */
    evaluationSeconds: number;
  };
}

/** Paths (PEM) and the SNI override of a TLS connection to Temporal. */
export interface TemporalTlsConfig {
  /** TEMPORAL_TLS_CERT and TEMPORAL_TLS_KEY: the client certificate pair (mTLS); both or neither */
  clientCertFile?: string;
  clientKeyFile?: string;
  /** TEMPORAL_TLS_CA: the CA that signed the server's certificate (default: the system's roots) */
  caFile?: string;
  /** TEMPORAL_TLS_SERVER_NAME: the name checked against the server's certificate (SNI) */
  serverName?: string;
}

/** TEMPORAL_TLS* and TEMPORAL_API_KEY, checked: a certificate needs its key and vice versa. */
function temporalTls(address: string | undefined): {
  tls: TemporalTlsConfig | undefined;
  apiKey: string | undefined;
} {
  const cert = str('TEMPORAL_TLS_CERT');
  const key = str('TEMPORAL_TLS_KEY');
  const ca = str('TEMPORAL_TLS_CA');
  const serverName = str('TEMPORAL_TLS_SERVER_NAME');
  const apiKey = str('TEMPORAL_API_KEY');
  const enabled = flag('TEMPORAL_TLS');
  if (cert && !key)
    throw new Error(
      'TEMPORAL_TLS_CERT is set but TEMPORAL_TLS_KEY is not: mTLS needs both the client certificate and its private key (PEM paths)',
    );
  if (key && !cert)
    throw new Error(
      'TEMPORAL_TLS_KEY is set but TEMPORAL_TLS_CERT is not: mTLS needs both the client certificate and its private key (PEM paths)',
    );
  const any = enabled || cert || ca || serverName || apiKey;
  if (!any) return { tls: undefined, apiKey: undefined };
  if (!address) {
    throw new Error(
      'TEMPORAL_TLS, TEMPORAL_TLS_CERT/_KEY/_CA/_SERVER_NAME and TEMPORAL_API_KEY apply to the cluster named by TEMPORAL_ADDRESS; the embedded Temporal runs on loopback without TLS: set TEMPORAL_ADDRESS or unset them',
    );
  }
  return {
    tls: {
      ...(cert && key ? { clientCertFile: resolve(cert), clientKeyFile: resolve(key) } : {}),
      ...(ca ? { caFile: resolve(ca) } : {}),
      ...(serverName ? { serverName } : {}),
    },
    apiKey,
  };
}

function int(name: string, fallback: number): number {
  const raw = process.env[name];
  if (raw === undefined || raw === '') return fallback;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < 0) throw new Error(`${name} must be a non-negative integer, got "${raw}"`);
  return n;
}

/** A positive integer (a limit of 0 would refuse everything). */
function positive(name: string, fallback: number): number {
  const n = int(name, fallback);
  if (n < 1) throw new Error(`${name} must be at least 1, got "${process.env[name]}"`);
  return n;
}

/** A non-negative integer no larger than `max`. */
function atMost(name: string, fallback: number, max: number): number {
  const n = int(name, fallback);
  if (n > max) throw new Error(`${name} must be at most ${max}, got "${process.env[name]}"`);
  return n;
}

function str(name: string): string | undefined {
  const v = process.env[name];
  return v === undefined || v.trim() === '' ? undefined : v.trim();
}

/** PUBLIC_URL: an absolute http(s) URL without query or fragment; its trailing slash is dropped. */
function publicUrlOf(raw: string): string {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw new Error(`PUBLIC_URL must be an absolute URL such as https://atm.example.com, got "${raw}"`);
  }
  if ((url.protocol !== 'http:' && url.protocol !== 'https:') || url.search || url.hash || url.username) {
    throw new Error(
      `PUBLIC_URL must be an http(s) URL without credentials, query or fragment (the base clients sign NIP-98 requests for), got "${raw}"`,
    );
  }
  return url.href.replace(/\/$/, '');
}

function flag(name: string): boolean {
  const raw = str(name);
  if (raw === undefined || raw === '0' || raw.toLowerCase() === 'false') return false;
  if (raw === '1' || raw.toLowerCase() === 'true') return true;
  throw new Error(`${name} must be 1 or 0, got "${raw}"`);
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
  const writePolicy = str('RELAY_WRITE_POLICY') ?? 'known';
  if (writePolicy !== 'known' && writePolicy !== 'open') {
    throw new Error(`RELAY_WRITE_POLICY must be "known" or "open", got "${writePolicy}"`);
  }
  const publicUrl = str('PUBLIC_URL');
  const lnurlAllowLoopback = flag('LNURL_ALLOW_LOOPBACK');
  if (lnurlAllowLoopback && process.env.NODE_ENV === 'production') {
    throw new Error(
      'LNURL_ALLOW_LOOPBACK is for tests only (a Lightning address on 127.0.0.1 reaches this host): unset it when NODE_ENV=production',
    );
  }
  const webhookAllowLoopback = flag('WEBHOOK_ALLOW_LOOPBACK');
  if (webhookAllowLoopback && process.env.NODE_ENV === 'production') {
    throw new Error(
      'WEBHOOK_ALLOW_LOOPBACK is for tests only (a webhook on 127.0.0.1 reaches this host): unset it when NODE_ENV=production',
    );
  }
  const smtpUrl = str('SMTP_URL');
  if (smtpUrl && !/^smtps?:\/\//.test(smtpUrl))
    throw new Error('SMTP_URL must be smtp://[user:password@]host[:port] or smtps://…, see docs/alerts.md');
  const temporalMode = str('TEMPORAL_MODE') ?? 'dev';
  if (temporalMode !== 'dev' && temporalMode !== 'server') {
    throw new Error(
      `TEMPORAL_MODE must be "dev" (the CLI dev server) or "server" (the real server), got "${temporalMode}"`,
    );
  }
  const historyShards = int('TEMPORAL_HISTORY_SHARDS', 4);
  if (historyShards < 1) throw new Error('TEMPORAL_HISTORY_SHARDS must be at least 1');
  const temporalAddress = str('TEMPORAL_ADDRESS');
  const { tls: temporalTlsConfig, apiKey: temporalApiKey } = temporalTls(temporalAddress);
  return {
    dataDir,
    databaseUrl: str('DATABASE_URL'),
    embeddedPostgresPort: int('EMBEDDED_PG_PORT', 54320),
    temporal: {
      address: temporalAddress,
      mode: temporalMode,
      historyShards,
      namespace: str('TEMPORAL_NAMESPACE') ?? 'default',
      taskQueue: str('TEMPORAL_TASK_QUEUE') ?? 'satmachine-settlements',
      port: int('TEMPORAL_PORT', 7233),
      uiPort,
      uiUrl: str('TEMPORAL_UI_URL') ?? `http://127.0.0.1:${uiPort}`,
      tls: temporalTlsConfig,
      apiKey: temporalApiKey,
    },
    nostrRelays: relays
      ? relays
          .split(',')
          .map((r) => r.trim())
          .filter(Boolean)
      : undefined,
    relayHost: str('RELAY_HOST') ?? '127.0.0.1',
    relayPort: int('RELAY_PORT', 7447),
    relay: {
      maxFilters: positive('RELAY_MAX_FILTERS', 10),
      maxLimit: positive('RELAY_MAX_LIMIT', 5000),
      maxSubscriptions: positive('RELAY_MAX_SUBSCRIPTIONS', 20),
      maxConnectionsPerIp: positive('RELAY_MAX_CONNECTIONS_PER_IP', 20),
      maxMessageBytes: positive('RELAY_MAX_MESSAGE_BYTES', 512 * 1024),
      writePolicy,
    },
    api: {
      host: apiHost,
      port: apiPort,
      publicUrl: publicUrl
        ? publicUrlOf(publicUrl)
        : `http://${apiHost.includes(':') ? `[${apiHost}]` : apiHost}:${apiPort}`,
      publicUrlDefaulted: !publicUrl,
    },
    paymentBackend: backend,
    lnbitsUrl: str('LNBITS_URL'),
    lnurlAllowLoopback,
    secretKeyHex: str('SATMACHINE_SECRET_KEY'),
    stuckThresholdMinutes: int('STUCK_THRESHOLD_MINUTES', 30),
    metricsPort: int('METRICS_PORT', 0),
    metricsHost: str('METRICS_HOST') ?? '127.0.0.1',
    metricsToken: str('METRICS_TOKEN'),
    settlementGaugeIntervalMs: positive('SETTLEMENT_GAUGE_INTERVAL_MS', 15_000),
    apiKeyCacheTtlMs: positive('API_KEY_CACHE_TTL_MS', 1_000),
    apiHeapGrowingPercent: atMost('API_HEAP_GROWING_PERCENT', DEFAULT_API_HEAP_GROWING_PERCENT, 1000),
    settlementStartDelayMs: atMost('SETTLEMENT_START_DELAY_MS', DEFAULT_SETTLEMENT_START_DELAY_MS, 60_000),
    alerts: {
      webhookAllowLoopback,
      smtpUrl,
      smtpFrom: str('SMTP_FROM') ?? 'satmachine@localhost',
      evaluationSeconds: positive('ALERT_EVALUATION_SECONDS', 60),
    },
  };
}
