import type { Client } from '@temporalio/client';
import type { z } from 'zod';
import { pingMongo } from '../persistence/mongo';
import type { SweepStatus } from '../sweep/schedule';
import type { ApiServices } from './context';
import type { HealthSchema, SweepStatusSchema } from './schemas';
import { within } from './within';

/**
 * /api/status: is each dependency reachable, and what the refund module looks
 * like. Every probe has a short deadline so the health check itself answers
 * fast while a dependency is down.
 */
const PROBE_TIMEOUT_MS = 2_000;
/** Shorter: the SDK retries an unreachable server with backoff and only notices the deadline at its next attempt. */
const TEMPORAL_PING_MS = 1_000;
const startedAt = Date.now();

export type Health = z.input<typeof HealthSchema>;

export async function checkHealth(services: ApiServices): Promise<Health> {
  const [mongoReachable, temporalReachable, schedule, counts, treasury] = await Promise.all([
    pingMongo(services.mongo, PROBE_TIMEOUT_MS),
    pingTemporal(services.refundClient.client),
    sweepStatusWithin(services, PROBE_TIMEOUT_MS),
    within(services.refunds.countsByStatus(), PROBE_TIMEOUT_MS).catch(() => null),
    services.treasury ? within(services.treasury.report(), PROBE_TIMEOUT_MS).catch(() => null) : null,
  ]);
  const { temporal } = services.config;
  const chainReachable = treasury?.chain.reachable ?? null;
  return {
    // The API can serve while the chain is down (payouts wait), so the chain makes it degraded, not unavailable.
    status: mongoReachable && temporalReachable && chainReachable !== false ? 'ok' : 'degraded',
    checkedAt: services.now().toISOString(),
    uptimeSeconds: Math.round((Date.now() - startedAt) / 1000),
    temporal: { reachable: temporalReachable, address: temporal.address, namespace: temporal.namespace, taskQueue: temporal.taskQueue },
    mongo: { reachable: mongoReachable },
    chain: treasury?.chain ?? null,
    treasury: treasury?.treasury ?? null,
    proRataRefunds: { schedule, temporalReachable, mongoReachable, counts },
  };
}

export async function pingTemporal(client: Client, timeoutMs = TEMPORAL_PING_MS): Promise<boolean> {
  try {
    await client.connection.withDeadline(Date.now() + timeoutMs, () => client.workflowService.getSystemInfo({}));
    return true;
  } catch {
    return false;
  }
}

export type SweepStatusView = z.input<typeof SweepStatusSchema>;

/** SweepControl.status() as JSON, or an answer saying it is unknown when Temporal (or MongoDB) does not answer within `timeoutMs`. */
export async function sweepStatusWithin(services: ApiServices, timeoutMs = 5_000): Promise<SweepStatusView> {
  const status = await within(services.sweep.status(), timeoutMs).catch(
    (): SweepStatus => ({
      scheduleId: services.sweep.scheduleId,
      intervalMs: services.config.refunds.scheduleIntervalMs,
      paused: null,
      note: null,
      nextRunAt: null,
      lastRun: null,
      error: `the schedule could not be described within ${timeoutMs} ms`,
    }),
  );
  return sweepView(status);
}

function sweepView({ lastRun, ...status }: SweepStatus): SweepStatusView {
  return { ...status, lastRun: lastRun ? { ...lastRun, startedAt: isoString(lastRun.startedAt), finishedAt: isoString(lastRun.finishedAt) } : null };
}

function isoString(value: Date | string): string {
  return new Date(value).toISOString();
}
