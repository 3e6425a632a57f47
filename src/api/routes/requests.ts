import { assessRefund } from '../../domain/prepared-refund';
import { BLOCKING_STATUSES, isTerminal, type RefundStatus } from '../../domain/refund-status';
import type { Refund } from '../../domain/refund';
import type { StartOutcome } from '../../temporal/refund-outcomes';
import type { ApiServices } from '../context';
import { apiError, type ApiError } from '../errors';
import type { Handlers, Reply } from '../route-table';
import type { LoadedRefund } from './loaders';

/**
 * Asking for a refund and following it. Starting is guarded three times: the
 * store (a live or completed refund answers 409), the domain rules (422 with
 * reason codes), and Temporal itself: one workflow id per subscription, so of
 * any number of concurrent requests exactly one starts a refund. The router
 * has loaded the subscription or refund and checked the caller owns it.
 */
export const requestHandlers = {
  async requestRefund({ subject: subscription, body, caller }, services) {
    const blocking = await blockingRefund(services, subscription.id);
    if (blocking) throw refundExists(blocking.refundId, blocking.refundStatus);
    // Checked and computed once, at the request time the workflow records: it then answers without an activity.
    const requestedAt = services.now();
    const { eligible, reasons, preparation } = assessRefund(subscription, null, requestedAt, { penaltyBps: services.config.refunds.penaltyBps });
    if (!eligible) throw notEligible(reasons);

    const outcome = await services.refundClient.startAfterPreviousCloses({
      subscriptionId: subscription.id,
      requestedBy: caller.sub,
      reason: body.reason ?? null,
      requestedAt,
      prepared: preparation,
      subscription,
    });
    return answerTo(outcome, services);
  },

  async getRefund({ subject: loaded }, services) {
    return { body: await currentRefund(services, loaded) };
  },
} satisfies Pick<Handlers, 'requestRefund' | 'getRefund'>;

async function answerTo(outcome: StartOutcome, services: ApiServices): Promise<Reply<Refund>> {
  switch (outcome.kind) {
    case 'accepted':
      await recordStarted(services, outcome.refund, outcome.runId);
      return { body: outcome.refund, headers: { Location: `/api/refunds/pro-rata/${outcome.refund.refundId}` } };
    case 'ineligible':
      throw notEligible(outcome.reasons);
    case 'subscription-not-found':
      throw apiError('SUBSCRIPTION_NOT_FOUND', outcome.message);
    case 'invalid-subscription':
      throw apiError('INVALID_SUBSCRIPTION', outcome.message);
    case 'refund-exists':
      throw refundExists(outcome.refundId, outcome.refundStatus);
    case 'previous-closing':
      throw apiError('REFUND_CLOSING', 'the previous refund of this subscription is still finishing; retry in a few seconds', {
        refundId: outcome.refundId,
        refundStatus: outcome.refundStatus,
      });
  }
}

/**
 * Writes the record the workflow is about to write, so lists answer with the
 * refund as soon as its 202 does. Both writes insert the same view for the same
 * run: whichever comes second is a no-op (and the API's never takes over a
 * record a reset run has since bound). If the store refuses, the workflow's
 * own write (retried until it lands) still records the refund.
 */
async function recordStarted(services: ApiServices, refund: Refund, runId: string): Promise<void> {
  try {
    await services.refunds.create(refund, runId || null, { onlyIfAbsent: true });
  } catch (error) {
    services.logger.warn({ refundId: refund.refundId, err: error }, 'refund started; its record is left to the workflow');
  }
}

/**
 * The workflow holds the truth and the record follows it one activity later.
 * The record is answered when it cannot be behind: the refund is final, or it
 * waits (pending before its auto-approval time, or failed) and this API did
 * not change it in the last moments. Otherwise (approved or processing: the
 * payout moves it on its own; its auto-approval is due; or this API just
 * decided on it) the workflow is asked. A decision sent from the Temporal CLI
 * or another API instance shows once its record is written, one activity later.
 * A run past the namespace's retention is not found: the record is all there is.
 */
export async function currentRefund(services: ApiServices, { refund, run, live }: LoadedRefund): Promise<Refund> {
  if (live || isTerminal(refund.refundStatus)) return refund;
  const waiting =
    (refund.refundStatus === 'pending_approval' && Date.parse(refund.autoApproveAt) > services.now().getTime()) || refund.refundStatus === 'failed';
  if (waiting && !services.recentChanges.has(refund.refundId)) return refund;
  const current = await services.refundClient.liveRefund(run);
  return current.kind === 'live' ? current.refund : refund;
}

/**
 * The live or completed refund that blocks a new one. A record still pending
 * may lag its workflow by one activity (a cancel answers before the record is
 * written), so a record that is not final is confirmed against the live run.
 */
async function blockingRefund(services: ApiServices, subscriptionId: string): Promise<{ refundId: string; refundStatus: RefundStatus } | null> {
  const record = await services.refunds.findBlocking(subscriptionId);
  if (!record || isTerminal(record.refundStatus)) return record;
  const live = await services.refundClient.liveRefund({ subscriptionId, refundId: record.refundId }).catch(() => null); // Temporal unreachable: the record decides
  if (live?.kind === 'live' && !BLOCKING_STATUSES.includes(live.refund.refundStatus)) return null;
  return record;
}

function notEligible(reasons: readonly string[]): ApiError {
  return apiError('NOT_ELIGIBLE', 'the subscription cannot be refunded', { reasons });
}

function refundExists(refundId: string | null, refundStatus?: RefundStatus): ApiError {
  return apiError('REFUND_EXISTS', 'a refund of this subscription is already in progress or completed', { refundId, ...(refundStatus ? { refundStatus } : {}) });
}
