import { Writable } from 'node:stream';
import pino from 'pino';
import { settlementWorkflowId } from '../../src/contract';
import { SettlementSignals } from '../../src/ingest/settlementSignals';
import { buildSettlementEvent } from '../../src/nostr/codec';
import { ledgerInvariantViolations } from '../../src/db/ledger';
import { LedgerBackend } from '../../src/payments/ledger';
import {
  addDeposit,
  createLp,
  createMachine,
  createOperator,
  createSuper,
  newPaymentHash,
  setDefaultSplits,
  settlementContent,
  type Lp,
  type Machine,
  type Operator,
} from '../helpers/fixtures';
import { reference } from '../helpers/reference';
import { expectBalancesReconciled } from '../helpers/balances';
import { awaitSettled, awaitStatus, legsOf, sendSettlement, settlementByHash } from '../helpers/settle';
import { toNpub } from '../../src/domain/nostrKeys';
import { freshDatabase, temporalClient, testWorker, eventually } from '../helpers/stack';
import { insertWallet } from '../../src/db/ledger';

/** Captures what the worker logs, to check the fee-mismatch WARN line. */
const logLines: Record<string, unknown>[] = [];
const captureLogger = pino(
  { level: 'warn' },
  new Writable({
    write(chunk, _enc, cb) {
      for (const line of String(chunk).split('\n')) if (line.trim()) logLines.push(JSON.parse(line));
      cb();
    },
  }),
);

