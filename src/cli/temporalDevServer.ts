import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, openSync, readFileSync, writeFileSync, rmSync } from 'node:fs';
import { join, resolve } from 'node:path';
import type { Logger } from '../logger';
import { SEARCH_ATTRIBUTES } from '../contract';
import { stopChild, stopLeftover, waitForTemporal } from './childProcesses';

const ROOT = resolve(__dirname, '..', '..');

/** The temporal CLI: $TEMPORAL_BIN, else what scripts/install-temporal.sh installed, else PATH. */
export function resolveTemporalBinary(): string {
  if (process.env.TEMPORAL_BIN) return process.env.TEMPORAL_BIN;
  const recorded = join(ROOT, '.tools', 'temporal-path');
  if (existsSync(recorded)) {
    const p = readFileSync(recorded, 'utf8').trim();
    if (p && existsSync(p)) return p;
  }
  const local = join(ROOT, '.tools', 'bin', 'temporal');
  if (existsSync(local)) return local;
  for (const dir of (process.env.PATH ?? '').split(':')) {
    if (dir && existsSync(join(dir, 'temporal'))) return join(dir, 'temporal');
  }
  throw new Error(
    'the temporal CLI is not installed: run `bash scripts/install-temporal.sh` (npm start and npm test do it)',
  );
}

/**
 * The dev server's dynamic config, as `satmachine start` and the bench run it (the
 * bench records it). Exported so a result file says what the server really had.
 */
export const DEV_SERVER_DYNAMIC_CONFIG: Readonly<Record<string, boolean | number>> = {
  // activities go back in the workflow task answer when a poller is free: one round trip less per leg
  'system.enableActivityEagerExecution': true,
  // update-with-start: operator actions on a settlement whose workflow closed (docs/settlement.md §7.1)
  'frontend.enableExecuteMultiOperation': true,
  // the dev server has one history shard; its cache of open workflows' state holds 512 by
  // default, so a backlog of more open settlements (the bench offers ~1,000 at 20/s) reloads
  // each one's state from SQLite at every task. 4,096 covers that backlog several times.
  'history.cacheMaxSize': 4096,
  // the events cache (512 KiB by default) keeps the events a task needs (an activity's
  // scheduled event at its completion) without reading the history back
  'history.eventsCacheMaxSizeBytes': 32 * 1024 * 1024,
};

export interface DevServerOptions {
  dataDir: string;
  host: string;
  port: number;
  uiPort: number;
  namespace: string;
  logger: Logger;
}

export interface RunningDevServer {
  address: string;
  uiUrl: string;
  pid: number | undefined;
  stop(): Promise<void>;
}

/**
 * Runs `temporal server start-dev` with a SQLite file under the data directory
 * (WAL, synchronous=normal), the Web UI, and our search attributes registered.
 * A server left behind by a killed earlier run is stopped first (pid file).
 */
export async function startTemporalDevServer(opts: DevServerOptions): Promise<RunningDevServer> {
  const bin = resolveTemporalBinary();
  mkdirSync(join(opts.dataDir, 'run'), { recursive: true });
  const pidFile = join(opts.dataDir, 'run', 'temporal.pid');
  await stopLeftover(pidFile, 'Temporal dev server', opts.logger);
  const args = [
    'server',
    'start-dev',
    '--db-filename',
    join(opts.dataDir, 'temporal.db'),
    '--ip',
    opts.host,
    '--port',
    String(opts.port),
    '--ui-port',
    String(opts.uiPort),
    '--namespace',
    opts.namespace,
    '--log-level',
    'warn',
    '--sqlite-pragma',
    'journal_mode=wal',
    '--sqlite-pragma',
    'synchronous=normal',
    ...Object.entries(DEV_SERVER_DYNAMIC_CONFIG).flatMap(([k, v]) => [
      '--dynamic-config-value',
      `${k}=${JSON.stringify(v)}`,
    ]),
    ...SEARCH_ATTRIBUTES.flatMap((k) => ['--search-attribute', `${k.name}=Keyword`]),
  ];
  const logFd = openSync(join(opts.dataDir, 'temporal.log'), 'a');
  // its own process group: a Ctrl-C in the terminal reaches the supervisor, which stops the
  // worker before Temporal (the pid file stops one left behind by a kill -9 at the next start)
  const child = spawn(bin, args, { stdio: ['ignore', logFd, logFd], detached: true });
  writeFileSync(pidFile, String(child.pid));
  let exited = false;
  child.once('exit', () => (exited = true));

  const address = `${opts.host}:${opts.port}`;
  await waitForTemporal(address, {
    timeoutMs: 90_000,
    exited: () => exited,
    what: 'Temporal dev server',
    hint:
      `see ${join(opts.dataDir, 'temporal.log')}; is port ${opts.port} or ${opts.uiPort} taken? ` +
      'Set TEMPORAL_ADDRESS to use a running server',
  });
  return {
    address,
    pid: child.pid,
    uiUrl: `http://${opts.host}:${opts.uiPort}`,
    stop: async () => {
      await stopChild(child);
      rmSync(pidFile, { force: true });
    },
  };
}
