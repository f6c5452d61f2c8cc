import {
  allHandlersFinished,
  condition,
  continueAsNew,
  getExternalWorkflowHandle,
  log,
  ParentClosePolicy,
  proxyActivities,
  setHandler,
  startChild,
} from '@temporalio/workflow';
import { WorkflowExecutionAlreadyStartedError } from '@temporalio/common';
import type { Activities } from '../../activities';
import {
  ALERT_WORKFLOW,
  alertWorkflowId,
  evaluateNowUpdate,
  resolveAlertSignal,
  type AlertEvaluatorInput,
  type EvaluationSummary,
} from './definitions';

const { evaluateAlerts } = proxyActivities<Activities>({
  startToCloseTimeout: '2 minutes',
  retry: { initialInterval: '2 seconds', maximumInterval: '1 minute' },
});

/**
 * The platform-wide alert evaluator: every `interval_ms` (or at once on `evaluateNow`)
 * an activity computes every operator's conditions from the database and opens /
 * resolves alert rows (with hysteresis); this workflow then starts one `alertWorkflow`
 * per opened alert and signals `resolve` to those resolved. Renews its history with
 * continue-as-new.
 */
export async function alertEvaluatorWorkflow(input: AlertEvaluatorInput = {}): Promise<void> {
  const interval = input.interval_ms ?? 60_000;
  const perRun = input.evaluations_per_run ?? 500;
  let requested = 0;
  let served = 0;
  let last: EvaluationSummary = { opened: [], resolved: [], clearing: [], open: 0, unreadable_relays: [] };

  setHandler(evaluateNowUpdate, async () => {
    const ticket = ++requested;
    await condition(() => served >= ticket);
    return last;
  });

  const runOnce = async () => {
    // every request made before this evaluation starts is answered by it
    const upTo = requested;
    last = await evaluateOnce();
    served = upTo;
  };
  for (let i = 0; i < perRun; i++) {
    await runOnce();
    await condition(() => requested > served, interval);
  }
  while (requested > served) await runOnce();
  await condition(allHandlersFinished);
  await continueAsNew<typeof alertEvaluatorWorkflow>(input);

  async function evaluateOnce(): Promise<EvaluationSummary> {
    const outcome = await evaluateAlerts();
    for (const alertId of [...outcome.opened, ...outcome.unstarted]) {
      try {
        await startChild(ALERT_WORKFLOW, {
          workflowId: alertWorkflowId(alertId),
          args: [{ alert_id: alertId }],
          parentClosePolicy: ParentClosePolicy.ABANDON,
          staticSummary: `alert ${alertId}`,
        });
      } catch (err) {
        if (!(err instanceof WorkflowExecutionAlreadyStartedError)) throw err;
      }
    }
    for (const alertId of outcome.resolved) {
      try {
        await getExternalWorkflowHandle(alertWorkflowId(alertId)).signal(resolveAlertSignal);
      } catch (err) {
        // the alert's workflow is gone (terminated by ops): its row is resolved all the same
        log.warn('alert workflow not signalled', { alertId, error: (err as Error).message });
      }
    }
    return {
      opened: outcome.opened,
      resolved: outcome.resolved,
      clearing: outcome.clearing,
      open: outcome.open,
      unreadable_relays: outcome.unreadable_relays,
    };
  }
}
