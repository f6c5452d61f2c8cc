import { useState } from 'react';
import { api, ok, type Settlement } from '../api/client';
import { Badge } from '../components/Badge';
import { Field } from '../components/Field';
import { ErrorNotice, Loading } from '../components/Notice';
import { Page } from '../components/Page';
import { Table } from '../components/Table';
import { ago, fiat, sats, short, txLabel, when } from '../format';
import { useLoad } from '../hooks';
import { Link } from '../router';

const STATUSES = [
  'pending',
  'processing',
  'processed',
  'partial',
  'refunded',
  'errored',
  'rejected',
] as const;
type Status = (typeof STATUSES)[number];
const PAGE = 25;

function SettlementRows({ items }: { items: Settlement[] }) {
  return (
    <Table label="Settlements">
      <thead>
        <tr>
          <th scope="col">When</th>
          <th scope="col">Type</th>
          <th scope="col" className="num">
            Fiat
          </th>
          <th scope="col" className="num">
            Wire
          </th>
          <th scope="col">Status</th>
          <th scope="col">Settlement</th>
        </tr>
      </thead>
      <tbody>
        {items.map((s) => (
          <tr key={s.id}>
            <td>
              <time dateTime={s.created_at}>{when(s.created_at)}</time>
            </td>
            <td>{txLabel(s.tx_type)}</td>
            <td className="num">{fiat(s.fiat_amount, s.fiat_code)}</td>
            <td className="num">{sats(s.wire_sats)}</td>
            <td>
              <Badge status={s.status} />
              {s.fee_mismatch_over_tolerance ? <span className="warn-text"> fee mismatch</span> : null}
            </td>
            <td>
              <Link to={`/settlements/${encodeURIComponent(s.id)}`}>{short(s.id, 10)}</Link>
            </td>
          </tr>
        ))}
      </tbody>
    </Table>
  );
}

/** One machine: live status and its settlements, newest first, a page at a time. */
export function MachinePage({ id }: { id: string }) {
  const machine = useLoad(
    async () => {
      const [m, t] = await Promise.all([
        ok(api.GET('/api/v1/machines/{id}', { params: { path: { id } } })),
        ok(api.GET('/api/v1/machines/{id}/telemetry', { params: { path: { id } } })),
      ]);
      return { m, t };
    },
    [id],
    10000,
  );
  const [status, setStatus] = useState<Status | ''>('');
  const [cursors, setCursors] = useState<(string | undefined)[]>([undefined]);
  const cursor = cursors[cursors.length - 1];
  const list = useLoad(
    () =>
      ok(
        api.GET('/api/v1/settlements', {
          params: { query: { machine_id: id, limit: PAGE, cursor, ...(status ? { status } : {}) } },
        }),
      ),
    [id, status, cursor],
    cursors.length === 1 ? 5000 : undefined,
  );

  if (machine.error && !machine.data) {
    return (
      <Page title="Machine">
        <ErrorNotice error={machine.error} />
        <p>
          <Link to="/fleet">Back to the fleet</Link>
        </p>
      </Page>
    );
  }
  const m = machine.data?.m;
  const t = machine.data?.t;
  return (
    <Page title={m ? m.name : 'Machine'}>
      {!m ? <Loading what="the machine" /> : null}
      {m && t ? (
        <>
          <p className="subtitle">
            <Badge status={t.status.online ? 'online' : 'offline'} /> last seen {ago(t.status.last_seen_at)}
            {m.location ? ` · ${m.location}` : ''} · {m.fiat_code}
            {t.status.version ? ` · software ${t.status.version}` : ''}
          </p>
          <dl className="facts">
            <div>
              <dt>Cash-in</dt>
              <dd>
                {t.status.cash_in === null ? 'unknown' : t.status.cash_in ? 'available' : 'unavailable'}
              </dd>
            </div>
            <div>
              <dt>Cash-out</dt>
              <dd>
                {t.status.cash_out === null ? 'unknown' : t.status.cash_out ? 'available' : 'unavailable'}
              </dd>
            </div>
            <div>
              <dt>Cash level</dt>
              <dd>{t.status.cash_level ?? 'unknown'}</dd>
            </div>
            <div>
              <dt>Operator fees</dt>
              <dd>
                in {m.operator_cash_in_fee_fraction}, out {m.operator_cash_out_fee_fraction}
              </dd>
            </div>
            <div>
              <dt>Hold before paying</dt>
              <dd>{m.distribution_delay_seconds} s</dd>
            </div>
            <div>
              <dt>Public key</dt>
              <dd>
                <code className="wrap">{m.machine_npub}</code>
              </dd>
            </div>
          </dl>
          <p className="card-links">
            <Link to={`/machines/${encodeURIComponent(m.id)}/cassettes`}>Cassettes</Link>
            <Link to={`/lps?machine=${encodeURIComponent(m.id)}`}>LPs and deposits</Link>
            <Link to={`/splits?machine=${encodeURIComponent(m.id)}`}>Commission splits</Link>
          </p>
        </>
      ) : null}

      <section>
        <h2>Settlements</h2>
        <div className="inline-form">
          <Field label="Status">
            {(c) => (
              <select
                {...c}
                value={status}
                onChange={(e) => {
                  setStatus(e.target.value as Status | '');
                  setCursors([undefined]);
                }}
              >
                <option value="">all</option>
                {STATUSES.map((s) => (
                  <option key={s} value={s}>
                    {s}
                  </option>
                ))}
              </select>
            )}
          </Field>
        </div>
        <ErrorNotice error={list.error} />
        {!list.data && list.loading ? <Loading what="settlements" /> : null}
        {list.data && list.data.items.length === 0 ? <p>No settlements.</p> : null}
        {list.data && list.data.items.length > 0 ? <SettlementRows items={list.data.items} /> : null}
        <nav className="pager" aria-label="Settlement pages">
          <button
            type="button"
            disabled={cursors.length === 1}
            onClick={() => setCursors((c) => c.slice(0, -1))}
          >
            Newer
          </button>
          <span className="muted">Page {cursors.length}</span>
          <button
            type="button"
            disabled={!list.data?.next_cursor}
            onClick={() => setCursors((c) => [...c, list.data!.next_cursor ?? undefined])}
          >
            Older
          </button>
        </nav>
      </section>
    </Page>
  );
}
