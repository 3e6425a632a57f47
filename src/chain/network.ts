import type { Currency } from '../domain/currency';

/** BLOCKCHAIN_NETWORK is a name or a chain id; both resolve to the id the provider must report. */
const KNOWN_NETWORKS: Record<string, number> = {
  mainnet: 1,
  homestead: 1,
  ethereum: 1,
  sepolia: 11155111,
  holesky: 17000,
  optimism: 10,
  polygon: 137,
  matic: 137,
  base: 8453,
  arbitrum: 42161,
  'arbitrum-one': 42161,
  anvil: 31337,
  hardhat: 31337,
  localhost: 31337,
};

export function expectedChainId(network: string): number {
  const trimmed = network.trim().toLowerCase();
  if (/^\d+$/.test(trimmed)) return Number(trimmed);
  const chainId = KNOWN_NETWORKS[trimmed];
  if (chainId === undefined) {
    throw new Error(`BLOCKCHAIN_NETWORK "${network}" is not a known network name (${Object.keys(KNOWN_NETWORKS).join(', ')}) or a numeric chain id`);
  }
  return chainId;
}

/** Public block explorers, by chain id (transactions at `<url>/tx/<hash>`); local chains have none. */
const BLOCK_EXPLORERS: Record<number, string> = {
  1: 'https://etherscan.io',
  11155111: 'https://sepolia.etherscan.io',
  17000: 'https://holesky.etherscan.io',
  10: 'https://optimistic.etherscan.io',
  137: 'https://polygonscan.com',
  8453: 'https://basescan.org',
  42161: 'https://arbiscan.io',
};

/** Native coins whose symbol is not ETH, by chain id. */
const NATIVE_SYMBOLS: Record<number, string> = { 137: 'POL' };

/** The chain's native coin, as named before a refund in it recorded its own spelling (every chain here uses 18 decimals). */
export function nativeCoin(chainId: number): Currency {
  return { symbol: NATIVE_SYMBOLS[chainId] ?? 'ETH', decimals: 18, tokenAddress: null };
}

export function blockExplorerUrl(chainId: number): string | null {
  return BLOCK_EXPLORERS[chainId] ?? null;
}

export class WrongNetworkError extends Error {
  constructor(
    readonly expected: number,
    readonly actual: number,
  ) {
    super(`BLOCKCHAIN_NETWORK expects chain id ${expected} but BLOCKCHAIN_PROVIDER_URL serves chain id ${actual}`);
    this.name = 'WrongNetworkError';
  }
}

/**
 * What a payout waits for, and when it counts as stuck, by chain: a reorg
 * deeper than `confirmations` is not expected there, and a transaction still
 * unmined after `stuckAfterMs` is replaced with higher fees. `maxFeePerGasWei`
 * caps what a replacement may offer. Documented in docs/PAYOUTS.md; each value
 * can be overridden (PAYOUT_CONFIRMATIONS, PAYOUT_STUCK_AFTER_MS, PAYOUT_MAX_FEE_PER_GAS).
 */
export interface NetworkPayoutDefaults {
  confirmations: number;
  stuckAfterMs: number;
  maxFeePerGasWei: bigint;
}

const GWEI = 1_000_000_000n;

export const NETWORK_PAYOUT_DEFAULTS: Record<number, NetworkPayoutDefaults & { name: string }> = {
  31337: { name: 'anvil / hardhat', confirmations: 1, stuckAfterMs: 15_000, maxFeePerGasWei: 500n * GWEI },
  1: { name: 'Ethereum mainnet', confirmations: 12, stuckAfterMs: 180_000, maxFeePerGasWei: 500n * GWEI },
  11155111: { name: 'Sepolia', confirmations: 12, stuckAfterMs: 180_000, maxFeePerGasWei: 500n * GWEI },
  17000: { name: 'Holesky', confirmations: 12, stuckAfterMs: 180_000, maxFeePerGasWei: 500n * GWEI },
  10: { name: 'OP Mainnet', confirmations: 20, stuckAfterMs: 60_000, maxFeePerGasWei: 50n * GWEI },
  8453: { name: 'Base', confirmations: 20, stuckAfterMs: 60_000, maxFeePerGasWei: 50n * GWEI },
  42161: { name: 'Arbitrum One', confirmations: 20, stuckAfterMs: 60_000, maxFeePerGasWei: 50n * GWEI },
  137: { name: 'Polygon PoS', confirmations: 128, stuckAfterMs: 60_000, maxFeePerGasWei: 5_000n * GWEI },
};

/** Chains not in the table get mainnet-like caution. */
export const UNKNOWN_NETWORK_PAYOUT_DEFAULTS: NetworkPayoutDefaults = { confirmations: 12, stuckAfterMs: 180_000, maxFeePerGasWei: 500n * GWEI };

export function payoutDefaultsFor(chainId: number): NetworkPayoutDefaults {
  return NETWORK_PAYOUT_DEFAULTS[chainId] ?? UNKNOWN_NETWORK_PAYOUT_DEFAULTS;
}
