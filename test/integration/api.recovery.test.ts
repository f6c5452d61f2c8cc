import type { Client } from '@temporalio/client';
import { settlementWorkflowId } from '../../src/contract';
import { insertWallet } from '../../src/db/ledger';
import type { LegRow } from '../../src/db/legs';
import { SettlementSignals } from '../../src/ingest/settlementSignals';
import { buildSettlementEvent } from '../../src/nostr/codec';
import type { TestApi } from '../helpers/api';
import {
  createLp,
  createMachine,
  createOperator,
  createSuper,
  ledgerFor,
  newPaymentHash,
  settlementContent,
  type Machine,
  type Operator,
  splitAllToNewWallet,
} from '../helpers/fixtures';
import { awaitSettled, awaitStatus, legsOf, sendSettlement, settlementByHash } from '../helpers/settle';
import { eventually } from '../helpers/stack';
import { startTestStack, type TestStack } from '../helpers/testStack';

/**
 * Recovery when the settlement's workflow has closed (terminated by ops, timed out,
 * cancelled): the operator actions of the API start a fresh run for the same payment
 * hash that resumes from the database (docs/settlement.md §7.1). Real Temporal, real
 * PostgreSQL, the real HTTP API; every leg and wallet balance is checked by SQL.
 */
describe('API: recovery of settlements whose workflow has closed', () => {
  let stack: TestStack;
  let db: TestStack['db'];
  let temporal: TestStack['temporal'];
  let taskQueue: string;
  let api: TestApi;
  let operator: Operator;
  let other: Operator;

  beforeAll(async () => {
    stack = await startTestStack();
    ({ db, temporal, taskQueue } = stack);
    api = await stack.startApi();
    await createSuper(db.pool);
    operator = await createOperator(db.pool, 'op');
    other = await createOperator(db.pool, 'other');
    await splitAllToNewWallet(db.pool, operator);
  });
  afterAll(async () => {
    await stack.stop();
  });

  /** The machine's 105,000-sat event and the payment, each signalled again (in this order): what each signal answers. */
  const replayEventAndPayment = (machine: Machine, hash: string) => {
    const signals = new SettlementSignals(temporal.client, taskQueue);
    return {
      atmEvent: () =>
        signals.atmEvent(hash, {
          event: buildSettlementEvent(
            machine.secretHex,
            operator.pubkey,
            settlementContent({ paymentHash: hash, wireSats: 105_000, feeSats: 5_000, fiat: '100.00' }),
          ),
        }),
      paymentObserved: () =>
        signals.paymentObserved({
          wallet_id: machine.walletId,
          payment_hash: hash,
          amount_sats: 105_000,
          direction: 'incoming',
        }),
    };
  };

  const send = (machine: Machine, o: Parameters<typeof sendSettlement>[5]) =>
    sendSettlement(db.pool, temporal.client, taskQueue, machine, operator, o);
  const handleOf = (c: Client, hash: string) => c.workflow.getHandle(settlementWorkflowId(hash));
  const terminate = async (hash: string) => {
    await handleOf(temporal.client, hash).terminate('ops terminated it');
    expect((await handleOf(temporal.client, hash).describe()).status.name).toBe('TERMINATED');
  };
  /**
   * Every run of the settlement's workflow, oldest first, from visibility (which the
   * server updates asynchronously): read once it shows the latest run as describe() does.
   */
  const runsOf = async (hash: string) => {
    const latest = await handleOf(temporal.client, hash).describe();
    return eventually(
      async () => {
        const runs: { runId: string; status: string }[] = [];
        for await (const w of temporal.client.workflow.list({
          query: `WorkflowId = '${settlementWorkflowId(hash)}'`,
        }))
          runs.push({ runId: w.runId, status: w.status.name });
        runs.reverse();
        const last = runs[runs.length - 1];
        return last?.runId === latest.runId && last.status === latest.status.name ? runs : null;
      },
      30_000,
      'visibility to show the latest run',
    );
  };
  const post = (path: string, body: unknown = {}, key = operator.apiKey) =>
    api.call('POST', `/api/v1${path}`, key, body);
  const balanceOf = async (clientId: string, owner: Operator = operator) =>
    (await api.call('GET', `/api/v1/clients/${clientId}/balance`, owner.apiKey)).body;

  /** One ledger transfer per completed leg (none for the others), and each wallet holds what its legs paid. */
  async function expectPaidExactlyOnce(legs: LegRow[], wallets: { walletId: string; clientId: string }[]) {
    const { rows } = await db.pool.query<{ key: string; n: number }>(
      `SELECT idempotency_key AS key, count(*)::int AS n FROM satmachine.ledger_transfers
        WHERE idempotency_key = ANY($1) GROUP BY idempotency_key`,
      [legs.map((l) => l.id)],
    );
    const transfers = new Map(rows.map((r) => [r.key, r.n]));
    for (const l of legs)
      expect([l.id, transfers.get(l.id) ?? 0]).toEqual([l.id, l.status === 'completed' ? 1 : 0]);
    for (const w of wallets) {
      const paid = legs
        .filter((l) => l.client_id === w.clientId && l.status === 'completed')
        .reduce((t, l) => t + l.amount_sats, 0);
      expect((await ledgerFor(db.pool).getWallet(w.walletId))!.balance_sats).toBe(paid);
    }
  }

  /** A cash-out whose LP `late` has no payout wallet yet: its dca leg fails, the settlement is errored. */
  async function erroredSettlement(name: string, walletName: string) {
    const machine = await createMachine(db.pool, operator, { name });
    const late = await createLp(db.pool, machine, { name: `${name} late`, depositCents: 50_000 });
    const fine = await createLp(db.pool, machine, { name: `${name} fine`, depositCents: 50_000 });
    await db.pool.query(`UPDATE satmachine.dca_lp SET dca_wallet_id = $2 WHERE user_id = $1`, [
      late.userId,
      walletName,
    ]);
    const hash = await send(machine, { wireSats: 105_000, feeSats: 5_000, fiat: '100.00' });
    const errored = await awaitStatus(db.pool, hash, ['errored']);
    const legs = await legsOf(db.pool, errored.id);
    const failed = legs.find((l) => l.status === 'failed')!;
    expect(failed).toMatchObject({ client_id: late.clientId, leg_type: 'dca' });
    return { machine, late, fine, hash, errored, legs, failed };
  }

  /**
   * An errored cash-out at a machine with no commission legs where no leg was paid:
   * the platform's wallet was missing when it was planned and the LP has no payout wallet.
   */
  async function noLegPaid(name: string, walletName: string) {
    const owner = await createOperator(db.pool, `${name} owner`);
    const machine = await createMachine(db.pool, owner, { name, cashOutFee: '0' });
    const lp = await createLp(db.pool, machine, { name: `${name} lp`, depositCents: 1_000_000 });
    await db.pool.query(`UPDATE satmachine.dca_lp SET dca_wallet_id = $2 WHERE user_id = $1`, [
      lp.userId,
      walletName,
    ]);
    const { rows } = await db.pool.query<{ super_wallet_id: string }>(
      'SELECT super_wallet_id FROM satmachine.super_config',
    );
    let hash: string;
    await db.pool.query(`UPDATE satmachine.super_config SET super_wallet_id = 'nosuchwallet01'`);
    try {
      hash = await sendSettlement(db.pool, temporal.client, taskQueue, machine, owner, {
        wireSats: 105_000,
        feeSats: 1_050,
        fiat: '100.00',
      });
      await awaitStatus(db.pool, hash, ['errored']);
    } finally {
      await db.pool.query(`UPDATE satmachine.super_config SET super_wallet_id = $1`, [
        rows[0]!.super_wallet_id,
      ]);
    }
    const errored = (await settlementByHash(db.pool, hash))!;
    expect((await legsOf(db.pool, errored.id)).some((l) => l.status === 'completed')).toBe(false);
    return { owner, machine, lp, hash, errored };
  }

  it('terminate, then retry: a fresh run looks the failed leg up, pays it once and ends processed', async () => {
    const { machine, late, fine, hash, errored, legs, failed } = await erroredSettlement(
      'terminated retry',
      'recoverwallet01',
    );
    const completedBefore = legs.filter((l) => l.status === 'completed');
    expect(completedBefore.length).toBeGreaterThan(0);
    // a completed leg whose success was never recorded (an ambiguous failure that did pay):
    // the retry must find it paid at the backend and never pay it again
    const ambiguous = completedBefore.find((l) => l.client_id === fine.clientId)!;
    await db.pool.query(
      `UPDATE satmachine.dca_payments SET status = 'failed', error_message = 'timed out', completed_at = NULL WHERE id = $1`,
      [ambiguous.id],
    );
    await terminate(hash);

    // before the change this was a 409 forever; now the retry starts a new run for the same payment
    const first = await post(`/settlements/${errored.id}/retry`);
    expect(first.status).toBe(200); // the wallet is still missing: the new run retries and errors again
    await awaitStatus(db.pool, hash, ['errored']);
    await insertWallet(db.pool, late.userId, 'created later', 'recoverwallet01');
    const r = await post(`/settlements/${errored.id}/retry`);
    expect(r.status).toBe(200);
    expect(r.body.result.message).toBe('retrying: 1 leg(s) to pay');
    const done = await awaitSettled(db.pool, temporal.client, hash);
    expect(done.status).toBe('processed');

    const runs = await runsOf(hash);
    expect(runs.map((x) => x.status)).toEqual(['TERMINATED', 'COMPLETED']);

    const after = await legsOf(db.pool, done.id);
    expect(after.find((l) => l.id === ambiguous.id)).toMatchObject({ status: 'completed' });
    expect(after.find((l) => l.id === failed.id)!.status).toBe('voided');
    for (const l of completedBefore) expect(after.find((x) => x.id === l.id)!.status).toBe('completed');
    expect(after.filter((l) => l.status === 'pending' || l.status === 'failed')).toEqual([]);
    await expectPaidExactlyOnce(after, [
      { walletId: 'recoverwallet01', clientId: late.clientId },
      { walletId: fine.walletId, clientId: fine.clientId },
    ]);
    expect(await balanceOf(late.clientId)).toMatchObject({
      pending_fiat: '0.00',
      spent_fiat: failed.amount_fiat,
    });

    // the machine replays its event and the backend reports the payment again: nothing is paid twice
    const replay = replayEventAndPayment(machine, hash);
    expect(await replay.atmEvent()).toBe('already_closed');
    expect(await replay.paymentObserved()).toBe('already_closed');
    // the replays started nothing: the terminated run and the one the API started
    expect((await runsOf(hash)).map((x) => x.status)).toEqual(['TERMINATED', 'COMPLETED']);
    await expectPaidExactlyOnce(await legsOf(db.pool, done.id), [
      { walletId: 'recoverwallet01', clientId: late.clientId },
      { walletId: fine.walletId, clientId: fine.clientId },
    ]);
    // a finished settlement still answers 409 and starts nothing
    const late409 = await post(`/settlements/${errored.id}/retry`);
    expect(late409.status).toBe(409);
    expect(late409.body.error.message).toContain('processed');
  });

  it('two retries at once on a closed workflow start one run and pay once', async () => {
    const { late, fine, hash, errored } = await erroredSettlement('twice', 'recoverwallet02');
    await terminate(hash);
    await insertWallet(db.pool, late.userId, 'now', 'recoverwallet02');
    const [a, b] = await Promise.all([
      post(`/settlements/${errored.id}/retry`),
      post(`/settlements/${errored.id}/retry`),
    ]);
    expect([a.status, b.status].sort()).toEqual([200, 409]);
    expect((a.status === 409 ? a : b).body.error.message).toContain('retry refused');
    const done = await awaitSettled(db.pool, temporal.client, hash);
    expect(done.status).toBe('processed');
    expect((await runsOf(hash)).map((x) => x.status)).toEqual(['TERMINATED', 'COMPLETED']);
    const legs = await legsOf(db.pool, done.id);
    expect(legs.filter((l) => l.replaces_leg_id)).toHaveLength(1);
    await expectPaidExactlyOnce(legs, [
      { walletId: 'recoverwallet02', clientId: late.clientId },
      { walletId: fine.walletId, clientId: fine.clientId },
    ]);
  });

  it('a workflow that timed out while errored is retried from the API', async () => {
    const machine = await createMachine(db.pool, operator, { name: 'timed out' });
    const lp = await createLp(db.pool, machine, { name: 'timeout lp', depositCents: 10_000 });
    await db.pool.query(`UPDATE satmachine.dca_lp SET dca_wallet_id = 'recoverwallet03' WHERE user_id = $1`, [
      lp.userId,
    ]);
    // started as the ingest does, but with an execution timeout: it closes while it waits for the operator
    const hash = newPaymentHash();
    const event = buildSettlementEvent(
      machine.secretHex,
      operator.pubkey,
      settlementContent({ paymentHash: hash, wireSats: 10_500, feeSats: 500, fiat: '10.00' }),
    );
    const payment = {
      wallet_id: machine.walletId,
      payment_hash: hash,
      amount_sats: 10_500,
      direction: 'incoming' as const,
    };
    await ledgerFor(db.pool).recordLightningPayment(payment);
    const { atmEventSignal, paymentObservedSignal } = await import('../../src/contract');
    const handle = await temporal.client.workflow.signalWithStart('settlementWorkflow', {
      workflowId: settlementWorkflowId(hash),
      taskQueue,
      args: [{ payment_hash: hash }],
      workflowExecutionTimeout: '6 seconds',
      signal: atmEventSignal,
      signalArgs: [{ event }],
    });
    await handle.signal(paymentObservedSignal, payment);
    const errored = await awaitStatus(db.pool, hash, ['errored']);
    await expect(handle.result()).rejects.toThrow();
    expect((await handle.describe()).status.name).toBe('TIMED_OUT');

    await insertWallet(db.pool, lp.userId, 'now', 'recoverwallet03');
    const r = await post(`/settlements/${errored.id}/retry`);
    expect(r.status).toBe(200);
    const done = await awaitSettled(db.pool, temporal.client, hash);
    expect(done.status).toBe('processed');
    await expectPaidExactlyOnce(await legsOf(db.pool, done.id), [
      { walletId: 'recoverwallet03', clientId: lp.clientId },
    ]);
  });

  it('a cancelled workflow of an errored settlement: partial dispense to 0 refunds it, the LP fiat released', async () => {
    const { owner, lp, hash, errored } = await noLegPaid('cancelled', 'recoverwallet04');
    expect((await balanceOf(lp.clientId, owner)).pending_fiat).toBe('100.00');
    await handleOf(temporal.client, hash).cancel();
    await expect(handleOf(temporal.client, hash).result()).rejects.toThrow();
    expect((await handleOf(temporal.client, hash).describe()).status.name).toBe('CANCELLED');
    const r = await post(
      `/settlements/${errored.id}/partial-dispense`,
      { fiat_amount: 0, note: 'nothing came out' },
      owner.apiKey,
    );
    expect(r.status).toBe(200);
    expect(r.body.settlement).toMatchObject({ status: 'refunded', wire_sats: 0, refund_sats: 105_000 });
    expect((await awaitSettled(db.pool, temporal.client, hash)).status).toBe('refunded');
    const legs = await legsOf(db.pool, errored.id);
    expect(legs.every((l) => l.status === 'voided')).toBe(true);
    await expectPaidExactlyOnce(legs, []);
    expect(await balanceOf(lp.clientId, owner)).toMatchObject({
      pending_fiat: '0.00',
      spent_fiat: '0.00',
      remaining_balance: '10000.00',
    });
  });

  it('terminate in the hold window, then partial dispense: the fresh run pays the new legs, partial', async () => {
    const machine = await createMachine(db.pool, operator, { name: 'hold then gone', delaySeconds: 600 });
    const lp = await createLp(db.pool, machine, { name: 'hold lp', depositCents: 1_000_000 });
    const hash = await send(machine, { wireSats: 210_000, feeSats: 10_000, fiat: '200.00' });
    const holding = await eventually(async () => {
      const s = await settlementByHash(db.pool, hash);
      return s && s.status === 'processing' && (await legsOf(db.pool, s.id)).length ? s : null;
    });
    await terminate(hash);
    const r = await post(`/settlements/${holding.id}/partial-dispense`, {
      fiat_amount: '150.00',
      note: 'cassette 2 jammed',
    });
    expect(r.status).toBe(200);
    expect(r.body.settlement).toMatchObject({
      wire_sats: 157_500,
      fiat_amount: '150.00',
      refund_sats: 52_500,
    });
    const done = await awaitSettled(db.pool, temporal.client, hash);
    expect(done.status).toBe('partial');
    const legs = await legsOf(db.pool, done.id);
    const live = legs.filter((l) => l.status !== 'voided');
    expect(live.reduce((t, l) => t + l.amount_sats, 0)).toBe(157_500);
    expect(live.find((l) => l.client_id === lp.clientId)!.amount_fiat).toBe('150.00');
    await expectPaidExactlyOnce(legs, [{ walletId: lp.walletId, clientId: lp.clientId }]);
  });

  it('terminate, then partial dispense of an errored settlement with no leg paid', async () => {
    const { owner, lp, hash, errored } = await noLegPaid('errored pd', 'recoverwallet06');
    // the LP's fiat stays held by the failed dca leg
    expect((await balanceOf(lp.clientId, owner)).pending_fiat).toBe('100.00');
    await terminate(hash);
    await insertWallet(db.pool, lp.userId, 'now', 'recoverwallet06');
    const r = await post(
      `/settlements/${errored.id}/partial-dispense`,
      { fiat_amount: '40.00', note: 'only two bills' },
      owner.apiKey,
    );
    expect(r.status).toBe(200);
    expect(r.body.settlement).toMatchObject({ fiat_amount: '40.00', wire_sats: 42_000, refund_sats: 63_000 });
    const done = await awaitSettled(db.pool, temporal.client, hash);
    expect(done.status).toBe('partial');
    const legs = await legsOf(db.pool, done.id);
    expect(legs.filter((l) => l.status === 'pending' || l.status === 'failed')).toEqual([]);
    await expectPaidExactlyOnce(legs, [{ walletId: 'recoverwallet06', clientId: lp.clientId }]);
    expect(await balanceOf(lp.clientId, owner)).toMatchObject({ spent_fiat: '40.00', pending_fiat: '0.00' });
  });

  it('force-reset of a terminated stuck settlement: legs looked up, errored; retry then pays the rest once', async () => {
    const machine = await createMachine(db.pool, operator, { name: 'stuck gone', delaySeconds: 600 });
    const a = await createLp(db.pool, machine, { name: 'stuck a', depositCents: 100_000 });
    const b = await createLp(db.pool, machine, { name: 'stuck b', depositCents: 100_000 });
    const hash = await send(machine, { wireSats: 210_000, feeSats: 10_000, fiat: '200.00' });
    const s = await eventually(async () => {
      const row = await settlementByHash(db.pool, hash);
      return row && row.status === 'processing' && (await legsOf(db.pool, row.id)).length ? row : null;
    });
    await terminate(hash);
    // as if the terminated run had been paying for an hour: one dca leg paid at the backend, not yet recorded
    await db.pool.query(
      `UPDATE satmachine.dca_settlements SET processing_started_at = now() - interval '1 hour' WHERE id = $1`,
      [s.id],
    );
    const legs = await legsOf(db.pool, s.id);
    const paidLeg = legs.find((l) => l.client_id === a.clientId && l.leg_type === 'dca')!;
    await ledgerFor(db.pool).payWallet({
      idempotencyKey: paidLeg.id,
      fromWalletId: paidLeg.source_wallet_id!,
      toWalletId: paidLeg.destination_wallet_id!,
      amountSats: paidLeg.amount_sats,
      memo: 'paid by the run that was terminated',
    });
    // payments may be in flight: the amounts cannot change before a force-reset
    const pd = await post(`/settlements/${s.id}/partial-dispense`, { fiat_amount: '1', note: 'x' });
    expect(pd.status).toBe(409);
    expect(pd.body.error.message).toContain('payments are in flight');
    expect((await post(`/settlements/${s.id}/retry`)).status).toBe(409);

    const r = await post(`/settlements/${s.id}/force-reset`);
    expect(r.status).toBe(200);
    expect(r.body.settlement).toMatchObject({
      status: 'errored',
      error_message: 'force-reset by operator (was stuck)',
    });
    const reset = await legsOf(db.pool, s.id);
    expect(reset.find((l) => l.id === paidLeg.id)!.status).toBe('completed');
    expect(reset.filter((l) => l.status === 'pending')).toEqual([]);

    const retried = await post(`/settlements/${s.id}/retry`);
    expect(retried.status).toBe(200);
    const done = await awaitSettled(db.pool, temporal.client, hash);
    expect(done.status).toBe('processed');
    await expectPaidExactlyOnce(await legsOf(db.pool, s.id), [
      { walletId: a.walletId, clientId: a.clientId },
      { walletId: b.walletId, clientId: b.clientId },
    ]);
  });

  it('a note on a settlement whose workflow has closed is written to the row', async () => {
    const { hash, errored } = await erroredSettlement('noted', 'recoverwallet08');
    await terminate(hash);
    const r = await post(`/settlements/${errored.id}/notes`, { text: 'called the LP' });
    expect(r.status).toBe(201);
    expect(r.body.notes).toMatch(/\] called the LP$/);
    // no workflow was started for it
    expect((await runsOf(hash)).map((x) => x.status)).toEqual(['TERMINATED']);
  });

  it("a note on a settlement whose workflow runs is the workflow's addNote Update", async () => {
    const { hash, errored } = await erroredSettlement('noted live', 'recoverwallet14');
    const r = await post(`/settlements/${errored.id}/notes`, { text: '  asked the LP for a wallet  ' });
    expect(r.status).toBe(201);
    expect((r.body.notes as string).split('\n\n')[0]).toMatch(
      new RegExp(
        `^\\[\\d{4}-\\d\\d-\\d\\dT\\d\\d:\\d\\d:\\d\\dZ by ${operator.id}\\] asked the LP for a wallet$`,
      ),
    );
    // the running workflow recorded the Update (and its arguments) in its history; no other run exists
    const history = await handleOf(temporal.client, hash).fetchHistory();
    const accepted = (history.events ?? []).filter((e) => e.workflowExecutionUpdateAcceptedEventAttributes);
    expect(
      accepted.map((e) => e.workflowExecutionUpdateAcceptedEventAttributes!.acceptedRequest!.input!.name),
    ).toEqual(['addNote']);
    expect((await runsOf(hash)).map((x) => x.status)).toEqual(['RUNNING']);
    // a blank note and another tenant's note change nothing: the row still holds one note
    expect((await post(`/settlements/${errored.id}/notes`, { text: '   ' })).status).toBe(422);
    expect((await post(`/settlements/${errored.id}/notes`, { text: 'x' }, other.apiKey)).status).toBe(404);
    const after = await settlementByHash(db.pool, hash);
    expect(after!.notes!.split('\n\n').filter((n) => n.includes('asked the LP'))).toHaveLength(1);
    expect(after!.notes).not.toMatch(/\] x$/m);
  });

  it('voiding the failed dca legs of an abandoned settlement releases the LP fiat exactly and ends it', async () => {
    const { late, fine, hash, errored, failed } = await erroredSettlement('abandoned', 'recoverwallet09');
    const held = await balanceOf(late.clientId);
    expect(held).toMatchObject({ pending_fiat: failed.amount_fiat, spent_fiat: '0.00' });
    await terminate(hash);

    expect((await post(`/settlements/${errored.id}/void-failed-legs`, { note: '' })).status).toBe(422);
    expect((await post(`/settlements/${errored.id}/void-failed-legs`, {})).status).toBe(422);
    expect(
      (await post(`/settlements/${errored.id}/void-failed-legs`, { note: 'x' }, other.apiKey)).status,
    ).toBe(404);
    const r = await post(`/settlements/${errored.id}/void-failed-legs`, { note: 'LP paid by hand' });
    expect(r.status).toBe(200);
    expect(r.body.result.message).toBe(
      `1 failed leg(s) voided (LP fiat released: ${failed.amount_fiat}); settlement processed`,
    );
    expect(r.body.settlement.status).toBe('processed');
    expect(r.body.settlement.notes).toContain('void failed legs: 1 voided');
    const done = await awaitSettled(db.pool, temporal.client, hash);
    expect(done.status).toBe('processed');
    const legs = await legsOf(db.pool, done.id);
    expect(legs.find((l) => l.id === failed.id)).toMatchObject({
      status: 'voided',
      error_message: 'voided by operator: LP paid by hand',
    });
    // released to the cent: what it held is available again, nothing spent
    const cents = (v: string) => Math.round(Number(v) * 100);
    const after = await balanceOf(late.clientId);
    expect(after).toMatchObject({ pending_fiat: '0.00', spent_fiat: '0.00', remaining_balance: '500.00' });
    expect(cents(after.remaining_balance) - cents(held.remaining_balance)).toBe(cents(failed.amount_fiat));
    await expectPaidExactlyOnce(legs, [{ walletId: fine.walletId, clientId: fine.clientId }]);
    // final: no other action, no second void
    const again = await post(`/settlements/${errored.id}/void-failed-legs`, { note: 'again' });
    expect(again.status).toBe(409);
    expect((await post(`/settlements/${errored.id}/retry`)).status).toBe(409);
  });

  it('void-failed-legs on a running errored workflow ends it; refused on a settlement that is not errored', async () => {
    const { hash, errored, failed, late } = await erroredSettlement('void running', 'recoverwallet10');
    const r = await post(`/settlements/${errored.id}/void-failed-legs`, { note: 'given up' });
    expect(r.status).toBe(200);
    expect((await awaitSettled(db.pool, temporal.client, hash)).status).toBe('processed');
    expect((await runsOf(hash)).map((x) => x.status)).toEqual(['COMPLETED']);
    expect((await balanceOf(late.clientId)).pending_fiat).toBe('0.00');
    expect(failed.amount_fiat).not.toBe('0.00');

    const machine = await createMachine(db.pool, operator, { name: 'void fine' });
    const fineHash = await send(machine, { wireSats: 10_500, feeSats: 500, fiat: '10.00' });
    const ok = await awaitSettled(db.pool, temporal.client, fineHash);
    const no = await post(`/settlements/${ok.id}/void-failed-legs`, { note: 'x' });
    expect(no.status).toBe(409);
    expect(no.body.error.message).toContain('processed');
  });

  /**
   * A cash-out whose payment was seen but whose ATM event never came: the workflow files
   * a pending row (stuck after 1 s) and keeps waiting. Returns what re-publishes the event.
   */
  async function waitingForEvent(name: string) {
    const machine = await createMachine(db.pool, operator, { name });
    const lp = await createLp(db.pool, machine, { name: `${name} lp`, depositCents: 50_000 });
    const hash = newPaymentHash();
    const payment = {
      wallet_id: machine.walletId,
      payment_hash: hash,
      amount_sats: 105_000,
      direction: 'incoming' as const,
    };
    await ledgerFor(db.pool).recordLightningPayment(payment);
    const signals = new SettlementSignals(temporal.client, taskQueue, 1000);
    expect(await signals.paymentObserved(payment)).toBe('signalled');
    const row = await awaitStatus(db.pool, hash, ['pending']);
    expect(row.wire_sats).toBeNull();
    const event = buildSettlementEvent(
      machine.secretHex,
      operator.pubkey,
      settlementContent({ paymentHash: hash, wireSats: 105_000, feeSats: 5_000, fiat: '100.00' }),
    );
    const republish = async () => {
      const ingest = new SettlementSignals(temporal.client, taskQueue);
      return [await ingest.atmEvent(hash, { event }), await ingest.paymentObserved(payment)];
    };
    return { machine, lp, hash, row, republish };
  }

  it('closed while waiting for its signals: retry starts a run that waits again; the re-published event and payment settle it, paid once', async () => {
    const { lp, hash, row, republish } = await waitingForEvent('closed wait retry');
    await terminate(hash);
    const r = await post(`/settlements/${row.id}/retry`);
    expect(r.status).toBe(200);
    expect(r.body.result.message).toBe('waiting again for the missing signal');
    expect(r.body.settlement).toMatchObject({
      status: 'pending',
      error_message: 'waiting again for the missing signal (retried by operator; its workflow had closed)',
    });
    expect(r.body.settlement.notes).toContain('retry: waiting again for the missing signal');
    // a second retry while the resumed run waits is refused: it waits, it is not errored
    const again = await post(`/settlements/${row.id}/retry`);
    expect(again.status).toBe(409);
    expect(again.body.error.message).toContain('only an errored settlement can be retried');
    // the ingest's signalWithStart reaches the resumed run (REJECT_DUPLICATE starts nothing)
    expect(await republish()).toEqual(['signalled', 'signalled']);
    const done = await awaitSettled(db.pool, temporal.client, hash);
    expect(done).toMatchObject({ status: 'processed', wire_sats: 105_000 });
    const legs = await legsOf(db.pool, done.id);
    expect(legs.length).toBeGreaterThan(0);
    expect(legs.every((l) => l.status === 'completed')).toBe(true);
    await expectPaidExactlyOnce(legs, [{ walletId: lp.walletId, clientId: lp.clientId }]);
    expect((await runsOf(hash)).map((x) => x.status)).toEqual(['TERMINATED', 'COMPLETED']);
    // replayed once more after it settled: the closed workflow is never started again
    expect(await republish()).toEqual(['already_closed', 'already_closed']);
  });

  it('force-reset while waiting, then the workflow closed: retry waits again (errored → pending) and settles', async () => {
    const { hash, row, republish } = await waitingForEvent('closed wait reset');
    const reset = await post(`/settlements/${row.id}/force-reset`);
    expect(reset.status).toBe(200);
    expect(reset.body.settlement.status).toBe('errored');
    await terminate(hash);
    // force-reset of the resumed waiting run says what to do instead
    const fr = await post(`/settlements/${row.id}/force-reset`);
    expect(fr.status).toBe(409);
    const r = await post(`/settlements/${row.id}/retry`);
    expect(r.status).toBe(200);
    expect(r.body.settlement.status).toBe('pending');
    expect(await republish()).toEqual(['signalled', 'signalled']);
    expect((await awaitSettled(db.pool, temporal.client, hash)).status).toBe('processed');
  });

  it('close of a settlement still waiting for its signals: rejected for good; a replayed event and payment, even in a fresh run, pay nothing', async () => {
    const { hash, row, republish } = await waitingForEvent('close running');
    // a blank note is refused by the schema
    expect((await post(`/settlements/${row.id}/close`, { note: '  ' })).status).toBe(422);
    // another operator's settlement is a 404
    expect((await post(`/settlements/${row.id}/close`, { note: 'x' }, other.apiKey)).status).toBe(404);
    const r = await post(`/settlements/${row.id}/close`, { note: 'customer never charged (ticket 42)' });
    expect(r.status).toBe(200);
    expect(r.body.settlement).toMatchObject({
      status: 'rejected',
      error_message: 'closed by operator: customer never charged (ticket 42)',
    });
    expect(r.body.settlement.notes).toMatch(
      /by [A-Za-z0-9_-]+\] close: customer never charged \(ticket 42\)/,
    );
    expect(await handleOf(temporal.client, hash).result()).toMatchObject({
      status: 'rejected',
      reason: 'closed by operator: customer never charged (ticket 42)',
    });
    // the ingest cannot start it again
    expect(await republish()).toEqual(['already_closed', 'already_closed']);
    // every action is refused on it now
    for (const [path, body] of [
      ['retry', {}],
      ['force-reset', {}],
      ['close', { note: 'again' }],
    ] as const) {
      const no = await post(`/settlements/${row.id}/${path}`, body);
      expect([path, no.status]).toEqual([path, 409]);
    }
    // even once Temporal has forgotten the workflow (retention), a fresh run finds the row final
    await temporal.client.workflowService.deleteWorkflowExecution({
      namespace: temporal.client.options.namespace,
      workflowExecution: { workflowId: settlementWorkflowId(hash) },
    });
    await eventually(
      async () => ((await republish()).includes('signalled') ? true : null),
      // the server deletes in the background (a deletion task): on a loaded box it took over 30 s
      120_000,
      'the deleted workflow to be gone',
    );
    // the deletion may have completed between the two signals: both reach the fresh run (idempotent)
    await republish();
    expect(await handleOf(temporal.client, hash).result()).toMatchObject({ status: 'rejected' });
    const after = (await settlementByHash(db.pool, hash))!;
    expect(after).toMatchObject({
      status: 'rejected',
      wire_sats: null,
      error_message: 'closed by operator: customer never charged (ticket 42)',
    });
    expect(await legsOf(db.pool, row.id)).toEqual([]);
  }, 240_000);

  it('close of a settlement whose workflow closed while it waited (errored by force-reset): a resumed run closes it', async () => {
    const { hash, row, republish } = await waitingForEvent('close closed');
    expect((await post(`/settlements/${row.id}/force-reset`)).status).toBe(200);
    await terminate(hash);
    const r = await post(`/settlements/${row.id}/close`, { note: 'no cash was dispensed' });
    expect(r.status).toBe(200);
    expect(r.body.result.message).toBe('closed: settlement rejected for good (nothing was planned or paid)');
    expect(r.body.settlement).toMatchObject({
      status: 'rejected',
      error_message: 'closed by operator: no cash was dispensed',
    });
    expect(await handleOf(temporal.client, hash).result()).toMatchObject({ status: 'rejected' });
    expect((await runsOf(hash)).map((x) => x.status)).toEqual(['TERMINATED', 'COMPLETED']);
    expect(await republish()).toEqual(['already_closed', 'already_closed']);
    expect(await legsOf(db.pool, row.id)).toEqual([]);
  });

  it('close is refused (409) on a settlement with amounts or legs, running workflow or closed', async () => {
    const { errored, hash } = await erroredSettlement('close refused', 'recoverwallet20');
    const running = await post(`/settlements/${errored.id}/close`, { note: 'x' });
    expect(running.status).toBe(409);
    expect(running.body.error.message).toContain("the settlement has the ATM event's amounts and");
    await terminate(hash);
    const closed = await post(`/settlements/${errored.id}/close`, { note: 'x' });
    expect(closed.status).toBe(409);
    expect((await settlementByHash(db.pool, hash))!.status).toBe('errored');
    // no run was started for the refusal
    expect((await runsOf(hash)).map((x) => x.status)).toEqual(['TERMINATED']);
  });

  it('retry of every errored settlement also reaches those whose workflow has closed', async () => {
    const { late, hash, errored } = await erroredSettlement('bulk closed', 'recoverwallet11');
    await terminate(hash);
    await insertWallet(db.pool, late.userId, 'now', 'recoverwallet11');
    const r = await post('/settlements/retry-errored', { machine_id: errored.machine_id });
    expect(r.status).toBe(200);
    expect(r.body.results).toEqual([
      { settlement_id: errored.id, outcome: 'retried', message: 'retrying: 1 leg(s) to pay' },
    ]);
    expect((await awaitSettled(db.pool, temporal.client, hash)).status).toBe('processed');
  });

  it('a replayed ATM event and payment while a resumed run waits change nothing', async () => {
    const { machine, hash, errored, fine, late } = await erroredSettlement('replayed', 'recoverwallet12');
    await terminate(hash);
    // the first retry starts a resumed run; the wallet is missing, so it errors again and waits
    expect((await post(`/settlements/${errored.id}/retry`)).status).toBe(200);
    await eventually(async () => {
      const d = await handleOf(temporal.client, hash).describe();
      const s = await settlementByHash(db.pool, hash);
      return d.status.name === 'RUNNING' && s!.status === 'errored';
    });
    const replay = replayEventAndPayment(machine, hash);
    expect(await replay.atmEvent()).toBe('signalled');
    expect(await replay.paymentObserved()).toBe('signalled');
    await insertWallet(db.pool, late.userId, 'now', 'recoverwallet12');
    // the retry is handled after the two signals (a barrier): they changed nothing
    expect((await post(`/settlements/${errored.id}/retry`)).status).toBe(200);
    const done = await awaitSettled(db.pool, temporal.client, hash);
    expect(done.status).toBe('processed');
    await expectPaidExactlyOnce(await legsOf(db.pool, done.id), [
      { walletId: 'recoverwallet12', clientId: late.clientId },
      { walletId: fine.walletId, clientId: fine.clientId },
    ]);
  });
});
