import { Schema, type Connection, type Model } from 'mongoose';
import { REFUND_STATUSES, type RefundStatus } from '../domain/refund-status';
import type { NotificationFailure, Refund } from '../domain/refund';

/**
 * `proratarefunds`: the queryable projection of each refund workflow. The
 * workflow is the source of truth; this record is written by its activities.
 * `_id` is the refundId, so the primary key makes every write idempotent.
 */
export interface RefundRecord extends Omit<Refund, 'requestedAt' | 'autoApproveAt' | 'decidedAt' | 'completedAt' | 'notificationFailures'> {
  _id: string;
  runId: string | null;
  requestedAt: Date;
  autoApproveAt: Date;
  decidedAt: Date | null;
  completedAt: Date | null;
  createdAt: Date;
  updatedAt: Date;
}

const statusChangeSchema = new Schema(
  { status: { type: String, enum: REFUND_STATUSES, required: true }, at: String, by: String, note: String },
  { _id: false },
);

const refundSchema = new Schema<RefundRecord>(
  {
    _id: { type: String, required: true },
    refundId: { type: String, required: true },
    subscriptionId: { type: String, required: true },
    userId: { type: String, required: true },
    creatorId: { type: String, required: true },
    workflowId: { type: String, required: true },
    runId: { type: String, default: null },
    refundStatus: { type: String, enum: REFUND_STATUSES, required: true },
    amount: { type: String, required: true },
    amountFormatted: { type: String, required: true },
    currency: { symbol: String, decimals: Number, tokenAddress: { type: String, default: null } },
    breakdown: { type: Schema.Types.Mixed, required: true },
    reason: { type: String, default: null },
    requestedAt: { type: Date, required: true },
    requestedBy: { type: String, required: true },
    autoApproveAt: { type: Date, required: true },
    decidedBy: { type: String, default: null },
    decidedAt: { type: Date, default: null },
    decisionNote: { type: String, default: null },
    transactionId: { type: String, default: undefined },
    payout: { type: Schema.Types.Mixed, default: null },
    completedAt: { type: Date, default: null },
    failureReason: { type: String, default: null },
    failureCode: { type: String, default: null },
    retryable: { type: Boolean, default: null },
    waitingReason: { type: String, default: null },
    statusHistory: { type: [statusChangeSchema], default: [] },
    processingTimeMs: { type: Number, default: null },
  },
  { collection: 'proratarefunds', timestamps: true, versionKey: false, minimize: false },
);

/** The nine indexes of the refund collection (DEPLOYMENT.md, step 4). Created by `npm run migrate`. */
export const REFUND_INDEXES: { keys: Record<string, 1 | -1>; options?: { sparse?: boolean } }[] = [
  { keys: { subscriptionId: 1 } },
  { keys: { userId: 1 } },
  { keys: { creatorId: 1 } },
  { keys: { refundStatus: 1 } },
  { keys: { createdAt: 1 } },
  { keys: { subscriptionId: 1, refundStatus: 1 } },
  { keys: { creatorId: 1, refundStatus: 1 } },
  { keys: { userId: 1, createdAt: -1 } },
  { keys: { transactionId: 1 }, options: { sparse: true } },
];

export type RefundModel = Model<RefundRecord>;

export function refundModel(connection: Connection): RefundModel {
  return (connection.models.ProRataRefund as RefundModel | undefined) ?? connection.model<RefundRecord>('ProRataRefund', refundSchema);
}

/** `refundtransitions`: one document per status change, `_id` = refundId:seq. See RefundRepository.transition. */
export interface RefundTransitionRecord {
  _id: string;
  refundId: string;
  seq: number;
  from: RefundStatus;
  status: RefundStatus;
  at: string;
  by: string;
  note?: string;
}

const refundTransitionSchema = new Schema<RefundTransitionRecord>(
  {
    _id: String,
    refundId: { type: String, required: true },
    seq: { type: Number, required: true },
    from: { type: String, enum: REFUND_STATUSES, required: true },
    status: { type: String, enum: REFUND_STATUSES, required: true },
    at: { type: String, required: true },
    by: { type: String, required: true },
    note: String,
  },
  { collection: 'refundtransitions', versionKey: false },
);

export const REFUND_TRANSITION_INDEXES = [{ keys: { refundId: 1, seq: 1 } }] as const;

export type RefundTransitionModel = Model<RefundTransitionRecord>;

export function refundTransitionModel(connection: Connection): RefundTransitionModel {
  return (
    (connection.models.RefundTransition as RefundTransitionModel | undefined) ??
    connection.model<RefundTransitionRecord>('RefundTransition', refundTransitionSchema)
  );
}

/**
 * `refundnotificationfailures`: notifications that failed for good, one document
 * each (`_id` = refundId:eventId:channel:recipient). Kept apart from the refund
 * record so that only the refund's workflow, one change at a time, ever updates
 * the record: FerretDB rewrites whole documents, so two concurrent updates of one
 * record could lose one of them.
 */
export interface NotificationFailureRecord extends NotificationFailure {
  _id: string;
  refundId: string;
}

const notificationFailureSchema = new Schema<NotificationFailureRecord>(
  {
    _id: String,
    refundId: { type: String, required: true },
    eventId: String,
    channel: { type: String, enum: ['email', 'webhook'] },
    recipient: String,
    error: String,
    at: String,
  },
  { collection: 'refundnotificationfailures', versionKey: false },
);

export const NOTIFICATION_FAILURE_INDEXES = [{ keys: { refundId: 1 } }] as const;

export type NotificationFailureModel = Model<NotificationFailureRecord>;

export function notificationFailureModel(connection: Connection): NotificationFailureModel {
  return (
    (connection.models.RefundNotificationFailure as NotificationFailureModel | undefined) ??
    connection.model<NotificationFailureRecord>('RefundNotificationFailure', notificationFailureSchema)
  );
}
