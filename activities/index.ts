import type { Connection } from 'mongoose';
import type { Treasury } from '../src/chain/treasury';
import type { Config } from '../src/config';
import type { Logger } from '../src/logger';
import type { RefundWorkflowClient } from '../src/temporal/refund-client';
import { PayoutLedger } from '../src/persistence/payout-ledger';
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
  return {
    ...createRefundRecordActivities(connection, refunds, logger),
    ...createPayoutActivities({ ledger: new PayoutLedger(connection), subscriptions: subscriptionModel(connection), refunds, treasury, logger, workerId }),
    ...createEmailActivities(config.email, logger),
    ...createWebhookActivities(config.webhook, logger),
    ...createSweepActivities({ connection, refunds, refundClient, penaltyBps: config.refunds.penaltyBps, logger }),
  };
}

export type Activities = ReturnType<typeof createActivities>;
