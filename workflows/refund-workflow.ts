import {
  ActivityFailure,
  allHandlersFinished,
  ApplicationFailure,
  condition,
  isCancellation,
  log,
  patched,
  proxyActivities,
  setHandler,
  upsertSearchAttributes,
  workflowInfo,
} from '@temporalio/workflow';
import type { Activities } from '../activities';
import type { PayoutRequest } from '../activities/payout';
import type { PreparedRefund, RefundSubject, TransitionFields } from '../activities/refund-records';
import type { NotificationFailure, PayoutDetails, RefundView } from '../src/domain/refund';
import type { RefundStatus, StatusChange } from '../src/domain/refund-status';
import { EMAIL_RULES, type RefundEvent, type RefundEventType } from '../src/notifications/events';
import { CreatorIdKey, RefundStatusKey, SubscriptionIdKey, UserIdKey } from '../src/temporal/search-attributes';
import {
  approveSignal,
  approveUpdate,
  cancelSignal,
  cancelUpdate,
  DECISION_ERRORS,
  refundStateQuery,
  registrationUpdate,
  rejectSignal,
  rejectUpdate,
  retrySignal,
  retryUpdate,
  type RefundTimings,
  type RefundWorkflowInput,
  type RefundWorkflowResult,
  type RefundWorkflowState,
  type RetryDecision,
} from './refund-messages';

const DEFAULT_TIMINGS: RefundTimings = {
  payoutHeartbeatTimeoutMs: 30_000,
  payoutMaxAttempts: 10,
  notificationMaxAttempts: 8,
  notificationInitialIntervalMs: 2_000,
};

type Decision = { kind: 'approve'; by: string; note?: string } | { kind: 'reject'; by: string; reason: string } | { kind: 'cancel'; by: string };

/**
 * One refund, from request to payout:
 * check and compute -> record -> wait for approve / reject / cancel (or approve
 * automatically when the timer ends) -> pay out on-chain exactly once -> mark
 * the subscription refunded -> notify. A payout that fails for good parks the
 * refund in `failed` until an admin asks to retry; it never pays twice.
 */
