import { assessRefund } from '../../src/domain/prepared-refund';
import { parseSubscription } from '../../src/domain/subscription';
import { newRefundId, type StartRefundRequest } from '../../src/temporal/refund-client';
import { startRefundStack, type RefundStack } from '../support/refund-stack';

/**
 * What RefundWorkflowClient answers the API with: outcomes in the refund's
 * terms, never Temporal's errors, against a real worker. A cancelled refund's
 * run stays open while its notifications go out; the receivers fail here on
 * purpose to hold it open as long as a test needs.
 */
describe('RefundWorkflowClient outcomes', () => {
  let stack: RefundStack;
  const opened: string[] = [];

  beforeAll(async () => {
    // Notifications retried (almost) forever: a cancelled run closes only once the receivers answer.
    stack = await startRefundStack({ timings: { notificationMaxAttempts: 1_000 } });
  }, 60_000);
  afterAll(async () => {
    stack?.emails.failAll(false);
    stack?.webhooks.failAll(false);
    await Promise.all(opened.map((subscriptionId) => stack.refundClient.handle(subscriptionId).terminate('test cleanup').catch(() => undefined)));
    await stack?.close();
  });

  /** What the API starts a refund with: the amount checked and computed once, at the request time. */
  async function request(): Promise<StartRefundRequest> {
    const { doc, subscriptionId } = await stack.insertSubscription();
    opened.push(subscriptionId);
    const subscription = parseSubscription(doc);
    const requestedAt = new Date();
    const { eligible, preparation } = assessRefund(subscription, null, requestedAt, { penaltyBps: 0 });
    expect(eligible).toBe(true);
    return { subscriptionId, requestedBy: String(doc.userId), requestedAt, prepared: preparation, subscription };
  }

  async function accepted(refundRequest: StartRefundRequest) {
    const outcome = await stack.refundClient.startAfterPreviousCloses(refundRequest);
    if (outcome.kind !== 'accepted') throw new Error(`not accepted: ${JSON.stringify(outcome)}`);
    return outcome.refund;
  }

  test('a refund is accepted pending approval; asking again while it is live is refund-exists, at once', async () => {
    const refundRequest = await request();
    const refund = await accepted(refundRequest);
    expect(refund).toMatchObject({ subscriptionId: refundRequest.subscriptionId, refundStatus: 'pending_approval', amount: refundRequest.prepared!.amount });
    expect(refund.requestedAt).toBe(refundRequest.requestedAt!.toISOString());

    // A live refund is never waited for: an hour's wait would show as a timeout of this test.
    await expect(stack.refundClient.startAfterPreviousCloses(refundRequest, 3_600_000)).resolves.toEqual({
      kind: 'refund-exists',
      refundId: refund.refundId,
      refundStatus: 'pending_approval',
    });
  });

  test('a cancelled refund whose run is still closing: previous-closing after the wait; accepted once the run can close', async () => {
    const refundRequest = await request();
    const first = await accepted(refundRequest);
    stack.emails.failAll(true);
    stack.webhooks.failAll(true);
    const ref = { subscriptionId: refundRequest.subscriptionId, refundId: first.refundId };
    expect(await stack.refundClient.decide(ref, { kind: 'cancel', by: refundRequest.requestedBy })).toMatchObject({ kind: 'decided', refund: { refundStatus: 'cancelled' } });

    await expect(stack.refundClient.startAfterPreviousCloses(refundRequest, 300)).resolves.toEqual({
      kind: 'previous-closing',
      refundId: first.refundId,
      refundStatus: 'cancelled',
    });

    stack.emails.failAll(false);
    stack.webhooks.failAll(false);
    // Long enough for the notifications' next retry, whatever its backoff has grown to.
    const second = await stack.refundClient.startAfterPreviousCloses(refundRequest, 60_000);
    expect(second).toMatchObject({ kind: 'accepted', refund: { subscriptionId: refundRequest.subscriptionId, refundStatus: 'pending_approval' } });
    expect(second.kind === 'accepted' && second.refund.refundId).not.toBe(first.refundId);
  }, 120_000);

  test('decisions: refusals come back as outcomes, with the refund\'s live status', async () => {
    const refundRequest = await request();
    const refund = await accepted(refundRequest);
    const ref = { subscriptionId: refundRequest.subscriptionId, refundId: refund.refundId };

    expect(await stack.refundClient.decide(ref, { kind: 'retry', by: 'admin-1' })).toEqual({ kind: 'not-failed', refundStatus: 'pending_approval' });
    expect(await stack.refundClient.decide(ref, { kind: 'reject', by: 'admin-1', reason: ' ' })).toEqual({ kind: 'invalid', message: 'a rejection needs a reason' });
    // A decision meant for another refund of the subscription never lands on this one.
    expect(await stack.refundClient.decide({ ...ref, refundId: newRefundId(ref.subscriptionId) }, { kind: 'approve', by: 'admin-1' })).toEqual({ kind: 'over' });

    stack.emails.failAll(true); // the rejected run stays open: the refusal below comes from the workflow, not from a closed run
    try {
      expect(await stack.refundClient.decide(ref, { kind: 'reject', by: 'admin-1', reason: 'duplicate' })).toMatchObject({ kind: 'decided', refund: { refundStatus: 'rejected' } });
      expect(await stack.refundClient.decide(ref, { kind: 'approve', by: 'admin-1' })).toEqual({ kind: 'not-pending', refundStatus: 'rejected' });
    } finally {
      stack.emails.failAll(false);
    }
  });

  test('a subscription without a workflow: its refund is not found, and a decision for it is over', async () => {
    const { subscriptionId } = await stack.insertSubscription();
    const ref = { subscriptionId, refundId: newRefundId(subscriptionId) };
    await expect(stack.refundClient.liveRefund(ref)).resolves.toEqual({ kind: 'not-found' });
    await expect(stack.refundClient.decide(ref, { kind: 'cancel', by: 'user-1' })).resolves.toEqual({ kind: 'over' });
  });

  test('liveRefund answers only for the refund the run holds', async () => {
    const refundRequest = await request();
    const refund = await accepted(refundRequest);
    await expect(stack.refundClient.liveRefund({ subscriptionId: refundRequest.subscriptionId, refundId: refund.refundId })).resolves.toMatchObject({ kind: 'live', refund: { refundId: refund.refundId } });
    await expect(stack.refundClient.liveRefund({ subscriptionId: refundRequest.subscriptionId })).resolves.toMatchObject({ kind: 'live', refund: { refundId: refund.refundId } });
    await expect(stack.refundClient.liveRefund({ subscriptionId: refundRequest.subscriptionId, refundId: newRefundId(refundRequest.subscriptionId) })).resolves.toEqual({ kind: 'not-found' });
  });
});
