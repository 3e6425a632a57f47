import type { Connection } from 'mongoose';
import { refundModel } from './refund-model';

export type SearchField = 'refundId' | 'subscriptionId' | 'userId' | 'creatorId' | 'transactionHash';

/** Where a query can match, judged by its shape: an admin pastes whatever id they have at hand. */
export function searchFieldsFor(query: string): SearchField[] {
  if (/^rf_[0-9a-f]{24}$/i.test(query)) return ['refundId'];
  if (/^0x[0-9a-f]{64}$/i.test(query)) return ['transactionHash'];
  // Subscription ids are ObjectIds; user and creator ids are the platform's own and may look like one.
  if (/^[0-9a-f]{24}$/i.test(query)) return ['subscriptionId', 'userId', 'creatorId'];
  return ['userId', 'creatorId'];
}

/**
 * The ids of the refunds matching `query`, newest first. Only equality lookups on indexed fields,
 * the one kind of query every MongoDB-compatible store answers without a scan. A transaction hash
 * is also looked up among all payout attempts, so a hash an explorer showed before a fee bump
 * replaced it still finds its refund.
 */
export async function searchRefundIds(connection: Connection, query: string, limit: number): Promise<{ searchedBy: SearchField[]; refundIds: string[] }> {
  const refunds = refundModel(connection);
  const searchedBy = searchFieldsFor(query);
  const byField = (filter: Record<string, string>) => refunds.find(filter, { createdAt: 1 }).sort({ createdAt: -1 }).limit(limit).lean();
  const lookups = searchedBy.map(async (field) => {
    switch (field) {
      case 'refundId':
        return refunds.find({ _id: query.toLowerCase() }, { createdAt: 1 }).lean();
      case 'subscriptionId':
        return byField({ subscriptionId: query.toLowerCase() });
      case 'userId':
      case 'creatorId':
        return byField({ [field]: query });
      case 'transactionHash': {
        const hash = query.toLowerCase();
        const attempts = await connection.collection<{ refundId: string }>('payoutattempts').find({ txHash: hash }, { projection: { refundId: 1 } }).toArray();
        const viaAttempts = await Promise.all([...new Set(attempts.map((attempt) => attempt.refundId))].map((id) => refunds.find({ _id: id }, { createdAt: 1 }).lean()));
        return [...(await byField({ transactionId: hash })), ...viaAttempts.flat()];
      }
    }
  });
  const found = new Map<string, number>();
  for (const record of (await Promise.all(lookups)).flat()) found.set(record._id, record.createdAt.getTime());
  const refundIds = [...found.entries()]
    .sort(([idA, a], [idB, b]) => b - a || idB.localeCompare(idA))
    .slice(0, limit)
    .map(([id]) => id);
  return { searchedBy, refundIds };
}
