import type { Currency } from './currency';

/**
 * What the refund workflow and the payout activities say to each other. The
 * workflow holds these in its history, so they are plain JSON (amounts as
 * integer strings).
 */
export interface PayoutRequest {
  refundId: string;
  subscriptionId: string;
  to: string;
  amount: string;
  currency: Currency;
}

/** One signed transaction of a payout. */
export interface PayoutAttemptSummary {
  attemptId: string;
  attempt: number;
  chainId: number;
  from: string;
  to: string;
  nonce: number;
  txHash: string;
}

export type PreparedPayoutResult =
  | (PayoutAttemptSummary & { status: 'signed' | 'confirmed'; blockNumber: number | null; confirmations?: number })
  /** PAYOUT_DAILY_LIMIT reached: nothing was signed; ask again at `retryAt`. */
  | { status: 'limited'; retryAt: string; reason: string };

/** A round of the payout that may still reach the chain: its newest payout transaction, signed, nothing final yet. */
export type OpenRound = PayoutAttemptSummary & { status: 'signed'; blockNumber: null };

export type ConfirmationResult =
  | (PayoutAttemptSummary & { status: 'confirmed'; blockNumber: number; confirmations: number })
  /** The round's nonce went to another transaction at finality depth: nothing was paid; a new round may be signed. */
  | (PayoutAttemptSummary & { status: 'dropped'; reason?: string });
