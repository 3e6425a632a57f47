import {
  WithStartWorkflowOperation,
  WorkflowExecutionAlreadyStartedError,
  WorkflowIdConflictPolicy,
  WorkflowIdReusePolicy,
  WorkflowNotFoundError,
  type Client,
  type WorkflowHandle,
  type WorkflowHandleWithFirstExecutionRunId,
} from '@temporalio/client';
import crypto from 'node:crypto';
import type { Config } from '../config';
import type { RefundPreparation } from '../domain/prepared-refund';
import { refundWorkflowId, type Refund } from '../domain/refund';
import { BLOCKING_STATUSES, type RefundStatus } from '../domain/refund-status';
import type { proRataRefundWorkflow } from '../../workflows/refund-workflow';
import {
  approveRefundUpdate,
  awaitRegistrationUpdate,
  cancelRefundUpdate,
  DECISION_ERRORS,
  getRefundQuery,
  registeredRefund,
  rejectRefundUpdate,
  retryPayoutUpdate,
  type ApproveDecision,
  type CancelDecision,
  type RefundTimings,
  type RefundWorkflowState,
  type RejectDecision,
  type RetryDecision,
} from '../../workflows/refund-messages';
import type { Subscription } from '../domain/subscription';
import { refundWorkflowMetadata } from './refund-metadata';
import { refusalOf, registrationOutcome, type DecisionOutcome, type LiveRefund, type RefundDecision, type StartOutcome } from './refund-outcomes';
import { SubscriptionIdKey } from './search-attributes';

export interface RefundPolicySettings {
  taskQueue: string;
  autoApproveAfterMs: number;
  penaltyBps: number;
  /** Deadline of every call to Temporal made on behalf of an HTTP request. */
  callTimeoutMs?: number;
  timings?: Partial<RefundTimings>;
}

/**
 * Which refund: its subscription's workflow, and (for reads) the run the record
 * follows. Decisions go to the workflow id, whatever run is current (a reset
 * starts a new run), and carry the refundId so the workflow refuses a decision
 * meant for another refund of the same subscription.
 */
export interface RefundRunRef {
  subscriptionId: string;
  runId?: string | null;
  refundId?: string;
}

/**
 * `updateId`: Temporal answers a second update with the same id, on the same
 * run, with the first one's outcome instead of running it again: a decision
 * retried after its answer was lost is not refused as "already decided".
 */
export interface DecisionOptions {
  updateId?: string;
}

export interface StartRefundRequest {
  subscriptionId: string;
  requestedBy: string;
  reason?: string | null;
  requestedAt?: Date;
  /** The subscription as the starter read it: names the amount and wallet in the Web UI (refund-metadata.ts). */
  subscription?: Subscription;
  /** The amount the caller already checked and computed at `requestedAt` (the API); see RefundWorkflowInput.prepared. */
  prepared?: RefundPreparation;
}

export type StartRefundResult =
  | { kind: 'started'; refundId: string; runId: string; state: RefundWorkflowState }
  | { kind: 'already-running'; refundId: string | null };

/** How long a new request waits for a cancelled or rejected refund's run to close (it sends its notifications first). */
export const CLOSING_WAIT_MS = 5_000;

export const DAY_MS = 24 * 60 * 60 * 1000;

/** The refund policy of this deployment, as every starter (API, sweep) applies it. */
export function refundPolicySettings(config: Config): RefundPolicySettings {
  return {
    taskQueue: config.temporal.taskQueue,
    autoApproveAfterMs: Math.round(config.refunds.autoApproveDays * DAY_MS),
    penaltyBps: config.refunds.penaltyBps,
  };
}

/**
 * `rf_` + the subscription id (24 hex) + 16 random hex: a refund can be found
 * through its subscription's workflow before its record is written. Refunds
 * from before this format (`rf_` + 24 random hex) are found by their record.
 */
export function newRefundId(subscriptionId?: string): string {
  if (subscriptionId && /^[0-9a-f]{24}$/.test(subscriptionId)) return `rf_${subscriptionId}${crypto.randomBytes(8).toString('hex')}`;
  return `rf_${crypto.randomBytes(12).toString('hex')}`;
}

