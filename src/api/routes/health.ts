import type { Router } from 'express';
import { temporalReachable } from '../../temporalClient';
import { databaseReachable } from '../../db/pool';
import type { ApiDeps } from '../deps';

/** Liveness (`/healthz`: the process answers) and readiness (`/readyz`: PostgreSQL and Temporal answer). */
export function mountHealth(router: Router, deps: ApiDeps): void {
  router.get('/healthz', (_req, res) => {
    res.json({ status: 'ok' });
  });
  router.get('/readyz', async (_req, res) => {
    const [database, temporal] = await Promise.all([
      databaseReachable(deps.pool),
      temporalReachable(deps.temporal),
    ]);
    const down = [...(database ? [] : ['postgresql']), ...(temporal ? [] : ['temporal'])];
    res.status(down.length ? 503 : 200).json({
      status: down.length ? 'unavailable' : 'ready',
      checks: { postgresql: database ? 'up' : 'down', temporal: temporal ? 'up' : 'down' },
      ...(down.length ? { message: `not ready: ${down.join(' and ')} not reachable` } : {}),
    });
  });
}
