import { ethers } from 'ethers';
import { judgeDelivery } from '../../src/payout/delivery';
import { startDedicatedChain, type DedicatedChain } from '../support/dedicated-chain';
import { PASS } from '../support/rpc-proxy';
import { deployFeeOnTransferToken, deployLegacyToken, deployOddToken, deployTestToken } from '../support/erc20';

/**
 * What a token payout delivered is judged at finality depth. Most RPC nodes
 * keep only recent state (geth: 128 blocks), and on chains whose safe depth is
 * that deep (Polygon PoS: 128) the state before the payout's block is gone by
 * then. The verdict must still come, and never wrongly say "nothing was paid".
 */
describe('judging a token payout on a node that keeps only recent state', () => {
  const PRUNE_AFTER = 64;
  let chain: DedicatedChain;
  let service: ethers.JsonRpcProvider;
  let signer: ethers.NonceManager;

  beforeAll(async () => {
    chain = await startDedicatedChain(['--prune-history', String(PRUNE_AFTER)]);
    const network = ethers.Network.from(31337);
    service = new ethers.JsonRpcProvider(chain.proxy.url, network, { staticNetwork: network, cacheTimeout: -1 });
    const funded = ethers.Wallet.fromPhrase('test test test test test test test test test test test junk').connect(chain.provider);
    signer = new ethers.NonceManager(funded);
  }, 60_000);
  afterAll(async () => {
    service?.destroy();
    await chain?.stop();
  });
  afterEach(() => chain.proxy.intercept(null));

  async function sendAndBury(token: ethers.Contract, to: string, amount: bigint) {
    const receipt = (await (await token.getFunction('transfer')(to, amount)).wait()) as ethers.TransactionReceipt;
    await chain.mine(PRUNE_AFTER * 2 + 1);
    return receipt;
  }

  test('the node no longer has the state: a payout that delivered in full is judged paid', async () => {
    const token = await deployTestToken(signer);
    await (await token.getFunction('mint')(await signer.getAddress(), 10n ** 21n)).wait();
    const to = ethers.Wallet.createRandom().address;
    const receipt = await sendAndBury(token, to, 1_000n);
    const target = { to, amount: '1000', tokenAddress: await token.getAddress() };
    await expect(token.getFunction('balanceOf')(to, { blockTag: receipt.blockNumber - 1 })).rejects.toThrow(); // the premise: the state is gone
    expect(await judgeDelivery(service, target, receipt)).toEqual({ kind: 'paid' });
  });

  test('a fee-on-transfer token that delivered 99 of 100 is judged different (review), never unpaid', async () => {
    const token = await deployFeeOnTransferToken(signer, { feeBps: 100, feeCollector: ethers.Wallet.createRandom().address });
    await (await token.getFunction('mint')(await signer.getAddress(), 10n ** 21n)).wait();
    const to = ethers.Wallet.createRandom().address;
    const receipt = await sendAndBury(token, to, 100n);
    const target = { to, amount: '100', tokenAddress: await token.getAddress() };
    expect(await judgeDelivery(service, target, receipt)).toEqual({ kind: 'different', delivered: 99n, expected: 100n, fromLogsOnly: true });
  });

  test('a token that moved nothing is parked for review when the state that would prove it is gone', async () => {
    const token = await deployTestToken(signer, { returnsFalseOnTransfer: true });
    await (await token.getFunction('mint')(await signer.getAddress(), 10n ** 21n)).wait();
    const to = ethers.Wallet.createRandom().address;
    const receipt = await sendAndBury(token, to, 500n);
    const target = { to, amount: '500', tokenAddress: await token.getAddress() };
    // Without the balances, "nothing" would rest on the logs alone: a person decides, a retry is refused.
    expect(await judgeDelivery(service, target, receipt)).toEqual({ kind: 'different', delivered: 0n, expected: 500n, fromLogsOnly: true });
  });

  test('a node that answers no calls at all gives no verdict: the judgement waits', async () => {
    const token = await deployTestToken(signer);
    await (await token.getFunction('mint')(await signer.getAddress(), 10n ** 21n)).wait();
    const to = ethers.Wallet.createRandom().address;
    const receipt = await sendAndBury(token, to, 1_000n);
    chain.proxy.intercept((call) => (call.method === 'eth_call' ? { error: { code: -32000, message: 'upstream unavailable' } } : { pass: true }));
    await expect(judgeDelivery(service, { to, amount: '1000', tokenAddress: await token.getAddress() }, receipt)).rejects.toThrow(); // ethers reports the refusal as a CALL_EXCEPTION
  });
});

