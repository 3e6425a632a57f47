import { Types } from 'mongoose';
import type { Subscription } from '../../../src/domain/subscription';

/** Shared builders for the domain tests: a valid starting point that each test bends in one place. */

export const SECOND_MS = 1000;
export const DAY_MS = 24 * 60 * 60 * SECOND_MS;

/** 2^256 - 1 written out, so the tests do not trust the constant they check. */
export const MAX_UINT256_DIGITS = '115792089237316195423570985008687907853269984665640564039457584007913129639935';
export const MAX_UINT256_LITERAL = BigInt(MAX_UINT256_DIGITS);

export const ONE_ETH = 1_000_000_000_000_000_000n;

export const WALLET = '0x8ba1f109551bD432803012645Ac136ddd64DBA72';
export const USDC_ADDRESS = '0xA0b86991c6218b36c1d19D4a2e9Eb0cE3606eB48';

export const at = (iso: string): Date => new Date(iso);

/** A typed subscription (what `parseSubscription` returns) for the proration and eligibility rules. */
export function subscription(overrides: Partial<Subscription> = {}): Subscription {
  return {
    id: '65a1b2c3d4e5f60718293a4b',
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

/** A raw `subscriptions` document, as MongoDB returns it or another system inserts it. */
export function subscriptionDocument(overrides: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    _id: new Types.ObjectId('65a1b2c3d4e5f60718293a4b'),
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

/** The same document with some fields removed (a missing key, not an `undefined` value). */
export function subscriptionDocumentWithout(...fields: string[]): Record<string, unknown> {
  const document = subscriptionDocument();
  for (const field of fields) delete document[field];
  return document;
}

/** Runs `fn` and returns what it threw; fails the test if it returned normally. */
export function thrownBy(fn: () => unknown): unknown {
  try {
    fn();
  } catch (error) {
    return error;
  }
  throw new Error('expected a throw, but the call returned normally');
}
