import { allHandlersFinished, CancellationScope, condition, isCancellation, patched, sleep, upsertSearchAttributes, workflowInfo } from '@temporalio/workflow';
import type { PayoutRequest } from '../src/domain/payout';
import type { PreparedRefund, RefundSubject } from '../src/domain/prepared-refund';
import type { PayoutDetails, Refund } from '../src/domain/refund';
import { adminMayRetry } from '../src/payout/failures';
import { CreatorIdKey, RefundStatusKey, SubscriptionIdKey, UserIdKey } from '../src/temporal/search-attributes';
import { refundActivities, type RefundActivityProxies } from './refund-activities';
import { RefundInbox, type Decision } from './refund-inbox';
import type { RefundTimings, RefundWorkflowInput, RefundWorkflowResult } from './refund-messages';
import { describeFailure, failureType, RefundNotifier } from './refund-notifier';
import { payOut } from './refund-payout';
import { nowIso, RefundState } from './refund-state';

const DEFAULT_TIMINGS: RefundTimings = {
  payoutHeartbeatTimeoutMs: 30_000,
  payoutPrepareTimeoutMs: 120_000,
  payoutMaxAttempts: 10,
  notificationMaxAttempts: 8,
  notificationInitialIntervalMs: 2_000,
};
/** Beyond an attempt's own timeout: the worker's clock may run a little slower than the server's. */
const PREPARATION_CLOCK_MARGIN_MS = 5_000;

/**
 * One refund, from request to payout: check and compute -> record -> wait for
 * approve / reject / cancel (or approve automatically when the timer ends) ->
 * pay out on-chain exactly once -> mark the subscription refunded -> notify.
 * A payout that fails parks the refund in `failed` until an admin retries; it
 * never pays twice. Once approved, nothing (not even a cancel from the Web UI)
 * interrupts the money path: it ends `completed` or `failed`.
 */
export async function proRataRefundWorkflow(input: RefundWorkflowInput): Promise<RefundWorkflowResult> {
  const run = new RefundRun(input);
  const closedBeforeReset = await run.closedBeforeReset();
  if (closedBeforeReset) return closedBeforeReset;
  // The API checks and computes the refund before it starts the workflow (it loaded the subscription anyway);
  // refunds the sweep starts, and those started before this patch, prepare it in an activity.
  const preparedByApi = input.prepared !== undefined && patched('api-prepares-refund');
  const prepared: PreparedRefund = preparedByApi
    ? { kind: 'eligible', ...input.prepared! }
    : await run.activities.records.prepareRefund({ refundId: input.refundId, subscriptionId: input.subscriptionId, requestedAt: input.requestedAt, penaltyBps: input.penaltyBps });
  if (prepared.kind !== 'eligible') return run.notRegistered(prepared);

  await run.register(prepared, preparedByApi);
  const asked = await run.awaitDecision();
  return CancellationScope.nonCancellable(async () => {
    const decision = asked.kind === 'approve' ? asked : await run.followPayoutBeforeClosing(asked);
    if (decision.kind !== 'approve') return run.close(decision);
    const closedBeforeApproval = decision.followsPayout ? null : await run.closedBeforeApproval();
    if (closedBeforeApproval) return closedBeforeApproval;
    await run.approve(decision);
    const outcome = await run.payUntilSettled();
    if (outcome === 'failed') return run.finish('failed');
    await run.complete(outcome);
    return run.finish('completed');
  });
}

/** The steps of one refund run, in the order the workflow above takes them. */
class RefundRun {
  readonly activities: RefundActivityProxies;
  private readonly timings: RefundTimings;
  private readonly refund: RefundState;
  private readonly inbox: RefundInbox;
  private readonly notifier: RefundNotifier;
  private subject: RefundSubject | undefined;
  private cancelRequested = false;

  constructor(private readonly input: RefundWorkflowInput) {
    this.timings = { ...DEFAULT_TIMINGS, ...input.timings };
    this.activities = refundActivities(this.timings);
    this.refund = new RefundState(input.refundId, this.activities.records);
    this.inbox = new RefundInbox(input.refundId, this.refund);
    this.inbox.listen();
    this.notifier = new RefundNotifier(input.refundId, this.refund, this.activities.notifications, this.activities.records, () => this.subject?.userEmail ?? null);
    // A cancel from the Web UI or CLI: honoured while the refund waits for a decision (or a retry), never once money moves.
    CancellationScope.current().cancelRequested.catch(() => {
      this.cancelRequested = true;
    });
  }

  /**
   * A run reset (from the Web UI or CLI) of a refund that was rejected or
   * cancelled ends as it ended: the reset erased the decision from the history,
   * and without it the auto-approval timer would pay the refund. A new request
   * is the way to refund the subscription again. Looked at in the run's first
   * task, for a reset to it, and again before an approval, for a reset to a
   * later task: that replays the first task as the run before took it, without
   * looking (the record may also have been closed since, e.g. cancelled by the
   * sweep after a terminate).
   */
  closedBeforeReset(): Promise<RefundWorkflowResult | null> {
    return this.closedAsRecorded('reset-keeps-final-decision');
  }

