import { execFileSync } from 'node:child_process';
import { join } from 'node:path';

const ROOT = join(__dirname, '..', '..');

/**
 * Runs scripts/<script> (it installs a tool when needed) and returns the last line it
 * prints (the tool's path). A failure throws `cannot` plus how to see why: the suite
 * fails, never skips silently.
 */
export function runInstallScript(script: string, cannot: string): string {
  try {
    const out = execFileSync('bash', [join(ROOT, 'scripts', script)], {
      cwd: ROOT,
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'pipe'],
      timeout: 600_000,
    });
    return out.trim().split('\n').pop()!;
  } catch (err) {
    const e = err as { stderr?: string; message: string };
    throw new Error(`${cannot}\nRun \`bash scripts/${script}\` to see why. ${e.stderr ?? e.message}`, {
      cause: err,
    });
  }
}
