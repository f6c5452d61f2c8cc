import WebSocket from 'ws';
import { settlementWorkflowId, stateQuery, type SignedEvent } from '../../src/contract';
import type { RunningIngest } from '../../src/ingest/ingestService';
import { buildSettlementEvent, encryptFor, signEvent } from '../../src/nostr/codec';
import { type RelayClient, rawText } from '../../src/nostr/relayClient';
import {
  createLp,
  createMachine,
  ledgerFor,
  newPaymentHash,
  settlementContent,
  type Machine,
  type Operator,
  createSuperAndOperator,
} from '../helpers/fixtures';
import { awaitStatus, settlementByHash } from '../helpers/settle';
import { eventually } from '../helpers/stack';
import { connectPublisher, startTestIngest, startTestStack, type TestStack } from '../helpers/testStack';
import { relayInfo, startStockRelay, type StockRelay } from '../helpers/stockRelay';

const now = () => Math.floor(Date.now() / 1000);

/** A bare NIP-01 connection that records every message: what the relay itself answers. */
async function rawConnection(url: string) {
  const ws = new WebSocket(url);
  const messages: unknown[][] = [];
  const waiters: { match: (m: unknown[]) => boolean; resolve: (m: unknown[]) => void }[] = [];
  ws.on('message', (data) => {
    const m = JSON.parse(rawText(data)) as unknown[];
    messages.push(m);
    for (const w of [...waiters])
      if (w.match(m)) {
        waiters.splice(waiters.indexOf(w), 1);
        w.resolve(m);
      }
  });
  await new Promise<void>((resolve, reject) => {
    ws.once('open', () => resolve());
    ws.once('error', reject);
  });
  return {
    messages,
    send: (msg: unknown[]) => ws.send(JSON.stringify(msg)),
    /** the relay's OK for one event id (the barrier: the relay handles one connection's EVENTs in order) */
    ok: (id: string) =>
      new Promise<unknown[]>((resolve) => {
        const seen = messages.find((m) => m[0] === 'OK' && m[1] === id);
        if (seen) resolve(seen);
        else waiters.push({ match: (m) => m[0] === 'OK' && m[1] === id, resolve });
      }),
    close: () => ws.close(),
  };
}

/**
 * The ingest against a stock relay, not ours: nostr-rs-relay 0.8.12 (crates.io), run
 * with the production config of docs/deploy.md. Real PostgreSQL, Temporal, worker and
 * ingest. strfry would be the other candidate; it is on no registry this project
 * can install from (docs/deploy.md).
 */
