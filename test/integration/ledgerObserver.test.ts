import { randomBytes } from 'node:crypto';
import { insertWallet } from '../../src/db/ledger';
import type { ObservedPayment } from '../../src/payments/backend';
import { LedgerBackend } from '../../src/payments/ledger';
import { FORWARD_CONCURRENCY, observeLedgerPayments } from '../../src/payments/ledgerObserver';
import { freshDatabase, testLogger } from '../helpers/stack';

/** A poll that never fires within a test: only LISTEN/NOTIFY can wake the observer. */
const NO_POLL = 3_600_000;

const hash = () => randomBytes(32).toString('hex');

function deferred(): { promise: Promise<void>; resolve: () => void } {
  let resolve!: () => void;
  const promise = new Promise<void>((r) => (resolve = r));
  return { promise, resolve };
}

/** Waits until `ok()` holds (a barrier on a later event), failing after `ms`. */
async function until(ok: () => boolean, what: string, ms = 15_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!ok()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/**
 * The embedded ledger's payment observer (src/payments/ledgerObserver.ts): a
 * notification during a drain is not lost, signals run outside any transaction and
 * in parallel with a bound, and a payment whose mark did not happen is sent again.
 */
describe('ledger payment observer', () => {
  let db: Awaited<ReturnType<typeof freshDatabase>>;
  let ledger: LedgerBackend;
  beforeAll(async () => {
    db = await freshDatabase();
    ledger = new LedgerBackend({ pool: db.pool, logger: testLogger, pollIntervalMs: NO_POLL });
  });
  afterAll(async () => db.close());

  const record = (walletId: string, paymentHash: string) =>
    ledger.recordLightningPayment({
      wallet_id: walletId,
      payment_hash: paymentHash,
      amount_sats: 1,
      direction: 'incoming',
    });

  it('forwards a payment recorded while a drain is under way without waiting for the poll', async () => {
    const w = await insertWallet(db.pool, null, 'during-drain');
    const [a, b] = [hash(), hash()];
    const seen: string[] = [];
    const inA = deferred();
    const releaseA = deferred();
    let notifications = 0;
    const observer = observeLedgerPayments(
      { pool: db.pool, logger: testLogger, pollIntervalMs: NO_POLL, onNotification: () => notifications++ },
      async (p) => {
        if (p.wallet_id !== w.id) return;
        if (p.payment_hash === a) {
          inA.resolve();
          await releaseA.promise; // the drain stays under way until B's notification is in
        }
        seen.push(p.payment_hash);
      },
    );
    try {
      await record(w.id, a);
      await inA.promise; // a drain is forwarding A
      const before = notifications;
      await record(w.id, b);
      await until(() => notifications > before, "B's notification on the observer's connection");
      releaseA.resolve();
      // the poll is an hour away: only the remembered notification can bring B
      await until(() => seen.includes(b), 'B forwarded');
      expect(seen).toEqual([a, b]);
      const { rows } = await db.pool.query<{ n: number }>(
        `SELECT count(*)::int AS n FROM satmachine.ledger_lightning_payments
          WHERE wallet_id = $1 AND forwarded_at IS NOT NULL`,
        [w.id],
      );
      expect(rows[0]!.n).toBe(2);
    } finally {
      releaseA.resolve();
      await observer.stop();
    }
  });

  it(`signals outside any transaction, at most ${FORWARD_CONCURRENCY} at once, and marks every one`, async () => {
    const w = await insertWallet(db.pool, null, 'parallel');
    const hashes = Array.from({ length: FORWARD_CONCURRENCY * 2 + 3 }, hash);
    for (const h of hashes) await record(w.id, h);
    const seen = new Set<string>();
    let inFlight = 0;
    let maxInFlight = 0;
    const full = deferred();
    const release = deferred();
    let rowLockedDuringSignal: boolean | null = null;
    const observer = observeLedgerPayments(
      { pool: db.pool, logger: testLogger, pollIntervalMs: NO_POLL },
      async (p: ObservedPayment) => {
        if (p.wallet_id !== w.id) return;
        inFlight++;
        maxInFlight = Math.max(maxInFlight, inFlight);
        if (inFlight === FORWARD_CONCURRENCY) full.resolve();
        if (rowLockedDuringSignal === null) {
          // another session can lock the row at once: no transaction holds it while we signal
          const c = await db.pool.connect();
          try {
            await c.query('BEGIN');
            await c.query(
              `SELECT 1 FROM satmachine.ledger_lightning_payments
                WHERE wallet_id = $1 AND payment_hash = $2 FOR UPDATE NOWAIT`,
              [p.wallet_id, p.payment_hash],
            );
            rowLockedDuringSignal = false;
          } catch {
            rowLockedDuringSignal = true;
          } finally {
            await c.query('ROLLBACK');
            c.release();
          }
        }
        await release.promise;
        seen.add(p.payment_hash);
        inFlight--;
      },
    );
    try {
      await full.promise; // FORWARD_CONCURRENCY signals under way together
      release.resolve();
      await until(() => seen.size === hashes.length, 'every payment forwarded');
      expect(maxInFlight).toBe(FORWARD_CONCURRENCY);
      expect(rowLockedDuringSignal).toBe(false);
    } finally {
      release.resolve();
      await observer.stop(); // waits for the drain, marks included
    }
    const { rows } = await db.pool.query<{ n: number }>(
      `SELECT count(*)::int AS n FROM satmachine.ledger_lightning_payments
        WHERE wallet_id = $1 AND forwarded_at IS NULL`,
      [w.id],
    );
    expect(rows[0]!.n).toBe(0);
  });

  it('sends a payment again when the observer died between the signal and the mark', async () => {
    const w = await insertWallet(db.pool, null, 'resend');
    const h = hash();
    const deliveries: string[] = [];
    const delivered = deferred();
    // the first observer "crashes" after delivering: its handler delivered, then failed before the mark
    const first = observeLedgerPayments(
      { pool: db.pool, logger: testLogger, pollIntervalMs: NO_POLL },
      async (p) => {
        if (p.wallet_id !== w.id) return;
        deliveries.push(`first:${p.payment_hash}`);
        delivered.resolve();
        throw new Error('process died before the mark');
      },
    );
    await record(w.id, h);
    await delivered.promise;
    await first.stop();
    const { rows } = await db.pool.query<{ forwarded: boolean }>(
      `SELECT forwarded_at IS NOT NULL AS forwarded FROM satmachine.ledger_lightning_payments
        WHERE wallet_id = $1 AND payment_hash = $2`,
      [w.id, h],
    );
    expect(rows[0]!.forwarded).toBe(false);
    // the next process sends it again at start, then marks it
    const second = observeLedgerPayments(
      { pool: db.pool, logger: testLogger, pollIntervalMs: NO_POLL },
      async (p) => {
        if (p.wallet_id === w.id) deliveries.push(`second:${p.payment_hash}`);
      },
    );
    try {
      await until(() => deliveries.includes(`second:${h}`), 'the second delivery');
    } finally {
      await second.stop();
    }
    expect(deliveries[0]).toBe(`first:${h}`);
    const after = await db.pool.query<{ forwarded: boolean }>(
      `SELECT forwarded_at IS NOT NULL AS forwarded FROM satmachine.ledger_lightning_payments
        WHERE wallet_id = $1 AND payment_hash = $2`,
      [w.id, h],
    );
    expect(after.rows[0]!.forwarded).toBe(true);
  });
});
