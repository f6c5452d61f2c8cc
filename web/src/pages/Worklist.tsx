import { useEffect, useRef, useState, type FormEvent } from 'react';
import { api, ok, type Machine, type Settlement, type Worklist as WorklistData } from '../api/client';
import { Badge } from '../components/Badge';
import { Field } from '../components/Field';
import { ErrorNotice, Loading } from '../components/Notice';
import { Page } from '../components/Page';
import {
  ACTION_LABEL,
  ActionDialog,
  actionsFor,
  OutcomeNotice,
  type ActionKind,
  type ActionOutcome,
} from '../components/SettlementActions';
import { Table } from '../components/Table';
import { ago, fiat, sats, short, txLabel, when } from '../format';
import { useLoad } from '../hooks';
import { Link } from '../router';
import { settlementStatusLabel } from '../words';
import { HashSearch, PaymentHash } from '../components/HashSearch';

type Section = 'errored' | 'stuck_pending' | 'stuck_processing' | 'rejected' | 'holding';
type Waiting = WorklistData['waiting'][number];

const SECTIONS: { key: Section; title: string; help: string }[] = [
  { key: 'errored', title: 'Errored', help: 'A leg failed: fix the cause, then retry.' },
  {
    key: 'stuck_pending',
    title: 'Stuck pending',
    help: 'The ATM event or the payment never arrived. Force-reset to stop waiting.',
  },
  {
    key: 'stuck_processing',
    title: 'Stuck processing',
    help: 'Paying takes too long. Force-reset cancels the payments in flight.',
  },
  { key: 'rejected', title: 'Rejected', help: 'Failed the attribution check; never distributed (final).' },
  {
    key: 'holding',
    title: 'In hold',
    help: 'Recorded, legs planned, payments not started yet: the hold window, when a partial dispense is still possible. Listed at 0 minutes only (a hold is never stuck).',
  },
];

/** Settlements whose first signal came but that have no record yet (listed at 0 minutes, or once older than the threshold). */
function WaitingRows({ rows, machines }: { rows: Waiting[]; machines: Map<string, Machine> }) {
  return (
    <tbody>
      {rows.map((w) => (
        <tr key={w.id}>
          <td>
            <time dateTime={w.created_at} title={when(w.created_at)}>
              {ago(w.created_at)}
            </time>
          </td>
          <td>{machines.get(w.machine_id)?.name ?? short(w.machine_id)}</td>
          <td title={w.tx_type ? `TxType = ${w.tx_type}` : undefined}>{txLabel(w.tx_type)}</td>
          <td className="num">
            {fiat(w.fiat_amount, w.fiat_code)}
            <br />
            <span className="muted">{sats(w.wire_sats ?? w.observed_amount_sats)}</span>
          </td>
          <td>
            <Badge status="waiting" label={settlementStatusLabel('waiting')} />
            <div className="reason">{w.message}</div>
          </td>
          <td>
            <PaymentHash hash={w.payment_hash} />
            <br />
            <a href={w.temporal_url} target="_blank" rel="noreferrer noopener">
              Workflow
              <span className="visually-hidden">
                {' '}
                of payment {w.payment_hash} in the Temporal UI (new tab)
              </span>{' '}
              ↗
            </a>
          </td>
        </tr>
      ))}
    </tbody>
  );
}

/** The latest action taken here and its answer: shown once, above the lists. */
interface Acted {
  row: Settlement;
  outcome: ActionOutcome;
  /** the lists answer requests sent after this mark: until then the acted row is hidden (its bucket may be old) */
  mark: number;
}

/** The worklist is paginated (newest first across its sections): the console shows the newest `limit`. */
const PAGE = 100;
const MAX_SHOWN = 500;

async function loadWorklist(threshold: number | null, limit: number) {
  const [list, machines] = await Promise.all([
    ok(
      api.GET('/api/v1/settlements/worklist', {
        params: { query: threshold === null ? { limit } : { threshold_minutes: threshold, limit } },
      }),
    ),
    ok(api.GET('/api/v1/machines')),
  ]);
  return { list, machines: new Map(machines.map((m) => [m.id, m])) };
}

