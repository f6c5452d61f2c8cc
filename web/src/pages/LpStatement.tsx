import { useMemo, useState } from 'react';
import { api, ok, type GetResult } from '../api/client';
import { ErrorNotice, Loading } from '../components/Notice';
import { Page } from '../components/Page';
import { Table } from '../components/Table';
import { TimeChart } from '../components/TimeChart';
import { fiat, groupedCents, parseCents, sats } from '../format';
import { useLoad } from '../hooks';
import { addDays, DateRangeForm, today, type DateRange } from './reportRange';

export type Statement = GetResult<'/api/v1/reports/lp-statement'>['statements'][number];

const seconds = (iso: string) => Date.parse(iso) / 1000;
const month = (iso: string) => iso.slice(0, 7);
/** a fiat decimal as a number for the chart only (the tables show the exact text) */
const chartFiat = (text: string) => Number(parseCents(text) ?? 0n) / 100;

/** One enrolment's statement: balance over time (chart) and the months (table). */
export function StatementView({ statement: s }: { statement: Statement }) {
  const x = useMemo(() => s.periods.map((p) => seconds(p.period_start)), [s]);
  const series = useMemo(
    () => [
      { label: 'Balance', values: s.periods.map((p) => chartFiat(p.closing_balance)), color: '#2563eb' },
      { label: 'Deposits', values: s.periods.map((p) => chartFiat(p.deposits)), color: '#16a34a' },
      { label: 'Paid out', values: s.periods.map((p) => chartFiat(p.payouts_fiat)), color: '#dc2626' },
    ],
    [s],
  );
  const cents = (t: string) => `${groupedCents(parseCents(t) ?? 0n)} ${s.currency}`;
  return (
    <section className="statement" aria-label={`Statement ${s.machine_name} ${s.lp_name}`}>
      <h2>
        {s.lp_name} at {s.machine_name} <span className="muted">({s.currency})</span>
      </h2>
      <dl className="facts">
        <div>
          <dt>Opening balance</dt>
          <dd>{cents(s.opening_balance)}</dd>
        </div>
        <div>
          <dt>Deposits (to the end)</dt>
          <dd>{cents(s.total_deposits)}</dd>
        </div>
        <div>
          <dt>Paid out</dt>
          <dd>
            {cents(s.total_payouts_fiat)} → {sats(s.total_sats)}
          </dd>
        </div>
        <div>
          <dt>Average cost</dt>
          <dd>{s.average_cost ? `${cents(s.average_cost)} per BTC` : '–'}</dd>
        </div>
        <div>
          <dt>Closing balance</dt>
          <dd>{cents(s.closing_balance)}</dd>
        </div>
        <div>
          <dt>Held by unpaid legs (now)</dt>
          <dd>{cents(s.pending_fiat)}</dd>
        </div>
        <div>
          <dt>Remaining</dt>
          <dd data-testid="statement-remaining">{cents(s.remaining_balance)}</dd>
        </div>
      </dl>
      <TimeChart
        title="LP balance over time"
        summary={`Balance of ${s.lp_name} at ${s.machine_name} per period, from ${cents(s.opening_balance)} to ${cents(s.closing_balance)}`}
        x={x}
        series={series}
        unit={s.currency}
        step
      />
      <Table label={`Periods of ${s.lp_name} at ${s.machine_name}`}>
        <thead>
          <tr>
            <th scope="col">Period (UTC)</th>
            <th scope="col" className="num">
              Deposits
            </th>
            <th scope="col" className="num">
              Paid out
            </th>
            <th scope="col" className="num">
              Sats
            </th>
            <th scope="col" className="num">
              Average cost / BTC
            </th>
            <th scope="col" className="num">
              Balance
            </th>
          </tr>
        </thead>
        <tbody>
          {s.periods
            .filter((p) => p.deposit_count + p.payout_count > 0)
            .map((p) => (
              <tr key={p.period_start}>
                <td>
                  {p.period_start.endsWith('-01T00:00:00.000Z')
                    ? month(p.period_start)
                    : p.period_start.slice(0, 10)}
                </td>
                <td className="num">{fiat(p.deposits, s.currency)}</td>
                <td className="num">{fiat(p.payouts_fiat, s.currency)}</td>
                <td className="num">{sats(p.payouts_sats)}</td>
                <td className="num">{p.average_cost ? fiat(p.average_cost, s.currency) : '–'}</td>
                <td className="num">{fiat(p.closing_balance, s.currency)}</td>
              </tr>
            ))}
        </tbody>
      </Table>
    </section>
  );
}

/** The LP's own statement per month, every enrolment. */
export function LpStatementPage() {
  const [range, setRange] = useState<DateRange>({
    from: addDays(today(), -364),
    to: today(),
    period: 'month',
  });
  const data = useLoad(
    () =>
      ok(
        api.GET('/api/v1/reports/lp-statement', {
          params: { query: { from: range.from, to: addDays(range.to, 1), period: range.period } },
        }),
      ),
    [range],
  );
  return (
    <Page title="Statement" lead="Your deposits, payouts, average cost and balance, per month (UTC).">
      <DateRangeForm value={range} onApply={setRange} error={data.error} />
      <ErrorNotice error={data.error} />
      {!data.data && data.loading ? <Loading what="statement" /> : null}
      {data.data && data.data.statements.length === 0 ? (
        <p>You are not enrolled at any machine yet.</p>
      ) : null}
      {data.data?.statements.map((s) => (
        <StatementView key={s.client_id} statement={s} />
      ))}
    </Page>
  );
}
