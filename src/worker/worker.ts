import {
  type NativeConnection,
  Worker,
  bundleWorkflowCode,
  type WorkflowBundleOption,
} from '@temporalio/worker';
import { createActivities, type ActivityDeps } from '../activities';
import type { WorkerDeployment } from './versioning';
import { workerSettings, type WorkerSettings } from './settings';

export interface WorkerOptions {
  connection: NativeConnection;
  namespace: string;
  taskQueue: string;
  deps: ActivityDeps;
  /** a prebuilt bundle (tests build one per run); by default the workflows are bundled at start */
  workflowBundle?: WorkflowBundleOption;
  /** slots, cache and leg execution (default: workerSettings() from the environment) */
  settings?: WorkerSettings;
  /**
   * Worker Versioning: poll as `<deploymentName>.<buildId>` with AUTO_UPGRADE (see
   * ./versioning). Unset: unversioned, every worker on the task queue takes any task.
   */
  deployment?: Pick<WorkerDeployment, 'deploymentName' | 'buildId'>;
}

export const WORKFLOWS_PATH = require.resolve('../workflows');

/** Bundles the workflow code once (webpack); pass the result to several workers. */
export async function bundleWorkflows(): Promise<{ code: string }> {
  return bundleWorkflowCode({
    workflowsPath: WORKFLOWS_PATH,
    logger: { trace() {}, debug() {}, info() {}, warn() {}, error() {}, log() {} },
  });
}

/**
 * The settlement worker: every workflow and activity on one task queue, its slots
 * from `settings` (./settings: the PostgreSQL pool has one connection per activity
 * slot, normal or local, as each holds at most one at once).
 */
export async function createWorker(opts: WorkerOptions): Promise<Worker> {
  const settings = opts.settings ?? workerSettings();
  return Worker.create({
    connection: opts.connection,
    namespace: opts.namespace,
    taskQueue: opts.taskQueue,
    ...(opts.workflowBundle ? { workflowBundle: opts.workflowBundle } : { workflowsPath: WORKFLOWS_PATH }),
    activities: createActivities({
      ...opts.deps,
      localLegPayments: opts.deps.localLegPayments ?? settings.localLegPayments,
    }),
    maxConcurrentActivityTaskExecutions: settings.maxConcurrentActivityTaskExecutions,
    maxConcurrentLocalActivityExecutions: settings.maxConcurrentLocalActivityExecutions,
    maxConcurrentWorkflowTaskExecutions: settings.maxConcurrentWorkflowTaskExecutions,
    maxCachedWorkflows: settings.maxCachedWorkflows,
    shutdownGraceTime: '10 seconds',
    ...(opts.deployment
      ? {
          workerDeploymentOptions: {
            useWorkerVersioning: true,
            version: { deploymentName: opts.deployment.deploymentName, buildId: opts.deployment.buildId },
            // settlements wait days for signals: they follow the current build (patched() keeps replay safe)
            defaultVersioningBehavior: 'AUTO_UPGRADE',
          },
        }
      : {}),
  });
}
