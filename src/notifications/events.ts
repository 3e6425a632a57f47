import type { Refund } from '../domain/refund';

/**
 * Every notification the service sends, and who receives it. To add one: add its
 * type here, its rule below, its wording in email-templates.ts, and emit it from
 * the refund workflow (workflows/refund-workflow.ts, `notify`).
 */
export const REFUND_EVENT_TYPES = ['refund.requested', 'refund.approved', 'refund.rejected', 'refund.cancelled', 'refund.completed', 'refund.failed'] as const;
export type RefundEventType = (typeof REFUND_EVENT_TYPES)[number];

/** Webhooks carry every event; emails go to the subscriber and/or the finance mailbox. */
export const EMAIL_RULES: Record<RefundEventType, { user: boolean; finance: boolean }> = {
  'refund.requested': { user: true, finance: true },
  'refund.approved': { user: true, finance: true },
  'refund.rejected': { user: true, finance: true },
  'refund.cancelled': { user: false, finance: false },
  'refund.completed': { user: true, finance: true },
  'refund.failed': { user: false, finance: true },
};

/** The body of a webhook, and what email templates render. `id` is stable across retries. */
export interface RefundEvent {
  id: string;
  type: RefundEventType;
  createdAt: string;
  data: { refund: Refund };
}

export type EmailAudience = 'user' | 'finance';

/**
 * Alerts about the treasury rather than one refund, sent to the same webhook with
 * the same signature and id rules. Each is sent once per episode (see
 * src/persistence/treasury-store.ts); docs/ADMIN.md says what to do about each.
 */
export const TREASURY_EVENT_TYPES = ['treasury.low_balance', 'treasury.payout_stuck', 'treasury.daily_limit', 'treasury.old_wallet_payout', 'treasury.payout_refused'] as const;
export type TreasuryEventType = (typeof TREASURY_EVENT_TYPES)[number];

export interface TreasuryEvent {
  id: string;
  type: TreasuryEventType;
  createdAt: string;
  data: { message: string; [detail: string]: unknown };
}

/** Everything the admin webhook receives. */
export type WebhookEvent = RefundEvent | TreasuryEvent;
