import { WorkflowNotFoundError } from '@temporalio/client';
import { generateSecretKey, getPublicKey } from 'nostr-tools/pure';
import type { RunningIngest } from '../../src/ingest/ingestService';
import { startRelay, type RunningRelay } from '../../src/relay/relayServer';
import { buildSettlementEvent, encryptFor, signEvent } from '../../src/nostr/codec';
import type { RelayClient } from '../../src/nostr/relayClient';
import { insertWallet } from '../../src/db/ledger';
import { stateQuery, type SignedEvent } from '../../src/contract';
import {
  createLp,
  createMachine,
  createOperator,
  ledgerFor,
  newPaymentHash,
  settlementContent,
  type Machine,
  type Operator,
  createSuperAndOperator,
} from '../helpers/fixtures';
import { awaitStatus, settlementByHash } from '../helpers/settle';
import { ingestDroppedCount } from '../helpers/ingestMetrics';
import { eventually, testLogger } from '../helpers/stack';
import { connectPublisher, startTestIngest, startTestStack, type TestStack } from '../helpers/testStack';
import { freePort } from '../helpers/ports';

/** The whole path on real components: relay (NIP-01 over WebSocket) → ingest → Temporal → worker → ledger. */
describe('ingest: relay subscriptions, verification, the payment listener', () => {
  let stack: TestStack;
  let db: TestStack['db'];
  let temporal: TestStack['temporal'];
  let taskQueue: string;
  let relay: RunningRelay;
  let relayPort: number;
  let ingest: RunningIngest;
  let operator: Operator;
  let machine: Machine;
  let publisher: RelayClient;

  const startIngestHere = () => startTestIngest(stack, [relay.url], { keyRefreshMs: 500 });

  beforeAll(async () => {
    stack = await startTestStack();
    ({ db, temporal, taskQueue } = stack);
    relayPort = await freePort();
    // an open relay: the ingest must defend itself on relays that accept any key's events
    relay = await startRelay({ pool: db.pool, logger: testLogger, port: relayPort, writePolicy: 'open' });
    operator = await createSuperAndOperator(db.pool);
    machine = await createMachine(db.pool, operator);
    await createLp(db.pool, machine, { name: 'lp', depositCents: 1_000_000 });
    ingest = await startIngestHere();
    publisher = await connectPublisher(relay.url);
  });
  afterAll(async () => {
    publisher.close();
    await ingest.stop();
    await relay.close();
    await stack.stop();
  });

  const event = (hash: string, o: { wire?: number; fee?: number; signer?: string; to?: string } = {}) =>
    buildSettlementEvent(
      o.signer ?? machine.secretHex,
      o.to ?? operator.pubkey,
      settlementContent({
        paymentHash: hash,
        wireSats: o.wire ?? 21_000,
        feeSats: o.fee ?? 1_000,
        fiat: '20.00',
      }),
    );
  const pay = (hash: string, amount = 21_000) =>
    ledgerFor(db.pool).recordLightningPayment({
      wallet_id: machine.walletId,
      payment_hash: hash,
      amount_sats: amount,
      direction: 'incoming',
    });

  it('a signed event on the relay and a payment on the machine wallet settle end to end', async () => {
    const hash = newPaymentHash();
    const ok = await publisher.publish(event(hash));
    expect(ok.accepted).toBe(true);
    await pay(hash);
    const s = await awaitStatus(db.pool, hash, ['processed']);
    expect(s.wire_sats).toBe(21_000);
  });

  it('payment first, then the event', async () => {
    const hash = newPaymentHash();
    await pay(hash);
    // the payment is in the workflow before the event is published (a query sees every signal sent before it)
    await eventually(
      async () =>
        (await temporal.client.workflow.getHandle(`settlement-${hash}`).query(stateQuery)).has_payment,
      30_000,
      'the payment in the workflow',
    );
    await publisher.publish(event(hash));
    await awaitStatus(db.pool, hash, ['processed']);
  });

  it('drops forged, unknown, undecryptable and garbage events with a reason, and keeps running', async () => {
    const before = {
      bad_signature: await ingestDroppedCount('bad_signature'),
      unknown_pubkey: await ingestDroppedCount('unknown_pubkey'),
      invalid_content: await ingestDroppedCount('invalid_content'),
    };
    const hashes: string[] = [];
    // a valid event whose content was altered after signing
    const h1 = newPaymentHash();
    hashes.push(h1);
    const tampered: SignedEvent = { ...event(h1), content: event(newPaymentHash()).content };
    // a stranger's key
    const h2 = newPaymentHash();
    hashes.push(h2);
    const stranger = '7'.repeat(63) + '1';
    const fromStranger = event(h2, { signer: stranger });
    // garbage content encrypted properly by the machine
    const garbage = signEvent(machine.secretHex, {
      kind: 21000,
      tags: [['p', operator.pubkey]],
      content: encryptFor(machine.secretHex, operator.pubkey, 'not json at all'),
    });
    // valid JSON, wrong schema
    const wrongShape = signEvent(machine.secretHex, {
      kind: 21000,
      tags: [['p', operator.pubkey]],
      content: encryptFor(
        machine.secretHex,
        operator.pubkey,
        JSON.stringify({ v: 1, tx_type: 'cash_out', wire_sats: -5 }),
      ),
    });
    // plaintext instead of NIP-44
    const plaintext = signEvent(machine.secretHex, {
      kind: 21000,
      tags: [['p', operator.pubkey]],
      content: '{"v":1}',
    });
    // the relay refuses bad signatures itself, so deliver the tampered one through a relay that does not check
    for (const e of [fromStranger, garbage, wrongShape, plaintext]) await publisher.publish(e);
    const raw = new (await import('ws')).WebSocket(relay.url);
    await new Promise((r) => raw.once('open', r));
    raw.send(JSON.stringify(['EVENT', tampered]));
    const refused = await new Promise<unknown[]>((r) =>
      raw.once('message', (d) => r(JSON.parse((d as Buffer).toString('utf8')))),
    );
    expect(refused).toEqual(['OK', tampered.id, false, 'invalid: bad id or signature']);
    raw.close();

    // ingest keeps serving: a good event after the junk settles
    const good = newPaymentHash();
    await publisher.publish(event(good));
    await pay(good);
    await awaitStatus(db.pool, good, ['processed']);
    expect(await ingestDroppedCount('unknown_pubkey')).toBe(before.unknown_pubkey + 1);
    expect(await ingestDroppedCount('invalid_content')).toBe(before.invalid_content + 3);
    for (const h of hashes) expect(await settlementByHash(db.pool, h)).toBeNull();
    const { rows } = await db.pool.query('SELECT count(*)::int AS n FROM satmachine.dca_settlements');
    expect(rows[0].n).toBe(3);
    // the relay refused the tampered event (above): the ingest never saw it, so never counted it
    expect(await ingestDroppedCount('bad_signature')).toBe(before.bad_signature);
  });

  it('the settlement stream itself refuses a bad signature and other kinds (relays may not check)', async () => {
    const { createSettlementStream } = await import('../../src/ingest/settlementStream');
    const { SettlementSignals } = await import('../../src/ingest/settlementSignals');
    const stream = createSettlementStream({
      keys: ingest.keys,
      signals: new SettlementSignals(temporal.client, taskQueue),
      logger: testLogger,
    });
    const e = event(newPaymentHash());
    const tampered = { ...e, content: event(newPaymentHash()).content };
    expect(await stream.handle(tampered, 'test')).toMatchObject({ kind: 'drop', reason: 'bad_signature' });
    expect(await stream.handle({ ...e, kind: 1 }, 'test')).toMatchObject({
      kind: 'drop',
      reason: 'unknown_kind',
    });
    const elsewhere = buildSettlementEvent(
      machine.secretHex,
      getPublicKey(generateSecretKey()),
      settlementContent({ paymentHash: newPaymentHash(), wireSats: 1, feeSats: 0, fiat: '1' }),
    );
    expect(await stream.handle(elsewhere, 'test')).toMatchObject({ kind: 'drop', reason: 'not_for_us' });
  });

  it('the same event delivered twice (two relays, or a re-delivery) makes one settlement', async () => {
    const second = await startRelay({ pool: db.pool, logger: testLogger, port: await freePort() });
    const twin = await startTestIngest(stack, [relay.url, second.url]);
    try {
      const hash = newPaymentHash();
      const e = event(hash);
      const other = await connectPublisher(second.url);
      await Promise.all([publisher.publish(e), other.publish(e)]);
      other.close();
      await pay(hash);
      const s = await awaitStatus(db.pool, hash, ['processed']);
      const { rows } = await db.pool.query(
        'SELECT count(*)::int AS n FROM satmachine.dca_payments WHERE settlement_id = $1',
        [s.id],
      );
      const { rows: transfers } = await db.pool.query(
        `SELECT count(*)::int AS n FROM satmachine.ledger_transfers t JOIN satmachine.dca_payments p ON p.id = t.idempotency_key
          WHERE p.settlement_id = $1`,
        [s.id],
      );
      expect(transfers[0].n).toBe(rows[0].n);
    } finally {
      await twin.stop();
      await second.close();
    }
  });

  it('reconnects to a relay that restarted and keeps ingesting', async () => {
    await relay.close();
    relay = await startRelay({ pool: db.pool, logger: testLogger, port: relayPort, writePolicy: 'open' });
    publisher.close();
    publisher = await connectPublisher(relay.url);
    await new Promise((r) => setTimeout(r, 1500)); // the ingest's backoff
    const hash = newPaymentHash();
    await publisher.publish(event(hash));
    await pay(hash);
    await awaitStatus(db.pool, hash, ['processed'], 30_000);
  });

  it('an ingest that was down catches up from its cursor (kind 21000 is kept by the relay)', async () => {
    await ingest.stop();
    const hash = newPaymentHash();
    expect((await publisher.publish(event(hash))).accepted).toBe(true);
    await pay(hash);
    // the barrier is the stop itself (awaited): nothing reads the relay or forwards payments now, so
    // the relay holds the event and the payment waits unforwarded, with no workflow for it
    const forwarded = async () =>
      (
        await db.pool.query<{ forwarded_at: Date | null }>(
          'SELECT forwarded_at FROM satmachine.ledger_lightning_payments WHERE payment_hash = $1',
          [hash],
        )
      ).rows[0]?.forwarded_at;
    expect(await forwarded()).toBeNull();
    await expect(temporal.client.workflow.getHandle(`settlement-${hash}`).describe()).rejects.toThrow(
      WorkflowNotFoundError,
    );
    ingest = await startIngestHere();
    await awaitStatus(db.pool, hash, ['processed'], 30_000);
    expect(await forwarded()).toBeInstanceOf(Date);
  });

  it('picks up a new operator and a new machine within seconds', async () => {
    const op2 = await createOperator(db.pool, 'newcomer');
    const m2 = await createMachine(db.pool, op2);
    await createLp(db.pool, m2, { name: 'new lp', depositCents: 100_000 });
    await new Promise((r) => setTimeout(r, 1500)); // > keyRefreshMs
    const hash = newPaymentHash();
    await publisher.publish(
      buildSettlementEvent(
        m2.secretHex,
        op2.pubkey,
        settlementContent({ paymentHash: hash, wireSats: 10_500, feeSats: 500, fiat: '10.00' }),
      ),
    );
    await ledgerFor(db.pool).recordLightningPayment({
      wallet_id: m2.walletId,
      payment_hash: hash,
      amount_sats: 10_500,
      direction: 'incoming',
    });
    await awaitStatus(db.pool, hash, ['processed'], 30_000);
  });

  it('payments on wallets that are not a machine are not signalled', async () => {
    const w = await insertWallet(db.pool, operator.id, 'not a machine');
    const hash = newPaymentHash();
    await ledgerFor(db.pool).recordLightningPayment({
      wallet_id: w.id,
      payment_hash: hash,
      amount_sats: 100,
      direction: 'incoming',
    });
    await eventually(async () => {
      const { rows } = await db.pool.query(
        'SELECT forwarded_at FROM satmachine.ledger_lightning_payments WHERE payment_hash = $1',
        [hash],
      );
      return rows[0]?.forwarded_at;
    });
    await expect(temporal.client.workflow.getHandle(`settlement-${hash}`).describe()).rejects.toThrow(
      WorkflowNotFoundError,
    );
  });
});
