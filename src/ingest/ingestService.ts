import { createHash } from 'node:crypto';
import type { Client } from '@temporalio/client';
import type { SignedEvent } from '../contract';
import { getCursor, saveCursor } from '../db/ingestCursors';
import type { Pool } from '../db/pool';
import type { Logger } from '../logger';
import { ingestBackpressure, ingestCatchUpTruncated, ingestDropped, ingestEvents } from '../metrics/registry';
import { verifySignature } from '../nostr/codec';
import { fetchRelayMaxLimit, RelayClient, type Filter } from '../nostr/relayClient';
import type { PaymentBackend } from '../payments/backend';
import type { SecretBox } from '../security/secretBox';
import { KeyDirectory } from './keyDirectory';
import { BoundedSet } from './boundedSet';
import { startPaymentListener } from './paymentListener';
import { SettlementSignals } from './settlementSignals';
import { createSettlementStream } from './settlementStream';
import { createMachineStream } from './machineStream';
import type { IngestStream } from './stream';

export type { HandleOutcome, IngestStream } from './stream';

export interface IngestOptions {
  pool: Pool;
  client: Client;
  relays: string[];
  taskQueue: string;
  secretBox: SecretBox;
  payments: PaymentBackend;
  logger: Logger;
  stuckAfterMs?: number;
  /** a settlement's first workflow task waits this long for the other signal (SETTLEMENT_START_DELAY_MS) */
  settlementStartDelayMs?: number;
  keyRefreshMs?: number;
  /** events handled at once (default 16) */
  concurrency?: number;
  /** events waiting to be handled before the relays are paused (default 1,000) */
  maxQueue?: number;
}

export interface RunningIngest {
  stop(): Promise<void>;
  /** for tests: resolves when nothing is queued or in flight */
  idle(): Promise<void>;
  keys: KeyDirectory;
}

/** an event dated further ahead than this is dropped (reason `future`) and never moves a cursor */
export const MAX_FUTURE_SECONDS = 10 * 60;
/** catch-up starts this far before the cursor: machine clocks may lag by up to this much */
const SINCE_SLACK_SECONDS = 15 * 60;
const CATCH_UP_SECONDS = 24 * 3600;
/** events asked for per page when the relay announces no NIP-11 `max_limit` (strfry's default cap) */
const DEFAULT_PAGE = 500;
/** never more than this per page, whatever the relay announces */
const MAX_PAGE = 5000;
/** a catch-up a relay did not answer (timeout) runs again after this long */
const CATCH_UP_RETRY_MS = 5000;

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

/** drop reasons that depend on the keys we know: looked at again when they change */
const KEY_DEPENDENT_DROPS: ReadonlySet<string> = new Set(['unknown_pubkey', 'not_for_us', 'unproven_key']);

/** A digest of everything an event says: remembers a bad copy without naming the id it claims. */
function copyDigest(e: SignedEvent): string {
  return createHash('sha256')
    .update(JSON.stringify([e.id, e.pubkey, e.created_at, e.kind, e.tags, e.content, e.sig]))
    .digest('hex');
}

/**
 * Where a stream's cursor may stand: one second before the oldest event still in
 * flight, else the newest event that advanced it (accepted, or an authentic drop).
 */
class CursorTracker {
  private inflight = new Map<number, number>();
  private advancedTo: number | null = null;
  dirty = false;
  begin(t: number) {
    this.inflight.set(t, (this.inflight.get(t) ?? 0) + 1);
  }
  end(t: number, advance: boolean) {
    const n = (this.inflight.get(t) ?? 1) - 1;
    if (n <= 0) this.inflight.delete(t);
    else this.inflight.set(t, n);
    if (advance && (this.advancedTo === null || t > this.advancedTo)) this.advancedTo = t;
    this.dirty = true;
  }
  safePoint(): number | null {
    if (this.inflight.size) return Math.min(...this.inflight.keys()) - 1;
    return this.advancedTo;
  }
}

/**
 * The ingest: live subscriptions to every relay (reconnecting within seconds),
 * event verification and routing, and the payment listener. Several replicas may
 * run: the workflow id makes their signals idempotent.
 *
 * Every event is verified (id and signature) before anything is remembered about
 * its id, so a relay that sends a bad copy of an event first cannot suppress the
 * genuine one. Events dated more than 10 minutes ahead are dropped (`future`).
 * Jobs wait in a bounded queue: when it is full, live relays are paused and the
 * catch-up waits (`satmachine_ingest_backpressure_total`).
 */
