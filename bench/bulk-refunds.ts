import type { Connection } from 'mongoose';
import { Types } from 'mongoose';
import type { Refund } from '../src/domain/refund';
import type { RefundStatus } from '../src/domain/refund-status';
import type { RefundEventInput, RefundEventLog } from '../src/persistence/refund-events';
import { eventOf } from '../src/persistence/refund-repository';
import { newRefundId } from '../src/temporal/refund-client';
import { refundView, subscriptionDoc } from '../test/support/fixtures';

export const BULK_USERS = 20_000;
export const BULK_CREATORS = 500;

/**
 * Refunds not under test, written as the workflows would have left them: the
 * record (with its createdAt) straight into the collection, and its entry in
 * the event log, so statistics and lists see them like any other. Final
 * statuses only (84 % completed, 8 % rejected, 8 % cancelled): a pending
 * record without its workflow would be (rightly) cancelled by the sweep.
 */
export async function bulkRefunds(
  connection: Connection,
  events: RefundEventLog,
  count: number,
  offset: number,
  options: { onBatch?: (done: number) => void; /** Every refund to this creator, instead of BULK_CREATORS in turn. */ creatorId?: string } = {},
): Promise<void> {
  const records = connection.db!.collection('proratarefunds');
  const now = Date.now();
  for (let start = 0; start < count; start += 1_000) {
    const docs: Record<string, unknown>[] = [];
    const entries: RefundEventInput[] = [];
    for (let j = 0; j < Math.min(1_000, count - start); j += 1) {
      const i = offset + start + j;
      const status = statusFor(i);
      const doc = subscriptionDoc({ _id: new Types.ObjectId(), userId: `bench-user-${i % BULK_USERS}`, creatorId: options.creatorId ?? `bench-creator-${i % BULK_CREATORS}`, status: 'active' });
      const view: Refund = refundView({ refundId: newRefundId(doc._id.toHexString()), refundStatus: status, processingTimeMs: status === 'completed' ? 60_000 + (i % 1000) : null }, doc);
      const createdAt = new Date(now - (count - start - j) * 10);
      const { notificationFailures: _none, ...fields } = view;
      docs.push({
        ...fields,
        _id: view.refundId,
        runId: null,
        requestedAt: new Date(view.requestedAt),
        autoApproveAt: new Date(view.autoApproveAt),
        decidedAt: null,
        completedAt: status === 'completed' ? createdAt : null,
        createdAt,
        updatedAt: createdAt,
      });
      entries.push(eventOf(view, createdAt, 'created', `${view.refundId}:created`, null, status));
    }
    await records.insertMany(docs, { ordered: false });
    await events.appendMany(entries);
    options.onBatch?.(start + docs.length);
  }
}

function statusFor(i: number): RefundStatus {
  const bucket = i % 100;
  if (bucket < 84) return 'completed';
  if (bucket < 92) return 'rejected';
  return 'cancelled';
}
