import { ethers } from 'ethers';
import { startRefundStack, type RefundStack } from '../support/refund-stack';
import { spawnWorkerProcess, startDedicatedAnvil, type WorkerProcess } from '../support/processes';
import { waitFor } from '../support/wait';

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
