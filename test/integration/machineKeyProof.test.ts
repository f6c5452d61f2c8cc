import { generateSecretKey, getPublicKey } from 'nostr-tools/pure';
import { bytesToHex } from 'nostr-tools/utils';
import type { RunningIngest } from '../../src/ingest/ingestService';
import type { RunningRelay } from '../../src/relay/relayServer';
import { buildSettlementEvent, encryptFor, signEvent } from '../../src/nostr/codec';
import type { RelayClient } from '../../src/nostr/relayClient';
import type { MachineRow } from '../../src/db/machines';
import type { TestApi } from '../helpers/api';
import {
  createLp,
  createOperator,
  createSuper,
  ledgerFor,
  newPaymentHash,
  settlementContent,
  type Machine,
  type Operator,
  splitAllToNewWallet,
} from '../helpers/fixtures';
import { awaitStatus, sendSettlement } from '../helpers/settle';
import { ingestDroppedCount } from '../helpers/ingestMetrics';
import { eventually } from '../helpers/stack';
import { startTestStack, type TestStack } from '../helpers/testStack';

interface Key {
  secretHex: string;
  pubkey: string;
}
const newKey = (): Key => {
  const secret = generateSecretKey();
  return { secretHex: bytesToHex(secret), pubkey: getPublicKey(secret) };
};

/**
 * Issue 15 item 6: a machine key registered by several operators belongs to the one
 * its own signed events address. Real relay, ingest, API, PostgreSQL and Temporal.
 */
