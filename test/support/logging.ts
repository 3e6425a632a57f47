import type { LogLevel as SdkLogLevel } from '@temporalio/common';
import { createLogger, type Logger } from '../../src/logger';

/**
 * The one place that decides how much tests print. Tests cause failures on purpose (a treasury
 * without funds, a webhook answering 503, a workflow terminated under its worker), and the product
 * logs each of them as it should in production; printed, they bury jest's report. So by default
 * the product's loggers are silent and the Temporal SDK prints only its own errors.
 *
 * To see everything while debugging a failure: `TEST_LOG_LEVEL=debug npm test -- <file>`
 * (any pino level: fatal, error, warn, info, debug, trace, silent). README, "Testing".
 */
const LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;
export type TestLogLevel = (typeof LEVELS)[number];

export const TEST_LOG_LEVEL: TestLogLevel = parseLevel(process.env.TEST_LOG_LEVEL);

function parseLevel(value: string | undefined): TestLogLevel {
  if (value === undefined || value === '') return 'silent';
  if ((LEVELS as readonly string[]).includes(value)) return value as TestLogLevel;
  throw new Error(`TEST_LOG_LEVEL must be one of ${LEVELS.join(', ')}, not ${JSON.stringify(value)}`);
}

/** A product logger (src/logger.ts) at the tests' level. */
export function testLogger(): Logger {
  return createLogger(TEST_LOG_LEVEL);
}

/**
 * The Temporal SDK's threshold (its worker, its core, and the workflows' `log`): the tests' level,
 * but never above ERROR. An SDK error means a broken worker, which no test causes on purpose.
 */
export const SDK_LOG_LEVEL: SdkLogLevel = (
  { fatal: 'ERROR', error: 'ERROR', silent: 'ERROR', warn: 'WARN', info: 'INFO', debug: 'DEBUG', trace: 'TRACE' } as const
)[TEST_LOG_LEVEL];

/** For `bundleWorkflowCode`: webpack's errors only (its progress is noise in every file that bundles). */
export const bundlerLogger = { trace() {}, debug() {}, info() {}, warn() {}, error: console.error, log() {} } as never;
