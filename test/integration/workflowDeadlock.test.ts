import { NativeConnection, Worker, type WorkerOptions } from '@temporalio/worker';
import type { Client, WorkflowHandle } from '@temporalio/client';
import { bundleWorkflows } from '../../src/worker/worker';
import { temporalSdkPatched } from '../../src/worker/sdkPatch';
import { eventually, quietRuntime, temporalClient, uniqueTaskQueue } from '../helpers/stack';
import type * as fixtures from '../fixtures/deadlockWorkflows';

/**
 * The SDK's deadlock timeout (`isolateExecutionTimeout`) with the Temporal SDK patch
 * (scripts/temporalSdkPatch.cjs): one watchdog per activation instead of one per call into
 * the sandbox. Workflow code that never gives the thread back must still fail its workflow
 * task with the SDK's message, wherever in the activation it loops, and the worker must go on
 * running other workflows.
 */
describe('a workflow that never gives the thread back (Temporal SDK patch)', () => {
  const TIMEOUT_MS = 1000;
  let client: Client;
  let closeClient: () => Promise<void>;
  let connection: NativeConnection;
  let worker: Worker;
  let running: Promise<void>;
  const taskQueue = uniqueTaskQueue('deadlock');

  beforeAll(async () => {
    quietRuntime();
    ({ client, close: closeClient } = await temporalClient());
    connection = await NativeConnection.connect({ address: process.env.SATMACHINE_TEST_TEMPORAL_ADDRESS! });
    // the SDK reads the deadlock timeout from its options but does not declare it (5 s by default)
    const options: WorkerOptions & { isolateExecutionTimeout: number } = {
      connection,
      namespace: 'default',
      taskQueue,
      workflowBundle: await bundleWorkflows(require.resolve('../fixtures/deadlockWorkflows')),
      isolateExecutionTimeout: TIMEOUT_MS,
    };
    worker = await Worker.create(options);
    running = worker.run();
  });

  afterAll(async () => {
    worker?.shutdown();
    await running;
    await connection?.close();
    await closeClient?.();
  });

  /** The message of the workflow's first failed workflow task, once there is one. */
  async function firstTaskFailure(handle: WorkflowHandle): Promise<string> {
    return eventually(
      async () => {
        const { events } = await handle.fetchHistory();
        const failed = (events ?? []).find((e) => e.workflowTaskFailedEventAttributes);
        return failed?.workflowTaskFailedEventAttributes?.failure?.message ?? null;
      },
      30_000,
      'a failed workflow task',
    );
  }

  it('runs on the patched SDK', () => {
    expect(temporalSdkPatched()).toBe(true);
  });

  it('a loop in the workflow function fails the workflow task with the timeout', async () => {
    const handle = await client.workflow.start<typeof fixtures.spinsAtStart>('spinsAtStart', {
      taskQueue,
      workflowId: `spins-at-start-${taskQueue}`,
    });
    expect(await firstTaskFailure(handle)).toMatch(`Script execution timed out after ${TIMEOUT_MS}ms`);
    await handle.terminate('test over');
  });

  it("a loop in a condition's predicate (after a signal) fails the workflow task with the timeout", async () => {
    const handle = await client.workflow.start<typeof fixtures.spinsInCondition>('spinsInCondition', {
      taskQueue,
      workflowId: `spins-in-condition-${taskQueue}`,
    });
    // the first task completes: the workflow waits on its condition
    await eventually(
      async () =>
        ((await handle.fetchHistory()).events ?? []).some((e) => e.workflowTaskCompletedEventAttributes),
      30_000,
      'the first workflow task',
    );
    await handle.signal('startSpinning');
    expect(await firstTaskFailure(handle)).toMatch(`Script execution timed out after ${TIMEOUT_MS}ms`);
    await handle.terminate('test over');
  });

  it('the same worker still runs other workflows', async () => {
    const answer = await client.workflow.execute<typeof fixtures.answers>('answers', {
      taskQueue,
      workflowId: `answers-${taskQueue}`,
      args: ['operator'],
    });
    expect(answer).toBe('hello operator');
  });
});
