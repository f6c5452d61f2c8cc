import { z } from 'zod';
import { formatCents, formatPpm, parseCents, parsePpm, parseRate, PPM } from '../domain/decimal';
import { type InvalidPubkeyError, normalizePubkey } from '../domain/nostrKeys';
import { FIAT_CODE, isLightningAddress } from '../domain/validation';

/** Request schemas shared by the routes; each also documents itself in the OpenAPI. */

export const id = z
  .string()
  .min(1)
  .max(64)
  .regex(/^[A-Za-z0-9_-]+$/, 'must be an id');
export const idParams = z.object({ id });

const decimalInput = z.union([z.number(), z.string()]);

/** "fraction must be …": the subject once, whether the parser's message names it or not */
const about = (subject: string, e: unknown) => {
  const message = (e as Error).message;
  return message.startsWith(`${subject} `) ? message : `${subject} ${message}`;
};

/** A fraction 0 ≤ f < 1 with at most 6 decimals, normalised to "0.xxxxxx". */
export const feeFraction = decimalInput
  .transform((v, ctx) => {
    try {
      const ppm = parsePpm(v);
      if (ppm < 0n || ppm >= PPM) throw new Error('must be ≥ 0 and < 1');
      return formatPpm(ppm);
    } catch (e) {
      ctx.addIssue({ code: 'custom', message: about('fraction', e) });
      return z.NEVER;
    }
  })
  .describe('decimal in [0, 1), at most 6 decimal places, e.g. "0.03"');

/** A fraction 0 < f ≤ 1 (commission split share). */
export const shareFraction = decimalInput
  .transform((v, ctx) => {
    try {
      const ppm = parsePpm(v);
      if (ppm <= 0n || ppm > PPM) throw new Error('must be > 0 and ≤ 1');
      return formatPpm(ppm);
    } catch (e) {
      ctx.addIssue({ code: 'custom', message: about('fraction', e) });
      return z.NEVER;
    }
  })
  .describe('decimal in (0, 1], at most 6 decimal places');

/** A fiat amount with at most 2 decimals, as integer cents. */
export function fiatCents(opts: { min?: number; positive?: boolean } = {}) {
  return decimalInput
    .transform((v, ctx) => {
      try {
        const cents = parseCents(v);
        if (opts.positive && cents <= 0) throw new Error('must be > 0');
        if (cents < (opts.min ?? 0)) throw new Error(`must be ≥ ${formatCents(opts.min ?? 0)}`);
        if (cents > 1e15) throw new Error('is too large');
        return cents;
      } catch (e) {
        ctx.addIssue({ code: 'custom', message: about('amount', e) });
        return z.NEVER;
      }
    })
    .describe('fiat amount, decimal with at most 2 places, e.g. "100.50"');
}

export const exchangeRate = decimalInput
  .transform((v, ctx) => {
    try {
      const rate = parseRate(v);
      if (rate <= 0n) throw new Error('must be > 0');
      if (rate >= 10n ** 24n) throw new Error('must be below 10^16 sats per unit');
      return String(v).trim();
    } catch (e) {
      ctx.addIssue({ code: 'custom', message: `exchange_rate ${(e as Error).message}` });
      return z.NEVER;
    }
  })
  .describe('sats per one fiat unit, decimal with at most 8 places');

export const pubkey = z
  .string()
  .transform((v, ctx) => {
    try {
      return normalizePubkey(v);
    } catch (e) {
      ctx.addIssue({ code: 'custom', message: (e as InvalidPubkeyError).message });
      return z.NEVER;
    }
  })
  .describe('Nostr public key, 64 hex characters or npub1…');

export const lnAddress = z
  .string()
  .max(320)
  .transform((v) => v.trim().toLowerCase())
  .refine(isLightningAddress, 'must be a Lightning address name@domain');

export const fiatCode = z.string().regex(FIAT_CODE, 'must be a 3-letter ISO currency code (e.g. USD)');

export const walletId = z.string().min(1).max(200);

export const limitQuery = (max: number, dflt: number) =>
  z.coerce.number().int().min(1).max(max).default(dflt);

/** The query of a list read a page at a time, newest first: page size, and the `next_cursor` of the page before. */
export const cursorQuery = () => ({
  limit: limitQuery(500, 100),
  cursor: z.string().max(200).optional(),
});

/** A page of a list: its items and the cursor of the next page (null: the last page). */
export const cursorPage = <T extends z.ZodType>(item: T) =>
  z.object({ items: z.array(item), next_cursor: z.string().nullable() });
