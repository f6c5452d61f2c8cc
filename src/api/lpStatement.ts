import { z } from 'zod';
import type {
  StatementBucketRow,
  StatementEnrolmentRow,
  StatementPendingRow,
} from '../db/reportsLpStatement';
import { formatCents, mulDivRound, parseCents } from '../domain/decimal';

/**
 * An LP statement per enrolment: per UTC period the confirmed deposits, the payouts
 * (completed dca / settlement legs: fiat spent and sats received), their average cost,
 * and the balance left at the end of the period. Amounts in cents as BigInt; shown as
 * exact decimals in the enrolment's currency.
 */

const periodShape = z.object({
  period_start: z.string(),
  deposits: z.string().describe('confirmed deposits (by confirmation time)'),
  deposit_count: z.number().int(),
  payouts_fiat: z.string().describe('fiat of completed dca / settlement legs (by completion time)'),
  payouts_sats: z.number().int(),
  payout_count: z.number().int(),
  autoforward_sats: z.number().int().describe('sats forwarded on to your Lightning address'),
  average_cost: z.string().nullable().describe('payouts_fiat per 1 BTC in this period'),
  closing_balance: z.string().describe('deposits − payouts up to the end of the period'),
  cumulative_sats: z.number().int(),
  cumulative_average_cost: z.string().nullable().describe('all payouts so far, fiat per 1 BTC'),
});

export const statementShape = z
  .object({
    client_id: z.string(),
    machine_id: z.string(),
    machine_name: z.string(),
    operator_user_id: z.string(),
    user_id: z.string(),
    lp_name: z.string(),
    currency: z.string(),
    opening_balance: z.string().describe('at `from`'),
    periods: z.array(periodShape),
    closing_balance: z.string().describe('at `to`'),
    pending_fiat: z.string().describe('now: fiat held by legs not paid yet (as the balance endpoint)'),
    remaining_balance: z
      .string()
      .describe(
        'closing_balance − pending_fiat; with `to` at or after now, the balance endpoint remaining_balance',
      ),
    total_deposits: z.string().describe('confirmed deposits up to `to`'),
    total_payouts_fiat: z.string(),
    total_sats: z.number().int(),
    average_cost: z.string().nullable().describe('all payouts up to `to`, fiat per 1 BTC'),
  })
  .meta({ id: 'LpStatement' });

type Statement = z.infer<typeof statementShape>;

const avg = (cents: bigint, sats: bigint) =>
  sats > 0n ? formatCents(mulDivRound(cents, 100_000_000n, sats)) : null;

export function lpStatements(
  enrolments: StatementEnrolmentRow[],
  starts: Date[],
  buckets: StatementBucketRow[],
  pending: StatementPendingRow[],
): Statement[] {
  return enrolments.map((e) => {
    const mine = buckets.filter((b) => b.client_id === e.client_id);
    const sumOf = (at: number | null, kinds: StatementBucketRow['kind'][]) => {
      let cents = 0n;
      let sats = 0n;
      let count = 0;
      for (const b of mine) {
        if ((b.period_start === null ? null : b.period_start.getTime()) !== at || !kinds.includes(b.kind))
          continue;
        cents += BigInt(parseCents(b.fiat));
        sats += BigInt(b.sats);
        count += b.count;
      }
      return { cents, sats, count };
    };
    const openDeposits = sumOf(null, ['deposit']);
    const openPayouts = sumOf(null, ['dca', 'settlement']);
    let balance = openDeposits.cents - openPayouts.cents;
    const opening = balance;
    let depositsTotal = openDeposits.cents;
    let spent = openPayouts.cents;
    let sats = openPayouts.sats;
    const periods = starts.map((s) => {
      const d = sumOf(s.getTime(), ['deposit']);
      const p = sumOf(s.getTime(), ['dca', 'settlement']);
      const f = sumOf(s.getTime(), ['autoforward']);
      balance += d.cents - p.cents;
      depositsTotal += d.cents;
      spent += p.cents;
      sats += p.sats;
      return {
        period_start: s.toISOString(),
        deposits: formatCents(d.cents),
        deposit_count: d.count,
        payouts_fiat: formatCents(p.cents),
        payouts_sats: Number(p.sats),
        payout_count: p.count,
        autoforward_sats: Number(f.sats),
        average_cost: avg(p.cents, p.sats),
        closing_balance: formatCents(balance),
        cumulative_sats: Number(sats),
        cumulative_average_cost: avg(spent, sats),
      };
    });
    const held = pending.find((p) => p.client_id === e.client_id);
    const heldCents = held ? BigInt(parseCents(held.pending_fiat)) : 0n;
    return {
      client_id: e.client_id,
      machine_id: e.machine_id,
      machine_name: e.machine_name,
      operator_user_id: e.operator_user_id,
      user_id: e.user_id,
      lp_name: e.username ?? e.lp_name,
      currency: e.currency,
      opening_balance: formatCents(opening),
      periods,
      closing_balance: formatCents(balance),
      pending_fiat: formatCents(heldCents),
      remaining_balance: formatCents(balance - heldCents),
      total_deposits: formatCents(depositsTotal),
      total_payouts_fiat: formatCents(spent),
      total_sats: Number(sats),
      average_cost: avg(spent, sats),
    };
  });
}
