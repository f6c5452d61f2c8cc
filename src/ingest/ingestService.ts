import type { Client } from '@temporalio/client';
import type { SignedEvent } from '../contract';
import { getCursor, saveCursor } from '../db/ingestCursors';
import type { Pool } from '../db/pool';
import type { Logger } from '../logger';
import { ingestDropped, ingestEvents } from '../metrics/registry';
import { RelayClient, type Filter } from '../nostr/relayClient';
import type { PaymentBackend } from '../payments/backend';
import type { SecretBox } from '../security/secretBox';
import { KeyDirectory } from './keyDirectory';
import { BoundedSet } from './boundedSet';
import { startPaymentListener } from './paymentListener';
import { SettlementSignals } from './settlementSignals';
import { createSettlementStream } from './settlementStream';
import { createMachineStream } from './machineStream';

/** What a stream handler says of one event. */
export type HandleOutcome =
  { kind: 'ok'; detail?: string } | { kind: 'drop'; reason: string; detail: string };

export interface IngestStream {
  /** stream name: a subscription id and a cursor key */
  name: string;
  /** the live subscription (null: nothing to listen for yet) */
  live(): Filter[] | null;
  /**
   * Streams of events a relay keeps only for a while (kind 21000) catch up on every
   * (re)connect with these filters, from a persisted cursor, page by page.
   */
  catchUp?(since: number): Filter[] | null;
  handle(event: SignedEvent, relay: string): Promise<HandleOutcome>;
}

export interface IngestOptions {
  pool: Pool;
  client: Client;
  relays: string[];
  taskQueue: string;
  secretBox: SecretBox;
  payments: PaymentBackend;
  logger: Logger;
  stuckAfterMs?: number;
  keyRefreshMs?: number;
  /** events handled at once (default 16) */
  concurrency?: number;
}

export interface RunningIngest {
  stop(): Promise<void>;
  /** for tests: resolves when nothing is queued or in flight */
  idle(): Promise<void>;
  keys: KeyDirectory;
}

/** catch-up starts this far before the cursor: machine clocks may lag by up to this much */
const SINCE_SLACK_SECONDS = 15 * 60;
const CATCH_UP_SECONDS = 24 * 3600;
const CATCH_UP_PAGE = 1000;

function isEventShape(e: unknown): e is SignedEvent {
  if (typeof e !== 'object' || e === null) return false;
  const v = e as Record<string, unknown>;
  return (
    typeof v.id === 'string' &&
    typeof v.pubkey === 'string' &&
    typeof v.sig === 'string' &&
    typeof v.content === 'string' &&
    Number.isInteger(v.kind) &&
    Number.isInteger(v.created_at) &&
    Array.isArray(v.tags)
  );
}

/** Tracks the oldest event still in flight so a persisted cursor never skips one. */
class CursorTracker {
  private inflight = new Map<number, number>();
  private handledMax: number | null = null;
  dirty = false;
  begin(t: number) {
    this.inflight.set(t, (this.inflight.get(t) ?? 0) + 1);
  }
  end(t: number, handled = true) {
    const n = (this.inflight.get(t) ?? 1) - 1;
    if (n <= 0) this.inflight.delete(t);
    else this.inflight.set(t, n);
    if (handled && (this.handledMax === null || t > this.handledMax)) this.handledMax = t;
    this.dirty = true;
  }
  safePoint(): number | null {
    if (this.inflight.size) return Math.min(...this.inflight.keys()) - 1;
    return this.handledMax;
  }
}

/**
 * The ingest: live subscriptions to every relay (reconnecting within seconds),
 * event verification and routing, and the payment listener. Several replicas may
 * run: the workflow id makes their signals idempotent.
 */
