import { Writable } from 'node:stream';
import pino from 'pino';
import { ApiKeyCache } from '../../src/api/apiKeyCache';
import { hashApiKey } from '../../src/api/apiKeys';
import type { Pool } from '../../src/db/pool';
import { startApi, type TestApi } from '../helpers/api';
import { createOperator } from '../helpers/fixtures';
import { eventually, freshDatabase, temporalClient } from '../helpers/stack';

/** A logger whose lines the test reads. */
function capturedLogger() {
  const lines: { level: number; msg: string }[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _enc, done) {
      for (const l of chunk.toString().split('\n').filter(Boolean)) lines.push(JSON.parse(l));
      done();
    },
  });
  return { log: pino({ level: 'info' }, stream), lines };
}

/** The real pool, counting the statements sent through it. */
function countingPool(pool: Pool) {
  const sent: string[] = [];
  const counting = new Proxy(pool, {
    get(target, prop, receiver) {
      if (prop === 'query') {
        return (text: string, values?: unknown[]) => {
          sent.push(text);
          return target.query(text, values);
        };
      }
      return Reflect.get(target, prop, receiver) as unknown;
    },
  });
  return { pool: counting, sent };
}

const lastUsed = async (pool: Pool, keyId: string) =>
  (
    await pool.query<{ last_used_at: Date | null }>(
      'SELECT last_used_at FROM satmachine.api_keys WHERE id = $1',
      [keyId],
    )
  ).rows[0]!.last_used_at;

/**
 * API key look-ups are cached briefly in each API process: a revocation made anywhere is
 * refused within the cache's lifetime (at once through the same process), and
 * `last_used_at` is written in the background, never on the request's path.
 */
