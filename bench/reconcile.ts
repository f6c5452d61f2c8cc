/**
 * The checks issue 18 asks for over a database the bench filled: `satmachine
 * reconcile-balances --json` (the CLI command an operator runs, as its own process) and
 * the ledger's double entry, after every other figure, with the stack still up.
 */
import { spawnSync } from 'node:child_process';
import { join, resolve } from 'node:path';
import { ledgerInvariantViolations } from '../src/db/ledger';
import { BENCH_SECRET, type BenchStack } from './stack';

const MAIN = join(resolve(__dirname, '..'), 'src', 'cli', 'main.ts');

export async function reconcileFilledDatabase(stack: BenchStack, log: (s: string) => void) {
  const t = Date.now();
  const run = spawnSync(process.execPath, ['--import', 'tsx', MAIN, 'reconcile-balances', '--json'], {
    env: {
      ...process.env,
      LOG_LEVEL: 'warn',
      DATABASE_URL: stack.databaseUrl,
      SATMACHINE_SECRET_KEY: BENCH_SECRET,
      SATMACHINE_DATA_DIR: stack.dir,
    },
    encoding: 'utf8',
    timeout: 300_000,
  });
  const seconds = Math.round((Date.now() - t) / 100) / 10;
  let report: { ok?: boolean; enrolments?: number; days?: number; differences?: unknown[] } = {};
  try {
    report = JSON.parse(run.stdout.trim().split('\n').pop() ?? '{}') as typeof report;
  } catch {
    /* reported below as not ok */
  }
  const { rows } = await stack.pool.query<{ legs: number }>(
    'SELECT count(*)::int AS legs FROM satmachine.dca_payments',
  );
  const ledger = await ledgerInvariantViolations(stack.pool);
  const result = {
    command: 'satmachine reconcile-balances --json',
    exit_code: run.status,
    ok: run.status === 0 && report.ok === true,
    enrolment_rows: report.enrolments ?? null,
    daily_rows: report.days ?? null,
    differences: report.differences?.length ?? null,
    legs_in_table: rows[0]!.legs,
    seconds,
    ledger_invariant_violations: ledger.length,
    ...(run.status === 0 ? {} : { stderr: run.stderr.slice(-2000) }),
  };
  log(
    `reconcile-balances over the filled database: ${result.ok ? 'ok' : 'NOT OK'} (${result.enrolment_rows} enrolment rows, ` +
      `${result.daily_rows} daily rows, ${result.differences} differences, ${result.legs_in_table} legs, ${seconds} s); ` +
      `ledger double entry: ${ledger.length ? ledger.slice(0, 3).join('; ') : 'balanced'}`,
  );
  return result;
}
