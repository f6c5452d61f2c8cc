import type { AddressInfo } from 'node:net';
import type { Client } from '@temporalio/client';
import { createApp } from '../../src/api/app';
import type { ApiDeps } from '../../src/api/deps';
import type { Pool } from '../../src/db/pool';
import { LedgerBackend } from '../../src/payments/ledger';
import { SecretBox } from '../../src/security/secretBox';
import { TEST_SECRET_KEY, testLogger } from './stack';

export interface TestApi {
  url: string;
  deps: ApiDeps;
  close(): Promise<void>;
  /** fetch JSON with an API key */
  call(
    method: string,
    path: string,
    key?: string,
    body?: unknown,
    headers?: Record<string, string>,
  ): Promise<{ status: number; body: any; text: string }>;
}

export async function startApi(opts: {
  pool: Pool;
  temporal: Client;
  taskQueue?: string;
  relays?: string[];
  ledger?: LedgerBackend | null;
  config?: Partial<ApiDeps['config']>;
}): Promise<TestApi> {
  const deps: ApiDeps = {
    pool: opts.pool,
    temporal: opts.temporal,
    secretBox: new SecretBox(TEST_SECRET_KEY),
    logger: testLogger,
    ledger:
      opts.ledger === undefined ? new LedgerBackend({ pool: opts.pool, logger: testLogger }) : opts.ledger,
    config: {
      taskQueue: opts.taskQueue ?? 'unused',
      namespace: 'default',
      temporalUiUrl: 'http://127.0.0.1:8233',
      publicUrl: 'http://127.0.0.1',
      relays: opts.relays ?? [],
      stuckThresholdMinutes: 30,
      ...opts.config,
    },
  };
  const app = createApp(deps);
  const server = await new Promise<import('node:http').Server>((resolve) => {
    const s = app.listen(0, '127.0.0.1', () => resolve(s));
  });
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    url,
    deps,
    close: () => new Promise<void>((r) => server.close(() => r())),
    call: async (method, path, key, body, headers) => {
      const res = await fetch(`${url}${path}`, {
        method,
        headers: {
          ...headers,
          ...(key ? { authorization: `Bearer ${key}` } : {}),
          ...(body !== undefined ? { 'content-type': 'application/json' } : {}),
        },
        body: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body),
      });
      const text = await res.text();
      let parsed: unknown;
      try {
        parsed = text ? JSON.parse(text) : null;
      } catch {
        parsed = null;
      }
      return { status: res.status, body: parsed, text };
    },
  };
}
