import { ApplicationFailure, WorkflowNotFoundError, WorkflowUpdateFailedError } from '@temporalio/client';
import { isTerminal, type RefundStatus } from '../../domain/refund-status';
import type { Refund } from '../../domain/refund';
import crypto from 'node:crypto';
import type { DecisionOptions, RefundRunRef } from '../../temporal/refund-client';
import { DECISION_ERRORS, registeredRefund } from '../../../workflows/refund-messages';
import type { ApiServices } from '../context';
import { apiError, type ApiError } from '../errors';
import type { Handlers } from '../route-table';
import { loadRefund } from './loaders';

/**
 * Decisions go to the refund's own workflow run as Temporal updates: the
 * workflow validates them against its live state and answers synchronously.
 * A refund whose record is already final is refused here, without a call.
 */
type Expected = 'pending' | 'failed';

export const decisionHandlers = {
  async approveRefund({ params, body, caller, idempotencyKey }, services) {
    const decision = { kind: 'approved', caller: caller.sub, idempotencyKey } as const;
    return { body: await decide(services, params.refundId, 'pending', decision, (run, options) => services.refundClient.approve(run, { by: caller.sub, note: body.note }, options)) };
  },

  async rejectRefund({ params, body, caller, idempotencyKey }, services) {
    const decision = { kind: 'rejected', caller: caller.sub, idempotencyKey } as const;
    return { body: await decide(services, params.refundId, 'pending', decision, (run, options) => services.refundClient.reject(run, { by: caller.sub, reason: body.reason }, options)) };
  },

  async cancelRefund({ params, caller, idempotencyKey }, services) {
    const ownRefundOnly = (refund: Refund) => refund.userId === caller.sub;
    const decision = { kind: 'cancelled', caller: caller.sub, idempotencyKey } as const;
    return { body: await decide(services, params.refundId, 'pending', decision, (run, options) => services.refundClient.cancel(run, { by: caller.sub }, options), ownRefundOnly) };
  },

  async retryRefund({ params, body, caller, idempotencyKey }, services) {
    const decision = { kind: 'processing', caller: caller.sub, idempotencyKey } as const;
    return { body: await decide(services, params.refundId, 'failed', decision, (run, options) => services.refundClient.retry(run, { by: caller.sub, note: body.note }, options)) };
  },
} satisfies Pick<Handlers, 'approveRefund' | 'rejectRefund' | 'cancelRefund' | 'retryRefund'>;

/**
 * The decision a request makes, to recognise its own retry. With an
 * Idempotency-Key the update carries an id derived from it, so Temporal answers
 * a retry (after the first answer was lost) with the first outcome; and once
 * the refund moved on, a retry finds its own decision in the history and gets
 * the refund back instead of "already decided".
 */
interface Decision {
  /** The status the decision moves the refund to. */
  kind: 'approved' | 'rejected' | 'cancelled' | 'processing';
  caller: string;
  idempotencyKey?: string;
}

function updateIdOf(refundId: string, decision: Decision): string | undefined {
  if (!decision.idempotencyKey) return undefined;
  const key = crypto.createHash('sha256').update(`${decision.caller}\n${decision.idempotencyKey}`).digest('hex').slice(0, 32);
  return `${decision.kind}:${refundId}:${key}`;
}

/** A retried approve, reject or cancel whose decision is already in the history, made by the same caller. */
function alreadyMadeBy(refund: Refund, decision: Decision): boolean {
  return Boolean(decision.idempotencyKey) && decision.kind !== 'processing' && refund.statusHistory.some((change) => change.status === decision.kind && change.by === decision.caller);
}

async function decide(
  services: ApiServices,
  refundId: string,
  expected: Expected,
  decision: Decision,
  send: (run: RefundRunRef, options: DecisionOptions) => Promise<Refund>,
  mayDecide: (refund: Refund) => boolean = () => true,
): Promise<Refund> {
  const { refund, run } = await loadRefund(services, refundId);
  if (!mayDecide(refund)) throw apiError('FORBIDDEN', `refund ${refundId} is not yours`);
  if (alreadyMadeBy(refund, decision)) return refund;
  if (isTerminal(refund.refundStatus)) throw wrongStatus(expected, refund.refundStatus);
  if (expected === 'failed' && refund.refundStatus === 'failed' && refund.retryable === false) throw notRetryable(refund, refund.failureReason ?? 'money may have moved');
  try {
    const decided = await send(run, { updateId: updateIdOf(refundId, decision) });
    services.recentChanges.touch(refundId);
    return decided;
  } catch (error) {
    if (error instanceof WorkflowNotFoundError) throw wrongStatus(expected, refund.refundStatus);
    const refusal = refusalType(error);
    if (refusal === DECISION_ERRORS.notPending || refusal === DECISION_ERRORS.notFailed) {
      throw wrongStatus(refusal === DECISION_ERRORS.notPending ? 'pending' : 'failed', await liveStatus(services, run, refund.refundStatus));
    }
    if (refusal === DECISION_ERRORS.notRetryable) throw notRetryable(refund, (error as WorkflowUpdateFailedError).cause?.message ?? 'money may have moved');
    // The subscription's workflow now runs a later refund: this one is over.
    if (refusal === DECISION_ERRORS.otherRefund) throw wrongStatus(expected, refund.refundStatus);
    if (refusal === DECISION_ERRORS.notReady) throw apiError('REFUND_NOT_READY', 'the refund is still being prepared; retry in a moment');
    if (refusal === DECISION_ERRORS.invalidInput) throw apiError('INVALID_DECISION', (error as WorkflowUpdateFailedError).cause?.message ?? 'the decision is invalid');
    throw error;
  }
}

function refusalType(error: unknown): string | undefined {
  if (!(error instanceof WorkflowUpdateFailedError)) return undefined;
  return error.cause instanceof ApplicationFailure ? (error.cause.type ?? undefined) : undefined;
}

async function liveStatus(services: ApiServices, run: RefundRunRef, fallback: RefundStatus): Promise<RefundStatus> {
  const state = await services.refundClient.state(run).catch(() => null);
  return (state && registeredRefund(state)?.refundStatus) ?? fallback;
}

function notRetryable(refund: Refund, why: string): ApiError {
  return apiError('REFUND_NOT_RETRYABLE', `this payout must not be retried: ${why}`, { refundStatus: refund.refundStatus, failureCode: refund.failureCode });
}

function wrongStatus(expected: Expected, refundStatus: RefundStatus): ApiError {
  return expected === 'pending'
    ? apiError('REFUND_NOT_PENDING', `the refund is ${refundStatus}, not pending approval`, { refundStatus })
    : apiError('REFUND_NOT_FAILED', `the refund is ${refundStatus}; only a failed payout can be retried`, { refundStatus });
}
