import type Router from '@koa/router';
import { createApp } from '../../src/api/app';
import { ERROR_CODES } from '../../src/api/errors';
import { HealthSchema, RefundPageSchema, StatisticsSchema } from '../../src/api/schemas';
import type { Refund } from '../../src/domain/refund';
import type { RefundStatus } from '../../src/domain/refund-status';
import { REFUND_STATUSES } from '../../src/domain/refund-status';
import { ensureSweepSchedule } from '../../src/sweep/schedule';
import { sweepRunModel } from '../../src/sweep/sweep-runs';
import { refundView, subscriptionDoc } from '../support/fixtures';
import { waitFor } from '../support/wait';
import { startApiStack, type ApiStack } from './support/api-stack';

/**
 * Lists, statistics, health, metrics, the OpenAPI document and the sweep
 * trigger, over records written straight into this file's own database (their
 * lifecycle is covered by refund-lifecycle.test.ts): exact values can be checked.
 */
describe('lists, statistics and operations', () => {
  let api: ApiStack;
  let admin: string;
  const inserted: Refund[] = [];
  let sequence = 0;

  /** Records with increasing ids, inserted one by one, so "newest first" is the reverse insertion order. */
  async function insertRefund(overrides: Partial<Refund> = {}, docOverrides: Record<string, unknown> = {}): Promise<Refund> {
    sequence += 1;
    const doc = subscriptionDoc({ userId: 'reads-user', creatorId: 'reads-creator', ...docOverrides });
    const view = refundView({ refundId: `rf_${sequence.toString(16).padStart(24, '0')}`, ...overrides }, doc);
    await api.refunds.create(view, null);
    inserted.push(view);
    return view;
  }

  beforeAll(async () => {
    api = await startApiStack({ worker: false });
    admin = await api.token('reads-admin', 'admin');
    const token = { symbol: 'USDC', decimals: 6, tokenAddress: '0x5FbDB2315678afecb367f032d93F642f64180aa3' };
    await insertRefund({ refundStatus: 'completed', amount: '123456789012345678901234567890', processingTimeMs: 1_000 });
    await insertRefund({ refundStatus: 'completed', amount: '987654321098765432109876543210', processingTimeMs: 3_000 });
    await insertRefund({ refundStatus: 'completed', amount: '2500000', currency: token, processingTimeMs: 5_000 }, { currency: token, amountPaid: '10000000' });
    await insertRefund({ refundStatus: 'failed', failureReason: 'InsufficientFunds: top up' });
    await insertRefund({ refundStatus: 'rejected' });
    await insertRefund({ refundStatus: 'pending_approval', requestedAt: new Date(Date.now() - 60_000).toISOString() });
    await insertRefund({ refundStatus: 'pending_approval' });
    await insertRefund({ refundStatus: 'cancelled' }, { userId: 'reads-other-user', creatorId: 'reads-other-creator' });
  }, 120_000);
  afterAll(async () => {
    await api?.removeSweepSchedule();
    await api?.close();
  });

  const ids = (items: Refund[]) => items.map((item) => item.refundId);
  const newestFirst = (filter: (view: Refund) => boolean) => ids(inserted.filter(filter).reverse());

  async function allPages(path: string, limit: number): Promise<{ pages: number; items: Refund[] }> {
    const items: Refund[] = [];
    let cursor: string | null = null;
    let pages = 0;
    do {
      const separator = path.includes('?') ? '&' : '?';
      const response: { status: number; body: any } = await api.request('GET', `${path}${separator}limit=${limit}${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`, { token: admin });
      expect(response.status).toBe(200);
      RefundPageSchema.parse(response.body);
      expect(response.body.items.length).toBeLessThanOrEqual(limit);
      items.push(...response.body.items);
      cursor = response.body.nextCursor;
      pages += 1;
    } while (cursor);
    return { pages, items };
  }

  test('GET /user/:userId: the user\'s refunds newest first, page by page, filterable by status', async () => {
    const { pages, items } = await allPages('/api/refunds/pro-rata/user/reads-user', 3);
    expect(ids(items)).toEqual(newestFirst((view) => view.userId === 'reads-user'));
    expect(pages).toBe(3);

    const asUser = await api.request('GET', '/api/refunds/pro-rata/user/reads-user?status=completed', { token: await api.token('reads-user', 'user') });
    expect(asUser.status).toBe(200);
    expect(ids(asUser.body.items)).toEqual(newestFirst((view) => view.userId === 'reads-user' && view.refundStatus === 'completed'));
    expect(asUser.body.nextCursor).toBeNull();
    expect(asUser.body.items[0]).toMatchObject({ amount: expect.any(String), breakdown: expect.any(Object), statusHistory: expect.any(Array) });
  });

  test('GET /creator/:creatorId: refunds against the creator, filtered by status', async () => {
    const token = await api.token('reads-creator', 'creator');
    const all = await api.request('GET', '/api/refunds/pro-rata/creator/reads-creator?limit=100', { token });
    expect(ids(all.body.items)).toEqual(newestFirst((view) => view.creatorId === 'reads-creator'));
    const pending = await api.request('GET', '/api/refunds/pro-rata/creator/reads-creator?status=pending_approval', { token });
    expect(ids(pending.body.items)).toEqual(newestFirst((view) => view.creatorId === 'reads-creator' && view.refundStatus === 'pending_approval'));
    const defaultPage = await api.request('GET', '/api/refunds/pro-rata/creator/reads-creator', { token });
    expect(defaultPage.body.items.length).toBe(Math.min(20, inserted.filter((view) => view.creatorId === 'reads-creator').length));
  });

  test('GET /pending/all: refunds awaiting approval, oldest first', async () => {
    const { items } = await allPages('/api/refunds/pro-rata/pending/all', 1);
    expect(ids(items)).toEqual(ids(inserted.filter((view) => view.refundStatus === 'pending_approval')));
  });

  test('GET /statistics: exact counts, bigint totals per token, processing time, success rate, sweep', async () => {
    const response = await api.request('GET', '/api/refunds/pro-rata/statistics', { token: admin });
    expect(response.status).toBe(200);
    StatisticsSchema.parse(response.body);
    const count = (status: RefundStatus) => inserted.filter((view) => view.refundStatus === status).length;
    expect(response.body.byStatus).toEqual(Object.fromEntries(REFUND_STATUSES.map((status) => [status, count(status)])));

    const completed = inserted.filter((view) => view.refundStatus === 'completed');
    const eth = completed.filter((view) => view.currency.symbol === 'ETH');
    const ethTotal = eth.reduce((sum, view) => sum + BigInt(view.amount), 0n);
    expect(ethTotal).toBe(1111111110111111111011111111100n);
    expect(response.body.totals).toEqual(
      expect.arrayContaining([
        { currency: { symbol: 'ETH', decimals: 18, tokenAddress: null }, amount: ethTotal.toString(), amountFormatted: '1111111110111.1111110111111111', count: 2 },
        { currency: { symbol: 'USDC', decimals: 6, tokenAddress: '0x5FbDB2315678afecb367f032d93F642f64180aa3' }, amount: '2500000', amountFormatted: '2.5', count: 1 },
      ]),
    );
    expect(response.body.totals).toHaveLength(2);
    expect(response.body.avgProcessingTime).toBe(3_000);
    expect(response.body.successRate).toBe(3 / 4);
    expect(response.body.pendingCount).toBe(2);
    expect(response.body.oldestPendingAgeMs).toBeGreaterThanOrEqual(60_000);
    expect(response.body.sweep).toMatchObject({ scheduleId: api.sweep.scheduleId });
  });

  test('POST /trigger: runs the sweep schedule now (202)', async () => {
    const missing = await api.request('POST', '/api/refunds/pro-rata/trigger', { token: admin });
    expect(missing.status).toBe(503);
    expect(missing.body.error.code).toBe('SWEEP_SCHEDULE_MISSING');

    await ensureSweepSchedule(api.client, { taskQueue: api.config.temporal.taskQueue, intervalMs: 3_600_000 });
    const response = await api.request('POST', '/api/refunds/pro-rata/trigger', { token: admin });
    expect(response.status).toBe(202);
    expect(response.body).toEqual({ triggered: true, scheduleId: api.sweep.scheduleId });
    const handle = api.client.schedule.getHandle(api.sweep.scheduleId);
    await waitFor(() => handle.describe(), { until: (description) => description.info.recentActions.length > 0, what: 'the triggered sweep to start' });
  });

  test('GET /api/status: 200 with reachability, schedule and counts', async () => {
    const response = await api.request('GET', '/api/status');
    expect(response.status).toBe(200);
    HealthSchema.parse(response.body);
    expect(response.body).toMatchObject({
      status: 'ok',
      temporal: { reachable: true, namespace: api.config.temporal.namespace, taskQueue: api.config.temporal.taskQueue },
      mongo: { reachable: true },
      proRataRefunds: { temporalReachable: true, mongoReachable: true, schedule: { scheduleId: api.sweep.scheduleId } },
    });
    expect(response.body.proRataRefunds.counts.completed).toBe(3);
  });

  test('GET /metrics: refund and scheduler metrics read from MongoDB, HTTP latency and errors', async () => {
    const sweepRuns = sweepRunModel(api.mongo);
    const run = (id: string, durationMs: number) => ({ _id: id, startedAt: new Date(), finishedAt: new Date(), durationMs, found: 0, started: 0, skipped: 0, reconciled: 0, errors: 0, errorSamples: [] });
    await sweepRuns.create([run('sweep-a', 1_500), run('sweep-b', 2_500), run('sweep-c', 500)]);
    await api.request('GET', '/api/refunds/pro-rata/statistics', { token: await api.token('nobody', 'user') }); // one 403

    const response = await api.request('GET', '/metrics');
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toMatch(/^text\/plain/);
    const metrics = response.text;
    expect(metrics).toMatch(new RegExp(`^proratarefund_refunds_total ${inserted.length}$`, 'm'));
    for (const status of REFUND_STATUSES) {
      expect(metrics).toMatch(new RegExp(`^proratarefund_refunds_status\\{status="${status}"\\} ${inserted.filter((view) => view.refundStatus === status).length}$`, 'm'));
    }
    expect(metrics).toMatch(/^proratarefund_scheduler_runs_total 3$/m);
    expect(metrics).toMatch(/^proratarefund_scheduler_duration_seconds_count 3$/m);
    expect(metrics).toMatch(/^proratarefund_scheduler_duration_seconds_sum 4\.5$/m);
    expect(metrics).toMatch(/^proratarefund_scheduler_duration_seconds_bucket\{le="1"\} 1$/m);
    expect(metrics).toMatch(/^proratarefund_metrics_source_up 1$/m);
    const oldestPendingAge = Number(/^proratarefund_oldest_pending_age_seconds (\S+)$/m.exec(metrics)?.[1]);
    const pending = inserted.filter((view) => view.refundStatus === 'pending_approval');
    if (pending.length > 0) {
      const oldest = Math.min(...pending.map((view) => Date.parse(view.requestedAt)));
      expect(oldestPendingAge).toBeGreaterThanOrEqual((Date.now() - oldest) / 1000 - 60);
      expect(oldestPendingAge).toBeGreaterThan(0);
    } else {
      expect(oldestPendingAge).toBe(0);
    }
    expect(metrics).toMatch(/^http_request_duration_seconds_count\{method="GET",route="\/api\/refunds\/pro-rata\/statistics",status="200"\} \d+$/m);
    expect(metrics).toMatch(/^http_errors_total\{code="FORBIDDEN"\} [1-9]\d*$/m);

    // A second scrape reports the same values (counters are rebuilt from the store, not accumulated).
    const again = await api.request('GET', '/metrics');
    expect(again.text).toMatch(/^proratarefund_scheduler_runs_total 3$/m);
    expect(again.text).toMatch(new RegExp(`^proratarefund_refunds_total ${inserted.length}$`, 'm'));
  });

  describe('OpenAPI document', () => {
    let document: any;
    beforeAll(async () => {
      const response = await api.request('GET', '/api/docs/openapi.json');
      expect(response.status).toBe(200);
      document = response.body;
    });

    test('is structurally valid OpenAPI 3.1', () => {
      expect(document.openapi).toMatch(/^3\.1\.\d+$/);
      expect(document.info).toMatchObject({ title: expect.any(String), version: expect.any(String) });
      expect(document.components.securitySchemes.bearerAuth).toMatchObject({ type: 'http', scheme: 'bearer' });
      const methods = ['get', 'put', 'post', 'delete', 'options', 'head', 'patch', 'trace'];
      const operationIds = new Set<string>();
      for (const [path, item] of Object.entries<Record<string, any>>(document.paths)) {
        expect(path.startsWith('/')).toBe(true);
        const pathParams = [...path.matchAll(/\{(\w+)\}/g)].map((match) => match[1]);
        for (const [method, operation] of Object.entries<any>(item)) {
          expect(methods).toContain(method);
          expect(operationIds.has(operation.operationId)).toBe(false);
          operationIds.add(operation.operationId);
          expect(Object.keys(operation.responses).some((status) => /^2\d\d$/.test(status))).toBe(true);
          for (const response of Object.values<any>(operation.responses)) expect(typeof response.description).toBe('string');
          const declared = (operation.parameters ?? []).filter((parameter: any) => parameter.in === 'path').map((parameter: any) => parameter.name);
          expect(declared.sort()).toEqual([...pathParams].sort());
          for (const parameter of operation.parameters ?? []) expect(['path', 'query', 'header', 'cookie']).toContain(parameter.in);
        }
      }
      // Every $ref points at a schema the document defines.
      const refs = [...JSON.stringify(document).matchAll(/"\$ref":"([^"]+)"/g)].map((match) => match[1]!);
      expect(refs.length).toBeGreaterThan(0);
      for (const ref of refs) {
        const [, section, name] = /^#\/components\/(schemas|headers)\/(.+)$/.exec(ref) ?? [];
        expect(section && document.components[section][name!]).toBeTruthy();
      }
      expect(document.components.schemas.Refund.required).toEqual(expect.arrayContaining(['refundId', 'refundStatus', 'amount', 'breakdown', 'statusHistory', 'transactionId', 'autoApproveAt', 'decidedBy']));
      expect(Object.keys(document['x-error-codes'])).toEqual(Object.keys(ERROR_CODES));
    });

    test('covers exactly the routes the app serves', () => {
      const app = createApp(api.deps);
      const served = app.middleware
        .flatMap((middleware) => ((middleware as { router?: Router }).router?.stack ?? []))
        .flatMap((layer) => layer.methods.filter((method) => method !== 'HEAD').map((method) => `${method.toLowerCase()} ${String(layer.path).replace(/:(\w+)/g, '{$1}')}`));
      const documented = Object.entries<Record<string, unknown>>(document.paths).flatMap(([path, item]) => Object.keys(item).map((method) => `${method} ${path}`));
      expect(served.length).toBe(20);
      expect([...served].sort()).toEqual([...documented].sort());
    });

    test('documents the request schemas the API enforces', () => {
      const create = document.paths['/api/refunds/pro-rata'].post;
      expect(create.responses['202']).toBeDefined();
      expect(create.requestBody.required).toBe(true);
      expect(document.components.schemas.CreateRefundRequest.required).toEqual(['subscriptionId']);
      const list = document.paths['/api/refunds/pro-rata/user/{userId}'].get;
      const limit = list.parameters.find((parameter: any) => parameter.name === 'limit');
      expect(limit).toMatchObject({ in: 'query', required: false, schema: { maximum: 100, minimum: 1 } });
      expect(document.paths['/api/refunds/pro-rata/{refundId}/reject'].post.requestBody.required).toBe(true);
      expect(document.paths['/api/refunds/pro-rata/{refundId}/cancel'].post.requestBody.required).toBe(false);
    });
  });
});
