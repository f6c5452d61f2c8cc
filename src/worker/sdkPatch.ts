import * as reusableVm from '@temporalio/worker/lib/workflow/reusable-vm';

/**
 * Whether the installed @temporalio/worker carries the Temporal SDK patch
 * (scripts/temporalSdkPatch.cjs: one deadlock watchdog per workflow activation instead of
 * one thread per call into the sandbox). npm applies it after every install; without it
 * workflows run exactly as before, slower (docs/performance.md, "The Temporal SDK patch").
 */
export function temporalSdkPatched(): boolean {
  return (reusableVm as Record<string, unknown>)['SATMACHINE_ONE_WATCHDOG_PER_ACTIVATION'] === true;
}
