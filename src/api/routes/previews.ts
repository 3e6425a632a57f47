import type { z } from 'zod';
import { DomainError } from '../../domain/errors';
import { assessRefund } from '../../domain/prepared-refund';
import type { Subscription } from '../../domain/subscription';
import type { ApiServices } from '../context';
import { apiError } from '../errors';
import type { Handlers } from '../route-table';
import type { RefundCalculationSchema } from '../schemas';

/**
 * What a refund requested now would pay, and whether it may be requested:
 * the same rules and arithmetic the workflow applies, with the configured penalty.
 */
export async function previewRefund(services: ApiServices, subscription: Subscription): Promise<z.input<typeof RefundCalculationSchema>> {
  const now = services.now();
  const existing = await services.refunds.findBlocking(subscription.id);
  try {
    const { eligible, reasons, preparation } = assessRefund(subscription, existing, now, { penaltyBps: services.config.refunds.penaltyBps });
    return {
      subscriptionId: subscription.id,
      eligible,
      reasons,
      amount: preparation.amount,
      amountFormatted: preparation.amountFormatted,
      currency: subscription.currency,
      breakdown: preparation.breakdown,
      existingRefund: existing ? { refundId: existing.refundId, refundStatus: existing.refundStatus } : null,
    };
  } catch (error) {
    if (error instanceof DomainError) throw apiError('INVALID_SUBSCRIPTION', error.message, error.details ?? null);
    throw error;
  }
}

/** The subscription is loaded, and its ownership checked, by the router (src/api/access.ts). */
export const previewHandlers = {
  async calculateRefund({ subject: subscription }, services) {
    return { body: await previewRefund(services, subscription) };
  },

  async getEligibility({ subject: subscription }, services) {
    return { body: await previewRefund(services, subscription) };
  },
} satisfies Pick<Handlers, 'calculateRefund' | 'getEligibility'>;
