import { Types } from 'mongoose';
import { ensureSweepSchedule, SweepControl, sweepScheduleId } from '../../src/sweep/schedule';
import { latestSweepRun } from '../../src/sweep/sweep-runs';
import { refundWorkflowId } from '../../src/domain/refund';
import { uniqueName } from '../support/services';
import { startRefundStack, type RefundStack } from '../support/refund-stack';
import { sleep, waitFor } from '../support/wait';
import { activityEnvironment } from '../support/activity-environment';

const DAY = 24 * 60 * 60 * 1000;
const HOUR = 60 * 60 * 1000;

describe('periodic sweep on a Temporal Schedule (real stack)', () => {
  let stack: RefundStack;
  let control: SweepControl;
  const seeded: Record<string, string> = {};

  beforeAll(async () => {
    stack = await startRefundStack();
    control = new SweepControl(stack.client, stack.mongo, { taskQueue: stack.config.temporal.taskQueue, intervalMs: HOUR });
    for (const name of ['eligibleA', 'eligibleB', 'eligibleC']) seeded[name] = (await stack.insertSubscription()).subscriptionId;
    seeded.active = (await stack.insertSubscription({ status: 'active', cancelledAt: undefined })).subscriptionId;
    seeded.notRefundable = (await stack.insertSubscription({ refundEligible: false })).subscriptionId;
    seeded.alreadyRefunded = (await stack.insertSubscription({ isRefundApplied: true })).subscriptionId;
    seeded.windowExpired = (await stack.insertSubscription({ startDate: new Date(Date.now() - 40 * DAY), endDate: new Date(Date.now() + 5 * DAY) })).subscriptionId;
    // Owed, though an older sweep would have dropped them: no refundEligible field (eligible, as for the API), and
    // cancellations inside the window swept only after the window closed or after the period ended.
    seeded.withoutFlag = (await stack.insertSubscription()).subscriptionId;
    await stack.subscriptions.updateOne({ _id: new Types.ObjectId(seeded.withoutFlag) }, { $unset: { refundEligible: '' } });
    seeded.sweptAfterWindow = (await stack.insertSubscription({ startDate: new Date(Date.now() - 40 * DAY), endDate: new Date(Date.now() + 5 * DAY), cancelledAt: new Date(Date.now() - 20 * DAY) })).subscriptionId;
    seeded.sweptAfterEnd = (await stack.insertSubscription({ startDate: new Date(Date.now() - 40 * DAY), endDate: new Date(Date.now() - 2 * DAY), cancelledAt: new Date(Date.now() - 25 * DAY) })).subscriptionId;
    seeded.alreadyPending = (await stack.insertSubscription()).subscriptionId;
    await stack.refundClient.start({ subscriptionId: seeded.alreadyPending, requestedBy: 'user-1' });
    seeded.rejectedBefore = (await stack.insertSubscription()).subscriptionId;
    const rejected = await stack.refundClient.start({ subscriptionId: seeded.rejectedBefore, requestedBy: 'user-1' });
    if (rejected.kind !== 'started') throw new Error('not started');
    await stack.refundClient.reject({ subscriptionId: seeded.rejectedBefore, runId: rejected.runId }, { by: 'admin-1', reason: 'not owed' });
    await stack.refundClient.result({ subscriptionId: seeded.rejectedBefore, runId: rejected.runId });
  }, 120_000);
  afterAll(async () => {
    await stack.client.schedule.getHandle(sweepScheduleId(stack.config.temporal.taskQueue)).delete().catch(() => undefined);
    await stack?.close();
  });

  async function triggerAndWait(previousId: string | undefined) {
    // Scheduled runs are named <schedule>-run-<time to the second>: triggers within
    // one second coalesce into one run, so a second trigger waits for the next second.
    await sleep(1000 - (Date.now() % 1000) + 50);
    await control.trigger();
    const run = await waitFor(() => latestSweepRun(stack.mongo), { until: (latest) => latest !== null && latest._id !== previousId, what: 'the triggered sweep to finish', timeoutMs: 25_000, intervalMs: 200, diagnose });
    return run!;
  }

  async function diagnose(): Promise<string> {
    const description = await stack.client.schedule.getHandle(sweepScheduleId(stack.config.temporal.taskQueue)).describe();
    const runs = [];
    for (const action of description.info.recentActions) {
      const handle = stack.client.workflow.getHandle(action.action.workflow.workflowId);
      const history = await handle.fetchHistory();
      runs.push({ id: action.action.workflow.workflowId, status: (await handle.describe()).status.name, events: history.events?.map((event) => event.eventType) });
    }
    return JSON.stringify({ running: description.info.runningActions, recent: runs }, null, 1);
  }

  test('a triggered sweep starts exactly the refunds owed (never one an admin rejected), and a second sweep starts none', async () => {
    expect(await ensureSweepSchedule(stack.client, { taskQueue: stack.config.temporal.taskQueue, intervalMs: HOUR })).toBe('created');

    const first = await triggerAndWait(undefined);
    expect(first).toMatchObject({ found: 9, started: 6, skipped: 3, errors: 0 });
    expect(first.durationMs).toBeGreaterThanOrEqual(0);
    for (const name of ['eligibleA', 'eligibleB', 'eligibleC', 'withoutFlag', 'sweptAfterWindow', 'sweptAfterEnd']) {
      const description = await stack.client.workflow.getHandle(refundWorkflowId(seeded[name]!)).describe();
      expect(description.status.name).toBe('RUNNING');
    }
    for (const name of ['active', 'notRefundable', 'alreadyRefunded', 'windowExpired']) {
      await expect(stack.client.workflow.getHandle(refundWorkflowId(seeded[name]!)).describe()).rejects.toThrow();
    }

    const rejectedRuns = await stack.refunds.listByUser('user-1', { limit: 100 });
    expect(rejectedRuns.items.filter((refund) => refund.subscriptionId === seeded.rejectedBefore).map((refund) => refund.refundStatus)).toEqual(['rejected']);

    const second = await triggerAndWait(first._id);
    expect(second).toMatchObject({ found: 9, started: 0, skipped: 9, errors: 0 });

    const status = await control.status();
    expect(status).toMatchObject({ scheduleId: sweepScheduleId(stack.config.temporal.taskQueue), intervalMs: HOUR, paused: false });
    expect(status.lastRun?._id).toBe(second._id);
    expect(Date.parse(status.nextRunAt!)).toBeGreaterThan(Date.now());
  });

  test('the schedule is created once and an operator pause survives a restart', async () => {
    const taskQueue = uniqueName('sweep-restart');
    const handle = stack.client.schedule.getHandle(sweepScheduleId(taskQueue));
    try {
      expect(await ensureSweepSchedule(stack.client, { taskQueue, intervalMs: HOUR })).toBe('created');
      await handle.pause('paused by ops during an incident');
      expect(await ensureSweepSchedule(stack.client, { taskQueue, intervalMs: 2 * HOUR })).toBe('updated');
      const description = await handle.describe();
      expect(description.state.paused).toBe(true);
      expect(description.state.note).toBe('paused by ops during an incident');
      expect(description.spec.intervals).toMatchObject([{ every: 2 * HOUR }]);
      expect(description.policies.overlap).toBe('SKIP');
      const listed = [];
      for await (const schedule of stack.client.schedule.list()) if (schedule.scheduleId === sweepScheduleId(taskQueue)) listed.push(schedule);
      expect(listed).toHaveLength(1);
    } finally {
      await handle.delete().catch(() => undefined);
    }
  });

  test('a deploy that finds the schedule as configured leaves it alone', async () => {
    const taskQueue = uniqueName('sweep-unchanged');
    const handle = stack.client.schedule.getHandle(sweepScheduleId(taskQueue));
    try {
      expect(await ensureSweepSchedule(stack.client, { taskQueue, intervalMs: HOUR })).toBe('created');
      const updatedAt = (await handle.describe()).info.lastUpdatedAt;
      expect(await ensureSweepSchedule(stack.client, { taskQueue, intervalMs: HOUR })).toBe('unchanged');
      expect((await handle.describe()).info.lastUpdatedAt).toEqual(updatedAt);
    } finally {
      await handle.delete().catch(() => undefined);
    }
  });

  test('an operator pause sent while a deploy brings the schedule up to date is kept, however the two interleave', async () => {
    // Temporal's scheduler applies a pause before a full update handled in the same workflow task, and the
    // SDK's update sends the state it described without its conflict token: either way a pause got lost.
    const taskQueue = uniqueName('sweep-deploy-race');
    const handle = stack.client.schedule.getHandle(sweepScheduleId(taskQueue));
    try {
      await ensureSweepSchedule(stack.client, { taskQueue, intervalMs: HOUR });
      const lost: string[] = [];
      for (let round = 1; round <= 8; round += 1) {
        const intervalMs = HOUR + round * 60_000;
        const note = `paused by ops: round ${round}`;
        const deploy = () => ensureSweepSchedule(stack.client, { taskQueue, intervalMs });
        const pause = () => sleep(round * 3).then(() => handle.pause(note));
        if (round % 2 === 0) await Promise.all([deploy(), pause()]);
        else await deploy().then(pause);
        const shown = await waitFor(() => handle.describe(), {
          until: (description) => description.state.paused && description.spec.intervals?.[0]?.every === intervalMs,
          what: `round ${round}: the pause and the new interval`,
          timeoutMs: 5_000,
          intervalMs: 100,
        }).catch(() => handle.describe());
        if (!(shown.state.paused && shown.state.note === note && shown.spec.intervals?.[0]?.every === intervalMs)) {
          lost.push(`round ${round}: paused ${shown.state.paused}, note "${shown.state.note}", every ${shown.spec.intervals?.[0]?.every}`);
        }
        await handle.unpause('unpaused by ops');
        await waitFor(() => handle.describe(), { until: (description) => !description.state.paused, what: 'the unpause', timeoutMs: 5_000, intervalMs: 100 });
      }
      expect(lost).toEqual([]);
    } finally {
      await handle.delete().catch(() => undefined);
    }
  });

  test('reconciliation repairs records that drifted from their workflow', async () => {
    const terminated = await stack.insertSubscription();
    const started = await stack.refundClient.start({ subscriptionId: terminated.subscriptionId, requestedBy: 'user-1' });
    if (started.kind !== 'started') throw new Error('not started');
    await stack.client.workflow.getHandle(refundWorkflowId(terminated.subscriptionId), started.runId).terminate('operator cleanup');

    const missed = await stack.insertSubscription();
    const missedStart = await stack.refundClient.start({ subscriptionId: missed.subscriptionId, requestedBy: 'user-1' });
    if (missedStart.kind !== 'started') throw new Error('not started');
    const ref = { subscriptionId: missed.subscriptionId, runId: missedStart.runId };
    await stack.refundClient.reject(ref, { by: 'admin-1', reason: 'duplicate' });
    await stack.refundClient.result(ref);
    // Simulate a lost mirror write: the record still says pending.
    const original = await stack.refunds.findById(missedStart.refundId);
    await stack.mongo.db!.collection('proratarefunds').updateOne(
      { _id: missedStart.refundId as never },
      { $set: { refundStatus: 'pending_approval', statusHistory: original!.statusHistory.slice(0, 1) } },
    );

    const run = await stack.refundClient.client.workflow.execute('refundSweepWorkflow', {
      taskQueue: stack.config.temporal.taskQueue,
      workflowId: uniqueName('sweep-reconcile'),
      args: [{}],
    });
    expect(run.reconciled).toBeGreaterThanOrEqual(2);
    expect(await stack.refunds.findById(started.refundId)).toMatchObject({ refundStatus: 'cancelled' });
    const repaired = await stack.refunds.findById(missedStart.refundId);
    expect(repaired).toMatchObject({ refundStatus: 'rejected', decidedBy: 'admin-1', decisionNote: 'duplicate' });
    expect(repaired!.statusHistory.map((entry) => entry.status)).toEqual(['pending_approval', 'rejected']);
  });

  test('a pending refund whose running workflow says pending is confirmed from its description: no query, so no replay on a worker', async () => {
    const pending = await stack.insertSubscription();
    const started = await stack.refundClient.start({ subscriptionId: pending.subscriptionId, requestedBy: 'user-1' });
    if (started.kind !== 'started') throw new Error('not started');
    const queried = jest.spyOn(stack.refundClient, 'state');
    try {
      await activityEnvironment().run(stack.activities.reconcileRefundRecords, { afterId: null, limit: 1_000 });
      expect(queried.mock.calls.map(([ref]) => ref.subscriptionId)).not.toContain(pending.subscriptionId);
    } finally {
      queried.mockRestore();
    }
    expect(await stack.refunds.findById(started.refundId)).toMatchObject({ refundStatus: 'pending_approval' });
  });

  test('large collections are paged with continue-as-new and every candidate is seen once', async () => {
    const workflowId = uniqueName('sweep-paged');
    const handle = await stack.client.workflow.start('refundSweepWorkflow', {
      taskQueue: stack.config.temporal.taskQueue,
      workflowId,
      args: [{ pageSize: 2, pagesPerRun: 1 }],
    });
    const totals = await handle.result();
    const candidates = await stack.subscriptions.countDocuments({ status: 'cancelled', refundEligible: { $ne: false }, isRefundApplied: { $ne: true } });
    expect(totals.found).toBe(candidates);
    expect(totals.errors).toBe(0);
    const firstRun = await stack.client.workflow.getHandle(workflowId, handle.firstExecutionRunId).fetchHistory();
    expect(firstRun.events!.at(-1)!.workflowExecutionContinuedAsNewEventAttributes).toBeTruthy();
    expect(await stack.mongo.db!.collection('sweepruns').countDocuments({ _id: workflowId as never })).toBe(1);
  });
});
