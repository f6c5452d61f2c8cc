import {
  deleteLnbitsWallet,
  getLnbitsWallet,
  listLnbitsWallets,
  upsertLnbitsWallet,
  type LnbitsWalletRow,
} from '../db/lnbits';
import type { Pool } from '../db/pool';
import type { Logger } from '../logger';
import { sealedColumns, type SecretBox } from '../security/secretBox';
import { LnbitsRequestError, type LnbitsClient } from './lnbitsClient';
import { lightningAddressProblem, type LnurlOptions } from './lnurl';

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

/** What the API needs of LNbits: the wallet-key registry, and whether an address can be paid. */
export interface LnbitsWalletKeys {
  registerWallet(
    ownerUserId: string,
    input: { wallet_id: string; admin_key?: string | null; invoice_key: string },
  ): Promise<{ wallet: LnbitsWalletView; created: boolean }>;
  listWallets(ownerUserId: string | null): Promise<LnbitsWalletView[]>;
  getWallet(walletId: string): Promise<LnbitsWalletView | null>;
  deleteWallet(walletId: string, ownerUserId: string | null): Promise<boolean>;
  addressProblem(address: string): Promise<string | null>;
}

/** A wallet's keys, opened: the admin key (paying) only when registered. */
export interface WalletKeys {
  row: LnbitsWalletRow;
  adminKey: string | null;
  invoiceKey: string;
}

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

/** What to do when satmachine holds no (working) keys for a wallet. */
export const reRegister = (walletId: string) =>
  `the wallet's owner (the user who registered it; the platform sees who in GET /api/v1/lnbits/wallets) ` +
  `registers its current keys (POST /api/v1/lnbits/wallets with wallet_id ${walletId}), then the operator retries`;

/**
 * The LNbits wallets whose keys satmachine holds: registered by their owners after
 * LNbits confirms the keys, sealed at rest with SATMACHINE_SECRET_KEY, opened only to
 * pay or to read a wallet's payments.
 */
export class LnbitsWalletRegistry implements LnbitsWalletKeys {
  constructor(
    private readonly pool: Pool,
    private readonly client: LnbitsClient,
    private readonly box: SecretBox,
    private readonly log: Logger,
    private readonly lnurl?: LnurlOptions,
  ) {}

  /** Why this Lightning address cannot be paid from here (its domain resolves to a forbidden address), or null. */
  addressProblem(address: string): Promise<string | null> {
    return lightningAddressProblem(address, this.lnurl);
  }

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

  async keys(walletId: string): Promise<WalletKeys | null> {
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

  /** Opens the invoice key of a wallet, sealed as stored (the payment observer reads with it). */
  openInvoiceKey(sealed: string, walletId: string): string {
    return this.box.open(sealed, sealedColumns.lnbitsInvoiceKey(walletId));
  }
}