describe('the ingest against a stock relay (nostr-rs-relay)', () => {
  let stack: TestStack;
  let db: TestStack['db'];
  let temporal: TestStack['temporal'];
  let relay: StockRelay;
  let ingest: RunningIngest | null = null;
  let operator: Operator;
  let machine: Machine;
  let publisher: RelayClient;
  let sender: Awaited<ReturnType<typeof rawConnection>>;

  const startIngestHere = () =>
    // a payment whose event never comes shows as stuck after 2 s
    startTestIngest(stack, [relay.url], { keyRefreshMs: 500, stuckAfterMs: 2000 });
  const stopIngest = async () => {
    await ingest?.stop();
    ingest = null;
  };

  beforeAll(async () => {
    stack = await startTestStack();
    ({ db, temporal } = stack);
    operator = await createSuperAndOperator(db.pool);
    machine = await createMachine(db.pool, operator);
    await createLp(db.pool, machine, { name: 'lp', depositCents: 1_000_000 });
    relay = await startStockRelay({ whitelist: [machine.pubkey, operator.pubkey] });
    ingest = await startIngestHere();
    publisher = await connectPublisher(relay.url);
    sender = await rawConnection(relay.url);
  });
  afterAll(async () => {
    sender?.close();
    publisher?.close();
    await stopIngest();
    await relay?.stop();
    await stack?.stop();
  });

  const settlementEvent = (hash: string, createdAt?: number) =>
    buildSettlementEvent(
      machine.secretHex,
      operator.pubkey,
      settlementContent({ paymentHash: hash, wireSats: 21_000, feeSats: 1_000, fiat: '20.00' }),
      createdAt,
    );
  const beacon = (m: Machine, content: Record<string, unknown>, createdAt = now()) =>
    signEvent(m.secretHex, {
      kind: 30078,
      tags: [['d', 'bitspire-beacon']],
      content: JSON.stringify(content),
      created_at: createdAt,
    });
  const pay = (hash: string) =>
    ledgerFor(db.pool).recordLightningPayment({
      wallet_id: machine.walletId,
      payment_hash: hash,
      amount_sats: 21_000,
      direction: 'incoming',
    });
  const settlementCursor = async (): Promise<number | null> => {
    const { rows } = await db.pool.query<{ last_created_at: string }>(
      `SELECT last_created_at FROM satmachine.ingest_cursors WHERE relay_url = $1 AND stream = 'settlements'`,
      [relay.url],
    );
    return rows[0] ? Number(rows[0].last_created_at) : null;
  };
  /** sends a kind-21000 event and waits until the relay has handled it (a stored beacon after it is answered) */
  let barrierAt = now() - 600;
  const sendAndSettle = async (e: SignedEvent) => {
    sender.send(['EVENT', e]);
    const b = beacon(machine, { version: 'barrier' }, ++barrierAt);
    sender.send(['EVENT', b]);
    expect((await sender.ok(b.id))[2]).toBe(true);
  };

  it('advertises no per-filter cap and takes writes only from whitelisted keys and allowed kinds', async () => {
    const info = await relayInfo(relay.httpUrl);
    expect(info.version).toBe('0.8.12');
    expect(info.software).toContain('nostr-rs-relay');
    // NIP-11 says nothing of a cap: nostr-rs-relay 0.8.12 has none (a filter without `limit` gets every match)
    expect(info.limitation).toEqual({ payment_required: false });

    const stranger = signEvent('5'.repeat(64), {
      kind: 30078,
      tags: [['d', 'bitspire-beacon']],
      content: '{}',
    });
    expect(await publisher.publish(stranger)).toMatchObject({
      accepted: false,
      message: 'blocked: pubkey is not allowed to publish to this relay',
    });
    const note = signEvent(operator.secretHex, { kind: 1, tags: [], content: 'hello' });
    expect(await publisher.publish(note)).toMatchObject({
      accepted: false,
      message: 'blocked: event kind is blocked by relay',
    });
    expect(await publisher.publish(beacon(machine, { cash_in: true }, ++barrierAt))).toMatchObject({
      accepted: true,
    });
  });

  it('live kind-21000 events reach the workflow and settle', async () => {
    const hash = newPaymentHash();
    await sendAndSettle(settlementEvent(hash));
    await pay(hash);
    const s = await awaitStatus(db.pool, hash, ['processed']);
    expect(s.wire_sats).toBe(21_000);
  });

  it('answers no OK to a kind-21000 event (it forwards it, stores nothing, and says nothing)', async () => {
    const hash = newPaymentHash();
    const e = settlementEvent(hash);
    await sendAndSettle(e);
    // the OK for the beacon sent after it came, and none for the settlement event before it
    expect(sender.messages.filter((m) => m[0] === 'OK' && m[1] === e.id)).toEqual([]);
    // a client that waits for the OK (NIP-01) gives up, yet the live subscriber got it
    await pay(hash);
    await awaitStatus(db.pool, hash, ['processed']);
    expect(await publisher.query([{ ids: [e.id] }])).toEqual([]);
  });

  it('beacons and telemetry sent while the ingest is down are caught up when it returns', async () => {
    await stopIngest();
    const t = ++barrierAt;
    const b = beacon(machine, { name: 'after the outage', version: '9.9.9' }, t);
    const telemetry = signEvent(machine.secretHex, {
      kind: 30079,
      tags: [
        ['d', 'bitspire-telemetry'],
        ['p', operator.pubkey],
      ],
      content: encryptFor(machine.secretHex, operator.pubkey, JSON.stringify({ uptime: 42 })),
      created_at: t,
    });
    expect(await publisher.publish(b)).toMatchObject({ accepted: true });
    expect(await publisher.publish(telemetry)).toMatchObject({ accepted: true });
    ingest = await startIngestHere();
    const row = await eventually(async () => {
      const { rows } = await db.pool.query(
        'SELECT beacon_name, beacon_version, beacon_event_id, telemetry_json, telemetry_event_id FROM satmachine.dca_telemetry WHERE machine_id = $1',
        [machine.row.id],
      );
      return rows[0]?.beacon_event_id === b.id && rows[0]?.telemetry_event_id === telemetry.id
        ? rows[0]
        : null;
    });
    expect(row).toMatchObject({ beacon_name: 'after the outage', beacon_version: '9.9.9' });
    expect(JSON.parse(row.telemetry_json)).toEqual({ uptime: 42 });
  });

  it('kind 21000 sent while the ingest is down is lost on this relay: no catch-up; the ingest keeps running and its cursor follows handled events only', async () => {
    await stopIngest();
    const before = await settlementCursor();
    expect(before).not.toBeNull();

    const missedHash = newPaymentHash();
    const missed = settlementEvent(missedHash, now());
    await sendAndSettle(missed);
    await pay(missedHash);
    // the relay kept nothing: neither this event nor any kind 21000 of this suite (three were sent)
    expect(await publisher.query([{ ids: [missed.id] }])).toEqual([]);
    expect(await publisher.query([{ kinds: [21000] }])).toEqual([]);

    // a stored beacon sent now reaches the restarted ingest once it has subscribed
    // (its settlement subscription goes out first on the same connection)
    const subscribed = beacon(machine, { version: 'subscribed' }, ++barrierAt);
    expect(await publisher.publish(subscribed)).toMatchObject({ accepted: true });
    ingest = await startIngestHere();
    await eventually(async () => {
      const { rows } = await db.pool.query(
        'SELECT beacon_event_id FROM satmachine.dca_telemetry WHERE machine_id = $1',
        [machine.row.id],
      );
      return rows[0]?.beacon_event_id === subscribed.id;
    });
    // the barrier: a live event after the restart settles, so the ingest is up, subscribed and caught up on nothing
    const afterHash = newPaymentHash();
    const after = settlementEvent(afterHash, now() + 1);
    await sendAndSettle(after);
    await pay(afterHash);
    await awaitStatus(db.pool, afterHash, ['processed']);

    // the missed settlement has its payment but never its event: stuck, where the operator's worklist shows it
    const handle = temporal.client.workflow.getHandle(settlementWorkflowId(missedHash));
    const state = await eventually(async () => {
      const s = await handle.query(stateQuery);
      return s.has_payment && s.stuck ? s : null;
    });
    expect(state).toMatchObject({ has_atm_event: false, phase: 'awaiting_signals' });
    const row = await eventually(async () => {
      const s = await settlementByHash(db.pool, missedHash);
      return s?.error_message?.startsWith('waiting for the ATM event (kind 21000) since') ? s : null;
    });
    expect(row.status).toBe('pending');

    // the cursor stands at the newest event the ingest handled, not at the missed one nor at "now"
    await stopIngest();
    expect(await settlementCursor()).toBe(Math.max(before!, after.created_at));
    ingest = await startIngestHere();
  });

  const createMachines = async (n: number, from: number) => {
    const made: Machine[] = [];
    for (let i = 0; i < n; i += 50)
      made.push(
        ...(await Promise.all(
          Array.from({ length: Math.min(50, n - i) }, (_, j) =>
            createMachine(db.pool, operator, { name: `fleet ${from + i + j}` }),
          ),
        )),
      );
    return made;
  };
  /** every machine named `fleet <n>` whose beacon `atm-<n>` (and, if asked, telemetry) was applied */
  const fleetApplied = async (withTelemetry: boolean) => {
    const { rows } = await db.pool.query<{ n: number }>(
      `SELECT count(*)::int AS n FROM satmachine.dca_telemetry t
         JOIN satmachine.dca_machines m ON m.id = t.machine_id
        WHERE m.name LIKE 'fleet %' AND t.beacon_name = 'atm-' || substring(m.name from 7)
          AND (NOT $1 OR t.telemetry_json = '{"fleet":' || substring(m.name from 7) || '}')`,
      [withTelemetry],
    );
    return rows[0]!.n;
  };
  const fleet: Machine[] = [];
  /** new machines join the whitelist: the operator edits config.toml and restarts the relay */
  const restartRelayWithFleet = async () => {
    await relay.restart([machine.pubkey, operator.pubkey, ...fleet.map((m) => m.pubkey)]);
    publisher.close();
    publisher = await connectPublisher(relay.url);
    sender.close();
    sender = await rawConnection(relay.url);
  };
  const sendAll = async (events: SignedEvent[]) => {
    for (let i = 0; i < events.length; i += 100) {
      const chunk = events.slice(i, i + 100);
      for (const e of chunk) sender.send(['EVENT', e]);
      for (const e of chunk) expect((await sender.ok(e.id))[2]).toBe(true);
    }
  };
  const base = now() - 5;
  /** one beacon and one telemetry snapshot per machine, a second apart, over the last 20 minutes */
  const fleetEvents = (machines: Machine[]) =>
    machines.flatMap((m) => {
      const n = Number(m.row.name.slice('fleet '.length));
      return [
        beacon(m, { name: `atm-${n}`, version: '1.0.0' }, base - n),
        signEvent(m.secretHex, {
          kind: 30079,
          tags: [
            ['d', 'bitspire-telemetry'],
            ['p', operator.pubkey],
          ],
          content: encryptFor(m.secretHex, operator.pubkey, JSON.stringify({ fleet: n })),
          created_at: base - n,
        }),
      ];
    });

  it('more stored replaceable events (1,100) than a catch-up page (1,000), from 550 machines, all reach the ingest after an outage', async () => {
    fleet.push(...(await createMachines(550, 0)));
    await stopIngest();
    await restartRelayWithFleet();
    await sendAll(fleetEvents(fleet));
    // the relay answers one filter without `limit` with every match, and honours a `limit` below that
    // (the fleet's 1,100 and the first machine's beacon and telemetry)
    expect(await publisher.query([{ kinds: [30078, 30079] }], 60_000)).toHaveLength(1102);
    expect(await publisher.query([{ kinds: [30078, 30079], limit: 1000 }], 60_000)).toHaveLength(1000);

    ingest = await startIngestHere();
    await eventually(
      async () => (await fleetApplied(true)) === 550,
      240_000,
      'all 550 beacons and telemetry applied',
    );
  }, 600_000);

  it('a fleet of 1,100 machines: every stored beacon reaches the ingest after an outage (nostr-rs-relay fails a filter of 997 or more authors silently)', async () => {
    // a filter naming 996 authors is answered; one naming 997 or more gets no answer at
    // all, no EOSE, no NOTICE (the relay's SQL has one `author=?` term per author, and
    // SQLite's expression depth limit is 1,000: the query fails and the error is dropped)
    const probe = (n: number) =>
      publisher.query(
        [{ kinds: [30078], authors: Array.from({ length: n }, (_, i) => i.toString(16).padStart(64, '0')) }],
        30_000,
      );
    expect(await probe(996)).toEqual([]);

    fleet.push(...(await createMachines(550, 550)));
    await stopIngest();
    await restartRelayWithFleet();
    await sendAll(fleetEvents(fleet.slice(550)));
    ingest = await startIngestHere();
    // expected of the ingest: it splits its machine subscription so that each filter stays
    // within what relays serve; with the 1,101 authors in one filter it gets no stored event
    await eventually(async () => (await fleetApplied(false)) === 1100, 120_000, 'all 1,100 beacons applied');
  }, 600_000);
});
