import { WorkflowNotFoundError } from '@temporalio/client';
/**
 * The LNbits payment backend against a real LNbits (FakeWallet funding source):
 * payments wallet to wallet and to Lightning addresses, exactly once over a failing
 * network, the payment observer, refusals, and the key registration API.
 * LNbits is installed by scripts/install-lnbits.sh; if it cannot be, this file fails.
 */
import { createUserWithKey } from '../../src/api/userAccounts';
import { settlementWorkflowId, type SettlementWorkflowState } from '../../src/contract';
import { buildSettlementEvent } from '../../src/nostr/codec';
import { getLnbitsPayments } from '../../src/db/lnbits';
import { startPaymentListener } from '../../src/ingest/paymentListener';
import { SettlementSignals } from '../../src/ingest/settlementSignals';
import type { ObservedPayment, PaymentObserver } from '../../src/payments/backend';
import { LnbitsBackend } from '../../src/payments/lnbits';
import { createPaymentBackend } from '../../src/payments';
import {
  createOperator,
  secretBox,
  setDefaultSplits,
  settlementContent,
  type Operator,
} from '../helpers/fixtures';
import { sealedColumns } from '../../src/security/secretBox';
import {
  LossyProxy,
  TestLnbits,
  TestLnurlServer,
  type LnurlMode,
  type TestLnbitsWallet,
} from '../helpers/lnbits';
import {
  createLnbitsLp,
  createLnbitsMachine,
  createLnbitsSuper,
  lnbitsCashOut,
  startLnbitsApi,
  type LnbitsLp,
  type LnbitsMachine,
} from '../helpers/lnbitsFixtures';
import { awaitStatus, legsOf } from '../helpers/settle';
import { settlementPayLegRuns } from '../helpers/legHistory';
import { eventually, freshDatabase, temporalClient, testLogger, testWorker } from '../helpers/stack';
import type { TestApi } from '../helpers/api';

jest.setTimeout(240_000);

