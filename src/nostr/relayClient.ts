import WebSocket from 'ws';
import type { SignedEvent } from '../contract';
import type { Logger } from '../logger';

export type Filter = Record<string, unknown>;

/** The text of a WebSocket message, whatever buffer shape `ws` hands over. */
export function rawText(data: WebSocket.RawData): string {
  if (Array.isArray(data)) return Buffer.concat(data).toString('utf8');
  if (data instanceof ArrayBuffer) return Buffer.from(data).toString('utf8');
  return data.toString('utf8');
}

export interface RelayClientOptions {
  logger: Logger;
  onEvent?: (subId: string, event: unknown) => void;
  onEose?: (subId: string) => void;
  onConnected?: () => void;
  /** longest wait between reconnect attempts (default 5 s) */
  maxBackoffMs?: number;
}

export interface PublishResult {
  relay: string;
  accepted: boolean;
  message: string;
}

/**
 * One NIP-01 relay connection that stays up: reconnects with backoff (0.25 s → 5 s)
 * and re-sends every subscription on reconnect, asking each filter factory afresh
 * (so `since` follows the caller's cursor).
 */
export class RelayClient {
  private socket: WebSocket | null = null;
  private readonly subs = new Map<string, () => Filter[]>();
  private readonly pendingOk = new Map<string, (r: PublishResult) => void>();
  private readonly queries = new Map<
    string,
    { events: unknown[]; done: (events: unknown[] | null) => void }
  >();
  private querySeq = 0;
  private backoff = 250;
  private closed = false;
  private timer: NodeJS.Timeout | null = null;
  private paused = false;
  private readonly log: Logger;

  constructor(
    readonly url: string,
    private readonly opts: RelayClientOptions,
  ) {
    this.log = opts.logger.child({ relay: url });
  }

  get connected(): boolean {
    return this.socket?.readyState === WebSocket.OPEN;
  }

  start(): this {
    this.connect();
    return this;
  }

