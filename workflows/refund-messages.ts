import { defineQuery, defineSignal, defineUpdate } from '@temporalio/workflow';
import type { IneligibilityReason } from '../src/domain/eligibility';
import type { RefundPreparation } from '../src/domain/prepared-refund';
import type { RefundBreakdown } from '../src/domain/proration';
import type { Refund } from '../src/domain/refund';
import type { RefundStatus } from '../src/domain/refund-status';

/**
 * How the outside world talks to a refund workflow. Decisions exist twice:
 * as signals, so an operator can send them from the Temporal CLI or Web UI
 * (`temporal workflow signal --name approve --input '{"by":"ops-alice"}'`), and
 * as updates with validators, so the API gets a synchronous, validated answer.
 * Each constant is named after its name on the wire.
 */

export interface RefundWorkflowInput {
  refundId: string;
  subscriptionId: string;
  requestedAt: string;
  requestedBy: string;
  reason: string | null;
  /** PRO_RATA_REFUND_AUTO_APPROVE_DAYS in ms, fixed when the refund was requested. */
  autoApproveAfterMs: number;
  /** PRO_RATA_REFUND_PENALTY_BPS, fixed when the refund was requested. */
  penaltyBps: number;
  /**
   * Checked and computed by the API before it started the workflow (it had
   * loaded the subscription anyway): the workflow then skips its prepare
   * activity and answers the registration update before the record is written.
   * Absent for refunds the sweep starts.
   */
  prepared?: RefundPreparation;
  /** Tuning for tests and operations; defaults suit production. */
  timings?: Partial<RefundTimings>;
}

export interface RefundTimings {
  /** A payout whose worker died is retried elsewhere after this long without a heartbeat. */
  payoutHeartbeatTimeoutMs: number;
  /** How long one attempt to claim and sign a payout may take before Temporal tries again. */
  payoutPrepareTimeoutMs: number;
  /** Attempts of one call to prepare the payout; after an infrastructure failure the workflow says why it waits and calls again. */
  payoutMaxAttempts: number;
  notificationMaxAttempts: number;
  notificationInitialIntervalMs: number;
}

/**
 * Decisions address the subscription's workflow (whatever run is current, so a
 * reset does not strand them); `refundId`, when given, must be this refund's,
 * so a decision meant for an earlier refund of the subscription never lands on a later one.
 */
interface Addressed {
  by: string;
  refundId?: string;
}
export interface ApproveDecision extends Addressed {
  note?: string;
}
export interface RejectDecision extends Addressed {
  reason: string;
}
export type CancelDecision = Addressed;
export interface RetryDecision extends Addressed {
  note?: string;
}

/** What the refund workflow holds, by phase: only a registered refund has a record. */
export type RefundWorkflowState =
  | { phase: 'preparing' }
  | { phase: 'registered'; refund: Refund }
  | { phase: 'ineligible'; ineligibility: { reasons: IneligibilityReason[]; amount: string; breakdown: RefundBreakdown } }
  | { phase: 'invalid'; invalid: { code: string; message: string } };

export type RefundPhase = RefundWorkflowState['phase'];

/** The refund of a registered run; null while preparing, or when the run found nothing to refund. */
export function registeredRefund(state: RefundWorkflowState): Refund | null {
  return state.phase === 'registered' ? state.refund : null;
}

export interface RefundWorkflowResult {
  refundId: string;
  outcome: RefundStatus | 'ineligible' | 'invalid';
}

/** Error types a validator rejects with; the API maps them to HTTP answers. */
export const DECISION_ERRORS = {
  notReady: 'RefundNotReady',
  notPending: 'RefundNotPending',
  notFailed: 'RefundNotFailed',
  notRetryable: 'RefundNotRetryable',
  otherRefund: 'DecisionForAnotherRefund',
  invalidInput: 'InvalidDecision',
} as const;

export const approveSignal = defineSignal<[ApproveDecision]>('approve');
export const rejectSignal = defineSignal<[RejectDecision]>('reject');
export const cancelSignal = defineSignal<[CancelDecision]>('cancel');
export const retrySignal = defineSignal<[RetryDecision]>('retry');

export const approveRefundUpdate = defineUpdate<Refund, [ApproveDecision]>('approveRefund');
export const rejectRefundUpdate = defineUpdate<Refund, [RejectDecision]>('rejectRefund');
export const cancelRefundUpdate = defineUpdate<Refund, [CancelDecision]>('cancelRefund');
export const retryPayoutUpdate = defineUpdate<Refund, [RetryDecision]>('retryPayout');

/** Completes once the refund is recorded (or found ineligible): the API's answer to "start a refund". */
export const awaitRegistrationUpdate = defineUpdate<RefundWorkflowState>('awaitRegistration');

export const getRefundQuery = defineQuery<RefundWorkflowState>('getRefund');
