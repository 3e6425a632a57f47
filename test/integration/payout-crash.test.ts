import { ethers } from 'ethers';
import type { PayoutRequest } from '../../src/domain/payout';
import { spendBucketKey } from '../../src/persistence/payout-ledger';
import { startRefundStack, type RefundStack } from '../support/refund-stack';
import { spawnWorkerProcess, startDedicatedAnvil, type WorkerProcess } from '../support/processes';
import { waitFor } from '../support/wait';
import { payoutActivityEnvironment } from '../support/activity-environment';

/**
 * The promise finance relies on: whatever crashes, a refund is paid exactly once.
 * Two worker processes serve the queue; the chain is not mining, so the payout
 * sits broadcast but unconfirmed when every worker is killed with SIGKILL. A new
 * worker must finish the refund from the persisted transaction, without paying again.
 */
describe('payout survives kill -9 of every worker right after broadcast', () => {
  let anvil: Awaited<ReturnType<typeof startDedicatedAnvil>>;
  let stack: RefundStack;
  const workers: WorkerProcess[] = [];

  beforeAll(async () => {
    anvil = await startDedicatedAnvil();
    stack = await startRefundStack({ worker: false, chainUrl: anvil.url, timings: { payoutHeartbeatTimeoutMs: 3_000 } });
  }, 120_000);
  afterAll(async () => {
    await Promise.all(workers.map((worker) => worker.kill('SIGKILL')));
    await stack?.close();
    await anvil?.stop();
  });

  test('the refund completes on a new worker and the wallet receives one transfer of the exact amount', async () => {
    workers.push(spawnWorkerProcess(stack.env), spawnWorkerProcess(stack.env));
    await Promise.all(workers.map((worker) => worker.ready));

    const subscription = await stack.insertSubscription();
    const started = await stack.refundClient.start({ subscriptionId: subscription.subscriptionId, requestedBy: 'user-1' });
    if (started.kind !== 'started' || started.state.phase !== 'registered') throw new Error(`not started: ${JSON.stringify(started)}`);
    const ref = { subscriptionId: subscription.subscriptionId, runId: started.runId };
    const amount = BigInt(started.state.refund.amount);
    const fromBlock = Number(await anvil.rpc<string>('eth_blockNumber'));

    await anvil.rpc('evm_setAutomine', [false]); // transactions now wait in the pool until we mine
    await stack.refundClient.approve(ref, { by: 'admin-1' });

    const broadcast = await waitFor(
      async () => {
        const [attempt] = await stack.ledger.attemptsOf(subscription.subscriptionId);
        return attempt && attempt.broadcasts > 0 ? attempt : undefined;
      },
      { what: 'the payout to be broadcast', intervalMs: 10 },
    );
    await Promise.all(workers.map((worker) => worker.kill('SIGKILL')));

    // The crash really happened mid-payout: broadcast, in the pool, not mined, refund not completed.
    expect(await anvil.rpc('eth_getTransactionReceipt', [broadcast.txHash])).toBeNull();
    expect(await anvil.rpc('eth_getTransactionByHash', [broadcast.txHash])).not.toBeNull();
    expect((await stack.refunds.findById(started.refundId))!.refundStatus).toBe('processing');

    await anvil.rpc('evm_setIntervalMining', [1]);
    const survivor = spawnWorkerProcess(stack.env);
    workers.push(survivor);
    await survivor.ready;

    await expect(stack.refundClient.result(ref)).resolves.toEqual({ refundId: started.refundId, outcome: 'completed' });

    expect(BigInt(await anvil.rpc<string>('eth_getBalance', [subscription.wallet, 'latest']))).toBe(amount);
    const transfers = await incomingTransfers(subscription.wallet, fromBlock);
    expect(transfers).toEqual([broadcast.txHash]);
    const attempts = await stack.ledger.attemptsOf(subscription.subscriptionId);
    expect(attempts).toHaveLength(1);
    expect(attempts[0]).toMatchObject({ status: 'confirmed', txHash: broadcast.txHash, nonce: broadcast.nonce });
    expect(await stack.refunds.findById(started.refundId)).toMatchObject({ refundStatus: 'completed', transactionId: broadcast.txHash });
  }, 240_000);

  async function incomingTransfers(address: string, fromBlock: number): Promise<string[]> {
    const latest = Number(await anvil.rpc<string>('eth_blockNumber'));
    const hashes: string[] = [];
    for (let number = fromBlock; number <= latest; number += 1) {
      const block = await anvil.rpc<{ transactions: { hash: string; to: string | null }[] }>('eth_getBlockByNumber', [ethers.toQuantity(number), true]);
      for (const tx of block.transactions) if (tx.to && ethers.getAddress(tx.to) === ethers.getAddress(address)) hashes.push(tx.hash);
    }
    return hashes;
  }
});


/**
 * A worker can die between any two writes of the payout ledger. Each write
 * sequence must be finished by whoever looks next (the retried activity), so
 * the ledger never stays half-written: funds promised to an open round, the
 * daily spend, a paid payout's claim.
 */
