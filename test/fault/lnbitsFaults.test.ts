import { retryUpdate, settlementWorkflowId } from '../../src/contract';
import { startRelay, type RunningRelay } from '../../src/relay/relayServer';
import { LnbitsBackend } from '../../src/payments/lnbits';
import { createOperator, secretBox, setDefaultSplits, type Operator } from '../helpers/fixtures';
import { TestLnbits, type TestLnbitsWallet } from '../helpers/lnbits';
import {
  createLnbitsLp,
  createLnbitsMachine,
  createLnbitsSuper,
  type LnbitsMachine,
} from '../helpers/lnbitsFixtures';
import { freePort } from '../helpers/ports';
import { freshDatabase, temporalClient, testLogger, uniqueTaskQueue } from '../helpers/stack';
import { checkBatch, ppmOf, recordedLegs, type ModelWorld } from '../helpers/batchOracle';
import {
  awaitBatch,
  connectedPublisher,
  expectBatchSettled,
  expectLegInvariants,
  expectMidPayment,
  killAll,
  legProgress,
  midPayment,
  modelOf,
  persist,
  planBatch,
  publishEvent,
  reach,
  seededRng,
  sleep,
  spawnOnStage,
  tails,
  type Fleet,
  type PlannedSettlement,
  type Stage,
} from './faultKit';

const CUSTOMER_TOP_UP = 10_000_000; // LNbits: at most 10,000,000 sats a top-up
const MACHINE_TOP_UP = 3_000_000;

/**
 * Faults on the LNbits backend, where exactly-once is not given by a UNIQUE key in
 * our own database but has to be kept across a process boundary (LNbits pays; our
 * worker may die, or LNbits may, between asking and hearing). A real LNbits
 * (FakeWallet), worker and ingest as OS processes on PAYMENT_BACKEND=lnbits, the
 * batch played as it happens: the customer pays the machine's invoice in LNbits (a
 * cash-in: the machine pays the customer's), the ATM's signed event goes through the
 * relay. Two faults, one batch of 20 each on the same fleet: the worker killed with
 * SIGKILL twice while it pays legs, and LNbits killed and restarted while legs are
 * paid. After each batch, from LNbits' own records: no payment hash was paid twice
 * anywhere; each machine wallet paid exactly its completed legs (each leg's recorded
 * hash, of the leg's amount) and the test's cash-in payouts, nothing more; and
 * every wallet's balance (read from LNbits) and every leg equal the independent
 * reference (test/helpers/batchOracle.ts), over both batches.
 *
 * LNbits pays wallet to wallet in two commits (payer debited, then payee credited);
 * killed between them, it loses the payment (docs/lnbits.md, "A payment LNbits
 * lost"). satmachine then fails the leg with what to fix, and the test does what the
 * operator is told: the LNbits admin refunds the source, the operator retries the
 * settlement (the leg paid again with a fresh invoice). The lost payment stays in
 * LNbits' records of the source: the checks count it, and the refund.
 */
