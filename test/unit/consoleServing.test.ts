import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import express from 'express';
import { mountConsole } from '../../src/api/console';

/** src/api/console.ts: the built console at `/`, behind every path the API owns. */
describe('console serving', () => {
  let dir: string;
  let server: Server;
  let url: string;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'console-'));
    mkdirSync(join(dir, 'dist', 'assets'), { recursive: true });
    writeFileSync(join(dir, 'dist', 'index.html'), '<!doctype html><title>console</title>');
    writeFileSync(join(dir, 'dist', 'assets', 'index-abc123.js'), 'console.log(1)');
    // the same order as createApp: health, the API, then the console, then the JSON 404
    const app = express();
    app.get('/healthz', (_req, res) => void res.json({ status: 'ok' }));
    app.get('/api/v1/ping', (_req, res) => void res.json({ pong: true }));
    mountConsole(app, join(dir, 'dist'));
    app.use((_req, res) => void res.status(404).json({ error: { code: 'not_found' } }));
    server = await new Promise<Server>((r) => {
      const s = app.listen(0, '127.0.0.1', () => r(s));
    });
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(async () => {
    await new Promise<void>((r) => server.close(() => r()));
    rmSync(dir, { recursive: true, force: true });
  });

  const get = (path: string, accept = 'text/html') => fetch(`${url}${path}`, { headers: { accept } });

  it('answers / and client-side routes with index.html, with a strict CSP and no caching', async () => {
    for (const path of ['/', '/settlements/abc', '/machines/x/cassettes', '/lp/payouts?x=1']) {
      const res = await get(path);
      expect(res.status).toBe(200);
      expect(await res.text()).toContain('<title>console</title>');
      expect(res.headers.get('cache-control')).toBe('no-cache');
      expect(res.headers.get('content-security-policy')).toContain("script-src 'self'");
      expect(res.headers.get('content-security-policy')).toContain("frame-ancestors 'none'");
      expect(res.headers.get('x-content-type-options')).toBe('nosniff');
    }
  });

  it('serves hashed assets as immutable, and a missing asset is a 404', async () => {
    const res = await get('/assets/index-abc123.js', '*/*');
    expect(res.status).toBe(200);
    expect(res.headers.get('cache-control')).toContain('immutable');
    expect((await get('/assets/nope.js', '*/*')).status).toBe(404);
    expect((await get('/favicon.ico', '*/*')).status).toBe(404);
  });

  it('leaves /api/v1, /healthz, /readyz and /metrics to the API, even unknown paths under them', async () => {
    expect(await (await get('/api/v1/ping')).json()).toEqual({ pong: true });
    expect(await (await get('/healthz')).json()).toEqual({ status: 'ok' });
    for (const path of ['/api/v1/nope', '/api', '/readyz', '/metrics/x', '/api/v1/machines/x']) {
      const res = await get(path);
      expect(res.status).toBe(404);
      expect(await res.json()).toEqual({ error: { code: 'not_found' } });
    }
  });

  it('a request that does not want HTML or is not a GET is not the app', async () => {
    expect((await get('/settlements/abc', 'application/json')).status).toBe(404);
    expect((await fetch(`${url}/settlements/abc`, { method: 'POST' })).status).toBe(404);
  });
});

describe('console serving before the console is built', () => {
  it('says how to build it (503)', async () => {
    const app = express();
    mountConsole(app, join(tmpdir(), 'no-such-console-dir'));
    const server = await new Promise<Server>((r) => {
      const s = app.listen(0, '127.0.0.1', () => r(s));
    });
    try {
      const res = await fetch(`http://127.0.0.1:${(server.address() as AddressInfo).port}/fleet`, {
        headers: { accept: 'text/html' },
      });
      expect(res.status).toBe(503);
      expect(await res.text()).toContain('The console is not built yet');
    } finally {
      await new Promise<void>((r) => server.close(() => r()));
    }
  });
});