/** The subscription a refund id names, for ids of the current format; null for older ones. */
export function subscriptionIdOfRefund(refundId: string): string | null {
  const match = /^rf_([0-9a-f]{24})[0-9a-f]{16}$/.exec(refundId);
  return match ? match[1]! : null;
}

/**
 * Everything the API and the sweep do to refund workflows. One workflow id per
 * subscription with conflict policy FAIL: while a refund of a subscription runs,
 * no second one can start, whoever asks and however often. A finished refund
 * (rejected, cancelled, completed) lets a new run start; the workflow's own
 * eligibility check and the payout ledger refuse anything a completed one covers.
 * The API uses startAfterPreviousCloses, liveRefund and decide, which answer with
 * outcomes (refund-outcomes.ts); the other methods are for the sweep, the
 * reconciliation, tests and scripts.
 */
export class RefundWorkflowClient {
  constructor(
    readonly client: Client,
    private readonly settings: RefundPolicySettings,
  ) {}

  private get callTimeoutMs(): number {
    return this.settings.callTimeoutMs ?? 10_000;
  }

  /** The subscription's refund workflow; with `runId`, exactly that refund's run (a later refund is another run). */
  handle(subscriptionId: string, runId?: string | null): WorkflowHandle<typeof proRataRefundWorkflow> {
    return this.client.workflow.getHandle<typeof proRataRefundWorkflow>(refundWorkflowId(subscriptionId), runId ?? undefined);
  }

  /**
   * Starts the refund and waits for its registration: one round trip
   * (update-with-start). With `request.prepared` the workflow answers as soon as
   * it holds the refund; without, once it has checked, computed and recorded it
   * (or found it ineligible).
   */
  async start(request: StartRefundRequest): Promise<StartRefundResult> {
    const refundId = newRefundId(request.subscriptionId);
    const operation = new WithStartWorkflowOperation<typeof proRataRefundWorkflow>('proRataRefundWorkflow', this.startOptions(request, refundId));
    try {
      const state = await this.withDeadline(() => this.client.workflow.executeUpdateWithStart(awaitRegistrationUpdate, { startWorkflowOperation: operation }), 30_000);
      // The SDK builds this handle with the started run's id, though its type does not say so.
      const handle = (await operation.workflowHandle()) as WorkflowHandle<typeof proRataRefundWorkflow> & { firstExecutionRunId?: string };
      return { kind: 'started', refundId, runId: handle.firstExecutionRunId ?? '', state };
    } catch (error) {
      if (error instanceof WorkflowExecutionAlreadyStartedError) {
        return { kind: 'already-running', refundId: await this.runningRefundId(request.subscriptionId) };
      }
      throw error;
    }
  }

  /**
   * Starts the refund, as start() does, and says what came of it. A cancelled
   * or rejected refund's run stays open for a moment while its notifications go
   * out; a new request then waits for it to close (up to `closingWaitMs`) and
   * starts again, instead of being refused. A live or completed refund is never
   * waited for. `request` is started as given both times: the amount the caller
   * computed at its `requestedAt` stays the refund's.
   */
  async startAfterPreviousCloses(request: StartRefundRequest, closingWaitMs = CLOSING_WAIT_MS): Promise<StartOutcome> {
    const first = await this.start(request);
    if (first.kind === 'started') return registrationOutcome(first);
    const running = await this.liveRefund({ subscriptionId: request.subscriptionId });
    if (running.kind === 'not-found' || BLOCKING_STATUSES.includes(running.refund.refundStatus)) {
      const refund = running.kind === 'live' ? running.refund : null;
      return { kind: 'refund-exists', refundId: first.refundId ?? refund?.refundId ?? null, ...(refund ? { refundStatus: refund.refundStatus } : {}) };
    }

    await this.client.withDeadline(Date.now() + closingWaitMs, () => this.result({ subscriptionId: request.subscriptionId })).catch(() => undefined);
    const second = await this.start(request);
    if (second.kind === 'started') return registrationOutcome(second);
    return { kind: 'previous-closing', refundId: running.refund.refundId, refundStatus: running.refund.refundStatus };
  }

