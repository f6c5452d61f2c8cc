import { useState, type FormEvent } from 'react';
import { api, failureOf, ok, type Preferences, type PreferencesBody } from '../api/client';
import { TextField } from '../components/TextField';
import { ErrorNotice, formFailureText, Loading, Notice } from '../components/Notice';
import { Page } from '../components/Page';
import { SaveActions, type SaveMessage } from '../components/SaveActions';
import { useLoad, useLoadedForm } from '../hooks';
import { useSession } from '../sessionContext';

async function load(): Promise<Preferences | null> {
  try {
    return await ok(api.GET('/api/v1/lp/preferences'));
  } catch (err) {
    if (failureOf(err).status === 404) return null; // not onboarded yet
    throw err;
  }
}

interface Form {
  wallet: string;
  mode: 'flow' | 'fixed';
  limit: string;
  forward: boolean;
  address: string;
}

const fromPrefs = (p: Preferences | null): Form => ({
  wallet: p?.dca_wallet_id ?? '',
  mode: p?.default_dca_mode ?? 'flow',
  limit: p?.fixed_mode_daily_limit ?? '',
  forward: p?.autoforward_enabled ?? false,
  address: p?.autoforward_ln_address ?? '',
});

/** The LP's payout wallet, DCA mode and Lightning-address autoforward; the API's messages appear by each field. */
export function LpPreferences() {
  const { user } = useSession();
  const data = useLoad(load, []);
  const [errors, setErrors] = useState<Record<string, string>>({});
  const [message, setMessage] = useState<SaveMessage | null>(null);
  const { form, setForm, set } = useLoadedForm<Preferences | null, Form>(
    fromPrefs(null),
    data.data,
    fromPrefs,
    () => setMessage(null),
  );
  const [busy, setBusy] = useState(false);
  const [walletNote, setWalletNote] = useState<string | null>(null);
  // saved here: onboarded now, whatever the first load said
  const [savedOnce, setSavedOnce] = useState(false);

  const save = async (e: FormEvent) => {
    e.preventDefault();
    setBusy(true);
    setMessage(null);
    setWalletNote(null);
    const body: PreferencesBody = {
      default_dca_mode: form.mode,
      autoforward_enabled: form.forward,
      autoforward_ln_address: form.address.trim() ? form.address.trim() : null,
      fixed_mode_daily_limit: form.limit.trim() ? form.limit.trim() : null,
    };
    if (form.wallet.trim()) body.dca_wallet_id = form.wallet.trim();
    try {
      const saved = await ok(api.PUT('/api/v1/lp/preferences', { body }));
      setErrors({});
      setForm(fromPrefs(saved));
      setSavedOnce(true);
      setMessage({ ok: true, text: 'Preferences saved.' });
    } catch (err) {
      const f = failureOf(err);
      const fields = f.fieldErrors();
      setErrors(fields);
      setMessage({
        ok: false,
        text: formFailureText(f, [
          'dca_wallet_id',
          'default_dca_mode',
          'fixed_mode_daily_limit',
          'autoforward_ln_address',
          'autoforward_enabled',
        ]),
      });
      // move to the first field the API refused
      const first = [
        'dca_wallet_id',
        'default_dca_mode',
        'fixed_mode_daily_limit',
        'autoforward_ln_address',
      ].find((k) => fields[k]);
      if (first) document.getElementById(`pref-${first}`)?.focus();
    } finally {
      setBusy(false);
    }
  };

  const newWallet = async () => {
    setWalletNote(null);
    try {
      const w = await ok(api.POST('/api/v1/ledger/wallets', { body: { name: `${user.name} payouts` } }));
      set({ wallet: w.id });
      setWalletNote(`Created wallet ${w.id} (Lightning address ${w.lightning_address}). Save to use it.`);
    } catch (err) {
      const f = failureOf(err);
      setWalletNote(
        f.status === 404
          ? 'This satmachine pays to LNbits wallets: enter the id of your LNbits wallet.'
          : `No wallet created: ${f.message}`,
      );
    }
  };

  const onboarded = savedOnce || (data.data !== null && data.data !== undefined);
  return (
    <Page title="Preferences" lead="Where your sats go and how your deposits are spent.">
      <ErrorNotice error={data.error} />
      {data.data === undefined && data.loading ? <Loading what="preferences" /> : null}
      {data.data === null && !onboarded ? (
        <Notice kind="info">You have not onboarded yet: choose a payout wallet and save to start.</Notice>
      ) : null}
      {data.data !== undefined ? (
        <form onSubmit={(e) => void save(e)} noValidate className="card">
          <TextField
            id="pref-dca_wallet_id"
            label="Payout wallet id"
            error={errors.dca_wallet_id}
            hint={
              onboarded
                ? 'Your sats are paid into this wallet.'
                : 'Required: your sats are paid into this wallet.'
            }
            value={form.wallet}
            onChange={(value) => set({ wallet: value })}
          />
          <div className="actions-inline">
            <button type="button" onClick={() => void newWallet()}>
              Create a new wallet
            </button>
            {walletNote ? <span role="status">{walletNote}</span> : null}
          </div>
          <fieldset aria-describedby={errors.default_dca_mode ? 'mode-error' : undefined}>
            <legend>DCA mode</legend>
            <label className="choice">
              <input
                type="radio"
                name="mode"
                value="flow"
                checked={form.mode === 'flow'}
                onChange={() => set({ mode: 'flow' })}
              />{' '}
              Flow — every cash-out at your machines spends your balance in proportion
            </label>
            <label className="choice">
              <input
                type="radio"
                name="mode"
                value="fixed"
                checked={form.mode === 'fixed'}
                onChange={() => set({ mode: 'fixed' })}
              />{' '}
              Fixed — up to a daily limit
            </label>
            {errors.default_dca_mode ? (
              <p className="field-error" id="mode-error">
                {errors.default_dca_mode}
              </p>
            ) : null}
          </fieldset>
          <TextField
            id="pref-fixed_mode_daily_limit"
            label="Daily limit (fixed mode)"
            error={errors.fixed_mode_daily_limit}
            hint="Fiat per UTC day, like 50.00. Needed in fixed mode."
            inputMode="decimal"
            value={form.limit}
            onChange={(value) => set({ limit: value })}
          />
          <label className="choice">
            <input
              type="checkbox"
              checked={form.forward}
              onChange={(e) => set({ forward: e.target.checked })}
            />{' '}
            Forward every payout to a Lightning address
          </label>
          <TextField
            id="pref-autoforward_ln_address"
            label="Lightning address"
            error={errors.autoforward_ln_address}
            hint="name@domain, like alice@wallet.example"
            type="text"
            inputMode="email"
            value={form.address}
            onChange={(value) => set({ address: value })}
          />
          <SaveActions busy={busy} label="Save preferences" message={message} />
          <p className="muted">
            Your user id (give it to an operator to be enrolled): <code>{user.id}</code>
          </p>
        </form>
      ) : null}
    </Page>
  );
}
