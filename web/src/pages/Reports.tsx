import { useMemo, useState } from 'react';
import { api, failureOf, ok, type GetResult } from '../api/client';
import { Field } from '../components/Field';
import { ErrorNotice, Loading, Notice } from '../components/Notice';
import { Page } from '../components/Page';
import { Pager, type PageCursors } from '../components/Pager';
import { Table } from '../components/Table';
import { TimeChart } from '../components/TimeChart';
import { fiat, sats, short, when } from '../format';
import { useLoad } from '../hooks';
import { Link } from '../router';
import { useSession } from '../sessionContext';
import { StatementView } from './LpStatement';
import { addDays, DateRangeForm, today, type DateRange } from './reportRange';
import { settlementStatusLabel } from '../words';
import { PageTotals } from '../components/PageTotals';

type Revenue = GetResult<'/api/v1/reports/revenue'>;
type Filter = DateRange & { machine: string; operator: string };

const PAGE = 25;
const seconds = (iso: string) => Date.parse(iso) / 1000;

/** The query every report of the page shares: the UTC range (to exclusive) and the scope. */
function scopeQuery(f: Filter) {
  return {
    from: f.from,
    to: addDays(f.to, 1),
    ...(f.machine ? { machine_id: f.machine } : {}),
    ...(f.operator ? { operator_id: f.operator } : {}),
  };
}

/** Downloads a CSV export with the Authorization header (the key never goes into a URL). */
async function downloadCsv(kind: 'settlements' | 'legs', f: Filter): Promise<number> {
  const query = { ...scopeQuery(f), format: 'csv' as const };
  const blob = await ok(
    kind === 'settlements'
      ? api.GET('/api/v1/reports/settlements', { params: { query }, parseAs: 'blob' })
      : api.GET('/api/v1/reports/legs', { params: { query }, parseAs: 'blob' }),
  );
  const url = URL.createObjectURL(blob);
  try {
    const a = document.createElement('a');
    a.href = url;
    a.download = `satmachine-${kind}-${f.from}-${f.to}.csv`;
    document.body.append(a);
    a.click();
    a.remove();
  } finally {
    setTimeout(() => URL.revokeObjectURL(url), 10_000);
  }
  return blob.size;
}

function Charts({ revenue }: { revenue: Revenue }) {
  const x = useMemo(() => revenue.periods.map((p) => seconds(p.period_start)), [revenue]);
  const volume = useMemo(() => {
    const of = (t: 'cash_out' | 'cash_in') =>
      revenue.periods.map((p) =>
        p.volume.filter((v) => v.tx_type === t).reduce((s, v) => s + v.wire_sats, 0),
      );
    return [
      { label: 'Cash-out', values: of('cash_out'), color: '#2563eb' },
      { label: 'Cash-in', values: of('cash_in'), color: '#d97706' },
    ];
  }, [revenue]);
  const fees = useMemo(
    () => [
      { label: 'Platform fee', values: revenue.periods.map((p) => p.platform.earned_sats), color: '#7c3aed' },
      { label: 'Operator fee', values: revenue.periods.map((p) => p.operator.earned_sats), color: '#16a34a' },
    ],
    [revenue],
  );
  const per = revenue.period === 'day' ? 'day' : 'month';
  return (
    <div className="charts">
      <TimeChart
        title={`Volume per ${per}`}
        summary={`Sats moved per ${per}: ${revenue.totals.settlements} settlements in the range`}
        x={x}
        series={volume}
        unit="sats"
      />
      <TimeChart
        title={`Revenue per ${per}`}
        summary={`Fees earned per ${per}: platform ${revenue.totals.platform.earned_sats} sats, operator ${revenue.totals.operator.earned_sats} sats`}
        x={x}
        series={fees}
        unit="sats"
      />
    </div>
  );
}

