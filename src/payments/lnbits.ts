import {
  deleteLnbitsWallet,
  getLnbitsPayments,
  getLnbitsWallet,
  insertLnbitsPayment,
  listLnbitsWallets,
  markLnbitsPaymentDead,
  markLnbitsPaymentPaid,
  upsertLnbitsWallet,
  type LnbitsPaymentRow,
  type LnbitsWalletRow,
} from '../db/lnbits';
import type { Pool } from '../db/pool';
import type { Logger } from '../logger';
import { sealedColumns, type SecretBox } from '../security/secretBox';
import {
  PaymentAmbiguousError,
  PaymentRefusedError,
  type ObservedPayment,
  type PayAddressRequest,
  type PayWalletRequest,
  type PaymentBackend,
  type PaymentVenue,
  type PaymentObserver,
  type PaymentResult,
} from './backend';
import {
  LnbitsClient,
  LnbitsRequestError,
  LnbitsUnavailableError,
  paymentState,
  type LnbitsPayment,
} from './lnbitsClient';
import { observeLnbitsPayments } from './lnbitsObserver';
import {
  LnurlUnavailableError,
  checkBounds,
  checkInvoice,
  fetchPayParams,
  lightningAddressProblem,
  lnurlpUrl,
  requestInvoice,
  type LnurlOptions,
} from './lnurl';

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

/** A registered wallet as the API shows it: never its keys. */
export interface LnbitsWalletView {
  wallet_id: string;
  name: string;
  owner_user_id: string;
  can_pay: boolean;
  can_receive: boolean;
  created_at: string;
  updated_at: string;
  /** whether satmachine can read the wallet's payments (a revoked or reset key shows here) */
  watch: { last_read_at: string | null; error: string | null; error_since: string | null };
}

/** LNbits refused a key at registration: the message says which and why. */
export class LnbitsKeyRejectedError extends Error {
  constructor(
    message: string,
    readonly field: 'admin_key' | 'invoice_key' | 'wallet_id',
  ) {
    super(message);
    this.name = 'LnbitsKeyRejectedError';
  }
}

/** Another user already registered this wallet. */
export class LnbitsWalletTakenError extends Error {
  constructor(walletId: string) {
    super(`LNbits wallet ${walletId} is already registered by another user`);
    this.name = 'LnbitsWalletTakenError';
  }
}

interface WalletKeys {
  row: LnbitsWalletRow;
  adminKey: string | null;
  invoiceKey: string;
}

/** One payment, as the backend asks for it: wallet → wallet or wallet → Lightning address. */
interface InvoiceSpec {
  key: string;
  kind: 'wallet' | 'address';
  source: string;
  /** a wallet id, or a normalised Lightning address */
  destination: string;
  amountSats: number;
  /** the invoice memo (wallet) or LNURL comment (address) */
  memo: string;
}

type OutgoingStatus =
  | { state: 'success'; feeSats: number }
  | { state: 'pending' }
  /** the source tried and LNbits failed it (final) */
  | { state: 'failed' }
  | { state: 'none' }
  /** the key was refused (revoked?): LNbits cannot tell us */
  | { state: 'key_rejected'; error: LnbitsRequestError };

const msatToSatsCeil = (msat: number) => Number((BigInt(Math.abs(Math.trunc(msat))) + 999n) / 1000n);

const viewOf = (w: LnbitsWalletRow): LnbitsWalletView => ({
  wallet_id: w.wallet_id,
  name: w.name,
  owner_user_id: w.owner_user_id,
  can_pay: w.admin_key_enc !== null,
  can_receive: true,
  created_at: w.created_at.toISOString(),
  updated_at: w.updated_at.toISOString(),
  watch: {
    last_read_at: w.watched_at ? w.watched_at.toISOString() : null,
    error: w.watch_error,
    error_since: w.watch_error_at ? w.watch_error_at.toISOString() : null,
  },
});

const resultOf = (row: LnbitsPaymentRow, feeSats?: number): PaymentResult => ({
  paymentHash: row.payment_hash,
  amountSats: row.amount_sats,
  feeSats: feeSats ?? row.fee_sats ?? 0,
});

