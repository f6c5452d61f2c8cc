import { useState, type FormEvent } from 'react';
import { api, failureOf, ok, type Leg, type SettlementDetail } from '../api/client';
import { Badge } from '../components/Badge';
import { Field } from '../components/Field';
import { ErrorNotice, Loading, Notice } from '../components/Notice';
import { Page } from '../components/Page';
import {
  ACTION_LABEL,
  ActionDialog,
  actionsFor,
  canClose,
  canRetryWaiting,
  canVoidFailedLegs,
  forceResetWait,
  OutcomeNotice,
  workflowOf,
  type ActionKind,
  type ActionOutcome,
} from '../components/SettlementActions';
import { Table } from '../components/Table';
import { fiat, rate, sats, satsPerUnit, shareOf, short, txLabel, when } from '../format';
import { useLoad } from '../hooks';
import { Link } from '../router';
import { legStatusLabel, legTypeLabel, settlementStatusLabel } from '../words';

/** The notes trail, newest first: entries are `[<UTC ISO> by <user id>] text`, separated by a blank line. */
function parseNotes(notes: string | null): { at: string | null; by: string | null; text: string }[] {
  if (!notes) return [];
  return notes
    .split(/\n\n(?=\[)/)
    .map((entry) => {
      const m = /^\[(\S+) by ([^\]]+)\] ([\s\S]*)$/.exec(entry);
      return m ? { at: m[1]!, by: m[2]!, text: m[3]! } : { at: null, by: null, text: entry };
    })
    .filter((n) => n.text.trim() !== '');
}

function destination(l: Leg): string {
  return l.destination_ln_address ?? l.destination_wallet_id ?? '–';
}

function Amounts({ s }: { s: SettlementDetail }) {
  const over = s.fee_mismatch_over_tolerance;
  // the fee comes out of the wire: the customer's rate with the fee is wire / fiat
  const effective = s.fee_sats && s.wire_sats !== null ? satsPerUnit(s.wire_sats, s.fiat_amount) : null;
  const feeShare = s.fee_sats !== null && s.wire_sats !== null ? shareOf(s.fee_sats, s.wire_sats) : null;
  return (
    <dl className="facts amounts">
      <div>
        <dt>Fiat</dt>
        <dd>{fiat(s.fiat_amount, s.fiat_code)}</dd>
      </div>
      <div>
        <dt>Exchange rate</dt>
        <dd>
          {s.exchange_rate ? `${rate(s.exchange_rate)} sats / ${s.fiat_code ?? 'unit'}` : '–'}
          {effective ? (
            <div className="muted" data-testid="effective-rate">
              the machine's rate, on the principal; with the ATM fee: {effective} sats /{' '}
              {s.fiat_code ?? 'unit'}
            </div>
          ) : null}
        </dd>
      </div>
      <div>
        <dt>Wire</dt>
        <dd>{sats(s.wire_sats)}</dd>
      </div>
      <div>
        <dt>ATM fee</dt>
        <dd>
          {sats(s.fee_sats)}
          {feeShare ? <span className="muted"> ({feeShare} of the wire)</span> : null}
        </dd>
      </div>
      <div>
        <dt>Principal</dt>
        <dd>{sats(s.principal_sats)}</dd>
      </div>
      <div>
        <dt>Platform fee</dt>
        <dd>{sats(s.platform_fee_sats)}</dd>
      </div>
      <div>
        <dt>Operator fee</dt>
        <dd>{sats(s.operator_fee_sats)}</dd>
      </div>
      <div className={over ? 'highlight-warn' : undefined} data-testid="fee-mismatch">
        <dt>Fee mismatch</dt>
        <dd>
          {sats(s.fee_mismatch_sats)}
          {s.fee_mismatch_tolerance_sats !== null ? (
            <span className="muted"> (tolerance ±{sats(s.fee_mismatch_tolerance_sats)})</span>
          ) : null}
          {over ? <strong className="warn-text"> ⚠ over tolerance</strong> : null}
        </dd>
      </div>
      <div>
        <dt>Owed back to the customer</dt>
        <dd>{sats(s.refund_sats)}</dd>
      </div>
    </dl>
  );
}

