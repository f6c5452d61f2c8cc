import { useState, type ReactNode } from 'react';
import {
  api,
  ApiFailure,
  failureOf,
  ok,
  type ActionAnswer,
  type Settlement,
  type SettlementDetail,
} from '../api/client';
import { fiat, formatCents, parseCents, sats, when } from '../format';
import { useLoad } from '../hooks';
import { ConfirmDialog } from './ConfirmDialog';
import { Field } from './Field';
import { Loading, Notice } from './Notice';
import { legTypeLabel } from '../words';

export type ActionKind = 'retry' | 'force-reset' | 'partial-dispense' | 'void-failed-legs' | 'close';

export interface ActionOutcome {
  kind: ActionKind;
  ok: boolean;
  message: string;
  /** the settlement after the action (when it was applied) */
  settlement?: Settlement;
}

export const ACTION_LABEL: Record<ActionKind, string> = {
  retry: 'Retry',
  'force-reset': 'Force reset',
  'partial-dispense': 'Partial dispense',
  'void-failed-legs': 'Void failed legs',
  close: 'Close (no money arrived)',
};

/** The workflow's live state as the settlement detail reports it (null when not running or not answering). */
export interface WorkflowState {
  phase?: string;
  stuck?: boolean;
  hold_until?: string | null;
}

export function workflowOf(d: SettlementDetail): WorkflowState | null {
  const w = d.workflow;
  if (!w) return null;
  return {
    ...(typeof w.phase === 'string' ? { phase: w.phase } : {}),
    ...(typeof w.stuck === 'boolean' ? { stuck: w.stuck } : {}),
    hold_until: typeof w.hold_until === 'string' ? w.hold_until : null,
  };
}

/**
 * The actions that can apply to a settlement in this state (the workflow has the last
 * word). Force reset only for a stuck one: `stuck` says whether it is (the worklist's
 * stuck sections, or the workflow's own flag on the settlement page).
 */
export function actionsFor(s: Settlement, stuck: boolean): ActionKind[] {
  const out: ActionKind[] = [];
  if (s.status === 'errored') out.push('retry');
  if ((s.status === 'pending' || s.status === 'processing') && stuck) out.push('force-reset');
  if (s.tx_type === 'cash_out' && (s.status === 'pending' || s.status === 'processing'))
    out.push('partial-dispense');
  return out;
}

/**
 * Void failed legs: offered on the settlement page only (where its failed legs are
 * listed), for an errored settlement with a failed leg and none still to pay.
 */
export function canVoidFailedLegs(d: SettlementDetail): boolean {
  return (
    d.status === 'errored' &&
    d.legs.some((l) => l.status === 'failed') &&
    !d.legs.some((l) => l.status === 'pending')
  );
}

/**
 * Close: offered on the settlement page for a settlement that never got its ATM event's
 * amounts (still waiting for its signals, or errored by a force-reset while it waited) and
 * has no leg, when the operator decides no money arrived for it.
 */
export function canClose(d: SettlementDetail): boolean {
  return (d.status === 'pending' || d.status === 'errored') && d.wire_sats === null && d.legs.length === 0;
}

/**
 * Retry of a `pending` settlement without amounts: offered on the settlement page when
 * its workflow is not waiting for its signals (a run resumed after its workflow closed
 * while it waited: phase `awaiting_operator`, or no workflow answering). The retry
 * waits for the signals again.
 */
export function canRetryWaiting(d: SettlementDetail): boolean {
  const phase = workflowOf(d)?.phase;
  return (
    d.status === 'pending' && d.wire_sats === null && (phase === undefined || phase === 'awaiting_operator')
  );
}

/**
 * Why force reset is not offered for a pending or processing settlement that is not
 * stuck, and when it becomes available; null when it is stuck (or finished).
 */
export function forceResetWait(s: Settlement, w: WorkflowState | null): string | null {
  if (s.status !== 'pending' && s.status !== 'processing') return null;
  if (w?.stuck) return null;
  const later =
    'Force reset becomes available only if it gets stuck: waiting for its signals or paying for longer than the stuck threshold (the worklist then lists it under Stuck).';
  if (w?.phase === 'holding')
    return `Payments are on hold${w.hold_until ? ` until ${when(w.hold_until)}` : ''}; a hold is not stuck, so force reset is not available. ${later}`;
  if (w?.phase === 'verifying')
    return `The settlement is being checked (attribution); force reset is not available meanwhile. ${later}`;
  return `It is not stuck. ${later}`;
}

