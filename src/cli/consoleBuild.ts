import { spawn } from 'node:child_process';
import { existsSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import type { Logger } from '../logger';

const ROOT = join(__dirname, '..', '..');
export const WEB_DIR = join(ROOT, 'web');
export const CONSOLE_DIST = join(WEB_DIR, 'dist');
const VITE = join(ROOT, 'node_modules', 'vite', 'bin', 'vite.js');

/** The newest modification time of the console's sources (web/ without dist/). */
function newestSource(dir: string): number {
  let newest = 0;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    if (entry.name === 'dist' || entry.name === 'node_modules' || entry.name.startsWith('.')) continue;
    const path = join(dir, entry.name);
    newest = Math.max(newest, entry.isDirectory() ? newestSource(path) : statSync(path).mtimeMs);
  }
  return newest;
}

/** Why the console needs a build: web/dist is missing, or older than a source file; null when it is current. */
export function consoleBuildNeeded(): 'missing' | 'stale' | null {
  const index = join(CONSOLE_DIST, 'index.html');
  if (!existsSync(index)) return 'missing';
  return newestSource(WEB_DIR) > statSync(index).mtimeMs ? 'stale' : null;
}

/** Runs `vite build` for web/ as a child process, its output shown as progress. */
export function buildConsole(log: Pick<Logger, 'info' | 'error'>): Promise<void> {
  return new Promise((resolve, reject) => {
    const started = Date.now();
    const out: string[] = [];
    const env: NodeJS.ProcessEnv = { ...process.env, NODE_ENV: 'production', NO_COLOR: '1' };
    delete env.FORCE_COLOR;
    const child = spawn(process.execPath, [VITE, 'build', '--logLevel', 'info'], {
      cwd: WEB_DIR,
      env,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const progress = (chunk: Buffer) => {
      for (const line of chunk.toString().split('\n')) {
        if (!line.trim()) continue;
        out.push(line);
        process.stdout.write(`[console] ${line}\n`);
      }
    };
    child.stdout.on('data', progress);
    child.stderr.on('data', progress);
    child.once('error', reject);
    child.once('exit', (code, signal) => {
      if (code === 0) {
        log.info({ ms: Date.now() - started, dir: CONSOLE_DIST }, 'console built');
        resolve();
      } else {
        reject(new Error(`vite build exited with ${code ?? signal}: ${out.slice(-5).join(' | ')}`));
      }
    });
  });
}

/**
 * Builds the console when web/dist is missing (a fresh clone) or older than its
 * sources. A failed build does not stop the stack: the API serves a page saying so.
 */
export async function ensureConsoleBuilt(log: Pick<Logger, 'info' | 'error'>): Promise<boolean> {
  const why = consoleBuildNeeded();
  if (!why) return true;
  log.info({ reason: why }, 'building the web console (vite build)');
  try {
    await buildConsole(log);
    return true;
  } catch (err) {
    log.error({ err: (err as Error).message }, 'the web console could not be built; the API runs without it');
    return false;
  }
}
