import { ApplicationFailure } from '@temporalio/common';
import type { FailureType } from '../contract';

/** A refusal that fails the same way on every retry: the workflow gets it at once. */
export const notRetryable = (message: string, type: FailureType): ApplicationFailure =>
  ApplicationFailure.create({ message, type, nonRetryable: true });
