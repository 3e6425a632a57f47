import { Contract, Transaction } from 'ethers';
import { ERC20_INTERFACE } from '../chain/erc20';
import { formatAmount } from '../domain/amount';
import { currencyKey, type Currency } from '../domain/currency';
import { limitFor, type CurrencyLimit } from '../domain/currency-limits';
import { isDuplicateKey } from '../persistence/errors';
import type { PayoutAttemptRecord } from '../persistence/payout-ledger';
import type { TreasuryStore } from '../persistence/treasury-store';
import { classifyBroadcastError } from './broadcast-errors';
import { PayoutFailure } from './failures';
import { initialFees, replacementFees } from './fees';
import { currentFees, feesOf, judgeRound, roundOf, worstCaseCost, type PayoutDeps } from './rounds';
import type { TreasuryAlerts } from './treasury-alerts';

export type WatchOutcome =
  | { kind: 'paid'; attempt: PayoutAttemptRecord; blockNumber: number; confirmations: number }
  /** The round's nonce went to another transaction (or to our filler) at finality depth: nothing was paid; a new round may be signed. */
  | { kind: 'dropped'; reason: string };

export interface WatchHooks {
  heartbeat(details: Record<string, unknown>): void;
  sleep(ms: number): Promise<void>;
}

export interface WatcherDeps extends PayoutDeps {
  store: TreasuryStore;
  alerts: TreasuryAlerts;
  lowBalance: readonly CurrencyLimit[];
  now?: () => number;
}

/** One run of the watcher ended without a verdict; the next run picks up where it left off. */
export class WatchTimeout extends Error {
  constructor(txHash: string, ms: number) {
    super(`payout ${txHash} has no final verdict after ${ms} ms; watching again`);
    this.name = 'WatchTimeout';
  }
}

const GAS_OF_A_PLAIN_TRANSFER = 21_000n;
const EARLIER_NONCES_HELPED = 5;
const FIRST_POLL_MS = 100;

/**
 * Watches one round of a payout until the chain gives a final verdict:
 * - keeps the round's newest transaction in the nodes' pools (sent again, byte
 *   for byte, every `rebroadcastEveryMs`, and at once after a reorg removed it);
 * - replaces it at the same nonce with higher fees when it is not mined within
 *   `stuckAfterMs`; at the fee cap it alerts (`treasury.payout_stuck`) and waits;
 * - when the node refuses it for insufficient funds and has none of the round's
 *   transactions, fills the nonce with a zero-value self-transfer so the
 *   payouts queued behind it can be mined;
 * - when the node is missing earlier nonces of the wallet, sends again the
 *   transactions this service signed for them.
 * It never gives up on a broadcast payout and never signs at another nonce.
 */
export class PayoutWatcher {
  private readonly log;

  constructor(private readonly deps: WatcherDeps) {
    this.log = deps.logger.child({ subcomponent: 'PayoutWatcher' });
  }

  private get treasury() {
    return this.deps.treasury;
  }

  private now(): number {
    return this.deps.now?.() ?? Date.now();
  }

