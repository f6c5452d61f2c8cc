import { useState } from 'react';
import { api, ok, type Machine, type Settlement, type Telemetry } from '../api/client';
import { Badge } from '../components/Badge';
import { CashPanel } from '../components/CashPanel';
import { KeyStateBadge, KeyStateNotice } from '../components/KeyState';
import { ConfirmDialog } from '../components/ConfirmDialog';
import { Field } from '../components/Field';
import { JsonView, words } from '../components/JsonView';
import { MachineForm } from '../components/MachineForm';
import { ErrorNotice, Loading, Notice } from '../components/Notice';
import { Page } from '../components/Page';
import { Pager, type PageCursors } from '../components/Pager';
import { Table } from '../components/Table';
import { ago, fiat, percent, sats, short, txLabel, when } from '../format';
import { useLoad } from '../hooks';
import { Link } from '../router';
import { settlementStatusLabel } from '../words';
import { HashSearch, PaymentHash } from '../components/HashSearch';
import { PageTotals } from '../components/PageTotals';

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
    <Table label="Settlements" cards>
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
          <th scope="col">Payment hash</th>
        </tr>
      </thead>
      <tbody>
        {items.map((s) => (
          <tr key={s.id}>
            <td>
              <time dateTime={s.created_at}>{when(s.created_at)}</time>
            </td>
            <td title={`TxType = ${s.tx_type}`}>{txLabel(s.tx_type)}</td>
            <td className="num">{fiat(s.fiat_amount, s.fiat_code)}</td>
            <td className="num">{sats(s.wire_sats)}</td>
            <td>
              <Badge status={s.status} label={settlementStatusLabel(s.status)} />
              {s.fee_mismatch_over_tolerance ? <span className="warn-text"> fee mismatch</span> : null}
            </td>
            <td>
              <Link to={`/settlements/${encodeURIComponent(s.id)}`}>{short(s.id, 10)}</Link>
            </td>
            <td>
              <PaymentHash hash={s.payment_hash} />
            </td>
          </tr>
        ))}
      </tbody>
    </Table>
  );
}

const availability = (v: boolean | null) => (v === null ? 'unknown' : v ? 'available' : 'unavailable');

/** A received-at line: the time, and how long ago. */
function Received({ at }: { at: string | null }) {
  if (!at) return null;
  return (
    <p className="muted">
      Received <time dateTime={at}>{when(at)}</time> ({ago(at)}).
    </p>
  );
}

/** The beacon fields the API returns, in this order first; any other field after them. */
const BEACON_LABELS: Record<string, string> = {
  model: 'Model',
  name: 'Name it announces',
  location: 'Location it announces',
  geo: 'Coordinates',
  fiat: 'Fiat',
  version: 'Software version',
  cash_in: 'Cash-in',
  cash_out: 'Cash-out',
  cash_level: 'Cash level',
  limits: 'Limits',
  fees: 'Fees it announces',
  denominations: 'Denominations',
  event_created_at: 'Signed at',
  event_id: 'Event id',
};

function beaconValue(key: string, v: unknown) {
  if ((key === 'cash_in' || key === 'cash_out') && (typeof v === 'boolean' || v === null))
    return availability(v);
  if (key === 'event_created_at' && typeof v === 'string') return <time dateTime={v}>{when(v)}</time>;
  if (key === 'event_id' && typeof v === 'string') return <code className="wrap">{v}</code>;
  return <JsonView value={v} />;
}

/** The machine's last beacon (public, unencrypted): every field the API returns. */
function Beacon({ t }: { t: Telemetry }) {
  const b = t.beacon;
  const keys = b
    ? [
        ...Object.keys(BEACON_LABELS).filter((k) => k in b),
        ...Object.keys(b).filter((k) => !(k in BEACON_LABELS)),
      ]
    : [];
  // a field the machine never sent comes back null: listed once, not shown as a dash each
  const reported = keys.filter((k) => b?.[k] !== null && b?.[k] !== undefined);
  const unreported = keys.filter((k) => !reported.includes(k));
  return (
    <section aria-labelledby="beacon-h">
      <h2 id="beacon-h">Beacon</h2>
      {!b ? (
        <p>No beacon received yet: the machine announces itself (model, limits, fees…) when it starts.</p>
      ) : (
        <>
          <Received at={t.beacon_received_at} />
          <dl className="facts beacon" aria-label="Last beacon">
            {reported.map((k) => (
              <div key={k} className={b[k] !== null && typeof b[k] === 'object' ? 'wide' : undefined}>
                <dt>{BEACON_LABELS[k] ?? words(k)}</dt>
                <dd>{beaconValue(k, b[k])}</dd>
              </div>
            ))}
          </dl>
          {unreported.length ? (
            <p className="muted">
              Not in its beacons:{' '}
              {unreported.map((k) => (BEACON_LABELS[k] ?? words(k)).toLowerCase()).join(', ')}.
            </p>
          ) : null}
        </>
      )}
    </section>
  );
}

