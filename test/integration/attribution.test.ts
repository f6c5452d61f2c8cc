/**
 * Attribution decided by the payment (issue 15 item 1, docs/settlement.md §4.2): a rival
 * operator's machine that signs someone else's payment hash, before or after the real
 * machine, in either order with the payment, never rejects, delays or sees that settlement.
 * The whole path on real components: relay → ingest → Temporal → worker → ledger → API.
 */
import { Writable } from 'node:stream';
import pino from 'pino';
import { generateSecretKey } from 'nostr-tools/pure';
import { bytesToHex } from 'nostr-tools/utils';
import { settlementWorkflowId, type SettlementWorkflowState } from '../../src/contract';
import { toNpub } from '../../src/domain/nostrKeys';
import { SettlementSignals } from '../../src/ingest/settlementSignals';
import { registry } from '../../src/metrics/registry';
import { buildSettlementEvent } from '../../src/nostr/codec';
import type { RelayClient } from '../../src/nostr/relayClient';
import type { RunningRelay } from '../../src/relay/relayServer';
import type { TestApi } from '../helpers/api';
import {
  createLp,
  createMachine,
  createOperator,
  createSuper,
  ledgerFor,
  newPaymentHash,
  settlementContent,
  type Lp,
  type Machine,
  type Operator,
  splitAllToNewWallet,
} from '../helpers/fixtures';
import { awaitSettled, legsOf, settlementByHash } from '../helpers/settle';
import { eventually } from '../helpers/stack';
import { startTestStack, type TestStack } from '../helpers/testStack';

jest.setTimeout(120_000);

/** What the worker logs at WARN and above. */
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

async function droppedCandidates(kind: 'event' | 'payment'): Promise<number> {
  const m = await registry.getSingleMetric('satmachine_settlement_candidates_dropped_total')!.get();
  return m.values.find((v) => v.labels.kind === kind)?.value ?? 0;
}