  async watch(subscriptionId: string, nonce: number, hooks: WatchHooks): Promise<WatchOutcome> {
    const deadline = this.now() + this.treasury.confirmationTimeoutMs;
    let lastBroadcastAt = 0;
    let wasMined = false;
    // On a chain that mines on arrival the first broadcast is mined before it returns: read again at
    // once, then after FIRST_POLL_MS, doubling up to pollIntervalMs.
    let pause = 0;
    for (;;) {
      const attempts = await this.deps.ledger.attemptsOf(subscriptionId);
      const round = roundOf(attempts, nonce);
      const newest = round.at(-1);
      if (!newest) throw new Error(`payout of ${subscriptionId} has no transaction at nonce ${nonce}`);
      const state = await judgeRound(this.deps, round);
      if (state.kind === 'paid') {
        await this.afterPaid(newest, nonce);
        return { kind: 'paid', attempt: state.attempt, blockNumber: state.blockNumber, confirmations: state.confirmations };
      }
      if (state.kind === 'unpaid') {
        if (state.status === 'dropped') return { kind: 'dropped', reason: state.reason };
        throw new PayoutFailure(state.status === 'reverted' ? 'PayoutReverted' : 'TokenTransferFailed', `${state.reason}; nothing was paid`);
      }

      if (state.minedDepth !== null) {
        wasMined = true;
      } else {
        if (wasMined) {
          this.log.warn({ refundId: newest.refundId, nonce }, 'payout transaction left the chain (reorg): sending it again');
          lastBroadcastAt = 0;
          wasMined = false;
        }
        if (this.now() - lastBroadcastAt >= this.treasury.rebroadcastEveryMs) {
          await this.push(attempts, round);
          lastBroadcastAt = this.now();
        }
        const replaced = await this.replaceIfStuck(attempts, round);
        if (replaced) lastBroadcastAt = this.now();
        if (this.now() - newest.createdAt.getTime() >= this.treasury.stuckAfterMs) await this.helpEarlierNonces(nonce);
      }

      hooks.heartbeat({ txHash: newest.txHash, nonce, minedDepth: state.minedDepth, note: state.note });
      if (this.now() > deadline) throw new WatchTimeout(newest.txHash, this.treasury.confirmationTimeoutMs);
      if (pause > 0) await hooks.sleep(pause);
      pause = Math.min(pause === 0 ? FIRST_POLL_MS : pause * 2, this.treasury.pollIntervalMs);
    }
  }

  /**
   * Sends the round's newest transaction (its filler, once there is one). A
   * refusal for insufficient funds while the node holds none of the round's
   * transactions means the nonce may never be sent as signed: it is filled.
   */
  private async push(attempts: readonly PayoutAttemptRecord[], round: readonly PayoutAttemptRecord[]): Promise<void> {
    const filler = round.find((attempt) => attempt.kind === 'filler');
    const toSend = filler ?? round.at(-1)!;
    const refusal = await this.broadcast(toSend);
    if (refusal !== 'insufficient_funds') return;
    if (filler) {
      await this.deps.alerts.raise('treasury.low_balance', `${this.treasury.chainId}:gas`, `the treasury ${this.treasury.address} cannot even pay the gas to fill nonce ${toSend.nonce}: payouts are blocked until it is topped up`, {
        nonce: toSend.nonce,
      });
      return;
    }
    const known = await Promise.all(round.map((attempt) => this.treasury.provider.getTransaction(attempt.txHash).catch(() => null)));
    if (known.some((tx) => tx !== null)) {
      this.log.warn({ refundId: toSend.refundId, nonce: toSend.nonce }, 'a replacement could not be afforded; the transaction it replaces is still pending');
      return;
    }
    await this.fill(attempts, toSend);
  }

  /** Signs, records and sends a zero-value transfer to ourselves at the payout's nonce. */
  private async fill(attempts: readonly PayoutAttemptRecord[], payout: PayoutAttemptRecord): Promise<void> {
    const { wallet, chainId, address } = this.treasury;
    const fees = initialFees(await currentFees(this.treasury), this.treasury.maxFeePerGasWei);
    const rawTransaction = await wallet.signTransaction({ to: address, value: 0n, data: '0x', chainId, type: 2, nonce: payout.nonce, gasLimit: GAS_OF_A_PLAIN_TRANSFER, ...fees });
    const filler = await this.record(attempts, payout, rawTransaction, 'filler');
    if (!filler) return;
    await this.deps.ledger.raiseReservation(payout.subscriptionId, worstCaseCost([...roundOf(attempts, payout.nonce), filler]));
    this.log.error(
      { refundId: payout.refundId, nonce: payout.nonce, txHash: payout.txHash, filler: filler.txHash },
      `payout ${payout.txHash} cannot be sent (insufficient funds): nonce ${payout.nonce} is filled with a zero-value transfer so later payouts are not blocked; the refund will fail once the filler is final`,
    );
    await this.broadcast(filler);
  }