  /** Starts the refund without waiting for it to be recorded: for the sweep, which starts many. */
  async startInBackground(request: StartRefundRequest): Promise<{ kind: 'started'; refundId: string; runId: string } | { kind: 'already-running'; refundId: string | null }> {
    const started = await this.startRun(request);
    if (started.kind === 'already-running') return started;
    return { kind: 'started', refundId: started.refundId, runId: started.handle.firstExecutionRunId };
  }

  private async startRun(
    request: StartRefundRequest,
  ): Promise<{ kind: 'started'; refundId: string; handle: WorkflowHandleWithFirstExecutionRunId<typeof proRataRefundWorkflow> } | { kind: 'already-running'; refundId: string | null }> {
    const refundId = newRefundId(request.subscriptionId);
    try {
      const handle = await this.withDeadline(() => this.client.workflow.start<typeof proRataRefundWorkflow>('proRataRefundWorkflow', this.startOptions(request, refundId)));
      return { kind: 'started', refundId, handle };
    } catch (error) {
      if (error instanceof WorkflowExecutionAlreadyStartedError) {
        return { kind: 'already-running', refundId: await this.runningRefundId(request.subscriptionId) };
      }
      throw error;
    }
  }

  private startOptions(request: StartRefundRequest, refundId: string) {
    const requestedAt = request.requestedAt ?? new Date();
    return {
      workflowId: refundWorkflowId(request.subscriptionId),
      taskQueue: this.settings.taskQueue,
      workflowIdConflictPolicy: WorkflowIdConflictPolicy.FAIL,
      workflowIdReusePolicy: WorkflowIdReusePolicy.ALLOW_DUPLICATE,
      typedSearchAttributes: [{ key: SubscriptionIdKey, value: request.subscriptionId }],
      memo: { refundId },
      ...refundWorkflowMetadata({ ...request, refundId, requestedAt, penaltyBps: this.settings.penaltyBps, autoApproveAfterMs: this.settings.autoApproveAfterMs }),
      args: [
        {
          refundId,
          subscriptionId: request.subscriptionId,
          requestedAt: requestedAt.toISOString(),
          requestedBy: request.requestedBy,
          reason: request.reason ?? null,
          autoApproveAfterMs: this.settings.autoApproveAfterMs,
          penaltyBps: this.settings.penaltyBps,
          timings: this.settings.timings,
          ...(request.prepared ? { prepared: request.prepared } : {}),
        },
      ] as Parameters<typeof proRataRefundWorkflow>,
    };
  }

  /** The live state of a refund run (the subscription's latest run when `runId` is omitted). */
  state(ref: RefundRunRef): Promise<RefundWorkflowState> {
    return this.withDeadline(() => this.handle(ref.subscriptionId, ref.runId).query(getRefundQuery));
  }

  approve(ref: RefundRunRef, decision: ApproveDecision, options: DecisionOptions = {}): Promise<Refund> {
    return this.withDeadline(() => this.handle(ref.subscriptionId).executeUpdate(approveRefundUpdate, { args: [addressed(decision, ref)], updateId: options.updateId }));
  }

  reject(ref: RefundRunRef, decision: RejectDecision, options: DecisionOptions = {}): Promise<Refund> {
    return this.withDeadline(() => this.handle(ref.subscriptionId).executeUpdate(rejectRefundUpdate, { args: [addressed(decision, ref)], updateId: options.updateId }));
  }

  cancel(ref: RefundRunRef, decision: CancelDecision, options: DecisionOptions = {}): Promise<Refund> {
    return this.withDeadline(() => this.handle(ref.subscriptionId).executeUpdate(cancelRefundUpdate, { args: [addressed(decision, ref)], updateId: options.updateId }));
  }