describe('fault: the LNbits backend under worker kills and an LNbits restart', () => {
  const rng = seededRng('lnbitsFaults');
  let lnbits: TestLnbits;
  let backend: LnbitsBackend;
  let db: Awaited<ReturnType<typeof freshDatabase>>;
  let temporal: Awaited<ReturnType<typeof temporalClient>>;
  let relay: RunningRelay;
  let fleet: Fleet;
  let stage: Stage;
  let customer: TestLnbitsWallet;
  /** every wallet the test made, by id: read back from LNbits for the balances */
  const wallets = new Map<string, TestLnbitsWallet>();
  const machineWallets = new Map<string, TestLnbitsWallet>();
  /** every settlement played so far (LP balances carry over between the batches) */
  const played: PlannedSettlement[] = [];
  /** payments LNbits lost across its kill (debited, never credited): by source wallet */
  const lostInLnbits: { source: string; hash: string; sats: number }[] = [];

  beforeAll(async () => {
    [lnbits, db, temporal] = await Promise.all([TestLnbits.start(), freshDatabase(), temporalClient()]);
    backend = new LnbitsBackend({ pool: db.pool, logger: testLogger, url: lnbits.url, secretBox });
    const sup = await createLnbitsSuper(db.pool, lnbits, backend);
    wallets.set(sup.wallet.id, sup.wallet);
    const world: ModelWorld = {
      superWalletId: sup.wallet.id,
      platformCashInPpm: ppmOf('0.01'), // createLnbitsSuper's
      platformCashOutPpm: ppmOf('0.01'),
      rules: new Map(),
      machines: [],
    };
    const operators: Operator[] = [];
    const machines: Fleet['machines'] = [];
    const opening = new Map<string, bigint>();
    for (const name of ['operator a', 'operator b']) {
      const op = await createOperator(db.pool, name);
      operators.push(op);
      const own = await lnbits.createWallet(`${name} revenue`);
      const partner = await lnbits.createWallet(`${name} partner`);
      for (const w of [own, partner]) {
        await backend.registerWallet(op.id, { wallet_id: w.id, invoice_key: w.invoiceKey });
        wallets.set(w.id, w);
      }
      const rules = [
        { target: own.id, fraction: '0.7' },
        { target: partner.id, fraction: '0.3' },
      ];
      await setDefaultSplits(db.pool, op, rules);
      world.rules.set(
        op.id,
        rules.map((r, i) => ({ target: r.target, ppm: ppmOf(r.fraction), sortOrder: i })),
      );
    }
    for (let m = 0; m < 2; m++) {
      const operator = operators[m]!;
      const machine: LnbitsMachine = await createLnbitsMachine(
        db.pool,
        lnbits,
        backend,
        operator,
        `atm ${m}`,
      );
      await lnbits.topUp(machine.walletId, MACHINE_TOP_UP); // cash-ins pay out of it
      opening.set(machine.walletId, BigInt(MACHINE_TOP_UP));
      wallets.set(machine.walletId, machine.wallet);
      machineWallets.set(machine.walletId, machine.wallet);
      const model: ModelWorld['machines'][number] = {
        id: machine.row.id,
        walletId: machine.walletId,
        operatorId: operator.id,
        cashInPpm: ppmOf('0.03'), // createLnbitsMachine's
        cashOutPpm: ppmOf('0.04'),
        lps: [],
      };
      for (let i = 0; i < 3; i++) {
        // machine 0's LPs run dry during the batches: part of the principal stays uncovered
        const depositCents = m === 0 ? 6_000 + i * 1_500 : 60_000 + i * 9_173;
        const lp = await createLnbitsLp(db.pool, lnbits, backend, machine, {
          name: `lp ${m}.${i}`,
          depositCents,
        });
        wallets.set(lp.wallet.id, lp.wallet);
        model.lps.push({
          clientId: lp.clientId,
          walletId: lp.wallet.id,
          depositCents: BigInt(depositCents),
          mode: 'flow',
        });
      }
      world.machines.push(model);
      machines.push({ machine, operator });
    }
    customer = await lnbits.createWallet('customers');
    await lnbits.topUp(customer.id, CUSTOMER_TOP_UP);
    wallets.set(customer.id, customer);
    fleet = { operators, machines, world, opening };
    relay = await startRelay({ pool: db.pool, logger: testLogger, port: await freePort() });
    stage = {
      pool: db.pool,
      databaseUrl: db.url,
      client: temporal.client,
      taskQueue: uniqueTaskQueue('fault-lnbits'),
      relayUrl: relay.url,
      fleet,
      env: { PAYMENT_BACKEND: 'lnbits', LNBITS_URL: lnbits.url },
      processes: { worker: [], ingest: [] },
    };
  }, 600_000);

  afterAll(async () => {
    if (stage) await killAll(stage);
    await relay?.close();
    await backend?.close();
    await temporal?.close();
    await db?.close();
    await lnbits?.close();
  });

  /**
   * Pays an invoice exactly once across an LNbits that may be down or lose the
   * answer: before each attempt, asks the payee's wallet whether it was paid.
   */
  async function payOnce(from: TestLnbitsWallet, to: TestLnbitsWallet, bolt11: string, hash: string) {
    await persist(
      `paying ${hash.slice(0, 8)}`,
      async () => {
        const seen = await lnbits.client.paymentDetails(to.invoiceKey, hash);
        if (seen?.status === 'success') return;
        const paid = await lnbits.client.payInvoice(from.adminKey, bolt11);
        if (paid.status !== 'success') throw new Error(`payment ${hash.slice(0, 8)} is ${paid.status}`);
      },
      180_000,
    );
  }

  /**
   * The batch's invoices, made up front (the settlement's payment hash is the
   * invoice's): a cash-out's in the machine wallet, a cash-in's in the customer's.
   */
  async function invoices(batch: PlannedSettlement[]): Promise<Map<string, string>> {
    const bolt11 = new Map<string, string>();
    for (const s of batch) {
      const payee = s.txType === 'cash_out' ? machineWallets.get(s.machine.walletId)! : customer;
      const inv = await lnbits.client.createInvoice(payee.invoiceKey, {
        amountSats: s.wireSats,
        memo: s.txType === 'cash_out' ? 'cash-out' : 'cash-in payout',
      });
      s.hash = inv.payment_hash;
      bolt11.set(s.hash, inv.bolt11);
    }
    return bolt11;
  }

  /**
   * A worker and an ingest on the LNbits backend, the batch played open loop (one
   * settlement every `spacingMs`, event and payment in the planned order), `fault`
   * meanwhile; then every settlement processed, and every check of this file.
   */
  async function batchUnderLnbitsFault(
    batch: PlannedSettlement[],
    fault: () => Promise<void>,
    o: { faultAfterInputs?: boolean } = {},
  ) {
    const bolt11 = await invoices(batch);
    played.push(...batch);
    await Promise.all([spawnOnStage(stage, 'worker'), spawnOnStage(stage, 'ingest')]);
    const publisher = await connectedPublisher(stage.relayUrl);
    try {
      const started = Date.now();
      const playing = Promise.all(
        batch.map(async (s, i) => {
          await sleep(started + i * 300 - Date.now());
          const machineWallet = machineWallets.get(s.machine.walletId)!;
          const pay = () =>
            s.txType === 'cash_out'
              ? payOnce(customer, machineWallet, bolt11.get(s.hash)!, s.hash)
              : payOnce(machineWallet, customer, bolt11.get(s.hash)!, s.hash);
          if (s.order === 'event-first') {
            await publishEvent(publisher, s);
            await pay();
          } else {
            await pay();
            await publishEvent(publisher, s);
          }
        }),
      );
      if (o.faultAfterInputs) await playing;
      await fault();
      await playing;
      const logs = () => `${tails(stage.processes)}\n--- lnbits ---\n${lnbits.logs()}`;
      const hashes = batch.map((s) => s.hash);
      const ended = await awaitBatch(db.pool, hashes, {
        final: ['processed', 'errored'],
        timeoutMs: 240_000,
        logs,
      });
      if ([...ended.values()].some((st) => st === 'errored')) {
        await reconcileLostPayments([...ended].filter(([, st]) => st === 'errored').map(([h]) => h));
        await awaitBatch(db.pool, hashes, { timeoutMs: 240_000, logs });
      }
      // every settlement so far: the database holds both batches
      await expectBatchSettled(db.pool, temporal.client, stage.taskQueue, played);
      await expectLegInvariants(db.pool);
      await expectExactlyOnceInLnbits();
      await expectReferenceInLnbits();
    } finally {
      publisher.close();
      await killAll(stage);
    }
  }

  /**
   * The operator's part when LNbits lost a leg's payment (the only reason a settlement
   * of these batches may error): the leg failed saying so; the LNbits admin refunds the
   * source (LNbits debited it), then the operator retries the settlement. The LNbits
   * rows of each lost payment and the leg are printed: the evidence.
   */
  async function reconcileLostPayments(errored: string[]): Promise<void> {
    const { rows } = await db.pool.query<{
      settlement_hash: string;
      leg_id: string;
      status: string;
      source: string;
      destination: string;
      sats: string;
      error_message: string | null;
    }>(
      `SELECT s.payment_hash AS settlement_hash, p.id AS leg_id, p.status, p.source_wallet_id AS source,
              p.destination_wallet_id AS destination, p.amount_sats::text AS sats, p.error_message
         FROM satmachine.dca_payments p JOIN satmachine.dca_settlements s ON s.id = p.settlement_id
        WHERE s.payment_hash = ANY($1) AND p.status = 'failed'`,
      [errored],
    );
    // every failed leg is one LNbits lost, and every errored settlement has one
    expect(rows.filter((r) => !r.error_message?.startsWith('LNbits debited wallet'))).toEqual([]);
    expect([...new Set(rows.map((r) => r.settlement_hash))].sort()).toEqual([...errored].sort());
    for (const leg of rows) {
      const invoices = await db.pool.query<{ payment_hash: string }>(
        `SELECT payment_hash FROM satmachine.lnbits_payments WHERE idempotency_key = $1 ORDER BY attempt`,
        [leg.leg_id],
      );
      const hash = invoices.rows.at(-1)!.payment_hash;
      const inLnbits = lnbits.sql(
        `SELECT wallet_id, amount, fee, status, checking_id, time, updated_at FROM apipayments
          WHERE payment_hash = '${hash}' ORDER BY amount`,
      );
      process.stderr.write(
        `[lnbitsFaults] LNbits lost the payment of leg ${leg.leg_id} (${leg.sats} sats, ${leg.source} → ${leg.destination}):\n` +
          `  leg: ${leg.error_message}\n  LNbits apipayments: ${JSON.stringify(inLnbits)}\n`,
      );
      // LNbits' own records: the source's payment a success, the payee's invoice not
      expect(inLnbits).toEqual([
        expect.objectContaining({
          wallet_id: leg.source,
          amount: -Number(leg.sats) * 1000,
          status: 'success',
        }),
        expect.objectContaining({
          wallet_id: leg.destination,
          amount: Number(leg.sats) * 1000,
          status: 'failed',
        }),
      ]);
      lostInLnbits.push({ source: leg.source, hash, sats: Number(leg.sats) });
      await lnbits.topUp(leg.source, Number(leg.sats)); // the admin's refund
    }
    for (const hash of errored) {
      const s = played.find((p) => p.hash === hash)!;
      // the workflow takes the retry once it waits for the operator
      await persist(`retrying ${hash.slice(0, 8)}`, () =>
        temporal.client.workflow
          .getHandle(settlementWorkflowId(hash))
          .executeUpdate(retryUpdate, { args: [{ user_id: s.operator.id }] }),
      );
    }
  }

  /** Settled outgoing payments of every wallet, as LNbits records them. */
  async function outgoingByWallet(): Promise<Map<string, { hash: string; sats: number }[]>> {
    const out = new Map<string, { hash: string; sats: number }[]>();
    for (const [id, w] of wallets) {
      const list = await lnbits.client.settledPayments(w.invoiceKey, { limit: 1000, offset: 0 });
      expect(list.length).toBeLessThan(1000); // one page holds them all
      out.set(
        id,
        list
          .filter((p) => p.amount < 0)
          .map((p) => {
            expect(p.wallet_id).toBe(id);
            return { hash: p.payment_hash, sats: -p.amount / 1000 };
          }),
      );
    }
    return out;
  }

  /**
   * From LNbits' own records: no payment hash paid twice (anywhere); each machine
   * wallet paid exactly its completed legs — each by the hash the leg recorded, of
   * the leg's amount — plus the test's cash-in payouts; no other wallet paid
   * anything but the customer (its cash-outs). A leg paid twice needs a second
   * payment (a second invoice, a second hash): it shows up here.
   */
  async function expectExactlyOnceInLnbits(): Promise<void> {
    const out = await outgoingByWallet();
    const times = new Map<string, number>();
    for (const list of out.values()) for (const p of list) times.set(p.hash, (times.get(p.hash) ?? 0) + 1);
    expect([...times].filter(([, n]) => n > 1)).toEqual([]);

    const { rows: legs } = await db.pool.query<{ source: string; hash: string | null; sats: string }>(
      `SELECT source_wallet_id AS source, external_payment_hash AS hash, amount_sats::text AS sats
         FROM satmachine.dca_payments WHERE status = 'completed'`,
    );
    const want = new Map<string, string[]>();
    const add = (wallet: string, hash: string | null, sats: number | string) =>
      want.set(wallet, [...(want.get(wallet) ?? []), `${hash} ${sats}`]);
    for (const l of legs) add(l.source, l.hash, l.sats);
    for (const l of lostInLnbits) add(l.source, l.hash, l.sats);
    for (const s of played) {
      if (s.txType === 'cash_in') add(s.machine.walletId, s.hash, s.wireSats);
      else add(customer.id, s.hash, s.wireSats);
    }
    for (const [id, list] of out) {
      expect({ wallet: id, paid: list.map((p) => `${p.hash} ${p.sats}`).sort() }).toEqual({
        wallet: id,
        paid: (want.get(id) ?? []).sort(),
      });
    }
  }

  /** Every leg and every wallet balance (from LNbits) as the independent reference says, over every batch so far. */
  async function expectReferenceInLnbits(): Promise<void> {
    const balances = new Map<string, bigint>();
    for (const [id, w] of wallets) balances.set(id, BigInt(await lnbits.balanceSats(w)));
    const opening = new Map(fleet.opening);
    // a payment LNbits lost: debited from the source, refunded by the admin: no change
    let customerNet = BigInt(CUSTOMER_TOP_UP);
    for (const s of played) customerNet += s.txType === 'cash_in' ? BigInt(s.wireSats) : -BigInt(s.wireSats);
    opening.set(customer.id, customerNet);
    const legs = await recordedLegs(
      db.pool,
      played.map((s) => s.hash),
    );
    const { problems } = checkBatch(fleet.world, played.map(modelOf), legs, opening, balances);
    if (problems.length > 0) {
      // the evidence: every payment LNbits debited and did not credit, as its own table has it
      const unmatched = lnbits.sql(
        `SELECT o.payment_hash, o.wallet_id AS payer, o.amount, o.status AS payer_status, o.updated_at AS payer_updated,
                i.wallet_id AS payee, i.status AS payee_status, i.updated_at AS payee_updated
           FROM apipayments o LEFT JOIN apipayments i ON i.payment_hash = o.payment_hash AND i.amount > 0
          WHERE o.amount < 0 AND o.status = 'success' AND (i.status IS NULL OR i.status <> 'success')`,
      );
      throw new Error(
        `the batches differ from the reference calculation:\n${problems.join('\n')}\n` +
          `LNbits payments debited and not credited: ${JSON.stringify(unmatched, null, 1)}`,
      );
    }
  }

  it('worker killed with SIGKILL twice while it pays legs: each leg paid once in LNbits, balances to the sat', async () => {
    const batch = planBatch(fleet, rng, { cashOuts: 16, cashIns: 4 });
    const kills: string[] = [];
    await batchUnderLnbitsFault(batch, async () => {
      // each kill once the running worker has paid a leg of its own and others are pending
      let paidBefore = 0;
      for (let k = 1; k <= 2; k++) {
        await sleep(rng.int(0, 1500));
        const at = await reach(`kill ${k}: this worker paid a leg, others pending`, async () => {
          const m = await midPayment(db.pool);
          return m && m.completed > paidBefore ? m : null;
        });
        await stage.processes.worker.at(-1)!.kill('SIGKILL');
        expectMidPayment(at, `kill ${k}`);
        // no worker runs now: the legs completed so far are all the killed one could pay
        paidBefore = (await legProgress(db.pool)).completed;
        kills.push(
          `kill ${k}: ${at.processed} processed, ${at.pending} legs pending, ${at.completed} completed`,
        );
        await spawnOnStage(stage, 'worker');
      }
      process.stderr.write(`[lnbitsFaults] ${kills.join('; ')}\n`);
    });
  }, 600_000);

  // The customers' payments are all made before LNbits is killed: a customer payment
  // LNbits has in flight when it dies is failed by it on restart ("retrying is not
  // possible"), which is the customer's to redo with a new invoice, not a settlement
  // satmachine could finish. The kill lands while the worker pays legs.
  it('LNbits killed and restarted while legs are paid: each leg paid once in LNbits, balances to the sat', async () => {
    const batch = planBatch(fleet, rng, { cashOuts: 16, cashIns: 4 });
    // legs of the first batch are all completed: mid-payment means legs of this one paid
    const before = (await legProgress(db.pool)).completed;
    await batchUnderLnbitsFault(
      batch,
      async () => {
        await sleep(rng.int(0, 1500));
        const at = await reach('legs of this batch paid, others pending', async () => {
          const m = await midPayment(db.pool);
          return m && m.completed > before ? m : null;
        });
        // the kill lands inside LNbits' payment, between its two commits (docs/lnbits.md, "A payment
        // LNbits lost"): from here LNbits' second commit (the payee credited) is refused, as a kill
        // right before it would; killed once it debited a payer it did not credit
        lnbits.sql(
          `CREATE TRIGGER satmachine_fault_tear BEFORE UPDATE ON apipayments
             WHEN OLD.amount > 0 AND OLD.status = 'pending' AND NEW.status = 'success'
             BEGIN SELECT RAISE(ABORT, 'LNbits killed before crediting the payee'); END`,
        );
        await reach('a payment LNbits debited and did not credit', async () => {
          const torn = lnbits.sql(
            `SELECT o.payment_hash FROM apipayments o JOIN apipayments i
                ON i.payment_hash = o.payment_hash AND i.amount > 0 AND i.status = 'pending'
              WHERE o.amount < 0 AND o.status = 'success'`,
          );
          return torn.length > 0 ? torn : null;
        });
        await lnbits.stop('SIGKILL');
        lnbits.sql('DROP TRIGGER satmachine_fault_tear');
        expectMidPayment(at, 'the LNbits kill');
        const downFor = rng.int(1000, 4000);
        process.stderr.write(
          `[lnbitsFaults] LNbits killed with ${at.processed} processed, ${at.pending} legs pending, ${at.completed} completed; down for ${downFor} ms\n`,
        );
        await sleep(downFor);
        await lnbits.run();
      },
      { faultAfterInputs: true },
    );
  }, 600_000);
});
