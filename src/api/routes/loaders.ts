import { Types } from 'mongoose';
import { DomainError } from '../../domain/errors';
import type { Refund } from '../../domain/refund';
import { parseSubscription, type Subscription } from '../../domain/subscription';
import { subscriptionModel } from '../../persistence/subscription-model';
import { WorkflowNotFoundError } from '@temporalio/client';
import { subscriptionIdOfRefund, type RefundRunRef } from '../../temporal/refund-client';
import type { Caller } from '../auth';
import type { ApiServices } from '../context';
import { registeredRefund } from '../../../workflows/refund-messages';
import { apiError } from '../errors';

/**
 * Loading what a request is about, with the API's answers for "not there" (404),
 * "not yours" (403, decided against the stored owner) and "stored wrong" (422).
 */

/** Who may touch a subscription, judged on its stored userId / creatorId. */
export type SubscriptionAccess = (caller: Caller, owners: { userId: unknown; creatorId: unknown }) => boolean;

export async function loadSubscription(services: ApiServices, subscriptionId: string, caller: Caller, mayAccess: SubscriptionAccess): Promise<Subscription> {
  const doc = await subscriptionModel(services.mongo).findById(new Types.ObjectId(subscriptionId)).lean();
  if (!doc) throw apiError('SUBSCRIPTION_NOT_FOUND', `subscription ${subscriptionId} does not exist`);
  if (!mayAccess(caller, { userId: doc.userId, creatorId: doc.creatorId })) throw apiError('FORBIDDEN', 'this subscription is not yours');
  try {
    return parseSubscription(doc);
  } catch (error) {
    if (error instanceof DomainError) throw apiError('INVALID_SUBSCRIPTION', error.message, error.details ?? null);
    throw error;
  }
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
    const state = await services.refundClient.state({ subscriptionId }).catch((error: unknown) => {
      if (error instanceof WorkflowNotFoundError) return null;
      throw error;
    });
    const live = state ? registeredRefund(state) : null;
    if (live?.refundId === refundId) return { refund: live, run: { subscriptionId, runId: null, refundId }, live: true };
  }
  throw apiError('REFUND_NOT_FOUND', `refund ${refundId} does not exist`);
}

/** The refund's user, the creator of its subscription, or an admin. */
export function mayView(caller: Caller, refund: Refund): boolean {
  if (caller.role === 'admin') return true;
  if (caller.role === 'user') return refund.userId === caller.sub;
  return refund.creatorId === caller.sub;
}
