import { ethers } from 'ethers';
import { startDedicatedAnvil } from './processes';
import { startRpcProxy, type RpcProxy } from './rpc-proxy';

/**
 * An anvil of the test's own with a JSON-RPC proxy in front: the service under
 * test talks to `proxy.url`, the test watches the real chain through `provider`.
 */
export async function startDedicatedChain(anvilArgs: string[] = []) {
  const anvil = await startDedicatedAnvil(anvilArgs);
  const proxy: RpcProxy = await startRpcProxy(anvil.url);
  const network = ethers.Network.from(31337);
  const provider = new ethers.JsonRpcProvider(anvil.url, network, { staticNetwork: network, cacheTimeout: -1, pollingInterval: 100 });
  return {
    anvil,
    proxy,
    provider,
    rpc: anvil.rpc,
    async blockNumber() {
      return provider.getBlockNumber();
    },
    async mine(blocks = 1) {
      await anvil.rpc('anvil_mine', [ethers.toQuantity(blocks)]);
    },
    /** Successful top-level transactions from fromBlock on that send native coin (value > 0) to `address`. */
    async nativeTransfersTo(address: string, fromBlock: number): Promise<{ hash: string; value: bigint; nonce: number }[]> {
      const found = [];
      const latest = await provider.getBlockNumber();
      for (let number = fromBlock; number <= latest; number += 1) {
        const block = await provider.getBlock(number, true);
        for (const tx of block?.prefetchedTransactions ?? []) {
          if (!tx.to || ethers.getAddress(tx.to) !== ethers.getAddress(address) || tx.value === 0n) continue;
          if ((await provider.getTransactionReceipt(tx.hash))?.status === 1) found.push({ hash: tx.hash, value: tx.value, nonce: tx.nonce });
        }
      }
      return found;
    },
    async stop() {
      provider.destroy();
      await proxy.close();
      await anvil.stop();
    },
  };
}

export type DedicatedChain = Awaited<ReturnType<typeof startDedicatedChain>>;
