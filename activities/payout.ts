import { ApplicationFailure, Context } from '@temporalio/activity';
import { Contract, getAddress, isError, Transaction, ZeroAddress, type TransactionReceipt, type TransactionRequest } from 'ethers';
import { Types } from 'mongoose';
import { ERC20_INTERFACE, hasTransferLog } from '../src/chain/erc20';
import type { Treasury } from '../src/chain/treasury';
import { formatAmount, parseAmount } from '../src/domain/amount';
import type { Currency } from '../src/domain/currency';
import type { Logger } from '../src/logger';
import { isDuplicateKey } from '../src/persistence/errors';
import { PayoutClaimedByAnotherRefund, type PayoutAttemptRecord, type PayoutLedger } from '../src/persistence/payout-ledger';
import type { RefundRepository } from '../src/persistence/refund-repository';
import type { SubscriptionModel } from '../src/persistence/subscription-model';

/**
 * Paying a refund on-chain, exactly once, in two activities:
 * 1. preparePayout: claims the subscription's payout for this refund, allocates a
 *    nonce under the wallet lock, signs, and persists the raw transaction and its
 *    hash before anything is broadcast. Idempotent: it returns the live attempt
 *    if there is one, and only signs a new one once the last is proven unpaid.
 * 2. confirmPayout: broadcasts those same bytes (again, on every retry), and
 *    waits for the receipt and PAYOUT_CONFIRMATIONS, heartbeating as it goes.
 * Failures that retrying cannot fix are non-retryable ApplicationFailures whose
 * type says why; the workflow parks the refund in `failed` until an admin retries.
 */

export const PAYOUT_FAILURE_TYPES = {
  invalidAddress: 'InvalidAddress',
  invalidAmount: 'InvalidAmount',
  insufficientFunds: 'InsufficientFunds',
  claimedByAnotherRefund: 'PayoutClaimedByAnotherRefund',
  mismatch: 'PayoutMismatch',
  reverted: 'PayoutReverted',
  tokenTransferFailed: 'TokenTransferFailed',
} as const;

export interface PayoutRequest {
  refundId: string;
  subscriptionId: string;
  to: string;
  amount: string;
  currency: Currency;
}

export interface PayoutAttemptSummary {
  attemptId: string;
  attempt: number;
  chainId: number;
  from: string;
  to: string;
  nonce: number;
  txHash: string;
}

export type PreparedPayout = PayoutAttemptSummary & { status: 'signed' | 'confirmed'; blockNumber: number | null };

export type ConfirmationResult =
  | (PayoutAttemptSummary & { status: 'confirmed'; blockNumber: number; confirmations: number })
  | (PayoutAttemptSummary & { status: 'dropped' });

interface PayoutDeps {
  ledger: PayoutLedger;
  subscriptions: SubscriptionModel;
  refunds: RefundRepository;
  treasury: Treasury;
  logger: Logger;
  /** Identifies this process in wallet locks. */
  workerId: string;
}

const REBROADCAST_EVERY_MS = 15_000;

