import autocannon from 'autocannon';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type Koa from 'koa';
import { mintToken } from '../src/api/auth';
import type { ApiDeps } from '../src/api/context';
import type { BenchOutcome } from '../src/cli/bench';
import { startLocalServices, type LocalServices } from '../src/dev/services';
import { createLogger } from '../src/logger';
import { startRefundStack, sweepControlOf, type RefundStack } from '../test/support/refund-stack';
import { times } from './harness';
import { pointTestSupportAt, quietTemporalRuntime } from './local-stack';

/**
 * (c) API read latency end to end on the real stack: Temporal dev server,
 * FerretDB and anvil on free ports (startLocalServices), a real refund worker
 * and refunds requested through the API, so a refund read is a live query of
 * its running workflow. Each read endpoint gets two autocannon runs: one
 * connection (latency without contention) and ten (throughput and tail under
 * contention). The API and the worker share this process; autocannon runs in
 * a worker thread so it does not compete for the API's event loop.
 */

export const title = '(c) API read latency on the local stack (createApp from src/api/app.ts)';

const REFUNDS = 20;
const RUN_SECONDS = 2;
const API_TARGET_MS = 500;
const REFUNDS_PATH = '/api/refunds/pro-rata';

interface Endpoint {
  name: string;
  paths: string[];
}

interface Measured {
  p50: number;
  p99: number;
  rps: number;
  non2xx: number;
  errors: number;
}

export async function run(log: (line: string) => void): Promise<BenchOutcome> {
  const createApp = await loadCreateApp();
  if (typeof createApp === 'string') return { status: 'skipped', reason: createApp };

  quietTemporalRuntime();
  const setupStarted = performance.now();
  let services: LocalServices;
  try {
    services = await startLocalServices({ log: () => undefined });
  } catch (error) {
    return { status: 'skipped', reason: `the local services could not be started: ${(error as Error).message.split('\n')[0]}` };
  }
  const restoreEnv = pointTestSupportAt(services);
  let stack: RefundStack | undefined;
  let server: http.Server | undefined;
  try {
    stack = await startRefundStack({ env: { LOG_LEVEL: 'error' } });
    const sweep = sweepControlOf(stack);
    const deps: ApiDeps = { config: stack.config, logger: createLogger('error'), mongo: stack.mongo, refundClient: stack.refundClient, sweep };
    server = http.createServer(createApp(deps).callback());
    await new Promise<void>((resolve) => server!.listen(0, '127.0.0.1', resolve));
    const baseUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;

    const refundIds = await requestRefunds(stack, baseUrl);
    log(`setup ${((performance.now() - setupStarted) / 1000).toFixed(1)} s: services, worker, ${refundIds.length} refunds requested through the API (pending approval, workflows running)`);

    const admin = await mintToken(stack.config.auth.jwtSecret, { sub: 'bench-admin', role: 'admin' }, '1h');
    const endpoints: Endpoint[] = [
      { name: 'pending list', paths: [`${REFUNDS_PATH}/pending/all?limit=20`] },
      { name: 'refund read', paths: refundIds.map((id) => `${REFUNDS_PATH}/${id}`) },
      { name: 'statistics', paths: [`${REFUNDS_PATH}/statistics`] },
      { name: 'status', paths: ['/api/status'] },
    ];
    log(`each endpoint ${RUN_SECONDS} s with 1 connection (mean = 1 / throughput, sequential), then ${RUN_SECONDS} s with 10; percentiles have 1 ms resolution`);
    log(`${'endpoint'.padEnd(13)} ${'1 conn: mean'.padStart(13)} ${'p99'.padStart(7)} ${'req/s'.padStart(7)}   ${'10 conn: p50'.padStart(13)} ${'p99'.padStart(7)} ${'req/s'.padStart(7)}   p99 (10 conn) vs the ${API_TARGET_MS} ms target`);
    const results = new Map<string, { single: Measured; ten: Measured }>();
    for (const endpoint of endpoints) {
      const single = await measure(baseUrl, admin, endpoint, 1);
      const ten = await measure(baseUrl, admin, endpoint, 10);
      results.set(endpoint.name, { single, ten });
      const failures = single.non2xx + single.errors + ten.non2xx + ten.errors;
      log(
        `${endpoint.name.padEnd(13)} ${fmt(1000 / single.rps).padStart(10)} ms ${fmt(single.p99).padStart(4)} ms ${single.rps.toFixed(0).padStart(7)}   ${fmt(ten.p50).padStart(10)} ms ${fmt(ten.p99).padStart(4)} ms ${ten.rps.toFixed(0).padStart(7)}   ${versusTarget(ten.p99)}${failures ? `   ${failures} non-2xx/errors!` : ''}`,
      );
    }
    const baseline = results.get('pending list')!.single.rps;
    const relative = [...results].filter(([name]) => name !== 'pending list').map(([name, { single }]) => `${name} ${times(baseline / single.rps)}`);
    log(`mean latency relative to the pending list (one MongoDB query), 1 connection: ${relative.join(', ')}`);
    const scaling = [...results].map(([name, { single, ten }]) => `${name} ${times(ten.rps / single.rps)}`);
    log(`throughput with 10 connections relative to 1: ${scaling.join(', ')}`);
    return { status: 'ran' };
  } finally {
    if (server) await new Promise<void>((resolve) => (server!.close(() => resolve()), server!.closeAllConnections()));
    await stack?.close();
    restoreEnv();
    await services.stop();
  }
}

