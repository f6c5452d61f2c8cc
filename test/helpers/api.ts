import { createServer, request as httpRequest } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Client } from '@temporalio/client';
import { createApp } from '../../src/api/app';
import type { ApiDeps } from '../../src/api/deps';
import type { Pool } from '../../src/db/pool';
import { LedgerBackend } from '../../src/payments/ledger';
import type { LnbitsBackend } from '../../src/payments/lnbits';
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
  /** PUBLIC_URL (what NIP-98 tokens must name); default: the URL the API listens on */
  publicUrl?: string;
  /** mounts the LNbits wallet routes too */
  lnbits?: LnbitsBackend | null;
  config?: Partial<ApiDeps['config']>;
}): Promise<TestApi> {
  // listen first: the public URL NIP-98 checks against is the real one (with its port)
  const server = await new Promise<import('node:http').Server>((resolve) => {
    const s = createServer();
    s.listen(0, '127.0.0.1', () => resolve(s));
  });
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const deps: ApiDeps = {
    pool: opts.pool,
    temporal: opts.temporal,
    secretBox: new SecretBox(TEST_SECRET_KEY),
    logger: testLogger,
    ledger:
      opts.ledger === undefined ? new LedgerBackend({ pool: opts.pool, logger: testLogger }) : opts.ledger,
    lnbits: opts.lnbits ?? null,
    config: {
      taskQueue: opts.taskQueue ?? 'unused',
      namespace: 'default',
      temporalUiUrl: 'http://127.0.0.1:8233',
      publicUrl: opts.publicUrl ?? url,
      relays: opts.relays ?? [],
      stuckThresholdMinutes: 30,
      ...opts.config,
    },
  };
  server.on('request', createApp(deps));
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
      return readAnswer(res);
    },
  };
}

/** A fetch response as a test reads it: status, the body parsed (null when empty or not JSON), the text. */
export async function readAnswer(res: Response): Promise<{ status: number; body: any; text: string }> {
  const text = await res.text();
  let parsed: unknown;
  try {
    parsed = text ? JSON.parse(text) : null;
  } catch {
    parsed = null;
  }
  return { status: res.status, body: parsed, text };
}

/**
 * A request through node:http with exactly these headers (fetch would set Host itself), a
 * JSON body's type and length added; rejects when no answer comes.
 */
export function rawRequest(
  url: string,
  method: string,
  headers: Record<string, string>,
  body?: string,
): Promise<{ status: number; text: string }> {
  return new Promise((resolve, reject) => {
    const req = httpRequest(
      url,
      {
        method,
        headers: {
          ...headers,
          ...(body !== undefined
            ? { 'content-type': 'application/json', 'content-length': String(Buffer.byteLength(body)) }
            : {}),
        },
      },
      (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (c: string) => (text += c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, text }));
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}
