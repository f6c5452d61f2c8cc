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
  /** PostgreSQL `statement_timeout` of every connection, in ms (0 = none); default PG_STATEMENT_TIMEOUT_MS or 30 s */
  statementTimeoutMs?: number;
  /**
   * PostgreSQL `idle_in_transaction_session_timeout`, in ms (0 = none); default
   * PG_IDLE_IN_TRANSACTION_TIMEOUT_MS or 60 s. A transaction left open (a process
   * stuck between two queries while it holds a leg or wallet lock) is ended by the
   * server, its locks released.
   */
  idleInTransactionTimeoutMs?: number;
}

export const DEFAULT_STATEMENT_TIMEOUT_MS = 30_000;
export const DEFAULT_IDLE_IN_TRANSACTION_TIMEOUT_MS = 60_000;
/**
 * The worker's pool: `payLeg` keeps the leg's transaction (its lock) open, idle, while a
 * payment backend works — one LNbits pass (look-ups, a replaced invoice, the payment) can
 * take about two minutes. Were the server to end that session, the leg's lock would go
 * while the payment goes on, and a force-reset, retry or void could act on a leg still
 * being paid. So the worker's idle limit is far above the longest pass (PG_WORKER_IDLE_IN_TRANSACTION_TIMEOUT_MS).
 */
export const WORKER_IDLE_IN_TRANSACTION_TIMEOUT_MS = 600_000;

/** PG_WORKER_IDLE_IN_TRANSACTION_TIMEOUT_MS or 10 min: see WORKER_IDLE_IN_TRANSACTION_TIMEOUT_MS. */
export function workerIdleInTransactionTimeoutMs(): number {
  return msFromEnv('PG_WORKER_IDLE_IN_TRANSACTION_TIMEOUT_MS', WORKER_IDLE_IN_TRANSACTION_TIMEOUT_MS);
}

function msFromEnv(name: string, fallback: number): number {
  const raw = process.env[name];
  if (raw === undefined || raw.trim() === '') return fallback;
  const n = Number(raw);
  if (!Number.isSafeInteger(n) || n < 0) {
    throw new Error(`${name} must be a whole number of milliseconds >= 0 (0 = no limit), got "${raw}"`);
  }
  return n;
}

/**
 * Every pool of satmachine (API, worker, ingest, relay, migrations, CLI) is made
 * here, so every connection carries the same server-side limits.
 */
export function createPool(opts: PoolOptions): pg.Pool {
  const statementTimeout =
    opts.statementTimeoutMs ?? msFromEnv('PG_STATEMENT_TIMEOUT_MS', DEFAULT_STATEMENT_TIMEOUT_MS);
  const idleInTransaction =
    opts.idleInTransactionTimeoutMs ??
    msFromEnv('PG_IDLE_IN_TRANSACTION_TIMEOUT_MS', DEFAULT_IDLE_IN_TRANSACTION_TIMEOUT_MS);
  const pool = new pg.Pool({
    connectionString: opts.connectionString,
    max: opts.max ?? 10,
    application_name: opts.applicationName ?? 'satmachine',
    connectionTimeoutMillis: 10_000,
    idleTimeoutMillis: 30_000,
    // startup parameters: set on every new connection before its first query (0 = not sent, no limit)
    statement_timeout: statementTimeout,
    idle_in_transaction_session_timeout: idleInTransaction,
  });
  // An idle client that loses its connection (PostgreSQL restarted) emits 'error'
  // on the pool; without a listener that would crash the process.
  pool.on('error', () => undefined);
  return pool;
}

/** Runs `fn` in one transaction; rolls back on any error. */
/** Whether PostgreSQL answers (readiness probes): never throws. */
export async function databaseReachable(db: Queryable): Promise<boolean> {
  return db
    .query('SELECT 1')
    .then(() => true)
    .catch(() => false);
}

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
