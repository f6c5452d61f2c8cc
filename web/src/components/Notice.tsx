import type { ReactNode } from 'react';
import type { ApiFailure } from '../api/client';

type Kind = 'error' | 'success' | 'info' | 'warning';

/** A message: errors are announced at once (role=alert), the rest politely (role=status). */
export function Notice({ kind, children, id }: { kind: Kind; children: ReactNode; id?: string }) {
  return (
    <div id={id} className={`notice notice-${kind}`} role={kind === 'error' ? 'alert' : 'status'}>
      {children}
    </div>
  );
}

export function failureText(f: ApiFailure): string {
  if (f.status === 404) return `Not found: ${f.message}`;
  if (f.status === 409) return `Refused: ${f.message}`;
  return f.message;
}

/**
 * Where a form's problems are, in one sentence: the messages themselves are shown by
 * their fields; a field the form does not show is named here with its message.
 */
export function fieldsText(fields: Record<string, string>, known?: readonly string[]): string {
  const names = Object.keys(fields);
  const elsewhere = known ? names.filter((n) => !known.includes(n)) : [];
  const shown = names.length - elsewhere.length;
  const parts: string[] = [];
  if (shown === 1) parts.push('One field needs a change: see the message next to it.');
  else if (shown > 1) parts.push('Some fields need a change: see the messages next to them.');
  for (const n of elsewhere) parts.push(`${n.replace(/[._]/g, ' ')}: ${fields[n]}.`);
  return parts.join(' ');
}

/**
 * A form's refusal in one human sentence: when the API named the fields, their
 * messages are shown by the fields and the notice only points there (never the raw
 * "invalid body: body.x: …" summary).
 */
export function formFailureText(f: ApiFailure, known?: readonly string[]): string {
  const fields = f.fieldErrors();
  if (f.status === 422 && Object.keys(fields).length) return fieldsText(fields, known);
  if (f.status === 422) return f.message.replace(/^invalid (body|query|params): /, '');
  return failureText(f);
}

export function ErrorNotice({ error }: { error: ApiFailure | null | undefined }) {
  if (!error) return null;
  return <Notice kind="error">{failureText(error)}</Notice>;
}

/** While a list loads for the first time. */
export function Loading({ what }: { what: string }) {
  return (
    <p className="muted" role="status">
      Loading {what}…
    </p>
  );
}
