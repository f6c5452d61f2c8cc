import { useId, useRef, useState, type FormEvent } from 'react';
import { api, failureOf, ok, type NewUser, type Role } from '../api/client';
import { Field } from '../components/Field';
import { ErrorNotice, formFailureText, Loading, Notice } from '../components/Notice';
import { Page } from '../components/Page';
import { Table } from '../components/Table';
import { UserKeys } from '../components/UserKeys';
import { short, when } from '../format';
import { useLoad } from '../hooks';

const ROLES: { value: Role; label: string }[] = [
  { value: 'operator', label: 'operator' },
  { value: 'lp', label: 'liquidity provider (lp)' },
  { value: 'super', label: 'platform (super)' },
];

/** The new user's API key, shown this once (held in this page's memory only). */
function NewKey({ created, onDone }: { created: NewUser; onDone: () => void }) {
  const headingId = useId();
  const [copied, setCopied] = useState<string | null>(null);
  const field = useRef<HTMLInputElement>(null);
  const copy = async () => {
    try {
      await navigator.clipboard.writeText(created.api_key);
      setCopied('Copied to the clipboard.');
    } catch {
      field.current?.select();
      setCopied('Select the key and copy it (Ctrl+C).');
    }
  };
  return (
    <section className="card key-once" aria-labelledby={headingId}>
      <h2 id={headingId}>API key for {created.user.name}</h2>
      <Notice kind="warning">
        This key is shown once. Copy it now and hand it over securely: it cannot be shown again.
      </Notice>
      <Field label={`API key of ${created.user.name} (${created.user.role})`}>
        {(c) => (
          <input
            {...c}
            ref={field}
            readOnly
            value={created.api_key}
            className="mono"
            onFocus={(e) => e.target.select()}
          />
        )}
      </Field>
      <div className="actions">
        <button type="button" onClick={() => void copy()}>
          Copy key
        </button>
        <button type="button" className="primary" onClick={onDone}>
          I have saved it — hide the key
        </button>
      </div>
      {copied ? <p role="status">{copied}</p> : null}
      <p className="muted">
        User id <code>{created.user.id}</code>
        {created.user.nostr_pubkey ? (
          <>
            {' '}
            · Nostr public key <code className="wrap">{created.user.nostr_pubkey}</code>
          </>
        ) : null}
      </p>
    </section>
  );
}

