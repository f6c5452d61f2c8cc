import { useState, type FormEvent } from 'react';
import { api, failureOf, ok, type GetResult } from '../api/client';
import { Badge } from './Badge';
import { ErrorNotice, Loading, Notice, formFailureText } from './Notice';
import { Table } from './Table';
import { when } from '../format';
import { useLoad } from '../hooks';

type Collection = GetResult<'/api/v1/machines/{id}/cash-collections'>['items'][number];

interface Line {
  denomination: string;
  count: string;
}

const money = (amount: string, code: string) => `${amount} ${code}`;
/** a difference with its sign: + more counted than the settlements say, − less */
const signedMoney = (amount: string, code: string) =>
  money(amount.startsWith('-') || amount === '0.00' ? amount : `+${amount}`, code);

/** One collection's reconciliation: counted against what the settlements of its period say. */
function CollectionResult({ c }: { c: Collection }) {
  return (
    <>
      <p>
        Counted {money(c.counted_total, c.fiat_code)}; the cash-in settlements since{' '}
        {c.period.from ? when(c.period.from) : 'the machine started'} ({c.cash_in_settlements}) say{' '}
        {money(c.expected_total, c.fiat_code)}.{' '}
        {c.differs ? (
          <strong className="warn-text">
            Difference {signedMoney(c.difference_total, c.fiat_code)}: recount, or look for a settlement the
            machine did not report.
          </strong>
        ) : (
          'It matches.'
        )}
      </p>
      {c.differs ? (
        <ul className="compact">
          {c.differences.map((d) => (
            <li key={d}>{d}</li>
          ))}
        </ul>
      ) : null}
    </>
  );
}

/**
 * Cash management on the machine page: what the cash box should hold since the last
 * collection, a form to record a collection (bills counted per denomination) and the
 * collections with their differences flagged.
 */
