/**
 * Names, ids, inputs, signals and updates of the alert workflows (docs/alerts.md),
 * shared by the worker start-up, the workflows and the tests. Definitions only.
 */
import { defineQuery, defineSignal, defineUpdate } from '@temporalio/workflow';

export const ALERT_EVALUATOR_WORKFLOW = 'alertEvaluatorWorkflow';
export const ALERT_WORKFLOW = 'alertWorkflow';
/** the platform-wide evaluator (one per namespace and task queue) */
export const DEFAULT_ALERT_EVALUATOR_ID = 'alert-evaluator';
/** one workflow per open alert: it delivers the open, waits for the resolve, delivers that */
export const alertWorkflowId = (alertId: string): string => `alert-${alertId}`;

export interface AlertEvaluatorInput {
  /** time between two evaluations (default 60 s) */
  interval_ms?: number;
  /** evaluations before the history is renewed with continue-as-new (default 500) */
  evaluations_per_run?: number;
}

export interface AlertWorkflowInput {
  alert_id: string;
}

export interface EvaluationSummary {
  opened: string[];
  resolved: string[];
  clearing: string[];
  open: number;
  /** relays that could not be read in this evaluation */
  unreadable_relays: string[];
}

/** runs one evaluation now and answers with what it did (tests, ops: `temporal workflow update`) */
export const evaluateNowUpdate = defineUpdate<EvaluationSummary, []>('evaluateNow');
/** the evaluator found the alert's condition gone (twice in a row): deliver the resolve */
export const resolveAlertSignal = defineSignal<[]>('resolve');
export const alertPhaseQuery = defineQuery<'delivering_open' | 'open' | 'delivering_resolve' | 'done'>(
  'phase',
);
