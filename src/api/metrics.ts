import type { Connection } from 'mongoose';
import { Counter, Gauge, Histogram, Registry } from 'prom-client';
import { REFUND_STATUSES, type RefundStatus } from '../domain/refund-status';
import { RefundStats } from '../persistence/refund-events';
import { sweepRunModel } from '../sweep/sweep-runs';
import { within } from './within';
import type { TreasuryMonitor, TreasuryStatus } from '../payout/treasury-monitor';
import { TREASURY_EVENT_TYPES } from '../notifications/events';

/**
 * The API's Prometheus metrics, one registry per app instance. HTTP metrics are
 * recorded as requests pass; the refund and scheduler metrics are read from
 * MongoDB at scrape time, so every API instance reports the same values. When
 * MongoDB cannot be read, a scrape still succeeds with the last values read
 * and `proratarefund_metrics_source_up 0`.
 */
export interface ApiMetrics {
  registry: Registry;
  httpDuration: Histogram<'method' | 'route' | 'status'>;
  httpErrors: Counter<'code'>;
}

interface StoreSnapshot {
  counts: Record<RefundStatus, number>;
  oldestPendingRequestedAt: Date | null;
  sweepRuns: number;
  sweepDurationsSeconds: number[];
}

const SCRAPE_READ_TIMEOUT_MS = 2_000;
const SWEEP_DURATION_SAMPLE = 1_000;

export function createApiMetrics(mongo: Connection, stats: RefundStats = new RefundStats(mongo), treasury?: TreasuryMonitor): ApiMetrics {
  const registry = new Registry();
  if (treasury) registerTreasuryMetrics(registry, treasury);
  const sweepRuns = sweepRunModel(mongo);
  const snapshot = oncePerScrape(async (): Promise<StoreSnapshot> => {
    const [fold, runs, latest] = await within(
      Promise.all([
        stats.fresh(),
        sweepRuns.countDocuments(),
        sweepRuns.find({}, { durationMs: 1 }).sort({ finishedAt: -1 }).limit(SWEEP_DURATION_SAMPLE).lean(),
      ]),
      SCRAPE_READ_TIMEOUT_MS,
      'MongoDB',
    );
    return { counts: fold.countsByStatus(), oldestPendingRequestedAt: fold.oldestPendingRequestedAt(), sweepRuns: runs, sweepDurationsSeconds: latest.filter((run) => typeof run.durationMs === 'number').map((run) => run.durationMs / 1000) };
  });
  const read = async (): Promise<StoreSnapshot | null> => {
    try {
      const value = await snapshot();
      sourceUp.set(1);
      return value;
    } catch {
      sourceUp.set(0);
      return null;
    }
  };

  const sourceUp = new Gauge({
    name: 'proratarefund_metrics_source_up',
    help: '1 when this scrape could read MongoDB, else 0 (the store-derived metrics then keep their last values)',
    registers: [registry],
    async collect() {
      await read();
    },
  });

  new Counter({
    name: 'proratarefund_refunds_total',
    help: 'Refund records ever created (all statuses)',
    registers: [registry],
    async collect() {
      const store = await read();
      if (!store) return;
      this.reset();
      this.inc(Object.values(store.counts).reduce((sum, count) => sum + count, 0));
    },
  });

  new Gauge({
    name: 'proratarefund_refunds_status',
    help: 'Refund records by current status',
    labelNames: ['status'] as const,
    registers: [registry],
    async collect() {
      const store = await read();
      if (!store) return;
      for (const status of REFUND_STATUSES) this.set({ status }, store.counts[status]);
    },
  });

  new Gauge({
    name: 'proratarefund_oldest_pending_age_seconds',
    help: 'Age of the oldest refund awaiting approval (0 when none): alert when it nears PRO_RATA_REFUND_AUTO_APPROVE_DAYS',
    registers: [registry],
    async collect() {
      const store = await read();
      if (!store) return;
      this.set(store.oldestPendingRequestedAt ? Math.max(0, (Date.now() - store.oldestPendingRequestedAt.getTime()) / 1000) : 0);
    },
  });

  new Counter({
    name: 'proratarefund_scheduler_runs_total',
    help: 'Sweeps run by the Temporal Schedule (documents in sweepruns)',
    registers: [registry],
    async collect() {
      const store = await read();
      if (!store) return;
      this.reset();
      this.inc(store.sweepRuns);
    },
  });

  new Histogram({
    name: 'proratarefund_scheduler_duration_seconds',
    help: `Duration of the latest ${SWEEP_DURATION_SAMPLE} sweeps`,
    buckets: [0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300],
    registers: [registry],
    async collect() {
      const store = await read();
      if (!store) return;
      this.reset();
      for (const seconds of store.sweepDurationsSeconds) this.observe(seconds);
    },
  });

  return {
    registry,
    httpDuration: new Histogram({
      name: 'http_request_duration_seconds',
      help: 'HTTP request latency by method, route template and status',
      labelNames: ['method', 'route', 'status'] as const,
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
      registers: [registry],
    }),
    httpErrors: new Counter({ name: 'http_errors_total', help: 'HTTP error answers by error code', labelNames: ['code'] as const, registers: [registry] }),
  };
}

