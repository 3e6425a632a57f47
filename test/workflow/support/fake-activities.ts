import { ApplicationFailure } from '@temporalio/activity';
import type { PreparedPayoutResult } from '../../../src/domain/payout';
import type { PreparedRefund } from '../../../src/domain/prepared-refund';
import type { NotificationActivities, PayoutActivities, RecordActivities, WatchActivities } from '../../../workflows/refund-activities';
import { preparedRefund } from '../../support/fixtures';

/**
 * The refund workflow's activities, in memory: what they were asked is kept,
 * what they answer is scripted per test. Same names and types as the real ones
 * (workflows/refund-activities.ts), so the workflow cannot tell.
 */
export type Scripted = {
  prepareRefund?: PreparedRefund;
  /** Answers of successive preparePayout calls; an Error is thrown. Default: a signed payout. */
  preparePayout?: (PreparedPayoutResult | Error)[];
  autoApprovalAllowed?: { allowed: boolean; reason: string | null };
  payoutStarted?: { started: boolean; txHash: string | null };
  /** Answers of successive openPayoutRound calls (the ledger's open round of this refund, or null). Default: null. */
  openPayoutRound?: (PreparedPayoutResult | null)[];
};

/** What prepareRefund answers unless a test scripts otherwise. */
export const ELIGIBLE = preparedRefund();
export const SUBJECT = ELIGIBLE.subject;

export const SIGNED = { status: 'signed', attemptId: 's:1', attempt: 1, chainId: 31337, from: '0xTreasury', to: SUBJECT.userWalletAddress, nonce: 0, txHash: '0xpaid', blockNumber: null } as const;

export function fakeActivities(script: Scripted = {}) {
  const calls: { name: string; input: unknown }[] = [];
  const payoutAnswers = [...(script.preparePayout ?? [])];
  const openRounds = [...(script.openPayoutRound ?? [])];
  const record =
    <T>(name: string, answer: () => T) =>
    async (input: unknown) => {
      calls.push({ name, input });
      return answer();
    };

  const records = {
    prepareRefund: record('prepareRefund', () => script.prepareRefund ?? ELIGIBLE),
    createRefundRecord: record('createRefundRecord', () => undefined),
    transitionRefund: record('transitionRefund', () => ({ mirrored: true })),
    recordRefundProgress: record('recordRefundProgress', () => undefined),
    markSubscriptionRefunded: record('markSubscriptionRefunded', () => undefined),
    recordNotificationFailure: record('recordNotificationFailure', () => undefined),
    payoutDestination: record('payoutDestination', () => SUBJECT.userWalletAddress),
    payoutStarted: record('payoutStarted', () => script.payoutStarted ?? { started: false, txHash: null }),
    autoApprovalAllowed: record('autoApprovalAllowed', () => script.autoApprovalAllowed ?? { allowed: true, reason: null }),
    openPayoutRound: record('openPayoutRound', () => openRounds.shift() ?? null),
  } as unknown as RecordActivities;
  const payouts = {
    preparePayout: record('preparePayout', () => {
      const next = payoutAnswers.shift() ?? SIGNED;
      if (next instanceof Error) throw next;
      return next;
    }),
  } as unknown as PayoutActivities;
  const watch = {
    confirmPayout: record('confirmPayout', () => ({ ...SIGNED, status: 'confirmed', blockNumber: 7, confirmations: 1 })),
  } as unknown as WatchActivities;
  const notifications = {
    sendAdminWebhook: record('sendAdminWebhook', () => ({ delivered: true, status: 200 })),
    sendRefundEmail: record('sendRefundEmail', () => ({ sent: true, to: 'someone' })),
  } as unknown as NotificationActivities;

  return {
    activities: { ...records, ...payouts, ...watch, ...notifications },
    calls,
    called: (name: string) => calls.filter((call) => call.name === name),
  };
}

export function insufficientFunds(): ApplicationFailure {
  return ApplicationFailure.nonRetryable('treasury holds 0 ETH: top up the treasury, then retry the refund', 'InsufficientFunds');
}
