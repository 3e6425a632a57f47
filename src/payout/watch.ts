import { Transaction } from 'ethers';
import { tokenBalanceOf } from '../chain/erc20';
import { nativeCoin } from '../chain/network';
import { formatAmount } from '../domain/amount';
import { assetKey, GAS_ALERT_ASSET, type Currency } from '../domain/currency';
import { limitFor, type CurrencyLimit } from '../domain/currency-limits';
import { createUnlessExists } from '../persistence/errors';
import type { PayoutAttemptRecord } from '../persistence/payout-ledger';
import type { TreasuryStore } from '../persistence/treasury-store';
import { BlockedQueue, clearBlockedQueueAlerts } from './blocked-queue';
import { classifyBroadcastError, describe, type BroadcastRefusal } from './broadcast-errors';
import { PayoutFailure } from './failures';
import { initialFees, outbid, replacementFees, suggestedFees } from './fees';
import { currentFees, feesOf, judgeRound, nextBlockMarket, roundOf, sameAddress, worstCaseCost, type PayoutDeps } from './rounds';
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

/** A round: the wallet that signed it and the nonce its transactions share. */
export interface RoundRef {
  from: string;
  nonce: number;
}

/** One run of the watcher ended without a verdict; the next run picks up where it left off. */
export class WatchTimeout extends Error {
  constructor(txHash: string, ms: number) {
    super(`payout ${txHash} has no final verdict after ${ms} ms; watching again`);
    this.name = 'WatchTimeout';
  }
}

const GAS_OF_A_PLAIN_TRANSFER = 21_000n;
/** Alerts the watcher raises about one round, keyed by it (`roundKey`). */
const ROUND_ALERTS: ReadonlySet<string> = new Set(['treasury.payout_stuck', 'treasury.old_wallet_payout', 'treasury.payout_refused']);
const EARLIER_NONCES_HELPED = 5;
/** Consecutive refusals of a round's broadcast, of a kind the watcher cannot act on, before a person is told. */
const REFUSALS_BEFORE_ALERT = 3;
const FIRST_POLL_MS = 100;

