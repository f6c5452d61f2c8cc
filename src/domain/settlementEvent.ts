import { z } from 'zod';
import { parseCents, parseRate } from './decimal';
import { PAYMENT_HASH, FIAT_CODE } from './validation';
import { MAX_SATS } from './feeSplit';

/** A decimal given as a JSON number or string. */
const decimal = z.union([z.number(), z.string()]);

const satsInt = z.number().int().nonnegative().max(MAX_SATS, 'must not exceed 21,000,000 BTC in sats');
/** cassette counts and denominations are stored as 32-bit integers */
const INT32_MAX = 2_147_483_647;
const denominationCount = z.object({
  denomination: z.number().int().positive().max(INT32_MAX),
  count: z.number().int().nonnegative().max(INT32_MAX),
});

/**
 * Decrypted content of a kind-21000 settlement event (protocol v1, docs/protocol.md).
 */
export const settlementEventContentSchema = z
  .object({
    v: z.literal(1),
    // stored as text: PostgreSQL refuses NUL, so such an event would fail only when recorded
    txid: z
      .string()
      .min(1)
      .max(128)
      .refine((s) => !s.includes('\u0000'), 'txid must not contain NUL characters'),
    tx_type: z.enum(['cash_out', 'cash_in']),
    payment_hash: z.string().regex(PAYMENT_HASH, 'payment_hash must be 64 lowercase hex characters'),
    wire_sats: satsInt.min(1),
    fiat_amount: decimal,
    fiat_code: z.string().regex(FIAT_CODE, 'fiat_code must be a 3-letter ISO code'),
    exchange_rate: decimal,
    fee_sats: satsInt,
    bills: z.array(denominationCount).max(100).default([]),
    cassettes: z
      .record(z.string().regex(/^[1-9]\d{0,2}$/, 'cassette positions are 1..999'), denominationCount)
      .default({}),
  })
  .superRefine((c, ctx) => {
    try {
      const cents = parseCents(c.fiat_amount, 'fiat_amount');
      if (cents < 0) throw new Error('fiat_amount must be ≥ 0');
      if (cents >= 1e18) throw new Error('fiat_amount is too large');
    } catch (e) {
      ctx.addIssue({ code: 'custom', path: ['fiat_amount'], message: (e as Error).message });
    }
    try {
      const rate = parseRate(c.exchange_rate);
      if (rate <= 0n) throw new Error('exchange_rate must be > 0');
      if (rate >= 10n ** 24n) throw new Error('exchange_rate must be below 10^16 sats per unit');
    } catch (e) {
      ctx.addIssue({ code: 'custom', path: ['exchange_rate'], message: (e as Error).message });
    }
    if (c.fee_sats > c.wire_sats) {
      ctx.addIssue({ code: 'custom', path: ['fee_sats'], message: 'fee_sats must not exceed wire_sats' });
    }
  });

export type SettlementEventContent = z.infer<typeof settlementEventContentSchema>;

/** Parses decrypted JSON text; returns the content or a one-line reason. */
export function parseSettlementContent(
  text: string,
): { ok: true; content: SettlementEventContent } | { ok: false; reason: string } {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    return { ok: false, reason: 'content is not JSON' };
  }
  const parsed = settlementEventContentSchema.safeParse(json);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    return { ok: false, reason: `invalid content: ${issue.path.join('.') || '(root)'}: ${issue.message}` };
  }
  return { ok: true, content: parsed.data };
}

// the summary lives in a module of its own: the workflow bundle imports it, and zod stays out of the sandbox
export { settlementSummary, type SettlementSummary } from './settlementSummary';