  /**
   * Replaces the round's newest transaction when it has waited `stuckAfterMs`
   * unmined: same nonce, same payload, both fees raised (see fees.ts). At the
   * cap it alerts once and keeps waiting. Returns whether a replacement was sent.
   */
  private async replaceIfStuck(attempts: readonly PayoutAttemptRecord[], round: readonly PayoutAttemptRecord[]): Promise<boolean> {
    const newest = round.at(-1)!;
    if (this.now() - newest.createdAt.getTime() < this.treasury.stuckAfterMs) return false;
    const replacement = replacementFees(feesOf(newest), await currentFees(this.treasury), this.treasury.feeBumpPercent, this.treasury.maxFeePerGasWei);
    if (replacement.kind === 'at_cap') {
      await this.stuckAtCap(newest);
      return false;
    }
    const previous = Transaction.from(newest.rawTransaction);
    const rawTransaction = await this.treasury.wallet.signTransaction({
      to: previous.to,
      value: previous.value,
      data: previous.data,
      chainId: this.treasury.chainId,
      type: 2,
      nonce: previous.nonce,
      gasLimit: previous.gasLimit,
      ...replacement.fees,
    });
    const signed = await this.record(attempts, newest, rawTransaction, newest.kind);
    if (!signed) return false;
    await this.deps.ledger.raiseReservation(newest.subscriptionId, worstCaseCost([...round, signed]));
    this.log.warn(
      { refundId: newest.refundId, nonce: newest.nonce, replaces: newest.txHash, txHash: signed.txHash, maxFeePerGas: replacement.fees.maxFeePerGas.toString() },
      `payout not mined after ${this.treasury.stuckAfterMs} ms: replaced at the same nonce with higher fees`,
    );
    await this.broadcast(signed);
    return true;
  }

  private async stuckAtCap(newest: PayoutAttemptRecord): Promise<void> {
    const claim = await this.deps.ledger.findClaim(newest.subscriptionId);
    if (!claim?.stuckSince) await this.deps.ledger.setStuck(newest.subscriptionId, new Date(this.now()));
    const cap = this.treasury.maxFeePerGasWei;
    await this.deps.alerts.raise(
      'treasury.payout_stuck',
      `${this.treasury.chainId}:${this.treasury.address}:${newest.nonce}`,
      `payout ${newest.txHash} of refund ${newest.refundId} (nonce ${newest.nonce}) is not mined and its fees are at PAYOUT_MAX_FEE_PER_GAS (${formatAmount(cap, 9)} gwei): it keeps waiting; raise the cap or wait for fees to fall`,
      { refundId: newest.refundId, subscriptionId: newest.subscriptionId, nonce: newest.nonce, txHash: newest.txHash, maxFeePerGas: cap.toString() },
    );
  }

  /** Records a signed transaction of the round before it is sent; null when another execution recorded one first. */
  private async record(attempts: readonly PayoutAttemptRecord[], of: PayoutAttemptRecord, rawTransaction: string, kind: PayoutAttemptRecord['kind']): Promise<PayoutAttemptRecord | null> {
    const number = attempts.filter((attempt) => attempt.subscriptionId === of.subscriptionId).length + 1;
    try {
      return await this.deps.ledger.recordAttempt({
        _id: `${of.subscriptionId}:${number}`,
        subscriptionId: of.subscriptionId,
        refundId: of.refundId,
        attempt: number,
        kind,
        chainId: of.chainId,
        from: of.from,
        to: of.to,
        amount: of.amount,
        tokenAddress: of.tokenAddress,
        nonce: of.nonce,
        rawTransaction,
        txHash: Transaction.from(rawTransaction).hash!,
        signedAtBlock: await this.treasury.provider.getBlockNumber(),
      });
    } catch (error) {
      if (isDuplicateKey(error)) return null;
      throw error;
    }
  }

