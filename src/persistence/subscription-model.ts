import { Schema, type Connection, type Model, type Types } from 'mongoose';

/**
 * `subscriptions` belongs to the wider platform: other systems insert it, we read
 * it (validated by domain/subscription.ts) and flag it when a refund is applied.
 * The schema is deliberately loose so unknown fields survive our writes.
 */
export interface SubscriptionDocument {
  _id: Types.ObjectId;
  [field: string]: unknown;
}

const subscriptionSchema = new Schema<SubscriptionDocument>({}, { collection: 'subscriptions', strict: false, versionKey: false });

export const SUBSCRIPTION_INDEXES: { keys: Record<string, 1 | -1> }[] = [{ keys: { refundEligible: 1 } }];

export type SubscriptionModel = Model<SubscriptionDocument>;

export function subscriptionModel(connection: Connection): SubscriptionModel {
  return (connection.models.Subscription as SubscriptionModel | undefined) ?? connection.model<SubscriptionDocument>('Subscription', subscriptionSchema);
}
