import { ethers } from 'ethers';
import type { Interceptor } from '../support/rpc-proxy';
import { PASS } from '../support/rpc-proxy';
import { startDedicatedChain, type DedicatedChain } from '../support/dedicated-chain';
import { startRefundStack, type RefundStack } from '../support/refund-stack';
import { sleep, waitFor } from '../support/wait';

const GWEI = 1_000_000_000n;

/**
 * The chain's real behaviour, against a real anvil behind a JSON-RPC proxy:
 * a node a block behind, a reorg, a fee spike. Each scenario checks the
 * recipient's balance, the transfers it received, the ledger and the record,
 * and that a later refund still completes.
 */
describe('payouts under the chain\'s real behaviour', () => {
  let chain: DedicatedChain;
  let stack: RefundStack | undefined;

  beforeEach(async () => {
    chain = await startDedicatedChain();
  }, 60_000);
  afterEach(async () => {
    await stack?.close();
    stack = undefined;
    await chain.stop();
  });

  async function start(env: Record<string, string> = {}) {
    stack = await startRefundStack({ chainUrl: chain.proxy.url, env });
    return stack;
  }

  async function requestRefund(s: RefundStack) {
    const subscription = await s.insertSubscription();
    const started = await s.refundClient.start({ subscriptionId: subscription.subscriptionId, requestedBy: String(subscription.doc.userId) });
    if (started.kind !== 'started' || started.state.phase !== 'registered') throw new Error(`not started: ${JSON.stringify(started)}`);
    return { ...subscription, refundId: started.refundId, ref: { subscriptionId: subscription.subscriptionId, refundId: started.refundId }, amount: BigInt(started.state.refund.amount) };
  }

  async function firstBroadcast(s: RefundStack, subscriptionId: string) {
    return waitFor(async () => (await s.ledger.attemptsOf(subscriptionId)).find((attempt) => attempt.broadcasts > 0), { what: 'a broadcast payout' });
  }

  /** The refund paid exactly `amount`, by one transfer, recorded as completed with that transaction, and a later refund still completes. */
  async function expectPaidOnce(s: RefundStack, refund: Awaited<ReturnType<typeof requestRefund>>, fromBlock: number) {
    await expect(s.refundClient.result(refund.ref)).resolves.toEqual({ refundId: refund.refundId, outcome: 'completed' });
    const transfers = await chain.nativeTransfersTo(refund.wallet, fromBlock);
    expect(transfers).toHaveLength(1);
    expect(transfers[0]!.value).toBe(refund.amount);
    expect(await chain.provider.getBalance(refund.wallet)).toBe(refund.amount);
    const record = await s.refunds.findById(refund.refundId);
    expect(record).toMatchObject({ refundStatus: 'completed', transactionId: transfers[0]!.hash });
    const claim = await s.ledger.findClaim(refund.subscriptionId);
    expect(claim).toMatchObject({ status: 'confirmed', txHash: transfers[0]!.hash });

    const later = await requestRefund(s);
    await chain.rpc('evm_setIntervalMining', [1]); // blocks keep coming, so it reaches any confirmation depth
    await s.refundClient.approve(later.ref, { by: 'admin-1' });
    await expect(s.refundClient.result(later.ref)).resolves.toMatchObject({ outcome: 'completed' });
    expect(await chain.provider.getBalance(later.wallet)).toBe(later.amount);
    return transfers[0]!;
  }

  test('a load-balanced RPC answering from a node a block behind never makes the payout pay twice', async () => {
    const s = await start();
    const refund = await requestRefund(s);
    const fromBlock = await chain.blockNumber();

    // One node is a block behind: it serves no receipts and an older head, while
    // another node (the nonce count) has already seen the payout mined.
    let lagging = true;
    let laggingReceipts = 0;
    const laggingNode: Interceptor = async (call, forward) => {
      if (!lagging) return PASS;
      if (call.method === 'eth_getTransactionReceipt') {
        laggingReceipts += 1;
        return { result: null };
      }
      if (call.method === 'eth_blockNumber') return { result: ethers.toQuantity(Math.max(0, Number(await forward(call)) - 1)) };
      return PASS;
    };
    chain.proxy.intercept(laggingNode);
    await s.refundClient.approve(refund.ref, { by: 'admin-1' });
    const broadcast = await firstBroadcast(s, refund.subscriptionId);
    await waitFor(() => chain.provider.getTransactionReceipt(broadcast.txHash).then((receipt) => receipt ?? undefined), { what: 'the payout mined' });

    const seen = laggingReceipts;
    await waitFor(() => laggingReceipts - seen, { until: (polls) => polls >= 10, what: 'the watcher to poll the lagging node 10 times after the payout was mined' });
    expect((await s.ledger.attemptsOf(refund.subscriptionId)).map((attempt) => attempt.nonce)).toEqual([broadcast.nonce]);
    lagging = false;

    const paid = await expectPaidOnce(s, refund, fromBlock);
    expect(paid.hash).toBe(broadcast.txHash);
  }, 120_000);

  test('a payout reorganised out of the chain is sent again with the same bytes, never at a new nonce', async () => {
    const s = await start({ PAYOUT_CONFIRMATIONS: '3' });
    const refund = await requestRefund(s);
    const fromBlock = await chain.blockNumber();
    const snapshot = await chain.rpc<string>('evm_snapshot');

    await s.refundClient.approve(refund.ref, { by: 'admin-1' });
    const broadcast = await firstBroadcast(s, refund.subscriptionId);
    const mined = await waitFor(() => chain.provider.getTransactionReceipt(broadcast.txHash).then((receipt) => receipt ?? undefined), { what: 'the payout mined' });
    await chain.rpc('evm_revert', [snapshot]); // the block holding the payout is gone
    expect(await chain.provider.getTransactionReceipt(broadcast.txHash)).toBeNull();

    const again = await waitFor(() => chain.provider.getTransactionReceipt(broadcast.txHash).then((receipt) => receipt ?? undefined), { what: 'the payout mined again' });
    expect(again.blockHash).not.toBe(mined.blockHash);
    await chain.mine(2);

    const paid = await expectPaidOnce(s, refund, fromBlock);
    expect(paid.hash).toBe(broadcast.txHash);
    const attempts = await s.ledger.attemptsOf(refund.subscriptionId);
    expect(new Set(attempts.map((attempt) => attempt.nonce))).toEqual(new Set([broadcast.nonce]));
  }, 120_000);

  test('after a reorg puts another transaction at the payout\'s nonce, a new nonce is used only once that one is final', async () => {
    const s = await start({ PAYOUT_CONFIRMATIONS: '3' });
    const refund = await requestRefund(s);
    const fromBlock = await chain.blockNumber();
    const snapshot = await chain.rpc<string>('evm_snapshot');

    await chain.rpc('evm_setAutomine', [false]);
    await s.refundClient.approve(refund.ref, { by: 'admin-1' });
    const broadcast = await firstBroadcast(s, refund.subscriptionId);
    await chain.mine(1);
    await chain.rpc('evm_revert', [snapshot]);
    // The reorganised chain holds another transaction of the treasury's key at that nonce.
    const treasuryKey = new ethers.Wallet(s.env.TREASURY_PRIVATE_KEY, chain.provider);
    const other = await treasuryKey.signTransaction({ to: treasuryKey.address, value: 0n, nonce: broadcast.nonce, gasLimit: 21_000n, chainId: 31337, type: 2, maxFeePerGas: 100n * GWEI, maxPriorityFeePerGas: 2n * GWEI });
    await chain.rpc('eth_sendRawTransaction', [other]);
    await chain.mine(1);

    await sleep(2_000); // the other transaction is 1 deep: not final yet
    expect((await s.ledger.attemptsOf(refund.subscriptionId)).map((attempt) => attempt.nonce)).toEqual([broadcast.nonce]);

    await chain.rpc('evm_setAutomine', [true]);
    await chain.rpc('evm_setIntervalMining', [1]);
    const paid = await expectPaidOnce(s, refund, fromBlock);
    const attempts = await s.ledger.attemptsOf(refund.subscriptionId);
    expect(attempts[0]).toMatchObject({ nonce: broadcast.nonce, status: 'dropped' });
    expect(paid.nonce).toBeGreaterThan(broadcast.nonce);
  }, 120_000);

  test('a fee spike above the signed max fee gets the payout replaced at the same nonce with bumped fees', async () => {
    const s = await start({ PAYOUT_STUCK_AFTER_MS: '1000', PAYOUT_FEE_BUMP_PERCENT: '50' });
    const refund = await requestRefund(s);
    const fromBlock = await chain.blockNumber();

    await chain.rpc('evm_setAutomine', [false]);
    await s.refundClient.approve(refund.ref, { by: 'admin-1' });
    const first = await firstBroadcast(s, refund.subscriptionId);
    const signedFee = ethers.Transaction.from(first.rawTransaction).maxFeePerGas!;
    await chain.rpc('anvil_setNextBlockBaseFeePerGas', [ethers.toQuantity(signedFee * 30n)]);
    await chain.rpc('evm_setAutomine', [true]);
    await chain.rpc('evm_setIntervalMining', [1]);

    const paid = await expectPaidOnce(s, refund, fromBlock);
    const attempts = await s.ledger.attemptsOf(refund.subscriptionId);
    expect(attempts.length).toBeGreaterThanOrEqual(2);
    expect(new Set(attempts.map((attempt) => attempt.nonce))).toEqual(new Set([first.nonce]));
    const confirmed = attempts.find((attempt) => attempt.status === 'confirmed')!;
    expect(confirmed.txHash).toBe(paid.hash);
    expect(confirmed.txHash).not.toBe(first.txHash);
    expect(ethers.Transaction.from(confirmed.rawTransaction).maxFeePerGas!).toBeGreaterThan(signedFee);
  }, 120_000);

  test('at PAYOUT_MAX_FEE_PER_GAS a stuck payout alerts once and keeps waiting, then completes when fees fall', async () => {
    const s = await start({ PAYOUT_STUCK_AFTER_MS: '1000', PAYOUT_FEE_BUMP_PERCENT: '50', PAYOUT_MAX_FEE_PER_GAS: '20 gwei' });
    const refund = await requestRefund(s);
    const fromBlock = await chain.blockNumber();

    await chain.rpc('evm_setAutomine', [false]);
    await s.refundClient.approve(refund.ref, { by: 'admin-1' });
    const first = await firstBroadcast(s, refund.subscriptionId);
    await chain.rpc('anvil_setNextBlockBaseFeePerGas', [ethers.toQuantity(100n * GWEI)]);
    await chain.mine(1);

    const alert = await s.webhooks.waitFor((request) => (request.json as { type?: string })?.type === 'treasury.payout_stuck', 30_000);
    expect((alert.json as { data: { nonce: number; refundId: string } }).data).toMatchObject({ nonce: first.nonce, refundId: refund.refundId });
    await waitFor(async () => ((await s.ledger.findClaim(refund.subscriptionId))?.stuckSince ? true : undefined), { what: 'the claim marked stuck' });
    const attempts = await s.ledger.attemptsOf(refund.subscriptionId);
    expect(attempts.every((attempt) => ethers.Transaction.from(attempt.rawTransaction).maxFeePerGas! <= 20n * GWEI)).toBe(true);
    expect((await s.refunds.findById(refund.refundId))!.refundStatus).toBe('processing');

    await chain.rpc('anvil_setNextBlockBaseFeePerGas', [ethers.toQuantity(GWEI)]);
    await chain.rpc('evm_setAutomine', [true]);
    await chain.rpc('evm_setIntervalMining', [1]);
    await expectPaidOnce(s, refund, fromBlock);
    expect(s.webhooks.requests.filter((request) => (request.json as { type?: string })?.type === 'treasury.payout_stuck')).toHaveLength(1);
    expect((await s.ledger.findClaim(refund.subscriptionId))?.stuckSince).toBeNull();
  }, 120_000);
});
