import { createHash } from 'node:crypto';
import type { Pool, Queryable } from '../db/pool';
import {
  EXTERNAL_WALLET,
  getLightningPayment,
  getTransferByKey,
  getWallet,
  insertLightningPayment,
  payLedgerLeg,
  payLedgerLegs,
  insertWallet,
  transfer,
  type LedgerLegRow,
  type LedgerTransferRow,
  type LedgerWalletRow,
} from '../db/ledger';
import type { Logger } from '../logger';
import {
  PaymentRefusedError,
  noDestinationRefusal,
  zeroAmountRefusal,
  type ObservedPayment,
  type PayAddressRequest,
  type PayWalletRequest,
  type LegPaymentOutcome,
  type PaymentBackend,
  type PaymentObserver,
  type PaymentResult,
  type PaymentVenue,
} from './backend';
import { observeLedgerPayments } from './ledgerObserver';
import { LedgerLegBatcher } from './ledgerLegBatcher';

export interface LedgerOptions {
  pool: Pool;
  logger: Logger;
  /** Lightning addresses `<wallet id>@<this domain>` are ledger wallets (internal payments) */
  lnAddressDomain?: string;
  /** how often the payment observer polls besides LISTEN/NOTIFY */
  pollIntervalMs?: number;
  /**
   * Legs waiting at the same moment are paid together (src/payments/ledgerLegBatcher.ts):
   * at most `maxBatch` in one transaction, `maxInFlight` payments at once (default
   * LEDGER_LEG_BATCH); `maxBatch: 1` pays every leg in its own transaction.
   */
  legBatch?: { maxBatch?: number; maxInFlight?: number };
}

/**
 * How ledger legs are gathered (src/payments/ledgerLegBatcher.ts): up to 64 in one
 * transaction, one payment in flight per worker. Every leg of a settlement debits its
 * machine wallet's row, so a second payment in flight only waited for that row lock while
 * holding a connection: a 10,000-LP fan-out with two in flight took 10.2 CPU-seconds of
 * PostgreSQL and 12.2 s, with one 4.7 and 11.8 s (docs/performance.md).
 */
export const LEDGER_LEG_BATCH = { maxBatch: 64, maxInFlight: 1 } as const;

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

/** What a refused ledger payment was: enough to word its refusal. */
interface RefusedPayment {
  idempotencyKey: string;
  amountSats: number;
  fromWalletId: string;
  toWalletId: string;
  address?: string;
  legType?: string;
  domain?: string;
}

/**
 * The words of every ledger refusal, one place for both ways of paying (a payment
 * request, a leg paid in one statement): what went wrong and what to do.
 */