const reRegister = (walletId: string) =>
  `the wallet's owner (the user who registered it; the platform sees who in GET /api/v1/lnbits/wallets) ` +
  `registers its current keys (POST /api/v1/lnbits/wallets with wallet_id ${walletId}), then the operator retries`;

/**
 * A real LNbits over its REST API. Every payment is an invoice paid with an admin
 * key: wallet → wallet, the destination's invoice key creates it; to a Lightning
 * address, the LNURL-pay server does. Exactly once per idempotency key: the invoice
 * is stored before it is paid, a retry settles the same invoice (Lightning refuses
 * to pay one twice) after asking LNbits whether it already did, and a key gets a
 * second invoice only once LNbits shows the first can never be paid and never was
 * (failed or expired, no payment of it from the source, none in flight).
 */
export class LnbitsBackend implements PaymentBackend {
  readonly name = 'lnbits';
  readonly client: LnbitsClient;
  private readonly pool: Pool;
  private readonly log: Logger;
  private readonly box: SecretBox;
  private readonly opts: LnbitsOptions;
  private readonly observers = new Set<PaymentObserver>();

  constructor(opts: LnbitsOptions) {
    this.opts = opts;
    this.pool = opts.pool;
    this.log = opts.logger.child({ component: 'lnbits' });
    this.box = opts.secretBox;
    this.client = new LnbitsClient(opts.url, { timeoutMs: opts.requestTimeoutMs });
    if (opts.lnurl?.allowLoopback) {
      this.log.warn(
        { lnurl_allow_loopback: true },
        'LNURL_ALLOW_LOOPBACK is on: Lightning addresses may reach 127.0.0.1 / ::1 on this host. For tests only; never in production',
      );
    }
  }

  /** Why this Lightning address cannot be paid from here (its domain resolves to a forbidden address), or null. */
  addressProblem(address: string): Promise<string | null> {
    return lightningAddressProblem(address, this.opts.lnurl);
  }

  // ---- wallet keys ----------------------------------------------------------------

  /**
   * Registers (or, for its owner, replaces) a wallet's keys after LNbits confirms
   * them: the admin key must be that wallet's admin key, the invoice key that
   * wallet's invoice key. Stored sealed. Without an admin key the wallet only receives.
   */
  async registerWallet(
    ownerUserId: string,
    input: { wallet_id: string; admin_key?: string | null; invoice_key: string },
  ): Promise<{ wallet: LnbitsWalletView; created: boolean }> {
    const walletId = input.wallet_id;
    const asKeyError = (err: unknown, field: 'admin_key' | 'invoice_key'): never => {
      if (err instanceof LnbitsRequestError) {
        throw new LnbitsKeyRejectedError(
          `LNbits does not accept this ${field} (HTTP ${err.status}: ${err.detail})`,
          field,
        );
      }
      throw err;
    };
    if (input.admin_key) {
      const w = await this.client.wallet(input.admin_key).catch((e) => asKeyError(e, 'admin_key'));
      if (!w.id) {
        throw new LnbitsKeyRejectedError(
          'admin_key is not an admin key (LNbits answers it as an invoice key)',
          'admin_key',
        );
      }
      if (w.id !== walletId) {
        throw new LnbitsKeyRejectedError(`admin_key belongs to another wallet, not ${walletId}`, 'admin_key');
      }
    }
    const inv = await this.client.wallet(input.invoice_key).catch((e) => asKeyError(e, 'invoice_key'));
    if (inv.id) {
      throw new LnbitsKeyRejectedError(
        "invoice_key is an admin key: give the wallet's invoice (read) key here",
        'invoice_key',
      );
    }
    await this.checkInvoiceKeyWallet(walletId, input.invoice_key);
    const out = await upsertLnbitsWallet(this.pool, {
      wallet_id: walletId,
      owner_user_id: ownerUserId,
      name: inv.name || walletId,
      admin_key_enc: input.admin_key
        ? this.box.seal(input.admin_key, sealedColumns.lnbitsAdminKey(walletId))
        : null,
      invoice_key_enc: this.box.seal(input.invoice_key, sealedColumns.lnbitsInvoiceKey(walletId)),
    });
    if (!out) throw new LnbitsWalletTakenError(walletId);
    this.log.info(
      { wallet_id: walletId, owner_user_id: ownerUserId, can_pay: !!input.admin_key, created: out.created },
      'LNbits wallet keys registered',
    );
    return { wallet: viewOf(out.row), created: out.created };
  }