/** What else happens in the payout's block, or in its own logs, must not change the verdict on what the payout delivered. */
describe('judging a token payout among other transfers', () => {
  const PHRASE = 'test test test test test test test test test test test junk';
  let chain: DedicatedChain;
  let service: ethers.JsonRpcProvider;
  let treasury: ethers.NonceManager;

  beforeAll(async () => {
    chain = await startDedicatedChain();
    const network = ethers.Network.from(31337);
    service = new ethers.JsonRpcProvider(chain.proxy.url, network, { staticNetwork: network, cacheTimeout: -1 });
    treasury = new ethers.NonceManager(ethers.Wallet.fromPhrase(PHRASE).connect(chain.provider));
  }, 60_000);
  afterAll(async () => {
    service?.destroy();
    await chain?.stop();
  });
  afterEach(async () => {
    chain.proxy.intercept(null);
    await chain.rpc('evm_setAutomine', [true]);
  });

  /** A funded wallet of anvil's own, to act as a recipient that sends transactions. */
  function anvilWallet(index: number) {
    return new ethers.NonceManager(ethers.HDNodeWallet.fromPhrase(PHRASE, undefined, `m/44'/60'/0'/0/${index}`).connect(chain.provider));
  }

  /** Mints the treasury the tokens it pays with. */
  async function funded(token: ethers.Contract): Promise<ethers.Contract> {
    await (await token.getFunction('mint')(await treasury.getAddress(), 10n ** 21n)).wait();
    return token;
  }

  /** Pays `amount` of `token` to `to`, mined in one block with whatever `alongside` sends. */
  async function payInOneBlock(token: ethers.Contract, to: string, alongside: () => Promise<unknown> = async () => undefined, amount = 1_000n): Promise<ethers.TransactionReceipt> {
    await chain.rpc('evm_setAutomine', [false]);
    const payout = await token.getFunction('transfer')(to, amount);
    await alongside();
    await chain.mine(1);
    return (await payout.wait()) as ethers.TransactionReceipt;
  }

  /** The verdict on a payout that was asked to deliver 1000 of `token` to `to`. */
  async function judged(token: ethers.Contract, to: string, receipt: ethers.TransactionReceipt) {
    return judgeDelivery(service, { to, amount: '1000', tokenAddress: await token.getAddress() }, receipt);
  }

  test('the recipient spends tokens it already held in the payout\'s block: the payout is judged paid, not short', async () => {
    const token = await funded(await deployTestToken(treasury));
    const recipient = anvilWallet(3);
    const to = await recipient.getAddress();
    await (await token.getFunction('mint')(to, 999n)).wait();
    const receipt = await payInOneBlock(token, to, () => (token.connect(recipient) as ethers.Contract).getFunction('transfer')(ethers.Wallet.createRandom().address, 999n));
    expect(await judged(token, to, receipt)).toEqual({ kind: 'paid' });
  });

  test('a token that also logs an ERC-721 shaped Transfer (hybrid tokens) is judged by its ERC-20 logs and balances', async () => {
    const token = await funded(await deployOddToken(treasury, { mode: 'hybrid' }));
    const to = ethers.Wallet.createRandom().address;
    const receipt = await payInOneBlock(token, to);
    expect(receipt.logs).toHaveLength(2);
    expect(await judged(token, to, receipt)).toEqual({ kind: 'paid' });
  });

  test('a token that sent the treasury\'s tokens somewhere else is a difference for a person, never "nothing was paid" (which an admin may retry)', async () => {
    const token = await funded(await deployOddToken(treasury, { mode: 'redirecting', sink: ethers.Wallet.createRandom().address }));
    const to = ethers.Wallet.createRandom().address;
    expect(await judged(token, to, await payInOneBlock(token, to))).toEqual({ kind: 'different', delivered: 0n, expected: 1000n });
  });

  test('a token that moves the amount on from the recipient within the payout itself delivered nothing: a difference for a person, never paid', async () => {
    const token = await funded(await deployOddToken(treasury, { mode: 'pass-through', sink: ethers.Wallet.createRandom().address }));
    const to = ethers.Wallet.createRandom().address;
    expect(await judged(token, to, await payInOneBlock(token, to))).toEqual({ kind: 'different', delivered: 0n, expected: 1000n });
  });

  test('a token whose Transfer log is not indexed is read too: paid in full while the recipient spends in the same block', async () => {
    const token = await funded(await deployLegacyToken(treasury));
    const recipient = anvilWallet(4);
    const to = await recipient.getAddress();
    await (await token.getFunction('mint')(to, 1_010n)).wait();
    const receipt = await payInOneBlock(token, to, () => (token.connect(recipient) as ethers.Contract).getFunction('transfer')(ethers.Wallet.createRandom().address, 1_010n));
    expect(await judged(token, to, receipt)).toEqual({ kind: 'paid' });
  });

  test('a payout that moved nothing is unpaid even when the recipient received the same amount from someone else in its block', async () => {
    const token = await funded(await deployTestToken(treasury, { returnsFalseOnTransfer: true }));
    const to = ethers.Wallet.createRandom().address;
    const receipt = await payInOneBlock(token, to, () => (token.connect(anvilWallet(5)) as ethers.Contract).getFunction('mint')(to, 1_000n));
    expect(await judged(token, to, receipt)).toMatchObject({ kind: 'nothing' });
  });

  test('a token that sends the treasury\'s tokens elsewhere without logging it is a difference for a person, never "nothing was paid"', async () => {
    const token = await funded(await deployOddToken(treasury, { mode: 'silent-redirect', sink: ethers.Wallet.createRandom().address }));
    const to = ethers.Wallet.createRandom().address;
    const receipt = await payInOneBlock(token, to);
    expect(receipt.logs).toHaveLength(0);
    expect(await judged(token, to, receipt)).toEqual({ kind: 'different', delivered: 0n, expected: 1000n });
  });

  test('a node whose logs of the block lack the payout\'s own gives no verdict', async () => {
    const token = await funded(await deployTestToken(treasury));
    const to = ethers.Wallet.createRandom().address;
    const receipt = await payInOneBlock(token, to, () => (token.connect(anvilWallet(6)) as ethers.Contract).getFunction('mint')(to, 600n), 400n);
    chain.proxy.intercept((call) => (call.method === 'eth_getLogs' ? { result: [] } : PASS));
    await expect(judged(token, to, receipt)).rejects.toThrow(/lack the payout's own Transfer logs/);
  });

  test('a historical balance read refused for a rate limit gives no verdict, rather than one from the logs alone', async () => {
    const token = await funded(await deployTestToken(treasury, { returnsFalseOnTransfer: true }));
    const to = ethers.Wallet.createRandom().address;
    const receipt = await payInOneBlock(token, to);
    chain.proxy.intercept((call) => (call.method === 'eth_call' && (call.params as unknown[])[1] !== 'latest' ? { error: { code: -32005, message: 'rate limit exceeded, retry in 1s' } } : PASS));
    await expect(judged(token, to, receipt)).rejects.toThrow();
    chain.proxy.intercept(null);
    expect(await judged(token, to, receipt)).toMatchObject({ kind: 'nothing' });
  });
});
