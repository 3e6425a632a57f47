import { WorkflowUpdateFailedError } from '@temporalio/client';
import { Types } from 'mongoose';
import { balanceOf, countIncomingTransfers, blockNumber } from '../support/chain';
import { verifyWebhookSignature } from '../support/http-receiver';
import { startRefundStack, WEBHOOK_SECRET, type RefundStack } from '../support/refund-stack';

const ONE_ETH = 1_000_000_000_000_000_000n;

describe('refund workflow (real Temporal, FerretDB, anvil)', () => {
  let stack: RefundStack;
  beforeAll(async () => {
    stack = await startRefundStack();
  }, 120_000);
  afterAll(async () => {
    await stack?.close();
  });

  async function requestRefund(overrides: Record<string, unknown> = {}) {
    const subscription = await stack.insertSubscription(overrides);
    const started = await stack.refundClient.start({ subscriptionId: subscription.subscriptionId, requestedBy: String(subscription.doc.userId), reason: 'no longer needed' });
    if (started.kind !== 'started' || started.state.phase !== 'registered') throw new Error(`refund did not start: ${JSON.stringify(started)}`);
    return { ...subscription, refundId: started.refundId, refund: started.state.refund! };
  }

  async function waitForStatus(subscriptionId: string, status: string, timeoutMs = 30_000) {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const state = await stack.refundClient.state(subscriptionId);
      if (state.refund?.refundStatus === status) return state.refund;
      if (Date.now() > deadline) throw new Error(`refund stayed ${state.refund?.refundStatus}, expected ${status}: ${JSON.stringify(state.refund)}`);
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  }

  test('approve path: the exact amount reaches the wallet once, records and notifications follow', async () => {
    const fromBlock = await blockNumber();
    const { subscriptionId, refundId, refund, wallet } = await requestRefund();
    expect(refund.refundStatus).toBe('pending_approval');
    expect(BigInt(refund.amount)).toBeGreaterThan(0n);
    expect(BigInt(refund.amount)).toBeLessThan(ONE_ETH);

    const approved = await stack.refundClient.approve(subscriptionId, { by: 'admin-7', note: 'looks right' });
    expect(['approved', 'processing', 'completed']).toContain(approved.refundStatus);
    await stack.refundClient.handle(subscriptionId).result();

    expect(await balanceOf(wallet)).toBe(BigInt(refund.amount));
    const transfers = await countIncomingTransfers(wallet, fromBlock);
    expect(transfers.count).toBe(1);

    const record = await stack.refunds.findById(refundId);
    expect(record).toMatchObject({ refundStatus: 'completed', decidedBy: 'admin-7', amount: refund.amount, transactionId: transfers.txHashes[0] });
    expect(record!.statusHistory.map((entry) => entry.status)).toEqual(['pending_approval', 'approved', 'processing', 'completed']);
    expect(record!.processingTimeMs).toBeGreaterThan(0);
    const subscription = await stack.subscriptions.findOne({ _id: new Types.ObjectId(subscriptionId) });
    expect(subscription).toMatchObject({ isRefundApplied: true, refundId });

    const hooks = await waitForEvents(refundId, ['refund.requested', 'refund.approved', 'refund.completed']);
    for (const hook of hooks) expect(verifyWebhookSignature(String(hook.headers['x-refund-signature']), hook.body, WEBHOOK_SECRET)).toBe(true);
    const mails = stack.emails.requests.filter((request) => JSON.stringify(request.json).includes(refundId));
    const recipients = mails.map((mail) => (mail.json as { personalizations: { to: { email: string }[] }[] }).personalizations[0]!.to[0]!.email);
    expect(recipients.filter((to) => to === 'subscriber@example.com')).toHaveLength(3);
    expect(recipients.filter((to) => to === 'finance@example.com')).toHaveLength(3);
  });

  async function waitForEvents(refundId: string, types: string[]) {
    const found = [];
    for (const type of types) {
      found.push(await stack.webhooks.waitFor((request) => (request.json as { type?: string; data?: { refund?: { refundId?: string } } })?.type === type && (request.json as { data: { refund: { refundId: string } } }).data.refund.refundId === refundId, 15_000));
    }
    return found;
  }

  void WorkflowUpdateFailedError;
  void waitForStatus;
});