/**
 * Watches one round of a payout until the chain gives a final verdict:
 * - keeps the round's newest transaction in the nodes' pools (sent again, byte
 *   for byte, every `rebroadcastEveryMs`, and at once after a reorg removed it);
 * - replaces it at the same nonce with higher fees when it is not mined within
 *   `stuckAfterMs`, but only when its nonce is the next the chain will mine and
 *   its fees are outbid by the next block: a payout queued behind an earlier
 *   nonce is not underpriced, and raising its fees would only waste gas; at the
 *   fee cap it alerts (`treasury.payout_stuck`) and waits;
 * - when the nonce it waits behind is not mined for `stuckAfterMs` (its own
 *   watcher gone, or a transaction of the key signed elsewhere), it alerts
 *   (`treasury.payout_stuck`, keyed by that nonce: see `BlockedQueue`);
 * - when the node refuses it for insufficient funds and has none of the round's
 *   transactions, fills the nonce with a zero-value self-transfer so the
 *   payouts queued behind it can be mined;
 * - when the node is missing earlier nonces of the wallet (or refuses the
 *   payout as a nonce gap), sends again the transactions this service signed
 *   for them;
 * - never stops on a refusal it does not understand: it records it, goes on
 *   with the rest of the iteration, and alerts (`treasury.payout_refused`)
 *   when the round keeps being refused.
 * It never gives up on a broadcast payout and never signs at another nonce.
 * It signs (replacements, fillers) only for rounds of the wallet it holds the
 * key of: a round signed by a previous treasury key is only sent again, byte
 * for byte, and alerted (`treasury.old_wallet_payout`) when it does not move;
 * a transaction of the new key at "the same nonce" would be another payment.
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

  async watch(subscriptionId: string, at: RoundRef, hooks: WatchHooks): Promise<WatchOutcome> {
    const { nonce } = at;
    const deadline = this.now() + this.treasury.confirmationTimeoutMs;
    let lastBroadcastAt = 0;
    let wasMined = false;
    let refusals = 0;
    /** Since when every reading found the nonce spent and no transaction at it (one reading from a lagging node proves nothing). */
    let spentUnseenSince: number | null = null;
    let queue: BlockedQueue | undefined;
    // On a chain that mines on arrival the first broadcast is mined before it returns: read again at
    // once, then after FIRST_POLL_MS, doubling up to pollIntervalMs.
    let pause = 0;
    for (;;) {
      const attempts = await this.deps.ledger.attemptsOf(subscriptionId);
      const round = roundOf(attempts, nonce, at.from);
      const newest = round.at(-1);
      if (!newest) throw new Error(`payout of ${subscriptionId} has no transaction at nonce ${nonce}`);
      const state = await judgeRound(this.deps, round);
      if (state.kind !== 'open') await this.afterVerdict(round);
      if (state.kind === 'paid') {
        await this.afterPaid(newest);
        return { kind: 'paid', attempt: state.attempt, blockNumber: state.blockNumber, confirmations: state.confirmations };
      }
      if (state.kind === 'unpaid') {
        if (state.status === 'dropped') return { kind: 'dropped', reason: state.reason };
        throw new PayoutFailure(state.status === 'reverted' ? 'PayoutReverted' : 'TokenTransferFailed', `${state.reason}; nothing was paid`);
      }

      spentUnseenSince = state.nonceSpent ? (spentUnseenSince ?? this.now()) : null;
      if (state.minedDepth !== null) {
        wasMined = true;
      } else {
        if (wasMined) {
          this.log.warn({ refundId: newest.refundId, nonce }, 'payout transaction left the chain (reorg): sending it again');
          lastBroadcastAt = 0;
          wasMined = false;
        }
        let refusal: BroadcastRefusal | null = null;
        if (this.now() - lastBroadcastAt >= this.treasury.rebroadcastEveryMs) {
          refusal = await this.push(attempts, round);
          lastBroadcastAt = this.now();
          refusals = await this.followRefusals(round, refusal, refusals);
        }
        if (refusal === 'nonce_gap') await this.helpEarlierNonces(at);
        if (this.now() - newest.createdAt.getTime() >= this.treasury.stuckAfterMs) {
          const minedCount = await this.treasury.provider.getTransactionCount(at.from, 'latest');
          if (minedCount <= nonce && !this.holdsKeyOf(newest)) await this.alertOldWallet(round, `it is not mined after ${this.treasury.stuckAfterMs} ms`);
          if (spentUnseenSince !== null && this.now() - spentUnseenSince >= this.treasury.stuckAfterMs) await this.alertNonceNotFound(newest);
          if (minedCount === nonce) {
            if (await this.replaceIfOutbid(attempts, round)) lastBroadcastAt = this.now();
          } else if (minedCount < nonce && refusal !== 'nonce_gap') {
            await this.helpEarlierNonces(at); // it waits behind them: they are what is stuck
          }
          queue ??= new BlockedQueue(this.deps, newest, () => this.now());
          await queue.observe(minedCount).catch((error: unknown) => this.log.warn({ refundId: newest.refundId, nonce, error: describe(error) }, 'could not check the payouts queue behind an earlier nonce; checking again next time'));
        }
      }

      hooks.heartbeat({ txHash: newest.txHash, nonce, minedDepth: state.minedDepth, note: state.note });
      if (this.now() > deadline) throw new WatchTimeout(newest.txHash, this.treasury.confirmationTimeoutMs);
      if (pause > 0) await hooks.sleep(pause);
      pause = Math.min(pause === 0 ? FIRST_POLL_MS : pause * 2, this.treasury.pollIntervalMs);
    }
  }

  /**
   * Sends the round's newest transaction (its newest filler, once there is one). A
   * refusal for insufficient funds while the node holds none of the round's
   * transactions means the nonce may never be sent as signed: it is filled.
   */
  private async push(attempts: readonly PayoutAttemptRecord[], round: readonly PayoutAttemptRecord[]): Promise<BroadcastRefusal | null> {
    const toSend = sendable(round);
    const filler = toSend.kind === 'filler' ? toSend : undefined;
    const refusal = await this.broadcast(toSend);
    if (filler && refusal === null) await this.clearGasAlert(`the filler of nonce ${filler.nonce} was accepted by the node`);
    if (refusal !== 'insufficient_funds') return refusal;
    if (!this.holdsKeyOf(toSend)) {
      await this.alertOldWallet(round, 'the node refuses it for insufficient funds in that wallet');
      return refusal;
    }
    if (filler) {
      await this.deps.alerts.raise('treasury.low_balance', gasAlertKey(this.treasury.chainId), `the treasury ${this.treasury.address} cannot even pay the gas to fill nonce ${toSend.nonce}: payouts are blocked until it is topped up`, {
        nonce: toSend.nonce,
      });
      return refusal;
    }
    const known = await Promise.all(round.map((attempt) => this.treasury.provider.getTransaction(attempt.txHash).catch(() => null)));
    if (known.some((tx) => tx !== null)) {
      this.log.warn({ refundId: toSend.refundId, nonce: toSend.nonce }, 'a replacement could not be afforded; the transaction it replaces is still pending');
      return refusal;
    }
    await this.fill(attempts, toSend);
    return refusal;
  }

  /**
   * Counts consecutive refusals the watcher cannot act on (a nonce gap that
   * helping earlier nonces does not close, the node's fee cap, an unknown
   * refusal) and tells a person once they repeat; an accepted broadcast ends it.
   */
  private async followRefusals(round: readonly PayoutAttemptRecord[], refusal: BroadcastRefusal | null, refusals: number): Promise<number> {
    const newest = sendable(round);
    const key = roundKey(this.treasury.chainId, newest);
    if (refusal === null) {
      if (refusals >= REFUSALS_BEFORE_ALERT) await this.deps.alerts.clear('treasury.payout_refused', key, `payout at nonce ${newest.nonce} is accepted by the node again`);
      return 0;
    }
    if (refusal !== 'rejected' && refusal !== 'nonce_gap') return refusals;
    const count = refusals + 1;
    if (count >= REFUSALS_BEFORE_ALERT) {
      const latest = (await this.deps.ledger.findAttempt(newest._id))?.lastBroadcastError ?? refusal;
      await this.deps.alerts.raise(
        'treasury.payout_refused',
        key,
        `the node refused payout ${newest.txHash} of refund ${newest.refundId} (nonce ${newest.nonce}) ${count} times in a row (${latest}): it is not in the node's pool, and the payouts after it wait; the watcher keeps sending it and any earlier nonce it lacks. Check the node (fee cap, gas limit, nonce gaps) or the RPC endpoint`,
        { refundId: newest.refundId, subscriptionId: newest.subscriptionId, from: newest.from, nonce: newest.nonce, txHash: newest.txHash, refusal: latest },
      );
    }
    return count;
  }

  /** Signs, records and sends a zero-value transfer to ourselves at the payout's nonce. */
  private async fill(attempts: readonly PayoutAttemptRecord[], payout: PayoutAttemptRecord): Promise<void> {
    if (!this.holdsKeyOf(payout)) return;
    const { wallet, chainId, address } = this.treasury;
    const fees = initialFees(await currentFees(this.treasury), this.treasury.maxFeePerGasWei);
    const rawTransaction = await wallet.signTransaction({ to: address, value: 0n, data: '0x', chainId, type: 2, nonce: payout.nonce, gasLimit: GAS_OF_A_PLAIN_TRANSFER, ...fees });
    const filler = await this.record(attempts, payout, rawTransaction, 'filler');
    if (!filler) return;
    const round = roundOf(attempts, payout.nonce, payout.from);
    await this.deps.ledger.raiseReservation(round[0]!, worstCaseCost([...round, filler]));
    this.log.error(
      { refundId: payout.refundId, nonce: payout.nonce, txHash: payout.txHash, filler: filler.txHash },
      `payout ${payout.txHash} cannot be sent (insufficient funds): nonce ${payout.nonce} is filled with a zero-value transfer so later payouts are not blocked; the refund will fail once the filler is final`,
    );
    await this.broadcast(filler);
  }

  /**
   * For a round whose nonce is the next the chain will mine and that has waited
   * `stuckAfterMs`: replaces its newest transaction when the next block outbids
   * it, at the same nonce, same payload, both fees raised (see fees.ts). At the
   * cap it alerts once and keeps waiting. Returns whether a replacement was sent.
   */
  private async replaceIfOutbid(attempts: readonly PayoutAttemptRecord[], round: readonly PayoutAttemptRecord[]): Promise<boolean> {
    const newest = sendable(round);
    const market = await nextBlockMarket(this.treasury);
    if (!outbid(feesOf(newest), market)) return false;
    if (!this.holdsKeyOf(newest)) return false;
    const replacement = replacementFees(feesOf(newest), suggestedFees(market.baseFeePerGas, market.priorityFeePerGas), this.treasury.feeBumpPercent, this.treasury.maxFeePerGasWei);
    if (replacement.kind === 'at_cap') {
      await this.stuckAtCap(round, newest);
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
    await this.deps.ledger.raiseReservation(round[0]!, worstCaseCost([...round, signed]));
    this.log.warn(
      { refundId: newest.refundId, nonce: newest.nonce, replaces: newest.txHash, txHash: signed.txHash, maxFeePerGas: replacement.fees.maxFeePerGas.toString() },
      `payout not mined after ${this.treasury.stuckAfterMs} ms and outbid by the next block: replaced at the same nonce with higher fees`,
    );
    await this.broadcast(signed);
    return true;
  }

  /** The nonce is spent on chain but the transaction at it stays out of sight: only a person (or an archive node) can tell what paid it. */
  private async alertNonceNotFound(newest: PayoutAttemptRecord): Promise<void> {
    await this.deps.alerts.raise(
      'treasury.payout_stuck',
      roundKey(this.treasury.chainId, newest),
      `payout ${newest.txHash} of refund ${newest.refundId} is not mined, and the node counts nonce ${newest.nonce} of ${newest.from} as used, yet the transaction at that nonce cannot be found: the node may keep no state as old as that transaction (not an archive node). Point BLOCKCHAIN_RPC_URL at an archive node, or look the nonce up on a block explorer; the payout waits and is never signed again until its nonce is explained`,
      { refundId: newest.refundId, subscriptionId: newest.subscriptionId, from: newest.from, nonce: newest.nonce, txHash: newest.txHash },
    );
  }

  private async stuckAtCap(round: readonly PayoutAttemptRecord[], newest: PayoutAttemptRecord): Promise<void> {
    const claim = await this.deps.ledger.findClaim(newest.subscriptionId);
    if (!claim?.stuckSince) await this.deps.ledger.setStuck(round[0]!, new Date(this.now()));
    const cap = this.treasury.maxFeePerGasWei;
    await this.deps.alerts.raise(
      'treasury.payout_stuck',
      roundKey(this.treasury.chainId, newest),
      `payout ${newest.txHash} of refund ${newest.refundId} (nonce ${newest.nonce}) is not mined and its fees are at PAYOUT_MAX_FEE_PER_GAS (${formatAmount(cap, 9)} gwei): it keeps waiting; raise the cap or wait for fees to fall`,
      { refundId: newest.refundId, subscriptionId: newest.subscriptionId, nonce: newest.nonce, txHash: newest.txHash, maxFeePerGas: cap.toString() },
    );
  }

  /** Records a signed transaction of the round before it is sent; null when another execution recorded one first. */
  private async record(attempts: readonly PayoutAttemptRecord[], of: PayoutAttemptRecord, rawTransaction: string, kind: PayoutAttemptRecord['kind']): Promise<PayoutAttemptRecord | null> {
    const signer = Transaction.from(rawTransaction).from;
    if (!signer || !sameAddress(signer, of.from)) throw new Error(`refusing to record a transaction signed by ${signer} in a round of ${of.from}: it would be another payment, not a replacement`);
    const number = attempts.filter((attempt) => attempt.subscriptionId === of.subscriptionId).length + 1;
    const signedAtBlock = await this.treasury.provider.getBlockNumber();
    return createUnlessExists(() =>
      this.deps.ledger.recordAttempt({
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
        signedAtBlock,
      }),
    );
  }

  /**
   * Sends the bytes; returns the node's refusal, null when the node has them.
   * Never throws for a refusal: one the watcher does not recognise is recorded
   * with the node's words and returned as `rejected`, so the iteration goes on
   * to replacing the transaction and helping earlier nonces (a refusal that
   * stopped the loop here would stop every payout queued behind this nonce).
   */
  private async broadcast(attempt: PayoutAttemptRecord): Promise<BroadcastRefusal | null> {
    try {
      await this.treasury.provider.broadcastTransaction(attempt.rawTransaction);
      await this.deps.ledger.countBroadcast(attempt._id);
      this.log.info({ refundId: attempt.refundId, txHash: attempt.txHash, nonce: attempt.nonce, kind: attempt.kind }, 'payout broadcast');
      return null;
    } catch (error) {
      const refusal = classifyBroadcastError(error) ?? 'rejected';
      if (refusal === 'known') {
        await this.deps.ledger.countBroadcast(attempt._id);
        return null;
      }
      const words = describe(error).slice(0, 300);
      await this.deps.ledger.countBroadcast(attempt._id, refusal === 'rejected' || refusal === 'nonce_gap' ? `${refusal}: ${words}` : refusal);
      if (refusal !== 'nonce_used') this.log.warn({ refundId: attempt.refundId, txHash: attempt.txHash, nonce: attempt.nonce, refusal, error: words }, `node refused the payout transaction: ${refusal}`);
      return refusal;
    }
  }

  /**
   * A payout waits behind every lower nonce of the wallet. When the node lacks
   * some (a worker died between signing and sending, or a node dropped them),
   * the transactions this service signed for them are sent again, and filled
   * when they can never be sent.
   */
  private async helpEarlierNonces({ from, nonce }: RoundRef): Promise<void> {
    const pending = await this.treasury.provider.getTransactionCount(from, 'pending');
    for (let missing = pending; missing < nonce && missing < pending + EARLIER_NONCES_HELPED; missing += 1) {
      const owner = await this.deps.ledger.nonceOwner(this.treasury.chainId, from, missing);
      if (!owner) continue;
      const attempts = await this.deps.ledger.attemptsOf(owner);
      const round = roundOf(attempts, missing, from);
      if (round.length === 0 || round.some((attempt) => attempt.status !== 'signed')) continue;
      this.log.warn({ nonce: missing, blockedNonce: nonce, refundId: round[0]!.refundId }, 'an earlier nonce of the treasury is missing from the node: sending its transaction again');
      await this.push(attempts, round);
    }
  }

  /** Whether this worker's key signed the round: only then may it sign more transactions for it. */
  private holdsKeyOf(attempt: Pick<PayoutAttemptRecord, 'from'>): boolean {
    return sameAddress(attempt.from, this.treasury.address);
  }

  /**
   * A round signed by a previous treasury key does not move. Signing anything
   * for it with the current key would be a second payment (another wallet,
   * another nonce sequence) while the old transaction stays valid, so a person
   * must fund the old wallet or cancel the transaction with the old key.
   */
  private async alertOldWallet(round: readonly PayoutAttemptRecord[], why: string): Promise<void> {
    const newest = round.at(-1)!;
    const needsWei = worstCaseCost(round);
    const funds = newest.tokenAddress
      ? `${newest.amount} (smallest units) of token ${newest.tokenAddress} and up to ${formatAmount(needsWei, 18)} of the native coin for gas`
      : `up to ${formatAmount(needsWei, 18)} of the native coin (amount and gas)`;
    await this.deps.alerts.raise(
      'treasury.old_wallet_payout',
      roundKey(this.treasury.chainId, newest),
      `payout ${newest.txHash} of refund ${newest.refundId} (nonce ${newest.nonce}) was signed by ${newest.from}, which is no longer the treasury key (now ${this.treasury.address}), and ${why}. The service only sends it again and never signs for that wallet: fund ${newest.from} with ${funds} so it is mined, or have the old key's holder cancel it with a 0-value transfer to itself at nonce ${newest.nonce} and higher fees; the refund is then paid from the new wallet once that is final`,
      { refundId: newest.refundId, subscriptionId: newest.subscriptionId, from: newest.from, nonce: newest.nonce, txHash: newest.txHash, treasury: this.treasury.address, needsWei: needsWei.toString() },
    );
  }

  /**
   * The round has its final verdict (paid, reverted, or its nonce taken): what
   * was alerted about it is over, whichever way it ended. An alert left open
   * here would stay open for good: nothing watches that nonce any more.
   */
  private async afterVerdict(round: readonly PayoutAttemptRecord[]): Promise<void> {
    const newest = round.at(-1)!;
    const key = roundKey(this.treasury.chainId, newest);
    const message = `payout of ${newest.from} at nonce ${newest.nonce} has its verdict`;
    // One read of the open alerts rather than a delete for each kind the round may have raised: almost always none is open.
    const open = await this.deps.store.openAlerts();
    for (const alert of open) if (alert.key === key && ROUND_ALERTS.has(alert.type)) await this.deps.alerts.clear(alert.type, key, message);
    if (round.some((attempt) => attempt.kind === 'filler')) await this.clearGasAlert(`nonce ${newest.nonce} has its verdict`);
    // Any earlier nonce payouts waited behind is mined too now (even if the watchers that saw it stuck are gone).
    await clearBlockedQueueAlerts(this.deps, newest.from, newest.nonce + 1, open);
  }

  /** The treasury could not pay the gas to fill a nonce; it now could. */
  private async clearGasAlert(why: string): Promise<void> {
    await this.deps.alerts.clear('treasury.low_balance', gasAlertKey(this.treasury.chainId), `the treasury can pay gas again: ${why}`);
  }

  private async afterPaid(attempt: PayoutAttemptRecord): Promise<void> {
    if (this.deps.lowBalance.length === 0) return;
    const { chainId } = this.treasury;
    const currency = await this.deps.store.findCurrency(chainId, attempt.tokenAddress);
    if (currency) await checkLowBalance(this.deps, currency);
    // Every payout spends the native coin on gas: a treasury that pays only tokens runs low on it too.
    if (attempt.tokenAddress) await checkLowBalance(this.deps, (await this.deps.store.findCurrency(chainId, null)) ?? nativeCoin(chainId));
  }
}

