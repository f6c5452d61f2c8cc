import type { Pool } from '../db/pool';
import type { Logger } from '../logger';
import type { SecretBox } from '../security/secretBox';
import type {
  ObservedPayment,
  PayAddressRequest,
  PayWalletRequest,
  PaymentBackend,
  PaymentObserver,
  PaymentResult,
  PaymentVenue,
} from './backend';
import { LnbitsClient, LnbitsUnavailableError } from './lnbitsClient';
import { LnbitsInvoices } from './lnbitsInvoices';
import { observeLnbitsPayments } from './lnbitsObserver';
import { LnbitsPayer } from './lnbitsPayer';
import { LnbitsPaymentStatus } from './lnbitsPaymentStatus';
import { LnbitsWalletRegistry, type LnbitsWalletKeys, type LnbitsWalletView } from './lnbitsWallets';
import type { LnurlOptions } from './lnurl';

export interface LnbitsOptions {
  pool: Pool;
  /** `close()` ends `pool` (createPaymentBackend gives the backend a pool of its own) */
  ownsPool?: boolean;
  logger: Logger;
  /** LNBITS_URL */
  url: string;
  /** opens the sealed wallet keys */
  secretBox: SecretBox;
  /** observer: how often a wallet without a live websocket is polled (default 5 s) */
  pollIntervalMs?: number;
  /** observer: how often a wallet with a live websocket is polled all the same (default 60 s) */
  safetyPollMs?: number;
  /** lifetime of the invoices satmachine creates for wallet-to-wallet payments (default 24 h) */
  invoiceExpirySeconds?: number;
  requestTimeoutMs?: number;
  /**
   * Lightning addresses (LNURL-pay): allowLoopback (tests only: their LNURL server runs on
   * 127.0.0.1), and the time and size caps. Default: public addresses only, 10 s, 64 KB.
   */
  lnurl?: LnurlOptions;
}

/**
 * A real LNbits over its REST API, as a PaymentBackend: one client and one pool shared
 * by the wallet-key registry (src/payments/lnbitsWallets.ts, what the API needs), the
 * payer (src/payments/lnbitsPayer.ts: invoices stored before they are paid, exactly
 * once per idempotency key) and the payment observer (src/payments/lnbitsObserver.ts).
 */
export class LnbitsBackend implements PaymentBackend, LnbitsWalletKeys {
  readonly name = 'lnbits';
  readonly client: LnbitsClient;
  readonly wallets: LnbitsWalletRegistry;
  private readonly payer: LnbitsPayer;
  private readonly pool: Pool;
  private readonly log: Logger;
  private readonly opts: LnbitsOptions;
  private readonly observers = new Set<PaymentObserver>();

  constructor(opts: LnbitsOptions) {
    this.opts = opts;
    this.pool = opts.pool;
    this.log = opts.logger.child({ component: 'lnbits' });
    this.client = new LnbitsClient(opts.url, { timeoutMs: opts.requestTimeoutMs });
    this.wallets = new LnbitsWalletRegistry(this.pool, this.client, opts.secretBox, this.log, opts.lnurl);
    const invoices = new LnbitsInvoices(this.pool, this.client, this.wallets, this.log, {
      invoiceExpirySeconds: opts.invoiceExpirySeconds,
      lnurl: opts.lnurl,
    });
    const status = new LnbitsPaymentStatus(this.client, this.wallets);
    this.payer = new LnbitsPayer(this.pool, this.client, this.wallets, status, invoices, this.log);
    if (opts.lnurl?.allowLoopback) {
      this.log.warn(
        { lnurl_allow_loopback: true },
        'LNURL_ALLOW_LOOPBACK is on: Lightning addresses may reach 127.0.0.1 / ::1 on this host. For tests only; never in production',
      );
    }
  }

  // ---- wallet keys (the registry's) ------------------------------------------------

  addressProblem(address: string): Promise<string | null> {
    return this.wallets.addressProblem(address);
  }
  registerWallet(
    ownerUserId: string,
    input: { wallet_id: string; admin_key?: string | null; invoice_key: string },
  ): Promise<{ wallet: LnbitsWalletView; created: boolean }> {
    return this.wallets.registerWallet(ownerUserId, input);
  }
  listWallets(ownerUserId: string | null): Promise<LnbitsWalletView[]> {
    return this.wallets.listWallets(ownerUserId);
  }
  getWallet(walletId: string): Promise<LnbitsWalletView | null> {
    return this.wallets.getWallet(walletId);
  }
  deleteWallet(walletId: string, ownerUserId: string | null): Promise<boolean> {
    return this.wallets.deleteWallet(walletId, ownerUserId);
  }

  // ---- paying (the payer's) --------------------------------------------------------

  /** Every LNbits payment is a call to its REST API (and LNURL-pay to a Lightning address): the network. */
  venueOf(): PaymentVenue {
    return 'network';
  }

  payWallet(req: PayWalletRequest): Promise<PaymentResult> {
    return this.payer.payWallet(req);
  }
  payLightningAddress(req: PayAddressRequest): Promise<PaymentResult> {
    return this.payer.payLightningAddress(req);
  }
  lookupPayment(idempotencyKey: string): Promise<PaymentResult | null> {
    return this.payer.lookupPayment(idempotencyKey);
  }

  // ---- observing ------------------------------------------------------------------------

  observePayments(handler: (p: ObservedPayment) => Promise<void>): PaymentObserver {
    const observer = observeLnbitsPayments(
      {
        pool: this.pool,
        logger: this.log,
        client: this.client,
        openKey: (sealed, walletId) => this.wallets.openInvoiceKey(sealed, walletId),
        pollIntervalMs: this.opts.pollIntervalMs ?? 5_000,
        safetyPollMs: this.opts.safetyPollMs ?? 60_000,
      },
      handler,
    );
    this.observers.add(observer);
    return {
      stop: async () => {
        this.observers.delete(observer);
        await observer.stop();
      },
    };
  }

  async close(): Promise<void> {
    await Promise.all([...this.observers].map((o) => o.stop()));
    this.observers.clear();
    if (this.opts.ownsPool) await this.pool.end();
  }
}

export { LnbitsUnavailableError };
export { LnbitsKeyRejectedError, LnbitsWalletTakenError, type LnbitsWalletView } from './lnbitsWallets';
