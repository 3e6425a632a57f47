import type { RefundView } from '../domain/refund';

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
  data: { refund: RefundView };
}

export type EmailAudience = 'user' | 'finance';
