/**
 * Why a payout stopped. Each is final for the activity (retrying the same call
 * cannot help); `adminMayRetry` says whether an admin's `retry` may try again:
 * never when money may have moved, or when the refund itself is wrong.
 */
export const PAYOUT_FAILURES = {
  InvalidAddress: { adminMayRetry: true, means: 'the wallet address cannot receive a payout (fix the subscription, then retry)' },
  InvalidAmount: { adminMayRetry: false, means: 'the refund amount cannot be paid' },
  InsufficientFunds: { adminMayRetry: true, means: 'the treasury cannot cover the payout and what is already promised (top it up, then retry)' },
  TransferRefused: { adminMayRetry: true, means: 'the transfer fails when simulated (reverts or halts) (the token or the recipient refuses it): nothing was signed' },
  PayoutReverted: { adminMayRetry: true, means: 'the transaction was mined but reverted: nothing was paid' },
  TokenTransferFailed: { adminMayRetry: true, means: 'the token transfer was mined but moved nothing: nothing was paid' },
  PayoutAmountMismatch: { adminMayRetry: false, means: 'the chain delivered a different amount than the refund: a person must settle the difference' },
  CurrencyMismatch: { adminMayRetry: false, means: 'the refund\'s currency does not match the token on chain (decimals differ)' },
  PayoutClaimedByAnotherRefund: { adminMayRetry: false, means: 'another refund already paid, or is paying, this subscription' },
  PayoutMismatch: { adminMayRetry: false, means: 'the payout was bound to another recipient, amount or chain' },
} as const;

export type PayoutFailureType = keyof typeof PAYOUT_FAILURES;

export class PayoutFailure extends Error {
  constructor(
    readonly type: PayoutFailureType,
    message: string,
  ) {
    super(message);
    this.name = 'PayoutFailure';
  }
}

/** Whether a failure type is one of the payout's own (a cause a person must see), not an infrastructure failure that trying again resolves. */
export function isPayoutFailure(type: string | null | undefined): boolean {
  return !!type && type in PAYOUT_FAILURES;
}

/** Whether an admin may retry a refund that failed with this failure type (unknown types: yes, nothing was proven paid). */
export function adminMayRetry(type: string | null | undefined): boolean {
  return !type || !(type in PAYOUT_FAILURES) || PAYOUT_FAILURES[type as PayoutFailureType].adminMayRetry;
}
