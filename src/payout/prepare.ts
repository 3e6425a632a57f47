import { Contract, getAddress, isError, Transaction, ZeroAddress, type CallExceptionError, type TransactionRequest } from 'ethers';
import { ERC20_INTERFACE, tokenBalanceOf } from '../chain/erc20';
import { formatAmount, parseAmount } from '../domain/amount';
import { assetKey, type Currency } from '../domain/currency';
import { limitFor, type CurrencyLimit } from '../domain/currency-limits';
import type { PayoutRequest } from '../domain/payout';
import { isDuplicateKey } from '../persistence/errors';
import { PayoutClaimedByAnotherRefund, spendBucketKey, walletKey, type PayoutAttemptRecord, type PayoutClaim, type WalletLease } from '../persistence/payout-ledger';
import type { TreasuryStore } from '../persistence/treasury-store';
import { nodeWords } from './broadcast-errors';
import { PayoutFailure } from './failures';
import { initialFees, type Fees } from './fees';
import { committedFunds, type Committed, type OpenRound } from './funds';
import { currentFees, judgeRound, roundOf, worstCaseCost, type PayoutDeps } from './rounds';
import type { TreasuryAlerts } from './treasury-alerts';

export type PreparedPayout =
  /** A round is open at this transaction's nonce: watch it. */
  | { kind: 'round'; attempt: PayoutAttemptRecord }
  | { kind: 'paid'; attempt: PayoutAttemptRecord; blockNumber: number; confirmations: number }
  /** PAYOUT_DAILY_LIMIT is reached for the currency: nothing was signed; ask again at `retryAt`. */
  | { kind: 'limited'; retryAt: string; reason: string };

/** The daily limit reached, with what its alert says (raised outside the wallet lock: a webhook may take seconds). */
type Limited = Extract<PreparedPayout, { kind: 'limited' }> & { alert: { key: string; details: Record<string, unknown> } };

export interface PreparerDeps extends PayoutDeps {
  store: TreasuryStore;
  alerts: TreasuryAlerts;
  dailyLimits: readonly CurrencyLimit[];
  /** Identifies this process in wallet locks. */
  workerId: string;
  now?: () => Date;
}

const HOUR_MS = 3_600_000;
/**
 * Longest a chain call may take under the wallet lock (ethers waits 5 minutes
 * by default): every other payout of the wallet waits meanwhile. A call that
 * takes longer fails the attempt, which is tried again.
 */
const CHAIN_CALL_UNDER_LOCK_MS = 10_000;
/** Unmined nonces below a new payout's that no open claim follows, read one by one under the lock, beyond which nothing is signed (see unopenedRounds). */
const MAX_UNFOLLOWED_NONCES = 1_000;
/** Readings of the treasury at the latest block tried under one hold of the lock (see readWallet). */
const WALLET_READ_TRIES = 3;

/**
 * What the Temporal activity lends a preparation. An attempt that Temporal has
 * given up on (timed out, its workflow reset) may still be running here while
 * another attempt, or the workflow's next step, goes on without it: it must not
 * record a round that nobody will watch.
 */
export interface PrepareHooks {
  /** What the preparation is doing now (the activity heartbeats with it). */
  step(name: string): void;
  /** Throws when this attempt no longer counts; checked under the wallet lock right before a round is recorded. */
  stillCurrent(): void;
}

const NO_HOOKS: PrepareHooks = { step: () => undefined, stillCurrent: () => undefined };

/**
 * Gets a payout ready to be watched, exactly once per subscription:
 * claims the subscription for the refund, and returns the open round if there
 * is one. A new round, at a new nonce, is signed only when there is none or the
 * chain has proven the last one unpaid at finality depth. Signing happens under
 * the wallet lock, after checking that the treasury can cover this payout on
 * top of everything already signed and not yet mined, and the daily limit.
 */
export class PayoutPreparer {
  private readonly log;

  constructor(private readonly deps: PreparerDeps) {
    this.log = deps.logger.child({ subcomponent: 'PayoutPreparer' });
  }

  private get treasury() {
    return this.deps.treasury;
  }

