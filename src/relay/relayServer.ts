import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { WebSocketServer, type WebSocket } from 'ws';
import { verifyEvent } from 'nostr-tools/pure';
import { matchFilters, type Filter } from 'nostr-tools/filter';
import type { Pool } from '../db/pool';
import {
  isEphemeral,
  purgeExpiredEvents,
  queryEvents,
  saveEvent,
  type EventQuery,
  type StoredEvent,
} from '../db/relayEvents';
import type { Logger } from '../logger';
import { rawText } from '../nostr/relayClient';

export interface RelayOptions {
  pool: Pool;
  logger: Logger;
  host?: string;
  port?: number;
  /** ephemeral kinds kept for catch-up, in seconds (default: kind 21000 for 24 h) */
  ephemeralRetention?: Record<number, number>;
  maxMessageBytes?: number;
  maxSubscriptionsPerConnection?: number;
  maxLimit?: number;
}

export interface RunningRelay {
  url: string;
  port: number;
  close(): Promise<void>;
}

interface Connection {
  socket: WebSocket;
  subs: Map<string, Filter[]>;
}

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

function validFilter(f: unknown): f is Filter {
  if (typeof f !== 'object' || f === null || Array.isArray(f)) return false;
  for (const [key, value] of Object.entries(f)) {
    if (key === 'since' || key === 'until' || key === 'limit') {
      if (!Number.isInteger(value) || (value as number) < 0) return false;
    } else if (key === 'kinds') {
      if (!Array.isArray(value) || !value.every((k) => Number.isInteger(k))) return false;
    } else if (key === 'ids' || key === 'authors' || key.startsWith('#')) {
      if (!Array.isArray(value) || !value.every((x) => typeof x === 'string')) return false;
    }
  }
  return true;
}

/**
 * A small NIP-01 relay for the embedded stack: EVENT / REQ / CLOSE over WebSocket,
 * events stored in PostgreSQL (schema nostr_relay), replaceable kinds kept newest
 * only, ephemeral kinds forwarded live and — for kinds listed in
 * `ephemeralRetention` (21000 by default) — kept for a while so a restarted ingest
 * can catch up with `since`.
 */
export async function startRelay(opts: RelayOptions): Promise<RunningRelay> {
  const log = opts.logger;
  const retention = opts.ephemeralRetention ?? { 21000: 24 * 3600 };
  const maxSubs = opts.maxSubscriptionsPerConnection ?? 50;
  const maxLimit = opts.maxLimit ?? 5000;
  const connections = new Set<Connection>();

  const http: Server = createServer((req, res) => {
    if (req.headers.accept?.includes('application/nostr+json')) {
      res.writeHead(200, { 'content-type': 'application/nostr+json', 'access-control-allow-origin': '*' });
      res.end(
        JSON.stringify({
          name: 'satmachine embedded relay',
          description: 'NIP-01 relay for the satmachine dev stack; keeps kind 21000 for catch-up',
          supported_nips: [1, 11],
          software: 'satmachine',
          limitation: { max_message_length: opts.maxMessageBytes ?? 512 * 1024, max_subscriptions: maxSubs },
        }),
      );
      return;
    }
    res.writeHead(200, { 'content-type': 'text/plain' });
    res.end('satmachine relay: connect with a Nostr client over WebSocket\n');
  });
  const wss = new WebSocketServer({ server: http, maxPayload: opts.maxMessageBytes ?? 512 * 1024 });

  const send = (socket: WebSocket, msg: unknown[]) => {
    if (socket.readyState === socket.OPEN) socket.send(JSON.stringify(msg));
  };

  const broadcast = (event: StoredEvent) => {
    for (const conn of connections) {
      for (const [subId, filters] of conn.subs) {
        if (matchFilters(filters, event)) send(conn.socket, ['EVENT', subId, event]);
      }
    }
  };

  async function onEvent(conn: Connection, raw: unknown) {
    if (!isEventShape(raw)) {
      const id = typeof (raw as { id?: unknown })?.id === 'string' ? (raw as { id: string }).id : '';
      send(conn.socket, ['OK', id, false, 'invalid: malformed event']);
      return;
    }
    if (!verifyEvent({ ...raw })) {
      send(conn.socket, ['OK', raw.id, false, 'invalid: bad id or signature']);
      return;
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

  async function onReq(conn: Connection, subId: unknown, filters: unknown[]) {
    if (typeof subId !== 'string' || subId.length === 0 || subId.length > 64) {
      send(conn.socket, ['NOTICE', 'invalid: subscription id must be a string of 1..64 chars']);
      return;
    }
    if (!filters.every(validFilter)) {
      send(conn.socket, ['CLOSED', subId, 'invalid: malformed filter']);
      return;
    }
    if (!conn.subs.has(subId) && conn.subs.size >= maxSubs) {
      send(conn.socket, ['CLOSED', subId, `rate-limited: at most ${maxSubs} subscriptions per connection`]);
      return;
    }
    conn.subs.set(subId, filters);
    try {
      const seen = new Set<string>();
      const found: StoredEvent[] = [];
      for (const f of filters) {
        if (f.limit === 0) continue;
        for (const e of await queryEvents(opts.pool, toQuery(f), maxLimit)) {
          if (!seen.has(e.id)) {
            seen.add(e.id);
            found.push(e);
          }
        }
      }
      found.sort((a, b) => a.created_at - b.created_at || a.id.localeCompare(b.id));
      for (const e of found) {
        if (!conn.subs.has(subId)) return;
        send(conn.socket, ['EVENT', subId, e]);
      }
      send(conn.socket, ['EOSE', subId]);
    } catch (err) {
      log.error({ err, subId }, 'relay query failed');
      conn.subs.delete(subId);
      send(conn.socket, ['CLOSED', subId, 'error: query failed, try again']);
    }
  }

  wss.on('connection', (socket) => {
    const conn: Connection = { socket, subs: new Map() };
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
      else if (verb === 'REQ') void onReq(conn, rest[0], rest.slice(1));
      else if (verb === 'CLOSE') {
        if (typeof rest[0] === 'string') conn.subs.delete(rest[0]);
      } else send(socket, ['NOTICE', `invalid: unknown verb ${verb}`]);
    });
    socket.on('close', () => connections.delete(conn));
    socket.on('error', () => connections.delete(conn));
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
  log.info({ url }, 'relay listening');
  return {
    url,
    port,
    close: async () => {
      clearInterval(purge);
      for (const c of connections) c.socket.terminate();
      await new Promise<void>((r) => wss.close(() => r()));
      await new Promise<void>((r) => http.close(() => r()));
    },
  };
}
