import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { runSmokeChecks, type CheckResult } from '../../src/cli/smoke';

/**
 * The smoke checks against a small stand-in server (no database, no Temporal):
 * what passes, what fails, and that an empty pending list is a skip.
 */

type Routes = Record<string, (authorized: boolean) => { status: number; body: unknown; type?: string }>;

const METRICS = [
  'proratarefund_refunds_total 1',
  'proratarefund_refunds_status{status="pending_approval"} 1',
  'proratarefund_scheduler_runs_total 4',
  'proratarefund_scheduler_duration_seconds_sum 0.2',
].join('\n');

const REFUND = { refundId: 'rf_1', refundStatus: 'pending_approval', amount: '500000000000000000', amountFormatted: '0.5', currency: { symbol: 'ETH' } };

function healthyRoutes(pending: unknown[] = [REFUND]): Routes {
  const admin = (body: unknown) => (authorized: boolean) => (authorized ? { status: 200, body } : { status: 401, body: { error: { code: 'UNAUTHENTICATED', message: 'send a token' } } });
  return {
    '/api/status': () => ({ status: 200, body: { status: 'ok', proRataRefunds: { temporalReachable: true, mongoReachable: true } } }),
    '/api/refunds/pro-rata/statistics': admin({ byStatus: { pending_approval: 1, completed: 2 }, totals: [] }),
    '/metrics': () => ({ status: 200, body: METRICS, type: 'text/plain' }),
    '/api/refunds/pro-rata/pending/all': admin({ items: pending, nextCursor: null }),
    '/api/refunds/pro-rata/rf_1': admin(REFUND),
    '/api/docs/openapi.json': () => ({ status: 200, body: { openapi: '3.1.0', paths: { '/api/status': {} } } }),
  };
}

async function withServer<T>(routes: Routes, use: (baseUrl: string) => Promise<T>): Promise<T> {
  const server = http.createServer((req, res) => {
    const route = routes[new URL(req.url!, 'http://x').pathname];
    const answer = route ? route(req.headers.authorization === 'Bearer admin-token') : { status: 404, body: { error: { code: 'NOT_FOUND', message: 'no route' } } };
    const text = typeof answer.body === 'string' ? answer.body : JSON.stringify(answer.body);
    res.writeHead(answer.status, { 'content-type': answer.type ?? 'application/json' }).end(text);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  try {
    return await use(`http://127.0.0.1:${(server.address() as AddressInfo).port}`);
  } finally {
    await new Promise((resolve) => server.close(resolve));
  }
}

const outcomes = (results: CheckResult[]) => Object.fromEntries(results.map((result) => [result.name, result.outcome]));
const smoke = (routes: Routes, token = 'admin-token') => withServer(routes, (baseUrl) => runSmokeChecks({ baseUrl, token, timeoutMs: 2000 }));

test('a healthy deployment passes every check, reading the oldest pending refund', async () => {
  const results = await smoke(healthyRoutes());
  expect(results.every((result) => result.outcome === 'pass')).toBe(true);
  expect(results.map((result) => result.name)).toEqual([
    'GET /api/status',
    'GET /api/refunds/pro-rata/statistics without a token',
    'GET /api/refunds/pro-rata/statistics',
    'GET /metrics',
    'GET /api/refunds/pro-rata/pending/all',
    'GET /api/refunds/pro-rata/:refundId',
    'GET /api/docs/openapi.json',
  ]);
  expect(results[5]!.detail).toContain('rf_1 is pending_approval, amount 0.5 ETH');
});

test('nothing pending: the refund read is skipped, not failed', async () => {
  const results = await smoke(healthyRoutes([]));
  expect(outcomes(results)['GET /api/refunds/pro-rata/:refundId']).toBe('skip');
  expect(results.find((result) => result.outcome === 'skip')!.detail).toMatch(/no refund to read/);
  expect(results.filter((result) => result.outcome === 'fail')).toEqual([]);
});

test('an unreachable dependency, a missing metric and a rejected token each fail their check', async () => {
  const routes = healthyRoutes();
  routes['/api/status'] = () => ({ status: 503, body: { status: 'degraded', proRataRefunds: { temporalReachable: false, mongoReachable: true } } });
  routes['/metrics'] = () => ({ status: 200, body: 'proratarefund_refunds_total 1\n', type: 'text/plain' });
  const results = await smoke(routes, 'wrong-token');
  const byName = Object.fromEntries(results.map((result) => [result.name, result]));
  expect(byName['GET /api/status']).toMatchObject({ outcome: 'fail', detail: '503, temporal UNREACHABLE, mongo reachable' });
  expect(byName['GET /metrics']!.detail).toMatch(/missing proratarefund_refunds_status, proratarefund_scheduler_runs_total, proratarefund_scheduler_duration_seconds/);
  expect(byName['GET /api/refunds/pro-rata/statistics']).toMatchObject({ outcome: 'fail', detail: '401 UNAUTHENTICATED: send a token' });
  expect(byName['GET /api/refunds/pro-rata/:refundId']!.outcome).toBe('skip');
});

test('no server at all: every check fails with the network reason', async () => {
  const closedPort = await withServer({}, async (baseUrl) => new URL(baseUrl).port); // listened on, then closed
  const results = await runSmokeChecks({ baseUrl: `http://127.0.0.1:${closedPort}`, token: 't', timeoutMs: 2000 });
  expect(results.filter((result) => result.outcome === 'fail').length).toBe(results.length - 1);
  expect(results[0]!.detail).toBe('ECONNREFUSED');
});

test('a server that does not enforce auth fails the no-token check', async () => {
  const routes = healthyRoutes();
  routes['/api/refunds/pro-rata/statistics'] = () => ({ status: 200, body: { byStatus: {}, totals: [] } });
  const results = await smoke(routes);
  expect(outcomes(results)['GET /api/refunds/pro-rata/statistics without a token']).toBe('fail');
});
