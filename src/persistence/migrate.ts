import type { Connection } from 'mongoose';
import { SUBSCRIPTION_REFUND_DEFAULTS } from '../domain/subscription';
import { OBSOLETE_PAYOUT_LEDGER_INDEXES, PAYOUT_LEDGER_COLLECTIONS, PAYOUT_LEDGER_INDEXES } from './payout-ledger';
import { REFUND_EVENT_INDEXES, addOwnersToSnapshot, seedStatsFromRecords } from './refund-events';
import { NOTIFICATION_FAILURE_INDEXES, REFUND_INDEXES, REFUND_TRANSITION_INDEXES, refundModel } from './refund-model';
import { rekeyByAsset } from './rekey-by-asset';
import { SUBSCRIPTION_INDEXES } from './subscription-model';
import { TREASURY_COLLECTIONS } from './treasury-store';

interface IndexSpec {
  keys: Record<string, 1 | -1>;
  options?: { sparse?: boolean; unique?: boolean };
}

/** Every index the service relies on, per collection. */
export const INDEXES: Record<string, readonly IndexSpec[]> = {
  proratarefunds: REFUND_INDEXES,
  refundtransitions: REFUND_TRANSITION_INDEXES,
  refundnotificationfailures: NOTIFICATION_FAILURE_INDEXES,
  refundevents: REFUND_EVENT_INDEXES,
  subscriptions: SUBSCRIPTION_INDEXES,
  ...PAYOUT_LEDGER_INDEXES,
};

const NAMESPACE_EXISTS = 48;

/** Indexes of earlier versions that the current code must not have (e.g. a uniqueness it no longer wants). */
const OBSOLETE_INDEXES: Record<string, readonly { keys: Record<string, 1 | -1>; unique: boolean }[]> = OBSOLETE_PAYOUT_LEDGER_INDEXES;

export const COLLECTIONS = [
  'proratarefunds',
  'refundtransitions',
  'refundnotificationfailures',
  'subscriptions',
  ...PAYOUT_LEDGER_COLLECTIONS,
  ...TREASURY_COLLECTIONS,
  'idempotencykeys',
  'sweepruns',
  'refundevents',
  'refundstatsnapshots',
];

export interface MigrationReport {
  createdCollections: string[];
  createdIndexes: string[];
  droppedIndexes: string[];
  backfilled: Record<string, number>;
  /** Refund records from before the event log, folded into its first snapshot. */
  seededStats: number;
  /** Refunds whose owners were added to a snapshot written before snapshots kept them. */
  ownersAdded: number;
  /** Spend entries of the last day and open alerts moved from a symbol's key to their coin's (`rekeyByAsset`). */
  rekeyedByAsset: number;
}

/**
 * Creates the collections and indexes and backfills the refund fields of
 * subscriptions where they are missing. Safe to run any number of times: a
 * second run changes nothing and reports nothing.
 */
export async function migrate(connection: Connection): Promise<MigrationReport> {
  const db = connection.db;
  if (!db) throw new Error('MongoDB connection is not open');
  const report: MigrationReport = { createdCollections: [], createdIndexes: [], droppedIndexes: [], backfilled: {}, seededStats: 0, ownersAdded: 0, rekeyedByAsset: 0 };

  const existing = new Set((await db.listCollections({}, { nameOnly: true }).toArray()).map((collection) => collection.name));
  for (const name of COLLECTIONS) {
    if (existing.has(name)) continue;
    try {
      await db.createCollection(name);
      report.createdCollections.push(name);
    } catch (error) {
      if ((error as { code?: number }).code !== NAMESPACE_EXISTS) throw error; // created concurrently: fine
    }
  }

  for (const [collectionName, specs] of Object.entries(OBSOLETE_INDEXES)) {
    const collection = db.collection(collectionName);
    for (const index of await collection.indexes()) {
      const obsolete = specs.some((spec) => keySignature(spec.keys) === keySignature(index.key as Record<string, number>) && Boolean(index.unique) === spec.unique);
      if (!obsolete || !index.name) continue;
      await collection.dropIndex(index.name);
      report.droppedIndexes.push(`${collectionName}.${index.name}`);
    }
  }

  for (const [collectionName, specs] of Object.entries(INDEXES)) {
    const collection = db.collection(collectionName);
    const present = new Set((await collection.indexes()).map((index) => keySignature(index.key as Record<string, number>)));
    for (const spec of specs) {
      if (present.has(keySignature(spec.keys))) continue;
      const name = await collection.createIndex(spec.keys, spec.options ?? {});
      report.createdIndexes.push(`${collectionName}.${name}`);
    }
  }

  const subscriptions = db.collection('subscriptions');
  for (const [field, value] of Object.entries(SUBSCRIPTION_REFUND_DEFAULTS)) {
    const result = await subscriptions.updateMany({ [field]: { $exists: false } }, { $set: { [field]: value } });
    report.backfilled[field] = result.modifiedCount;
  }

  const records = async function* () {
    const cursor = refundModel(connection)
      .find({}, { userId: 1, creatorId: 1, refundStatus: 1, createdAt: 1, requestedAt: 1, amount: 1, currency: 1, processingTimeMs: 1 })
      .lean()
      .cursor();
    for await (const record of cursor) yield { refundId: record._id, userId: record.userId, creatorId: record.creatorId, refundStatus: record.refundStatus, createdAt: record.createdAt, requestedAt: record.requestedAt, amount: record.amount, currency: record.currency, processingTimeMs: record.processingTimeMs ?? null };
  };
  report.seededStats = await seedStatsFromRecords(connection, records());
  report.ownersAdded = await addOwnersToSnapshot(connection, records);
  report.rekeyedByAsset = await rekeyByAsset(db, new Date());
  return report;
}

function keySignature(keys: Record<string, number>): string {
  return Object.entries(keys)
    .map(([field, direction]) => `${field}:${direction}`)
    .join(',');
}

export function describeReport(report: MigrationReport): string[] {
  const lines = [
    ...report.createdCollections.map((name) => `created collection ${name}`),
    ...report.droppedIndexes.map((name) => `dropped obsolete index ${name}`),
    ...report.createdIndexes.map((name) => `created index ${name}`),
    ...Object.entries(report.backfilled)
      .filter(([, count]) => count > 0)
      .map(([field, count]) => `backfilled ${field} on ${count} subscription(s)`),
    ...(report.seededStats > 0 ? [`folded ${report.seededStats} existing refund record(s) into the statistics log's first snapshot`] : []),
    ...(report.ownersAdded > 0 ? [`added the owners of ${report.ownersAdded} refund(s) to the statistics snapshot, for the user and creator lists`] : []),
    ...(report.rekeyedByAsset > 0 ? [`moved ${report.rekeyedByAsset} daily-limit spend entr(ies) and treasury alert(s) from a currency symbol's key to their coin's`] : []),
  ];
  return lines.length > 0 ? lines : ['nothing to do: collections, indexes and subscription fields are up to date'];
}
