import { randomBytes } from 'node:crypto';
import WebSocket from 'ws';
import { generateSecretKey, getPublicKey } from 'nostr-tools/pure';
import { bytesToHex } from 'nostr-tools/utils';
import { KIND_APP_DATA, KIND_SETTLEMENT, KIND_TELEMETRY, type SignedEvent } from '../../src/contract';
import { signEvent } from '../../src/nostr/codec';
import {
  startRelay,
  type RelayLimits,
  type RunningRelay,
  type WritePolicy,
} from '../../src/relay/relayServer';
import { createMachine, createOperator, type Machine, type Operator } from '../helpers/fixtures';
import { freePort } from '../helpers/ports';
import { eventually, freshDatabase, testLogger } from '../helpers/stack';

type Msg = unknown[];

/** A bare NIP-01 client: every message the relay sends is kept in order, and can be awaited. */
class RawClient {
  readonly inbox: Msg[] = [];
  private waiters: { test: (m: Msg) => boolean; resolve: (m: Msg) => void }[] = [];
  closed: { code: number; reason: string } | null = null;
  private closeWaiters: ((c: { code: number; reason: string }) => void)[] = [];

  private constructor(readonly ws: WebSocket) {
    ws.on('message', (data) => {
      const m = JSON.parse((data as Buffer).toString('utf8')) as Msg;
      this.inbox.push(m);
      this.waiters = this.waiters.filter((w) => {
        if (!w.test(m)) return true;
        w.resolve(m);
        return false;
      });
    });
    ws.on('close', (code, reason) => {
      this.closed = { code, reason: reason.toString('utf8') };
      this.closeWaiters.splice(0).forEach((r) => r(this.closed!));
    });
    ws.on('error', () => undefined);
  }

  static async open(url: string): Promise<RawClient> {
    const ws = new WebSocket(url);
    await new Promise<void>((resolve, reject) => {
      ws.once('open', () => resolve());
      ws.once('error', reject);
    });
    return new RawClient(ws);
  }

  send(msg: unknown[]): void {
    this.ws.send(JSON.stringify(msg));
  }

  /** the next message matching `test` (one already received counts if it came after `from`) */
  next(test: (m: Msg) => boolean, from = 0): Promise<Msg> {
    const seen = this.inbox.slice(from).find(test);
    if (seen) return Promise.resolve(seen);
    return new Promise((resolve) => this.waiters.push({ test, resolve }));
  }

  async publish(event: unknown): Promise<{ accepted: boolean; message: string }> {
    const from = this.inbox.length;
    const id = (event as { id?: unknown }).id;
    this.send(['EVENT', event]);
    const [, , accepted, message] = await this.next((m) => m[0] === 'OK' && m[1] === id, from);
    return { accepted: accepted === true, message: message as string };
  }

  /** REQ, then every EVENT of that subscription up to its EOSE (or CLOSED, returned as `closed`). */
  async req(subId: string, ...filters: unknown[]): Promise<{ events: SignedEvent[]; closed?: string }> {
    const from = this.inbox.length;
    this.send(['REQ', subId, ...filters]);
    const end = await this.next((m) => (m[0] === 'EOSE' || m[0] === 'CLOSED') && m[1] === subId, from);
    const upTo = this.inbox.indexOf(end);
    const events = this.inbox
      .slice(from, upTo)
      .filter((m) => m[0] === 'EVENT' && m[1] === subId)
      .map((m) => m[2] as SignedEvent);
    return end[0] === 'CLOSED' ? { events, closed: end[2] as string } : { events };
  }

  whenClosed(): Promise<{ code: number; reason: string }> {
    return this.closed ? Promise.resolve(this.closed) : new Promise((r) => this.closeWaiters.push(r));
  }

  close(): void {
    this.ws.close();
  }
}

