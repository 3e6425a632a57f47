import { Contract, getAddress, Transaction, ZeroAddress, type TransactionRequest } from 'ethers';
import { ERC20_INTERFACE } from '../chain/erc20';
import { formatAmount, parseAmount } from '../domain/amount';
import { currencyKey, type Currency } from '../domain/currency';
import { limitFor, type CurrencyLimit } from '../domain/currency-limits';
import type { PayoutRequest } from '../domain/payout';
import { isDuplicateKey } from '../persistence/errors';
import { PayoutClaimedByAnotherRefund, walletKey, type NewAttempt, type PayoutAttemptRecord, type PayoutClaim } from '../persistence/payout-ledger';
import type { TreasuryStore } from '../persistence/treasury-store';
import { PayoutFailure } from './failures';
import { initialFees, type Fees } from './fees';
import { committedFunds } from './funds';
import { currentFees, judgeRound, roundOf, type PayoutDeps } from './rounds';
import type { TreasuryAlerts } from './treasury-alerts';

export type PreparedPayout =
  /** A round is open at this transaction's nonce: watch it. */
  | { kind: 'round'; attempt: PayoutAttemptRecord }
  | { kind: 'paid'; attempt: PayoutAttemptRecord; blockNumber: number; confirmations: number }
  /** PAYOUT_DAILY_LIMIT is reached for the currency: nothing was signed; ask again at `retryAt`. */
  | { kind: 'limited'; retryAt: string; reason: string };

export interface PreparerDeps extends PayoutDeps {
  store: TreasuryStore;
  alerts: TreasuryAlerts;
  dailyLimits: readonly CurrencyLimit[];
  /** Identifies this process in wallet locks. */
  workerId: string;
  now?: () => Date;
}

const HOUR_MS = 3_600_000;

/** One payout waiting for its turn under the wallet lock. */
interface Waiting {
  request: PayoutRequest;
  /** Attempts recorded for the payout when it was looked at: the new one is number knownAttempts + 1, unique, so an execution that looked before another signed loses the insert. */
  knownAttempts: number;
  unsigned: Unsigned;
  amount: bigint;
  token: string | null;
  resolve(outcome: PreparedPayout | 'raced'): void;
  reject(error: unknown): void;
}

type Outcome = PreparedPayout | 'raced' | { kind: 'error'; error: unknown };

/** Payouts signed under one hold of the wallet lock, at most. */
export const MAX_SIGNED_TOGETHER = 25;

/**
 * Gets a payout ready to be watched, exactly once per subscription:
 * claims the subscription for the refund, and returns the open round if there
 * is one. A new round, at a new nonce, is signed only when there is none or the
 * chain has proven the last one unpaid at finality depth. Signing happens under
 * the wallet lock, after checking that the treasury can cover this payout on
 * top of everything already signed and not yet mined, and the daily limit.
 *
 * The payouts of this process that wait for the lock at the same time are
 * signed under one hold of it (at most MAX_SIGNED_TOGETHER): one reading of the
 * balance, the nonces and the open rounds, each payout checked against what the
 * ones before it took, then one insert each for their nonces and their signed
 * transactions (in nonce order) and one write for their funds reservations.
 * The lock is held for a handful of store and node round trips per batch
 * instead of per payout. Broadcasting is the watcher's, outside the lock.
 */
export class PayoutPreparer {
  private readonly log;
  private readonly waiting: Waiting[] = [];
  private signing = false;
  /** Currencies whose decimals were checked against the store: the record never changes once written. */
  private readonly checkedCurrencies = new Set<string>();

  constructor(private readonly deps: PreparerDeps) {
    this.log = deps.logger.child({ subcomponent: 'PayoutPreparer' });
  }

  private get treasury() {
    return this.deps.treasury;
  }