function Legs({ legs, currency }: { legs: Leg[]; currency: string | null }) {
  if (!legs.length) return <p>No legs (yet).</p>;
  return (
    <Table label="Legs" cards>
      <thead>
        <tr>
          <th scope="col">Type</th>
          <th scope="col">To</th>
          <th scope="col" className="num">
            Sats
          </th>
          <th scope="col" className="num">
            Fiat
          </th>
          <th scope="col">Status</th>
          <th scope="col">Error</th>
          <th scope="col">Completed</th>
        </tr>
      </thead>
      <tbody>
        {legs.map((l) => (
          <tr key={l.id} className={l.status === 'voided' ? 'voided' : undefined}>
            <td>
              <span title={l.leg_type}>{legTypeLabel(l.leg_type)}</span>
              {l.replaces_leg_id ? <div className="muted">replaces {short(l.replaces_leg_id)}</div> : null}
            </td>
            <td>
              {l.label ? <div>{l.label}</div> : null}
              <code className="muted">{destination(l)}</code>
            </td>
            <td className="num">{sats(l.amount_sats)}</td>
            <td className="num">{fiat(l.amount_fiat, currency)}</td>
            <td>
              <Badge status={l.status} label={legStatusLabel(l.status)} />
            </td>
            <td className="reason">{l.error_message ?? ''}</td>
            <td>{when(l.completed_at)}</td>
          </tr>
        ))}
      </tbody>
    </Table>
  );
}

function Notes({ s, onAdded }: { s: SettlementDetail; onAdded: () => void }) {
  const [text, setText] = useState('');
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const [saved, setSaved] = useState(false);
  const notes = parseNotes(s.notes);

  const add = async (e: FormEvent) => {
    e.preventDefault();
    setSaved(false);
    if (!text.trim()) {
      setError('Write the note first.');
      return;
    }
    setBusy(true);
    setError(null);
    setSaved(false);
    try {
      await ok(
        api.POST('/api/v1/settlements/{id}/notes', {
          params: { path: { id: s.id } },
          body: { text: text.trim() },
        }),
      );
      setText('');
      setSaved(true);
      onAdded();
    } catch (err) {
      const f = failureOf(err);
      setError(f.fieldErrors().text ?? f.message);
    } finally {
      setBusy(false);
    }
  };

  return (
    <section aria-labelledby="notes-h">
      <h2 id="notes-h">Notes</h2>
      {notes.length ? (
        <ol className="notes" aria-label="Notes, newest first">
          {notes.map((n, i) => (
            <li key={i}>
              {n.at ? (
                <div className="muted">
                  <time dateTime={n.at}>{when(n.at)}</time> by <code>{n.by}</code>
                </div>
              ) : null}
              <p>{n.text}</p>
            </li>
          ))}
        </ol>
      ) : (
        <p>No notes yet.</p>
      )}
      <form onSubmit={(e) => void add(e)} noValidate className="note-form">
        <Field
          label="Add a note"
          error={error}
          hint="Notes are append-only and stamped with the time and your id."
        >
          {(c) => (
            <textarea
              {...c}
              rows={3}
              value={text}
              onChange={(e) => {
                setText(e.target.value);
                setSaved(false);
                setError(null);
              }}
            />
          )}
        </Field>
        <button type="submit" disabled={busy}>
          {busy ? 'Adding…' : 'Add note'}
        </button>
        {saved ? <Notice kind="success">Note added.</Notice> : null}
      </form>
    </section>
  );
}

