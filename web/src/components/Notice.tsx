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
