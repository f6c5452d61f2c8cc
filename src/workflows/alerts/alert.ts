import {
  ActivityFailure,
  condition,
  log,
  proxyActivities,
  setHandler,
  workflowInfo,
} from '@temporalio/workflow';
import type { Activities } from '../../activities';
import { alertPhaseQuery, resolveAlertSignal, type AlertWorkflowInput } from './definitions';

type Phase = 'delivering_open' | 'open' | 'delivering_resolve' | 'done';

const { planAlertDeliveries } = proxyActivities<Activities>({
  startToCloseTimeout: '30 seconds',
  retry: { initialInterval: '2 seconds', maximumInterval: '1 minute' },
});

/**
 * Deliveries retry with backoff: 2 s, 4 s, 8 s … up to 10 min between attempts, 12
 * attempts (about 40 minutes) before the delivery is given up (each attempt is in the
 * delivery log; the pending activity, its attempt and last failure show in the UI).
 */
const delivery = proxyActivities<Activities>({
  startToCloseTimeout: '45 seconds',
  retry: {
    initialInterval: '2 seconds',
    backoffCoefficient: 2,
    maximumInterval: '10 minutes',
    maximumAttempts: 12,
    nonRetryableErrorTypes: ['DeliveryRefused'],
  },
});

/**
 * One open alert (workflow id `alert-<alert id>`): delivers the open on every channel
 * the operator set up, waits for the evaluator's `resolve` signal (or finds the row
 * resolved), delivers the resolve, and ends. Channels are delivered side by side; one
 * that keeps failing never holds back the others or the resolve.
 */
export async function alertWorkflow(input: AlertWorkflowInput): Promise<void> {
  let phase: Phase = 'delivering_open';
  let resolveSignalled = false;
  setHandler(alertPhaseQuery, () => phase);
  setHandler(resolveAlertSignal, () => {
    resolveSignalled = true;
  });

  const open = await planAlertDeliveries({ alert_id: input.alert_id, event: 'open' });
  await deliverAll('open', open.targets);
  phase = 'open';
  if (open.status !== 'resolved') await condition(() => resolveSignalled);
  phase = 'delivering_resolve';
  const resolve = await planAlertDeliveries({ alert_id: input.alert_id, event: 'resolve' });
  await deliverAll('resolve', resolve.targets);
  phase = 'done';

  async function deliverAll(
    event: 'open' | 'resolve',
    targets: { channel: 'webhook' | 'nostr' | 'email'; endpoint: string }[],
  ): Promise<void> {
    await Promise.all(
      targets.map(async (t) => {
        const args = { alert_id: input.alert_id, event, endpoint: t.endpoint };
        try {
          if (t.channel === 'webhook') await delivery.deliverAlertWebhook(args);
          else if (t.channel === 'nostr') await delivery.deliverAlertNostr(args);
          else await delivery.deliverAlertEmail(args);
        } catch (err) {
          if (!(err instanceof ActivityFailure)) throw err;
          log.warn('alert delivery given up', {
            workflowId: workflowInfo().workflowId,
            channel: t.channel,
            event,
            error: err.cause?.message ?? err.message,
          });
        }
      }),
    );
  }
}