function Rows({
  section,
  rows,
  machines,
  acted,
  onAct,
}: {
  section: Section;
  rows: Settlement[];
  machines: Map<string, Machine>;
  acted: string | null;
  onAct: (kind: ActionKind, s: Settlement) => void;
}) {
  const stuck = section === 'stuck_pending' || section === 'stuck_processing';
  return (
    <tbody>
      {rows.map((s) => (
        <tr key={s.id} className={s.id === acted ? 'acted' : undefined}>
          <td>
            <time dateTime={s.created_at} title={when(s.created_at)}>
              {ago(s.created_at)}
            </time>
          </td>
          <td>{machines.get(s.machine_id)?.name ?? short(s.machine_id)}</td>
          <td title={`TxType = ${s.tx_type}`}>{txLabel(s.tx_type)}</td>
          <td className="num">
            {fiat(s.fiat_amount, s.fiat_code)}
            <br />
            <span className="muted">{sats(s.wire_sats)}</span>
          </td>
          <td>
            <Badge status={s.status} label={settlementStatusLabel(s.status)} />
            {s.error_message ? <div className="reason">{s.error_message}</div> : null}
          </td>
          <td>
            <Link to={`/settlements/${encodeURIComponent(s.id)}`}>
              Details<span className="visually-hidden"> of settlement {s.id}</span>
            </Link>
            <br />
            <a href={s.temporal_url} target="_blank" rel="noreferrer noopener">
              Workflow<span className="visually-hidden"> in the Temporal UI (new tab)</span> ↗
            </a>
            <br />
            <PaymentHash hash={s.payment_hash} />
          </td>
          <td>
            <div className="row-actions">
              {actionsFor(s, stuck).map((k) => (
                <button
                  key={k}
                  type="button"
                  onClick={() => onAct(k, s)}
                  aria-label={`${ACTION_LABEL[k]} settlement ${s.id}`}
                >
                  {ACTION_LABEL[k]}
                </button>
              ))}
            </div>
          </td>
        </tr>
      ))}
    </tbody>
  );
}

