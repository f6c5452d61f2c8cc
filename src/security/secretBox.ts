import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';

/**
 * Where a sealed value lives: `table:column:row id`. Sealed under it (AES-GCM
 * associated data), the value opens only for that row: copied into another row or
 * column (by someone who can write the database but has no key), it fails to open.
 */
export function secretContext(table: string, column: string, rowId: string): string {
  for (const [what, v] of [
    ['table', table],
    ['column', column],
  ] as const) {
    if (!/^[a-z_][a-z0-9_]*$/.test(v)) throw new Error(`secretContext: ${what} "${v}" is not an identifier`);
  }
  if (!rowId) throw new Error('secretContext: the row id is empty');
  return `${table}:${column}:${rowId}`;
}

/** A sealed value that cannot be opened: another key, another row, or damaged. */
export class SecretOpenError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'SecretOpenError';
  }
}

/**
 * Encrypts secrets at rest (operator Nostr keys, LNbits wallet keys) with
 * AES-256-GCM under a 32-byte key from the environment (SATMACHINE_SECRET_KEY).
 *
 * Format v2 (written): `v2.<iv b64url>.<tag b64url>.<ciphertext b64url>`, the
 * row's context ({@link secretContext}) as associated data.
 * Format v1 (read only, written before v2): the same without associated data. A
 * v1 value still opens; `satmachine migrate` / `start` re-seal every v1 value as
 * v2 (src/security/resealSecrets.ts), and every write seals v2.
 */
export class SecretBox {
  private readonly key: Buffer;

  constructor(keyHex: string) {
    if (!/^[0-9a-fA-F]{64}$/.test(keyHex)) {
      throw new Error(
        'SATMACHINE_SECRET_KEY must be 64 hex characters (32 bytes); generate one with `openssl rand -hex 32`',
      );
    }
    this.key = Buffer.from(keyHex, 'hex');
  }

  static generateKeyHex(): string {
    return randomBytes(32).toString('hex');
  }

  /** Whether a stored value predates row binding (v1) and should be re-sealed. */
  static isLegacy(sealed: string): boolean {
    return sealed.startsWith('v1.');
  }

  /** Seals `plaintext` for one row (`context` from {@link secretContext}). */
  seal(plaintext: string, context: string): string {
    if (!context) throw new Error('SecretBox.seal needs the row context (secretContext(table, column, id))');
    const iv = randomBytes(12);
    const cipher = createCipheriv('aes-256-gcm', this.key, iv);
    cipher.setAAD(Buffer.from(context, 'utf8'));
    const ct = Buffer.concat([cipher.update(plaintext, 'utf8'), cipher.final()]);
    return [
      'v2',
      iv.toString('base64url'),
      cipher.getAuthTag().toString('base64url'),
      ct.toString('base64url'),
    ].join('.');
  }

  /** Opens a value stored in the row `context` names; v1 values (no row binding) open anywhere. */
  open(sealed: string, context: string): string {
    if (!context) throw new Error('SecretBox.open needs the row context (secretContext(table, column, id))');
    const [v, iv, tag, ct, extra] = sealed.split('.');
    if ((v !== 'v1' && v !== 'v2') || !iv || !tag || ct === undefined || extra !== undefined) {
      throw new SecretOpenError(`the stored secret of ${context} has an unknown format`);
    }
    const decipher = createDecipheriv('aes-256-gcm', this.key, Buffer.from(iv, 'base64url'));
    if (v === 'v2') decipher.setAAD(Buffer.from(context, 'utf8'));
    decipher.setAuthTag(Buffer.from(tag, 'base64url'));
    try {
      return Buffer.concat([decipher.update(Buffer.from(ct, 'base64url')), decipher.final()]).toString(
        'utf8',
      );
    } catch {
      throw new SecretOpenError(
        v === 'v2'
          ? `cannot decrypt the stored secret of ${context}: it was sealed for another row (copied from elsewhere?) ` +
              'or under another SATMACHINE_SECRET_KEY; store the secret again for this row (e.g. re-register the wallet keys)'
          : `cannot decrypt the stored secret of ${context}: SATMACHINE_SECRET_KEY differs from the key it was sealed with`,
      );
    }
  }
}

/** The contexts of every sealed column (one place, so a writer and its readers agree). */
export const sealedColumns = {
  operatorNostrSecret: (userId: string) => secretContext('users', 'nostr_secret_enc', userId),
  lnbitsAdminKey: (walletId: string) => secretContext('lnbits_wallets', 'admin_key_enc', walletId),
  lnbitsInvoiceKey: (walletId: string) => secretContext('lnbits_wallets', 'invoice_key_enc', walletId),
  alertWebhookSecret: (webhookId: string) => secretContext('alert_webhooks', 'secret_enc', webhookId),
};
