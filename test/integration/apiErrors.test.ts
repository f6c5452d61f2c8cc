import type { AddressInfo } from 'node:net';
import { Writable } from 'node:stream';
import express from 'express';
import pino from 'pino';
import { errorHandler } from '../../src/api/errors';
import { freshDatabase } from '../helpers/stack';

/** PostgreSQL data exceptions (SQLSTATE class 22) answer a 422 of ours; the database text goes to the log only. */
describe('SQLSTATE class 22 answers', () => {
  let db: Awaited<ReturnType<typeof freshDatabase>>;
  let server: import('node:http').Server;
  let url: string;
  const logLines: Record<string, unknown>[] = [];

  beforeAll(async () => {
    db = await freshDatabase();
    const sink = new Writable({
      write(chunk: Buffer, _enc, done) {
        for (const line of chunk.toString('utf8').split('\n').filter(Boolean))
          logLines.push(JSON.parse(line));
        done();
      },
    });
    const log = pino({ level: 'info' }, sink);
    const app = express();
    // each route makes PostgreSQL refuse a value the way a request could
    const refusals: Record<string, string> = {
      'invalid-text': "SELECT 'not-a-number-secret-text'::int",
      'out-of-range': 'SELECT 99999999999999999999::bigint',
      division: 'SELECT 1 / 0',
      'nul-byte': "SELECT convert_from('\\x00'::bytea, 'UTF8')",
    };
    app.get('/refuse/:kind', async (req) => {
      await db.pool.query(refusals[req.params.kind]!);
    });
    app.use(errorHandler(log));
    server = await new Promise((resolve) => {
      const s = app.listen(0, '127.0.0.1', () => resolve(s));
    });
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(async () => {
    await new Promise<void>((r) => server.close(() => r()));
    await db.close();
  });

  it.each(['invalid-text', 'out-of-range', 'division', 'nul-byte'])(
    '%s: a 422 with our message, no database text; the database text is logged',
    async (kind) => {
      const before = logLines.length;
      const res = await fetch(`${url}/refuse/${kind}`);
      expect(res.status).toBe(422);
      const body = (await res.json()) as { error: { code: string; message: string; details: unknown } };
      expect(body.error.code).toBe('validation_failed');
      expect(body.error.message).toMatch(/out of range or malformed.*openapi\.json/);
      expect(body.error.details).toBeNull();
      const text = JSON.stringify(body);
      // nothing PostgreSQL wrote: no type names, no echoed value, no SQLSTATE wording
      for (const leak of [
        'integer',
        'bigint',
        'syntax',
        'division',
        'not-a-number-secret-text',
        'UTF8',
        '0x00',
      ])
        expect(text).not.toContain(leak);
      const logged = logLines.slice(before).find((l) => l.msg === 'a value was refused by the database');
      expect(logged).toBeDefined();
      expect(String(logged!.sqlstate)).toMatch(/^22/);
      expect(typeof logged!.db_message).toBe('string');
      expect((logged!.db_message as string).length).toBeGreaterThan(0);
    },
  );
});
