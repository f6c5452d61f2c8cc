import { startIngest, type RunningIngest } from '../../src/ingest/ingestService';
import { startRelay, type RunningRelay } from '../../src/relay/relayServer';
import { buildSettlementEvent } from '../../src/nostr/codec';
import { RelayClient } from '../../src/nostr/relayClient';
import { registry } from '../../src/metrics/registry';
import { startApi, type TestApi } from '../helpers/api';
import {
  createLp,
  createMachine,
  createOperator,
  createSuper,
  ledgerFor,
  newPaymentHash,
  settlementContent,
  secretBox,
  type Machine,
  type Operator,
  splitAllToNewWallet,
} from '../helpers/fixtures';
import { endHold, HOLD_GATE_SECONDS, startHoldGateWorker } from '../helpers/holdGateWorker';
import { awaitStatus } from '../helpers/settle';
import { freePort } from '../helpers/ports';
import { eventually, freshDatabase, temporalClient, testLogger } from '../helpers/stack';

const UI = 'http://temporal-ui.test:8233';

async function dropped(reason: string): Promise<number> {
  const m = await registry.getSingleMetric('satmachine_ingest_dropped_total')!.get();
  return m.values.find((v) => v.labels.reason === reason)?.value ?? 0;
}

type Body = Record<string, { id: string; payment_hash: string; [k: string]: unknown }[]> & {
  next_cursor: string | null;
};
const BUCKETS = ['rejected', 'errored', 'stuck_pending', 'stuck_processing', 'holding', 'waiting'];

/**
 * The complete worklist (issue 20 item 2) on the real path: relay → ingest (sightings) →
 * Temporal → worker, and the API. At threshold 0 it lists a settlement in its hold, one
 * waiting for its payment and one waiting for its ATM event; a rival operator sees none of
 * them, and what a rival's machine signs shows only to the rival.
 */