  async prepare(request: PayoutRequest): Promise<PreparedPayout> {
    const to = recipientOf(request.to);
    const amount = parseAmount(request.amount);
    if (amount === 0n) throw new PayoutFailure('InvalidAmount', 'refund amount is zero: nothing to pay');
    const token = request.currency.tokenAddress ? getAddress(request.currency.tokenAddress) : null;
    await this.verifyCurrency(request.currency, token);
    let claim: PayoutClaim | null = await this.claim(request, to, token);

    for (;;) {
      claim ??= await this.deps.ledger.findClaim(request.subscriptionId);
      if (claim?.status === 'review') throw new PayoutFailure('PayoutAmountMismatch', claim.failure ?? 'the payout delivered a different amount: a person must settle it');
      const attempts = await this.deps.ledger.attemptsOf(request.subscriptionId);
      const round = roundOf(attempts, claim?.nonce);
      claim = null; // read again on the next turn
      if (round.length > 0) {
        const state = await judgeRound(this.deps, round);
        if (state.kind === 'paid') return { kind: 'paid', attempt: state.attempt, blockNumber: state.blockNumber, confirmations: state.confirmations };
        if (state.kind === 'open') return { kind: 'round', attempt: [...round].reverse().find((attempt) => attempt.kind === 'payout') ?? round.at(-1)! };
        // Proven unpaid: a new round may be signed.
      }
      const limited = await this.dailyLimitReached(request.currency, amount);
      if (limited) return limited;
      const unsigned = await this.unsignedPayout(to, amount, token);
      const outcome = await new Promise<PreparedPayout | 'raced'>((resolve, reject) => {
        this.waiting.push({ request, knownAttempts: attempts.length, unsigned, amount, token, resolve, reject });
        void this.signWaiting();
      });
      if (outcome !== 'raced') return outcome;
    }
  }

  /** Signs the waiting payouts, a batch per hold of the wallet lock, until none waits. */
  private async signWaiting(): Promise<void> {
    if (this.signing) return;
    this.signing = true;
    try {
      while (this.waiting.length > 0) {
        const batch = this.waiting.splice(0, MAX_SIGNED_TOGETHER);
        let outcomes: Outcome[];
        try {
          outcomes = await this.deps.ledger.withWalletLock(walletKey(this.treasury.chainId, this.treasury.address), `${this.deps.workerId}:${batch[0]!.request.refundId}`, () => this.signBatch(batch));
        } catch (error) {
          for (const item of batch) item.reject(error);
          continue;
        }
        batch.forEach((item, i) => {
          const outcome = outcomes[i]!;
          if (outcome !== 'raced' && outcome.kind === 'error') item.reject(outcome.error);
          else item.resolve(outcome);
        });
      }
    } finally {
      this.signing = false;
    }
  }

