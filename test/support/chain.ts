import { ethers } from 'ethers';
import { testServices } from './services';

/** Chain id anvil is started with (see src/dev/services.ts). */
export const ANVIL_CHAIN_ID = 31337;

/** The standard anvil / hardhat mnemonic: its first 10 accounts are funded with 10 000 ETH at start. */
export const ANVIL_MNEMONIC = 'test test test test test test test test test test test junk';

const TRANSFER_TOPIC = ethers.id('Transfer(address,address,uint256)');

let cachedProvider: ethers.JsonRpcProvider | undefined;
let cachedRoot: ethers.HDNodeWallet | undefined;

/**
 * One JsonRpcProvider per process for TEST_CHAIN_URL: static network 31337, 100 ms polling,
 * and no response cache (ethers' default 250 ms cache would hand back a stale nonce,
 * balance or missing receipt right after a state change).
 */
export function provider(): ethers.JsonRpcProvider {
  if (!cachedProvider) {
    const network = ethers.Network.from(ANVIL_CHAIN_ID);
    cachedProvider = new ethers.JsonRpcProvider(testServices().chainUrl, network, { staticNetwork: network, pollingInterval: 100, cacheTimeout: -1 });
  }
  return cachedProvider;
}

/** Destroys the shared provider (optional: call in afterAll to drop its listeners). */
export function destroyProvider(): void {
  cachedProvider?.destroy();
  cachedProvider = undefined;
}

/**
 * Funded anvil account `index` (0..9 are funded), connected to provider().
 * Test files run in parallel against the same anvil: give each file its own indices
 * so their nonces never collide.
 */
export function fundedWallet(index: number): ethers.Wallet {
  cachedRoot ??= ethers.HDNodeWallet.fromPhrase(ANVIL_MNEMONIC, undefined, "m/44'/60'/0'/0");
  return new ethers.Wallet(cachedRoot.deriveChild(index).privateKey, provider());
}

/** A new random wallet (zero balance), connected to provider(): a clean address to receive refunds. */
export function freshWallet(): ethers.Wallet {
  return new ethers.Wallet(ethers.hexlify(ethers.randomBytes(32)), provider());
}

/**
 * A fresh random wallet given `wei` (default 100 ETH) through anvil_setBalance: a sender
 * of its own, whose nonces no other test file can disturb.
 */
export async function newFundedWallet(wei: bigint = ethers.parseEther('100')): Promise<ethers.Wallet> {
  const wallet = freshWallet();
  await setBalance(wallet.address, wei);
  return wallet;
}

/** Raw JSON-RPC call to anvil through provider(). */
export async function rpc<T = unknown>(method: string, params: unknown[] = []): Promise<T> {
  return (await provider().send(method, params)) as T;
}

/** Sets the native balance of `address` to exactly `wei`. */
export async function setBalance(address: string, wei: bigint): Promise<void> {
  await rpc('anvil_setBalance', [address, ethers.toQuantity(wei)]);
}

/** Native balance of `address` at the latest block. */
export async function balanceOf(address: string): Promise<bigint> {
  return provider().getBalance(address, 'latest');
}

/**
 * Mines a block every `seconds` (automine off). `0` stops mining altogether.
 * Shared chain: other test files see this too; restore with setAutomine(true).
 */
export async function setIntervalMining(seconds: number): Promise<void> {
  await rpc('evm_setIntervalMining', [seconds]);
}

/** Automine on: one block per transaction, at once (anvil's default). Off: nothing is mined until mine(). */
export async function setAutomine(enabled: boolean): Promise<void> {
  await rpc('evm_setAutomine', [enabled]);
}

/** Whether anvil currently mines each transaction at once. */
export async function getAutomine(): Promise<boolean> {
  return rpc<boolean>('anvil_getAutomine');
}

/** Mines `blocks` blocks now (e.g. to reach confirmations or to include pending transactions). */
export async function mine(blocks = 1): Promise<void> {
  await rpc('anvil_mine', [ethers.toQuantity(blocks)]);
}

/** Latest block number. */
export async function blockNumber(): Promise<number> {
  return provider().getBlockNumber();
}

export interface TransferTally {
  /** How many transfers were found. */
  count: number;
  /** Sum of their values, in wei or in the token's smallest unit. */
  total: bigint;
  /** Hashes of the transactions, in block order. */
  txHashes: string[];
}

/**
 * Successful top-level transactions sending native coin (value > 0) to `address`
 * in blocks fromBlock..latest. Internal transfers made by contracts are not seen.
 */
export async function countIncomingTransfers(address: string, fromBlock: number): Promise<TransferTally> {
  const target = ethers.getAddress(address);
  const latest = await blockNumber();
  const tally: TransferTally = { count: 0, total: 0n, txHashes: [] };
  for (let n = fromBlock; n <= latest; n++) {
    const block = await provider().getBlock(n, true);
    for (const tx of block?.prefetchedTransactions ?? []) {
      if (tx.to === null || ethers.getAddress(tx.to) !== target || tx.value === 0n) continue;
      const receipt = await provider().getTransactionReceipt(tx.hash);
      if (receipt?.status !== 1) continue;
      tally.count += 1;
      tally.total += tx.value;
      tally.txHashes.push(tx.hash);
    }
  }
  return tally;
}

/** ERC-20 Transfer logs of `token` to `to` in blocks fromBlock..latest (mints included: they are Transfers from 0x0). */
export async function countTokenTransfers(token: string | ethers.Addressable, to: string, fromBlock: number): Promise<TransferTally> {
  const tally: TransferTally = { count: 0, total: 0n, txHashes: [] };
  const latest = await blockNumber();
  if (fromBlock > latest) return tally; // anvil rejects a range that starts after the head
  const logs = await provider().getLogs({
    address: await ethers.resolveAddress(token),
    topics: [TRANSFER_TOPIC, null, ethers.zeroPadValue(ethers.getAddress(to), 32)],
    fromBlock,
    toBlock: latest,
  });
  for (const log of logs) {
    tally.count += 1;
    tally.total += ethers.toBigInt(log.data);
    tally.txHashes.push(log.transactionHash);
  }
  return tally;
}
