import pino, { type Logger } from 'pino';

/**
 * Structured JSON logs (pino). One root logger per process; components take a
 * child with their own `component` field.
 */
const options: pino.LoggerOptions = {
  level: process.env.LOG_LEVEL ?? (process.env.NODE_ENV === 'test' ? 'silent' : 'info'),
  base: { pid: process.pid },
  timestamp: pino.stdTimeFunctions.isoTime,
  redact: {
    paths: [
      'api_key',
      '*.api_key',
      'secret',
      '*.secret',
      'headers.authorization',
      'req.headers.authorization',
    ],
    censor: '[redacted]',
  },
};

export const logger: Logger = pino(options);

export type { Logger };

export function componentLogger(component: string): Logger {
  return logger.child({ component });
}

/**
 * For a command whose standard output is its result (`satmachine simulate` prints one JSON
 * line a script reads): its logs go to standard error, so a late log line (a relay that
 * disconnects while the command exits) never lands after the result.
 */
export function stderrComponentLogger(component: string): Logger {
  return pino(options, pino.destination(2)).child({ component });
}
