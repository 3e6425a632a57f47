import { condition, defineSignal, defineUpdate, proxyActivities, setHandler } from '@temporalio/workflow';
import type * as activities from './activities';

/**
 * The engine ceiling: a workflow with the refund workflow's request-time shape
 * on the API-prepared path (registration update answered in the first task,
 * then one record activity and three notification activities, then a wait for
 * a decision) whose activities do no I/O. What the same Temporal server and
 * worker settings can take when nothing else costs anything.
 */
export const registration = defineUpdate<string>('awaitRegistration');
export const finish = defineSignal('finish');

const { record, notify } = proxyActivities<typeof activities>({ startToCloseTimeout: '30s' });

export async function ceilingWorkflow(input: { id: string }): Promise<void> {
  let phase = 'preparing';
  let done = false;
  setHandler(registration, async () => {
    await condition(() => phase !== 'preparing');
    return phase;
  });
  setHandler(finish, () => {
    done = true;
  });
  phase = 'registered';
  await record(input.id);
  await Promise.all([notify(input.id), notify(input.id), notify(input.id)]);
  await condition(() => done);
}