/** One settlement: amounts, every leg, notes, the operator actions and the link to its workflow. */
export function SettlementPage({ id }: { id: string }) {
  const data = useLoad(
    async () => {
      const [s, machines] = await Promise.all([
        ok(api.GET('/api/v1/settlements/{id}', { params: { path: { id } } })),
        ok(api.GET('/api/v1/machines')),
      ]);
      return { s, machine: machines.find((m) => m.id === s.machine_id) ?? null };
    },
    [id],
    3000,
  );
  const [acting, setActing] = useState<ActionKind | null>(null);
  const [outcome, setOutcome] = useState<ActionOutcome | null>(null);
  const s = data.data?.s;

  if (data.error && !s) {
    return (
      <Page title="Settlement">
        <ErrorNotice error={data.error} />
        <p>
          <Link to="/worklist">Back to the worklist</Link>
        </p>
      </Page>
    );
  }
  if (!s) {
    return (
      <Page title="Settlement">
        <Loading what="the settlement" />
      </Page>
    );
  }
  const workflow = workflowOf(s);
  const actions: ActionKind[] = [
    ...actionsFor(s, workflow?.stuck === true),
    ...(canVoidFailedLegs(s) ? (['void-failed-legs'] as const) : []),
    ...(canRetryWaiting(s) ? (['retry'] as const) : []),
    ...(canClose(s) ? (['close'] as const) : []),
  ];
  const resetWait = forceResetWait(s, workflow);
  return (
    <Page title={`Settlement ${short(s.id, 10)}`}>
      <p className="subtitle">
        <Badge status={s.status} label={settlementStatusLabel(s.status)} /> {txLabel(s.tx_type)} at{' '}
        {data.data?.machine ? (
          <Link to={`/machines/${encodeURIComponent(s.machine_id)}`}>{data.data.machine.name}</Link>
        ) : (
          <code>{s.machine_id}</code>
        )}{' '}
        · {when(s.created_at)}
        {s.processed_at ? ` · done ${when(s.processed_at)}` : ''}
      </p>
      {s.error_message ? (
        <Notice kind={s.status === 'processing' ? 'info' : 'warning'}>{s.error_message}</Notice>
      ) : null}
      <div className="toolbar">
        <a href={s.temporal_url} target="_blank" rel="noreferrer noopener">
          Open the workflow in the Temporal UI<span className="visually-hidden"> (new tab)</span> ↗
        </a>
        {workflow?.phase ? (
          <span className="muted">Workflow phase: {workflow.phase.replace(/_/g, ' ')}</span>
        ) : null}
        {workflow?.hold_until ? (
          <span className="muted">Payments held until {when(workflow.hold_until)}</span>
        ) : null}
      </div>
      {actions.length ? (
        <div className="actions-bar" role="group" aria-label="Actions">
          {actions.map((k) => (
            <button
              key={k}
              type="button"
              onClick={() => {
                setOutcome(null);
                setActing(k);
              }}
            >
              {ACTION_LABEL[k]}
            </button>
          ))}
        </div>
      ) : null}
      {resetWait ? (
        <p className="hint" data-testid="force-reset-wait">
          {resetWait}
        </p>
      ) : null}
      {outcome ? <OutcomeNotice outcome={outcome} status={s.status} /> : null}
      <ErrorNotice error={data.error} />

      <section aria-labelledby="amounts-h">
        <h2 id="amounts-h">Amounts</h2>
        <Amounts s={s} />
        {s.fee_mismatch_over_tolerance ? (
          <Notice kind="warning">
            Fee mismatch over tolerance: the ATM charged {sats(s.fee_sats)} where the configured platform and
            operator fractions give {sats((s.platform_fee_sats ?? 0) + (s.operator_fee_sats ?? 0))}. Check the
            machine's fee settings.
          </Notice>
        ) : null}
        <p className="muted">
          Payment hash <code className="wrap">{s.payment_hash}</code>
          {s.bitspire_txid ? (
            <>
              {' '}
              · ATM txid <code>{s.bitspire_txid}</code>
            </>
          ) : null}
        </p>
      </section>
      <section>
        <h2>Legs</h2>
        <Legs legs={s.legs} currency={s.fiat_code} />
      </section>
      <Notes s={s} onAdded={data.reload} />
      {acting ? (
        <ActionDialog
          kind={acting}
          settlement={s}
          onClose={() => setActing(null)}
          onDone={(o) => {
            setOutcome(o);
            data.reload();
          }}
        />
      ) : null}
    </Page>
  );
}
