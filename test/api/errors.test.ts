import { Client, Connection as TemporalConnection } from '@temporalio/client';
import mongoose from 'mongoose';
import { Types } from 'mongoose';
import { freePort } from '../../src/dev/processes';
import { SweepControl } from '../../src/sweep/schedule';
import { newRefundId, refundPolicySettings, RefundWorkflowClient } from '../../src/temporal/refund-client';
import { refundView } from '../support/fixtures';
import { startApiStack, type ApiStack } from './support/api-stack';
import { startTcpProxy } from './support/tcp-proxy';
import { connectProvider } from '../../src/chain/treasury';
import { TreasuryMonitor } from '../../src/payout/treasury-monitor';
import { startRpcProxy } from '../support/rpc-proxy';
import { waitFor } from '../support/wait';

/** Every failure has its code and status, and the one error shape; outages are 503s, never bare 500s. */
describe('HTTP errors', () => {
  let api: ApiStack;
  let admin: string;
  let user: string;
  const userId = 'errors-user';

  beforeAll(async () => {
    api = await startApiStack({ worker: false });
    admin = await api.token('errors-admin', 'admin');
    user = await api.token(userId, 'user');
  }, 120_000);
  afterAll(async () => {
    await api?.close();
  });

  const expectError = (response: { status: number; body: any; headers: Headers }, status: number, code: string) => {
    expect({ status: response.status, code: response.body?.error?.code }).toEqual({ status, code });
    expect(typeof response.body.error.message).toBe('string');
    expect(response.body.error).toHaveProperty('details');
    expect(response.body.error.requestId).toBe(response.headers.get('x-request-id'));
  };

  describe('requests the API cannot read', () => {
    test('malformed JSON -> 400 MALFORMED_JSON', async () => {
      const response = await api.request('POST', '/api/refunds/pro-rata/calculate', { token: user, raw: '{"subscriptionId": ' });
      expectError(response, 400, 'MALFORMED_JSON');
    });

    test('a body over 16 KiB -> 413 PAYLOAD_TOO_LARGE, with or without Content-Length', async () => {
      const big = JSON.stringify({ subscriptionId: 'a'.repeat(24), reason: 'x'.repeat(17 * 1024) });
      expectError(await api.request('POST', '/api/refunds/pro-rata', { token: user, raw: big }), 413, 'PAYLOAD_TOO_LARGE');

      const chunked = await fetch(`${api.url}/api/refunds/pro-rata`, {
        method: 'POST',
        headers: { authorization: `Bearer ${user}`, 'content-type': 'application/json' },
        body: new Blob([big]).stream(),
        duplex: 'half',
      } as RequestInit);
      expect(chunked.status).toBe(413);
      expect(((await chunked.json()) as { error: { code: string } }).error.code).toBe('PAYLOAD_TOO_LARGE');
    });

    test('a body that is not application/json -> 415', async () => {
      const response = await api.request('POST', '/api/refunds/pro-rata/calculate', { token: user, raw: 'subscriptionId=abc', headers: { 'content-type': 'application/x-www-form-urlencoded' } });
      expectError(response, 415, 'UNSUPPORTED_MEDIA_TYPE');
    });

    test('zod validation -> 400 VALIDATION_ERROR with field paths', async () => {
      const missing = await api.request('POST', '/api/refunds/pro-rata/calculate', { token: user, body: {} });
      expectError(missing, 400, 'VALIDATION_ERROR');
      expect(missing.body.error.details).toEqual([{ path: 'body.subscriptionId', message: expect.any(String) }]);

      const notAnObject = await api.request('POST', '/api/refunds/pro-rata/calculate', { token: user, body: ['x'] });
      expectError(notAnObject, 400, 'VALIDATION_ERROR');

      const badReason = await api.request('POST', '/api/refunds/pro-rata', { token: user, body: { subscriptionId: 'nope', reason: 42 } });
      expect(badReason.body.error.details.map((detail: { path: string }) => detail.path).sort()).toEqual(['body.reason', 'body.subscriptionId']);
    });

    test('malformed ids -> 400; unknown ids -> 404', async () => {
      const badSubscription = await api.request('GET', '/api/refunds/pro-rata/eligibility/not-an-object-id', { token: user });
      expectError(badSubscription, 400, 'VALIDATION_ERROR');
      expect(badSubscription.body.error.details[0].path).toBe('params.subscriptionId');
      expectError(await api.request('POST', '/api/refunds/pro-rata/calculate', { token: user, body: { subscriptionId: '12345' } }), 400, 'VALIDATION_ERROR');
      expectError(await api.request('GET', '/api/refunds/pro-rata/rf_123', { token: admin }), 400, 'VALIDATION_ERROR');
      expectError(await api.request('POST', '/api/refunds/pro-rata/not-a-refund/approve', { token: admin }), 400, 'VALIDATION_ERROR');

      const unknownSubscription = new Types.ObjectId().toHexString();
      expectError(await api.request('GET', `/api/refunds/pro-rata/eligibility/${unknownSubscription}`, { token: user }), 404, 'SUBSCRIPTION_NOT_FOUND');
      expectError(await api.request('POST', '/api/refunds/pro-rata', { token: user, body: { subscriptionId: unknownSubscription } }), 404, 'SUBSCRIPTION_NOT_FOUND');
      const unknownRefund = newRefundId();
      expectError(await api.request('GET', `/api/refunds/pro-rata/${unknownRefund}`, { token: admin }), 404, 'REFUND_NOT_FOUND');
      for (const decision of ['approve', 'reject', 'retry']) {
        expectError(await api.request('POST', `/api/refunds/pro-rata/${unknownRefund}/${decision}`, { token: admin, body: { reason: 'r' } }), 404, 'REFUND_NOT_FOUND');
      }
      expectError(await api.request('POST', `/api/refunds/pro-rata/${unknownRefund}/cancel`, { token: user }), 404, 'REFUND_NOT_FOUND');
    });

    test('a NUL character in any text -> 400 VALIDATION_ERROR, never a 500 or a stuck record write (the store cannot keep it)', async () => {
      const refund = newRefundId();
      const withNul = 'why\u0000not';
      const expectNulRefused = async (response: { status: number; body: any; headers: Headers }, path: string) => {
        expectError(response, 400, 'VALIDATION_ERROR');
        expect(response.body.error.details).toEqual([{ path, message: expect.stringMatching(/NUL/) }]);
      };
      await expectNulRefused(await api.request('GET', `/api/refunds/pro-rata/search?q=${encodeURIComponent(withNul)}`, { token: admin }), 'query.q');
      await expectNulRefused(await api.request('POST', `/api/refunds/pro-rata/${refund}/reject`, { token: admin, body: { reason: withNul } }), 'body.reason');
      await expectNulRefused(await api.request('POST', `/api/refunds/pro-rata/${refund}/approve`, { token: admin, body: { note: withNul } }), 'body.note');
      await expectNulRefused(await api.request('POST', `/api/refunds/pro-rata/${refund}/retry`, { token: admin, body: { note: withNul } }), 'body.note');
      await expectNulRefused(await api.request('POST', '/api/refunds/pro-rata/sweep/pause', { token: admin, body: { note: withNul } }), 'body.note');
      await expectNulRefused(await api.request('POST', '/api/refunds/pro-rata', { token: user, body: { subscriptionId: new Types.ObjectId().toHexString(), reason: withNul } }), 'body.reason');
      await expectNulRefused(await api.request('GET', `/api/refunds/pro-rata/user/${encodeURIComponent(withNul)}`, { token: admin }), 'params.userId');
      await expectNulRefused(await api.request('GET', `/api/refunds/pro-rata/creator/${encodeURIComponent(withNul)}`, { token: admin }), 'params.creatorId');
    });

    test('an ObjectId in upper case is the same subscription', async () => {
      const { subscriptionId } = await api.insertSubscription({ userId });
      const response = await api.request('GET', `/api/refunds/pro-rata/eligibility/${subscriptionId.toUpperCase()}`, { token: user });
      expect(response.status).toBe(200);
      expect(response.body.subscriptionId).toBe(subscriptionId);
    });

    test('query validation: limit 1..100, known statuses, cursors of the documented format', async () => {
      const list = (query: string) => api.request('GET', `/api/refunds/pro-rata/user/${userId}${query}`, { token: user });
      expect((await list('?limit=100')).status).toBe(200);
      expectError(await list('?limit=101'), 400, 'VALIDATION_ERROR');
      expectError(await list('?limit=0'), 400, 'VALIDATION_ERROR');
      expectError(await list('?limit=ten'), 400, 'VALIDATION_ERROR');
      expectError(await list('?status=refunded'), 400, 'VALIDATION_ERROR');
      expectError(await list('?cursor=definitely-not-a-cursor'), 400, 'VALIDATION_ERROR');
      expectError(await api.request('GET', '/api/refunds/pro-rata/pending/all?cursor=xyz', { token: admin }), 400, 'VALIDATION_ERROR');
    });

    test('unknown routes -> 404 NOT_FOUND; wrong methods -> 405 with Allow', async () => {
      expectError(await api.request('GET', '/api/nothing-here'), 404, 'NOT_FOUND');
      expectError(await api.request('GET', '/api/refunds/pro-rata/user/a/b/c', { token: admin }), 404, 'NOT_FOUND');
      const wrongMethod = await api.request('DELETE', '/api/status');
      expectError(wrongMethod, 405, 'METHOD_NOT_ALLOWED');
      expect(wrongMethod.headers.get('allow')).toContain('GET');
    });

    test('the route table wins over /:refundId, and the create route takes a trailing slash', async () => {
      expect((await api.request('GET', '/api/refunds/pro-rata/statistics', { token: admin })).status).toBe(200);
      expect((await api.request('GET', '/api/refunds/pro-rata/pending/all', { token: admin })).status).toBe(200);
      const withSlash = await api.request('POST', '/api/refunds/pro-rata/', { token: user, body: {} });
      expectError(withSlash, 400, 'VALIDATION_ERROR');
    });
  });

  describe('subscriptions that cannot be refunded', () => {
    test('a malformed stored subscription -> 422 INVALID_SUBSCRIPTION', async () => {
      const { subscriptionId } = await api.insertSubscription({ userId, amountPaid: '1.5' });
      expectError(await api.request('POST', '/api/refunds/pro-rata/calculate', { token: user, body: { subscriptionId } }), 422, 'INVALID_SUBSCRIPTION');
      expectError(await api.request('POST', '/api/refunds/pro-rata', { token: user, body: { subscriptionId } }), 422, 'INVALID_SUBSCRIPTION');
    });

    test('ineligible -> preview says why (200); a request is refused with the same reason codes (422 NOT_ELIGIBLE)', async () => {
      const { subscriptionId } = await api.insertSubscription({ userId, refundEligible: false, isRefundApplied: true });
      const preview = await api.request('POST', '/api/refunds/pro-rata/calculate', { token: user, body: { subscriptionId } });
      expect(preview.status).toBe(200);
      expect(preview.body).toMatchObject({ eligible: false, reasons: ['NOT_REFUND_ELIGIBLE', 'REFUND_ALREADY_APPLIED'] });
      const refused = await api.request('POST', '/api/refunds/pro-rata', { token: user, body: { subscriptionId } });
      expectError(refused, 422, 'NOT_ELIGIBLE');
      expect(refused.body.error.details).toEqual({ reasons: ['NOT_REFUND_ELIGIBLE', 'REFUND_ALREADY_APPLIED'] });
    });
  });

  describe('HTTP hygiene', () => {
    test('security headers and a request id on every answer', async () => {
      const response = await api.request('GET', '/api/status');
      expect(response.headers.get('x-content-type-options')).toBe('nosniff');
      expect(response.headers.get('x-frame-options')).toBe('DENY');
      expect(response.headers.get('referrer-policy')).toBe('no-referrer');
      expect(response.headers.get('content-security-policy')).toContain("default-src 'none'");
      expect(response.headers.get('strict-transport-security')).toBeNull(); // NODE_ENV=test: no HSTS
      expect(response.headers.get('x-request-id')).toMatch(/^[0-9a-f-]{36}$/);
      expect(response.headers.get('access-control-allow-origin')).toBeNull(); // CORS_ORIGINS empty: no CORS

      const adopted = await api.request('GET', '/api/nothing', { headers: { 'x-request-id': 'trace-1234.abc' } });
      expect(adopted.headers.get('x-request-id')).toBe('trace-1234.abc');
      expect(adopted.body.error.requestId).toBe('trace-1234.abc');
      const replaced = await api.request('GET', '/api/status', { headers: { 'x-request-id': 'bad id with spaces' } });
      expect(replaced.headers.get('x-request-id')).not.toBe('bad id with spaces');
    });

    test('HSTS in production; CORS only for configured origins', async () => {
      const production = await api.app({ config: { ...api.config, nodeEnv: 'production', corsOrigins: ['https://app.example.com'] } });
      const plain = await production.request('GET', '/api/status');
      expect(plain.headers.get('strict-transport-security')).toContain('max-age=');

      const preflight = await production.request('OPTIONS', '/api/refunds/pro-rata', {
        headers: { origin: 'https://app.example.com', 'access-control-request-method': 'POST', 'access-control-request-headers': 'authorization,content-type,idempotency-key' },
      });
      expect(preflight.status).toBe(204);
      expect(preflight.headers.get('access-control-allow-origin')).toBe('https://app.example.com');
      expect(preflight.headers.get('access-control-allow-headers')).toMatch(/Idempotency-Key/i);

      const stranger = await production.request('GET', '/api/status', { headers: { origin: 'https://evil.example' } });
      expect(stranger.headers.get('access-control-allow-origin')).toBeNull();
      const friend = await production.request('GET', '/api/status', { headers: { origin: 'https://app.example.com' } });
      expect(friend.headers.get('access-control-allow-origin')).toBe('https://app.example.com');
    });

    test('an unexpected failure -> 500 INTERNAL_ERROR without its message', async () => {
      const failing = Object.create(api.refundClient) as RefundWorkflowClient;
      failing.state = async () => {
        throw new Error('connection string mongodb://admin:hunter2@db');
      };
      const broken = await api.app({ refundClient: failing });
      const { doc } = await api.insertSubscription({ userId });
      const refundId = newRefundId();
      // Processing: its record can be behind, so the read asks the (failing) workflow.
      await api.refunds.create(refundView({ refundId, refundStatus: 'processing' }, doc), null);
      const response = await broken.request('GET', `/api/refunds/pro-rata/${refundId}`, { token: admin });
      expectError(response, 500, 'INTERNAL_ERROR');
      expect(response.text).not.toContain('hunter2');
    });
  });

  describe('decisions the refund refuses', () => {
    test('a retry of a payout that must not be retried -> 409 REFUND_NOT_RETRYABLE with the failure code', async () => {
      const { doc } = await api.insertSubscription({ userId });
      const refundId = newRefundId();
      await api.refunds.create(
        refundView({ refundId, refundStatus: 'failed', failureCode: 'PayoutAmountMismatch', retryable: false, failureReason: 'PayoutAmountMismatch: delivered 99 instead of 100' }, doc),
        null,
      );
      const response = await api.request('POST', `/api/refunds/pro-rata/${refundId}/retry`, { token: admin, body: {} });
      expectError(response, 409, 'REFUND_NOT_RETRYABLE');
      expect(response.body.error.details).toEqual({ refundStatus: 'failed', failureCode: 'PayoutAmountMismatch' });
      expect(response.body.error.message).toContain('delivered 99 instead of 100');
    });
  });

  describe('dependencies down', () => {
    test('Temporal unreachable -> 503 TEMPORAL_UNAVAILABLE; /api/status says so; Mongo-only reads still work', async () => {
      const deadAddress = `127.0.0.1:${await freePort()}`;
      // Refund calls retry until their deadline (the production path: DEADLINE_EXCEEDED); the sweep's client does not
      // retry at all (UNAVAILABLE at once), so its describe call ends before the connection is closed.
      const connection = TemporalConnection.lazy({ address: deadAddress });
      const noRetries = TemporalConnection.lazy({ address: deadAddress, interceptors: [] });
      const client = new Client({ connection, namespace: api.config.temporal.namespace });
      const refundClient = new RefundWorkflowClient(client, { ...refundPolicySettings(api.config), callTimeoutMs: 800 });
      const sweep = new SweepControl(new Client({ connection: noRetries, namespace: api.config.temporal.namespace }), api.mongo, {
        taskQueue: api.config.temporal.taskQueue,
        intervalMs: 3_600_000,
      });
      const noTemporal = await api.app({ refundClient, sweep });
      try {
        const { doc, subscriptionId } = await api.insertSubscription({ userId });
        const requested = await noTemporal.request('POST', '/api/refunds/pro-rata', { token: user, body: { subscriptionId } });
        expectError(requested, 503, 'TEMPORAL_UNAVAILABLE');
        expect(requested.headers.get('retry-after')).toBe('5');

        const refundId = newRefundId();
        await api.refunds.create(refundView({ refundId }, doc), null);
        // A refund waiting for a decision is read from its record, which cannot be behind: Temporal is not asked.
        const waiting = await noTemporal.request('GET', `/api/refunds/pro-rata/${refundId}`, { token: admin });
        expect(waiting.status).toBe(200);
        expect(waiting.body).toMatchObject({ refundId, refundStatus: 'pending_approval' });
        expectError(await noTemporal.request('POST', `/api/refunds/pro-rata/${refundId}/approve`, { token: admin }), 503, 'TEMPORAL_UNAVAILABLE');
        const moving = newRefundId();
        await api.refunds.create(refundView({ refundId: moving, refundStatus: 'approved' }, doc), null);
        expectError(await noTemporal.request('GET', `/api/refunds/pro-rata/${moving}`, { token: admin }), 503, 'TEMPORAL_UNAVAILABLE');

        const status = await noTemporal.request('GET', '/api/status');
        expect(status.status).toBe(503);
        expect(status.body).toMatchObject({ status: 'degraded', temporal: { reachable: false }, mongo: { reachable: true }, proRataRefunds: { temporalReachable: false, mongoReachable: true } });
        expect(status.body.proRataRefunds.counts.pending_approval).toBeGreaterThanOrEqual(1);
        expect(status.body.proRataRefunds.schedule.error).toEqual(expect.any(String));

        const eligibility = await noTemporal.request('GET', `/api/refunds/pro-rata/eligibility/${subscriptionId}`, { token: user });
        expect(eligibility.status).toBe(200);
      } finally {
        await Promise.all([connection.close(), noRetries.close()]);
      }
    });

    test('the chain RPC frozen -> /api/status answers within its deadline, degraded, chain unreachable; payouts are not the API\'s to serve', async () => {
      const proxy = await startRpcProxy(api.config.chain.providerUrl);
      const provider = connectProvider(proxy.url, api.treasury.chainId, 100);
      const treasury = new TreasuryMonitor({ provider, chainId: api.treasury.chainId, ledger: api.ledger, store: api.treasuryStore, lowBalance: [], ttlMs: 0 });
      try {
        const watched = await api.app({ treasury });
        const healthy = await watched.request('GET', '/api/status');
        expect(healthy.body).toMatchObject({ status: 'ok', chain: { reachable: true, chainId: 31337 }, treasury: { address: api.treasury.address, nonceGap: false } });
        expect(healthy.body.treasury.balances).toEqual(expect.arrayContaining([expect.objectContaining({ currency: expect.objectContaining({ tokenAddress: null }), amount: expect.stringMatching(/^\d+$/) })]));

        proxy.freeze(true);
        // Each answer comes at once (the probes are cached for 1 s and refreshed behind the answer); within a few
        // seconds they say the chain is unreachable.
        const answers: { ms: number; status: number }[] = [];
        const frozen = await waitFor(
          async () => {
            const started = Date.now();
            const answer = await watched.request('GET', '/api/status');
            answers.push({ ms: Date.now() - started, status: answer.status });
            return answer;
          },
          { until: (answer) => answer.body?.chain?.reachable === false, what: '/api/status to say the chain is unreachable', timeoutMs: 15_000, intervalMs: 300 },
        );
        expect(Math.max(...answers.map((answer) => answer.ms))).toBeLessThan(3_000);
        expect(answers.map((answer) => answer.status)).toEqual(answers.map(() => 200)); // the API itself serves; payouts wait
        expect(frozen.body).toMatchObject({ status: 'degraded', chain: { reachable: false, blockNumber: null } });
        const metrics = await watched.request('GET', '/metrics');
        expect(metrics.text).toMatch(/^proratarefund_chain_up 0$/m);
      } finally {
        proxy.freeze(false);
        provider.destroy();
        await proxy.close();
      }
    });

    test('MongoDB unreachable -> 503 MONGO_UNAVAILABLE; /api/status says so; /metrics still answers', async () => {
      const uri = new URL(api.config.db.uri);
      const proxy = await startTcpProxy({ host: uri.hostname, port: Number(uri.port) });
      uri.host = `127.0.0.1:${proxy.port}`;
      const mongo = await mongoose.createConnection(uri.toString(), { serverSelectionTimeoutMS: 1_000, autoIndex: false, autoCreate: false }).asPromise();
      try {
        const noMongo = await api.app({ mongo });
        expect((await noMongo.request('GET', '/api/refunds/pro-rata/statistics', { token: admin })).status).toBe(200);
        await proxy.cut();

        expectError(await noMongo.request('GET', '/api/refunds/pro-rata/statistics', { token: admin }), 503, 'MONGO_UNAVAILABLE');
        expectError(await noMongo.request('GET', `/api/refunds/pro-rata/user/${userId}`, { token: user }), 503, 'MONGO_UNAVAILABLE');
        expectError(await noMongo.request('GET', `/api/refunds/pro-rata/${newRefundId()}`, { token: admin }), 503, 'MONGO_UNAVAILABLE');

        const status = await noMongo.request('GET', '/api/status');
        expect(status.status).toBe(503);
        expect(status.body).toMatchObject({ status: 'degraded', temporal: { reachable: true }, mongo: { reachable: false }, proRataRefunds: { counts: null, mongoReachable: false } });

        const metrics = await noMongo.request('GET', '/metrics');
        expect(metrics.status).toBe(200);
        expect(metrics.text).toMatch(/^proratarefund_metrics_source_up 0$/m);
        expect(metrics.text).toContain('http_request_duration_seconds');
      } finally {
        await mongo.close().catch(() => undefined);
      }
    });
  });
});
