import { connectTreasury } from '../../src/chain/treasury';
import { expectedChainId, WrongNetworkError } from '../../src/chain/network';
import { freePort } from '../../src/dev/processes';
import { loadConfig } from '../../src/config';
import { startRefundStack, type RefundStack } from '../support/refund-stack';
import { spawnWorkerProcess } from '../support/processes';
import { testServices } from '../support/services';

describe('a worker process (npm run worker)', () => {
  let stack: RefundStack;
  beforeAll(async () => {
    stack = await startRefundStack({ worker: false });
  }, 120_000);
  afterAll(async () => {
    await stack?.close();
  });

  test('serves Temporal SDK metrics on WORKER_METRICS_PORT, logs JSON with components, and stops gracefully on SIGTERM', async () => {
    const metricsPort = await freePort();
    const worker = spawnWorkerProcess({ ...stack.env, WORKER_METRICS_PORT: String(metricsPort) });
    try {
      await worker.ready;
      const subscription = await stack.insertSubscription();
      const started = await stack.refundClient.start({ subscriptionId: subscription.subscriptionId, requestedBy: 'user-1' });
      expect(started.kind).toBe('started');

      const metrics = await (await fetch(`http://127.0.0.1:${metricsPort}/metrics`)).text();
      expect(metrics).toMatch(/^temporal_workflow_task_schedule_to_start_latency|^temporal_request/m);
      expect(metrics).toContain(`task_queue="${stack.config.temporal.taskQueue}"`);

      await worker.kill('SIGTERM');
      expect(worker.child.exitCode).toBe(0);
      const rawLines = worker.output().split('\n').filter((line) => line.startsWith('{'));
      const lines = rawLines.map((line) => JSON.parse(line) as { component?: string; msg: string; level: number });
      expect(lines.map((line) => line.component)).toEqual(expect.arrayContaining(['Worker', 'Scheduler', 'MongoDB', 'Temporal']));
      // JSON parsers keep only the last of repeated keys: each line names exactly one component.
      expect(rawLines.filter((line) => line.split('"component":').length > 2)).toEqual([]);
      expect(lines.map((line) => line.msg)).toEqual(expect.arrayContaining(['worker running', 'worker stopped']));
      expect(worker.output()).not.toContain(stack.env.TREASURY_PRIVATE_KEY.slice(2));
    } finally {
      await worker.kill('SIGKILL');
    }
  }, 120_000);

  test('a bad configuration stops the worker with a message naming the variable, never its secret value', async () => {
    const worker = spawnWorkerProcess({ ...stack.env, TREASURY_PRIVATE_KEY: '0xnot-a-key-but-secret', PAYOUT_CONFIRMATIONS: 'many' });
    await expect(worker.ready).rejects.toThrow(/exited with 78/);
    expect(worker.output()).toContain('TREASURY_PRIVATE_KEY');
    expect(worker.output()).toContain('PAYOUT_CONFIRMATIONS');
    expect(worker.output()).not.toContain('not-a-key-but-secret');
  });
});

describe('BLOCKCHAIN_NETWORK is checked against the provider', () => {
  test('names and chain ids resolve', () => {
    expect(expectedChainId('mainnet')).toBe(1);
    expect(expectedChainId('Sepolia')).toBe(11155111);
    expect(expectedChainId('31337')).toBe(31337);
    expect(() => expectedChainId('atlantis')).toThrow(/not a known network/);
  });

  test('a provider serving another chain is refused', async () => {
    const config = loadConfig({ BLOCKCHAIN_PROVIDER_URL: testServices().chainUrl, BLOCKCHAIN_NETWORK: 'mainnet' });
    await expect(connectTreasury(config.chain)).rejects.toThrow(WrongNetworkError);
    const anvil = loadConfig({ BLOCKCHAIN_PROVIDER_URL: testServices().chainUrl, BLOCKCHAIN_NETWORK: 'anvil' });
    const treasury = await connectTreasury(anvil.chain);
    expect(treasury.chainId).toBe(31337);
    treasury.provider.destroy();
  });
});
