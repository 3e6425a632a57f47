import { ApplicationFailure, condition, log, patched, setHandler } from '@temporalio/workflow';
import type { Refund } from '../src/domain/refund';
import {
  approveRefundUpdate,
  approveSignal,
  awaitRegistrationUpdate,
  cancelRefundUpdate,
  cancelSignal,
  DECISION_ERRORS,
  getRefundQuery,
  rejectRefundUpdate,
  rejectSignal,
  retryPayoutUpdate,
  retrySignal,
  type RetryDecision,
} from './refund-messages';
import type { RefundState } from './refund-state';

/** `followsPayout`: an approval the workflow takes itself because a payout of this refund was already signed. */
export type Decision = { kind: 'approve'; by: string; note?: string; followsPayout?: true } | { kind: 'reject'; by: string; reason: string } | { kind: 'cancel'; by: string };

/**
 * Everything the refund workflow hears from outside: the query, the
 * registration update, and each decision as an update (validated, answered
 * once the refund moved on) and as a signal (invalid ones are logged and
 * ignored). The workflow reads `decision` and takes `retry` requests.
 */
export class RefundInbox {
  decision: Decision | undefined;
  private retryRequest: RetryDecision | undefined;

  constructor(
    private readonly refundId: string,
    private readonly refund: RefundState,
  ) {}

  listen(): void {
    const { refund } = this;
    setHandler(getRefundQuery, () => refund.state);
    setHandler(awaitRegistrationUpdate, async () => {
      await condition(() => refund.state.phase !== 'preparing');
      return refund.state;
    });

    setHandler(approveRefundUpdate, (d) => this.decide({ kind: 'approve', by: d.by, note: d.note }), { validator: (d) => (this.assertPending(d), assertStorable(d)) });
    setHandler(rejectRefundUpdate, (d) => this.decide({ kind: 'reject', by: d.by, reason: d.reason }), { validator: (d) => (this.assertPending(d), assertReason(d?.reason), assertStorable(d)) });
    setHandler(cancelRefundUpdate, (d) => this.decide({ kind: 'cancel', by: d.by }), { validator: (d) => (this.assertPending(d), assertStorable(d)) });
    setHandler(retryPayoutUpdate, (d) => this.requestRetry({ by: d.by, note: d.note }), { validator: (d) => (this.assertRetryable(d), assertStorable(d)) });

    setHandler(approveSignal, (d) => ignoringInvalid('approve', () => (this.assertPending(d), assertStorableSignal(d), void this.decide({ kind: 'approve', by: d.by, note: d.note }))));
    setHandler(rejectSignal, (d) => ignoringInvalid('reject', () => (this.assertPending(d), assertReason(d?.reason), assertStorableSignal(d), void this.decide({ kind: 'reject', by: d.by, reason: d.reason }))));
    setHandler(cancelSignal, (d) => ignoringInvalid('cancel', () => (this.assertPending(d), assertStorableSignal(d), void this.decide({ kind: 'cancel', by: d.by }))));
    setHandler(retrySignal, (d) => ignoringInvalid('retry', () => (this.assertRetryable(d), assertStorableSignal(d), void this.requestRetry({ by: d.by, note: d.note }))));
  }

  /** The pending admin retry, once; undefined when none came. */
  takeRetry(): RetryDecision | undefined {
    const request = this.retryRequest;
    this.retryRequest = undefined;
    return request;
  }

  get retryRequested(): boolean {
    return this.retryRequest !== undefined;
  }

  private async decide(next: Decision): Promise<Refund> {
    this.decision = next;
    await condition(() => this.refund.status !== 'pending_approval');
    return this.refund.refund;
  }

  private async requestRetry(next: RetryDecision): Promise<Refund> {
    this.retryRequest = next;
    await condition(() => this.refund.status !== 'failed');
    return this.refund.refund;
  }

  private assertPending(d: { by?: unknown; refundId?: unknown } | undefined): void {
    this.assertAddressed(d);
    const { refundStatus } = this.refund.refund;
    if (refundStatus !== 'pending_approval' || this.decision) {
      throw ApplicationFailure.nonRetryable(`refund is ${refundStatus}, not pending approval`, DECISION_ERRORS.notPending);
    }
  }

  private assertRetryable(d: { by?: unknown; refundId?: unknown } | undefined): void {
    this.assertAddressed(d);
    const { refundStatus, retryable, failureReason } = this.refund.refund;
    if (refundStatus !== 'failed' || this.retryRequest) {
      throw ApplicationFailure.nonRetryable(`refund is ${refundStatus}, only a failed payout can be retried`, DECISION_ERRORS.notFailed);
    }
    if (retryable === false) {
      throw ApplicationFailure.nonRetryable(`this payout must not be retried: ${failureReason ?? 'money may have moved'}`, DECISION_ERRORS.notRetryable);
    }
  }

  private assertAddressed(d: { by?: unknown; refundId?: unknown } | undefined): void {
    if (typeof d?.by !== 'string' || d.by.trim() === '') throw ApplicationFailure.nonRetryable('a decision needs "by": who made it', DECISION_ERRORS.invalidInput);
    if (d.refundId !== undefined && d.refundId !== this.refundId) {
      throw ApplicationFailure.nonRetryable(`this workflow runs refund ${this.refundId}, not ${String(d.refundId)}`, DECISION_ERRORS.otherRefund);
    }
  }
}

function assertReason(reason: unknown): void {
  if (typeof reason !== 'string' || reason.trim() === '') throw ApplicationFailure.nonRetryable('a rejection needs a reason', DECISION_ERRORS.invalidInput);
}

const TEXT_LIMITS = { by: 256, reason: 1000, note: 1000 } as const;

/**
 * The decision's text becomes the record's, so it must be text the store can keep: a string,
 * without NUL (PostgreSQL under the embedded store refuses U+0000), within the API's limits. The
 * Web UI's signal form sends whatever JSON an operator types; accepted, such a decision would
 * fail its record write on every retry and hold the refund.
 */
function assertStorable(d: Partial<Record<keyof typeof TEXT_LIMITS, unknown>> | undefined): void {
  for (const [field, limit] of Object.entries(TEXT_LIMITS) as [keyof typeof TEXT_LIMITS, number][]) {
    const value = d?.[field];
    if (value === undefined || value === null) continue;
    if (typeof value !== 'string') throw ApplicationFailure.nonRetryable(`"${field}" must be text`, DECISION_ERRORS.invalidInput);
    if (value.includes('\u0000')) throw ApplicationFailure.nonRetryable(`"${field}" must not contain a NUL character (U+0000)`, DECISION_ERRORS.invalidInput);
    if (value.length > limit) throw ApplicationFailure.nonRetryable(`"${field}" must be at most ${limit} characters`, DECISION_ERRORS.invalidInput);
  }
}

/** Signals are history: one accepted before this check existed must replay as accepted. */
function assertStorableSignal(d: Partial<Record<keyof typeof TEXT_LIMITS, unknown>> | undefined): void {
  if (patched('decision-text-checked')) assertStorable(d);
}

/** Signals cannot be refused like updates; an invalid one is logged and ignored. */
function ignoringInvalid(name: string, apply: () => void): void {
  try {
    apply();
  } catch (error) {
    log.warn(`ignored ${name} signal`, { reason: (error as Error).message });
  }
}
