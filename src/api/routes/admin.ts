import { formatAmount, parseAmount } from '../../domain/amount';
import type { Handlers } from '../route-table';

/**
 * Finance and operations: statistics, and running the sweep now. Statistics
 * are the event log's fold (src/persistence/refund-events.ts), brought up to
 * date by each request: exact, and the same cost at any number of refunds. The
 * sweep part is /api/status's schedule probe (at most 1 s old).
 */
export const adminHandlers = {
  async getStatistics(_input, services) {
    const [stats, sweep] = await Promise.all([services.stats.fresh(), services.health.schedule.get()]);
    const byStatus = stats.countsByStatus();
    const totals = stats.completedTotals();
    const avgProcessingTime = stats.averageProcessingTimeMs();
    const oldestPending = stats.oldestPendingRequestedAt();
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
