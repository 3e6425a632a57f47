import type { JsonRpcProvider } from 'ethers';
import { tokenBalanceOf } from '../chain/erc20';
import { nativeCoin } from '../chain/network';
import { formatAmount } from '../domain/amount';
import type { Currency } from '../domain/currency';
import { limitFor, type CurrencyLimit } from '../domain/currency-limits';
import type { PayoutLedger } from '../persistence/payout-ledger';
import type { TreasuryStore } from '../persistence/treasury-store';

/**
 * What an operator needs to know about the chain and the treasury, for
 * /api/status and /metrics: is the chain reachable, what does the treasury
 * hold per currency, how many payouts are in flight and how old is the oldest,
 * is a nonce missing from the node. Read from the chain and the ledger with
 * short deadlines, and cached for `ttlMs`, so health checks stay cheap under load.
 */
export interface ChainStatus {
  reachable: boolean;
  chainId: number;
  blockNumber: number | null;
}

export interface TreasuryBalance {
  currency: Currency;
  amount: string;
  amountFormatted: string;
  lowBalanceThreshold: string | null;
  low: boolean;
}

export interface TreasuryStatus {
  address: string | null;
  balances: TreasuryBalance[];
  payoutsInFlight: number;
  oldestUnconfirmedAgeMs: number | null;
  nonceGap: boolean;
  stuckPayouts: number;
  alerts: { type: string; message: string; since: string }[];
  observedAt: string;
}

export interface TreasuryReport {
  chain: ChainStatus;
  treasury: TreasuryStatus | null;
}

export interface TreasuryMonitorDeps {
  provider: JsonRpcProvider;
  chainId: number;
  ledger: PayoutLedger;
  store: TreasuryStore;
  lowBalance: readonly CurrencyLimit[];
  ttlMs?: number;
  probeTimeoutMs?: number;
  now?: () => number;
}

/** A nonce missing from the node this long is a gap, not a transaction on its way. */
const GAP_AFTER_MS = 30_000;

export class TreasuryMonitor {
  private cached: { at: number; report: TreasuryReport } | undefined;
  private inFlight: Promise<TreasuryReport> | undefined;

  constructor(private readonly deps: TreasuryMonitorDeps) {}

  /** The latest report, at most `ttlMs` old; concurrent callers share one reading. */
  async report(): Promise<TreasuryReport> {
    const now = this.now();
    if (this.cached && now - this.cached.at < (this.deps.ttlMs ?? 1_000)) return this.cached.report;
    this.inFlight ??= this.read().finally(() => {
      this.inFlight = undefined;
    });
    const report = await this.inFlight;
    this.cached = { at: this.now(), report };
    return report;
  }

  private async read(): Promise<TreasuryReport> {
    const { chainId } = this.deps;
    const blockNumber = await this.probe(this.deps.provider.getBlockNumber());
    const chain: ChainStatus = { reachable: blockNumber !== null, chainId, blockNumber };
    const account = await this.probe(this.deps.store.account(chainId));
    if (!account) return { chain, treasury: null };
    const [claims, stuck, currencies, alerts, nextNonce] = await Promise.all([
      this.deps.ledger.openClaims(chainId, account.address),
      this.deps.ledger.stuckClaims(chainId, account.address),
      this.deps.store.currenciesOf(chainId),
      this.deps.store.openAlerts(),
      this.deps.ledger.nextNonce(chainId, account.address),
    ]);
    const now = this.now();
    const oldest = claims.reduce<number | null>((min, claim) => (claim.roundStartedAt && (min === null || claim.roundStartedAt.getTime() < min) ? claim.roundStartedAt.getTime() : min), null);
    const shown = currencies.some((currency) => currency.tokenAddress === null) ? currencies : [nativeCoin(chainId), ...currencies];
    const balances = chain.reachable ? await Promise.all(shown.map((currency) => this.balance(account.address, currency))) : [];
    const pending = chain.reachable ? await this.probe(this.deps.provider.getTransactionCount(account.address, 'pending')) : null;
    const gapAt = pending !== null && pending < nextNonce ? claims.find((claim) => claim.nonce === pending) : undefined;
    const nonceGap = pending !== null && pending < nextNonce && (!gapAt?.roundStartedAt || now - gapAt.roundStartedAt.getTime() > GAP_AFTER_MS);
    return {
      chain,
      treasury: {
        address: account.address,
        balances: balances.filter((balance): balance is TreasuryBalance => balance !== null),
        payoutsInFlight: claims.length,
        oldestUnconfirmedAgeMs: oldest === null ? null : Math.max(0, now - oldest),
        nonceGap,
        stuckPayouts: stuck.length,
        alerts: alerts.map((alert) => ({ type: alert.type, message: alert.message, since: alert.since.toISOString() })),
        observedAt: new Date(now).toISOString(),
      },
    };
  }

  private async balance(address: string, currency: Currency): Promise<TreasuryBalance | null> {
    const reading = currency.tokenAddress
      ? this.probe(tokenBalanceOf(this.deps.provider, currency.tokenAddress, address))
      : this.probe(this.deps.provider.getBalance(address));
    const amount = await reading;
    if (amount === null) return null;
    const threshold = limitFor(this.deps.lowBalance, currency);
    const plain = { symbol: currency.symbol, decimals: currency.decimals, tokenAddress: currency.tokenAddress };
    return { currency: plain, amount: amount.toString(), amountFormatted: formatAmount(amount, currency.decimals), lowBalanceThreshold: threshold?.toString() ?? null, low: threshold !== null && amount < threshold };
  }

  /** The value, or null when it does not come within the probe deadline. */
  private async probe<T>(promise: Promise<T>): Promise<T | null> {
    const timeout = this.deps.probeTimeoutMs ?? 1_000;
    let timer: NodeJS.Timeout | undefined;
    try {
      return await Promise.race([promise, new Promise<null>((resolve) => (timer = setTimeout(() => resolve(null), timeout)))]);
    } catch {
      return null;
    } finally {
      clearTimeout(timer);
    }
  }

  private now(): number {
    return this.deps.now?.() ?? Date.now();
  }
}
