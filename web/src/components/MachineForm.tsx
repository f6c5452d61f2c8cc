import { useId, useState, type FormEvent } from 'react';
import { api, failureOf, ok, type Machine, type MachineBody, type MachinePatch } from '../api/client';
import { TextField } from './TextField';
import { fieldsText, formFailureText, Notice } from './Notice';
import { percentHint } from '../format';

interface Form {
  name: string;
  npub: string;
  fiat: string;
  location: string;
  cashIn: string;
  cashOut: string;
  hold: string;
  wallet: string;
}

const EMPTY: Form = {
  name: '',
  npub: '',
  fiat: '',
  location: '',
  cashIn: '0',
  cashOut: '0',
  hold: '0',
  wallet: '',
};

const fromMachine = (m: Machine): Form => ({
  name: m.name,
  npub: m.machine_npub,
  fiat: m.fiat_code,
  location: m.location ?? '',
  cashIn: m.operator_cash_in_fee_fraction,
  cashOut: m.operator_cash_out_fee_fraction,
  hold: String(m.distribution_delay_seconds),
  wallet: m.wallet_id,
});

/** The API's field names, in the order the form shows them (focus goes to the first refused). */
const FIELDS = [
  'name',
  'machine_npub',
  'fiat_code',
  'location',
  'operator_cash_in_fee_fraction',
  'operator_cash_out_fee_fraction',
  'distribution_delay_seconds',
  'wallet_id',
] as const;

const MAX_HOLD = 604_800;

/** A 409 of the machine routes names a field in words: put it by that field. */
function conflictField(message: string): string | null {
  if (/public key/i.test(message)) return 'machine_npub';
  if (/wallet/i.test(message)) return 'wallet_id';
  return null;
}

/**
 * Registers a machine (POST /machines) or edits one (PATCH /machines/:id). Checks
 * what it can (required fields, the hold) and leaves the rest to the API, whose field
 * messages appear by each field.
 */
