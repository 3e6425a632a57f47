import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { temporal } from '@temporalio/proto';
import { DefaultLogger, NativeConnection, Runtime, Worker } from '@temporalio/worker';
import crypto from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { createApp } from '../src/api/app';
import type { LocalServices } from '../src/dev/services';
import { createLogger } from '../src/logger';
import { FOLD_REFRESH_EVERY_MS, type RefundStats } from '../src/persistence/refund-events';
import { sweepControlOf, type RefundStack } from '../test/support/refund-stack';
import { processStat } from './cpu-by-process';

/** What the benches that run the product on local services share. */

export interface Latency {
  p50: number;
  p99: number;
}

/**
 * A worker process as `npm run worker` runs it: the compiled code (built first
 * when the sources are newer), with the worker's Node flags, on the stack's
 * queue, store and chain. bootstrap.cjs hands over to it: `workerPid` finds it.
 */
export function startWorkerProcess(stack: RefundStack, logFile: string, env: Record<string, string> = {}): ChildProcess {
  const out = fs.openSync(logFile, 'a');
  const root = path.resolve(__dirname, '..');
  const child = spawn(process.execPath, [path.join(root, 'src/dev/bootstrap.cjs'), 'worker'], {
    cwd: root,
    env: { ...process.env, ...stack.env, LOG_LEVEL: 'error', ...env },
    stdio: ['ignore', out, out],
  });
  fs.closeSync(out);
  return child;
}

/**
 * Resolves once a worker polls the stack's task queue (a build of dist/ may
 * come first), with the sweep schedule the worker created paused: it sweeps on
 * the hour, and one that fell inside a bench started the refunds the bench's
 * own sweep is there to measure (found 500, started 0), with its load landing
 * in whatever was measured at that moment.
 */
export async function workerReady(stack: RefundStack, timeoutMs = 5 * 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const { pollers } = await stack.client.workflowService.describeTaskQueue({
      namespace: stack.config.temporal.namespace,
      taskQueue: { name: stack.config.temporal.taskQueue },
      taskQueueType: temporal.api.enums.v1.TaskQueueType.TASK_QUEUE_TYPE_WORKFLOW,
    });
    if ((pollers ?? []).length > 0) {
      const sweep = sweepControlOf(stack);
      await sweep.pause('paused by npm run bench: the bench runs the sweep itself');
      return;
    }
    if (Date.now() > deadline) throw new Error(`no worker polled ${stack.config.temporal.taskQueue} within ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 500));
  }
}

/** The worker itself: the process bootstrap.cjs started (its only child). */
export function workerPid(bootstrap: ChildProcess): number {
  const pid = bootstrap.pid!;
  for (const entry of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      if (processStat(Number(entry)).parent === pid) return Number(entry);
    } catch {
      // the process ended meanwhile
    }
  }
  throw new Error(`worker process ${pid} has no child`);
}

export async function stopProcess(child: ChildProcess | undefined): Promise<void> {
  if (!child || child.exitCode !== null) return;
  const exited = new Promise((resolve) => child.once('exit', resolve));
  child.kill('SIGTERM');
  await exited;
}

export function rssOf(pid: number): number {
  const status = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
  return Number(/VmRSS:\s+(\d+) kB/.exec(status)?.[1] ?? 0) * 1024;
}

/**
 * Waits until the process uses under 10 % of a core for two seconds in a row
 * (at most `maxMs`), and says how long that took: requests answered early
 * leave a worker busy for seconds with their activities (records,
 * notifications), which would share the cores with what is measured next.
 */
export async function settled(pid: number, maxMs = 60_000): Promise<number> {
  const started = performance.now();
  let quiet = 0;
  let before = processStat(pid).seconds;
  while (quiet < 2 && performance.now() - started < maxMs) {
    await new Promise((resolve) => setTimeout(resolve, 1_000));
    const now = processStat(pid).seconds;
    quiet = now - before < 0.1 ? quiet + 1 : 0;
    before = now;
  }
  return performance.now() - started;
}

/** The API (createApp) served by this process on a free loopback port, on the stack's services, with the given event-log fold refreshed in the background as src/api/main.ts does. */
export async function serveApi(stack: RefundStack, stats: RefundStats): Promise<{ baseUrl: string; close(): Promise<void> }> {
  const sweep = sweepControlOf(stack);
  const app = createApp({ config: stack.config, logger: createLogger('error'), mongo: stack.mongo, refundClient: stack.refundClient, sweep, stats });
  const stopRefreshing = stats.keepFresh(FOLD_REFRESH_EVERY_MS, () => undefined); // as src/api/main.ts does
  const server = http.createServer(app.callback());
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    baseUrl: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    close: () => {
      stopRefreshing();
      return new Promise<void>((resolve) => (server.close(() => resolve()), server.closeAllConnections()));
    },
  };
}

/** test/support reads the services' addresses from these variables. */
export function pointTestSupportAt(services: LocalServices): () => void {
  const saved = { TEST_TEMPORAL_ADDRESS: process.env.TEST_TEMPORAL_ADDRESS, TEST_MONGO_URI: process.env.TEST_MONGO_URI, TEST_CHAIN_URL: process.env.TEST_CHAIN_URL };
  process.env.TEST_TEMPORAL_ADDRESS = services.temporalAddress;
  process.env.TEST_MONGO_URI = services.mongoUri;
  process.env.TEST_CHAIN_URL = services.chainUrl;
  return () => {
    for (const [name, value] of Object.entries(saved)) {
      if (value === undefined) delete process.env[name];
      else process.env[name] = value;
    }
  };
}

export function percentiles(values: number[]): Latency {
  const sorted = [...values].sort((a, b) => a - b);
  const at = (q: number) => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? 0;
  return { p50: at(0.5), p99: at(0.99) };
}

/** Temporal's runtime logs warnings only; a bench that runs after another finds it installed. */
export function quietTemporalRuntime(): void {
  try {
    Runtime.install({ logger: new DefaultLogger('WARN') });
  } catch {
    // a runtime is already installed
  }
}

/**
 * Runs `measure` with an in-process worker polling a fresh task queue for the
 * no-I/O ceiling workflows (bench/ceiling), on the stack's Temporal server and
 * with the product worker's cache size; stops the worker afterwards.
 */
export async function withCeilingWorker<T>(stack: RefundStack, name: string, measure: (taskQueue: string) => Promise<T>): Promise<T> {
  const taskQueue = `bench-${name}-${crypto.randomBytes(4).toString('hex')}`;
  const connection = await NativeConnection.connect({ address: stack.config.temporal.address });
  const worker = await Worker.create({
    connection,
    taskQueue,
    workflowsPath: require.resolve('./ceiling/workflow'),
    activities: await import('./ceiling/activities'),
    maxCachedWorkflows: stack.config.worker.maxCachedWorkflows,
  });
  const running = worker.run();
  try {
    return await measure(taskQueue);
  } finally {
    worker.shutdown();
    await running.catch(() => undefined);
    await connection.close();
  }
}
