import { useState, type FormEvent } from 'react';
import { api, failureOf, ok, type Client, type Deposit, type Machine } from '../api/client';
import { Badge } from '../components/Badge';
import { ConfirmDialog } from '../components/ConfirmDialog';
import { Field } from '../components/Field';
import { ErrorNotice, formFailureText, Loading, Notice } from '../components/Notice';
import { Page } from '../components/Page';
import { Table } from '../components/Table';
import { fiat, formatCents, parseCents, sats, when } from '../format';
import { useLoad, type Loaded } from '../hooks';
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
      setMessage({ ok: false, text: formFailureText(f, ['user_id', 'username']) });
    } finally {
      setBusy(false);
    }
  };

  return (
    <form onSubmit={(e) => void submit(e)} noValidate className="card">
      <h3>Enrol an LP at a machine</h3>
      <div className="form-grid">
        <Field label="Machine to enrol at" error={errors.machine}>
          {(c) => (
            <select
              {...c}
              value={machine}
              onChange={(e) => {
                setMachine(e.target.value);
                setMessage(null);
              }}
            >
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
            <input
              {...c}
              autoComplete="off"
              value={userId}
              onChange={(e) => {
                setUserId(e.target.value);
                setMessage(null);
              }}
            />
          )}
        </Field>
        <Field label="Display name (optional)" error={errors.username}>
          {(c) => (
            <input
              {...c}
              autoComplete="off"
              value={name}
              onChange={(e) => {
                setName(e.target.value);
                setMessage(null);
              }}
            />
          )}
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

type LpsData = Awaited<ReturnType<typeof loadAll>>;

const lpName = (c: Client) => c.username ?? c.user_id;

function DepositForm({
  clients,
  machines,
  deposits,
  onStart,
  onDone,
}: {
  clients: Client[];
  machines: Machine[];
  /** the deposits listed now: the "recorded" notice lasts while its deposit is still pending */
  deposits: Deposit[];
  onStart: () => void;
  onDone: () => void;
}) {
  const active = clients.filter((c) => c.status === 'active');
  const [chosen, setClientId] = useState(active[0]?.id ?? '');
  // an enrolment that went away (or the first one that arrived) falls back to the first active one
  const clientId = active.some((c) => c.id === chosen) ? chosen : (active[0]?.id ?? '');
  const [amount, setAmount] = useState('');
  const [notes, setNotes] = useState('');
  const [errors, setErrors] = useState<Record<string, string>>({});
  const [recorded, setRecorded] = useState<Deposit | null>(null);
  const [failure, setFailure] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const machineOf = (c: Client) => machines.find((m) => m.id === c.machine_id);
  const edited = () => {
    setRecorded(null);
    setFailure(null);
  };

  const submit = async (e: FormEvent) => {
    e.preventDefault();
    const problems: Record<string, string> = {};
    if (!clientId) problems.client_id = 'Choose the LP';
    const cents = parseCents(amount);
    if (cents === null || cents <= 0n)
      problems.amount = 'An amount above 0 with at most 2 decimals, like 500.00';
    setErrors(problems);
    edited();
    onStart();
    if (Object.keys(problems).length) return;
    const client = active.find((c) => c.id === clientId)!;
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
      setRecorded(d);
      setAmount('');
      setNotes('');
      onDone();
    } catch (err) {
      const f = failureOf(err);
      const fields = f.fieldErrors();
      setErrors(fields);
      setFailure(
        f.status === 409 && /onboard/i.test(f.message)
          ? `${lpName(client)} has not set a payout wallet yet; they do it under Preferences when they sign in.`
          : formFailureText(f, ['client_id', 'amount', 'notes']),
      );
    } finally {
      setBusy(false);
    }
  };

  const selected = active.find((c) => c.id === clientId);
  // true while the deposit it names is still pending (confirmed, rejected or deleted: no longer)
  const stillPending = recorded && deposits.some((d) => d.id === recorded.id && d.status === 'pending');
  return (
    <form onSubmit={(e) => void submit(e)} noValidate className="card">
      <h3>Record a deposit</h3>
      <div className="form-grid">
        <Field label="LP at machine" error={errors.client_id}>
          {(c) => (
            <select
              {...c}
              value={clientId}
              onChange={(e) => {
                setClientId(e.target.value);
                edited();
              }}
            >
              {active.length === 0 ? <option value="">no active enrolment</option> : null}
              {active.map((cl) => (
                <option key={cl.id} value={cl.id}>
                  {lpName(cl)} at {machineOf(cl)?.name ?? cl.machine_id}
                </option>
              ))}
            </select>
          )}
        </Field>
        <Field
          label={`Amount${selected ? ` (${machineOf(selected)?.fiat_code ?? ''})` : ''}`}
          error={errors.amount}
          hint="The currency is the machine's; at most 2 decimals."
        >
          {(c) => (
            <input
              {...c}
              inputMode="decimal"
              autoComplete="off"
              value={amount}
              onChange={(e) => {
                setAmount(e.target.value);
                edited();
              }}
            />
          )}
        </Field>
        <Field label="Notes (optional)" error={errors.notes}>
          {(c) => (
            <input
              {...c}
              autoComplete="off"
              value={notes}
              onChange={(e) => {
                setNotes(e.target.value);
                edited();
              }}
            />
          )}
        </Field>
      </div>
      <div className="actions">
        <button type="submit" className="primary" disabled={busy}>
          Record deposit
        </button>
      </div>
      {stillPending ? (
        <Notice kind="success">
          Recorded {fiat(recorded.amount, recorded.currency)}, pending until you confirm it.
        </Notice>
      ) : null}
      {failure ? <Notice kind="error">{failure}</Notice> : null}
    </form>
  );
}