/** What needs the operator: rejected, errored, stuck pending, stuck processing — with the actions. */
export function Worklist() {
  const [threshold, setThreshold] = useState<number | null>(null);
  const [draft, setDraft] = useState('');
  const [draftError, setDraftError] = useState<string | null>(null);
  const [limit, setLimit] = useState(PAGE);
  const data = useLoad(() => loadWorklist(threshold, limit), [threshold, limit], 5000);
  const [acting, setActing] = useState<{ kind: ActionKind; row: Settlement } | null>(null);
  const [acted, setActed] = useState<Acted | null>(null);
  // after an action, focus goes next to its answer (the button that opened the dialog may be gone)
  const focusAnswer = useRef(false);
  useEffect(() => {
    if (acting || !focusAnswer.current) return;
    document.getElementById('dismiss-outcome')?.focus();
    focusAnswer.current = false;
  }, [acting, acted]);

  const apply = (e: FormEvent) => {
    e.preventDefault();
    if (draft.trim() === '') {
      setDraftError(null);
      setThreshold(null);
      return;
    }
    const n = Number(draft);
    if (!Number.isInteger(n) || n < 0) {
      setDraftError('A whole number of minutes, 0 or more (0 lists every recorded settlement in flight).');
      return;
    }
    setDraftError(null);
    setThreshold(n);
  };

  const list: WorklistData | undefined = data.data?.list;
  const machines = data.data?.machines ?? new Map<string, Machine>();
  // until the lists answer after the action, the acted settlement's bucket is unknown: not shown
  const refreshing = acted !== null && data.loadedAt <= acted.mark;
  const rowsOf = (section: Section): Settlement[] =>
    (list?.[section] ?? []).filter((r) => !(refreshing && r.id === acted?.row.id));
  const nowIn =
    acted && !refreshing
      ? SECTIONS.find(({ key }) => rowsOf(key).some((r) => r.id === acted.row.id))
      : undefined;

  return (
    <Page
      title="Worklist"
      lead={
        list
          ? `Settlements that need you. Stuck means waiting or paying for more than ${list.threshold_minutes} min.`
          : undefined
      }
    >
      <form className="inline-form" onSubmit={apply} noValidate>
        <Field
          label="Stuck after (minutes)"
          error={draftError}
          hint="Empty: the server's threshold. 0 lists every settlement still in flight: also those in their hold and those waiting for their second signal."
        >
          {(c) => (
            <input
              {...c}
              inputMode="numeric"
              value={draft}
              onChange={(e) => setDraft(e.target.value)}
              size={6}
            />
          )}
        </Field>
        <button type="submit">Apply</button>
        <button type="button" onClick={data.reload}>
          Refresh
        </button>
      </form>
      <HashSearch />
      <ErrorNotice error={data.error} />
      {acted ? (
        <div className="outcome" data-testid="action-outcome">
          <OutcomeNotice
            outcome={acted.outcome}
            subject={
              <Link to={`/settlements/${encodeURIComponent(acted.row.id)}`}>
                Settlement {short(acted.row.id, 10)}
              </Link>
            }
            after={
              refreshing
                ? 'Refreshing the lists…'
                : nowIn
                  ? `It is now under ${nowIn.title}.`
                  : acted.outcome.ok
                    ? 'It has left the worklist.'
                    : undefined
            }
          />
          <button type="button" className="link" id="dismiss-outcome" onClick={() => setActed(null)}>
            Dismiss<span className="visually-hidden"> the answer for settlement {acted.row.id}</span>
          </button>
        </div>
      ) : null}
      {!list && data.loading ? <Loading what="the worklist" /> : null}
      {list
        ? SECTIONS.map(({ key, title, help }) => {
            const rows = rowsOf(key);
            return (
              <section key={key} aria-labelledby={`wl-${key}`}>
                <h2 id={`wl-${key}`}>
                  {title} <span className="count">{rows.length}</span>
                </h2>
                <p className="muted">{help}</p>
                {rows.length === 0 ? (
                  <p>Nothing here.</p>
                ) : (
                  <Table label={`${title} settlements`} cards>
                    <thead>
                      <tr>
                        <th scope="col">When</th>
                        <th scope="col">Machine</th>
                        <th scope="col">Type</th>
                        <th scope="col">Amount</th>
                        <th scope="col">Status</th>
                        <th scope="col">Links</th>
                        <th scope="col">Actions</th>
                      </tr>
                    </thead>
                    <Rows
                      section={key}
                      rows={rows}
                      machines={machines}
                      acted={acted?.row.id ?? null}
                      onAct={(kind, row) => {
                        setActed(null);
                        setActing({ kind, row });
                      }}
                    />
                  </Table>
                )}
              </section>
            );
          })
        : null}
      {list && list.waiting.length > 0 ? (
        <section aria-labelledby="wl-waiting">
          <h2 id="wl-waiting">
            Waiting for a signal <span className="count">{list.waiting.length}</span>
          </h2>
          <p className="muted">
            The ATM event or the payment came, the other not yet; no settlement is recorded until both are in
            (or it gets stuck). Open the workflow to see what it has received.
          </p>
          <Table label="Settlements waiting for a signal" cards>
            <thead>
              <tr>
                <th scope="col">First seen</th>
                <th scope="col">Machine</th>
                <th scope="col">Type</th>
                <th scope="col">Amount</th>
                <th scope="col">Status</th>
                <th scope="col">Payment</th>
              </tr>
            </thead>
            <WaitingRows rows={list.waiting} machines={machines} />
          </Table>
        </section>
      ) : null}
      {list?.next_cursor ? (
        <p className="muted" data-testid="worklist-more">
          More settlements need you than these {limit} (the newest).{' '}
          {limit < MAX_SHOWN ? (
            <button type="button" onClick={() => setLimit(Math.min(limit + PAGE, MAX_SHOWN))}>
              Show {PAGE} more
            </button>
          ) : (
            'Act on these first: older ones appear as these leave the list.'
          )}
        </p>
      ) : null}
      {acting ? (
        <ActionDialog
          kind={acting.kind}
          settlement={acting.row}
          onClose={() => setActing(null)}
          onDone={(outcome) => {
            focusAnswer.current = true;
            // the lists are asked again; the acted row shows once, in the bucket they put it in now
            setActed({ row: acting.row, outcome, mark: data.reload() });
          }}
        />
      ) : null}
    </Page>
  );
}
