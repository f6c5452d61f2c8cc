import { useState, type FormEvent } from 'react';
import { api, failureOf, ok, type Client, type Deposit, type Machine } from '../api/client';
import { Badge } from '../components/Badge';
import { ConfirmDialog } from '../components/ConfirmDialog';
import { Field } from '../components/Field';
import { ErrorNotice, Loading, Notice } from '../components/Notice';
import { Page } from '../components/Page';
import { Table } from '../components/Table';
import { fiat, formatCents, parseCents, sats, when } from '../format';
import { useLoad } from '../hooks';
import { navigate, useLocation } from '../router';

async function loadAll(machineId: string) {
  const [machines, clients, deposits] = await Promise.all([
    ok(api.GET('/api/v1/machines')),
    ok(api.GET('/api/v1/clients')),
    ok(api.GET('/api/v1/deposits', { params: { query: machineId ? { machine_id: machineId } : {} } })),
  ]);
  const shown = clients.filter((c) => !machineId || c.machine_id === machineId);
  const balances = await Promise.all(
    shown.map((c) =>
      ok(api.GET('/api/v1/clients/{id}/balance', { params: { path: { id: c.id } } })).catch(() => null),
    ),
  );
  return {
    machines,
    clients,
    shown: shown.map((c, i) => ({ client: c, balance: balances[i] ?? null })),
    deposits,
  };
}

function EnrolForm({
  machines,
  machineId,
  onDone,
}: {
  machines: Machine[];
  machineId: string;
  onDone: () => void;
}) {
  const [machine, setMachine] = useState(machineId || machines[0]?.id || '');
  const [userId, setUserId] = useState('');
  const [name, setName] = useState('');
  const [errors, setErrors] = useState<Record<string, string>>({});
  const [message, setMessage] = useState<{ ok: boolean; text: string } | null>(null);
  const [busy, setBusy] = useState(false);

  const submit = async (e: FormEvent) => {
    e.preventDefault();
    const problems: Record<string, string> = {};
    if (!machine) problems.machine = 'Choose a machine';
    if (!userId.trim()) problems.user_id = "The LP's user id (they find it on their own console page)";
    setErrors(problems);
    setMessage(null);
    if (Object.keys(problems).length) return;
    setBusy(true);
    try {
      const c = await ok(
        api.POST('/api/v1/machines/{id}/clients', {
          params: { path: { id: machine } },
          body: { user_id: userId.trim(), ...(name.trim() ? { username: name.trim() } : {}) },
        }),
      );
      setMessage({ ok: true, text: `Enrolled ${c.username ?? c.user_id}.` });
      setUserId('');
      setName('');
      onDone();
    } catch (err) {
      const f = failureOf(err);
      setErrors(f.fieldErrors());
      setMessage({ ok: false, text: f.message });
    } finally {
      setBusy(false);
    }
  };

  return (
    <form onSubmit={(e) => void submit(e)} noValidate className="card">
      <h3>Enrol an LP at a machine</h3>
      <div className="form-grid">
        <Field label="Machine" error={errors.machine}>
          {(c) => (
            <select {...c} value={machine} onChange={(e) => setMachine(e.target.value)}>
              {machines.map((m) => (
                <option key={m.id} value={m.id}>
                  {m.name}
                </option>
              ))}
            </select>
          )}
        </Field>
        <Field label="LP user id" error={errors.user_id}>
          {(c) => (
            <input {...c} autoComplete="off" value={userId} onChange={(e) => setUserId(e.target.value)} />
          )}
        </Field>
        <Field label="Display name (optional)" error={errors.username}>
          {(c) => <input {...c} autoComplete="off" value={name} onChange={(e) => setName(e.target.value)} />}
        </Field>
      </div>
      <div className="actions">
        <button type="submit" className="primary" disabled={busy}>
          Enrol
        </button>
      </div>
      {message ? <Notice kind={message.ok ? 'success' : 'error'}>{message.text}</Notice> : null}
    </form>
  );
}

