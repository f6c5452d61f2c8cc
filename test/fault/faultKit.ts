/**
 * Shared pieces of the fault tests: a seeded random source (the seed is printed, so
 * a failure is reproducible with FAULT_SEED=<seed>), a fleet of machines and LPs, a
 * batch of ATM transactions played through a real relay and the ledger, and the
 * invariants every fault must leave intact (SQL over every row).
 */
import { holdsLpFiat } from '../../src/db/lpBalances';
import type { Client } from '@temporalio/client';
import { settlementWorkflowId } from '../../src/contract';
import { ALERT_EVALUATOR_WORKFLOW, ALERT_WORKFLOW } from '../../src/workflows/alerts/definitions';
import { insertWallet, ledgerInvariantViolations } from '../../src/db/ledger';
import type { Pool } from '../../src/db/pool';
import { buildSettlementEvent } from '../../src/nostr/codec';
import { RelayClient } from '../../src/nostr/relayClient';
import { PaymentRefusedError } from '../../src/payments/backend';
import {
  createLp,
  createMachine,
  createOperator,
  createSuper,
  ledgerFor,
  newPaymentHash,
  setDefaultSplits,
  settlementContent,
  type Machine,
  type Operator,
} from '../helpers/fixtures';
import { expectBalancesReconciled } from '../helpers/balances';
import { mulberry32 } from '../helpers/mulberry32';
import { spawnSatmachine, type SpawnedProcess } from '../helpers/processes';
import { startRelay, type RunningRelay } from '../../src/relay/relayServer';
import { freePort } from '../helpers/ports';
import { eventually, testLogger, uniqueTaskQueue } from '../helpers/stack';
import {
  centsOf,
  checkBatch,
  ppmOf,
  recordedLegs,
  type ModelSettlement,
  type ModelWorld,
} from '../helpers/batchOracle';

// ---- seeded randomness ------------------------------------------------------------------

export interface Rng {
  seed: number;
  /** uniform in [0, 1) */
  next(): number;
  /** integer in [min, max] */
  int(min: number, max: number): number;
}

/** mulberry32: small, fast, good enough to pick delays and amounts reproducibly. */
export function seededRng(name: string): Rng {
  const fromEnv = Number(process.env.FAULT_SEED);
  const seed = Number.isInteger(fromEnv) && fromEnv > 0 ? fromEnv : (Date.now() % 2_147_483_647) + 1;
  process.stderr.write(
    `\n[${name}] seed ${seed} (reproduce: FAULT_SEED=${seed} npx jest test/fault/${name})\n`,
  );
  const next = mulberry32(seed);
  return {
    seed,
    next,
    int: (min, max) => min + Math.floor(next() * (max - min + 1)),
  };
}

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

// ---- the fleet ----------------------------------------------------------------------------

export interface Fleet {
  operators: Operator[];
  machines: { machine: Machine; operator: Operator }[];
  /** what the test put in, for the reference (test/helpers/batchOracle.ts) */
  world: ModelWorld;
  /** opening balance of each wallet the test funded */
  opening: Map<string, bigint>;
}

const LEDGER_ADDRESS_DOMAIN = 'ledger.satmachine.local';

/**
 * `machines` machines over two operators, each with `lps` LPs: flow LPs with
 * deposits, one LP forwarding its sats to a ledger Lightning address, one in fixed
 * mode with a daily limit; the first machine's LPs hold little, so part of its
 * principal stays uncovered (the operator's own cash). Commission splits 70/30.
 * Machine wallets are funded so cash-ins can pay out. The fleet's model (deposits,
 * modes, limits, targets, fractions) is kept as the test wrote it, for the reference.
 */
