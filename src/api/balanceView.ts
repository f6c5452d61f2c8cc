import { z } from 'zod';
import type { ClientBalanceRow } from '../db/lpBalances';
import { formatCents, mulDivRound, parseCents } from '../domain/decimal';

export const balanceShape = z.object({
  client_id: z.string(),
  machine_id: z.string(),
  user_id: z.string(),
  username: z.string().nullable(),
  currency: z.string(),
  confirmed_deposits: z.string().describe('Σ confirmed deposits'),
  spent_fiat: z.string().describe('fiat of completed dca / settlement legs'),
  pending_fiat: z
    .string()
    .describe('fiat reserved by legs not paid yet: pending, or failed and awaiting the operator'),
  remaining_balance: z.string().describe('confirmed − spent − pending'),
  total_sats: z.number().int().describe('sats received by completed dca / settlement legs'),
  pending_sats: z.number().int().describe('sats of those legs, still owed to the LP'),
  average_cost_basis: z.string().nullable().describe('fiat paid per 1 BTC received (spent_fiat / BTC)'),
  average_sats_per_fiat_unit: z.string().nullable(),
});

/** A balance row as the API shows it, with the average cost basis computed exactly (BigInt). */
export function balanceView(b: ClientBalanceRow) {
  const spent = BigInt(parseCents(b.spent_fiat));
  const sats = BigInt(b.total_sats);
  return {
    client_id: b.client_id,
    machine_id: b.machine_id,
    user_id: b.user_id,
    username: b.username,
    currency: b.currency,
    confirmed_deposits: b.confirmed_deposits,
    spent_fiat: b.spent_fiat,
    pending_fiat: b.pending_fiat,
    remaining_balance: b.remaining_balance,
    total_sats: b.total_sats,
    pending_sats: b.pending_sats,
    // cents per BTC = spent cents × 1e8 / sats; shown in fiat units
    average_cost_basis: sats > 0n ? formatCents(mulDivRound(spent, 100_000_000n, sats)) : null,
    average_sats_per_fiat_unit: spent > 0n ? formatCents(mulDivRound(sats, 100n * 100n, spent)) : null,
  };
}
