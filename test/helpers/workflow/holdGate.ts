/**
 * Test-only workflow interceptor (bundled by test/helpers/holdGateWorker.ts): a durable
 * timer of exactly HOLD_GATE_MS does not run on the clock; it ends when the workflow gets
 * the `test:endHold` signal. A test holding a settlement that long acts inside the hold
 * window for sure (it never races its own timer), then ends the hold when it is done.
 */
import { condition, defineSignal, setHandler, type WorkflowInterceptorsFactory } from '@temporalio/workflow';

/** distribution_delay_seconds 3599 (no other timer of the workflow is this long) */
export const HOLD_GATE_SECONDS = 3599;
export const HOLD_GATE_MS = HOLD_GATE_SECONDS * 1000;
export const endHoldSignal = defineSignal('test:endHold');

export const interceptors: WorkflowInterceptorsFactory = () => {
  let ended = false;
  setHandler(endHoldSignal, () => {
    ended = true;
  });
  return {
    outbound: [
      {
        async startTimer(input, next) {
          if (input.durationMs !== HOLD_GATE_MS) return next(input);
          await condition(() => ended);
        },
      },
    ],
  };
};