  /**
   * LNbits tells an invoice key's wallet id only through its payments: the newest
   * one, or, for a wallet without any, a 1-sat invoice that expires unpaid in a minute.
   */
  private async checkInvoiceKeyWallet(walletId: string, invoiceKey: string): Promise<void> {
    const fail = (err: unknown): never => {
      if (err instanceof LnbitsRequestError) {
        throw new LnbitsKeyRejectedError(
          `LNbits does not accept this invoice_key (HTTP ${err.status}: ${err.detail})`,
          'invoice_key',
        );
      }
      throw err;
    };
    const [latest] = await this.client.latestPayments(invoiceKey, 1).catch(fail);
    const seenWallet =
      latest?.wallet_id ??
      (
        await this.client
          .createInvoice(invoiceKey, {
            amountSats: 1,
            memo: 'satmachine key check (never paid)',
            expirySeconds: 60,
          })
          .catch(fail)
      ).wallet_id;
    if (seenWallet !== walletId) {
      throw new LnbitsKeyRejectedError(
        `invoice_key belongs to another wallet, not ${walletId}`,
        'invoice_key',
      );
    }
  }

  async listWallets(ownerUserId: string | null): Promise<LnbitsWalletView[]> {
    return (await listLnbitsWallets(this.pool, ownerUserId)).map(viewOf);
  }

  async getWallet(walletId: string): Promise<LnbitsWalletView | null> {
    const w = await getLnbitsWallet(this.pool, walletId);
    return w ? viewOf(w) : null;
  }

  /** Forgets a wallet's keys (its owner, or the platform with owner null). */
  async deleteWallet(walletId: string, ownerUserId: string | null): Promise<boolean> {
    return deleteLnbitsWallet(this.pool, walletId, ownerUserId);
  }

  private async keys(walletId: string): Promise<WalletKeys | null> {
    const row = await getLnbitsWallet(this.pool, walletId);
    if (!row) return null;
    return {
      row,
      adminKey: row.admin_key_enc
        ? this.box.open(row.admin_key_enc, sealedColumns.lnbitsAdminKey(row.wallet_id))
        : null,
      invoiceKey: this.box.open(row.invoice_key_enc, sealedColumns.lnbitsInvoiceKey(row.wallet_id)),
    };
  }

  private async payingKeys(walletId: string): Promise<WalletKeys & { adminKey: string }> {
    const k = await this.keys(walletId);
    if (!k) {
      throw new PaymentRefusedError(
        `satmachine holds no keys for the paying LNbits wallet ${walletId}: ${reRegister(walletId)}`,
        'no_keys',
      );
    }
    if (!k.adminKey) {
      throw new PaymentRefusedError(
        `satmachine holds only the invoice key of LNbits wallet ${walletId}, and paying needs its admin key: ${reRegister(walletId)}`,
        'no_admin_key',
      );
    }
    return k as WalletKeys & { adminKey: string };
  }

  // ---- paying -------------------------------------------------------------------------

  private checkAmount(amountSats: number): void {
    if (!Number.isSafeInteger(amountSats) || amountSats <= 0) {
      throw new PaymentRefusedError(
        `amount must be a whole number of sats > 0, got ${amountSats}`,
        'invalid_amount',
      );
    }
  }

  private checkSameRequest(row: LnbitsPaymentRow, spec: InvoiceSpec): void {
    if (
      row.kind !== spec.kind ||
      row.source_wallet_id !== spec.source ||
      row.destination !== spec.destination ||
      row.amount_sats !== spec.amountSats
    ) {
      throw new PaymentRefusedError(
        `idempotency key ${row.idempotency_key} was already used for a different payment`,
        'key_conflict',
      );
    }
  }

  /** Every LNbits payment is a call to its REST API (and LNURL-pay to a Lightning address): the network. */
  venueOf(): PaymentVenue {
    return 'network';
  }

