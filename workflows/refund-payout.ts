import { log, patched, sleep } from '@temporalio/workflow';
import type { PayoutAttemptSummary, PayoutRequest } from '../src/domain/payout';
import type { PayoutDetails } from '../src/domain/refund';
import type { RefundActivityProxies } from './refund-activities';
import type { RefundState } from './refund-state';

/**
 * Pays the refund out on-chain, exactly once, and returns the transaction that
 * paid it. The activities own the chain: preparePayout returns the payout's
 * open round (signing one only when none can still be mined), confirmPayout
 * watches it to a final verdict. Only a round proven unpaid at finality depth
 * (its nonce taken by another transaction) leads to a new one. Failures that
 * need a person come out as activity failures; the caller parks the refund.
 */
export async function payOut(
  { payouts, watch }: Pick<RefundActivityProxies, 'payouts' | 'watch'>,
  refund: RefundState,
  request: PayoutRequest,
): Promise<PayoutDetails> {
  if (!patched('payout-engine-v2')) return payOutAsFirstReleased({ payouts, watch }, refund, request);
  for (;;) {
    const prepared = await payouts.preparePayout({ ...request, mayWait: true });
    if (prepared.status === 'limited') {
      if (refund.refund.waitingReason !== prepared.reason) await refund.update({ waitingReason: prepared.reason });
      await sleep(Math.max(1_000, Date.parse(prepared.retryAt) - Date.now()));
      continue;
    }
    const signed = details(prepared, prepared.blockNumber, prepared.confirmations ?? null);
    if (refund.refund.transactionId !== signed.txHash || refund.refund.waitingReason !== null) {
      await refund.update({ transactionId: signed.txHash, payout: signed, waitingReason: null });
    }
    if (prepared.status === 'confirmed') return signed;
    const result = await watch.confirmPayout({ refundId: request.refundId, attemptId: prepared.attemptId });
    if (result.status === 'confirmed') return details(result, result.blockNumber, result.confirmations);
    log.warn('payout round proven unpaid (its nonce went to another transaction): preparing again', { txHash: result.txHash, reason: result.reason });
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
