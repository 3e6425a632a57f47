import { RefundCalculationSchema, RefundSchema } from '../../src/api/schemas';
import { refundPolicySettings } from '../../src/temporal/refund-client';
import { balanceOf, setBalance } from '../support/chain';
import { TREASURY_START_BALANCE } from '../support/refund-stack';
import { waitFor } from '../support/wait';
import { startApiStack, type ApiStack } from './support/api-stack';

/**
 * The whole life of refunds driven only through the HTTP API, against a real
 * worker: money really moves on anvil.
 */
describe('refund lifecycle through the HTTP API', () => {
  let api: ApiStack;
  let userToken: string;
  let adminToken: string;
  const userId = `lifecycle-user-${Date.now()}`;
  const creatorId = `lifecycle-creator-${Date.now()}`;

  beforeAll(async () => {
    api = await startApiStack();
    userToken = await api.token(userId, 'user');
    adminToken = await api.token('admin-finance', 'admin');
  }, 120_000);
  afterAll(async () => {
    await api?.close();
  });

  const subscription = () => api.insertSubscription({ userId, creatorId });
  const refundOf = (refundId: string, token = userToken) => api.request('GET', `/api/refunds/pro-rata/${refundId}`, { token });
  const waitForStatus = (refundId: string, status: string, timeoutMs = 30_000) =>
    waitFor(() => refundOf(refundId), { until: (response) => response.body.refundStatus === status, timeoutMs, what: `refund ${refundId} to be ${status}` });

  test('calculate -> request -> pending with autoApproveAt -> approve -> completed: the wallet receives exactly the previewed amount', async () => {
    const { subscriptionId, wallet } = await subscription();

    const preview = await api.request('POST', '/api/refunds/pro-rata/calculate', { token: userToken, body: { subscriptionId } });
    expect(preview.status).toBe(200);
    RefundCalculationSchema.parse(preview.body);
    expect(preview.body).toMatchObject({ subscriptionId, eligible: true, reasons: [], existingRefund: null, currency: { symbol: 'ETH', decimals: 18 } });
    // 1 ETH for 30 days, cancelled 10 days in: 20 of 30 days are refunded, floored to the wei.
    expect(preview.body.amount).toBe(((10n ** 18n * BigInt(preview.body.breakdown.remainingSeconds)) / BigInt(preview.body.breakdown.totalSeconds)).toString());
    expect(preview.body.breakdown.remainingSeconds).toBe(20 * 86400);

    const eligibility = await api.request('GET', `/api/refunds/pro-rata/eligibility/${subscriptionId}`, { token: userToken });
    expect(eligibility.status).toBe(200);
    expect(eligibility.body).toMatchObject({ eligible: true, reasons: [], amount: preview.body.amount });

    const created = await api.request('POST', '/api/refunds/pro-rata', { token: userToken, body: { subscriptionId, reason: 'moving on' } });
    expect(created.status).toBe(202);
    RefundSchema.parse(created.body);
    const refundId: string = created.body.refundId;
    expect(refundId).toMatch(new RegExp(`^rf_${subscriptionId}[0-9a-f]{16}$`)); // names its subscription: found before its record is written
    expect(created.headers.get('location')).toBe(`/api/refunds/pro-rata/${refundId}`);
    expect(created.body).toMatchObject({ subscriptionId, userId, creatorId, refundStatus: 'pending_approval', amount: preview.body.amount, reason: 'moving on', requestedBy: userId, decidedBy: null, transactionId: null });

    const pending = await refundOf(refundId);
    expect(pending.status).toBe(200);
    expect(pending.body.refundStatus).toBe('pending_approval');
    expect(Date.parse(pending.body.autoApproveAt) - Date.parse(pending.body.requestedAt)).toBe(refundPolicySettings(api.config).autoApproveAfterMs);

    const approved = await api.request('POST', `/api/refunds/pro-rata/${refundId}/approve`, { token: adminToken, body: { note: 'checked' } });
    expect(approved.status).toBe(200);
    RefundSchema.parse(approved.body);
    expect(['approved', 'processing', 'completed']).toContain(approved.body.refundStatus);
    expect(approved.body).toMatchObject({ decidedBy: 'admin-finance', decisionNote: 'checked' });

    const completed = await waitForStatus(refundId, 'completed');
    RefundSchema.parse(completed.body);
    expect(completed.body.transactionId).toMatch(/^0x[0-9a-f]{64}$/);
    expect(completed.body.statusHistory.map((change: { status: string }) => change.status)).toEqual(['pending_approval', 'approved', 'processing', 'completed']);
    expect(await balanceOf(wallet)).toBe(BigInt(preview.body.amount));

    // The creator of the subscription sees it too; the store now answers (terminal status).
    const asCreator = await refundOf(refundId, await api.token(creatorId, 'creator'));
    expect(asCreator.status).toBe(200);
    expect(asCreator.body).toMatchObject({ refundStatus: 'completed', transactionId: completed.body.transactionId });

    const again = await api.request('POST', `/api/refunds/pro-rata/${refundId}/approve`, { token: adminToken });
    expect(again.status).toBe(409);
    expect(again.body.error).toMatchObject({ code: 'REFUND_NOT_PENDING', details: { refundStatus: 'completed' } });

    const retryCompleted = await api.request('POST', `/api/refunds/pro-rata/${refundId}/retry`, { token: adminToken });
    expect(retryCompleted.status).toBe(409);
    expect(retryCompleted.body.error.code).toBe('REFUND_NOT_FAILED');

    const secondRequest = await api.request('POST', '/api/refunds/pro-rata', { token: userToken, body: { subscriptionId } });
    expect(secondRequest.status).toBe(409);
    expect(secondRequest.body.error).toMatchObject({ code: 'REFUND_EXISTS', details: { refundId } });

    const afterwards = await api.request('GET', `/api/refunds/pro-rata/eligibility/${subscriptionId}`, { token: userToken });
    expect(afterwards.body.eligible).toBe(false);
    expect(afterwards.body.reasons).toEqual(expect.arrayContaining(['REFUND_ALREADY_APPLIED', 'REFUND_EXISTS']));
  });

  test('a refund answered 202 is already in its owner\'s list and in the pending list: lists read your own writes', async () => {
    const listed = async (path: string, token: string) => {
      const page = await api.request('GET', path, { token });
      expect(page.status).toBe(200);
      return page.body.items.map((item: { refundId: string }) => item.refundId) as string[];
    };
    for (let i = 0; i < 5; i += 1) {
      const { subscriptionId } = await subscription();
      const created = await api.request('POST', '/api/refunds/pro-rata', { token: userToken, body: { subscriptionId } });
      expect(created.status).toBe(202);
      const refundId: string = created.body.refundId;
      expect(await listed(`/api/refunds/pro-rata/user/${userId}?limit=100`, userToken)).toContain(refundId);
      expect(await listed('/api/refunds/pro-rata/pending/all?limit=100', adminToken)).toContain(refundId);
    }
  });

  test('a refund whose record is not written yet is read and decided through its workflow; another run\'s id is 404', async () => {
    const { subscriptionId } = await subscription();
    const created = await api.request('POST', '/api/refunds/pro-rata', { token: userToken, body: { subscriptionId } });
    expect(created.status).toBe(202);
    const refundId: string = created.body.refundId;
    // The moment between POST's answer and the record's write, made to last: take the record away.
    await waitFor(() => api.refunds.findById(refundId), { until: (record) => record !== null, what: 'the record to be written' });
    await api.mongo.db!.collection('proratarefunds').deleteOne({ _id: refundId as never });

    const read = await refundOf(refundId);
    expect(read.status).toBe(200);
    expect(read.body).toMatchObject({ refundId, subscriptionId, refundStatus: 'pending_approval', amount: created.body.amount });
    expect((await refundOf(refundId, await api.token('someone-else', 'user'))).status).toBe(403);
    const sibling = `rf_${subscriptionId}${'0'.repeat(16)}`;
    expect((await refundOf(sibling)).status).toBe(404);

    const cancelled = await api.request('POST', `/api/refunds/pro-rata/${refundId}/cancel`, { token: userToken });
    expect(cancelled.status).toBe(200);
    expect(cancelled.body.refundStatus).toBe('cancelled');
  });

  test('reject: a reason is required, the refund ends rejected, and approving it afterwards is a 409', async () => {
    const { subscriptionId, wallet } = await subscription();
    const created = await api.request('POST', '/api/refunds/pro-rata', { token: userToken, body: { subscriptionId } });
    expect(created.status).toBe(202);
    const { refundId } = created.body;

    const withoutReason = await api.request('POST', `/api/refunds/pro-rata/${refundId}/reject`, { token: adminToken, body: {} });
    expect(withoutReason.status).toBe(400);
    expect(withoutReason.body.error).toMatchObject({ code: 'VALIDATION_ERROR', details: [expect.objectContaining({ path: 'body.reason' })] });

    const rejected = await api.request('POST', `/api/refunds/pro-rata/${refundId}/reject`, { token: adminToken, body: { reason: 'outside policy' } });
    expect(rejected.status).toBe(200);
    expect(rejected.body).toMatchObject({ refundStatus: 'rejected', decidedBy: 'admin-finance', decisionNote: 'outside policy' });

    const approveRejected = await api.request('POST', `/api/refunds/pro-rata/${refundId}/approve`, { token: adminToken });
    expect(approveRejected.status).toBe(409);
    expect(approveRejected.body.error).toMatchObject({ code: 'REFUND_NOT_PENDING', details: { refundStatus: 'rejected' } });

    const cancelRejected = await api.request('POST', `/api/refunds/pro-rata/${refundId}/cancel`, { token: userToken });
    expect(cancelRejected.status).toBe(409);
    expect((await refundOf(refundId)).body.refundStatus).toBe('rejected');
    expect(await balanceOf(wallet)).toBe(0n);
  });

  test('cancel: only the subscriber withdraws; a new refund can then be requested, and decisions reach only their own run', async () => {
    const { subscriptionId } = await subscription();
    const first = await api.request('POST', '/api/refunds/pro-rata', { token: userToken, body: { subscriptionId } });
    expect(first.status).toBe(202);

    const byOtherUser = await api.request('POST', `/api/refunds/pro-rata/${first.body.refundId}/cancel`, { token: await api.token('someone-else', 'user') });
    expect(byOtherUser.status).toBe(403);
    const byAdmin = await api.request('POST', `/api/refunds/pro-rata/${first.body.refundId}/cancel`, { token: adminToken });
    expect(byAdmin.status).toBe(403);

    const cancelled = await api.request('POST', `/api/refunds/pro-rata/${first.body.refundId}/cancel`, { token: userToken });
    expect(cancelled.status).toBe(200);
    expect(cancelled.body).toMatchObject({ refundStatus: 'cancelled', decidedBy: userId });
    await waitForStatus(first.body.refundId, 'cancelled');

    // A withdrawn request does not block a new one: a second run of the same workflow id.
    const second = await api.request('POST', '/api/refunds/pro-rata', { token: userToken, body: { subscriptionId } });
    expect(second.status).toBe(202);
    expect(second.body.refundId).not.toBe(first.body.refundId);

    // The first refund is finished: deciding on it is refused and never touches the second run.
    const approveFirst = await api.request('POST', `/api/refunds/pro-rata/${first.body.refundId}/approve`, { token: adminToken });
    expect(approveFirst.status).toBe(409);
    expect((await refundOf(second.body.refundId)).body.refundStatus).toBe('pending_approval');
    expect((await refundOf(first.body.refundId)).body.refundStatus).toBe('cancelled');

    const cancelSecond = await api.request('POST', `/api/refunds/pro-rata/${second.body.refundId}/cancel`, { token: userToken, body: {} });
    expect(cancelSecond.status).toBe(200);
    expect(cancelSecond.body.refundStatus).toBe('cancelled');
  });

  test('retry: a payout that failed for lack of funds is parked as failed, and completes once retried', async () => {
    const { subscriptionId, wallet } = await subscription();
    await setBalance(api.treasury.address, 0n);
    try {
      const created = await api.request('POST', '/api/refunds/pro-rata', { token: userToken, body: { subscriptionId } });
      expect(created.status).toBe(202);
      const { refundId, amount } = created.body;

      const retryPending = await api.request('POST', `/api/refunds/pro-rata/${refundId}/retry`, { token: adminToken });
      expect(retryPending.status).toBe(409);
      expect(retryPending.body.error).toMatchObject({ code: 'REFUND_NOT_FAILED', details: { refundStatus: 'pending_approval' } });

      expect((await api.request('POST', `/api/refunds/pro-rata/${refundId}/approve`, { token: adminToken })).status).toBe(200);
      const failed = await waitForStatus(refundId, 'failed');
      expect(failed.body.failureReason).toMatch(/InsufficientFunds/);

      const approveFailed = await api.request('POST', `/api/refunds/pro-rata/${refundId}/approve`, { token: adminToken });
      expect(approveFailed.status).toBe(409);
      expect(approveFailed.body.error).toMatchObject({ code: 'REFUND_NOT_PENDING', details: { refundStatus: 'failed' } });

      await setBalance(api.treasury.address, TREASURY_START_BALANCE);
      const retried = await api.request('POST', `/api/refunds/pro-rata/${refundId}/retry`, { token: adminToken, body: { note: 'treasury topped up' } });
      expect(retried.status).toBe(200);
      expect(['processing', 'completed']).toContain(retried.body.refundStatus);

      const completed = await waitForStatus(refundId, 'completed');
      expect(completed.body.transactionId).toMatch(/^0x[0-9a-f]{64}$/);
      expect(await balanceOf(wallet)).toBe(BigInt(amount));
    } finally {
      await setBalance(api.treasury.address, TREASURY_START_BALANCE);
    }
  });
});
