import pino, { type Logger } from 'pino';

/**
 * Structured JSON logs (pino). One root logger per process; components take a
 * child with their own `component` field.
 */
export const logger: Logger = pino({
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
});

export type { Logger };

export function componentLogger(component: string): Logger {
  return logger.child({ component });
}
