import { SignJWT } from 'jose';
import { ensureSweepSchedule } from '../../src/sweep/schedule';
import { newRefundId } from '../../src/temporal/refund-client';
import { refundView } from '../support/fixtures';
import { startApiStack, type ApiStack } from './support/api-stack';

/**
 * Who may call what: every one of the 17 authenticated endpoints against every kind
 * of caller. "Allowed" means the request got past authentication and
 * authorization (any answer but 401/403); the fixtures make allowed calls
 * harmless: the refund is already completed, so decisions answer 409 and the
 * request answers REFUND_EXISTS, without touching Temporal.
 */
type CallerKind = 'noToken' | 'badToken' | 'expiredToken' | 'userOwner' | 'otherUser' | 'creatorOwner' | 'otherCreator' | 'admin';
const SIGNED_IN: CallerKind[] = ['userOwner', 'otherUser', 'creatorOwner', 'otherCreator', 'admin'];

const OWNER = 'matrix-user';
const CREATOR = 'matrix-creator';

interface Endpoint {
  name: string;
  method: 'GET' | 'POST';
  path: (ids: { subscriptionId: string; refundId: string }) => string;
  body?: (ids: { subscriptionId: string; refundId: string }) => unknown;
  allowed: CallerKind[];
}

const ENDPOINTS: Endpoint[] = [
  { name: 'POST /calculate', method: 'POST', path: () => '/calculate', body: ({ subscriptionId }) => ({ subscriptionId }), allowed: ['userOwner', 'admin'] },
  { name: 'GET /eligibility/:subscriptionId', method: 'GET', path: ({ subscriptionId }) => `/eligibility/${subscriptionId}`, allowed: ['userOwner', 'admin'] },
  { name: 'POST /', method: 'POST', path: () => '', body: ({ subscriptionId }) => ({ subscriptionId }), allowed: ['userOwner'] },
  { name: 'GET /:refundId', method: 'GET', path: ({ refundId }) => `/${refundId}`, allowed: ['userOwner', 'creatorOwner', 'admin'] },
  { name: 'POST /:refundId/approve', method: 'POST', path: ({ refundId }) => `/${refundId}/approve`, body: () => ({}), allowed: ['admin'] },
  { name: 'POST /:refundId/reject', method: 'POST', path: ({ refundId }) => `/${refundId}/reject`, body: () => ({ reason: 'no' }), allowed: ['admin'] },
  { name: 'POST /:refundId/cancel', method: 'POST', path: ({ refundId }) => `/${refundId}/cancel`, allowed: ['userOwner'] },
  { name: 'POST /:refundId/retry', method: 'POST', path: ({ refundId }) => `/${refundId}/retry`, allowed: ['admin'] },
  { name: 'GET /user/:userId', method: 'GET', path: () => `/user/${OWNER}`, allowed: ['userOwner', 'admin'] },
  { name: 'GET /creator/:creatorId', method: 'GET', path: () => `/creator/${CREATOR}`, allowed: ['creatorOwner', 'admin'] },
  { name: 'GET /pending/all', method: 'GET', path: () => '/pending/all', allowed: ['admin'] },
  { name: 'GET /statistics', method: 'GET', path: () => '/statistics', allowed: ['admin'] },
  { name: 'POST /trigger', method: 'POST', path: () => '/trigger', allowed: ['admin'] },
  { name: 'GET /search', method: 'GET', path: ({ refundId }) => `/search?q=${refundId}`, allowed: ['admin'] },
  { name: 'POST /sweep/pause', method: 'POST', path: () => '/sweep/pause', body: () => ({ note: 'matrix' }), allowed: ['admin'] },
  { name: 'POST /sweep/unpause', method: 'POST', path: () => '/sweep/unpause', allowed: ['admin'] },
  { name: 'GET /api/admin/console-settings', method: 'GET', path: () => '/api/admin/console-settings', allowed: ['admin'] },
];

/** Refund routes are written relative to their prefix; the others in full. */
const urlOf = (path: string) => (path.startsWith('/api/') ? path : `/api/refunds/pro-rata${path}`);

const EXPECTED_UNAUTHENTICATED: Record<'noToken' | 'badToken' | 'expiredToken', string> = {
  noToken: 'UNAUTHENTICATED',
  badToken: 'INVALID_TOKEN',
  expiredToken: 'TOKEN_EXPIRED',
};

