import { spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { TEST_SECRET_KEY } from './stack';

const MAIN = join(__dirname, '..', '..', 'src', 'cli', 'main.ts');

export interface SpawnedProcess {
  proc: ChildProcess;
  /** resolves when a log line contains `text` */
  waitFor(text: string, timeoutMs?: number): Promise<void>;
  kill(signal?: NodeJS.Signals): Promise<void>;
  output(): string;
}

/**
 * Runs a satmachine sub-command (`worker`, `ingest`, `api`) as a real OS process
 * against the test stack, so tests can kill -9 it.
 */
export function spawnSatmachine(
  command: string,
  env: { databaseUrl: string; taskQueue: string; extra?: Record<string, string> },
): SpawnedProcess {
  const proc = spawn(process.execPath, ['--import', 'tsx', MAIN, command], {
    env: {
      ...process.env,
      NODE_ENV: 'production',
      LOG_LEVEL: 'info',
      DATABASE_URL: env.databaseUrl,
      TEMPORAL_ADDRESS: process.env.SATMACHINE_TEST_TEMPORAL_ADDRESS!,
      TEMPORAL_TASK_QUEUE: env.taskQueue,
      SATMACHINE_SECRET_KEY: TEST_SECRET_KEY,
      WORKFLOW_BUNDLE_PATH: process.env.SATMACHINE_TEST_BUNDLE!,
      ...env.extra,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  const waiters: { text: string; resolve: () => void }[] = [];
  const onData = (d: Buffer) => {
    out += d.toString('utf8');
    for (const w of [...waiters]) {
      if (out.includes(w.text)) {
        waiters.splice(waiters.indexOf(w), 1);
        w.resolve();
      }
    }
  };
  proc.stdout.on('data', onData);
  proc.stderr.on('data', onData);
  return {
    proc,
    output: () => out,
    waitFor: (text, timeoutMs = 60_000) =>
      new Promise<void>((resolve, reject) => {
        if (out.includes(text)) return resolve();
        const timer = setTimeout(
          () =>
            reject(
              new Error(`"${text}" not seen from ${command} within ${timeoutMs} ms:\n${out.slice(-2000)}`),
            ),
          timeoutMs,
        );
        waiters.push({
          text,
          resolve: () => {
            clearTimeout(timer);
            resolve();
          },
        });
        proc.once('exit', (code) => {
          clearTimeout(timer);
          reject(new Error(`${command} exited (${code}) before "${text}":\n${out.slice(-2000)}`));
        });
      }),
    kill: async (signal = 'SIGKILL') => {
      if (proc.exitCode !== null || proc.signalCode !== null) return;
      const exited = new Promise<void>((r) => proc.once('exit', () => r()));
      proc.kill(signal);
      await exited;
    },
  };
}
