import { createActivities } from '../../src/activities';
import { settlementWorkflowId } from '../../src/contract';
import { operatorClientBalance } from '../../src/db/lpBalances';
import { PaymentAmbiguousError, type PaymentBackend } from '../../src/payments/backend';
import { SecretBox } from '../../src/security/secretBox';
import {
  createLp,
  createMachine,
  ledgerFor,
  type Machine,
  type Operator,
  createSuperAndOperator,
} from '../helpers/fixtures';
import { expectBalancesReconciled } from '../helpers/balances';
import { awaitStatus, legsOf, sendSettlement } from '../helpers/settle';
import { freshDatabase, temporalClient, testLogger, testWorker, TEST_SECRET_KEY } from '../helpers/stack';

/**
 * The operator actions' activities run again whenever the worker that ran them died
 * before the workflow recorded their result. A second run must answer the same and
 * change nothing; a leg whose payment may still be in flight is never given up.
 * The settlements are made by the real workflow, which is then terminated so the
 * activities can be driven directly.
 */
describe('operator action activities: safe to run again, never give up an in-flight payment', () => {
  let db: Awaited<ReturnType<typeof freshDatabase>>;
  let temporal: Awaited<ReturnType<typeof temporalClient>>;
  let worker: { stop: () => Promise<void> };
  let taskQueue: string;
  let operator: Operator;
  /** legs whose payment the backend reports as still in flight */
  const inFlight = new Set<string>();
  let activities: ReturnType<typeof createActivities>;

  beforeAll(async () => {
    db = await freshDatabase();
    temporal = await temporalClient();
    const w = await testWorker({ pool: db.pool });
    taskQueue = w.taskQueue;
    worker = w.start();
    operator = await createSuperAndOperator(db.pool, { name: 'op' });
    const ledger = ledgerFor(db.pool);
    // the real ledger, except that some legs' payments are still in flight
    const payments: PaymentBackend = Object.assign(Object.create(ledger) as PaymentBackend, {
      lookupPayment: async (key: string) => {
        if (inFlight.has(key)) throw new PaymentAmbiguousError(`payment of ${key} is still in flight`);
        return ledger.lookupPayment(key);
      },
    });
    activities = createActivities({
      pool: db.pool,
      payments,
      secretBox: new SecretBox(TEST_SECRET_KEY),
      logger: testLogger,
    });
  });
  afterAll(async () => {
    await worker.stop();
    await temporal.close();
    await db.close();
  });

  /** A cash-out made by the workflow up to `status`, then left to the test. */
  const settlementAt = async (machine: Machine, status: 'errored' | 'processing') => {
    const hash = await sendSettlement(db.pool, temporal.client, taskQueue, machine, operator, {
      wireSats: 105_000,
      feeSats: 5_000,
      fiat: '100.00',
    });
    const s = await awaitStatus(db.pool, hash, [status]);
    if (status === 'processing') {
      // planned and holding: wait for the legs
      for (let i = 0; i < 100 && (await legsOf(db.pool, s.id)).length === 0; i++)
        await new Promise((r) => setTimeout(r, 100));
    }
    await temporal.client.workflow.getHandle(settlementWorkflowId(hash)).terminate('driven by the test');
    return s;
  };
  const notesOf = async (id: string) =>
    (await db.pool.query('SELECT notes FROM satmachine.dca_settlements WHERE id = $1', [id])).rows[0]
      .notes as string;

  it('retry: a second run answers the same and creates no more legs', async () => {
    const machine = await createMachine(db.pool, operator, { name: 'retry twice' });
    const lp = await createLp(db.pool, machine, { name: 'no wallet yet', depositCents: 50_000 });
    await db.pool.query(`UPDATE satmachine.dca_lp SET dca_wallet_id = 'laterwallet0002' WHERE user_id = $1`, [
      lp.userId,
    ]);
    const s = await settlementAt(machine, 'errored');
    const first = await activities.prepareRetry({
      settlement_id: s.id,
      user_id: operator.id,
      page_size: 250,
    });
    const legs = await legsOf(db.pool, s.id);
    const again = await activities.prepareRetry({
      settlement_id: s.id,
      user_id: operator.id,
      page_size: 250,
    });
    expect(again).toEqual(first);
    expect(first.payable).toBe(1);
    expect(await legsOf(db.pool, s.id)).toEqual(legs);
    expect((await notesOf(s.id)).match(/retry:/g)).toHaveLength(1);
  });

  it('retry refuses while a failed leg may still be paying, and changes nothing', async () => {
    const machine = await createMachine(db.pool, operator, { name: 'retry in flight' });
    const lp = await createLp(db.pool, machine, { name: 'no wallet', depositCents: 50_000 });
    await db.pool.query(`UPDATE satmachine.dca_lp SET dca_wallet_id = 'laterwallet0003' WHERE user_id = $1`, [
      lp.userId,
    ]);
    const s = await settlementAt(machine, 'errored');
    const legs = await legsOf(db.pool, s.id);
    inFlight.add(legs.find((l) => l.status === 'failed')!.id);
    await expect(
      activities.prepareRetry({ settlement_id: s.id, user_id: operator.id, page_size: 250 }),
    ).rejects.toMatchObject({ type: 'PaymentInFlight', nonRetryable: true });
    expect(await legsOf(db.pool, s.id)).toEqual(legs);
    expect(
      (await db.pool.query('SELECT status FROM satmachine.dca_settlements WHERE id = $1', [s.id])).rows[0]
        .status,
    ).toBe('errored');
  });

  it('partial dispense: a second run answers the same and plans nothing more', async () => {
    const machine = await createMachine(db.pool, operator, { name: 'dispense twice', delaySeconds: 3600 });
    await createLp(db.pool, machine, { name: 'lp', depositCents: 50_000 });
    const s = await settlementAt(machine, 'processing');
    const input = {
      settlement_id: s.id,
      fiat_amount_cents: 6_000,
      note: 'jammed',
      user_id: operator.id,
      page_size: 250,
    };
    const first = await activities.applyPartialDispense(input);
    const legs = await legsOf(db.pool, s.id);
    const again = await activities.applyPartialDispense(input);
    expect(again).toEqual(first);
    expect(first).toMatchObject({ status: 'processing', refund_sats: 105_000 - 63_000 });
    expect(await legsOf(db.pool, s.id)).toEqual(legs);
    const live = legs.filter((l) => l.status !== 'voided' && l.status !== 'skipped');
    // the re-planned legs pay exactly what was not refunded: 105_000 − 42_000
    expect(live.reduce((t, l) => t + l.amount_sats, 0)).toBe(63_000);
    expect((await notesOf(s.id)).match(/partial dispense:/g)).toHaveLength(1);
  });

  it('force-reset: a leg whose payment may be in flight stays failed-and-held, a second run changes nothing', async () => {
    const machine = await createMachine(db.pool, operator, { name: 'reset twice', delaySeconds: 3600 });
    const lp = await createLp(db.pool, machine, { name: 'lp', depositCents: 50_000 });
    const s = await settlementAt(machine, 'processing');
    const dca = (await legsOf(db.pool, s.id)).find((l) => l.leg_type === 'dca')!;
    inFlight.add(dca.id);
    const input = {
      payment_hash: s.payment_hash,
      settlement_id: s.id,
      wallet_id: machine.walletId,
      signer_pubkey: null,
      first_seen_at: new Date().toISOString(),
      user_id: operator.id,
    };
    await activities.forceReset(input);
    const legs = await legsOf(db.pool, s.id);
    expect(legs.find((l) => l.id === dca.id)).toMatchObject({ status: 'failed' });
    expect(legs.find((l) => l.id === dca.id)!.error_message).toContain('in flight');
    await activities.forceReset(input);
    expect(await legsOf(db.pool, s.id)).toEqual(legs);
    expect((await notesOf(s.id)).match(/force-reset/g)).toHaveLength(1);
    // the failed dca leg still holds the LP's fiat; a partial dispense must wait for the payment
    const balance = (await operatorClientBalance(db.pool, operator.id, lp.clientId))!;
    expect(Number(balance.pending_fiat)).toBe(Number(dca.amount_fiat));
    expect(Number(balance.remaining_balance)).toBe(500 - Number(dca.amount_fiat));
    await expect(
      activities.applyPartialDispense({
        settlement_id: s.id,
        fiat_amount_cents: 1_000,
        note: 'less',
        user_id: operator.id,
        page_size: 250,
      }),
    ).rejects.toMatchObject({ type: 'PaymentInFlight' });
    expect(await legsOf(db.pool, s.id)).toEqual(legs);
  });

  it('void failed legs: in flight refused and unchanged; a leg paid after all is completed; a second run answers the same', async () => {
    const machine = await createMachine(db.pool, operator, { name: 'void twice' });
    const gone = await createLp(db.pool, machine, { name: 'gone', depositCents: 50_000 });
    const back = await createLp(db.pool, machine, { name: 'paid after all', depositCents: 50_000 });
    await db.pool.query(`UPDATE satmachine.dca_lp SET dca_wallet_id = 'voidwallet0001' WHERE user_id = $1`, [
      gone.userId,
    ]);
    const s = await settlementAt(machine, 'errored');
    const before = await legsOf(db.pool, s.id);
    const failed = before.find((l) => l.status === 'failed')!;
    // a leg recorded failed whose payment was made (an ambiguous failure): found paid, never voided
    const paidAfterAll = before.find((l) => l.client_id === back.clientId && l.status === 'completed')!;
    await db.pool.query(`UPDATE satmachine.dca_payments SET status = 'failed' WHERE id = $1`, [
      paidAfterAll.id,
    ]);
    const input = { settlement_id: s.id, note: 'LP paid by hand', user_id: operator.id };

    inFlight.add(failed.id);
    const held = await legsOf(db.pool, s.id);
    await expect(activities.voidFailedLegs(input)).rejects.toMatchObject({
      type: 'PaymentInFlight',
      nonRetryable: true,
    });
    expect(await legsOf(db.pool, s.id)).toEqual(held);
    inFlight.delete(failed.id);

    const first = await activities.voidFailedLegs(input);
    expect(first).toEqual({ status: 'processed', voided: 1, paid: 1, fiat_released: failed.amount_fiat });
    const legs = await legsOf(db.pool, s.id);
    expect(legs.find((l) => l.id === paidAfterAll.id)).toMatchObject({ status: 'completed' });
    expect(legs.find((l) => l.id === failed.id)).toMatchObject({
      status: 'voided',
      error_message: 'voided by operator: LP paid by hand',
    });
    const again = await activities.voidFailedLegs(input);
    expect(again).toEqual({ ...first, paid: 0 });
    expect(await legsOf(db.pool, s.id)).toEqual(legs);
    expect((await notesOf(s.id)).match(/void failed legs:/g)).toHaveLength(1);
    // the LP's fiat is released to the cent
    const balance = (await operatorClientBalance(db.pool, operator.id, gone.clientId))!;
    expect(balance).toMatchObject({ pending_fiat: '0.00', spent_fiat: '0.00', remaining_balance: '500.00' });
  });

  it('the maintained LP balances equal the formula after every operator action above', async () => {
    await expectBalancesReconciled(db.pool);
  });
});
