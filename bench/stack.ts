import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client, Connection } from '@temporalio/client';
import { startEmbeddedPostgres, ensureDatabase, type RunningPostgres } from '../src/db/embeddedPostgres';
import { migrate } from '../src/db/migrate';
import { createPool, type Pool } from '../src/db/pool';
import { logger } from '../src/logger';
import { SecretBox } from '../src/security/secretBox';
import { SupervisedProcess } from '../src/cli/supervisor';
import { startTemporalDevServer } from '../src/cli/temporalDevServer';
import { startTemporalServer } from '../src/cli/temporalServer';
import { bundleWorkflows } from '../src/worker/worker';
import { freePort, freePortBlock } from '../test/helpers/ports';

export { freePort };

export const BENCH_SECRET = 'ab'.repeat(32);

export interface BenchStack {
  dir: string;
  pool: Pool;
  databaseUrl: string;
  temporal: Client;
  temporalAddress: string;
  apiUrl: string;
  relayUrl: string;
  secretBox: SecretBox;
  taskQueue: string;
  /** pids of every part, for the process monitor */
  pids(): Record<string, number | undefined>;
  stop(): Promise<void>;
}

async function waitHttp(url: string, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      const r = await fetch(url);
      if (r.ok) return;
    } catch {
      /* not yet */
    }
    if (Date.now() > deadline) throw new Error(`${url} not ready`);
    await new Promise((r) => setTimeout(r, 250));
  }
}

/**
 * The real stack, as `satmachine start` runs it, on free ports in a temporary
 * directory: embedded PostgreSQL (default durability settings), the Temporal dev
 * server (SQLite file, WAL), and relay / worker / ingest / api as separate processes.
 */
export interface BenchTemporal {
  /** `dev`: the CLI dev server as `npm start` runs it; `server`: the real server (TEMPORAL_MODE=server) */
  mode: 'dev' | 'server';
  /** history shards of the real server */
  shards: number;
}

export async function startBenchStack(
  log: (s: string) => void,
  temporalMode: BenchTemporal = { mode: 'dev', shards: 4 },
): Promise<BenchStack> {
  const dir = mkdtempSync(join(tmpdir(), 'satmachine-bench-'));
  chmodSync(dir, 0o755);
  const quiet = logger.child({ component: 'bench' });
  log('starting PostgreSQL');
  const pgPort = await freePort();
  const pg: RunningPostgres = await startEmbeddedPostgres({
    dir: join(dir, 'pg'),
    port: pgPort,
    logger: quiet,
    persistent: false,
  });
  await ensureDatabase(pg.url('postgres'), 'satmachine');
  const databaseUrl = pg.url('satmachine');
  const pool = createPool({ connectionString: databaseUrl, max: 20, applicationName: 'bench' });
  await migrate(pool);

  const tPort = temporalMode.mode === 'server' ? await freePortBlock(9) : await freePort();
  let dev: { address: string; pid: number | undefined; stop: () => Promise<void> };
  if (temporalMode.mode === 'server') {
    log(`starting the Temporal server (${temporalMode.shards} shards, PostgreSQL persistence)`);
    dev = await startTemporalServer({
      dataDir: dir,
      postgresUrl: pg.url('postgres'),
      host: '127.0.0.1',
      port: tPort,
      uiPort: await freePort(),
      shards: temporalMode.shards,
      namespace: 'default',
      logger: quiet,
    });
  } else {
    log('starting the Temporal dev server');
    dev = await startTemporalDevServer({
      dataDir: dir,
      host: '127.0.0.1',
      port: tPort,
      uiPort: await freePort(),
      namespace: 'default',
      logger: quiet,
    });
  }
  const connection = await Connection.connect({ address: dev.address });
  const temporal = new Client({ connection, namespace: 'default' });

  log('bundling workflows');
  const bundlePath = join(dir, 'workflow-bundle.js');
  writeFileSync(bundlePath, (await bundleWorkflows()).code);

  const apiPort = await freePort();
  const relayPort = await freePort();
  const taskQueue = 'bench';
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    NODE_ENV: 'production',
    LOG_LEVEL: 'warn',
    DATABASE_URL: databaseUrl,
    TEMPORAL_ADDRESS: dev.address,
    TEMPORAL_TASK_QUEUE: taskQueue,
    NOSTR_RELAYS: `ws://127.0.0.1:${relayPort}`,
    RELAY_PORT: String(relayPort),
    PORT: String(apiPort),
    SATMACHINE_SECRET_KEY: BENCH_SECRET,
    WORKFLOW_BUNDLE_PATH: bundlePath,
    SATMACHINE_SUPERVISOR_PID: String(process.pid),
  };
  const quietLog = logger.child({ component: 'bench-supervisor' });
  const children = {
    relay: new SupervisedProcess('relay', env, quietLog).start(),
    worker: new SupervisedProcess('worker', env, quietLog).start(),
    ingest: new SupervisedProcess('ingest', env, quietLog).start(),
    api: new SupervisedProcess('api', env, quietLog).start(),
  };
  const apiUrl = `http://127.0.0.1:${apiPort}`;
  log('waiting for the API');
  await waitHttp(`${apiUrl}/readyz`, 120_000);
  const postmaster = Number(readFileSync(join(dir, 'pg', 'postmaster.pid'), 'utf8').split('\n')[0]);
  return {
    dir,
    pool,
    databaseUrl,
    temporal,
    temporalAddress: dev.address,
    apiUrl,
    relayUrl: `ws://127.0.0.1:${relayPort}`,
    secretBox: new SecretBox(BENCH_SECRET),
    taskQueue,
    pids: () => ({
      postgres: postmaster,
      temporal: dev.pid,
      relay: children.relay.pid,
      worker: children.worker.pid,
      ingest: children.ingest.pid,
      api: children.api.pid,
      bench: process.pid,
    }),
    stop: async () => {
      await Promise.all(Object.values(children).map((c) => c.stop()));
      await connection.close();
      await dev.stop();
      await pool.end();
      await pg.stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
