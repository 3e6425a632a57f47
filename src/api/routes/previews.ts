import type { z } from 'zod';
import { formatAmount } from '../../domain/amount';
import { checkRefundEligibility } from '../../domain/eligibility';
import { DomainError } from '../../domain/errors';
import { calculateProRataRefund } from '../../domain/proration';
import type { Subscription } from '../../domain/subscription';
import { ownsOrAdmin } from '../auth';
import type { ApiServices } from '../context';
import { apiError } from '../errors';
import type { Handlers } from '../route-table';
import type { RefundCalculationSchema } from '../schemas';
import { loadSubscription, type SubscriptionAccess } from './loaders';

/** The subscriber or an admin may preview a subscription's refund. */
export const subscriberOrAdmin: SubscriptionAccess = (caller, owners) => ownsOrAdmin(caller, 'user', owners.userId);

/**
 * What a refund requested now would pay, and whether it may be requested:
 * the same rules and arithmetic the workflow applies, with the configured penalty.
 */
export async function previewRefund(services: ApiServices, subscription: Subscription): Promise<z.input<typeof RefundCalculationSchema>> {
  const now = services.now();
  const policy = { penaltyBps: services.config.refunds.penaltyBps };
  const existing = await services.refunds.findBlocking(subscription.id);
  try {
    const { eligible, reasons } = checkRefundEligibility(subscription, existing, now, policy);
    const { amount, breakdown } = calculateProRataRefund(subscription, now, policy);
    return {
      subscriptionId: subscription.id,
      eligible,
      reasons,
      amount: amount.toString(),
      amountFormatted: formatAmount(amount, subscription.currency.decimals),
      currency: subscription.currency,
      breakdown,
      existingRefund: existing ? { refundId: existing.refundId, refundStatus: existing.refundStatus } : null,
    };
  } catch (error) {
    if (error instanceof DomainError) throw apiError('INVALID_SUBSCRIPTION', error.message, error.details ?? null);
    throw error;
  }
}

export const previewHandlers = {
  async calculateRefund({ body, caller }, services) {
    const subscription = await loadSubscription(services, body.subscriptionId, caller, subscriberOrAdmin);
    return { body: await previewRefund(services, subscription) };
  },

  async getEligibility({ params, caller }, services) {
    const subscription = await loadSubscription(services, params.subscriptionId, caller, subscriberOrAdmin);
    return { body: await previewRefund(services, subscription) };
  },
} satisfies Pick<Handlers, 'calculateRefund' | 'getEligibility'>;
