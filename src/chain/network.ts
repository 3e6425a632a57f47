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
