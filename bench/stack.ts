import { spawn, type ChildProcess } from 'node:child_process';
import { chmodSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { Client, Connection } from '@temporalio/client';
import { startEmbeddedPostgres, ensureDatabase, type RunningPostgres } from '../src/db/embeddedPostgres';
import { migrate } from '../src/db/migrate';
import { createPool, type Pool } from '../src/db/pool';
import { logger } from '../src/logger';
import { SecretBox } from '../src/security/secretBox';
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
  /** the engine-baseline worker (bench/engine): the product's worker command on its own queue */
  startEngineWorker(): Promise<void>;
  stopEngineWorker(): Promise<void>;
  engineTaskQueue: string;
  /** every setting as the processes really ran with it (command lines, pools, worker options, PostgreSQL) */
  settings(): Promise<Record<string, unknown>>;
  stop(): Promise<void>;
}

const ROOT = resolve(__dirname, '..');
const MAIN = join(ROOT, 'src', 'cli', 'main.ts');
const PROBE = pathToFileURL(join(__dirname, 'workerProbe.ts')).href;

/**
 * One satmachine sub-command as its own process, as `satmachine start` runs it, with
 * bench/workerProbe.ts preloaded (it records the process's real settings). Not restarted:
 * a part that dies is a failed bench, and is reported.
 */
class BenchProcess {
  private child: ChildProcess | null = null;
  exits: string[] = [];
  private stopping = false;

  constructor(
    readonly name: string,
    readonly command: string,
    private readonly env: NodeJS.ProcessEnv,
    readonly probeFile: string,
    private readonly log: (s: string) => void,
  ) {}

  start(): this {
    // BENCH_CPU_PROF=DIR: each part writes a V8 CPU profile into DIR when it stops (`--cpu-prof`)
    const profile = process.env.BENCH_CPU_PROF
      ? [
          '--cpu-prof',
          `--cpu-prof-dir=${process.env.BENCH_CPU_PROF}`,
          `--cpu-prof-name=${this.name}.cpuprofile`,
        ]
      : [];
    // BENCH_NODE_ARGS: extra Node flags for every part (a diagnosis: `--trace-gc`, …)
    profile.push(...(process.env.BENCH_NODE_ARGS?.split(/\s+/).filter(Boolean) ?? []));
    const child = spawn(
      process.execPath,
      [...profile, '--import', 'tsx', '--import', PROBE, MAIN, this.command],
      {
        env: { ...this.env, BENCH_PROBE_FILE: this.probeFile },
        stdio: ['ignore', 'inherit', 'inherit'],
        detached: true,
      },
    );
    this.child = child;
    child.once('exit', (code, signal) => {
      if (this.stopping) return;
      this.exits.push(`${new Date().toISOString()} code ${code} signal ${signal}`);
      this.log(`!! ${this.name} exited (code ${code}, signal ${signal}): the figures after this are void`);
    });
    return this;
  }

  get pid(): number | undefined {
    return this.child?.exitCode === null ? this.child.pid : undefined;
  }