/** What a partial dispense of `newCents` would make of the settlement (the workflow's own rule). */
export function partialPreview(s: Settlement, newCents: bigint) {
  const old = parseCents(s.fiat_amount ?? '') ?? 0n;
  if (old <= 0n || newCents < 0n || newCents >= old || s.wire_sats === null || s.fee_sats === null)
    return null;
  const wire = (BigInt(s.wire_sats) * newCents) / old;
  const fee = (BigInt(s.fee_sats) * newCents) / old;
  return {
    wire: Number(wire),
    fee: Number(fee),
    principal: Number(wire - fee),
    refund: s.wire_sats - Number(wire),
    status: newCents === 0n ? 'refunded' : 'partial',
  };
}

function legLine(l: SettlementDetail['legs'][number]): string {
  const to = l.label ?? l.destination_ln_address ?? l.destination_wallet_id ?? '–';
  return `${legTypeLabel(l.leg_type)} ${sats(l.amount_sats)} → ${to}`;
}

function Explanation({ kind, detail }: { kind: ActionKind; detail: SettlementDetail }) {
  const failed = detail.legs.filter((l) => l.status === 'failed');
  const completed = detail.legs.filter((l) => l.status === 'completed');
  const open = detail.legs.filter((l) => l.status === 'pending');
  if (kind === 'retry' && detail.wire_sats === null) {
    return (
      <p>
        This settlement never got its ATM event's amounts and its workflow stopped waiting for them. A retry
        makes it wait for the missing ATM event or payment again (the stuck clock restarts); once the machine
        re-publishes its event and the payment is reported again, it settles as usual. Nothing is paid before.
      </p>
    );
  }
  if (kind === 'retry') {
    return (
      <>
        <p>
          The {failed.length} failed leg{failed.length === 1 ? '' : 's'} will be voided (kept for audit) and
          fresh legs of the same amounts paid:
        </p>
        {failed.length ? (
          <ul className="compact">
            {failed.map((l) => (
              <li key={l.id}>
                {legLine(l)}
                {l.error_message ? <span className="muted"> — failed: {l.error_message}</span> : null}
              </li>
            ))}
          </ul>
        ) : (
          <p className="muted">No leg has failed: the workflow will check again what is missing.</p>
        )}
        <p>
          {completed.length} completed leg{completed.length === 1 ? ' is' : 's are'} never paid again.
        </p>
      </>
    );
  }
  if (kind === 'force-reset') {
    return (
      <>
        <p>
          This settlement has been <strong>{detail.status}</strong> since {when(detail.created_at)}
          {detail.error_message ? ` (${detail.error_message})` : ''}.
        </p>
        <p>
          Payments still in flight ({open.length} open leg{open.length === 1 ? '' : 's'}) are cancelled and
          the settlement becomes <strong>errored</strong> with “force-reset by operator (was stuck)”.
          Completed legs stay paid. You can retry it afterwards.
        </p>
        <p className="muted">Only a settlement stuck past the threshold can be force-reset.</p>
      </>
    );
  }
  if (kind === 'close') {
    return (
      <>
        <p>
          This settlement has been <strong>{detail.status}</strong> since {when(detail.created_at)} without
          the ATM event's amounts{detail.error_message ? ` (${detail.error_message})` : ''}.
        </p>
        <p>
          Closing it makes it <strong>rejected</strong> for good, with “closed by operator: &lt;your
          note&gt;”. Nothing was planned or paid for it, and nothing ever will be: an ATM event or payment for
          it that arrives later is ignored. Use it when you are sure no money arrived for this transaction. To
          wait for the missing signal again instead, retry it.
        </p>
      </>
    );
  }
  if (kind === 'void-failed-legs') {
    const lpFiat = failed
      .filter((l) => l.leg_type === 'dca')
      .reduce((t, l) => t + (parseCents(l.amount_fiat) ?? 0n), 0n);
    return (
      <>
        <p>
          The {failed.length} failed leg{failed.length === 1 ? '' : 's'} will be given up: each is first
          looked up at the payment backend (one that did pay after all is recorded as paid), the others are
          voided (kept for audit) and never paid:
        </p>
        <ul className="compact">
          {failed.map((l) => (
            <li key={l.id}>
              {legLine(l)}
              {l.error_message ? <span className="muted"> — failed: {l.error_message}</span> : null}
            </li>
          ))}
        </ul>
        <p>
          The LP fiat these legs hold ({fiat(formatCents(lpFiat), detail.fiat_code)}) becomes available again.
          The settlement ends <strong>{detail.refund_sats > 0 ? 'partial' : 'processed'}</strong>; use it when
          the LP was paid another way or the sats are no longer owed. To pay the legs, retry instead.
        </p>
      </>
    );
  }
  return null;
}

