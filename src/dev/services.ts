import { Connection } from '@temporalio/client';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { REFUND_SEARCH_ATTRIBUTES } from '../temporal/search-attributes';
import { freePort, isListening, startProcess, waitUntilReady, type ManagedProcess } from './processes';
import { spawnSync } from 'node:child_process';
import crypto from 'node:crypto';
import { anvilPath, ensureFerretdbServer, ensurePostgres, ensureTemporalCli, POSTGRES_MAJOR } from './provision';

/**
 * The real services the product needs, started locally: Temporal's dev server,
 * FerretDB (MongoDB wire protocol) over PostgreSQL, and anvil. `npm run dev`
 * and `npm run services` use fixed ports and a persistent data folder; the test
 * harness uses free ports and throw-away data. `LOCAL_STORE=sqlite` runs
 * FerretDB over SQLite instead (no PostgreSQL needed, several times slower).
 */

export type LocalStore = 'postgresql' | 'sqlite';

export function localStore(env: NodeJS.ProcessEnv = process.env): LocalStore {
  const value = env.LOCAL_STORE ?? 'postgresql';
  if (value !== 'postgresql' && value !== 'sqlite') throw new Error(`LOCAL_STORE must be postgresql or sqlite, not ${JSON.stringify(value)}`);
  return value;
}

export const ANVIL_CHAIN_ID = 31337;

export interface LocalServicesOptions {
  /** Persistent data folder; when absent every service keeps its data in memory or a temp folder. */
  dataDir?: string;
  ports?: { temporal?: number; temporalUi?: number; mongo?: number; anvil?: number; postgres?: number };
  /** Backend of the MongoDB-compatible store; LOCAL_STORE, else PostgreSQL. */
  store?: LocalStore;
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
  /** What the MongoDB-compatible store runs on, e.g. "PostgreSQL 127.0.0.1:55432". */
  store: string;
  chainUrl: string;
  /** For fault campaigns (npm run chaos): crash a service and start it again on its port and data, or freeze it. */
  controls: ServiceControls;
  stop(): Promise<void>;
}

export type ServiceName = 'temporal' | 'store' | 'anvil';

export interface ServiceControls {
  /** SIGKILL to the service (and its watchdog): what a power cut or the OOM killer does. */
  crash(name: ServiceName): Promise<void>;
  /** Starts a crashed service again, with the same port and data. */
  restart(name: ServiceName): Promise<void>;
  /** SIGSTOP (true) or SIGCONT (false): a service that accepts connections and never answers. */
  freeze(name: ServiceName, frozen: boolean): void;
}

interface Started {
  process?: ManagedProcess;
}