/** The latest fleet telemetry (encrypted to the operator): parsed JSON as a list, else the raw text. */
function FleetTelemetry({ t }: { t: Telemetry }) {
  const f = t.fleet;
  return (
    <section aria-labelledby="fleet-h">
      <h2 id="fleet-h">Fleet telemetry</h2>
      {!f ? (
        <p>No fleet telemetry received yet.</p>
      ) : (
        <>
          <Received at={f.received_at} />
          {f.raw !== null ? (
            <>
              <p className="muted">Not JSON; as the machine sent it:</p>
              <pre className="json-raw" aria-label="Latest fleet telemetry">
                {f.raw}
              </pre>
            </>
          ) : (
            <div className="telemetry">
              <JsonView value={f.data} label="Latest fleet telemetry" />
            </div>
          )}
        </>
      )}
    </section>
  );
}

/** The machine's own settings, with Edit and Deactivate / Reactivate. */
function Settings({ m, onChanged }: { m: Machine; onChanged: () => void }) {
  const [editing, setEditing] = useState(false);
  const [toggling, setToggling] = useState(false);
  const [done, setDone] = useState<string | null>(null);

  const toggle = async () => {
    await ok(
      api.PATCH('/api/v1/machines/{id}', {
        params: { path: { id: m.id } },
        body: { is_active: !m.is_active },
      }),
    );
    setDone(
      m.is_active
        ? `${m.name} is deactivated: satmachine no longer listens to it.`
        : `${m.name} is active again: its new transactions start settlements.`,
    );
    onChanged();
  };

  return (
    <section aria-labelledby="settings-h">
      <h2 id="settings-h">Settings</h2>
      {done ? <Notice kind="success">{done}</Notice> : null}
      {editing ? (
        <div className="card">
          <MachineForm
            machine={m}
            onSubmit={() => setDone(null)}
            onSaved={(saved) => {
              setEditing(false);
              setDone(`Saved ${saved.name}. New settlements use these settings.`);
              onChanged();
            }}
            onCancel={() => setEditing(false)}
          />
        </div>
      ) : (
        <>
          <dl className="facts">
            <div>
              <dt>Status</dt>
              <dd>{m.is_active ? 'active' : 'inactive'}</dd>
            </div>
            <div>
              <dt>Fiat</dt>
              <dd>{m.fiat_code}</dd>
            </div>
            <div>
              <dt>Location</dt>
              <dd>{m.location ?? '–'}</dd>
            </div>
            <div>
              <dt>Your cash-in fee</dt>
              <dd title={m.operator_cash_in_fee_fraction}>{percent(m.operator_cash_in_fee_fraction)}</dd>
            </div>
            <div>
              <dt>Your cash-out fee</dt>
              <dd title={m.operator_cash_out_fee_fraction}>{percent(m.operator_cash_out_fee_fraction)}</dd>
            </div>
            <div>
              <dt>Hold before paying</dt>
              <dd>{m.distribution_delay_seconds} s</dd>
            </div>
            <div className="wide">
              <dt>Wallet id</dt>
              <dd>
                <code className="wrap">{m.wallet_id}</code>
              </dd>
            </div>
            <div className="wide">
              <dt>Public key</dt>
              <dd>
                <code className="wrap">{m.machine_npub}</code>
              </dd>
            </div>
            <div className="wide">
              <dt>Key proof</dt>
              <dd>
                {m.key_state === 'proven'
                  ? `proven${m.key_proven_at ? ` ${when(m.key_proven_at)}` : ''}: the machine’s own signed events name you as its operator`
                  : m.key_state === 'unverified'
                    ? 'not proven yet'
                    : 'unproven (another operator’s registration of this key was proven)'}
              </dd>
            </div>
          </dl>
          <div className="actions">
            <button
              type="button"
              onClick={() => {
                setDone(null);
                setEditing(true);
              }}
            >
              Edit settings
            </button>
            <button
              type="button"
              onClick={() => {
                setDone(null);
                setToggling(true);
              }}
            >
              {m.is_active ? 'Deactivate…' : 'Reactivate…'}
            </button>
          </div>
        </>
      )}
      {toggling ? (
        <ConfirmDialog
          title={`${m.is_active ? 'Deactivate' : 'Reactivate'} ${m.name}`}
          confirmLabel={m.is_active ? 'Deactivate' : 'Reactivate'}
          danger={m.is_active}
          onConfirm={toggle}
          onClose={() => setToggling(false)}
        >
          {m.is_active ? (
            <>
              <p>While it is inactive:</p>
              <ul className="compact">
                <li>
                  satmachine stops listening to its key: the transactions it signs start no settlement, and
                  its beacons, telemetry and cassette reports are ignored (it will show offline).
                </li>
                <li>
                  Lightning payments on its wallet <code>{m.wallet_id}</code> are no longer attributed to it;
                  a settlement still waiting for its signals is rejected (“machine … is not active”) and never
                  distributed.
                </li>
                <li>
                  Settlements already accepted keep paying out. Its history, LP enrolments, deposits and
                  balances stay; its LPs’ fiat is not spent while no cash-out settles here.
                </li>
              </ul>
              <p>You can reactivate it at any time.</p>
            </>
          ) : (
            <>
              <p>
                satmachine listens to its key again within a few seconds: its new transactions and Lightning
                payments on its wallet <code>{m.wallet_id}</code> start settlements again.
              </p>
              <p className="muted">
                Settlements rejected while it was inactive stay rejected. Refused if another active machine
                now uses the same wallet.
              </p>
            </>
          )}
        </ConfirmDialog>
      ) : null}
    </section>
  );
}

