import { useState } from 'react';
import { api, failureOf, ok, type Cassette, type PublishAnswer } from '../api/client';
import { Badge } from '../components/Badge';
import { ConfirmDialog } from '../components/ConfirmDialog';
import { ErrorNotice, Loading, Notice } from '../components/Notice';
import { Page } from '../components/Page';
import { Table } from '../components/Table';
import { plural, when } from '../format';
import { useLoad } from '../hooks';
import { Link } from '../router';

/** Pick a machine to see its cassettes. */
export function CassettesIndex() {
  const machines = useLoad(() => ok(api.GET('/api/v1/machines')), []);
  return (
    <Page title="Cassettes" lead="Choose a machine to compare and edit its cassettes.">
      <ErrorNotice error={machines.error} />
      {!machines.data && machines.loading ? <Loading what="machines" /> : null}
      {machines.data?.length === 0 ? <p>No machines yet.</p> : null}
      <ul className="link-list">
        {machines.data?.map((m) => (
          <li key={m.id}>
            <Link to={`/machines/${encodeURIComponent(m.id)}/cassettes`}>{m.name}</Link>
            {m.location ? <span className="muted"> · {m.location}</span> : null}
          </li>
        ))}
      </ul>
    </Page>
  );
}

interface Draft {
  denomination: string;
  count: string;
}

function intOrNull(v: string): number | null {
  return /^\s*\d+\s*$/.test(v) ? Number(v) : null;
}

/**
 * One machine's cassettes: the operator's view next to what the machine reported,
 * differences flagged; edit denominations and counts, then publish to the machine.
 */
