import { lazyTemporalClient } from '../../src/temporalClient';
import { createPool } from '../../src/db/pool';
import { startApi, type TestApi } from '../helpers/api';
import { startApiStack, type ApiStack } from '../helpers/testStack';
import { freePort } from '../helpers/ports';

describe('/healthz and /readyz against the real stack', () => {
  let stack: ApiStack;
  let db: ApiStack['db'];
  let temporal: ApiStack['temporal'];
  let api: TestApi;

  beforeAll(async () => {
    stack = await startApiStack();
    ({ db, temporal, api } = stack);
  });
  afterAll(async () => {
    await stack.stop();
  });

  it('healthz answers while the process is up', async () => {
    const r = await api.call('GET', '/healthz');
    expect(r.status).toBe(200);
    expect(r.body).toEqual({ status: 'ok' });
  });

  it('readyz is 200 when PostgreSQL and Temporal answer', async () => {
    const r = await api.call('GET', '/readyz');
    expect(r.status).toBe(200);
    expect(r.body.checks).toEqual({ postgresql: 'up', temporal: 'up' });
  });

  it('readyz is 503 and names Temporal when Temporal is down', async () => {
    const dead = lazyTemporalClient({ address: `127.0.0.1:${await freePort()}`, namespace: 'default' });
    const down = await startApi({ pool: db.pool, temporal: dead });
    try {
      const r = await down.call('GET', '/readyz');
      expect(r.status).toBe(503);
      expect(r.body.checks).toEqual({ postgresql: 'up', temporal: 'down' });
      expect(r.body.message).toContain('temporal');
    } finally {
      await down.close();
    }
  });

  it('readyz is 503 and names PostgreSQL when the database is down', async () => {
    const deadPool = createPool({
      connectionString: `postgres://x:y@127.0.0.1:${await freePort()}/none`,
      max: 1,
    });
    const down = await startApi({ pool: deadPool, temporal: temporal.client });
    try {
      const r = await down.call('GET', '/readyz');
      expect(r.status).toBe(503);
      expect(r.body.checks).toEqual({ postgresql: 'down', temporal: 'up' });
      expect(r.body.message).toContain('postgresql');
    } finally {
      await down.close();
      await deadPool.end();
    }
  });
});
