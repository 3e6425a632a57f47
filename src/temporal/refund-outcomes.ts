import { ApplicationFailure, WorkflowUpdateFailedError } from '@temporalio/client';
import type { IneligibilityReason } from '../domain/eligibility';
import type { Refund } from '../domain/refund';
import type { RefundStatus } from '../domain/refund-status';
import type { ApproveDecision, CancelDecision, RefundWorkflowState, RejectDecision, RetryDecision } from '../../workflows/refund-messages';

/**
 * What RefundWorkflowClient answers the API with: outcomes in the refund's
 * terms, not Temporal's (no SDK error crosses into the routes, which map each
 * outcome to one HTTP answer). Outages (unreachable, no worker in time) are not
 * outcomes: they stay thrown, and src/api/errors.ts makes them 503s.
 */

/**
 * What asking for a refund came to (startAfterPreviousCloses), in the terms of
 * the refund, not of Temporal: the API maps each to one HTTP answer.
 */
export type StartOutcome =
  /** The workflow holds the refund, pending approval. */
  | { kind: 'accepted'; refund: Refund; runId: string }
  /** The workflow checked the subscription itself and found it cannot be refunded. */
  | { kind: 'ineligible'; reasons: IneligibilityReason[] }
  | { kind: 'subscription-not-found'; message: string }
  | { kind: 'invalid-subscription'; message: string }
  /** A live or completed refund of the subscription: this one is not started. `refundId` is null when its run did not say. */
  | { kind: 'refund-exists'; refundId: string | null; refundStatus?: RefundStatus }
  /** The previous refund is over (cancelled, rejected) but its run did not close within the wait: ask again shortly. */
  | { kind: 'previous-closing'; refundId: string; refundStatus: RefundStatus };

/** A refund as its workflow holds it now. */
export type LiveRefund =
  | { kind: 'live'; refund: Refund }
  /**
   * No run holds it: the subscription has no workflow (never started, or past
   * the namespace's retention), its run is still preparing or found the refund
   * ineligible, or (when `ref.refundId` is given) the run is another refund's.
   */
  | { kind: 'not-found' };

/** A decision as the API sends it: who decides, and what each kind carries. */
export type RefundDecision =
  | ({ kind: 'approve' } & ApproveDecision)
  | ({ kind: 'reject' } & RejectDecision)
  | ({ kind: 'cancel' } & CancelDecision)
  | ({ kind: 'retry' } & RetryDecision);

/** What the refund's workflow answered to a decision. */
export type DecisionOutcome =
  | { kind: 'decided'; refund: Refund }
  /** Refused: the refund is no longer pending (or, for a retry, not failed). `refundStatus` is its live status when it could be read. */
  | { kind: 'not-pending'; refundStatus: RefundStatus | null }
  | { kind: 'not-failed'; refundStatus: RefundStatus | null }
  /** Refused: this failed payout must not be paid again; `why` is the workflow's explanation. */
  | { kind: 'not-retryable'; why: string }
  /** Refused: the refund is still being prepared. */
  | { kind: 'not-ready' }
  /** Refused: the decision's input (e.g. a blank rejection reason). */
  | { kind: 'invalid'; message: string }
  /** The refund's run is gone (past retention) or the subscription's workflow now runs a later refund: this one is over. */
  | { kind: 'over' };

/** What the workflow answered to its registration, as the start's outcome. */
export function registrationOutcome(started: { refundId: string; runId: string; state: RefundWorkflowState }): StartOutcome {
  const { state } = started;
  switch (state.phase) {
    case 'registered':
      return { kind: 'accepted', refund: state.refund, runId: started.runId };
    case 'ineligible':
      return { kind: 'ineligible', reasons: state.ineligibility.reasons };
    case 'invalid':
      return state.invalid.code === 'SUBSCRIPTION_NOT_FOUND'
        ? { kind: 'subscription-not-found', message: state.invalid.message }
        : { kind: 'invalid-subscription', message: state.invalid.message };
    case 'preparing':
      throw new Error(`refund ${started.refundId} answered its registration while still preparing`);
  }
}

/** The workflow's refusal of an update: its ApplicationFailure type (one of DECISION_ERRORS) and message. */
export function refusalOf(error: unknown): { type: string; message: string } | null {
  if (!(error instanceof WorkflowUpdateFailedError) || !(error.cause instanceof ApplicationFailure) || !error.cause.type) return null;
  return { type: error.cause.type, message: error.cause.message };
}