  async prepare(request: PayoutRequest, hooks: PrepareHooks = NO_HOOKS): Promise<PreparedPayout> {
    hooks.step('claiming');
    const to = recipientOf(request.to);
    const amount = parseAmount(request.amount);
    if (amount === 0n) throw new PayoutFailure('InvalidAmount', 'refund amount is zero: nothing to pay');
    const token = request.currency.tokenAddress ? getAddress(request.currency.tokenAddress) : null;
    await this.verifyCurrency(request.currency, token);
    hooks.stillCurrent(); // an attempt Temporal gave up on claims nothing: its workflow may have closed the refund meanwhile
    await this.claim(request, to, token);

    for (;;) {
      const claim = await this.deps.ledger.findClaim(request.subscriptionId);
      if (claim?.status === 'review') throw new PayoutFailure('PayoutAmountMismatch', claim.failure ?? 'the payout delivered a different amount: a person must settle it');
      const attempts = await this.deps.ledger.attemptsOf(request.subscriptionId);
      const round = roundOf(attempts, claim?.nonce);
      if (round.length > 0) {
        const state = await judgeRound(this.deps, round);
        if (state.kind === 'paid') return { kind: 'paid', attempt: state.attempt, blockNumber: state.blockNumber, confirmations: state.confirmations };
        if (state.kind === 'open') {
          await this.finishOpeningRound(request, round, claim);
          return { kind: 'round', attempt: [...round].reverse().find((attempt) => attempt.kind === 'payout') ?? round.at(-1)! };
        }
        // Proven unpaid: a new round may be signed.
      }
      const limited = await this.dailyLimitReached(request.currency, amount);
      await this.announceDailyLimit(request.currency, limited);
      if (limited) return withoutAlert(limited);
      hooks.step('estimating');
      const unsigned = await this.unsignedPayout(to, amount, token);
      hooks.step('waiting for the wallet lock');
      const outcome = await this.deps.ledger.withWalletLock(walletKey(this.treasury.chainId, this.treasury.address), `${this.deps.workerId}:${request.refundId}`, (lease) =>
        this.signNewRound(lease, request, attempts.length, unsigned, amount, token, hooks),
      );
      if (outcome === 'raced') continue;
      if (outcome.kind !== 'limited') return outcome;
      await this.announceDailyLimit(request.currency, outcome);
      return withoutAlert(outcome);
    }
  }

