import type { RunningIngest } from '../../src/ingest/ingestService';
import { createMachineStream } from '../../src/ingest/machineStream';
import type { RunningRelay } from '../../src/relay/relayServer';
import { decryptFrom, encryptFor, signEvent } from '../../src/nostr/codec';
import { RelayClient } from '../../src/nostr/relayClient';
import type { SignedEvent } from '../../src/contract';
import type { TestApi } from '../helpers/api';
import {
  createLp,
  createMachine,
  createOperator,
  createSuper,
  type Machine,
  type Operator,
  splitAllToNewWallet,
} from '../helpers/fixtures';
import { awaitSettled, sendSettlement } from '../helpers/settle';
import { ingestDroppedCount } from '../helpers/ingestMetrics';
import { eventually, testLogger } from '../helpers/stack';
import { startTestStack, type TestStack } from '../helpers/testStack';

/** Beacons, fleet telemetry and cassettes over a real relay, the ingest and the API. */
describe('machines talk back: beacons, telemetry, cassettes', () => {
  let stack: TestStack;
  let db: TestStack['db'];
  let temporal: TestStack['temporal'];
  let taskQueue: string;
  let relay: RunningRelay;
  let ingest: RunningIngest;
  let api: TestApi;
  let operator: Operator;
  let other: Operator;
  let machine: Machine;
  let publisher: RelayClient;
  const now = () => Math.floor(Date.now() / 1000);

  beforeAll(async () => {
    stack = await startTestStack();
    ({ db, temporal, taskQueue } = stack);
    relay = await stack.startRelay();
    api = await stack.startApi({ relays: [relay.url] });
    await createSuper(db.pool);
    operator = await createOperator(db.pool, 'op');
    other = await createOperator(db.pool, 'other');
    await splitAllToNewWallet(db.pool, operator);
    machine = await createMachine(db.pool, operator, { name: 'Kiosk' });
    ingest = await stack.startIngest([relay.url], { keyRefreshMs: 500 });
    publisher = await stack.connectPublisher(relay.url);
  });
  afterAll(async () => {
    await stack.stop();
  });

  const beacon = (content: Record<string, unknown>, createdAt = now(), secret = machine.secretHex) =>
    signEvent(secret, {
      kind: 30078,
      tags: [['d', 'bitspire-beacon']],
      content: JSON.stringify(content),
      created_at: createdAt,
    });
  const encrypted = (
    kind: number,
    d: string,
    payload: string,
    createdAt = now(),
    m: Machine = machine,
    to: Operator = operator,
  ) =>
    signEvent(m.secretHex, {
      kind,
      tags: [
        ['d', d],
        ['p', to.pubkey],
      ],
      content: encryptFor(m.secretHex, to.pubkey, payload),
      created_at: createdAt,
    });
  const telemetry = (id: string) => api.call('GET', `/api/v1/machines/${id}/telemetry`, operator.apiKey);

  describe('beacons', () => {
    it('a beacon with two fields is stored and the machine shows online', async () => {
      const t0 = now() - 100;
      await publisher.publish(beacon({ cash_in: true, version: '1.2.3' }, t0));
      const r = await eventually(async () => {
        const x = await telemetry(machine.row.id);
        return x.body.beacon ? x : null;
      });
      expect(r.body.beacon).toMatchObject({ cash_in: true, version: '1.2.3', cash_out: null, model: null });
      expect(r.body.status).toMatchObject({ online: true, cash_in: true, version: '1.2.3' });
      const list = await api.call('GET', '/api/v1/machines', operator.apiKey);
      expect(list.body.find((m: { id: string }) => m.id === machine.row.id).status.online).toBe(true);
    });

    it('a newer beacon adds fields without erasing the absent ones', async () => {
      await publisher.publish(
        beacon(
          { cash_out: false, cash_level: 'low', geo: { lat: 14.6, lon: -90.5 }, fees: { cash_in: 0.05 } },
          now() - 50,
        ),
      );
      const r = await eventually(async () => {
        const x = await telemetry(machine.row.id);
        return x.body.beacon?.cash_level === 'low' ? x : null;
      });
      expect(r.body.beacon).toMatchObject({
        cash_in: true,
        version: '1.2.3',
        cash_out: false,
        cash_level: 'low',
        geo: { lat: 14.6, lon: -90.5 },
        fees: { cash_in: 0.05 },
      });
    });

    it('an older or re-delivered beacon never rolls state back', async () => {
      const stale = beacon({ cash_level: 'full', version: '0.0.1' }, now() - 1000);
      // the relay keeps the newest beacon per machine and forwards no older one
      expect(await publisher.publish(stale)).toMatchObject({
        accepted: true,
        message: 'duplicate: have a newer one',
      });
      // a relay that re-delivers history anyway (twice): the ingest's stream handles it to the end,
      // which is the barrier for the reads below
      const stream = createMachineStream({ keys: ingest.keys, pool: db.pool, logger: testLogger });
      for (let i = 0; i < 2; i++) {
        expect(await stream.handle(stale, 'test')).toEqual({ kind: 'ok', detail: 'stale beacon ignored' });
      }
      expect((await telemetry(machine.row.id)).body.beacon).toMatchObject({
        cash_level: 'low',
        version: '1.2.3',
      });
    });

    it('garbage beacons and beacons of unknown keys are dropped and counted', async () => {
      const before = {
        invalid: await ingestDroppedCount('invalid_content'),
        unknown: await ingestDroppedCount('unknown_pubkey'),
      };
      await publisher.publish(
        signEvent(machine.secretHex, { kind: 30078, tags: [['d', 'bitspire-beacon']], content: '{not json' }),
      );
      await publisher.publish(beacon({ cash_in: 'yes' }, now() + 1)); // a second apart: the relay keeps the newest per d-tag
      // an unknown key is not even subscribed to (authors filter): check the stream refuses it too
      const stream = createMachineStream({ keys: ingest.keys, pool: db.pool, logger: testLogger });
      const stranger = beacon({ cash_in: true }, now(), '3'.repeat(64));
      expect(await stream.handle(stranger, 'test')).toMatchObject({ kind: 'drop', reason: 'unknown_pubkey' });
      const forged: SignedEvent = {
        ...beacon({ cash_in: false }),
        content: JSON.stringify({ cash_in: true }),
      };
      expect(await stream.handle(forged, 'test')).toMatchObject({ kind: 'drop', reason: 'bad_signature' });
      const unknownD = signEvent(machine.secretHex, {
        kind: 30078,
        tags: [['d', 'something-else']],
        content: '{}',
      });
      expect(await stream.handle(unknownD, 'test')).toMatchObject({ kind: 'drop', reason: 'unknown_kind' });
      await eventually(async () => (await ingestDroppedCount('invalid_content')) >= before.invalid + 2);
      expect((await telemetry(machine.row.id)).body.beacon.cash_in).toBe(true);
    });

    it('a beacon PostgreSQL cannot store (a NUL character) is dropped, not retried forever', async () => {
      const before = await ingestDroppedCount('invalid_content');
      const version = (await telemetry(machine.row.id)).body.beacon.version;
      await publisher.publish(beacon({ version: 'v\u00001' }, now() + 2));
      await eventually(async () => (await ingestDroppedCount('invalid_content')) >= before + 1);
      expect((await telemetry(machine.row.id)).body.beacon.version).toBe(version);
      // and the ingest goes on: the next beacon lands
      await publisher.publish(beacon({ version: '9.9.9' }, now() + 3));
      await eventually(async () => (await telemetry(machine.row.id)).body.beacon.version === '9.9.9');
    });
  });

  describe('fleet telemetry', () => {
    it('stores the snapshot raw and shows it parsed when it is JSON', async () => {
      await publisher.publish(
        encrypted(30079, 'bitspire-telemetry', JSON.stringify({ temp_c: 41, uptime_s: 3600 }), now() - 30),
      );
      const r = await eventually(async () => {
        const x = await telemetry(machine.row.id);
        return x.body.fleet ? x : null;
      });
      expect(r.body.fleet).toMatchObject({ data: { temp_c: 41, uptime_s: 3600 }, raw: null });
      await publisher.publish(encrypted(30079, 'bitspire-telemetry', 'plain text diagnostics', now() - 20));
      const raw = await eventually(async () => {
        const x = await telemetry(machine.row.id);
        return x.body.fleet.raw ? x : null;
      });
      expect(raw.body.fleet).toMatchObject({ data: null, raw: 'plain text diagnostics' });
    });

    it('telemetry not encrypted to the operator is dropped', async () => {
      const before = await ingestDroppedCount('undecryptable');
      await publisher.publish(encrypted(30079, 'bitspire-telemetry', '{}', now(), machine, other));
      await eventually(async () => (await ingestDroppedCount('undecryptable')) > before);
    });
  });

  describe('cassettes', () => {
    const state = (
      positions: Record<string, { denomination: number; count: number }>,
      createdAt: number,
      m: Machine = machine,
      d?: string,
    ) =>
      encrypted(
        30078,
        d ?? `bitspire-cassettes-state:${m.row.machine_npub}`,
        JSON.stringify({ positions }),
        createdAt,
        m,
      );
    const cassettes = () => api.call('GET', `/api/v1/machines/${machine.row.id}/cassettes`, operator.apiKey);
    let bootstrapAt: number;

    it('the bootstrap state creates one row per position, both views', async () => {
      bootstrapAt = now() - 60;
      await publisher.publish(
        state({ '1': { denomination: 20, count: 100 }, '2': { denomination: 50, count: 40 } }, bootstrapAt),
      );
      const r = await eventually(async () => {
        const x = await cassettes();
        return x.body.positions.length === 2 ? x : null;
      });
      expect(r.body.positions[0]).toMatchObject({
        position: 1,
        denomination: 20,
        count: 100,
        updated_by: 'atm-bootstrap',
        reported: { denomination: 20, count: 100 },
        differs: false,
      });
    });

    it('is idempotent on re-delivery and ignores an older state', async () => {
      const older = state({ '1': { denomination: 5, count: 1 } }, bootstrapAt - 500);
      // the relay keeps the newest state and forwards no older one
      expect(await publisher.publish(older)).toMatchObject({
        accepted: true,
        message: 'duplicate: have a newer one',
      });
      // a relay that delivers it anyway: handled to the end (the barrier for the reads below)
      const stream = createMachineStream({ keys: ingest.keys, pool: db.pool, logger: testLogger });
      expect(await stream.handle(older, 'test')).toEqual({
        kind: 'ok',
        detail: 'cassette state already applied or older',
      });
      const r = await cassettes();
      expect(r.body.positions.map((p: { denomination: number }) => p.denomination)).toEqual([20, 50]);
      const { rows } = await db.pool.query(
        'SELECT count(*)::int AS n FROM satmachine.cassette_configs WHERE machine_id = $1',
        [machine.row.id],
      );
      expect(rows[0].n).toBe(2);
    });

    it('a state naming another machine is dropped', async () => {
      const stream = createMachineStream({ keys: ingest.keys, pool: db.pool, logger: testLogger });
      const m2 = await createMachine(db.pool, operator, { name: 'other' });
      const wrong = state(
        { '1': { denomination: 20, count: 1 } },
        now(),
        machine,
        `bitspire-cassettes-state:${m2.row.machine_npub}`,
      );
      expect(await stream.handle(wrong, 'test')).toMatchObject({ kind: 'drop', reason: 'wrong_machine' });
    });

    it('operator edits existing positions only, with valid counts and denominations', async () => {
      const ok = await api.call('PATCH', `/api/v1/machines/${machine.row.id}/cassettes/1`, operator.apiKey, {
        count: 80,
      });
      expect(ok.status).toBe(200);
      expect(ok.body).toMatchObject({
        count: 80,
        updated_by: expect.any(String),
        differs: true,
        reported: { count: 100 },
      });
      expect(ok.body.differences).toEqual(['count: operator 80, machine 100']);
      expect(
        (
          await api.call('PATCH', `/api/v1/machines/${machine.row.id}/cassettes/9`, operator.apiKey, {
            count: 1,
          })
        ).status,
      ).toBe(404);
      expect(
        (
          await api.call('PATCH', `/api/v1/machines/${machine.row.id}/cassettes/1`, operator.apiKey, {
            count: -1,
          })
        ).status,
      ).toBe(422);
      const badBill = await api.call(
        'PATCH',
        `/api/v1/machines/${machine.row.id}/cassettes/2`,
        operator.apiKey,
        { denomination: 30 },
      );
      expect(badBill.status).toBe(422);
      expect(badBill.body.error.message).toContain('not a USD bill');
      expect(
        (await api.call('PATCH', `/api/v1/machines/${machine.row.id}/cassettes/2`, operator.apiKey, {}))
          .status,
      ).toBe(422);
      expect(
        (
          await api.call('PATCH', `/api/v1/machines/${machine.row.id}/cassettes/2`, operator.apiKey, {
            denomination: 100,
          })
        ).body.denomination,
      ).toBe(100);
    });

    it('publishes the configuration to the machine: signed by the operator, encrypted to the machine', async () => {
      let sub: RelayClient | undefined;
      const received = new Promise<SignedEvent>((resolve) => {
        sub = new RelayClient(relay.url, {
          logger: testLogger,
          onEvent: (_id, e) => resolve(e as SignedEvent),
        }).start();
        sub.subscribe('machine-inbox', () => [{ kinds: [30078], '#p': [machine.pubkey], since: now() - 5 }]);
      });
      const r = await api.call(
        'POST',
        `/api/v1/machines/${machine.row.id}/cassettes/publish`,
        operator.apiKey,
      );
      expect(r.status).toBe(200);
      expect(r.body.relays).toEqual([{ relay: relay.url, accepted: true, message: '' }]);
      expect(r.body.accepted_by).toBe(1);
      const e = await received;
      sub!.close();
      expect(e.pubkey).toBe(operator.pubkey);
      expect(e.tags).toContainEqual(['d', `bitspire-cassettes:${machine.row.machine_npub}`]);
      const content = JSON.parse(decryptFrom(machine.secretHex, operator.pubkey, e.content));
      expect(content).toEqual({
        positions: { '1': { denomination: 20, count: 80 }, '2': { denomination: 100, count: 40 } },
      });
    });

    it('publishes twice within a second with strictly increasing created_at (the machine keeps the newest)', async () => {
      const seen: SignedEvent[] = [];
      const sub = new RelayClient(relay.url, {
        logger: testLogger,
        onEvent: (_id, e) => seen.push(e as SignedEvent),
      }).start();
      sub.subscribe('machine-inbox-2', () => [{ kinds: [30078], '#p': [machine.pubkey], since: now() - 5 }]);
      await sub.waitConnected();
      const path = `/api/v1/machines/${machine.row.id}/cassettes/publish`;
      const [a, b] = [
        await api.call('POST', path, operator.apiKey),
        await api.call('POST', path, operator.apiKey),
      ];
      expect([a.status, b.status]).toEqual([200, 200]);
      await eventually(async () => new Set(seen.map((e) => e.id)).size >= 2);
      const times = [...new Map(seen.map((e) => [e.id, e.created_at])).values()].sort((x, y) => x - y);
      expect(new Set(times).size).toBe(times.length);
      sub.close();
    });

    it("a settlement's cassettes update the machine-reported counts", async () => {
      await createLp(db.pool, machine, { name: 'lp', depositCents: 100_000 });
      const hash = await sendSettlement(db.pool, temporal.client, taskQueue, machine, operator, {
        wireSats: 42_000,
        feeSats: 2_000,
        fiat: '40.00',
        cassettes: { '1': { denomination: 20, count: 98 } },
      });
      await awaitSettled(db.pool, temporal.client, hash);
      const r = await cassettes();
      expect(r.body.positions[0]).toMatchObject({ count: 80, reported: { count: 98 }, differs: true });
    });

    it('aggregates a machine day: settlements, attention, fiat volume', async () => {
      const since = new Date(Date.now() - 3600_000).toISOString();
      const r = await api.call(
        'GET',
        `/api/v1/machines/${machine.row.id}/stats?since=${encodeURIComponent(since)}`,
        operator.apiKey,
      );
      expect(r.status).toBe(200);
      expect(r.body).toMatchObject({
        machine_id: machine.row.id,
        currency: 'USD',
        settlements: 1,
        attention: 0,
        volume: { total: '40.00', cash_out: '40.00', cash_in: '0.00' },
      });
      const future = await api.call(
        'GET',
        `/api/v1/machines/${machine.row.id}/stats?since=2999-01-01T00:00:00Z`,
        operator.apiKey,
      );
      expect(future.body.settlements).toBe(0);
      expect(
        (await api.call('GET', `/api/v1/machines/${machine.row.id}/stats?since=yesterday`, operator.apiKey))
          .status,
      ).toBe(422);
    });

    it("hides another operator's machine on every telemetry and cassette route", async () => {
      for (const [method, path, body] of [
        ['GET', `/api/v1/machines/${machine.row.id}/telemetry`],
        ['GET', `/api/v1/machines/${machine.row.id}/cassettes`],
        ['GET', `/api/v1/machines/${machine.row.id}/stats?since=2020-01-01T00:00:00Z`],
        ['PATCH', `/api/v1/machines/${machine.row.id}/cassettes/1`, { count: 1 }],
        ['POST', `/api/v1/machines/${machine.row.id}/cassettes/publish`],
      ] as [string, string, unknown?][]) {
        expect((await api.call(method, path, other.apiKey, body)).status).toBe(404);
      }
    });

    it('publishing with no cassettes is a 409', async () => {
      const empty = await createMachine(db.pool, operator, { name: 'empty' });
      const r = await api.call('POST', `/api/v1/machines/${empty.row.id}/cassettes/publish`, operator.apiKey);
      expect(r.status).toBe(409);
    });
  });
});
