import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import type { LocalServices } from '../src/dev/services';
import type { RefundStack } from '../test/support/refund-stack';

/** What the benches that run the product on local services share. */

export interface Latency {
  p50: number;
  p99: number;
}

/** A worker process as `npm run dev` runs it (src/temporal/worker-main.ts), on the stack's queue, store and chain. */
export function startWorkerProcess(stack: RefundStack, logFile: string, env: Record<string, string> = {}): ChildProcess {
  const out = fs.openSync(logFile, 'a');
  const root = path.resolve(__dirname, '..');
  const child = spawn(process.execPath, ['--import', 'tsx', path.join(root, 'src/temporal/worker-main.ts')], {
    cwd: root,
    env: { ...process.env, ...stack.env, LOG_LEVEL: 'error', ...env },
    stdio: ['ignore', out, out],
  });
  fs.closeSync(out);
  return child;
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
