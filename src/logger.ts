import pino, { type Logger } from 'pino';

export type { Logger } from 'pino';

/**
 * The one logger: structured JSON on stdout. Components log through children
 * (`logger.child({ component: 'proRataRefund' })`) so operators can grep them.
 * Anything that may carry a credential is redacted before it is written.
 */
export function createLogger(level: string = process.env.LOG_LEVEL ?? 'info'): Logger {
  return pino({
    level,
    base: { service: 'prorata-refund' },
    timestamp: pino.stdTimeFunctions.isoTime,
    redact: {
      paths: [
        'req.headers.authorization',
        'req.headers.cookie',
        'headers.authorization',
        'authorization',
        'password',
        'privateKey',
        'apiKey',
        'secret',
        'token',
        '*.privateKey',
        '*.apiKey',
        '*.secret',
        '*.token',
      ],
      censor: '[redacted]',
    },
  });
}

export const Components = {
  refund: 'proRataRefund',
  scheduler: 'Scheduler',
  mongo: 'MongoDB',
  api: 'API',
  worker: 'Worker',
  chain: 'Chain',
  notifications: 'Notifications',
  temporal: 'Temporal',
} as const;