function PartialForm({
  detail,
  amount,
  note,
  errors,
  setAmount,
  setNote,
}: {
  detail: SettlementDetail;
  amount: string;
  note: string;
  errors: Record<string, string>;
  setAmount: (v: string) => void;
  setNote: (v: string) => void;
}) {
  const cents = parseCents(amount);
  const preview = cents === null ? null : partialPreview(detail, cents);
  const holdUntil = workflowOf(detail)?.hold_until ?? null;
  const paid = detail.legs.some((l) => l.status === 'completed');
  return (
    <>
      <p>
        The machine dispensed less than the {fiat(detail.fiat_amount, detail.fiat_code)} it reported. Amounts
        scale down, open legs are voided (kept for audit) and planned again on the new amounts, and the
        difference is recorded as owed back to the customer.
      </p>
      {holdUntil ? (
        <Notice kind="info">
          Payments are held until {when(holdUntil)}: the dispense can be corrected until then.
        </Notice>
      ) : null}
      {paid ? (
        <Notice kind="warning">
          A leg has already been paid: the workflow will refuse a partial dispense.
        </Notice>
      ) : null}
      <Field
        label={`Fiat actually dispensed (${detail.fiat_code ?? 'fiat'})`}
        error={errors.fiat_amount}
        hint={`Less than ${detail.fiat_amount ?? '?'}; 0 refunds everything.`}
      >
        {(c) => (
          <input
            {...c}
            inputMode="decimal"
            autoComplete="off"
            value={amount}
            onChange={(e) => setAmount(e.target.value)}
          />
        )}
      </Field>
      <Field label="Note (why)" error={errors.note} hint="Prepended to the settlement's notes.">
        {(c) => <textarea {...c} rows={2} value={note} onChange={(e) => setNote(e.target.value)} />}
      </Field>
      <div aria-live="polite">
        {preview ? (
          <dl className="facts preview" aria-label="What will happen">
            <div>
              <dt>Wire</dt>
              <dd>
                {sats(detail.wire_sats)} → {sats(preview.wire)}
              </dd>
            </div>
            <div>
              <dt>ATM fee</dt>
              <dd>
                {sats(detail.fee_sats)} → {sats(preview.fee)}
              </dd>
            </div>
            <div>
              <dt>Principal</dt>
              <dd>{sats(preview.principal)}</dd>
            </div>
            <div>
              <dt>Owed back to the customer</dt>
              <dd>{sats(preview.refund)}</dd>
            </div>
            <div>
              <dt>Ends as</dt>
              <dd>{preview.status}</dd>
            </div>
          </dl>
        ) : amount.trim() ? (
          <p className="field-error">Enter an amount from 0 up to less than {detail.fiat_amount}.</p>
        ) : null}
      </div>
    </>
  );
}

