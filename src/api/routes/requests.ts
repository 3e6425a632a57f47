import { WorkflowNotFoundError } from '@temporalio/client';
import { checkRefundEligibility } from '../../domain/eligibility';
import { prepareRefundOf } from '../../domain/prepared-refund';
import { BLOCKING_STATUSES, isTerminal, type RefundStatus } from '../../domain/refund-status';
import type { Refund } from '../../domain/refund';
import type { Subscription } from '../../domain/subscription';
import type { StartRefundResult } from '../../temporal/refund-client';
import { registeredRefund } from '../../../workflows/refund-messages';
import type { Caller } from '../auth';
import type { ApiServices } from '../context';
import { apiError } from '../errors';
import type { Handlers } from '../route-table';
import { loadRefund, loadSubscription, mayView, type LoadedRefund } from './loaders';

/**
 * Asking for a refund and following it. Starting is guarded three times: the
 * store (a live or completed refund answers 409), the domain rules (422 with
 * reason codes), and Temporal itself: one workflow id per subscription, so of
 * any number of concurrent requests exactly one starts a refund.
 */
export const requestHandlers = {
  async requestRefund({ body, caller }, services) {
    const subscription = await loadSubscription(services, body.subscriptionId, caller, (who, owners) => who.role === 'user' && who.sub === owners.userId);
    const blocking = await blockingRefund(services, subscription.id);
    if (blocking) throw refundExists(blocking.refundId, blocking.refundStatus);
    const eligibility = checkRefundEligibility(subscription, null, services.now(), { penaltyBps: services.config.refunds.penaltyBps });
    if (!eligibility.eligible) throw apiError('NOT_ELIGIBLE', 'the subscription cannot be refunded', { reasons: eligibility.reasons });

    const started = await startRefund(services, subscription, caller, body.reason ?? null);
    const { state } = started;
    switch (state.phase) {
      case 'registered':
        await recordStarted(services, state.refund, started.runId);
        return { body: state.refund, headers: { Location: `/api/refunds/pro-rata/${started.refundId}` } };
      case 'ineligible':
        throw apiError('NOT_ELIGIBLE', 'the subscription cannot be refunded', { reasons: state.ineligibility.reasons });
      case 'invalid':
        if (state.invalid.code === 'SUBSCRIPTION_NOT_FOUND') throw apiError('SUBSCRIPTION_NOT_FOUND', state.invalid.message);
        throw apiError('INVALID_SUBSCRIPTION', state.invalid.message);
      case 'preparing':
        throw new Error(`refund ${started.refundId} answered its registration while still preparing`);
    }
  },

  async getRefund({ params, caller }, services) {
    const loaded = await loadRefund(services, params.refundId);
    if (!mayView(caller, loaded.refund)) throw apiError('FORBIDDEN', 'this refund is not yours');
    return { body: await currentRefund(services, loaded) };
  },
} satisfies Pick<Handlers, 'requestRefund' | 'getRefund'>;

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
 */
export async function currentRefund(services: ApiServices, { refund, run, live }: LoadedRefund): Promise<Refund> {
  if (live || isTerminal(refund.refundStatus)) return refund;
  const waiting =
    (refund.refundStatus === 'pending_approval' && Date.parse(refund.autoApproveAt) > services.now().getTime()) || refund.refundStatus === 'failed';
  if (waiting && !services.recentChanges.has(refund.refundId)) return refund;
  try {
    const live = registeredRefund(await services.refundClient.state(run));
    return live?.refundId === refund.refundId ? live : refund;
  } catch (error) {
    if (error instanceof WorkflowNotFoundError) return refund; // past the namespace's retention: the record is all there is
    throw error;
  }
}

/**
 * The live or completed refund that blocks a new one. A record still pending
 * may lag its workflow by one activity (a cancel answers before the record is
 * written), so a record that is not final is confirmed against the live run.
 */
async function blockingRefund(services: ApiServices, subscriptionId: string): Promise<{ refundId: string; refundStatus: RefundStatus } | null> {
  const record = await services.refunds.findBlocking(subscriptionId);
  if (!record || isTerminal(record.refundStatus)) return record;
  const live = await liveRefund(services, subscriptionId).catch(() => null); // Temporal unreachable: the record decides
  if (live?.refundId === record.refundId && !BLOCKING_STATUSES.includes(live.refundStatus)) return null;
  return record;
}

const CLOSING_WAIT_MS = 5_000;

type Started = Extract<StartRefundResult, { kind: 'started' }>;

/**
 * Starts the workflow. A cancelled or rejected refund's run stays open for a
 * moment while its notifications go out; a new request waits for it to close
 * (briefly) instead of being refused.
 */
async function startRefund(services: ApiServices, subscription: Subscription, caller: Caller, reason: string | null): Promise<Started> {
  // Checked and computed here, at the request time the workflow records: it then answers without an activity.
  const request = () => {
    const requestedAt = new Date();
    const prepared = prepareRefundOf(subscription, requestedAt, { penaltyBps: services.config.refunds.penaltyBps });
    return { subscriptionId: subscription.id, requestedBy: caller.sub, reason, requestedAt, prepared, subscription };
  };
  const first = await services.refundClient.start(request());
  if (first.kind === 'started') return first;
  const running = await liveRefund(services, subscription.id);
  if (!running || BLOCKING_STATUSES.includes(running.refundStatus)) throw refundExists(first.refundId ?? running?.refundId ?? null, running?.refundStatus);

  await services.refundClient.client.withDeadline(Date.now() + CLOSING_WAIT_MS, () => services.refundClient.result({ subscriptionId: subscription.id })).catch(() => undefined);
  const second = await services.refundClient.start(request());
  if (second.kind === 'started') return second;
  throw apiError('REFUND_CLOSING', 'the previous refund of this subscription is still finishing; retry in a few seconds', {
    refundId: running.refundId,
    refundStatus: running.refundStatus,
  });
}

/** The refund of the subscription's latest workflow run, live; null when there is none (or it is still preparing). */
async function liveRefund(services: ApiServices, subscriptionId: string): Promise<Refund | null> {
  try {
    return registeredRefund(await services.refundClient.state({ subscriptionId }));
  } catch (error) {
    if (error instanceof WorkflowNotFoundError) return null;
    throw error;
  }
}

function refundExists(refundId: string | null, refundStatus?: RefundStatus) {
  return apiError('REFUND_EXISTS', 'a refund of this subscription is already in progress or completed', { refundId, ...(refundStatus ? { refundStatus } : {}) });
}
