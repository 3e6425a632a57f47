import { Types } from 'mongoose';
import { formatAmount } from '../../src/domain/amount';
import type { Refund } from '../../src/domain/refund';
import { refundWorkflowId } from '../../src/domain/refund';
import { calculateProRataRefund } from '../../src/domain/proration';
import { parseSubscription } from '../../src/domain/subscription';

const DAY = 24 * 60 * 60 * 1000;

/** A raw `subscriptions` document as other systems insert it: 1 ETH for 30 days, started 10 days ago. */
export function subscriptionDoc(overrides: Record<string, unknown> = {}, now = new Date()) {
  return {
    _id: new Types.ObjectId(),
    userId: 'user-1',
    creatorId: 'creator-1',
    userWalletAddress: '0x70997970C51812dc3A010C7d01b50e0d17dc79C8',
    userEmail: 'subscriber@example.com',
    amountPaid: '1000000000000000000',
    currency: { symbol: 'ETH', decimals: 18, tokenAddress: null },
    startDate: new Date(now.getTime() - 10 * DAY),
    endDate: new Date(now.getTime() + 20 * DAY),
    status: 'cancelled',
    cancelledAt: now,
    refundEligible: true,
    refundWindowDays: 30,
    isRefundApplied: false,
    ...overrides,
  };
}

let refundCounter = 0;

/** A refund view computed from a subscription document, as the workflow would record it. */
export function refundView(overrides: Partial<Refund> = {}, doc = subscriptionDoc()): Refund {
  const subscription = parseSubscription(doc);
  const requestedAt = new Date();
  const { amount, breakdown } = calculateProRataRefund(subscription, requestedAt, { penaltyBps: 0 });
  refundCounter += 1;
  return {
    refundId: `rf_test_${Date.now().toString(36)}_${refundCounter}`,
    subscriptionId: subscription.id,
    userId: subscription.userId,
    creatorId: subscription.creatorId,
    workflowId: refundWorkflowId(subscription.id),
    refundStatus: 'pending_approval',
    amount: amount.toString(),
    amountFormatted: formatAmount(amount, subscription.currency.decimals),
    currency: subscription.currency,
    breakdown,
    reason: null,
    requestedAt: requestedAt.toISOString(),
    requestedBy: subscription.userId,
    autoApproveAt: new Date(requestedAt.getTime() + 14 * DAY).toISOString(),
    decidedBy: null,
    decidedAt: null,
    decisionNote: null,
    transactionId: null,
    payout: null,
    completedAt: null,
    failureReason: null,
    failureCode: null,
    retryable: null,
    waitingReason: null,
    statusHistory: [{ status: 'pending_approval', at: requestedAt.toISOString(), by: subscription.userId }],
    notificationFailures: [],
    processingTimeMs: null,
    ...overrides,
  };
}
