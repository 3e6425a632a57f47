import { defineSearchAttributeKey, SearchAttributeType } from '@temporalio/common';

/** Keyword attributes every refund workflow keeps current, so operators can filter in the Web UI. */
export const RefundStatusKey = defineSearchAttributeKey('RefundStatus', SearchAttributeType.KEYWORD);
export const SubscriptionIdKey = defineSearchAttributeKey('SubscriptionId', SearchAttributeType.KEYWORD);
export const UserIdKey = defineSearchAttributeKey('UserId', SearchAttributeType.KEYWORD);
export const CreatorIdKey = defineSearchAttributeKey('CreatorId', SearchAttributeType.KEYWORD);

export const REFUND_SEARCH_ATTRIBUTES = [RefundStatusKey, SubscriptionIdKey, UserIdKey, CreatorIdKey];
