import { ApplicationFailure, Context } from '@temporalio/activity';
import { Types } from 'mongoose';
import type { Treasury } from '../src/chain/treasury';
import type { Currency } from '../src/domain/currency';
import { limitFor, type CurrencyLimit } from '../src/domain/currency-limits';
import { formatAmount, parseAmount } from '../src/domain/amount';
import type { Logger } from '../src/logger';
import { PayoutFailure } from '../src/payout/failures';
import type { ConfirmationResult, OpenRound, PayoutAttemptSummary, PayoutRequest, PreparedPayoutResult } from '../src/domain/payout';
import { PayoutPreparer, type PreparedPayout, type PrepareHooks } from '../src/payout/prepare';
import { roundOf } from '../src/payout/rounds';
import type { TreasuryAlerts } from '../src/payout/treasury-alerts';
import { PayoutWatcher, WatchTimeout } from '../src/payout/watch';
import type { PayoutAttemptRecord, PayoutLedger } from '../src/persistence/payout-ledger';
import type { SubscriptionModel } from '../src/persistence/subscription-model';
import type { TreasuryStore } from '../src/persistence/treasury-store';

/**
 * Paying a refund on-chain, exactly once, as Temporal activities over the
 * payout engine in src/payout/:
 * 1. preparePayout: claims the subscription's payout for this refund and
 *    returns its open round, signing a new one (under the wallet lock, persisted
 *    before any broadcast) only when there is none or the last is proven unpaid.
 * 2. confirmPayout: watches that round until the chain's verdict is final,
 *    broadcasting, replacing stuck transactions at the same nonce, filling a
 *    nonce that can never be sent. It heartbeats, and never gives up on its own.
 * Failures that retrying the call cannot fix are non-retryable ApplicationFailures
 * whose type (src/payout/failures.ts) says why and whether an admin may retry.
 * These activities report what happened; the workflow writes the refund record.
 */

interface PayoutActivityDeps {
  ledger: PayoutLedger;
  store: TreasuryStore;
  alerts: TreasuryAlerts;
  subscriptions: SubscriptionModel;
  treasury: Treasury;
  logger: Logger;
  limits: { dailyLimit: readonly CurrencyLimit[]; lowBalance: readonly CurrencyLimit[]; maxAmount: readonly CurrencyLimit[] };
  /** Identifies this process in wallet locks. */
  workerId: string;
}

