/**
 * The OpenAPI document of every /api/v1 route, as the API builds it. The route registry
 * is built without a database or Temporal: routes only capture their deps when mounted,
 * so inert deps are enough (any use of one throws). Both payment backends' routes are
 * included, so the document describes every route the API can serve.
 * (Kept apart from export-openapi.ts so tests can load it without openapi-typescript, ESM only.)
 */
import express from 'express';
import { API_PREFIX, API_VERSION } from '../src/api/app';
import type { ApiDeps } from '../src/api/deps';
import { buildOpenApi } from '../src/api/openapi';
import { RouteRegistry } from '../src/api/routeRegistry';
import { mountRoutes } from '../src/api/routes';

/** An object that refuses every use: mounting routes must not touch it. */
function inert<T>(name: string): T {
  return new Proxy(
    {},
    {
      get(_target, prop) {
        if (prop === 'then' || typeof prop === 'symbol') return undefined;
        throw new Error(`export-openapi: ${name}.${String(prop)} was used while only declaring routes`);
      },
    },
  ) as T;
}

function inertDeps(): ApiDeps {
  return {
    pool: inert('pool'),
    temporal: inert('temporal'),
    secretBox: inert('secretBox'),
    logger: inert('logger'),
    ledger: inert('ledger'),
    lnbits: inert('lnbits'),
    config: {
      taskQueue: 'export',
      namespace: 'default',
      temporalUiUrl: 'http://127.0.0.1:8233',
      publicUrl: 'http://127.0.0.1:3000',
      relays: [],
      stuckThresholdMinutes: 30,
    },
  };
}

/** The OpenAPI document of every route, as the API builds it. */
export function apiDocument(): ReturnType<typeof buildOpenApi> {
  const routes = new RouteRegistry(express.Router(), () => (_req, _res, next) => next(), API_PREFIX);
  mountRoutes(routes, inertDeps());
  return buildOpenApi(routes.routes, API_PREFIX, API_VERSION);
}
