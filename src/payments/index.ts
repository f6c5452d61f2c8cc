import type { Pool } from '../db/pool';
import type { Logger } from '../logger';
import type { PaymentBackend } from './backend';
import { LedgerBackend } from './ledger';

export interface PaymentBackendConfig {
  kind: 'ledger' | 'lnbits';
  lnbitsUrl?: string;
  ledgerLnDomain?: string;
}

/**
 * The one place that picks a payment backend. `ledger` is also returned on its
 * own when selected, for the ledger-only API routes (wallets, reported payments).
 */
export function createPaymentBackend(
  cfg: PaymentBackendConfig,
  pool: Pool,
  logger: Logger,
): { backend: PaymentBackend; ledger: LedgerBackend | null } {
  if (cfg.kind === 'ledger') {
    const ledger = new LedgerBackend({ pool, logger, lnAddressDomain: cfg.ledgerLnDomain });
    return { backend: ledger, ledger };
  }
  throw new Error('PAYMENT_BACKEND=lnbits is not available yet');
}