describe('attribution by payment: a rival machine signing another operator’s payment hash', () => {
  let stack: TestStack;
  let db: TestStack['db'];
  let temporal: TestStack['temporal'];
  let taskQueue: string;
  let relay: RunningRelay;
  let publisher: RelayClient;
  let api: TestApi;
  let alice: Operator;
  let mallory: Operator;
  let atmA: Machine;
  let lpA: Lp;
  let rogue: Machine;
  let rogue2: Machine;
  let lpB: Lp;

  const WIRE = 21_000;
  const FEE = 1_000;

  beforeAll(async () => {
    stack = await startTestStack({ workerLogger: captureLogger });
    ({ db, temporal, taskQueue } = stack);
    relay = await stack.startRelay();
    api = await stack.startApi();
    await createSuper(db.pool);
    alice = await createOperator(db.pool, 'alice operations');
    mallory = await createOperator(db.pool, 'mallory operations');
    for (const op of [alice, mallory]) {
      await splitAllToNewWallet(db.pool, op, { walletName: 'revenue' });
    }
    atmA = await createMachine(db.pool, alice, { name: 'Alice lobby ATM' });
    lpA = await createLp(db.pool, atmA, { name: 'alice lp', depositCents: 1_000_000 });
    rogue = await createMachine(db.pool, mallory, { name: 'Mallory rogue ATM', fundSats: 1_000_000 });
    rogue2 = await createMachine(db.pool, mallory, { name: 'Mallory second ATM' });
    lpB = await createLp(db.pool, rogue, { name: 'mallory lp', depositCents: 1_000_000 });
    await stack.startIngest([relay.url], { keyRefreshMs: 500 });
    publisher = await stack.connectPublisher(relay.url);
  });
  afterAll(async () => {
    await stack?.stop();
  });

  /** A kind-21000 event for `hash` with A's screen amounts, signed by `signer`, encrypted to `to`. */
  const eventBy = (
    signer: Machine,
    to: Operator,
    hash: string,
    o: { txType?: 'cash_out' | 'cash_in'; wire?: number; fee?: number } = {},
  ) =>
    buildSettlementEvent(
      signer.secretHex,
      to.pubkey,
      settlementContent({
        paymentHash: hash,
        txType: o.txType ?? 'cash_out',
        wireSats: o.wire ?? WIRE,
        feeSats: o.fee ?? FEE,
        fiat: '20.00',
      }),
    );
  const publish = async (e: ReturnType<typeof eventBy>) => {
    const ok = await publisher.publish(e);
    expect(ok.accepted).toBe(true);
  };
  /** The node reports a Lightning payment on a machine wallet (ledger outbox → payment listener). */
  const pay = (m: Machine, hash: string, direction: 'incoming' | 'outgoing' = 'incoming') =>
    ledgerFor(db.pool).recordLightningPayment({
      wallet_id: m.walletId,
      payment_hash: hash,
      amount_sats: WIRE,
      direction,
    });
  /** A payment of WIRE sats on a machine wallet, signalled straight to the workflow. */
  const observe = (
    signals: SettlementSignals,
    m: Machine,
    hash: string,
    direction: 'incoming' | 'outgoing' = 'incoming',
  ) => signals.paymentObserved({ wallet_id: m.walletId, payment_hash: hash, amount_sats: WIRE, direction });
  /** The settlement row of `hash` once its stuck message says `text`. */
  const stuckRowSaying = (hash: string, text: string) =>
    eventually(
      async () => {
        const s = await settlementByHash(db.pool, hash);
        return s?.error_message?.includes(text) ? s : null;
      },
      30_000,
      'the stuck row',
    );
  const state = (hash: string) =>
    temporal.client.workflow.getHandle(settlementWorkflowId(hash)).query<SettlementWorkflowState>('state');
  /** Barrier: the workflow holds this many candidates (so the next one arrives after them). */
  const candidates = (hash: string, events: number, payments = 0) =>
    eventually(
      async () => {
        const s = await state(hash);
        return (s.candidate_events ?? 0) >= events && (s.payment_observations ?? 0) >= payments;
      },
      30_000,
      `${events} event(s) and ${payments} payment(s) in settlement ${hash.slice(0, 8)}`,
    );

  const droppedCount = async (reason: string) => {
    const metric = await registry.getSingleMetric('satmachine_ingest_dropped_total')?.get();
    return metric?.values.find((v) => v.labels.reason === reason)?.value ?? 0;
  };

  /** A's settlement is processed on A's machine, each leg paid once, and nothing of Mallory shows. */
  async function expectAliceSettled(hash: string) {
    const s = await awaitSettled(db.pool, temporal.client, hash);
    expect(s).toMatchObject({
      status: 'processed',
      machine_id: atmA.row.id,
      tx_type: 'cash_out',
      wire_sats: WIRE,
      error_message: null,
      notes: null,
    });
    const legs = await legsOf(db.pool, s.id);
    expect(legs.length).toBeGreaterThan(0);
    expect(legs.every((l) => l.status === 'completed' && l.source_wallet_id === atmA.walletId)).toBe(true);
    expect(legs.reduce((a, l) => a + l.amount_sats, 0)).toBe(WIRE);
    expect(legs.filter((l) => l.leg_type === 'dca').map((l) => l.client_id)).toEqual([lpA.clientId]);
    const { rows } = await db.pool.query<{ key: string; n: number }>(
      `SELECT idempotency_key AS key, count(*)::int AS n FROM satmachine.ledger_transfers
        WHERE idempotency_key = ANY($1) GROUP BY idempotency_key`,
      [legs.map((l) => l.id)],
    );
    expect(rows.map((r) => r.n)).toEqual(legs.map(() => 1));
    // Alice's API: her settlement, with nothing of Mallory's machine, operator or key
    const mine = await api.call('GET', `/api/v1/settlements/${s.id}`, alice.apiKey);
    expect(mine.status).toBe(200);
    for (const secret of [
      rogue.row.id,
      rogue.row.name,
      rogue.row.machine_npub,
      rogue.pubkey,
      rogue2.row.id,
      rogue2.row.name,
      rogue2.pubkey,
      mallory.id,
      'mallory',
    ]) {
      expect(mine.text).not.toContain(secret);
    }
    // Mallory's API: no trace of Alice's settlement
    expect((await api.call('GET', `/api/v1/settlements/${s.id}`, mallory.apiKey)).status).toBe(404);
    const list = await api.call('GET', '/api/v1/settlements?limit=500', mallory.apiKey);
    expect(list.status).toBe(200);
    expect(list.text).not.toContain(hash);
    // Mallory's worklist: at most a `waiting` row of what her own machine signed or paid (a sighting,
    // docs/operations.md "Worklist"), nothing of Alice's settlement (its id, machine, row or status)
    const wl = await api.call('GET', '/api/v1/settlements/worklist?threshold_minutes=0', mallory.apiKey);
    expect(wl.status).toBe(200);
    for (const bucket of ['rejected', 'errored', 'stuck_pending', 'stuck_processing', 'holding'])
      expect(JSON.stringify(wl.body[bucket])).not.toContain(hash);
    for (const w of (wl.body.waiting as { payment_hash: string; machine_id: string }[]).filter(
      (x) => x.payment_hash === hash,
    )) {
      expect(w.machine_id).toBe(rogue.row.id);
    }
    for (const secret of [s.id, atmA.row.id, atmA.row.name, alice.id]) expect(wl.text).not.toContain(secret);
    return s;
  }

  it("the rival signs Alice's hash BEFORE her machine (two events, one encrypted to Alice): Alice's settlement processes", async () => {
    const hash = newPaymentHash();
    await publish(eventBy(rogue, mallory, hash)); // copied from Alice's screen, signed by Mallory's ATM
    await candidates(hash, 1);
    // a second rogue ATM, addressed to Alice's operator key: Alice registered no machine with that
    // key, so the ingest drops it (routing by p tag, protocol.md §2.1) before any workflow sees it
    const strangerDrops = () => droppedCount('unknown_pubkey');
    const before = await strangerDrops();
    await publish(eventBy(rogue2, alice, hash));
    await eventually(
      async () => (await strangerDrops()) > before,
      30_000,
      "the ingest's drop of rogue2's event",
    );
    await publish(eventBy(atmA, alice, hash));
    await candidates(hash, 2);
    await pay(atmA, hash);
    await expectAliceSettled(hash);
    expect((await state(hash)).candidate_events).toBe(2);
    expect(await settlementByHash(db.pool, hash)).toMatchObject({ machine_id: atmA.row.id });
  });

  it("the rival signs AFTER Alice's machine, before the payment: Alice's settlement processes", async () => {
    const hash = newPaymentHash();
    await publish(eventBy(atmA, alice, hash));
    await candidates(hash, 1);
    await publish(eventBy(rogue, mallory, hash));
    await candidates(hash, 2);
    await pay(atmA, hash);
    await expectAliceSettled(hash);
  });

  it("payment first, then the rival's event, then Alice's: the rival's event decides nothing", async () => {
    const hash = newPaymentHash();
    await pay(atmA, hash);
    await eventually(async () => (await state(hash).catch(() => null))?.has_payment, 30_000, 'the payment');
    await publish(eventBy(rogue, mallory, hash));
    await candidates(hash, 1, 1);
    await publish(eventBy(atmA, alice, hash));
    await expectAliceSettled(hash);
  });

  it("Alice's own event with a wrong amount is rejected on her machine, with its split; the rival's event stays out", async () => {
    const hash = newPaymentHash();
    await publish(eventBy(rogue, mallory, hash));
    await candidates(hash, 1);
    await publish(eventBy(atmA, alice, hash, { wire: WIRE - 1 }));
    await candidates(hash, 2);
    await pay(atmA, hash);
    const s = await awaitSettled(db.pool, temporal.client, hash);
    // P = 20,999 − 1,000 = 19,999: platform floor(1%) = 199, operator floor(4%) = 799, mismatch 1,000 − 998
    expect(s).toMatchObject({
      status: 'rejected',
      machine_id: atmA.row.id,
      wire_sats: WIRE - 1,
      observed_amount_sats: WIRE,
      principal_sats: 19_999,
      platform_fee_sats: 199,
      operator_fee_sats: 799,
      fee_mismatch_sats: 2,
    });
    expect(s.error_message).toContain(`rejected: payment amount ${WIRE} sats ≠ wire_sats ${WIRE - 1}`);
    expect(s.error_message).toContain(`${toNpub(rogue.pubkey).slice(0, 20)}…`);
    expect(await legsOf(db.pool, s.id)).toEqual([]);
    const mine = await api.call('GET', `/api/v1/settlements/${s.id}`, alice.apiKey);
    for (const secret of [rogue.row.id, rogue.row.name, mallory.id]) expect(mine.text).not.toContain(secret);
    expect((await api.call('GET', `/api/v1/settlements/${s.id}`, mallory.apiKey)).status).toBe(404);
  });

  it("the rival's wallet pays Alice's invoice and claims it as its cash-in: the payee (Alice) settles", async () => {
    const hash = newPaymentHash();
    await publish(eventBy(rogue, mallory, hash, { txType: 'cash_in' }));
    await candidates(hash, 1);
    // the node sees the payment leave Mallory's machine wallet and arrive on Alice's
    await pay(rogue, hash, 'outgoing');
    // barrier: the rival's pair (its cash-in event, its outgoing payment) is being decided; the
    // decision on an outgoing payment waits its grace, and the payee's observation goes first
    await eventually(
      async () => {
        const q = await state(hash);
        return q.phase === 'verifying' && q.payment_observations === 1;
      },
      30_000,
      "the rival's pair under check",
    );
    await pay(atmA, hash, 'incoming');
    await candidates(hash, 1, 2);
    await publish(eventBy(atmA, alice, hash));
    await expectAliceSettled(hash);
    // Mallory's machine paid with its own sats and no settlement leg left its wallet
    const { rows } = await db.pool.query(
      `SELECT count(*)::int AS n FROM satmachine.dca_payments WHERE source_wallet_id = $1`,
      [rogue.walletId],
    );
    expect(rows[0].n).toBe(0);
    expect((await ledgerFor(db.pool).getWallet(lpB.walletId))!.balance_sats).toBe(0);
  });

  it("a payment with no event of its machine goes stuck_pending naming the candidate signers, then settles when Alice's event comes", async () => {
    const hash = newPaymentHash();
    const signals = new SettlementSignals(temporal.client, taskQueue, 1_500);
    // the rival's event starts the workflow (short stuck threshold); no payment yet
    await signals.atmEvent(hash, { event: eventBy(rogue, mallory, hash) });
    await eventually(async () => (await state(hash)).stuck, 30_000, 'stuck with only the rival event');
    // stuck without a payment: nothing is filed under a mere signer
    await ledgerFor(db.pool).fund(atmA.walletId, WIRE, `fund-${hash}`);
    await observe(signals, atmA, hash);
    const waiting = await stuckRowSaying(hash, 'ATM events received from');
    expect(waiting).toMatchObject({ status: 'pending', machine_id: atmA.row.id, wire_sats: null });
    expect(waiting.error_message).toContain(
      'waiting for the ATM event (kind 21000) of the machine whose wallet saw the payment since',
    );
    expect(waiting.error_message).toContain(`${toNpub(rogue.pubkey).slice(0, 20)}…`);
    for (const secret of [rogue.row.id, rogue.row.name, mallory.id]) {
      expect(waiting.error_message).not.toContain(secret);
    }
    const q = await state(hash);
    expect(q).toMatchObject({ stuck: true, phase: 'awaiting_signals', candidate_events: 1 });
    // Alice's worklist lists it; Mallory's does not
    const wlA = await api.call('GET', '/api/v1/settlements/worklist?threshold_minutes=0', alice.apiKey);
    expect(wlA.body.stuck_pending.map((s: { id: string }) => s.id)).toContain(waiting.id);
    const wlB = await api.call('GET', '/api/v1/settlements/worklist?threshold_minutes=0', mallory.apiKey);
    expect(wlB.text).not.toContain(hash);
    // the machine's own event ends the wait
    await signals.atmEvent(hash, { event: eventBy(atmA, alice, hash) });
    await expectAliceSettled(hash);
  });

  it("a payment that left the rival's wallet for Alice's invoice files no row the rival could close or hold; Alice settles", async () => {
    const hash = newPaymentHash();
    const signals = new SettlementSignals(temporal.client, taskQueue, 1_500);
    // Alice's event, and only the rival's outgoing payment (Alice's observation is late): stuck
    await signals.atmEvent(hash, { event: eventBy(atmA, alice, hash) });
    await observe(signals, rogue, hash, 'outgoing');
    // barrier: the workflow described itself as stuck, which it does after the stuck-row step
    const handle = temporal.client.workflow.getHandle(settlementWorkflowId(hash));
    await eventually(
      async () => {
        const meta = await handle.query<{ currentDetails?: string }>('__temporal_workflow_metadata');
        return meta.currentDetails?.includes('stuck: waiting for');
      },
      30_000,
      'the workflow stuck, its stuck-row step done',
    );
    // no row: a payer has no claim on a hash before its own event (it may have paid an invoice of
    // another machine), so nothing the rival's operator could see, close or force-reset
    expect(await settlementByHash(db.pool, hash)).toBeFalsy();
    const wlB = await api.call('GET', '/api/v1/settlements/worklist?threshold_minutes=0', mallory.apiKey);
    expect(wlB.text).not.toContain(hash);
    const listB = await api.call('GET', '/api/v1/settlements?limit=100', mallory.apiKey);
    expect(listB.text).not.toContain(hash);
    // then the payee's incoming observation: Alice's settlement
    await ledgerFor(db.pool).fund(atmA.walletId, WIRE, `fund-${hash}`);
    await observe(signals, atmA, hash);
    await expectAliceSettled(hash);
    const described = await handle.describe();
    expect(described.searchAttributes.MachineId).toEqual([atmA.row.id]);
    expect(described.searchAttributes.OperatorId).toEqual([alice.id]);
  });

  it('an outgoing payment on the machine’s own wallet does not fit its cash-out event: it waits for the incoming one', async () => {
    const hash = newPaymentHash();
    const signals = new SettlementSignals(temporal.client, taskQueue, 1_500);
    await ledgerFor(db.pool).fund(atmA.walletId, 2 * WIRE, `fund-${hash}`);
    await signals.atmEvent(hash, { event: eventBy(atmA, alice, hash) });
    await observe(signals, atmA, hash, 'outgoing');
    const waiting = await stuckRowSaying(hash, 'a payment that fits');
    expect(waiting.status).toBe('pending');
    expect(waiting.error_message).toContain('a cash_out needs an incoming payment');
    await observe(signals, atmA, hash);
    await expectAliceSettled(hash);
  });

  it('the 9th distinct ATM event (and a second one of a signer) is dropped, logged, counted and shown in the state query', async () => {
    const hash = newPaymentHash();
    const signals = new SettlementSignals(temporal.client, taskQueue);
    const before = await droppedCandidates('event');
    logLines.length = 0;
    const keys = Array.from({ length: 9 }, () => bytesToHex(generateSecretKey()));
    const signed = keys.map((k) =>
      buildSettlementEvent(
        k,
        alice.pubkey,
        settlementContent({ paymentHash: hash, wireSats: WIRE, feeSats: FEE, fiat: '20.00' }),
      ),
    );
    for (const e of signed) await signals.atmEvent(hash, { event: e });
    // the first signer signs again (a distinct event) and one is re-delivered (not a new candidate)
    const again = buildSettlementEvent(
      keys[0]!,
      alice.pubkey,
      settlementContent({ paymentHash: hash, wireSats: WIRE + 1, feeSats: FEE, fiat: '20.00' }),
    );
    await signals.atmEvent(hash, { event: again });
    await signals.atmEvent(hash, { event: signed[3]! });
    const s = await eventually(
      async () => {
        const q = await state(hash);
        return q.dropped_events === 2 ? q : null;
      },
      30_000,
      'two dropped events',
    );
    expect(s).toMatchObject({ candidate_events: 8, dropped_events: 2, has_payment: false });
    await eventually(
      async () => (await droppedCandidates('event')) === before + 2,
      30_000,
      'the dropped-candidates counter',
    );
    const warn = await eventually(
      async () => logLines.find((l) => String(l.msg).startsWith('settlement candidates dropped')),
      30_000,
      'the dropped-candidates WARN',
    );
    expect(warn).toMatchObject({ level: 40, payment_hash: hash });
    await temporal.client.workflow.getHandle(settlementWorkflowId(hash)).terminate('test done');
  });
});
