import { Connection } from '@temporalio/client';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { REFUND_SEARCH_ATTRIBUTES } from '../temporal/search-attributes';
import { freePort, isListening, startProcess, waitUntilReady, type ManagedProcess } from './processes';
import { anvilPath, ensureFerretdbServer, ensureTemporalCli } from './provision';

/**
 * The real services the product needs, started locally: Temporal's dev server,
 * FerretDB (MongoDB wire protocol over SQLite) and anvil. `npm run dev` and
 * `npm run services` use fixed ports and a persistent data folder; the test
 * harness uses free ports and throw-away data.
 */

export const ANVIL_CHAIN_ID = 31337;

export interface LocalServicesOptions {
  /** Persistent data folder; when absent every service keeps its data in memory or a temp folder. */
  dataDir?: string;
  ports?: { temporal?: number; temporalUi?: number; mongo?: number; anvil?: number };
  /** Start the Temporal Web UI (dev) or run headless (tests). */
  webUi?: boolean;
  /** Reuse a service already listening on its port instead of failing. */
  reuseRunning?: boolean;
  log?: (line: string) => void;
}

export interface LocalServices {
  temporalAddress: string;
  temporalUiUrl?: string;
  mongoUri: string;
  chainUrl: string;
  stop(): Promise<void>;
}

interface Started {
  process?: ManagedProcess;
}

export async function startLocalServices(options: LocalServicesOptions = {}): Promise<LocalServices> {
  const log = options.log ?? console.log;
  const persistent = Boolean(options.dataDir);
  const dataDir = options.dataDir ?? fs.mkdtempSync(path.join(os.tmpdir(), 'prorata-services-'));
  const logDir = path.join(dataDir, 'logs');
  fs.mkdirSync(logDir, { recursive: true });

  const [temporalCli, ferretdb] = await Promise.all([ensureTemporalCli(log), ensureFerretdbServer(log)]);
  const ports = {
    temporal: options.ports?.temporal ?? (await freePort()),
    temporalUi: options.ports?.temporalUi ?? (await freePort()),
    mongo: options.ports?.mongo ?? (await freePort()),
    anvil: options.ports?.anvil ?? (await freePort()),
  };
  const started: Started[] = [];
  const stopAll = async () => {
    await Promise.all(started.map((service) => service.process?.stop()));
    if (!persistent) fs.rmSync(dataDir, { recursive: true, force: true });
  };

  try {
    const [temporal, mongo, anvil] = await Promise.all([
      startTemporal(temporalCli, ports.temporal, ports.temporalUi, options, dataDir, logDir, log),
      startFerretdb(ferretdb, ports.mongo, options, dataDir, logDir, log),
      startAnvil(ports.anvil, options, dataDir, logDir, log),
    ]);
    started.push(temporal, mongo, anvil);
  } catch (error) {
    await stopAll();
    throw error;
  }

  return {
    temporalAddress: `127.0.0.1:${ports.temporal}`,
    temporalUiUrl: options.webUi ? `http://127.0.0.1:${ports.temporalUi}` : undefined,
    mongoUri: `mongodb://127.0.0.1:${ports.mongo}/web3db`,
    chainUrl: `http://127.0.0.1:${ports.anvil}`,
    stop: stopAll,
  };
}

async function reuseIfRunning(name: string, port: number, options: LocalServicesOptions, log: (line: string) => void): Promise<boolean> {
  if (!(await isListening(port))) return false;
  if (!options.reuseRunning) throw new Error(`port ${port} for ${name} is already in use`);
  log(`[services] ${name}: reusing the one already listening on ${port}`);
  return true;
}

async function startTemporal(
  cli: string,
  port: number,
  uiPort: number,
  options: LocalServicesOptions,
  dataDir: string,
  logDir: string,
  log: (line: string) => void,
): Promise<Started> {
  const address = `127.0.0.1:${port}`;
  const probe = async () => {
    const connection = await Connection.connect({ address, connectTimeout: 1000 });
    try {
      await connection.workflowService.describeNamespace({ namespace: 'default' });
    } finally {
      await connection.close();
    }
  };
  if (await reuseIfRunning('Temporal', port, options, log)) {
    await waitUntilReady('Temporal', probe, { timeoutMs: 30_000 });
    return {};
  }
  const args = ['server', 'start-dev', '--ip', '127.0.0.1', '--port', String(port), '--log-level', 'warn'];
  args.push('--dynamic-config-value', 'frontend.enableServerVersionCheck=false');
  for (const key of REFUND_SEARCH_ATTRIBUTES) args.push('--search-attribute', `${key.name}=Keyword`);
  if (options.webUi) args.push('--ui-port', String(uiPort));
  else args.push('--headless');
  if (options.dataDir) {
    fs.mkdirSync(path.join(dataDir, 'temporal'), { recursive: true });
    args.push('--db-filename', path.join(dataDir, 'temporal', 'temporal.db'));
    args.push('--sqlite-pragma', 'journal_mode=WAL', '--sqlite-pragma', 'synchronous=NORMAL');
  }
  const child = startProcess('temporal', cli, args, path.join(logDir, 'temporal.log'));
  await waitUntilReady('Temporal dev server', probe, { timeoutMs: 90_000, process: child });
  log(`[services] Temporal      ${address}${options.webUi ? `   Web UI http://127.0.0.1:${uiPort}` : ''}`);
  return { process: child };
}

async function startFerretdb(binary: string, port: number, options: LocalServicesOptions, dataDir: string, logDir: string, log: (line: string) => void): Promise<Started> {
  const probe = async () => {
    if (!(await isListening(port))) throw new Error('not listening yet');
  };
  if (await reuseIfRunning('MongoDB-compatible store', port, options, log)) return {};
  const args = ['-listen', `127.0.0.1:${port}`, '-data-dir', path.join(dataDir, 'mongo')];
  const child = startProcess('ferretdb', binary, args, path.join(logDir, 'ferretdb.log'));
  await waitUntilReady('FerretDB', probe, { timeoutMs: 30_000, process: child });
  log(`[services] MongoDB-compatible store (FerretDB) mongodb://127.0.0.1:${port}`);
  return { process: child };
}

async function startAnvil(port: number, options: LocalServicesOptions, dataDir: string, logDir: string, log: (line: string) => void): Promise<Started> {
  const url = `http://127.0.0.1:${port}`;
  const probe = () => jsonRpc(url, 'eth_chainId', []);
  if (await reuseIfRunning('anvil', port, options, log)) return {};
  const args = ['--host', '127.0.0.1', '--port', String(port), '--chain-id', String(ANVIL_CHAIN_ID)];
  if (options.dataDir) {
    fs.mkdirSync(path.join(dataDir, 'anvil'), { recursive: true });
    // --state loads the chain at start and dumps it on exit; the interval bounds what a crash loses.
    args.push('--state', path.join(dataDir, 'anvil', 'state.json'), '--state-interval', '10');
  }
  const child = startProcess('anvil', anvilPath(), args, path.join(logDir, 'anvil.log'));
  await waitUntilReady('anvil', probe, { timeoutMs: 30_000, process: child });
  log(`[services] anvil         ${url} (chain id ${ANVIL_CHAIN_ID})`);
  return { process: child };
}

export async function jsonRpc<T = unknown>(url: string, method: string, params: unknown[]): Promise<T> {
  const response = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ jsonrpc: '2.0', id: 1, method, params }),
    signal: AbortSignal.timeout(5000),
  });
  const body = (await response.json()) as { result?: T; error?: { message: string } };
  if (body.error) throw new Error(`${method}: ${body.error.message}`);
  return body.result as T;
}