/** The confirmation dialog of one operator action: it shows what will happen, then asks the workflow. */
export function ActionDialog({
  kind,
  settlement,
  onDone,
  onClose,
}: {
  kind: ActionKind;
  settlement: Settlement;
  onDone: (o: ActionOutcome) => void;
  onClose: () => void;
}) {
  const detail = useLoad(
    () => ok(api.GET('/api/v1/settlements/{id}', { params: { path: { id: settlement.id } } })),
    [settlement.id],
  );
  const [amount, setAmount] = useState('');
  const [note, setNote] = useState('');
  const [errors, setErrors] = useState<Record<string, string>>({});

  const run = async (): Promise<ActionAnswer> => {
    const path = { params: { path: { id: settlement.id } } };
    if (kind === 'retry') return ok(api.POST('/api/v1/settlements/{id}/retry', { ...path, body: {} }));
    if (kind === 'force-reset')
      return ok(api.POST('/api/v1/settlements/{id}/force-reset', { ...path, body: {} }));
    if (kind === 'close') {
      if (!note.trim()) {
        setErrors({ note: 'Say why (e.g. the customer was never charged)' });
        throw new ApiFailure(422, 'invalid', 'Check the fields above.');
      }
      return ok(api.POST('/api/v1/settlements/{id}/close', { ...path, body: { note: note.trim() } }));
    }
    if (kind === 'void-failed-legs') {
      if (!note.trim()) {
        setErrors({ note: 'Say why (e.g. the LP was paid by hand)' });
        throw new ApiFailure(422, 'invalid', 'Check the fields above.');
      }
      return ok(
        api.POST('/api/v1/settlements/{id}/void-failed-legs', { ...path, body: { note: note.trim() } }),
      );
    }
    const problems: Record<string, string> = {};
    const cents = parseCents(amount);
    if (cents === null || cents < 0n) problems.fiat_amount = 'Enter an amount like 150.00';
    if (!note.trim()) problems.note = 'Say why (e.g. which cassette jammed)';
    setErrors(problems);
    if (Object.keys(problems).length) throw new ApiFailure(422, 'invalid', 'Check the fields above.');
    return ok(
      api.POST('/api/v1/settlements/{id}/partial-dispense', {
        ...path,
        body: { fiat_amount: formatCents(cents!), note: note.trim() },
      }),
    );
  };

  const confirm = async () => {
    try {
      const answer = await run();
      onDone({ kind, ok: true, message: answer.result.message, settlement: answer.settlement });
    } catch (err) {
      const f = failureOf(err);
      if (f.status === 422) {
        setErrors((e) => ({ ...e, ...f.fieldErrors() }));
        throw f;
      }
      if (f.status === 0) throw f;
      // the workflow's answer (409 with the reason, 404, 503) is shown where the operator acted
      onDone({ kind, ok: false, message: f.message });
    }
  };

  const d = detail.data;
  // the worklist's threshold may be shorter than the workflow's: its own word decides
  const notStuck =
    kind === 'force-reset' && d && workflowOf(d)?.stuck === false ? forceResetWait(d, workflowOf(d)) : null;
  return (
    <ConfirmDialog
      title={`${ACTION_LABEL[kind]} — ${settlement.tx_type === 'cash_in' ? 'cash-in' : 'cash-out'} of ${fiat(
        settlement.fiat_amount,
        settlement.fiat_code,
      )}`}
      confirmLabel={ACTION_LABEL[kind]}
      danger={kind !== 'retry'}
      onConfirm={confirm}
      onClose={onClose}
      disabled={!d || notStuck !== null}
    >
      {detail.error ? <Notice kind="error">{detail.error.message}</Notice> : null}
      {!d && !detail.error ? <Loading what="the settlement" /> : null}
      {notStuck ? <Notice kind="warning">{notStuck}</Notice> : null}
      {d && kind !== 'partial-dispense' && !notStuck ? <Explanation kind={kind} detail={d} /> : null}
      {d && kind === 'close' ? (
        <Field label="Note (why)" error={errors.note} hint="Recorded as the reason and in the notes.">
          {(c) => <textarea {...c} rows={2} value={note} onChange={(e) => setNote(e.target.value)} />}
        </Field>
      ) : null}
      {d && kind === 'void-failed-legs' ? (
        <Field label="Note (why)" error={errors.note} hint="Recorded on each voided leg and in the notes.">
          {(c) => <textarea {...c} rows={2} value={note} onChange={(e) => setNote(e.target.value)} />}
        </Field>
      ) : null}
      {d && kind === 'partial-dispense' ? (
        <PartialForm
          detail={d}
          amount={amount}
          note={note}
          errors={errors}
          setAmount={setAmount}
          setNote={setNote}
        />
      ) : null}
    </ConfirmDialog>
  );
}

const sentence = (t: string) => (/[.!?]$/.test(t.trim()) ? t.trim() : `${t.trim()}.`);

/** An action's answer, where the operator acted. */
export function OutcomeNotice({
  outcome,
  subject,
  after,
  status,
}: {
  outcome: ActionOutcome;
  /** what was acted on, when the page shows several settlements */
  subject?: ReactNode;
  /** a sentence to end with (where the settlement is now…) */
  after?: ReactNode;
  /** the settlement's status as the page shows it now: "Status now …" is said only while it is still true */
  status?: string;
}) {
  const now = outcome.ok ? outcome.settlement?.status : undefined;
  return (
    <Notice kind={outcome.ok ? 'success' : 'error'}>
      {subject ? <>{subject}: </> : null}
      <strong>{ACTION_LABEL[outcome.kind]}</strong>
      {outcome.ok ? ' applied: ' : ' refused: '}
      {sentence(outcome.ok ? outcome.message : outcome.message.replace(/^[a-z-]+ refused: /, ''))}
      {now && (status === undefined || status === now) ? ` Status now ${now}.` : ''}
      {after ? <> {after}</> : null}
    </Notice>
  );
}
