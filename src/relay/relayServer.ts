import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { WebSocketServer, type WebSocket } from 'ws';
import { eventSignatureValid } from '../nostr/eventSignature';
import { matchFilters, type Filter } from 'nostr-tools/filter';
import { KIND_APP_DATA, KIND_SETTLEMENT, KIND_TELEMETRY } from '../contract';
import { isAlertRecipient } from '../db/alertSettings';
import type { Pool } from '../db/pool';
import {
  isEphemeral,
  purgeExpiredEvents,
  saveEvent,
  streamEvents,
  type EventQuery,
  type StoredEvent,
} from '../db/relayEvents';
import type { Logger } from '../logger';
import { rawText } from '../nostr/relayClient';
import { KnownPublishers } from './knownPublishers';

/** What one client may ask of the relay; published in its NIP-11 document. */
export interface RelayLimits {
  /** bytes per WebSocket message; a bigger one closes the connection (1009) */
  maxMessageBytes: number;
  /** open subscriptions per connection */
  maxSubscriptions: number;
  /** filters per REQ */
  maxFilters: number;
  /** stored events sent per filter (a filter's `limit` is clamped to it; no `limit` means this many) */
  maxLimit: number;
  /** WebSocket connections open at once from one client address */
  maxConnectionsPerIp: number;
  /** events dated further ahead of the relay clock are refused */
  maxFutureSeconds: number;
  /** tags per event */
  maxEventTags: number;
}

export const DEFAULT_RELAY_LIMITS: Readonly<RelayLimits> = Object.freeze({
  maxMessageBytes: 512 * 1024,
  maxSubscriptions: 20,
  maxFilters: 10,
  maxLimit: 5000,
  maxConnectionsPerIp: 20,
  maxFutureSeconds: 600,
  maxEventTags: 100,
});

/**
 * Who may publish. `known`: only registered machine keys and satmachine users'
 * keys, and only the kinds satmachine uses; `open`: any valid event.
 */
export type WritePolicy = 'known' | 'open';

/** the kinds a `known` relay accepts: settlements, app data (beacons, cassettes), telemetry */
export const KNOWN_POLICY_KINDS: readonly number[] = [KIND_SETTLEMENT, KIND_APP_DATA, KIND_TELEMETRY];

/**
 * NIP-17 gift wraps (NIP-59): signed by a throwaway key by design, so a `known` relay
 * accepts one only when it is addressed (its one `p` tag) to an operator's alert
 * recipient (docs/alerts.md §4).
 */
export const KIND_GIFT_WRAP = 1059;

export interface RelayOptions {
  pool: Pool;
  logger: Logger;
  host?: string;
  port?: number;
  /** ephemeral kinds kept for catch-up, in seconds (default: kind 21000 for 24 h) */
  ephemeralRetention?: Record<number, number>;
  limits?: Partial<RelayLimits>;
  /** default `known` */
  writePolicy?: WritePolicy;
  /** stored events read from PostgreSQL per query while streaming a REQ (default 500) */
  pageSize?: number;
  /** how long an unknown key is refused before PostgreSQL is asked again (default 2 s) */
  unknownKeyTtlMs?: number;
}

export interface RunningRelay {
  url: string;
  port: number;
  /** the NIP-11 document the relay serves */
  info: RelayInfo;
  close(): Promise<void>;
}

export interface RelayInfo {
  name: string;
  description: string;
  supported_nips: number[];
  limitation: Record<string, number | boolean>;
  retention: { kinds: number[]; time: number }[];
  [extra: string]: unknown;
}

interface Subscription {
  filters: Filter[];
}

interface Connection {
  socket: WebSocket;
  subs: Map<string, Subscription>;
  /** stored-result streams of this connection run one after another */
  queue: Promise<void>;
}

const MAX_SUBID_LENGTH = 64;
/** a socket with more than this queued for a slow reader waits before the next page */
const HIGH_WATER_BYTES = 1024 * 1024;

const HEX64 = /^[0-9a-f]{64}$/;