  closedBeforeApproval(): Promise<RefundWorkflowResult | null> {
    return this.closedAsRecorded('reset-approval-keeps-final-decision');
  }

  /** Only in a run a reset started, and only where it runs anew: a replayed task must take the same steps as the run before. */
  private async closedAsRecorded(patchId: string): Promise<RefundWorkflowResult | null> {
    const info = workflowInfo();
    if (info.runId === info.originalExecutionRunId || !patched(patchId)) return null;
    const closed = await this.activities.records.closedWithoutPayout({ refundId: this.input.refundId });
    if (!closed || (closed.refundStatus !== 'rejected' && closed.refundStatus !== 'cancelled')) return null;
    this.refund.set(closed);
    upsertSearchAttributes([{ key: RefundStatusKey, value: closed.refundStatus }]);
    return this.finish(closed.refundStatus);
  }

  notRegistered(prepared: Exclude<PreparedRefund, { kind: 'eligible' }>): Promise<RefundWorkflowResult> {
    if (prepared.kind === 'invalid') {
      this.refund.state = { phase: 'invalid', invalid: { code: prepared.code, message: prepared.message } };
      return this.finish('invalid');
    }
    this.refund.state = { phase: 'ineligible', ineligibility: { reasons: prepared.reasons, amount: prepared.amount, breakdown: prepared.breakdown } };
    return this.finish('ineligible');
  }

  /**
   * Records the refund. With the API's preparation it is registered as soon as it is in this workflow's
   * state, so the API's registration update answers in the first workflow task; the record follows
   * (the API finds the refund through the workflow until then).
   */
  async register(prepared: Extract<PreparedRefund, { kind: 'eligible' }>, registeredBeforeRecord: boolean): Promise<void> {
    const { input } = this;
    const subject = prepared.subject;
    this.subject = subject;
    const autoApproveAt = new Date(Date.parse(input.requestedAt) + input.autoApproveAfterMs);
    const view: Refund = {
      refundId: input.refundId,
      subscriptionId: input.subscriptionId,
      userId: subject.userId,
      creatorId: subject.creatorId,
      workflowId: workflowInfo().workflowId,
      refundStatus: 'pending_approval',
      amount: prepared.amount,
      amountFormatted: prepared.amountFormatted,
      currency: subject.currency,
      breakdown: prepared.breakdown,
      reason: input.reason,
      requestedAt: input.requestedAt,
      requestedBy: input.requestedBy,
      autoApproveAt: autoApproveAt.toISOString(),
      decidedBy: null,
      decidedAt: null,
      decisionNote: null,
      transactionId: null,
      payout: null,
      completedAt: null,
      failureReason: null,
      failureCode: null,
      retryable: null,
      waitingReason: null,
      statusHistory: [{ status: 'pending_approval', at: input.requestedAt, by: input.requestedBy }],
      notificationFailures: [],
      processingTimeMs: null,
    };
    upsertSearchAttributes([
      { key: RefundStatusKey, value: 'pending_approval' },
      { key: SubscriptionIdKey, value: input.subscriptionId },
      { key: UserIdKey, value: subject.userId },
      { key: CreatorIdKey, value: subject.creatorId },
    ]);
    const { runId } = workflowInfo();
    if (registeredBeforeRecord) this.refund.set(view);
    await this.activities.records.createRefundRecord({ view, runId });
    if (!registeredBeforeRecord) this.refund.set(view);
    this.notifier.notify('refund.requested');
  }

  /** The admin's (or user's) decision; the timer's approval when none comes in time; a cancel request cancels. */
  async awaitDecision(): Promise<Decision> {
    const resumed = await this.paymentAlreadyUnderway();
    if (resumed) return resumed;
    const autoApproveAt = Date.parse(this.refund.refund.autoApproveAt);
    const decided = await this.untilCancelled(() => condition(() => this.inbox.decision !== undefined, Math.max(1, autoApproveAt - Date.now())));
    if (this.inbox.decision) return this.inbox.decision;
    if (this.cancelRequested || decided === 'cancelled') return { kind: 'cancel', by: 'operator' };
    if (patched('auto-approve-limit')) {
      const { amount, currency } = this.refund.refund;
      const check = await this.activities.records.autoApprovalAllowed({ amount, currency });
      if (!check.allowed) {
        await this.refund.update({ waitingReason: check.reason });
        await this.untilCancelled(() => condition(() => this.inbox.decision !== undefined));
        return this.inbox.decision ?? { kind: 'cancel', by: 'operator' };
      }
    }
    return { kind: 'approve', by: 'auto' };
  }

  /**
   * A run reset (from the Web UI or CLI) to before the approval repeats the
   * registration. If this refund's payout was already signed, money may be on
   * its way: follow it through instead of asking for a decision again.
   */
  private async paymentAlreadyUnderway(): Promise<Decision | null> {
    const info = workflowInfo();
    if (info.runId === info.originalExecutionRunId || !patched('reset-follows-payout')) return null;
    const payout = await this.activities.records.payoutStarted({ subscriptionId: this.input.subscriptionId, refundId: this.input.refundId });
    return payout.started ? { kind: 'approve', by: 'system', note: `payout ${payout.txHash} was already under way when the workflow was reset`, followsPayout: true } : null;
  }

