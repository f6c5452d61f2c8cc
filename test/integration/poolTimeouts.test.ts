import {
  createPool,
  DEFAULT_IDLE_IN_TRANSACTION_TIMEOUT_MS,
  DEFAULT_STATEMENT_TIMEOUT_MS,
} from '../../src/db/pool';
import { migrate } from '../../src/db/migrate';
import { freshDatabase } from '../helpers/stack';

/** Every pool carries statement_timeout and idle_in_transaction_session_timeout (src/db/pool.ts). */
describe('pool timeouts', () => {
  let db: Awaited<ReturnType<typeof freshDatabase>>;
  beforeAll(async () => {
    db = await freshDatabase();
  });
  afterAll(async () => {
    await db.close();
  });

  const show = async (pool: ReturnType<typeof createPool>) => {
    const client = await pool.connect();
    try {
      const st = (await client.query<{ statement_timeout: string }>('SHOW statement_timeout')).rows[0]!;
      const idle = (
        await client.query<{ idle_in_transaction_session_timeout: string }>(
          'SHOW idle_in_transaction_session_timeout',
        )
      ).rows[0]!;
      return { statement: st.statement_timeout, idle: idle.idle_in_transaction_session_timeout };
    } finally {
      client.release();
    }
  };

  it('a pooled connection has the defaults (30 s / 60 s)', async () => {
    expect(DEFAULT_STATEMENT_TIMEOUT_MS).toBe(30_000);
    expect(DEFAULT_IDLE_IN_TRANSACTION_TIMEOUT_MS).toBe(60_000);
    // the helper's pool is made by createPool without timeouts of its own
    expect(await show(db.pool)).toEqual({ statement: '30s', idle: '1min' });
  });

  it('explicit options and the environment variables set them', async () => {
    const explicit = createPool({
      connectionString: db.url,
      max: 1,
      statementTimeoutMs: 1500,
      idleInTransactionTimeoutMs: 2500,
    });
    try {
      expect(await show(explicit)).toEqual({ statement: '1500ms', idle: '2500ms' });
    } finally {
      await explicit.end();
    }
    process.env.PG_STATEMENT_TIMEOUT_MS = '5000';
    process.env.PG_IDLE_IN_TRANSACTION_TIMEOUT_MS = '0';
    try {
      const fromEnv = createPool({ connectionString: db.url, max: 1 });
      try {
        expect(await show(fromEnv)).toEqual({ statement: '5s', idle: '0' });
      } finally {
        await fromEnv.end();
      }
    } finally {
      delete process.env.PG_STATEMENT_TIMEOUT_MS;
      delete process.env.PG_IDLE_IN_TRANSACTION_TIMEOUT_MS;
    }
  });

  it('a malformed environment value is refused with the variable named', () => {
    process.env.PG_STATEMENT_TIMEOUT_MS = '30s';
    try {
      expect(() => createPool({ connectionString: db.url })).toThrow(/PG_STATEMENT_TIMEOUT_MS.*milliseconds/);
    } finally {
      delete process.env.PG_STATEMENT_TIMEOUT_MS;
    }
  });

  it('a statement past the timeout is cancelled (57014) and the connection stays usable', async () => {
    const short = createPool({ connectionString: db.url, max: 1, statementTimeoutMs: 200 });
    try {
      await expect(short.query('SELECT pg_sleep(5)')).rejects.toMatchObject({ code: '57014' });
      expect((await short.query<{ one: number }>('SELECT 1 AS one')).rows[0]!.one).toBe(1);
    } finally {
      await short.end();
    }
  });

  it('a transaction left idle is ended by the server and its locks released', async () => {
    const short = createPool({ connectionString: db.url, max: 2, idleInTransactionTimeoutMs: 300 });
    try {
      const holder = await short.connect();
      const lost = new Promise<Error>((resolve) => holder.once('error', resolve));
      await holder.query('BEGIN');
      await holder.query('SELECT pg_advisory_xact_lock(4242)');
      // the server terminates the idle-in-transaction session (FATAL 25P03)
      expect(await lost).toMatchObject({ code: '25P03' });
      holder.release(true);
      // the lock went with it (once the ended backend has exited): another connection gets it
      const other = await short.connect();
      try {
        await other.query('SELECT pg_advisory_lock(4242)');
        const { rows } = await other.query<{ n: number }>(
          "SELECT count(*)::int AS n FROM pg_locks WHERE locktype = 'advisory' AND objid = 4242 AND granted",
        );
        expect(rows[0]!.n).toBe(1);
        await other.query('SELECT pg_advisory_unlock(4242)');
      } finally {
        other.release();
      }
    } finally {
      await short.end();
    }
  });

  it('migrate lifts the statement timeout for its own transaction', async () => {
    const short = createPool({ connectionString: db.url, max: 1, statementTimeoutMs: 100 });
    try {
      const slow = [{ version: 9999, name: '9999_slow', sql: 'SELECT pg_sleep(0.3)' }];
      await expect(migrate(short, slow)).resolves.toMatchObject({ applied: ['9999_slow'] });
    } finally {
      await short.end();
    }
  });
});
