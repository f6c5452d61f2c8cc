import { purgeObserved, recordObserved, wasObserved } from '../../src/db/lnbits';
import { freshDatabase } from '../helpers/stack';

/** The observer's memory of reported payments is bounded: old rows go, rows a poll may still rescan stay. */
describe('LNbits observer store', () => {
  let db: Awaited<ReturnType<typeof freshDatabase>>;
  beforeAll(async () => {
    db = await freshDatabase();
  });
  afterAll(async () => db.close());

  const hash = (n: number) => n.toString(16).padStart(64, '0');
  const report = async (wallet: string, n: number, daysAgo: number) => {
    await recordObserved(db.pool, {
      wallet_id: wallet,
      payment_hash: hash(n),
      direction: 'incoming',
      amount_sats: n,
    });
    await db.pool.query(
      `UPDATE satmachine.lnbits_observed_payments SET reported_at = now() - make_interval(days => $3)
        WHERE wallet_id = $1 AND payment_hash = $2`,
      [wallet, hash(n), daysAgo],
    );
  };
  const cursor = (wallet: string, daysAgo: number) =>
    db.pool.query(
      `INSERT INTO satmachine.lnbits_observer_cursors (wallet_id, updated_to) VALUES ($1, now() - make_interval(days => $2))`,
      [wallet, daysAgo],
    );

  it('purges only payments older than the retention and a day behind their wallet cursor', async () => {
    await cursor('w-current', 0);
    await report('w-current', 1, 30); // old: goes
    await report('w-current', 2, 6); // younger than 7 days: stays
    await cursor('w-stalled', 20); // observer of this wallet was down for 20 days
    await report('w-stalled', 3, 30); // a day and more behind its cursor: goes
    await report('w-stalled', 4, 20); // next to its cursor, a poll may rescan it: stays
    await report('w-no-cursor', 5, 30); // never polled: stays

    expect(await purgeObserved(db.pool, 7)).toBe(2);
    const left = async (wallet: string, n: number) => wasObserved(db.pool, wallet, hash(n), 'incoming');
    expect(await left('w-current', 1)).toBe(false);
    expect(await left('w-current', 2)).toBe(true);
    expect(await left('w-stalled', 3)).toBe(false);
    expect(await left('w-stalled', 4)).toBe(true);
    expect(await left('w-no-cursor', 5)).toBe(true);
    expect(await purgeObserved(db.pool, 7)).toBe(0);
  });
});
