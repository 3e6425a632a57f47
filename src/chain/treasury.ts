import { JsonRpcProvider, Network, Wallet } from 'ethers';
import type { Config } from '../config';
import { expectedChainId, payoutDefaultsFor, WrongNetworkError } from './network';

/** How payouts behave on this chain: the configured values, or the network's defaults. */
export interface PayoutSettings {
  /** Depth at which a receipt, or another transaction at our nonce, is believed. */
  confirmations: number;
  /** A payout not mined after this long is replaced at the same nonce with higher fees. */
  stuckAfterMs: number;
  feeBumpPercent: number;
  maxFeePerGasWei: bigint;
  /** How long one run of the watcher lasts before it starts afresh. */
  confirmationTimeoutMs: number;
  pollIntervalMs: number;
  /** An unmined transaction is sent again this often (nodes forget transactions). */
  rebroadcastEveryMs: number;
}

/** The chain as the payout code sees it: a provider, the treasury signer, the checked chain id and the payout settings. */
export interface Treasury extends PayoutSettings {
  provider: JsonRpcProvider;
  wallet: Wallet;
  address: string;
  chainId: number;
}

export interface TreasuryOptions {
  pollIntervalMs?: number;
  rebroadcastEveryMs?: number;
}

/**
 * Connects to BLOCKCHAIN_PROVIDER_URL and refuses to go on if it serves another
 * chain than BLOCKCHAIN_NETWORK names: paying on the wrong chain is not a retry.
 */
export async function connectTreasury(chain: Config['chain'], options: TreasuryOptions = {}): Promise<Treasury> {
  const chainId = expectedChainId(chain.network);
  const provider = connectProvider(chain.providerUrl, chainId, options.pollIntervalMs ?? 1000);
  let actual: number;
  try {
    actual = Number(await answerWithin(provider.send('eth_chainId', []), CHAIN_ID_TIMEOUT_MS, `${chain.providerUrl} did not answer eth_chainId within ${CHAIN_ID_TIMEOUT_MS} ms`));
  } catch (error) {
    provider.destroy();
    throw error;
  }
  if (actual !== chainId) {
    provider.destroy();
    throw new WrongNetworkError(chainId, actual);
  }
  const wallet = new Wallet(chain.treasuryPrivateKey, provider);
  return { provider, wallet, address: wallet.address, chainId, ...payoutSettings(chain, chainId, options) };
}

const CHAIN_ID_TIMEOUT_MS = 10_000;

function answerWithin<T>(promise: Promise<T>, ms: number, message: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([promise, new Promise<T>((_, reject) => (timer = setTimeout(() => reject(new Error(message)), ms)))]).finally(() => clearTimeout(timer));
}

export function payoutSettings(chain: Config['chain'], chainId: number, options: TreasuryOptions = {}): PayoutSettings {
  const defaults = payoutDefaultsFor(chainId);
  return {
    confirmations: chain.confirmations ?? defaults.confirmations,
    stuckAfterMs: chain.stuckAfterMs ?? defaults.stuckAfterMs,
    feeBumpPercent: chain.feeBumpPercent,
    maxFeePerGasWei: chain.maxFeePerGas ?? defaults.maxFeePerGasWei,
    confirmationTimeoutMs: chain.confirmationTimeoutMs,
    pollIntervalMs: options.pollIntervalMs ?? 1000,
    rebroadcastEveryMs: options.rebroadcastEveryMs ?? 15_000,
  };
}

/**
 * A provider with ethers' response cache off: by default identical calls within
 * 250 ms are answered from a cache, which hands stale nonces, balances and
 * receipts to code that polls them. Calls made together are still sent as one
 * JSON-RPC batch, but without ethers' default 10 ms wait for more: a payout
 * makes a dozen calls one after the other, some under the wallet lock.
 */
export function connectProvider(url: string, chainId: number, pollIntervalMs = 1000): JsonRpcProvider {
  return new JsonRpcProvider(url, undefined, { staticNetwork: Network.from(chainId), cacheTimeout: -1, pollingInterval: pollIntervalMs, batchStallTime: 0 });
}