describe('API key cache', () => {
  let db: Awaited<ReturnType<typeof freshDatabase>>;
  let temporal: Awaited<ReturnType<typeof temporalClient>>;
  let replicaA: TestApi;
  let replicaB: TestApi;

  beforeAll(async () => {
    db = await freshDatabase();
    temporal = await temporalClient();
    // two API replicas over one database, each with its own cache (1 s)
    replicaA = await startApi({
      pool: db.pool,
      temporal: temporal.client,
      config: { apiKeyCacheTtlMs: 1_000 },
    });
    replicaB = await startApi({
      pool: db.pool,
      temporal: temporal.client,
      config: { apiKeyCacheTtlMs: 1_000 },
    });
  });
  afterAll(async () => {
    await replicaA.close();
    await replicaB.close();
    await temporal.close();
    await db.close();
  });

  /** A user with two keys: the first (to revoke) and its id, and a second one (never used yet). */
  const userWithTwoKeys = async (name: string) => {
    const op = await createOperator(db.pool, name);
    const second = await replicaA.call('POST', '/api/v1/me/api-keys', op.apiKey);
    expect(second.status).toBe(201);
    const keys = await replicaA.call('GET', '/api/v1/me/api-keys', op.apiKey);
    const firstId = (keys.body as { id: string; current: boolean }[]).find((k) => k.current)!.id;
    return {
      first: op.apiKey,
      firstId,
      second: second.body.api_key as string,
      secondId: second.body.id as string,
    };
  };

  it('a key revoked through another replica is refused by this one within the cache lifetime', async () => {
    const u = await userWithTwoKeys('cross');
    // replica B has the key cached
    expect((await replicaB.call('GET', '/api/v1/me', u.first)).status).toBe(200);
    expect((await replicaA.call('DELETE', `/api/v1/me/api-keys/${u.firstId}`, u.second)).status).toBe(204);
    // the revoking replica refuses it at once
    expect((await replicaA.call('GET', '/api/v1/me', u.first)).status).toBe(401);
    // replica B: polled until refused, with a deadline far above the 1 s lifetime
    const refused = await eventually(
      async () => ((await replicaB.call('GET', '/api/v1/me', u.first)).status === 401 ? true : undefined),
      15_000,
      'replica B to refuse the revoked key',
    );
    expect(refused).toBe(true);
    // and it stays refused; the other key still works
    expect((await replicaB.call('GET', '/api/v1/me', u.first)).status).toBe(401);
    expect((await replicaB.call('GET', '/api/v1/me', u.second)).status).toBe(200);
  });

  it('a key revoked in PostgreSQL directly (the CLI, an operator by hand) is refused within the cache lifetime', async () => {
    const u = await userWithTwoKeys('sql');
    expect((await replicaB.call('GET', '/api/v1/me', u.first)).status).toBe(200);
    await db.pool.query('UPDATE satmachine.api_keys SET revoked_at = now() WHERE id = $1', [u.firstId]);
    await eventually(
      async () => ((await replicaB.call('GET', '/api/v1/me', u.first)).status === 401 ? true : undefined),
      15_000,
      'the revoked key to be refused',
    );
    expect((await replicaB.call('GET', '/api/v1/me', u.first)).body.error.code).toBe('unauthorized');
  });

  it('a new key works at once (unknown keys are never cached)', async () => {
    const op = await createOperator(db.pool, 'fresh');
    const made = await replicaA.call('POST', '/api/v1/me/api-keys', op.apiKey);
    // replica B never saw it; a wrong key before it does not poison anything
    expect((await replicaB.call('GET', '/api/v1/me', `${made.body.api_key as string}x`)).status).toBe(401);
    expect((await replicaB.call('GET', '/api/v1/me', made.body.api_key)).status).toBe(200);
  });

  it('last_used_at is written in the background: a request is answered while the key row is locked', async () => {
    const u = await userWithTwoKeys('locked');
    expect(await lastUsed(db.pool, u.secondId)).toBeNull();
    const locker = await db.pool.connect();
    try {
      await locker.query('BEGIN');
      await locker.query('SELECT 1 FROM satmachine.api_keys WHERE id = $1 FOR UPDATE', [u.secondId]);
      // answered although a write of last_used_at would wait for the lock
      expect((await replicaB.call('GET', '/api/v1/me', u.second)).status).toBe(200);
      expect(await lastUsed(db.pool, u.secondId)).toBeNull();
      await locker.query('COMMIT');
    } finally {
      locker.release();
    }
    // the stamp lands once the lock is gone
    await eventually(async () => lastUsed(db.pool, u.secondId), 15_000, 'last_used_at to be written');
  });

  it('concurrent look-ups of one key share one query; stamps are coalesced into one UPDATE', async () => {
    const op = await createOperator(db.pool, 'coalesce');
    const { pool, sent } = countingPool(db.pool);
    const { log } = capturedLogger();
    // a long lifetime and flush period: what is counted does not depend on the clock
    const cache = new ApiKeyCache(pool, log, { ttlMs: 60_000, lastUsedFlushMs: 60_000 });
    const found = await Promise.all(Array.from({ length: 25 }, () => cache.find(hashApiKey(op.apiKey))));
    expect(new Set(found.map((f) => f?.id))).toEqual(new Set([op.id]));
    expect(await cache.find(hashApiKey(op.apiKey))).toMatchObject({ id: op.id });
    expect(sent.filter((q) => q.includes('FROM satmachine.api_keys'))).toHaveLength(1);
    await cache.flush();
    expect(sent.filter((q) => q.includes('UPDATE satmachine.api_keys'))).toHaveLength(1);
    const keyId = found[0]!.api_key_id;
    expect(await lastUsed(db.pool, keyId)).toBeInstanceOf(Date);
    // used again within the minute: nothing more to write
    await cache.find(hashApiKey(op.apiKey));
    await cache.flush();
    expect(sent.filter((q) => q.includes('UPDATE satmachine.api_keys'))).toHaveLength(1);
  });

  it('a failed last_used_at write is logged and fails no request', async () => {
    const scratch = await freshDatabase();
    try {
      const op = await createOperator(scratch.pool, 'failing');
      // every stamp is refused by PostgreSQL from now on
      await scratch.pool.query(
        'ALTER TABLE satmachine.api_keys ADD CONSTRAINT no_stamps CHECK (last_used_at IS NULL) NOT VALID',
      );
      const { log, lines } = capturedLogger();
      const cache = new ApiKeyCache(scratch.pool, log, { ttlMs: 1_000, lastUsedFlushMs: 10 });
      expect(await cache.find(hashApiKey(op.apiKey))).toMatchObject({ id: op.id });
      await eventually(
        async () => lines.find((l) => l.msg.includes('last_used_at not written')),
        15_000,
        'the failed write to be logged',
      );
      expect(lines.find((l) => l.msg.includes('last_used_at not written'))!.level).toBe(40);
      expect(await cache.find(hashApiKey(op.apiKey))).toMatchObject({ id: op.id });
    } finally {
      await scratch.close();
    }
  });
});