describe('the payout ledger after a crash between two of its writes', () => {
  let anvil: Awaited<ReturnType<typeof startDedicatedAnvil>>;
  let stack: RefundStack;

  beforeAll(async () => {
    anvil = await startDedicatedAnvil();
    stack = await startRefundStack({ worker: false, chainUrl: anvil.url, env: { PAYOUT_DAILY_LIMIT: 'ETH=100' } });
  }, 120_000);
  afterAll(async () => {
    await stack?.close();
    await anvil?.stop();
  });

  const ETH = 10n ** 18n;
  const attempt = () => payoutActivityEnvironment();

  async function payoutRequest(amount: bigint): Promise<PayoutRequest & { mayWait: true }> {
    const subscription = await stack.insertSubscription();
    return { refundId: `rf_${subscription.subscriptionId}`, subscriptionId: subscription.subscriptionId, to: subscription.wallet, amount: amount.toString(), currency: { symbol: 'ETH', decimals: 18, tokenAddress: null }, mayWait: true };
  }

  function lastDayBuckets(request: PayoutRequest): string[] {
    return Array.from({ length: 24 }, (_, hoursAgo) => spendBucketKey(stack.treasury.chainId, request.currency, new Date(Date.now() - hoursAgo * 3_600_000)));
  }

  test('died after recording a round, before opening it: the next preparation opens it, reserves its funds and counts its spend, once', async () => {
    const request = await payoutRequest(ETH);
    const { chainId, address: from, wallet, provider } = stack.treasury;
    // The first writes of a new round, as the preparation makes them, and nothing after.
    await stack.ledger.claim(request.subscriptionId, { refundId: request.refundId, chainId, from, to: request.to, amount: request.amount, tokenAddress: null });
    const nonce = await provider.getTransactionCount(from, 'pending');
    expect(await stack.ledger.reserveNonce(chainId, from, nonce, { subscriptionId: request.subscriptionId, refundId: request.refundId })).toBe(true);
    const fees = { maxFeePerGas: 50n * 10n ** 9n, maxPriorityFeePerGas: 10n ** 9n };
    const rawTransaction = await wallet.signTransaction({ to: request.to, value: ETH, data: '0x', chainId, type: 2, nonce, gasLimit: 21_000n, ...fees });
    await stack.ledger.recordAttempt({
      _id: `${request.subscriptionId}:1`,
      subscriptionId: request.subscriptionId,
      refundId: request.refundId,
      attempt: 1,
      kind: 'payout',
      chainId,
      from,
      to: request.to,
      amount: request.amount,
      tokenAddress: null,
      nonce,
      rawTransaction,
      txHash: ethers.Transaction.from(rawTransaction).hash!,
      signedAtBlock: await provider.getBlockNumber(),
    });

    try {
      await expect(attempt().run(stack.activities.preparePayout, request)).resolves.toMatchObject({ status: 'signed', nonce, attempt: 1 });
      expect(await stack.ledger.findClaim(request.subscriptionId)).toMatchObject({ status: 'in_flight', nonce, reservedWei: (ETH + 21_000n * fees.maxFeePerGas).toString(), reservedTokens: '0' });
      expect((await stack.ledger.openClaims(chainId, from)).map((claim) => claim._id)).toContain(request.subscriptionId);
      expect(await stack.ledger.spentIn(lastDayBuckets(request))).toBe(ETH);

      await expect(attempt().run(stack.activities.preparePayout, request)).resolves.toMatchObject({ status: 'signed', nonce });
      expect(await stack.ledger.spentIn(lastDayBuckets(request))).toBe(ETH);
      expect(await stack.ledger.attemptsOf(request.subscriptionId)).toHaveLength(1);
    } finally {
      await (await provider.broadcastTransaction(rawTransaction)).wait(); // sent, so the next test's nonce can be mined
    }
  }, 120_000);

  test('died after marking the payout confirmed, before its claim: the next look at the round confirms the claim', async () => {
    const request = await payoutRequest(ETH / 10n);
    const signed = (await attempt().run(stack.activities.preparePayout, request)) as unknown as { status: string; txHash: string };
    expect(signed.status).toBe('signed');
    const [round] = await stack.ledger.attemptsOf(request.subscriptionId);
    const receipt = await (await stack.treasury.provider.broadcastTransaction(round!.rawTransaction)).wait();
    // The first write of marking it paid, and nothing after.
    await stack.mongo.collection('payoutattempts').updateOne({ _id: round!._id as never }, { $set: { status: 'confirmed', blockNumber: receipt!.blockNumber, blockHash: receipt!.blockHash } });
    expect(await stack.ledger.findClaim(request.subscriptionId)).toMatchObject({ status: 'in_flight' });

    await expect(attempt().run(stack.activities.preparePayout, request)).resolves.toMatchObject({ status: 'confirmed', txHash: signed.txHash });
    expect(await stack.ledger.findClaim(request.subscriptionId)).toMatchObject({ status: 'confirmed', txHash: signed.txHash, blockNumber: receipt!.blockNumber, reservedWei: '0' });
    expect((await stack.ledger.openClaims(stack.treasury.chainId, stack.treasury.address)).map((claim) => claim._id)).not.toContain(request.subscriptionId);
  }, 120_000);
});

