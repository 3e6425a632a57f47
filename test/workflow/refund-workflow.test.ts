import { WorkflowUpdateFailedError } from '@temporalio/client';
import { ApplicationFailure } from '@temporalio/common';
import { TestWorkflowEnvironment } from '@temporalio/testing';
import { Worker } from '@temporalio/worker';
import crypto from 'node:crypto';
import { temporal } from '@temporalio/proto';
import { ensureTimeSkippingServer } from '../../src/dev/provision';
import { REFUND_SEARCH_ATTRIBUTES } from '../../src/temporal/search-attributes';
import { refundWorkflowId } from '../../src/domain/refund';
import type { proRataRefundWorkflow } from '../../workflows/refund-workflow';
import { approveSignal, approveRefundUpdate, rejectSignal, awaitRegistrationUpdate, cancelRefundUpdate, getRefundQuery, rejectRefundUpdate, retryPayoutUpdate, type RefundWorkflowInput } from '../../workflows/refund-messages';
import { waitFor } from '../support/wait';
import { workflowBundle } from '../support/workflow-bundle';
import { fakeActivities, insufficientFunds, SIGNED, type Scripted } from './support/fake-activities';

const DAY = 24 * 60 * 60 * 1000;

/**
 * The refund policy as the workflow runs it, on Temporal's time-skipping test
 * server with in-memory activities: fourteen days pass in milliseconds. The
 * full stack (real store, chain, processes) is tested in test/integration.
 */
