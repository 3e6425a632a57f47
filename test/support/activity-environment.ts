import type { Info as ActivityInfo } from '@temporalio/activity';
import { MockActivityEnvironment } from '@temporalio/testing';
import { DefaultLogger } from '@temporalio/worker';
import { SDK_LOG_LEVEL } from './logging';

/**
 * Temporal's MockActivityEnvironment, logging at the SDK's level (test/support/logging.ts): by
 * default it prints a WARN with a stack for every activity that fails, and tests make activities
 * fail on purpose (a refused payout).
 */
export function activityEnvironment(info?: Partial<ActivityInfo>): MockActivityEnvironment {
  return new MockActivityEnvironment(info, { logger: new DefaultLogger(SDK_LOG_LEVEL) });
}