  /** Resolves once connected (or rejects after `timeoutMs`). */
  async waitConnected(timeoutMs = 10_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!this.connected) {
      if (Date.now() > deadline) throw new Error(`relay ${this.url} not reachable`);
      await new Promise((r) => setTimeout(r, 50));
    }
  }

  private connect() {
    if (this.closed) return;
    const ws = new WebSocket(this.url, { handshakeTimeout: 5000 });
    this.socket = ws;
    ws.on('open', () => {
      this.backoff = 250;
      if (this.paused) ws.pause();
      this.log.info('relay connected');
      for (const [id, filters] of this.subs) this.sendReq(id, filters());
      this.opts.onConnected?.();
    });
    ws.on('message', (data) => this.onMessage(rawText(data)));
    ws.on('error', (err) => this.log.debug({ err: err.message }, 'relay socket error'));
    ws.on('close', () => {
      if (this.socket === ws) this.socket = null;
      for (const [id, q] of this.queries) {
        q.done(null);
        this.queries.delete(id);
      }
      for (const [id, resolve] of this.pendingOk) {
        resolve({ relay: this.url, accepted: false, message: 'connection closed before the relay answered' });
        this.pendingOk.delete(id);
      }
      if (this.closed) return;
      const wait = this.backoff;
      this.backoff = Math.min(this.backoff * 2, this.opts.maxBackoffMs ?? 5000);
      this.log.warn({ retry_in_ms: wait }, 'relay disconnected; reconnecting');
      this.timer = setTimeout(() => this.connect(), wait);
    });
  }

  private onMessage(text: string) {
    let msg: unknown;
    try {
      msg = JSON.parse(text);
    } catch {
      return;
    }
    if (!Array.isArray(msg)) return;
    const [verb, a, b, c] = msg as [unknown, unknown, unknown, unknown];
    if (verb === 'EVENT' && typeof a === 'string') {
      const q = this.queries.get(a);
      if (q) q.events.push(b);
      else this.opts.onEvent?.(a, b);
    } else if (verb === 'EOSE' && typeof a === 'string') {
      const q = this.queries.get(a);
      if (q) {
        this.queries.delete(a);
        if (this.connected) this.socket!.send(JSON.stringify(['CLOSE', a]));
        q.done(q.events);
      } else this.opts.onEose?.(a);
    } else if (verb === 'OK' && typeof a === 'string') {
      this.pendingOk.get(a)?.({
        relay: this.url,
        accepted: b === true,
        message: typeof c === 'string' ? c : '',
      });
      this.pendingOk.delete(a);
    } else if (verb === 'CLOSED' && typeof a === 'string') {
      this.log.warn({ sub: a, reason: b }, 'relay closed a subscription');
    } else if (verb === 'NOTICE') this.log.info({ notice: a }, 'relay notice');
  }

  private sendReq(id: string, filters: Filter[]) {
    if (this.connected) this.socket!.send(JSON.stringify(['REQ', id, ...filters]));
  }

  /** Adds or replaces a subscription; `filters` is asked again at every (re)connect. */
  subscribe(id: string, filters: () => Filter[]): void {
    this.subs.set(id, filters);
    this.sendReq(id, filters());
  }

  /**
   * One-shot query: the stored events matching `filters` (until EOSE), then the
   * subscription is closed. Resolves null if the connection drops or times out.
   */
  query(filters: Filter[], timeoutMs = 15_000): Promise<unknown[] | null> {
    if (!this.connected) return Promise.resolve(null);
    const id = `q${++this.querySeq}`;
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.queries.delete(id);
        resolve(null);
      }, timeoutMs);
      this.queries.set(id, {
        events: [],
        done: (events) => {
          clearTimeout(timer);
          resolve(events);
        },
      });
      this.socket!.send(JSON.stringify(['REQ', id, ...filters]));
    });
  }

  /**
   * Stops reading from the relay (TCP back-pressure: the relay buffers or slows
   * down) until `resume`. A few messages already read may still arrive.
   */
  pause(): void {
    this.paused = true;
    if (this.connected) this.socket!.pause();
  }

  resume(): void {
    this.paused = false;
    if (this.connected) this.socket!.resume();
  }

  unsubscribe(id: string): void {
    this.subs.delete(id);
    if (this.connected) this.socket!.send(JSON.stringify(['CLOSE', id]));
  }

  /** Publishes an event and waits for the relay's OK (or a timeout). */
  publish(event: SignedEvent, timeoutMs = 5000): Promise<PublishResult> {
    if (!this.connected)
      return Promise.resolve({ relay: this.url, accepted: false, message: 'not connected' });
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.pendingOk.delete(event.id);
        resolve({ relay: this.url, accepted: false, message: 'timed out waiting for OK' });
      }, timeoutMs);
      this.pendingOk.set(event.id, (r) => {
        clearTimeout(timer);
        resolve(r);
      });
      this.socket!.send(JSON.stringify(['EVENT', event]));
    });
  }

  close(): void {
    this.closed = true;
    if (this.timer) clearTimeout(this.timer);
    this.socket?.close();
    this.socket = null;
  }
}

/**
 * The relay's NIP-11 `limitation.max_limit` (the most events it returns for one
 * filter), or null when the relay does not say (no NIP-11 document, no such field,
 * not reachable within `timeoutMs`).
 */
export async function fetchRelayMaxLimit(url: string, timeoutMs = 3000): Promise<number | null> {
  const httpUrl = url.replace(/^ws(s?):\/\//i, 'http$1://');
  try {
    const res = await fetch(httpUrl, {
      headers: { accept: 'application/nostr+json' },
      signal: AbortSignal.timeout(timeoutMs),
    });
    if (!res.ok) return null;
    const info = (await res.json()) as { limitation?: { max_limit?: unknown } } | null;
    const max = info?.limitation?.max_limit;
    return typeof max === 'number' && Number.isInteger(max) && max > 0 ? max : null;
  } catch {
    return null;
  }
}

/** Publishes one event to several relays at once; reports which accepted it. */
export async function publishToRelays(
  urls: readonly string[],
  event: SignedEvent,
  logger: Logger,
  timeoutMs = 5000,
): Promise<PublishResult[]> {
  return Promise.all(
    urls.map(async (url) => {
      const client = new RelayClient(url, { logger }).start();
      try {
        await client.waitConnected(timeoutMs);
        return await client.publish(event, timeoutMs);
      } catch (err) {
        return { relay: url, accepted: false, message: (err as Error).message };
      } finally {
        client.close();
      }
    }),
  );
}