function DepositForm({
  clients,
  machines,
  onDone,
}: {
  clients: Client[];
  machines: Machine[];
  onDone: () => void;
}) {
  const active = clients.filter((c) => c.status === 'active');
  const [chosen, setClientId] = useState(active[0]?.id ?? '');
  // an enrolment that went away (or the first one that arrived) falls back to the first active one
  const clientId = active.some((c) => c.id === chosen) ? chosen : (active[0]?.id ?? '');
  const [amount, setAmount] = useState('');
  const [notes, setNotes] = useState('');
  const [errors, setErrors] = useState<Record<string, string>>({});
  const [message, setMessage] = useState<{ ok: boolean; text: string } | null>(null);
  const [busy, setBusy] = useState(false);
  const machineOf = (c: Client) => machines.find((m) => m.id === c.machine_id);

  const submit = async (e: FormEvent) => {
    e.preventDefault();
    const problems: Record<string, string> = {};
    if (!clientId) problems.client_id = 'Choose the LP';
    const cents = parseCents(amount);
    if (cents === null || cents <= 0n) problems.amount = 'An amount above 0, like 500.00';
    setErrors(problems);
    setMessage(null);
    if (Object.keys(problems).length) return;
    setBusy(true);
    try {
      const d = await ok(
        api.POST('/api/v1/deposits', {
          body: {
            client_id: clientId,
            amount: formatCents(cents!),
            ...(notes.trim() ? { notes: notes.trim() } : {}),
          },
        }),
      );
      setMessage({ ok: true, text: `Recorded ${d.amount} ${d.currency}, pending until you confirm it.` });
      setAmount('');
      setNotes('');
      onDone();
    } catch (err) {
      const f = failureOf(err);
      setErrors(f.fieldErrors());
      setMessage({ ok: false, text: f.message });
    } finally {
      setBusy(false);
    }
  };

  const selected = active.find((c) => c.id === clientId);
  return (
    <form onSubmit={(e) => void submit(e)} noValidate className="card">
      <h3>Record a deposit</h3>
      <div className="form-grid">
        <Field label="LP at machine" error={errors.client_id}>
          {(c) => (
            <select {...c} value={clientId} onChange={(e) => setClientId(e.target.value)}>
              {active.length === 0 ? <option value="">no active enrolment</option> : null}
              {active.map((cl) => (
                <option key={cl.id} value={cl.id}>
                  {cl.username ?? cl.user_id} at {machineOf(cl)?.name ?? cl.machine_id}
                </option>
              ))}
            </select>
          )}
        </Field>
        <Field
          label={`Amount${selected ? ` (${machineOf(selected)?.fiat_code ?? ''})` : ''}`}
          error={errors.amount}
          hint="The currency is the machine's."
        >
          {(c) => (
            <input
              {...c}
              inputMode="decimal"
              autoComplete="off"
              value={amount}
              onChange={(e) => setAmount(e.target.value)}
            />
          )}
        </Field>
        <Field label="Notes (optional)" error={errors.notes}>
          {(c) => (
            <input {...c} autoComplete="off" value={notes} onChange={(e) => setNotes(e.target.value)} />
          )}
        </Field>
      </div>
      <div className="actions">
        <button type="submit" className="primary" disabled={busy}>
          Record deposit
        </button>
      </div>
      {message ? <Notice kind={message.ok ? 'success' : 'error'}>{message.text}</Notice> : null}
    </form>
  );
}

