import { SecretBox, SecretOpenError, sealedColumns, secretContext } from '../../src/security/secretBox';
import { sealV1 } from '../helpers/sealV1';

const KEY = '11'.repeat(32);
const OTHER_KEY = '22'.repeat(32);

describe('SecretBox: values bound to their row (AES-GCM associated data)', () => {
  const box = new SecretBox(KEY);
  const rowA = sealedColumns.operatorNostrSecret('user-a');
  const rowB = sealedColumns.operatorNostrSecret('user-b');

  it('seals v2 and opens for the same row', () => {
    const sealed = box.seal('secret value', rowA);
    expect(sealed).toMatch(/^v2\.[\w-]+\.[\w-]+\.[\w-]+$/);
    expect(sealed).not.toContain('secret');
    expect(box.open(sealed, rowA)).toBe('secret value');
    expect(SecretBox.isLegacy(sealed)).toBe(false);
  });

  it('a value moved to another row, another column or another table fails to open, saying so', () => {
    const sealed = box.seal('secret value', rowA);
    for (const elsewhere of [
      rowB,
      sealedColumns.lnbitsAdminKey('user-a'),
      sealedColumns.lnbitsInvoiceKey('user-a'),
      secretContext('users', 'nostr_secret_enc', 'user-a2'),
    ]) {
      expect(() => box.open(sealed, elsewhere)).toThrow(SecretOpenError);
      expect(() => box.open(sealed, elsewhere)).toThrow(
        new RegExp(`stored secret of ${elsewhere}: it was sealed for another row`),
      );
    }
  });

  it('the admin key of one LNbits wallet does not open as its invoice key, nor as another wallet’s', () => {
    const sealed = box.seal('admin', sealedColumns.lnbitsAdminKey('w1'));
    expect(box.open(sealed, sealedColumns.lnbitsAdminKey('w1'))).toBe('admin');
    expect(() => box.open(sealed, sealedColumns.lnbitsInvoiceKey('w1'))).toThrow(/another row/);
    expect(() => box.open(sealed, sealedColumns.lnbitsAdminKey('w2'))).toThrow(/another row/);
  });

  it('v1 values (sealed before row binding) still open, whatever the row, and are flagged legacy', () => {
    const v1 = sealV1(KEY, 'old secret');
    expect(SecretBox.isLegacy(v1)).toBe(true);
    expect(box.open(v1, rowA)).toBe('old secret');
    expect(box.open(v1, rowB)).toBe('old secret');
    expect(() => new SecretBox(OTHER_KEY).open(v1, rowA)).toThrow(/SATMACHINE_SECRET_KEY differs/);
  });

  it('another key fails with a message naming the key as a cause', () => {
    const sealed = box.seal('x', rowA);
    expect(() => new SecretBox(OTHER_KEY).open(sealed, rowA)).toThrow(/another SATMACHINE_SECRET_KEY/);
  });

  it('tampering (format, version, ciphertext, tag) never opens', () => {
    const sealed = box.seal('secret value', rowA);
    const [, iv, tag, ct] = sealed.split('.') as [string, string, string, string];
    const flip = (s: string) => {
      const b = Buffer.from(s, 'base64url');
      b[0]! ^= 1;
      return b.toString('base64url');
    };
    expect(() => box.open(`v1.${iv}.${tag}.${ct}`, rowA)).toThrow(SecretOpenError); // downgrade to v1 (no AD)
    expect(() => box.open(`v3.${iv}.${tag}.${ct}`, rowA)).toThrow(/unknown format/);
    expect(() => box.open(`v2.${iv}.${tag}`, rowA)).toThrow(/unknown format/);
    expect(() => box.open(`${sealed}.extra`, rowA)).toThrow(/unknown format/);
    expect(() => box.open(`v2.${iv}.${tag}.${flip(ct)}`, rowA)).toThrow(SecretOpenError);
    expect(() => box.open(`v2.${iv}.${flip(tag)}.${ct}`, rowA)).toThrow(SecretOpenError);
  });

  it('needs a context to seal or open, and contexts are well formed', () => {
    expect(() => box.seal('x', '')).toThrow(/row context/);
    expect(() => box.open(box.seal('x', rowA), '')).toThrow(/row context/);
    expect(() => secretContext('users', 'bad column', 'id')).toThrow(/not an identifier/);
    expect(() => secretContext('users', 'nostr_secret_enc', '')).toThrow(/row id is empty/);
    expect(rowA).toBe('users:nostr_secret_enc:user-a');
  });
});
