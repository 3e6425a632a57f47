import { JsonRpcProvider, Network, Wallet } from 'ethers';
import type { Config } from '../config';
import { expectedChainId, WrongNetworkError } from './network';

/** The chain as the payout code sees it: a provider, the treasury signer and the checked chain id. */
export interface Treasury {
  provider: JsonRpcProvider;
  wallet: Wallet;
  address: string;
  chainId: number;
  confirmations: number;
  confirmationTimeoutMs: number;
  pollIntervalMs: number;
}

/**
 * Connects to BLOCKCHAIN_PROVIDER_URL and refuses to go on if it serves another
 * chain than BLOCKCHAIN_NETWORK names: paying on the wrong chain is not a retry.
 */
export async function connectTreasury(chain: Config['chain'], options: { pollIntervalMs?: number } = {}): Promise<Treasury> {
  const chainId = expectedChainId(chain.network);
  // cacheTimeout -1: ethers otherwise answers identical calls from a 250 ms cache,
  // which returns stale nonces, balances and receipts to code that polls them.
  const provider = new JsonRpcProvider(chain.providerUrl, undefined, {
    staticNetwork: Network.from(chainId),
    cacheTimeout: -1,
    pollingInterval: options.pollIntervalMs ?? 1000,
  });
  const actual = Number(await provider.send('eth_chainId', []));
  if (actual !== chainId) {
    provider.destroy();
    throw new WrongNetworkError(chainId, actual);
  }
  const wallet = new Wallet(chain.treasuryPrivateKey, provider);
  return {
    provider,
    wallet,
    address: wallet.address,
    chainId,
    confirmations: chain.confirmations,
    confirmationTimeoutMs: chain.confirmationTimeoutMs,
    pollIntervalMs: options.pollIntervalMs ?? 1000,
  };
}
