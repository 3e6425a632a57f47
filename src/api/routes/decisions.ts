import crypto from 'node:crypto';
import { isTerminal, type RefundStatus } from '../../domain/refund-status';
import type { Refund } from '../../domain/refund';
import type { RefundDecision } from '../../temporal/refund-outcomes';
import type { ApiServices } from '../context';
import { apiError, type ApiError } from '../errors';
import type { Handlers } from '../route-table';
import { loadRefund, type LoadedRefund } from './loaders';

/**
 * Decisions go to the refund's own workflow run as Temporal updates: the
 * workflow validates them against its live state and answers synchronously.
 * A refund whose record is already final is refused here, without a call.
 * Admins decide on any refund, loaded here; a cancel's refund is loaded by the
 * router, whose rule checks it is the caller's (src/api/access.ts).
 */
type Expected = 'pending' | 'failed';

export const decisionHandlers = {
  async approveRefund({ params, body, caller, idempotencyKey }, services) {
    const loaded = await loadRefund(services, params.refundId);
    return { body: await decide(services, loaded, 'pending', { kind: 'approve', by: caller.sub, note: body.note }, idempotencyKey) };
  },

  async rejectRefund({ params, body, caller, idempotencyKey }, services) {
    const loaded = await loadRefund(services, params.refundId);
    return { body: await decide(services, loaded, 'pending', { kind: 'reject', by: caller.sub, reason: body.reason }, idempotencyKey) };
  },

  async cancelRefund({ subject, caller, idempotencyKey }, services) {
    return { body: await decide(services, subject, 'pending', { kind: 'cancel', by: caller.sub }, idempotencyKey) };
  },

  async retryRefund({ params, body, caller, idempotencyKey }, services) {
    const loaded = await loadRefund(services, params.refundId);
    return { body: await decide(services, loaded, 'failed', { kind: 'retry', by: caller.sub, note: body.note }, idempotencyKey) };
  },
} satisfies Pick<Handlers, 'approveRefund' | 'rejectRefund' | 'cancelRefund' | 'retryRefund'>;

/** The status each decision moves the refund to. */
const RESULTING_STATUS = { approve: 'approved', reject: 'rejected', cancel: 'cancelled', retry: 'processing' } as const satisfies Record<RefundDecision['kind'], RefundStatus>;

/**
 * The decision a request makes, to recognise its own retry. With an
 * Idempotency-Key the update carries an id derived from it, so Temporal answers
 * a retry (after the first answer was lost) with the first outcome; and once
 * the refund moved on, a retry finds its own decision in the history and gets
 * the refund back instead of "already decided".
 */
function updateIdOf(refundId: string, decision: RefundDecision, idempotencyKey: string | undefined): string | undefined {
  if (!idempotencyKey) return undefined;
  const key = crypto.createHash('sha256').update(`${decision.by}\n${idempotencyKey}`).digest('hex').slice(0, 32);
  return `${RESULTING_STATUS[decision.kind]}:${refundId}:${key}`;
}

/** A retried approve, reject or cancel whose decision is already in the history, made by the same caller. */
function alreadyMadeBy(refund: Refund, decision: RefundDecision, idempotencyKey: string | undefined): boolean {
  return Boolean(idempotencyKey) && decision.kind !== 'retry' && refund.statusHistory.some((change) => change.status === RESULTING_STATUS[decision.kind] && change.by === decision.by);
}

async function decide(services: ApiServices, { refund, run }: LoadedRefund, expected: Expected, decision: RefundDecision, idempotencyKey: string | undefined): Promise<Refund> {
  if (alreadyMadeBy(refund, decision, idempotencyKey)) return refund;
  if (isTerminal(refund.refundStatus)) throw wrongStatus(expected, refund.refundStatus);
  if (expected === 'failed' && refund.refundStatus === 'failed' && refund.retryable === false) throw notRetryable(refund, refund.failureReason ?? 'money may have moved');
  const outcome = await services.refundClient.decide(run, decision, { updateId: updateIdOf(refund.refundId, decision, idempotencyKey) });
  switch (outcome.kind) {
    case 'decided':
      services.recentChanges.touch(refund.refundId);
      return outcome.refund;
    case 'not-pending':
      throw wrongStatus('pending', outcome.refundStatus ?? refund.refundStatus);
    case 'not-failed':
      throw wrongStatus('failed', outcome.refundStatus ?? refund.refundStatus);
    case 'not-retryable':
      throw notRetryable(refund, outcome.why);
    case 'not-ready':
      throw apiError('REFUND_NOT_READY', 'the refund is still being prepared; retry in a moment');
    case 'invalid':
      throw apiError('INVALID_DECISION', outcome.message);
    case 'over':
      throw wrongStatus(expected, refund.refundStatus);
  }
}

function notRetryable(refund: Refund, why: string): ApiError {
  return apiError('REFUND_NOT_RETRYABLE', `this payout must not be retried: ${why}`, { refundStatus: refund.refundStatus, failureCode: refund.failureCode });
}

function wrongStatus(expected: Expected, refundStatus: RefundStatus): ApiError {
  return expected === 'pending'
    ? apiError('REFUND_NOT_PENDING', `the refund is ${refundStatus}, not pending approval`, { refundStatus })
    : apiError('REFUND_NOT_FAILED', `the refund is ${refundStatus}; only a failed payout can be retried`, { refundStatus });
}