describe('settlementWorkflow on the real Temporal server and PostgreSQL', () => {
  let db: Awaited<ReturnType<typeof freshDatabase>>;
  let temporal: Awaited<ReturnType<typeof temporalClient>>;
  let worker: { stop: () => Promise<void> };
  let taskQueue: string;
  let sup: Awaited<ReturnType<typeof createSuper>>;
  let operator: Operator;
  let opWallet: string;

  beforeAll(async () => {
    db = await freshDatabase();
    temporal = await temporalClient();
    const w = await testWorker({ pool: db.pool, logger: captureLogger });
    taskQueue = w.taskQueue;
    worker = w.start();
    sup = await createSuper(db.pool);
    operator = await createOperator(db.pool);
    opWallet = (await insertWallet(db.pool, operator.id, 'operator')).id;
    await setDefaultSplits(db.pool, operator, [
      { target: opWallet, fraction: '0.700000', label: 'owner' },
      {
        target: (await insertWallet(db.pool, operator.id, 'partner')).id,
        fraction: '0.300000',
        label: 'partner',
      },
    ]);
  });
  afterAll(async () => {
    await worker.stop();
    await temporal.close();
    await db.close();
  });

  const send = (machine: Machine, o: Parameters<typeof sendSettlement>[5]) =>
    sendSettlement(db.pool, temporal.client, taskQueue, machine, operator, o);

  async function expectConserved(
    settlementId: string,
    txType: 'cash_out' | 'cash_in',
    wire: number,
    fee: number,
  ) {
    const legs = (await legsOf(db.pool, settlementId)).filter(
      (l) => l.status !== 'voided' && l.leg_type !== 'autoforward',
    );
    const total = legs.reduce((a, l) => a + l.amount_sats, 0);
    expect(total).toBe(txType === 'cash_out' ? wire : fee);
    expect(legs.every((l) => l.amount_sats >= 0)).toBe(true);
  }

  it('pays a cash-out to 3 LPs of different balances, exactly as SPEC §4 computes', async () => {
    const machine = await createMachine(db.pool, operator, { name: 'three LPs' });
    const lps: Lp[] = [
      await createLp(db.pool, machine, { name: 'alice', depositCents: 50_000 }),
      await createLp(db.pool, machine, { name: 'bob', depositCents: 30_000 }),
      await createLp(db.pool, machine, { name: 'carol', depositCents: 20_001 }),
    ];
    const wire = 150_000;
    const fee = 7_143;
    const hash = await send(machine, { wireSats: wire, feeSats: fee, fiat: '100.00' });
    const s = await awaitSettled(db.pool, temporal.client, hash);
    expect(s.status).toBe('processed');

    const ref = reference({
      txType: 'cash_out',
      wire: BigInt(wire),
      fee: BigInt(fee),
      fiatCents: 10_000n,
      platformPpm: 10_000n,
      operatorPpm: 40_000n,
      lps: lps.map((l, i) => ({ id: l.clientId, balanceCents: [50_000n, 30_000n, 20_001n][i]! })),
      rules: [
        { fractionPpm: 700_000n, sortOrder: 0 },
        { fractionPpm: 300_000n, sortOrder: 1 },
      ],
    });
    expect(s.principal_sats).toBe(Number(ref.principal));
    expect(s.platform_fee_sats).toBe(Number(ref.platformFee));
    expect(s.operator_fee_sats).toBe(Number(ref.operatorFee));
    expect(s.fee_mismatch_sats).toBe(Number(ref.mismatch));
    const legs = await legsOf(db.pool, s.id);
    expect(legs.every((l) => l.status === 'completed')).toBe(true);
    expect(legs.find((l) => l.leg_type === 'super_fee')!.amount_sats).toBe(Number(ref.superFee));
    for (const d of ref.dca) {
      const leg = legs.find((l) => l.leg_type === 'dca' && l.client_id === d.id)!;
      expect(leg.amount_sats).toBe(Number(d.sats));
      expect(leg.amount_fiat).toBe((Number(d.cents) / 100).toFixed(2));
    }
    expect(legs.filter((l) => l.leg_type === 'operator_split').map((l) => l.amount_sats)).toEqual(
      ref.splits.map(Number),
    );
    await expectConserved(s.id, 'cash_out', wire, fee);
    // the money really moved: each LP wallet holds exactly its dca sats
    const ledger = new LedgerBackend({ pool: db.pool, logger: captureLogger });
    for (const [i, lp] of lps.entries())
      expect((await ledger.getWallet(lp.walletId))!.balance_sats).toBe(Number(ref.dca[i]!.sats));
    expect(await ledgerInvariantViolations(db.pool)).toEqual([]);
  });

  it('settles a cash-in without DCA legs: the fee is split, the legs sum to fee_sats', async () => {
    const machine = await createMachine(db.pool, operator, { name: 'cash-in', fundSats: 1_000_000 });
    await createLp(db.pool, machine, { name: 'dave', depositCents: 10_000 });
    const hash = await send(machine, { txType: 'cash_in', wireSats: 80_000, feeSats: 3_300, fiat: '50.00' });
    const s = await awaitSettled(db.pool, temporal.client, hash);
    expect(s.status).toBe('processed');
    expect(s.principal_sats).toBe(80_000);
    const legs = await legsOf(db.pool, s.id);
    expect(legs.some((l) => l.leg_type === 'dca')).toBe(false);
    expect(legs.find((l) => l.leg_type === 'super_fee')!.amount_sats).toBe(800);
    await expectConserved(s.id, 'cash_in', 80_000, 3_300);
  });

  it('accepts the payment before the event (either order)', async () => {
    const machine = await createMachine(db.pool, operator, { name: 'order' });
    await createLp(db.pool, machine, { name: 'erin', depositCents: 100_000 });
    const hash = await send(machine, {
      wireSats: 21_000,
      feeSats: 1_000,
      fiat: '20.00',
      order: 'payment-first',
    });
    const s = await awaitSettled(db.pool, temporal.client, hash);
    expect(s.status).toBe('processed');
    await expectConserved(s.id, 'cash_out', 21_000, 1_000);
  });

  it('the two signals of a transaction start one workflow task, not two (start delay), in either order', async () => {
    const machine = await createMachine(db.pool, operator, { name: 'one-task' });
    await createLp(db.pool, machine, { name: 'fay', depositCents: 100_000 });
    for (const order of ['event-first', 'payment-first'] as const) {
      const hash = await send(machine, { wireSats: 21_000, feeSats: 1_000, fiat: '20.00', order });
      expect((await awaitSettled(db.pool, temporal.client, hash)).status).toBe('processed');
      const { events } = await temporal.client.workflow.getHandle(settlementWorkflowId(hash)).fetchHistory();
      const types = (events ?? []).map((e) => String(e.eventType));
      const firstTask = types.findIndex((t) => /WORKFLOW_TASK_SCHEDULED|WorkflowTaskScheduled|^5$/.test(t));
      const signalled = types
        .map((t, i) => (/WORKFLOW_EXECUTION_SIGNALED|WorkflowExecutionSignaled|^26$/.test(t) ? i : -1))
        .filter((i) => i >= 0);
      // both signals are in before the first task: the second signalWithStart dispatched it
      expect(signalled.length).toBeGreaterThanOrEqual(2);
      expect(firstTask).toBeGreaterThan(signalled[1]!);
      // and no stuck timer was started while one signal waited for the other
      expect(types.filter((t) => /TIMER_STARTED|TimerStarted|^17$/.test(t))).toEqual([]);
    }
  });

  it("an event signed by another machine's key never rejects: the payment waits for its machine's event", async () => {
    const machine = await createMachine(db.pool, operator, { name: 'forged' });
    const other = await createMachine(db.pool, operator, { name: 'other machine' });
    await createLp(db.pool, machine, { name: 'frank', depositCents: 100_000 });
    const hash = await send(machine, {
      wireSats: 10_000,
      feeSats: 500,
      fiat: '10.00',
      signerSecretHex: other.secretHex,
      stuckAfterMs: 1_500,
    });
    // past the threshold: filed under the machine whose wallet saw the payment, naming the signer seen
    const waiting = await awaitStatus(db.pool, hash, ['pending']);
    expect(waiting.machine_id).toBe(machine.row.id);
    expect(waiting.error_message).toContain('waiting for the ATM event (kind 21000) of the machine');
    expect(waiting.error_message).toContain(`${toNpub(other.pubkey).slice(0, 20)}…`);
    expect(waiting.error_message).not.toContain(other.row.id);
    expect(await legsOf(db.pool, waiting.id)).toEqual([]);
    // the machine's own event arrives: it settles
    await send(machine, { wireSats: 10_000, feeSats: 500, fiat: '10.00', paymentHash: hash });
    const s = await awaitSettled(db.pool, temporal.client, hash);
    expect(s).toMatchObject({ status: 'processed', machine_id: machine.row.id, error_message: null });
    await expectConserved(s.id, 'cash_out', 10_000, 500);
  });

  it("rejects the machine's own event when the payment amount differs, keeping its split for audit", async () => {
    const machine = await createMachine(db.pool, operator, { name: 'amount' });
    const hash = await send(machine, { wireSats: 10_000, feeSats: 500, fiat: '10.00', paymentAmount: 9_999 });
    const s = await awaitSettled(db.pool, temporal.client, hash);
    expect(s.status).toBe('rejected');
    expect(s.error_message).toBe(
      `rejected: payment amount 9999 sats ≠ wire_sats 10000; ATM events received from ${toNpub(machine.pubkey).slice(0, 20)}…`,
    );
    // P = 9,500: platform floor(9,500 × 0.01) = 95, operator floor(9,500 × 0.04) = 380, mismatch 500 − 475
    expect(s).toMatchObject({
      wire_sats: 10_000,
      fee_sats: 500,
      observed_amount_sats: 9_999,
      principal_sats: 9_500,
      platform_fee_sats: 95,
      operator_fee_sats: 380,
      fee_mismatch_sats: 25,
      platform_fee_fraction: '0.010000',
      operator_fee_fraction: '0.040000',
    });
    expect(await legsOf(db.pool, s.id)).toEqual([]);
  });

  it("keeps the event's decrypted content out of the history: processed and rejected alike", async () => {
    const machine = await createMachine(db.pool, operator, { name: 'plaintext' });
    await createLp(db.pool, machine, { name: 'dora', depositCents: 10_000 });
    const cassettes = { '7': { denomination: 50, count: 1234 } };
    const ok = await send(machine, { wireSats: 20_000, feeSats: 1_000, fiat: '20.00', cassettes });
    const bad = await send(machine, {
      wireSats: 20_000,
      feeSats: 1_000,
      fiat: '20.00',
      paymentAmount: 19_999,
    });
    const processed = await awaitSettled(db.pool, temporal.client, ok);
    const rejected = await awaitSettled(db.pool, temporal.client, bad);
    expect([processed.status, rejected.status]).toEqual(['processed', 'rejected']);
    // the rows have everything (opened by the activities) ...
    expect(processed.bitspire_txid).toBe(`tx-${ok.slice(0, 8)}`);
    expect(processed.cassettes_json).toEqual(cassettes);
    expect(rejected.bitspire_txid).toBe(`tx-${bad.slice(0, 8)}`);
    expect(rejected.fee_mismatch_sats).not.toBeNull();
    // ... the histories only the encrypted event and the summary (type and amounts)
    for (const hash of [ok, bad]) {
      const history = await temporal.client.workflow.getHandle(settlementWorkflowId(hash)).fetchHistory();
      // every payload of the history, decoded (the JSON form carries them base64)
      const payloads: string[] = [];
      JSON.stringify(history, (k, v: unknown) => {
        if (v instanceof Uint8Array) payloads.push(Buffer.from(v).toString('utf8'));
        else if (k === 'data' && typeof v === 'string')
          payloads.push(Buffer.from(v, 'base64').toString('utf8'));
        return v;
      });
      const text = payloads.join('\n');
      expect(text).toContain('wire_sats');
      // (no bare digit string: a random id or hash in the history can contain any of them)
      for (const secret of [
        `tx-${hash.slice(0, 8)}`,
        'exchange_rate',
        'bills',
        'denomination',
        '"count":1234',
      ])
        expect(text).not.toContain(secret);
    }
  });

  it('the same event delivered twice makes one settlement whose legs are paid once', async () => {
    const machine = await createMachine(db.pool, operator, { name: 'twice' });
    const lp = await createLp(db.pool, machine, { name: 'gina', depositCents: 100_000 });
    const hash = await send(machine, { wireSats: 30_000, feeSats: 1_500, fiat: '25.00', eventTwice: true });
    await awaitSettled(db.pool, temporal.client, hash);
    // a third delivery after the workflow closed starts nothing (REJECT_DUPLICATE): both signals say so
    const signals = new SettlementSignals(temporal.client, taskQueue);
    const event = buildSettlementEvent(
      machine.secretHex,
      operator.pubkey,
      settlementContent({ paymentHash: hash, wireSats: 30_000, feeSats: 1_500, fiat: '25.00' }),
    );
    expect(await signals.atmEvent(hash, { event })).toBe('already_closed');
    expect(
      await signals.paymentObserved({
        wallet_id: machine.walletId,
        payment_hash: hash,
        amount_sats: 30_000,
        direction: 'incoming',
      }),
    ).toBe('already_closed');
    const { rows } = await db.pool.query(
      'SELECT count(*)::int AS n FROM satmachine.dca_settlements WHERE payment_hash = $1',
      [hash],
    );
    expect(rows[0].n).toBe(1);
    const s = (await settlementByHash(db.pool, hash))!;
    const legs = await legsOf(db.pool, s.id);
    const { rows: transfers } = await db.pool.query(
      'SELECT count(*)::int AS n FROM satmachine.ledger_transfers WHERE idempotency_key = ANY($1)',
      [legs.map((l) => l.id)],
    );
    expect(transfers[0].n).toBe(legs.filter((l) => l.status === 'completed').length);
    const wallet = await new LedgerBackend({ pool: db.pool, logger: captureLogger }).getWallet(lp.walletId);
    expect(wallet!.balance_sats).toBe(legs.find((l) => l.leg_type === 'dca')!.amount_sats);
  });

  it('with an LP pool smaller than the dispense, the uncovered principal joins the operator remainder', async () => {
    const machine = await createMachine(db.pool, operator, { name: 'small pool' });
    const lp = await createLp(db.pool, machine, { name: 'hank', depositCents: 2_500 });
    const hash = await send(machine, { wireSats: 105_000, feeSats: 5_000, fiat: '100.00' });
    const s = await awaitSettled(db.pool, temporal.client, hash);
    const legs = await legsOf(db.pool, s.id);
    const dca = legs.find((l) => l.leg_type === 'dca')!;
    expect(dca.client_id).toBe(lp.clientId);
    expect(dca.amount_fiat).toBe('25.00');
    expect(dca.amount_sats).toBe(25_000); // floor(100,000 × 2,500 / 10,000)
    const splits = legs.filter((l) => l.leg_type === 'operator_split').reduce((a, l) => a + l.amount_sats, 0);
    expect(splits).toBe(5_000 - 1_000 + 75_000);
    await expectConserved(s.id, 'cash_out', 105_000, 5_000);
  });

  it('two settlements on one machine at once never spend the same LP fiat', async () => {
    const machine = await createMachine(db.pool, operator, { name: 'concurrent' });
    const lp = await createLp(db.pool, machine, { name: 'ivy', depositCents: 6_000 });
    const [a, b] = await Promise.all([
      send(machine, { wireSats: 52_500, feeSats: 2_500, fiat: '50.00' }),
      send(machine, { wireSats: 52_500, feeSats: 2_500, fiat: '50.00' }),
    ]);
    await Promise.all([awaitSettled(db.pool, temporal.client, a), awaitSettled(db.pool, temporal.client, b)]);
    const { rows } = await db.pool.query<{ total: string }>(
      `SELECT COALESCE(sum(amount_fiat), 0)::text AS total FROM satmachine.dca_payments
        WHERE client_id = $1 AND leg_type = 'dca' AND status = 'completed'`,
      [lp.clientId],
    );
    expect(rows[0]!.total).toBe('60.00');
  });

  it('an unreachable destination fails its leg, the settlement is errored, the other legs are paid', async () => {
    const machine = await createMachine(db.pool, operator, { name: 'unreachable' });
    const lp = await createLp(db.pool, machine, { name: 'jack', depositCents: 100_000 });
    const ok = await createLp(db.pool, machine, { name: 'kim', depositCents: 100_000 });
    await db.pool.query(`UPDATE satmachine.dca_lp SET dca_wallet_id = 'no-such-wallet' WHERE user_id = $1`, [
      lp.userId,
    ]);
    const hash = await send(machine, { wireSats: 42_000, feeSats: 2_000, fiat: '40.00' });
    const s = await eventually(async () => {
      const row = await settlementByHash(db.pool, hash);
      return row?.status === 'errored' ? row : null;
    });
    const legs = await legsOf(db.pool, s.id);
    const failed = legs.find((l) => l.client_id === lp.clientId)!;
    expect(failed.status).toBe('failed');
    expect(failed.error_message).toContain('no-such-wallet');
    expect(legs.find((l) => l.client_id === ok.clientId)!.status).toBe('completed');
    expect(legs.filter((l) => l.leg_type === 'operator_split').every((l) => l.status === 'completed')).toBe(
      true,
    );
    const state = await temporal.client.workflow.getHandle(settlementWorkflowId(hash)).query('state');
    expect(state).toMatchObject({ phase: 'awaiting_operator', status: 'errored' });
  });

  it('logs the fee-mismatch WARN with every field over tolerance, and nothing under it', async () => {
    const machine = await createMachine(db.pool, operator, { name: 'mismatch' });
    await addDeposit(db.pool, machine, (await createLp(db.pool, machine, { name: 'lee' })).clientId, 100_000);
    logLines.length = 0;
    // P = 100,000: platform 1,000 + operator 4,000 = 5,000 expected; tolerance 100
    const under = await send(machine, { wireSats: 105_080, feeSats: 5_080, fiat: '100.00' });
    await awaitSettled(db.pool, temporal.client, under);
    expect(logLines.filter((l) => String(l.msg).includes('fee mismatch'))).toEqual([]);
    const over = await send(machine, { wireSats: 105_500, feeSats: 5_500, fiat: '100.00' });
    const s = await awaitSettled(db.pool, temporal.client, over);
    expect(s.fee_mismatch_sats).toBe(5_500 - (1_000 + 4_000));
    const warn = logLines.find((l) => String(l.msg).includes('fee mismatch'))!;
    expect(warn).toMatchObject({
      level: 40,
      bitspire_fee_sats: 5_500,
      expected_fee_sats: 5_000,
      delta_sats: 500,
      tolerance_sats: 100,
      principal_sats: 100_000,
      platform_fee_fraction: '0.010000',
      operator_fee_fraction: '0.040000',
      tx_type: 'cash_out',
      // npub1 and the key's first 8 characters (not just npub1 and 3)
      machine_npub_prefix: `npub1${machine.row.machine_npub.slice(5, 13)}`,
    });
    expect(warn.machine_npub_prefix).toHaveLength(13);
    const underRow = (await settlementByHash(db.pool, under))!;
    expect(underRow.fee_mismatch_sats).toBe(80);
  });

  it('the super fee goes to the configured super wallet: exactly the platform fee, in one transfer', async () => {
    const machine = await createMachine(db.pool, operator, { name: 'super fee' });
    // floor(117_285 × 1%) = 1_172 (the fraction is floored, not rounded)
    const hash = await send(machine, { wireSats: 123_457, feeSats: 6_172, fiat: '100.00' });
    const s = await awaitSettled(db.pool, temporal.client, hash);
    expect(s.status).toBe('processed');
    const ref = reference({
      txType: 'cash_out',
      wire: 123_457n,
      fee: 6_172n,
      fiatCents: 10_000n,
      platformPpm: 10_000n,
      operatorPpm: 40_000n,
      lps: [],
      rules: [
        { fractionPpm: 700_000n, sortOrder: 0 },
        { fractionPpm: 300_000n, sortOrder: 1 },
      ],
    });
    expect(ref.superFee).toBe(1_172n);
    const superLegs = (await legsOf(db.pool, s.id)).filter((l) => l.leg_type === 'super_fee');
    expect(superLegs).toHaveLength(1);
    expect(superLegs[0]).toMatchObject({
      destination_wallet_id: sup.walletId,
      amount_sats: Number(ref.superFee),
      status: 'completed',
    });
    // what the super wallet got from this machine's wallet: that leg's transfer, nothing more
    const { rows } = await db.pool.query<{ idempotency_key: string; amount_sats: number }>(
      `SELECT idempotency_key, amount_sats FROM satmachine.ledger_transfers
        WHERE from_wallet_id = $1 AND to_wallet_id = $2`,
      [machine.walletId, sup.walletId],
    );
    expect(rows).toEqual([{ idempotency_key: superLegs[0]!.id, amount_sats: Number(ref.superFee) }]);
  });

  it('a payment whose event never comes waits: pending, stuck, and says why', async () => {
    const machine = await createMachine(db.pool, operator, { name: 'no event' });
    const hash = newPaymentHash();
    const handle = await temporal.client.workflow.signalWithStart('settlementWorkflow', {
      workflowId: settlementWorkflowId(hash),
      taskQueue,
      args: [{ payment_hash: hash, stuck_after_ms: 1500 }],
      signal: 'paymentObserved',
      signalArgs: [
        { wallet_id: machine.walletId, payment_hash: hash, amount_sats: 1000, direction: 'incoming' },
      ],
    });
    const s = await eventually(() => settlementByHash(db.pool, hash), 20_000, 'stuck row');
    expect(s.status).toBe('pending');
    expect(s.error_message).toContain('waiting for the ATM event');
    const state = await handle.query('state');
    expect(state).toMatchObject({ stuck: true, has_payment: true, has_atm_event: false });
    // the sandbox records no stack frames (src/worker/workflowStackTraces.ts): the SDK's
    // stack-trace query answers, listing the pending promises without frames
    const stacks = await handle.query<string>('__stack_trace');
    expect(typeof stacks).toBe('string');
    expect(stacks).not.toMatch(/\bat\s/);
    await handle.terminate('test done');
  });

  it('the maintained LP balances equal the formula after every settlement above', async () => {
    await expectBalancesReconciled(db.pool);
  });
});
