import { spawn } from 'node:child_process';
import path from 'node:path';
import { ethers } from 'ethers';
import { Types } from 'mongoose';
import { reconcile, type ReconcileDeps } from '../../src/reconcile/reconcile';
import { startDedicatedChain, type DedicatedChain } from '../support/dedicated-chain';
import { startRefundStack, type RefundStack } from '../support/refund-stack';
import { waitFor } from '../support/wait';
import { activityEnvironment } from '../support/activity-environment';

const root = path.resolve(__dirname, '..', '..');

/** `npm run reconcile`: record = workflow = chain for every refund, every treasury outflow signed by the service. */
describe('reconciling the books', () => {
  let chain: DedicatedChain;
  let stack: RefundStack;
  let deps: ReconcileDeps;
  let paid: { refundId: string; subscriptionId: string };
  let pending: { refundId: string; subscriptionId: string };

  beforeAll(async () => {
    chain = await startDedicatedChain();
    stack = await startRefundStack({ chainUrl: chain.anvil.url });
    deps = { mongo: stack.mongo, ledger: stack.ledger, refundClient: stack.refundClient, provider: chain.provider, chainId: 31337, confirmations: 1, treasury: stack.treasury.address };
    const request = async () => {
      const subscription = await stack.insertSubscription();
      const started = await stack.refundClient.start({ subscriptionId: subscription.subscriptionId, requestedBy: String(subscription.doc.userId) });
      if (started.kind !== 'started') throw new Error('not started');
      return { refundId: started.refundId, subscriptionId: subscription.subscriptionId };
    };
    paid = await request();
    await stack.refundClient.approve(paid, { by: 'admin-1' });
    await stack.refundClient.result(paid);
    pending = await request();
  }, 120_000);
  afterAll(async () => {
    await stack?.close();
    await chain?.stop();
  });

  test('books that agree: no difference, every treasury outflow accounted for', async () => {
    const report = await reconcile(deps);
    expect(report.differences).toEqual([]);
    expect(report.refunds).toMatchObject({ checked: 2, byStatus: { completed: 1, pending_approval: 1 }, withWorkflow: 2 });
    expect(report.outflows).toMatchObject({ transactions: 1, unknown: 0 });
  });

  test('a record that says more than the chain, a different amount, and a stranger\'s transaction are each reported, with what to do', async () => {
    const records = stack.mongo.db!.collection('proratarefunds');
    await records.updateOne({ _id: pending.refundId as never }, { $set: { refundStatus: 'completed' } });
    const original = await records.findOne({ _id: paid.refundId as never });
    await records.updateOne({ _id: paid.refundId as never }, { $set: { amount: '1' } });
    const intruder = new ethers.Wallet(stack.env.TREASURY_PRIVATE_KEY, chain.provider);
    const stranger = await (await intruder.sendTransaction({ to: ethers.Wallet.createRandom().address, value: 1n })).wait();
    try {
      const report = await reconcile(deps);
      const kinds = report.differences.map((difference) => [difference.kind, difference.refundId ?? difference.txHash]);
      expect(kinds).toEqual(
        expect.arrayContaining([
          ['record_differs_from_workflow', pending.refundId],
          ['completed_without_payout', pending.refundId],
          ['payout_differs', paid.refundId],
          ['unknown_outflow', stranger!.hash],
        ]),
      );
      expect(report.differences.every((difference) => difference.action.length > 0)).toBe(true);

      // The command: the same report, exit code 1.
      // Spawned without blocking: this process runs the worker that answers the command's queries.
      const cli = await runCommand(['reconcile', '--json'], { ...stack.env, BLOCKCHAIN_PROVIDER_URL: chain.anvil.url, LOG_LEVEL: 'silent' });
      expect({ status: cli.status, stderr: cli.stdout ? '' : cli.stderr }).toEqual({ status: 1, stderr: '' });
      const printed = JSON.parse(cli.stdout) as { differences: { kind: string }[] };
      expect(printed.differences.map((difference) => difference.kind).sort()).toEqual(report.differences.map((difference) => difference.kind).sort());
    } finally {
      await records.updateOne({ _id: pending.refundId as never }, { $set: { refundStatus: 'pending_approval' } });
      await records.updateOne({ _id: paid.refundId as never }, { $set: { amount: original!.amount } });
    }
  }, 180_000); // it runs the command in a process of its own: type-checked and started on a busy machine

  test('a refund parked in failed whose payout the chain paid anyway is to be retried: the retry completes it without paying again', async () => {
    const subscription = await stack.insertSubscription();
    const started = await stack.refundClient.start({ subscriptionId: subscription.subscriptionId, requestedBy: String(subscription.doc.userId) });
    if (started.kind !== 'started') throw new Error('not started');
    const ref = { subscriptionId: subscription.subscriptionId, refundId: started.refundId };
    const fromBlock = await chain.blockNumber();
    const balance = await chain.provider.getBalance(stack.treasury.address);
    await chain.rpc('anvil_setBalance', [stack.treasury.address, '0x0']);
    await stack.refundClient.approve(ref, { by: 'admin-1' });
    await waitFor(async () => ((await stack.refunds.findById(ref.refundId))?.refundStatus === 'failed' ? true : undefined), { what: 'the refund parked in failed' });
    await chain.rpc('anvil_setBalance', [stack.treasury.address, ethers.toQuantity(balance)]);
    // What an attempt Temporal had given up on leaves behind: a round it signed, sent by another payout's watcher, mined.
    const request = { refundId: ref.refundId, subscriptionId: ref.subscriptionId, to: subscription.wallet, amount: (await stack.refunds.findById(ref.refundId))!.amount, currency: { symbol: 'ETH', decimals: 18, tokenAddress: null }, mayWait: true };
    await expect(activityEnvironment({ startToCloseTimeoutMs: 120_000 }).run(stack.activities.preparePayout, request)).resolves.toMatchObject({ status: 'signed' });
    const [attempt] = await stack.ledger.attemptsOf(ref.subscriptionId);
    await (await chain.provider.broadcastTransaction(attempt!.rawTransaction)).wait();

    const report = await reconcile(deps);
    const difference = report.differences.find((found) => found.refundId === ref.refundId);
    expect(difference).toMatchObject({ kind: 'paid_but_not_completed', txHash: attempt!.txHash });
    expect(difference!.action).toMatch(/record says failed: retry it/);

    await stack.refundClient.retry(ref, { by: 'admin-2', note: 'reconcile: paid already' });
    await expect(stack.refundClient.result(ref)).resolves.toMatchObject({ outcome: 'completed' });
    expect(await stack.refunds.findById(ref.refundId)).toMatchObject({ refundStatus: 'completed', transactionId: attempt!.txHash });
    const transfers = await chain.nativeTransfersTo(subscription.wallet, fromBlock);
    expect(transfers.map((transfer) => transfer.hash)).toEqual([attempt!.txHash]);
    expect((await reconcile(deps)).differences.filter((found) => found.refundId === ref.refundId)).toEqual([]);
  }, 120_000);

  test('the wallets of earlier treasury keys are checked too: what one sent that the ledger did not sign is reported', async () => {
    // A key the service paid with before TREASURY_PRIVATE_KEY changed: the ledger holds a payout it signed.
    const previous = ethers.Wallet.createRandom().connect(chain.provider);
    await chain.rpc('anvil_setBalance', [previous.address, ethers.toQuantity(10n ** 18n)]);
    const subscriptionId = new Types.ObjectId().toHexString();
    const signedAtBlock = await chain.blockNumber();
    const rawTransaction = await previous.signTransaction(await previous.populateTransaction({ to: ethers.Wallet.createRandom().address, value: 1000n }));
    const payout = await stack.ledger.recordAttempt({
      _id: `${subscriptionId}:1`,
      subscriptionId,
      refundId: `rf_${subscriptionId}`,
      attempt: 1,
      kind: 'payout',
      chainId: 31337,
      from: previous.address,
      to: ethers.Transaction.from(rawTransaction).to!,
      amount: '1000',
      tokenAddress: null,
      nonce: 0,
      rawTransaction,
      txHash: ethers.Transaction.from(rawTransaction).hash!,
      signedAtBlock,
    });
    await (await chain.provider.broadcastTransaction(rawTransaction)).wait();
    // Its holder moves what is left to the new wallet and takes a nonce with a 0-value transfer to itself, as the RUNBOOK says.
    await (await previous.sendTransaction({ to: stack.treasury.address, value: 10n ** 17n })).wait();
    await (await previous.sendTransaction({ to: previous.address, value: 0n })).wait();
    // Then someone else uses that key; and transfers that could carry funds on are not taken for moves within the treasury.
    const stranger = await (await previous.sendTransaction({ to: ethers.Wallet.createRandom().address, value: 1n })).wait();
    const withData = await (await previous.sendTransaction({ to: previous.address, value: 0n, data: '0x01' })).wait();
    const treasuryKey = new ethers.Wallet(stack.env.TREASURY_PRIVATE_KEY, chain.provider);
    const towardsOldKey = await (await treasuryKey.sendTransaction({ to: previous.address, value: 1n })).wait();

    const report = await reconcile(deps);
    expect(report.outflows?.wallets).toEqual(expect.arrayContaining([stack.treasury.address, previous.address]));
    const outflows = report.differences.filter((difference) => difference.kind === 'unknown_outflow').map((difference) => [difference.txHash, difference.detail]);
    expect(outflows).toContainEqual([stranger!.hash, expect.stringContaining(`from ${previous.address}, a previous treasury key`)]);
    expect(outflows).toContainEqual([withData!.hash, expect.stringContaining(`from ${previous.address}, a previous treasury key`)]);
    expect(outflows).toContainEqual([towardsOldKey!.hash, expect.not.stringContaining('previous treasury key')]);
    expect(outflows.map(([hash]) => hash)).not.toContain(payout.txHash);
    expect(report.outflows?.unknown).toBe(outflows.length);
    expect(report.outflows?.internal.map((transfer) => [transfer.from, transfer.to, transfer.valueWei])).toEqual([
      [previous.address, stack.treasury.address, String(10n ** 17n)],
      [previous.address, previous.address, '0'],
    ]);
  }, 60_000);
});

function runCommand(args: string[], env: Record<string, string>): Promise<{ status: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, ['--import', 'tsx', path.join(root, 'src', 'cli', 'main.ts'), ...args], { cwd: root, env: { ...process.env, ...env } });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    child.on('exit', (status) => resolve({ status, stdout, stderr }));
  });
}
