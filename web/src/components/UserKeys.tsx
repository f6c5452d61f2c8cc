import { useState } from 'react';
import { api, ok, type NewUser } from '../api/client';
import { when } from '../format';
import { useLoad } from '../hooks';
import { ConfirmDialog } from './ConfirmDialog';
import { ErrorNotice, Loading, Notice } from './Notice';
import { Table } from './Table';

type User = NewUser['user'];

/**
 * A user's API keys (their prefixes, never the keys) and revocation: the platform can
 * revoke any of them, the last one too (a compromised account). A revoked key is refused
 * (401) from the next request on.
 */
export function UserKeys({ user, onClose }: { user: User; onClose: () => void }) {
  const keys = useLoad(
    () => ok(api.GET('/api/v1/super/users/{id}/api-keys', { params: { path: { id: user.id } } })),
    [user.id],
  );
  const [revoking, setRevoking] = useState<{ id: string; prefix: string } | null>(null);
  const [done, setDone] = useState<string | null>(null);
  const headingId = `keys-${user.id}`;
  return (
    <section className="card" aria-labelledby={headingId}>
      <h2 id={headingId}>API keys of {user.name}</h2>
      {done ? <Notice kind="success">{done}</Notice> : null}
      <ErrorNotice error={keys.error} />
      {!keys.data && keys.loading ? <Loading what="keys" /> : null}
      {keys.data ? (
        keys.data.length === 0 ? (
          <p>{user.name} has no API keys.</p>
        ) : (
          <Table label={`API keys of ${user.name}`} cards>
            <thead>
              <tr>
                <th scope="col">Key</th>
                <th scope="col">Created</th>
                <th scope="col">Last used</th>
                <th scope="col">State</th>
                <th scope="col">Action</th>
              </tr>
            </thead>
            <tbody>
              {keys.data.map((k) => (
                <tr key={k.id}>
                  <td>
                    <code>{k.prefix}…</code>
                  </td>
                  <td>{when(k.created_at)}</td>
                  <td>{k.last_used_at ? when(k.last_used_at) : 'never'}</td>
                  <td>{k.revoked_at ? `revoked ${when(k.revoked_at)}` : 'active'}</td>
                  <td>
                    {k.revoked_at ? null : (
                      <button
                        type="button"
                        className="danger"
                        onClick={() => {
                          setDone(null);
                          setRevoking({ id: k.id, prefix: k.prefix });
                        }}
                        aria-label={`Revoke key ${k.prefix} of ${user.name}`}
                      >
                        Revoke
                      </button>
                    )}
                  </td>
                </tr>
              ))}
            </tbody>
          </Table>
        )
      ) : null}
      <div className="actions">
        <button type="button" onClick={onClose}>
          Close<span className="visually-hidden"> the keys of {user.name}</span>
        </button>
      </div>
      {revoking ? (
        <ConfirmDialog
          title={`Revoke key ${revoking.prefix}… of ${user.name}?`}
          confirmLabel="Revoke the key"
          danger
          onClose={() => setRevoking(null)}
          onConfirm={async () => {
            await ok(
              api.DELETE('/api/v1/super/users/{id}/api-keys/{keyId}', {
                params: { path: { id: user.id, keyId: revoking.id } },
              }),
            );
            setDone(`Key ${revoking.prefix}… of ${user.name} is revoked: the API refuses it from now on.`);
            keys.reload();
          }}
        >
          <p>
            Anyone using this key is refused from the next request on. This cannot be undone; {user.name} can
            get a new key with “New key”.
          </p>
        </ConfirmDialog>
      ) : null}
    </section>
  );
}
