import { api, ok, type LpBalance, type LpEnrolment } from '../api/client';
import { ErrorNotice, Loading, Notice } from '../components/Notice';
import { Page } from '../components/Page';
import { Table } from '../components/Table';
import { averageCost, fiat, sats, when } from '../format';
import { useLoad } from '../hooks';
import { Link } from '../router';

async function load() {
  const [summary, balances, enrolments] = await Promise.all([
    ok(api.GET('/api/v1/lp/summary')),
    ok(api.GET('/api/v1/lp/balances')),
    ok(api.GET('/api/v1/lp/enrolments')),
  ]);
  return { summary, balances, enrolments };
}

function byOperator(balances: LpBalance[], enrolments: LpEnrolment[]) {
  const groups = new Map<string, { name: string; rows: LpBalance[] }>();
  for (const b of balances) {
    const e = enrolments.find((x) => x.id === b.client_id);
    const g = groups.get(b.operator_user_id) ?? { name: e?.operator_name ?? b.operator_user_id, rows: [] };
    g.rows.push(b);
    groups.set(b.operator_user_id, g);
  }
  return [...groups.entries()];
}

/** The LP's balance at every machine, grouped by operator. */
export function LpBalances() {
  const data = useLoad(load, [], 15000);
  const d = data.data;
  return (
    <Page title="Balances" lead="Your fiat with each operator, what it bought, and what is left.">
      <ErrorNotice error={data.error} />
      {!d && data.loading ? <Loading what="balances" /> : null}
      {d && !d.summary.onboarded ? (
        <Notice kind="warning">
          You have no payout wallet yet, so no deposit can be recorded for you.{' '}
          <Link to="/lp/preferences">Set your preferences</Link>.
        </Notice>
      ) : null}
      {d && d.summary.currencies.length ? (
        <section aria-labelledby="totals-h">
          <h2 id="totals-h">Totals</h2>
          <ul className="cards totals">
            {d.summary.currencies.map((c) => (
              <li key={c.currency} className="card">
                <h3>{c.currency}</h3>
                <dl className="facts">
                  <div>
                    <dt>Remaining</dt>
                    <dd>{fiat(c.remaining_balance, c.currency)}</dd>
                  </div>
                  <div>
                    <dt>Sats received</dt>
                    <dd>{sats(c.total_sats)}</dd>
                  </div>
                  <div>
                    <dt>Average cost</dt>
                    <dd>
                      {averageCost(c.spent_fiat, c.total_sats, c.currency) ?? '–'}
                      {c.total_sats > 0 ? ' per BTC' : ''}
                    </dd>
                  </div>
                </dl>
              </li>
            ))}
          </ul>
          {d.summary.last_payout_at ? (
            <p className="muted">Last payout {when(d.summary.last_payout_at)}.</p>
          ) : null}
        </section>
      ) : null}
      {d && d.balances.length === 0 ? <p>You are not enrolled at any machine yet.</p> : null}
      {d
        ? byOperator(d.balances, d.enrolments).map(([opId, g]) => (
            <section key={opId} aria-labelledby={`op-${opId}`}>
              <h2 id={`op-${opId}`}>Operator {g.name}</h2>
              <Table label={`Balances with ${g.name}`}>
                <thead>
                  <tr>
                    <th scope="col">Machine</th>
                    <th scope="col" className="num">
                      Deposited
                    </th>
                    <th scope="col" className="num">
                      Spent
                    </th>
                    <th scope="col" className="num">
                      Reserved
                    </th>
                    <th scope="col" className="num">
                      Remaining
                    </th>
                    <th scope="col" className="num">
                      Sats received
                    </th>
                    <th scope="col" className="num">
                      Average cost (per BTC)
                    </th>
                  </tr>
                </thead>
                <tbody>
                  {g.rows.map((b) => (
                    <tr key={b.client_id}>
                      <th scope="row">{b.machine_name}</th>
                      <td className="num">{fiat(b.confirmed_deposits, b.currency)}</td>
                      <td className="num">{fiat(b.spent_fiat, b.currency)}</td>
                      <td className="num">{fiat(b.pending_fiat, b.currency)}</td>
                      <td className="num">{fiat(b.remaining_balance, b.currency)}</td>
                      <td className="num">{sats(b.total_sats)}</td>
                      <td className="num">{averageCost(b.spent_fiat, b.total_sats, b.currency) ?? '–'}</td>
                    </tr>
                  ))}
                </tbody>
              </Table>
            </section>
          ))
        : null}
      <p className="muted">
        Reserved: fiat held by payouts in progress. Average cost: what you paid per bitcoin received.
      </p>
    </Page>
  );
}