  async stop(graceMs = 15_000): Promise<void> {
    this.stopping = true;
    const child = this.child;
    if (!child || child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise<void>((r) => child.once('exit', () => r()));
    child.kill('SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
    await exited;
    clearTimeout(timer);
  }

  probe(): unknown {
    try {
      return JSON.parse(readFileSync(this.probeFile, 'utf8'));
    } catch {
      return null;
    }
  }
}

function cmdline(pid: number | undefined): string[] | null {
  if (!pid) return null;
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').filter(Boolean);
  } catch {
    return null;
  }
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
    // BENCH_PG_LOG=1: PostgreSQL's own log on stderr, with BENCH_PG_FLAGS (a diagnosis:
    // `-c log_min_duration_statement=10 -c log_checkpoints=on -c log_autovacuum_min_duration=0`)
    logger: process.env.BENCH_PG_LOG ? logger.child({ component: 'postgres' }, { level: 'debug' }) : quiet,
    persistent: false,
    flags: [
      ...(process.env.BENCH_PG_STATEMENTS
        ? [
            '-c',
            'shared_preload_libraries=pg_stat_statements',
            '-c',
            'pg_stat_statements.track=all',
            '-c',
            'pg_stat_statements.track_planning=on',
          ]
        : []),
      ...(process.env.BENCH_PG_FLAGS?.split(/\s+/).filter(Boolean) ?? []),
    ],
  });
  await ensureDatabase(pg.url('postgres'), 'satmachine');
  const databaseUrl = pg.socketUrl('satmachine');
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
  const part = (name: string, command = name, extra: NodeJS.ProcessEnv = {}) =>
    new BenchProcess(name, command, { ...env, ...extra }, join(dir, `probe-${name}.json`), log);
  const children = {
    relay: part('relay').start(),
    worker: part('worker').start(),
    ingest: part('ingest').start(),
    api: part('api').start(),
  };

  log('bundling the engine-baseline workflow');
  const engineBundlePath = join(dir, 'engine-bundle.js');
  writeFileSync(
    engineBundlePath,
    // the product's bundling: the same sandbox preload (its stack-trace depth) as the product's workflows
    (await bundleWorkflows(require.resolve('./engine/workflow'))).code,
  );
  const engineTaskQueue = 'engine-baseline';
  let engineWorker: BenchProcess | null = null;
  let lastEngineProbe: unknown = null;
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
      ...(engineWorker ? { engine_worker: engineWorker.pid } : {}),
      bench: process.pid,
    }),
    engineTaskQueue,
    startEngineWorker: async () => {
      engineWorker = part('engine_worker', 'worker', {
        TEMPORAL_TASK_QUEUE: engineTaskQueue,
        BENCH_ENGINE_BUNDLE: engineBundlePath,
      }).start();
      // ready once the SDK compiled its options (the probe writes them)
      for (let i = 0; i < 240; i++) {
        const p = engineWorker.probe() as { worker?: unknown } | null;
        if (p?.worker) return;
        await new Promise((r) => setTimeout(r, 250));
      }
      throw new Error('the engine-baseline worker did not start within 60 s');
    },
    stopEngineWorker: async () => {
      if (!engineWorker) return;
      lastEngineProbe = engineWorker.probe();
      await engineWorker.stop();
      engineWorker = null;
    },
    settings: async () => {
      const { rows } = await pool.query<{
        name: string;
        setting: string;
        unit: string | null;
        source: string;
      }>(
        `SELECT name, setting, unit, source FROM pg_settings
          WHERE source NOT IN ('default', 'override')
             OR name IN ('fsync', 'synchronous_commit', 'shared_buffers', 'max_connections', 'wal_level',
                         'full_page_writes', 'work_mem', 'max_wal_size', 'checkpoint_timeout', 'commit_delay')
          ORDER BY name`,
      );
      const dyn = join(dir, 'temporal-server', 'dynamicconfig.yaml');
      return {
        postgres: Object.fromEntries(
          rows.map((r) => [r.name, `${r.setting}${r.unit ? ` ${r.unit}` : ''} (${r.source})`]),
        ),
        temporal: {
          command_line: cmdline(dev.pid),
          ...(existsSync(dyn) ? { dynamic_config: JSON.parse(readFileSync(dyn, 'utf8')) } : {}),
        },
        processes: Object.fromEntries(
          Object.entries(children).map(([n, c]) => [
            n,
            { command_line: cmdline(c.pid), ...(c.probe() as object), exits: c.exits },
          ]),
        ),
        engine_worker: engineWorker?.probe() ?? lastEngineProbe,
        bench_pool: { max: pool.options.max, application_name: 'bench' },
      };
    },
    stop: async () => {
      if (engineWorker) await engineWorker.stop();
      await Promise.all(Object.values(children).map((c) => c.stop()));
      await connection.close();
      await dev.stop();
      await pool.end();
      await pg.stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
