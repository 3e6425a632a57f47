import { Types } from 'mongoose';
import { DomainError } from '../../domain/errors';
import type { RefundView } from '../../domain/refund';
import { parseSubscription, type Subscription } from '../../domain/subscription';
import { subscriptionModel } from '../../persistence/subscription-model';
import type { RefundRunRef } from '../../temporal/refund-client';
import type { Caller } from '../auth';
import type { ApiServices } from '../context';
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
  refund: RefundView;
  run: RefundRunRef;
}

export async function loadRefund(services: ApiServices, refundId: string): Promise<LoadedRefund> {
  const found = await services.refunds.findWithRunId(refundId);
  if (!found) throw apiError('REFUND_NOT_FOUND', `refund ${refundId} does not exist`);
  return { refund: found.refund, run: { subscriptionId: found.refund.subscriptionId, runId: found.runId, refundId } };
}

/** The refund's user, the creator of its subscription, or an admin. */
export function mayView(caller: Caller, refund: RefundView): boolean {
  if (caller.role === 'admin') return true;
  if (caller.role === 'user') return refund.userId === caller.sub;
  return refund.creatorId === caller.sub;
}
