import { ApplicationFailure, WorkflowNotFoundError, WorkflowUpdateFailedError } from '@temporalio/client';
import { isTerminal, type RefundStatus } from '../../domain/refund-status';
import type { RefundView } from '../../domain/refund';
import type { RefundRunRef } from '../../temporal/refund-client';
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
  async approveRefund({ params, body, caller }, services) {
    return { body: await decide(services, params.refundId, 'pending', (run) => services.refundClient.approve(run, { by: caller.sub, note: body.note })) };
  },

  async rejectRefund({ params, body, caller }, services) {
    return { body: await decide(services, params.refundId, 'pending', (run) => services.refundClient.reject(run, { by: caller.sub, reason: body.reason })) };
  },

  async cancelRefund({ params, caller }, services) {
    const ownRefundOnly = (refund: RefundView) => refund.userId === caller.sub;
    return { body: await decide(services, params.refundId, 'pending', (run) => services.refundClient.cancel(run, { by: caller.sub }), ownRefundOnly) };
  },

  async retryRefund({ params, body, caller }, services) {
    return { body: await decide(services, params.refundId, 'failed', (run) => services.refundClient.retry(run, { by: caller.sub, note: body.note })) };
  },
} satisfies Pick<Handlers, 'approveRefund' | 'rejectRefund' | 'cancelRefund' | 'retryRefund'>;

async function decide(
  services: ApiServices,
  refundId: string,
  expected: Expected,
  send: (run: RefundRunRef) => Promise<RefundView>,
  mayDecide: (refund: RefundView) => boolean = () => true,
): Promise<RefundView> {
  const { refund, run } = await loadRefund(services, refundId);
  if (!mayDecide(refund)) throw apiError('FORBIDDEN', `refund ${refundId} is not yours`);
  if (isTerminal(refund.refundStatus)) throw wrongStatus(expected, refund.refundStatus);
  if (expected === 'failed' && refund.refundStatus === 'failed' && refund.retryable === false) throw notRetryable(refund, refund.failureReason ?? 'money may have moved');
  try {
    const decided = await send(run);
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

function notRetryable(refund: RefundView, why: string): ApiError {
  return apiError('REFUND_NOT_RETRYABLE', `this payout must not be retried: ${why}`, { refundStatus: refund.refundStatus, failureCode: refund.failureCode });
}

function wrongStatus(expected: Expected, refundStatus: RefundStatus): ApiError {
  return expected === 'pending'
    ? apiError('REFUND_NOT_PENDING', `the refund is ${refundStatus}, not pending approval`, { refundStatus })
    : apiError('REFUND_NOT_FAILED', `the refund is ${refundStatus}; only a failed payout can be retried`, { refundStatus });
}