/** LP enrolments with their balances, and deposits: record, confirm, reject. */
export function LpsPage() {
  const { query } = useLocation();
  const machineId = query.get('machine') ?? '';
  const data = useLoad(() => loadAll(machineId), [machineId]);
  const [deciding, setDeciding] = useState<{ deposit: Deposit; status: 'confirmed' | 'rejected' } | null>(
    null,
  );
  const [decided, setDecided] = useState<{ id: string; ok: boolean; text: string } | null>(null);

  const d = data.data;
  const machineName = (id: string) => d?.machines.find((m) => m.id === id)?.name ?? id;
  const clientName = (id: string) => {
    const c = d?.clients.find((x) => x.id === id);
    return c ? (c.username ?? c.user_id) : id;
  };

  const decide = async () => {
    if (!deciding) return;
    const { deposit, status } = deciding;
    try {
      await ok(
        api.PUT('/api/v1/deposits/{id}/status', { params: { path: { id: deposit.id } }, body: { status } }),
      );
      setDecided({
        id: deposit.id,
        ok: true,
        text: `Deposit of ${deposit.amount} ${deposit.currency} ${status}.`,
      });
    } catch (err) {
      setDecided({ id: deposit.id, ok: false, text: failureOf(err).message });
    }
    data.reload();
  };

  return (
    <Page title="LPs and deposits">
      <div className="inline-form">
        <Field label="Machine">
          {(c) => (
            <select
              {...c}
              value={machineId}
              onChange={(e) =>
                navigate(e.target.value ? `/lps?machine=${encodeURIComponent(e.target.value)}` : '/lps')
              }
            >
              <option value="">all machines</option>
              {d?.machines.map((m) => (
                <option key={m.id} value={m.id}>
                  {m.name}
                </option>
              ))}
            </select>
          )}
        </Field>
      </div>
      <ErrorNotice error={data.error} />
      {!d && data.loading ? <Loading what="LPs" /> : null}
      {d ? (
        <>
          <section>
            <h2>Enrolments</h2>
            {d.shown.length === 0 ? (
              <p>No LP is enrolled{machineId ? ' at this machine' : ''} yet.</p>
            ) : (
              <Table label="Enrolments and balances">
                <thead>
                  <tr>
                    <th scope="col">LP</th>
                    <th scope="col">Machine</th>
                    <th scope="col">Status</th>
                    <th scope="col">Onboarded</th>
                    <th scope="col" className="num">
                      Deposited
                    </th>
                    <th scope="col" className="num">
                      Reserved
                    </th>
                    <th scope="col" className="num">
                      Remaining
                    </th>
                    <th scope="col" className="num">
                      Sats received
                    </th>
                  </tr>
                </thead>
                <tbody>
                  {d.shown.map(({ client: c, balance: b }) => (
                    <tr key={c.id}>
                      <td>
                        {c.username ?? '–'}
                        <div className="muted">
                          <code>{c.user_id}</code>
                        </div>
                      </td>
                      <td>{machineName(c.machine_id)}</td>
                      <td>
                        <Badge status={c.status} />
                      </td>
                      <td>{c.lp_onboarded ? 'yes' : 'no (no payout wallet yet)'}</td>
                      <td className="num">{b ? fiat(b.confirmed_deposits, b.currency) : '–'}</td>
                      <td className="num">{b ? fiat(b.pending_fiat, b.currency) : '–'}</td>
                      <td className="num">{b ? fiat(b.remaining_balance, b.currency) : '–'}</td>
                      <td className="num">{b ? sats(b.total_sats) : '–'}</td>
                    </tr>
                  ))}
                </tbody>
              </Table>
            )}
            {d.machines.length ? (
              <EnrolForm machines={d.machines} machineId={machineId} onDone={data.reload} />
            ) : null}
          </section>

          <section>
            <h2>Deposits</h2>
            {decided ? <Notice kind={decided.ok ? 'success' : 'error'}>{decided.text}</Notice> : null}
            {d.deposits.length === 0 ? (
              <p>No deposits{machineId ? ' at this machine' : ''} yet.</p>
            ) : (
              <Table label="Deposits">
                <thead>
                  <tr>
                    <th scope="col">Recorded</th>
                    <th scope="col">LP</th>
                    <th scope="col">Machine</th>
                    <th scope="col" className="num">
                      Amount
                    </th>
                    <th scope="col">Status</th>
                    <th scope="col">Notes</th>
                    <th scope="col">Actions</th>
                  </tr>
                </thead>
                <tbody>
                  {d.deposits.map((dep) => (
                    <tr key={dep.id}>
                      <td>{when(dep.created_at)}</td>
                      <td>{clientName(dep.client_id)}</td>
                      <td>{machineName(dep.machine_id)}</td>
                      <td className="num">{fiat(dep.amount, dep.currency)}</td>
                      <td>
                        <Badge status={dep.status} />
                        {dep.confirmed_at ? <div className="muted">{when(dep.confirmed_at)}</div> : null}
                      </td>
                      <td>{dep.notes ?? ''}</td>
                      <td>
                        {dep.status === 'pending' ? (
                          <div className="row-actions">
                            <button
                              type="button"
                              onClick={() => setDeciding({ deposit: dep, status: 'confirmed' })}
                              aria-label={`Confirm deposit of ${dep.amount} ${dep.currency} for ${clientName(dep.client_id)}`}
                            >
                              Confirm
                            </button>
                            <button
                              type="button"
                              onClick={() => setDeciding({ deposit: dep, status: 'rejected' })}
                              aria-label={`Reject deposit of ${dep.amount} ${dep.currency} for ${clientName(dep.client_id)}`}
                            >
                              Reject
                            </button>
                          </div>
                        ) : null}
                      </td>
                    </tr>
                  ))}
                </tbody>
              </Table>
            )}
            <DepositForm clients={d.shown.map((x) => x.client)} machines={d.machines} onDone={data.reload} />
          </section>
        </>
      ) : null}
      {deciding ? (
        <ConfirmDialog
          title={`${deciding.status === 'confirmed' ? 'Confirm' : 'Reject'} deposit`}
          confirmLabel={deciding.status === 'confirmed' ? 'Confirm deposit' : 'Reject deposit'}
          danger={deciding.status === 'rejected'}
          onConfirm={decide}
          onClose={() => setDeciding(null)}
        >
          <p>
            {fiat(deciding.deposit.amount, deciding.deposit.currency)} from{' '}
            <strong>{clientName(deciding.deposit.client_id)}</strong> at{' '}
            {machineName(deciding.deposit.machine_id)}.
          </p>
          {deciding.status === 'confirmed' ? (
            <p>
              Once confirmed it counts towards the LP's balance (cash-outs at this machine spend it) and can
              never be deleted.
            </p>
          ) : (
            <p>A rejected deposit never counts towards the LP's balance.</p>
          )}
        </ConfirmDialog>
      ) : null}
    </Page>
  );
}