  /**
   * Under the wallet lock, which every other payout of the wallet waits for:
   * it is held for round trips, so what the checks need is read at once (the
   * store, then the chain as of one block), and the lease is confirmed
   * alongside the writes that need it rather than before them: the record
   * after its own confirmation, the claim's opening after one made together
   * with the spend entry and the next nonce (which the next preparation writes
   * anyway, without the lock, should this one stop: finishOpeningRound).
   * 'raced': another execution of this payout signed meanwhile; look again.
   */
  private async signNewRound(
    lease: WalletLease,
    request: PayoutRequest,
    knownAttempts: number,
    unsigned: Unsigned,
    amount: bigint,
    token: string | null,
    hooks: PrepareHooks,
  ): Promise<Exclude<PreparedPayout, { kind: 'limited' }> | Limited | 'raced'> {
    const { ledger } = this.deps;
    const { chainId, address: from, provider } = this.treasury;
    hooks.step('signing');
    hooks.stillCurrent();
    const [attempts, limited, open, recordedNext] = await Promise.all([
      ledger.attemptsOf(request.subscriptionId),
      this.dailyLimitReached(request.currency, amount),
      ledger.openClaims(chainId, from),
      ledger.nextNonce(chainId, from),
    ]);
    if (attempts.length !== knownAttempts) return 'raced';
    if (limited) return limited;
    // Read after the open claims: a claim already settled was mined by then, so the balance below has paid it.
    const wallet = await this.readWallet(token);
    const cost = unsigned.value + unsigned.gasLimit * unsigned.fees.maxFeePerGas;

    hooks.stillCurrent();
    const nonce = await this.allocateNonce(lease, request, Math.max(wallet.pendingCount, recordedNext));
    /** Nothing was recorded at the nonce (or another execution of this payout recorded first): give it back, so none is skipped. */
    const giveBack = () =>
      lease
        .confirm()
        .then(() => ledger.releaseNonce(chainId, from, nonce, request.subscriptionId))
        .catch((releaseError: Error) => {
          this.log.warn({ refundId: request.refundId, nonce, error: releaseError.message }, 'could not give back an unused nonce; the next allocation takes it over');
        });
    const others = open.filter((claim) => claim._id !== request.subscriptionId);
    try {
      checkFunds(request, { cost, amount, token }, wallet, committedFunds([...others, ...(await this.unopenedRounds(request, others, wallet.minedCount, nonce))], wallet.minedCount));
    } catch (error) {
      await giveBack();
      throw error;
    }

    let attempt: PayoutAttemptRecord;
    try {
      const rawTransaction = await this.treasury.wallet.signTransaction({ ...unsigned.call, chainId, type: 2, nonce, gasLimit: unsigned.gasLimit, ...unsigned.fees });
      const signedAtBlock = await underLock(provider.getBlockNumber(), 'eth_blockNumber');
      // The last moment an abandoned attempt, or a holder that lost the lock, can stop: once recorded, the round may be sent by any watcher.
      hooks.stillCurrent();
      await lease.confirm();
      attempt = await ledger.recordAttempt({
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
    } catch (error) {
      await giveBack();
      if (isDuplicateKey(error)) return 'raced';
      throw error;
    }
    // Opening the claim comes last: a preparation that stops before it (a crash, a lost lock) leaves a round that the next one finishes opening.
    await Promise.all([lease.confirm(), this.countSpend(request, attempt), ledger.raiseNextNonce(chainId, from, nonce + 1)]);
    await ledger.openRound(attempt, { reservedWei: cost, reservedTokens: token ? amount : 0n });
    this.log.info({ refundId: request.refundId, txHash: attempt.txHash, nonce, attempt: attempt.attempt }, 'payout signed and persisted');
    return { kind: 'round', attempt };
  }

  /**
   * Rounds of other payouts below `nonce` that the chain has not mined and no
   * open claim follows: recorded by a preparation that stopped before opening
   * its claim (until its next attempt opens it), or signed by a version that
   * opened claims differently. Each may still take its value and its gas at
   * the highest fee it was signed with. Usually there is none, and nothing is
   * read.
   */
  private async unopenedRounds(request: PayoutRequest, open: readonly PayoutClaim[], minedCount: number, nonce: number): Promise<OpenRound[]> {
    const followed = new Set(open.flatMap((claim) => (claim.nonce !== null && claim.nonce >= minedCount && claim.nonce < nonce ? [claim.nonce] : [])));
    const unfollowedCount = nonce - minedCount - followed.size;
    if (unfollowedCount <= 0) return [];
    // Counted before listing them: a ledger far ahead of the chain would otherwise list millions.
    if (unfollowedCount > MAX_UNFOLLOWED_NONCES) {
      // Not this service's payouts in flight: the key is used elsewhere, or the ledger's next nonce is far ahead of this chain (a reset testnet, a shared store).
      throw new Error(
        `${unfollowedCount} of the treasury's nonces below ${nonce} are not mined and no payout in flight follows them (the chain has mined ${minedCount}): the funds check cannot count them, so nothing is signed (docs/RUNBOOK.md §2.6)`,
      );
    }
    const unfollowed: number[] = [];
    for (let other = minedCount; other < nonce; other += 1) if (!followed.has(other)) unfollowed.push(other);
    const { chainId, address } = this.treasury;
    const rounds = new Map<number, PayoutAttemptRecord[]>();
    for (const attempt of await this.deps.ledger.attemptsAt(chainId, address, unfollowed)) {
      if (attempt.subscriptionId === request.subscriptionId) continue;
      const round = rounds.get(attempt.nonce) ?? [];
      round.push(attempt);
      rounds.set(attempt.nonce, round);
    }
    return [...rounds].map(([roundNonce, round]) => {
      const payout = round.find((attempt) => attempt.kind === 'payout');
      return { nonce: roundNonce, reservedWei: worstCaseCost(round).toString(), tokenAddress: payout?.tokenAddress ?? null, reservedTokens: payout?.tokenAddress ? payout.amount : '0' };
    });
  }

  /**
   * A round recorded by a preparation that stopped before opening its claim: the
   * claim is opened now (the round's funds reserved) and its spend counted. Each
   * write can be made again; the spend counts once.
   */
  private async finishOpeningRound(request: PayoutRequest, round: readonly PayoutAttemptRecord[], claim: PayoutClaim | null): Promise<void> {
    const first = round[0]!;
    if (claim?.status === 'in_flight' && claim.nonce === first.nonce && (claim.roundAttempt ?? first.attempt) === first.attempt) return;
    await this.countSpend(request, first);
    await this.deps.ledger.openRound(first, { reservedWei: worstCaseCost(round), reservedTokens: first.tokenAddress ? BigInt(first.amount) : 0n });
    this.log.warn({ refundId: request.refundId, nonce: first.nonce, txHash: first.txHash }, 'a round recorded by a preparation that stopped before opening it is opened now');
  }

  /** Counts a new round against PAYOUT_DAILY_LIMIT, in the hour it was signed, once per round. */
  private async countSpend(request: PayoutRequest, first: PayoutAttemptRecord): Promise<void> {
    if (this.deps.dailyLimits.length === 0) return;
    await this.deps.ledger.recordSpend(this.spendBucket(request.currency, new Date(first.createdAt)), first._id, BigInt(first.amount));
  }

  /**
   * The next nonce of the wallet from `from` (never below what the node has
   * seen, for someone else may use the key, nor below what this service handed
   * out), given to this payout for good. A reservation left without a
   * transaction by an allocation that crashed, or lost the lock before
   * recording (it records nothing after that), is taken over, so no nonce is
   * ever skipped.
   */
  private async allocateNonce(lease: WalletLease, request: PayoutRequest, from: number): Promise<number> {
    const { ledger } = this.deps;
    const { chainId, address } = this.treasury;
    const owner = { subscriptionId: request.subscriptionId, refundId: request.refundId };
    for (let nonce = from; ; nonce += 1) {
      // A new reservation takes nothing from anyone (the record after it is fenced), so it goes without a confirmation;
      // taking one over might take it from the current holder, should this one have lost the lock.
      if (await ledger.reserveNonce(chainId, address, nonce, owner)) return nonce;
      await lease.confirm();
      if (await ledger.takeOverOrphanNonce(chainId, address, nonce, owner)) return nonce;
    }
  }

  /**
   * The treasury as of one block: its balances and how many of its
   * transactions are mined. Read at different blocks, a payout mined in
   * between would be neither in the balance nor among the payouts in flight.
   * Also the nonce count with the node's pool.
   */
  private async readWallet(token: string | null): Promise<WalletReading> {
    const { address: from, provider } = this.treasury;
    for (let attempt = 1; ; attempt += 1) {
      const block = await underLock(provider.getBlock('latest'), 'eth_getBlockByNumber');
      if (!block) throw new Error('the node has no latest block');
      try {
        const [minedCount, nativeBalance, tokenBalance, pendingCount] = await Promise.all([
          underLock(provider.getTransactionCount(from, block.number), 'eth_getTransactionCount'),
          underLock(provider.getBalance(from, block.number), 'eth_getBalance'),
          token ? underLock(tokenBalanceOf(provider, token, from, block.number), 'balanceOf') : 0n,
          underLock(provider.getTransactionCount(from, 'pending'), 'eth_getTransactionCount'),
        ]);
        return { minedCount, nativeBalance, tokenBalance, pendingCount };
      } catch (error) {
        // Behind a load balancer, a node a block behind the one that named the block does not know it yet: ask again, briefly.
        if (attempt >= WALLET_READ_TRIES || error instanceof ChainCallTimeout) throw error;
        this.log.warn({ block: block.number, error: (error as Error).message.slice(0, 200) }, 'the treasury could not be read at the latest block; reading again');
      }
    }
  }

  /** Whether this payout would take the rolling 24 hours over PAYOUT_DAILY_LIMIT; reads only (the alert is the caller's, outside the lock). */
  private async dailyLimitReached(currency: Currency, amount: bigint): Promise<Limited | null> {
    const limit = limitFor(this.deps.dailyLimits, currency);
    if (limit === null) return null;
    const now = this.now();
    const buckets = Array.from({ length: 24 }, (_, hoursAgo) => this.spendBucket(currency, new Date(now.getTime() - hoursAgo * HOUR_MS)));
    const spent = await this.deps.ledger.spentIn(buckets);
    if (spent + amount <= limit) return null;
    const retryAt = new Date(Math.floor(now.getTime() / HOUR_MS) * HOUR_MS + HOUR_MS); // the oldest hour of the window drops out
    const reason = `PAYOUT_DAILY_LIMIT for ${currency.symbol} is ${formatAmount(limit, currency.decimals)}; ${formatAmount(spent, currency.decimals)} was paid in the last 24 hours and this refund needs ${formatAmount(amount, currency.decimals)}: waiting until ${retryAt.toISOString()}`;
    return { kind: 'limited', retryAt: retryAt.toISOString(), reason, alert: { key: this.dailyLimitKey(currency), details: { currency: currency.symbol, limit: limit.toString(), spent: spent.toString() } } };
  }

  /** Raises `treasury.daily_limit` when the limit is reached, clears it when a payout fits again. */
  private async announceDailyLimit(currency: Currency, limited: Limited | null): Promise<void> {
    if (limitFor(this.deps.dailyLimits, currency) === null) return;
    if (limited) await this.deps.alerts.raise('treasury.daily_limit', limited.alert.key, limited.reason, limited.alert.details);
    else await this.deps.alerts.clear('treasury.daily_limit', this.dailyLimitKey(currency), `payouts in ${currency.symbol} are back under PAYOUT_DAILY_LIMIT`);
  }

  private dailyLimitKey(currency: Currency): string {
    return `${this.treasury.chainId}:${assetKey(currency)}`;
  }

  private spendBucket(currency: Currency, at: Date): string {
    return spendBucketKey(this.treasury.chainId, currency, at);
  }

  /**
   * The refund's currency must be the token it names: a wrong `decimals` would
   * pay a thousand times too much or too little. Checked once per currency.
   */
  private async verifyCurrency(currency: Currency, token: string | null): Promise<void> {
    const { chainId, provider } = this.treasury;
    const known = await this.deps.store.findCurrency(chainId, token);
    const onChain = known?.decimals ?? (token ? Number(await new Contract(token, ERC20_INTERFACE, provider).getFunction('decimals')()) : 18);
    if (onChain !== currency.decimals) {
      throw new PayoutFailure('CurrencyMismatch', `${currency.symbol} is recorded with ${currency.decimals} decimals, but ${token ? `token ${token} has` : 'the native coin has'} ${onChain}: the payout is refused`);
    }
    if (!known) await this.deps.store.recordCurrency(chainId, { ...currency, tokenAddress: token });
  }

  private async claim(request: PayoutRequest, to: string, token: string | null): Promise<void> {
    const { chainId, address: from } = this.treasury;
    try {
      const claim = await this.deps.ledger.claim(request.subscriptionId, { refundId: request.refundId, chainId, from, to, amount: request.amount, tokenAddress: token });
      if (claim.to !== to || claim.amount !== request.amount || claim.tokenAddress !== token || claim.chainId !== chainId) {
        throw new PayoutFailure(
          'PayoutMismatch',
          `refund ${request.refundId} asks to pay ${request.amount} to ${to}, but its payout was claimed for ${claim.amount} to ${claim.to} on chain ${claim.chainId}`,
        );
      }
    } catch (error) {
      if (error instanceof PayoutClaimedByAnotherRefund) throw new PayoutFailure('PayoutClaimedByAnotherRefund', error.message);
      throw error;
    }
  }

  /** The transaction without its nonce (allocated under the lock), with gas and fees settled before taking it. */
  private async unsignedPayout(to: string, amount: bigint, token: string | null): Promise<Unsigned> {
    const call = token ? { to: token, value: 0n, data: ERC20_INTERFACE.encodeFunctionData('transfer', [to, amount]) } : { to, value: amount, data: '0x' };
    const [gasLimit, suggested] = await Promise.all([this.estimateGas(call, token, amount, to), currentFees(this.treasury)]);
    return { call, value: call.value, gasLimit, fees: initialFees(suggested, this.treasury.maxFeePerGasWei) };
  }

  /**
   * A transfer that fails when simulated (reverts, or halts as tokens built on
   * old SafeMath do) is refused before anything is signed; the treasury's token
   * balance tells a lack of funds from a token or recipient that refuses it. A
   * plain transfer the treasury cannot fund fails to estimate on some nodes: the
   * funds check below says so in words. Any other error is the node not
   * answering (ethers reports every JSON-RPC error of an estimate as a
   * CALL_EXCEPTION, so a failed call is told by its words): thrown, and asked again.
   */
  private async estimateGas(call: { to: string; value: bigint; data: string }, token: string | null, amount: bigint, to: string): Promise<bigint> {
    try {
      const estimate = await this.treasury.provider.estimateGas({ ...call, from: this.treasury.address });
      return !token && estimate === 21_000n ? estimate : (estimate * 125n) / 100n; // headroom for contracts
    } catch (error) {
      if (!token && isError(error, 'INSUFFICIENT_FUNDS')) return 21_000n;
      if (!isError(error, 'CALL_EXCEPTION')) throw error;
      if (token && (await tokenBalanceOf(this.treasury.provider, token, this.treasury.address)) < amount) throw insufficient(`the treasury holds less than the ${amount} of token ${token} this payout needs`);
      const reverted = failedCallReason(error);
      if (reverted === null) throw error;
      if (reverted.cannotPayGas) throw insufficient(`the treasury cannot pay the gas of this payout (${reverted.words})`);
      const what = token ? `the transfer of ${amount} of token ${token} to ${to}` : `the payment of ${amount} wei to ${to}`;
      throw new PayoutFailure('TransferRefused', `${what} fails when simulated (${reverted.words}): nothing was signed; check the recipient and the token, then retry`);
    }
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

function withoutAlert({ alert: _alert, ...limited }: Limited): PreparedPayout {
  return limited;
}

/** A call of the chain made under the wallet lock, bounded (see CHAIN_CALL_UNDER_LOCK_MS). */
function underLock<T>(call: Promise<T>, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new ChainCallTimeout(what, CHAIN_CALL_UNDER_LOCK_MS)), CHAIN_CALL_UNDER_LOCK_MS);
  });
  return Promise.race([call, late]).finally(() => clearTimeout(timer));
}