function refusalOf(
  code: string,
  walletId: string | null,
  balance: number | null,
  p: RefusedPayment,
): PaymentRefusedError {
  switch (code) {
    case 'zero_amount':
      return zeroAmountRefusal();
    case 'invalid_amount':
      return new PaymentRefusedError(`amount must be a whole number of sats > 0, got ${p.amountSats}`, code);
    case 'same_wallet':
      return new PaymentRefusedError(`source and destination are the same wallet (${p.toWalletId})`, code);
    case 'no_destination':
      return noDestinationRefusal(p.legType ?? '');
    case 'external_address':
      return new PaymentRefusedError(
        `the embedded ledger pays only its own Lightning addresses (<wallet id>@${p.domain ?? 'its domain'}); ` +
          `${p.address} needs a real Lightning backend (PAYMENT_BACKEND=lnbits)`,
        code,
      );
    case 'unknown_wallet':
      return new PaymentRefusedError(
        walletId === p.toWalletId
          ? `destination wallet ${walletId} does not exist`
          : `source wallet ${walletId} does not exist`,
        code,
      );
    case 'insufficient':
    case 'insufficient_funds':
      return new PaymentRefusedError(
        `insufficient funds: wallet ${walletId} holds ${balance} sats, ${p.amountSats} needed`,
        'insufficient_funds',
      );
    case 'balance_overflow':
      return new PaymentRefusedError(
        new BalanceOverflowError(walletId ?? '', balance ?? 0, p.amountSats).message,
        code,
      );
    case 'key_conflict':
      return new PaymentRefusedError(
        `idempotency key ${p.idempotencyKey} was already used for a different payment`,
        code,
      );
    default:
      return new PaymentRefusedError(`the ledger refused this payment (${code})`, code);
  }
}

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
  private readonly legBatcher: LedgerLegBatcher<LedgerLegRow>;

  constructor(opts: LedgerOptions) {
    this.pool = opts.pool;
    this.log = opts.logger;
    this.lnAddressDomain = (opts.lnAddressDomain ?? 'ledger.satmachine.local').toLowerCase();
    this.pollIntervalMs = opts.pollIntervalMs ?? 2000;
    this.legBatcher = new LedgerLegBatcher<LedgerLegRow>(
      {
        one: (legId) => payLedgerLeg(this.pool, legId, this.lnAddressDomain),
        many: (legIds) => payLedgerLegs(this.pool, legIds, this.lnAddressDomain),
      },
      {
        maxBatch: opts.legBatch?.maxBatch ?? LEDGER_LEG_BATCH.maxBatch,
        maxInFlight: opts.legBatch?.maxInFlight ?? LEDGER_LEG_BATCH.maxInFlight,
        onBatchFailed: (legs, err) =>
          this.log.warn(
            { legs, err: (err as Error).message },
            'a batch of ledger legs failed as a whole; paying each leg alone',
          ),
      },
    );
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
      throw refusalOf('invalid_amount', null, null, req);
    }
    if (req.fromWalletId === req.toWalletId) throw refusalOf('same_wallet', null, null, req);
    // inside the caller's transaction when it passes one (payLeg: the leg lock's)
    const outcome = await transfer(req.db ?? this.pool, {
      key: req.idempotencyKey,
      from: req.fromWalletId,
      to: req.toWalletId,
      amount: req.amountSats,
      paymentHash: hashOf(req.idempotencyKey),
      memo: req.memo,
    });
    if (outcome.kind === 'done') return result(outcome.transfer);
    const refusal = refusalOf(
      outcome.kind,
      'walletId' in outcome ? outcome.walletId : null,
      'balance' in outcome ? outcome.balance : null,
      { ...req, toWalletId: req.toWalletId },
    );
    throw refusal;
  }

  /**
   * A pending leg paid in one statement (`satmachine.pay_ledger_leg`, migration 0018):
   * the same checks, transfer and completion as `payWallet` / `payLightningAddress`
   * on the leg's transaction, in one round trip. A refusal leaves the leg untouched.
   * Legs asked for while another payment runs share the next transaction
   * (`satmachine.pay_ledger_legs`, migration 0020): same checks, own key, own outcome.
   */
  async payLegInDatabase(legId: string): Promise<LegPaymentOutcome> {
    const r = await this.legBatcher.pay(legId);
    switch (r.outcome) {
      case 'missing':
        return { kind: 'missing' };
      case 'settled':
        return {
          kind: 'settled',
          legType: r.leg_type!,
          status: r.status! as 'completed' | 'failed' | 'voided' | 'skipped',
          paymentHash: r.payment_hash ?? undefined,
        };
      case 'paid':
        return { kind: 'paid', legType: r.leg_type!, paymentHash: r.payment_hash! };
      case 'refused':
        return {
          kind: 'refused',
          legType: r.leg_type!,
          error: refusalOf(r.code!, r.wallet_id, r.balance, {
            idempotencyKey: legId,
            legType: r.leg_type!,
            amountSats: r.amount!,
            fromWalletId: r.source_wallet_id ?? '',
            toWalletId: r.destination ?? '',
            address: r.destination ?? '',
            domain: this.lnAddressDomain,
          }),
        };
    }
  }

  async payLightningAddress(req: PayAddressRequest): Promise<PaymentResult> {
    const [name, domain] = req.address.toLowerCase().split('@');
    if (!name || domain !== this.lnAddressDomain) {
      throw refusalOf('external_address', null, null, {
        ...req,
        toWalletId: '',
        domain: this.lnAddressDomain,
      });
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
