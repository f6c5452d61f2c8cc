import { randomBytes } from 'node:crypto';
import type { WorkflowHandle } from '@temporalio/client';
import { newId } from '../../src/db/ids';
import { evaluateNowUpdate, type EvaluationSummary } from '../../src/workflows/alerts/definitions';
import { startAlertEvaluator, stopAlertEvaluator } from '../helpers/alertEvaluator';
import { startApi, type TestApi } from '../helpers/api';
import {
  createLp,
  createMachine,
  createOperator,
  ledgerFor,
  type Machine,
  type Operator,
} from '../helpers/fixtures';
import { freePort } from '../helpers/ports';
import { freshDatabase, temporalClient, testWorker } from '../helpers/stack';

/**
 * Every rule of docs/alerts.md §1 on the real stack: the condition set up in PostgreSQL
 * (or a relay that does not answer), one `evaluateNow` (a barrier) opens exactly the
 * expected alert, and the condition removed resolves it at the second evaluation.
 * No channel is configured: this is about detection.
 */
describe('alert rules: each condition opens its alert, and its end resolves it', () => {
  let db: Awaited<ReturnType<typeof freshDatabase>>;
  let temporal: Awaited<ReturnType<typeof temporalClient>>;
  let api: TestApi;
  let worker: { stop: () => Promise<void> };
  let evaluator: WorkflowHandle;
  let op: Operator;
  let machine: Machine;
  let deadRelay: string;

  const evaluate = (): Promise<EvaluationSummary> => evaluator.executeUpdate(evaluateNowUpdate);
  const openKeys = async () =>
    (
      await db.pool.query<{ alert_key: string }>(
        `SELECT alert_key FROM satmachine.alerts WHERE status = 'open' AND operator_user_id = $1 ORDER BY alert_key`,
        [op.id],
      )
    ).rows.map((r) => r.alert_key);
  /** the open alert of `key` after one evaluation; its condition removed, resolved after two */
  async function opensThenResolves(key: string, remove: () => Promise<void>) {
    await evaluate();
    expect(await openKeys()).toContain(key);
    await remove();
    await evaluate();
    expect(await openKeys()).toContain(key); // gone for one evaluation: still open
    await evaluate();
    expect(await openKeys()).not.toContain(key);
    const { rows } = await db.pool.query(
      `SELECT status FROM satmachine.alerts WHERE operator_user_id = $1 AND alert_key = $2`,
      [op.id, key],
    );
    expect(rows).toEqual([{ status: 'resolved' }]);
  }

  beforeAll(async () => {
    db = await freshDatabase();
    temporal = await temporalClient();
    deadRelay = `ws://127.0.0.1:${await freePort()}`; // nothing listens there
    const w = await testWorker({
      pool: db.pool,
      alerts: { relays: [deadRelay], webhookAllowLoopback: false, relayProbeTimeoutMs: 1_000 },
    });
    worker = w.start();
    api = await startApi({ pool: db.pool, temporal: temporal.client });
    op = await createOperator(db.pool, 'rules operator');
    machine = await createMachine(db.pool, op, { name: 'rules atm', fundSats: 5_000 });
    // seen now: not offline for the default 15 minutes
    await db.pool.query(
      `INSERT INTO satmachine.dca_telemetry (machine_id, beacon_received_at) VALUES ($1, now())`,
      [machine.row.id],
    );
    evaluator = await startAlertEvaluator(temporal.client, w.taskQueue);
    await evaluate();
  });

  afterAll(async () => {
    await stopAlertEvaluator(evaluator);
    await worker?.stop();
    await api?.close();
    await temporal?.close();
    await db?.close();
  });

  it('a relay that cannot be read opens one alert per operator; turning the rule off resolves it', async () => {
    const summary = await evaluate();
    expect(summary.unreadable_relays).toEqual([deadRelay]);
    expect(await openKeys()).toEqual([`relay_unreadable:${deadRelay}`]);
    await opensThenResolves(`relay_unreadable:${deadRelay}`, async () => {
      const r = await api.call('PATCH', '/api/v1/alerts/settings', op.apiKey, { unreadable_alerts: false });
      expect(r.status).toBe(200);
    });
  });

  it('machine wallet below its minimum (ledger balance), resolved when funded', async () => {
    await api.call('PATCH', '/api/v1/alerts/settings', op.apiKey, { wallet_min_sats: 10_000 });
    await opensThenResolves(`wallet_low:${machine.row.id}`, async () => {
      await ledgerFor(db.pool).fund(machine.walletId, 6_000, `topup-${newId()}`);
    });
  });

  it("LP remaining below the LP's own threshold (over the operator's), resolved by a deposit", async () => {
    await api.call('PATCH', '/api/v1/alerts/settings', op.apiKey, { lp_remaining_min: '10.00' });
    const lp = await createLp(db.pool, machine, { name: 'alice', depositCents: 2_000 }); // 20.00 left
    await evaluate();
    expect(await openKeys()).not.toContain(`lp_balance_low:${lp.clientId}`); // 20 ≥ the operator's 10
    const own = await api.call('PUT', '/api/v1/lp/alert-settings', lp.apiKey, { remaining_min: '50.00' });
    expect(own.body).toEqual({ remaining_min: '50.00' });
    await opensThenResolves(`lp_balance_low:${lp.clientId}`, () =>
      db.pool
        .query(
          `INSERT INTO satmachine.dca_deposits (id, client_id, machine_id, creator_user_id, amount, currency, status)
           VALUES ($1, $2, $3, $4, '40.00', 'USD', 'confirmed')`,
          [newId(), lp.clientId, machine.row.id, op.id],
        )
        .then(() => undefined),
    );
    // an operator cannot set an LP's threshold, an LP cannot read an operator's settings
    const opTries = await api.call('PUT', '/api/v1/lp/alert-settings', op.apiKey, { remaining_min: '1' });
    const lpTries = await api.call('GET', '/api/v1/alerts/settings', lp.apiKey);
    expect([opTries.status, lpTries.status]).toEqual([404, 404]); // a route of another role does not exist for it
  });

  it('cassette below its count, resolved when refilled', async () => {
    await api.call('PATCH', '/api/v1/alerts/settings', op.apiKey, { cassette_min_count: 20 });
    await db.pool.query(
      `INSERT INTO satmachine.cassette_configs (machine_id, position, denomination, count, state_count)
       VALUES ($1, 2, 20, 100, 5)`,
      [machine.row.id],
    );
    await opensThenResolves(`cassette_low:${machine.row.id}:2`, () =>
      db.pool
        .query(`UPDATE satmachine.cassette_configs SET state_count = 80 WHERE machine_id = $1`, [
          machine.row.id,
        ])
        .then(() => undefined),
    );
  });

  it('fee mismatch over tolerance, stuck and rejected settlements', async () => {
    const settlement = async (status: string, extra: string) => {
      const id = newId();
      await db.pool.query(
        `INSERT INTO satmachine.dca_settlements (id, machine_id, payment_hash, tx_type, wire_sats, fee_sats,
                principal_sats, status ${extra ? `, ${extra.split('=')[0]}` : ''})
         VALUES ($1, $2, $3, 'cash_out', 100000, 5000, 95000, $4 ${extra ? `, ${extra.split('=')[1]}` : ''})`,
        [id, machine.row.id, randomBytes(32).toString('hex'), status],
      );
      return id;
    };
    // tolerance max(1, floor(95000 × 0.001)) = 95: 96 is over it, 95 is not
    const over = await settlement('processed', 'fee_mismatch_sats=96');
    const within = await settlement('processed', 'fee_mismatch_sats=-95');
    const stuck = await settlement('pending', "waiting_since=now() - interval '2 hours'");
    const rejected = await settlement('rejected', '');
    await evaluate();
    const keys = await openKeys();
    expect(keys).toEqual(
      expect.arrayContaining([
        `fee_mismatch:${over}`,
        `settlement_stuck:${stuck}`,
        `settlement_rejected:${rejected}`,
      ]),
    );
    expect(keys).not.toContain(`fee_mismatch:${within}`);
    await opensThenResolves(`settlement_stuck:${stuck}`, () =>
      db.pool
        .query(`UPDATE satmachine.dca_settlements SET status = 'processed' WHERE id = $1`, [stuck])
        .then(() => undefined),
    );
    // the operator's own tolerance
    await api.call('PATCH', '/api/v1/alerts/settings', op.apiKey, { fee_mismatch_tolerance_sats: 100 });
    await evaluate();
    await evaluate();
    expect(await openKeys()).not.toContain(`fee_mismatch:${over}`);
  });
});