/** A chain call under the wallet lock took too long; the attempt fails and is tried again (nothing was recorded). */
export class ChainCallTimeout extends Error {
  constructor(what: string, ms: number) {
    super(`${what} did not answer within ${ms} ms while the wallet was locked`);
    this.name = 'ChainCallTimeout';
  }
}

interface WalletReading {
  minedCount: number;
  nativeBalance: bigint;
  tokenBalance: bigint;
  pendingCount: number;
}

/**
 * Refuses, before anything is signed, a payout the treasury cannot cover on
 * top of every payout signed and not yet mined (`committed`). It runs once the
 * payout's nonce is reserved, so that every nonce below it is known; a refused
 * payout gives its nonce back.
 */
function checkFunds(request: PayoutRequest, payout: { cost: bigint; amount: bigint; token: string | null }, wallet: WalletReading, committed: Committed): void {
  const { cost, amount, token } = payout;
  const { nativeBalance, tokenBalance } = wallet;
  const { currency } = request;
  const promised = committed.payouts > 0 ? `, of which ${formatAmount(committed.wei, 18)} is promised to ${committed.payouts} payout(s) in flight` : '';
  if (token) {
    const tokensPromised = committed.tokens.get(token.toLowerCase()) ?? 0n;
    if (tokenBalance - tokensPromised < amount) {
      throw insufficient(
        `treasury holds ${formatAmount(tokenBalance, currency.decimals)} ${currency.symbol}${tokensPromised > 0n ? ` (${formatAmount(tokensPromised, currency.decimals)} promised to payouts in flight)` : ''}, the refund needs ${formatAmount(amount, currency.decimals)}`,
      );
    }
    if (nativeBalance - committed.wei < cost) throw insufficient(`treasury has ${formatAmount(nativeBalance, 18)} of the native coin for gas${promised}; this payout needs up to ${formatAmount(cost, 18)}`);
    return;
  }
  if (nativeBalance - committed.wei < cost) {
    throw insufficient(`treasury holds ${formatAmount(nativeBalance, 18)} ${currency.symbol}${promised}; the refund needs ${formatAmount(amount, 18)} plus up to ${formatAmount(cost - amount, 18)} for gas`);
  }
}

/** How geth, erigon, Nethermind, Besu, anvil and hardhat word a call that reverted or halted. */
const FAILED_CALL = /revert|invalid opcode|invalid jump|out of gas|gas required exceeds allowance|stack (underflow|overflow)|EVM error|VM Exception|write protection/i;

/**
 * The node's words when a simulated call failed; null when the error is
 * anything else (the node did not answer). geth's "gas required exceeds
 * allowance (N)" with N under a plain transfer's gas means the treasury cannot
 * pay for gas at all.
 */
function failedCallReason(error: CallExceptionError): { words: string; cannotPayGas: boolean } | null {
  const words = nodeWords(error) ?? error.shortMessage;
  if (error.data == null && !FAILED_CALL.test(words)) return null;
  const allowance = /gas required exceeds allowance \((\d+)\)/i.exec(words);
  return { words: error.reason ? `${words}: ${error.reason}` : words, cannotPayGas: allowance !== null && Number(allowance[1]) < 21_000 };
}

function insufficient(message: string): PayoutFailure {
  return new PayoutFailure('InsufficientFunds', `${message}: top up the treasury, then retry the refund`);
}
