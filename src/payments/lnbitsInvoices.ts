import { insertLnbitsPayment, type LnbitsPaymentRow } from '../db/lnbits';
import type { Pool } from '../db/pool';
import type { Logger } from '../logger';
import { PaymentRefusedError } from './backend';
import { LnbitsRequestError, type LnbitsClient, type LnbitsPayment } from './lnbitsClient';
import { reRegister, type LnbitsWalletRegistry } from './lnbitsWallets';
import {
  LnurlUnavailableError,
  checkBounds,
  checkInvoice,
  fetchPayParams,
  requestInvoice,
  type LnurlOptions,
} from './lnurl';

/** One payment, as the backend asks for it: wallet → wallet or wallet → Lightning address. */
export interface InvoiceSpec {
  key: string;
  kind: 'wallet' | 'address';
  source: string;
  /** a wallet id, or a normalised Lightning address */
  destination: string;
  amountSats: number;
  /** the invoice memo (wallet) or LNURL comment (address) */
  memo: string;
}

/** A key used again must ask for the same payment; else it is refused (`key_conflict`). */
export function checkSameRequest(row: LnbitsPaymentRow, spec: InvoiceSpec): void {
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

/**
 * The invoices of satmachine's payments: the destination wallet's invoice key
 * creates one (wallet → wallet), the LNURL-pay server of a Lightning address the
 * other; each is checked and stored per idempotency key and attempt before anything
 * pays it.
 */
export class LnbitsInvoices {
  constructor(
    private readonly pool: Pool,
    private readonly client: LnbitsClient,
    private readonly wallets: LnbitsWalletRegistry,
    private readonly log: Logger,
    private readonly opts: { invoiceExpirySeconds?: number; lnurl?: LnurlOptions },
  ) {}

  /**
   * Gets an invoice for one attempt of a key and stores it before anything pays it.
   * Nothing is paid here: a failure leaves at most an unpaid invoice nobody knows of.
   */
  async newInvoice(spec: InvoiceSpec, attempt: number): Promise<LnbitsPaymentRow> {
    let invoice: { paymentHash: string; bolt11: string; expiresAt: Date };
    if (spec.kind === 'wallet') {
      const destination = await this.wallets.keys(spec.destination);
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
    if (stored.kind === 'attempt_exists') checkSameRequest(stored.row, spec);
    return stored.row;
  }
}