type Decision = 'confirmed' | 'rejected' | 'deleted';

/** What the operator asked of one deposit or enrolment, and the answer (shown once, where it applies). */
interface Answer {
  where: 'enrolments' | 'deposits';
  ok: boolean;
  text: string;
}

/** The page below the machine filter: a new machine scope starts it afresh (no notice carries over). */
function LpsContent({ machineId, data }: { machineId: string; data: Loaded<LpsData> }) {
  const [deciding, setDeciding] = useState<{ deposit: Deposit; decision: Decision } | null>(null);
  const [toggling, setToggling] = useState<Client | null>(null);
  const [answer, setAnswer] = useState<Answer | null>(null);

  const d = data.data!;
  const machineName = (id: string) => d.machines.find((m) => m.id === id)?.name ?? id;
  const clientName = (id: string) => {
    const c = d.clients.find((x) => x.id === id);
    return c ? lpName(c) : id;
  };

  const decide = async () => {
    if (!deciding) return;
    const { deposit, decision } = deciding;
    const what = `Deposit of ${deposit.amount} ${deposit.currency}`;
    try {
      if (decision === 'deleted') {
        await ok(api.DELETE('/api/v1/deposits/{id}', { params: { path: { id: deposit.id } } }));
      } else {
        await ok(
          api.PUT('/api/v1/deposits/{id}/status', {
            params: { path: { id: deposit.id } },
            body: { status: decision },
          }),
        );
      }
      setAnswer({ where: 'deposits', ok: true, text: `${what} ${decision}.` });
    } catch (err) {
      setAnswer({ where: 'deposits', ok: false, text: `${what}: ${formFailureText(failureOf(err))}` });
    }
    data.reload();
  };

  const toggle = async () => {
    if (!toggling) return;
    const status = toggling.status === 'active' ? 'inactive' : 'active';
    const c = await ok(
      api.PATCH('/api/v1/clients/{id}', { params: { path: { id: toggling.id } }, body: { status } }),
    );
    setAnswer({
      where: 'enrolments',
      ok: true,
      text: `${lpName(c)} is now ${c.status} at ${machineName(c.machine_id)}.`,
    });
    data.reload();
  };

  const depositLabel = (dep: Deposit) =>
    `deposit of ${dep.amount} ${dep.currency} for ${clientName(dep.client_id)}`;
  const shownAnswer = (where: Answer['where']) =>
    answer?.where === where ? <Notice kind={answer.ok ? 'success' : 'error'}>{answer.text}</Notice> : null;

  return (
    <>
      <section>
        <h2>Enrolments</h2>
        {shownAnswer('enrolments')}
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
                <th scope="col">Actions</th>
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
                  <td>
                    <button
                      type="button"
                      onClick={() => {
                        setAnswer(null);
                        setToggling(c);
                      }}
                      aria-label={`${c.status === 'active' ? 'Deactivate' : 'Reactivate'} ${lpName(c)} at ${machineName(c.machine_id)}`}
                    >
                      {c.status === 'active' ? 'Deactivate' : 'Reactivate'}
                    </button>
                  </td>
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
        {shownAnswer('deposits')}
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
                    {dep.status !== 'confirmed' ? (
                      <div className="row-actions">
                        {dep.status === 'pending'
                          ? (['confirmed', 'rejected'] as const).map((decision) => (
                              <button
                                key={decision}
                                type="button"
                                onClick={() => {
                                  setAnswer(null);
                                  setDeciding({ deposit: dep, decision });
                                }}
                                aria-label={`${decision === 'confirmed' ? 'Confirm' : 'Reject'} ${depositLabel(dep)}`}
                              >
                                {decision === 'confirmed' ? 'Confirm' : 'Reject'}
                              </button>
                            ))
                          : null}
                        <button
                          type="button"
                          onClick={() => {
                            setAnswer(null);
                            setDeciding({ deposit: dep, decision: 'deleted' });
                          }}
                          aria-label={`Delete ${depositLabel(dep)}`}
                        >
                          Delete
                        </button>
                      </div>
                    ) : null}
                  </td>
                </tr>
              ))}
            </tbody>
          </Table>
        )}
        <DepositForm
          clients={d.shown.map((x) => x.client)}
          machines={d.machines}
          deposits={d.deposits}
          onStart={() => setAnswer(null)}
          onDone={data.reload}
        />
      </section>
      {deciding ? (
        <ConfirmDialog
          title={`${{ confirmed: 'Confirm', rejected: 'Reject', deleted: 'Delete' }[deciding.decision]} deposit`}
          confirmLabel={`${{ confirmed: 'Confirm', rejected: 'Reject', deleted: 'Delete' }[deciding.decision]} deposit`}
          danger={deciding.decision !== 'confirmed'}
          onConfirm={decide}
          onClose={() => setDeciding(null)}
        >
          <p>
            {fiat(deciding.deposit.amount, deciding.deposit.currency)} from{' '}
            <strong>{clientName(deciding.deposit.client_id)}</strong> at{' '}
            {machineName(deciding.deposit.machine_id)}
            {deciding.deposit.status === 'rejected' ? ' (rejected)' : ''}.
          </p>
          {deciding.decision === 'confirmed' ? (
            <p>
              Once confirmed it counts towards the LP's balance (cash-outs at this machine spend it) and can
              never be deleted.
            </p>
          ) : deciding.decision === 'rejected' ? (
            <p>A rejected deposit never counts towards the LP's balance.</p>
          ) : (
            <p>
              The deposit is removed for good, as if it had never been recorded. It never counted towards the
              LP's balance.
            </p>
          )}
        </ConfirmDialog>
      ) : null}
      {toggling ? (
        <ConfirmDialog
          title={`${toggling.status === 'active' ? 'Deactivate' : 'Reactivate'} ${lpName(toggling)} at ${machineName(toggling.machine_id)}`}
          confirmLabel={toggling.status === 'active' ? 'Deactivate enrolment' : 'Reactivate enrolment'}
          danger={toggling.status === 'active'}
          onConfirm={toggle}
          onClose={() => setToggling(null)}
        >
          {toggling.status === 'active' ? (
            <>
              <p>
                Cash-outs at {machineName(toggling.machine_id)} stop spending {lpName(toggling)}'s balance:
                they receive no new DCA payouts here while the enrolment is inactive.
              </p>
              <p>
                Their deposits, balance and payout history stay; payouts already under way finish. You can
                reactivate the enrolment at any time.
              </p>
            </>
          ) : (
            <p>
              Cash-outs at {machineName(toggling.machine_id)} spend {lpName(toggling)}'s remaining balance
              again, and deposits can be recorded for them.
            </p>
          )}
        </ConfirmDialog>
      ) : null}
    </>
  );
}

/** LP enrolments with their balances, and deposits: record, confirm, reject, delete. */
export function LpsPage() {
  const { query } = useLocation();
  const machineId = query.get('machine') ?? '';
  const data = useLoad(() => loadAll(machineId), [machineId]);
  const d = data.data;

  return (
    <Page title="LPs and deposits">
      <div className="inline-form">
        <Field label="Show machine">
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
      {d ? <LpsContent key={machineId} machineId={machineId} data={data} /> : null}
    </Page>
  );
}