  retry(ref: RefundRunRef, decision: RetryDecision, options: DecisionOptions = {}): Promise<Refund> {
    return this.withDeadline(() => this.handle(ref.subscriptionId).executeUpdate(retryPayoutUpdate, { args: [addressed(decision, ref)], updateId: options.updateId }));
  }

  /** The refund `ref` names, as its workflow holds it now; with `ref.refundId`, only if the run holds that refund. */
  async liveRefund(ref: RefundRunRef): Promise<LiveRefund> {
    let state: RefundWorkflowState;
    try {
      state = await this.state(ref);
    } catch (error) {
      if (error instanceof WorkflowNotFoundError) return { kind: 'not-found' };
      throw error;
    }
    const refund = registeredRefund(state);
    if (!refund || (ref.refundId !== undefined && refund.refundId !== ref.refundId)) return { kind: 'not-found' };
    return { kind: 'live', refund };
  }

  /**
   * Sends a decision to the refund's workflow, which validates it against its
   * live state and answers at once. A refusal is an outcome; anything else
   * (Temporal unreachable, no worker in time) is thrown.
   */
  async decide(ref: RefundRunRef, decision: RefundDecision, options: DecisionOptions = {}): Promise<DecisionOutcome> {
    try {
      return { kind: 'decided', refund: await this.send(ref, decision, options) };
    } catch (error) {
      if (error instanceof WorkflowNotFoundError) return { kind: 'over' };
      const refusal = refusalOf(error);
      switch (refusal?.type) {
        case DECISION_ERRORS.notPending:
          return { kind: 'not-pending', refundStatus: await this.liveStatus(ref) };
        case DECISION_ERRORS.notFailed:
          return { kind: 'not-failed', refundStatus: await this.liveStatus(ref) };
        case DECISION_ERRORS.notRetryable:
          return { kind: 'not-retryable', why: refusal.message };
        case DECISION_ERRORS.otherRefund:
          return { kind: 'over' };
        case DECISION_ERRORS.notReady:
          return { kind: 'not-ready' };
        case DECISION_ERRORS.invalidInput:
          return { kind: 'invalid', message: refusal.message };
      }
      throw error;
    }
  }

  /** Through approve, reject, cancel and retry: tests replace those to lose an answer or fail a call. */
  private send(ref: RefundRunRef, decision: RefundDecision, options: DecisionOptions): Promise<Refund> {
    switch (decision.kind) {
      case 'approve': {
        const { kind: _kind, ...approval } = decision;
        return this.approve(ref, approval, options);
      }
      case 'reject': {
        const { kind: _kind, ...rejection } = decision;
        return this.reject(ref, rejection, options);
      }
      case 'cancel': {
        const { kind: _kind, ...cancellation } = decision;
        return this.cancel(ref, cancellation, options);
      }
      case 'retry': {
        const { kind: _kind, ...retry } = decision;
        return this.retry(ref, retry, options);
      }
    }
  }

  /** The refund's status after a refusal, for the answer; null when it cannot be read (the caller knows the record's). */
  private async liveStatus(ref: RefundRunRef): Promise<RefundStatus | null> {
    const live = await this.liveRefund(ref).catch(() => null);
    return live?.kind === 'live' ? live.refund.refundStatus : null;
  }

  /** Waits for the run to end; for tests and scripts. */
  result(ref: RefundRunRef) {
    return this.handle(ref.subscriptionId, ref.runId).result();
  }

  /** The refundId of the run in progress, from the memo every run is started with. */
  async runningRefundId(subscriptionId: string): Promise<string | null> {
    const description = await this.withDeadline(() => this.handle(subscriptionId).describe());
    const refundId = description.memo?.refundId;
    return typeof refundId === 'string' ? refundId : null;
  }

  private withDeadline<T>(call: () => Promise<T>, timeoutMs = this.callTimeoutMs): Promise<T> {
    return this.client.withDeadline(Date.now() + timeoutMs, call);
  }
}

function addressed<D extends { refundId?: string }>(decision: D, ref: RefundRunRef): D {
  return ref.refundId ? { ...decision, refundId: ref.refundId } : decision;
}