/** What to send of a round: its newest filler once there is one (an older filler was outbid, and nodes refuse it once they hold the newer), else its newest transaction. */
function sendable(round: readonly PayoutAttemptRecord[]): PayoutAttemptRecord {
  return [...round].reverse().find((attempt) => attempt.kind === 'filler') ?? round.at(-1)!;
}

/** `treasury.low_balance` raised because a nonce could not even be filled (the currency's own is keyed by currency). */
function gasAlertKey(chainId: number): string {
  return `${chainId}:${GAS_ALERT_ASSET}`;
}

/** Alerts about one round are keyed by its wallet and nonce. */
function roundKey(chainId: number, attempt: Pick<PayoutAttemptRecord, 'from' | 'nonce'>): string {
  return `${chainId}:${attempt.from}:${attempt.nonce}`;
}

/** Raises `treasury.low_balance` when the treasury holds less than TREASURY_LOW_BALANCE of the currency, and clears it once topped up. */
export async function checkLowBalance(deps: Pick<WatcherDeps, 'treasury' | 'alerts' | 'lowBalance'>, currency: Currency): Promise<void> {
  const threshold = limitFor(deps.lowBalance, currency);
  if (threshold === null) return;
  const { provider, address, chainId } = deps.treasury;
  const balance = currency.tokenAddress ? await tokenBalanceOf(provider, currency.tokenAddress, address) : await provider.getBalance(address);
  const key = `${chainId}:${assetKey(currency)}`;
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
