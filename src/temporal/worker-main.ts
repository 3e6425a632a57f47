import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createActivities } from '../../activities';
import { WrongNetworkError } from '../chain/network';
import { connectTreasury } from '../chain/treasury';
import { loadConfigOrExit } from '../config';
import { createLogger, type Logger } from '../logger';
import { connectMongo } from '../persistence/mongo';
import { TreasuryStore } from '../persistence/treasury-store';
import { flushSentry, initSentry, reportError } from '../observability/sentry';
import { ensureSweepSchedule, SweepScheduleNotUpdated } from '../sweep/schedule';
import { connectClient, connectWorkerConnection } from './connection';
import { RefundWorkflowClient, refundPolicySettings } from './refund-client';
import { buildWorkflowBundleFile } from './bundle-workflows';
import { createRefundWorker, installTemporalRuntime, type MetricsEndpoint } from './worker';

/** `npm run worker`: one worker process. Start several for horizontal scale. */
async function main(): Promise<void> {
  const config = loadConfigOrExit('worker');
  // Each line names one component: the parts below get the root logger, never this child (a second
  // `component` key would hide the first from every JSON parser).
  const root = createLogger(config.logLevel);
  const logger = root.child({ component: 'Worker' });
  initSentry(config, 'worker');
  logMetricsEndpoint(installTemporalRuntime(config, root), logger);

  const workerId = `${os.hostname()}:${process.pid}`;
  // A dependency that is down at start (a restart during an incident) is waited for, not a reason to exit:
  // a worker that dies here crash-loops under a supervisor, or stays dead without one.
  const [mongo, treasury, connection, client] = await Promise.all([
    untilConnected('MongoDB', () => connectMongo(config.db.uri, root), logger),
    untilConnected('the chain', () => connectTreasury(config.chain), logger),
    untilConnected('Temporal', () => connectWorkerConnection(config.temporal), logger),
    untilConnected('Temporal', () => connectClient(config.temporal), logger),
  ]);
  logger.info({ treasury: treasury.address, chainId: treasury.chainId, taskQueue: config.temporal.taskQueue, workerId }, 'worker connected');
  // So the API can report the treasury without its key.
  await untilConnected('MongoDB', () => new TreasuryStore(mongo).recordAccount(treasury.chainId, treasury.address), logger);

  const scheduler = root.child({ component: 'Scheduler' });
  // A schedule another process keeps changing is reported, not a reason to stop paying refunds.
  const schedule = await untilConnected('Temporal', () => ensureSweepSchedule(client, { taskQueue: config.temporal.taskQueue, intervalMs: config.refunds.scheduleIntervalMs }), logger).catch(
    (error: unknown) => {
      if (!(error instanceof SweepScheduleNotUpdated)) throw error;
      scheduler.error({ intervalMs: config.refunds.scheduleIntervalMs }, error.message);
      return 'not updated';
    },
  );
  scheduler.info({ intervalMs: config.refunds.scheduleIntervalMs }, `sweep schedule ${schedule}`);

  const refundClient = new RefundWorkflowClient(client, refundPolicySettings(config));
  const activities = createActivities({ config, connection: mongo, treasury, logger: root, workerId, refundClient });
  const workflowBundle = await buildWorkflowBundleFile();
  const worker = await createRefundWorker({ connection, config, activities, workflowBundle });
  fs.rmSync(path.dirname(workflowBundle.codePath), { recursive: true, force: true }); // read by Worker.create
  // The SDK also stops the worker on these signals; a second signal (Ctrl-C, then the supervisor's TERM) is harmless.
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    process.on(signal, () => {
      logger.info({ signal, graceMs: config.worker.shutdownGraceMs }, 'worker shutting down: finishing running activities');
      if (worker.getState() === 'RUNNING') worker.shutdown();
    });
  }
  logger.info({ taskQueue: config.temporal.taskQueue, maxCachedWorkflows: config.worker.maxCachedWorkflows }, 'worker running');
  try {
    await worker.run();
  } finally {
    await Promise.allSettled([connection.close(), client.connection.close(), mongo.close()]);
    treasury.provider.destroy();
    await flushSentry();
    logger.info('worker stopped');
  }
}

/**
 * Tries `connect` until it succeeds, backing off up to 15 s and logging each
 * failure. A wrong chain is not waited out: it stops the worker at once.
 */
async function untilConnected<T>(what: string, connect: () => Promise<T>, logger: Logger): Promise<T> {
  for (let attempt = 1; ; attempt += 1) {
    try {
      return await connect();
    } catch (error) {
      if (error instanceof WrongNetworkError || error instanceof SweepScheduleNotUpdated) throw error;
      const waitMs = Math.min(15_000, 500 * 2 ** Math.min(attempt, 5));
      logger.warn({ dependency: what, attempt, retryInMs: waitMs, error: (error as Error).message.slice(0, 300) }, `${what} cannot be reached yet: waiting for it`);
      await new Promise((resolve) => setTimeout(resolve, waitMs));
    }
  }
}

/** Where Prometheus finds this worker: a warning whenever it is not where WORKER_METRICS_PORT says. */
function logMetricsEndpoint(endpoint: MetricsEndpoint, logger: Logger): void {
  if (endpoint.configuredPort === 0) {
    logger.info({ metricsPort: null }, 'Temporal SDK metrics endpoint off (WORKER_METRICS_PORT=0)');
  } else if (endpoint.port === null) {
    logger.warn({ metricsPort: null, configuredPort: endpoint.configuredPort, reason: endpoint.reason }, `running without the Temporal SDK metrics endpoint: ${endpoint.reason}`);
  } else if (endpoint.port !== endpoint.configuredPort) {
    logger.warn(
      { metricsPort: endpoint.port, configuredPort: endpoint.configuredPort },
      `WORKER_METRICS_PORT ${endpoint.configuredPort} is in use: serving Temporal SDK metrics on port ${endpoint.port} instead`,
    );
  } else {
    logger.info({ metricsPort: endpoint.port }, `serving Temporal SDK metrics on port ${endpoint.port}`);
  }
}

main().catch(async (error: unknown) => {
  console.error(error);
  reportError(error, { phase: 'worker start' });
  await flushSentry();
  process.exit(1);
});
