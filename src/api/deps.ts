import type { Client } from '@temporalio/client';
import type { Pool } from '../db/pool';
import type { Logger } from '../logger';
import type { LedgerBackend } from '../payments/ledger';
import type { LnbitsBackend } from '../payments/lnbits';
import type { SecretBox } from '../security/secretBox';

export interface ApiDeps {
  pool: Pool;
  temporal: Client;
  secretBox: SecretBox;
  logger: Logger;
  /** the embedded ledger, when PAYMENT_BACKEND=ledger (its routes exist only then) */
  ledger: LedgerBackend | null;
  /** the LNbits backend, when PAYMENT_BACKEND=lnbits (its wallet-key routes exist only then) */
  lnbits?: LnbitsBackend | null;
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
    /** WEBHOOK_ALLOW_LOOPBACK: alert webhook URLs may point at loopback (tests only) */
    webhookAllowLoopback?: boolean;
  };
}
