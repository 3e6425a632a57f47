import type { OpenApiDocument } from '../../src/api/openapi';
import { pollUntil, startApiStack, type ApiStack } from './support/api-stack';
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
    const completed = await pollUntil(
      () => api.request('GET', `${refunds}/${refundId}`, { token: admin }),
      (response) => response.body.refundStatus === 'completed',
      { what: `refund ${refundId} to be paid` },
    );
    expect(completed.body.payout).toMatchObject({ txHash: completed.body.transactionId, confirmations: expect.any(Number) });
    expect(contract.problems('GET', `${refunds}/{refundId}`, completed)).toEqual([]);

    const listed = await api.request('GET', `${refunds}/user/${userId}`, { token: admin });
    expect(listed.body.items.some((item: { refundId: string }) => item.refundId === refundId)).toBe(true);
    expect(contract.problems('GET', `${refunds}/user/{userId}`, listed)).toEqual([]);
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
});
