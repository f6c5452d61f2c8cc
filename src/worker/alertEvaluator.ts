import type { Client } from '@temporalio/client';
import type { Logger } from '../logger';
import {
  ALERT_EVALUATOR_WORKFLOW,
  DEFAULT_ALERT_EVALUATOR_ID,
  type AlertEvaluatorInput,
} from '../workflows/alerts/definitions';

/**
 * Starts the platform-wide alert evaluator unless it already runs (idempotent: every
 * worker calls this at start-up; the workflow id is fixed and an existing run is kept).
 * Returns the run id of the evaluator (the running one when it was there already).
 */
export async function ensureAlertEvaluator(
  client: Client,
  opts: { taskQueue: string; intervalMs: number; workflowId?: string },
): Promise<string> {
  const input: AlertEvaluatorInput = { interval_ms: opts.intervalMs };
  const handle = await client.workflow.start(ALERT_EVALUATOR_WORKFLOW, {
    workflowId: opts.workflowId ?? DEFAULT_ALERT_EVALUATOR_ID,
    taskQueue: opts.taskQueue,
    args: [input],
    workflowIdConflictPolicy: 'USE_EXISTING',
    staticSummary: 'evaluates every operator’s alert rules',
  });
  return handle.firstExecutionRunId;
}

/** ensureAlertEvaluator, retried in the background until Temporal answers (the worker must not wait for it). */
export function ensureAlertEvaluatorInBackground(
  client: Client,
  opts: { taskQueue: string; intervalMs: number },
  log: Logger,
): { stop: () => void } {
  let stopped = false;
  let timer: NodeJS.Timeout | undefined;
  const attempt = async (n: number) => {
    if (stopped) return;
    try {
      await ensureAlertEvaluator(client, opts);
      log.info({ workflow_id: DEFAULT_ALERT_EVALUATOR_ID }, 'alert evaluator running');
    } catch (err) {
      if (n % 5 === 1) log.warn({ err: (err as Error).message }, 'alert evaluator not started yet; retrying');
      timer = setTimeout(() => void attempt(n + 1), Math.min(1000 * n, 30_000));
    }
  };
  void attempt(1);
  return {
    stop: () => {
      stopped = true;
      clearTimeout(timer);
    },
  };
}