describe('worklist at threshold 0: everything in flight, each row linked to its workflow', () => {
  let db: Awaited<ReturnType<typeof freshDatabase>>;
  let temporal: Awaited<ReturnType<typeof temporalClient>>;
  let worker: { taskQueue: string; stop: () => Promise<void> };
  let relay: RunningRelay;
  let ingest: RunningIngest;
  let api: TestApi;
  let publisher: RelayClient;
  let operator: Operator;
  let rival: Operator;
  let machine: Machine;
  let rivalMachine: Machine;

  beforeAll(async () => {
    db = await freshDatabase();
    temporal = await temporalClient();
    worker = await startHoldGateWorker(db.pool);
    relay = await startRelay({
      pool: db.pool,
      logger: testLogger,
      port: await freePort(),
      writePolicy: 'open',
    });
    await createSuper(db.pool);
    operator = await createOperator(db.pool, 'operator');
    rival = await createOperator(db.pool, 'rival');
    for (const op of [operator, rival]) {
      await splitAllToNewWallet(db.pool, op);
    }
    machine = await createMachine(db.pool, operator, { delaySeconds: HOLD_GATE_SECONDS, name: 'held' });
    rivalMachine = await createMachine(db.pool, rival, { name: 'rival atm' });
    await createLp(db.pool, machine, { name: 'lp', depositCents: 1_000_000 });
    ingest = await startIngest({
      pool: db.pool,
      client: temporal.client,
      relays: [relay.url],
      taskQueue: worker.taskQueue,
      secretBox,
      payments: ledgerFor(db.pool),
      logger: testLogger,
      keyRefreshMs: 500,
    });
    api = await startApi({ pool: db.pool, temporal: temporal.client, config: { temporalUiUrl: UI } });
    publisher = new RelayClient(relay.url, { logger: testLogger }).start();
    await publisher.waitConnected();
  });
  afterAll(async () => {
    publisher.close();
    await api.close();
    await ingest.stop();
    await relay.close();
    await worker.stop();
    await temporal.close();
    await db.close();
  });

  const event = (hash: string, m: Machine, to: Operator) =>
    buildSettlementEvent(
      m.secretHex,
      to.pubkey,
      settlementContent({ paymentHash: hash, wireSats: 21_000, feeSats: 1_000, fiat: '20.00' }),
    );
  const pay = (hash: string, m: Machine) =>
    ledgerFor(db.pool).recordLightningPayment({
      wallet_id: m.walletId,
      payment_hash: hash,
      amount_sats: 21_000,
      direction: 'incoming',
    });
  const publish = async (e: ReturnType<typeof event>) =>
    expect((await publisher.publish(e)).accepted).toBe(true);

  async function worklist(who: Operator, threshold?: number): Promise<Body> {
    const q = threshold === undefined ? '' : `?threshold_minutes=${threshold}`;
    const r = await api.call('GET', `/api/v1/settlements/worklist${q}`, who.apiKey);
    expect(r.status).toBe(200);
    return r.body as Body;
  }
  /** the bucket listing this payment hash (null: none), and its row */
  function find(body: Body, hash: string) {
    for (const b of BUCKETS) {
      const row = body[b]!.find((x) => x.payment_hash === hash);
      if (row) return { bucket: b, row };
    }
    return null;
  }
  const listedAs = (who: Operator, hash: string, bucket: string) =>
    eventually(
      async () => {
        const f = find(await worklist(who, 0), hash);
        return f?.bucket === bucket ? f.row : null;
      },
      30_000,
      `${hash.slice(0, 8)} under ${bucket}`,
    );
  const workflowUrl = (hash: string) => `${UI}/namespaces/default/workflows/settlement-${hash}`;

  it('lists a settlement waiting for its payment from its ATM event on, linked to its workflow', async () => {
    const hash = newPaymentHash();
    await publish(event(hash, machine, operator));
    const row = await listedAs(operator, hash, 'waiting');
    expect(row).toMatchObject({
      id: hash,
      status: 'waiting',
      machine_id: machine.row.id,
      missing: 'payment',
      has_atm_event: true,
      has_payment: false,
      tx_type: 'cash_out',
      wire_sats: 21_000,
      fiat_amount: '20.00',
      fiat_code: 'USD',
      temporal_url: workflowUrl(hash),
    });
    expect(row.message).toMatch(/^waiting for the payment since /);
    // not stuck yet: the default threshold (30 min) does not list it
    expect(find(await worklist(operator), hash)).toBeNull();
    // the rival operator sees nothing of it
    expect(find(await worklist(rival, 0), hash)).toBeNull();
  });

  it('lists a settlement waiting for its ATM event from the payment on', async () => {
    const hash = newPaymentHash();
    await pay(hash, machine);
    const row = await listedAs(operator, hash, 'waiting');
    expect(row).toMatchObject({
      missing: 'atm_event',
      has_atm_event: false,
      has_payment: true,
      observed_amount_sats: 21_000,
      direction: 'incoming',
      tx_type: null,
      temporal_url: workflowUrl(hash),
    });
    expect(find(await worklist(rival, 0), hash)).toBeNull();
  });

  it('lists a settlement in its hold window (threshold 0 only), then not once it is paid', async () => {
    const hash = newPaymentHash();
    await publish(event(hash, machine, operator));
    await pay(hash, machine);
    const held = await awaitStatus(db.pool, hash, ['processing']);
    expect(held.processing_started_at).toBeNull();
    const row = await listedAs(operator, hash, 'holding');
    expect(row).toMatchObject({ id: held.id, status: 'processing', temporal_url: workflowUrl(hash) });
    // its sightings no longer show: the settlement row does
    const body = await worklist(operator, 0);
    expect(body.waiting!.some((w) => w.payment_hash === hash)).toBe(false);
    // a hold is never stuck: not listed at a threshold above 0
    expect(find(await worklist(operator, 1), hash)).toBeNull();
    expect(find(await worklist(rival, 0), hash)).toBeNull();
    await endHold(temporal.client, hash);
    await awaitStatus(db.pool, hash, ['processed']);
    expect(find(await worklist(operator, 0), hash)).toBeNull();
  });

  it("a rival machine's event for the same payment shows only to the rival, and never changes with the owner's", async () => {
    const hash = newPaymentHash();
    await publish(event(hash, rivalMachine, rival));
    const theirs = await listedAs(rival, hash, 'waiting');
    expect(theirs.machine_id).toBe(rivalMachine.row.id);
    expect(find(await worklist(operator, 0), hash)).toBeNull();
    // the owner's own event and payment: the owner's settlement (in its hold)
    await publish(event(hash, machine, operator));
    await pay(hash, machine);
    await listedAs(operator, hash, 'holding');
    // the rival's row is as it was: whether someone else recorded the hash never shows
    expect(find(await worklist(rival, 0), hash)).toEqual({ bucket: 'waiting', row: theirs });
    await endHold(temporal.client, hash);
    await awaitStatus(db.pool, hash, ['processed']);
  });

  it("a rival machine's event addressed to the operator is dropped: no row for anyone", async () => {
    const hash = newPaymentHash();
    const before = await dropped('unknown_pubkey');
    await publish(event(hash, rivalMachine, operator));
    await eventually(async () => (await dropped('unknown_pubkey')) > before, 30_000, 'the drop');
    expect(find(await worklist(operator, 0), hash)).toBeNull();
    expect(find(await worklist(rival, 0), hash)).toBeNull();
  });

  it('pages across settlement rows and waiting rows: every row once, newest first', async () => {
    const all: string[] = [];
    let cursor: string | null = null;
    const full = await worklist(operator, 0);
    const expected = BUCKETS.flatMap((b) => full[b]!.map((x) => x.id));
    do {
      const q = new URLSearchParams({ threshold_minutes: '0', limit: '1' });
      if (cursor) q.set('cursor', cursor);
      const r = await api.call('GET', `/api/v1/settlements/worklist?${q}`, operator.apiKey);
      expect(r.status).toBe(200);
      const rows = BUCKETS.flatMap((b) => (r.body as Body)[b]!.map((x) => x.id));
      expect(rows.length).toBeLessThanOrEqual(1);
      all.push(...rows);
      cursor = (r.body as Body).next_cursor;
    } while (cursor && all.length < 100);
    expect(expected.length).toBeGreaterThanOrEqual(2);
    expect([...all].sort()).toEqual([...expected].sort());
  });
});