describe('machine keys cannot be squatted', () => {
  let stack: TestStack;
  let db: TestStack['db'];
  let temporal: TestStack['temporal'];
  let taskQueue: string;
  let relay: RunningRelay;
  let ingest: RunningIngest;
  let api: TestApi;
  let publisher: RelayClient;
  let a: Operator; // the machine's real operator
  let b: Operator; // registers A's machine key first (squatter)
  let c: Operator; // tries to register the key once it is proven
  const key = newKey();
  let machineA: MachineRow;
  let machineB: MachineRow;
  const now = () => Math.floor(Date.now() / 1000);

  beforeAll(async () => {
    stack = await startTestStack();
    ({ db, temporal, taskQueue } = stack);
    relay = await stack.startRelay();
    api = await stack.startApi({ relays: [relay.url] });
    await createSuper(db.pool);
    a = await createOperator(db.pool, 'alice');
    b = await createOperator(db.pool, 'bob');
    c = await createOperator(db.pool, 'carol');
    for (const o of [a, b, c]) {
      await splitAllToNewWallet(db.pool, o);
    }
    ingest = await stack.startIngest([relay.url], { keyRefreshMs: 300 });
    publisher = await stack.connectPublisher(relay.url);
  });
  afterAll(async () => {
    await stack.stop();
  });

  const register = (o: Operator, pubkey: string, name: string) =>
    api.call('POST', '/api/v1/machines', o.apiKey, { machine_npub: pubkey, name, fiat_code: 'USD' });
  const machineOf = async (o: Operator, id: string) => {
    const r = await api.call('GET', `/api/v1/machines/${id}`, o.apiKey);
    expect(r.status).toBe(200);
    return r.body as MachineRow & { key_state: string; key_proven_at: string | null };
  };
  const telemetryOf = async (o: Operator, id: string) =>
    (await api.call('GET', `/api/v1/machines/${id}/telemetry`, o.apiKey)).body;
  /** the ingest knows `n` active registrations of the key (what it routes among) */
  const directoryHas = (pubkey: string, n: number, states?: string[]) =>
    eventually(
      async () => {
        const regs = ingest.keys.machines.get(pubkey) ?? [];
        if (regs.length !== n) return false;
        return !states || states.every((s, i) => regs[i]!.key_state === s);
      },
      30_000,
      `the key directory to hold ${n} registration(s)`,
    );
  const beacon = (k: Key, content: Record<string, unknown>, createdAt = now()) =>
    signEvent(k.secretHex, {
      kind: 30078,
      tags: [['d', 'bitspire-beacon']],
      content: JSON.stringify(content),
      created_at: createdAt,
    });
  const telemetry = (k: Key, to: Operator, payload: unknown, createdAt = now()) =>
    signEvent(k.secretHex, {
      kind: 30079,
      tags: [
        ['d', 'bitspire-telemetry'],
        ['p', to.pubkey],
      ],
      content: encryptFor(k.secretHex, to.pubkey, JSON.stringify(payload)),
      created_at: createdAt,
    });
  const settlementEvent = (k: Key, to: Operator, hash: string) =>
    buildSettlementEvent(
      k.secretHex,
      to.pubkey,
      settlementContent({ paymentHash: hash, wireSats: 21_000, feeSats: 1_000, fiat: '20.00' }),
    );
  const pay = (walletId: string, hash: string) =>
    ledgerFor(db.pool).recordLightningPayment({
      wallet_id: walletId,
      payment_hash: hash,
      amount_sats: 21_000,
      direction: 'incoming',
    });

  it('a squatter who registered the key first does not stop its operator: both registrations are unverified', async () => {
    const squat = await register(b, key.pubkey, 'Not my kiosk');
    expect(squat.status).toBe(201);
    expect(squat.body).toMatchObject({ key_state: 'unverified', key_proven_at: null });
    machineB = squat.body;

    const mine = await register(a, key.pubkey, 'Main Street');
    expect(mine.status).toBe(201);
    expect(mine.body.key_state).toBe('unverified');
    machineA = mine.body;

    // one registration of a key per operator
    const again = await register(b, key.pubkey, 'twice');
    expect(again.status).toBe(409);
    expect(again.body.error.message).toContain(machineB.id);
    await directoryHas(key.pubkey, 2);
  });

  it('a beacon names no operator: with two registrations and none proven it goes to neither', async () => {
    const before = await ingestDroppedCount('unproven_key');
    await publisher.publish(
      beacon(key, { cash_in: true, name: 'Main Street', version: '9.9.9' }, now() - 60),
    );
    await eventually(
      async () => (await ingestDroppedCount('unproven_key')) > before,
      30_000,
      'the beacon dropped',
    );
    expect((await telemetryOf(a, machineA.id)).beacon).toBeNull();
    expect((await telemetryOf(b, machineB.id)).beacon).toBeNull();
  });

  it("the machine's first settlement, addressed to its operator, is processed and proves that registration", async () => {
    const enrolled: Machine = {
      row: machineA,
      secretHex: key.secretHex,
      pubkey: key.pubkey,
      walletId: machineA.wallet_id,
    };
    await createLp(db.pool, enrolled, { name: 'lp', depositCents: 1_000_000 });
    const hash = newPaymentHash();
    expect((await publisher.publish(settlementEvent(key, a, hash))).accepted).toBe(true);
    await pay(machineA.wallet_id, hash);
    const s = await awaitStatus(db.pool, hash, ['processed']);
    expect(s.machine_id).toBe(machineA.id);
    expect(s.wire_sats).toBe(21_000);

    const mine = await machineOf(a, machineA.id);
    expect(mine.key_state).toBe('proven');
    expect(mine.key_proven_at).not.toBeNull();
    expect((await machineOf(b, machineB.id)).key_state).toBe('unproven');
    const list = await api.call('GET', '/api/v1/machines', b.apiKey);
    expect(list.body.map((m: { key_state: string }) => m.key_state)).toEqual(['unproven']);

    // the proof re-subscribes: the relay sends the stored beacon again and now it has an owner
    const t = await eventually(async () => {
      const x = await telemetryOf(a, machineA.id);
      return x.beacon ? x : null;
    });
    expect(t.beacon).toMatchObject({ cash_in: true, version: '9.9.9' });
    expect((await telemetryOf(b, machineB.id)).beacon).toBeNull();
  });

  it('the unproven registration receives no telemetry, beacons or settlements', async () => {
    // even addressed to the squatter by the machine itself
    const unprovenBefore = await ingestDroppedCount('unproven_key');
    await publisher.publish(telemetry(key, b, { for: 'bob' }, now() - 5));
    const hash = newPaymentHash();
    await publisher.publish(settlementEvent(key, b, hash));
    await eventually(
      async () => (await ingestDroppedCount('unproven_key')) >= unprovenBefore + 2,
      30_000,
      'both events dropped as unproven_key',
    );
    await expect(temporal.client.workflow.getHandle(`settlement-${hash}`).describe()).rejects.toThrow();

    await publisher.publish(telemetry(key, a, { for: 'alice' }));
    await publisher.publish(beacon(key, { cash_out: false }));
    await eventually(async () => {
      const x = await telemetryOf(a, machineA.id);
      return x.fleet?.data?.for === 'alice' && x.beacon?.cash_out === false;
    });
    const theirs = await telemetryOf(b, machineB.id);
    expect(theirs.beacon).toBeNull();
    expect(theirs.fleet).toBeNull();
    expect(theirs.status.online).toBe(false);

    // a payment on the squatter's own wallet with an event the machine signed to it: attribution refuses it
    const bFixture: Machine = {
      row: machineB,
      secretHex: key.secretHex,
      pubkey: key.pubkey,
      walletId: machineB.wallet_id,
    };
    const rejected = await sendSettlement(db.pool, temporal.client, taskQueue, bFixture, b, {
      wireSats: 10_000,
      feeSats: 500,
      fiat: '9.50',
    });
    const r = await awaitStatus(db.pool, rejected, ['rejected']);
    expect(r.error_message).toContain("proven by another operator's registration");
    expect(r.error_message).not.toContain(a.id);
    const paid = await db.pool.query('SELECT 1 FROM satmachine.dca_payments WHERE settlement_id = $1', [
      r.id,
    ]);
    expect(paid.rowCount).toBe(0);
  });

  it('a new registration of the proven key is a 409 that does not say who holds it', async () => {
    const r = await register(c, key.pubkey, 'Mine now');
    expect(r.status).toBe(409);
    expect(r.body.error.message).toContain('already registered and proven');
    expect(r.body.error.details[0].field).toBe('body.machine_npub');
    for (const secret of [a.id, a.pubkey, machineA.id, machineA.name, machineA.wallet_id, 'alice']) {
      expect(r.text).not.toContain(secret);
    }
    // nor by moving another machine onto the key
    const other = newKey();
    const own = await register(c, other.pubkey, 'Elsewhere');
    expect(own.status).toBe(201);
    const moved = await api.call('PATCH', `/api/v1/machines/${own.body.id}`, c.apiKey, {
      machine_npub: key.pubkey,
    });
    expect(moved.status).toBe(409);
    expect(moved.text).not.toContain(machineA.id);
    expect(moved.text).not.toContain(a.id);
    // the same key spelled as an npub is the same key
    const { rows } = await db.pool.query<{ n: number }>(
      'SELECT count(*)::int AS n FROM satmachine.dca_machines WHERE machine_pubkey_hex = $1',
      [key.pubkey],
    );
    expect(rows[0]!.n).toBe(2);
  });

  it('deactivating the proven registration releases the key; the next addressed event decides again', async () => {
    const off = await api.call('PATCH', `/api/v1/machines/${machineA.id}`, a.apiKey, { is_active: false });
    expect(off.status).toBe(200);
    expect(off.body.key_state).toBe('unverified');
    expect((await machineOf(b, machineB.id)).key_state).toBe('unverified');
    const on = await api.call('PATCH', `/api/v1/machines/${machineA.id}`, a.apiKey, { is_active: true });
    expect(on.body.key_state).toBe('unverified');
    await directoryHas(key.pubkey, 2, ['unverified', 'unverified']);
    // a second later than the last telemetry at the latest: the relay keeps the newest of a
    // replaceable event and refuses one of the same second with a higher id
    const again = await publisher.publish(telemetry(key, a, { for: 'alice again' }, now() + 1));
    expect(again.accepted).toBe(true);
    await eventually(async () => (await machineOf(a, machineA.id)).key_state === 'proven');
    expect((await machineOf(b, machineB.id)).key_state).toBe('unproven');
  });

  it('the cassette bootstrap addressed to one operator proves its registration; telemetry for a third operator proves none', async () => {
    const k = newKey();
    const mine = await register(a, k.pubkey, 'Bootstrap ATM');
    const theirs = await register(b, k.pubkey, 'Bootstrap squat');
    expect([mine.status, theirs.status]).toEqual([201, 201]);
    await directoryHas(k.pubkey, 2);

    // addressed to C, who has no registration of the key: dropped, nobody proven
    const before = await ingestDroppedCount('undecryptable');
    await publisher.publish(telemetry(k, c, { for: 'carol' }));
    await eventually(
      async () => (await ingestDroppedCount('undecryptable')) > before,
      30_000,
      'the telemetry dropped',
    );
    expect((await machineOf(a, mine.body.id)).key_state).toBe('unverified');
    expect((await machineOf(b, theirs.body.id)).key_state).toBe('unverified');

    await publisher.publish(
      signEvent(k.secretHex, {
        kind: 30078,
        tags: [
          ['d', `bitspire-cassettes-state:${mine.body.machine_npub}`],
          ['p', a.pubkey],
        ],
        content: encryptFor(
          k.secretHex,
          a.pubkey,
          JSON.stringify({ positions: { '1': { denomination: 20, count: 80 } } }),
        ),
        created_at: now(),
      }),
    );
    const rows = await eventually(async () => {
      const r = await api.call('GET', `/api/v1/machines/${mine.body.id}/cassettes`, a.apiKey);
      return r.body.positions?.length ? r.body.positions : null;
    });
    expect(rows[0]).toMatchObject({ position: 1, denomination: 20, count: 80 });
    expect((await machineOf(a, mine.body.id)).key_state).toBe('proven');
    expect((await machineOf(b, theirs.body.id)).key_state).toBe('unproven');
    const squatted = await api.call('GET', `/api/v1/machines/${theirs.body.id}/cassettes`, b.apiKey);
    expect(squatted.body.positions).toEqual([]);
  });

  it('an event sent before its operator registered the key is not lost: it proves the registration made later', async () => {
    const k = newKey();
    const squat = await register(b, k.pubkey, 'Squatted first');
    expect(squat.status).toBe(201);
    await directoryHas(k.pubkey, 1);
    const hash = newPaymentHash();
    const before = await ingestDroppedCount('unknown_pubkey');
    // addressed to A, who has not registered the key yet
    await publisher.publish(settlementEvent(k, a, hash));
    await eventually(
      async () => (await ingestDroppedCount('unknown_pubkey')) > before,
      30_000,
      'the event dropped',
    );

    const mine = await register(a, k.pubkey, 'Late registration');
    expect(mine.status).toBe(201);
    await pay(mine.body.wallet_id, hash);
    // the key change makes the ingest catch up: the stored event routes to A's registration
    const s = await awaitStatus(db.pool, hash, ['processed']);
    expect(s.machine_id).toBe(mine.body.id);
    expect((await machineOf(a, mine.body.id)).key_state).toBe('proven');
    expect((await machineOf(b, squat.body.id)).key_state).toBe('unproven');
  });
});
