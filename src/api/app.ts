import { randomUUID } from 'node:crypto';
import express, { type Request } from 'express';
import { METRICS_UNAUTHORIZED_MESSAGE, metricsAuthorized } from '../metrics/auth';
import { httpLatency, httpRequests, registry } from '../metrics/registry';
import { ApiKeyCache } from './apiKeyCache';
import { authenticator } from './auth';
import { mountConsole } from './console';
import type { ApiDeps } from './deps';
import { errorHandler, notFound } from './errors';
import { buildOpenApi } from './openapi';
import { RouteRegistry } from './routeRegistry';
import { mountHealth } from './routes/health';
import { mountRoutes } from './routes';
import { exposeSettlementGauge } from './settlementGauge';

export const API_PREFIX = '/api/v1';
/** The API's version, as the OpenAPI document states it. */
export const API_VERSION = '0.1.0';

/** The HTTP API (express 5): `/healthz`, `/readyz`, `/metrics`, and everything under /api/v1. */
export function createApp(deps: ApiDeps) {
  const app = express();
  const log = deps.logger.child({ component: 'api' });
  app.disable('x-powered-by');
  // no ETag on API answers: they are live figures no client revalidates, and express would
  // hash every body for it (the console's static files keep theirs: express.static sets its own)
  app.set('etag', false);
  app.set('trust proxy', 'loopback');

  // request id, structured request log, metrics
  app.use((req, res, next) => {
    const started = process.hrtime.bigint();
    const id = req.get('x-request-id') ?? randomUUID();
    res.setHeader('x-request-id', id);
    res.on('finish', () => {
      const seconds = Number(process.hrtime.bigint() - started) / 1e9;
      const route = req.route ? `${req.baseUrl}${req.route.path as string}` : 'unmatched';
      httpRequests.inc({ method: req.method, route, status: String(res.statusCode) });
      httpLatency.observe({ method: req.method, route }, seconds);
      if (req.path === '/healthz' || req.path === '/readyz' || req.path === '/metrics') return;
      // reads that succeed (the console polls every few seconds) at debug; changes and errors at info
      const level = req.method === 'GET' && res.statusCode < 400 ? 'debug' : 'info';
      if (!log.isLevelEnabled(level)) return; // the hot read path builds no log line it drops
      log[level](
        {
          request_id: id,
          method: req.method,
          route,
          status: res.statusCode,
          ms: Math.round(seconds * 1000),
          user: (res.locals.user as { id?: string } | undefined)?.id,
        },
        'request',
      );
    });
    next();
  });

  app.use(
    express.json({
      limit: deps.config.bodyLimit ?? '100kb',
      verify: (req, _res, buf) => {
        (req as Request & { rawBody?: Buffer }).rawBody = buf;
      },
    }),
  );

  const health = express.Router();
  mountHealth(health, deps);
  app.use(health);

  // counted in the background: a scrape reads the cache and never queries PostgreSQL
  exposeSettlementGauge(deps.pool, { intervalMs: deps.config.settlementGaugeIntervalMs, logger: log });
  app.get('/metrics', async (req, res) => {
    if (!metricsAuthorized(req.get('authorization'), deps.config.metricsToken)) {
      res
        .status(401)
        .setHeader('www-authenticate', 'Bearer')
        .json({ error: { code: 'unauthorized', message: METRICS_UNAUTHORIZED_MESSAGE, details: null } });
      return;
    }
    res.setHeader('content-type', registry.contentType);
    res.send(await registry.metrics());
  });

  const api = express.Router();
  // kept on deps itself (not a copy): the routes and whoever holds deps see one object
  deps.apiKeyCache ??= new ApiKeyCache(deps.pool, log, { ttlMs: deps.config.apiKeyCacheTtlMs });
  const apiKeyCache = deps.apiKeyCache;
  const routes = new RouteRegistry(
    api,
    authenticator(deps.pool, deps.config.publicUrl, apiKeyCache),
    API_PREFIX,
  );
  mountRoutes(routes, deps);
  const openapi = buildOpenApi(routes.routes, API_PREFIX, API_VERSION);
  api.get('/openapi.json', (_req, res) => {
    res.json(openapi);
  });
  app.use(API_PREFIX, api);

  // the operator / LP console (web/dist) at `/`, behind everything the API owns
  mountConsole(app);

  app.use((req, _res, next) => next(notFound(`route ${req.method} ${req.path}`)));
  app.use(errorHandler(log));
  return app;
}
