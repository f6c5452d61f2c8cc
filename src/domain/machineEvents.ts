import { z } from 'zod';

/** Beacon (kind 30078, d=bitspire-beacon): plaintext, every field optional; unknown fields are ignored. */
export const beaconSchema = z
  .object({
    cash_in: z.boolean().optional(),
    cash_out: z.boolean().optional(),
    cash_level: z.union([z.string().max(100), z.number()]).optional(),
    fiat: z.string().max(10).optional(),
    model: z.string().max(200).optional(),
    name: z.string().max(200).optional(),
    location: z.string().max(500).optional(),
    geo: z.union([z.string().max(200), z.record(z.string(), z.unknown()), z.array(z.number())]).optional(),
    fees: z.unknown().optional(),
    limits: z.unknown().optional(),
    denominations: z.unknown().optional(),
    version: z.string().max(100).optional(),
  })
  .passthrough();

export type Beacon = z.infer<typeof beaconSchema>;

/** Cassette state (bootstrap) and operator edits: every position with its denomination and count. */
export const cassettePositionsSchema = z.object({
  positions: z
    .record(
      z.string().regex(/^[1-9]\d{0,2}$/, 'positions are "1".."999"'),
      z.object({
        denomination: z.number().int().positive().max(2_147_483_647),
        count: z.number().int().nonnegative().max(2_147_483_647),
      }),
    )
    .refine((p) => Object.keys(p).length > 0 && Object.keys(p).length <= 32, '1 to 32 positions'),
});

export type CassettePositionsContent = z.infer<typeof cassettePositionsSchema>;

/** Bill denominations a machine may load, per currency; other currencies take any positive integer. */
export const DENOMINATIONS: Record<string, readonly number[]> = {
  USD: [1, 2, 5, 10, 20, 50, 100],
  EUR: [5, 10, 20, 50, 100, 200, 500],
  GBP: [5, 10, 20, 50],
  CHF: [10, 20, 50, 100, 200, 1000],
  CAD: [5, 10, 20, 50, 100],
  AUD: [5, 10, 20, 50, 100],
  MXN: [20, 50, 100, 200, 500, 1000],
  GTQ: [1, 5, 10, 20, 50, 100, 200],
  BRL: [2, 5, 10, 20, 50, 100, 200],
  ARS: [100, 200, 500, 1000, 2000, 10000],
  COP: [1000, 2000, 5000, 10000, 20000, 50000, 100000],
  ZAR: [10, 20, 50, 100, 200],
};

/** null when the denomination is acceptable for the currency, else why not. */
export function denominationRefusal(currency: string, denomination: number): string | null {
  if (!Number.isInteger(denomination) || denomination <= 0)
    return 'denomination must be a positive whole number';
  const allowed = DENOMINATIONS[currency];
  if (allowed && !allowed.includes(denomination)) {
    return `${denomination} is not a ${currency} bill; one of ${allowed.join(', ')}`;
  }
  return null;
}

/** Turns a beacon value into the text column it is stored in (objects as JSON). */
export function beaconText(v: unknown): string | null {
  if (v === undefined || v === null) return null;
  return typeof v === 'string' ? v : JSON.stringify(v);
}