  async payWallet(req: PayWalletRequest): Promise<PaymentResult> {
    this.checkAmount(req.amountSats);
    if (req.fromWalletId === req.toWalletId) {
      throw new PaymentRefusedError(
        `source and destination are the same wallet (${req.toWalletId})`,
        'same_wallet',
      );
    }
    const spec: InvoiceSpec = {
      key: req.idempotencyKey,
      kind: 'wallet',
      source: req.fromWalletId,
      destination: req.toWalletId,
      amountSats: req.amountSats,
      memo: req.memo.slice(0, 600),
    };
    return this.payOnce(spec);
  }

  async payLightningAddress(req: PayAddressRequest): Promise<PaymentResult> {
    this.checkAmount(req.amountSats);
    const address = req.address.trim().toLowerCase();
    lnurlpUrl(address); // refuses what is not name@domain
    return this.payOnce({
      key: req.idempotencyKey,
      kind: 'address',
      source: req.fromWalletId,
      destination: address,
      amountSats: req.amountSats,
      memo: req.comment.slice(0, 600),
    });
  }

  /** The first call of a key creates its invoice; every later one settles what is stored. */
  private async payOnce(spec: InvoiceSpec): Promise<PaymentResult> {
    const rows = await getLnbitsPayments(this.pool, spec.key);
    if (rows.length) {
      this.checkSameRequest(rows[0]!, spec);
      return this.settle(rows, spec);
    }
    await this.payingKeys(spec.source);
    return this.settle([await this.newInvoice(spec, 1)], spec);
  }

  /**
   * Gets an invoice for one attempt of a key and stores it before anything pays it.
   * Nothing is paid here: a failure leaves at most an unpaid invoice nobody knows of.
   */
  private async newInvoice(spec: InvoiceSpec, attempt: number): Promise<LnbitsPaymentRow> {
    let invoice: { paymentHash: string; bolt11: string; expiresAt: Date };
    if (spec.kind === 'wallet') {
      const destination = await this.keys(spec.destination);
      if (!destination) {
        throw new PaymentRefusedError(
          `satmachine holds no invoice key for the destination LNbits wallet ${spec.destination}, so it cannot ask it for an invoice: ${reRegister(spec.destination)}`,
          'no_keys',
        );
      }
      const expiry = this.opts.invoiceExpirySeconds ?? 86_400;
      let created: LnbitsPayment;
      try {
        created = await this.client.createInvoice(destination.invoiceKey, {
          amountSats: spec.amountSats,
          memo: spec.memo,
          expirySeconds: expiry,
          extra: { satmachine_key: spec.key },
        });
      } catch (err) {
        if (err instanceof LnbitsRequestError && err.isKeyRejected) {
          throw new PaymentRefusedError(
            `LNbits rejects the invoice key satmachine holds for destination wallet ${spec.destination} (revoked or reset?): ${reRegister(spec.destination)}`,
            'invalid_key',
          );
        }
        if (err instanceof LnbitsRequestError && err.status !== 520 && err.status !== 429) {
          throw new PaymentRefusedError(
            `destination wallet ${spec.destination} could not create an invoice: ${err.detail}`,
            'invoice_refused',
          );
        }
        throw err; // unavailable, rate-limited or a funding-source hiccup: retryable
      }
      if (
        created.amount !== spec.amountSats * 1000 ||
        !created.bolt11 ||
        !/^[0-9a-f]{64}$/.test(created.payment_hash)
      ) {
        throw new Error(
          `LNbits created an unexpected invoice for ${spec.amountSats} sats (amount ${created.amount} msat); not paid`,
        );
      }
      invoice = {
        paymentHash: created.payment_hash,
        bolt11: created.bolt11,
        expiresAt: new Date(Date.now() + expiry * 1000),
      };
    } else {
      const amountMsat = BigInt(spec.amountSats) * 1000n;
      try {
        const params = await fetchPayParams(spec.destination, this.opts.lnurl);
        checkBounds(params, amountMsat);
        const bolt11 = await requestInvoice(params, amountMsat, spec.memo, this.opts.lnurl);
        const checked = checkInvoice(params, bolt11, amountMsat);
        invoice = { paymentHash: checked.paymentHash, bolt11: checked.bolt11, expiresAt: checked.expiresAt };
      } catch (err) {
        if (err instanceof PaymentRefusedError) {
          this.log.warn(
            { address: spec.destination, code: err.code, reason: err.message },
            'Lightning address payment refused',
          );
        }
        if (err instanceof LnurlUnavailableError) throw new Error(err.message, { cause: err }); // retryable
        throw err;
      }
    }
    const stored = await insertLnbitsPayment(this.pool, {
      idempotency_key: spec.key,
      attempt,
      kind: spec.kind,
      source_wallet_id: spec.source,
      destination: spec.destination,
      amount_sats: spec.amountSats,
      memo: spec.memo,
      payment_hash: invoice.paymentHash,
      bolt11: invoice.bolt11,
      expires_at: invoice.expiresAt,
    });
    if (stored.kind === 'hash_taken') {
      if (spec.kind === 'wallet')
        throw new Error(`LNbits returned invoice ${invoice.paymentHash} twice; not paid`);
      throw new PaymentRefusedError(
        `${spec.destination} returned an invoice (${invoice.paymentHash.slice(0, 16)}…) that another payment already used: not paid`,
        'invoice_reused',
      );
    }
    if (stored.kind === 'attempt_exists') this.checkSameRequest(stored.row, spec);
    return stored.row;
  }

