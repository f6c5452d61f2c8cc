import { withTransaction } from '../../src/db/pool';
import { freshDatabase } from '../helpers/stack';

/**
 * Regression (found by postgresOutage.test.ts): a transaction's connection killed by
 * the server between two queries — what a PostgreSQL shutdown does to a payment that
 * holds its leg lock while the ledger pays — made the pooled client emit an unheard
 * 'error' event, an uncaught exception that killed the worker. It must only fail that
 * transaction; the pool keeps serving.
 */
describe('a transaction whose connection the server terminates', () => {
  let db: Awaited<ReturnType<typeof freshDatabase>>;
  beforeAll(async () => {
    db = await freshDatabase();
  });
  afterAll(async () => {
    await db.close();
  });

  it('fails that transaction without an uncaught error, and the pool keeps serving', async () => {
    const uncaught: unknown[] = [];
    const onUncaught = (err: unknown) => uncaught.push(err);
    process.on('uncaughtException', onUncaught);
    try {
      let ended: Promise<void> | undefined;
      await expect(
        withTransaction(db.pool, async (c) => {
          // the barrier: the client's connection has ended, so the FATAL (and the 'error' event it
          // raises on an idle client) has arrived; no listener of ours on 'error' (it would hide the bug)
          ended = new Promise<void>((r) => c.once('end', () => r()));
          const { rows } = await c.query<{ pid: number }>('SELECT pg_backend_pid() AS pid');
          // FATAL 57P01 "terminating connection due to administrator command", as at shutdown
          await db.pool.query('SELECT pg_terminate_backend($1)', [rows[0]!.pid]);
          await ended; // idle in transaction while the FATAL arrives
          await c.query('SELECT 1');
        }),
      ).rejects.toThrow('Client has encountered a connection error and is not queryable');
      await ended;
      expect(uncaught).toEqual([]);
      for (let i = 0; i < 40; i++) {
        const n = await withTransaction(db.pool, async (c) => (await c.query('SELECT 1 AS n')).rows[0].n);
        expect(n).toBe(1);
      }
    } finally {
      process.off('uncaughtException', onUncaught);
    }
  });
});
