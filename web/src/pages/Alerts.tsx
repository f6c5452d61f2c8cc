import { useEffect, useState, type FormEvent } from 'react';
import { api, failureOf, ok, type GetResult, type PatchBody } from '../api/client';
import { Badge } from '../components/Badge';
import { Field } from '../components/Field';
import { ErrorNotice, formFailureText, Loading, Notice } from '../components/Notice';
import { Page } from '../components/Page';
import { Table } from '../components/Table';
import { ago, short, when } from '../format';
import { useLoad } from '../hooks';
import { Link, navigate, useLocation } from '../router';

type Alert = GetResult<'/api/v1/alerts'>['items'][number];
type AlertDetail = GetResult<'/api/v1/alerts/{id}'>;
type Settings = GetResult<'/api/v1/alerts/settings'>;
type Webhook = GetResult<'/api/v1/alerts/webhooks'>[number];
type Delivery = AlertDetail['deliveries'][number];

const RULE_LABEL: Record<Alert['rule'], string> = {
  settlement_errored: 'Settlement errored',
  settlement_rejected: 'Settlement rejected',
  settlement_stuck: 'Settlement stuck',
  machine_offline: 'Machine offline',
  cassette_low: 'Cassette low',
  fee_mismatch: 'Fee mismatch',
  wallet_low: 'Machine wallet low',
  lp_balance_low: 'LP balance low',
  relay_unreadable: 'Relay unreadable',
  wallet_unreadable: 'Wallet unreadable',
};

function Deliveries({ rows, label }: { rows: Delivery[]; label: string }) {
  if (!rows.length) return <p>No delivery attempts yet.</p>;
  return (
    <Table label={label}>
      <thead>
        <tr>
          <th>When</th>
          <th>Channel</th>
          <th>Event</th>
          <th>Attempt</th>
          <th>Outcome</th>
          <th>Detail</th>
        </tr>
      </thead>
      <tbody>
        {rows.map((d) => (
          <tr key={d.id}>
            <td>
              <time dateTime={d.created_at}>{when(d.created_at)}</time>
            </td>
            <td>{d.channel}</td>
            <td>{d.event}</td>
            <td className="num">{d.attempt}</td>
            <td>
              <Badge status={d.outcome === 'delivered' ? 'completed' : 'failed'} label={d.outcome} />
            </td>
            <td>{[d.http_status ? `HTTP ${d.http_status}` : null, d.error].filter(Boolean).join(' · ')}</td>
          </tr>
        ))}
      </tbody>
    </Table>
  );
}

/** The operator's alerts: open ones first, the history below, each linking to its page. */
export function AlertsPage() {
  const { query } = useLocation();
  const status =
    query.get('status') === 'resolved' ? 'resolved' : query.get('status') === 'open' ? 'open' : '';
  const data = useLoad(
    () => ok(api.GET('/api/v1/alerts', { params: { query: { limit: 200, ...(status ? { status } : {}) } } })),
    [status],
    15_000,
  );
  const items = data.data?.items ?? [];
  return (
    <Page
      title="Alerts"
      lead="Each alert opens once when its condition holds and resolves once when it has been gone for two evaluations (about two minutes). Deliveries go to your webhooks, your Nostr recipient and your e-mail."
    >
      <p>
        <Link to="/alerts/settings">Rules and channels</Link>
      </p>
      <div className="inline-form">
        <Field label="Show">
          {(c) => (
            <select
              {...c}
              value={status}
              onChange={(e) => navigate(e.target.value ? `/alerts?status=${e.target.value}` : '/alerts')}
            >
              <option value="">all alerts</option>
              <option value="open">open only</option>
              <option value="resolved">resolved only</option>
            </select>
          )}
        </Field>
      </div>
      <ErrorNotice error={data.error} />
      {data.loading && !data.data ? <Loading what="alerts" /> : null}
      {data.data && !items.length ? <p>No alerts{status ? ` ${status}` : ''}.</p> : null}
      {items.length ? (
        <Table label="Alerts">
          <thead>
            <tr>
              <th>Status</th>
              <th>Rule</th>
              <th>Summary</th>
              <th>Opened</th>
              <th>Resolved</th>
            </tr>
          </thead>
          <tbody>
            {items.map((a) => (
              <tr key={a.id}>
                <td>
                  <Badge status={a.status === 'open' ? 'errored' : 'processed'} label={a.status} />{' '}
                  {a.severity === 'critical' ? <Badge status="failed" label="critical" /> : null}
                </td>
                <td>{RULE_LABEL[a.rule]}</td>
                <td>
                  <Link to={`/alerts/${a.id}`}>{a.summary}</Link>
                </td>
                <td>
                  <time dateTime={a.opened_at} title={when(a.opened_at)}>
                    {ago(a.opened_at)}
                  </time>
                </td>
                <td>{a.resolved_at ? <time dateTime={a.resolved_at}>{when(a.resolved_at)}</time> : '—'}</td>
              </tr>
            ))}
          </tbody>
        </Table>
      ) : null}
    </Page>
  );
}

