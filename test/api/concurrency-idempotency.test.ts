import { WorkflowUpdateRPCTimeoutOrCancelledError } from '@temporalio/client';
import { IdempotencyKeys } from '../../src/persistence/idempotency-keys';
import type { Refund } from '../../src/domain/refund';
import { RefundWorkflowClient, type DecisionOptions, type RefundRunRef } from '../../src/temporal/refund-client';
import type { ApproveDecision } from '../../workflows/refund-messages';
import { startApiStack, type ApiStack } from './support/api-stack';

/** Duplicates, whether concurrent or retried, never make a second refund; Idempotency-Key replays the first answer. */
describe('concurrency and idempotency', () => {
  let api: ApiStack;
  let user: string;
  let admin: string;
  const userId = 'concurrency-user';

  beforeAll(async () => {
    api = await startApiStack();
    user = await api.token(userId, 'user');
    admin = await api.token('concurrency-admin', 'admin');
  }, 120_000);
  afterAll(async () => {
    await api?.close();
  });

  const requestRefund = (subscriptionId: string, headers: Record<string, string> = {}, body: Record<string, unknown> = {}) =>
    api.request('POST', '/api/refunds/pro-rata', { token: user, body: { subscriptionId, ...body }, headers });

  test('10 identical requests at once: exactly one 202, nine 409 REFUND_EXISTS naming the same refund', async () => {
    const { subscriptionId } = await api.insertSubscription({ userId });
    const responses = await Promise.all(Array.from({ length: 10 }, () => requestRefund(subscriptionId)));

    const accepted = responses.filter((response) => response.status === 202);
    const conflicts = responses.filter((response) => response.status === 409);
    expect(accepted).toHaveLength(1);
    expect(conflicts).toHaveLength(9);
    const refundId = accepted[0]!.body.refundId;
    for (const conflict of conflicts) expect(conflict.body.error).toMatchObject({ code: 'REFUND_EXISTS', details: { refundId } });

    const records = await api.mongo.db!.collection('proratarefunds').find({ subscriptionId }).toArray();
    expect(records.map((record) => record._id)).toEqual([refundId]);
  });

  test('Idempotency-Key: the retry gets the identical first answer; another body with the same key is refused', async () => {
    const { subscriptionId } = await api.insertSubscription({ userId });
    const key = `refund-${subscriptionId}`;
    const first = await requestRefund(subscriptionId, { 'idempotency-key': key }, { reason: 'too expensive' });
    expect(first.status).toBe(202);
    expect(first.headers.get('idempotent-replayed')).toBeNull();

    const retry = await requestRefund(subscriptionId, { 'idempotency-key': key }, { reason: 'too expensive' });
    expect(retry.status).toBe(202);
    expect(retry.text).toBe(first.text);
    expect(retry.headers.get('idempotent-replayed')).toBe('true');
    expect(retry.headers.get('location')).toBe(first.headers.get('location'));

    const otherBody = await requestRefund(subscriptionId, { 'idempotency-key': key }, { reason: 'changed my mind' });
    expect(otherBody.status).toBe(422);
    expect(otherBody.body.error.code).toBe('IDEMPOTENCY_KEY_REUSED');

    // Keys belong to their caller: another user's request with the same key is its own request.
    const stranger = await api.request('POST', '/api/refunds/pro-rata', { token: await api.token('someone-else', 'user'), body: { subscriptionId, reason: 'too expensive' }, headers: { 'idempotency-key': key } });
    expect(stranger.status).toBe(403);

    // Without the key the request is a new one, and meets the refund the first one created.
    const noKey = await requestRefund(subscriptionId);
    expect(noKey.status).toBe(409);
    expect(noKey.body.error.details.refundId).toBe(first.body.refundId);

    const badKey = await requestRefund(subscriptionId, { 'idempotency-key': 'x'.repeat(300) });
    expect(badKey.status).toBe(400);
    expect(badKey.body.error.code).toBe('INVALID_IDEMPOTENCY_KEY');
  });

  test('Idempotency-Key on a decision: a retried approve replays its 200 instead of a 409', async () => {
    const { subscriptionId } = await api.insertSubscription({ userId });
    const created = await requestRefund(subscriptionId);
    expect(created.status).toBe(202);
    const approve = () =>
      api.request('POST', `/api/refunds/pro-rata/${created.body.refundId}/approve`, { token: admin, body: { note: 'ok' }, headers: { 'idempotency-key': 'approve-once' } });
    const first = await approve();
    expect(first.status).toBe(200);
    const again = await approve();
    expect(again.status).toBe(200);
    expect(again.text).toBe(first.text);
    // The same key on another route is another request.
    const elsewhere = await api.request('POST', `/api/refunds/pro-rata/${created.body.refundId}/retry`, { token: admin, headers: { 'idempotency-key': 'approve-once' } });
    expect(elsewhere.status).toBe(409);
    expect(elsewhere.body.error.code).toBe('REFUND_NOT_FAILED');
  });

  test('duplicates with the same key arriving together: one runs, the others wait their turn (409 IDEMPOTENCY_IN_PROGRESS) or replay it', async () => {
    const { subscriptionId } = await api.insertSubscription({ userId });
    const headers = { 'idempotency-key': `together-${subscriptionId}` };
    const responses = await Promise.all(Array.from({ length: 5 }, () => requestRefund(subscriptionId, headers)));
    const accepted = responses.filter((response) => response.status === 202);
    const inProgress = responses.filter((response) => response.status === 409);
    expect(accepted.length + inProgress.length).toBe(5);
    expect(accepted.length).toBeGreaterThanOrEqual(1);
    expect(new Set(accepted.map((response) => response.text)).size).toBe(1);
    for (const response of inProgress) expect(response.body.error.code).toBe('IDEMPOTENCY_IN_PROGRESS');

    const later = await requestRefund(subscriptionId, headers);
    expect(later.status).toBe(202);
    expect(later.text).toBe(accepted[0]!.text);
  });

  test('stored keys expire after 24 hours; a claim abandoned by a crashed process is taken over', async () => {
    let now = new Date('2030-01-01T00:00:00Z');
    const keys = new IdempotencyKeys(api.mongo, { now: () => now });
    const scope = `scope-${Date.now()}`;

    const claimed = await keys.claim(scope, 'body-a');
    expect(claimed.kind).toBe('claimed');
    expect(await keys.claim(scope, 'body-a')).toEqual({ kind: 'in-progress' });
    if (claimed.kind !== 'claimed') throw new Error('unreachable');
    await keys.complete(claimed.claim, { status: 202, body: '{"ok":true}', headers: {} });
    expect(await keys.claim(scope, 'body-a')).toEqual({ kind: 'replay', response: { status: 202, body: '{"ok":true}', headers: {} } });
    expect(await keys.claim(scope, 'body-b')).toEqual({ kind: 'mismatch' });

    now = new Date(now.getTime() + 24 * 60 * 60 * 1000 + 1);
    const renewed = await keys.claim(scope, 'body-b');
    expect(renewed.kind).toBe('claimed');

    now = new Date(now.getTime() + 10 * 60 * 1000);
    expect((await keys.claim(scope, 'body-b')).kind).toBe('claimed');

    const racers = await Promise.all(Array.from({ length: 8 }, () => keys.claim(`${scope}-race`, 'body')));
    expect(racers.filter((outcome) => outcome.kind === 'claimed')).toHaveLength(1);
  });

  test('an approval whose answer was lost (Temporal went away) and is retried with its Idempotency-Key gets the first answer, not 409', async () => {
    const { subscriptionId } = await api.insertSubscription({ userId });
    const created = await requestRefund(subscriptionId);
    expect(created.status).toBe(202);
    const refundId = created.body.refundId as string;

    // The first approval reaches the workflow, then the connection drops before the answer comes back.
    class LosesAnswers extends RefundWorkflowClient {
      override async approve(ref: RefundRunRef, decision: ApproveDecision, options?: DecisionOptions): Promise<Refund> {
        await super.approve(ref, decision, options);
        throw new WorkflowUpdateRPCTimeoutOrCancelledError('the answer was lost', { cause: new Error('connection reset') });
      }
    }
    const flaky = await api.app({ refundClient: new LosesAnswers(api.client, { taskQueue: api.config.temporal.taskQueue, autoApproveAfterMs: 3_600_000, penaltyBps: 0 }) });
    const headers = { 'idempotency-key': `approve-${refundId}` };
    const lost = await flaky.request('POST', `/api/refunds/pro-rata/${refundId}/approve`, { token: admin, body: { note: 'ok' }, headers });
    expect(lost.status).toBe(503);

    const retried = await api.request('POST', `/api/refunds/pro-rata/${refundId}/approve`, { token: admin, body: { note: 'ok' }, headers });
    expect({ status: retried.status, code: retried.body.error?.code }).toEqual({ status: 200, code: undefined });
    expect(retried.body).toMatchObject({ refundId, decidedBy: 'concurrency-admin', decisionNote: 'ok' });
    expect(retried.body.statusHistory.filter((change: { status: string }) => change.status === 'approved')).toHaveLength(1);
  });
});
