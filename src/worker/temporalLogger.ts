import { DefaultLogger, type LogLevel, type LogMetadata } from '@temporalio/worker';
import type { Logger } from '../logger';

const LEVELS: Record<LogLevel, 'trace' | 'debug' | 'info' | 'warn' | 'error'> = {
  TRACE: 'trace',
  DEBUG: 'debug',
  INFO: 'info',
  WARN: 'warn',
  ERROR: 'error',
};

/** Routes the Temporal SDK's logs (workflow `log` included) into pino. */
export function pinoTemporalLogger(log: Logger): DefaultLogger {
  return new DefaultLogger('INFO', (entry: { level: LogLevel; message: string; meta?: LogMetadata }) => {
    // webpack's asset listing of the workflow bundle is build output, not an event: debug
    const level =
      entry.level === 'INFO' && entry.message.startsWith('asset workflow-bundle')
        ? 'debug'
        : LEVELS[entry.level];
    log[level]({ ...(entry.meta ?? {}) }, entry.message);
  });
}
