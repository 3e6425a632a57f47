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

/**
 * A preparePayout or confirmPayout attempt with the timeouts the refund workflow gives them by
 * default (DEFAULT_TIMINGS in workflows/refund-workflow.ts): with the mock's own 1 s, preparations
 * expire before they sign.
 */
export function payoutActivityEnvironment(): MockActivityEnvironment {
  return activityEnvironment({ startToCloseTimeoutMs: 120_000, heartbeatTimeoutMs: 30_000 });
}