describe('LNbits payment backend (real LNbits, FakeWallet)', () => {
  let lnbits: TestLnbits;
  let lnurl: TestLnurlServer;
  let proxy: LossyProxy;
  let db: Awaited<ReturnType<typeof freshDatabase>>;
  let temporal: Awaited<ReturnType<typeof temporalClient>>;
  /** registration, observation: straight to LNbits */
  let backend: LnbitsBackend;
  /** the worker's: through the proxy that can lose answers */
  let workerBackend: LnbitsBackend;
  let worker: { stop: () => Promise<void> };
  let taskQueue: string;
  let listener: PaymentObserver;
  let api: TestApi;
  let sup: Awaited<ReturnType<typeof createLnbitsSuper>>;
  let operator: Operator;
  let opWallet: TestLnbitsWallet;
  let customer: TestLnbitsWallet;

  beforeAll(async () => {
    lnbits = await TestLnbits.start();
    lnurl = await TestLnurlServer.start(lnbits);
    proxy = await LossyProxy.start(lnbits.url);
    db = await freshDatabase();
    temporal = await temporalClient();
    // the test LNURL server runs on 127.0.0.1: these backends allow loopback (LNURL_ALLOW_LOOPBACK,
    // test-only); `strict` below is the production policy
    backend = new LnbitsBackend({
      pool: db.pool,
      logger: testLogger,
      url: lnbits.url,
      secretBox,
      pollIntervalMs: 300,
      safetyPollMs: 2_000,
      lnurl: { allowLoopback: true },
    });
    workerBackend = new LnbitsBackend({
      pool: db.pool,
      logger: testLogger,
      url: proxy.url,
      secretBox,
      lnurl: { allowLoopback: true },
    });
    const w = await testWorker({ pool: db.pool, payments: workerBackend });
    taskQueue = w.taskQueue;
    worker = w.start();
    listener = startListener();
    api = await startLnbitsApi({ pool: db.pool, temporal: temporal.client, taskQueue, lnbits: backend });
    sup = await createLnbitsSuper(db.pool, lnbits, backend);
    operator = await createOperator(db.pool);
    opWallet = await lnbits.createWallet('operator');
    await backend.registerWallet(operator.id, { wallet_id: opWallet.id, invoice_key: opWallet.invoiceKey });
    await setDefaultSplits(db.pool, operator, [
      { target: opWallet.id, fraction: '1.000000', label: 'owner' },
    ]);
    customer = await lnbits.createWallet('customer');
    await lnbits.topUp(customer.id, 10_000_000);
  }, 600_000);

  afterAll(async () => {
    await listener?.stop();
    await worker?.stop();
    await backend?.close();
    await api?.close();
    await temporal?.close();
    await db?.close();
    await proxy?.close();
    await lnurl?.close();
    await lnbits?.close();
  });

  /** The ingest's payment listener on the LNbits backend: observed payments of machine wallets → paymentObserved. */
  const startListener = () =>
    startPaymentListener({
      pool: db.pool,
      payments: backend,
      signals: new SettlementSignals(temporal.client, taskQueue),
      logger: testLogger,
    });

  /** Balances of these wallets, in sats, as LNbits has them. */
  const balances = async (ws: TestLnbitsWallet[]) => Promise.all(ws.map((w) => lnbits.balanceSats(w)));

  const noWorkflowFor = async (hash: string) => {
    await expect(temporal.client.workflow.getHandle(settlementWorkflowId(hash)).describe()).rejects.toThrow(
      WorkflowNotFoundError,
    );
  };

  /**
   * A machine of the operator whose LP `name` autoforwards to `name`'s Lightning address
   * (served in `mode` by the LNURL server, paying an LNbits wallet elsewhere), and one
   * cash-out of 10,000 + 500 sats (10.00) through it.
   */
  async function autoforwardedCashOut(tag: string, name: string, mode?: LnurlMode) {
    const machine = await createLnbitsMachine(db.pool, lnbits, backend, operator, tag);
    const external = await lnbits.createWallet(`${name} elsewhere`);
    const address = lnurl.address(name, external, mode);
    const lp = await createLnbitsLp(db.pool, lnbits, backend, machine, {
      name,
      depositCents: 10_000,
      autoforward: address,
    });
    const hash = await lnbitsCashOut(lnbits, temporal.client, taskQueue, machine, operator, customer, {
      wireSats: 10_000,
      feeSats: 500,
      fiat: '10.00',
    });
    return { external, address, lp, hash };
  }

  /** How many times each payLeg activity of a settlement was attempted, by leg id. */
  async function payLegAttempts(hash: string): Promise<Map<string, number>> {
    const history = await temporal.client.workflow.getHandle(settlementWorkflowId(hash)).fetchHistory();
    const scheduled = new Map<string, string>();
    const attempts = new Map<string, number>();
    for (const e of history.events ?? []) {
      const s = e.activityTaskScheduledEventAttributes;
      if (s?.activityType?.name === 'payLeg') {
        const input = JSON.parse(Buffer.from(s.input!.payloads![0]!.data!).toString('utf8')) as {
          leg_id: string;
        };
        scheduled.set(String(e.eventId), input.leg_id);
      }
      const st = e.activityTaskStartedEventAttributes;
      const leg = st && scheduled.get(String(st.scheduledEventId));
      if (leg) attempts.set(leg, Math.max(attempts.get(leg) ?? 0, st.attempt ?? 0));
    }
    return attempts;
  }

  it('observes payments on its wallets (live and after a disconnect), each once, never its own', async () => {
    // this test's observers are the only ones (what one observer reported, the others skip)
    await listener.stop();
    const machine = await createLnbitsMachine(db.pool, lnbits, backend, operator, 'observed');
    const seen: ObservedPayment[] = [];
    const observe = () =>
      backend.observePayments(async (p) => {
        if (p.wallet_id === machine.walletId) seen.push(p);
      });
    let observer = observe();
    const first = await lnbits.pay(customer, machine.wallet, 1_234, 'customer payment');
    await eventually(async () => seen.find((p) => p.payment_hash === first), 15_000, 'the live payment');
    expect(seen.find((p) => p.payment_hash === first)).toEqual({
      wallet_id: machine.walletId,
      payment_hash: first,
      amount_sats: 1_234,
      direction: 'incoming',
    });
    // observer down: a payment arrives and an LNbits admin tops the wallet up
    await observer.stop();
    const whileDown = await lnbits.pay(customer, machine.wallet, 4_321, 'while nobody listened');
    await lnbits.topUp(machine.walletId, 50);
    const out = await lnbits.pay(machine.wallet, customer, 100, 'machine pays out (cash-in)');
    observer = observe();
    await eventually(async () => seen.find((p) => p.payment_hash === out), 15_000, 'the catch-up');
    // barrier: a later payment, seen only after the observer has read past the caught-up ones
    const later = await lnbits.pay(customer, machine.wallet, 55, 'a later payment');
    await eventually(async () => seen.find((p) => p.payment_hash === later), 15_000, 'the later payment');
    await observer.stop();
    // each reported once
    expect(seen.map((p) => [p.payment_hash, p.direction, p.amount_sats]).sort()).toEqual(
      [
        [first, 'incoming', 1_234],
        [whileDown, 'incoming', 4_321],
        [out, 'outgoing', 100],
        [later, 'incoming', 55],
      ].sort(),
    );
    // satmachine's own payments are not machine payments: a payWallet from this wallet is not reported
    observer = observe();
    const own = await backend.payWallet({
      idempotencyKey: `own-${machine.walletId}`,
      fromWalletId: machine.walletId,
      toWalletId: opWallet.id,
      amountSats: 10,
      memo: 'own payment',
    });
    // barrier: a customer payment after it, which the observer must report
    const marker = await lnbits.pay(customer, machine.wallet, 66, 'after the own payment');
    await eventually(async () => seen.find((p) => p.payment_hash === marker), 15_000, 'the marker payment');
    await observer.stop();
    expect(seen.find((p) => p.payment_hash === own.paymentHash)).toBeUndefined();
    listener = startListener();
  });

  it('pays a cash-out settlement wallet to wallet, end to end (observed payment, legs in LNbits)', async () => {
    const machine = await createLnbitsMachine(db.pool, lnbits, backend, operator, 'cash-out');
    const lps: LnbitsLp[] = [
      await createLnbitsLp(db.pool, lnbits, backend, machine, { name: 'alice', depositCents: 5_000 }),
      await createLnbitsLp(db.pool, lnbits, backend, machine, { name: 'bob', depositCents: 5_000 }),
    ];
    const watched = [machine.wallet, sup.wallet, opWallet, ...lps.map((l) => l.wallet)];
    const before = await balances(watched);
    const hash = await lnbitsCashOut(lnbits, temporal.client, taskQueue, machine, operator, customer, {
      wireSats: 20_000,
      feeSats: 1_000,
      fiat: '20.00',
    });
    const s = await awaitStatus(db.pool, hash, ['processed'], 60_000);
    expect(s.observed_amount_sats).toBe(20_000);
    const legs = await legsOf(db.pool, s.id);
    expect(legs.map((l) => [l.leg_type, l.amount_sats, l.status]).sort()).toEqual(
      [
        ['dca', 9_500, 'completed'],
        ['dca', 9_500, 'completed'],
        ['operator_split', 810, 'completed'],
        ['super_fee', 190, 'completed'],
      ].sort(),
    );
    const after = await balances(watched);
    const delta = after.map((b, i) => b - before[i]!);
    // the machine received 20,000 and paid out exactly 20,000; each leg landed once
    expect(delta).toEqual([0, 190, 810, 9_500, 9_500]);
    const paid = await lnbits.outgoingPayments(machine.wallet);
    expect(paid.map((p) => p.amount_sats).sort()).toEqual([190, 810, 9_500, 9_500].sort());
    // barrier: a customer payment after the legs', which the listener must turn into a workflow
    const marker = await lnbits.pay(customer, machine.wallet, 77, 'after the legs');
    const markerHandle = temporal.client.workflow.getHandle(settlementWorkflowId(marker));
    await eventually(async () => (await markerHandle.describe()).status.name === 'RUNNING', 30_000, 'marker');
    await markerHandle.terminate('barrier only');
    for (const leg of legs) {
      expect(paid.map((p) => p.payment_hash)).toContain(leg.external_payment_hash);
      // its own leg payments never start settlement workflows
      await noWorkflowFor(leg.external_payment_hash!);
    }
  });

  it("a rival machine's wallet pays Alice's cash-out invoice and signs first: Alice's settlement still processes", async () => {
    const machine = await createLnbitsMachine(db.pool, lnbits, backend, operator, 'payee');
    const lp = await createLnbitsLp(db.pool, lnbits, backend, machine, {
      name: 'carol',
      depositCents: 5_000,
    });
    const rival = await createOperator(db.pool, 'rival operations');
    const rogue = await createLnbitsMachine(db.pool, lnbits, backend, rival, 'rogue');
    await lnbits.topUp(rogue.walletId, 100_000);
    const signals = new SettlementSignals(temporal.client, taskQueue);
    const eventOf = (m: LnbitsMachine, to: Operator, hash: string, txType: 'cash_out' | 'cash_in') =>
      buildSettlementEvent(
        m.secretHex,
        to.pubkey,
        settlementContent({ paymentHash: hash, txType, wireSats: 20_000, feeSats: 1_000, fiat: '20.00' }),
      );
    const before = await balances([machine.wallet, lp.wallet, rogue.wallet]);
    const rounds: string[] = [];
    for (const txType of ['cash_out', 'cash_in'] as const) {
      // Alice's ATM shows its invoice; the rival reads the hash and signs it first (as a copy of
      // Alice's cash-out, then as its own cash-in), then pays the invoice from its machine wallet
      const invoice = await lnbits.client.createInvoice(machine.wallet.invoiceKey, {
        amountSats: 20_000,
        memo: 'cash-out',
      });
      const hash = invoice.payment_hash;
      await signals.atmEvent(hash, { event: eventOf(rogue, rival, hash, txType) });
      const paid = await lnbits.client.payInvoice(rogue.wallet.adminKey, invoice.bolt11);
      expect(paid.status).toBe('success');
      // the observer reports the payment twice: outgoing on the rival's wallet, incoming on Alice's
      await eventually(
        async () => {
          const q = await temporal.client.workflow
            .getHandle(settlementWorkflowId(hash))
            .query<SettlementWorkflowState>('state');
          return (q.payment_observations ?? 0) >= 2;
        },
        30_000,
        'both observations',
      );
      await signals.atmEvent(hash, { event: eventOf(machine, operator, hash, 'cash_out') });
      const s = await awaitStatus(db.pool, hash, ['processed'], 60_000);
      expect(s).toMatchObject({ machine_id: machine.row.id, tx_type: 'cash_out', error_message: null });
      const legs = await legsOf(db.pool, s.id);
      expect(legs.every((l) => l.status === 'completed' && l.source_wallet_id === machine.walletId)).toBe(
        true,
      );
      rounds.push(s.id);
      // the rival sees none of it
      expect((await api.call('GET', `/api/v1/settlements/${s.id}`, rival.apiKey)).status).toBe(404);
      const mine = await api.call('GET', `/api/v1/settlements/${s.id}`, operator.apiKey);
      expect(mine.status).toBe(200);
      for (const secret of [rogue.row.id, rogue.row.name, rogue.pubkey, rival.id]) {
        expect(mine.text).not.toContain(secret);
      }
    }
    const list = await api.call('GET', '/api/v1/settlements?limit=500', rival.apiKey);
    expect(list.body.items).toEqual([]);
    // each cash-out paid Alice's LP 19,000 sats once; the rival's wallet only paid the two invoices
    const after = await balances([machine.wallet, lp.wallet, rogue.wallet]);
    expect(after.map((b, i) => b - before[i]!)).toEqual([0, 2 * 19_000, -2 * 20_000]);
    expect(rounds).toHaveLength(2);
  });

  it("autoforwards an LP's dca sats to its Lightning address (LNURL-pay)", async () => {
    const { external, address, lp: carol, hash } = await autoforwardedCashOut('autoforward', 'carol');
    const s = await awaitStatus(db.pool, hash, ['processed'], 60_000);
    const legs = await legsOf(db.pool, s.id);
    const dca = legs.find((l) => l.leg_type === 'dca')!;
    const forward = legs.find((l) => l.leg_type === 'autoforward')!;
    expect(dca.status).toBe('completed');
    expect(forward).toMatchObject({
      status: 'completed',
      amount_sats: dca.amount_sats,
      parent_leg_id: dca.id,
    });
    expect(forward.destination_ln_address).toBe(address);
    expect(await balances([carol.wallet, external])).toEqual([0, dca.amount_sats]);
    expect(lnurl.requests.some((r) => r.includes(`amount=${dca.amount_sats * 1000}`))).toBe(true);
    // LNbits and LNURL talk HTTP: every leg a normal (heartbeating) activity, none local
    const runs = await settlementPayLegRuns(temporal.client, hash);
    expect(runs.map((r) => r.kind)).toEqual(legs.map(() => 'activity'));
    expect(runs.map((r) => r.summary)).toContain(
      `autoforward ${forward.amount_sats.toLocaleString('en-US')} sats → ${address}`,
    );
  });

  it('refuses an invoice of the wrong amount from the LNURL server (nothing paid); the retry from the API pays', async () => {
    const { external, lp: dave, hash } = await autoforwardedCashOut('wrong amount', 'dave', 'wrong_amount');
    const s = await awaitStatus(db.pool, hash, ['errored'], 60_000);
    const legs = await legsOf(db.pool, s.id);
    const dca = legs.find((l) => l.leg_type === 'dca')!;
    const forward = legs.find((l) => l.leg_type === 'autoforward')!;
    expect(dca.status).toBe('completed');
    expect(forward.status).toBe('failed');
    expect(forward.error_message).toMatch(/is for \d+ sats, not the \d+ sats asked: not paid/);
    expect(await getLnbitsPayments(db.pool, forward.id)).toEqual([]);
    // nothing left dave's wallet; the refusal was not retried
    expect(await balances([dave.wallet, external])).toEqual([dca.amount_sats, 0]);
    expect((await payLegAttempts(hash)).get(forward.id)).toBe(1);

    // the address is fixed; the operator retries from the worklist
    lnurl.setMode('dave', 'ok');
    const retry = await api.call('POST', `/api/v1/settlements/${s.id}/retry`, operator.apiKey, {});
    expect(retry.status).toBe(200);
    await awaitStatus(db.pool, hash, ['processed'], 60_000);
    const after = await legsOf(db.pool, s.id);
    expect(after.find((l) => l.id === forward.id)!.status).toBe('voided');
    const fresh = after.find((l) => l.leg_type === 'autoforward' && l.status === 'completed')!;
    expect(fresh.replaces_leg_id).toBe(forward.id);
    expect(await balances([dave.wallet, external])).toEqual([0, dca.amount_sats]);
    expect(after.filter((l) => l.leg_type === 'dca' && l.status === 'completed')).toHaveLength(1);
  });

  it('refuses a wrong description hash and an amount out of the LNURL bounds, paying nothing', async () => {
    const payer = await lnbits.createWallet('payer');
    await lnbits.topUp(payer.id, 1_000);
    await backend.registerWallet(operator.id, {
      wallet_id: payer.id,
      admin_key: payer.adminKey,
      invoice_key: payer.invoiceKey,
    });
    const external = await lnbits.createWallet('erin elsewhere');
    const address = lnurl.address('erin', external, 'wrong_description_hash');
    await expect(
      workerBackend.payLightningAddress({
        idempotencyKey: 'hash-check',
        fromWalletId: payer.id,
        address,
        amountSats: 50,
        comment: 'test',
      }),
    ).rejects.toMatchObject({ name: 'PaymentRefusedError', code: 'wrong_description_hash' });
    lnurl.setMode('erin', 'ok');
    await expect(
      workerBackend.payLightningAddress({
        idempotencyKey: 'bounds-check',
        fromWalletId: payer.id,
        address,
        amountSats: 200_000,
        comment: 'test',
      }),
    ).rejects.toMatchObject({ code: 'amount_out_of_bounds' });
    await expect(
      workerBackend.payLightningAddress({
        idempotencyKey: 'unknown-name',
        fromWalletId: payer.id,
        address: `nobody@${lnurl.domain}`,
        amountSats: 50,
        comment: 'test',
      }),
    ).rejects.toMatchObject({ code: 'unknown_address' });
    expect(await balances([payer, external])).toEqual([1_000, 0]);
  });

  it('refuses a Lightning address on a forbidden network: 422 at PUT /lp/preferences, nothing fetched (SSRF)', async () => {
    // the production policy (no loopback), in the same process as the test-only allowance
    const strict = new LnbitsBackend({ pool: db.pool, logger: testLogger, url: lnbits.url, secretBox });
    const strictApi = await startLnbitsApi({
      pool: db.pool,
      temporal: temporal.client,
      taskQueue,
      lnbits: strict,
    });
    try {
      const { api_key } = await createUserWithKey(db.pool, secretBox, { role: 'lp', name: 'ivan' });
      const payout = await lnbits.createWallet('ivan payout');
      const registered = await strictApi.call('POST', '/api/v1/lnbits/wallets', api_key, {
        wallet_id: payout.id,
        admin_key: payout.adminKey,
        invoice_key: payout.invoiceKey,
      });
      expect(registered.status).toBe(201);
      const external = await lnbits.createWallet('ivan elsewhere');
      const address = lnurl.address('ivan', external);
      const port = address.split(':')[1]!;
      const seen = lnurl.requests.length;
      // an IP literal, and a name that resolves to loopback (checked after DNS)
      for (const forbidden of [address, `ivan@localhost:${port}`]) {
        const put = await strictApi.call('PUT', '/api/v1/lp/preferences', api_key, {
          dca_wallet_id: payout.id,
          autoforward_ln_address: forbidden,
          autoforward_enabled: true,
        });
        expect({ forbidden, status: put.status }).toEqual({ forbidden, status: 422 });
        expect(put.body.error.details.map((d: { field: string }) => d.field)).toEqual([
          'body.autoforward_ln_address',
        ]);
        expect(put.body.error.message).toMatch(
          /loopback address .*connects only to public internet addresses/,
        );
      }
      expect((await strictApi.call('GET', '/api/v1/lp/preferences', api_key)).status).toBe(404);
      // the check resolves the host only: the LNURL server was never asked
      expect(lnurl.requests.length).toBe(seen);
      // the test-only allowance (the backend of the other API) accepts it
      const allowed = await api.call('PUT', '/api/v1/lp/preferences', api_key, {
        dca_wallet_id: payout.id,
        autoforward_ln_address: address,
        autoforward_enabled: true,
      });
      expect(allowed.status).toBe(201);
    } finally {
      await strictApi.close();
      await strict.close();
    }
  });

  it('an autoforward to a forbidden address fails its leg at once (non-retryable) with the reason; nothing paid', async () => {
    // a platform of its own (database, worker with the production policy), signalled directly:
    // the shared listener does not know its wallets
    const db2 = await freshDatabase();
    const strict = new LnbitsBackend({ pool: db2.pool, logger: testLogger, url: lnbits.url, secretBox });
    const w = await testWorker({ pool: db2.pool, payments: strict });
    const running = w.start();
    try {
      await createLnbitsSuper(db2.pool, lnbits, strict);
      const op = await createOperator(db2.pool);
      const opW = await lnbits.createWallet('strict operator');
      await strict.registerWallet(op.id, { wallet_id: opW.id, invoice_key: opW.invoiceKey });
      await setDefaultSplits(db2.pool, op, [{ target: opW.id, fraction: '1.000000', label: 'owner' }]);
      const machine = await createLnbitsMachine(db2.pool, lnbits, strict, op, 'strict');
      const external = await lnbits.createWallet('judy elsewhere');
      const address = lnurl.address('judy', external);
      // stored without the check on save (e.g. before it existed): the payment refuses it
      const judy = await createLnbitsLp(db2.pool, lnbits, strict, machine, {
        name: 'judy',
        depositCents: 10_000,
        autoforward: address,
      });
      const seen = lnurl.requests.length;
      const hash = await lnbitsCashOut(lnbits, temporal.client, w.taskQueue, machine, op, customer, {
        wireSats: 10_000,
        feeSats: 500,
        fiat: '10.00',
        observed: 'signal',
      });
      const s = await awaitStatus(db2.pool, hash, ['errored'], 60_000);
      const legs = await legsOf(db2.pool, s.id);
      const dca = legs.find((l) => l.leg_type === 'dca')!;
      const forward = legs.find((l) => l.leg_type === 'autoforward')!;
      expect(dca.status).toBe('completed');
      expect(forward.status).toBe('failed');
      expect(forward.error_message).toContain('127.0.0.1 is a loopback address (127.0.0.0/8)');
      expect(forward.error_message).toContain('connects only to public internet addresses');
      expect((await payLegAttempts(hash)).get(forward.id)).toBe(1);
      expect(await getLnbitsPayments(db2.pool, forward.id)).toEqual([]);
      expect(lnurl.requests.length).toBe(seen);
      expect(await balances([judy.wallet, external])).toEqual([dca.amount_sats, 0]);
    } finally {
      await running.stop();
      await strict.close();
      await db2.close();
    }
  });

  it('a revoked key fails the legs at once with a clear reason; new keys and a retry pay each leg once', async () => {
    let machine: LnbitsMachine = await createLnbitsMachine(db.pool, lnbits, backend, operator, 'revoked');
    const frank = await createLnbitsLp(db.pool, lnbits, backend, machine, {
      name: 'frank',
      depositCents: 10_000,
    });
    // the operator resets the machine wallet's keys in LNbits and forgets to tell satmachine
    machine = { ...machine, wallet: await lnbits.resetKeys(machine.wallet) };
    const hash = await lnbitsCashOut(lnbits, temporal.client, taskQueue, machine, operator, customer, {
      wireSats: 10_000,
      feeSats: 500,
      fiat: '10.00',
      observed: 'signal', // satmachine's old invoice key cannot see the machine's payments any more
    });
    const s = await awaitStatus(db.pool, hash, ['errored'], 60_000);
    const legs = await legsOf(db.pool, s.id);
    expect(legs.every((l) => l.status === 'failed')).toBe(true);
    // the observer cannot read the wallet with the old key any more: the operator sees it
    const watched = () => api.call('GET', `/api/v1/lnbits/wallets/${machine.walletId}`, operator.apiKey);
    // one observer loop polls every registered wallet in turn (~30 by now in this file); the
    // bound is generous for a loaded box: what is checked is that the error shows, not how fast.
    // (This wait once ran out twice: LNbits' key cache honoured the old key, see
    // AUTH_AUTHENTICATION_CACHE_MINUTES in test/helpers/lnbits.ts and docs/lnbits.md §6.)
    await eventually(async () => (await watched()).body.watch.error, 60_000, 'the watch error');
    expect((await watched()).body.watch.error_since).toBeTruthy();
    for (const l of legs) {
      expect(l.error_message).toMatch(
        new RegExp(
          `LNbits rejects the admin key satmachine holds for paying wallet ${machine.walletId} \\(revoked or reset\\?\\)`,
        ),
      );
      expect(l.error_message).toContain('POST /api/v1/lnbits/wallets');
    }
    const attempts = await payLegAttempts(hash);
    expect(legs.map((l) => attempts.get(l.id))).toEqual(legs.map(() => 1));
    expect(await balances([machine.wallet, frank.wallet])).toEqual([10_000, 0]);

    // the operator registers the new keys and retries
    const reg = await api.call('POST', '/api/v1/lnbits/wallets', operator.apiKey, {
      wallet_id: machine.walletId,
      admin_key: machine.wallet.adminKey,
      invoice_key: machine.wallet.invoiceKey,
    });
    expect(reg.status).toBe(200);
    expect(reg.text).not.toContain(machine.wallet.adminKey);
    expect(reg.body.watch.error).toBeNull();
    expect((await api.call('POST', `/api/v1/settlements/${s.id}/retry`, operator.apiKey, {})).status).toBe(
      200,
    );
    await awaitStatus(db.pool, hash, ['processed'], 60_000);
    const after = (await legsOf(db.pool, s.id)).filter((l) => l.status === 'completed');
    const dca = after.find((l) => l.leg_type === 'dca')!;
    expect(await balances([machine.wallet, frank.wallet])).toEqual([0, dca.amount_sats]);
    expect((await lnbits.outgoingPayments(machine.wallet)).length).toBe(after.length);
  });

  it('LNbits stopped mid-batch (an answer lost after paying) and restarted: every leg paid exactly once', async () => {
    const machine = await createLnbitsMachine(db.pool, lnbits, backend, operator, 'crash');
    const lps: LnbitsLp[] = [];
    for (const name of ['g1', 'g2', 'g3', 'g4', 'g5', 'g6', 'g7', 'g8']) {
      lps.push(await createLnbitsLp(db.pool, lnbits, backend, machine, { name, depositCents: 2_500 }));
    }
    const watched = [machine.wallet, sup.wallet, opWallet, ...lps.map((l) => l.wallet)];
    const before = await balances(watched);
    let restarted = null as Promise<void> | null;
    const firstPay = proxy.payRequests + 1;
    proxy.loseAnswerOf.add(firstPay + 2).add(firstPay + 5);
    // the 3rd payment: LNbits pays, then dies before its answer is heard; back 3 s later
    proxy.onLostAnswer = async (n) => {
      if (n !== firstPay + 2) return;
      await lnbits.stop('SIGKILL');
      restarted = new Promise<void>((r) => setTimeout(r, 3_000)).then(() => lnbits.run());
    };
    const hash = await lnbitsCashOut(lnbits, temporal.client, taskQueue, machine, operator, customer, {
      wireSats: 20_000,
      feeSats: 1_000,
      fiat: '20.00',
    });
    const s = await awaitStatus(db.pool, hash, ['processed', 'errored'], 120_000);
    await restarted;
    proxy.onLostAnswer = null;
    proxy.loseAnswerOf.clear();
    expect(restarted).not.toBeNull();
    if (s.status !== 'processed') {
      const failed = (await legsOf(db.pool, s.id)).filter((l) => l.status !== 'completed');
      throw new Error(
        `settlement ${s.status}: ${failed.map((l) => `${l.leg_type} ${l.status}: ${l.error_message}`).join('; ')}`,
      );
    }
    const legs = await legsOf(db.pool, s.id);
    expect(legs).toHaveLength(10);
    expect(legs.every((l) => l.status === 'completed')).toBe(true);
    const after = await balances(watched);
    const delta = after.map((b, i) => b - before[i]!);
    const amount = (type: string, clientId?: string) =>
      legs.find((l) => l.leg_type === type && (!clientId || l.client_id === clientId))!.amount_sats;
    expect(delta).toEqual([
      0,
      amount('super_fee'),
      amount('operator_split'),
      ...lps.map((l) => amount('dca', l.clientId)),
    ]);
    const paid = await lnbits.outgoingPayments(machine.wallet);
    expect(paid).toHaveLength(legs.length);
    expect(new Set(paid.map((p) => p.payment_hash))).toEqual(
      new Set(legs.map((l) => l.external_payment_hash)),
    );
    // per leg: one invoice paid; any other was proved unpayable first (LNbits forgets FakeWallet invoices on restart)
    for (const leg of legs) {
      const invoices = await getLnbitsPayments(db.pool, leg.id);
      expect(invoices.filter((i) => i.status === 'paid').map((i) => i.payment_hash)).toEqual([
        leg.external_payment_hash,
      ]);
      expect(invoices.every((i) => i.status === 'paid' || i.status === 'dead')).toBe(true);
    }
    expect(Math.max(...(await payLegAttempts(hash)).values())).toBeGreaterThan(1);
  });

  it('registers wallet keys through the API: checked with LNbits, sealed, never shown, per owner', async () => {
    const lp = await createLnbitsLp(
      db.pool,
      lnbits,
      backend,
      await createLnbitsMachine(db.pool, lnbits, backend, operator, 'api'),
      {
        name: 'henry',
        depositCents: 100,
      },
    );
    const wallet = await lnbits.createWallet('henry spare');
    const body = { wallet_id: wallet.id, admin_key: wallet.adminKey, invoice_key: wallet.invoiceKey };
    const created = await api.call('POST', '/api/v1/lnbits/wallets', lp.apiKey, body);
    expect(created.status).toBe(201);
    expect(created.body).toMatchObject({
      wallet_id: wallet.id,
      owner_user_id: lp.userId,
      can_pay: true,
      can_receive: true,
    });
    expect(created.text).not.toContain(wallet.adminKey);
    expect(created.text).not.toContain(wallet.invoiceKey);
    const { rows } = await db.pool.query('SELECT * FROM satmachine.lnbits_wallets WHERE wallet_id = $1', [
      wallet.id,
    ]);
    expect(JSON.stringify(rows[0])).not.toContain(wallet.adminKey);
    expect(secretBox.open(rows[0].admin_key_enc, sealedColumns.lnbitsAdminKey(wallet.id))).toBe(
      wallet.adminKey,
    );

    const list = await api.call('GET', '/api/v1/lnbits/wallets', lp.apiKey);
    expect(list.body.map((w: { wallet_id: string }) => w.wallet_id).sort()).toEqual(
      [lp.wallet.id, wallet.id].sort(),
    );
    expect(list.text).not.toContain(wallet.invoiceKey);
    // the platform sees every registration; another user sees none of these
    expect((await api.call('GET', '/api/v1/lnbits/wallets', sup.apiKey)).body.length).toBeGreaterThan(2);
    expect((await api.call('GET', `/api/v1/lnbits/wallets/${wallet.id}`, operator.apiKey)).status).toBe(404);
    expect((await api.call('DELETE', `/api/v1/lnbits/wallets/${wallet.id}`, operator.apiKey)).status).toBe(
      404,
    );
    expect((await api.call('POST', '/api/v1/lnbits/wallets', operator.apiKey, body)).status).toBe(409);

    // keys LNbits does not confirm
    const other = await lnbits.createWallet('someone else');
    const swapped = await api.call('POST', '/api/v1/lnbits/wallets', lp.apiKey, {
      wallet_id: wallet.id,
      admin_key: other.adminKey,
      invoice_key: wallet.invoiceKey,
    });
    expect(swapped.status).toBe(422);
    expect(swapped.body.error.message).toMatch(/admin_key belongs to another wallet/);
    const asAdmin = await api.call('POST', '/api/v1/lnbits/wallets', lp.apiKey, {
      wallet_id: other.id,
      invoice_key: other.adminKey,
    });
    expect(asAdmin.status).toBe(422);
    expect(asAdmin.body.error.details[0].field).toBe('body.invoice_key');
    const foreignInvoiceKey = await api.call('POST', '/api/v1/lnbits/wallets', lp.apiKey, {
      wallet_id: other.id,
      invoice_key: wallet.invoiceKey,
    });
    expect(foreignInvoiceKey.status).toBe(422);
    expect(foreignInvoiceKey.body.error.message).toMatch(/invoice_key belongs to another wallet/);
    const unknown = await api.call('POST', '/api/v1/lnbits/wallets', lp.apiKey, {
      wallet_id: other.id,
      invoice_key: 'f'.repeat(32),
    });
    expect(unknown.status).toBe(422);
    expect(unknown.text).not.toContain('f'.repeat(32));

    // a machine needs a wallet of its operator's with its admin key; an LP pays out to its own
    const newMachine = (walletId: string) =>
      api.call('POST', '/api/v1/machines', operator.apiKey, {
        machine_npub: 'ab'.repeat(32),
        name: 'till',
        fiat_code: 'EUR',
        wallet_id: walletId,
      });
    const notMine = await newMachine(wallet.id);
    expect(notMine.status).toBe(422);
    expect(notMine.body.error.message).toContain('not one of your LNbits wallets');
    const till = await lnbits.createWallet('receive-only till');
    expect(
      (
        await api.call('POST', '/api/v1/lnbits/wallets', operator.apiKey, {
          wallet_id: till.id,
          invoice_key: till.invoiceKey,
        })
      ).status,
    ).toBe(201);
    const receiveOnly = await newMachine(till.id);
    expect(receiveOnly.status).toBe(422);
    expect(receiveOnly.body.error.message).toContain('without its admin key');
    const superWallet = await api.call('PATCH', '/api/v1/super/config', sup.apiKey, {
      super_wallet_id: 'nope',
    });
    expect(superWallet.status).toBe(422);
    expect(superWallet.body.error.message).toContain('is not registered');
    const prefs = await api.call('PUT', '/api/v1/lp/preferences', lp.apiKey, { dca_wallet_id: till.id });
    expect(prefs.status).toBe(422);
    expect(prefs.body.error.details[0].field).toBe('body.dca_wallet_id');
    // autoforward pays from the payout wallet: an LP that registered only its invoice key is told so
    const receiveOnly2 = await lnbits.createWallet('henry receive-only');
    expect(
      (
        await api.call('POST', '/api/v1/lnbits/wallets', lp.apiKey, {
          wallet_id: receiveOnly2.id,
          invoice_key: receiveOnly2.invoiceKey,
        })
      ).status,
    ).toBe(201);
    const forward = await api.call('PUT', '/api/v1/lp/preferences', lp.apiKey, {
      dca_wallet_id: receiveOnly2.id,
      autoforward_ln_address: 'henry@example.org',
      autoforward_enabled: true,
    });
    expect(forward.status).toBe(422);
    expect(forward.body.error.details.map((d: { field: string }) => d.field)).toEqual([
      'body.autoforward_enabled',
    ]);

    // a machine's wallet cannot be forgotten while the machine is active
    const machineWallets = (await api.call('GET', '/api/v1/lnbits/wallets', operator.apiKey)).body as {
      wallet_id: string;
    }[];
    const { rows: m } = await db.pool.query(
      'SELECT wallet_id FROM satmachine.dca_machines WHERE is_active LIMIT 1',
    );
    expect(machineWallets.map((w) => w.wallet_id)).toContain(m[0].wallet_id);
    expect(
      (await api.call('DELETE', `/api/v1/lnbits/wallets/${m[0].wallet_id}`, operator.apiKey)).status,
    ).toBe(409);

    expect((await api.call('DELETE', `/api/v1/lnbits/wallets/${wallet.id}`, lp.apiKey)).status).toBe(204);
    expect((await api.call('GET', `/api/v1/lnbits/wallets/${wallet.id}`, lp.apiKey)).status).toBe(404);
  });

  it('is what PAYMENT_BACKEND=lnbits selects; LNbits down is a clear, retryable error', async () => {
    const picked = createPaymentBackend(
      { kind: 'lnbits', lnbitsUrl: 'http://127.0.0.1:9', secretBox },
      db.pool,
      testLogger,
    );
    expect(picked.backend.name).toBe('lnbits');
    expect(picked.ledger).toBeNull();
    // a pool of its own (no hold-and-wait with the caller's), ended by close()
    expect((picked.lnbits as unknown as { pool: unknown }).pool).not.toBe(db.pool);
    expect(() => createPaymentBackend({ kind: 'lnbits', secretBox }, db.pool, testLogger)).toThrow(
      /LNBITS_URL/,
    );
    const wallet = await lnbits.createWallet('unreachable');
    await expect(
      picked.lnbits!.registerWallet(operator.id, { wallet_id: wallet.id, invoice_key: wallet.invoiceKey }),
    ).rejects.toMatchObject({ name: 'LnbitsUnavailableError' });
    const down = await startLnbitsApi({
      pool: db.pool,
      temporal: temporal.client,
      taskQueue,
      lnbits: picked.lnbits!,
    });
    try {
      const res = await down.call('POST', '/api/v1/lnbits/wallets', operator.apiKey, {
        wallet_id: wallet.id,
        invoice_key: wallet.invoiceKey,
      });
      expect(res.status).toBe(503);
      expect(res.body.error.code).toBe('lnbits_unavailable');
    } finally {
      await down.close();
      await picked.backend.close();
    }
  });
});
