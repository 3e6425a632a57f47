import { ethers } from 'ethers';
import { readNonce } from '../../src/payout/nonce-reading';
import { startDedicatedChain, type DedicatedChain } from '../support/dedicated-chain';
import { pruningState } from '../support/rpc-proxy';

const GWEI = 1_000_000_000n;

/**
 * Reading what happened at a nonce through a node that is not an archive node:
 * like geth by default, it answers account state (nonce counts, balances) for
 * the last 128 blocks only. Real anvil behind the JSON-RPC proxy.
 */
describe('reading a nonce on a node without old state', () => {
  let chain: DedicatedChain;
  let provider: ethers.JsonRpcProvider;

  beforeEach(async () => {
    chain = await startDedicatedChain();
    const network = ethers.Network.from(31337);
    provider = new ethers.JsonRpcProvider(chain.proxy.url, network, { staticNetwork: network, cacheTimeout: -1 });
  }, 60_000);
  afterEach(async () => {
    provider.destroy();
    await chain.stop();
  });

  async function fundedWallet() {
    const wallet = ethers.Wallet.createRandom();
    await chain.rpc('anvil_setBalance', [wallet.address, ethers.toQuantity(10n ** 18n)]);
    return wallet;
  }

  const transfer = (wallet: ethers.HDNodeWallet, to: string, value: bigint) =>
    wallet.signTransaction({ to, value, nonce: 0, gasLimit: 21_000n, chainId: 31337, type: 2, maxFeePerGas: 100n * GWEI, maxPriorityFeePerGas: 2n * GWEI });

  test('a payout signed long ago whose nonce another transaction took lately: that transaction is found, and final', async () => {
    const wallet = await fundedWallet();
    const payout = await transfer(wallet, ethers.Wallet.createRandom().address, 1n); // signed, never mined
    await chain.mine(300);
    const cancel = await transfer(wallet, wallet.address, 0n);
    await chain.rpc('eth_sendRawTransaction', [cancel]);
    await chain.mine(5);

    chain.proxy.intercept(pruningState(128));
    const reading = await readNonce(provider, { from: wallet.address, nonce: 0, candidates: [{ txHash: ethers.Transaction.from(payout).hash! }], confirmations: 3 });
    expect(reading).toMatchObject({ kind: 'taken', txHash: ethers.Transaction.from(cancel).hash, final: true });
  });
});
