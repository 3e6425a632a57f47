import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createActivities } from '../../activities';
import { connectTreasury } from '../chain/treasury';
import { loadConfigOrExit } from '../config';
import { createLogger } from '../logger';
import { connectMongo } from '../persistence/mongo';
import { flushSentry, initSentry, reportError } from '../observability/sentry';
import { ensureSweepSchedule } from '../sweep/schedule';
import { connectClient, connectWorkerConnection } from './connection';
import { RefundWorkflowClient, refundPolicySettings } from './refund-client';
import { buildWorkflowBundleFile } from './bundle-workflows';
import { createRefundWorker, installTemporalRuntime } from './worker';

/** `npm run worker`: one worker process. Start several for horizontal scale. */
async function main(): Promise<void> {
  const config = loadConfigOrExit('worker');
  const logger = createLogger(config.logLevel).child({ component: 'Worker' });
  initSentry(config, 'worker');
  installTemporalRuntime(config, logger);

  const workerId = `${os.hostname()}:${process.pid}`;
  const [mongo, treasury, connection, client] = await Promise.all([
    connectMongo(config.db.uri, logger),
    connectTreasury(config.chain),
    connectWorkerConnection(config.temporal),
    connectClient(config.temporal),
  ]);
  logger.info({ treasury: treasury.address, chainId: treasury.chainId, taskQueue: config.temporal.taskQueue, workerId }, 'worker connected');

  const schedule = await ensureSweepSchedule(client, { taskQueue: config.temporal.taskQueue, intervalMs: config.refunds.scheduleIntervalMs });
  logger.child({ component: 'Scheduler' }).info({ intervalMs: config.refunds.scheduleIntervalMs }, `sweep schedule ${schedule}`);

  const refundClient = new RefundWorkflowClient(client, refundPolicySettings(config));
  const activities = createActivities({ config, connection: mongo, treasury, logger, workerId, refundClient });
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

main().catch(async (error: unknown) => {
  console.error(error);
  reportError(error, { phase: 'worker start' });
  await flushSentry();
  process.exit(1);
});
