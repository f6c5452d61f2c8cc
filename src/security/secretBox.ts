import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';

/**
 * Encrypts secrets at rest (operator Nostr keys, LNbits wallet keys) with
 * AES-256-GCM under a 32-byte key from the environment (SATMACHINE_SECRET_KEY).
 * Format: v1.<iv b64url>.<tag b64url>.<ciphertext b64url>
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

  seal(plaintext: string): string {
    const iv = randomBytes(12);
    const cipher = createCipheriv('aes-256-gcm', this.key, iv);
    const ct = Buffer.concat([cipher.update(plaintext, 'utf8'), cipher.final()]);
    return [
      'v1',
      iv.toString('base64url'),
      cipher.getAuthTag().toString('base64url'),
      ct.toString('base64url'),
    ].join('.');
  }

  open(sealed: string): string {
    const [v, iv, tag, ct] = sealed.split('.');
    if (v !== 'v1' || !iv || !tag || ct === undefined) throw new Error('sealed secret has an unknown format');
    const decipher = createDecipheriv('aes-256-gcm', this.key, Buffer.from(iv, 'base64url'));
    decipher.setAuthTag(Buffer.from(tag, 'base64url'));
    try {
      return Buffer.concat([decipher.update(Buffer.from(ct, 'base64url')), decipher.final()]).toString(
        'utf8',
      );
    } catch {
      throw new Error(
        'cannot decrypt a stored secret: SATMACHINE_SECRET_KEY differs from the key it was sealed with',
      );
    }
  }
}
