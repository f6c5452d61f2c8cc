import { useState, type FormEvent, type ReactNode } from 'react';
import type { ApiFailure } from '../api/client';
import { Field } from '../components/Field';

/** A report's UTC date range as the forms show it: both days inclusive (the API's `to` is the next day, exclusive). */
export interface DateRange {
  from: string;
  to: string;
  period: 'day' | 'month';
}

export const today = () => new Date().toISOString().slice(0, 10);

export function addDays(date: string, days: number): string {
  return new Date(Date.parse(`${date}T00:00:00Z`) + days * 86_400_000).toISOString().slice(0, 10);
}

const DATE = /^\d{4}-\d{2}-\d{2}$/;

/** From / to (UTC days, inclusive) and day or month; checked before it is sent, the API's field errors shown too. */
export function DateRangeForm({
  value,
  onApply,
  error,
  children,
}: {
  value: DateRange;
  onApply: (r: DateRange) => void;
  error?: ApiFailure | null;
  /** more filters, applied with the same button */
  children?: ReactNode;
}) {
  const [draft, setDraft] = useState(value);
  const [problem, setProblem] = useState<{ from?: string; to?: string }>({});
  const api = error?.status === 422 ? error.fieldErrors() : {};
  const submit = (e: FormEvent) => {
    e.preventDefault();
    const p: { from?: string; to?: string } = {};
    if (!DATE.test(draft.from)) p.from = 'pick a day';
    if (!DATE.test(draft.to)) p.to = 'pick a day';
    if (!p.from && !p.to && draft.from > draft.to) p.to = 'must be on or after the first day';
    setProblem(p);
    if (!p.from && !p.to) onApply(draft);
  };
  return (
    <form className="inline-form" onSubmit={submit} noValidate aria-label="Report range">
      <Field label="From (UTC)" error={problem.from ?? api.from}>
        {(c) => (
          <input
            {...c}
            type="date"
            value={draft.from}
            onChange={(e) => setDraft({ ...draft, from: e.target.value })}
          />
        )}
      </Field>
      <Field label="To (UTC, inclusive)" error={problem.to ?? api.to}>
        {(c) => (
          <input
            {...c}
            type="date"
            value={draft.to}
            onChange={(e) => setDraft({ ...draft, to: e.target.value })}
          />
        )}
      </Field>
      <Field label="Per">
        {(c) => (
          <select
            {...c}
            value={draft.period}
            onChange={(e) => setDraft({ ...draft, period: e.target.value as DateRange['period'] })}
          >
            <option value="day">day</option>
            <option value="month">month</option>
          </select>
        )}
      </Field>
      {children}
      <button type="submit">Show</button>
    </form>
  );
}