describe('refund workflow policy (time-skipping, fake activities)', () => {
  let env: TestWorkflowEnvironment;

  beforeAll(async () => {
    env = await TestWorkflowEnvironment.createTimeSkipping({ server: { executable: { type: 'existing-path', path: await ensureTimeSkippingServer() } } });
    await env.connection.operatorService.addSearchAttributes({
      namespace: env.namespace ?? 'default',
      searchAttributes: Object.fromEntries(REFUND_SEARCH_ATTRIBUTES.map((key) => [key.name, temporal.api.enums.v1.IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD])),
    });
  }, 120_000);
  afterAll(async () => {
    await env?.teardown();
  });

  async function run<T>(script: Scripted, body: (refund: Started) => Promise<T>): Promise<T & { calls: ReturnType<typeof fakeActivities> }> {
    const fake = fakeActivities(script);
    const taskQueue = `policy-${crypto.randomBytes(4).toString('hex')}`;
    const worker = await Worker.create({ connection: env.nativeConnection, taskQueue, workflowBundle: await workflowBundle(), activities: fake.activities });
    const subscriptionId = crypto.randomBytes(12).toString('hex');
    const input: RefundWorkflowInput = {
      refundId: `rf_${subscriptionId}`,
      subscriptionId,
      requestedAt: new Date(await env.currentTimeMs()).toISOString(),
      requestedBy: 'user-1',
      reason: null,
      autoApproveAfterMs: 14 * DAY,
      penaltyBps: 0,
    };
    const result = await worker.runUntil(async () => {
      const handle = await env.client.workflow.start<typeof proRataRefundWorkflow>('proRataRefundWorkflow', { workflowId: refundWorkflowId(subscriptionId), taskQueue, args: [input] });
      await handle.executeUpdate(awaitRegistrationUpdate);
      return body({ handle, refundId: input.refundId });
    });
    return { ...result, calls: fake };
  }

  type Started = { handle: Awaited<ReturnType<typeof env.client.workflow.start<typeof proRataRefundWorkflow>>>; refundId: string };

  const statusesWritten = (fake: ReturnType<typeof fakeActivities>) => fake.called('transitionRefund').map((call) => (call.input as { change: { status: string } }).change.status);

  test('with no decision in 14 days the timer approves, and the refund is paid and completed', async () => {
    const { outcome, calls } = await run({}, async ({ handle }) => ({ outcome: await handle.result() }));
    expect(outcome.outcome).toBe('completed');
    expect(statusesWritten(calls)).toEqual(['approved', 'processing', 'completed']);
    expect((calls.called('transitionRefund')[0]!.input as { change: { by: string } }).change.by).toBe('auto');
    expect(calls.called('markSubscriptionRefunded')).toHaveLength(1);
  });

  test('a payout that fails parks the refund in failed; an admin\'s retry pays it', async () => {
    const { outcome, calls } = await run({ preparePayout: [insufficientFunds()] }, async ({ handle }) => {
      await handle.executeUpdate(approveRefundUpdate, { args: [{ by: 'admin-1' }] });
      await waitForStatus(handle, 'failed');
      const failed = await handle.query(getRefundQuery);
      expect(failed).toMatchObject({ phase: 'registered', refund: { refundStatus: 'failed', failureCode: 'InsufficientFunds', retryable: true } });
      await handle.executeUpdate(retryPayoutUpdate, { args: [{ by: 'admin-2', note: 'topped up' }] });
      return { outcome: await handle.result() };
    });
    expect(outcome.outcome).toBe('completed');
    expect(statusesWritten(calls)).toEqual(['approved', 'processing', 'failed', 'processing', 'completed']);
  });

  test('a failure that must not be retried ends the refund failed, without waiting for a retry', async () => {
    const mismatch = ApplicationFailure.nonRetryable('delivered 99 instead of 100', 'PayoutAmountMismatch');
    const { outcome, calls } = await run({ preparePayout: [mismatch] }, async ({ handle }) => {
      await handle.executeUpdate(approveRefundUpdate, { args: [{ by: 'admin-1' }] });
      return { outcome: await handle.result() };
    });
    expect(outcome.outcome).toBe('failed');
    expect(calls.called('transitionRefund').at(-1)!.input).toMatchObject({ fields: { failureCode: 'PayoutAmountMismatch', retryable: false } });
  });

  test('an approval by signal (the Web UI) counts like the API\'s; an invalid one is ignored, an invalid update refused', async () => {
    const { outcome } = await run({}, async ({ handle }) => {
      await expect(handle.executeUpdate(rejectRefundUpdate, { args: [{ by: 'admin-1', reason: ' ' }] })).rejects.toThrow(WorkflowUpdateFailedError);
      await handle.signal(approveSignal, { by: '' } as never); // no "by": logged and ignored
      expect((await handle.query(getRefundQuery)).phase).toBe('registered');
      await handle.signal(approveSignal, { by: 'ops-alice' });
      return { outcome: await handle.result() };
    });
    expect(outcome.outcome).toBe('completed');
  });

  test('decision text the store cannot keep (a NUL, a note that is not a string) is refused by update and ignored by signal, so no record write fails forever', async () => {
    const { outcome, calls } = await run({}, async ({ handle }) => {
      const unstorable = [{ by: 'ops-bob', reason: 'dup\u0000licate' }, { by: 'ops\u0000bob', reason: 'duplicate' }, { by: 'ops-bob', reason: 'x'.repeat(1001) }];
      for (const args of unstorable) {
        await expect(handle.executeUpdate(rejectRefundUpdate, { args: [args] })).rejects.toThrow(WorkflowUpdateFailedError);
        await handle.signal(rejectSignal, args);
      }
      await expect(handle.executeUpdate(approveRefundUpdate, { args: [{ by: 'ops-bob', note: { text: 'ok' } } as never] })).rejects.toThrow(WorkflowUpdateFailedError);
      await handle.signal(approveSignal, { by: 'ops-bob', note: { text: 'ok' } } as never);
      expect(await handle.query(getRefundQuery)).toMatchObject({ refund: { refundStatus: 'pending_approval' } });
      await handle.signal(approveSignal, { by: 'ops-alice', note: 'checked' });
      return { outcome: await handle.result() };
    });
    expect(outcome.outcome).toBe('completed');
    expect(calls.called('transitionRefund')[0]!.input).toMatchObject({ change: { status: 'approved', by: 'ops-alice', note: 'checked' } });
  });

  test('a decision meant for another refund of the subscription is refused', async () => {
    await run({}, async ({ handle }) => {
      await expect(handle.executeUpdate(approveRefundUpdate, { args: [{ by: 'admin-1', refundId: 'rf_an_earlier_one' }] })).rejects.toThrow(WorkflowUpdateFailedError);
      await handle.executeUpdate(cancelRefundUpdate, { args: [{ by: 'user-1' }] });
      return { outcome: await handle.result() };
    });
  });

  test('an ineligible subscription records nothing and tells why', async () => {
    const script: Scripted = { prepareRefund: { kind: 'ineligible', reasons: ['PERIOD_ENDED', 'NOTHING_TO_REFUND'], amount: '0', breakdown: {} as never } };
    const { outcome, state, calls } = await run(script, async ({ handle }) => ({ outcome: await handle.result(), state: await handle.query(getRefundQuery) }));
    expect(outcome.outcome).toBe('ineligible');
    expect(state).toEqual({ phase: 'ineligible', ineligibility: { reasons: ['PERIOD_ENDED', 'NOTHING_TO_REFUND'], amount: '0', breakdown: {} } });
    expect(calls.called('createRefundRecord')).toEqual([]);
  });

  test('the user withdraws while pending; a cancel from the Web UI cancels too, saying it was an operator', async () => {
    const withdrawn = await run({}, async ({ handle }) => {
      await handle.executeUpdate(cancelRefundUpdate, { args: [{ by: 'user-1' }] });
      return { outcome: await handle.result() };
    });
    expect(withdrawn.outcome.outcome).toBe('cancelled');

    const operator = await run({}, async ({ handle }) => {
      await waitForStatus(handle, 'pending_approval');
      await handle.cancel();
      return { outcome: await handle.result() };
    });
    expect(operator.outcome.outcome).toBe('cancelled');
    expect(operator.calls.called('transitionRefund')[0]!.input).toMatchObject({ change: { status: 'cancelled', by: 'operator' } });
  });

  test('above PAYOUT_MAX_AMOUNT the timer does not approve; the refund waits for an admin, saying why', async () => {
    const { outcome, calls } = await run({ autoApprovalAllowed: { allowed: false, reason: 'above PAYOUT_MAX_AMOUNT' } }, async ({ handle }) => {
      await env.sleep(15 * DAY);
      expect((await handle.query(getRefundQuery)) as unknown).toMatchObject({ refund: { refundStatus: 'pending_approval', waitingReason: 'above PAYOUT_MAX_AMOUNT' } });
      await handle.executeUpdate(approveRefundUpdate, { args: [{ by: 'admin-1' }] });
      return { outcome: await handle.result() };
    });
    expect(outcome.outcome).toBe('completed');
    expect((calls.called('transitionRefund')[0]!.input as { change: { by: string } }).change.by).toBe('admin-1');
  });

  test('at PAYOUT_DAILY_LIMIT the payout waits until the window moves, then goes out', async () => {
    const retryAt = new Date(Date.now() + 3 * 60 * 60 * 1000).toISOString();
    const { outcome, calls } = await run({ preparePayout: [{ status: 'limited', retryAt, reason: 'PAYOUT_DAILY_LIMIT reached' }] }, async ({ handle }) => {
      await handle.executeUpdate(approveRefundUpdate, { args: [{ by: 'admin-1' }] });
      return { outcome: await handle.result() };
    });
    expect(outcome.outcome).toBe('completed');
    expect(calls.called('preparePayout')).toHaveLength(2);
    expect(calls.called('recordRefundProgress').map((call) => (call.input as { fields: object }).fields)).toEqual([
      { waitingReason: 'PAYOUT_DAILY_LIMIT reached' },
      expect.objectContaining({ transactionId: '0xpaid', waitingReason: null }),
    ]);
  });

  test('a payout that cannot be prepared for a while (RPC down, timeouts) is tried until it settles: it never parks in failed for that', async () => {
    const outage = Array.from({ length: 12 }, () => new Error('could not reach the chain: ETIMEDOUT'));
    const { outcome, calls } = await run({ preparePayout: outage }, async ({ handle }) => {
      await handle.executeUpdate(approveRefundUpdate, { args: [{ by: 'admin-1' }] });
      return { outcome: await settled(handle) };
    });
    expect(outcome).toBe('completed');
    expect(calls.called('preparePayout')).toHaveLength(13);
    expect(statusesWritten(calls)).toEqual(['approved', 'processing', 'completed']);
  });

  test('a payout failure while a round of this refund is open (signed by an earlier attempt) watches that round instead of parking', async () => {
    const { outcome, calls } = await run({ preparePayout: [insufficientFunds()], openPayoutRound: [SIGNED] }, async ({ handle }) => {
      await handle.executeUpdate(approveRefundUpdate, { args: [{ by: 'admin-1' }] });
      return { outcome: await settled(handle) };
    });
    expect(outcome).toBe('completed');
    expect(statusesWritten(calls)).toEqual(['approved', 'processing', 'completed']);
    expect(calls.called('confirmPayout').map((call) => call.input)).toEqual([{ refundId: expect.any(String), attemptId: SIGNED.attemptId }]);
  });

  /** The status the refund settles in: completed, or failed (waiting for an admin); workflow time moves a minute between looks. */
  async function settled(handle: Started['handle']): Promise<string> {
    for (let i = 0; i < 120; i += 1) {
      const state = await handle.query(getRefundQuery);
      if (state.phase === 'registered' && (state.refund.refundStatus === 'completed' || state.refund.refundStatus === 'failed')) return state.refund.refundStatus;
      await env.sleep('1 minute');
    }
    throw new Error('the refund did not settle');
  }

  async function waitForStatus(handle: Started['handle'], status: string): Promise<void> {
    await waitFor(() => handle.query(getRefundQuery), {
      until: (state) => state.phase === 'registered' && state.refund.refundStatus === status,
      what: `the refund to be ${status}`,
      timeoutMs: 10_000,
      intervalMs: 20,
    });
  }
});
