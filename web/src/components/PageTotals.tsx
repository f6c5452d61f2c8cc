import { groupedCents, parseCents, plural, sats } from '../format';

interface Row {
  wire_sats: number | null;
  fee_sats?: number | null;
  fiat_amount: string | null;
  fiat_code: string | null;
}

/**
 * The totals of the rows on screen: the wire, the ATM fees, and the fiat per currency
 * (exact: cents in BigInt), so the list reconciles with its export.
 */
export function PageTotals({ rows, what = 'settlement' }: { rows: Row[]; what?: string }) {
  const wire = rows.reduce((s, r) => s + (r.wire_sats ?? 0), 0);
  const fees = rows.reduce((s, r) => s + (r.fee_sats ?? 0), 0);
  const byCurrency = new Map<string, bigint>();
  for (const r of rows) {
    const cents = r.fiat_amount ? parseCents(r.fiat_amount) : null;
    if (cents === null) continue;
    const code = r.fiat_code ?? '(no currency)';
    byCurrency.set(code, (byCurrency.get(code) ?? 0n) + cents);
  }
  const fiat = [...byCurrency].map(([code, cents]) => `${groupedCents(cents)} ${code}`);
  return (
    <p className="totals" data-testid="page-totals">
      <strong>Total of these {plural(rows.length, what)}:</strong> {sats(wire)} wire
      {rows.some((r) => r.fee_sats !== undefined) ? ` (ATM fees ${sats(fees)})` : ''}
      {fiat.length > 0 ? ` · ${fiat.join(' · ')}` : ''}
    </p>
  );
}