function isEventShape(e: unknown): e is StoredEvent {
  if (typeof e !== 'object' || e === null) return false;
  const v = e as Record<string, unknown>;
  return (
    typeof v.id === 'string' &&
    HEX64.test(v.id) &&
    typeof v.pubkey === 'string' &&
    HEX64.test(v.pubkey) &&
    typeof v.sig === 'string' &&
    /^[0-9a-f]{128}$/.test(v.sig) &&
    Number.isInteger(v.kind) &&
    (v.kind as number) >= 0 &&
    (v.kind as number) <= 65535 &&
    Number.isInteger(v.created_at) &&
    typeof v.content === 'string' &&
    Array.isArray(v.tags) &&
    v.tags.every((t) => Array.isArray(t) && t.every((x) => typeof x === 'string'))
  );
}

function toQuery(f: Filter): EventQuery {
  const tags: { name: string; values: string[] }[] = [];
  for (const [key, values] of Object.entries(f)) {
    if (key.startsWith('#') && key.length === 2 && Array.isArray(values))
      tags.push({ name: key[1]!, values: values.map(String) });
  }
  return {
    ids: f.ids,
    authors: f.authors,
    kinds: f.kinds,
    since: f.since,
    until: f.until,
    limit: f.limit,
    tags,
  };
}

const isCount = (v: unknown): v is number => Number.isSafeInteger(v) && (v as number) >= 0;

function validFilter(f: unknown): f is Filter {
  if (typeof f !== 'object' || f === null || Array.isArray(f)) return false;
  for (const [key, value] of Object.entries(f)) {
    if (key === 'since' || key === 'until' || key === 'limit') {
      if (!isCount(value)) return false;
    } else if (key === 'kinds') {
      if (!Array.isArray(value) || !value.every((k) => isCount(k) && k <= 65535)) return false;
    } else if (key === 'ids' || key === 'authors' || key.startsWith('#')) {
      if (!Array.isArray(value) || !value.every((x) => typeof x === 'string')) return false;
    }
  }
  return true;
}

/** The client's address; IPv4 clients of a dual-stack socket count as their IPv4 address. */
function clientAddress(req: IncomingMessage): string {
  const a = req.socket.remoteAddress ?? 'unknown';
  return a.startsWith('::ffff:') ? a.slice(7) : a;
}

/**
 * A NIP-01 relay for the embedded stack: EVENT / REQ / CLOSE over WebSocket,
 * events stored in PostgreSQL (schema nostr_relay), replaceable kinds kept newest
 * only, ephemeral kinds forwarded live and — for kinds listed in
 * `ephemeralRetention` (21000 by default) — kept for a while so a restarted ingest
 * can catch up with `since`.
 *
 * Meant to be reachable by ATMs, so it defends itself: limits per message, REQ,
 * filter, connection and client address (`limits`, published in the NIP-11
 * document), events dated more than `maxFutureSeconds` ahead refused, stored
 * results streamed from PostgreSQL page by page (never collected), and by default
 * only registered machines and satmachine users may publish satmachine's kinds.
 */