/** createApp, or the reason (c) cannot run yet: the API is written alongside these benchmarks. */
async function loadCreateApp(): Promise<((deps: ApiDeps) => Koa<any>) | string> {
  try {
    const app: Record<string, unknown> = await import('../src/api/app');
    if (typeof app.createApp !== 'function') return 'src/api/app.ts does not export createApp yet';
    return app.createApp as (deps: ApiDeps) => Koa<any>;
  } catch (error) {
    return `src/api/app.ts could not be loaded: ${(error as Error).message.split('\n')[0]}`;
  }
}

/** REFUNDS subscriptions, each refunded by its own subscriber through POST /api/refunds/pro-rata. */
async function requestRefunds(stack: RefundStack, baseUrl: string): Promise<string[]> {
  return Promise.all(
    Array.from({ length: REFUNDS }, async (_, i) => {
      const userId = `bench-user-${i}`;
      const { subscriptionId } = await stack.insertSubscription({ userId });
      const token = await mintToken(stack.config.auth.jwtSecret, { sub: userId, role: 'user' }, '10m');
      const response = await fetch(`${baseUrl}${REFUNDS_PATH}`, {
        method: 'POST',
        headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
        body: JSON.stringify({ subscriptionId, reason: 'bench' }),
      });
      const body = (await response.json()) as { refundId?: string };
      if (response.status !== 202 || !body.refundId) throw new Error(`POST ${REFUNDS_PATH} answered ${response.status}: ${JSON.stringify(body)}`);
      return body.refundId;
    }),
  );
}

async function measure(baseUrl: string, token: string, endpoint: Endpoint, connections: number): Promise<Measured> {
  const result = await autocannon({
    url: baseUrl,
    connections,
    duration: RUN_SECONDS,
    workers: 1,
    headers: { authorization: `Bearer ${token}` },
    requests: endpoint.paths.map((path) => ({ method: 'GET' as const, path })),
  });
  const answered = result['1xx'] + result['2xx'] + result['3xx'] + result['4xx'] + result['5xx'];
  return { p50: result.latency.p50, p99: result.latency.p99, rps: answered / result.duration, non2xx: result.non2xx, errors: result.errors };
}

function versusTarget(p99: number): string {
  return p99 < API_TARGET_MS ? `${times(API_TARGET_MS / Math.max(p99, 1))} under` : `${times(p99 / API_TARGET_MS)} OVER`;
}

function fmt(ms: number): string {
  return ms >= 100 ? ms.toFixed(0) : ms.toFixed(1);
}
