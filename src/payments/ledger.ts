import { createHash } from 'node:crypto';
import type { Pool, Queryable } from '../db/pool';
import {
  EXTERNAL_WALLET,
  getLightningPayment,
  getTransferByKey,
  getWallet,
  insertLightningPayment,
  insertWallet,
  transfer,
  type LedgerTransferRow,
  type LedgerWalletRow,
} from '../db/ledger';
import type { Logger } from '../logger';
import {
  PaymentRefusedError,
  type ObservedPayment,
  type PayAddressRequest,
  type PayWalletRequest,
  type PaymentBackend,
  type PaymentObserver,
  type PaymentResult,
  type PaymentVenue,
} from './backend';
import { observeLedgerPayments } from './ledgerObserver';

export interface LedgerOptions {
  pool: Pool;
  logger: Logger;
  /** Lightning addresses `<wallet id>@<this domain>` are ledger wallets (internal payments) */
  lnAddressDomain?: string;
  /** how often the payment observer polls besides LISTEN/NOTIFY */
  pollIntervalMs?: number;
}

export class WalletNotFoundError extends Error {
  constructor(id: string) {
    super(`wallet ${id} does not exist`);
    this.name = 'WalletNotFoundError';
  }
}

/** The amount would carry a balance past Number.MAX_SAFE_INTEGER (2^53 − 1) sats. */
export class BalanceOverflowError extends Error {
  constructor(
    readonly walletId: string,
    readonly balance: number,
    readonly amount: number,
  ) {
    super(
      `wallet ${walletId} holds ${balance} sats: ${amount} more would pass the largest balance the ledger keeps exactly (${Number.MAX_SAFE_INTEGER} sats)`,
    );
    this.name = 'BalanceOverflowError';
  }
}

export class InsufficientFundsError extends Error {
  constructor(
    readonly walletId: string,
    readonly balance: number,
    readonly amount: number,
  ) {
    super(`wallet ${walletId} holds ${balance} sats, ${amount} needed`);
    this.name = 'InsufficientFundsError';
  }
}

const hashOf = (key: string) => createHash('sha256').update(key).digest('hex');

const result = (t: LedgerTransferRow): PaymentResult => ({
  paymentHash: t.payment_hash,
  amountSats: t.amount_sats,
  feeSats: 0,
});

/**
 * The embedded ledger: wallets and double-entry transfers in PostgreSQL, like
 * LNbits' internal payments. Payments between ledger wallets settle at once;
 * Lightning payments from outside are reported through `recordLightningPayment`
 * (POST /api/v1/ledger/payments) and observed through an outbox.
 */
export class LedgerBackend implements PaymentBackend {
  readonly name = 'ledger';
  readonly lnAddressDomain: string;
  private readonly pool: Pool;
  private readonly log: Logger;
  private readonly pollIntervalMs: number;

  constructor(opts: LedgerOptions) {
    this.pool = opts.pool;
    this.log = opts.logger;
    this.lnAddressDomain = (opts.lnAddressDomain ?? 'ledger.satmachine.local').toLowerCase();
    this.pollIntervalMs = opts.pollIntervalMs ?? 2000;
  }

  /**
   * Every ledger payment is a transfer in this PostgreSQL, on the caller's connection: a
   * wallet, and a Lightning address too (its own `<wallet id>@<domain>` is a wallet; any
   * other is refused at once, without a network call).
   */
  venueOf(): PaymentVenue {
    return 'database';
  }

  async createWallet(ownerUserId: string | null, name: string): Promise<LedgerWalletRow> {
    return insertWallet(this.pool, ownerUserId, name);
  }

  async getWallet(id: string): Promise<LedgerWalletRow | null> {
    return getWallet(this.pool, id);
  }

  async payWallet(req: PayWalletRequest): Promise<PaymentResult> {
    if (!Number.isSafeInteger(req.amountSats) || req.amountSats <= 0) {
      throw new PaymentRefusedError(
        `amount must be a whole number of sats > 0, got ${req.amountSats}`,
        'invalid_amount',
      );
    }
    if (req.fromWalletId === req.toWalletId) {
      throw new PaymentRefusedError(
        `source and destination are the same wallet (${req.toWalletId})`,
        'same_wallet',
      );
    }
    // inside the caller's transaction when it passes one (payLeg: the leg lock's)
    const outcome = await transfer(req.db ?? this.pool, {
      key: req.idempotencyKey,
      from: req.fromWalletId,
      to: req.toWalletId,
      amount: req.amountSats,
      paymentHash: hashOf(req.idempotencyKey),
      memo: req.memo,
    });
    switch (outcome.kind) {
      case 'done':
        return result(outcome.transfer);
      case 'unknown_wallet':
        throw new PaymentRefusedError(
          outcome.walletId === req.toWalletId
            ? `destination wallet ${outcome.walletId} does not exist`
            : `source wallet ${outcome.walletId} does not exist`,
          'unknown_wallet',
        );
      case 'insufficient':
        throw new PaymentRefusedError(
          `insufficient funds: wallet ${outcome.walletId} holds ${outcome.balance} sats, ${req.amountSats} needed`,
          'insufficient_funds',
        );
      case 'balance_overflow':
        throw new PaymentRefusedError(
          new BalanceOverflowError(outcome.walletId, outcome.balance, req.amountSats).message,
          'balance_overflow',
        );
      case 'key_conflict':
        throw new PaymentRefusedError(
          `idempotency key ${req.idempotencyKey} was already used for a different payment`,
          'key_conflict',
        );
    }
  }

