import { formatAmount } from './amount';
import type { Currency } from './currency';
import type { IneligibilityReason } from './eligibility';
import { calculateProRataRefund, type RefundBreakdown, type RefundPolicy } from './proration';
import type { Subscription } from './subscription';

/** What the workflow needs to know about the subscription, captured once in its history. */
export interface RefundSubject {
  userId: string;
  creatorId: string;
  userWalletAddress: string;
  userEmail: string | null;
  currency: Currency;
}

/** An eligible refund's amount, checked and computed at its request time. */
export interface RefundPreparation {
  subject: RefundSubject;
  amount: string;
  amountFormatted: string;
  breakdown: RefundBreakdown;
}

/** What preparing a refund found: the refund to record, or why there is none. */
export type PreparedRefund =
  | ({ kind: 'eligible' } & RefundPreparation)
  | { kind: 'ineligible'; reasons: IneligibilityReason[]; amount: string; breakdown: RefundBreakdown }
  | { kind: 'invalid'; code: 'SUBSCRIPTION_NOT_FOUND' | 'INVALID_SUBSCRIPTION'; message: string };

/**
 * The one computation of a refund's amount, whoever makes it: the API before it
 * starts the workflow (and passes the result in), or the workflow's prepare
 * activity for refunds the sweep starts.
 */
export function prepareRefundOf(subscription: Subscription, requestedAt: Date, policy: RefundPolicy, computedAt: Date = new Date()): RefundPreparation {
  const { amount, breakdown } = calculateProRataRefund(subscription, requestedAt, policy, computedAt);
  return {
    subject: {
      userId: subscription.userId,
      creatorId: subscription.creatorId,
      userWalletAddress: subscription.userWalletAddress,
      userEmail: subscription.userEmail ?? null,
      currency: subscription.currency,
    },
    amount: amount.toString(),
    amountFormatted: formatAmount(amount, subscription.currency.decimals),
    breakdown,
  };
}
