import { proxyActivities } from '@temporalio/workflow';
import type { Activities } from '../activities';
import type { RefundTimings } from './refund-messages';

/**
 * The refund workflow's activities, one proxy per retry class, each typed with
 * only the activities of its class: a payout can never be scheduled with the
 * notification retry policy by mistake.
 */

/** Store writes and reads: cheap, idempotent, retried until they succeed. */
export type RecordActivities = Pick<
  Activities,
  | 'prepareRefund'
  | 'createRefundRecord'
  | 'transitionRefund'
  | 'recordRefundProgress'
  | 'markSubscriptionRefunded'
  | 'recordNotificationFailure'
  | 'payoutDestination'
  | 'payoutStarted'
  | 'openPayoutRound'
  | 'autoApprovalAllowed'
  | 'closedWithoutPayout'
>;
/**
 * Claiming and signing a payout: `payoutMaxAttempts` attempts per call; the
 * workflow calls again after an infrastructure failure (see refund-payout.ts).
 * It heartbeats, so an attempt of a dead worker is retried soon, and an attempt
 * Temporal gave up on learns it and records nothing.
 */
export type PayoutActivities = Pick<Activities, 'preparePayout'>;
/** Watching a payout until the chain's verdict is final: heartbeats, and never gives up on a broadcast payout. */
export type WatchActivities = Pick<Activities, 'confirmPayout'>;
export type NotificationActivities = Pick<Activities, 'sendAdminWebhook' | 'sendRefundEmail'>;

export function refundActivities(timings: RefundTimings) {
  return {
    records: proxyActivities<RecordActivities>({
      startToCloseTimeout: '30s',
      retry: { initialInterval: '1s', backoffCoefficient: 2, maximumInterval: '1m' },
    }),
    payouts: proxyActivities<PayoutActivities>({
      startToCloseTimeout: timings.payoutPrepareTimeoutMs,
      heartbeatTimeout: timings.payoutHeartbeatTimeoutMs,
      retry: { initialInterval: '2s', backoffCoefficient: 2, maximumInterval: '1m', maximumAttempts: timings.payoutMaxAttempts },
    }),
    watch: proxyActivities<WatchActivities>({
      startToCloseTimeout: '15m',
      heartbeatTimeout: timings.payoutHeartbeatTimeoutMs,
      retry: { initialInterval: '2s', backoffCoefficient: 2, maximumInterval: '1m' },
    }),
    notifications: proxyActivities<NotificationActivities>({
      startToCloseTimeout: '30s',
      retry: { initialInterval: timings.notificationInitialIntervalMs, backoffCoefficient: 2, maximumInterval: '5m', maximumAttempts: timings.notificationMaxAttempts },
    }),
  };
}

export type RefundActivityProxies = ReturnType<typeof refundActivities>;
