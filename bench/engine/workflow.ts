/**
 * The engine baseline: a workflow of a settlement's shape with no-op activities, bundled
 * on its own and run by the product's worker command on its own task queue (see
 * bench/workerProbe.ts). The shape (signals awaited, steps before and after the legs,
 * each leg's kind, leg concurrency) is derived from the product's own histories in the
 * same bench run (bench/histories.ts), so what the engine is asked to do is what the
 * product asks of it, minus the product's own work.
 */
import {
  condition,
  defineSignal,
  proxyActivities,
  proxyLocalActivities,
  setHandler,
} from '@temporalio/workflow';

export type ActivityKind = 'local' | 'normal';

export interface EngineShape {
  /** signals awaited before the first step (the ATM event and the payment) */
  signals: number;
  /** steps before the legs, in order */
  pre: ActivityKind[];
  /** one entry per leg */
  legs: ActivityKind[];
  /** legs in flight at once */
  concurrency: number;
  /** steps after the legs, in order */
  post: ActivityKind[];
}

interface EngineActivities {
  engineStep(): Promise<void>;
  engineLeg(): Promise<void>;
}

// the product's options (src/workflows/legPayments.ts); a no-op never times out or retries
const normal = proxyActivities<EngineActivities>({
  startToCloseTimeout: '120 seconds',
  heartbeatTimeout: '10 seconds',
  retry: {
    initialInterval: '1 second',
    backoffCoefficient: 2,
    maximumInterval: '30 seconds',
    maximumAttempts: 8,
  },
});
const local = proxyLocalActivities<EngineActivities>({
  startToCloseTimeout: '60 seconds',
  retry: { initialInterval: '500 milliseconds', backoffCoefficient: 2, maximumInterval: '15 seconds' },
});

export const engineSignal = defineSignal<[string]>('engineSignal');

async function step(kind: ActivityKind): Promise<void> {
  await (kind === 'local' ? local : normal).engineStep();
}

async function leg(kind: ActivityKind, i: number): Promise<void> {
  if (kind === 'local') await local.engineLeg();
  else await normal.engineLeg.executeWithOptions({ summary: `leg ${i}` }, []);
}

export async function engineSettlement(shape: EngineShape): Promise<void> {
  let signals = 0;
  setHandler(engineSignal, () => void signals++);
  await condition(() => signals >= shape.signals);
  for (const k of shape.pre) await step(k);
  let next = 0;
  const lane = async () => {
    while (next < shape.legs.length) {
      const i = next++;
      await leg(shape.legs[i]!, i);
    }
  };
  await Promise.all(Array.from({ length: Math.min(shape.concurrency, shape.legs.length) }, lane));
  for (const k of shape.post) await step(k);
}
