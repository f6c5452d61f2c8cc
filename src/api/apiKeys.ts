import { createHash, randomBytes } from 'node:crypto';

/** A new API key: shown once, stored only as its sha256. */
export function generateApiKey(): { key: string; hash: string; prefix: string } {
  const key = `sm_${randomBytes(32).toString('base64url')}`;
  return { key, hash: hashApiKey(key), prefix: key.slice(0, 8) };
}

export function hashApiKey(key: string): string {
  return createHash('sha256').update(key).digest('hex');
}