export async function startRelay(opts: RelayOptions): Promise<RunningRelay> {
  const log = opts.logger;
  const retention = opts.ephemeralRetention ?? { 21000: 24 * 3600 };
  const limits: RelayLimits = { ...DEFAULT_RELAY_LIMITS, ...opts.limits };
  const policy: WritePolicy = opts.writePolicy ?? 'known';
  const pageSize = opts.pageSize ?? 500;
  const known = new KnownPublishers(opts.pool, { unknownTtlMs: opts.unknownKeyTtlMs });
  const connections = new Set<Connection>();
  const perAddress = new Map<string, number>();
  const lastWarned = new Map<string, number>();

  const info: RelayInfo = {
    name: 'satmachine relay',
    description:
      policy === 'known'
        ? 'NIP-01 relay of a satmachine back office: registered ATMs and operators publish settlements (kind 21000, kept 24 h for catch-up), beacons, cassettes (30078) and telemetry (30079)'
        : 'NIP-01 relay of a satmachine back office; keeps kind 21000 for 24 h for catch-up',
    supported_nips: [1, 11],
    limitation: {
      max_message_length: limits.maxMessageBytes,
      max_subscriptions: limits.maxSubscriptions,
      max_filters: limits.maxFilters,
      max_limit: limits.maxLimit,
      default_limit: limits.maxLimit,
      max_subid_length: MAX_SUBID_LENGTH,
      max_event_tags: limits.maxEventTags,
      min_pow_difficulty: 0,
      auth_required: false,
      payment_required: false,
      restricted_writes: policy === 'known',
      created_at_upper_limit: limits.maxFutureSeconds,
      max_connections_per_ip: limits.maxConnectionsPerIp,
    },
    retention: Object.entries(retention).map(([kind, time]) => ({ kinds: [Number(kind)], time })),
    write_policy: policy,
    ...(policy === 'known' ? { accepted_kinds: [...KNOWN_POLICY_KINDS] } : {}),
  };
  const infoJson = JSON.stringify(info);
  const cors = {
    'access-control-allow-origin': '*',
    'access-control-allow-headers': '*',
    'access-control-allow-methods': 'GET, OPTIONS',
  };

  const http: Server = createServer((req, res) => {
    if (req.method === 'OPTIONS') {
      res.writeHead(204, cors);
      res.end();
      return;
    }
    if (req.headers.accept?.includes('application/nostr+json')) {
      res.writeHead(200, { 'content-type': 'application/nostr+json', ...cors });
      res.end(infoJson);
      return;
    }
    res.writeHead(200, { 'content-type': 'text/plain' });
    res.end('satmachine relay: connect with a Nostr client over WebSocket\n');
  });
  const wss = new WebSocketServer({ noServer: true, maxPayload: limits.maxMessageBytes });

  // connections per client address are counted on the TCP socket: it closes exactly
  // once whatever becomes of the handshake
  http.on('upgrade', (req: IncomingMessage, socket: Socket, head: Buffer) => {
    socket.on('error', () => undefined);
    const address = clientAddress(req);
    const open = perAddress.get(address) ?? 0;
    if (open >= limits.maxConnectionsPerIp) {
      // one line per address a minute: a client retrying in a loop does not flood the log
      const now = Date.now();
      if (now - (lastWarned.get(address) ?? 0) > 60_000) {
        if (lastWarned.size > 10_000) lastWarned.clear();
        lastWarned.set(address, now);
        log.warn({ address, open }, 'relay refused connections: too many from one address');
      }
      const body = `rate-limited: at most ${limits.maxConnectionsPerIp} connections per address; close one first\n`;
      socket.end(
        `HTTP/1.1 429 Too Many Requests\r\nConnection: close\r\nContent-Type: text/plain\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`,
      );
      return;
    }
    perAddress.set(address, open + 1);
    socket.once('close', () => {
      const n = (perAddress.get(address) ?? 1) - 1;
      if (n > 0) perAddress.set(address, n);
      else perAddress.delete(address);
    });
    wss.handleUpgrade(req, socket, head, (ws) => wss.emit('connection', ws, req));
  });

  const send = (socket: WebSocket, msg: unknown[]) => {
    if (socket.readyState === socket.OPEN) socket.send(JSON.stringify(msg));
  };

  /** Resolves once a slow reader has taken most of what is queued for it (or the socket closed). */
  const drained = (socket: WebSocket): Promise<void> =>
    socket.bufferedAmount <= HIGH_WATER_BYTES || socket.readyState !== socket.OPEN
      ? Promise.resolve()
      : new Promise((resolve) => {
          const check = () => {
            if (socket.bufferedAmount <= HIGH_WATER_BYTES || socket.readyState !== socket.OPEN) {
              socket.off('close', done);
              resolve();
            } else setTimeout(check, 20);
          };
          const done = () => resolve();
          socket.once('close', done);
          check();
        });

  const broadcast = (event: StoredEvent) => {
    for (const conn of connections) {
      for (const [subId, sub] of conn.subs) {
        if (matchFilters(sub.filters, event)) send(conn.socket, ['EVENT', subId, event]);
      }
    }
  };

  /** Why the event may not be published here (null: it may), checked before its signature. */
  function refusal(e: StoredEvent): string | null {
    const now = Math.floor(Date.now() / 1000);
    if (e.created_at > now + limits.maxFutureSeconds)
      return `invalid: created_at is ${e.created_at - now} s ahead of the relay clock (at most ${limits.maxFutureSeconds} s); check the device clock`;
    if (e.tags.length > limits.maxEventTags)
      return `invalid: ${e.tags.length} tags (at most ${limits.maxEventTags})`;
    if (policy === 'known' && !KNOWN_POLICY_KINDS.includes(e.kind) && e.kind !== KIND_GIFT_WRAP)
      return `blocked: this relay accepts only kinds ${KNOWN_POLICY_KINDS.join(', ')}`;
    return null;
  }

  async function onEvent(conn: Connection, raw: unknown) {
    if (!isEventShape(raw)) {
      const id = typeof (raw as { id?: unknown })?.id === 'string' ? (raw as { id: string }).id : '';
      send(conn.socket, ['OK', id, false, 'invalid: malformed event']);
      return;
    }
    const refused = refusal(raw);
    if (refused) {
      send(conn.socket, ['OK', raw.id, false, refused]);
      return;
    }
    if (!eventSignatureValid(raw)) {
      send(conn.socket, ['OK', raw.id, false, 'invalid: bad id or signature']);
      return;
    }
    if (policy === 'known') {
      let allowed: boolean;
      const recipients = raw.tags.filter((t) => t[0] === 'p');
      try {
        allowed =
          raw.kind === KIND_GIFT_WRAP
            ? recipients.length === 1 &&
              typeof recipients[0]![1] === 'string' &&
              (await isAlertRecipient(opts.pool, recipients[0]![1]))
            : await known.isKnown(raw.pubkey);
      } catch (err) {
        log.error({ err, id: raw.id }, 'relay could not check a publisher key');
        send(conn.socket, ['OK', raw.id, false, 'error: could not check the publisher key, try again']);
        return;
      }
      if (!allowed) {
        log.debug({ id: raw.id, pubkey: raw.pubkey }, 'relay refused an event of an unknown key');
        send(conn.socket, [
          'OK',
          raw.id,
          false,
          raw.kind === KIND_GIFT_WRAP
            ? 'blocked: this relay accepts gift wraps only to the alert recipients of its operators'
            : 'blocked: the key is not a registered machine or operator of this satmachine; register the machine first',
        ]);
        return;
      }
    }
    const keep = retention[raw.kind];
    if (isEphemeral(raw.kind) && keep === undefined) {
      send(conn.socket, ['OK', raw.id, true, '']);
      broadcast(raw);
      return;
    }
    try {
      const outcome = await saveEvent(opts.pool, raw, keep);
      if (outcome === 'duplicate')
        send(conn.socket, ['OK', raw.id, true, 'duplicate: already have this event']);
      else if (outcome === 'replaced-newer-exists')
        send(conn.socket, ['OK', raw.id, true, 'duplicate: have a newer one']);
      else {
        send(conn.socket, ['OK', raw.id, true, '']);
        broadcast(raw);
      }
    } catch (err) {
      log.error({ err, id: raw.id }, 'relay could not store an event');
      send(conn.socket, ['OK', raw.id, false, 'error: could not store the event, try again']);
    }
  }

  function onReq(conn: Connection, subId: unknown, filters: unknown[]) {
    if (typeof subId !== 'string' || subId.length === 0 || subId.length > MAX_SUBID_LENGTH) {
      send(conn.socket, [
        'NOTICE',
        `invalid: subscription id must be a string of 1..${MAX_SUBID_LENGTH} chars`,
      ]);
      return;
    }
    if (filters.length > limits.maxFilters) {
      conn.subs.delete(subId);
      send(conn.socket, [
        'CLOSED',
        subId,
        `invalid: ${filters.length} filters in one REQ (at most ${limits.maxFilters}); split it`,
      ]);
      return;
    }
    if (!filters.every(validFilter)) {
      conn.subs.delete(subId);
      send(conn.socket, ['CLOSED', subId, 'invalid: malformed filter']);
      return;
    }
    if (!conn.subs.has(subId) && conn.subs.size >= limits.maxSubscriptions) {
      send(conn.socket, [
        'CLOSED',
        subId,
        `rate-limited: at most ${limits.maxSubscriptions} subscriptions per connection; CLOSE one first`,
      ]);
      return;
    }
    const sub: Subscription = { filters };
    conn.subs.set(subId, sub);
    conn.queue = conn.queue.then(() => streamStored(conn, subId, sub));
  }

  /**
   * Sends the stored events of each filter (newest first, at most `maxLimit` each,
   * none twice), page by page as PostgreSQL returns them, then EOSE. Stops when the
   * subscription is closed or replaced, or the socket goes away.
   */
  async function streamStored(conn: Connection, subId: string, sub: Subscription): Promise<void> {
    const current = () => conn.subs.get(subId) === sub && conn.socket.readyState === conn.socket.OPEN;
    if (!current()) return;
    try {
      const sent = new Set<string>();
      for (const f of sub.filters) {
        const limit = Math.min(f.limit ?? limits.maxLimit, limits.maxLimit);
        if (limit === 0) continue;
        for await (const page of streamEvents(opts.pool, toQuery(f), limit, pageSize)) {
          if (!current()) return;
          for (const e of page) {
            if (sent.has(e.id)) continue;
            sent.add(e.id);
            send(conn.socket, ['EVENT', subId, e]);
          }
          await drained(conn.socket);
          if (!current()) return;
        }
      }
      send(conn.socket, ['EOSE', subId]);
    } catch (err) {
      log.error({ err, subId }, 'relay query failed');
      if (conn.subs.get(subId) === sub) conn.subs.delete(subId);
      send(conn.socket, ['CLOSED', subId, 'error: query failed, try again']);
    }
  }

  wss.on('connection', (socket: WebSocket) => {
    const conn: Connection = { socket, subs: new Map(), queue: Promise.resolve() };
    connections.add(conn);
    socket.on('message', (data) => {
      let msg: unknown;
      try {
        msg = JSON.parse(rawText(data));
      } catch {
        send(socket, ['NOTICE', 'invalid: message is not JSON']);
        return;
      }
      if (!Array.isArray(msg) || typeof msg[0] !== 'string') {
        send(socket, ['NOTICE', 'invalid: expected a JSON array with a verb']);
        return;
      }
      const [verb, ...rest] = msg as [string, ...unknown[]];
      if (verb === 'EVENT') void onEvent(conn, rest[0]);
      else if (verb === 'REQ') onReq(conn, rest[0], rest.slice(1));
      else if (verb === 'CLOSE') {
        if (typeof rest[0] === 'string') conn.subs.delete(rest[0]);
      } else send(socket, ['NOTICE', `invalid: unknown verb ${verb.slice(0, 32)}`]);
    });
    const gone = () => {
      conn.subs.clear();
      connections.delete(conn);
    };
    socket.on('close', gone);
    socket.on('error', gone);
  });

  const purge = setInterval(() => {
    purgeExpiredEvents(opts.pool).catch((err) => log.warn({ err }, 'relay purge failed'));
  }, 60_000);
  purge.unref();

  await new Promise<void>((resolve, reject) => {
    http.once('error', reject);
    http.listen(opts.port ?? 7447, opts.host ?? '127.0.0.1', () => resolve());
  });
  const port = (http.address() as AddressInfo).port;
  const url = `ws://${opts.host ?? '127.0.0.1'}:${port}`;
  log.info({ url, write_policy: policy, limits }, 'relay listening');
  return {
    url,
    port,
    info,
    close: async () => {
      clearInterval(purge);
      for (const c of connections) c.socket.terminate();
      await new Promise<void>((r) => wss.close(() => r()));
      await new Promise<void>((r) => http.close(() => r()));
    },
  };
}