/** One alert: what it says, its lifecycle and every delivery attempt. */
export function AlertPage({ id }: { id: string }) {
  const data = useLoad(() => ok(api.GET('/api/v1/alerts/{id}', { params: { path: { id } } })), [id], 10_000);
  const a = data.data;
  return (
    <Page title={a ? RULE_LABEL[a.rule] : 'Alert'}>
      <p>
        <Link to="/alerts">All alerts</Link>
      </p>
      <ErrorNotice error={data.error} />
      {data.loading && !a ? <Loading what="the alert" /> : null}
      {a ? (
        <>
          <p>
            <Badge status={a.status === 'open' ? 'errored' : 'processed'} label={a.status} /> {a.summary}
          </p>
          <dl className="facts">
            <dt>Opened</dt>
            <dd>{when(a.opened_at)}</dd>
            <dt>Last seen</dt>
            <dd>{when(a.last_seen_at)}</dd>
            <dt>Resolved</dt>
            <dd>{a.resolved_at ? when(a.resolved_at) : 'not yet'}</dd>
            <dt>Subject</dt>
            <dd>
              {a.subject_type === 'settlement' ? (
                <Link to={`/settlements/${a.subject_id}`}>settlement {a.subject_id}</Link>
              ) : a.subject_type === 'machine' || a.subject_type === 'wallet' ? (
                <Link to={`/machines/${a.subject_id}`}>machine {a.subject_id}</Link>
              ) : (
                `${a.subject_type} ${a.subject_id}`
              )}
            </dd>
            <dt>Workflow</dt>
            <dd>
              <a href={a.workflow_url} target="_blank" rel="noreferrer">
                alert-{a.id} in the Temporal UI
              </a>
            </dd>
          </dl>
          <h2>Deliveries</h2>
          <Deliveries rows={a.deliveries} label="Delivery attempts" />
        </>
      ) : null}
    </Page>
  );
}

const numberOrNull = (s: string): number | null => (s.trim() === '' ? null : Number(s));

/** Rule thresholds, the DM recipient, the e-mail address and the webhooks. */
export function AlertSettingsPage() {
  const data = useLoad(async () => {
    const [settings, hooks] = await Promise.all([
      ok(api.GET('/api/v1/alerts/settings')),
      ok(api.GET('/api/v1/alerts/webhooks')),
    ]);
    return { settings, hooks };
  }, []);
  return (
    <Page title="Alert rules and channels" lead="Empty thresholds turn their rule off.">
      <p>
        <Link to="/alerts">All alerts</Link>
      </p>
      <ErrorNotice error={data.error} />
      {data.loading && !data.data ? <Loading what="alert settings" /> : null}
      {data.data ? <SettingsForm settings={data.data.settings} onSaved={() => data.reload()} /> : null}
      {data.data ? <Webhooks hooks={data.data.hooks} onChanged={() => data.reload()} /> : null}
    </Page>
  );
}

