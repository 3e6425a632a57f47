import { Transaction } from 'ethers';
import type { Treasury } from '../chain/treasury';
import type { Logger } from '../logger';
import type { PayoutAttemptRecord, PayoutLedger } from '../persistence/payout-ledger';
import { judgeDelivery } from './delivery';
import { PayoutFailure } from './failures';
import { suggestedFees, type Fees, type Market } from './fees';
import { readNonce } from './nonce-reading';

/** What the payout code needs of the outside world. */
export interface PayoutDeps {
  ledger: PayoutLedger;
  treasury: Treasury;
  logger: Logger;
}

/**
 * A round: the transactions signed for one payout at one nonce. At most one of
 * them can ever be mined, so the round's fate is the payout's fate at that nonce.
 */
export type RoundState =
  /** Nothing final yet: keep watching (and broadcasting). */
  /** `nonceSpent`: the node counts the nonce as used, yet no transaction at it was found (see readNonce). */
  | { kind: 'open'; minedDepth: number | null; note?: string; nonceSpent?: true }
  | { kind: 'paid'; attempt: PayoutAttemptRecord; blockNumber: number; confirmations: number }
  /** Proven at finality depth: the nonce is spent and nothing was paid. */
  | { kind: 'unpaid'; status: 'reverted' | 'no_transfer' | 'dropped'; reason: string };

/**
 * The transactions of one round, oldest first: those `from` signed at `nonce`.
 * A round belongs to one wallet: after a change of treasury key the new wallet
 * may sign a later round at the same nonce number, and the two must never be
 * judged together. Without `from`, the wallet of the newest transaction at that
 * nonce; without `nonce`, the newest round.
 */
export function roundOf(attempts: readonly PayoutAttemptRecord[], nonce?: number | null, from?: string): PayoutAttemptRecord[] {
  const newest = [...attempts].reverse().find((attempt) => (nonce === undefined || nonce === null || attempt.nonce === nonce) && (from === undefined || sameAddress(attempt.from, from)));
  if (!newest) return [];
  return attempts.filter((attempt) => attempt.nonce === newest.nonce && sameAddress(attempt.from, newest.from));
}

export function sameAddress(a: string, b: string): boolean {
  return a.toLowerCase() === b.toLowerCase();
}

/**
 * Reads the chain for the round and records what is final. Throws a
 * PayoutFailure when the chain delivered a different amount than asked: that
 * refund needs a person, never another payment.
 */