export function createPayoutActivities({ ledger, subscriptions, refunds, treasury, logger, workerId }: PayoutDeps) {
  const log = logger.child({ component: 'Chain' });
  const from = treasury.address;
  const walletKey = `${treasury.chainId}:${from}`;

  async function preparePayout(request: PayoutRequest): Promise<PreparedPayout> {
    const to = recipientOf(request.to);
    const amount = parseAmount(request.amount);
    if (amount === 0n) throw ApplicationFailure.nonRetryable('refund amount is zero: nothing to pay', PAYOUT_FAILURE_TYPES.invalidAmount);
    const token = request.currency.tokenAddress ? getAddress(request.currency.tokenAddress) : null;

    await claimPayout(request, to, token);
    for (;;) {
      const latest = await ledger.latestAttempt(request.subscriptionId);
      if (latest && (latest.status === 'signed' || latest.status === 'confirmed')) return prepared(latest);

      const unsigned = await unsignedPayout(to, amount, token, request.currency);
      const created = await ledger.withWalletLock(walletKey, `${workerId}:${request.refundId}`, async () => {
        // Look again under the lock: another execution may have signed meanwhile.
        const current = await ledger.latestAttempt(request.subscriptionId);
        if (current?._id !== latest?._id) return null;
        const nonce = Math.max(await treasury.provider.getTransactionCount(from, 'pending'), (await ledger.highestNonce(treasury.chainId, from)) + 1);
        const rawTransaction = await treasury.wallet.signTransaction({ ...unsigned, nonce });
        const attemptNumber = (latest?.attempt ?? 0) + 1;
        try {
          return await ledger.recordAttempt({
            _id: `${request.subscriptionId}:${attemptNumber}`,
            subscriptionId: request.subscriptionId,
            refundId: request.refundId,
            attempt: attemptNumber,
            chainId: treasury.chainId,
            from,
            to,
            amount: amount.toString(),
            tokenAddress: token,
            nonce,
            rawTransaction,
            txHash: Transaction.from(rawTransaction).hash!,
          });
        } catch (error) {
          if (isDuplicateKey(error)) return null; // lost a race for the attempt or the nonce: look again
          throw error;
        }
      });
      if (!created) continue;
      log.info({ refundId: request.refundId, txHash: created.txHash, nonce: created.nonce, attempt: created.attempt }, 'payout signed and persisted');
      await refunds.setFields(request.refundId, { transactionId: created.txHash, payout: payoutDetails(created, null, null) });
      return prepared(created);
    }
  }

  async function confirmPayout(request: { refundId: string; attemptId: string }): Promise<ConfirmationResult> {
    const context = Context.current();
    const deadline = Date.now() + treasury.confirmationTimeoutMs;
    let lastBroadcast = 0;
    for (;;) {
      const attempt = await ledger.findAttempt(request.attemptId);
      if (!attempt) throw ApplicationFailure.nonRetryable(`payout attempt ${request.attemptId} does not exist`, PAYOUT_FAILURE_TYPES.mismatch);
      const summary = summaryOf(attempt);
      if (attempt.status === 'dropped') return { ...summary, status: 'dropped' };
      if (attempt.status === 'reverted' || attempt.status === 'no_transfer') throw unpaidFailure(attempt);

      const receipt = await treasury.provider.getTransactionReceipt(attempt.txHash);
      if (receipt) {
        const outcome = await judgeReceipt(attempt, receipt);
        if (outcome) return outcome;
      } else {
        if (Date.now() - lastBroadcast >= REBROADCAST_EVERY_MS) {
          await broadcast(attempt);
          lastBroadcast = Date.now();
        }
        if (await nonceTakenByAnotherTransaction(attempt)) {
          await ledger.markUnpaid(attempt._id, 'dropped', `nonce ${attempt.nonce} was used by another transaction`);
          log.warn({ refundId: request.refundId, txHash: attempt.txHash }, 'payout transaction dropped: its nonce was used by another transaction');
          return { ...summary, status: 'dropped' };
        }
      }

      context.heartbeat({ txHash: attempt.txHash, mined: Boolean(receipt) });
      if (Date.now() > deadline) {
        throw ApplicationFailure.retryable(`payout ${attempt.txHash} not confirmed within ${treasury.confirmationTimeoutMs} ms`, 'ConfirmationTimeout');
      }
      await context.sleep(treasury.pollIntervalMs);
    }
  }

  /** Returns the confirmed result, throws for a final failure, or null to keep waiting for confirmations. */
  async function judgeReceipt(attempt: PayoutAttemptRecord, receipt: TransactionReceipt): Promise<ConfirmationResult | null> {
    const block = { number: receipt.blockNumber, hash: receipt.blockHash };
    if (receipt.status !== 1) {
      await ledger.markUnpaid(attempt._id, 'reverted', `transaction reverted in block ${receipt.blockNumber}`, block);
      throw unpaidFailure({ ...attempt, status: 'reverted' });
    }
    if (attempt.tokenAddress && !hasTransferLog(receipt.logs, attempt.tokenAddress, attempt.from, attempt.to, BigInt(attempt.amount))) {
      await ledger.markUnpaid(attempt._id, 'no_transfer', `token ${attempt.tokenAddress} emitted no matching Transfer`, block);
      throw unpaidFailure({ ...attempt, status: 'no_transfer' });
    }
    const confirmations = (await treasury.provider.getBlockNumber()) - receipt.blockNumber + 1;
    if (confirmations < treasury.confirmations) return null;
    // Still in the canonical chain at the same block after the wait?
    const again = await treasury.provider.getTransactionReceipt(attempt.txHash);
    if (!again || again.blockHash !== receipt.blockHash) return null;
    await ledger.markConfirmed(attempt, block);
    await refunds.setFields(attempt.refundId, { transactionId: attempt.txHash, payout: payoutDetails(attempt, receipt.blockNumber, confirmations) });
    log.info({ refundId: attempt.refundId, txHash: attempt.txHash, blockNumber: receipt.blockNumber, confirmations }, 'payout confirmed');
    return { ...summaryOf(attempt), status: 'confirmed', blockNumber: receipt.blockNumber, confirmations };
  }

  async function broadcast(attempt: PayoutAttemptRecord): Promise<void> {
    try {
      await treasury.provider.broadcastTransaction(attempt.rawTransaction);
      await ledger.countBroadcast(attempt._id);
      log.info({ refundId: attempt.refundId, txHash: attempt.txHash, nonce: attempt.nonce }, 'payout broadcast');
    } catch (error) {
      if (isError(error, 'INSUFFICIENT_FUNDS')) {
        throw ApplicationFailure.nonRetryable(
          `treasury ${attempt.from} cannot fund transaction ${attempt.txHash}: top it up, then retry the refund`,
          PAYOUT_FAILURE_TYPES.insufficientFunds,
        );
      }
      // Already in the pool, or already mined: the receipt check decides.
      if (isError(error, 'NONCE_EXPIRED') || /already known|already imported|known transaction/i.test(String((error as Error).message))) return;
      throw error;
    }
  }

  async function nonceTakenByAnotherTransaction(attempt: PayoutAttemptRecord): Promise<boolean> {
    const minedNonce = await treasury.provider.getTransactionCount(attempt.from, 'latest');
    if (minedNonce <= attempt.nonce) return false;
    // Our own transaction may have been mined between the receipt check and now.
    return (await treasury.provider.getTransactionReceipt(attempt.txHash)) === null;
  }

  async function claimPayout(request: PayoutRequest, to: string, token: string | null): Promise<void> {
    try {
      const claim = await ledger.claim(request.subscriptionId, {
        refundId: request.refundId,
        chainId: treasury.chainId,
        from,
        to,
        amount: request.amount,
        tokenAddress: token,
      });
      if (claim.to !== to || claim.amount !== request.amount || claim.tokenAddress !== token || claim.chainId !== treasury.chainId) {
        throw ApplicationFailure.nonRetryable(
          `refund ${request.refundId} asks to pay ${request.amount} to ${to}, but its payout was claimed for ${claim.amount} to ${claim.to} on chain ${claim.chainId}`,
          PAYOUT_FAILURE_TYPES.mismatch,
        );
      }
    } catch (error) {
      if (error instanceof PayoutClaimedByAnotherRefund) throw ApplicationFailure.nonRetryable(error.message, PAYOUT_FAILURE_TYPES.claimedByAnotherRefund);
      throw error;
    }
  }

  /**
   * The payout transaction without its nonce (that is allocated under the wallet
   * lock), refused before a nonce is spent when the treasury cannot cover it.
   * Balances are checked before gas is estimated: estimating a transfer the
   * treasury cannot make fails with an opaque error instead of this one.
   */
  async function unsignedPayout(to: string, amount: bigint, token: string | null, currency: Currency): Promise<TransactionRequest> {
    const nativeBalance = await treasury.provider.getBalance(from);
    if (token) {
      const tokenBalance = (await new Contract(token, ERC20_INTERFACE, treasury.provider).getFunction('balanceOf')(from)) as bigint;
      if (tokenBalance < amount) {
        throw insufficient(`treasury holds ${formatAmount(tokenBalance, currency.decimals)} ${currency.symbol}, the refund needs ${formatAmount(amount, currency.decimals)}`);
      }
    } else if (nativeBalance < amount) {
      throw insufficient(`treasury holds ${formatAmount(nativeBalance, currency.decimals)} ${currency.symbol}, the refund needs ${formatAmount(amount, currency.decimals)} plus gas`);
    }
    const call = token ? { to: token, value: 0n, data: ERC20_INTERFACE.encodeFunctionData('transfer', [to, amount]) } : { to, value: amount, data: '0x' };
    const [gasLimit, fees] = await Promise.all([estimateGas(call), treasury.provider.getFeeData()]);
    const needed = call.value + gasLimit * (fees.maxFeePerGas ?? fees.gasPrice ?? 0n);
    if (nativeBalance < needed) {
      throw insufficient(
        token
          ? `treasury has ${formatAmount(nativeBalance, 18)} of the native coin for gas, needs ${formatAmount(needed, 18)}`
          : `treasury holds ${formatAmount(nativeBalance, currency.decimals)} ${currency.symbol}, the refund needs ${formatAmount(needed, currency.decimals)} with gas`,
      );
    }
    return { ...call, chainId: treasury.chainId, type: 2, gasLimit, maxFeePerGas: fees.maxFeePerGas, maxPriorityFeePerGas: fees.maxPriorityFeePerGas };
  }

  async function estimateGas(call: { to: string; value: bigint; data: string }): Promise<bigint> {
    const estimate = await treasury.provider.estimateGas({ ...call, from });
    return call.data === '0x' && estimate === 21_000n ? estimate : (estimate * 125n) / 100n; // headroom for contracts
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

  return { preparePayout, confirmPayout, payoutDestination };
}

function recipientOf(address: string): string {
  let checksummed: string;
  try {
    checksummed = getAddress(address);
  } catch {
    throw ApplicationFailure.nonRetryable(`wallet address ${address} is not a valid address (bad checksum?)`, PAYOUT_FAILURE_TYPES.invalidAddress);
  }
  if (checksummed === ZeroAddress) throw ApplicationFailure.nonRetryable('wallet address is the zero address', PAYOUT_FAILURE_TYPES.invalidAddress);
  return checksummed;
}

function insufficient(message: string): ApplicationFailure {
  return ApplicationFailure.nonRetryable(`${message}: top up the treasury, then retry the refund`, PAYOUT_FAILURE_TYPES.insufficientFunds);
}

function unpaidFailure(attempt: PayoutAttemptRecord): ApplicationFailure {
  return attempt.status === 'no_transfer'
    ? ApplicationFailure.nonRetryable(`token transfer ${attempt.txHash} was mined but moved no tokens; nothing was paid`, PAYOUT_FAILURE_TYPES.tokenTransferFailed)
    : ApplicationFailure.nonRetryable(`payout transaction ${attempt.txHash} reverted; nothing was paid`, PAYOUT_FAILURE_TYPES.reverted);
}

function summaryOf(attempt: PayoutAttemptRecord): PayoutAttemptSummary {
  return { attemptId: attempt._id, attempt: attempt.attempt, chainId: attempt.chainId, from: attempt.from, to: attempt.to, nonce: attempt.nonce, txHash: attempt.txHash };
}

function prepared(attempt: PayoutAttemptRecord): PreparedPayout {
  return { ...summaryOf(attempt), status: attempt.status === 'confirmed' ? 'confirmed' : 'signed', blockNumber: attempt.blockNumber };
}

function payoutDetails(attempt: PayoutAttemptRecord, blockNumber: number | null, confirmations: number | null) {
  return { chainId: attempt.chainId, from: attempt.from, to: attempt.to, nonce: attempt.nonce, txHash: attempt.txHash, blockNumber, confirmations, attempt: attempt.attempt };
}