function SettingsForm({ settings, onSaved }: { settings: Settings; onSaved: () => void }) {
  const text = (v: number | string | null) => (v === null ? '' : String(v));
  const [form, setForm] = useState(() => ({
    offline: text(settings.offline_after_minutes),
    stuck: text(settings.stuck_after_minutes),
    cassette: text(settings.cassette_min_count),
    wallet: text(settings.wallet_min_sats),
    lp: text(settings.lp_remaining_min),
    tolerance: text(settings.fee_mismatch_tolerance_sats),
    recipient: settings.nostr_recipient_pubkey ?? '',
    email: settings.email_to ?? '',
  }));
  const [errors, setErrors] = useState<Record<string, string>>({});
  const [message, setMessage] = useState<{ ok: boolean; text: string } | null>(null);
  const [busy, setBusy] = useState(false);
  useEffect(() => setMessage(null), [form]);
  const set = (k: keyof typeof form) => (e: { target: { value: string } }) =>
    setForm((f) => ({ ...f, [k]: e.target.value }));

  const save = async (e: FormEvent) => {
    e.preventDefault();
    setBusy(true);
    try {
      const body: PatchBody<'/api/v1/alerts/settings'> = {
        offline_after_minutes: numberOrNull(form.offline),
        stuck_after_minutes: numberOrNull(form.stuck) ?? 30,
        cassette_min_count: numberOrNull(form.cassette),
        wallet_min_sats: numberOrNull(form.wallet),
        lp_remaining_min: form.lp.trim() === '' ? null : form.lp.trim(),
        fee_mismatch_tolerance_sats: numberOrNull(form.tolerance),
        nostr_recipient: form.recipient.trim() === '' ? null : form.recipient.trim(),
        email_to: form.email.trim() === '' ? null : form.email.trim(),
      };
      await ok(api.PATCH('/api/v1/alerts/settings', { body }));
      setErrors({});
      setMessage({ ok: true, text: 'Saved. The next evaluation (within a minute) uses these rules.' });
      onSaved();
    } catch (err) {
      const f = failureOf(err);
      setErrors(f.fieldErrors());
      setMessage({ ok: false, text: formFailureText(f) });
    } finally {
      setBusy(false);
    }
  };
  const field = (k: keyof typeof form, name: string, label: string, hint: string) => (
    <Field label={label} hint={hint} error={errors[name]}>
      {(c) => (
        <input
          {...c}
          value={form[k]}
          onChange={set(k)}
          inputMode={k === 'recipient' || k === 'email' || k === 'lp' ? undefined : 'numeric'}
        />
      )}
    </Field>
  );
  return (
    <form onSubmit={(e) => void save(e)} className="stack">
      <h2>Rules</h2>
      {field(
        'offline',
        'offline_after_minutes',
        'Machine offline after (minutes)',
        'no beacon, telemetry or settlement for this long',
      )}
      {field(
        'stuck',
        'stuck_after_minutes',
        'Settlement stuck after (minutes)',
        'pending or paying for this long',
      )}
      {field(
        'cassette',
        'cassette_min_count',
        'Cassette below (bills)',
        'the count the machine reports, else yours',
      )}
      {field('wallet', 'wallet_min_sats', 'Machine wallet below (sats)', 'checked at every evaluation')}
      {field('lp', 'lp_remaining_min', 'LP remaining below (fiat)', 'an LP may set its own threshold')}
      {field(
        'tolerance',
        'fee_mismatch_tolerance_sats',
        'Fee mismatch tolerance (sats)',
        'empty: max(1, 0.1 % of the principal)',
      )}
      <h2>Channels</h2>
      {field(
        'recipient',
        'nostr_recipient',
        'Nostr recipient (npub)',
        `direct messages (NIP-17) signed by your operator key ${short(settings.nostr_sender_pubkey, 12)}`,
      )}
      {field('email', 'email_to', 'E-mail', 'sent when the platform has SMTP configured')}
      {message ? <Notice kind={message.ok ? 'success' : 'error'}>{message.text}</Notice> : null}
      <div className="actions">
        <button type="submit" className="primary" disabled={busy}>
          Save rules and channels
        </button>
      </div>
    </form>
  );
}