export async function judgeRound({ ledger, treasury, logger }: PayoutDeps, round: readonly PayoutAttemptRecord[]): Promise<RoundState> {
  const first = round[0];
  if (!first) throw new Error('a round has at least one transaction');
  const confirmed = round.find((attempt) => attempt.status === 'confirmed');
  if (confirmed) {
    // A worker that died between marking the transaction and its claim left the claim in flight: finished by whoever looks next.
    const claim = await ledger.findClaim(confirmed.subscriptionId);
    if (claim && claim.status !== 'confirmed' && claim.status !== 'review' && confirmed.blockNumber !== null && confirmed.blockHash !== null) {
      await ledger.markConfirmed(confirmed, { number: confirmed.blockNumber, hash: confirmed.blockHash });
    }
    return { kind: 'paid', attempt: confirmed, blockNumber: confirmed.blockNumber ?? 0, confirmations: treasury.confirmations };
  }

  const reading = await readNonce(treasury.provider, { from: first.from, nonce: first.nonce, candidates: round, confirmations: treasury.confirmations });
  const log = logger.child({ refundId: first.refundId, nonce: first.nonce });
  switch (reading.kind) {
    case 'unmined':
      return { kind: 'open', minedDepth: null, note: reading.note, ...(reading.nonceSpent ? { nonceSpent: true as const } : {}) };
    case 'taken': {
      if (!reading.final) return { kind: 'open', minedDepth: null, note: `nonce ${first.nonce} is held by ${reading.txHash}, ${reading.depth} deep` };
      const reason = `nonce ${first.nonce} went to transaction ${reading.txHash} in block ${reading.blockNumber}, ${reading.depth} blocks deep; none of this payout's transactions can be mined`;
      await ledger.closeRoundUnpaid(first, 'dropped', reason);
      log.warn({ takenBy: reading.txHash }, reason);
      return { kind: 'unpaid', status: 'dropped', reason };
    }
    case 'mined': {
      if (!reading.final) return { kind: 'open', minedDepth: reading.depth };
      const { candidate, receipt } = reading;
      const block = { number: receipt.blockNumber, hash: receipt.blockHash };
      if (candidate.kind === 'filler') {
        const reason = `nonce ${first.nonce} was filled by zero-value transaction ${candidate.txHash} because the payout could not be sent (${candidate.failure ?? 'insufficient funds'})`;
        await ledger.closeRoundUnpaid(first, 'dropped', reason);
        log.warn({ txHash: candidate.txHash }, reason);
        return { kind: 'unpaid', status: 'dropped', reason };
      }
      const delivery = await judgeDelivery(treasury.provider, candidate, receipt);
      if (delivery.kind === 'paid') {
        await ledger.markConfirmed(candidate, block);
        log.info({ txHash: candidate.txHash, blockNumber: receipt.blockNumber, confirmations: reading.depth }, 'payout confirmed');
        return { kind: 'paid', attempt: { ...candidate, status: 'confirmed', blockNumber: block.number, blockHash: block.hash }, blockNumber: receipt.blockNumber, confirmations: reading.depth };
      }
      if (delivery.kind === 'nothing') {
        const status = receipt.status === 1 ? 'no_transfer' : 'reverted';
        await ledger.closeRoundUnpaid(first, status, delivery.reason);
        log.warn({ txHash: candidate.txHash }, `payout mined without paying: ${delivery.reason}`);
        return { kind: 'unpaid', status, reason: `${candidate.txHash}: ${delivery.reason}` };
      }
      const reason = `transaction ${candidate.txHash} delivered ${delivery.delivered} instead of ${delivery.expected} (difference ${delivery.expected - delivery.delivered}) in block ${receipt.blockNumber}${delivery.fromLogsOnly ? ', judged from its Transfer logs alone (the node no longer keeps the balances of that block): check the recipient on a block explorer' : ''}`;
      await ledger.markReview(candidate, block, delivery.delivered, reason);
      log.error({ txHash: candidate.txHash, delivered: delivery.delivered.toString(), expected: delivery.expected.toString() }, reason);
      throw new PayoutFailure('PayoutAmountMismatch', `${reason}: a person must settle it; it will not be paid again automatically`);
    }
  }
}

/** The fees a signed transaction offers, read back from its bytes. */
export function feesOf(attempt: Pick<PayoutAttemptRecord, 'rawTransaction'>): Fees & { gasLimit: bigint; value: bigint } {
  const tx = Transaction.from(attempt.rawTransaction);
  return { maxFeePerGas: tx.maxFeePerGas ?? tx.gasPrice ?? 0n, maxPriorityFeePerGas: tx.maxPriorityFeePerGas ?? tx.gasPrice ?? 0n, gasLimit: tx.gasLimit, value: tx.value };
}

/** The most any transaction of the round can take from the treasury: its value plus gas at its max fee. */
export function worstCaseCost(round: readonly Pick<PayoutAttemptRecord, 'rawTransaction'>[]): bigint {
  return round.reduce((most, attempt) => {
    const { value, gasLimit, maxFeePerGas } = feesOf(attempt);
    const cost = value + gasLimit * maxFeePerGas;
    return cost > most ? cost : most;
  }, 0n);
}

/** Fees to offer for the next block, from the pending block's base fee when the node knows it. */
export async function currentFees(treasury: Treasury): Promise<Fees> {
  const market = await nextBlockMarket(treasury);
  return suggestedFees(market.baseFeePerGas, market.priorityFeePerGas);
}

/** The next block's base fee (the pending block's when the node knows it) and the tip the node suggests. */
export async function nextBlockMarket(treasury: Treasury): Promise<Market> {
  const [pending, feeData] = await Promise.all([treasury.provider.getBlock('pending').catch(() => null), treasury.provider.getFeeData()]);
  const priorityFeePerGas = feeData.maxPriorityFeePerGas ?? 1_000_000_000n;
  const baseFeePerGas = pending?.baseFeePerGas ?? (await treasury.provider.getBlock('latest'))?.baseFeePerGas ?? feeData.gasPrice ?? 0n;
  return { baseFeePerGas, priorityFeePerGas };
}
