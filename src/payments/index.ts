import { createPool, type Pool } from '../db/pool';

/** Connections of the LNbits backend's own pool (one statement each, never held across a call). */
export const LNBITS_POOL_SIZE = 5;
import type { Logger } from '../logger';
import type { SecretBox } from '../security/secretBox';
import type { PaymentBackend } from './backend';
import { LedgerBackend } from './ledger';
import { LnbitsBackend } from './lnbits';

export interface PaymentBackendConfig {
  kind: 'ledger' | 'lnbits';
  lnbitsUrl?: string;
  ledgerLnDomain?: string;
  /** lnbits: opens the wallet keys sealed at rest (SATMACHINE_SECRET_KEY) */
  secretBox?: SecretBox;
  /** lnbits: how often the payment observer polls a wallet without a live websocket */
  lnbitsPollIntervalMs?: number;
  /** lnbits: Lightning addresses may resolve to loopback (LNURL_ALLOW_LOOPBACK, tests only) */
  lnurlAllowLoopback?: boolean;
}

/**
 * The one place that picks a payment backend. `ledger` is also returned on its
 * own when selected, for the ledger-only API routes (wallets, reported payments);
 * `lnbits` likewise, for the routes that register LNbits wallet keys.
 */
export function createPaymentBackend(
  cfg: PaymentBackendConfig,
  pool: Pool,
  logger: Logger,
): { backend: PaymentBackend; ledger: LedgerBackend | null; lnbits: LnbitsBackend | null } {
  if (cfg.kind === 'ledger') {
    const ledger = new LedgerBackend({ pool, logger, lnAddressDomain: cfg.ledgerLnDomain });
    return { backend: ledger, ledger, lnbits: null };
  }
  if (!cfg.lnbitsUrl) {
    throw new Error(
      'PAYMENT_BACKEND=lnbits needs LNBITS_URL (the base URL of your LNbits, e.g. https://lnbits.example.com); see docs/lnbits.md',
    );
  }
  if (!cfg.secretBox) throw new Error('PAYMENT_BACKEND=lnbits needs the secret key that seals wallet keys');
  // LNbits commits its invoice record before paying, so it cannot share the caller's leg
  // transaction: it gets a pool of its own. Its connections are held for one statement
  // each and never wait for the caller's pool, so a payLeg holding a connection of the
  // caller's pool while it waits for one of these cannot deadlock (no circular wait).
  const lnbitsPool = createPool({
    connectionString: pool.options.connectionString!,
    max: LNBITS_POOL_SIZE,
    applicationName: 'satmachine-lnbits',
  });
  const lnbits = new LnbitsBackend({
    pool: lnbitsPool,
    ownsPool: true,
    logger,
    url: cfg.lnbitsUrl,
    secretBox: cfg.secretBox,
    pollIntervalMs: cfg.lnbitsPollIntervalMs,
    lnurl: { allowLoopback: cfg.lnurlAllowLoopback ?? false },
  });
  return { backend: lnbits, ledger: null, lnbits };
}
