import { bytesToHex } from 'nostr-tools/utils';
import { generateSecretKey } from 'nostr-tools/pure';
import { decryptFrom, encryptFor, pubkeyOf, signEvent, verifySignature } from '../../src/nostr/codec';

/**
 * The two caches of src/nostr/codec.ts: verified signatures (by id and signature) and
 * NIP-44 conversation keys. What a stranger sends must be judged as without them.
 */
describe('codec caches', () => {
  const secret = () => bytesToHex(generateSecretKey());

  it('a verified event verifies again; a field changed after it was cached does not', () => {
    const e = signEvent(secret(), { kind: 21000, tags: [['p', 'ab'.repeat(32)]], content: 'payload' });
    expect(verifySignature(e)).toBe(true);
    expect(verifySignature(e)).toBe(true); // now from the cache
    // same id and signature, other content / tags / time / kind: the id is recomputed, so it fails
    expect(verifySignature({ ...e, content: 'other payload' })).toBe(false);
    expect(verifySignature({ ...e, tags: [['p', 'cd'.repeat(32)]] })).toBe(false);
    expect(verifySignature({ ...e, created_at: e.created_at + 1 })).toBe(false);
    expect(verifySignature({ ...e, kind: 1 })).toBe(false);
    // another signer's key with this id and signature
    expect(verifySignature({ ...e, pubkey: pubkeyOf(secret()) })).toBe(false);
    // a forged signature over the right id is verified, not taken from the cache
    expect(verifySignature({ ...e, sig: e.sig.replace(/^./, (c) => (c === '0' ? '1' : '0')) })).toBe(false);
    expect(verifySignature({ ...e, sig: 123 as unknown as string })).toBe(false);
  });

  it('a failed verification is not cached: the genuine event still verifies after a forgery of it', () => {
    const e = signEvent(secret(), { kind: 21000, tags: [], content: 'x' });
    const forged = { ...e, sig: '00'.repeat(64) };
    expect(verifySignature(forged)).toBe(false);
    expect(verifySignature(forged)).toBe(false);
    expect(verifySignature(e)).toBe(true);
  });

  it('conversation keys are per (secret, peer): each pair decrypts its own messages only', () => {
    const operator = secret();
    const [m1, m2] = [secret(), secret()];
    const to1 = encryptFor(operator, pubkeyOf(m1), 'for machine 1');
    const to2 = encryptFor(operator, pubkeyOf(m2), 'for machine 2');
    for (let i = 0; i < 2; i++) {
      // the second round comes from the cache
      expect(decryptFrom(m1, pubkeyOf(operator), to1)).toBe('for machine 1');
      expect(decryptFrom(m2, pubkeyOf(operator), to2)).toBe('for machine 2');
      expect(() => decryptFrom(m1, pubkeyOf(operator), to2)).toThrow();
      expect(() => decryptFrom(m2, pubkeyOf(operator), to1)).toThrow();
    }
    // a peer key that is not a point is refused every time, and nothing is cached for it
    expect(() => decryptFrom(m1, 'ff'.repeat(32), to1)).toThrow();
    expect(() => decryptFrom(m1, 'ff'.repeat(32), to1)).toThrow();
  });
});