function Webhooks({ hooks, onChanged }: { hooks: Webhook[]; onChanged: () => void }) {
  const [url, setUrl] = useState('');
  const [error, setError] = useState<string | null>(null);
  const [secret, setSecret] = useState<string | null>(null);
  const [shown, setShown] = useState<string | null>(null);
  const log = useLoad(
    () =>
      shown
        ? ok(
            api.GET('/api/v1/alerts/webhooks/{id}/deliveries', {
              params: { path: { id: shown }, query: {} },
            }),
          )
        : Promise.resolve([] as Delivery[]),
    [shown],
  );
  const add = async (e: FormEvent) => {
    e.preventDefault();
    setError(null);
    try {
      const created = await ok(api.POST('/api/v1/alerts/webhooks', { body: { url: url.trim() } }));
      setSecret(created.secret);
      setUrl('');
      onChanged();
    } catch (err) {
      const f = failureOf(err);
      setError(f.fieldErrors().url ?? formFailureText(f));
    }
  };
  const toggle = async (h: Webhook) => {
    await ok(
      api.PATCH('/api/v1/alerts/webhooks/{id}', {
        params: { path: { id: h.id } },
        body: { enabled: !h.enabled },
      }),
    );
    onChanged();
  };
  const remove = async (h: Webhook) => {
    await ok(api.DELETE('/api/v1/alerts/webhooks/{id}', { params: { path: { id: h.id } } }));
    onChanged();
  };
  return (
    <section>
      <h2>Webhooks</h2>
      <p>
        Alerts are POSTed as JSON, signed in <code>X-Satmachine-Signature</code> (HMAC-SHA256 of{' '}
        <code>timestamp.body</code> under the secret); failed deliveries are retried with backoff.
      </p>
      {secret ? (
        <Notice kind="success">
          Webhook added. Its secret is shown this once: <code className="wrap">{secret}</code>
        </Notice>
      ) : null}
      {hooks.length ? (
        <Table label="Webhooks">
          <thead>
            <tr>
              <th>URL</th>
              <th>Secret</th>
              <th>Status</th>
              <th>Actions</th>
            </tr>
          </thead>
          <tbody>
            {hooks.map((h) => (
              <tr key={h.id}>
                <td>{h.url}</td>
                <td>
                  <code>…{h.secret_hint}</code>
                </td>
                <td>
                  <Badge status={h.enabled ? 'active' : 'inactive'} label={h.enabled ? 'on' : 'off'} />
                </td>
                <td className="actions">
                  <button type="button" onClick={() => setShown(shown === h.id ? null : h.id)}>
                    {shown === h.id ? 'Hide log' : 'Delivery log'}
                  </button>
                  <button type="button" onClick={() => void toggle(h)}>
                    {h.enabled ? 'Turn off' : 'Turn on'}
                  </button>
                  <button type="button" className="danger" onClick={() => void remove(h)}>
                    Delete
                  </button>
                </td>
              </tr>
            ))}
          </tbody>
        </Table>
      ) : (
        <p>No webhooks yet.</p>
      )}
      {shown ? <Deliveries rows={log.data ?? []} label="Webhook delivery log" /> : null}
      <form onSubmit={(e) => void add(e)} className="inline-form">
        <Field label="Webhook URL" error={error}>
          {(c) => (
            <input
              {...c}
              type="url"
              value={url}
              placeholder="https://hooks.example.com/satmachine"
              onChange={(e) => setUrl(e.target.value)}
            />
          )}
        </Field>
        <button type="submit" className="primary" disabled={!url.trim()}>
          Add webhook
        </button>
      </form>
    </section>
  );
}
