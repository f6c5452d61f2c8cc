import type { Pool } from '../db/pool';
import type { Logger } from '../logger';
import type { PaymentBackend } from '../payments/backend';
import type { SecretBox } from '../security/secretBox';

/** What the activities need from the outside world; built once per worker. */
export interface ActivityDeps {
  pool: Pool;
  payments: PaymentBackend;
  secretBox: SecretBox;
  logger: Logger;
  /**
   * Legs the backend pays in the database (the ledger) run as local activities
   * (default true; LOCAL_LEG_PAYMENTS=0 turns it off): see ./legExecution.
   */
  localLegPayments?: boolean;
  /** where alerts are delivered (docs/alerts.md); absent: no relays, loopback refused, no e-mail */
  alerts?: AlertDeliveryConfig;
}

/** The worker's alert configuration. */
export interface AlertDeliveryConfig {
  /** the relays Nostr DMs are published to, and whose readability is checked */
  relays: string[];
  /** WEBHOOK_ALLOW_LOOPBACK=1: webhooks may reach 127.0.0.0/8 and ::1 (tests only) */
  webhookAllowLoopback: boolean;
  /** SMTP_URL: e-mail alerts on when set */
  smtpUrl?: string;
  /** SMTP_FROM: the sender address of alert e-mails */
  smtpFrom?: string;
  /** LNBITS_URL (PAYMENT_BACKEND=lnbits): machine wallet balances are read there */
  lnbitsUrl?: string;
  /** how long a relay may take to answer the readability probe (default 5 s) */
  relayProbeTimeoutMs?: number;
}
