import { temporal } from '@temporalio/proto';
import { saveHistoryFixture } from '../support/history-fixtures';
import { PASS } from '../support/rpc-proxy';
import { startDedicatedChain, type DedicatedChain } from '../support/dedicated-chain';
import { startRefundStack, type RefundStack } from '../support/refund-stack';
import { waitFor } from '../support/wait';
import { payoutActivityEnvironment } from '../support/activity-environment';

/**
 * Preparing a payout (claim, funds check, nonce, signature) on a slow chain:
 * an attempt that outlives its timeout keeps running in its worker while
 * Temporal tries again. Whatever that attempt does afterwards, money moves
 * only for a refund whose record ends `completed`, and only once.
 */
describe('payout preparation that outlives its timeout', () => {
  let chain: DedicatedChain;
  let stack: RefundStack | undefined;
  const holds: { release(): void }[] = [];

  beforeEach(async () => {
    chain = await startDedicatedChain();
  }, 60_000);
  afterEach(async () => {
    for (const hold of holds.splice(0)) hold.release();
    chain.proxy.intercept(null);
    await stack?.close();
    stack = undefined;
    await chain.stop();
  });

  async function requestRefund(s: RefundStack) {
    const subscription = await s.insertSubscription();
    const started = await s.refundClient.start({ subscriptionId: subscription.subscriptionId, requestedBy: String(subscription.doc.userId) });
    if (started.kind !== 'started' || started.state.phase !== 'registered') throw new Error(`not started: ${JSON.stringify(started)}`);
    return { ...subscription, refundId: started.refundId, ref: { subscriptionId: subscription.subscriptionId, refundId: started.refundId }, amount: BigInt(started.state.refund.amount) };
  }
  type Requested = Awaited<ReturnType<typeof requestRefund>>;

  /** Holds every call of `method` until released: a node that answers, but only much later. */
  function holdCalls(method: string) {
    let holding = true;
    const held: (() => void)[] = [];
    chain.proxy.intercept(async (call) => {
      if (call.method === method && holding) await new Promise<void>((resolve) => held.push(resolve));
      return PASS;
    });
    const hold = {
      get count() {
        return held.length;
      },
      release() {
        holding = false;
        for (const resume of held.splice(0)) resume();
      },
    };
    holds.push(hold);
    return hold;
  }

  /** Whether Temporal has given up on a preparePayout attempt of the subscription's refund (the attempt itself may still run). */
  async function preparationTimedOut(s: RefundStack, subscriptionId: string): Promise<true | undefined> {
    const { EventType } = temporal.api.enums.v1;
    const handle = s.refundClient.handle(subscriptionId);
    const events = (await handle.fetchHistory()).events ?? [];
    if (events.some((event) => event.eventType === EventType.EVENT_TYPE_ACTIVITY_TASK_TIMED_OUT)) return true;
    const { raw } = await handle.describe();
    return raw.pendingActivities?.some((activity) => activity.activityType?.name === 'preparePayout' && (activity.attempt ?? 1) >= 2) ? true : undefined;
  }

  /** The promise, per refund: money reached the wallet if and only if the record says completed, exactly once, and a failed refund has no signed round. */
  async function expectMoneyMatchesRecord(s: RefundStack, refund: Requested, fromBlock: number) {
    const record = await s.refunds.findById(refund.refundId);
    const transfers = await chain.nativeTransfersTo(refund.wallet, fromBlock);
    const signed = (await s.ledger.attemptsOf(refund.subscriptionId)).filter((attempt) => attempt.status === 'signed');
    const observed = { status: record!.refundStatus, paid: transfers.map((transfer) => transfer.value), signedRounds: signed.map((attempt) => attempt.nonce) };
    if (observed.status === 'completed') {
      expect(observed).toEqual({ status: 'completed', paid: [refund.amount], signedRounds: [] });
      expect(record!.transactionId).toBe(transfers[0]!.hash);
    } else {
      expect(observed).toEqual({ status: observed.status, paid: [], signedRounds: observed.status === 'failed' ? [] : observed.signedRounds });
    }
  }

  test('attempts that time out after signing never leave a failed refund with a signed round, nor money moved for it', async () => {
    // One attempt only and a short timeout: without retries until it settles, the refund parks in `failed`.
    const s = (stack = await startRefundStack({
      chainUrl: chain.proxy.url,
      timings: { payoutMaxAttempts: 1, payoutPrepareTimeoutMs: 8_000, payoutHeartbeatTimeoutMs: 4_000 },
      env: { PAYOUT_STUCK_AFTER_MS: '1000' },
    }));
    const first = await requestRefund(s);
    const second = await requestRefund(s);
    const fromBlock = await chain.blockNumber();

    // The head block is read right after the payout is signed, before it is recorded: the node is slow to answer it.
    const slowHead = holdCalls('eth_blockNumber');
    await s.refundClient.approve(first.ref, { by: 'admin-1' });
    await waitFor(() => (slowHead.count > 0 ? true : undefined), { what: 'the payout signed, its head-block read held', timeoutMs: 60_000 });
    // Past the attempt's timeout: Temporal has given up on it (the refund failed, or was asked again) or started another attempt.
    await waitFor(() => preparationTimedOut(s, first.subscriptionId), { what: 'the first preparation attempt timed out', timeoutMs: 90_000, intervalMs: 200 });
    slowHead.release(); // the attempt that timed out goes on: it records its round now

    // Another payout follows; its watcher sends any earlier nonce of the treasury the node lacks.
    await s.refundClient.approve(second.ref, { by: 'admin-1' });
    await expect(s.refundClient.result(second.ref)).resolves.toMatchObject({ outcome: 'completed' });
    await waitFor(
      async () => {
        const record = await s.refunds.findById(first.refundId);
        return record?.refundStatus === 'completed' || record?.refundStatus === 'failed' ? record : undefined;
      },
      { what: 'the first refund settled', timeoutMs: 60_000 },
    );

    await expectMoneyMatchesRecord(s, first, fromBlock);
    await expectMoneyMatchesRecord(s, second, fromBlock);
    await expect(s.refundClient.result(first.ref)).resolves.toMatchObject({ outcome: 'completed' });
    await saveHistoryFixture('prepare-timed-out-then-paid', s.refundClient, first.ref);
  }, 300_000);

  test('an attempt cancelled by Temporal while it signs records nothing, gives its nonce back, and heartbeats meanwhile', async () => {
    const s = (stack = await startRefundStack({ chainUrl: chain.proxy.url, worker: false }));
    const subscription = await s.insertSubscription();
    const request = { refundId: 'rf_cancelled_attempt', subscriptionId: subscription.subscriptionId, to: subscription.wallet, amount: '1000000000000000', currency: { symbol: 'ETH', decimals: 18, tokenAddress: null }, mayWait: true };
    const firstNonce = await chain.provider.getTransactionCount(s.treasury.address, 'pending');

    const slowHead = holdCalls('eth_blockNumber');
    const attempt = payoutActivityEnvironment();
    const heartbeats: unknown[] = [];
    attempt.on('heartbeat', (details: unknown) => heartbeats.push(details));
    const running = attempt.run(s.activities.preparePayout, request);
    running.catch(() => undefined);
    await waitFor(() => (slowHead.count > 0 ? true : undefined), { what: 'the payout signed, its head-block read held' });
    attempt.cancel('TIMED_OUT'); // what Temporal's core does to an attempt past its timeout
    slowHead.release();

    await expect(running).rejects.toThrow();
    expect(heartbeats.length).toBeGreaterThan(0);
    expect(await s.ledger.attemptsOf(subscription.subscriptionId)).toEqual([]);
    expect(await s.ledger.nonceOwner(s.treasury.chainId, s.treasury.address, firstNonce)).toBeNull();
    expect(await s.ledger.findClaim(subscription.subscriptionId)).toMatchObject({ status: 'unpaid', nonce: null });

    // The next attempt signs at that very nonce: none is skipped.
    const next = await payoutActivityEnvironment().run(s.activities.preparePayout, request);
    expect(next).toMatchObject({ status: 'signed', nonce: firstNonce, attempt: 1 });
  }, 120_000);
});
