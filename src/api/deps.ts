import type { Client } from '@temporalio/client';
import type { Pool } from '../db/pool';
import type { ApiKeyCache } from './apiKeyCache';
import type { Logger } from '../logger';
import type { LedgerBackend } from '../payments/ledger';
import type { LnbitsWalletKeys } from '../payments/lnbitsWallets';
import type { SecretBox } from '../security/secretBox';

export interface ApiDeps {
  pool: Pool;
  temporal: Client;
  secretBox: SecretBox;
  logger: Logger;
  /** the embedded ledger, when PAYMENT_BACKEND=ledger (its routes exist only then) */
  ledger: LedgerBackend | null;
  /** the LNbits wallet-key registry, when PAYMENT_BACKEND=lnbits (its wallet-key routes exist only then) */
  lnbits?: LnbitsWalletKeys | null;
  /** API key look-ups (createApp makes one when absent); revocations through the API clear it */
  apiKeyCache?: ApiKeyCache;
  config: {
    taskQueue: string;
    namespace: string;
    temporalUiUrl: string;
    publicUrl: string;
    relays: string[];
    stuckThresholdMinutes: number;
    bodyLimit?: string;
    /** METRICS_TOKEN: when set, /metrics needs `Authorization: Bearer <token>` */
    metricsToken?: string;
    /** SETTLEMENT_GAUGE_INTERVAL_MS: how often the settlements-by-status gauge is counted (default 15 s) */
    settlementGaugeIntervalMs?: number;
    /** API_KEY_CACHE_TTL_MS: how long a key found active is trusted without a new look-up (default 1 s) */
    apiKeyCacheTtlMs?: number;
    /** WEBHOOK_ALLOW_LOOPBACK: alert webhook URLs may point at loopback (tests only) */
    webhookAllowLoopback?: boolean;
  };
}
