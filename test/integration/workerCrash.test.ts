import { ledgerInvariantViolations } from '../../src/db/ledger';
import {
  createLp,
  createMachine,
  ledgerFor,
  type Operator,
  createSuperAndOperator,
} from '../helpers/fixtures';
import { spawnSatmachine } from '../helpers/processes';
import { awaitSettled, legsOf, sendSettlement, settlementByHash } from '../helpers/settle';
import { eventually, freshDatabase, temporalClient, uniqueTaskQueue } from '../helpers/stack';

/** kill -9 of the worker process while it pays legs: every leg is paid exactly once. */
describe('a worker killed in the middle of paying legs', () => {
  let db: Awaited<ReturnType<typeof freshDatabase>>;
  let temporal: Awaited<ReturnType<typeof temporalClient>>;
  let operator: Operator;
  const taskQueue = uniqueTaskQueue('crash');

  beforeAll(async () => {
    db = await freshDatabase();
    temporal = await temporalClient();
    operator = await createSuperAndOperator(db.pool);
  });
  afterAll(async () => {
    await temporal.close();
    await db.close();
  });

  it('restarts and finishes: no leg paid twice, sats conserved, ledger balanced', async () => {
    const machine = await createMachine(db.pool, operator, { name: 'crashy' });
    const lps = [];
    for (let i = 0; i < 300; i++)
      lps.push(await createLp(db.pool, machine, { name: `lp${i}`, depositCents: 1_000 + i * 7 }));
    const first = spawnSatmachine('worker', { databaseUrl: db.url, taskQueue });
    await first.waitFor('worker running');
    const wire = 3_150_000;
    const hash = await sendSettlement(db.pool, temporal.client, taskQueue, machine, operator, {
      wireSats: wire,
      feeSats: 150_000,
      fiat: '3000.00',
    });
    // kill -9 as soon as some legs are paid and others are not
    const s = await eventually(() => settlementByHash(db.pool, hash), 30_000);
    const killedAt = await eventually(
      async () => {
        const { rows } = await db.pool.query<{ done: number; open: number }>(
          `SELECT count(*) FILTER (WHERE status = 'completed')::int AS done, count(*) FILTER (WHERE status = 'pending')::int AS open
             FROM satmachine.dca_payments WHERE settlement_id = $1`,
          [s.id],
        );
        return rows[0]!.done > 0 && rows[0]!.open > 0 ? rows[0] : null;
      },
      30_000,
      'some legs paid',
    );
    await first.kill('SIGKILL');
    expect(killedAt.open).toBeGreaterThan(0);

    const second = spawnSatmachine('worker', { databaseUrl: db.url, taskQueue });
    try {
      await second.waitFor('worker running');
      const done = await awaitSettled(db.pool, temporal.client, hash, 120_000);
      expect(done.status).toBe('processed');
    } finally {
      await second.kill('SIGTERM');
    }
    const legs = await legsOf(db.pool, s.id);
    expect(legs.every((l) => l.status === 'completed' || l.status === 'skipped')).toBe(true);
    // exactly one ledger transfer per completed leg, and none for the others
    const { rows: transfers } = await db.pool.query<{ key: string; n: number }>(
      `SELECT idempotency_key AS key, count(*)::int AS n FROM satmachine.ledger_transfers
        WHERE idempotency_key = ANY($1) GROUP BY idempotency_key`,
      [legs.map((l) => l.id)],
    );
    expect(transfers.every((t) => t.n === 1)).toBe(true);
    expect(transfers.length).toBe(legs.filter((l) => l.status === 'completed').length);
    const paid = legs.filter((l) => l.status === 'completed').reduce((a, l) => a + l.amount_sats, 0);
    expect(paid + legs.filter((l) => l.status === 'skipped').reduce((a, l) => a + l.amount_sats, 0)).toBe(
      wire,
    );
    expect((await ledgerFor(db.pool).getWallet(machine.walletId))!.balance_sats).toBe(wire - paid);
    for (const lp of lps.slice(0, 20)) {
      const leg = legs.find((l) => l.client_id === lp.clientId && l.leg_type === 'dca');
      expect((await ledgerFor(db.pool).getWallet(lp.walletId))!.balance_sats).toBe(
        leg?.status === 'completed' ? leg.amount_sats : 0,
      );
    }
    expect(await ledgerInvariantViolations(db.pool)).toEqual([]);
    // the fan-out went through child workflows (300 LPs > one page)
    const { executions } = await (async () => {
      const list: string[] = [];
      for await (const w of temporal.client.workflow.list({
        query: `WorkflowId STARTS_WITH "settlement-${hash}-round"`,
      }))
        list.push(w.workflowId);
      return { executions: list };
    })();
    expect(executions.length).toBeGreaterThanOrEqual(2);
  });
});
