import type { LnbitsPaymentRow } from '../db/lnbits';
import { PaymentAmbiguousError } from './backend';
import { LnbitsRequestError, paymentState, type LnbitsClient, type LnbitsPayment } from './lnbitsClient';
import type { LnbitsWalletRegistry } from './lnbitsWallets';

/** What LNbits says of the source wallet's payment of one invoice. */
export type OutgoingStatus =
  | { state: 'success'; feeSats: number }
  | { state: 'pending' }
  /** the source tried and LNbits failed it (final) */
  | { state: 'failed' }
  | { state: 'none' }
  /** the key was refused (revoked?): LNbits cannot tell us */
  | { state: 'key_rejected'; error: LnbitsRequestError };

/** LNbits fees are in msat: rounded up to whole sats. */
export const msatToSatsCeil = (msat: number) => Number((BigInt(Math.abs(Math.trunc(msat))) + 999n) / 1000n);

/**
 * What LNbits knows of an invoice satmachine stored: the source wallet's payment of
 * it, the destination's side (wallet payments), and whether it can still be paid.
 * Asks only; changes nothing.
 */
export class LnbitsPaymentStatus {
  constructor(
    private readonly client: LnbitsClient,
    private readonly wallets: LnbitsWalletRegistry,
  ) {}

  /** What LNbits knows of the source wallet's payment of this invoice. */
  async outgoingStatus(adminKey: string, row: LnbitsPaymentRow): Promise<OutgoingStatus> {
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

  async details(key: string, paymentHash: string): Promise<LnbitsPayment | null> {
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
  async incomingState(row: LnbitsPaymentRow): Promise<'success' | 'pending' | 'failed' | null> {
    if (row.kind !== 'wallet') return null;
    const dest = await this.wallets.keys(row.destination);
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
    // asked by hash, LNbits re-checks a pending invoice with its funding source (a failed one is
    // not in the list): an invoice it never credited across a restart is failed now, not pending
    const one = await this.details(dest.invoiceKey, row.payment_hash);
    if (one && one.amount > 0 && one.wallet_id === row.destination) return paymentState(one);
    if (mine.some((p) => paymentState(p) === 'pending')) return 'pending';
    return null;
  }

  /**
   * Why this unpaid invoice can never be paid, or null while it still can be. Asked
   * only when the source has no successful or in-flight payment of it.
   */
  async whyDead(row: LnbitsPaymentRow, sourceFailed: boolean): Promise<string | null> {
    if (row.status === 'dead') return 'it was found unpayable before';
    if (sourceFailed) return 'LNbits failed its payment (final: LNbits never retries a failed payment)';
    if (row.expires_at && row.expires_at.getTime() <= Date.now() + 5_000) return 'it expired';
    if (row.kind === 'wallet' && (await this.incomingState(row)) === 'failed') {
      return 'the destination wallet no longer accepts it (LNbits marked the invoice failed)';
    }
    return null;
  }
}
