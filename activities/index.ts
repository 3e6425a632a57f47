import type { Connection } from 'mongoose';
import type { Treasury } from '../src/chain/treasury';
import type { Config } from '../src/config';
import type { Logger } from '../src/logger';
import type { RefundWorkflowClient } from '../src/temporal/refund-client';
import { TreasuryAlerts } from '../src/payout/treasury-alerts';
import { PayoutLedger } from '../src/persistence/payout-ledger';
import { TreasuryStore } from '../src/persistence/treasury-store';
import { RefundRepository } from '../src/persistence/refund-repository';
import { subscriptionModel } from '../src/persistence/subscription-model';
import { createEmailActivities } from './email';
import { createPayoutActivities } from './payout';
import { createRefundRecordActivities } from './refund-records';
import { createSweepActivities } from './sweep';
import { createWebhookActivities } from './webhook';

export interface ActivityDeps {
  config: Config;
  connection: Connection;
  treasury: Treasury;
  logger: Logger;
  workerId: string;
  /** Starts and inspects refund workflows (the sweep does). */
  refundClient: RefundWorkflowClient;
}

/** Every side effect of a refund, bound to its dependencies. Workflows import only the type. */
export function createActivities({ config, connection, treasury, logger, workerId, refundClient }: ActivityDeps) {
  const refunds = new RefundRepository(connection);
  const webhooks = createWebhookActivities(config.webhook, logger);
  const store = new TreasuryStore(connection);
  const alerts = new TreasuryAlerts(store, webhooks.sendAdminWebhook, logger);
  return {
    ...createRefundRecordActivities(connection, refunds, logger),
    ...createPayoutActivities({
      ledger: new PayoutLedger(connection),
      store,
      alerts,
      subscriptions: subscriptionModel(connection),
      treasury,
      logger,
      limits: config.payoutLimits,
      workerId,
    }),
    ...createEmailActivities(config.email, logger),
    ...webhooks,
    ...createSweepActivities({ connection, refunds, refundClient, penaltyBps: config.refunds.penaltyBps, logger }),
  };
}

export type Activities = ReturnType<typeof createActivities>;