export async function startIngest(opts: IngestOptions): Promise<RunningIngest> {
  const log = opts.logger.child({ component: 'ingest' });
  const signals = new SettlementSignals(opts.client, opts.taskQueue, opts.stuckAfterMs);
  const handled = new BoundedSet(100_000);
  const dropped = new BoundedSet(100_000);
  const concurrency = opts.concurrency ?? 16;
  let stopping = false;
  let active = 0;
  const queue: (() => Promise<void>)[] = [];
  const idleWaiters: (() => void)[] = [];

  const relays = new Map<string, RelayClient>();
  const cursors = new Map<string, CursorTracker>();
  const cursorOf = (relay: string, stream: string) => {
    const key = `${relay}\u0000${stream}`;
    let c = cursors.get(key);
    if (!c) cursors.set(key, (c = new CursorTracker()));
    return c;
  };
  const startedCursor = new Map<string, number | null>();

  // new operators or machines: new live filters, and a catch-up for what they may already have sent
  const resubscribeAll = () => {
    // drops like "unknown pubkey" depended on the keys we knew: let the catch-up look again
    dropped.clear();
    for (const relay of relays.values()) {
      for (const s of streams) subscribe(relay, s);
      catchUp(relay).catch((err) =>
        log.warn({ relay: relay.url, err: (err as Error).message }, 'catch-up failed'),
      );
    }
  };
  const keys = new KeyDirectory(opts.pool, opts.secretBox, log, resubscribeAll, opts.keyRefreshMs);
  const streams: IngestStream[] = [
    createSettlementStream({ keys, signals, logger: log }),
    createMachineStream({ keys, pool: opts.pool, logger: log }),
  ];

  function subscribe(relay: RelayClient, stream: IngestStream) {
    // a filter that matches nothing yet (no operator keys, no machines) still has to be a valid REQ
    relay.subscribe(
      stream.name,
      () => stream.live() ?? [{ kinds: [0], limit: 0, authors: ['0'.repeat(64)] }],
    );
  }

  /**
   * After a (re)connect: fetch what the relay kept since the cursor (minus a slack
   * for machine clocks), newest page first, 1,000 events a page, until nothing older
   * is left. The live subscription carries no `since`, so a lagging clock never
   * hides a live event.
   */
  async function catchUp(relay: RelayClient) {
    for (const stream of streams) {
      if (!stream.catchUp) continue;
      const key = `${relay.url}\u0000${stream.name}`;
      const cursor = cursorOf(relay.url, stream.name).safePoint() ?? startedCursor.get(key) ?? null;
      const now = Math.floor(Date.now() / 1000);
      const since =
        cursor === null ? now - CATCH_UP_SECONDS : Math.max(0, Math.min(cursor, now) - SINCE_SLACK_SECONDS);
      const filters = stream.catchUp(since);
      if (!filters) continue;
      let until = now + SINCE_SLACK_SECONDS;
      let fetched = 0;
      // pages come newest first: hold the cursor at `since` until the last page is in
      const tracker = cursorOf(relay.url, stream.name);
      tracker.begin(since + 1);
      try {
        for (;;) {
          const page = await relay.query(filters.map((f) => ({ ...f, until, limit: CATCH_UP_PAGE })));
          if (!page) {
            log.warn(
              { relay: relay.url, stream: stream.name },
              'catch-up interrupted; it runs again on reconnect',
            );
            return;
          }
          for (const e of page) process(relay.url, stream.name, e);
          fetched += page.length;
          if (page.length < CATCH_UP_PAGE) break;
          const oldest = Math.min(...page.map((e) => (e as SignedEvent).created_at));
          if (!(oldest < until)) {
            log.warn(
              { relay: relay.url, at: oldest },
              'more than one page of events share one created_at; catch-up stops there',
            );
            break;
          }
          until = oldest;
        }
      } finally {
        tracker.end(since + 1, false);
      }
      if (fetched) log.info({ relay: relay.url, stream: stream.name, since, events: fetched }, 'caught up');
    }
  }

  const pump = () => {
    while (active < concurrency && queue.length) {
      const job = queue.shift()!;
      active++;
      void job().finally(() => {
        active--;
        pump();
        if (active === 0 && queue.length === 0) idleWaiters.splice(0).forEach((r) => r());
      });
    }
  };

  const process = (relayUrl: string, subId: string, raw: unknown) => {
    const stream = streams.find((s) => s.name === subId);
    if (!stream) return;
    if (!isEventShape(raw)) {
      ingestDropped.inc({ reason: 'malformed' });
      log.warn({ relay: relayUrl }, 'dropped a malformed event (not a Nostr event object)');
      return;
    }
    const event = raw;
    if (handled.has(event.id) || dropped.has(event.id)) return;
    const cursor = stream.catchUp ? cursorOf(relayUrl, stream.name) : null;
    cursor?.begin(event.created_at);
    queue.push(async () => {
      let backoff = 500;
      try {
        while (!stopping) {
          if (handled.has(event.id) || dropped.has(event.id)) return;
          try {
            const outcome = await stream.handle(event, relayUrl);
            if (outcome.kind === 'ok') {
              handled.add(event.id);
              ingestEvents.inc({ kind: String(event.kind), outcome: 'ok' });
              return;
            }
            dropped.add(event.id);
            ingestDropped.inc({ reason: outcome.reason });
            ingestEvents.inc({ kind: String(event.kind), outcome: 'dropped' });
            log.warn(
              {
                event_id: event.id,
                kind: event.kind,
                pubkey: event.pubkey,
                reason: outcome.reason,
                detail: outcome.detail,
                relay: relayUrl,
              },
              `dropped event: ${outcome.detail}`,
            );
            return;
          } catch (err) {
            const sqlstate = (err as { code?: unknown }).code;
            if (typeof sqlstate === 'string' && /^22[0-9A-Z]{3}$/.test(sqlstate)) {
              const detail = `the database refused a value (${(err as Error).message})`;
              dropped.add(event.id);
              ingestDropped.inc({ reason: 'invalid_content' });
              ingestEvents.inc({ kind: String(event.kind), outcome: 'dropped' });
              log.warn(
                {
                  event_id: event.id,
                  kind: event.kind,
                  pubkey: event.pubkey,
                  reason: 'invalid_content',
                  detail,
                  sqlstate,
                  relay: relayUrl,
                },
                `dropped event: ${detail}`,
              );
              return;
            }
            log.warn(
              { event_id: event.id, err: (err as Error).message, retry_in_ms: backoff },
              'could not hand an event on (Temporal or PostgreSQL unreachable?); retrying',
            );
            await new Promise((r) => setTimeout(r, backoff));
            backoff = Math.min(backoff * 2, 10_000);
          }
        }
      } finally {
        cursor?.end(event.created_at);
      }
    });
    pump();
  };

  // load where each cursor stood, then connect
  await keys.refresh();
  for (const url of opts.relays) {
    for (const s of streams) {
      if (s.catchUp) startedCursor.set(`${url}\u0000${s.name}`, await getCursor(opts.pool, url, s.name));
    }
    const relay: RelayClient = new RelayClient(url, {
      logger: log,
      onEvent: (subId, e) => process(url, subId, e),
      onConnected: () => {
        catchUp(relay).catch((err) =>
          log.warn({ relay: url, err: (err as Error).message }, 'catch-up failed'),
        );
      },
    });
    relays.set(url, relay);
    for (const s of streams) subscribe(relay, s);
    relay.start();
  }
  keys.start();

  const flushCursors = async () => {
    for (const [key, tracker] of cursors) {
      if (!tracker.dirty) continue;
      const point = tracker.safePoint();
      if (point === null) continue;
      const [relay, stream] = key.split('\u0000') as [string, string];
      await saveCursor(opts.pool, relay, stream, point);
      tracker.dirty = false;
    }
  };
  const cursorTimer = setInterval(() => {
    flushCursors().catch((err) => log.warn({ err: (err as Error).message }, 'could not save ingest cursors'));
  }, 2000);

  const paymentListener = startPaymentListener({
    pool: opts.pool,
    payments: opts.payments,
    signals,
    logger: log,
  });

  log.info({ relays: opts.relays }, 'ingest running');
  return {
    keys,
    idle: () =>
      active === 0 && queue.length === 0 ? Promise.resolve() : new Promise<void>((r) => idleWaiters.push(r)),
    stop: async () => {
      stopping = true;
      keys.stop();
      clearInterval(cursorTimer);
      for (const r of relays.values()) r.close();
      await paymentListener.stop();
      await flushCursors().catch(() => undefined);
    },
  };
}
