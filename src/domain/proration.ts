import type { Currency } from './currency';
import { DomainError } from './errors';
import type { Subscription } from './subscription';

export const BPS_DENOMINATOR = 10_000n;

export interface RefundPolicy {
  /** Basis points of the pro-rata amount kept as a cancellation penalty (0-10000). */
  penaltyBps: number;
}

/** Every input and intermediate of one computation, so an auditor can redo it by hand. JSON-safe. */
export interface RefundBreakdown {
  formula: string;
  amountPaid: string;
  currency: Currency;
  startDate: string;
  endDate: string;
  requestedAt: string;
  cancelledAt: string | null;
  effectiveCancelAt: string;
  totalSeconds: number;
  remainingSeconds: number;
  proRataAmount: string;
  penaltyBps: number;
  penaltyAmount: string;
  amount: string;
  retained: string;
  computedAt: string;
}

export interface ProRataRefund {
  amount: bigint;
  retained: bigint;
  breakdown: RefundBreakdown;
}

export const PRORATION_FORMULA =
  'proRataAmount = floor(amountPaid × remainingSeconds / totalSeconds); penaltyAmount = floor(proRataAmount × penaltyBps / 10000); amount = proRataAmount − penaltyAmount';

/**
 * The unused part of a paid period, in the token's smallest unit.
 * `at` is when the refund was requested; a recorded cancellation time wins over it.
 */
export function calculateProRataRefund(subscription: Subscription, at: Date, policy: RefundPolicy, computedAt: Date = at): ProRataRefund {
  const penaltyBps = validPenaltyBps(policy.penaltyBps);
  const effectiveCancelAt = subscription.cancelledAt ?? at;

  const startSeconds = wholeSeconds(subscription.startDate);
  const endSeconds = wholeSeconds(subscription.endDate);
  const totalSeconds = endSeconds - startSeconds;
  if (totalSeconds <= 0) throw new DomainError('INVALID_SUBSCRIPTION', 'subscription period must last at least one second');
  const remainingSeconds = Math.max(0, endSeconds - Math.max(startSeconds, wholeSeconds(effectiveCancelAt)));

  const proRataAmount = proRataShare(subscription.amountPaid, remainingSeconds, totalSeconds);
  const penaltyAmount = penaltyOf(proRataAmount, penaltyBps);
  const amount = proRataAmount - penaltyAmount;
  const retained = subscription.amountPaid - amount;

  return {
    amount,
    retained,
    breakdown: {
      formula: PRORATION_FORMULA,
      amountPaid: subscription.amountPaid.toString(),
      currency: subscription.currency,
      startDate: subscription.startDate.toISOString(),
      endDate: subscription.endDate.toISOString(),
      requestedAt: at.toISOString(),
      cancelledAt: subscription.cancelledAt?.toISOString() ?? null,
      effectiveCancelAt: effectiveCancelAt.toISOString(),
      totalSeconds,
      remainingSeconds,
      proRataAmount: proRataAmount.toString(),
      penaltyBps,
      penaltyAmount: penaltyAmount.toString(),
      amount: amount.toString(),
      retained: retained.toString(),
      computedAt: computedAt.toISOString(),
    },
  };
}

/** floor(amountPaid × remaining / total): multiply first, so nothing is lost before the one division. */
function proRataShare(amountPaid: bigint, remainingSeconds: number, totalSeconds: number): bigint {
  return (amountPaid * BigInt(remainingSeconds)) / BigInt(totalSeconds);
}

function penaltyOf(proRataAmount: bigint, penaltyBps: number): bigint {
  return (proRataAmount * BigInt(penaltyBps)) / BPS_DENOMINATOR;
}

function wholeSeconds(date: Date): number {
  const ms = date.getTime();
  if (Number.isNaN(ms)) throw new DomainError('INVALID_SUBSCRIPTION', 'invalid date in subscription');
  return Math.floor(ms / 1000);
}

function validPenaltyBps(penaltyBps: number): number {
  if (!Number.isInteger(penaltyBps) || penaltyBps < 0 || penaltyBps > 10_000) {
    throw new DomainError('INVALID_POLICY', 'penaltyBps must be an integer from 0 to 10000');
  }
  return penaltyBps;
}
