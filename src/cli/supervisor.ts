import { spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import type { Logger } from '../logger';

const MAIN = join(__dirname, 'main.ts');

/**
 * One satmachine sub-command run as a child process and restarted (with backoff)
 * when it dies; stopped with SIGTERM, then SIGKILL after a grace period.
 */
export class SupervisedProcess {
  private child: ChildProcess | null = null;
  private stopping = false;
  private backoffMs = 1000;
  private startedAt = 0;

  constructor(
    readonly command: string,
    private readonly env: NodeJS.ProcessEnv,
    private readonly log: Logger,
  ) {}

  start(): this {
    this.spawn();
    return this;
  }

  private spawn() {
    this.startedAt = Date.now();
    const child = spawn(process.execPath, ['--import', 'tsx', MAIN, this.command], {
      env: this.env,
      stdio: ['ignore', 'inherit', 'inherit'],
      // its own process group: a Ctrl-C reaches the supervisor only, which stops the children
      // in order (they exit by themselves if the supervisor dies)
      detached: true,
    });
    this.child = child;
    child.once('exit', (code, signal) => {
      if (this.child === child) this.child = null;
      if (this.stopping) return;
      if (Date.now() - this.startedAt > 60_000) this.backoffMs = 1000;
      this.log.error(
        { process: this.command, code, signal, restart_in_ms: this.backoffMs },
        `${this.command} exited; restarting`,
      );
      setTimeout(() => {
        if (!this.stopping) this.spawn();
      }, this.backoffMs);
      this.backoffMs = Math.min(this.backoffMs * 2, 30_000);
    });
  }

  get pid(): number | undefined {
    return this.child?.pid;
  }

  async stop(graceMs = 15_000): Promise<void> {
    this.stopping = true;
    const child = this.child;
    if (!child || child.exitCode !== null) return;
    const exited = new Promise<void>((r) => child.once('exit', () => r()));
    child.kill('SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
    await exited;
    clearTimeout(timer);
  }
}
