import { ApplicationFailure, patched, upsertSearchAttributes, workflowInfo } from '@temporalio/workflow';
import type { ProgressFields, Refund, TransitionFields } from '../src/domain/refund';
import type { RefundStatus, StatusChange } from '../src/domain/refund-status';
import { RefundStatusKey } from '../src/temporal/search-attributes';
import type { RecordActivities } from './refund-activities';
import { DECISION_ERRORS, type RefundWorkflowState } from './refund-messages';

/**
 * The refund as its workflow holds it, and the one writer of its record: every
 * change is written to the store (and the Web UI's search attributes) by this
 * class. From the `record-first` patch on, the record is written before the
 * workflow's own state moves, so whoever saw the workflow answer (an API
 * update, a query) finds the record already current.
 */
export class RefundState {
  state: RefundWorkflowState = { phase: 'preparing' };

  constructor(
    private readonly refundId: string,
    private readonly records: RecordActivities,
  ) {}

  /** The registered refund; decisions that arrive before registration are refused as not ready. */
  get refund(): Refund {
    if (this.state.phase !== 'registered') throw ApplicationFailure.nonRetryable('the refund is still being prepared', DECISION_ERRORS.notReady);
    return this.state.refund;
  }

  get registered(): boolean {
    return this.state.phase === 'registered';
  }

  get status(): RefundStatus | null {
    return this.state.phase === 'registered' ? this.state.refund.refundStatus : null;
  }

  async moveTo(status: RefundStatus, by: string, note: string | undefined, fields: TransitionFields = {}): Promise<void> {
    const change: StatusChange = { status, at: nowIso(), by, ...(note ? { note } : {}) };
    const next: Refund = { ...this.refund, ...fields, refundStatus: status, statusHistory: [...this.refund.statusHistory, change] };
    if (patched('record-first')) {
      await this.records.transitionRefund({ refundId: this.refundId, change, fields, runId: workflowInfo().runId, base: this.refund });
      this.set(next);
      upsertSearchAttributes([{ key: RefundStatusKey, value: status }]);
      return;
    }
    this.set(next);
    upsertSearchAttributes([{ key: RefundStatusKey, value: status }]);
    await this.records.transitionRefund({ refundId: this.refundId, change, fields });
  }

  /** A change without a new status (the payout as it progresses, why the refund waits). */
  async update(fields: ProgressFields): Promise<void> {
    await this.records.recordRefundProgress({ refundId: this.refundId, fields });
    this.set({ ...this.refund, ...fields });
  }

  /** In memory only: what the record keeps elsewhere (notification failures have their own collection). */
  set(refund: Refund): void {
    this.state = { phase: 'registered', refund };
  }
}

/** Workflow time: deterministic on replay. */
export function nowIso(): string {
  return new Date().toISOString();
}