describe('auth matrix: 17 endpoints x 8 callers', () => {
  let api: ApiStack;
  let ids: { subscriptionId: string; refundId: string };
  const tokens = {} as Record<CallerKind, string | undefined>;

  beforeAll(async () => {
    // No worker: nothing here may need one (allowed calls stop at 409 before reaching Temporal).
    api = await startApiStack({ worker: false });
    const { doc, subscriptionId } = await api.insertSubscription({ userId: OWNER, creatorId: CREATOR });
    const refundId = newRefundId();
    await api.refunds.create(refundView({ refundId, refundStatus: 'completed', transactionId: `0x${'ab'.repeat(32)}` }, doc), null);
    ids = { subscriptionId, refundId };
    await ensureSweepSchedule(api.client, { taskQueue: api.config.temporal.taskQueue, intervalMs: 3_600_000 });

    tokens.noToken = undefined;
    tokens.badToken = await new SignJWT({ role: 'admin' }).setProtectedHeader({ alg: 'HS256' }).setSubject('admin-x').setExpirationTime('1h').sign(new TextEncoder().encode('not-the-secret-not-the-secret-not-the-secret'));
    tokens.expiredToken = await api.token('admin-x', 'admin', -60);
    tokens.userOwner = await api.token(OWNER, 'user');
    tokens.otherUser = await api.token('matrix-other-user', 'user');
    tokens.creatorOwner = await api.token(CREATOR, 'creator');
    tokens.otherCreator = await api.token('matrix-other-creator', 'creator');
    tokens.admin = await api.token('matrix-admin', 'admin');
  }, 120_000);

  afterAll(async () => {
    await api?.removeSweepSchedule();
    await api?.close();
  });

  const cases = ENDPOINTS.flatMap((endpoint) =>
    (['noToken', 'badToken', 'expiredToken', ...SIGNED_IN] as CallerKind[]).map((caller) => ({
      endpoint,
      caller,
      expected: caller in EXPECTED_UNAUTHENTICATED ? 401 : endpoint.allowed.includes(caller) ? 'allowed' : 403,
    })),
  );

  test.each(cases)('$endpoint.name as $caller -> $expected', async ({ endpoint, caller, expected }) => {
    const response = await api.request(endpoint.method, urlOf(endpoint.path(ids)), { token: tokens[caller], body: endpoint.body?.(ids) });
    if (expected === 'allowed') {
      expect([401, 403]).not.toContain(response.status);
      expect(response.status).toBeLessThan(500);
    } else {
      expect(response.status).toBe(expected);
      expect(response.body.error.code).toBe(expected === 401 ? EXPECTED_UNAUTHENTICATED[caller as keyof typeof EXPECTED_UNAUTHENTICATED] : 'FORBIDDEN');
    }
  });

  test('allowed calls give their real answers', async () => {
    const call = (endpoint: string, caller: CallerKind) => {
      const spec = ENDPOINTS.find((candidate) => candidate.name === endpoint)!;
      return api.request(spec.method, urlOf(spec.path(ids)), { token: tokens[caller], body: spec.body?.(ids) });
    };
    expect((await call('POST /', 'userOwner')).body.error).toMatchObject({ code: 'REFUND_EXISTS', details: { refundId: ids.refundId } });
    expect((await call('GET /:refundId', 'creatorOwner')).body).toMatchObject({ refundId: ids.refundId, refundStatus: 'completed' });
    expect((await call('POST /:refundId/approve', 'admin')).body.error.code).toBe('REFUND_NOT_PENDING');
    expect((await call('POST /:refundId/cancel', 'userOwner')).body.error.code).toBe('REFUND_NOT_PENDING');
    expect((await call('POST /:refundId/retry', 'admin')).body.error.code).toBe('REFUND_NOT_FAILED');
    expect((await call('GET /user/:userId', 'userOwner')).body.items.map((refund: { refundId: string }) => refund.refundId)).toEqual([ids.refundId]);
    expect((await call('GET /creator/:creatorId', 'creatorOwner')).body.items).toHaveLength(1);
    const trigger = await call('POST /trigger', 'admin');
    expect(trigger.status).toBe(202);
    expect(trigger.body).toEqual({ triggered: true, scheduleId: api.sweep.scheduleId });
    expect((await call('GET /search', 'admin')).body.items.map((refund: { refundId: string }) => refund.refundId)).toEqual([ids.refundId]);
    expect((await call('POST /sweep/pause', 'admin')).body).toMatchObject({ paused: true, note: 'paused by matrix-admin: matrix' });
    expect((await call('POST /sweep/unpause', 'admin')).body).toMatchObject({ paused: false, note: 'unpaused by matrix-admin' });
    expect((await call('GET /api/admin/console-settings', 'admin')).body.caller).toEqual({ sub: 'matrix-admin', role: 'admin' });
  });

  test('ownership is judged on the stored owners before the document is read: a stranger learns nothing from a malformed subscription', async () => {
    const { subscriptionId } = await api.insertSubscription({ userId: OWNER, creatorId: CREATOR, amountPaid: '1.5' });
    const ask = (method: 'GET' | 'POST', path: string, caller: CallerKind) =>
      api.request(method, urlOf(path), { token: tokens[caller], body: method === 'POST' ? { subscriptionId } : undefined }).then((response) => response.body.error?.code);
    for (const [method, path] of [['POST', '/calculate'], ['GET', `/eligibility/${subscriptionId}`], ['POST', '']] as const) {
      expect(await ask(method, path, 'otherUser')).toBe('FORBIDDEN');
      expect(await ask(method, path, 'userOwner')).toBe('INVALID_SUBSCRIPTION');
    }
    expect(await ask('POST', '/calculate', 'admin')).toBe('INVALID_SUBSCRIPTION');
    // A subscription that does not exist has no owner to judge: 404 for anyone the route is open to.
    const unknown = '0123456789abcdef01234567';
    expect((await api.request('GET', urlOf(`/eligibility/${unknown}`), { token: tokens.otherUser })).body.error.code).toBe('SUBSCRIPTION_NOT_FOUND');
  });

  test('token rules: HS256 only, exp required, sub and role checked', async () => {
    const secret = new TextEncoder().encode(api.config.auth.jwtSecret);
    const statistics = (token: string) => api.request('GET', '/api/refunds/pro-rata/statistics', { token });
    const sign = (claims: Record<string, unknown>, build: (jwt: SignJWT) => SignJWT = (jwt) => jwt.setExpirationTime('1h')) =>
      build(new SignJWT(claims).setProtectedHeader({ alg: 'HS256' })).sign(secret);

    expect((await statistics(await sign({ sub: 'a', role: 'admin' }))).status).toBe(200);
    const noExp = await statistics(await sign({ sub: 'a', role: 'admin' }, (jwt) => jwt));
    expect(noExp.status).toBe(401);
    expect(noExp.body.error.code).toBe('INVALID_TOKEN');
    expect((await statistics(await sign({ role: 'admin' }))).status).toBe(401);
    expect((await statistics(await sign({ sub: '', role: 'admin' }))).status).toBe(401);
    expect((await statistics(await sign({ sub: 'a', role: 'superuser' }))).status).toBe(401);
    const hs512 = await new SignJWT({ sub: 'a', role: 'admin' }).setProtectedHeader({ alg: 'HS512' }).setExpirationTime('1h').sign(secret);
    expect((await statistics(hs512)).status).toBe(401);
    const unsigned = `${Buffer.from(JSON.stringify({ alg: 'none', typ: 'JWT' })).toString('base64url')}.${Buffer.from(JSON.stringify({ sub: 'a', role: 'admin', exp: 9999999999 })).toString('base64url')}.`;
    expect((await statistics(unsigned)).status).toBe(401);
    const notBearer = await api.request('GET', '/api/refunds/pro-rata/statistics', { headers: { authorization: `Basic ${Buffer.from('a:b').toString('base64')}` } });
    expect(notBearer.status).toBe(401);
    expect(notBearer.body.error.code).toBe('INVALID_TOKEN');
  });

  test('public routes need no token', async () => {
    for (const path of ['/api/status', '/metrics', '/api/docs/openapi.json']) {
      const response = await api.request('GET', path);
      expect([200, 503]).toContain(response.status);
    }
  });
});
