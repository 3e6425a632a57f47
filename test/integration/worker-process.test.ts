import net from 'node:net';
import os from 'node:os';
import { connectTreasury } from '../../src/chain/treasury';
import { expectedChainId, WrongNetworkError } from '../../src/chain/network';
import { freePort } from '../../src/dev/processes';
import { loadConfig } from '../../src/config';
import { startRefundStack, type RefundStack } from '../support/refund-stack';
import { spawnWorkerProcess, type WorkerProcess } from '../support/processes';
import { METRICS_PORT_ATTEMPTS } from '../../src/temporal/worker';
import { testServices } from '../support/services';
import { startRpcProxy } from '../support/rpc-proxy';
import { waitFor } from '../support/wait';
import { startSupervised } from '../chaos/campaign';

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
      const lines = logLines(worker);
      expect(metricsPortLoggedBy(worker)).toBe(metricsPort);
      expect(lines.map((line) => line.component)).toEqual(expect.arrayContaining(['Worker', 'Scheduler', 'MongoDB', 'Temporal']));
      // JSON parsers keep only the last of repeated keys: each line names exactly one component.
      const rawLines = worker.output().split('\n').filter((line) => line.startsWith('{'));
      expect(rawLines.filter((line) => line.split('"component":').length > 2)).toEqual([]);
      expect(lines.map((line) => line.msg)).toEqual(expect.arrayContaining(['worker running', 'worker stopped']));
      expect(worker.output()).not.toContain(stack.env.TREASURY_PRIVATE_KEY.slice(2));
    } finally {
      await worker.kill('SIGKILL');
    }
  }, 120_000);

  test('started while the chain does not answer, a worker waits for it instead of exiting, then runs', async () => {
    const proxy = await startRpcProxy(testServices().chainUrl);
    proxy.freeze(true);
    const worker = spawnWorkerProcess({ ...stack.env, BLOCKCHAIN_PROVIDER_URL: proxy.url, WORKER_METRICS_PORT: '0' });
    try {
      await waitFor(() => (worker.output().includes('the chain cannot be reached yet: waiting for it') ? true : undefined), { timeoutMs: 30_000, what: 'the worker saying it waits for the chain' });
      expect(worker.child.exitCode).toBeNull();
      proxy.freeze(false);
      await worker.ready;
    } finally {
      proxy.freeze(false);
      await worker.kill('SIGKILL');
      await proxy.close();
    }
  }, 120_000);

  test('two workers with identical settings on one host both run: each logs where it serves metrics, and either one alone handles a refund', async () => {
    // What a user scaling by hand does: the same .env, so the same WORKER_METRICS_PORT, for every process.
    const env = { ...stack.env, WORKER_METRICS_PORT: String(await freePort()) };
    const configuredPort = Number(env.WORKER_METRICS_PORT);
    const workers = [spawnWorkerProcess(env), spawnWorkerProcess(env)];
    try {
      await Promise.all(workers.map((worker) => worker.ready));

      const ports = workers.map((worker) => metricsPortLoggedBy(worker));
      expect(ports).toContain(configuredPort);
      expect(new Set(ports).size).toBe(2);
      for (const port of ports) {
        const metrics = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
        expect(metrics).toContain(`task_queue="${stack.config.temporal.taskQueue}"`);
      }
      const moved = workers[ports.indexOf(configuredPort) === 0 ? 1 : 0]!;
      expect(logLines(moved)).toEqual(
        expect.arrayContaining([expect.objectContaining({ level: 40, configuredPort, msg: expect.stringContaining(`WORKER_METRICS_PORT ${configuredPort} is in use`) })]),
      );

      const identities = workers.map((worker) => `${worker.child.pid}@${os.hostname()}`);
      await waitFor(async () => {
        const { pollers } = await stack.client.workflowService.describeTaskQueue({ namespace: stack.config.temporal.namespace, taskQueue: { name: stack.config.temporal.taskQueue } });
        const polling = new Set(pollers.map((poller) => poller.identity));
        return identities.every((identity) => polling.has(identity)) || undefined;
      }, { timeoutMs: 60_000, what: 'both workers polling the task queue' });

      // Either worker, left alone, serves the queue: first the one on the configured port dies, then the other.
      const [onConfiguredPort, onNextPort] = ports[0] === configuredPort ? workers : [workers[1]!, workers[0]!];
      await onConfiguredPort!.kill('SIGKILL');
      await expect(refundToCompletion()).resolves.toBe('completed');

      const replacement = spawnWorkerProcess(env);
      workers.push(replacement);
      await replacement.ready;
      await onNextPort!.kill('SIGKILL');
      await expect(refundToCompletion()).resolves.toBe('completed');
    } finally {
      await Promise.all(workers.map((worker) => worker.kill('SIGKILL')));
    }
  }, 240_000);

  test('with every port it may try taken, a worker runs without the metrics endpoint and says so', async () => {
    const configuredPort = await freePort();
    const taken = await Promise.all(Array.from({ length: METRICS_PORT_ATTEMPTS }, (_, offset) => occupy(configuredPort + offset)));
    const worker = spawnWorkerProcess({ ...stack.env, WORKER_METRICS_PORT: String(configuredPort) });
    try {
      await worker.ready;
      expect(metricsPortLoggedBy(worker)).toBeNull();
      expect(logLines(worker)).toEqual(
        expect.arrayContaining([expect.objectContaining({ level: 40, configuredPort, msg: expect.stringContaining('running without the Temporal SDK metrics endpoint') })]),
      );
      await expect(refundToCompletion()).resolves.toBe('completed');
    } finally {
      await worker.kill('SIGKILL');
      await Promise.all(taken.map((close) => close()));
    }
  }, 120_000);

  async function refundToCompletion(): Promise<string> {
    const subscription = await stack.insertSubscription();
    const started = await stack.refundClient.start({ subscriptionId: subscription.subscriptionId, requestedBy: 'user-1' });
    if (started.kind !== 'started') throw new Error(`not started: ${JSON.stringify(started)}`);
    const ref = { subscriptionId: subscription.subscriptionId, runId: started.runId };
    await stack.refundClient.approve(ref, { by: 'admin-1' });
    return (await stack.refundClient.result(ref)).outcome;
  }

  test('a bad configuration stops the worker with a message naming the variable, never its secret value', async () => {
    const worker = spawnWorkerProcess({ ...stack.env, TREASURY_PRIVATE_KEY: '0xnot-a-key-but-secret', PAYOUT_CONFIRMATIONS: 'many' });
    await expect(worker.ready).rejects.toThrow(/exited with 78/);
    expect(worker.output()).toContain('TREASURY_PRIVATE_KEY');
    expect(worker.output()).toContain('PAYOUT_CONFIRMATIONS');
    expect(worker.output()).not.toContain('not-a-key-but-secret');
  });

  test('the chaos campaign\'s supervisor stops a worker that was not ready in time before it starts another: none is left running', async () => {
    // Nothing listens at this Temporal address: the worker waits for it and never gets ready.
    const env = { ...stack.env, TEMPORAL_ADDRESS: `127.0.0.1:${await freePort()}`, WORKER_METRICS_PORT: '0' };
    const spawned: WorkerProcess[] = [];
    const processes = { workers: [] as WorkerProcess[] };
    const spawn = (workerEnv: Record<string, string>) => {
      const worker = spawnWorkerProcess(workerEnv, { readyTimeoutMs: 3_000 });
      spawned.push(worker);
      return worker;
    };
    try {
      await startSupervised(processes, env, () => undefined, { spawn, attempts: 2 });
      expect(processes.workers).toEqual([]);
      expect(spawned).toHaveLength(2);
      expect(spawned.map((worker) => ({ exitCode: worker.child.exitCode, signal: worker.child.signalCode }))).toEqual(spawned.map(() => ({ exitCode: null, signal: 'SIGKILL' })));
    } finally {
      await Promise.all(spawned.map((worker) => worker.kill('SIGKILL')));
    }
  }, 60_000);

  test('the chaos campaign\'s supervisor replaces a starting worker that a fault killed without dropping another worker from its list', async () => {
    const env = { ...stack.env, TEMPORAL_ADDRESS: `127.0.0.1:${await freePort()}`, WORKER_METRICS_PORT: '0' };
    const bystander = spawnWorkerProcess(env);
    const processes = { workers: [bystander] };
    const spawned: WorkerProcess[] = [];
    const spawn = (workerEnv: Record<string, string>) => {
      const worker = spawnWorkerProcess(workerEnv);
      spawned.push(worker);
      return worker;
    };
    try {
      const supervising = startSupervised(processes, env, () => undefined, { spawn, attempts: 1 });
      // What the campaign's worker kill does to the worker it picks, here the one still starting: out of the list, SIGKILL.
      const starting = processes.workers.splice(processes.workers.indexOf(spawned[0]!), 1)[0]!;
      await starting.kill('SIGKILL');
      await supervising;
      expect(processes.workers).toHaveLength(1);
      expect(processes.workers[0]).toBe(bystander);
      expect(bystander.child.exitCode).toBeNull();
    } finally {
      await Promise.all([bystander, ...spawned].map((worker) => worker.kill('SIGKILL')));
    }
  }, 60_000);
});

interface LogLine {
  level: number;
  msg: string;
  component?: string;
  metricsPort?: number | null;
  configuredPort?: number;
}

function logLines(worker: WorkerProcess): LogLine[] {
  return worker
    .output()
    .split('\n')
    .filter((line) => line.startsWith('{'))
    .map((line) => JSON.parse(line) as LogLine);
}

/** The port the worker says it serves Temporal SDK metrics on (null: it says it serves none). */
function metricsPortLoggedBy(worker: WorkerProcess): number | null {
  const line = logLines(worker).find((entry) => entry.metricsPort !== undefined);
  if (!line) throw new Error(`the worker did not log where it serves metrics:\n${worker.output()}`);
  return line.metricsPort!;
}

/** Holds the port like another process would; a port someone else already holds is just as taken. */
function occupy(port: number): Promise<() => Promise<void>> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', (error: NodeJS.ErrnoException) => (error.code === 'EADDRINUSE' ? resolve(async () => undefined) : reject(error)));
    server.listen(port, '0.0.0.0', () => resolve(() => new Promise<void>((closed) => server.close(() => closed()))));
  });
}

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
