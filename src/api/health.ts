import type { Client } from '@temporalio/client';
import type { z } from 'zod';
import { pingMongo } from '../persistence/mongo';
import type { SweepStatus } from '../sweep/schedule';
import { Cached } from './cached';
import type { ApiServices } from './context';
import type { TreasuryReport } from '../payout/treasury-monitor';
import type { HealthSchema, SweepStatusSchema } from './schemas';
import { within } from './within';

/**
 * /api/status: is each dependency reachable, and what the refund module looks
 * like. Every probe is cached for STATUS_TTL_MS and has its own deadline, so
 * the status answers in microseconds at any request rate, a dependency is
 * asked at most once a second per API process, and a slow answer is never
 * taken for a failure: while a probe is being refreshed, its previous result
 * answers. To add a probe, add it to `HealthProbes` and `createHealthProbes`.
 */
export const STATUS_TTL_MS = 1_000;
const PROBE_TIMEOUT_MS = 2_000;
/** Shorter: the SDK retries an unreachable server with backoff and only notices the deadline at its next attempt. */
const TEMPORAL_PING_MS = 1_000;
const startedAt = Date.now();

export type Health = z.input<typeof HealthSchema>;
type Counts = Health['proRataRefunds']['counts'];

export interface HealthProbes {
  mongo: Cached<boolean>;
  temporal: Cached<boolean>;
  schedule: Cached<SweepStatusView>;
  counts: Cached<Counts>;
  /** The chain and the treasury (null when this API does not watch them). */
  treasury: Cached<TreasuryReport | null>;
}

export function createHealthProbes(services: Omit<ApiServices, 'health'>): HealthProbes {
  return {
    mongo: new Cached(() => pingMongo(services.mongo, PROBE_TIMEOUT_MS), STATUS_TTL_MS),
    temporal: new Cached(() => pingTemporal(services.refundClient.client), STATUS_TTL_MS),
    schedule: new Cached(() => sweepStatusWithin(services, PROBE_TIMEOUT_MS), STATUS_TTL_MS),
    // From the event log's fold in memory (refund-events.ts): never a count over the store.
    counts: new Cached(() => within(services.stats.fresh(), PROBE_TIMEOUT_MS).then((stats) => stats.countsByStatus(), () => null), STATUS_TTL_MS),
    treasury: new Cached(() => (services.treasury ? within(services.treasury.report(), PROBE_TIMEOUT_MS).catch(() => null) : Promise.resolve(null)), STATUS_TTL_MS),
  };
}

export async function checkHealth(services: ApiServices): Promise<Health> {
  const [mongoReachable, temporalReachable, schedule, counts, treasury] = await Promise.all([
    services.health.mongo.get(),
    services.health.temporal.get(),
    services.health.schedule.get(),
    services.health.counts.get(),
    services.health.treasury.get(),
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
    proRataRefunds: { schedule, temporalReachable, mongoReachable, counts: mongoReachable ? counts : null },
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
export async function sweepStatusWithin(services: Pick<ApiServices, 'sweep' | 'config'>, timeoutMs = 5_000): Promise<SweepStatusView> {
  const status = await within(services.sweep.status(timeoutMs), timeoutMs).catch(
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