export function CashPanel({ machineId, fiatCode }: { machineId: string; fiatCode: string }) {
  const path = { params: { path: { id: machineId } } };
  const data = useLoad(async () => {
    const [now, list] = await Promise.all([
      ok(api.GET('/api/v1/machines/{id}/cash', path)),
      ok(api.GET('/api/v1/machines/{id}/cash-collections', path)),
    ]);
    return { now, list: list.items };
  }, [machineId]);
  const [lines, setLines] = useState<Line[] | null>(null);
  const [note, setNote] = useState('');
  const [saving, setSaving] = useState(false);
  const [problem, setProblem] = useState<string | null>(null);
  const [fieldErrors, setFieldErrors] = useState<Record<string, string>>({});
  const [recorded, setRecorded] = useState<Collection | null>(null);

  const now = data.data?.now;
  // the form starts with the denominations the cash box should hold
  const shown: Line[] =
    lines ??
    (now?.cash_box.length ? now.cash_box : [{ denomination: 20 }]).map((b) => ({
      denomination: String(b.denomination),
      count: '',
    }));
  const setLine = (i: number, patch: Partial<Line>) =>
    setLines(shown.map((l, k) => (k === i ? { ...l, ...patch } : l)));

  const submit = async (e: FormEvent) => {
    e.preventDefault();
    setSaving(true);
    setProblem(null);
    setFieldErrors({});
    setRecorded(null);
    const bills = shown
      .filter((l) => l.denomination.trim() !== '' || l.count.trim() !== '')
      .map((l) => ({
        denomination: Number(l.denomination),
        count: Number(l.count.trim() === '' ? NaN : l.count),
      }));
    try {
      const c = await ok(
        api.POST('/api/v1/machines/{id}/cash-collections', {
          ...path,
          body: { bills, ...(note.trim() ? { note: note.trim() } : {}) },
        }),
      );
      setRecorded(c);
      setLines(null);
      setNote('');
      data.reload();
    } catch (err) {
      const f = failureOf(err);
      setFieldErrors(f.fieldErrors());
      setProblem(formFailureText(f));
    } finally {
      setSaving(false);
    }
  };

  return (
    <section aria-labelledby="cash-h">
      <h2 id="cash-h">Cash</h2>
      <ErrorNotice error={data.error} />
      {!data.data && data.loading ? <Loading what="cash" /> : null}
      {now ? (
        <p>
          Since {now.since ? `the last collection (${when(now.since)})` : 'the machine started'}: the cash box
          should hold <strong>{money(now.cash_box_total, fiatCode)}</strong> from {now.cash_in_settlements}{' '}
          cash-in settlement{now.cash_in_settlements === 1 ? '' : 's'}
          {now.cash_box.length
            ? ` (${now.cash_box.map((b) => `${b.count} × ${b.denomination}`).join(', ')})`
            : ''}
          ; the cassettes dispensed {money(now.dispensed_total, fiatCode)}.
        </p>
      ) : null}
      <form onSubmit={(e) => void submit(e)} noValidate aria-labelledby="collect-h">
        <h3 id="collect-h">Record a collection</h3>
        <p className="hint">Count the bills you take out, per denomination ({fiatCode}).</p>
        <Table label="Bills counted">
          <thead>
            <tr>
              <th scope="col">Denomination</th>
              <th scope="col">Bills counted</th>
              <th scope="col">
                <span className="visually-hidden">Remove</span>
              </th>
            </tr>
          </thead>
          <tbody>
            {shown.map((l, i) => {
              const denErr = fieldErrors[`bills.${i}.denomination`];
              const cntErr = fieldErrors[`bills.${i}.count`];
              return (
                <tr key={i}>
                  <td>
                    <label className="visually-hidden" htmlFor={`cash-den-${i}`}>
                      Denomination, line {i + 1}
                    </label>
                    <input
                      id={`cash-den-${i}`}
                      inputMode="numeric"
                      size={6}
                      value={l.denomination}
                      aria-invalid={denErr ? true : undefined}
                      aria-describedby={denErr ? `cash-den-${i}-err` : undefined}
                      onChange={(e) => setLine(i, { denomination: e.target.value })}
                    />
                    {denErr ? (
                      <p className="field-error" id={`cash-den-${i}-err`}>
                        {denErr}
                      </p>
                    ) : null}
                  </td>
                  <td>
                    <label className="visually-hidden" htmlFor={`cash-cnt-${i}`}>
                      Bills counted, line {i + 1}
                    </label>
                    <input
                      id={`cash-cnt-${i}`}
                      inputMode="numeric"
                      size={6}
                      value={l.count}
                      aria-invalid={cntErr ? true : undefined}
                      aria-describedby={cntErr ? `cash-cnt-${i}-err` : undefined}
                      onChange={(e) => setLine(i, { count: e.target.value })}
                    />
                    {cntErr ? (
                      <p className="field-error" id={`cash-cnt-${i}-err`}>
                        {cntErr}
                      </p>
                    ) : null}
                  </td>
                  <td>
                    <button
                      type="button"
                      className="link"
                      onClick={() => setLines(shown.filter((_, k) => k !== i))}
                    >
                      Remove<span className="visually-hidden"> line {i + 1}</span>
                    </button>
                  </td>
                </tr>
              );
            })}
          </tbody>
        </Table>
        <div className="actions">
          <button type="button" onClick={() => setLines([...shown, { denomination: '', count: '' }])}>
            Add a denomination
          </button>
        </div>
        <div className="field">
          <label htmlFor="cash-note">Note (optional)</label>
          <input id="cash-note" value={note} maxLength={1000} onChange={(e) => setNote(e.target.value)} />
        </div>
        <div className="actions">
          <button type="submit" className="primary" disabled={saving}>
            {saving ? 'Recording…' : 'Record collection'}
          </button>
        </div>
      </form>
      {problem ? <Notice kind="error">{problem}</Notice> : null}
      {recorded ? (
        <Notice kind={recorded.differs ? 'warning' : 'success'}>
          <CollectionResult c={recorded} />
        </Notice>
      ) : null}
      {data.data && data.data.list.length > 0 ? (
        <>
          <h3>Collections</h3>
          <Table label="Cash collections">
            <thead>
              <tr>
                <th scope="col">Collected</th>
                <th scope="col">Counted</th>
                <th scope="col">Settlements say</th>
                <th scope="col">Difference</th>
              </tr>
            </thead>
            <tbody>
              {data.data.list.map((c) => (
                <tr key={c.id} className={c.differs ? 'differs' : undefined}>
                  <td>
                    {when(c.collected_at)}
                    {c.note ? <div className="muted">{c.note}</div> : null}
                  </td>
                  <td className="num">{money(c.counted_total, c.fiat_code)}</td>
                  <td className="num">{money(c.expected_total, c.fiat_code)}</td>
                  <td>
                    {c.differs ? (
                      <>
                        <Badge status="errored" label={signedMoney(c.difference_total, c.fiat_code)} />
                        <ul className="compact">
                          {c.differences.map((d) => (
                            <li key={d}>{d}</li>
                          ))}
                        </ul>
                      </>
                    ) : (
                      <span className="muted">matches</span>
                    )}
                  </td>
                </tr>
              ))}
            </tbody>
          </Table>
        </>
      ) : null}
    </section>
  );
}