export function CassettesPage({ id }: { id: string }) {
  const data = useLoad(async () => {
    const [m, c, cash] = await Promise.all([
      ok(api.GET('/api/v1/machines/{id}', { params: { path: { id } } })),
      ok(api.GET('/api/v1/machines/{id}/cassettes', { params: { path: { id } } })),
      ok(api.GET('/api/v1/machines/{id}/cash', { params: { path: { id } } })),
    ]);
    return { m, c, cash };
  }, [id]);
  const [drafts, setDrafts] = useState<Record<number, Draft>>({});
  const [errors, setErrors] = useState<Record<string, string>>({});
  const [saving, setSaving] = useState(false);
  const [saved, setSaved] = useState<{ ok: boolean; text: string } | null>(null);
  const [publishing, setPublishing] = useState(false);
  const [published, setPublished] = useState<PublishAnswer | null>(null);
  const [publishError, setPublishError] = useState<string | null>(null);

  if (data.error && !data.data) {
    return (
      <Page title="Cassettes">
        <ErrorNotice error={data.error} />
        <p>
          <Link to="/cassettes">Back to the machines</Link>
        </p>
      </Page>
    );
  }
  if (!data.data) {
    return (
      <Page title="Cassettes">
        <Loading what="cassettes" />
      </Page>
    );
  }
  const { m, c, cash } = data.data;
  const forecast = new Map(cash.cassettes.map((f) => [f.position, f]));
  const lasts = (position: number) => {
    const f = forecast.get(position);
    if (!f) return '–';
    if (f.days_until_empty === null) return `no ${f.denomination} dispensed in ${cash.window_days} days`;
    return `${f.days_until_empty} days (${f.bills_per_day} bills of ${f.denomination}/day)`;
  };
  const draftOf = (p: Cassette): Draft =>
    drafts[p.position] ?? { denomination: String(p.denomination), count: String(p.count) };
  const changed = c.positions.filter((p) => {
    const d = draftOf(p);
    return d.denomination !== String(p.denomination) || d.count !== String(p.count);
  });
  const setDraft = (p: Cassette, patch: Partial<Draft>) =>
    setDrafts((all) => ({ ...all, [p.position]: { ...draftOf(p), ...patch } }));

  const save = async () => {
    setSaving(true);
    setSaved(null);
    setPublished(null);
    setPublishError(null);
    const problems: Record<string, string> = {};
    let done = 0;
    for (const p of changed) {
      const d = draftOf(p);
      const denomination = intOrNull(d.denomination);
      const count = intOrNull(d.count);
      if (denomination === null || denomination <= 0)
        problems[`${p.position}.denomination`] = 'A bill value, like 20';
      if (count === null) problems[`${p.position}.count`] = 'A whole number of bills, 0 or more';
      if (denomination === null || denomination <= 0 || count === null) continue;
      const body: { denomination?: number; count?: number } = {};
      if (denomination !== p.denomination) body.denomination = denomination;
      if (count !== p.count) body.count = count;
      try {
        await ok(
          api.PATCH('/api/v1/machines/{id}/cassettes/{position}', {
            params: { path: { id, position: p.position } },
            body,
          }),
        );
        done++;
        setDrafts((all) => {
          const next = { ...all };
          delete next[p.position];
          return next;
        });
      } catch (err) {
        const f = failureOf(err);
        const fields = f.fieldErrors();
        problems[`${p.position}.denomination`] = fields.denomination ?? '';
        problems[`${p.position}.count`] = fields.count ?? '';
        if (!fields.denomination && !fields.count) problems[`${p.position}.count`] = f.message;
      }
    }
    const left = Object.fromEntries(Object.entries(problems).filter(([, v]) => v));
    setErrors(left);
    setSaving(false);
    const refused = new Set(Object.keys(left).map((k) => k.split('.')[0])).size;
    if (done || refused)
      setSaved({
        ok: refused === 0,
        text: [
          done ? `Saved ${plural(done, 'position')}.` : '',
          refused
            ? `${plural(refused, 'position')} not saved: see the message${Object.keys(left).length === 1 ? '' : 's'} in the table.`
            : 'Publish to send the configuration to the machine.',
        ]
          .filter(Boolean)
          .join(' '),
      });
    data.reload();
  };

  const publish = async () => {
    setPublishError(null);
    setSaved(null);
    try {
      setPublished(
        await ok(api.POST('/api/v1/machines/{id}/cassettes/publish', { params: { path: { id } } })),
      );
    } catch (err) {
      setPublished(null);
      setPublishError(failureOf(err).message);
    }
  };

  const errorFor = (position: number, field: keyof Draft) => errors[`${position}.${field}`];
  return (
    <Page title={`Cassettes — ${m.name}`}>
      <p className="subtitle">
        <Link to={`/machines/${encodeURIComponent(m.id)}`}>{m.name}</Link> · bills in {c.fiat_code} ·{' '}
        {c.differs ? (
          <strong className="warn-text">⚠ Your view and the machine's differ</strong>
        ) : (
          'your view matches what the machine reported'
        )}
      </p>
      {c.positions.length === 0 ? (
        <Notice kind="info">
          This machine has reported no cassettes yet: positions come from its state event.
        </Notice>
      ) : (
        <form
          onSubmit={(e) => {
            e.preventDefault();
            void save();
          }}
          noValidate
        >
          <Table label="Cassettes: your view and the machine's">
            <thead>
              <tr>
                <th scope="col">Position</th>
                <th scope="col">Your denomination</th>
                <th scope="col">Your count</th>
                <th scope="col">Machine denomination</th>
                <th scope="col">Machine count</th>
                <th scope="col">Reported</th>
                <th scope="col">Differences</th>
                <th scope="col" title={`at the dispense rate of the last ${cash.window_days} days`}>
                  Days until empty
                </th>
              </tr>
            </thead>
            <tbody>
              {c.positions.map((p) => {
                const d = draftOf(p);
                const denErr = errorFor(p.position, 'denomination');
                const cntErr = errorFor(p.position, 'count');
                return (
                  <tr key={p.position} className={p.differs ? 'differs' : undefined}>
                    <th scope="row">{p.position}</th>
                    <td>
                      <label className="visually-hidden" htmlFor={`den-${p.position}`}>
                        Denomination of position {p.position}
                      </label>
                      <input
                        id={`den-${p.position}`}
                        inputMode="numeric"
                        size={6}
                        value={d.denomination}
                        aria-invalid={denErr ? true : undefined}
                        aria-describedby={denErr ? `den-${p.position}-err` : undefined}
                        onChange={(e) => setDraft(p, { denomination: e.target.value })}
                      />
                      {denErr ? (
                        <p className="field-error" id={`den-${p.position}-err`}>
                          {denErr}
                        </p>
                      ) : null}
                    </td>
                    <td>
                      <label className="visually-hidden" htmlFor={`cnt-${p.position}`}>
                        Count of position {p.position}
                      </label>
                      <input
                        id={`cnt-${p.position}`}
                        inputMode="numeric"
                        size={6}
                        value={d.count}
                        aria-invalid={cntErr ? true : undefined}
                        aria-describedby={cntErr ? `cnt-${p.position}-err` : undefined}
                        onChange={(e) => setDraft(p, { count: e.target.value })}
                      />
                      {cntErr ? (
                        <p className="field-error" id={`cnt-${p.position}-err`}>
                          {cntErr}
                        </p>
                      ) : null}
                    </td>
                    <td className="num">{p.reported.denomination ?? '–'}</td>
                    <td className="num">{p.reported.count ?? '–'}</td>
                    <td>{when(p.reported.at)}</td>
                    <td>
                      {p.differs ? (
                        <>
                          <Badge status="errored" label="differs" />
                          <ul className="compact">
                            {p.differences.map((x) => (
                              <li key={x}>{x}</li>
                            ))}
                          </ul>
                        </>
                      ) : (
                        <span className="muted">same</span>
                      )}
                    </td>
                    <td data-testid={`days-until-empty-${p.position}`}>{lasts(p.position)}</td>
                  </tr>
                );
              })}
            </tbody>
          </Table>
          <div className="actions">
            <button type="submit" className="primary" disabled={saving || changed.length === 0}>
              {saving ? 'Saving…' : `Save changes${changed.length ? ` (${changed.length})` : ''}`}
            </button>
            <button
              type="button"
              onClick={() => setPublishing(true)}
              disabled={changed.length > 0}
              aria-describedby="publish-hint"
            >
              Publish to machine
            </button>
          </div>
          <p className="hint" id="publish-hint">
            {changed.length
              ? 'Save your edits before publishing.'
              : 'Publishing signs every position with your key and sends it, encrypted, to the machine over Nostr.'}
          </p>
        </form>
      )}
      {c.positions.length ? (
        <p className="hint">
          Days until empty: the bills of a denomination in all cassettes over the rate the machine dispensed
          it in the last {cash.window_days} days (cassettes of one denomination empty together).
        </p>
      ) : null}
      {saved ? <Notice kind={saved.ok ? 'success' : 'error'}>{saved.text}</Notice> : null}
      {publishError ? <Notice kind="error">Publishing failed: {publishError}</Notice> : null}
      {published ? (
        <section aria-labelledby="published-h" className="card">
          <h2 id="published-h">Published</h2>
          <p>
            Accepted by {published.accepted_by} of {published.relays.length} relay
            {published.relays.length === 1 ? '' : 's'}. Event{' '}
            <code className="wrap">{published.event_id}</code>
          </p>
          <ul className="compact" aria-label="Relays">
            {published.relays.map((r) => (
              <li key={r.relay}>
                <code>{r.relay}</code>: {r.accepted ? '✓ accepted' : '✗ refused'}
                {r.message ? ` — ${r.message}` : ''}
              </li>
            ))}
          </ul>
        </section>
      ) : null}
      {publishing ? (
        <ConfirmDialog
          title={`Publish cassettes to ${m.name}`}
          confirmLabel="Publish"
          onConfirm={publish}
          onClose={() => setPublishing(false)}
        >
          <p>This configuration is signed with your Nostr key and sent to the machine:</p>
          <ul className="compact">
            {c.positions.map((p) => (
              <li key={p.position}>
                Position {p.position}: {p.count} × {p.denomination} {c.fiat_code}
              </li>
            ))}
          </ul>
          <p className="muted">The machine applies it as its new cassette state.</p>
        </ConfirmDialog>
      ) : null}
    </Page>
  );
}
