import type { Currency } from './currency';
import type { RefundBreakdown } from './proration';
import type { RefundStatus, StatusChange } from './refund-status';

/**
 * A refund as every part of the system sees it: the workflow's state, the
 * MongoDB record and the API response share this JSON-safe shape.
 * Amounts are integer strings in the smallest unit; times are ISO strings.
 */
export interface Refund {
  refundId: string;
  subscriptionId: string;
  userId: string;
  creatorId: string;
  workflowId: string;
  refundStatus: RefundStatus;
  amount: string;
  amountFormatted: string;
  currency: Currency;
  breakdown: RefundBreakdown;
  reason: string | null;
  requestedAt: string;
  requestedBy: string;
  autoApproveAt: string;
  decidedBy: string | null;
  decidedAt: string | null;
  decisionNote: string | null;
  transactionId: string | null;
  payout: PayoutDetails | null;
  completedAt: string | null;
  failureReason: string | null;
  /** The failure's type (src/payout/failures.ts) while `failed`. */
  failureCode: string | null;
  /** While `failed`: whether an admin's retry may try again (never when money may have moved). */
  retryable: boolean | null;
  /** Why the refund waits when it would otherwise move on (an amount above PAYOUT_MAX_AMOUNT, PAYOUT_DAILY_LIMIT reached). */
  waitingReason: string | null;
  statusHistory: StatusChange[];
  notificationFailures: NotificationFailure[];
  processingTimeMs: number | null;
}

/** Fields a status change may set alongside the status (JSON from the workflow: times are ISO strings). */
export type TransitionFields = Partial<
  Pick<
    Refund,
    'decidedBy' | 'decidedAt' | 'decisionNote' | 'completedAt' | 'failureReason' | 'failureCode' | 'retryable' | 'waitingReason' | 'processingTimeMs' | 'transactionId' | 'payout'
  >
>;

/** Fields the workflow updates without a status change: the payout as it progresses, why the refund waits. */
export type ProgressFields = Partial<Pick<Refund, 'transactionId' | 'payout' | 'waitingReason' | 'autoApproveAt'>>;

export interface PayoutDetails {
  chainId: number;
  from: string;
  to: string;
  nonce: number;
  txHash: string;
  blockNumber: number | null;
  confirmations: number | null;
  attempt: number;
}

/**
 * Exactly the fields of PayoutDetails, from a payout attempt or confirmation
 * that carries more (attempt id, ledger status): the refund, and so the API,
 * shows the documented shape and nothing else.
 */
export function payoutDetails({ chainId, from, to, nonce, txHash, blockNumber, confirmations, attempt }: PayoutDetails): PayoutDetails {
  return { chainId, from, to, nonce, txHash, blockNumber, confirmations, attempt };
}

export interface NotificationFailure {
  eventId: string;
  channel: 'email' | 'webhook';
  recipient: string;
  error: string;
  at: string;
}

/** The workflow id of a subscription's refund: one live refund per subscription, by construction. */
export function refundWorkflowId(subscriptionId: string): string {
  return `prorata-refund-${subscriptionId}`;
}
