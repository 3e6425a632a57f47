import http from 'node:http';
import type { OpenApiDocument } from '../../src/api/openapi';
import { newRefundId } from '../../src/temporal/refund-client';
import { waitFor } from '../support/wait';
import { startApiStack, type ApiStack } from './support/api-stack';
import { openApiContract, type OpenApiContract } from './support/contract';

/**
 * The server and the OpenAPI document it serves agree: what a client generated
 * from the document accepts, sends and expects is what the server does. Each
 * test here is a disagreement schemathesis found once (`npm run test:contract`
 * runs the fuzzer itself).
 */
describe('the server keeps its OpenAPI contract', () => {
  let api: ApiStack;
  let contract: OpenApiContract;
  let user: string;
  let admin: string;
  const userId = 'contract-test-user';
  const refunds = '/api/refunds/pro-rata';

  beforeAll(async () => {
    api = await startApiStack();
    user = await api.token(userId, 'user');
    admin = await api.token('contract-test-admin', 'admin');
    contract = openApiContract((await api.request<OpenApiDocument>('GET', '/api/docs/openapi.json')).body);
  }, 120_000);
  afterAll(async () => {
    await api?.close();
  });

  const requestRefund = async (token = user, owner = userId) => {
    const { subscriptionId } = await api.insertSubscription({ userId: owner });
    const created = await api.request('POST', refunds, { token, body: { subscriptionId } });
    expect(contract.problems('POST', refunds, created)).toEqual([]);
    expect(created.status).toBe(202);
    return created.body.refundId as string;
  };

  test('a paid refund, read one by one and in lists, matches the Refund schema, payout included', async () => {
    const refundId = await requestRefund();
    const approved = await api.request('POST', `${refunds}/${refundId}/approve`, { token: admin, body: {} });
    expect(contract.problems('POST', `${refunds}/{refundId}/approve`, approved)).toEqual([]);
    const completed = await waitFor(
      () => api.request('GET', `${refunds}/${refundId}`, { token: admin }),
      { until: (response) => response.body.refundStatus === 'completed', what: `refund ${refundId} to be paid` },
    );
    expect(completed.body.payout).toMatchObject({ txHash: completed.body.transactionId, confirmations: expect.any(Number) });
    expect(contract.problems('GET', `${refunds}/{refundId}`, completed)).toEqual([]);

    const listed = await api.request('GET', `${refunds}/user/${userId}`, { token: admin });
    expect(listed.body.items.some((item: { refundId: string }) => item.refundId === refundId)).toBe(true);
    expect(contract.problems('GET', `${refunds}/user/{userId}`, listed)).toEqual([]);
  });

  describe('Idempotency-Key: what the document accepts, the server accepts, and nothing else', () => {
    const keys = ['k', 'refund-2024-01-01T00:00:00Z', '~!"#$%&\'()*+,-./:;<=>?@[\\]^_`{|}', 'x'.repeat(255), '', 'x'.repeat(256), 'two words', 'tab\there'];

    test.each(keys.map((key) => [JSON.stringify(key).slice(0, 40), key]))('key %s', async (_label, key) => {
      const refundId = newRefundId(); // unknown: an accepted key gets 404, a refused one 400
      const route = `${refunds}/{refundId}/approve`;
      const response = await api.request('POST', `${refunds}/${refundId}/approve`, { token: admin, body: {}, headers: { 'idempotency-key': key } });
      expect(contract.problems('POST', route, response)).toEqual([]);
      const documentedValid = contract.acceptsParameter('POST', route, 'header', 'Idempotency-Key', key);
      expect({ status: response.status, code: response.body.error.code }).toEqual(
        documentedValid ? { status: 404, code: 'REFUND_NOT_FOUND' } : { status: 400, code: 'INVALID_IDEMPOTENCY_KEY' },
      );
    });
  });

  test('every POST documents the answers of the Idempotency-Key it takes: 400 for a bad key, 422 for a reused one', async () => {
    const badKey = await api.request('POST', `${refunds}/trigger`, { token: admin, headers: { 'idempotency-key': 'two words' } });
    expect(badKey.status).toBe(400);
    expect(contract.problems('POST', `${refunds}/trigger`, badKey)).toEqual([]);

    const refundId = await requestRefund();
    for (const [decision, first, second] of [
      ['reject', { reason: 'first' }, { reason: 'second' }],
      ['retry', { note: 'first' }, { note: 'second' }],
    ] as const) {
      const headers = { 'idempotency-key': `${decision}-${refundId}` };
      await api.request('POST', `${refunds}/${refundId}/${decision}`, { token: admin, body: first, headers });
      const reused = await api.request('POST', `${refunds}/${refundId}/${decision}`, { token: admin, body: second, headers });
      expect({ decision, status: reused.status, code: reused.body.error?.code }).toEqual({ decision, status: 422, code: 'IDEMPOTENCY_KEY_REUSED' });
      expect(contract.problems('POST', `${refunds}/{refundId}/${decision}`, reused)).toEqual([]);
    }
  });

  test('?cursor=: every value the document allows is accepted; the others are refused with the field named', async () => {
    const route = `${refunds}/user/{userId}`;
    const reader = 'contract-test-reader';
    const token = await api.token(reader, 'user');
    await requestRefund(token, reader);
    await requestRefund(token, reader);
    const firstPage = await api.request('GET', `${refunds}/user/${reader}?limit=1`, { token });
    const issued: string = firstPage.body.nextCursor;
    expect(issued).toEqual(expect.any(String));

    for (const cursor of [issued, '0', 'definitely-not-a-cursor', '1700000000000.rf_0123456789abcdef01234567', 'x'.repeat(600)]) {
      const response = await api.request('GET', `${refunds}/user/${reader}?cursor=${encodeURIComponent(cursor)}`, { token });
      expect(contract.problems('GET', route, response)).toEqual([]);
      const documentedValid = contract.acceptsParameter('GET', route, 'query', 'cursor', cursor);
      expect({ cursor, status: response.status }).toEqual({ cursor, status: documentedValid ? 200 : 400 });
      if (!documentedValid) expect(response.body.error.details).toEqual([{ path: 'query.cursor', message: expect.any(String) }]);
    }
    expect(contract.acceptsParameter('GET', route, 'query', 'cursor', issued)).toBe(true);
  });

  test('OpenAPI links lead from a created refund to reading and deciding it: create -> get -> approve', async () => {
    const follow = (from: { operationId: string; status: number; body: unknown }, linkName: string) => {
      const [path, methods] = Object.entries(contract.document.paths).find(([, operations]) => Object.values(operations).some((op) => op.operationId === from.operationId))!;
      const source = Object.values(methods).find((op) => op.operationId === from.operationId)!;
      const link = (source.responses[String(from.status)] as { links?: Record<string, { operationId: string; parameters: Record<string, string> }> }).links?.[linkName];
      if (!link) throw new Error(`${from.operationId} ${from.status} (${path}) has no link ${linkName}`);
      const [targetPath, targetMethod] = Object.entries(contract.document.paths).flatMap(([candidate, operations]) =>
        Object.entries(operations).filter(([, op]) => op.operationId === link.operationId).map(([method]) => [candidate, method] as const),
      )[0]!;
      let url = targetPath;
      for (const [name, expression] of Object.entries(link.parameters)) {
        const pointer = /^\$response\.body#(\/.*)$/.exec(expression)![1]!;
        const value = pointer.split('/').slice(1).reduce<any>((node, key) => node?.[key], from.body);
        url = url.replace(`{${name}}`, String(value));
      }
      return { method: targetMethod.toUpperCase(), url, path: targetPath, operationId: link.operationId };
    };

    const { subscriptionId } = await api.insertSubscription({ userId });
    const created = await api.request('POST', refunds, { token: user, body: { subscriptionId } });
    expect(created.status).toBe(202);
    expect(created.headers.get('location')).toBe(`${refunds}/${created.body.refundId}`);

    const get = follow({ operationId: 'requestRefund', status: 202, body: created.body }, 'getRefund');
    const read = await api.request(get.method, get.url, { token: admin });
    expect({ status: read.status, refundId: read.body.refundId }).toEqual({ status: 200, refundId: created.body.refundId });
    expect(contract.problems(get.method, get.path, read)).toEqual([]);

    const approve = follow({ operationId: 'getRefund', status: 200, body: read.body }, 'approveRefund');
    const approved = await api.request(approve.method, approve.url, { token: admin, body: {} });
    expect({ status: approved.status, refundId: approved.body.refundId }).toEqual({ status: 200, refundId: created.body.refundId });
    expect(contract.problems(approve.method, approve.path, approved)).toEqual([]);
  });

  /** fetch refuses TRACE, so requests here go through node:http. */
  const raw = (method: string, path: string) =>
    new Promise<{ status: number; allow?: string; body: any }>((resolve, reject) => {
      const request = http.request(`${api.url}${path}`, { method, headers: { authorization: `Bearer ${admin}` } }, (response) => {
        let text = '';
        response.on('data', (chunk: Buffer) => (text += chunk.toString()));
        response.on('end', () => resolve({ status: response.statusCode!, allow: response.headers.allow, body: text ? JSON.parse(text) : null }));
      });
      request.on('error', reject);
      request.end();
    });
  const allowOf = (response: { allow?: string }) => response.allow?.split(/,\s*/).sort();

  test('a method the document does not declare for a path -> 405 with Allow, TRACE included', async () => {
    for (const [method, path, allowed] of [
      ['TRACE', '/api/status', ['GET', 'HEAD']],
      ['TRACE', `${refunds}/statistics`, ['GET', 'HEAD']],
      ['TRACE', `${refunds}/${newRefundId()}/approve`, ['POST']],
      ['TRACE', refunds, ['POST']],
      ['PUT', `${refunds}/${newRefundId()}`, ['GET', 'HEAD']],
      ['PATCH', '/metrics', ['GET', 'HEAD']],
    ] as const) {
      const response = await raw(method, path);
      expect({ method, path, status: response.status, code: response.body?.error?.code }).toEqual({ method, path, status: 405, code: 'METHOD_NOT_ALLOWED' });
      expect(allowOf(response)).toEqual([...allowed].sort());
    }
    const nowhere = await raw('TRACE', '/api/nothing-here');
    expect({ status: nowhere.status, code: nowhere.body?.error?.code }).toEqual({ status: 404, code: 'NOT_FOUND' });
  });

  test('a concrete path is matched before a templated one: /calculate is not a refund id', async () => {
    for (const [path, allowed] of [
      [`${refunds}/calculate`, ['POST']],
      [`${refunds}/trigger`, ['POST']],
      [`${refunds}/statistics`, ['GET', 'HEAD']],
      [`${refunds}/user/approve`, ['GET', 'HEAD']],
      [`${refunds}/${newRefundId()}`, ['GET', 'HEAD']],
    ] as const) {
      const options = await raw('OPTIONS', path);
      expect({ path, status: options.status, allow: allowOf(options) }).toEqual({ path, status: 204, allow: [...allowed].sort() });
      const wrong = await raw(allowed.includes('GET' as never) ? 'POST' : 'GET', path);
      expect({ path, status: wrong.status, code: wrong.body?.error?.code, allow: allowOf(wrong) }).toEqual({ path, status: 405, code: 'METHOD_NOT_ALLOWED', allow: [...allowed].sort() });
    }
  });

  test('a body the document types as an object is refused when it is JSON null', async () => {
    const refundId = newRefundId();
    for (const decision of ['approve', 'cancel']) {
      const token = decision === 'cancel' ? user : admin;
      const response = await api.request('POST', `${refunds}/${refundId}/${decision}`, { token, raw: 'null' });
      expect({ decision, status: response.status, code: response.body.error.code }).toEqual({ decision, status: 400, code: 'VALIDATION_ERROR' });
      expect(contract.problems('POST', `${refunds}/{refundId}/${decision}`, response)).toEqual([]);
    }
  });

  test('a rejection reason is refused exactly when the document says it is blank', async () => {
    const route = `${refunds}/{refundId}/reject`;
    const schema = (contract.document.components as any).schemas.RejectRequest.properties.reason;
    for (const reason of ['no', ' spaced out ', '  ', '\t\n', '\u00a0', '\u3000\ufeff', '\u2028', '\x1c']) {
      const response = await api.request('POST', `${refunds}/${newRefundId()}/reject`, { token: admin, body: { reason } });
      expect(contract.problems('POST', route, response)).toEqual([]);
      const documentedValid = contract.validates(schema, reason);
      expect({ reason, status: response.status }).toEqual({ reason, status: documentedValid ? 404 : 400 });
    }
  });

  const BLANKS_AND_NOT = ['rf_x', ' spaced ', '', '  ', '\v', '\t\n', '\u00a0', '\u3000\ufeff', '\x1c'];

  test('a search is refused exactly when the document says its q is blank', async () => {
    const route = `${refunds}/search`;
    const schema = ((contract.document.paths[route] as any).get.parameters as { name: string; schema: Record<string, unknown> }[]).find((parameter) => parameter.name === 'q')!.schema;
    for (const q of BLANKS_AND_NOT) {
      const response = await api.request('GET', `${route}?q=${encodeURIComponent(q)}`, { token: admin });
      expect(contract.problems('GET', route, response)).toEqual([]);
      expect({ q, status: response.status }).toEqual({ q, status: contract.validates(schema, q) ? 200 : 400 });
    }
  });

  test('a sweep pause is refused exactly when the document says its note is blank', async () => {
    const route = `${refunds}/sweep/pause`;
    const schema = (contract.document.components as any).schemas.PauseSweepRequest.properties.note;
    for (const note of BLANKS_AND_NOT.filter((note) => note.trim() === '')) {
      const response = await api.request('POST', route, { token: admin, body: { note } });
      expect(contract.problems('POST', route, response)).toEqual([]);
      expect({ note, documentedValid: contract.validates(schema, note), status: response.status }).toEqual({ note, documentedValid: false, status: 400 });
    }
  });
});
