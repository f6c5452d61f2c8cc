import type { ChildProcess } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { Client, Connection, type TLSConfig } from '@temporalio/client';
import type { Logger } from '../logger';

/** Whether a process with this pid exists. */
export function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** Resolves true when `child` has exited (or had already), false after `ms`. */
export async function waitExit(child: ChildProcess, ms: number): Promise<boolean> {
  if (child.exitCode !== null || child.signalCode !== null) return true;
  return new Promise((r) => {
    const t = setTimeout(() => r(false), ms);
    child.once('exit', () => {
      clearTimeout(t);
      r(true);
    });
  });
}

/** SIGTERM, then SIGKILL after `graceMs`: the stop of a server child of ours. */
export async function stopChild(child: ChildProcess, graceMs = 15_000): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  child.kill('SIGTERM');
  if (!(await waitExit(child, graceMs))) {
    child.kill('SIGKILL');
    await waitExit(child, 5000);
  }
}

/**
 * A server started by an earlier run that was killed (kill -9 of the supervisor) is no
 * longer anyone's child: its pid file names it; stop it before starting a new one.
 */
export async function stopLeftover(pidFile: string, what: string, log: Logger): Promise<void> {
  if (!existsSync(pidFile)) return;
  const pid = Number(readFileSync(pidFile, 'utf8'));
  if (!(pid > 0) || !alive(pid)) return;
  log.warn({ pid }, `stopping a ${what} left running by an earlier run`);
  process.kill(pid, 'SIGTERM');
  for (let i = 0; i < 100 && alive(pid); i++) await new Promise((r) => setTimeout(r, 100));
  if (alive(pid)) process.kill(pid, 'SIGKILL');
}

/**
 * Waits until a Temporal frontend answers `GetSystemInfo` on `address`; throws with
 * `hint` when `exited()` turns true first or after `timeoutMs`.
 */
export async function waitForTemporal(
  address: string,
  opts: {
    timeoutMs: number;
    exited: () => boolean;
    what: string;
    hint: string;
    /** a server with TLS on its frontend (the real server's `tls` option) */
    tls?: TLSConfig;
  },
): Promise<void> {
  const deadline = Date.now() + opts.timeoutMs;
  for (;;) {
    if (opts.exited()) throw new Error(`the ${opts.what} exited at start (${opts.hint})`);
    try {
      const connection = await Connection.connect({
        address,
        connectTimeout: 1000,
        ...(opts.tls ? { tls: opts.tls } : {}),
      });
      try {
        await new Client({ connection }).workflowService.getSystemInfo({});
        return;
      } finally {
        await connection.close();
      }
    } catch {
      if (Date.now() > deadline)
        throw new Error(
          `the ${opts.what} did not answer on ${address} within ${opts.timeoutMs / 1000} s (${opts.hint})`,
        );
      await new Promise((r) => setTimeout(r, 250));
    }
  }
}