export async function startIngest(opts: IngestOptions): Promise<RunningIngest> {
  const log = opts.logger.child({ component: 'ingest' });
  const signals = new SettlementSignals(
    opts.client,
    opts.taskQueue,
    opts.stuckAfterMs,
    opts.pool,
    opts.settlementStartDelayMs,
  );
  /** verified ids that were accepted */
  const handled = new BoundedSet(100_000);
  /** verified ids dropped for what they say (content, date): final */
  const dropped = new BoundedSet(100_000);
  /** verified ids dropped for who signed or whom they address: forgotten when the keys change */
  const droppedForKeys = new BoundedSet(100_000);
  const isDropped = (id: string) => dropped.has(id) || droppedForKeys.has(id);
  /** the subset of `dropped` whose drop was authentic (moves a cursor) */
  const droppedAuthentic = new BoundedSet(100_000);
  /** digests of copies that did not verify (logged and counted once) */
  const badCopies = new BoundedSet(10_000);
  /** `${relay}\0${stream}\0${id}` of verified events queued or in flight */
  const pending = new Set<string>();
  const concurrency = opts.concurrency ?? 16;
  const maxQueue = Math.max(1, opts.maxQueue ?? 1000);
  let stopping = false;
  let active = 0;
  let livePaused = false;
  const queue: (() => Promise<void>)[] = [];
  const idleWaiters: (() => void)[] = [];
  const roomWaiters: (() => void)[] = [];

  const relays = new Map<string, RelayClient>();
  const cursors = new Map<string, CursorTracker>();
  const cursorOf = (relay: string, stream: string) => {
    const key = `${relay}\u0000${stream}`;
    let c = cursors.get(key);
    if (!c) cursors.set(key, (c = new CursorTracker()));
    return c;
  };
  const startedCursor = new Map<string, number | null>();
  const retryTimers = new Set<NodeJS.Timeout>();

  const runCatchUp = (relay: RelayClient) => {
    catchUp(relay).catch((err) =>
      log.warn({ relay: relay.url, err: (err as Error).message }, 'catch-up failed'),
    );
  };

  // new operators or machines: new live filters, and a catch-up for what they may already have sent
  const resubscribeAll = () => {
    // drops like "unknown pubkey" depended on the keys we knew: let the catch-up look again
    // (drops for content stay: the same event would be dropped, and counted, again)
    droppedForKeys.clear();
    for (const relay of relays.values()) {
      for (const s of streams) subscribe(relay, s);
      runCatchUp(relay);
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

  /** resolves when the queue has room and the live relays are not paused */
  const hasRoom = () => queue.length < maxQueue && !livePaused;
  const room = (): Promise<void> => {
    if (hasRoom() || stopping) return Promise.resolve();
    ingestBackpressure.inc({ source: 'catch_up' });
    return new Promise<void>((r) => roomWaiters.push(r));
  };

  /** The relay answered nothing in time or the connection dropped. */
  class Interrupted extends Error {}

  /**
   * After a (re)connect: fetch what the relay kept since the cursor (minus a slack
   * for machine clocks), each filter on its own, newest page first, until the relay
   * has nothing older. The live subscription carries no `since`, so a lagging clock
   * never hides a live event.
   */
  async function catchUp(relay: RelayClient) {
    const announced = await fetchRelayMaxLimit(relay.url);
    const limit = Math.min(announced ?? DEFAULT_PAGE, MAX_PAGE);
    for (const stream of streams) {
      if (!stream.catchUp) continue;
      const key = `${relay.url}\u0000${stream.name}`;
      const cursor = cursorOf(relay.url, stream.name).safePoint() ?? startedCursor.get(key) ?? null;
      const now = Math.floor(Date.now() / 1000);
      const since =
        cursor === null ? now - CATCH_UP_SECONDS : Math.max(0, Math.min(cursor, now) - SINCE_SLACK_SECONDS);
      const filters = stream.catchUp(since);
      if (!filters) continue;
      // pages come newest first: hold the cursor at `since` until the last page is in
      const tracker = cursorOf(relay.url, stream.name);
      tracker.begin(since + 1);
      let fetched = 0;
      try {
        for (const filter of filters) {
          fetched += await pageFilter(
            relay,
            stream,
            filter,
            since,
            now + MAX_FUTURE_SECONDS,
            limit,
            announced,
          );
        }
      } catch (err) {
        if (!(err instanceof Interrupted)) throw err;
        log.warn(
          { relay: relay.url, stream: stream.name },
          'catch-up interrupted (no answer in time or connection lost); it runs again',
        );
        if (relay.connected && !stopping) {
          const t = setTimeout(() => {
            retryTimers.delete(t);
            if (!stopping) runCatchUp(relay);
          }, CATCH_UP_RETRY_MS);
          retryTimers.add(t);
        }
        return;
      } finally {
        tracker.end(since + 1, false);
      }
      if (fetched) log.info({ relay: relay.url, stream: stream.name, since, events: fetched }, 'caught up');
    }
  }

  /**
   * One filter, paged backwards by `until` (inclusive, so a second a page cut in two
   * is read again) until the relay returns nothing at or before `until`. A page
   * whose events all share one second is drained second-wise (see drainSecond).
   */
  async function pageFilter(
    relay: RelayClient,
    stream: IngestStream,
    filter: Filter,
    since: number,
    firstUntil: number,
    limit: number,
    announced: number | null,
  ): Promise<number> {
    // the most a relay returns for one filter: what we asked for, what it announced, or
    // learnt from a page it cut (then `capKnown`: a shorter result is whole)
    let cap = Math.min(limit, announced ?? Infinity);
    let capKnown = announced !== null;
    let until = firstUntil;
    let fetched = 0;
    let previous: { oldest: number; length: number } | null = null;
    while (until >= since) {
      const events = await fetchPage(relay, stream, { ...filter, since, until, limit });
      fetched += events.length;
      const times = events.map((e) => e.created_at).filter((t) => t >= since && t <= until);
      if (!times.length) break;
      const oldest = Math.min(...times);
      // events older than the previous page's oldest exist: the relay cut that page
      if (previous && oldest < previous.oldest) {
        cap = Math.min(cap, previous.length);
        capKnown = true;
      }
      previous = { oldest, length: events.length };
      if (oldest < until) {
        until = oldest;
        continue;
      }
      // every event of the page is from second `until`: more of that second may exist
      const authors = Array.isArray(filter.authors) ? (filter.authors as string[]) : [];
      fetched += await drainSecond(relay, stream, filter, authors, until, limit, events, cap, capKnown);
      until -= 1;
    }
    return fetched;
  }

  /**
   * All events of one second. A relay returns at most `cap` events per filter and
   * `since`/`until` cannot go below one second, so when a result may have been cut
   * the filter's `authors` are split in halves, down to a single machine. A result
   * shorter than a known cap is whole; when the cap is not known, one split shows
   * whether it was cut (the halves together return more). What remains out of
   * reach: more than the relay's cap from one machine in one second — logged and
   * counted (`satmachine_ingest_catchup_truncated_total`).
   */
  async function drainSecond(
    relay: RelayClient,
    stream: IngestStream,
    filter: Filter,
    authors: string[],
    second: number,
    limit: number,
    got: SignedEvent[],
    cap: number,
    capKnown: boolean,
  ): Promise<number> {
    const knownCut = got.length >= cap;
    if (!knownCut && capKnown) return 0;
    if (authors.length < 2) {
      if (knownCut) {
        ingestCatchUpTruncated.inc();
        log.warn(
          {
            relay: relay.url,
            stream: stream.name,
            created_at: second,
            events: got.length,
            author: authors[0],
          },
          `the relay returned ${got.length} events of one second from one author and may hold more; ` +
            "NIP-01 filters cannot reach them — raise the relay's max_limit",
        );
      }
      return 0;
    }
    const half = Math.ceil(authors.length / 2);
    const parts = [authors.slice(0, half), authors.slice(half)];
    let fetched = 0;
    const results: SignedEvent[][] = [];
    for (const part of parts) {
      const r = await fetchPage(relay, stream, {
        ...filter,
        authors: part,
        since: second,
        until: second,
        limit,
      });
      fetched += r.length;
      results.push(r);
    }
    if (!knownCut) {
      const ids = new Set(results.flat().map((e) => e.id));
      for (const e of got) ids.delete(e.id);
      if (ids.size === 0) return fetched; // the halves found nothing new: the result was whole
      cap = Math.min(cap, got.length);
      capKnown = true;
    }
    for (const [i, part] of parts.entries())
      fetched += await drainSecond(relay, stream, filter, part, second, limit, results[i]!, cap, capKnown);
    return fetched;
  }

  /** One query; its events handed to `process` as the queue has room. */
  async function fetchPage(relay: RelayClient, stream: IngestStream, filter: Filter): Promise<SignedEvent[]> {
    await room();
    const page = await relay.query([filter]);
    if (!page || stopping) throw new Interrupted();
    const events: SignedEvent[] = [];
    for (const e of page) {
      if (!hasRoom()) await room();
      if (stopping) throw new Interrupted();
      process(relay.url, stream.name, e, 'catch_up');
      if (isEventShape(e)) events.push(e);
    }
    return events;
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
    if (livePaused && queue.length <= maxQueue / 2) {
      livePaused = false;
      for (const r of relays.values()) r.resume();
      log.info({ queued: queue.length }, 'ingest queue has room again; relays resumed');
    }
    while (hasRoom() && roomWaiters.length) roomWaiters.shift()!();
  };

  const countDrop = (event: SignedEvent, relayUrl: string, reason: string, detail: string) => {
    ingestDropped.inc({ reason });
    ingestEvents.inc({ kind: String(event.kind), outcome: 'dropped' });
    log.warn(
      { event_id: event.id, kind: event.kind, pubkey: event.pubkey, reason, detail, relay: relayUrl },
      `dropped event: ${detail}`,
    );
  };

  const process = (relayUrl: string, subId: string, raw: unknown, source: 'live' | 'catch_up') => {
    const stream = streams.find((s) => s.name === subId);
    if (!stream) return;
    if (!isEventShape(raw)) {
      ingestDropped.inc({ reason: 'malformed' });
      log.warn({ relay: relayUrl }, 'dropped a malformed event (not a Nostr event object)');
      return;
    }
    const event = raw;
    // every id in these sets verified: a copy with a known id is this very event or a forgery
    if (handled.has(event.id) || isDropped(event.id)) return;
    const pendingKey = `${relayUrl}\u0000${stream.name}\u0000${event.id}`;
    if (pending.has(pendingKey)) return;
    if (!verifySignature(event)) {
      const digest = copyDigest(event);
      if (badCopies.has(digest)) return;
      badCopies.add(digest);
      countDrop(event, relayUrl, 'bad_signature', 'signature or id does not verify');
      return;
    }
    const now = Math.floor(Date.now() / 1000);
    if (event.created_at > now + MAX_FUTURE_SECONDS) {
      dropped.add(event.id);
      countDrop(
        event,
        relayUrl,
        'future',
        `created_at ${event.created_at} is ${event.created_at - now} s ahead of this clock (more than ${MAX_FUTURE_SECONDS} s)`,
      );
      return;
    }
    const cursor = stream.catchUp ? cursorOf(relayUrl, stream.name) : null;
    cursor?.begin(event.created_at);
    pending.add(pendingKey);
    queue.push(async () => {
      let backoff = 500;
      let advance = false;
      try {
        while (!stopping) {
          if (handled.has(event.id)) {
            advance = true;
            return;
          }
          if (isDropped(event.id)) {
            advance = droppedAuthentic.has(event.id);
            return;
          }
          try {
            const outcome = await stream.handle(event, relayUrl);
            if (outcome.kind === 'ok') {
              handled.add(event.id);
              advance = true;
              ingestEvents.inc({ kind: String(event.kind), outcome: 'ok' });
              return;
            }
            (KEY_DEPENDENT_DROPS.has(outcome.reason) ? droppedForKeys : dropped).add(event.id);
            if (outcome.authentic) droppedAuthentic.add(event.id);
            advance = outcome.authentic === true;
            countDrop(event, relayUrl, outcome.reason, outcome.detail);
            return;
          } catch (err) {
            const sqlstate = (err as { code?: unknown }).code;
            if (typeof sqlstate === 'string' && /^22[0-9A-Z]{3}$/.test(sqlstate)) {
              // only a handler past its authorship checks reaches the database
              const detail = `the database refused a value (${(err as Error).message})`;
              dropped.add(event.id);
              droppedAuthentic.add(event.id);
              advance = true;
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
        pending.delete(pendingKey);
        cursor?.end(event.created_at, advance);
      }
    });
    if (source === 'live' && !livePaused && queue.length >= maxQueue) {
      livePaused = true;
      ingestBackpressure.inc({ source: 'live' });
      for (const r of relays.values()) r.pause();
      log.warn({ queued: queue.length }, 'ingest queue full; relays paused until it drains');
    }
    pump();
  };

  // load where each cursor stood, then connect
  await keys.refresh();
  for (const url of opts.relays) {
    for (const s of streams) {
      if (!s.catchUp) continue;
      let stored = await getCursor(opts.pool, url, s.name);
      if (stored !== null && stored > Math.floor(Date.now() / 1000) + MAX_FUTURE_SECONDS) {
        log.warn(
          { relay: url, stream: s.name, cursor: stored },
          'stored ingest cursor is in the future (poisoned or clock change); catching up the last 24 h instead',
        );
        stored = null;
      }
      startedCursor.set(`${url}\u0000${s.name}`, stored);
    }
    const relay: RelayClient = new RelayClient(url, {
      logger: log,
      onEvent: (subId, e) => process(url, subId, e, 'live'),
      onConnected: () => runCatchUp(relay),
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
      // an event up to 10 minutes ahead may be handled; the stored cursor never passes this clock
      const now = Math.floor(Date.now() / 1000);
      // cleared before the write: a job ending meanwhile marks it dirty again for the next flush
      tracker.dirty = false;
      try {
        await saveCursor(opts.pool, relay, stream, Math.min(point, now), now + MAX_FUTURE_SECONDS);
      } catch (err) {
        tracker.dirty = true;
        throw err;
      }
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
      for (const t of retryTimers) clearTimeout(t);
      roomWaiters.splice(0).forEach((r) => r());
      for (const r of relays.values()) r.close();
      await paymentListener.stop();
      await flushCursors().catch(() => undefined);
    },
  };
}