export async function buildFleet(pool: Pool, o: { machines: number; lps: number }): Promise<Fleet> {
  const sup = await createSuper(pool);
  const operators = [await createOperator(pool, 'operator a'), await createOperator(pool, 'operator b')];
  const world: ModelWorld = {
    superWalletId: sup.walletId,
    platformCashInPpm: ppmOf('0.01'), // createSuper's defaults
    platformCashOutPpm: ppmOf('0.01'),
    rules: new Map(),
    machines: [],
  };
  const opening = new Map<string, bigint>();
  for (const op of operators) {
    const own = await insertWallet(pool, op.id, 'revenue');
    const partner = await insertWallet(pool, null, 'partner');
    const rules = [
      { target: own.id, fraction: '0.7' },
      { target: partner.id, fraction: '0.3' },
    ];
    await setDefaultSplits(pool, op, rules);
    world.rules.set(
      op.id,
      rules.map((r, i) => ({ target: r.target, ppm: ppmOf(r.fraction), sortOrder: i })),
    );
  }
  const machines: Fleet['machines'] = [];
  for (let m = 0; m < o.machines; m++) {
    const operator = operators[m % operators.length]!;
    const fundSats = 20_000_000;
    const machine = await createMachine(pool, operator, { name: `atm ${m}`, fundSats });
    opening.set(machine.walletId, BigInt(fundSats));
    const model: ModelWorld['machines'][number] = {
      id: machine.row.id,
      walletId: machine.walletId,
      operatorId: operator.id,
      cashInPpm: ppmOf('0.03'), // createMachine's defaults
      cashOutPpm: ppmOf('0.04'),
      lps: [],
    };
    for (let i = 0; i < o.lps; i++) {
      const cold = i === 1 ? await insertWallet(pool, null, `cold ${m}.${i}`) : null;
      const depositCents = m === 0 ? 2_000 + i * 500 : 40_000 + i * 7_301;
      const mode = i === 2 ? 'fixed' : 'flow';
      const address = cold ? `${cold.id}@${LEDGER_ADDRESS_DOMAIN}` : undefined;
      const lp = await createLp(pool, machine, {
        name: `lp ${m}.${i}`,
        depositCents,
        mode,
        dailyLimit: mode === 'fixed' ? '120.00' : undefined,
        autoforward: address,
      });
      model.lps.push({
        clientId: lp.clientId,
        walletId: lp.walletId,
        depositCents: BigInt(depositCents),
        mode,
        dailyLimitCents: mode === 'fixed' ? 12_000n : undefined,
        autoforward: cold && address ? { address, walletId: cold.id } : undefined,
      });
    }
    world.machines.push(model);
    machines.push({ machine, operator });
  }
  return { operators, machines, world, opening };
}

// ---- the batch ----------------------------------------------------------------------------

export interface PlannedSettlement {
  hash: string;
  txType: 'cash_out' | 'cash_in';
  wireSats: number;
  feeSats: number;
  fiat: string;
  machine: Machine;
  operator: Operator;
  order: 'event-first' | 'payment-first';
}

/** `cashOuts` + `cashIns` settlements spread over the fleet, amounts and signal order at random. */
export function planBatch(
  fleet: Fleet,
  rng: Rng,
  o: { cashOuts: number; cashIns: number },
): PlannedSettlement[] {
  const types: ('cash_out' | 'cash_in')[] = [
    ...Array<'cash_out'>(o.cashOuts).fill('cash_out'),
    ...Array<'cash_in'>(o.cashIns).fill('cash_in'),
  ];
  for (let i = types.length - 1; i > 0; i--) {
    const j = rng.int(0, i);
    [types[i], types[j]] = [types[j]!, types[i]!];
  }
  return types.map((txType, i) => {
    const { machine, operator } = fleet.machines[i % fleet.machines.length]!;
    // 1,000 sats per fiat unit: principal = cents × 10; the ATM's fee is ~5 % of it
    const cents = rng.int(500, 9_000);
    const principal = cents * 10;
    const fee = Math.floor((principal * rng.int(40, 60)) / 1000);
    return {
      hash: newPaymentHash(),
      txType,
      wireSats: txType === 'cash_out' ? principal + fee : principal,
      feeSats: fee,
      fiat: (cents / 100).toFixed(2),
      machine,
      operator,
      order: rng.next() < 0.5 ? ('event-first' as const) : ('payment-first' as const),
    };
  });
}

/** Retries `fn` until it resolves, for as long as a fault may last (PostgreSQL or Temporal down). */
export async function persist<T>(what: string, fn: () => Promise<T>, timeoutMs = 90_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (let wait = 200; ; wait = Math.min(wait * 2, 2000)) {
    try {
      return await fn();
    } catch (err) {
      if (err instanceof PaymentRefusedError || Date.now() > deadline)
        throw new Error(`${what}: ${(err as Error).message}`, { cause: err });
    }
    await sleep(wait);
  }
}