export async function startLocalServices(options: LocalServicesOptions = {}): Promise<LocalServices> {
  const log = options.log ?? console.log;
  const persistent = Boolean(options.dataDir);
  const dataDir = options.dataDir ?? fs.mkdtempSync(path.join(os.tmpdir(), 'prorata-services-'));
  // Our own throw-away folder: open it to the postgres user, who owns the cluster inside.
  if (!persistent) fs.chmodSync(dataDir, 0o755);
  const logDir = path.join(dataDir, 'logs');
  fs.mkdirSync(logDir, { recursive: true });

  const store = options.store ?? localStore();
  const postgresBin = store === 'postgresql' ? ensurePostgres(log) : undefined;
  const [temporalCli, ferretdb] = await Promise.all([ensureTemporalCli(log), ensureFerretdbServer(log)]);
  const ports = {
    temporal: options.ports?.temporal ?? (await freePort()),
    temporalUi: options.ports?.temporalUi ?? (await freePort()),
    mongo: options.ports?.mongo ?? (await freePort()),
    anvil: options.ports?.anvil ?? (await freePort()),
    postgres: options.ports?.postgres ?? (await freePort()),
  };
  const started: Started[] = [];
  const stopAll = async () => {
    // The store's clients first: PostgreSQL's shutdown waits for FerretDB's connections to close.
    const [first, ...rest] = started.slice().reverse();
    await first?.process?.stop();
    await Promise.all(rest.map((service) => service.process?.stop()));
    if (!persistent) fs.rmSync(dataDir, { recursive: true, force: true });
  };

  let storeDescription = `SQLite ${path.join(dataDir, 'mongo')}`;
  const byName: Record<ServiceName, Started[]> = { temporal: [], store: [], anvil: [] };
  const startStore = async (): Promise<Started[]> => {
    let backend: string[];
    const parts: Started[] = [];
    if (postgresBin) {
      parts.push(await startPostgres(postgresBin, ports.postgres, options, dataDir, logDir, log));
      backend = ['-postgresql-url', `postgres://postgres@127.0.0.1:${ports.postgres}/postgres`];
      storeDescription = `PostgreSQL 127.0.0.1:${ports.postgres}`;
    } else {
      backend = ['-data-dir', path.join(dataDir, 'mongo')];
    }
    try {
      parts.push(await startFerretdb(ferretdb, ports.mongo, backend, storeDescription, options, logDir, log));
    } catch (error) {
      await Promise.all(parts.map((part) => part.process?.stop()));
      throw error;
    }
    return parts;
  };
  const starters: Record<ServiceName, () => Promise<Started[]>> = {
    temporal: async () => [await startTemporal(temporalCli, ports.temporal, ports.temporalUi, options, dataDir, logDir, log)],
    anvil: async () => [await startAnvil(ports.anvil, options, dataDir, logDir, log)],
    store: startStore,
  };
  // Every start is let finish, so that when one fails the others, which may be up by then, are stopped too.
  const names = ['temporal', 'anvil', 'store'] as const;
  const outcomes = await Promise.allSettled(names.map((name) => starters[name]()));
  outcomes.forEach((outcome, i) => {
    if (outcome.status !== 'fulfilled') return;
    byName[names[i]!] = outcome.value;
    // Stopped in reverse: FerretDB before PostgreSQL.
    started.push(...outcome.value);
  });
  const failed = outcomes.find((outcome) => outcome.status === 'rejected');
  if (failed) {
    await stopAll();
    throw failed.reason;
  }

  const signalGroup = (name: ServiceName, signal: NodeJS.Signals) => {
    for (const { process: managed } of byName[name]) if (managed?.child.pid) process.kill(-managed.child.pid, signal);
  };
  const controls: ServiceControls = {
    async crash(name) {
      const parts = byName[name];
      signalGroup(name, 'SIGKILL');
      await Promise.all(parts.map((part) => part.process?.exited));
    },
    async restart(name) {
      const fresh = await starters[name]();
      // In the place of the parts it replaces: stopAll's order (FerretDB before PostgreSQL) holds after a restart.
      const at = Math.min(...byName[name].map((part) => started.indexOf(part)).filter((index) => index >= 0), started.length);
      for (const part of byName[name]) started.splice(started.indexOf(part), 1);
      started.splice(at, 0, ...fresh);
      byName[name] = fresh;
    },
    freeze(name, frozen) {
      signalGroup(name, frozen ? 'SIGSTOP' : 'SIGCONT');
    },
  };

  return {
    temporalAddress: `127.0.0.1:${ports.temporal}`,
    temporalUiUrl: options.webUi ? `http://127.0.0.1:${ports.temporalUi}` : undefined,
    mongoUri: `mongodb://127.0.0.1:${ports.mongo}/web3db`,
    store: storeDescription,
    chainUrl: `http://127.0.0.1:${ports.anvil}`,
    controls,
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

async function startFerretdb(
  binary: string,
  port: number,
  backend: string[],
  description: string,
  options: LocalServicesOptions,
  logDir: string,
  log: (line: string) => void,
): Promise<Started> {
  const probe = async () => {
    if (!(await isListening(port))) throw new Error('not listening yet');
  };
  if (await reuseIfRunning('MongoDB-compatible store', port, options, log)) return {};
  const args = ['-listen', `127.0.0.1:${port}`, ...backend];
  const child = startProcess('ferretdb', binary, args, path.join(logDir, 'ferretdb.log'));
  await waitUntilReady('FerretDB', probe, { timeoutMs: 30_000, process: child });
  log(`[services] MongoDB-compatible store (FerretDB over ${description}) mongodb://127.0.0.1:${port}`);
  return { process: child };
}

const POSTGRES_USER = 'postgres';

/**
 * PostgreSQL for FerretDB: its own cluster (initdb on first use), loopback only,
 * no Unix socket, trust authentication (nothing else can reach it). PostgreSQL
 * refuses to run as root, so as root it runs as the `postgres` user.
 * `plan_cache_mode=force_custom_plan` lets FerretDB's parameterised filters use
 * the GIN indexes our wrapper adds (ferretdb-server/mirror.go).
 */
async function startPostgres(binDir: string, port: number, options: LocalServicesOptions, dataDir: string, logDir: string, log: (line: string) => void): Promise<Started> {
  const address = `127.0.0.1:${port}`;
  const probe = async () => {
    const ready = spawnSync(path.join(binDir, 'pg_isready'), ['-q', '-h', '127.0.0.1', '-p', String(port), '-U', POSTGRES_USER, '-d', 'postgres'], { timeout: 5_000 });
    if (ready.status !== 0) throw new Error(`pg_isready exited ${ready.status}`);
  };
  if (await reuseIfRunning('PostgreSQL', port, options, log)) {
    await waitUntilReady('PostgreSQL', probe, { timeoutMs: 30_000 });
    return {};
  }
  const asRoot = process.getuid?.() === 0;
  const runAs = (command: string): [string, string[]] => (asRoot ? ['setpriv', ['--reuid', POSTGRES_USER, '--regid', POSTGRES_USER, '--init-groups', command]] : [command, []]);
  const clusterDir = postgresDataDir(path.join(dataDir, 'postgres'), asRoot, log);
  const durable = Boolean(options.dataDir);

  if (!fs.existsSync(path.join(clusterDir, 'PG_VERSION'))) {
    const [command, prefix] = runAs(path.join(binDir, 'initdb'));
    const initdb = spawnSync(command, [...prefix, '-D', clusterDir, '-U', POSTGRES_USER, '--auth=trust', '--encoding=UTF8', '--locale=C', ...(durable ? [] : ['--no-sync'])], {
      encoding: 'utf8',
      cwd: '/',
    });
    if (initdb.status !== 0) throw new Error(`initdb of ${clusterDir} failed (exit ${initdb.status}):\n${initdb.stdout}\n${initdb.stderr}`);
  }
  const settings = {
    listen_addresses: '127.0.0.1',
    unix_socket_directories: '',
    plan_cache_mode: 'force_custom_plan',
    shared_buffers: '256MB',
    max_connections: '200',
    // Throw-away test data may lose its last moments in a crash; a persistent store keeps every write it
    // acknowledged, as the payout ledger needs (a transaction signed and recorded must not be forgotten).
    ...(durable ? {} : { synchronous_commit: 'off', fsync: 'off', full_page_writes: 'off' }),
  };
  const [command, prefix] = runAs(path.join(binDir, 'postgres'));
  const args = [...prefix, '-D', clusterDir, '-p', String(port), ...Object.entries(settings).flatMap(([key, value]) => ['-c', `${key}=${value}`])];
  const child = startProcess('postgres', command, args, path.join(logDir, 'postgres.log'));
  await waitUntilReady('PostgreSQL', probe, { timeoutMs: 60_000, process: child });
  log(`[services] PostgreSQL    ${address} (data in ${clusterDir})`);
  return { process: child };
}

/**
 * The cluster folder, owned by the user PostgreSQL runs as. As root, the
 * `postgres` user must be able to reach it; when a parent folder is closed to
 * it (a clone under /root), the cluster lives under /var/lib instead.
 */
function postgresDataDir(wanted: string, asRoot: boolean, log: (line: string) => void): string {
  fs.mkdirSync(wanted, { recursive: true, mode: 0o700 });
  if (!asRoot) return wanted;
  const reachable = (dir: string) => {
    const { uid, gid } = postgresIds();
    fs.chownSync(dir, uid, gid);
    fs.chmodSync(dir, 0o700);
    return spawnSync('setpriv', ['--reuid', POSTGRES_USER, '--regid', POSTGRES_USER, '--init-groups', 'test', '-w', dir, '-a', '-x', dir]).status === 0;
  };
  if (reachable(wanted)) return wanted;
  const key = crypto.createHash('sha256').update(path.resolve(wanted)).digest('hex').slice(0, 12);
  const fallback = path.join('/var/lib/prorata-refund', `postgres-${key}`);
  fs.mkdirSync(fallback, { recursive: true });
  fs.chmodSync(path.dirname(fallback), 0o755);
  if (!reachable(fallback)) throw new Error(`the ${POSTGRES_USER} user can reach neither ${wanted} nor ${fallback}`);
  log(`[services] PostgreSQL: the ${POSTGRES_USER} user cannot reach ${wanted}; its data is in ${fallback}`);
  fs.writeFileSync(path.join(wanted, 'MOVED.txt'), `This cluster's data is in ${fallback}: PostgreSQL runs as ${POSTGRES_USER}, who cannot reach this folder.\n`);
  return fallback;
}

function postgresIds(): { uid: number; gid: number } {
  const line = fs
    .readFileSync('/etc/passwd', 'utf8')
    .split('\n')
    .find((entry) => entry.startsWith(`${POSTGRES_USER}:`));
  if (!line) throw new Error(`there is no ${POSTGRES_USER} user to run PostgreSQL as (the postgresql-${POSTGRES_MAJOR} package creates it)`);
  const [, , uid, gid] = line.split(':');
  return { uid: Number(uid), gid: Number(gid) };
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
