import type { Pool } from '../db/pool';
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
  const lnbits = new LnbitsBackend({
    pool,
    logger,
    url: cfg.lnbitsUrl,
    secretBox: cfg.secretBox,
    pollIntervalMs: cfg.lnbitsPollIntervalMs,
    lnurl: { allowLoopback: cfg.lnurlAllowLoopback ?? false },
  });
  return { backend: lnbits, ledger: null, lnbits };
}
