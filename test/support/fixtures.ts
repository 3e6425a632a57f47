import { Types } from 'mongoose';
import { formatAmount } from '../../src/domain/amount';
import { prepareRefundOf, type PreparedRefund } from '../../src/domain/prepared-refund';
import { calculateProRataRefund } from '../../src/domain/proration';
import type { Refund } from '../../src/domain/refund';
import { refundWorkflowId } from '../../src/domain/refund';
import { parseSubscription, type Subscription } from '../../src/domain/subscription';

/**
 * Every subscription and refund the tests build, from one place: a valid starting point that
 * each test bends with overrides where its case differs. Two kinds of subscription:
 *
 * - live (`subscriptionDoc`, `refundView`, `preparedRefund`): cancelled now, a third of its
 *   period used, paying anvil account #1; what the stores, the workflow and the API are fed.
 * - fixed (`subscription`, `fixedSubscriptionDoc`): January 2024, active, a known id; for the
 *   pure domain rules, whose expected values are written out in the tests.
 */

export const SECOND_MS = 1000;
export const DAY_MS = 24 * 60 * 60 * SECOND_MS;

export const ONE_ETH = 1_000_000_000_000_000_000n;
export const USDC_ADDRESS = '0xA0b86991c6218b36c1d19D4a2e9Eb0cE3606eB48';

/** 2^256 - 1 written out, so the tests do not trust the constant they check. */
export const MAX_UINT256_DIGITS = '115792089237316195423570985008687907853269984665640564039457584007913129639935';
export const MAX_UINT256_LITERAL = BigInt(MAX_UINT256_DIGITS);

export const at = (iso: string): Date => new Date(iso);

// --- live: relative to now ----------------------------------------------------------------

/** Anvil account #1 of the standard mnemonic. */
const SUBSCRIBER_WALLET = '0x70997970C51812dc3A010C7d01b50e0d17dc79C8';

/** A raw `subscriptions` document as other systems insert it: 1 ETH for 30 days, started 10 days ago, cancelled `now`. */
export function subscriptionDoc(overrides: Record<string, unknown> = {}, now = new Date()) {
  return {
    _id: new Types.ObjectId(),
    userId: 'user-1',
    creatorId: 'creator-1',
    userWalletAddress: SUBSCRIBER_WALLET,
    userEmail: 'subscriber@example.com',
    amountPaid: '1000000000000000000',
    currency: { symbol: 'ETH', decimals: 18, tokenAddress: null },
    startDate: new Date(now.getTime() - 10 * DAY_MS),
    endDate: new Date(now.getTime() + 20 * DAY_MS),
    status: 'cancelled',
    cancelledAt: now,
    refundEligible: true,
    refundWindowDays: 30,
    isRefundApplied: false,
    ...overrides,
  };
}

let refundCounter = 0;

/** A refund record computed from a subscription document, as the workflow would record it, pending approval. */
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
    autoApproveAt: new Date(requestedAt.getTime() + 14 * DAY_MS).toISOString(),
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

/** What the prepare activity finds for `subscriptionDoc()` requested at its cancellation: eligible, 2/3 ETH. */
export function preparedRefund(now = new Date()): Extract<PreparedRefund, { kind: 'eligible' }> {
  return { kind: 'eligible', ...prepareRefundOf(parseSubscription(subscriptionDoc({}, now)), now, { penaltyBps: 0 }) };
}

// --- fixed: January 2024 ------------------------------------------------------------------

export const WALLET = '0x8ba1f109551bD432803012645Ac136ddd64DBA72';
const FIXED_ID = '65a1b2c3d4e5f60718293a4b';

/** A typed subscription (what `parseSubscription` returns) for the proration and eligibility rules. */
export function subscription(overrides: Partial<Subscription> = {}): Subscription {
  return {
    id: FIXED_ID,
    userId: 'user-1',
    creatorId: 'creator-1',
    userWalletAddress: WALLET,
    amountPaid: ONE_ETH,
    currency: { symbol: 'ETH', decimals: 18, tokenAddress: null },
    startDate: at('2024-01-01T00:00:00.000Z'),
    endDate: at('2024-01-31T00:00:00.000Z'),
    status: 'active',
    refundEligible: true,
    refundWindowDays: 30,
    isRefundApplied: false,
    ...overrides,
  };
}

/** The same subscription as a raw `subscriptions` document, as MongoDB returns it or another system inserts it. */
export function fixedSubscriptionDoc(overrides: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    _id: new Types.ObjectId(FIXED_ID),
    userId: 'user-1',
    creatorId: 'creator-1',
    userWalletAddress: WALLET,
    userEmail: 'user-1@example.com',
    amountPaid: '1000000000000000000',
    currency: { symbol: 'ETH', decimals: 18, tokenAddress: null },
    startDate: at('2024-01-01T00:00:00.000Z'),
    endDate: at('2024-01-31T00:00:00.000Z'),
    status: 'active',
    refundEligible: true,
    refundWindowDays: 30,
    isRefundApplied: false,
    ...overrides,
  };
}

/** That document with some fields removed (a missing key, not an `undefined` value). */
export function fixedSubscriptionDocWithout(...fields: string[]): Record<string, unknown> {
  const document = fixedSubscriptionDoc();
  for (const field of fields) delete document[field];
  return document;
}