function RevenueTotals({ revenue }: { revenue: Revenue }) {
  const t = revenue.totals;
  return (
    <Table label="Revenue by fee type">
      <thead>
        <tr>
          <th scope="col">Fee type</th>
          <th scope="col" className="num">
            Earned
          </th>
          <th scope="col" className="num">
            Not paid yet
          </th>
        </tr>
      </thead>
      <tbody>
        <tr>
          <th scope="row">Platform fee</th>
          <td className="num">{sats(t.platform.earned_sats)}</td>
          <td className="num">{sats(t.platform.open_sats)}</td>
        </tr>
        <tr>
          <th scope="row">Operator fee (all splits)</th>
          <td className="num">{sats(t.operator.earned_sats)}</td>
          <td className="num">{sats(t.operator.open_sats)}</td>
        </tr>
        {t.splits.map((s) => (
          <tr key={`${s.label}|${s.destination}`}>
            <td>
              ↳ {s.label ?? 'split'}{' '}
              <span className="muted">
                {s.destination ? `→ ${s.destination}` : '(kept in the machine wallet)'}
              </span>
            </td>
            <td className="num">{sats(s.earned_sats)}</td>
            <td className="num">{sats(s.open_sats)}</td>
          </tr>
        ))}
      </tbody>
    </Table>
  );
}

function SettlementPages({ filter, linkable }: { filter: Filter; linkable: boolean }) {
  const [cursors, setCursors] = useState<PageCursors>([undefined]);
  const cursor = cursors[cursors.length - 1];
  const data = useLoad(
    () =>
      ok(
        api.GET('/api/v1/reports/settlements', {
          params: { query: { ...scopeQuery(filter), limit: PAGE, ...(cursor ? { cursor } : {}) } },
        }),
      ),
    [filter, cursor],
  );
  const items = data.data?.items;
  return (
    <section aria-label="Settlements in the range">
      <h2>Settlements</h2>
      <ErrorNotice error={data.error} />
      {!items && data.loading ? <Loading what="settlements" /> : null}
      {items && items.length === 0 ? <p>No settlements in this range.</p> : null}
      {items && items.length > 0 ? (
        <Table label="Settlements in the range" cards>
          <thead>
            <tr>
              <th scope="col">Created (UTC)</th>
              <th scope="col">Status</th>
              <th scope="col">Machine</th>
              <th scope="col" className="num">
                Sats
              </th>
              <th scope="col" className="num">
                Fiat
              </th>
              <th scope="col" className="num">
                Fee
              </th>
              <th scope="col">Payment hash</th>
            </tr>
          </thead>
          <tbody>
            {items.map((s) => (
              <tr key={s.id}>
                <td>{when(s.created_at)}</td>
                <td title={s.status}>{settlementStatusLabel(s.status)}</td>
                <td>{s.machine_name}</td>
                <td className="num">{sats(s.wire_sats)}</td>
                <td className="num">{fiat(s.fiat_amount, s.fiat_code)}</td>
                <td className="num">{sats(s.fee_sats)}</td>
                <td>
                  {linkable ? (
                    <Link to={`/settlements/${s.id}`}>
                      <code title={s.payment_hash}>{short(s.payment_hash, 12)}</code>
                    </Link>
                  ) : (
                    <code title={s.payment_hash}>{short(s.payment_hash, 12)}</code>
                  )}
                </td>
              </tr>
            ))}
          </tbody>
        </Table>
      ) : null}
      {items && items.length > 0 ? <PageTotals rows={items} /> : null}
      <Pager
        label="Settlement pages"
        cursors={cursors}
        setCursors={setCursors}
        nextCursor={data.data?.next_cursor}
        back="Earlier"
        forward="Later"
      />
    </section>
  );
}

function Statements({ filter }: { filter: Filter }) {
  const [clientId, setClientId] = useState('');
  const data = useLoad(
    () =>
      ok(
        api.GET('/api/v1/reports/lp-statement', {
          params: {
            query: {
              from: filter.from,
              to: addDays(filter.to, 1),
              period: filter.period,
              ...(filter.machine ? { machine_id: filter.machine } : {}),
            },
          },
        }),
      ),
    [filter],
  );
  const list = data.data?.statements ?? [];
  const chosen = list.find((s) => s.client_id === clientId) ?? list[0];
  return (
    <section aria-label="LP statements">
      <h2>LP statements</h2>
      <ErrorNotice error={data.error} />
      {data.data && list.length === 0 ? <p>No LP is enrolled at these machines.</p> : null}
      {list.length > 1 ? (
        <Field label="LP">
          {(c) => (
            <select {...c} value={chosen?.client_id ?? ''} onChange={(e) => setClientId(e.target.value)}>
              {list.map((s) => (
                <option key={s.client_id} value={s.client_id}>
                  {s.lp_name} at {s.machine_name}
                </option>
              ))}
            </select>
          )}
        </Field>
      ) : null}
      {chosen ? <StatementView statement={chosen} /> : null}
    </section>
  );
}