  async payLightningAddress(req: PayAddressRequest): Promise<PaymentResult> {
    const [name, domain] = req.address.toLowerCase().split('@');
    if (!name || domain !== this.lnAddressDomain) {
      throw new PaymentRefusedError(
        `the embedded ledger pays only its own Lightning addresses (<wallet id>@${this.lnAddressDomain}); ` +
          `${req.address} needs a real Lightning backend (PAYMENT_BACKEND=lnbits)`,
        'external_address',
      );
    }
    return this.payWallet({
      idempotencyKey: req.idempotencyKey,
      fromWalletId: req.fromWalletId,
      toWalletId: name,
      amountSats: req.amountSats,
      memo: req.comment,
      db: req.db,
    });
  }

  async lookupPayment(idempotencyKey: string, db?: Queryable): Promise<PaymentResult | null> {
    const t = await getTransferByKey(db ?? this.pool, idempotencyKey);
    return t ? result(t) : null;
  }

  /** A top-up from outside the ledger (e.g. an operator funding a cash-in machine). Feeds no workflow. */
  async fund(walletId: string, amountSats: number, idempotencyKey: string): Promise<LedgerWalletRow> {
    const outcome = await transfer(this.pool, {
      key: idempotencyKey,
      from: EXTERNAL_WALLET,
      to: walletId,
      amount: amountSats,
      paymentHash: hashOf(idempotencyKey),
      memo: 'funding',
    });
    if (outcome.kind === 'unknown_wallet') throw new WalletNotFoundError(walletId);
    if (outcome.kind === 'balance_overflow')
      throw new BalanceOverflowError(outcome.walletId, outcome.balance, amountSats);
    if (outcome.kind === 'key_conflict')
      throw new PaymentRefusedError('funding key reused for another amount', 'key_conflict');
    return (await getWallet(this.pool, walletId))!;
  }

  /**
   * A Lightning payment seen on a wallet, as a node would report it: incoming
   * credits the wallet, outgoing debits it (refused when the balance is short).
   * Idempotent on (wallet, payment hash, direction). Returns whether it was new.
   */
  async recordLightningPayment(p: ObservedPayment): Promise<{ created: boolean; wallet: LedgerWalletRow }> {
    const existing = await getLightningPayment(this.pool, p.wallet_id, p.payment_hash, p.direction);
    if (existing) {
      if (existing.amount_sats !== p.amount_sats) {
        throw new PaymentRefusedError(
          `payment ${p.payment_hash} was already recorded on ${p.wallet_id} with ${existing.amount_sats} sats`,
          'key_conflict',
        );
      }
      return { created: false, wallet: (await getWallet(this.pool, p.wallet_id))! };
    }
    const incoming = p.direction === 'incoming';
    const outcome = await transfer(
      this.pool,
      {
        key: `ln:${p.direction}:${p.wallet_id}:${p.payment_hash}`,
        from: incoming ? EXTERNAL_WALLET : p.wallet_id,
        to: incoming ? p.wallet_id : EXTERNAL_WALLET,
        amount: p.amount_sats,
        paymentHash: p.payment_hash,
        memo: `lightning ${p.direction}`,
      },
      (c, t) =>
        insertLightningPayment(c, {
          walletId: p.wallet_id,
          paymentHash: p.payment_hash,
          amountSats: p.amount_sats,
          direction: p.direction,
          transferId: t.id,
        }),
    );
    if (outcome.kind === 'unknown_wallet') throw new WalletNotFoundError(p.wallet_id);
    if (outcome.kind === 'insufficient')
      throw new InsufficientFundsError(p.wallet_id, outcome.balance, p.amount_sats);
    if (outcome.kind === 'balance_overflow')
      throw new BalanceOverflowError(outcome.walletId, outcome.balance, p.amount_sats);
    if (outcome.kind === 'key_conflict') {
      throw new PaymentRefusedError(
        `payment ${p.payment_hash} conflicts with an earlier one`,
        'key_conflict',
      );
    }
    return { created: !outcome.replayed, wallet: (await getWallet(this.pool, p.wallet_id))! };
  }

  observePayments(handler: (p: ObservedPayment) => Promise<void>): PaymentObserver {
    return observeLedgerPayments(
      { pool: this.pool, logger: this.log, pollIntervalMs: this.pollIntervalMs },
      handler,
    );
  }

  async close(): Promise<void> {
    /* the pool belongs to the caller */
  }
}
