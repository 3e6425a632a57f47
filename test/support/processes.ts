import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { ANVIL_CHAIN_ID, jsonRpc } from '../../src/dev/services';
import { freePort, startProcess, waitUntilReady } from '../../src/dev/processes';
import { anvilPath } from '../../src/dev/provision';

const root = path.resolve(__dirname, '..', '..');

/** An anvil of the test's own, so pausing its mining cannot slow other test files down. */
/** `extraArgs`: more anvil flags, e.g. `--prune-history 64` for a node that keeps only recent state. */
export async function startDedicatedAnvil(extraArgs: string[] = []) {
  const port = await freePort();
  const logFile = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'anvil-')), 'anvil.log');
  const child = startProcess('anvil', anvilPath(), ['--host', '127.0.0.1', '--port', String(port), '--chain-id', String(ANVIL_CHAIN_ID), ...extraArgs], logFile);
  const url = `http://127.0.0.1:${port}`;
  await waitUntilReady('anvil', () => jsonRpc(url, 'eth_chainId', []), { timeoutMs: 30_000, process: child });
  return {
    url,
    rpc: <T = unknown>(method: string, params: unknown[] = []) => jsonRpc<T>(url, method, params),
    stop: () => child.stop(),
  };
}

export interface WorkerProcess {
  child: ChildProcess;
  output: () => string;
  /** Resolves once the worker logged that it polls its task queue. */
  ready: Promise<void>;
  kill(signal: NodeJS.Signals): Promise<void>;
}

/** `npm run worker`'s entry point in a process of its own, configured by env only. */
export function spawnWorkerProcess(env: Record<string, string>, { readyTimeoutMs = 90_000 } = {}): WorkerProcess {
  const child = spawn(process.execPath, ['--import', 'tsx', path.join(root, 'src', 'temporal', 'worker-main.ts')], {
    cwd: root,
    env: { ...process.env, ...env, LOG_LEVEL: 'info' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout!.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child.stderr!.on('data', (chunk: Buffer) => (output += chunk.toString()));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const ready = new Promise<void>((resolve, reject) => {
    // A worker that never got ready is killed: the caller forgets it, so it must not run on unsupervised.
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`worker not ready after ${readyTimeoutMs / 1000} s:\n${output}`));
    }, readyTimeoutMs);
    const check = () => {
      if (output.includes('"worker running"')) {
        clearTimeout(timer);
        resolve();
      }
    };
    child.stdout!.on('data', check);
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`worker exited with ${code} before it was ready:\n${output}`));
    });
  });
  ready.catch(() => undefined);
  return {
    child,
    output: () => output,
    ready,
    async kill(signal) {
      if (child.exitCode === null && child.signalCode === null) child.kill(signal);
      await exited;
    },
  };
}
