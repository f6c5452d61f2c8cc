import { z } from 'zod';
import type { RevenueLegRow, VolumeRow } from '../db/reportsRevenue';
import { formatCents, parseCents } from '../domain/decimal';

/** Volume and revenue per UTC period, assembled from the grouped SQL rows (docs/reports.md). */

const volumeShape = z.object({
  currency: z.string().nullable(),
  tx_type: z.enum(['cash_out', 'cash_in']).nullable(),
  settlements: z.number().int(),
  wire_sats: z.number().int(),
  fee_sats: z.number().int().describe('fees the machine charged (bitspire fee_sats)'),
  fiat_amount: z.string().describe('exact decimal in currency'),
});

const feeShape = z.object({
  earned_sats: z
    .number()
    .int()
    .describe('completed legs (and, for the operator, the remainder kept in the machine wallet)'),
  open_sats: z.number().int().describe('legs not paid yet: pending, or failed and awaiting the operator'),
});

const splitShape = z.object({
  label: z.string().nullable(),
  destination: z
    .string()
    .nullable()
    .describe('wallet id or Lightning address; null = kept in the machine wallet'),
  earned_sats: z.number().int(),
  open_sats: z.number().int(),
});

const periodShape = z.object({
  period_start: z.string(),
  settlements: z.number().int(),
  volume: z.array(volumeShape),
  platform: feeShape,
  operator: feeShape.extend({
    retained_sats: z.number().int().describe('no commission rules: stayed in the machine wallet'),
  }),
  splits: z.array(splitShape),
});

export const revenueShape = z
  .object({
    from: z.string(),
    to: z.string(),
    period: z.enum(['day', 'month']),
    operator_id: z.string().nullable(),
    periods: z.array(periodShape),
    totals: periodShape.omit({ period_start: true }),
  })
  .meta({ id: 'RevenueReport' });

type PeriodView = z.infer<typeof periodShape>;
type Totals = Omit<PeriodView, 'period_start'>;

function emptyTotals(): Totals {
  return {
    settlements: 0,
    volume: [],
    platform: { earned_sats: 0, open_sats: 0 },
    operator: { earned_sats: 0, open_sats: 0, retained_sats: 0 },
    splits: [],
  };
}

function addVolume(t: Totals, v: VolumeRow): void {
  t.settlements += v.settlements;
  let row = t.volume.find((x) => x.currency === v.currency && x.tx_type === v.tx_type);
  if (!row) {
    row = {
      currency: v.currency,
      tx_type: v.tx_type as 'cash_out' | 'cash_in' | null,
      settlements: 0,
      wire_sats: 0,
      fee_sats: 0,
      fiat_amount: '0.00',
    };
    t.volume.push(row);
  }
  row.settlements += v.settlements;
  row.wire_sats += v.wire_sats;
  row.fee_sats += v.fee_sats;
  row.fiat_amount = formatCents(BigInt(parseCents(row.fiat_amount)) + BigInt(parseCents(v.fiat_amount)));
}

function addLeg(t: Totals, l: RevenueLegRow): void {
  const earned = l.status === 'completed';
  const retained = l.status === 'skipped';
  const open = l.status === 'pending' || l.status === 'failed';
  if (l.leg_type === 'super_fee') {
    if (earned) t.platform.earned_sats += l.sats;
    if (open) t.platform.open_sats += l.sats;
    return;
  }
  if (earned || retained) t.operator.earned_sats += l.sats;
  if (retained) t.operator.retained_sats += l.sats;
  if (open) t.operator.open_sats += l.sats;
  const destination = retained ? null : l.destination;
  let split = t.splits.find((s) => s.label === l.label && s.destination === destination);
  if (!split) {
    split = { label: l.label, destination, earned_sats: 0, open_sats: 0 };
    t.splits.push(split);
  }
  if (earned || retained) split.earned_sats += l.sats;
  if (open) split.open_sats += l.sats;
}

/** Every period of the range (empty ones too, for charts), and the totals. */
export function revenueReport(
  starts: Date[],
  volume: VolumeRow[],
  legs: RevenueLegRow[],
): { periods: PeriodView[]; totals: Totals } {
  const byStart = new Map<number, PeriodView>(
    starts.map((s) => [s.getTime(), { period_start: s.toISOString(), ...emptyTotals() }]),
  );
  const totals = emptyTotals();
  const periodOf = (at: Date) => {
    const p = byStart.get(at.getTime());
    if (!p) throw new Error(`period ${at.toISOString()} is outside the report range`);
    return p;
  };
  for (const v of volume) {
    addVolume(periodOf(v.period_start), v);
    addVolume(totals, v);
  }
  for (const l of legs) {
    addLeg(periodOf(l.period_start), l);
    addLeg(totals, l);
  }
  return { periods: [...byStart.values()], totals };
}