/**
 * The chain and the treasury, from the same cached report as /api/status. Alert on
 * chain_up 0, nonce_gap 1, payouts_stuck > 0, treasury_alerts > 0, and on
 * oldest_unconfirmed_payout_age_seconds growing (docs/RUNBOOK.md says what to do).
 */
function registerTreasuryMetrics(registry: Registry, treasury: TreasuryMonitor): void {
  const report = async () => treasury.report().catch(() => null);
  new Gauge({
    name: 'proratarefund_chain_up',
    help: '1 when BLOCKCHAIN_PROVIDER_URL answered within its deadline at the last reading',
    registers: [registry],
    async collect() {
      this.set((await report())?.chain.reachable ? 1 : 0);
    },
  });
  const treasuryGauge = (name: string, help: string, value: (status: TreasuryStatus) => number) =>
    new Gauge({
      name,
      help,
      registers: [registry],
      async collect() {
        const status = (await report())?.treasury;
        if (status) this.set(value(status));
      },
    });
  treasuryGauge('proratarefund_payouts_in_flight', 'Payouts signed and not yet final', (status) => status.payoutsInFlight);
  treasuryGauge('proratarefund_oldest_unconfirmed_payout_age_seconds', 'Age of the oldest payout signed and not yet final (0 when none)', (status) => (status.oldestUnconfirmedAgeMs ?? 0) / 1000);
  treasuryGauge('proratarefund_nonce_gap', '1 when a nonce the treasury signed has been missing from the node for more than 30 s', (status) => (status.nonceGap ? 1 : 0));
  treasuryGauge('proratarefund_payouts_stuck', 'Payouts unmined at PAYOUT_MAX_FEE_PER_GAS', (status) => status.stuckPayouts);
  new Gauge({
    name: 'proratarefund_treasury_alerts',
    help: 'Treasury alerts currently open, by type',
    labelNames: ['type'] as const,
    registers: [registry],
    async collect() {
      const status = (await report())?.treasury;
      if (!status) return;
      this.reset();
      for (const type of TREASURY_EVENT_TYPES) this.set({ type }, status.alerts.filter((alert) => alert.type === type).length);
    },
  });
  new Gauge({
    name: 'proratarefund_treasury_balance',
    help: 'Treasury balance per currency, in whole units (a float: for dashboards and alerts, never for accounting)',
    labelNames: ['currency', 'token'] as const,
    registers: [registry],
    async collect() {
      const status = (await report())?.treasury;
      if (!status) return;
      this.reset();
      for (const balance of status.balances) this.set({ currency: balance.currency.symbol, token: balance.currency.tokenAddress ?? 'native' }, Number(balance.amountFormatted));
    },
  });
}

/** One MongoDB read shared by every metric of a scrape: they collect concurrently, so callers share the read in flight. */
function oncePerScrape<T>(load: () => Promise<T>): () => Promise<T> {
  let inFlight: Promise<T> | undefined;
  return () => {
    inFlight ??= load().finally(() => {
      inFlight = undefined;
    });
    return inFlight;
  };
}
