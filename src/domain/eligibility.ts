import { BLOCKING_STATUSES, type RefundStatus } from './refund-status';
import { calculateProRataRefund, type RefundPolicy } from './proration';
import type { Subscription } from './subscription';

/** One stable code per eligibility rule; documented in docs/REFUND_POLICY.md. */
export const INELIGIBILITY_REASONS = {
  NOT_REFUND_ELIGIBLE: 'the subscription is marked as not refundable (refundEligible is false)',
  REFUND_ALREADY_APPLIED: 'a refund has already been applied to the subscription (isRefundApplied is true)',
  REFUND_WINDOW_EXPIRED: 'the request comes later than refundWindowDays after the start of the period',
  PERIOD_ENDED: 'the paid period has already ended',
  NOTHING_TO_REFUND: 'the pro-rata refund amount is zero',
  REFUND_EXISTS: 'another refund for the subscription is in progress or completed',
} as const;
export type IneligibilityReason = keyof typeof INELIGIBILITY_REASONS;

export interface ExistingRefund {
  refundId: string;
  refundStatus: RefundStatus;
}

export interface Eligibility {
  eligible: boolean;
  reasons: IneligibilityReason[];
}

const DAY_MS = 24 * 60 * 60 * 1000;

/**
 * Checks every rule and reports all that fail, in a stable order. The window
 * and the end of the period are judged at the cancellation when there is one
 * (else at `now`, the request): the moment the refund is owed for, the same
 * instant the amount is computed at. So a late request, a paused or late sweep
 * never drops a refund that was owed.
 */
export function checkRefundEligibility(
  subscription: Subscription,
  existingRefund: ExistingRefund | null,
  now: Date,
  policy: RefundPolicy = { penaltyBps: 0 },
): Eligibility {
  return eligibilityGiven(subscription, existingRefund, now, calculateProRataRefund(subscription, now, policy).amount);
}

/**
 * The same rules, for a caller that has already computed the refund's amount
 * at `now` with the policy in force (assessRefund in prepared-refund.ts): the
 * amount is computed once per refund request, and judged here.
 */
export function eligibilityGiven(subscription: Subscription, existingRefund: ExistingRefund | null, now: Date, amount: bigint): Eligibility {
  const reasons: IneligibilityReason[] = [];
  const owedAt = (subscription.cancelledAt ?? now).getTime();
  if (!subscription.refundEligible) reasons.push('NOT_REFUND_ELIGIBLE');
  if (subscription.isRefundApplied) reasons.push('REFUND_ALREADY_APPLIED');
  if (owedAt > refundWindowClosesAt(subscription).getTime()) reasons.push('REFUND_WINDOW_EXPIRED');
  if (owedAt >= subscription.endDate.getTime()) reasons.push('PERIOD_ENDED');
  if (amount === 0n) reasons.push('NOTHING_TO_REFUND');
  if (existingRefund && BLOCKING_STATUSES.includes(existingRefund.refundStatus)) reasons.push('REFUND_EXISTS');
  return { eligible: reasons.length === 0, reasons };
}

/** The last instant a refund may be requested: refundWindowDays after the period started (inclusive). */
export function refundWindowClosesAt(subscription: Subscription): Date {
  return new Date(subscription.startDate.getTime() + subscription.refundWindowDays * DAY_MS);
}
