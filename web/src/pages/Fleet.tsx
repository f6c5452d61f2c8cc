import { useEffect, useRef, useState } from 'react';
import { api, ok, type Machine } from '../api/client';
import { Badge } from '../components/Badge';
import { KeyStateBadge, KeyStateNotice } from '../components/KeyState';
import { MachineForm } from '../components/MachineForm';
import { ErrorNotice, Loading, Notice } from '../components/Notice';
import { Page } from '../components/Page';
import { ago, formatCents, startOfToday, when } from '../format';
import { useLoad } from '../hooks';
import { Link } from '../router';
import { statsSince, type DayStats } from '../stats';

interface Row {
  machine: Machine;
  today: DayStats | null;
  todayError: string | null;
}

async function loadFleet(): Promise<Row[]> {
  const machines = await ok(api.GET('/api/v1/machines'));
  const since = startOfToday();
  return Promise.all(
    machines.map(async (machine) => {
      try {
        return { machine, today: await statsSince(machine.id, since), todayError: null };
      } catch (err) {
        return { machine, today: null, todayError: (err as Error).message };
      }
    }),
  );
}

const availability = (v: boolean | null) => (v === null ? 'unknown' : v ? 'available' : 'unavailable');

function MachineCard({ row }: { row: Row }) {
  const { machine: m, today } = row;
  const s = m.status;
  const code = m.fiat_code;
  return (
    <li className="card machine" aria-labelledby={`m-${m.id}`}>
      <div className="card-head">
        <h2 id={`m-${m.id}`}>
          <Link to={`/machines/${encodeURIComponent(m.id)}`}>{m.name}</Link>
        </h2>
        <Badge status={s.online ? 'online' : 'offline'} />
        {!m.is_active ? <Badge status="inactive" /> : null}
        <KeyStateBadge m={m} />
      </div>
      {m.location ? <p className="muted">{m.location}</p> : null}
      <KeyStateNotice m={m} />
      <dl className="facts">
        <div>
          <dt>Last seen</dt>
          <dd>
            {s.last_seen_at ? (
              <time dateTime={s.last_seen_at} title={when(s.last_seen_at)}>
                {ago(s.last_seen_at)}
              </time>
            ) : (
              'never'
            )}
          </dd>
        </div>
        <div>
          <dt>Cash-in</dt>
          <dd>{availability(s.cash_in)}</dd>
        </div>
        <div>
          <dt>Cash-out</dt>
          <dd>{availability(s.cash_out)}</dd>
        </div>
        <div>
          <dt>Cash level</dt>
          <dd>{s.cash_level ?? 'unknown'}</dd>
        </div>
        <div>
          <dt>Settlements today</dt>
          <dd data-testid="today-count">
            {today ? today.count : '–'}
            {today && today.attention ? (
              <>
                {' '}
                (<Link to="/worklist">{today.attention} need attention</Link>)
              </>
            ) : null}
          </dd>
        </div>
        <div>
          <dt>Volume today</dt>
          <dd data-testid="today-volume">
            {today ? `${formatCents(today.volume)} ${code}` : '–'}
            {today && today.volume > 0n ? (
              <span className="muted">
                {' '}
                (out {formatCents(today.cashOut)}, in {formatCents(today.cashIn)})
              </span>
            ) : null}
          </dd>
        </div>
      </dl>
      {row.todayError ? (
        <p className="field-error">Today’s numbers could not be read: {row.todayError}</p>
      ) : null}
      <p className="card-links">
        <Link to={`/machines/${encodeURIComponent(m.id)}`}>Settlements</Link>
        <Link to={`/machines/${encodeURIComponent(m.id)}/cassettes`}>Cassettes</Link>
        <Link to={`/lps?machine=${encodeURIComponent(m.id)}`}>LPs</Link>
      </p>
    </li>
  );
}

/**
 * Registering a machine: open at once when the fleet is empty, otherwise behind a
 * button (focus moves into the form when it opens).
 */
function RegisterMachine({
  open: startOpen,
  closable,
  onRegistered,
}: {
  open: boolean;
  closable: boolean;
  onRegistered: () => void;
}) {
  const [open, setOpen] = useState(startOpen);
  const [registered, setRegistered] = useState<Machine | null>(null);
  const section = useRef<HTMLElement>(null);
  const opened = useRef(false);
  useEffect(() => {
    if (open && opened.current) section.current?.querySelector('input')?.focus();
  }, [open]);
  return (
    <section ref={section} className="card" aria-labelledby="register-h">
      <h2 id="register-h">Register a machine</h2>
      {registered ? (
        <Notice kind="success">
          Registered <Link to={`/machines/${encodeURIComponent(registered.id)}`}>{registered.name}</Link> (
          {registered.fiat_code}, wallet <code>{registered.wallet_id}</code>). satmachine listens to its key
          within a few seconds.
        </Notice>
      ) : null}
      {open ? (
        <MachineForm
          onSubmit={() => setRegistered(null)}
          onSaved={(m) => {
            setRegistered(m);
            onRegistered();
          }}
          onCancel={
            !closable
              ? undefined
              : () => {
                  setOpen(false);
                  setRegistered(null);
                }
          }
        />
      ) : (
        <button
          type="button"
          aria-expanded={false}
          onClick={() => {
            opened.current = true;
            setRegistered(null);
            setOpen(true);
          }}
        >
          Register a machine…
        </button>
      )}
    </section>
  );
}

/** The operator's machines: live status and today's settlements, refreshed every few seconds. */
export function Fleet() {
  const fleet = useLoad(loadFleet, [], 4000);
  const rows = fleet.data;
  const online = rows?.filter((r) => r.machine.status.online).length ?? 0;
  return (
    <Page
      title="Fleet"
      lead={
        rows && rows.length
          ? `${online} of ${rows.length} machine${rows.length === 1 ? '' : 's'} online. “Today” counts from local midnight; the page refreshes every few seconds.`
          : undefined
      }
    >
      <ErrorNotice error={fleet.error} />
      {!rows && fleet.loading ? <Loading what="machines" /> : null}
      {rows && rows.length === 0 ? (
        <p>No machines yet. Register your first one: you need its Nostr public key and its currency.</p>
      ) : null}
      {rows && rows.length > 0 ? (
        <ul className="cards" aria-label="Machines">
          {rows.map((r) => (
            <MachineCard key={r.machine.id} row={r} />
          ))}
        </ul>
      ) : null}
      {rows ? (
        <RegisterMachine open={rows.length === 0} closable={rows.length > 0} onRegistered={fleet.reload} />
      ) : null}
    </Page>
  );
}