/** Users: create one (its API key is shown once), and the list. */
export function SuperUsers() {
  const users = useLoad(() => ok(api.GET('/api/v1/super/users')), []);
  const [role, setRole] = useState<Role>('operator');
  const [name, setName] = useState('');
  const [pubkey, setPubkey] = useState('');
  const [errors, setErrors] = useState<Record<string, string>>({});
  const [failure, setFailure] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  // keys shown once, newest first: a second user created before the first key was saved keeps both on screen
  const [shown, setShown] = useState<NewUser[]>([]);
  const show = (n: NewUser) => setShown((list) => [n, ...list]);
  const [issuing, setIssuing] = useState<string | null>(null);
  const [issueFailure, setIssueFailure] = useState<string | null>(null);
  const [keysOf, setKeysOf] = useState<NewUser['user'] | null>(null);

  /** A new API key for a user who lost theirs; shown once like a new user's (the old keys keep working). */
  const issueKey = async (user: NewUser['user']) => {
    setIssuing(user.id);
    setIssueFailure(null);
    try {
      const out = await ok(
        api.POST('/api/v1/super/users/{id}/api-keys', { params: { path: { id: user.id } } }),
      );
      show({ user, api_key: out.api_key });
      window.scrollTo(0, 0);
    } catch (err) {
      setIssueFailure(`Could not issue a key for ${user.name}: ${(err as Error).message}`);
    } finally {
      setIssuing(null);
    }
  };

  const submit = async (e: FormEvent) => {
    e.preventDefault();
    if (!name.trim()) {
      setErrors({ name: 'Give the user a name' });
      return;
    }
    setBusy(true);
    setErrors({});
    setFailure(null);
    try {
      const out = await ok(
        api.POST('/api/v1/super/users', {
          body: { role, name: name.trim(), ...(pubkey.trim() ? { pubkey: pubkey.trim() } : {}) },
        }),
      );
      show(out);
      setName('');
      setPubkey('');
      users.reload();
    } catch (err) {
      const f = failureOf(err);
      setErrors(f.fieldErrors());
      setFailure(formFailureText(f, ['role', 'name', 'pubkey']));
    } finally {
      setBusy(false);
    }
  };

  return (
    <Page title="Users">
      {shown.map((n) => (
        <NewKey
          key={n.api_key}
          created={n}
          onDone={() => setShown((list) => list.filter((x) => x.api_key !== n.api_key))}
        />
      ))}
      <form onSubmit={(e) => void submit(e)} noValidate className="card">
        <h2>Create a user</h2>
        <div className="form-grid">
          <Field label="Role" error={errors.role}>
            {(c) => (
              <select {...c} value={role} onChange={(e) => setRole(e.target.value as Role)}>
                {ROLES.map((r) => (
                  <option key={r.value} value={r.value}>
                    {r.label}
                  </option>
                ))}
              </select>
            )}
          </Field>
          <Field label="Name" error={errors.name}>
            {(c) => (
              <input {...c} autoComplete="off" value={name} onChange={(e) => setName(e.target.value)} />
            )}
          </Field>
          <Field
            label="Nostr public key (optional)"
            error={errors.pubkey}
            hint="hex or npub, for NIP-98 sign-in; an operator without one gets a new keypair."
          >
            {(c) => (
              <input
                {...c}
                autoComplete="off"
                spellCheck={false}
                value={pubkey}
                onChange={(e) => setPubkey(e.target.value)}
              />
            )}
          </Field>
        </div>
        <div className="actions">
          <button type="submit" className="primary" disabled={busy}>
            {busy ? 'Creating…' : 'Create user'}
          </button>
        </div>
        {failure ? <Notice kind="error">{failure}</Notice> : null}
      </form>
      <section aria-labelledby="users-h">
        <h2 id="users-h">All users</h2>
        <p className="muted">
          A user who lost their key gets a new one here (shown once); their other keys keep working until you
          revoke them under “Keys”.
        </p>
        {issueFailure ? <Notice kind="error">{issueFailure}</Notice> : null}
        <ErrorNotice error={users.error} />
        {!users.data && users.loading ? <Loading what="users" /> : null}
        {users.data ? (
          <Table label="Users">
            <thead>
              <tr>
                <th scope="col">Name</th>
                <th scope="col">Role</th>
                <th scope="col">User id</th>
                <th scope="col">Nostr key</th>
                <th scope="col">Created</th>
                <th scope="col">API key</th>
              </tr>
            </thead>
            <tbody>
              {users.data.map((u) => (
                <tr key={u.id}>
                  <th scope="row">{u.name}</th>
                  <td>{u.role}</td>
                  <td>
                    <code>{u.id}</code>
                  </td>
                  <td>
                    <code title={u.nostr_pubkey ?? undefined}>{short(u.nostr_pubkey, 12)}</code>
                  </td>
                  <td>{when(u.created_at)}</td>
                  <td>
                    <button
                      type="button"
                      disabled={issuing !== null}
                      onClick={() => void issueKey(u)}
                      aria-label={`New key for ${u.name}`}
                    >
                      {issuing === u.id ? 'Issuing…' : 'New key'}
                    </button>{' '}
                    <button type="button" onClick={() => setKeysOf(u)} aria-label={`Keys of ${u.name}`}>
                      Keys
                    </button>
                  </td>
                </tr>
              ))}
            </tbody>
          </Table>
        ) : null}
        {keysOf ? <UserKeys key={keysOf.id} user={keysOf} onClose={() => setKeysOf(null)} /> : null}
      </section>
    </Page>
  );
}