  /** What LNbits knows of the source wallet's payment of this invoice. */
  private async outgoingStatus(adminKey: string, row: LnbitsPaymentRow): Promise<OutgoingStatus> {
    let list: LnbitsPayment[];
    try {
      list = await this.client.paymentsByHash(adminKey, row.payment_hash);
    } catch (err) {
      if (err instanceof LnbitsRequestError && err.isKeyRejected)
        return { state: 'key_rejected', error: err };
      throw new PaymentAmbiguousError(
        `cannot check payment ${row.payment_hash.slice(0, 16)}… at LNbits: ${(err as Error).message}`,
        { cause: err },
      );
    }
    const outgoing = list.filter((p) => p.amount < 0 && p.wallet_id === row.source_wallet_id);
    const paid = outgoing.find((p) => paymentState(p) === 'success');
    if (paid) return { state: 'success', feeSats: msatToSatsCeil(paid.fee ?? 0) };
    if (outgoing.some((p) => paymentState(p) === 'pending')) return { state: 'pending' };
    // the list shows settled and pending payments only: a failed one is asked for by hash
    const one = await this.details(adminKey, row.payment_hash);
    if (one && one.amount < 0 && one.wallet_id === row.source_wallet_id) {
      const state = paymentState(one);
      if (state === 'success') return { state: 'success', feeSats: msatToSatsCeil(one.fee ?? 0) };
      return { state };
    }
    return { state: 'none' };
  }

  private async details(key: string, paymentHash: string): Promise<LnbitsPayment | null> {
    try {
      return await this.client.paymentDetails(key, paymentHash);
    } catch (err) {
      throw new PaymentAmbiguousError(
        `cannot check payment ${paymentHash.slice(0, 16)}… at LNbits: ${(err as Error).message}`,
        { cause: err },
      );
    }
  }

  /** For a wallet payment: the destination's invoice, as its own invoice key sees it (null: cannot tell). */
  private async incomingState(row: LnbitsPaymentRow): Promise<'success' | 'pending' | 'failed' | null> {
    if (row.kind !== 'wallet') return null;
    const dest = await this.keys(row.destination);
    if (!dest) return null;
    let list: LnbitsPayment[];
    try {
      list = await this.client.paymentsByHash(dest.invoiceKey, row.payment_hash);
    } catch (err) {
      if (err instanceof LnbitsRequestError && err.isKeyRejected) return null;
      throw new PaymentAmbiguousError((err as Error).message, { cause: err });
    }
    const mine = list.filter((p) => p.amount > 0 && p.wallet_id === row.destination);
    if (mine.some((p) => paymentState(p) === 'success')) return 'success';
    if (mine.some((p) => paymentState(p) === 'pending')) return 'pending';
    const one = await this.details(dest.invoiceKey, row.payment_hash);
    if (one && one.amount > 0 && one.wallet_id === row.destination) return paymentState(one);
    return null;
  }

