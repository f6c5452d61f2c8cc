import pg from 'pg';

// BIGINT (int8) columns hold sats: parse them to numbers, refusing anything past
// Number.MAX_SAFE_INTEGER (21e14 sats fits with room to spare). NUMERIC stays a
// string so fiat and fractions are never rounded by a float.
pg.types.setTypeParser(pg.types.builtins.INT8, (value: string) => {
  const n = Number(value);
  if (!Number.isSafeInteger(n)) throw new Error(`int8 value ${value} is past the safe integer range`);
  return n;
});

export type Pool = pg.Pool;
export type PoolClient = pg.PoolClient;
export type Queryable = pg.Pool | pg.PoolClient;

export interface PoolOptions {
  connectionString: string;
  max?: number;
  applicationName?: string;
}

export function createPool(opts: PoolOptions): pg.Pool {
  const pool = new pg.Pool({
    connectionString: opts.connectionString,
    max: opts.max ?? 10,
    application_name: opts.applicationName ?? 'satmachine',
    connectionTimeoutMillis: 10_000,
    idleTimeoutMillis: 30_000,
  });
  // An idle client that loses its connection (PostgreSQL restarted) emits 'error'
  // on the pool; without a listener that would crash the process.
  pool.on('error', () => undefined);
  return pool;
}

/** Runs `fn` in one transaction; rolls back on any error. */
export async function withTransaction<T>(
  pool: pg.Pool,
  fn: (client: pg.PoolClient) => Promise<T>,
): Promise<T> {
  const client = await pool.connect();
  // The pool listens for errors on idle clients only. A checked-out client whose
  // connection dies between two queries (PostgreSQL shutting down sends FATAL 57P01
  // while a payment holds the leg lock) emits 'error'; unheard, that is an uncaught
  // exception that kills the process. The next query on it fails instead.
  let broken: Error | undefined;
  const onError = (err: Error) => {
    broken = err;
  };
  client.on('error', onError);
  try {
    await client.query('BEGIN');
    const result = await fn(client);
    await client.query('COMMIT');
    return result;
  } catch (err) {
    await client.query('ROLLBACK').catch((rollbackErr: Error) => {
      broken ??= rollbackErr;
    });
    throw err;
  } finally {
    client.off('error', onError);
    // a broken connection is discarded, never handed to the next caller
    client.release(broken);
  }
}
