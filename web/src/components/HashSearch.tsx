import { useState, type FormEvent } from 'react';
import { api, failureOf, ok } from '../api/client';
import { navigate } from '../router';
import { Field } from './Field';
import { short } from '../format';

/**
 * Finds a settlement by the payment hash the ATM or the simulator printed (GET
 * /settlements/by-hash/:payment_hash) and opens it. Another operator's settlement is
 * "not found", as the API answers.
 */
export function HashSearch() {
  const [draft, setDraft] = useState('');
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);

  const find = async (e: FormEvent) => {
    e.preventDefault();
    const hash = draft.trim().toLowerCase();
    if (!/^[0-9a-f]{64}$/.test(hash)) {
      setError('A payment hash is 64 hexadecimal characters (0-9, a-f), as the ATM prints it.');
      return;
    }
    setBusy(true);
    try {
      const s = await ok(
        api.GET('/api/v1/settlements/by-hash/{payment_hash}', { params: { path: { payment_hash: hash } } }),
      );
      navigate(`/settlements/${encodeURIComponent(s.id)}`);
    } catch (err) {
      const f = failureOf(err);
      setError(
        f.status === 404
          ? `No settlement of yours has the payment hash ${short(hash, 12)}; check the hash on the receipt.`
          : f.message,
      );
      setBusy(false);
    }
  };

  return (
    <form
      className="inline-form"
      onSubmit={(e) => void find(e)}
      role="search"
      aria-label="Find by payment hash"
    >
      <Field label="Payment hash" error={error}>
        {(c) => (
          <input
            {...c}
            value={draft}
            spellCheck={false}
            autoComplete="off"
            onChange={(e) => {
              setDraft(e.target.value);
              setError(null);
            }}
          />
        )}
      </Field>
      <button type="submit" disabled={busy}>
        Find
      </button>
    </form>
  );
}

/** A payment hash shortened, the full hash in the tooltip and one click away on the clipboard. */
export function PaymentHash({ hash }: { hash: string | null | undefined }) {
  const [copied, setCopied] = useState(false);
  if (!hash) return <span className="muted">–</span>;
  return (
    <span className="hash">
      <code title={hash}>{short(hash, 12)}</code>{' '}
      <button
        type="button"
        className="link-button"
        aria-label={`Copy payment hash ${hash}`}
        onClick={() => {
          void navigator.clipboard?.writeText(hash).then(() => setCopied(true));
        }}
      >
        {copied ? 'copied' : 'copy'}
      </button>
    </span>
  );
}