/** The day after a YYYY-MM-DD date (UTC): the exclusive end of a range that includes that day. */
function nextDay(day: string): string {
  const d = new Date(`${day}T00:00:00Z`);
  d.setUTCDate(d.getUTCDate() + 1);
  return d.toISOString().slice(0, 10);
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
  // a UTC date range [from, to): the "to" day is included (the API's end is exclusive)
  const [fromDay, setFromDay] = useState('');
  const [toDay, setToDay] = useState('');
  const range = {
    ...(fromDay ? { from: fromDay } : {}),
    ...(toDay ? { to: nextDay(toDay) } : {}),
  };
  const [cursors, setCursors] = useState<PageCursors>([undefined]);
  const cursor = cursors[cursors.length - 1];
  const list = useLoad(
    () =>
      ok(
        api.GET('/api/v1/settlements', {
          params: {
            query: { machine_id: id, limit: PAGE, cursor, ...(status ? { status } : {}), ...range },
          },
        }),
      ),
    [id, status, cursor, fromDay, toDay],
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
            <Badge status={t.status.online ? 'online' : 'offline'} />{' '}
            {m.is_active ? null : (
              <>
                <Badge status="inactive" />{' '}
              </>
            )}
            <KeyStateBadge m={m} /> last seen {ago(t.status.last_seen_at)}
            {m.location ? ` · ${m.location}` : ''} · {m.fiat_code}
            {t.status.version ? ` · software ${t.status.version}` : ''}
          </p>
          <KeyStateNotice m={m} />
          <dl className="facts">
            <div>
              <dt>Cash-in</dt>
              <dd>{availability(t.status.cash_in)}</dd>
            </div>
            <div>
              <dt>Cash-out</dt>
              <dd>{availability(t.status.cash_out)}</dd>
            </div>
            <div>
              <dt>Cash level</dt>
              <dd>{t.status.cash_level ?? 'unknown'}</dd>
            </div>
          </dl>
          <p className="card-links">
            <Link to={`/machines/${encodeURIComponent(m.id)}/cassettes`}>Cassettes</Link>
            <Link to={`/lps?machine=${encodeURIComponent(m.id)}`}>LPs and deposits</Link>
            <Link to={`/splits?machine=${encodeURIComponent(m.id)}`}>Commission splits</Link>
          </p>
          <Settings m={m} onChanged={machine.reload} />
          <Beacon t={t} />
          <FleetTelemetry t={t} />
          <CashPanel machineId={m.id} fiatCode={m.fiat_code} />
        </>
      ) : null}

      <section>
        <h2>Settlements</h2>
        <HashSearch />
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
                    {settlementStatusLabel(s)}
                  </option>
                ))}
              </select>
            )}
          </Field>
          <Field label="From (UTC)">
            {(c) => (
              <input
                {...c}
                type="date"
                value={fromDay}
                onChange={(e) => {
                  setFromDay(e.target.value);
                  setCursors([undefined]);
                }}
              />
            )}
          </Field>
          <Field label="To (UTC, included)">
            {(c) => (
              <input
                {...c}
                type="date"
                value={toDay}
                onChange={(e) => {
                  setToDay(e.target.value);
                  setCursors([undefined]);
                }}
              />
            )}
          </Field>
        </div>
        <ErrorNotice error={list.error} />
        {!list.data && list.loading ? <Loading what="settlements" /> : null}
        {list.data && list.data.items.length === 0 ? <p>No settlements.</p> : null}
        {list.data && list.data.items.length > 0 ? (
          <>
            <SettlementRows items={list.data.items} />
            <PageTotals rows={list.data.items} />
          </>
        ) : null}
        <Pager
          label="Settlement pages"
          cursors={cursors}
          setCursors={setCursors}
          nextCursor={list.data?.next_cursor}
        />
      </section>
    </Page>
  );
}
