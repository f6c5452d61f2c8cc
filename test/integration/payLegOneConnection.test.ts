import { getTransferByKey, insertWallet, ledgerInvariantViolations } from '../../src/db/ledger';
import { createPool, type Pool } from '../../src/db/pool';
import { LedgerBackend } from '../../src/payments/ledger';
import { createLp, createMachine, type Operator, createSuperAndOperator } from '../helpers/fixtures';
import { settlementPayLegRuns } from '../helpers/legHistory';
import { awaitSettled, legsOf, sendSettlement } from '../helpers/settle';
import { freshDatabase, temporalClient, testLogger, testWorker } from '../helpers/stack';

/**
 * payLeg holds one connection: the leg lock and the ledger transfer share it (src/activities/payments.ts,
 * src/db/ledger.ts). With the old hold-and-wait (the leg's connection held while the transfer waited for a
 * second), a pool of one could never pay: every attempt timed out waiting for the pool.
 */
describe('payLeg with one connection', () => {
  let db: Awaited<ReturnType<typeof freshDatabase>>;
  let temporal: Awaited<ReturnType<typeof temporalClient>>;
  let operator: Operator;

  beforeAll(async () => {
    db = await freshDatabase();
    temporal = await temporalClient();
    operator = await createSuperAndOperator(db.pool, {
      split: { walletName: 'operator', fraction: '1.000000', label: 'owner' },
    });
  });
  afterAll(async () => {
    await temporal.close();
    await db.close();
  });

  const tinyPool = (max: number): Pool =>
    createPool({ connectionString: db.url, max, applicationName: 'satmachine-test-tiny' });

  it('a ledger payment made on the caller’s connection commits or rolls back with the caller’s transaction', async () => {
    const pool = tinyPool(1);
    try {
      const ledger = new LedgerBackend({ pool, logger: testLogger });
      const a = await insertWallet(pool, null, 'a');
      const b = await insertWallet(pool, null, 'b');
      await ledger.fund(a.id, 1_000, 'fund-one-connection');
      const req = {
        idempotencyKey: 'leg-x',
        fromWalletId: a.id,
        toWalletId: b.id,
        amountSats: 250,
        memo: 'm',
      };

      // the pool's only connection holds a transaction; the payment runs on it (no second one exists)
      const client = await pool.connect();
      try {
        await client.query('BEGIN');
        const paid = await ledger.payWallet({ ...req, db: client });
        expect(paid.amountSats).toBe(250);
        expect(await ledger.lookupPayment('leg-x', client)).toEqual(paid);
        await client.query('ROLLBACK');
      } finally {
        client.release();
      }
      // rolled back with the caller: nothing moved, the key is free
      expect(await getTransferByKey(db.pool, 'leg-x')).toBeNull();
      expect((await ledger.getWallet(a.id))!.balance_sats).toBe(1_000);

      const again = await pool.connect();
      let first;
      try {
        await again.query('BEGIN');
        first = await ledger.payWallet({ ...req, db: again });
        await again.query('COMMIT');
      } finally {
        again.release();
      }
      // committed with the caller; the same key later (a retried activity) replays and moves nothing
      expect(await ledger.payWallet(req)).toEqual(first);
      expect((await ledger.getWallet(a.id))!.balance_sats).toBe(750);
      expect((await ledger.getWallet(b.id))!.balance_sats).toBe(250);
      expect(await ledgerInvariantViolations(db.pool)).toEqual([]);
    } finally {
      await pool.end();
    }
  });

  /** The attempt of every payLeg in a settlement's history (a local activity's marker, or a normal activity's start). */
  async function payLegAttempts(hash: string): Promise<number[]> {
    return (await settlementPayLegRuns(temporal.client, hash)).map((r) => r.attempt);
  }

  it('a worker whose pool has one connection settles a transaction, every leg paid on its first attempt', async () => {
    const pool = tinyPool(1);
    const ledger = new LedgerBackend({ pool, logger: testLogger });
    const w = await testWorker({ pool, payments: ledger });
    const running = w.start();
    try {
      const machine = await createMachine(db.pool, operator, { name: 'pool of one' });
      await createLp(db.pool, machine, { name: 'alice', depositCents: 10_000 });
      await createLp(db.pool, machine, { name: 'bob', depositCents: 5_000 });
      const hash = await sendSettlement(db.pool, temporal.client, w.taskQueue, machine, operator, {
        wireSats: 90_000,
        feeSats: 4_000,
        fiat: '60.00',
      });
      const s = await awaitSettled(db.pool, temporal.client, hash);
      expect(s.status).toBe('processed');
      const legs = await legsOf(db.pool, s.id);
      expect(legs.length).toBeGreaterThan(2);
      expect(legs.every((l) => l.status === 'completed')).toBe(true);
      const attempts = await payLegAttempts(hash);
      expect(attempts.length).toBe(legs.length);
      expect(attempts.every((a) => a === 1)).toBe(true);
      expect(await ledgerInvariantViolations(db.pool)).toEqual([]);
    } finally {
      await running.stop();
      await pool.end();
    }
  });

  it('concurrent settlements on a worker with a pool of two all settle (no hold-and-wait deadlock)', async () => {
    const pool = tinyPool(2);
    const ledger = new LedgerBackend({ pool, logger: testLogger });
    const w = await testWorker({ pool, payments: ledger });
    const running = w.start();
    try {
      const hashes: string[] = [];
      for (let i = 0; i < 4; i++) {
        const machine = await createMachine(db.pool, operator, { name: `busy ${i}` });
        for (let j = 0; j < 3; j++)
          await createLp(db.pool, machine, { name: `lp ${i}.${j}`, depositCents: 3_000 });
        hashes.push(
          await sendSettlement(db.pool, temporal.client, w.taskQueue, machine, operator, {
            wireSats: 50_000,
            feeSats: 2_500,
            fiat: '30.00',
          }),
        );
      }
      const settled = await Promise.all(hashes.map((h) => awaitSettled(db.pool, temporal.client, h)));
      expect(settled.map((s) => s.status)).toEqual(hashes.map(() => 'processed'));
      for (const h of hashes) expect((await payLegAttempts(h)).every((a) => a === 1)).toBe(true);
      expect(await ledgerInvariantViolations(db.pool)).toEqual([]);
    } finally {
      await running.stop();
      await pool.end();
    }
  });
});
