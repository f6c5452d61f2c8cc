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
  /** a prebuilt bundle (`bundleWorkflows`; tests build one per run); by default bundled at start */
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

/**
 * Modules the SDK runs once in the workflow sandbox before any workflow (./workflowSandbox:
 * its stack-trace depth). Every bundle a worker runs includes them, the bench's engine
 * baseline too.
 */
export const WORKFLOW_SANDBOX_PRELOAD = [require.resolve('./workflowSandbox')];

/**
 * Bundles workflow code once (webpack), with the sandbox preload; pass the result to
 * several workers. `workflowsPath`: the product's workflows unless given.
 */
export async function bundleWorkflows(workflowsPath = WORKFLOWS_PATH): Promise<{ code: string }> {
  return bundleWorkflowCode({
    workflowsPath,
    preloadModules: WORKFLOW_SANDBOX_PRELOAD,
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
    // bundled here when none is given: the SDK's own bundling (workflowsPath) has no preload
    workflowBundle: opts.workflowBundle ?? (await bundleWorkflows()),
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