/** The ATM's signed settlement event, published to the relay (until the relay accepts it). */
export async function publishEvent(publisher: RelayClient, s: PlannedSettlement): Promise<void> {
  const event = buildSettlementEvent(
    s.machine.secretHex,
    s.operator.pubkey,
    settlementContent({
      paymentHash: s.hash,
      txType: s.txType,
      wireSats: s.wireSats,
      feeSats: s.feeSats,
      fiat: s.fiat,
      fiatCode: s.machine.row.fiat_code,
    }),
  );
  await persist(`publishing ${s.hash.slice(0, 8)}`, async () => {
    const r = await publisher.publish(event);
    if (!r.accepted) throw new Error(`relay refused: ${r.message}`);
  });
}

/**
 * Plays one settlement as the ATM and its Lightning node would: the signed event is
 * published to the relay (until the relay accepts it) and the payment is reported to
 * the ledger, whose outbox the ingest's payment listener forwards.
 */
export async function playThroughRelay(
  pool: Pool,
  publisher: RelayClient,
  s: PlannedSettlement,
): Promise<void> {
  const publish = () => publishEvent(publisher, s);
  const pay = () =>
    persist(`payment ${s.hash.slice(0, 8)}`, () =>
      ledgerFor(pool).recordLightningPayment({
        wallet_id: s.machine.walletId,
        payment_hash: s.hash,
        amount_sats: s.wireSats,
        direction: s.txType === 'cash_out' ? 'incoming' : 'outgoing',
      }),
    );
  if (s.order === 'event-first') {
    await publish();
    await pay();
  } else {
    await pay();
    await publish();
  }
}

/** Plays the batch open loop: settlement i starts at i × `spacingMs`, whatever the others do. */
export async function playBatch(
  pool: Pool,
  publisher: RelayClient,
  batch: readonly PlannedSettlement[],
  spacingMs: number,
): Promise<void> {
  const started = Date.now();
  await Promise.all(
    batch.map(async (s, i) => {
      await sleep(started + i * spacingMs - Date.now());
      await playThroughRelay(pool, publisher, s);
    }),
  );
}

export async function connectedPublisher(url: string): Promise<RelayClient> {
  const publisher = new RelayClient(url, { logger: testLogger }).start();
  await publisher.waitConnected(15_000);
  return publisher;
}

// ---- waiting and checking -----------------------------------------------------------------

export async function processedCount(pool: Pool): Promise<number> {
  const { rows } = await pool.query<{ n: number }>(
    `SELECT count(*)::int AS n FROM satmachine.dca_settlements WHERE status = 'processed'`,
  );
  return rows[0]!.n;
}

/**
 * Waits until `check` yields a value (not null/false) and returns it: the fault then
 * hits the batch at that point. If the point is not reached within `timeoutMs` the
 * test fails with `what` and the last value seen — a fault that landed nowhere
 * proves nothing.
 */
export async function reach<T>(
  what: string,
  check: () => Promise<T | null | false>,
  timeoutMs = 120_000,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let lastError = '';
  for (;;) {
    try {
      const v = await check();
      if (v !== null && v !== false) return v;
    } catch (err) {
      lastError = ` (last check failed: ${(err as Error).message})`;
    }
    if (Date.now() > deadline)
      throw new Error(
        `the fault could not land where it must: ${what} not reached within ${timeoutMs} ms${lastError}`,
      );
    await sleep(50);
  }
}

/**
 * The batch is mid-payment: some legs paid and others still pending (with the
 * number of processed settlements), else null.
 */
export async function midPayment(
  pool: Pool,
): Promise<{ pending: number; completed: number; processed: number } | null> {
  const p = await legProgress(pool);
  if (p.pending === 0 || p.completed === 0) return null;
  return { ...p, processed: await processedCount(pool) };
}

/**
 * The moment a fault lands on a batch: once it is under way (some settlements paid,
 * others still arriving; a seeded 2 to 8 processed, after a seeded 0 to 500 ms) and
 * legs are mid-payment (paid ones and pending ones), or the test fails naming `fault`.
 */
export async function midPaymentMoment(
  pool: Pool,
  rng: Rng,
  fault: string,
): Promise<{ pending: number; completed: number; processed: number }> {
  const target = rng.int(2, 8);
  await sleep(rng.int(0, 500));
  const at = await reach(`${target} settlements processed with legs mid-payment`, async () => {
    const m = await midPayment(pool);
    return m && m.processed >= target ? m : null;
  });
  expectMidPayment(at, fault);
  return at;
}

/** Asserts a fault landed on work in progress (measured at the fault). */
export function expectMidPayment(at: { pending: number; completed: number }, fault: string): void {
  if (at.pending > 0 && at.completed > 0) return;
  throw new Error(
    `${fault} did not land on work in progress: ${at.pending} legs pending, ${at.completed} completed at that moment`,
  );
}

