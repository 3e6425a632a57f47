import { temporal } from '@temporalio/proto';
import { ethers } from 'ethers';
import crypto from 'node:crypto';
import { Types } from 'mongoose';
import { refundWorkflowId } from '../../src/domain/refund';
import { RefundWorkflowClient, refundPolicySettings } from '../../src/temporal/refund-client';
import { startDedicatedChain, type DedicatedChain } from '../support/dedicated-chain';
import { PASS } from '../support/rpc-proxy';
import { startRefundStack, type RefundStack } from '../support/refund-stack';
import { waitFor } from '../support/wait';
import { activityEnvironment } from '../support/activity-environment';

/**
 * What operators do in the Temporal Web UI (or CLI) to a refund's workflow:
 * cancel it, reset it. Neither may abandon a payout that is on its way, pay
 * twice, or leave the record describing a run that no longer exists.
 */
describe('operator actions on refund workflows', () => {
  let chain: DedicatedChain;
  let stack: RefundStack;

  beforeAll(async () => {
    chain = await startDedicatedChain();
    stack = await startRefundStack({ chainUrl: chain.proxy.url });
  }, 60_000);
  afterAll(async () => {
    await stack?.close();
    await chain?.stop();
  });
  afterEach(async () => {
    chain.proxy.intercept(null);
    await chain.rpc('evm_setAutomine', [true]);
  });

  async function requestRefund() {
    const subscription = await stack.insertSubscription();
    const started = await stack.refundClient.start({ subscriptionId: subscription.subscriptionId, requestedBy: String(subscription.doc.userId) });
    if (started.kind !== 'started' || started.state.phase !== 'registered') throw new Error(`not started: ${JSON.stringify(started)}`);
    return {
      ...subscription,
      refundId: started.refundId,
      runId: started.runId,
      ref: { subscriptionId: subscription.subscriptionId, refundId: started.refundId },
      handle: stack.refundClient.handle(subscription.subscriptionId),
      amount: BigInt(started.state.refund.amount),
    };
  }

  /** A refund the timer approves `autoApproveAfterMs` after its request, unless decided first. */
  async function requestRefundApprovedByTimerAfter(autoApproveAfterMs: number) {
    const subscription = await stack.insertSubscription();
    const client = new RefundWorkflowClient(stack.client, { ...refundPolicySettings(stack.config), autoApproveAfterMs });
    const started = await client.start({ subscriptionId: subscription.subscriptionId, requestedBy: String(subscription.doc.userId) });
    if (started.kind !== 'started' || started.state.phase !== 'registered') throw new Error(`not started: ${JSON.stringify(started)}`);
    return { ...subscription, refundId: started.refundId, runId: started.runId, ref: { subscriptionId: subscription.subscriptionId, refundId: started.refundId }, autoApproveAt: started.state.refund.autoApproveAt };
  }

  async function broadcastPayout(subscriptionId: string) {
    return waitFor(async () => (await stack.ledger.attemptsOf(subscriptionId)).find((attempt) => attempt.broadcasts > 0), { what: 'a broadcast payout' });
  }

  async function subscription(subscriptionId: string) {
    return stack.subscriptions.findOne({ _id: new Types.ObjectId(subscriptionId) });
  }

  /** Until the workflow has run a workflow task since the cancel request: its code has seen the cancellation. */
  async function cancelTakenIn(handle: ReturnType<RefundStack['refundClient']['handle']>): Promise<void> {
    const { EVENT_TYPE_WORKFLOW_EXECUTION_CANCEL_REQUESTED: requested, EVENT_TYPE_WORKFLOW_TASK_COMPLETED: taskCompleted } = temporal.api.enums.v1.EventType;
    await waitFor(() => handle.fetchHistory().then((history) => history.events!.map((event) => event.eventType)), {
      until: (types) => types.includes(requested) && types.slice(types.indexOf(requested)).includes(taskCompleted),
      what: 'the workflow to take in the cancel request',
    });
  }

  /** Resets the run to its first workflow task, as the Web UI's "Reset to first workflow task" does; returns the new run id. */
  async function resetToFirstWorkflowTask(workflowId: string, runId: string): Promise<string> {
    return resetToWorkflowTask(workflowId, runId, (tasks) => tasks[0]!);
  }

  /**
   * Resets the run to one of its completed workflow tasks (`pick` chooses among them, oldest first, with the
   * events after each), as the Web UI and `temporal workflow reset --event-id` do, optionally without
   * re-applying the run's signals and updates; returns the new run id.
   */
  async function resetToWorkflowTask(
    workflowId: string,
    runId: string,
    pick: (tasks: { eventId: Long; after: temporal.api.enums.v1.EventType[] }[]) => { eventId: Long },
    options: { excludeSignalsAndUpdates?: boolean } = {},
  ): Promise<string> {
    const events = (await stack.client.workflow.getHandle(workflowId, runId).fetchHistory()).events!;
    const tasks = events
      .map((event, index) => ({ event, index }))
      .filter(({ event }) => event.eventType === temporal.api.enums.v1.EventType.EVENT_TYPE_WORKFLOW_TASK_COMPLETED)
      .map(({ event, index }) => ({ eventId: event.eventId as Long, after: events.slice(index + 1).map((later) => later.eventType!) }));
    const { ResetReapplyExcludeType } = temporal.api.enums.v1;
    const { runId: newRunId } = await stack.client.workflowService.resetWorkflowExecution({
      namespace: stack.config.temporal.namespace,
      workflowExecution: { workflowId, runId },
      reason: 'operator reset in a test',
      workflowTaskFinishEventId: pick(tasks).eventId,
      requestId: crypto.randomUUID(),
      resetReapplyExcludeTypes: options.excludeSignalsAndUpdates ? [ResetReapplyExcludeType.RESET_REAPPLY_EXCLUDE_TYPE_SIGNAL, ResetReapplyExcludeType.RESET_REAPPLY_EXCLUDE_TYPE_UPDATE] : [],
    });
    return newRunId!;
  }

  test('cancelling the workflow while its payout is broadcast does not abandon it: the refund completes, paid once', async () => {
    const refund = await requestRefund();
    const fromBlock = await chain.blockNumber();
    await chain.rpc('evm_setAutomine', [false]);
    await stack.refundClient.approve(refund.ref, { by: 'admin-1' });
    const payout = await broadcastPayout(refund.subscriptionId);

    await refund.handle.cancel();
    await cancelTakenIn(refund.handle); // the cancel request is delivered while the payout waits to be mined
    await chain.rpc('evm_setAutomine', [true]);
    await chain.mine(1);

    await expect(refund.handle.result()).resolves.toEqual({ refundId: refund.refundId, outcome: 'completed' });
    expect(await stack.refunds.findById(refund.refundId)).toMatchObject({ refundStatus: 'completed', transactionId: payout.txHash });
    expect(await subscription(refund.subscriptionId)).toMatchObject({ isRefundApplied: true, refundId: refund.refundId });
    const transfers = await chain.nativeTransfersTo(refund.wallet, fromBlock);
    expect(transfers.map((transfer) => [transfer.hash, transfer.value])).toEqual([[payout.txHash, refund.amount]]);
  }, 90_000);

  test('cancelling the workflow while the refund waits for a decision cancels the refund, and says who', async () => {
    const refund = await requestRefund();
    await refund.handle.cancel();
    await expect(refund.handle.result()).resolves.toEqual({ refundId: refund.refundId, outcome: 'cancelled' });
    const record = await stack.refunds.findById(refund.refundId);
    expect(record).toMatchObject({ refundStatus: 'cancelled', decidedBy: 'operator' });
    expect(await chain.provider.getBalance(refund.wallet)).toBe(0n);
  }, 60_000);

  test('cancelling the workflow of a failed refund ends it failed, with the record saying so', async () => {
    const refund = await requestRefund();
    const balance = await chain.provider.getBalance(stack.treasury.address);
    await chain.rpc('anvil_setBalance', [stack.treasury.address, '0x0']);
    try {
      await stack.refundClient.approve(refund.ref, { by: 'admin-1' });
      await waitFor(async () => ((await stack.refunds.findById(refund.refundId))?.refundStatus === 'failed' ? true : undefined), { what: 'the refund failed' });
      await refund.handle.cancel();
      await expect(refund.handle.result()).resolves.toEqual({ refundId: refund.refundId, outcome: 'failed' });
      expect(await stack.refunds.findById(refund.refundId)).toMatchObject({ refundStatus: 'failed', failureCode: 'InsufficientFunds' });
    } finally {
      await chain.rpc('anvil_setBalance', [stack.treasury.address, ethers.toQuantity(balance)]);
    }
  }, 60_000);

  test('after a reset of a pending refund, the record follows the new run, decisions reach it, and the sweep does not cancel it', async () => {
    const refund = await requestRefund();
    const workflowId = refund.handle.workflowId;
    const newRunId = await resetToFirstWorkflowTask(workflowId, refund.runId);
    expect(newRunId).not.toBe(refund.runId);
    await waitFor(async () => ((await stack.refunds.findWithRunId(refund.refundId))?.runId === newRunId ? true : undefined), { what: 'the record bound to the new run' });

    const reconciled = (await activityEnvironment().run(stack.activities.reconcileRefundRecords, { afterId: null, limit: 100 })) as { errors: number };
    expect(reconciled.errors).toBe(0);
    expect((await stack.refunds.findById(refund.refundId))!.refundStatus).toBe('pending_approval');

    await stack.refundClient.approve(refund.ref, { by: 'admin-1' });
    await expect(stack.client.workflow.getHandle(workflowId, newRunId).result()).resolves.toEqual({ refundId: refund.refundId, outcome: 'completed' });
    const record = await stack.refunds.findById(refund.refundId);
    expect(record).toMatchObject({ refundStatus: 'completed', decidedBy: 'admin-1' });
    expect(record!.statusHistory.map((change) => change.status)).toEqual(['pending_approval', 'approved', 'processing', 'completed']);
    expect(await chain.provider.getBalance(refund.wallet)).toBe(refund.amount);
  }, 90_000);

  test.each(['rejected', 'cancelled'] as const)('a reset of a refund %s before its auto-approval time keeps it so once that time has passed: nothing is paid', async (decision) => {
    const refund = await requestRefundApprovedByTimerAfter(3_000);
    if (decision === 'rejected') await stack.refundClient.reject(refund.ref, { by: 'admin-1', reason: 'duplicate' });
    else await stack.refundClient.cancel(refund.ref, { by: String(refund.doc.userId) });
    const workflowId = refundWorkflowId(refund.subscriptionId);
    await expect(stack.client.workflow.getHandle(workflowId, refund.runId).result()).resolves.toEqual({ refundId: refund.refundId, outcome: decision });
    await waitFor(async () => ((await stack.refunds.findById(refund.refundId))?.refundStatus === decision ? true : undefined), { what: `the record ${decision}` });
    await new Promise((resolve) => setTimeout(resolve, Math.max(0, Date.parse(refund.autoApproveAt) - Date.now()) + 200));

    const newRunId = await resetToFirstWorkflowTask(workflowId, refund.runId);
    await expect(stack.client.workflow.getHandle(workflowId, newRunId).result()).resolves.toEqual({ refundId: refund.refundId, outcome: decision });
    expect(await chain.provider.getBalance(refund.wallet)).toBe(0n);
    expect(await stack.ledger.attemptsOf(refund.subscriptionId)).toHaveLength(0);
    const record = await stack.refunds.findById(refund.refundId);
    expect(record!.refundStatus).toBe(decision);
    expect(record!.statusHistory.map((change) => change.status)).toEqual(['pending_approval', decision]);
  }, 90_000);

  test('a refund the sweep cancelled after its workflow was terminated stays cancelled when the run is reset to its last workflow task: nothing is paid', async () => {
    const refund = await requestRefundApprovedByTimerAfter(3_000);
    const workflowId = refundWorkflowId(refund.subscriptionId);
    await stack.client.workflow.getHandle(workflowId, refund.runId).terminate('operator ended it in the Web UI');
    await activityEnvironment().run(stack.activities.reconcileRefundRecords, { afterId: null, limit: 100 });
    expect((await stack.refunds.findById(refund.refundId))!.refundStatus).toBe('cancelled');
    await new Promise((resolve) => setTimeout(resolve, Math.max(0, Date.parse(refund.autoApproveAt) - Date.now()) + 200));

    // The operator undoes the terminate the usual way: every task but the last is replayed, the timer's among them.
    const newRunId = await resetToWorkflowTask(workflowId, refund.runId, (tasks) => tasks[tasks.length - 1]!);
    await expect(stack.client.workflow.getHandle(workflowId, newRunId).result()).resolves.toEqual({ refundId: refund.refundId, outcome: 'cancelled' });
    expect(await chain.provider.getBalance(refund.wallet)).toBe(0n);
    expect(await stack.ledger.attemptsOf(refund.subscriptionId)).toHaveLength(0);
    expect((await stack.refunds.findById(refund.refundId))!.refundStatus).toBe('cancelled');
    expect(await subscription(refund.subscriptionId)).toMatchObject({ isRefundApplied: false });
  }, 90_000);

  test.each(['rejected', 'cancelled'] as const)('a reset of a refund %s, to the task that took the decision in and without its updates, keeps it so: nothing is paid', async (decision) => {
    const refund = await requestRefundApprovedByTimerAfter(3_000);
    if (decision === 'rejected') await stack.refundClient.reject(refund.ref, { by: 'admin-1', reason: 'duplicate' });
    else await stack.refundClient.cancel(refund.ref, { by: String(refund.doc.userId) });
    const workflowId = refundWorkflowId(refund.subscriptionId);
    await expect(stack.client.workflow.getHandle(workflowId, refund.runId).result()).resolves.toEqual({ refundId: refund.refundId, outcome: decision });
    await new Promise((resolve) => setTimeout(resolve, Math.max(0, Date.parse(refund.autoApproveAt) - Date.now()) + 200));

    const { EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_ACCEPTED: accepted, EVENT_TYPE_WORKFLOW_EXECUTION_SIGNALED: signaled } = temporal.api.enums.v1.EventType;
    // The last task followed by an accepted update or a signal took the decision in (the first one took in the API's registration).
    const tookDecision = (tasks: { eventId: Long; after: temporal.api.enums.v1.EventType[] }[]) => tasks.filter((task) => task.after[0] === accepted || task.after[0] === signaled).at(-1)!;
    const newRunId = await resetToWorkflowTask(workflowId, refund.runId, tookDecision, { excludeSignalsAndUpdates: true });
    await expect(stack.client.workflow.getHandle(workflowId, newRunId).result()).resolves.toEqual({ refundId: refund.refundId, outcome: decision });
    expect(await chain.provider.getBalance(refund.wallet)).toBe(0n);
    expect(await stack.ledger.attemptsOf(refund.subscriptionId)).toHaveLength(0);
    const record = await stack.refunds.findById(refund.refundId);
    expect(record!.refundStatus).toBe(decision);
    expect(record!.statusHistory.map((change) => change.status)).toEqual(['pending_approval', decision]);
  }, 90_000);

  test('a reset to before the approval of a refund whose payout is on its way follows that payout through: paid once', async () => {
    const refund = await requestRefund();
    const fromBlock = await chain.blockNumber();
    await chain.rpc('evm_setAutomine', [false]);
    await stack.refundClient.approve(refund.ref, { by: 'admin-1' });
    const payout = await broadcastPayout(refund.subscriptionId);

    const newRunId = await resetToFirstWorkflowTask(refund.handle.workflowId, refund.runId);
    await chain.rpc('evm_setAutomine', [true]);
    await chain.mine(1);

    await expect(stack.client.workflow.getHandle(refund.handle.workflowId, newRunId).result()).resolves.toEqual({ refundId: refund.refundId, outcome: 'completed' });
    const record = await stack.refunds.findById(refund.refundId);
    expect(record).toMatchObject({ refundStatus: 'completed', transactionId: payout.txHash, decidedBy: 'system' });
    expect(record!.statusHistory.find((change) => change.status === 'approved')!.note).toMatch(/already under way when the workflow was reset/);
    const transfers = await chain.nativeTransfersTo(refund.wallet, fromBlock);
    expect(transfers.map((transfer) => transfer.hash)).toEqual([payout.txHash]);
    expect(await stack.ledger.attemptsOf(refund.subscriptionId)).toHaveLength(1);
  }, 90_000);

  test('a reset while the first preparation attempt still runs never leaves money moving for a refund that is not completed', async () => {
    const refund = await requestRefund();
    const later = await requestRefund();
    const fromBlock = await chain.blockNumber();
    // The old run's preparation has claimed the payout and waits for a slow gas estimate when the operator resets the run.
    let holding = true;
    const held: (() => void)[] = [];
    chain.proxy.intercept(async (call) => {
      if (call.method === 'eth_estimateGas' && holding) await new Promise<void>((resolve) => held.push(resolve));
      return PASS;
    });
    await stack.refundClient.approve(refund.ref, { by: 'admin-1' });
    await waitFor(() => (held.length > 0 ? true : undefined), { what: 'the preparation waiting for its gas estimate' });

    const workflowId = refund.handle.workflowId;
    const newRunId = await resetToFirstWorkflowTask(workflowId, refund.runId);
    await waitFor(() => activityCompleted(workflowId, newRunId, 'payoutStarted'), { what: 'the new run asked whether a payout was under way', timeoutMs: 60_000 });
    // An admin who sees the refund pending again rejects it (refused if the new run follows the payout).
    await stack.refundClient.reject(refund.ref, { by: 'admin-2', reason: 'approved by mistake' }).catch(() => undefined);
    holding = false;
    for (const resume of held.splice(0)) resume();

    // A later payout: its watcher sends any earlier nonce the node lacks, so a signed round left behind would move money.
    await stack.refundClient.approve(later.ref, { by: 'admin-1' });
    await expect(stack.refundClient.result(later.ref)).resolves.toMatchObject({ outcome: 'completed' });
    const outcome = await stack.client.workflow.getHandle(workflowId, newRunId).result();

    const record = await stack.refunds.findById(refund.refundId);
    const transfers = await chain.nativeTransfersTo(refund.wallet, fromBlock);
    const signed = (await stack.ledger.attemptsOf(refund.subscriptionId)).filter((attempt) => attempt.status === 'signed');
    expect({ outcome: outcome.outcome, status: record!.refundStatus, paid: transfers.map((transfer) => transfer.value), signed: signed.length }).toEqual(
      record!.refundStatus === 'completed'
        ? { outcome: 'completed', status: 'completed', paid: [refund.amount], signed: 0 }
        : { outcome: record!.refundStatus, status: record!.refundStatus, paid: [], signed: 0 },
    );
    expect(await chain.provider.getBalance(later.wallet)).toBe(later.amount);
  }, 180_000);

  test.each(['before the reject', 'after the closing run looked for a round'] as const)('a reset run told to reject waits out a preparation of the run before it that claims the payout %s: what it signs is followed through, paid once', async (when) => {
    // The refund's preparations time out after 10 s, so the wait is short.
    const client = new RefundWorkflowClient(stack.client, { ...refundPolicySettings(stack.config), timings: { payoutHeartbeatTimeoutMs: 5_000, payoutPrepareTimeoutMs: 10_000 } });
    const subscription = await stack.insertSubscription();
    const started = await client.start({ subscriptionId: subscription.subscriptionId, requestedBy: String(subscription.doc.userId) });
    if (started.kind !== 'started' || started.state.phase !== 'registered') throw new Error(`not started: ${JSON.stringify(started)}`);
    const ref = { subscriptionId: subscription.subscriptionId, refundId: started.refundId };
    const amount = BigInt(started.state.refund.amount);
    const later = await requestRefund();
    const fromBlock = await chain.blockNumber();
    const workflowId = refundWorkflowId(subscription.subscriptionId);
    const newRunId = await resetToFirstWorkflowTask(workflowId, started.runId);
    await waitFor(() => activityCompleted(workflowId, newRunId, 'payoutStarted'), { what: 'the new run asked whether a payout was under way', timeoutMs: 60_000 });

    // The old run's preparation (approved before the reset, slow to start: it has not claimed yet) claims the payout, then waits for a gas estimate.
    const held: (() => void)[] = [];
    chain.proxy.intercept(async (call) => {
      if (call.method === 'eth_estimateGas') await new Promise<void>((resolve) => held.push(resolve));
      return PASS;
    });
    const request = { refundId: ref.refundId, subscriptionId: ref.subscriptionId, to: subscription.wallet, amount: started.state.refund.amount, currency: started.state.refund.currency };
    const oldPreparation = () => activityEnvironment({ startToCloseTimeoutMs: 10_000, heartbeatTimeoutMs: 5_000 }).run(stack.activities.preparePayout, request).catch((error: Error) => error);
    const claimed = async () => {
      await waitFor(() => (held.length > 0 ? true : undefined), { what: 'the old preparation waiting for its gas estimate' });
      expect(await stack.ledger.findClaim(ref.subscriptionId)).toMatchObject({ refundId: ref.refundId, status: 'unpaid' });
    };
    let oldAttempt: Promise<unknown> | undefined;
    if (when === 'before the reject') {
      oldAttempt = oldPreparation();
      await claimed();
    }
    // An admin rejects the refund, pending again; the new run looks for a round to follow before closing it.
    const rejected = client.reject(ref, { by: 'admin-2', reason: 'approved by mistake' }).catch((error: Error) => error);
    await waitFor(() => activityCompleted(workflowId, newRunId, 'openPayoutRound'), { what: 'the new run looking for a round before closing' });
    if (!oldAttempt) {
      await waitFor(() => closeUnderWay(workflowId, newRunId), { what: 'the new run closing the refund, or waiting before it does' });
      oldAttempt = oldPreparation();
      await claimed();
    }
    // Then the old attempt signs.
    chain.proxy.intercept(null);
    for (const resume of held.splice(0)) resume();
    expect(await oldAttempt).toMatchObject({ status: 'signed', attempt: 1 });

    // A later payout: its watcher sends any earlier nonce the node lacks, so a signed round left behind would move money.
    await stack.refundClient.approve(later.ref, { by: 'admin-1' });
    await expect(stack.refundClient.result(later.ref)).resolves.toMatchObject({ outcome: 'completed' });
    await expect(stack.client.workflow.getHandle(workflowId, newRunId).result()).resolves.toEqual({ refundId: ref.refundId, outcome: 'completed' });
    await rejected;
    const record = await stack.refunds.findById(ref.refundId);
    expect(record).toMatchObject({ refundStatus: 'completed', decidedBy: 'system' });
    expect(record!.statusHistory.find((change) => change.status === 'approved')!.note).toMatch(/signed by the run before the reset: it is followed through instead of the reject by admin-2/);
    expect((await chain.nativeTransfersTo(subscription.wallet, fromBlock)).map((transfer) => transfer.value)).toEqual([amount]);
    expect((await stack.ledger.attemptsOf(ref.subscriptionId)).map((attempt) => attempt.status)).toEqual(['confirmed']);
  }, 180_000);

  /** Whether the run, having looked for a round to follow before closing, has ended or started a timer since (the wait before closing). */
  async function closeUnderWay(workflowId: string, runId: string): Promise<true | undefined> {
    const { EventType } = temporal.api.enums.v1;
    const events = (await stack.client.workflow.getHandle(workflowId, runId).fetchHistory()).events ?? [];
    const looked = events.findIndex((event) => event.activityTaskScheduledEventAttributes?.activityType?.name === 'openPayoutRound');
    const since = looked < 0 ? [] : events.slice(looked).map((event) => event.eventType);
    return since.includes(EventType.EVENT_TYPE_WORKFLOW_EXECUTION_COMPLETED) || since.includes(EventType.EVENT_TYPE_TIMER_STARTED) ? true : undefined;
  }

  /** Whether the run's history shows the named activity completed. */
  async function activityCompleted(workflowId: string, runId: string, activityType: string): Promise<true | undefined> {
    const { EventType } = temporal.api.enums.v1;
    const events = (await stack.client.workflow.getHandle(workflowId, runId).fetchHistory()).events ?? [];
    const scheduled = events.filter((event) => event.eventType === EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED && event.activityTaskScheduledEventAttributes?.activityType?.name === activityType).map((event) => String(event.eventId));
    return events.some((event) => event.eventType === EventType.EVENT_TYPE_ACTIVITY_TASK_COMPLETED && scheduled.includes(String(event.activityTaskCompletedEventAttributes?.scheduledEventId))) ? true : undefined;
  }
});