  /**
   * Under the wallet lock: signs every payout of the batch that is still due,
   * fundable and within the daily limit. Returns one outcome per payout, in
   * the batch's order. 'raced': another execution of that payout signed
   * meanwhile (or the batch's insert stopped before it); look again.
   */
  private async signBatch(batch: readonly Waiting[]): Promise<Outcome[]> {
    const { ledger } = this.deps;
    const { chainId, address: from, provider } = this.treasury;
    const tokens = [...new Set(batch.flatMap((item) => (item.token ? [item.token] : [])))];
    // Everything the checks below need, read once, together.
    const [open, minedCount, nativeBalance, pendingCount, nextNonce, signedAtBlock, tokenBalances] = await Promise.all([
      ledger.openClaims(chainId, from),
      provider.getTransactionCount(from, 'latest'),
      provider.getBalance(from, 'latest'),
      provider.getTransactionCount(from, 'pending'),
      ledger.nextNonce(chainId, from),
      provider.getBlockNumber(),
      Promise.all(tokens.map(async (token) => [token, (await new Contract(token, ERC20_INTERFACE, provider).getFunction('balanceOf')(from)) as bigint] as const)),
    ]);
    const tokenBalance = new Map(tokenBalances);

    const outcomes: Outcome[] = [];
    const accepted: { index: number; item: Waiting; cost: bigint }[] = [];
    const taken = { wei: 0n, tokens: new Map<string, bigint>(), payouts: 0 };
    const spent = new Map<string, bigint>(); // per currency: the last 24 hours, plus this batch
    const subscriptions = new Set<string>();
    for (const [index, item] of batch.entries()) {
      const { request, amount, token, unsigned } = item;
      // Two executions of one payout in the same batch: the second looks again once the first is recorded.
      // (Another that signed since this one looked is caught by the attempt's unique number, below.)
      if (subscriptions.has(request.subscriptionId)) {
        outcomes.push('raced');
        continue;
      }
      subscriptions.add(request.subscriptionId);
      try {
        const limited = await this.dailyLimitReached(request.currency, amount, spent);
        if (limited) {
          outcomes.push(limited);
          continue;
        }
        const cost = unsigned.value + unsigned.gasLimit * unsigned.fees.maxFeePerGas;
        const committed = committedFunds(
          open.filter((claim) => claim._id !== request.subscriptionId),
          minedCount,
        );
        this.checkFunds(request, cost, amount, token, {
          nativeBalance,
          tokenBalance: token ? tokenBalance.get(token)! : 0n,
          wei: committed.wei + taken.wei,
          tokens: (committed.tokens.get(token?.toLowerCase() ?? '') ?? 0n) + (taken.tokens.get(token?.toLowerCase() ?? '') ?? 0n),
          payouts: committed.payouts + taken.payouts,
        });
        taken.wei += cost;
        taken.payouts += 1;
        if (token) taken.tokens.set(token.toLowerCase(), (taken.tokens.get(token.toLowerCase()) ?? 0n) + amount);
        const key = currencyKey(request.currency);
        if (spent.has(key)) spent.set(key, spent.get(key)! + amount);
        accepted.push({ index, item, cost });
        outcomes.push({ kind: 'error', error: new Error('not signed') }); // replaced below once signed
      } catch (error) {
        outcomes.push({ kind: 'error', error });
      }
    }
    if (accepted.length === 0) return outcomes;

    const nonces = await this.allocateNonces(
      accepted.map(({ item }) => ({ subscriptionId: item.request.subscriptionId, refundId: item.request.refundId })),
      Math.max(pendingCount, nextNonce),
    );
    const toRecord: (NewAttempt & { index: number; cost: bigint })[] = [];
    for (const [i, { index, item, cost }] of accepted.entries()) {
      const { request, unsigned, amount, token, knownAttempts } = item;
      const nonce = nonces[i]!;
      const rawTransaction = await this.treasury.wallet.signTransaction({ ...unsigned.call, chainId, type: 2, nonce, gasLimit: unsigned.gasLimit, ...unsigned.fees });
      toRecord.push({
        index,
        cost,
        _id: `${request.subscriptionId}:${knownAttempts + 1}`,
        subscriptionId: request.subscriptionId,
        refundId: request.refundId,
        attempt: knownAttempts + 1,
        kind: 'payout',
        chainId,
        from,
        to: recipientOf(request.to),
        amount: amount.toString(),
        tokenAddress: token,
        nonce,
        rawTransaction,
        txHash: Transaction.from(rawTransaction).hash!,
        signedAtBlock,
      });
    }
    toRecord.sort((a, b) => a.nonce - b.nonce);
    const { recorded, failure } = await ledger.recordAttempts(toRecord.map(({ index: _index, cost: _cost, ...attempt }) => attempt));
    const recordedIds = new Set(recorded.map((attempt) => attempt._id));
    const unrecorded = toRecord.filter((attempt) => !recordedIds.has(attempt._id));
    if (unrecorded.length > 0) {
      if (isDuplicateKey(failure)) {
        // Another execution of a payout recorded its attempt first; the ordered insert stopped there. Nothing of these was broadcast: give their nonces back.
        await Promise.all(unrecorded.map((attempt) => ledger.releaseNonce(chainId, from, attempt.nonce, attempt.subscriptionId)));
        for (const attempt of unrecorded) outcomes[attempt.index] = 'raced';
      } else {
        // The store failed: the reservations stay, and the next allocation takes them over (no transaction at their nonces).
        for (const attempt of unrecorded) outcomes[attempt.index] = { kind: 'error', error: failure };
      }
    }
    if (recorded.length === 0) return outcomes;

    // Never past a nonce left without a transaction: the next allocation must fill it.
    const next = unrecorded.length > 0 ? Math.min(...unrecorded.map((attempt) => attempt.nonce)) : Math.max(...recorded.map((attempt) => attempt.nonce)) + 1;
    const spend = new Map<string, bigint>();
    if (this.deps.dailyLimits.length > 0) {
      for (const attempt of recorded) {
        const { request, amount } = batch[toRecord.find((entry) => entry._id === attempt._id)!.index]!;
        const bucket = this.spendBucket(request.currency, this.now());
        spend.set(bucket, (spend.get(bucket) ?? 0n) + amount);
      }
    }
    const written = await Promise.all([
      ledger.setNextNonce(chainId, from, next),
      ...[...spend].map(([bucket, amount]) => ledger.addSpend(bucket, amount)),
      // The funds these payouts may take, counted by every later check.
      ledger.openRounds(
        recorded.map((attempt) => ({
          subscriptionId: attempt.subscriptionId,
          nonce: attempt.nonce,
          reservedWei: toRecord.find((entry) => entry._id === attempt._id)!.cost,
          reservedTokens: attempt.tokenAddress ? BigInt(attempt.amount) : 0n,
        })),
      ),
    ]).then(
      () => null,
      (error: unknown) => error,
    );
    for (const attempt of recorded) {
      const index = toRecord.find((entry) => entry._id === attempt._id)!.index;
      if (written !== null) {
        outcomes[index] = { kind: 'error', error: written };
        continue;
      }
      outcomes[index] = { kind: 'round', attempt };
      this.log.info({ refundId: attempt.refundId, txHash: attempt.txHash, nonce: attempt.nonce, attempt: attempt.attempt, batch: batch.length }, 'payout signed and persisted');
    }
    return outcomes;
  }