/** Counts of legs pending and completed, over every settlement. */
export async function legProgress(pool: Pool): Promise<{ pending: number; completed: number }> {
  const { rows } = await pool.query<{ pending: number; completed: number }>(
    `SELECT count(*) FILTER (WHERE status = 'pending')::int AS pending,
            count(*) FILTER (WHERE status = 'completed')::int AS completed FROM satmachine.dca_payments`,
  );
  return rows[0]!;
}

/** Waits until every settlement of the batch has one of `final` statuses; the error says where each stands. */
export async function awaitBatch(
  pool: Pool,
  hashes: readonly string[],
  o: { final?: string[]; timeoutMs: number; logs?: () => string },
): Promise<Map<string, string>> {
  const final = o.final ?? ['processed'];
  const deadline = Date.now() + o.timeoutMs;
  let last = new Map<string, string>();
  for (;;) {
    try {
      const { rows } = await pool.query<{ payment_hash: string; status: string }>(
        'SELECT payment_hash, status FROM satmachine.dca_settlements WHERE payment_hash = ANY($1)',
        [hashes],
      );
      last = new Map(rows.map((r) => [r.payment_hash, r.status]));
      if (hashes.every((h) => final.includes(last.get(h) ?? ''))) return last;
    } catch {
      /* PostgreSQL may be coming back */
    }
    if (Date.now() > deadline) {
      const tally: Record<string, number> = {};
      for (const h of hashes) tally[last.get(h) ?? 'no row'] = (tally[last.get(h) ?? 'no row'] ?? 0) + 1;
      throw new Error(
        `the batch did not finish in ${o.timeoutMs} ms: ${JSON.stringify(tally)}\n${o.logs?.() ?? ''}`,
      );
    }
    await sleep(250);
  }
}

/**
 * The invariants no fault may break, over every row of the database (ledger backend):
 * - every completed leg was paid by exactly one ledger transfer (key = leg id), of its
 *   amount, between its wallets; no other leg was paid; no transfer is unexplained;
 * - the leg invariants below (expectLegInvariants);
 * - the double-entry ledger balances.
 */
export async function expectInvariants(pool: Pool): Promise<void> {
  const { rows: payments } = await pool.query<{ id: string; status: string; transfers: number }>(
    `SELECT p.id, p.status, count(t.id)::int AS transfers
       FROM satmachine.dca_payments p LEFT JOIN satmachine.ledger_transfers t ON t.idempotency_key = p.id
      GROUP BY p.id, p.status
     HAVING count(t.id) <> CASE WHEN p.status = 'completed' THEN 1 ELSE 0 END`,
  );
  expect(payments).toEqual([]);

  const { rows: mismatched } = await pool.query(
    `SELECT p.id, p.amount_sats, t.amount_sats AS paid, p.source_wallet_id, t.from_wallet_id, p.destination_wallet_id,
            p.destination_ln_address, t.to_wallet_id
       FROM satmachine.dca_payments p JOIN satmachine.ledger_transfers t ON t.idempotency_key = p.id
      WHERE t.amount_sats <> p.amount_sats OR t.from_wallet_id <> p.source_wallet_id
         OR t.to_wallet_id <> COALESCE(p.destination_wallet_id, split_part(p.destination_ln_address, '@', 1))`,
  );
  expect(mismatched).toEqual([]);

  const { rows: unexplained } = await pool.query(
    `SELECT t.id, t.idempotency_key, t.amount_sats FROM satmachine.ledger_transfers t
      WHERE NOT EXISTS (SELECT 1 FROM satmachine.dca_payments p WHERE p.id = t.idempotency_key)
        AND t.idempotency_key NOT LIKE 'ln:%' AND t.idempotency_key NOT LIKE 'fund-%'`,
  );
  expect(unexplained).toEqual([]);

  await expectLegInvariants(pool);
  expect(await ledgerInvariantViolations(pool)).toEqual([]);
}

/**
 * Invariants of the legs, whatever the payment backend:
 * - sats conserve for every settlement with legs: Σ non-voided, non-autoforward legs
 *   == wire_sats (cash-out) or fee_sats (cash-in);
 * - no LP's fiat was spent twice: Σ pending/completed dca+settlement legs ≤ its
 *   confirmed deposits;
 * - the maintained LP balance rows equal the formula over deposits and legs.
 */
