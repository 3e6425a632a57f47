import { formatAmount, parseAmount } from '../../domain/amount';
import type { Handlers } from '../route-table';
import { sweepStatusWithin } from '../health';

/** Finance and operations: statistics over the store, and running the sweep now. */
export const adminHandlers = {
  async getStatistics(_input, services) {
    const [byStatus, totals, avgProcessingTime, oldestPending, sweep] = await Promise.all([
      services.refunds.countsByStatus(),
      services.refunds.completedTotals(),
      services.refunds.averageProcessingTimeMs(),
      services.refunds.oldestPendingRequestedAt(),
      sweepStatusWithin(services),
    ]);
    const decided = byStatus.completed + byStatus.failed;
    return {
      body: {
        byStatus,
        totals: totals.map(({ currency, amount, count }) => ({ currency, amount, amountFormatted: formatAmount(parseAmount(amount), currency.decimals), count })),
        avgProcessingTime,
        successRate: decided > 0 ? byStatus.completed / decided : null,
        pendingCount: byStatus.pending_approval,
        oldestPendingAgeMs: oldestPending ? Math.max(0, services.now().getTime() - oldestPending.getTime()) : null,
        sweep,
      },
    };
  },

  async triggerSweep(_input, services) {
    await services.sweep.trigger();
    return { body: { triggered: true as const, scheduleId: services.sweep.scheduleId } };
  },
} satisfies Pick<Handlers, 'getStatistics' | 'triggerSweep'>;
