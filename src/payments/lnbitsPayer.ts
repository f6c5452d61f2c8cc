import {
  getLnbitsPayments,
  markLnbitsPaymentDead,
  markLnbitsPaymentPaid,
  type LnbitsPaymentRow,
} from '../db/lnbits';
import type { Pool } from '../db/pool';
import type { Logger } from '../logger';
import {
  PaymentAmbiguousError,
  PaymentRefusedError,
  type PayAddressRequest,
  type PayWalletRequest,
  type PaymentResult,
} from './backend';
import {
  LnbitsRequestError,
  LnbitsUnavailableError,
  paymentState,
  type LnbitsClient,
  type LnbitsPayment,
} from './lnbitsClient';
import { checkSameRequest, type InvoiceSpec, type LnbitsInvoices } from './lnbitsInvoices';
import { msatToSatsCeil, type LnbitsPaymentStatus, type OutgoingStatus } from './lnbitsPaymentStatus';
import { reRegister, type LnbitsWalletRegistry, type WalletKeys } from './lnbitsWallets';
import { lnurlpUrl } from './lnurl';

/** The code of a payment LNbits debited from the source and never credited (docs/lnbits.md). */
export const LOST_IN_LNBITS = 'lnbits_lost_payment';

const resultOf = (row: LnbitsPaymentRow, feeSats?: number): PaymentResult => ({
  paymentHash: row.payment_hash,
  amountSats: row.amount_sats,
  feeSats: feeSats ?? row.fee_sats ?? 0,
});

/**
 * Pays over LNbits, exactly once per idempotency key: every payment is an invoice
 * (src/payments/lnbitsInvoices.ts) stored before it is paid with the source wallet's
 * admin key; a retry settles the same invoice after asking LNbits whether it already
 * did (src/payments/lnbitsPaymentStatus.ts), and a key gets a second invoice only once
 * LNbits shows the first can never be paid and never was.
 */
export class LnbitsPayer {
  constructor(
    private readonly pool: Pool,
    private readonly client: LnbitsClient,
    private readonly wallets: LnbitsWalletRegistry,
    private readonly status: LnbitsPaymentStatus,
    private readonly invoices: LnbitsInvoices,
    private readonly log: Logger,
  ) {}

  private async payingKeys(walletId: string): Promise<WalletKeys & { adminKey: string }> {
    const k = await this.wallets.keys(walletId);
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

  private checkAmount(amountSats: number): void {
    if (!Number.isSafeInteger(amountSats) || amountSats <= 0) {
      throw new PaymentRefusedError(
        `amount must be a whole number of sats > 0, got ${amountSats}`,
        'invalid_amount',
      );
    }
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
      checkSameRequest(rows[0]!, spec);
      return this.settle(rows, spec);
    }
    await this.payingKeys(spec.source);
    return this.settle([await this.invoices.newInvoice(spec, 1)], spec);
  }

  /**
   * The source's payment of `row` succeeded: paid once the payee's side shows it too.
   * LNbits pays wallet to wallet in two commits (the payer debited, then the payee's
   * invoice credited); LNbits killed between them leaves the payer's payment `success`
   * and the payee's invoice pending, failed by LNbits on restart: the sats left the
   * source and arrived nowhere (docs/lnbits.md, "A payment LNbits lost"). That is never
   * reported paid; a payee's invoice still pending is an outcome not known yet.
   */
  private async markArrived(row: LnbitsPaymentRow, feeSats: number): Promise<PaymentResult> {
    const incoming = row.kind === 'wallet' ? await this.status.incomingState(row) : null;
    const expired = row.expires_at !== null && row.expires_at.getTime() <= Date.now();
    if (incoming === 'failed' || (incoming === 'pending' && expired)) {
      const message =
        `LNbits debited wallet ${row.source_wallet_id} ${row.amount_sats} sats for invoice ${row.payment_hash} ` +
        `but never credited wallet ${row.destination} (its invoice is ${incoming}: LNbits stopped between the two): ` +
        `the sats are lost inside LNbits. Fix it in LNbits first: credit ${row.amount_sats} sats to wallet ` +
        `${row.destination} (then void this leg), or refund them to wallet ${row.source_wallet_id} (then retry ` +
        `this leg, which pays again from it)`;
      this.log.error(
        {
          idempotency_key: row.idempotency_key,
          payment_hash: row.payment_hash,
          source_wallet_id: row.source_wallet_id,
          destination_wallet_id: row.destination,
          amount_sats: row.amount_sats,
          payee_invoice: incoming,
        },
        'LNbits lost a payment: the source was debited, the destination never credited',
      );
      throw new PaymentRefusedError(message, LOST_IN_LNBITS);
    }
    if (incoming === 'pending') {
      throw new PaymentAmbiguousError(
        `LNbits shows wallet ${row.source_wallet_id} paid invoice ${row.payment_hash.slice(0, 16)}…, but wallet ` +
          `${row.destination}'s invoice is still pending (LNbits stopped mid-payment?); it is checked again`,
      );
    }
    return this.markPaid(row, feeSats);
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
    const before = await this.status.outgoingStatus(source.adminKey, current);
    if (before.state === 'success') return this.markArrived(current, before.feeSats);
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
    const dead = await this.status.whyDead(current, before.state === 'failed');
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
      current = await this.invoices.newInvoice(spec, current.attempt + 1);
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
      const after = await this.status.outgoingStatus(adminKey, row);
      if (after.state === 'success') return this.markArrived(row, after.feeSats);
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
      const after = await this.status.outgoingStatus(adminKey, row).catch(() => null);
      if (after && (after.state === 'failed' || after.state === 'none')) {
        const dead = await this.status.whyDead(row, after.state === 'failed').catch(() => null);
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
    const source = await this.wallets.keys(rows[0]!.source_wallet_id);
    for (const row of [...rows].reverse()) {
      const status: OutgoingStatus = source?.adminKey
        ? await this.status.outgoingStatus(source.adminKey, row)
        : { state: 'key_rejected', error: new LnbitsRequestError(404, 'no admin key held', null, 'lookup') };
      if (status.state === 'success') {
        try {
          return await this.markArrived(row, status.feeSats);
        } catch (err) {
          // the payee never got it: not a payment made (the error is logged with what to fix)
          if (err instanceof PaymentRefusedError && err.code === LOST_IN_LNBITS) return null;
          throw err;
        }
      }
      if (status.state === 'pending') {
        throw new PaymentAmbiguousError(
          `payment ${row.payment_hash.slice(0, 16)}… is still in flight at LNbits`,
        );
      }
      if (status.state !== 'key_rejected') continue;
      // the source key no longer works: the destination's invoice tells (wallet payments)
      const incoming = await this.status.incomingState(row);
      if (incoming === 'success') return this.markPaid(row, 0);
      if (incoming === null) {
        throw new PaymentAmbiguousError(
          `cannot tell whether payment ${row.payment_hash.slice(0, 16)}… was made: LNbits rejects the admin key of wallet ${row.source_wallet_id}; ${reRegister(row.source_wallet_id)}`,
        );
      }
    }
    return null;
  }
}