  /** Sends the bytes; returns the node's refusal when there is one that the watch loop handles. */
  private async broadcast(attempt: PayoutAttemptRecord) {
    try {
      await this.treasury.provider.broadcastTransaction(attempt.rawTransaction);
      await this.deps.ledger.countBroadcast(attempt._id);
      this.log.info({ refundId: attempt.refundId, txHash: attempt.txHash, nonce: attempt.nonce, kind: attempt.kind }, 'payout broadcast');
      return null;
    } catch (error) {
      const refusal = classifyBroadcastError(error);
      if (refusal === null) throw error;
      if (refusal === 'known') {
        await this.deps.ledger.countBroadcast(attempt._id);
        return null;
      }
      await this.deps.ledger.countBroadcast(attempt._id, refusal);
      if (refusal !== 'nonce_used') this.log.warn({ refundId: attempt.refundId, txHash: attempt.txHash, nonce: attempt.nonce, refusal }, `node refused the payout transaction: ${refusal}`);
      return refusal;
    }
  }

  /**
   * A payout waits behind every lower nonce of the wallet. When the node lacks
   * some (a worker died between signing and sending, or a node dropped them),
   * the transactions this service signed for them are sent again, and filled
   * when they can never be sent.
   */
  private async helpEarlierNonces(nonce: number): Promise<void> {
    const pending = await this.treasury.provider.getTransactionCount(this.treasury.address, 'pending');
    for (let missing = pending; missing < nonce && missing < pending + EARLIER_NONCES_HELPED; missing += 1) {
      const owner = await this.deps.ledger.nonceOwner(this.treasury.chainId, this.treasury.address, missing);
      if (!owner) continue;
      const attempts = await this.deps.ledger.attemptsOf(owner);
      const round = roundOf(attempts, missing);
      if (round.length === 0 || round.some((attempt) => attempt.status !== 'signed')) continue;
      this.log.warn({ nonce: missing, blockedNonce: nonce, refundId: round[0]!.refundId }, 'an earlier nonce of the treasury is missing from the node: sending its transaction again');
      await this.push(attempts, round);
    }
  }

  private async afterPaid(attempt: PayoutAttemptRecord, nonce: number): Promise<void> {
    await this.deps.alerts.clear('treasury.payout_stuck', `${this.treasury.chainId}:${this.treasury.address}:${nonce}`, `payout at nonce ${nonce} was mined`);
    if (this.deps.lowBalance.length === 0) return;
    const currency = await this.deps.store.findCurrency(this.treasury.chainId, attempt.tokenAddress);
    if (currency) await checkLowBalance(this.deps, currency);
  }
}

/** Raises `treasury.low_balance` when the treasury holds less than TREASURY_LOW_BALANCE of the currency, and clears it once topped up. */
export async function checkLowBalance(deps: Pick<WatcherDeps, 'treasury' | 'alerts' | 'lowBalance'>, currency: Currency): Promise<void> {
  const threshold = limitFor(deps.lowBalance, currency);
  if (threshold === null) return;
  const { provider, address, chainId } = deps.treasury;
  const balance = currency.tokenAddress ? await tokenBalanceOf(deps, currency.tokenAddress) : await provider.getBalance(address);
  const key = `${chainId}:${currencyKey(currency)}`;
  if (balance >= threshold) {
    await deps.alerts.clear('treasury.low_balance', key, `treasury ${currency.symbol} balance is back above TREASURY_LOW_BALANCE`);
    return;
  }
  await deps.alerts.raise(
    'treasury.low_balance',
    key,
    `treasury ${address} holds ${formatAmount(balance, currency.decimals)} ${currency.symbol}, under TREASURY_LOW_BALANCE ${formatAmount(threshold, currency.decimals)}: top it up`,
    { currency: currency.symbol, tokenAddress: currency.tokenAddress, balance: balance.toString(), threshold: threshold.toString() },
  );
}

async function tokenBalanceOf(deps: Pick<WatcherDeps, 'treasury'>, token: string): Promise<bigint> {
  return (await new Contract(token, ERC20_INTERFACE, deps.treasury.provider).getFunction('balanceOf')(deps.treasury.address)) as bigint;
}
