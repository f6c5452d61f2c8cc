import { randomBytes } from 'node:crypto';
import type { Client, WorkflowHandle } from '@temporalio/client';
import { ALERT_EVALUATOR_WORKFLOW } from '../../src/workflows/alerts/definitions';

/**
 * The alert evaluator workflow on `taskQueue` (a workflow id of its own), with a one-hour
 * interval: only the test's `evaluateNow` updates evaluate after the first run.
 */
export function startAlertEvaluator(client: Client, taskQueue: string): Promise<WorkflowHandle> {
  return client.workflow.start(ALERT_EVALUATOR_WORKFLOW, {
    workflowId: `alert-evaluator-${randomBytes(5).toString('hex')}`,
    taskQueue,
    args: [{ interval_ms: 3_600_000 }],
  });
}

/** Ends the evaluator of a test file (afterAll); one never started, or already over, is fine. */
export async function stopAlertEvaluator(evaluator: WorkflowHandle | undefined): Promise<void> {
  await evaluator?.terminate('test over').catch(() => undefined);
}
