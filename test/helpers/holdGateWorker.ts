import { bundleWorkflowCode } from '@temporalio/worker';
import type { Client } from '@temporalio/client';
import { settlementWorkflowId } from '../../src/contract';
import type { Pool } from '../../src/db/pool';
import { WORKFLOW_SANDBOX_PRELOAD, WORKFLOWS_PATH } from '../../src/worker/worker';
import { testWorker, uniqueTaskQueue } from './stack';
import { endHoldSignal } from './workflow/holdGate';

export { HOLD_GATE_SECONDS } from './workflow/holdGate';

/**
 * A worker whose workflows hold a settlement of a machine with HOLD_GATE_SECONDS until
 * `endHold` (see workflow/holdGate.ts); other timers run as usual. Bundles its own
 * workflow code (with the interceptor): a few seconds, once per test file.
 */
export async function startHoldGateWorker(
  pool: Pool,
): Promise<{ taskQueue: string; stop: () => Promise<void> }> {
  const { code } = await bundleWorkflowCode({
    workflowsPath: WORKFLOWS_PATH,
    preloadModules: WORKFLOW_SANDBOX_PRELOAD,
    workflowInterceptorModules: [require.resolve('./workflow/holdGate')],
    logger: { trace() {}, debug() {}, info() {}, warn() {}, error() {}, log() {} },
  });
  const w = await testWorker({ pool, taskQueue: uniqueTaskQueue('hold-gate'), workflowBundle: { code } });
  return { taskQueue: w.taskQueue, ...w.start() };
}

/** Ends the gated hold of the settlement of this payment hash: it pays now. */
export async function endHold(client: Client, paymentHash: string): Promise<void> {
  await client.workflow.getHandle(settlementWorkflowId(paymentHash)).signal(endHoldSignal);
}
