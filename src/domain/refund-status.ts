/** The life of a refund. Pure data, shared by the workflow, the store and the API. */

export const REFUND_STATUSES = ['pending_approval', 'approved', 'processing', 'completed', 'rejected', 'cancelled', 'failed'] as const;
export type RefundStatus = (typeof REFUND_STATUSES)[number];

const TRANSITIONS: Record<RefundStatus, readonly RefundStatus[]> = {
  pending_approval: ['approved', 'rejected', 'cancelled'],
  approved: ['processing'],
  processing: ['completed', 'failed'],
  failed: ['processing'],
  completed: [],
  rejected: [],
  cancelled: [],
};

export function canTransition(from: RefundStatus, to: RefundStatus): boolean {
  return TRANSITIONS[from].includes(to);
}

/** The statuses a transition into `to` may come from. */
export function sourcesOf(to: RefundStatus): RefundStatus[] {
  return REFUND_STATUSES.filter((from) => TRANSITIONS[from].includes(to));
}

/** Statuses that block a new refund for the same subscription (SPEC: "live or completed"). */
export const BLOCKING_STATUSES: readonly RefundStatus[] = ['pending_approval', 'approved', 'processing', 'failed', 'completed'];
export const TERMINAL_STATUSES: readonly RefundStatus[] = ['completed', 'rejected', 'cancelled'];

export function isTerminal(status: RefundStatus): boolean {
  return TERMINAL_STATUSES.includes(status);
}

/** Who made a transition: an admin or user id, `auto` for the approval timer, `system` for the service itself. */
export interface StatusChange {
  status: RefundStatus;
  at: string;
  by: string;
  note?: string;
}
