import { condition, defineSignal, defineUpdate, proxyActivities, proxyLocalActivities, setHandler, upsertSearchAttributes } from '@temporalio/workflow';
import { CreatorIdKey, RefundStatusKey, SubscriptionIdKey, UserIdKey } from '../../src/temporal/search-attributes';
import type * as activities from './activities';

/**
 * The engine ceiling: a workflow with the refund workflow's request-time shape
 * on the API-prepared path (registration update answered in the first task,
 * then one record activity and three notification activities, then a wait for
 * a decision) whose activities do no I/O. What the same Temporal server and
 * worker settings can take when nothing else costs anything. With
 * `searchAttributes`, it also sets the four search attributes the refund
 * workflow sets at registration (a visibility write on the server).
 */
export const registration = defineUpdate<string>('awaitRegistration');
export const finish = defineSignal('finish');

const { record, notify } = proxyActivities<typeof activities>({ startToCloseTimeout: '30s' });

export async function ceilingWorkflow(input: { id: string; searchAttributes?: boolean }): Promise<void> {
  let phase = 'preparing';
  let done = false;
  setHandler(registration, async () => {
    await condition(() => phase !== 'preparing');
    return phase;
  });
  setHandler(finish, () => {
    done = true;
  });
  if (input.searchAttributes) {
    upsertSearchAttributes([
      { key: RefundStatusKey, value: 'pending_approval' },
      { key: SubscriptionIdKey, value: input.id },
      { key: UserIdKey, value: input.id },
      { key: CreatorIdKey, value: input.id },
    ]);
  }
  phase = 'registered';
  await record(input.id);
  await Promise.all([notify(input.id), notify(input.id), notify(input.id)]);
  await condition(() => done);
}

/**
 * The payout ceiling: the refund workflow's shape from an admin's approval to
 * `completed` on a chain that mines at once, with activities that do no I/O:
 * the approval update answered once `approved` is recorded, then records for
 * `processing`, the signed transaction, the subscription and `completed`, the
 * prepare and confirm activities, and three notifications each for `approved`
 * and `completed`, awaited before the workflow ends. What the same Temporal
 * server can take of payouts when the store and the chain cost nothing. With
 * `searchAttributes`, each of the three status changes also sets the
 * `RefundStatus` search attribute, as the refund workflow does.
 */
export const approval = defineUpdate<string>('approve');

const { prepare, confirm } = proxyActivities<typeof activities>({ startToCloseTimeout: '2m' });

const local = proxyLocalActivities<typeof activities>({ startToCloseTimeout: '30s' });

export async function payoutCeilingWorkflow(input: { id: string; localRecords?: boolean; searchAttributes?: boolean }): Promise<void> {
  const write = input.localRecords ? local.record : record;
  const status = (value: string) => {
    if (input.searchAttributes) upsertSearchAttributes([{ key: RefundStatusKey, value }]);
  };
  let approved = false;
  let recorded = false;
  setHandler(approval, async () => {
    approved = true;
    await condition(() => recorded);
    return 'approved';
  });
  await condition(() => approved);
  await write(input.id); // approved
  status('approved');
  recorded = true;
  const notifications = [notify(input.id), notify(input.id), notify(input.id)];
  await write(input.id); // processing
  status('processing');
  await prepare(input.id);
  await write(input.id); // the transaction on the record
  await confirm(input.id);
  await write(input.id); // the subscription refunded
  await write(input.id); // completed
  status('completed');
  notifications.push(notify(input.id), notify(input.id), notify(input.id));
  await Promise.all(notifications);
}
