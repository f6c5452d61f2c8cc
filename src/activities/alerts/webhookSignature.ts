import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';

/** The header that signs a webhook body (docs/alerts.md §3). */
export const SIGNATURE_HEADER = 'x-satmachine-signature';

/** A new endpoint secret: `whsec_` + 32 random bytes (base64url). */
export function newWebhookSecret(): string {
  return `whsec_${randomBytes(32).toString('base64url')}`;
}

/** `t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>.<body>")>` */
export function signatureHeader(secret: string, body: string, unixSeconds: number): string {
  const mac = createHmac('sha256', secret).update(`${unixSeconds}.${body}`).digest('hex');
  return `t=${unixSeconds},v1=${mac}`;
}

/**
 * What a receiver does (and the tests do): recompute the HMAC over `<t>.<raw body>`,
 * compare in constant time, refuse a timestamp older than `toleranceSeconds`.
 */
export function verifySignature(
  secret: string,
  body: string,
  header: string,
  nowSeconds: number,
  toleranceSeconds = 300,
): boolean {
  const parts = Object.fromEntries(
    header.split(',').map((kv) => {
      const i = kv.indexOf('=');
      return [kv.slice(0, i).trim(), kv.slice(i + 1).trim()];
    }),
  );
  const t = Number(parts.t);
  if (!Number.isInteger(t) || Math.abs(nowSeconds - t) > toleranceSeconds) return false;
  const given = Buffer.from(String(parts.v1 ?? ''), 'hex');
  const want = createHmac('sha256', secret).update(`${t}.${body}`).digest();
  return given.length === want.length && timingSafeEqual(given, want);
}