  /**
   * Nonces of the wallet, one per payout, given for good. Never below what the
   * node has seen (someone else may use the key) nor below what this service
   * handed out (`start` is the larger). A reservation left without a
   * transaction by a crashed allocation (we hold the lock, so its owner is
   * gone) is taken over, so no nonce is ever skipped. The usual case, every
   * nonce from `start` free, is one insert.
   */
  private async allocateNonces(owners: { subscriptionId: string; refundId: string }[], start: number): Promise<number[]> {
    const { ledger } = this.deps;
    const { chainId, address: from } = this.treasury;
    const reserved = await ledger.reserveNonces(chainId, from, owners.map((owner, i) => ({ nonce: start + i, owner })));
    const nonces: number[] = [];
    let beyond = start + owners.length;
    for (const [i, owner] of owners.entries()) {
      if (reserved[i] || (await ledger.takeOverOrphanNonce(chainId, from, start + i, owner))) {
        nonces.push(start + i);
        continue;
      }
      for (;;) {
        const nonce = beyond;
        beyond += 1;
        if ((await ledger.reserveNonce(chainId, from, nonce, owner)) || (await ledger.takeOverOrphanNonce(chainId, from, nonce, owner))) {
          nonces.push(nonce);
          break;
        }
      }
    }
    return nonces;
  }

  /**
   * Refuses, before any nonce is spent, a payout the treasury cannot cover on
   * top of every payout signed and not yet mined (`promised`).
   */
  private checkFunds(
    request: PayoutRequest,
    cost: bigint,
    amount: bigint,
    token: string | null,
    { nativeBalance, tokenBalance, wei, tokens, payouts }: { nativeBalance: bigint; tokenBalance: bigint; wei: bigint; tokens: bigint; payouts: number },
  ): void {
    const promised = payouts > 0 ? `, of which ${formatAmount(wei, 18)} is promised to ${payouts} payout(s) in flight` : '';
    if (token) {
      if (tokenBalance - tokens < amount) {
        throw insufficient(
          `treasury holds ${formatAmount(tokenBalance, request.currency.decimals)} ${request.currency.symbol}${tokens > 0n ? ` (${formatAmount(tokens, request.currency.decimals)} promised to payouts in flight)` : ''}, the refund needs ${formatAmount(amount, request.currency.decimals)}`,
        );
      }
      if (nativeBalance - wei < cost) throw insufficient(`treasury has ${formatAmount(nativeBalance, 18)} of the native coin for gas${promised}; this payout needs up to ${formatAmount(cost, 18)}`);
      return;
    }
    if (nativeBalance - wei < cost) {
      throw insufficient(`treasury holds ${formatAmount(nativeBalance, 18)} ${request.currency.symbol}${promised}; the refund needs ${formatAmount(amount, 18)} plus up to ${formatAmount(cost - amount, 18)} for gas`);
    }
  }

  /**
   * Whether paying `amount` would take the currency's payouts of the last 24
   * hours over PAYOUT_DAILY_LIMIT. `known` (under the lock) keeps, per currency,
   * the total read once plus what the batch has taken since.
   */
  private async dailyLimitReached(currency: Currency, amount: bigint, known?: Map<string, bigint>): Promise<PreparedPayout | null> {
    const limit = limitFor(this.deps.dailyLimits, currency);
    if (limit === null) return null;
    const now = this.now();
    const buckets = Array.from({ length: 24 }, (_, hoursAgo) => this.spendBucket(currency, new Date(now.getTime() - hoursAgo * HOUR_MS)));
    const spent = known?.get(currencyKey(currency)) ?? (await this.deps.ledger.spentIn(buckets));
    known?.set(currencyKey(currency), spent);
    const key = `${this.treasury.chainId}:${currencyKey(currency)}`;
    if (spent + amount <= limit) {
      await this.deps.alerts.clear('treasury.daily_limit', key, `payouts in ${currency.symbol} are back under PAYOUT_DAILY_LIMIT`);
      return null;
    }
    const retryAt = new Date(Math.floor(now.getTime() / HOUR_MS) * HOUR_MS + HOUR_MS); // the oldest hour of the window drops out
    const reason = `PAYOUT_DAILY_LIMIT for ${currency.symbol} is ${formatAmount(limit, currency.decimals)}; ${formatAmount(spent, currency.decimals)} was paid in the last 24 hours and this refund needs ${formatAmount(amount, currency.decimals)}: waiting until ${retryAt.toISOString()}`;
    await this.deps.alerts.raise('treasury.daily_limit', key, reason, { currency: currency.symbol, limit: limit.toString(), spent: spent.toString() });
    return { kind: 'limited', retryAt: retryAt.toISOString(), reason };
  }

