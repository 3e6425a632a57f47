import { Types, type Connection } from 'mongoose';
import { DomainError } from '../src/domain/errors';
import { assessRefund, type PreparedRefund } from '../src/domain/prepared-refund';
import type { NotificationFailure, ProgressFields, Refund, TransitionFields } from '../src/domain/refund';
import type { StatusChange } from '../src/domain/refund-status';
import { OBJECT_ID_PATTERN, parseSubscription } from '../src/domain/subscription';
import type { Logger } from '../src/logger';
import { reportError } from '../src/observability/sentry';
import { RefundTransitionConflict, type RefundRepository } from '../src/persistence/refund-repository';
import { subscriptionModel } from '../src/persistence/subscription-model';

export interface PrepareRefundInput {
  refundId: string;
  subscriptionId: string;
  requestedAt: string;
  penaltyBps: number;
}


export function createRefundRecordActivities(connection: Connection, refunds: RefundRepository, logger: Logger) {
  const subscriptions = subscriptionModel(connection);
  const log = logger.child({ component: 'proRataRefund' });

  /**
   * Loads and validates the subscription, checks eligibility and computes the
   * amount at the request time. It runs only for refunds started without an
   * amount: those the sweep starts (its own check only picks which
   * subscriptions to start; this one is judged against the records at run
   * time, in the workflow's history) and those started before the API prepared
   * refunds (patch `api-prepares-refund`).
   */
  async function prepareRefund(input: PrepareRefundInput): Promise<PreparedRefund> {
    if (!OBJECT_ID_PATTERN.test(input.subscriptionId)) {
      return { kind: 'invalid', code: 'SUBSCRIPTION_NOT_FOUND', message: `subscription id ${input.subscriptionId} is not an ObjectId` };
    }
    const doc = await subscriptions.findById(new Types.ObjectId(input.subscriptionId)).lean();
    if (!doc) return { kind: 'invalid', code: 'SUBSCRIPTION_NOT_FOUND', message: `subscription ${input.subscriptionId} does not exist` };
    try {
      const subscription = parseSubscription(doc);
      const requestedAt = new Date(input.requestedAt);
      const policy = { penaltyBps: input.penaltyBps };
      const existing = await refunds.findBlocking(input.subscriptionId, input.refundId);
      const { eligible, reasons, preparation } = assessRefund(subscription, existing, requestedAt, policy, new Date());
      if (!eligible) return { kind: 'ineligible', reasons, amount: preparation.amount, breakdown: preparation.breakdown };
      return { kind: 'eligible', ...preparation };
    } catch (error) {
      if (error instanceof DomainError) return { kind: 'invalid', code: 'INVALID_SUBSCRIPTION', message: error.message };
      throw error;
    }
  }

  async function createRefundRecord(input: { view: Refund; runId: string }): Promise<void> {
    await refunds.create(input.view, input.runId);
    log.info({ refundId: input.view.refundId, subscriptionId: input.view.subscriptionId, amount: input.view.amount }, 'refund recorded');
  }

  /**
   * Mirrors a status change of the workflow onto the record. The workflow is the
   * source of truth: if the record drifted (edited by hand, or a write lost on a
   * store without isolated updates), the change is not forced and the refund goes
   * on; the sweep's reconciliation replays the workflow's history onto the record.
   */
  async function transitionRefund(input: { refundId: string; change: StatusChange; fields?: TransitionFields; runId?: string; base?: Refund }): Promise<{ mirrored: boolean }> {
    const { decidedAt, completedAt, ...rest } = input.fields ?? {};
    try {
      await refunds.transition(
        input.refundId,
        input.change,
        {
          ...rest,
          ...(decidedAt !== undefined ? { decidedAt: decidedAt ? new Date(decidedAt) : null } : {}),
          ...(completedAt !== undefined ? { completedAt: completedAt ? new Date(completedAt) : null } : {}),
        },
        input.runId && input.base ? { runId: input.runId, base: input.base } : undefined,
      );
    } catch (error) {
      if (!(error instanceof RefundTransitionConflict)) throw error;
      log.error({ refundId: input.refundId, status: input.change.status, recordStatus: error.current }, 'refund record drifted from its workflow: left for reconciliation');
      reportError(error, { refundId: input.refundId, status: input.change.status });
      return { mirrored: false };
    }
    log.info({ refundId: input.refundId, status: input.change.status, by: input.change.by }, `refund ${input.change.status}`);
    return { mirrored: true };
  }


  /** Flags the subscription as refunded; re-running it for the same refund changes nothing. */
  async function markSubscriptionRefunded(input: { subscriptionId: string; refundId: string; at: string }): Promise<void> {
    await subscriptions.updateOne(
      { _id: new Types.ObjectId(input.subscriptionId), isRefundApplied: { $ne: true } },
      { $set: { isRefundApplied: true, refundId: input.refundId, refundedAt: new Date(input.at) } },
    );
  }

  /** Mirrors what the workflow learnt without a status change; the workflow is the only writer of the record. */
  async function recordRefundProgress(input: { refundId: string; fields: ProgressFields }): Promise<void> {
    const { autoApproveAt, ...rest } = input.fields;
    await refunds.setFields(input.refundId, { ...rest, ...(autoApproveAt !== undefined ? { autoApproveAt: new Date(autoApproveAt) } : {}) });
  }

  async function recordNotificationFailure(input: { refundId: string; failure: NotificationFailure }): Promise<void> {
    await refunds.addNotificationFailure(input.refundId, input.failure);
    log.warn({ refundId: input.refundId, ...input.failure }, 'notification failed for good');
  }

  /**
   * A reset run asks whether its refund was already closed without a payout.
   * A reset erases the run's decisions from the history; the record keeps them,
   * and a rejected or cancelled refund must not come back to be approved by its timer.
   */
  async function closedWithoutPayout(input: { refundId: string }): Promise<Refund | null> {
    const record = await refunds.findById(input.refundId);
    return record && (record.refundStatus === 'rejected' || record.refundStatus === 'cancelled') ? record : null;
  }

  return { prepareRefund, createRefundRecord, transitionRefund, markSubscriptionRefunded, recordRefundProgress, recordNotificationFailure, closedWithoutPayout };
}
