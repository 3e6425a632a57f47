import { Types } from 'mongoose';
import { DomainError } from '../../domain/errors';
import type { Refund } from '../../domain/refund';
import { parseSubscription, type Subscription } from '../../domain/subscription';
import { subscriptionModel } from '../../persistence/subscription-model';
import { subscriptionIdOfRefund, type RefundRunRef } from '../../temporal/refund-client';
import type { Owned } from '../access';
import type { ApiServices } from '../context';
import { apiError } from '../errors';

/**
 * Loading what a request is about, with the API's answers for "not there" (404)
 * and "stored wrong" (422). Whether the caller may touch it is decided in
 * between, against the stored owners, by the route's rule (src/api/access.ts):
 * so a stranger learns nothing from a 422.
 */

/** The stored subscription and its owners; opening it parses the document (422 when malformed). */
export async function findSubscription(services: ApiServices, subscriptionId: string): Promise<Owned<Subscription>> {
  const doc = await subscriptionModel(services.mongo).findById(new Types.ObjectId(subscriptionId)).lean();
  if (!doc) throw apiError('SUBSCRIPTION_NOT_FOUND', `subscription ${subscriptionId} does not exist`);
  return {
    owners: { userId: doc.userId, creatorId: doc.creatorId },
    open: () => {
      try {
        return parseSubscription(doc);
      } catch (error) {
        if (error instanceof DomainError) throw apiError('INVALID_SUBSCRIPTION', error.message, error.details ?? null);
        throw error;
      }
    },
  };
}

export interface LoadedRefund {
  refund: Refund;
  run: RefundRunRef;
  /** True when `refund` is the workflow's live state (the record was not written yet). */
  live: boolean;
}

/**
 * The record, or, in the moment between POST's answer and the record's write,
 * the refund from its workflow: the refund id names its subscription, whose
 * workflow id follows (one Temporal query, only when there is no record).
 */
export async function loadRefund(services: ApiServices, refundId: string): Promise<LoadedRefund> {
  const found = await services.refunds.findWithRunId(refundId);
  if (found) return { refund: found.refund, run: { subscriptionId: found.refund.subscriptionId, runId: found.runId, refundId }, live: false };
  const subscriptionId = subscriptionIdOfRefund(refundId);
  if (subscriptionId) {
    const live = await services.refundClient.liveRefund({ subscriptionId, refundId });
    if (live.kind === 'live') return { refund: live.refund, run: { subscriptionId, runId: null, refundId }, live: true };
  }
  throw apiError('REFUND_NOT_FOUND', `refund ${refundId} does not exist`);
}