export async function expectLegInvariants(pool: Pool): Promise<void> {
  const { rows: unbalanced } = await pool.query(
    `SELECT s.id, s.tx_type, s.status, s.wire_sats, s.fee_sats, sum(p.amount_sats)::bigint AS legs
       FROM satmachine.dca_settlements s
       JOIN satmachine.dca_payments p ON p.settlement_id = s.id AND p.status <> 'voided' AND p.leg_type <> 'autoforward'
      GROUP BY s.id
     HAVING sum(p.amount_sats) <> CASE WHEN s.tx_type = 'cash_out' THEN s.wire_sats ELSE s.fee_sats END`,
  );
  expect(unbalanced).toEqual([]);

  const { rows: overspent } = await pool.query(
    `SELECT c.id, d.confirmed, l.spent FROM satmachine.dca_clients c
       JOIN LATERAL (SELECT COALESCE(sum(amount), 0) AS confirmed FROM satmachine.dca_deposits
                      WHERE client_id = c.id AND status = 'confirmed') d ON true
       JOIN LATERAL (SELECT COALESCE(sum(amount_fiat), 0) AS spent FROM satmachine.dca_payments
                      WHERE client_id = c.id AND ${holdsLpFiat()}) l ON true
      WHERE l.spent > d.confirmed`,
  );
  expect(overspent).toEqual([]);

  // the maintained LP balance rows equal the formula (satmachine reconcile-balances)
  await expectBalancesReconciled(pool);
}

/**
 * Every settlement of the batch has legs and is processed, its workflow completed
 * with that status (the row can say `processed` a little before the workflow task
 * that wrote it is recorded: a worker killed in between re-runs it), nothing else was
 * settled and no workflow of the task queue is left running.
 */
export async function expectBatchSettled(
  pool: Pool,
  client: Client,
  taskQueue: string,
  batch: readonly PlannedSettlement[],
): Promise<void> {
  const { rows } = await pool.query<{ payment_hash: string; status: string; legs: number }>(
    `SELECT s.payment_hash, s.status, count(p.id)::int AS legs FROM satmachine.dca_settlements s
       LEFT JOIN satmachine.dca_payments p ON p.settlement_id = s.id GROUP BY s.id`,
  );
  expect(rows.map((r) => r.payment_hash).sort()).toEqual(batch.map((s) => s.hash).sort());
  expect(rows.filter((r) => r.status !== 'processed' || r.legs === 0)).toEqual([]);
  const results = await Promise.all(
    batch.map(
      (s) => client.workflow.getHandle(settlementWorkflowId(s.hash)).result() as Promise<{ status: string }>,
    ),
  );
  expect(results.filter((r) => r.status !== 'processed')).toEqual([]);
  // visibility (the list) follows the workflows' completion a little later
  await eventually(
    async () => {
      const running: string[] = [];
      // the settlements and their leg-batch children (the worker's alert evaluator runs for ever, an open alert until resolved)
      for await (const w of client.workflow.list({
        query: `TaskQueue = "${taskQueue}" AND ExecutionStatus = "Running" AND WorkflowType != "${ALERT_EVALUATOR_WORKFLOW}" AND WorkflowType != "${ALERT_WORKFLOW}"`,
      }))
        running.push(w.workflowId);
      return running.length === 0;
    },
    20_000,
    'no workflow of the batch still running',
  );
}

/** A played settlement as the oracle sees it: the amounts the test signed. */
export function modelOf(s: PlannedSettlement): ModelSettlement {
  return {
    hash: s.hash,
    machineId: s.machine.row.id,
    txType: s.txType,
    wire: BigInt(s.wireSats),
    fee: BigInt(s.feeSats),
    fiatCents: centsOf(s.fiat),
  };
}

/**
 * Right amounts to the right parties: every settlement's legs (type, LP,
 * destination, sats, fiat, final status) equal the independent reference's, and
 * every ledger wallet holds what the reference says (test/helpers/batchOracle.ts).
 */
export async function expectReferenceAmounts(
  pool: Pool,
  fleet: Fleet,
  batch: readonly PlannedSettlement[],
): Promise<void> {
  const legs = await recordedLegs(
    pool,
    batch.map((s) => s.hash),
  );
  const { rows } = await pool.query<{ id: string; balance: string }>(
    `SELECT id, balance_sats::text AS balance FROM satmachine.ledger_wallets WHERE kind = 'user'`,
  );
  const balances = new Map(rows.map((r) => [r.id, BigInt(r.balance)]));
  const { problems } = checkBatch(fleet.world, batch.map(modelOf), legs, fleet.opening, balances);
  if (problems.length > 0)
    throw new Error(`the batch differs from the reference calculation:\n${problems.join('\n')}`);
}