/** Reports for an operator (its machines) or the platform (every operator, or one): charts, totals, exports. */
export function Reports() {
  const { user } = useSession();
  const platform = user.role === 'super';
  const [filter, setFilter] = useState<Filter>({
    from: addDays(today(), -29),
    to: today(),
    period: 'day',
    machine: '',
    operator: '',
  });
  const [machine, setMachine] = useState('');
  const [operator, setOperator] = useState('');
  const machines = useLoad(
    () => (platform ? Promise.resolve([]) : ok(api.GET('/api/v1/machines'))),
    [platform],
  );
  const operators = useLoad(
    () => (platform ? ok(api.GET('/api/v1/super/users')) : Promise.resolve([])),
    [platform],
  );
  const revenue = useLoad(
    () =>
      ok(
        api.GET('/api/v1/reports/revenue', {
          params: { query: { ...scopeQuery(filter), period: filter.period } },
        }),
      ),
    [filter],
  );
  const [csv, setCsv] = useState<{ ok: boolean; text: string } | null>(null);
  const [busy, setBusy] = useState(false);
  const download = async (kind: 'settlements' | 'legs') => {
    setBusy(true);
    setCsv(null);
    try {
      const size = await downloadCsv(kind, filter);
      setCsv({ ok: true, text: `Downloaded the ${kind} CSV (${size.toLocaleString('en-US')} bytes).` });
    } catch (err) {
      setCsv({ ok: false, text: `The CSV could not be downloaded: ${failureOf(err).message}` });
    } finally {
      setBusy(false);
    }
  };
  const r = revenue.data;
  return (
    <Page
      title="Reports"
      lead={
        platform
          ? 'Volume and revenue of every operator (or one), per UTC day or month, and exports for accountants.'
          : 'Volume and revenue of your machines per UTC day or month, LP statements, and exports for your accountant.'
      }
    >
      <DateRangeForm
        value={filter}
        error={revenue.error}
        onApply={(range) => setFilter({ ...range, machine, operator })}
      >
        {platform ? (
          <Field label="Operator">
            {(c) => (
              <select {...c} value={operator} onChange={(e) => setOperator(e.target.value)}>
                <option value="">every operator</option>
                {(operators.data ?? [])
                  .filter((u) => u.role === 'operator')
                  .map((u) => (
                    <option key={u.id} value={u.id}>
                      {u.name}
                    </option>
                  ))}
              </select>
            )}
          </Field>
        ) : (
          <Field label="Machine">
            {(c) => (
              <select {...c} value={machine} onChange={(e) => setMachine(e.target.value)}>
                <option value="">every machine</option>
                {(machines.data ?? []).map((m) => (
                  <option key={m.id} value={m.id}>
                    {m.name}
                  </option>
                ))}
              </select>
            )}
          </Field>
        )}
      </DateRangeForm>
      <div className="toolbar">
        <button type="button" disabled={busy} onClick={() => void download('settlements')}>
          Download settlements CSV
        </button>
        <button type="button" disabled={busy} onClick={() => void download('legs')}>
          Download payment legs CSV
        </button>
      </div>
      {csv ? <Notice kind={csv.ok ? 'success' : 'error'}>{csv.text}</Notice> : null}
      <ErrorNotice error={revenue.error} />
      {!r && revenue.loading ? <Loading what="reports" /> : null}
      {r ? (
        <>
          <Charts revenue={r} />
          <h2>Totals</h2>
          <ul className="link-list" data-testid="volume-totals">
            <li>{r.totals.settlements.toLocaleString('en-US')} settlements</li>
            {r.totals.volume.map((v) => (
              <li key={`${v.currency}|${v.tx_type}`}>
                {v.tx_type === 'cash_in' ? 'Cash-in' : 'Cash-out'}: {sats(v.wire_sats)} for{' '}
                {fiat(v.fiat_amount, v.currency)} ({v.settlements.toLocaleString('en-US')}; fees charged{' '}
                {sats(v.fee_sats)})
              </li>
            ))}
          </ul>
          <RevenueTotals revenue={r} />
        </>
      ) : null}
      <SettlementPages key={JSON.stringify(filter)} filter={filter} linkable={!platform} />
      {platform ? null : <Statements filter={filter} />}
    </Page>
  );
}