export function createPayoutActivities({ ledger, store, alerts, subscriptions, treasury, logger, limits, workerId }: PayoutActivityDeps) {
  const log = logger.child({ component: 'Chain' });
  const deps = { ledger, treasury, logger: log, store, alerts };
  const preparer = new PayoutPreparer({ ...deps, dailyLimits: limits.dailyLimit, workerId });
  const watcher = new PayoutWatcher({ ...deps, lowBalance: limits.lowBalance });

  /**
   * `mayWait`: the caller understands a `limited` answer (PAYOUT_DAILY_LIMIT
   * reached) and sleeps until `retryAt`; refunds started on older workflow code
   * do not send it and are asked to retry the activity later instead.
   */
  async function preparePayout(request: PayoutRequest & { mayWait?: boolean }): Promise<PreparedPayoutResult> {
    const attempt = preparationAttempt(Context.current());
    let prepared: PreparedPayout;
    try {
      prepared = await asActivityFailures(() => preparer.prepare(request, attempt.hooks));
    } finally {
      attempt.stop();
    }
    if (prepared.kind === 'limited') {
      if (request.mayWait) return { status: 'limited', retryAt: prepared.retryAt, reason: prepared.reason };
      throw ApplicationFailure.create({ message: prepared.reason, type: 'DailyLimitReached', nextRetryDelay: Math.max(1000, Date.parse(prepared.retryAt) - Date.now()) });
    }
    return preparedResult(prepared);
  }

  async function confirmPayout(request: { refundId: string; attemptId: string }): Promise<ConfirmationResult> {
    const attempt = await ledger.findAttempt(request.attemptId);
    if (!attempt) throw ApplicationFailure.nonRetryable(`payout attempt ${request.attemptId} does not exist`, 'PayoutMismatch');
    const context = Context.current();
    const outcome = await asActivityFailures(() =>
      watcher.watch(attempt.subscriptionId, { from: attempt.from, nonce: attempt.nonce }, { heartbeat: (details) => context.heartbeat(details), sleep: (ms) => context.sleep(ms) }),
    );
    if (outcome.kind === 'dropped') return { ...summaryOf(attempt), status: 'dropped', reason: outcome.reason };
    return { ...summaryOf(outcome.attempt), status: 'confirmed', blockNumber: outcome.blockNumber, confirmations: outcome.confirmations };
  }

  /**
   * Where a retried payout should go: the address its claim is bound to if one
   * was claimed (a payout never changes destination), else the subscription's
   * current wallet, so a refund that failed on an invalid address can be
   * retried once the subscription is corrected.
   */
  async function payoutDestination(input: { subscriptionId: string }): Promise<string | null> {
    const claim = await ledger.findClaim(input.subscriptionId);
    if (claim) return claim.to;
    const doc = await subscriptions.findById(new Types.ObjectId(input.subscriptionId), { userWalletAddress: 1 }).lean();
    return typeof doc?.userWalletAddress === 'string' ? doc.userWalletAddress : null;
  }

  /**
   * Whether this refund's payout was ever started (a transaction signed for it).
   * A workflow reset to before the approval asks this, so that a payout that may
   * be on its way is followed through instead of being decided again.
   */
  async function payoutStarted(input: { subscriptionId: string; refundId: string }): Promise<{ started: boolean; txHash: string | null }> {
    // The claim comes first: an attempt of the run before the reset may have claimed and still be signing.
    const [claim, attempts] = await Promise.all([ledger.findClaim(input.subscriptionId), ledger.attemptsOf(input.subscriptionId)]);
    const ours = attempts.filter((attempt) => attempt.refundId === input.refundId);
    return { started: ours.length > 0 || claim?.refundId === input.refundId, txHash: roundOf(ours).at(-1)?.txHash ?? null };
  }

  /**
   * This refund's round that may still reach the chain (a transaction signed,
   * nothing final yet), or null. Asked before the refund parks in `failed` or is
   * closed: a round recorded by an attempt Temporal had given up on must be
   * watched to its end, never left for another payout's watcher to send.
   */
  async function openPayoutRound(input: { subscriptionId: string; refundId: string }): Promise<OpenRound | null> {
    const claim = await ledger.findClaim(input.subscriptionId);
    if (!claim || claim.refundId !== input.refundId || claim.status === 'confirmed' || claim.status === 'review') return null;
    const attempts = (await ledger.attemptsOf(input.subscriptionId)).filter((attempt) => attempt.refundId === input.refundId);
    const round = roundOf(attempts, claim.status === 'in_flight' ? claim.nonce : undefined);
    if (!round.some((attempt) => attempt.status === 'signed')) return null;
    const newest = [...round].reverse().find((attempt) => attempt.kind === 'payout') ?? round.at(-1)!;
    return { ...summaryOf(newest), status: 'signed', blockNumber: null };
  }

  /** PAYOUT_MAX_AMOUNT: above it a refund waits for an admin even when its auto-approve timer ends. */
  async function autoApprovalAllowed(input: { amount: string; currency: Currency }): Promise<{ allowed: boolean; reason: string | null }> {
    const limit = limitFor(limits.maxAmount, input.currency);
    if (limit === null || parseAmount(input.amount) <= limit) return { allowed: true, reason: null };
    const reason = `amount ${formatAmount(parseAmount(input.amount), input.currency.decimals)} ${input.currency.symbol} is above PAYOUT_MAX_AMOUNT ${formatAmount(limit, input.currency.decimals)}: an admin must approve it`;
    log.warn({ amount: input.amount, currency: input.currency.symbol }, reason);
    return { allowed: false, reason };
  }

  return { preparePayout, confirmPayout, payoutDestination, payoutStarted, openPayoutRound, autoApprovalAllowed };
}