export function MachineForm({
  machine,
  onSaved,
  onCancel,
  onSubmit,
}: {
  /** the machine to edit; registers a new one when absent */
  machine?: Machine;
  onSaved: (m: Machine) => void;
  onCancel?: () => void;
  /** called as a save starts (an earlier answer shown by the caller stops being current) */
  onSubmit?: () => void;
}) {
  const editing = machine !== undefined;
  const prefix = useId().replace(/:/g, '');
  const idOf = (field: string) => `${prefix}-${field}`;
  const [form, setForm] = useState<Form>(machine ? fromMachine(machine) : EMPTY);
  const [errors, setErrors] = useState<Record<string, string>>({});
  const [failure, setFailure] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);

  const set = (patch: Partial<Form>) => {
    setForm((f) => ({ ...f, ...patch }));
    setFailure(null);
  };

  const focusFirst = (fields: Record<string, string>) => {
    const first = FIELDS.find((k) => fields[k]);
    if (first) document.getElementById(idOf(first))?.focus();
  };

  const submit = async (e: FormEvent) => {
    e.preventDefault();
    if (busy) return;
    setFailure(null);
    onSubmit?.();
    const problems: Record<string, string> = {};
    if (!form.name.trim()) problems.name = 'Give the machine a name, like Lobby ATM';
    if (!editing && !form.npub.trim())
      problems.machine_npub = "The machine's Nostr public key: npub1… or 64 hex characters";
    if (!editing && !/^[A-Z]{3}$/.test(form.fiat.trim()))
      problems.fiat_code = 'A 3-letter currency code, like USD';
    const hold = form.hold.trim() === '' ? 0 : Number(form.hold);
    if (!Number.isInteger(hold) || hold < 0 || hold > MAX_HOLD)
      problems.distribution_delay_seconds = 'A whole number of seconds from 0 to 604,800 (7 days)';
    setErrors(problems);
    if (Object.keys(problems).length) {
      setFailure(fieldsText(problems, FIELDS));
      focusFirst(problems);
      return;
    }
    const common = {
      name: form.name.trim(),
      location: form.location.trim() || null,
      operator_cash_in_fee_fraction: form.cashIn.trim() || '0',
      operator_cash_out_fee_fraction: form.cashOut.trim() || '0',
      distribution_delay_seconds: hold,
      ...(form.wallet.trim() ? { wallet_id: form.wallet.trim() } : {}),
    };
    setBusy(true);
    try {
      let saved: Machine;
      if (machine) {
        const body: MachinePatch = common;
        saved = await ok(api.PATCH('/api/v1/machines/{id}', { params: { path: { id: machine.id } }, body }));
      } else {
        const body: MachineBody = { ...common, machine_npub: form.npub.trim(), fiat_code: form.fiat.trim() };
        saved = await ok(api.POST('/api/v1/machines', { body }));
        setForm(EMPTY);
      }
      setErrors({});
      onSaved(saved);
    } catch (err) {
      const f = failureOf(err);
      const fields = f.fieldErrors();
      const field = f.status === 409 ? conflictField(f.message) : null;
      if (field) fields[field] = f.message;
      setErrors(fields);
      setFailure(field ? fieldsText(fields, FIELDS) : formFailureText(f, FIELDS));
      focusFirst(fields);
    } finally {
      setBusy(false);
    }
  };

  return (
    <form onSubmit={(e) => void submit(e)} noValidate>
      <div className="form-grid">
        <TextField
          id={idOf('name')}
          label="Name"
          error={errors.name}
          value={form.name}
          onChange={(value) => set({ name: value })}
        />
        {editing ? null : (
          <TextField
            id={idOf('machine_npub')}
            label="Machine public key"
            error={errors.machine_npub}
            hint="The Nostr key the machine signs with: npub1… or 64 hex characters."
            className="wide"
            spellCheck={false}
            inputClassName="mono"
            value={form.npub}
            onChange={(value) => set({ npub: value })}
          />
        )}
        {editing ? null : (
          <TextField
            id={idOf('fiat_code')}
            label="Fiat currency"
            error={errors.fiat_code}
            hint="The bills it handles, as a 3-letter code: USD, EUR…"
            maxLength={3}
            value={form.fiat}
            onChange={(value) => set({ fiat: value.toUpperCase() })}
          />
        )}
        <TextField
          id={idOf('location')}
          label="Location (optional)"
          error={errors.location}
          value={form.location}
          onChange={(value) => set({ location: value })}
        />
        <TextField
          id={idOf('operator_cash_in_fee_fraction')}
          label="Your cash-in fee (fraction)"
          error={errors.operator_cash_in_fee_fraction}
          hint={`From 0 to below 1, up to 6 decimals: 0.03 is 3 %.${percentHint(form.cashIn)}`}
          inputMode="decimal"
          value={form.cashIn}
          onChange={(value) => set({ cashIn: value })}
        />
        <TextField
          id={idOf('operator_cash_out_fee_fraction')}
          label="Your cash-out fee (fraction)"
          error={errors.operator_cash_out_fee_fraction}
          hint={`From 0 to below 1, up to 6 decimals: 0.03 is 3 %.${percentHint(form.cashOut)}`}
          inputMode="decimal"
          value={form.cashOut}
          onChange={(value) => set({ cashOut: value })}
        />
        <TextField
          id={idOf('distribution_delay_seconds')}
          label="Hold before paying (seconds)"
          error={errors.distribution_delay_seconds}
          hint="0 pays at once. During a hold a cash-out can still be corrected (partial dispense). Up to 604,800 (7 days)."
          inputMode="numeric"
          value={form.hold}
          onChange={(value) => set({ hold: value })}
        />
        <TextField
          id={idOf('wallet_id')}
          label={editing ? 'Wallet id' : 'Wallet id (optional)'}
          error={errors.wallet_id}
          hint={
            editing
              ? 'The wallet customers pay into and the legs are paid from.'
              : 'The wallet customers pay into and the legs are paid from. Empty: the embedded ledger creates one (with LNbits, give the id of a registered wallet).'
          }
          spellCheck={false}
          value={form.wallet}
          onChange={(value) => set({ wallet: value })}
        />
      </div>
      <div className="actions">
        <button type="submit" className="primary" disabled={busy}>
          {busy ? 'Saving…' : editing ? 'Save changes' : 'Register machine'}
        </button>
        {onCancel ? (
          <button type="button" onClick={onCancel} disabled={busy}>
            Cancel
          </button>
        ) : null}
      </div>
      {failure ? <Notice kind="error">{failure}</Notice> : null}
    </form>
  );
}