  /**
   * A reset run may be told to reject or cancel a refund that the run before it
   * had approved: an attempt of that run's payout may have signed since. Money
   * that may be on its way is followed through; the record never says rejected
   * or cancelled while it moves. With nothing signed yet, an attempt of the run
   * before may still be preparing, whether it has claimed the payout or not: it
   * may sign until its own timeout and records nothing after it, so the close
   * waits that long and looks again. (Every attempt of that run started before
   * the reset; when the reset was is not known here, so the wait is whole.)
   */
  async followPayoutBeforeClosing(decision: Exclude<Decision, { kind: 'approve' }>): Promise<Decision> {
    const info = workflowInfo();
    if (info.runId === info.originalExecutionRunId || !patched('reset-close-follows-open-round')) return decision;
    const payout = { subscriptionId: this.input.subscriptionId, refundId: this.input.refundId };
    let round = await this.activities.records.openPayoutRound(payout);
    if (!round && patched('reset-close-waits-out-preparation')) {
      await sleep(this.timings.payoutPrepareTimeoutMs + PREPARATION_CLOCK_MARGIN_MS);
      round = await this.activities.records.openPayoutRound(payout);
    }
    if (!round) return decision;
    return {
      kind: 'approve',
      by: 'system',
      note: `payout ${round.txHash} was signed by the run before the reset: it is followed through instead of the ${decision.kind} by ${decision.by}`,
      followsPayout: true,
    };
  }

  /** Runs a wait in the cancellable root scope; a cancel request ends it instead of failing the workflow. */
  private async untilCancelled<T>(wait: () => Promise<T>): Promise<T | 'cancelled'> {
    try {
      return await wait();
    } catch (error) {
      if (!isCancellation(error)) throw error;
      this.cancelRequested = true;
      return 'cancelled';
    }
  }

  async close(decision: Exclude<Decision, { kind: 'approve' }>): Promise<RefundWorkflowResult> {
    const decided = { decidedBy: decision.by, decidedAt: nowIso() };
    if (decision.kind === 'reject') {
      await this.refund.moveTo('rejected', decision.by, decision.reason, { ...decided, decisionNote: decision.reason });
      this.notifier.notify('refund.rejected');
      return this.finish('rejected');
    }
    await this.refund.moveTo('cancelled', decision.by, undefined, decided);
    this.notifier.notify('refund.cancelled');
    return this.finish('cancelled');
  }

  async approve(decision: Extract<Decision, { kind: 'approve' }>): Promise<void> {
    await this.refund.moveTo('approved', decision.by, decision.note, { decidedBy: decision.by, decidedAt: nowIso(), decisionNote: decision.note ?? null });
    this.notifier.notify('refund.approved');
  }

  /** Pays, parking in `failed` until an admin retries; 'failed' when it ends there (not retryable, or the run was cancelled). */
  async payUntilSettled(): Promise<PayoutDetails | 'failed'> {
    const { input, subject } = this;
    const request: PayoutRequest = { refundId: input.refundId, subscriptionId: input.subscriptionId, to: subject!.userWalletAddress, amount: this.refund.refund.amount, currency: subject!.currency };
    let by = 'system';
    let note: string | undefined;
    for (;;) {
      await this.refund.moveTo('processing', by, note);
      try {
        return await payOut(this.activities, this.refund, request);
      } catch (error) {
        if (isCancellation(error)) throw error;
        const reason = describeFailure(error);
        const code = failureType(error);
        const retryable = adminMayRetry(code);
        await this.refund.moveTo('failed', 'system', reason, { failureReason: reason, failureCode: code, retryable });
        this.notifier.notify('refund.failed');
        if (!retryable && patched('final-failures-end')) return 'failed';
        await this.untilCancelled(() => condition(() => this.inbox.retryRequested || this.cancelRequested));
        const retry = this.inbox.takeRetry();
        if (!retry) return 'failed';
        by = retry.by;
        note = retry.note;
        // Added after refunds were already running: older histories replay without it.
        if (patched('retry-reads-current-wallet')) {
          const wallet = await this.activities.records.payoutDestination({ subscriptionId: input.subscriptionId });
          if (wallet) request.to = wallet;
        }
      }
    }
  }

  async complete(payout: PayoutDetails): Promise<void> {
    const completedAt = nowIso();
    await this.activities.records.markSubscriptionRefunded({ subscriptionId: this.input.subscriptionId, refundId: this.input.refundId, at: completedAt });
    await this.refund.moveTo('completed', 'system', undefined, {
      completedAt,
      failureReason: null,
      failureCode: null,
      retryable: null,
      processingTimeMs: Date.parse(completedAt) - Date.parse(this.input.requestedAt),
      transactionId: payout.txHash,
      payout,
    });
    this.notifier.notify('refund.completed');
  }

  async finish(outcome: RefundWorkflowResult['outcome']): Promise<RefundWorkflowResult> {
    await this.notifier.settled();
    await condition(allHandlersFinished);
    return { refundId: this.input.refundId, outcome };
  }
}
