import { useEffect, useState, type FormEvent } from 'react';
import { api, failureOf, ok, type Splits } from '../api/client';
import { Field } from '../components/Field';
import { ErrorNotice, formFailureText, Loading, Notice } from '../components/Notice';
import { Page } from '../components/Page';
import { formatPpm, parsePpm, PPM } from '../format';
import { useLoad } from '../hooks';
import { navigate, useLocation } from '../router';

interface Row {
  key: number;
  target: string;
  label: string;
  fraction: string;
}

let nextKey = 1;
const row = (r: Partial<Row> = {}): Row => ({ key: nextKey++, target: '', label: '', fraction: '', ...r });

const SOURCE: Record<Splits['effective']['source'], string> = {
  machine: "this machine's own rules",
  operator_default: 'your default rules',
  none: 'no rules: the remainder stays in the machine wallet',
};

/** The operator's commission splits (default, or one machine's override), with a live sum that must reach 1. */
export function SplitsPage() {
  const { query } = useLocation();
  const machineId = query.get('machine') ?? '';
  const data = useLoad(async () => {
    const [machines, splits] = await Promise.all([
      ok(api.GET('/api/v1/machines')),
      ok(
        api.GET('/api/v1/commission-splits', {
          params: { query: machineId ? { machine_id: machineId } : {} },
        }),
      ),
    ]);
    // which machines have rules of their own (the scope picker says so)
    const sources = await Promise.all(
      machines.map((m) =>
        m.id === machineId
          ? Promise.resolve(splits.effective.source)
          : ok(api.GET('/api/v1/commission-splits', { params: { query: { machine_id: m.id } } })).then(
              (x) => x.effective.source,
              () => null,
            ),
      ),
    );
    const overridden = new Set(machines.filter((_, i) => sources[i] === 'machine').map((m) => m.id));
    return { machines, splits, overridden };
  }, [machineId]);
  const [rows, setRows] = useState<Row[]>([]);
  const [errors, setErrors] = useState<Record<string, string>>({});
  const [message, setMessage] = useState<{ ok: boolean; text: string } | null>(null);
  const [busy, setBusy] = useState(false);

  // another scope: the answer about the previous one no longer applies
  useEffect(() => setMessage(null), [machineId]);

  // the editor starts from the saved rules of the scope
  const splits = data.data?.splits;
  useEffect(() => {
    if (!splits) return;
    setRows(splits.legs.map((l) => row({ target: l.target, label: l.label ?? '', fraction: l.fraction })));
    setErrors({});
  }, [splits]);

  const parsed = rows.map((r) => parsePpm(r.fraction));
  const invalid = parsed.some((p) => p === null || p === 0n);
  const sum = parsed.reduce<bigint>((a, p) => a + (p ?? 0n), 0n);
  const complete = rows.length === 0 || (!invalid && sum === PPM);
  const left = PPM - sum;

  const update = (key: number, patch: Partial<Row>) => {
    setRows((rs) => rs.map((r) => (r.key === key ? { ...r, ...patch } : r)));
    setMessage(null);
  };

  const save = async (e: FormEvent) => {
    e.preventDefault();
    if (!complete) return;
    setBusy(true);
    setMessage(null);
    try {
      const legs = rows.map((r, i) => ({
        target: r.target.trim(),
        label: r.label.trim() || null,
        fraction: r.fraction.trim(),
        sort_order: i,
      }));
      await ok(
        api.PUT('/api/v1/commission-splits', {
          params: { query: machineId ? { machine_id: machineId } : {} },
          body: { legs },
        }),
      );
      setErrors({});
      setMessage({
        ok: true,
        text: rows.length
          ? 'Saved. New settlements split the remainder this way.'
          : 'Rules removed for this scope.',
      });
      data.reload();
    } catch (err) {
      const f = failureOf(err);
      const fields = f.fieldErrors();
      setErrors(fields);
      const known = rows.flatMap((_, i) => [`legs.${i}.target`, `legs.${i}.label`, `legs.${i}.fraction`]);
      setMessage({ ok: false, text: formFailureText(f, [...known, 'legs']) });
    } finally {
      setBusy(false);
    }
  };

  const d = data.data;
  const sumText = invalid
    ? 'Every share must be a decimal above 0 and at most 1, with up to 6 decimals.'
    : rows.length === 0
      ? 'No legs: saving removes the rules of this scope.'
      : sum === PPM
        ? `Sum ${formatPpm(sum)} — complete.`
        : sum < PPM
          ? `Sum ${formatPpm(sum)} — ${formatPpm(left)} still to share before saving.`
          : `Sum ${formatPpm(sum)} — ${formatPpm(-left)} too much.`;

  return (
    <Page
      title="Commission splits"
      lead="How the operator's share of each settlement is divided. Shares are fractions that must add up to exactly 1."
    >
      <div className="inline-form">
        <Field label="Rules for">
          {(c) => (
            <select
              {...c}
              value={machineId}
              onChange={(e) =>
                navigate(e.target.value ? `/splits?machine=${encodeURIComponent(e.target.value)}` : '/splits')
              }
            >
              <option value="">all machines (your default)</option>
              {d?.machines.map((m) => (
                <option key={m.id} value={m.id}>
                  {d.overridden.has(m.id) ? `${m.name} (override)` : m.name}
                </option>
              ))}
            </select>
          )}
        </Field>
      </div>
      <ErrorNotice error={data.error} />
      {!d && data.loading ? <Loading what="commission splits" /> : null}
      {d ? (
        <>
          <p>
            Settlements {machineId ? 'at this machine' : 'at machines without an override'} use{' '}
            <strong>{SOURCE[d.splits.effective.source]}</strong>.
          </p>
          <form onSubmit={(e) => void save(e)} noValidate>
            <fieldset>
              <legend>Legs</legend>
              {errors.legs ? <p className="field-error">{errors.legs}</p> : null}
              {rows.length === 0 ? <p className="muted">No legs in this scope.</p> : null}
              <ol className="split-rows">
                {rows.map((r, i) => (
                  <li key={r.key} className="split-row">
                    <Field
                      label={`Leg ${i + 1}: wallet id or Lightning address`}
                      error={errors[`legs.${i}.target`]}
                    >
                      {(c) => (
                        <input
                          {...c}
                          autoComplete="off"
                          value={r.target}
                          onChange={(e) => update(r.key, { target: e.target.value })}
                        />
                      )}
                    </Field>
                    <Field label={`Leg ${i + 1}: label`} error={errors[`legs.${i}.label`]}>
                      {(c) => (
                        <input
                          {...c}
                          autoComplete="off"
                          value={r.label}
                          onChange={(e) => update(r.key, { label: e.target.value })}
                        />
                      )}
                    </Field>
                    <Field
                      label={`Leg ${i + 1}: share`}
                      error={errors[`legs.${i}.fraction`]}
                      className="narrow"
                    >
                      {(c) => (
                        <input
                          {...c}
                          inputMode="decimal"
                          autoComplete="off"
                          placeholder="0.5"
                          value={r.fraction}
                          onChange={(e) => update(r.key, { fraction: e.target.value })}
                        />
                      )}
                    </Field>
                    <button
                      type="button"
                      className="remove"
                      onClick={() => setRows((rs) => rs.filter((x) => x.key !== r.key))}
                      aria-label={`Remove leg ${i + 1}`}
                    >
                      Remove
                    </button>
                  </li>
                ))}
              </ol>
              <button type="button" onClick={() => setRows((rs) => [...rs, row()])}>
                Add leg
              </button>
            </fieldset>
            <p className={`sum ${complete ? 'sum-ok' : 'sum-bad'}`} aria-live="polite" id="split-sum">
              {sumText}
            </p>
            <div className="actions">
              <button
                type="submit"
                className="primary"
                disabled={!complete || busy}
                aria-describedby="split-sum"
              >
                {busy ? 'Saving…' : 'Save splits'}
              </button>
            </div>
          </form>
          {message ? <Notice kind={message.ok ? 'success' : 'error'}>{message.text}</Notice> : null}
        </>
      ) : null}
    </Page>
  );
}
