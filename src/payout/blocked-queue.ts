import { formatAmount } from '../domain/amount';
import type { PayoutAttemptRecord } from '../persistence/payout-ledger';
import type { TreasuryAlertRecord, TreasuryStore } from '../persistence/treasury-store';
import { feesOf, nextBlockMarket, roundOf, sameAddress, type PayoutDeps } from './rounds';
import type { TreasuryAlerts } from './treasury-alerts';

export interface BlockedQueueDeps extends PayoutDeps {
  store: TreasuryStore;
  alerts: TreasuryAlerts;
}

const KEY_SUFFIX = ':blocks-queue';

/**
 * A payout waits behind every lower nonce of its wallet. When the next nonce
 * the chain will mine stays the same while a payout waits behind it, whatever
 * holds that nonce may be moved by nothing: a payout whose own watcher is gone
 * (its workflow terminated) and whose fees are outbid, or a transaction of the
 * treasury key signed elsewhere. The waiting watcher must not sign for it
 * (only a round's own watcher replaces its transactions), so it tells a
 * person: `treasury.payout_stuck`, keyed by the blocking nonce, so however
 * many payouts wait behind it the alert is raised once.
 *
 * It keeps what one run of a watcher has seen, so it alerts after
 * `stuckAfterMs` of that run, or half the run if that is shorter (a run ends
 * after `confirmationTimeoutMs`). What it alerted closes once the chain has
 * mined the nonce: when a waiting watcher reads that (its first reading
 * included, which also closes an alert a stopped run left open), and when any
 * payout of the wallet has its verdict (`clearBlockedQueueAlerts`).
 */
export class BlockedQueue {
  private blocker: { nonce: number; since: number; alerted: boolean } | null = null;
  private readings = 0;

  constructor(
    private readonly deps: BlockedQueueDeps,
    private readonly waiting: PayoutAttemptRecord,
    private readonly now: () => number,
  ) {}

  /** A reading of how many of the wallet's transactions the chain has mined, taken while this payout waits. */
  async observe(minedCount: number): Promise<void> {
    const rose = this.blocker !== null && minedCount > this.blocker.nonce;
    if (this.readings++ === 0 || rose) await clearBlockedQueueAlerts(this.deps, this.waiting.from, minedCount);
    if (this.blocker?.nonce !== minedCount) this.blocker = null;
    if (minedCount >= this.waiting.nonce) return;
    this.blocker ??= { nonce: minedCount, since: this.now(), alerted: false };
    if (this.blocker.alerted || this.now() - this.blocker.since < this.alertAfterMs()) return;
    await this.alert(this.blocker.nonce, this.now() - this.blocker.since);
    this.blocker.alerted = true;
  }

  private alertAfterMs(): number {
    const { stuckAfterMs, confirmationTimeoutMs } = this.deps.treasury;
    return Math.min(stuckAfterMs, confirmationTimeoutMs / 2);
  }

  private async alert(blocking: number, forMs: number): Promise<void> {
    const { chainId, provider, address } = this.deps.treasury;
    const { from } = this.waiting;
    const owner = await this.deps.ledger.nonceOwner(chainId, from, blocking);
    const holder = owner ? roundOf(await this.deps.ledger.attemptsOf(owner), blocking, from).at(-1) : undefined;
    const market = await nextBlockMarket(this.deps.treasury);
    // Another watcher may have seen the nonce mined (and closed the alert) while this one looked things up.
    if ((await provider.getTransactionCount(from, 'latest')) > blocking) return;
    const baseFee = `the next block's base fee is ${formatAmount(market.baseFeePerGas, 9)} gwei`;
    const mover = sameAddress(from, address)
      ? "That refund's own watcher replaces it when outbid; if its workflow is not running (terminated or reset), nothing does: see RUNBOOK §2.9, and wait for fees to fall or have the key's holder take the nonce (RUNBOOK §2.6)"
      : `It was signed by ${from}, no longer the treasury key, which nothing replaces: fund that wallet or have the old key's holder cancel it (RUNBOOK §2.11)`;
    const what = holder
      ? `it holds payout ${holder.txHash} of refund ${holder.refundId}, offering at most ${formatAmount(feesOf(holder).maxFeePerGas, 9)} gwei per gas (${baseFee}). ${mover}. Never pay by hand`
      : `no payout of this service holds it (${baseFee}): the treasury key signed something elsewhere, or the ledger lacks the nonce; see RUNBOOK §2.6`;
    await this.deps.alerts.raise(
      'treasury.payout_stuck',
      blockedQueueKey(chainId, from, blocking),
      `payouts of ${from} wait behind nonce ${blocking}, which the chain has not mined for at least ${Math.round(forMs / 1000)} s (payout ${this.waiting.txHash} of refund ${this.waiting.refundId}, nonce ${this.waiting.nonce}, among them): ${what}`,
      {
        from,
        blockedNonce: blocking,
        blockingRefundId: holder?.refundId ?? null,
        blockingTxHash: holder?.txHash ?? null,
        refundId: this.waiting.refundId,
        subscriptionId: this.waiting.subscriptionId,
        nonce: this.waiting.nonce,
        txHash: this.waiting.txHash,
      },
    );
  }
}

/**
 * Closes the alerts about nonces of `from` below `minedCount`: the chain has
 * mined them, so nothing waits behind them any more. `open`: the open alerts,
 * when the caller has just read them.
 */
export async function clearBlockedQueueAlerts(deps: BlockedQueueDeps, from: string, minedCount: number, open?: readonly TreasuryAlertRecord[]): Promise<void> {
  const { chainId } = deps.treasury;
  for (const alert of open ?? (await deps.store.openAlerts())) {
    if (alert.type !== 'treasury.payout_stuck') continue;
    const nonce = blockedNonceOf(alert.key, chainId, from);
    if (nonce !== null && nonce < minedCount) await deps.alerts.clear('treasury.payout_stuck', alert.key, `nonce ${nonce} of ${from} is mined: the payouts behind it move again`);
  }
}

/** The round's key (`chainId:from:nonce`, as the watcher's other alerts about a round) and a suffix: the alert about the queue behind it is another. */
function blockedQueueKey(chainId: number, from: string, nonce: number): string {
  return `${chainId}:${from}:${nonce}${KEY_SUFFIX}`;
}

function blockedNonceOf(key: string, chainId: number, from: string): number | null {
  const prefix = `${chainId}:${from}:`.toLowerCase();
  const lowered = key.toLowerCase();
  if (!lowered.startsWith(prefix) || !lowered.endsWith(KEY_SUFFIX)) return null;
  const nonce = Number(lowered.slice(prefix.length, -KEY_SUFFIX.length));
  return Number.isSafeInteger(nonce) ? nonce : null;
}
