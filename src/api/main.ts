import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { collectDefaultMetrics } from 'prom-client';
import { loadConfigOrExit } from '../config';
import { createLogger } from '../logger';
import { flushSentry, initSentry } from '../observability/sentry';
import { expectedChainId } from '../chain/network';
import { connectProvider } from '../chain/treasury';
import { TreasuryMonitor } from '../payout/treasury-monitor';
import { connectMongo } from '../persistence/mongo';
import { PayoutLedger } from '../persistence/payout-ledger';
import { TreasuryStore } from '../persistence/treasury-store';
import { SweepControl } from '../sweep/schedule';
import { lazyClient } from '../temporal/connection';
import { RefundWorkflowClient, refundPolicySettings } from '../temporal/refund-client';
import { createApp } from './app';
import { FOLD_REFRESH_EVERY_MS, RefundStats } from '../persistence/refund-events';
import { createApiMetrics } from './metrics';

const SHUTDOWN_GRACE_MS = 15_000;

/** `npm start`: the HTTP API. Starts even while Temporal is down (the connection is lazy; /api/status tells). */
async function main(): Promise<void> {
  const config = loadConfigOrExit('api');
  const logger = createLogger(config.logLevel);
  const log = logger.child({ component: 'API' });
  initSentry(config, 'api');

  const mongo = await connectMongo(config.db.uri, logger);
  const client = lazyClient(config.temporal);
  const refundClient = new RefundWorkflowClient(client, refundPolicySettings(config));
  const sweep = new SweepControl(client, mongo, { taskQueue: config.temporal.taskQueue, intervalMs: config.refunds.scheduleIntervalMs });
  const treasury = new TreasuryMonitor({
    provider: connectProvider(config.chain.providerUrl, expectedChainId(config.chain.network)),
    chainId: expectedChainId(config.chain.network),
    ledger: new PayoutLedger(mongo),
    store: new TreasuryStore(mongo),
    lowBalance: config.payoutLimits.lowBalance,
  });
  const stats = new RefundStats(mongo);
  let foldFailing = false;
  const foldRefreshed = (error: unknown) => {
    if (error && !foldFailing) log.warn({ err: error }, 'could not read the refund event log; requests read it themselves until it answers');
    if (!error && foldFailing) log.info('the refund event log is readable again');
    foldFailing = Boolean(error);
  };
  stats.fresh().then(() => foldRefreshed(undefined), foldRefreshed);
  const stopRefreshing = stats.keepFresh(FOLD_REFRESH_EVERY_MS, foldRefreshed);
  const metrics = createApiMetrics(mongo, stats, treasury);
  collectDefaultMetrics({ register: metrics.registry });

  const app = createApp({ config, logger, mongo, refundClient, sweep, treasury, metrics, stats });
  const server = http.createServer(app.callback());
  server.headersTimeout = 30_000;
  server.requestTimeout = 60_000;
  await new Promise<void>((resolve) => server.listen(config.port, resolve));
  const { port } = server.address() as AddressInfo;
  log.info({ port, url: `http://localhost:${port}`, temporal: config.temporal.address, namespace: config.temporal.namespace }, `API listening on port ${port}`);

  let stopping = false;
  const shutdown = (signal: NodeJS.Signals) => {
    if (stopping) return;
    stopping = true;
    log.info({ signal }, 'API shutting down: no new connections, finishing requests in flight');
    const force = setTimeout(() => {
      log.warn({ graceMs: SHUTDOWN_GRACE_MS }, 'requests still open after the grace period: closing their connections');
      server.closeAllConnections();
    }, SHUTDOWN_GRACE_MS).unref();
    server.close(async () => {
      clearTimeout(force);
      stopRefreshing();
      // The Temporal connection is left to the exit: a call abandoned by a timed-out probe may still be retrying
      // inside the SDK, and a retry on a closed channel throws from a timer.
      await Promise.allSettled([mongo.close(), flushSentry()]);
      log.info('API stopped');
      process.exit(0);
    });
    server.closeIdleConnections(); // keep-alive sockets with no request would hold close() open
  };
  process.once('SIGTERM', shutdown);
  process.once('SIGINT', shutdown);
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