/** Tries to open a WebSocket; reports the HTTP refusal (status and body) instead of throwing. */
function tryConnect(url: string): Promise<{ ws: WebSocket } | { status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url);
    ws.once('open', () => resolve({ ws }));
    ws.once('unexpected-response', (_req, res) => {
      let body = '';
      res.on('data', (c: Buffer) => (body += c.toString('utf8')));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    ws.once('error', (err) => {
      if (!/Unexpected server response/.test(err.message)) reject(err);
    });
  });
}

const now = () => Math.floor(Date.now() / 1000);
const hex = (bytes: number) => randomBytes(bytes).toString('hex');

describe('embedded relay: limits, write policy, streaming, NIP-11', () => {
  let db: Awaited<ReturnType<typeof freshDatabase>>;
  let operator: Operator;
  let machine: Machine;
  const relays: RunningRelay[] = [];
  const clients: RawClient[] = [];

  const relayWith = async (
    o: { limits?: Partial<RelayLimits>; writePolicy?: WritePolicy; pageSize?: number } = {},
  ) => {
    const r = await startRelay({ pool: db.pool, logger: testLogger, port: await freePort(), ...o });
    relays.push(r);
    return r;
  };
  const connect = async (r: RunningRelay) => {
    const c = await RawClient.open(r.url);
    clients.push(c);
    return c;
  };
  const settlementFrom = (secretHex: string, createdAt = now()) =>
    signEvent(secretHex, {
      kind: KIND_SETTLEMENT,
      tags: [['p', operator.pubkey]],
      content: `opaque to the relay ${hex(8)}`,
      created_at: createdAt,
    });

  beforeAll(async () => {
    db = await freshDatabase();
    operator = await createOperator(db.pool, 'relay operator');
    machine = await createMachine(db.pool, operator, { name: 'relay ATM' });
  });
  afterAll(async () => {
    for (const c of clients) c.close();
    for (const r of relays) await r.close();
    await db.close();
  });

  describe('NIP-11', () => {
    it('serves the relay information document with every limit it enforces', async () => {
      const r = await relayWith({
        limits: {
          maxFilters: 7,
          maxLimit: 321,
          maxSubscriptions: 9,
          maxMessageBytes: 100_000,
          maxConnectionsPerIp: 11,
        },
      });
      const res = await fetch(r.url.replace('ws://', 'http://'), {
        headers: { accept: 'application/nostr+json' },
      });
      expect(res.status).toBe(200);
      expect(res.headers.get('content-type')).toBe('application/nostr+json');
      expect(res.headers.get('access-control-allow-origin')).toBe('*');
      expect(res.headers.get('access-control-allow-headers')).toBeTruthy();
      expect(res.headers.get('access-control-allow-methods')).toContain('GET');
      const doc = (await res.json()) as Record<string, unknown>;
      expect(doc).toMatchObject({
        supported_nips: expect.arrayContaining([1, 11]),
        limitation: {
          max_message_length: 100_000,
          max_subscriptions: 9,
          max_filters: 7,
          max_limit: 321,
          default_limit: 321,
          max_subid_length: 64,
          max_event_tags: 100,
          min_pow_difficulty: 0,
          auth_required: false,
          payment_required: false,
          restricted_writes: true,
          created_at_upper_limit: 600,
          max_connections_per_ip: 11,
        },
        name: 'satmachine relay',
        retention: [{ kinds: [21000], time: 86_400 }],
        write_policy: 'known',
        accepted_kinds: [KIND_SETTLEMENT, KIND_APP_DATA, KIND_TELEMETRY],
      });
      expect(doc).toEqual(JSON.parse(JSON.stringify(r.info)));

      const preflight = await fetch(r.url.replace('ws://', 'http://'), { method: 'OPTIONS' });
      expect(preflight.status).toBe(204);
      expect(preflight.headers.get('access-control-allow-origin')).toBe('*');
    });

    it('defaults: 10 filters, 5,000 per filter, 20 subscriptions, 20 connections, 512 KiB; open writes unrestricted', async () => {
      const r = await relayWith({ writePolicy: 'open' });
      const doc = (await (
        await fetch(r.url.replace('ws://', 'http://'), { headers: { accept: 'application/nostr+json' } })
      ).json()) as { limitation: Record<string, unknown>; accepted_kinds?: unknown };
      expect(doc.limitation).toMatchObject({
        max_filters: 10,
        max_limit: 5000,
        max_subscriptions: 20,
        max_connections_per_ip: 20,
        max_message_length: 512 * 1024,
        restricted_writes: false,
      });
      expect(doc.accepted_kinds).toBeUndefined();
    });
  });

  it('`satmachine relay` takes its limits and write policy from RELAY_* variables, and refuses forged events', async () => {
    const { spawnSatmachine } = await import('../helpers/processes');
    const port = await freePort();
    const proc = spawnSatmachine('relay', {
      databaseUrl: db.url,
      taskQueue: 'unused',
      extra: {
        RELAY_PORT: String(port),
        RELAY_WRITE_POLICY: 'open',
        RELAY_MAX_FILTERS: '4',
        RELAY_MAX_LIMIT: '1000',
        RELAY_MAX_SUBSCRIPTIONS: '6',
        RELAY_MAX_CONNECTIONS_PER_IP: '50',
        RELAY_MAX_MESSAGE_BYTES: '65536',
      },
    });
    try {
      await proc.waitFor('relay listening');
      const res = await fetch(`http://127.0.0.1:${port}/`, { headers: { accept: 'application/nostr+json' } });
      const doc = (await res.json()) as { limitation: Record<string, unknown>; write_policy: string };
      expect(doc.write_policy).toBe('open');
      expect(doc.limitation).toMatchObject({
        max_filters: 4,
        max_limit: 1000,
        max_subscriptions: 6,
        max_connections_per_ip: 50,
        max_message_length: 65_536,
        restricted_writes: false,
      });
      // the process checks signatures with its WASM verifier (src/nostr/eventSignature.ts):
      // a good event is stored, forgeries of it are refused over the wire
      const c = await RawClient.open(`ws://127.0.0.1:${port}`);
      clients.push(c);
      const good = settlementFrom(machine.secretHex);
      const other = settlementFrom(machine.secretHex);
      const flipped = good.sig.slice(0, 100) + (good.sig[100] === '0' ? '1' : '0') + good.sig.slice(101);
      expect(await c.publish(good)).toEqual({ accepted: true, message: '' });
      for (const forged of [
        { ...good, content: 'altered' },
        { ...good, sig: other.sig },
        { ...good, sig: flipped },
        { ...good, pubkey: operator.pubkey },
      ])
        expect(await c.publish(forged)).toEqual({
          accepted: false,
          message: 'invalid: bad id or signature',
        });
    } finally {
      await proc.kill();
    }
  });

  describe('requests', () => {
    it('refuses a REQ of 1,000 filters with CLOSED and a reason, and serves on', async () => {
      const r = await relayWith();
      const c = await connect(r);
      const filters = Array.from({ length: 1000 }, (_, i) => ({ kinds: [i] }));
      const refused = await c.req('many', ...filters);
      expect(refused.events).toEqual([]);
      expect(refused.closed).toMatch(/^invalid: 1000 filters in one REQ \(at most 10\)/);
      // the same connection and a new one are still served
      expect(await c.req('fine', { kinds: [1] }, { kinds: [2] })).toEqual({ events: [] });
      const other = await connect(r);
      expect(await other.req('fine', { kinds: [1] })).toEqual({ events: [] });
      // exactly the limit is fine
      expect((await c.req('ten', ...filters.slice(0, 10))).closed).toBeUndefined();
    });

    it('refuses malformed filters, out-of-range kinds and numbers with CLOSED', async () => {
      const r = await relayWith();
      const c = await connect(r);
      for (const f of [
        { kinds: [70000] },
        { kinds: [-1] },
        { since: 2 ** 60 },
        { limit: 1.5 },
        { authors: 'x' },
        [],
      ]) {
        const res = await c.req('bad', f);
        expect(res.closed).toBe('invalid: malformed filter');
      }
      expect(await c.req('good', { kinds: [65535], since: 0 })).toEqual({ events: [] });
    });

    it('caps the results of each filter at max_limit, newest first, none twice across filters', async () => {
      const r = await relayWith({ limits: { maxLimit: 10 }, pageSize: 4, writePolicy: 'open' });
      const c = await connect(r);
      const sk = bytesToHex(generateSecretKey());
      const t0 = now() - 1000;
      const published: SignedEvent[] = [];
      for (let i = 0; i < 25; i++) {
        const e = signEvent(sk, { kind: 1, tags: [], content: `note ${i}`, created_at: t0 + i });
        expect(await c.publish(e)).toEqual({ accepted: true, message: '' });
        published.push(e);
      }
      const author = published[0]!.pubkey;
      const newest = published.slice().reverse();
      const asked = await c.req('big', { authors: [author], limit: 1_000_000 });
      expect(asked.events.map((e) => e.content)).toEqual(newest.slice(0, 10).map((e) => e.content));
      const unlimited = await c.req('nolimit', { authors: [author] });
      expect(unlimited.events.map((e) => e.id)).toEqual(newest.slice(0, 10).map((e) => e.id));
      const small = await c.req('small', { authors: [author], limit: 3 });
      expect(small.events.map((e) => e.id)).toEqual(newest.slice(0, 3).map((e) => e.id));
      // two filters: each capped on its own, an event matching both sent once
      const two = await c.req('two', { authors: [author], limit: 5 }, { authors: [author], until: t0 + 21 });
      const ids = two.events.map((e) => e.id);
      expect(new Set(ids).size).toBe(ids.length);
      // the second filter's newest ten are #21..#12; #21 and #20 were already sent
      expect(ids).toEqual([
        ...newest.slice(0, 5).map((e) => e.id),
        ...published
          .slice(12, 20)
          .reverse()
          .map((e) => e.id),
      ]);
      expect((await c.req('zero', { authors: [author], limit: 0 })).events).toEqual([]);
    });
  });

  describe('streaming stored results', () => {
    it('delivers 5,000 stored events page by page in NIP-01 order, complete, each once, EOSE after the last', async () => {
      // pages of 333: page ends fall inside runs of equal created_at, where the id breaks the tie
      const r = await relayWith({ pageSize: 333 });
      const c = await connect(r);
      // stored straight into the relay's table (signing 5,000 events would only cost time):
      // 1,000 distinct seconds, five events each
      const author = hex(32);
      const t0 = now() - 10_000;
      const rows = Array.from({ length: 5000 }, (_, i) => ({
        id: hex(32),
        created_at: t0 + Math.floor(i / 5),
      }));
      await db.pool.query(
        `INSERT INTO nostr_relay.events (id, pubkey, kind, created_at, tags, content, sig)
         SELECT id, $2, 1, created_at, '[]'::jsonb, 'stored ' || id, $3
           FROM unnest($1::text[], $4::bigint[]) AS t(id, created_at)`,
        [rows.map((x) => x.id), author, hex(64), rows.map((x) => x.created_at)],
      );
      const expected = rows
        .slice()
        .sort((a, b) => b.created_at - a.created_at || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0))
        .map((x) => x.id);

      const from = c.inbox.length;
      const all = await c.req('all', { authors: [author], kinds: [1] });
      expect(all.closed).toBeUndefined();
      expect(all.events.length).toBe(5000);
      expect(all.events.map((e) => e.id)).toEqual(expected);
      // EOSE comes after the last EVENT of the subscription, and only once
      const mine = c.inbox.slice(from).filter((m) => m[1] === 'all');
      expect(mine[mine.length - 1]).toEqual(['EOSE', 'all']);
      expect(mine.filter((m) => m[0] === 'EOSE')).toHaveLength(1);
      expect(all.events[0]).toMatchObject({
        pubkey: author,
        kind: 1,
        tags: [],
        content: `stored ${expected[0]}`,
      });

      // a limit ending inside a page, and a window (since/until) crossing several
      const part = await c.req('part', { authors: [author], limit: 1234 });
      expect(part.events.map((e) => e.id)).toEqual(expected.slice(0, 1234));
      const window = await c.req('window', { authors: [author], since: t0 + 100, until: t0 + 699 });
      expect(window.events.map((e) => e.id)).toEqual(
        rows
          .filter((x) => x.created_at >= t0 + 100 && x.created_at <= t0 + 699)
          .sort((a, b) => b.created_at - a.created_at || (a.id < b.id ? -1 : 1))
          .map((x) => x.id),
      );
    });

    it('live events reach a subscription after its stored ones, and CLOSE stops them', async () => {
      const r = await relayWith({ writePolicy: 'open' });
      const reader = await connect(r);
      const writer = await connect(r);
      const sk = bytesToHex(generateSecretKey());
      const author = getPublicKey(Buffer.from(sk, 'hex'));
      const stored = signEvent(sk, { kind: 1, tags: [], content: 'before' });
      await writer.publish(stored);
      expect((await reader.req('live', { authors: [author] })).events.map((e) => e.id)).toEqual([stored.id]);
      const from = reader.inbox.length;
      const live = signEvent(sk, { kind: 1, tags: [], content: 'after', created_at: now() + 1 });
      await writer.publish(live);
      expect(await reader.next((m) => m[0] === 'EVENT' && m[1] === 'live', from)).toEqual([
        'EVENT',
        'live',
        live,
      ]);
      // after CLOSE, a later event does not arrive; the barrier is a second subscription that sees it
      reader.send(['CLOSE', 'live']);
      await reader.req('barrier', { ids: ['0'.repeat(64)] });
      const afterClose = reader.inbox.length;
      await reader.req('watch', { authors: [author], limit: 0 });
      const late = signEvent(sk, { kind: 1, tags: [], content: 'late', created_at: now() + 2 });
      await writer.publish(late);
      await reader.next((m) => m[0] === 'EVENT' && m[1] === 'watch', afterClose);
      expect(reader.inbox.slice(afterClose).filter((m) => m[1] === 'live')).toEqual([]);
    });
  });

  describe('per-client limits', () => {
    it('refuses a subscription past max_subscriptions until one is closed', async () => {
      const r = await relayWith({ limits: { maxSubscriptions: 3 } });
      const c = await connect(r);
      for (const id of ['a', 'b', 'c'])
        expect(await c.req(id, { kinds: [1], limit: 0 })).toEqual({ events: [] });
      // replacing an open subscription is not a new one
      expect(await c.req('a', { kinds: [2], limit: 0 })).toEqual({ events: [] });
      const refused = await c.req('d', { kinds: [1], limit: 0 });
      expect(refused.closed).toMatch(/^rate-limited: at most 3 subscriptions per connection/);
      c.send(['CLOSE', 'b']);
      expect(await c.req('d', { kinds: [1], limit: 0 })).toEqual({ events: [] });
      // another connection has its own allowance
      const other = await connect(r);
      for (const id of ['a', 'b', 'c'])
        expect((await other.req(id, { kinds: [1], limit: 0 })).closed).toBeUndefined();
    });

    it('refuses a connection past max_connections_per_ip with 429 and a reason, and takes one once another closes', async () => {
      const r = await relayWith({ limits: { maxConnectionsPerIp: 3 } });
      const open = [await connect(r), await connect(r), await connect(r)];
      const refused = await tryConnect(r.url);
      expect(refused).toMatchObject({ status: 429 });
      expect((refused as { body: string }).body).toMatch(/^rate-limited: at most 3 connections per address/);
      // the open ones are still served
      expect(await open[0]!.req('x', { kinds: [1], limit: 0 })).toEqual({ events: [] });
      open[2]!.close();
      await open[2]!.whenClosed();
      const again = await eventually(
        async () => {
          const t = await tryConnect(r.url);
          return 'ws' in t ? t.ws : null;
        },
        10_000,
        'a connection once one closed',
      );
      again.close();
    });

    it('closes the connection of an oversized message (1009) and serves everyone else', async () => {
      const r = await relayWith({ limits: { maxMessageBytes: 64 * 1024 } });
      const big = await connect(r);
      const other = await connect(r);
      const e = signEvent(machine.secretHex, {
        kind: KIND_APP_DATA,
        tags: [['d', 'bitspire-beacon']],
        content: 'A'.repeat(70 * 1024),
      });
      big.send(['EVENT', e]);
      expect((await big.whenClosed()).code).toBe(1009);
      expect(await other.publish(settlementFrom(machine.secretHex))).toEqual({ accepted: true, message: '' });
      // just under the limit is fine
      const fits = signEvent(machine.secretHex, {
        kind: KIND_APP_DATA,
        tags: [['d', 'bitspire-beacon']],
        content: 'A'.repeat(60 * 1024),
      });
      expect((await other.publish(fits)).accepted).toBe(true);
    });
  });

  describe('events', () => {
    it('refuses an event dated 11 minutes ahead with a reason; 9 minutes ahead is accepted', async () => {
      const r = await relayWith();
      const c = await connect(r);
      const ahead11 = await c.publish(settlementFrom(machine.secretHex, now() + 11 * 60));
      expect(ahead11.accepted).toBe(false);
      expect(ahead11.message).toMatch(
        /^invalid: created_at is \d+ s ahead of the relay clock \(at most 600 s\)/,
      );
      expect(await c.publish(settlementFrom(machine.secretHex, now() + 9 * 60))).toEqual({
        accepted: true,
        message: '',
      });
    });

    it('refuses an event with more than max_event_tags tags', async () => {
      const r = await relayWith();
      const c = await connect(r);
      const e = signEvent(machine.secretHex, {
        kind: KIND_SETTLEMENT,
        tags: Array.from({ length: 101 }, (_, i) => ['p', `${i}`]),
        content: 'x',
      });
      expect(await c.publish(e)).toEqual({ accepted: false, message: 'invalid: 101 tags (at most 100)' });
    });
  });

  describe('PostgreSQL unreachable', () => {
    it('answers OK false / CLOSED with an error: reason and serves on', async () => {
      const { createPool } = await import('../../src/db/pool');
      const nowhere = createPool({ connectionString: `postgres://127.0.0.1:${await freePort()}/none` });
      const r = await startRelay({ pool: nowhere, logger: testLogger, port: await freePort() });
      relays.push(r);
      try {
        const c = await connect(r);
        expect(await c.publish(settlementFrom(machine.secretHex))).toEqual({
          accepted: false,
          message: 'error: could not check the publisher key, try again',
        });
        expect(await c.req('q', { kinds: [1] })).toEqual({
          events: [],
          closed: 'error: query failed, try again',
        });
        // the same connection still answers
        expect((await c.req('q2', { kinds: [1], limit: 0 })).closed).toBeUndefined();
        // an open relay has no key to check, and cannot store either
        const open = await startRelay({
          pool: nowhere,
          logger: testLogger,
          port: await freePort(),
          writePolicy: 'open',
        });
        relays.push(open);
        const o = await connect(open);
        expect(await o.publish(settlementFrom(machine.secretHex))).toEqual({
          accepted: false,
          message: 'error: could not store the event, try again',
        });
      } finally {
        await nowhere.end();
      }
    });
  });

  describe('write policy', () => {
    it('known (the default): only registered machines and users, only satmachine kinds', async () => {
      const r = await relayWith();
      const c = await connect(r);
      const stranger = bytesToHex(generateSecretKey());
      const strangers = settlementFrom(stranger);
      const fromStranger = await c.publish(strangers);
      expect(fromStranger.accepted).toBe(false);
      expect(fromStranger.message).toMatch(/^blocked: the key is not a registered machine or operator/);
      // a registered machine: settlements, beacons, telemetry
      expect(await c.publish(settlementFrom(machine.secretHex))).toEqual({ accepted: true, message: '' });
      for (const [kind, d] of [
        [KIND_APP_DATA, 'bitspire-beacon'],
        [KIND_TELEMETRY, 'bitspire-telemetry'],
      ] as const) {
        const e = signEvent(machine.secretHex, { kind, tags: [['d', d]], content: '{}' });
        expect((await c.publish(e)).accepted).toBe(true);
      }
      // the operator's cassette configuration (what the API signs and publishes)
      const cassettes = signEvent(operator.secretHex, {
        kind: KIND_APP_DATA,
        tags: [
          ['d', `bitspire-cassettes:${machine.row.machine_npub}`],
          ['p', machine.pubkey],
        ],
        content: 'encrypted',
      });
      expect(await c.publish(cassettes)).toEqual({ accepted: true, message: '' });
      // other kinds, even from a registered machine
      const note = signEvent(machine.secretHex, { kind: 1, tags: [], content: 'hello' });
      expect(await c.publish(note)).toEqual({
        accepted: false,
        message: 'blocked: this relay accepts only kinds 21000, 30078, 30079',
      });
      // a forged event in a registered machine's name
      const forged = { ...settlementFrom(machine.secretHex), content: 'altered' };
      expect(await c.publish(forged)).toEqual({ accepted: false, message: 'invalid: bad id or signature' });
      // nothing refused was stored, nor sent to a subscriber
      const { rows } = await db.pool.query<{ n: number }>(
        'SELECT count(*)::int AS n FROM nostr_relay.events WHERE id = ANY($1)',
        [[strangers.id, note.id, forged.id]],
      );
      expect(rows[0]!.n).toBe(0);
      expect((await c.req('refused', { ids: [strangers.id, note.id, forged.id] })).events).toEqual([]);
    });

    it('accepts a newly registered machine key within seconds', async () => {
      const r = await relayWith();
      const c = await connect(r);
      const sk = generateSecretKey();
      const secretHex = bytesToHex(sk);
      const before = await c.publish(settlementFrom(secretHex));
      expect(before.accepted).toBe(false);
      expect(before.message).toMatch(/^blocked:/);
      // the operator registers the machine (the way the API does: a row in dca_machines)
      const { insertMachine } = await import('../../src/db/machines');
      const { insertWallet } = await import('../../src/db/ledger');
      const { toNpub } = await import('../../src/domain/nostrKeys');
      const wallet = await insertWallet(db.pool, operator.id, 'new machine wallet');
      await insertMachine(db.pool, {
        operator_user_id: operator.id,
        machine_npub: toNpub(getPublicKey(sk)),
        machine_pubkey_hex: getPublicKey(sk),
        wallet_id: wallet.id,
        name: 'new ATM',
        fiat_code: 'EUR',
        operator_cash_in_fee_fraction: '0',
        operator_cash_out_fee_fraction: '0',
        distribution_delay_seconds: 0,
      });
      // the ATM retries as it would; the relay asks PostgreSQL again 2 s after a refusal
      const accepted = await eventually(
        async () => {
          const res = await c.publish(settlementFrom(secretHex));
          return res.accepted ? res : null;
        },
        10_000,
        'the new machine key to be accepted',
      );
      expect(accepted).toEqual({ accepted: true, message: '' });
    });

    it('open: any valid event of any key', async () => {
      const r = await relayWith({ writePolicy: 'open' });
      const c = await connect(r);
      const stranger = bytesToHex(generateSecretKey());
      expect(await c.publish(settlementFrom(stranger))).toEqual({ accepted: true, message: '' });
      expect((await c.publish(signEvent(stranger, { kind: 1, tags: [], content: 'hi' }))).accepted).toBe(
        true,
      );
      // the clock and signature checks still apply
      expect((await c.publish(settlementFrom(stranger, now() + 3600))).accepted).toBe(false);
    });
  });
});
