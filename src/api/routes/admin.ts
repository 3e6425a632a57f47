import { blockExplorerUrl, expectedChainId } from '../../chain/network';
import { formatAmount, parseAmount } from '../../domain/amount';
import { sweepStatusWithin, type SweepStatusView } from '../health';
import type { Handlers } from '../route-table';

/**
 * Finance and operations: statistics, running, pausing and resuming the sweep,
 * and the admin console's settings. Statistics are the event log's fold
 * (src/persistence/refund-events.ts), brought up to date by each request:
 * exact, and the same cost at any number of refunds. The sweep part is
 * /api/status's schedule probe (at most 1 s old).
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

  async pauseSweep({ body, caller }, services) {
    const note = await services.sweep.pause(`paused by ${caller.sub}: ${body.note}`);
    return { body: await scheduleAfterAction(services, { paused: true, note }) };
  },

  async unpauseSweep({ body, caller }, services) {
    const note = await services.sweep.unpause(body.note ? `unpaused by ${caller.sub}: ${body.note}` : `unpaused by ${caller.sub}`);
    return { body: await scheduleAfterAction(services, { paused: false, note }) };
  },

  async getConsoleSettings({ caller }, services) {
    const { temporal, chain, refunds } = services.config;
    const chainId = knownChainId(chain.network);
    return {
      body: {
        caller: { sub: caller.sub, role: 'admin' as const },
        temporal: { namespace: temporal.namespace, webUiUrl: temporal.webUiUrl ?? null },
        chain: { network: chain.network, chainId, explorerUrl: chainId === null ? null : blockExplorerUrl(chainId) },
        autoApproveDays: refunds.autoApproveDays,
      },
    };
  },
} satisfies Pick<Handlers, 'getStatistics' | 'triggerSweep' | 'pauseSweep' | 'unpauseSweep' | 'getConsoleSettings'>;

/** The API never connects to the chain; the configured network names the chain id (the worker checks it against the provider). */
function knownChainId(network: string): number | null {
  try {
    return expectedChainId(network);
  } catch {
    return null;
  }
}

/**
 * The schedule as a pause or unpause left it. Temporal applies the change
 * through the schedule's own workflow, so a description that does not show it
 * yet, or that failed (the action itself succeeded), is asked for again, until
 * the admin action's own deadline (not /api/status's 2 s probe: an admin who
 * just acted should see the result even when Temporal is slow). Past it, the
 * last description answers. The status probe is read anew by its next caller.
 */
export async function scheduleAfterAction(
  services: Parameters<Handlers['pauseSweep']>[1],
  expected: { paused: boolean; note: string },
  describeForMs = ADMIN_ACTION_DESCRIBE_MS,
): Promise<SweepStatusView> {
  services.health.schedule.invalidate();
  const deadline = Date.now() + describeForMs;
  let lastDescribed: SweepStatusView | undefined;
  for (;;) {
    const status = await sweepStatusWithin(services, Math.max(deadline - Date.now(), 1));
    if (status.paused === expected.paused && status.note === expected.note) return status;
    if (status.paused !== null) lastDescribed = status;
    if (Date.now() >= deadline) return lastDescribed ?? status;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

const ADMIN_ACTION_DESCRIBE_MS = 20_000;
