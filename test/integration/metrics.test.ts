import type { AddressInfo } from 'node:net';
import type { Server } from 'node:http';
import { metricsAuthorized } from '../../src/metrics/auth';
import { startMetricsServer } from '../../src/metrics/server';
import { stopSettlementGauge } from '../../src/api/settlementGauge';
import { startApi, type TestApi } from '../helpers/api';
import { eventually, freshDatabase, temporalClient } from '../helpers/stack';

const refreshedAt = (text: string): number => {
  const m = /^satmachine_settlements_refreshed_timestamp_seconds (\S+)$/m.exec(text);
  return m ? Number(m[1]) : 0;
};

describe('metricsAuthorized (METRICS_TOKEN)', () => {
  it('lets everything through when no token is configured', () => {
    expect(metricsAuthorized(undefined, undefined)).toBe(true);
    expect(metricsAuthorized('Bearer whatever', '')).toBe(true);
  });
  it('needs exactly "Bearer <token>" when one is', () => {
    const token = 'a-long-metrics-token';
    expect(metricsAuthorized(`Bearer ${token}`, token)).toBe(true);
    expect(metricsAuthorized(`bearer ${token}`, token)).toBe(true);
    for (const bad of [
      undefined,
      '',
      'Bearer',
      'Bearer ',
      token,
      `Basic ${token}`,
      `Bearer ${token}x`,
      `Bearer ${token.slice(0, -1)}`,
      `Bearer ${token.toUpperCase()}`,
    ])
      expect(metricsAuthorized(bad, token)).toBe(false);
  });
});

/** The API's /metrics: settlements by status come from a cache a background interval refreshes. */
describe('API /metrics', () => {
  let db: Awaited<ReturnType<typeof freshDatabase>>;
  let temporal: Awaited<ReturnType<typeof temporalClient>>;
  let api: TestApi;
  const token = 'scrape-secret-123';

  beforeAll(async () => {
    db = await freshDatabase();
    temporal = await temporalClient();
    api = await startApi({
      pool: db.pool,
      temporal: temporal.client,
      config: { metricsToken: token, settlementGaugeIntervalMs: 100 },
    });
  });
  afterAll(async () => {
    await api.close();
    await stopSettlementGauge();
    await temporal.close();
    await db.close();
  });

  const scrape = (auth?: string) =>
    fetch(`${api.url}/metrics`, { headers: auth ? { authorization: auth } : {} });

  it('answers 401 without the bearer token, 200 with it', async () => {
    for (const auth of [undefined, 'Bearer wrong', `Basic ${token}`, token]) {
      const r = await scrape(auth);
      expect(r.status).toBe(401);
      expect(r.headers.get('www-authenticate')).toBe('Bearer');
      const body = (await r.json()) as { error: { code: string; message: string } };
      expect(body.error.code).toBe('unauthorized');
      expect(body.error.message).toContain('Authorization: Bearer');
      expect(JSON.stringify(body)).not.toContain(token);
    }
    const ok = await scrape(`Bearer ${token}`);
    expect(ok.status).toBe(200);
    expect(await ok.text()).toContain('satmachine_settlements_refreshed_timestamp_seconds');
  });

  it('a scrape never queries PostgreSQL: it answers while the settlements table is locked; the interval refreshes after', async () => {
    // a first count exists
    const before = refreshedAt(
      await eventually(async () => {
        const t = await (await scrape(`Bearer ${token}`)).text();
        return refreshedAt(t) > 0 ? t : null;
      }),
    );
    const locker = await db.pool.connect();
    try {
      await locker.query('BEGIN');
      // every read of dca_settlements now waits for this transaction
      await locker.query('LOCK TABLE satmachine.dca_settlements IN ACCESS EXCLUSIVE MODE');
      // the background count is blocked behind the lock: wait until it is
      await eventually(async () => {
        const { rows } = await db.pool.query<{ n: number }>(
          `SELECT count(*)::int AS n FROM pg_locks l JOIN pg_class c ON c.oid = l.relation
            WHERE c.relname = 'dca_settlements' AND NOT l.granted`,
        );
        return rows[0]!.n > 0;
      });
      const during = refreshedAt(await (await scrape(`Bearer ${token}`)).text());
      expect(during).toBeGreaterThanOrEqual(before);
      for (let i = 0; i < 5; i++) {
        const r = await scrape(`Bearer ${token}`);
        expect(r.status).toBe(200);
        // served from the cache: the count is still waiting behind the lock
        expect(refreshedAt(await r.text())).toBe(during);
      }
      await locker.query('COMMIT');
      // released: the interval (no scrape involved in it) counts again
      await eventually(async () => refreshedAt(await (await scrape(`Bearer ${token}`)).text()) > during);
    } finally {
      await locker.query('ROLLBACK').catch(() => undefined);
      locker.release();
    }
  });
});

describe('worker / ingest metrics server with METRICS_TOKEN', () => {
  let server: Server;
  let url: string;
  beforeAll(async () => {
    server = await startMetricsServer(0, '127.0.0.1', { token: 'worker-token' });
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(async () => {
    await new Promise<void>((r) => server.close(() => r()));
  });

  it('/metrics needs the bearer token; /healthz stays open', async () => {
    expect((await fetch(`${url}/metrics`)).status).toBe(401);
    expect((await fetch(`${url}/metrics`, { headers: { authorization: 'Bearer nope' } })).status).toBe(401);
    const ok = await fetch(`${url}/metrics`, { headers: { authorization: 'Bearer worker-token' } });
    expect(ok.status).toBe(200);
    expect(ok.headers.get('content-type')).toContain('text/plain');
    expect((await fetch(`${url}/healthz`)).status).toBe(200);
  });

  it('without a token /metrics is open (as before)', async () => {
    const open = await startMetricsServer(0, '127.0.0.1');
    try {
      const port = (open.address() as AddressInfo).port;
      expect((await fetch(`http://127.0.0.1:${port}/metrics`)).status).toBe(200);
    } finally {
      await new Promise<void>((r) => open.close(() => r()));
    }
  });
});
