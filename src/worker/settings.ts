import { CHILD_CONCURRENCY, LEG_CONCURRENCY, PAGE_SIZE } from '../workflows/legLimits';

/**
 * The settlement worker's capacity, in one place (docs/performance.md "Worker and
 * server settings"): what `createWorker` and the worker's PostgreSQL pool use, and what
 * the bench records as it really was (`workerSettings()` with the same environment).
 */
export interface WorkerSettings {
  /** normal activities at once (WORKER_ACTIVITY_SLOTS): legs paid over the network (LNbits, LNURL) */
  maxConcurrentActivityTaskExecutions: number;
  /** local activities at once (WORKER_LOCAL_ACTIVITY_SLOTS): every DB step and every ledger leg */
  maxConcurrentLocalActivityExecutions: number;
  /** workflow tasks at once (WORKER_WORKFLOW_TASK_SLOTS); a task waiting for its local activities holds its slot */
  maxConcurrentWorkflowTaskExecutions: number;
  /** workflows kept in memory (WORKER_MAX_CACHED_WORKFLOWS): an evicted one is replayed from its history */
  maxCachedWorkflows: number;
  /**
   * connections of the worker's PostgreSQL pool (WORKER_PG_POOL_SIZE): every activity slot,
   * normal or local, holds at most one connection at once (payLeg's leg lock and the ledger
   * transfer share it, no hold-and-wait), so one per slot means no activity waits for the pool
   */
  pgPoolSize: number;
  /** LOCAL_LEG_PAYMENTS (default 1): legs a backend pays in the database run as local activities */
  localLegPayments: boolean;
  /** workflow constants (src/workflows/legLimits.ts), recorded beside the slots they are sized against */
  legConcurrency: number;
  childConcurrency: number;
  pageSize: number;
}

/** Defaults for a small box (2 cores): a page's legs all in flight at once, and no more. */
export const DEFAULT_ACTIVITY_SLOTS = LEG_CONCURRENCY;
export const DEFAULT_LOCAL_ACTIVITY_SLOTS = LEG_CONCURRENCY;
export const DEFAULT_WORKFLOW_TASK_SLOTS = 40;
export const DEFAULT_MAX_CACHED_WORKFLOWS = 2000;

function count(env: NodeJS.ProcessEnv, name: string, fallback: number, min = 1): number {
  const raw = env[name]?.trim();
  if (raw === undefined || raw === '') return fallback;
  const n = Number(raw);
  if (!Number.isSafeInteger(n) || n < min) {
    throw new Error(`${name} must be a whole number >= ${min}, got "${raw}"`);
  }
  return n;
}

function onOff(env: NodeJS.ProcessEnv, name: string, fallback: boolean): boolean {
  const raw = env[name]?.trim().toLowerCase();
  if (raw === undefined || raw === '') return fallback;
  if (raw === '1' || raw === 'true') return true;
  if (raw === '0' || raw === 'false') return false;
  throw new Error(`${name} must be 1 or 0, got "${raw}"`);
}

/** The worker's settings from `env` (defaults above); throws a clear error on a bad value. */
export function workerSettings(env: NodeJS.ProcessEnv = process.env): WorkerSettings {
  const activity = count(env, 'WORKER_ACTIVITY_SLOTS', DEFAULT_ACTIVITY_SLOTS);
  const local = count(env, 'WORKER_LOCAL_ACTIVITY_SLOTS', DEFAULT_LOCAL_ACTIVITY_SLOTS);
  const workflowTasks = count(env, 'WORKER_WORKFLOW_TASK_SLOTS', DEFAULT_WORKFLOW_TASK_SLOTS, 2);
  const cached = count(env, 'WORKER_MAX_CACHED_WORKFLOWS', DEFAULT_MAX_CACHED_WORKFLOWS);
  if (cached < workflowTasks) {
    throw new Error(
      `WORKER_MAX_CACHED_WORKFLOWS (${cached}) must be at least WORKER_WORKFLOW_TASK_SLOTS (${workflowTasks}): ` +
        'each workflow task in progress needs its workflow in the cache',
    );
  }
  const pool = count(env, 'WORKER_PG_POOL_SIZE', activity + local);
  if (pool < activity + local) {
    throw new Error(
      `WORKER_PG_POOL_SIZE (${pool}) is below the activity slots it must serve at once ` +
        `(WORKER_ACTIVITY_SLOTS ${activity} + WORKER_LOCAL_ACTIVITY_SLOTS ${local}): raise it, or lower the slots`,
    );
  }
  return {
    maxConcurrentActivityTaskExecutions: activity,
    maxConcurrentLocalActivityExecutions: local,
    maxConcurrentWorkflowTaskExecutions: workflowTasks,
    maxCachedWorkflows: cached,
    pgPoolSize: pool,
    localLegPayments: onOff(env, 'LOCAL_LEG_PAYMENTS', true),
    legConcurrency: LEG_CONCURRENCY,
    childConcurrency: CHILD_CONCURRENCY,
    pageSize: PAGE_SIZE,
  };
}
