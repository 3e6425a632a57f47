import { spawn } from 'node:child_process';
import path from 'node:path';
import { ethers } from 'ethers';
import { reconcile, type ReconcileDeps } from '../../src/reconcile/reconcile';
import { startDedicatedChain, type DedicatedChain } from '../support/dedicated-chain';
import { startRefundStack, type RefundStack } from '../support/refund-stack';

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
  });
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
