import { ApplicationFailure } from '@temporalio/common';
import { FailureType } from '../contract';

/**
 * PostgreSQL refusing a value (SQLSTATE class 22: data exception; class 23:
 * integrity violation, except 23505 unique which a concurrent retry can cause) will
 * refuse it again: such errors become non-retryable `InvalidData` failures, so a
 * workflow can record the reason instead of retrying forever. Everything else
 * (connection lost, PostgreSQL restarting) stays retryable.
 */
/** Errors of the pure money math: the same input fails the same way on every retry. */
const DOMAIN_ERRORS = new Set([
  'InvalidAmountsError',
  'DecimalFormatError',
  'PartialDispenseError',
  'ConservationError',
]);

export function classifyDbError(err: unknown): unknown {
  const name = (err as { name?: unknown }).name;
  if (typeof name === 'string' && DOMAIN_ERRORS.has(name)) {
    return ApplicationFailure.create({
      message: (err as Error).message,
      type: FailureType.InvalidData,
      nonRetryable: true,
      cause: err as Error,
    });
  }
  const code = (err as { code?: unknown }).code;
  if (typeof code === 'string' && /^2[23][0-9A-Z]{3}$/.test(code) && code !== '23505') {
    return ApplicationFailure.create({
      message: `the database refused a value: ${(err as Error).message} (SQLSTATE ${code})`,
      type: FailureType.InvalidData,
      nonRetryable: true,
      cause: err as Error,
    });
  }
  return err;
}

/** Wraps every function of an activity map with classifyDbError. */
export function withDbErrorClassification<T extends Record<string, (...args: never[]) => Promise<unknown>>>(
  activities: T,
): T {
  const wrapped: Record<string, unknown> = {};
  for (const [name, fn] of Object.entries(activities)) {
    wrapped[name] = async (...args: never[]) => {
      try {
        return await fn(...args);
      } catch (err) {
        throw classifyDbError(err);
      }
    };
    Object.defineProperty(wrapped[name], 'name', { value: name });
  }
  return wrapped as T;
}