  /**
   * Why this unpaid invoice can never be paid, or null while it still can be. Asked
   * only when the source has no successful or in-flight payment of it.
   */
  private async whyDead(row: LnbitsPaymentRow, sourceFailed: boolean): Promise<string | null> {
    if (row.status === 'dead') return 'it was found unpayable before';
    if (sourceFailed) return 'LNbits failed its payment (final: LNbits never retries a failed payment)';
    if (row.expires_at && row.expires_at.getTime() <= Date.now() + 5_000) return 'it expired';
    if (row.kind === 'wallet' && (await this.incomingState(row)) === 'failed') {
      return 'the destination wallet no longer accepts it (LNbits marked the invoice failed)';
    }
    return null;
  }

  private async markPaid(row: LnbitsPaymentRow, feeSats: number): Promise<PaymentResult> {
    const updated = await markLnbitsPaymentPaid(this.pool, row, feeSats);
    return resultOf(updated ?? row, feeSats);
  }

  /**
   * Settles a key: done if LNbits says the source paid one of its invoices; otherwise
   * pays the current invoice, or, when that one is proved unpayable (and was never
   * paid nor in flight), a fresh invoice that replaces it.
   */
  private async settle(rows: LnbitsPaymentRow[], spec: InvoiceSpec): Promise<PaymentResult> {
    const done = rows.find((r) => r.status === 'paid');
    if (done) return resultOf(done);
    let current = rows[rows.length - 1]!;
    const short = () => `${current.payment_hash.slice(0, 16)}…`;
    const source = await this.payingKeys(current.source_wallet_id);
    // earlier invoices were proved unpayable before they were replaced; the current one is asked
    const before = await this.outgoingStatus(source.adminKey, current);
    if (before.state === 'success') return this.markPaid(current, before.feeSats);
    if (before.state === 'pending') {
      throw new PaymentAmbiguousError(
        `payment ${short()} is still in flight at LNbits; it is checked again before anything is paid`,
      );
    }
    if (before.state === 'key_rejected') {
      throw new PaymentRefusedError(
        `LNbits rejects the admin key satmachine holds for paying wallet ${current.source_wallet_id} (revoked or reset?): ${reRegister(current.source_wallet_id)}`,
        'invalid_key',
      );
    }
    const dead = await this.whyDead(current, before.state === 'failed');
    if (dead) {
      await markLnbitsPaymentDead(this.pool, current);
      this.log.info(
        {
          idempotency_key: current.idempotency_key,
          attempt: current.attempt,
          payment_hash: current.payment_hash,
          why: dead,
        },
        'invoice can never be paid and never was: a fresh invoice replaces it',
      );
      current = await this.newInvoice(spec, current.attempt + 1);
    }
    let paid: LnbitsPayment;
    try {
      paid = await this.client.payInvoice(source.adminKey, current.bolt11, {
        satmachine_key: current.idempotency_key,
      });
    } catch (err) {
      return this.afterPayError(current, source.adminKey, err);
    }
    const state = paymentState(paid);
    if (state === 'success') return this.markPaid(current, msatToSatsCeil(paid.fee ?? 0));
    if (state === 'pending') {
      throw new PaymentAmbiguousError(
        `payment ${short()} is pending at LNbits (routing); it is checked again before anything is paid`,
      );
    }
    throw new PaymentRefusedError(`LNbits could not pay ${short()}: the payment failed`, 'payment_failed');
  }

