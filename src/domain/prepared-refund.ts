import { formatAmount } from './amount';
import type { Currency } from './currency';
import { eligibilityGiven, type Eligibility, type ExistingRefund, type IneligibilityReason } from './eligibility';
import { calculateProRataRefund, type ProRataRefund, type RefundBreakdown, type RefundPolicy } from './proration';
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
  return preparationFrom(subscription, calculateProRataRefund(subscription, requestedAt, policy, computedAt));
}

/** A refund asked for at a given moment: whether it may be made, and what it pays. */
export interface RefundAssessment extends Eligibility {
  /** Computed whether or not the refund is eligible: a preview shows the amount either way. */
  preparation: RefundPreparation;
}

/**
 * Eligibility and amount from one computation at `requestedAt`: what a preview
 * shows, what a request is refused with or starts the workflow with, and what
 * the workflow's prepare activity records. One instant for both, so the amount
 * judged "above zero" is the amount paid.
 */
export function assessRefund(
  subscription: Subscription,
  existingRefund: ExistingRefund | null,
  requestedAt: Date,
  policy: RefundPolicy,
  computedAt: Date = requestedAt,
): RefundAssessment {
  const computed = calculateProRataRefund(subscription, requestedAt, policy, computedAt);
  return { ...eligibilityGiven(subscription, existingRefund, requestedAt, computed.amount), preparation: preparationFrom(subscription, computed) };
}

function preparationFrom(subscription: Subscription, { amount, breakdown }: ProRataRefund): RefundPreparation {
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