export async function proRataRefundWorkflow(input: RefundWorkflowInput): Promise<RefundWorkflowResult> {
  const timings = { ...DEFAULT_TIMINGS, ...input.timings };
  const { records, payouts, confirmations, notifications } = activitiesFor(timings);
  const state: RefundWorkflowState = { phase: 'preparing', refund: null, ineligibility: null, invalid: null };
  let subject: RefundSubject | undefined;
  let decision: Decision | undefined;
  let retry: RetryDecision | undefined;
  const deliveries: Promise<void>[] = [];

  const refund = (): RefundView => {
    if (!state.refund) throw ApplicationFailure.nonRetryable('the refund is still being prepared', DECISION_ERRORS.notReady);
    return state.refund;
  };

  // --- messages -----------------------------------------------------------
  const assertPending = (by: unknown) => {
    assertActor(by);
    if (refund().refundStatus !== 'pending_approval' || decision) {
      throw ApplicationFailure.nonRetryable(`refund is ${refund().refundStatus}, not pending approval`, DECISION_ERRORS.notPending);
    }
  };
  const assertFailed = (by: unknown) => {
    assertActor(by);
    if (refund().refundStatus !== 'failed' || retry) {
      throw ApplicationFailure.nonRetryable(`refund is ${refund().refundStatus}, only a failed payout can be retried`, DECISION_ERRORS.notFailed);
    }
  };
  const assertReason = (reason: unknown) => {
    if (typeof reason !== 'string' || reason.trim() === '') throw ApplicationFailure.nonRetryable('a rejection needs a reason', DECISION_ERRORS.invalidInput);
  };
  const decide = async (next: Decision) => {
    decision = next;
    await condition(() => refund().refundStatus !== 'pending_approval');
    return refund();
  };
  const requestRetry = async (next: RetryDecision) => {
    retry = next;
    await condition(() => refund().refundStatus !== 'failed');
    return refund();
  };

  setHandler(refundStateQuery, () => state);
  setHandler(registrationUpdate, async () => {
    await condition(() => state.phase !== 'preparing');
    return state;
  });
  setHandler(approveUpdate, (d) => decide({ kind: 'approve', by: d.by, note: d.note }), { validator: (d) => assertPending(d?.by) });
  setHandler(rejectUpdate, (d) => decide({ kind: 'reject', by: d.by, reason: d.reason }), {
    validator: (d) => (assertPending(d?.by), assertReason(d?.reason)),
  });
  setHandler(cancelUpdate, (d) => decide({ kind: 'cancel', by: d.by }), { validator: (d) => assertPending(d?.by) });
  setHandler(retryUpdate, (d) => requestRetry({ by: d.by, note: d.note }), { validator: (d) => assertFailed(d?.by) });
  setHandler(approveSignal, (d) => ignoringInvalid('approve', () => (assertPending(d?.by), void decide({ kind: 'approve', by: d.by, note: d.note }))));
  setHandler(rejectSignal, (d) =>
    ignoringInvalid('reject', () => (assertPending(d?.by), assertReason(d?.reason), void decide({ kind: 'reject', by: d.by, reason: d.reason }))),
  );
  setHandler(cancelSignal, (d) => ignoringInvalid('cancel', () => (assertPending(d?.by), void decide({ kind: 'cancel', by: d.by }))));
  setHandler(retrySignal, (d) => ignoringInvalid('retry', () => (assertFailed(d?.by), void requestRetry({ by: d.by, note: d.note }))));

  // --- state changes, mirrored to MongoDB and the search attributes --------
  const moveTo = async (status: RefundStatus, by: string, note: string | undefined, fields: TransitionFields = {}) => {
    const change: StatusChange = { status, at: nowIso(), by, ...(note ? { note } : {}) };
    state.refund = { ...refund(), ...fields, refundStatus: status, statusHistory: [...refund().statusHistory, change] };
    upsertSearchAttributes([{ key: RefundStatusKey, value: status }]);
    await records.transitionRefund({ refundId: input.refundId, change, fields });
  };

  const notify = (type: RefundEventType) => {
    const snapshot = refund();
    const event: RefundEvent = { id: `evt_${input.refundId}_${snapshot.statusHistory.length}_${type.slice('refund.'.length)}`, type, createdAt: nowIso(), data: { refund: snapshot } };
    deliver(event, 'webhook', 'admin webhook', () => notifications.sendAdminWebhook(event));
    const rules = EMAIL_RULES[type];
    const userEmail = subject?.userEmail;
    if (rules.user && userEmail) deliver(event, 'email', userEmail, () => notifications.sendRefundEmail({ event, audience: 'user', to: userEmail }));
    if (rules.finance) deliver(event, 'email', 'finance', () => notifications.sendRefundEmail({ event, audience: 'finance' }));
  };

  // Notifications run beside the money path: they never hold it back or undo it.
  const deliver = (event: RefundEvent, channel: NotificationFailure['channel'], recipient: string, send: () => Promise<unknown>) => {
    deliveries.push(
      send().then(
        () => undefined,
        async (error: unknown) => {
          const failure: NotificationFailure = { eventId: event.id, channel, recipient, error: describeFailure(error), at: nowIso() };
          state.refund = { ...refund(), notificationFailures: [...refund().notificationFailures, failure] };
          await records.recordNotificationFailure({ refundId: input.refundId, failure }).catch(() => log.warn('could not record a notification failure', { ...failure }));
        },
      ),
    );
  };

  const finish = async (outcome: RefundWorkflowResult['outcome']): Promise<RefundWorkflowResult> => {
    await Promise.all(deliveries);
    await condition(allHandlersFinished);
    return { refundId: input.refundId, outcome };
  };

  // --- 1. check the subscription and compute the amount (recorded once) ----
  // Added after refunds were already running: older histories replay the prepare activity.
  const preparedByApi = input.prepared !== undefined && patched('api-prepares-refund');
  const prepared: PreparedRefund = preparedByApi
    ? { kind: 'eligible', ...input.prepared! }
    : await records.prepareRefund({
        refundId: input.refundId,
        subscriptionId: input.subscriptionId,
        requestedAt: input.requestedAt,
        penaltyBps: input.penaltyBps,
      });
  if (prepared.kind === 'invalid') {
    Object.assign(state, { phase: 'invalid', invalid: { code: prepared.code, message: prepared.message } });
    return finish('invalid');
  }
  if (prepared.kind === 'ineligible') {
    Object.assign(state, { phase: 'ineligible', ineligibility: { reasons: prepared.reasons, amount: prepared.amount, breakdown: prepared.breakdown } });
    return finish('ineligible');
  }
  subject = prepared.subject;

  // --- 2. record it ---------------------------------------------------------
  const autoApproveAt = new Date(Date.parse(input.requestedAt) + input.autoApproveAfterMs);
  state.refund = {
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
  // With the API's preparation the refund is registered once it is in this workflow's state: the
  // registration update answers in this first workflow task; the record follows (GET finds the
  // refund through the workflow until then).
  if (preparedByApi) state.phase = 'registered';
  await records.createRefundRecord({ view: state.refund, runId: workflowInfo().runId });
  state.phase = 'registered';
  notify('refund.requested');

  // --- 3. wait for a decision, or approve automatically ---------------------
  await condition(() => decision !== undefined, Math.max(1, autoApproveAt.getTime() - Date.now()));
  const chosen: Decision = decision ?? { kind: 'approve', by: 'auto' };
  const decided = { decidedBy: chosen.by, decidedAt: nowIso() };
  if (chosen.kind === 'reject') {
    await moveTo('rejected', chosen.by, chosen.reason, { ...decided, decisionNote: chosen.reason });
    notify('refund.rejected');
    return finish('rejected');
  }
  if (chosen.kind === 'cancel') {
    await moveTo('cancelled', chosen.by, undefined, decided);
    notify('refund.cancelled');
    return finish('cancelled');
  }
  await moveTo('approved', chosen.by, chosen.note, { ...decided, decisionNote: chosen.note ?? null });
  notify('refund.approved');

  // --- 4. pay out, exactly once; park in `failed` until an admin retries ----
  const request: PayoutRequest = {
    refundId: input.refundId,
    subscriptionId: input.subscriptionId,
    to: subject.userWalletAddress,
    amount: prepared.amount,
    currency: subject.currency,
  };
  const recordPayout = (payout: PayoutDetails) => {
    state.refund = { ...refund(), transactionId: payout.txHash, payout };
  };
  let processingBy = 'system';
  let processingNote: string | undefined;
  for (;;) {
    await moveTo('processing', processingBy, processingNote);
    try {
      let attempt = await payouts.preparePayout(request);
      for (;;) {
        recordPayout({ ...attempt, blockNumber: attempt.blockNumber, confirmations: null });
        const result = await confirmations.confirmPayout({ refundId: input.refundId, attemptId: attempt.attemptId });
        if (result.status === 'confirmed') {
          recordPayout({ ...result });
          break;
        }
        log.warn('payout transaction dropped, signing a new one', { txHash: result.txHash });
        attempt = await payouts.preparePayout(request);
      }
      break;
    } catch (error) {
      if (isCancellation(error)) throw error;
      const reason = describeFailure(error);
      await moveTo('failed', 'system', reason, { failureReason: reason });
      notify('refund.failed');
      await condition(() => retry !== undefined);
      processingBy = retry!.by;
      processingNote = retry!.note;
      retry = undefined;
      // Added after refunds were already running: older histories replay without it.
      if (patched('retry-reads-current-wallet')) {
        const wallet = await records.payoutDestination({ subscriptionId: input.subscriptionId });
        if (wallet) request.to = wallet;
      }
    }
  }

  // --- 5. paid: flag the subscription, complete, tell everyone -------------
  const completedAt = nowIso();
  await records.markSubscriptionRefunded({ subscriptionId: input.subscriptionId, refundId: input.refundId, at: completedAt });
  await moveTo('completed', 'system', undefined, {
    completedAt,
    failureReason: null,
    processingTimeMs: Date.parse(completedAt) - Date.parse(input.requestedAt),
    transactionId: refund().transactionId,
    payout: refund().payout,
  });
  notify('refund.completed');
  return finish('completed');
}

function activitiesFor(timings: RefundTimings) {
  const records = proxyActivities<Activities>({
    startToCloseTimeout: '30s',
    retry: { initialInterval: '1s', backoffCoefficient: 2, maximumInterval: '1m' },
  });
  const payouts = proxyActivities<Activities>({
    startToCloseTimeout: '2m',
    retry: { initialInterval: '2s', backoffCoefficient: 2, maximumInterval: '1m', maximumAttempts: timings.payoutMaxAttempts },
  });
  const confirmations = proxyActivities<Activities>({
    startToCloseTimeout: '15m',
    heartbeatTimeout: timings.payoutHeartbeatTimeoutMs,
    retry: { initialInterval: '2s', backoffCoefficient: 2, maximumInterval: '1m', maximumAttempts: timings.payoutMaxAttempts },
  });
  const notifications = proxyActivities<Activities>({
    startToCloseTimeout: '30s',
    retry: { initialInterval: timings.notificationInitialIntervalMs, backoffCoefficient: 2, maximumInterval: '5m', maximumAttempts: timings.notificationMaxAttempts },
  });
  return { records, payouts, confirmations, notifications };
}

function assertActor(by: unknown): void {
  if (typeof by !== 'string' || by.trim() === '') throw ApplicationFailure.nonRetryable('a decision needs "by": who made it', DECISION_ERRORS.invalidInput);
}

/** Signals cannot be refused like updates; an invalid one is logged and ignored. */
function ignoringInvalid(name: string, apply: () => void): void {
  try {
    apply();
  } catch (error) {
    log.warn(`ignored ${name} signal`, { reason: (error as Error).message });
  }
}

/** "<ErrorType>: <message>" from an activity failure, for failureReason and alerts. */
function describeFailure(error: unknown): string {
  let cause: unknown = error;
  while (cause instanceof ActivityFailure && cause.cause) cause = cause.cause;
  if (cause instanceof ApplicationFailure) return `${cause.type ?? 'Error'}: ${cause.message}`;
  return cause instanceof Error ? cause.message : String(cause);
}

/** Workflow time: deterministic on replay. */
function nowIso(): string {
  return new Date().toISOString();
}
