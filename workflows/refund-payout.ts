import { isCancellation, log, patched, sleep } from '@temporalio/workflow';
import type { OpenRound, PayoutAttemptSummary, PayoutRequest, PreparedPayoutResult } from '../src/domain/payout';
import type { PayoutDetails } from '../src/domain/refund';
import { isPayoutFailure } from '../src/payout/failures';
import type { RefundActivityProxies } from './refund-activities';
import { describeFailure, failureType } from './refund-notifier';
import type { RefundState } from './refund-state';

/** Pause before preparing again after a call that failed for infrastructure (its attempts already backed off). */
const AFTER_INFRASTRUCTURE_FAILURE_MS = 2_000;

/**
 * Pays the refund out on-chain, exactly once, and returns the transaction that
 * paid it. The activities own the chain: preparePayout returns the payout's
 * open round (signing one only when none can still be mined), confirmPayout
 * watches it to a final verdict. Only a round proven unpaid at finality depth
 * (its nonce taken by another transaction) leads to a new one. Failures that
 * need a person come out as activity failures; the caller parks the refund.
 *
 * From `prepare-retries-until-settled` on, nothing else parks it: a preparation
 * that times out or cannot reach the chain is called again (the record's
 * `waitingReason` says why it waits), because an attempt Temporal gave up on
 * may still be signing. And before a payout failure reaches the caller, the
 * ledger is asked for a round of this refund that may still reach the chain
 * (one such attempt recorded it): that round is watched instead.
 */
export async function payOut(
  { payouts, watch, records }: Pick<RefundActivityProxies, 'payouts' | 'watch' | 'records'>,
  refund: RefundState,
  request: PayoutRequest,
): Promise<PayoutDetails> {
  if (!patched('payout-engine-v2')) return payOutAsFirstReleased({ payouts, watch }, refund, request);
  if (!patched('prepare-retries-until-settled')) return payOutUntilFirstFailure({ payouts, watch }, refund, request);
  let openRound: OpenRound | null = null;
  let rescued: string | null = null;
  for (;;) {
    try {
      const prepared = openRound ?? (await prepareUntilSettled(payouts, refund, request));
      openRound = null;
      if (!prepared) continue;
      const paid = await watchRound({ watch }, refund, request, prepared);
      if (paid) return paid;
      rescued = null;
    } catch (error) {
      if (isCancellation(error)) throw error;
      const round = await records.openPayoutRound({ subscriptionId: request.subscriptionId, refundId: request.refundId });
      // Watching that very round failed already: it is final after all, and the failure stands.
      if (!round || round.attemptId === rescued) throw error;
      log.warn('the payout failed, but a round of it is still open (signed by an attempt Temporal had given up on): watching it instead of parking', {
        failure: describeFailure(error),
        txHash: round.txHash,
      });
      openRound = round;
      rescued = round.attemptId;
    }
  }
}

/** One call of preparePayout; null after an infrastructure failure (said in `waitingReason`, then asked again). */
async function prepareUntilSettled(payouts: RefundActivityProxies['payouts'], refund: RefundState, request: PayoutRequest): Promise<PreparedPayoutResult | null> {
  try {
    return await payouts.preparePayout({ ...request, mayWait: true });
  } catch (error) {
    if (isCancellation(error) || isPayoutFailure(failureType(error))) throw error;
    const reason = `the payout could not be prepared yet (${describeFailure(error)}); trying again`;
    log.warn(reason);
    if (refund.refund.waitingReason !== reason) await refund.update({ waitingReason: reason });
    await sleep(AFTER_INFRASTRUCTURE_FAILURE_MS);
    return null;
  }
}

/** Waits for a prepared payout (sleeping through a daily limit) and watches its round: the payout that paid, or null when the round went unpaid. */
async function watchRound({ watch }: Pick<RefundActivityProxies, 'watch'>, refund: RefundState, request: PayoutRequest, prepared: PreparedPayoutResult): Promise<PayoutDetails | null> {
  if (prepared.status === 'limited') {
    if (refund.refund.waitingReason !== prepared.reason) await refund.update({ waitingReason: prepared.reason });
    await sleep(Math.max(1_000, Date.parse(prepared.retryAt) - Date.now()));
    return null;
  }
  const signed = details(prepared, prepared.blockNumber, prepared.confirmations ?? null);
  if (refund.refund.transactionId !== signed.txHash || refund.refund.waitingReason !== null) {
    await refund.update({ transactionId: signed.txHash, payout: signed, waitingReason: null });
  }
  if (prepared.status === 'confirmed') return signed;
  const result = await watch.confirmPayout({ refundId: request.refundId, attemptId: prepared.attemptId });
  if (result.status === 'confirmed') return details(result, result.blockNumber, result.confirmations);
  log.warn('payout round proven unpaid (its nonce went to another transaction): preparing again', { txHash: result.txHash, reason: result.reason });
  return null;
}

/** The payout loop of refunds paid before `prepare-retries-until-settled`: same commands, so their histories replay. */
async function payOutUntilFirstFailure({ payouts, watch }: Pick<RefundActivityProxies, 'payouts' | 'watch'>, refund: RefundState, request: PayoutRequest): Promise<PayoutDetails> {
  for (;;) {
    const paid = await watchRound({ watch }, refund, request, await payouts.preparePayout({ ...request, mayWait: true }));
    if (paid) return paid;
  }
}

function details(attempt: PayoutAttemptSummary, blockNumber: number | null, confirmations: number | null): PayoutDetails {
  const { chainId, from, to, nonce, txHash } = attempt;
  return { chainId, from, to, nonce, txHash, blockNumber, confirmations, attempt: attempt.attempt };
}

/** The payout loop of refunds started before `payout-engine-v2`: same commands, so their histories replay. */
async function payOutAsFirstReleased({ payouts, watch }: Pick<RefundActivityProxies, 'payouts' | 'watch'>, refund: RefundState, request: PayoutRequest): Promise<PayoutDetails> {
  const remember = (payout: PayoutDetails) => refund.set({ ...refund.refund, transactionId: payout.txHash, payout });
  let prepared = await payouts.preparePayout(request);
  for (;;) {
    if (prepared.status === 'limited') throw new Error('preparePayout answered "limited" without mayWait');
    remember(details(prepared, prepared.blockNumber, null));
    const result = await watch.confirmPayout({ refundId: request.refundId, attemptId: prepared.attemptId });
    if (result.status === 'confirmed') {
      const paid = details(result, result.blockNumber, result.confirmations);
      remember(paid);
      return paid;
    }
    log.warn('payout transaction dropped, signing a new one', { txHash: result.txHash });
    prepared = await payouts.preparePayout(request);
  }
}
