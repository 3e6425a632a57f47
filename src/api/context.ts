import type { Connection } from 'mongoose';
import type { Config } from '../config';
import type { Logger } from '../logger';
import type { IdempotencyKeys } from '../persistence/idempotency-keys';
import type { RefundStats } from '../persistence/refund-events';
import type { RefundRepository } from '../persistence/refund-repository';
import type { SweepControl } from '../sweep/schedule';
import type { TreasuryMonitor } from '../payout/treasury-monitor';
import type { RefundWorkflowClient } from '../temporal/refund-client';
import type { Caller } from './auth';
import type { HealthProbes } from './health';
import type { RecentChanges } from './recent-changes';
import type { ApiMetrics } from './metrics';

/** What the API is built from. Everything that talks to the outside comes in here, so tests pass real or broken ones. */
export interface ApiDeps {
  config: Config;
  logger: Logger;
  mongo: Connection;
  refundClient: RefundWorkflowClient;
  sweep: SweepControl;
  /** The chain and the treasury as /api/status and /metrics report them; absent: not reported. */
  treasury?: TreasuryMonitor;
  /** A registry per app instance; created when absent. */
  metrics?: ApiMetrics;
  /** The clock of eligibility (previews, and a request's `requestedAt`) and of statistics ages (tests may pin it). */
  now?: () => Date;
  /** The event log's fold (statistics, counts, pending order); created when absent. Share it with the metrics. */
  stats?: RefundStats;
}

/** What route handlers use: the deps plus the stores built on the Mongo connection. */
export interface ApiServices {
  config: Config;
  logger: Logger;
  mongo: Connection;
  refundClient: RefundWorkflowClient;
  sweep: SweepControl;
  treasury: TreasuryMonitor | null;
  metrics: ApiMetrics;
  refunds: RefundRepository;
  idempotency: IdempotencyKeys;
  stats: RefundStats;
  /** /api/status's cached probes. */
  health: HealthProbes;
  /** Refunds this API changed in the last moments, whose record may still be behind their workflow. */
  recentChanges: RecentChanges;
  now: () => Date;
}

/** `ctx.state` of every request. */
export interface ApiState {
  requestId: string;
  caller?: Caller;
  /** The parsed JSON body; undefined when the request had none. */
  body?: unknown;
  /** The route template that matched, for logs and metrics. */
  route?: string;
}
