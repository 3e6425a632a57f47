import { ethers } from 'ethers';
import {
  ANVIL_CHAIN_ID,
  balanceOf,
  blockNumber,
  countIncomingTransfers,
  countTokenTransfers,
  destroyProvider,
  freshWallet,
  fundedWallet,
  getAutomine,
  mine,
  newFundedWallet,
  provider,
  setAutomine,
  setBalance,
  setIntervalMining,
} from '../support/chain';
import { compileTestToken, deployTestToken, tokenBalance } from '../support/erc20';
import { sleep, waitFor } from '../support/wait';

describe('test support: chain and ERC-20 helpers against the real anvil', () => {
  afterAll(() => destroyProvider());

  test('the provider talks to anvil and the funded accounts come from the standard mnemonic', async () => {
    expect((await provider().getNetwork()).chainId).toBe(BigInt(ANVIL_CHAIN_ID));
    // anvil account #0 of "test test ... junk"
    expect(fundedWallet(0).address).toBe('0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266');
    expect(fundedWallet(1).address).toBe('0x70997970C51812dc3A010C7d01b50e0d17dc79C8');
    expect(await balanceOf(fundedWallet(9).address)).toBeGreaterThan(0n);
  });

  test('setBalance sets an exact native balance', async () => {
    const wallet = freshWallet();
    expect(await balanceOf(wallet.address)).toBe(0n);
    await setBalance(wallet.address, 123_456_789n);
    expect(await balanceOf(wallet.address)).toBe(123_456_789n);
  });

  test('a 6-decimals token: deploy, mint, transfer, and countTokenTransfers sees it', async () => {
    const owner = await newFundedWallet();
    const recipient = freshWallet();
    const fromBlock = await blockNumber();
    const token = await deployTestToken(owner, { name: 'Test USD', symbol: 'TUSD', decimals: 6 });
    expect(await token.getFunction('decimals')()).toBe(6n);
    expect(await token.getFunction('symbol')()).toBe('TUSD');

    await (await token.getFunction('mint')(owner.address, 1_000_000_000n)).wait();
    const receipt = (await (await token.getFunction('transfer')(recipient.address, 12_345_678n)).wait()) as ethers.TransactionReceipt;
    expect(receipt.status).toBe(1);

    expect(await tokenBalance(token, recipient.address, provider())).toBe(12_345_678n);
    expect(await tokenBalance(token, owner.address, provider())).toBe(1_000_000_000n - 12_345_678n);
    expect(await token.getFunction('totalSupply')()).toBe(1_000_000_000n);

    const toRecipient = await countTokenTransfers(token, recipient.address, fromBlock);
    expect(toRecipient).toEqual({ count: 1, total: 12_345_678n, txHashes: [receipt.hash] });
    // the mint is a Transfer from 0x0 to the owner
    expect((await countTokenTransfers(token, owner.address, fromBlock)).count).toBe(1);
    // nothing before the transfer's block
    expect((await countTokenTransfers(token, recipient.address, receipt.blockNumber + 1)).count).toBe(0);
  });

  test('approve and transferFrom move funds and emit Approval and Transfer', async () => {
    const owner = await newFundedWallet();
    const spender = await newFundedWallet();
    const recipient = freshWallet();
    const token = await deployTestToken(owner, { decimals: 18 });
    await (await token.getFunction('mint')(owner.address, 1000n)).wait();
    const approval = (await (await token.getFunction('approve')(spender.address, 300n)).wait()) as ethers.TransactionReceipt;
    expect(approval.logs.map((log) => token.interface.parseLog(log)?.name)).toEqual(['Approval']);
    expect(await token.getFunction('allowance')(owner.address, spender.address)).toBe(300n);

    const asSpender = token.connect(spender) as ethers.Contract;
    await (await asSpender.getFunction('transferFrom')(owner.address, recipient.address, 200n)).wait();
    expect(await tokenBalance(token, recipient.address, provider())).toBe(200n);
    expect(await token.getFunction('allowance')(owner.address, spender.address)).toBe(100n);
    await expect(asSpender.getFunction('transferFrom')(owner.address, recipient.address, 101n)).rejects.toThrow(/insufficient allowance/);
  });

  test('a returnsFalseOnTransfer token: transfer succeeds as a transaction but moves nothing and logs nothing', async () => {
    const owner = await newFundedWallet();
    const recipient = freshWallet();
    const token = await deployTestToken(owner, { decimals: 6, returnsFalseOnTransfer: true });
    expect(await token.getFunction('returnsFalseOnTransfer')()).toBe(true);
    await (await token.getFunction('mint')(owner.address, 5_000_000n)).wait();
    const fromBlock = await blockNumber();

    // the call returns false instead of reverting
    expect(await token.getFunction('transfer').staticCall(recipient.address, 1_000_000n)).toBe(false);
    const receipt = (await (await token.getFunction('transfer')(recipient.address, 1_000_000n)).wait()) as ethers.TransactionReceipt;
    expect(receipt.status).toBe(1);
    expect(receipt.logs).toHaveLength(0);

    expect(await tokenBalance(token, recipient.address, provider())).toBe(0n);
    expect(await tokenBalance(token, owner.address, provider())).toBe(5_000_000n);
    expect(await countTokenTransfers(token, recipient.address, fromBlock)).toEqual({ count: 0, total: 0n, txHashes: [] });
  });

  test('countIncomingTransfers counts successful native transfers to an address', async () => {
    const sender = await newFundedWallet();
    const recipient = freshWallet();
    const fromBlock = await blockNumber();
    const first = await (await sender.sendTransaction({ to: recipient.address, value: ethers.parseEther('1.5') })).wait();
    const second = await (await sender.sendTransaction({ to: recipient.address, value: 7n })).wait();
    // a transfer elsewhere is not counted
    await (await sender.sendTransaction({ to: freshWallet().address, value: 1n })).wait();

    const tally = await countIncomingTransfers(recipient.address, fromBlock);
    expect(tally).toEqual({ count: 2, total: ethers.parseEther('1.5') + 7n, txHashes: [first!.hash, second!.hash] });
    expect(await balanceOf(recipient.address)).toBe(tally.total);
    // lower-case addresses work too
    expect((await countIncomingTransfers(recipient.address.toLowerCase(), fromBlock)).count).toBe(2);
    expect((await countIncomingTransfers(recipient.address, second!.blockNumber + 1)).count).toBe(0);
  });

  test('automine off holds transactions until mine(); interval mining mines on its own; automine is restored', async () => {
    const sender = await newFundedWallet();
    const recipient = freshWallet();
    try {
      await setAutomine(false);
      expect(await getAutomine()).toBe(false);
      const pending = await sender.sendTransaction({ to: recipient.address, value: 1n });
      await sleep(300);
      expect(await provider().getTransactionReceipt(pending.hash)).toBeNull();
      await mine(1);
      const mined = await provider().getTransactionReceipt(pending.hash);
      expect(mined?.status).toBe(1);

      const before = await blockNumber();
      await mine(5);
      expect(await blockNumber()).toBeGreaterThanOrEqual(before + 5);

      await setIntervalMining(1);
      expect(await getAutomine()).toBe(false);
      const start = await blockNumber();
      const byInterval = await sender.sendTransaction({ to: recipient.address, value: 2n });
      const receipt = await byInterval.wait(1, 10_000);
      expect(receipt?.status).toBe(1);
      // blocks keep coming without any transaction of ours
      await waitFor(() => blockNumber(), { until: (height) => height >= start + 2, what: 'interval mining to mine 2 blocks on its own' });
    } finally {
      await setIntervalMining(0);
      await setAutomine(true);
    }
    expect(await getAutomine()).toBe(true);
    const instant = await sender.sendTransaction({ to: recipient.address, value: 3n });
    // with automine the receipt exists as soon as the send returns
    expect((await provider().getTransactionReceipt(instant.hash))?.status).toBe(1);
    expect(await balanceOf(recipient.address)).toBe(6n);
  });

  test('the compiled artifact is memoized per process', () => {
    expect(compileTestToken()).toBe(compileTestToken());
  });
});
