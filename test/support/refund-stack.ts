import { Client, Connection as TemporalConnection } from '@temporalio/client';
import { NativeConnection, Worker } from '@temporalio/worker';
import { ethers } from 'ethers';
import mongoose from 'mongoose';
import os from 'node:os';
import { createActivities } from '../../activities';
import { connectTreasury, type Treasury } from '../../src/chain/treasury';
import { loadConfig, type Config } from '../../src/config';
import { createLogger } from '../../src/logger';
import { migrate } from '../../src/persistence/migrate';
import { PayoutLedger } from '../../src/persistence/payout-ledger';
import { RefundRepository } from '../../src/persistence/refund-repository';
import { TreasuryStore } from '../../src/persistence/treasury-store';
import { SweepControl } from '../../src/sweep/schedule';
import { RefundWorkflowClient, refundPolicySettings } from '../../src/temporal/refund-client';
import { createRefundWorker } from '../../src/temporal/worker';
import type { RefundTimings } from '../../workflows/refund-messages';
import { subscriptionDoc } from './fixtures';
import { TEST_LOG_LEVEL } from './logging';
import { workflowBundle } from './workflow-bundle';
import { startHttpReceiver } from './http-receiver';
import { testServices, uniqueMongoUri, uniqueName } from './services';

export const WEBHOOK_SECRET = 'test-webhook-secret-0123456789';
export const TREASURY_START_BALANCE = ethers.parseEther('1000');

export { workflowBundle };

export interface RefundStackOptions {
  autoApproveAfterMs?: number;
  penaltyBps?: number;
  timings?: Partial<RefundTimings>;
  env?: Record<string, string>;
  /** Start an in-process worker (default true). */
  worker?: boolean;
  /** A chain of the test's own instead of the shared anvil (tests that change how it mines). */
  chainUrl?: string;
}

/**
 * Everything a refund needs, for real: a worker on its own task queue, its own
 * database, a freshly funded treasury wallet on anvil, and local HTTP receivers
 * standing in for SendGrid and the admin webhook.
 */
export async function startRefundStack(options: RefundStackOptions = {}) {
  const services = testServices();
  const [emails, webhooks] = await Promise.all([startHttpReceiver(), startHttpReceiver()]);
  const treasuryKey = ethers.Wallet.createRandom().privateKey;
  const env = {
    NODE_ENV: 'test',
    LOG_LEVEL: TEST_LOG_LEVEL,
    DB_URI: uniqueMongoUri('refunds'),
    TEMPORAL_ADDRESS: services.temporalAddress,
    TEMPORAL_TASK_QUEUE: uniqueName('refunds'),
    BLOCKCHAIN_PROVIDER_URL: options.chainUrl ?? services.chainUrl,
    BLOCKCHAIN_NETWORK: 'anvil',
    TREASURY_PRIVATE_KEY: treasuryKey,
    PAYOUT_CONFIRMATIONS: '1',
    SENDGRID_API_KEY: 'SG.test-key',
    SENDGRID_API_URL: emails.url,
    REFUND_NOTIFICATION_EMAIL: 'finance@example.com',
    ADMIN_WEBHOOK_URL: `${webhooks.url}/hooks/refunds`,
    ADMIN_WEBHOOK_SECRET: WEBHOOK_SECRET,
    PRO_RATA_REFUND_PENALTY_BPS: String(options.penaltyBps ?? 0),
    WORKER_METRICS_PORT: '0',
    WORKER_SHUTDOWN_GRACE_MS: '1000',
    ...options.env,
  };
  const config: Config = loadConfig(env);
  const logger = createLogger(config.logLevel);

  const mongo = await mongoose.createConnection(config.db.uri, { autoIndex: false, autoCreate: false }).asPromise();
  await migrate(mongo);
  const treasury: Treasury = await connectTreasury(config.chain, { pollIntervalMs: 100, rebroadcastEveryMs: 1_000 });
  await treasury.provider.send('anvil_setBalance', [treasury.address, ethers.toQuantity(TREASURY_START_BALANCE)]);
  const treasuryStore = new TreasuryStore(mongo);
  await treasuryStore.recordAccount(treasury.chainId, treasury.address);

  const temporalConnection = await TemporalConnection.connect({ address: config.temporal.address });
  const client = new Client({ connection: temporalConnection, namespace: config.temporal.namespace });
  const refundClient = new RefundWorkflowClient(client, {
    ...refundPolicySettings(config),
    autoApproveAfterMs: options.autoApproveAfterMs ?? refundPolicySettings(config).autoApproveAfterMs,
    timings: { notificationInitialIntervalMs: 200, notificationMaxAttempts: 3, payoutHeartbeatTimeoutMs: 5_000, ...options.timings },
  });

  const activities = createActivities({ config, connection: mongo, treasury, logger, workerId: `${os.hostname()}:${process.pid}:test`, refundClient });
  let nativeConnection: NativeConnection | undefined;
  let worker: Worker | undefined;
  let running: Promise<void> | undefined;
  if (options.worker !== false) {
    nativeConnection = await NativeConnection.connect({ address: config.temporal.address });
    worker = await createRefundWorker({
      connection: nativeConnection,
      config,
      workflowBundle: await workflowBundle(),
      activities,
    });
    running = worker.run();
  }

  const subscriptions = mongo.db!.collection('subscriptions');
  return {
    config,
    env,
    mongo,
    refunds: new RefundRepository(mongo),
    ledger: new PayoutLedger(mongo),
    treasuryStore,
    /** The activities the in-process worker runs, for calling one directly (MockActivityEnvironment). */
    activities,
    subscriptions,
    treasury,
    client,
    refundClient,
    emails,
    webhooks,
    /** Inserts a subscription paying a fresh wallet (so its balance tells exactly what was refunded). */
    async insertSubscription(overrides: Record<string, unknown> = {}) {
      const wallet = ethers.Wallet.createRandom();
      const doc = subscriptionDoc({ userWalletAddress: wallet.address, ...overrides });
      await subscriptions.insertOne(doc);
      return { doc, subscriptionId: doc._id.toHexString(), wallet: String(doc.userWalletAddress) };
    },
    /** `keepData`: leave the database for a stack started after this one on the same DB_URI (a restarted payout side). */
    async close({ keepData = false }: { keepData?: boolean } = {}) {
      if (worker) {
        worker.shutdown();
        await running!.catch(() => undefined);
      }
      await nativeConnection?.close();
      await temporalConnection.close();
      treasury.provider.destroy();
      if (!keepData) await mongo.db?.dropDatabase().catch(() => undefined);
      await mongo.close();
      await Promise.all([emails.close(), webhooks.close()]);
    },
  };
}

export type RefundStack = Awaited<ReturnType<typeof startRefundStack>>;

/** The sweep schedule of the stack's task queue, as the API process controls it. */
export function sweepControlOf(stack: RefundStack): SweepControl {
  return new SweepControl(stack.client, stack.mongo, { taskQueue: stack.config.temporal.taskQueue, intervalMs: stack.config.refunds.scheduleIntervalMs });
}
