import { WorkflowUpdateFailedError } from '@temporalio/client';
import { ethers } from 'ethers';
import { Types } from 'mongoose';
import { approveSignal, registeredRefund } from '../../workflows/refund-messages';
import { balanceOf, blockNumber, countIncomingTransfers, countTokenTransfers, newFundedWallet, provider, setBalance } from '../support/chain';
import { deployTestToken, tokenBalance } from '../support/erc20';
import { verifyWebhookSignature } from '../support/http-receiver';
import type { RefundRunRef } from '../../src/temporal/refund-client';
import { prepareRefundOf } from '../../src/domain/prepared-refund';
import { parseSubscription } from '../../src/domain/subscription';
import { saveHistoryFixture } from '../support/history-fixtures';
import { startRefundStack, TREASURY_START_BALANCE, WEBHOOK_SECRET, type RefundStack } from '../support/refund-stack';
import { waitFor } from '../support/wait';

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
    return { ...subscription, refundId: started.refundId, ref: { subscriptionId: subscription.subscriptionId, runId: started.runId }, refund: started.state.refund };
  }

  async function waitForStatus(ref: RefundRunRef, status: string) {
    const refund = await waitFor(async () => registeredRefund(await stack.refundClient.state(ref)), { until: (refund) => refund?.refundStatus === status, what: `the refund to be ${status}` });
    return refund!;
  }

  test('approve path: the exact amount reaches the wallet once, records and notifications follow', async () => {
    const fromBlock = await blockNumber();
    const { subscriptionId, refundId, refund, wallet, ref } = await requestRefund();
    expect(refund.refundStatus).toBe('pending_approval');
    expect(BigInt(refund.amount)).toBeGreaterThan(0n);
    expect(BigInt(refund.amount)).toBeLessThan(ONE_ETH);

    const approved = await stack.refundClient.approve(ref, { by: 'admin-7', note: 'looks right' });
    expect(['approved', 'processing', 'completed']).toContain(approved.refundStatus);
    await stack.refundClient.result(ref);

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
    expect(new Set(hooks.map((hook) => (hook.json as { id: string }).id)).size).toBe(3);
    const mails = stack.emails.requests.filter((request) => JSON.stringify(request.json).includes(refundId));
    const recipients = mails.map((mail) => (mail.json as { personalizations: { to: { email: string }[] }[] }).personalizations[0]!.to[0]!.email);
    expect(recipients.filter((to) => to === 'subscriber@example.com')).toHaveLength(3);
    expect(recipients.filter((to) => to === 'finance@example.com')).toHaveLength(3);
    await saveHistoryFixture('approved-and-paid', stack.refundClient, ref);
  });

  test('API-prepared path: registered in the first workflow task without the prepare activity, then approved and paid', async () => {
    const subscription = await stack.insertSubscription();
    const requestedAt = new Date();
    const prepared = prepareRefundOf(parseSubscription(subscription.doc), requestedAt, { penaltyBps: 0 });
    const started = await stack.refundClient.start({ subscriptionId: subscription.subscriptionId, requestedBy: 'user-1', requestedAt, prepared });
    if (started.kind !== 'started') throw new Error('refund did not start');
    expect(started.refundId).toMatch(new RegExp(`^rf_${subscription.subscriptionId}[0-9a-f]{16}$`));
    expect(started.state).toMatchObject({ phase: 'registered', refund: { refundStatus: 'pending_approval', amount: prepared.amount, breakdown: prepared.breakdown } });
    const ref = { subscriptionId: subscription.subscriptionId, runId: started.runId };

    await stack.refundClient.approve(ref, { by: 'admin-7' });
    await stack.refundClient.result(ref);
    expect(await balanceOf(subscription.wallet)).toBe(BigInt(prepared.amount));
    expect(await stack.refunds.findById(started.refundId)).toMatchObject({ refundStatus: 'completed', amount: prepared.amount });
    const history = await stack.refundClient.handle(ref.subscriptionId, ref.runId).fetchHistory();
    const activities = (history.events ?? []).flatMap((event) => (event.activityTaskScheduledEventAttributes ? [event.activityTaskScheduledEventAttributes.activityType?.name] : []));
    expect(activities).not.toContain('prepareRefund');
    expect(activities).toContain('createRefundRecord');
    await saveHistoryFixture('api-prepared-approved-and-paid', stack.refundClient, ref);
  });

  async function waitForEvents(refundId: string, types: string[]) {
    const found = [];
    for (const type of types) {
      found.push(await stack.webhooks.waitFor((request) => (request.json as { type?: string; data?: { refund?: { refundId?: string } } })?.type === type && (request.json as { data: { refund: { refundId: string } } }).data.refund.refundId === refundId, 15_000));
    }
    return found;
  }

  test('auto-approve path: with no decision the timer approves and the refund is paid', async () => {
    const auto = await startRefundStack({ autoApproveAfterMs: 1_500 });
    try {
      const subscription = await auto.insertSubscription();
      const started = await auto.refundClient.start({ subscriptionId: subscription.subscriptionId, requestedBy: 'user-1' });
      if (started.kind !== 'started' || started.state.phase !== 'registered') throw new Error('not started');
      const ref = { subscriptionId: subscription.subscriptionId, runId: started.runId };
      expect(Date.parse(started.state.refund.autoApproveAt) - Date.parse(started.state.refund.requestedAt)).toBe(1_500);
      await expect(auto.refundClient.result(ref)).resolves.toEqual({ refundId: started.refundId, outcome: 'completed' });
      await saveHistoryFixture('auto-approved', auto.refundClient, ref);
      const record = await auto.refunds.findById(started.refundId);
      expect(record).toMatchObject({ refundStatus: 'completed', decidedBy: 'auto' });
      expect(await balanceOf(subscription.wallet)).toBe(BigInt(record!.amount));
    } finally {
      await auto.close();
    }
  });

  test('reject path: nothing is paid, the reason is recorded and sent', async () => {
    const { refundId, ref, wallet } = await requestRefund();
    const rejected = await stack.refundClient.reject(ref, { by: 'admin-2', reason: 'used the whole period' });
    expect(rejected.refundStatus).toBe('rejected');
    await expect(stack.refundClient.result(ref)).resolves.toEqual({ refundId, outcome: 'rejected' });
    expect(await balanceOf(wallet)).toBe(0n);
    expect(await stack.refunds.findById(refundId)).toMatchObject({ refundStatus: 'rejected', decidedBy: 'admin-2', decisionNote: 'used the whole period' });
    await waitForEvents(refundId, ['refund.rejected']);
    await saveHistoryFixture('rejected', stack.refundClient, ref);
  });

  test('cancel path: the user withdraws while pending; a later approval is refused', async () => {
    const { refundId, ref, wallet } = await requestRefund();
    await expect(stack.refundClient.cancel(ref, { by: 'user-1' })).resolves.toMatchObject({ refundStatus: 'cancelled' });
    await expect(stack.refundClient.result(ref)).resolves.toEqual({ refundId, outcome: 'cancelled' });
    await expect(stack.refundClient.approve(ref, { by: 'admin-1' })).rejects.toThrow();
    expect(await balanceOf(wallet)).toBe(0n);
    expect(await stack.refunds.findById(refundId)).toMatchObject({ refundStatus: 'cancelled', decidedBy: 'user-1' });
    await waitForEvents(refundId, ['refund.cancelled']);
    await saveHistoryFixture('cancelled', stack.refundClient, ref);
  });

  test('decisions are validated: approving a rejected refund is refused, a reject needs a reason', async () => {
    const { ref } = await requestRefund();
    await expect(stack.refundClient.reject(ref, { by: 'admin-1', reason: '' })).rejects.toThrow(WorkflowUpdateFailedError);
    await stack.refundClient.reject(ref, { by: 'admin-1', reason: 'duplicate request' });
    const refused = await stack.refundClient.approve(ref, { by: 'admin-1' }).catch((error: unknown) => error);
    expect(refused).toBeInstanceOf(WorkflowUpdateFailedError);
    expect((refused as WorkflowUpdateFailedError).cause).toMatchObject({ type: 'RefundNotPending' });
  });

  test('an approve signal (as sent from the Temporal CLI or Web UI) decides like the update', async () => {
    const { ref, refundId } = await requestRefund();
    await stack.refundClient.handle(ref.subscriptionId, ref.runId).signal(approveSignal, { by: 'ops-alice' });
    await expect(stack.refundClient.result(ref)).resolves.toEqual({ refundId, outcome: 'completed' });
    expect(await stack.refunds.findById(refundId)).toMatchObject({ decidedBy: 'ops-alice' });
  });

  test('a second refund of the same subscription cannot start while one runs', async () => {
    const { subscriptionId, refundId, doc } = await requestRefund();
    const again = await Promise.all(Array.from({ length: 5 }, () => stack.refundClient.start({ subscriptionId, requestedBy: String(doc.userId) })));
    for (const result of again) expect(result).toEqual({ kind: 'already-running', refundId });
  });

  test('an ineligible subscription ends without a record and says why', async () => {
    const subscription = await stack.insertSubscription({ refundEligible: false });
    const started = await stack.refundClient.start({ subscriptionId: subscription.subscriptionId, requestedBy: 'user-1' });
    expect(started).toMatchObject({ kind: 'started', state: { phase: 'ineligible', ineligibility: { reasons: ['NOT_REFUND_ELIGIBLE'] } } });
    expect(await stack.refunds.findById((started as { refundId: string }).refundId)).toBeNull();
  });

  test('ERC-20 payout: the exact token amount arrives, confirmed by its Transfer log', async () => {
    const deployer = await newFundedWallet();
    const token = await deployTestToken(deployer, { symbol: 'USDC', decimals: 6 });
    const tokenAddress = await token.getAddress();
    await (await token.getFunction('mint')(stack.treasury.address, 1_000_000_000n)).wait();
    const fromBlock = await blockNumber();
    const { ref, refundId, refund, wallet } = await requestRefund({ amountPaid: '30000000', currency: { symbol: 'USDC', decimals: 6, tokenAddress } });
    expect(refund.amount).toBe('20000000'); // 20 of 30 days unused: 30 USDC × 20/30
    expect(refund.amountFormatted).toBe('20');
    await stack.refundClient.approve(ref, { by: 'admin-1' });
    await expect(stack.refundClient.result(ref)).resolves.toEqual({ refundId, outcome: 'completed' });
    expect(await tokenBalance(tokenAddress, wallet, provider())).toBe(20_000_000n);
    expect((await countTokenTransfers(tokenAddress, wallet, fromBlock)).count).toBe(1);
    expect(await balanceOf(wallet)).toBe(0n);
  });

  test('a token that returns false instead of reverting is caught: failed, nothing paid', async () => {
    const deployer = await newFundedWallet();
    const token = await deployTestToken(deployer, { symbol: 'BAD', decimals: 18, returnsFalseOnTransfer: true });
    const tokenAddress = await token.getAddress();
    await (await token.getFunction('mint')(stack.treasury.address, ONE_ETH * 10n)).wait();
    const { ref, refundId, wallet } = await requestRefund({ currency: { symbol: 'BAD', decimals: 18, tokenAddress } });
    await stack.refundClient.approve(ref, { by: 'admin-1' });
    const failed = await waitForStatus(ref, 'failed');
    expect(failed.failureReason).toMatch(/^TokenTransferFailed:/);
    expect(await tokenBalance(tokenAddress, wallet, provider())).toBe(0n);
    await waitForEvents(refundId, ['refund.failed']);
    expect(await stack.refunds.findById(refundId)).toMatchObject({ refundStatus: 'failed' });
  });

  test('insufficient treasury funds -> failed and alerted -> top up -> admin retry -> completed, paid exactly once', async () => {
    const fromBlock = await blockNumber();
    await setBalance(stack.treasury.address, ONE_ETH / 1000n);
    try {
      const { ref, refundId, refund, wallet } = await requestRefund();
      await stack.refundClient.approve(ref, { by: 'admin-1' });
      const failed = await waitForStatus(ref, 'failed');
      expect(failed.failureReason).toMatch(/^InsufficientFunds:/);
      await waitForEvents(refundId, ['refund.failed']);
      await stack.emails.waitFor((mail) => JSON.stringify(mail.json).includes(refundId) && JSON.stringify(mail.json).includes('needs attention'));
      expect(await balanceOf(wallet)).toBe(0n);

      await setBalance(stack.treasury.address, TREASURY_START_BALANCE);
      const retried = await stack.refundClient.retry(ref, { by: 'admin-3', note: 'treasury topped up' });
      expect(retried.refundStatus).not.toBe('failed');
      await expect(stack.refundClient.result(ref)).resolves.toEqual({ refundId, outcome: 'completed' });
      expect(await balanceOf(wallet)).toBe(BigInt(refund.amount));
      expect((await countIncomingTransfers(wallet, fromBlock)).count).toBe(1);
      const history = (await stack.refunds.findById(refundId))!.statusHistory;
      expect(history.map((entry) => entry.status)).toEqual(['pending_approval', 'approved', 'processing', 'failed', 'processing', 'completed']);
      expect(history[4]).toMatchObject({ by: 'admin-3', note: 'treasury topped up' });
      await saveHistoryFixture('failed-then-retried', stack.refundClient, ref);
      // From `prepare-retries-until-settled` on: the ledger is asked for an open round before the refund parks.
      await saveHistoryFixture('failed-after-open-round-check-then-retried', stack.refundClient, ref);
    } finally {
      await setBalance(stack.treasury.address, TREASURY_START_BALANCE);
    }
  });

  test('an unusable wallet address fails without signing anything; once corrected, a retry pays the corrected wallet', async () => {
    const { ref, refundId, refund, subscriptionId } = await requestRefund({ userWalletAddress: '0x0000000000000000000000000000000000000000' });
    await stack.refundClient.approve(ref, { by: 'admin-1' });
    const failed = await waitForStatus(ref, 'failed');
    expect(failed.failureReason).toMatch(/^InvalidAddress:/);
    expect(await stack.ledger.attemptsOf(subscriptionId)).toEqual([]);

    const corrected = ethers.Wallet.createRandom().address;
    await stack.subscriptions.updateOne({ _id: new Types.ObjectId(subscriptionId) }, { $set: { userWalletAddress: corrected } });
    await stack.refundClient.retry(ref, { by: 'admin-2', note: 'wallet corrected by support' });
    await expect(stack.refundClient.result(ref)).resolves.toEqual({ refundId, outcome: 'completed' });
    expect(await balanceOf(corrected)).toBe(BigInt(refund.amount));
    await saveHistoryFixture('invalid-address-corrected-then-retried', stack.refundClient, ref);
  });

  test('a webhook retried after failures keeps its event id and is signed each time', async () => {
    stack.webhooks.failNext(2, 503);
    try {
      const { refundId } = await requestRefund();
      const isRequested = (request: { json: unknown }) => (request.json as { type?: string; data?: { refund?: { refundId?: string } } })?.type === 'refund.requested' && (request.json as { data: { refund: { refundId: string } } }).data.refund.refundId === refundId;
      await stack.webhooks.waitFor((request) => isRequested(request) && request.status === 200, 15_000);
      const deliveries = stack.webhooks.requests.filter(isRequested);
      expect(deliveries.map((request) => request.status)).toEqual([503, 503, 200]);
      expect(new Set(deliveries.map((request) => (request.json as { id: string }).id)).size).toBe(1);
      for (const delivery of deliveries) expect(verifyWebhookSignature(String(delivery.headers['x-refund-signature']), delivery.body, WEBHOOK_SECRET)).toBe(true);
    } finally {
      stack.webhooks.failNext(0);
    }
  });

  test('notifications that keep failing are recorded on the refund and never hold back the payout', async () => {
    stack.webhooks.failNext(1_000, 503);
    try {
      const { ref, refundId, wallet, refund } = await requestRefund();
      await stack.refundClient.approve(ref, { by: 'admin-1' });
      await expect(stack.refundClient.result(ref)).resolves.toEqual({ refundId, outcome: 'completed' });
      expect(await balanceOf(wallet)).toBe(BigInt(refund.amount));
      const record = await stack.refunds.findById(refundId);
      expect(record!.notificationFailures.filter((failure) => failure.channel === 'webhook').length).toBe(3);
      expect(record!.notificationFailures[0]!.error).toMatch(/503/);
    } finally {
      stack.webhooks.failNext(0);
    }
  });
});