/** How often a preparation tells Temporal it is alive (the SDK sends at most one heartbeat per 80 % of the heartbeat timeout). */
const HEARTBEAT_EVERY_MS = 1_000;
/** An attempt stops recording this long before its timeout, at most a quarter of it: Temporal's own clock started it a little earlier than ours. */
const DEADLINE_MARGIN_MS = 5_000;

/**
 * One attempt of preparePayout as Temporal sees it: it heartbeats while it
 * works (waiting for the wallet lock included), and it no longer counts once
 * Temporal cancels it (its timeout passed, its workflow was reset), once its own
 * clock says its timeout is near, or once it was frozen longer than the
 * heartbeat timeout. Such an attempt records nothing: another attempt, or the
 * workflow, has gone on without it.
 */
function preparationAttempt(context: Context): { hooks: PrepareHooks; stop(): void } {
  const { startToCloseTimeoutMs, heartbeatTimeoutMs } = context.info;
  const startedAt = Date.now();
  const margin = Math.min(DEADLINE_MARGIN_MS, startToCloseTimeoutMs / 4);
  const deadline = startedAt + startToCloseTimeoutMs - margin;
  let step = 'starting';
  let lastBeat = startedAt;
  const beat = () => {
    lastBeat = Date.now();
    context.heartbeat({ step });
  };
  beat();
  const timer = setInterval(beat, HEARTBEAT_EVERY_MS);
  timer.unref();
  return {
    hooks: {
      step(name) {
        step = name;
      },
      stillCurrent() {
        if (context.cancellationSignal.aborted) throw context.cancellationSignal.reason;
        const now = Date.now();
        if (now > deadline) throw ApplicationFailure.retryable(`this attempt is within ${margin} ms of its ${startToCloseTimeoutMs} ms timeout: it records nothing`, 'PreparationExpired');
        if (heartbeatTimeoutMs && now - lastBeat > heartbeatTimeoutMs - Math.min(DEADLINE_MARGIN_MS, heartbeatTimeoutMs / 4)) {
          throw ApplicationFailure.retryable(`this attempt could not heartbeat for ${now - lastBeat} ms (heartbeat timeout ${heartbeatTimeoutMs} ms): it records nothing`, 'PreparationExpired');
        }
      },
    },
    stop() {
      clearInterval(timer);
    },
  };
}

/** Engine failures as Temporal sees them: final ones are non-retryable with their type; a watch timeout is retried. */
async function asActivityFailures<T>(run: () => Promise<T>): Promise<T> {
  try {
    return await run();
  } catch (error) {
    if (error instanceof PayoutFailure) throw ApplicationFailure.nonRetryable(error.message, error.type);
    if (error instanceof WatchTimeout) throw ApplicationFailure.retryable(error.message, 'ConfirmationTimeout');
    throw error;
  }
}

function summaryOf(attempt: PayoutAttemptRecord): PayoutAttemptSummary {
  return { attemptId: attempt._id, attempt: attempt.attempt, chainId: attempt.chainId, from: attempt.from, to: attempt.to, nonce: attempt.nonce, txHash: attempt.txHash };
}

function preparedResult(prepared: Exclude<PreparedPayout, { kind: 'limited' }>): PreparedPayoutResult {
  if (prepared.kind === 'paid') return { ...summaryOf(prepared.attempt), status: 'confirmed', blockNumber: prepared.blockNumber, confirmations: prepared.confirmations };
  return { ...summaryOf(prepared.attempt), status: 'signed', blockNumber: null };
}
