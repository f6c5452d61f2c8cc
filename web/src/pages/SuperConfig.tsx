import { useState, type FormEvent } from 'react';
import { api, failureOf, ok, type SuperConfig, type SuperConfigBody } from '../api/client';
import { TextField } from '../components/TextField';
import { ErrorNotice, formFailureText, Loading } from '../components/Notice';
import { Page } from '../components/Page';
import { SaveActions, type SaveMessage } from '../components/SaveActions';
import { percentHint, when } from '../format';
import { useLoad, useLoadedForm } from '../hooks';

interface Form {
  cashIn: string;
  cashOut: string;
  wallet: string;
}

const fromConfig = (c: SuperConfig): Form => ({
  cashIn: c.platform_cash_in_fee_fraction,
  cashOut: c.platform_cash_out_fee_fraction,
  wallet: c.super_wallet_id ?? '',
});

/** Platform fee fractions per transaction type and the super wallet that receives them. */
export function SuperConfigPage() {
  const data = useLoad(() => ok(api.GET('/api/v1/super/config')), []);
  const [errors, setErrors] = useState<Record<string, string>>({});
  const [message, setMessage] = useState<SaveMessage | null>(null);
  const [busy, setBusy] = useState(false);
  const { form, setForm, set } = useLoadedForm<SuperConfig, Form>(
    { cashIn: '', cashOut: '', wallet: '' },
    data.data,
    fromConfig,
    () => setMessage(null),
  );

  const save = async (e: FormEvent) => {
    e.preventDefault();
    setBusy(true);
    setMessage(null);
    const body: SuperConfigBody = {
      platform_cash_in_fee_fraction: form.cashIn.trim(),
      platform_cash_out_fee_fraction: form.cashOut.trim(),
      super_wallet_id: form.wallet.trim() || null,
    };
    try {
      const saved = await ok(api.PATCH('/api/v1/super/config', { body }));
      setForm(fromConfig(saved));
      setErrors({});
      setMessage({ ok: true, text: 'Saved. New settlements use these fees.' });
      data.reload();
    } catch (err) {
      const f = failureOf(err);
      setErrors(f.fieldErrors());
      setMessage({
        ok: false,
        text: formFailureText(f, [
          'platform_cash_in_fee_fraction',
          'platform_cash_out_fee_fraction',
          'super_wallet_id',
        ]),
      });
    } finally {
      setBusy(false);
    }
  };

  return (
    <Page
      title="Platform config"
      lead="The platform's fee on every settlement, and the wallet it is paid to."
    >
      <ErrorNotice error={data.error} />
      {!data.data && data.loading ? <Loading what="the configuration" /> : null}
      {data.data ? (
        <form onSubmit={(e) => void save(e)} noValidate className="card">
          <TextField
            label="Cash-in fee fraction"
            error={errors.platform_cash_in_fee_fraction}
            hint={`Of the principal: a decimal from 0 to below 1 with up to 6 places, like 0.01 for 1 %.${percentHint(form.cashIn)}`}
            inputMode="decimal"
            value={form.cashIn}
            onChange={(value) => set({ cashIn: value })}
          />
          <TextField
            label="Cash-out fee fraction"
            error={errors.platform_cash_out_fee_fraction}
            hint={`Of the principal, like 0.01 for 1 %.${percentHint(form.cashOut)}`}
            inputMode="decimal"
            value={form.cashOut}
            onChange={(value) => set({ cashOut: value })}
          />
          <TextField
            label="Super wallet id"
            error={errors.super_wallet_id}
            hint="Where platform fees (super_fee legs) are paid. Empty: none."
            value={form.wallet}
            onChange={(value) => set({ wallet: value })}
          />
          <SaveActions busy={busy} label="Save" message={message} />
          <p className="muted">Last changed {when(data.data.updated_at)}.</p>
        </form>
      ) : null}
    </Page>
  );
}