// ---- the scenario -------------------------------------------------------------------------

/** Where a fault test runs: its database, Temporal, relay, and the OS processes it spawned. */
export interface Stage {
  pool: Pool;
  databaseUrl: string;
  client: Client;
  taskQueue: string;
  relayUrl: string;
  /** the fleet the batch runs on (its model is the reference's input) */
  fleet: Fleet;
  /** extra environment of the processes (e.g. TEMPORAL_ADDRESS of a dedicated server) */
  env?: Record<string, string>;
  /** every process spawned, by command, for afterAll to kill and for failure messages */
  processes: { worker: SpawnedProcess[]; ingest: SpawnedProcess[] };
}

/**
 * A stage on `pool`: a fleet of 3 machines and 4 LPs, our relay (on a free port; the
 * caller closes it) and a unique task queue starting with `taskQueuePrefix`.
 */
export async function startStage(o: {
  pool: Pool;
  databaseUrl: string;
  client: Client;
  taskQueuePrefix: string;
  env?: Record<string, string>;
}): Promise<{ stage: Stage; relay: RunningRelay; fleet: Fleet }> {
  const fleet = await buildFleet(o.pool, { machines: 3, lps: 4 });
  const relay = await startRelay({ pool: o.pool, logger: testLogger, port: await freePort() });
  const stage: Stage = {
    pool: o.pool,
    databaseUrl: o.databaseUrl,
    client: o.client,
    taskQueue: uniqueTaskQueue(o.taskQueuePrefix),
    relayUrl: relay.url,
    fleet,
    ...(o.env ? { env: o.env } : {}),
    processes: { worker: [], ingest: [] },
  };
  return { stage, relay, fleet };
}

/** Runs `satmachine worker` or `satmachine ingest` as an OS process on the stage, once it runs. */
export async function spawnOnStage(stage: Stage, command: 'worker' | 'ingest'): Promise<SpawnedProcess> {
  const p = spawnSatmachine(command, {
    databaseUrl: stage.databaseUrl,
    taskQueue: stage.taskQueue,
    extra: { NOSTR_RELAYS: stage.relayUrl, ...stage.env },
  });
  stage.processes[command].push(p);
  await p.waitFor(command === 'worker' ? 'worker running' : 'ingest running');
  return p;
}

export async function killAll(stage: Stage): Promise<void> {
  for (const p of [...stage.processes.worker, ...stage.processes.ingest]) await p.kill('SIGKILL');
}

/**
 * A worker and an ingest process, the batch played through the relay (one
 * settlement every `spacingMs`, open loop) and `fault` injected meanwhile; then
 * every settlement must end `processed` with its workflow completed, and the
 * invariants must hold over every row. Returns the first worker and ingest.
 */
export async function batchUnderFault(
  stage: Stage,
  batch: readonly PlannedSettlement[],
  spacingMs: number,
  fault: () => Promise<void>,
): Promise<{ worker: SpawnedProcess; ingest: SpawnedProcess }> {
  const [worker, ingest] = await Promise.all([spawnOnStage(stage, 'worker'), spawnOnStage(stage, 'ingest')]);
  const publisher = await connectedPublisher(stage.relayUrl);
  try {
    const playing = playBatch(stage.pool, publisher, batch, spacingMs);
    await fault();
    await playing;
    await awaitBatch(
      stage.pool,
      batch.map((s) => s.hash),
      { timeoutMs: 150_000, logs: () => tails(stage.processes) },
    );
    await expectBatchSettled(stage.pool, stage.client, stage.taskQueue, batch);
    await expectInvariants(stage.pool);
    await expectReferenceAmounts(stage.pool, stage.fleet, batch);
  } finally {
    publisher.close();
  }
  return { worker, ingest };
}

/** The last lines of each process's output, for a failure message. */
export function tails(procs: Record<string, SpawnedProcess[]>, chars = 3000): string {
  return Object.entries(procs)
    .map(([name, list]) => {
      const p = list[list.length - 1];
      return p ? `--- ${name} (last of ${list.length}) ---\n${p.output().slice(-chars)}` : '';
    })
    .join('\n');
}
