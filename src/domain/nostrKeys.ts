import { decode, npubEncode } from 'nostr-tools/nip19';

const HEX64 = /^[0-9a-f]{64}$/;

export class InvalidPubkeyError extends Error {
  constructor(value: string) {
    super(`"${value.slice(0, 80)}" is neither a 64-hex public key nor an npub`);
    this.name = 'InvalidPubkeyError';
  }
}

/** Normalises a public key given as hex (any case) or bech32 `npub…` to lowercase hex. */
export function normalizePubkey(value: string): string {
  const v = value.trim();
  if (HEX64.test(v.toLowerCase())) return v.toLowerCase();
  if (v.toLowerCase().startsWith('npub1')) {
    try {
      const decoded = decode(v.toLowerCase());
      if (decoded.type === 'npub' && HEX64.test(decoded.data)) return decoded.data;
    } catch {
      /* fall through */
    }
  }
  throw new InvalidPubkeyError(v);
}

export function toNpub(hex: string): string {
  return npubEncode(normalizePubkey(hex));
}
