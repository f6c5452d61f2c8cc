import { useState } from 'react';
import { api, failureOf, ok } from '../api/client';
import { ErrorNotice, Loading, Notice } from '../components/Notice';
import { Page } from '../components/Page';
import { Pager, type PageCursors } from '../components/Pager';
import { Table } from '../components/Table';
import { fiat, rate, sats, short, when } from '../format';
import { useLoad } from '../hooks';
import { legTypeLabel } from '../words';

const PAGE = 25;

/**
 * Downloads the CSV with the Authorization header and saves it from a Blob: the key
 * never goes into a URL.
 */
async function downloadCsv(): Promise<number> {
  const blob = await ok(
    api.GET('/api/v1/lp/payments', { params: { query: { format: 'csv' } }, parseAs: 'blob' }),
  );
  const url = URL.createObjectURL(blob);
  try {
    const a = document.createElement('a');
    a.href = url;
    a.download = `satmachine-payouts-${new Date().toISOString().slice(0, 10)}.csv`;
    document.body.append(a);
    a.click();
    a.remove();
  } finally {
    setTimeout(() => URL.revokeObjectURL(url), 10_000);
  }
  return blob.size;
}

/** The LP's payouts, newest first, a page at a time; all of them as CSV. */
export function LpPayouts() {
  const [cursors, setCursors] = useState<PageCursors>([undefined]);
  const cursor = cursors[cursors.length - 1];
  const data = useLoad(
    () => ok(api.GET('/api/v1/lp/payments', { params: { query: { limit: PAGE, cursor } } })),
    [cursor],
  );
  const [csv, setCsv] = useState<{ ok: boolean; text: string } | null>(null);
  const [busy, setBusy] = useState(false);

  const download = async () => {
    setBusy(true);
    setCsv(null);
    try {
      const size = await downloadCsv();
      setCsv({ ok: true, text: `Downloaded your payouts as CSV (${size.toLocaleString('en-US')} bytes).` });
    } catch (err) {
      setCsv({ ok: false, text: `The CSV could not be downloaded: ${failureOf(err).message}` });
    } finally {
      setBusy(false);
    }
  };

  const items = data.data?.items;
  return (
    <Page title="Payouts" lead="Every completed payout to you: DCA, balance settlements and autoforwards.">
      <div className="toolbar">
        <button type="button" onClick={() => void download()} disabled={busy}>
          {busy ? 'Preparing CSV…' : 'Download CSV (all payouts)'}
        </button>
      </div>
      {csv ? <Notice kind={csv.ok ? 'success' : 'error'}>{csv.text}</Notice> : null}
      <ErrorNotice error={data.error} />
      {!items && data.loading ? <Loading what="payouts" /> : null}
      {items && items.length === 0 ? <p>No payouts yet.</p> : null}
      {items && items.length > 0 ? (
        <Table label="Payouts" cards>
          <thead>
            <tr>
              <th scope="col">Completed</th>
              <th scope="col">Type</th>
              <th scope="col">Machine</th>
              <th scope="col" className="num">
                Sats
              </th>
              <th scope="col" className="num">
                Fiat
              </th>
              <th scope="col" className="num">
                Rate
              </th>
              <th scope="col">To</th>
              <th scope="col">Payment</th>
            </tr>
          </thead>
          <tbody>
            {items.map((p) => (
              <tr key={p.id}>
                <td>{when(p.completed_at)}</td>
                <td title={p.leg_type}>{legTypeLabel(p.leg_type)}</td>
                <td>{p.machine_name}</td>
                <td className="num">{sats(p.amount_sats)}</td>
                <td className="num">{fiat(p.amount_fiat, p.currency)}</td>
                <td className="num">
                  {p.exchange_rate ? `${rate(p.exchange_rate)} sats / ${p.currency ?? 'unit'}` : '–'}
                </td>
                <td>
                  <code>{p.destination ?? '–'}</code>
                </td>
                <td>
                  <code title={p.payment_hash ?? undefined}>{short(p.payment_hash, 12)}</code>
                </td>
              </tr>
            ))}
          </tbody>
        </Table>
      ) : null}
      <Pager
        label="Payout pages"
        cursors={cursors}
        setCursors={setCursors}
        nextCursor={data.data?.next_cursor}
      />
    </Page>
  );
}