  private async afterPayError(row: LnbitsPaymentRow, adminKey: string, err: unknown): Promise<PaymentResult> {
    const short = `${row.payment_hash.slice(0, 16)}…`;
    const to = row.kind === 'wallet' ? `wallet ${row.destination}` : row.destination;
    if (err instanceof LnbitsUnavailableError) {
      throw new PaymentAmbiguousError(
        `paying ${short}: ${err.message}; LNbits is asked before paying again`,
        {
          cause: err,
        },
      );
    }
    if (!(err instanceof LnbitsRequestError)) throw err;
    if (err.isKeyRejected) {
      throw new PaymentRefusedError(
        `LNbits rejects the admin key satmachine holds for paying wallet ${row.source_wallet_id} (revoked or reset?): ${reRegister(row.source_wallet_id)}`,
        'invalid_key',
      );
    }
    if (err.status === 429) throw new Error(`LNbits rate-limits satmachine (HTTP 429); retrying`);
    if (err.status === 520 && err.paymentStatus !== 'failed') {
      throw new PaymentAmbiguousError(
        `paying ${short}: ${err.detail} (status ${err.paymentStatus ?? 'unknown'})`,
        { cause: err },
      );
    }
    if (/already paid/i.test(err.detail)) {
      const after = await this.outgoingStatus(adminKey, row);
      if (after.state === 'success') return this.markPaid(row, after.feeSats);
      if (after.state === 'pending')
        throw new PaymentAmbiguousError(`payment ${short} is in flight at LNbits`);
      throw new PaymentRefusedError(
        `invoice ${short} to ${to} was already paid, but not by wallet ${row.source_wallet_id}: not paid again`,
        'already_paid',
      );
    }
    if (/insufficient balance|reserve at least/i.test(err.detail)) {
      throw new PaymentRefusedError(
        `insufficient funds in LNbits wallet ${row.source_wallet_id} for ${row.amount_sats} sats to ${to} (${err.detail})`,
        'insufficient_funds',
      );
    }
    if (row.kind === 'wallet') {
      // wallet to wallet there is no route to miss: an invoice LNbits refuses (it failed or expired
      // meanwhile, e.g. across an LNbits restart) is replaced by a fresh one on the next attempt
      const after = await this.outgoingStatus(adminKey, row).catch(() => null);
      if (after && (after.state === 'failed' || after.state === 'none')) {
        const dead = await this.whyDead(row, after.state === 'failed').catch(() => null);
        if (dead) {
          throw new Error(
            `LNbits refused invoice ${short} (${err.detail}): ${dead}; the next attempt pays a fresh invoice`,
          );
        }
      }
    }
    throw new PaymentRefusedError(
      `LNbits refused to pay ${row.amount_sats} sats to ${to}: ${err.detail}`,
      'payment_failed',
    );
  }

  /**
   * What became of the payment made under this key: its result when LNbits paid one
   * of its invoices, null when none was (nor can be) paid. An outcome LNbits cannot
   * tell yet (in flight, LNbits down, a revoked key it cannot be checked without)
   * throws, so the caller asks again later instead of paying twice.
   */
  async lookupPayment(idempotencyKey: string): Promise<PaymentResult | null> {
    const rows = await getLnbitsPayments(this.pool, idempotencyKey);
    if (!rows.length) return null;
    const done = rows.find((r) => r.status === 'paid');
    if (done) return resultOf(done);
    const source = await this.keys(rows[0]!.source_wallet_id);
    for (const row of [...rows].reverse()) {
      const status: OutgoingStatus = source?.adminKey
        ? await this.outgoingStatus(source.adminKey, row)
        : { state: 'key_rejected', error: new LnbitsRequestError(404, 'no admin key held', null, 'lookup') };
      if (status.state === 'success') return this.markPaid(row, status.feeSats);
      if (status.state === 'pending') {
        throw new PaymentAmbiguousError(
          `payment ${row.payment_hash.slice(0, 16)}… is still in flight at LNbits`,
        );
      }
      if (status.state !== 'key_rejected') continue;
      // the source key no longer works: the destination's invoice tells (wallet payments)
      const incoming = await this.incomingState(row);
      if (incoming === 'success') return this.markPaid(row, 0);
      if (incoming === null) {
        throw new PaymentAmbiguousError(
          `cannot tell whether payment ${row.payment_hash.slice(0, 16)}… was made: LNbits rejects the admin key of wallet ${row.source_wallet_id}; ${reRegister(row.source_wallet_id)}`,
        );
      }
    }
    return null;
  }

  // ---- observing ------------------------------------------------------------------------

  observePayments(handler: (p: ObservedPayment) => Promise<void>): PaymentObserver {
    const observer = observeLnbitsPayments(
      {
        pool: this.pool,
        logger: this.log,
        client: this.client,
        openKey: (sealed, walletId) => this.box.open(sealed, sealedColumns.lnbitsInvoiceKey(walletId)),
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