  private spendBucket(currency: Currency, at: Date): string {
    return `${this.treasury.chainId}:${currencyKey(currency)}:${at.toISOString().slice(0, 13)}`;
  }

  /**
   * The refund's currency must be the token it names: a wrong `decimals` would
   * pay a thousand times too much or too little. Checked once per currency.
   */
  private async verifyCurrency(currency: Currency, token: string | null): Promise<void> {
    const { chainId, provider } = this.treasury;
    const checked = `${chainId}:${token ?? 'native'}:${currency.decimals}`;
    if (this.checkedCurrencies.has(checked)) return;
    const known = await this.deps.store.findCurrency(chainId, token);
    const onChain = known?.decimals ?? (token ? Number(await new Contract(token, ERC20_INTERFACE, provider).getFunction('decimals')()) : 18);
    if (onChain !== currency.decimals) {
      throw new PayoutFailure('CurrencyMismatch', `${currency.symbol} is recorded with ${currency.decimals} decimals, but ${token ? `token ${token} has` : 'the native coin has'} ${onChain}: the payout is refused`);
    }
    if (!known) await this.deps.store.recordCurrency(chainId, { ...currency, tokenAddress: token });
    this.checkedCurrencies.add(checked);
  }

  private async claim(request: PayoutRequest, to: string, token: string | null): Promise<PayoutClaim> {
    const { chainId, address: from } = this.treasury;
    try {
      const claim = await this.deps.ledger.claim(request.subscriptionId, { refundId: request.refundId, chainId, from, to, amount: request.amount, tokenAddress: token });
      if (claim.to !== to || claim.amount !== request.amount || claim.tokenAddress !== token || claim.chainId !== chainId) {
        throw new PayoutFailure(
          'PayoutMismatch',
          `refund ${request.refundId} asks to pay ${request.amount} to ${to}, but its payout was claimed for ${claim.amount} to ${claim.to} on chain ${claim.chainId}`,
        );
      }
      return claim;
    } catch (error) {
      if (error instanceof PayoutClaimedByAnotherRefund) throw new PayoutFailure('PayoutClaimedByAnotherRefund', error.message);
      throw error;
    }
  }

  /** The transaction without its nonce (allocated under the lock), with gas and fees settled before taking it. */
  private async unsignedPayout(to: string, amount: bigint, token: string | null): Promise<Unsigned> {
    const call = token ? { to: token, value: 0n, data: ERC20_INTERFACE.encodeFunctionData('transfer', [to, amount]) } : { to, value: amount, data: '0x' };
    const [gasLimit, suggested] = await Promise.all([this.estimateGas(call, token !== null, amount), currentFees(this.treasury)]);
    return { call, value: call.value, gasLimit, fees: initialFees(suggested, this.treasury.maxFeePerGasWei) };
  }

  private async estimateGas(call: { to: string; value: bigint; data: string }, isToken: boolean, amount: bigint): Promise<bigint> {
    let estimate: bigint;
    try {
      estimate = await this.treasury.provider.estimateGas({ ...call, from: this.treasury.address });
    } catch (error) {
      // A plain transfer the treasury cannot fund fails to estimate: the funds check below says so in words.
      if (!isToken) return 21_000n;
      throw insufficient(`the token transfer of ${amount} cannot be estimated (${(error as Error).message.slice(0, 120)}); check the treasury's token balance`);
    }
    return !isToken && estimate === 21_000n ? estimate : (estimate * 125n) / 100n; // headroom for contracts
  }

  private now(): Date {
    return this.deps.now?.() ?? new Date();
  }
}

interface Unsigned {
  call: TransactionRequest & { to: string; value: bigint; data: string };
  value: bigint;
  gasLimit: bigint;
  fees: Fees;
}

export function recipientOf(address: string): string {
  let checksummed: string;
  try {
    checksummed = getAddress(address);
  } catch {
    throw new PayoutFailure('InvalidAddress', `wallet address ${address} is not a valid address (bad checksum?)`);
  }
  if (checksummed === ZeroAddress) throw new PayoutFailure('InvalidAddress', 'wallet address is the zero address');
  return checksummed;
}

function insufficient(message: string): PayoutFailure {
  return new PayoutFailure('InsufficientFunds', `${message}: top up the treasury, then retry the refund`);
}
