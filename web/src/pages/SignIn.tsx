import { useEffect, useRef, useState, type FormEvent } from 'react';
import { api, failureOf, ok, type Me } from '../api/client';
import { Field } from '../components/Field';
import { Notice } from '../components/Notice';

/** Sign-in with an API key: checked with GET /api/v1/me, then kept in this tab's sessionStorage only. */
export function SignIn({
  notice,
  onSignedIn,
}: {
  notice?: string;
  onSignedIn: (key: string, me: Me) => void;
}) {
  const [key, setKey] = useState('');
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const input = useRef<HTMLInputElement>(null);

  useEffect(() => {
    document.title = 'Sign in · satmachine console';
  }, []);

  const submit = async (e: FormEvent) => {
    e.preventDefault();
    const trimmed = key.trim();
    if (!trimmed) {
      setError('Enter your API key.');
      input.current?.focus();
      return;
    }
    setBusy(true);
    setError(null);
    try {
      const me = await ok(api.GET('/api/v1/me', { headers: { authorization: `Bearer ${trimmed}` } }));
      setKey('');
      onSignedIn(trimmed, me);
    } catch (err) {
      const f = failureOf(err);
      setError(
        f.status === 401 ? 'This API key is not valid: it is unknown or has been revoked.' : f.message,
      );
      setBusy(false);
      input.current?.focus();
    }
  };

  return (
    <main id="main" className="signin">
      <h1>satmachine console</h1>
      <p className="lead">Operators, liquidity providers and the platform sign in with their API key.</p>
      {notice ? <Notice kind="info">{notice}</Notice> : null}
      <form onSubmit={(e) => void submit(e)} noValidate className="card">
        <h2>Sign in</h2>
        <Field
          label="API key"
          error={error}
          hint="Kept in this browser tab only, and forgotten when you sign out or close the tab."
        >
          {(c) => (
            <input
              {...c}
              ref={input}
              type="password"
              autoComplete="off"
              spellCheck={false}
              autoCapitalize="off"
              value={key}
              onChange={(e) => setKey(e.target.value)}
              required
            />
          )}
        </Field>
        <div className="actions">
          <button type="submit" className="primary" disabled={busy}>
            {busy ? 'Signing in…' : 'Sign in'}
          </button>
        </div>
      </form>
    </main>
  );
}
