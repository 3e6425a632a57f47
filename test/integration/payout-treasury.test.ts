import type { ApplicationFailure } from '@temporalio/common';
import { ethers } from 'ethers';
import { Types } from 'mongoose';
import { startDedicatedChain, type DedicatedChain } from '../support/dedicated-chain';
import { deployFeeOnTransferToken, deployOddToken, deployTestToken, tokenBalance } from '../support/erc20';
import { PASS } from '../support/rpc-proxy';
import { startRefundStack, type RefundStack } from '../support/refund-stack';
import { waitFor } from '../support/wait';
import { activityEnvironment, payoutActivityEnvironment } from '../support/activity-environment';
import { PayoutLedger } from '../../src/persistence/payout-ledger';

const ETH = 10n ** 18n;

/**
 * The treasury's side of paying out: funds promised to payouts in flight, a
 * nonce that can never be sent, tokens that do not deliver what they were
 * asked to, spend limits and alerts. Real anvil (behind a proxy where a
 * scenario needs a refusal), real worker, real store.
 */
describe('treasury safety', () => {
  let chain: DedicatedChain;
  let stack: RefundStack | undefined;

  beforeEach(async () => {
    chain = await startDedicatedChain();
  }, 60_000);
  afterEach(async () => {
    await stack?.close();
    stack = undefined;
    await chain.stop();
  });

  async function start(env: Record<string, string> = {}, options: { autoApproveAfterMs?: number } = {}) {
    stack = await startRefundStack({ chainUrl: chain.proxy.url, env, ...options });
    return stack;
  }

  /** A refund of `amountPaid` × 2/3 (20 of 30 days unused), pending approval. */
  async function requestRefund(s: RefundStack, overrides: Record<string, unknown> = {}) {
    const subscription = await s.insertSubscription(overrides);
    const started = await s.refundClient.start({ subscriptionId: subscription.subscriptionId, requestedBy: String(subscription.doc.userId) });
    if (started.kind !== 'started' || started.state.phase !== 'registered') throw new Error(`not started: ${JSON.stringify(started)}`);
    return { ...subscription, refundId: started.refundId, ref: { subscriptionId: subscription.subscriptionId, refundId: started.refundId }, amount: BigInt(started.state.refund.amount) };
  }

  async function status(s: RefundStack, refundId: string, wanted: string) {
    return waitFor(async () => {
      const record = await s.refunds.findById(refundId);
      return record?.refundStatus === wanted ? record : undefined;
    }, { what: `refund ${refundId} ${wanted}` });
  }

  test('refunds of 1, 1 and 0.01 ETH from a 1.5 ETH treasury: the second parks in failed, the third completes; after a top-up the retry pays it, each once', async () => {
    const s = await start();
    await chain.rpc('anvil_setBalance', [s.treasury.address, ethers.toQuantity((3n * ETH) / 2n)]);
    const fromBlock = await chain.blockNumber();
    const ones = [await requestRefund(s, { amountPaid: (3n * ETH / 2n).toString() }), await requestRefund(s, { amountPaid: (3n * ETH / 2n).toString() })];
    const small = await requestRefund(s, { amountPaid: (15n * ETH / 1000n).toString() });
    expect(ones.map((refund) => refund.amount)).toEqual([ETH, ETH]);
    expect(small.amount).toBe(ETH / 100n);

    await chain.rpc('evm_setAutomine', [false]); // nothing is mined while the three are signed
    await Promise.all([...ones, small].map((refund) => s.refundClient.approve(refund.ref, { by: 'admin-1' })));
    const failed = await waitFor(async () => {
      for (const refund of ones) if ((await s.refunds.findById(refund.refundId))?.refundStatus === 'failed') return refund;
      return undefined;
    }, { what: 'one of the 1 ETH refunds failed' });
    const paid = ones.find((refund) => refund !== failed)!;
    await chain.rpc('evm_setAutomine', [true]);
    await chain.mine(1);

    await expect(s.refundClient.result(paid.ref)).resolves.toMatchObject({ outcome: 'completed' });
    await expect(s.refundClient.result(small.ref)).resolves.toMatchObject({ outcome: 'completed' });
    const parked = await s.refunds.findById(failed.refundId);
    expect(parked).toMatchObject({ refundStatus: 'failed', failureCode: 'InsufficientFunds', retryable: true });
    expect(parked!.failureReason).toMatch(/promised to [12] payout\(s\) in flight.*top up the treasury/);
    expect(await s.ledger.attemptsOf(failed.subscriptionId)).toEqual([]); // refused before any nonce was spent

    // A lost mirror write, repaired by the sweep's reconciliation: the failure's code and retryability come back too.
    await s.mongo.db!.collection('proratarefunds').updateOne(
      { _id: failed.refundId as never },
      { $set: { refundStatus: 'processing', statusHistory: parked!.statusHistory.slice(0, -1), failureReason: null, failureCode: null, retryable: null } },
    );
    await activityEnvironment().run(s.activities.reconcileRefundRecords, { afterId: null, limit: 100 });
    expect(await s.refunds.findById(failed.refundId)).toMatchObject({ refundStatus: 'failed', failureCode: 'InsufficientFunds', retryable: true, failureReason: parked!.failureReason });

    await chain.rpc('anvil_setBalance', [s.treasury.address, ethers.toQuantity(10n * ETH)]);
    await s.refundClient.retry(failed.ref, { by: 'admin-2', note: 'topped up' });
    await expect(s.refundClient.result(failed.ref)).resolves.toMatchObject({ outcome: 'completed' });

    for (const refund of [...ones, small]) {
      const transfers = await chain.nativeTransfersTo(refund.wallet, fromBlock);
      expect(transfers.map((transfer) => transfer.value)).toEqual([refund.amount]);
    }
  }, 120_000);

  test('payouts prepared at once get consecutive nonces, and each is checked against the funds the others already took', async () => {
    const s = await start();
    await chain.rpc('anvil_setBalance', [s.treasury.address, ethers.toQuantity((35n * ETH) / 10n)]);
    const firstNonce = await s.treasury.provider.getTransactionCount(s.treasury.address, 'pending');
    await chain.rpc('evm_setAutomine', [false]); // nothing is mined while they are signed
    const requests = Array.from({ length: 6 }, (_, i) => ({
      refundId: `batch-${i}`,
      subscriptionId: new Types.ObjectId().toHexString(),
      to: ethers.Wallet.createRandom().address,
      amount: ETH.toString(),
      currency: { symbol: 'ETH', decimals: 18, tokenAddress: null },
      mayWait: true,
    }));
    const prepared = await Promise.allSettled(requests.map((request) => payoutActivityEnvironment().run(s.activities.preparePayout, request)));

    const signed = prepared.flatMap((result) => (result.status === 'fulfilled' ? [result.value as { status: string; nonce: number; attemptId: string }] : []));
    const refused = prepared.flatMap((result) => (result.status === 'rejected' ? [result.reason as ApplicationFailure] : []));
    // 3.5 ETH covers three payouts of 1 ETH and their gas, not four (the messages say why, should it fail)
    expect({ signed: signed.length, refusals: refused.map((failure) => `${failure.type}: ${failure.message}`) }).toEqual({ signed: 3, refusals: [expect.stringMatching(/^InsufficientFunds/), expect.stringMatching(/^InsufficientFunds/), expect.stringMatching(/^InsufficientFunds/)] });
    expect(signed.map((payout) => payout.nonce).sort((a, b) => a - b)).toEqual([firstNonce, firstNonce + 1, firstNonce + 2]);
    expect(refused.map((failure) => failure.type)).toEqual(['InsufficientFunds', 'InsufficientFunds', 'InsufficientFunds']);
    expect(refused[0]!.message).toMatch(/promised to 3 payout\(s\) in flight/);
    expect(await s.mongo.db!.collection('payoutnonces').countDocuments()).toBe(3); // the refused ones spent no nonce

    await chain.rpc('evm_setAutomine', [true]);
    for (const payout of signed) {
      await expect(activityEnvironment().run(s.activities.confirmPayout, { refundId: 'any', attemptId: payout.attemptId })).resolves.toMatchObject({ status: 'confirmed' });
    }
    const paid = await Promise.all(requests.map((request) => s.treasury.provider.getBalance(request.to)));
    expect(paid.filter((balance) => balance === ETH)).toHaveLength(3);
    expect(paid.filter((balance) => balance === 0n)).toHaveLength(3);
  });

  test('a payout mined while the funds check reads the chain is counted once: balance and mined nonces come from one block', async () => {
    const s = await start();
    await chain.rpc('anvil_setBalance', [s.treasury.address, ethers.toQuantity((3n * ETH) / 2n)]);
    await chain.rpc('evm_setAutomine', [false]);
    const payout = (name: string) => ({
      refundId: name,
      subscriptionId: new Types.ObjectId().toHexString(),
      to: ethers.Wallet.createRandom().address,
      amount: ETH.toString(),
      currency: { symbol: 'ETH', decimals: 18, tokenAddress: null },
      mayWait: true,
    });
    const prepare = (request: ReturnType<typeof payout>) => payoutActivityEnvironment().run(s.activities.preparePayout, request);
    const first = payout('mined-meanwhile');
    await prepare(first);
    const [signed] = await s.ledger.attemptsOf(first.subscriptionId);
    await chain.provider.broadcastTransaction(signed!.rawTransaction); // as its watcher does: it waits in the pool

    // The node mines the first payout right after answering the balance the second one's funds check asks for,
    // and only then answers how many of the treasury's transactions are mined.
    let minedNow!: () => void;
    const mined = new Promise<void>((resolve) => (minedNow = resolve));
    let armed = true;
    chain.proxy.intercept(async (call, forward) => {
      if (call.method === 'eth_getBalance' && armed) {
        armed = false;
        const result = await forward(call);
        await forward({ method: 'evm_mine', params: [] });
        minedNow();
        return { result };
      }
      if (call.method === 'eth_getTransactionCount' && call.params[1] !== 'pending') await mined;
      return PASS;
    });
    const second = payout('checked-meanwhile');
    // 1.5 ETH paid 1 ETH and its gas: 1 ETH more cannot be covered, however the node's answers interleave.
    await expect(prepare(second)).rejects.toMatchObject({ type: 'InsufficientFunds' });
    chain.proxy.intercept(null);
    expect(await s.ledger.attemptsOf(second.subscriptionId)).toEqual([]);
    expect(await chain.provider.getBalance(first.to)).toBe(ETH);
    await chain.rpc('evm_setAutomine', [true]);
  });

  test.each([
    ['before raising the next nonce', 'raiseNextNonce'],
    ['after raising the next nonce', 'openRound'],
  ] as const)('a round recorded by a preparation that died %s, before opening its claim, counts against the next payout\'s funds', async (_when, dyingIn) => {
    const s = await start();
    await chain.rpc('anvil_setBalance', [s.treasury.address, ethers.toQuantity((3n * ETH) / 2n)]);
    const { chainId, address: from } = s.treasury;
    const eth = (refundId: string, amount: bigint) => ({ refundId, subscriptionId: new Types.ObjectId().toHexString(), to: ethers.Wallet.createRandom().address, amount: amount.toString(), currency: { symbol: 'ETH', decimals: 18, tokenAddress: null }, mayWait: true });
    const prepare = (request: ReturnType<typeof eth>) => payoutActivityEnvironment().run(s.activities.preparePayout, request) as Promise<unknown> as Promise<{ status: string; nonce: number; attemptId: string }>;

    const died = eth('died-before-opening', ETH);
    const crash = jest.spyOn(PayoutLedger.prototype, dyingIn).mockRejectedValueOnce(new Error('the worker died here'));
    await expect(prepare(died)).rejects.toThrow('the worker died here');
    crash.mockRestore();
    const [recorded] = await s.ledger.attemptsOf(died.subscriptionId);
    expect(recorded).toBeDefined();
    expect(await s.ledger.openClaims(chainId, from)).toEqual([]);

    // 1.5 ETH covers the recorded round's 1 ETH and gas, not another; a payout that fits takes the next nonce, none skipped.
    const refused = eth('refused-after-the-crash', ETH);
    await expect(prepare(refused)).rejects.toMatchObject({ type: 'InsufficientFunds', message: expect.stringMatching(/promised to 1 payout\(s\) in flight/) });
    expect(await s.ledger.attemptsOf(refused.subscriptionId)).toEqual([]);
    const fits = eth('fits-after-the-crash', ETH / 10n);
    await expect(prepare(fits)).resolves.toMatchObject({ status: 'signed', nonce: recorded!.nonce + 1 });

    // The recorded round's own retry opens it; both are paid, once each.
    const reopened = await prepare(died);
    expect(reopened).toMatchObject({ status: 'signed', nonce: recorded!.nonce, attemptId: recorded!._id });
    for (const attemptId of [recorded!._id, `${fits.subscriptionId}:1`]) {
      await expect(activityEnvironment().run(s.activities.confirmPayout, { refundId: 'any', attemptId })).resolves.toMatchObject({ status: 'confirmed' });
    }
    expect(await Promise.all([died, refused, fits].map((request) => chain.provider.getBalance(request.to)))).toEqual([ETH, 0n, ETH / 10n]);
    expect(await s.ledger.attemptsOf(died.subscriptionId)).toHaveLength(1);
  }, 120_000);

  test('a token round recorded but not opened counts its tokens against the next token payout', async () => {
    const s = await start();
    const token = await deployTestToken(new ethers.Wallet(s.env.TREASURY_PRIVATE_KEY, chain.provider));
    const tokenAddress = await token.getAddress();
    await (await token.getFunction('mint')(s.treasury.address, 150n * ETH)).wait();
    const tokens = (refundId: string, amount: bigint) => ({ refundId, subscriptionId: new Types.ObjectId().toHexString(), to: ethers.Wallet.createRandom().address, amount: amount.toString(), currency: { symbol: 'TEST', decimals: 18, tokenAddress }, mayWait: true });
    const died = tokens('token-died-before-opening', 100n * ETH);
    const crash = jest.spyOn(PayoutLedger.prototype, 'openRound').mockRejectedValueOnce(new Error('the worker died here'));
    await expect(payoutActivityEnvironment().run(s.activities.preparePayout, died)).rejects.toThrow('the worker died here');
    crash.mockRestore();

    await expect(payoutActivityEnvironment().run(s.activities.preparePayout, tokens('token-refused', 100n * ETH))).rejects.toMatchObject({ type: 'InsufficientFunds', message: expect.stringMatching(/\(100(\.0)? promised to payouts in flight\)/) });
  }, 120_000);

  test('a ledger whose next nonce is far ahead of the chain signs nothing: the nonces in between cannot be counted against the funds', async () => {
    const s = await start();
    const { chainId, address: from, provider } = s.treasury;
    const pending = await provider.getTransactionCount(from, 'pending');
    await s.ledger.raiseNextNonce(chainId, from, pending + 1_500); // a store kept across a reset testnet
    const request = { refundId: 'far-ahead', subscriptionId: new Types.ObjectId().toHexString(), to: ethers.Wallet.createRandom().address, amount: ETH.toString(), currency: { symbol: 'ETH', decimals: 18, tokenAddress: null }, mayWait: true };
    await expect(payoutActivityEnvironment().run(s.activities.preparePayout, request)).rejects.toThrow(/1500 of the treasury's nonces below \d+ are not mined and no payout in flight follows them/);
    expect(await s.ledger.attemptsOf(request.subscriptionId)).toEqual([]);
    expect(await s.ledger.nonceOwner(chainId, from, pending + 1_500)).toBeNull(); // given back
  });

  test('a node behind the one that named the latest block does not know it yet: the treasury is read again, and the payout signed', async () => {
    const s = await start();
    let unknownBlock = 0;
    chain.proxy.intercept((call) => {
      if (call.method === 'eth_getBalance' && call.params[1] !== 'latest' && unknownBlock === 0) {
        unknownBlock += 1;
        return { error: { code: -32000, message: 'header not found' } };
      }
      return PASS;
    });
    const request = { refundId: 'lagging-balance', subscriptionId: new Types.ObjectId().toHexString(), to: ethers.Wallet.createRandom().address, amount: ETH.toString(), currency: { symbol: 'ETH', decimals: 18, tokenAddress: null }, mayWait: true };
    await expect(payoutActivityEnvironment().run(s.activities.preparePayout, request)).resolves.toMatchObject({ status: 'signed' });
    expect(unknownBlock).toBe(1);
  });

  test('a payout the node refuses for insufficient funds has its nonce filled, so the payouts behind it are mined', async () => {
    const s = await start();
    const first = await requestRefund(s);
    const second = await requestRefund(s);
    const fromBlock = await chain.blockNumber();

    // The node refuses the first payout as unfundable (a balance that moved, a node's own view): it never reaches the pool.
    const refused = new Set<string>();
    chain.proxy.intercept(async (call) => {
      if (call.method !== 'eth_sendRawTransaction') return { pass: true };
      const hash = ethers.keccak256(call.params[0] as string);
      if (refused.size === 0) refused.add(hash);
      return refused.has(hash) ? { error: { code: -32000, message: 'insufficient funds for gas * price + value' } } : { pass: true };
    });
    await s.refundClient.approve(first.ref, { by: 'admin-1' });
    const stuck = await waitFor(async () => (await s.ledger.attemptsOf(first.subscriptionId))[0], { what: 'the first payout signed' });
    await s.refundClient.approve(second.ref, { by: 'admin-1' });

    await expect(s.refundClient.result(second.ref)).resolves.toMatchObject({ outcome: 'completed' });
    await expect(s.refundClient.result(first.ref)).resolves.toMatchObject({ outcome: 'completed' });
    const attempts = await s.ledger.attemptsOf(first.subscriptionId);
    expect(attempts.map((attempt) => [attempt.kind, attempt.nonce, attempt.status])).toEqual([
      ['payout', stuck.nonce, 'dropped'],
      ['filler', stuck.nonce, 'dropped'],
      ['payout', expect.any(Number), 'confirmed'],
    ]);
    const filler = await chain.provider.getTransaction(attempts[1]!.txHash);
    expect(filler).toMatchObject({ to: s.treasury.address, from: s.treasury.address, value: 0n, nonce: stuck.nonce });
    for (const refund of [first, second]) {
      const transfers = await chain.nativeTransfersTo(refund.wallet, fromBlock);
      expect(transfers.map((transfer) => transfer.value)).toEqual([refund.amount]);
    }
  }, 120_000);

  test('a fee-on-transfer token that delivers 99 of 100 is never reported unpaid, never paid again, and a retry is refused', async () => {
    const s = await start();
    const deployer = new ethers.Wallet(s.env.TREASURY_PRIVATE_KEY, chain.provider);
    const token = await deployFeeOnTransferToken(deployer, { feeBps: 100, feeCollector: ethers.Wallet.createRandom().address });
    const tokenAddress = await token.getAddress();
    await (await token.getFunction('mint')(s.treasury.address, 1_000n * ETH)).wait();
    const refund = await requestRefund(s, { currency: { symbol: 'FEE', decimals: 18, tokenAddress } });

    await s.refundClient.approve(refund.ref, { by: 'admin-1' });
    const failed = await status(s, refund.refundId, 'failed');
    const delivered = refund.amount - refund.amount / 100n; // the token keeps 1 %, rounded down
    expect(await tokenBalance(tokenAddress, refund.wallet, chain.provider)).toBe(delivered);
    expect(failed).toMatchObject({ failureCode: 'PayoutAmountMismatch', retryable: false });
    expect(failed.failureReason).toContain(`delivered ${delivered} instead of ${refund.amount}`);
    expect(await s.ledger.findClaim(refund.subscriptionId)).toMatchObject({ status: 'review', delivered: delivered.toString() });

    // The run ends once the failure is final for people too: a retry has nothing to reach.
    await expect(s.refundClient.result(refund.ref)).resolves.toMatchObject({ outcome: 'failed' });
    await expect(s.refundClient.retry(refund.ref, { by: 'admin-1' })).rejects.toThrow();
    expect(await tokenBalance(tokenAddress, refund.wallet, chain.provider)).toBe(delivered);
    expect(await s.ledger.attemptsOf(refund.subscriptionId)).toHaveLength(1);
  }, 120_000);

  test('a gas estimate the node fails to answer (a rate limit) is asked again: the token refund is paid, never parked as InsufficientFunds', async () => {
    const s = await start();
    const token = await deployTestToken(new ethers.Wallet(s.env.TREASURY_PRIVATE_KEY, chain.provider));
    const tokenAddress = await token.getAddress();
    await (await token.getFunction('mint')(s.treasury.address, 1_000n * ETH)).wait();
    const refund = await requestRefund(s, { currency: { symbol: 'TEST', decimals: 18, tokenAddress } });
    let refused = 0;
    chain.proxy.intercept((call) => (call.method === 'eth_estimateGas' && refused++ === 0 ? { error: { code: -32005, message: 'rate limit exceeded' } } : PASS));

    await s.refundClient.approve(refund.ref, { by: 'admin-1' });
    const settled = await waitFor(async () => {
      const record = await s.refunds.findById(refund.refundId);
      return record && ['completed', 'failed'].includes(record.refundStatus) ? record : undefined;
    }, { what: 'the refund completed or failed' });
    expect(settled).toMatchObject({ refundStatus: 'completed', failureCode: null });
    expect(refused).toBeGreaterThan(1);
    expect(await tokenBalance(tokenAddress, refund.wallet, chain.provider)).toBe(refund.amount);
    expect((await s.refunds.findById(refund.refundId))!.statusHistory.map((change) => change.status)).toEqual(['pending_approval', 'approved', 'processing', 'completed']);
  }, 120_000);

  test('a token that refuses the recipient (a blocklist) fails the refund with TransferRefused before anything is signed; a retry is allowed', async () => {
    const s = await start();
    const blocked = ethers.Wallet.createRandom().address;
    const token = await deployOddToken(new ethers.Wallet(s.env.TREASURY_PRIVATE_KEY, chain.provider), { mode: 'blocklist', sink: blocked });
    const tokenAddress = await token.getAddress();
    await (await token.getFunction('mint')(s.treasury.address, 1_000n * ETH)).wait();
    const refund = await requestRefund(s, { userWalletAddress: blocked, currency: { symbol: 'ODD', decimals: 18, tokenAddress } });

    await s.refundClient.approve(refund.ref, { by: 'admin-1' });
    const failed = await status(s, refund.refundId, 'failed');
    expect(failed).toMatchObject({ failureCode: 'TransferRefused', retryable: true });
    expect(failed.failureReason).toMatch(/fails when simulated .*recipient is blocked/);
    expect(await s.ledger.attemptsOf(refund.subscriptionId)).toEqual([]);
  }, 120_000);

  test('a token that halts (INVALID, old SafeMath style) instead of reverting when the treasury is short fails the refund with InsufficientFunds, not an endless retry', async () => {
    const s = await start();
    const token = await deployOddToken(new ethers.Wallet(s.env.TREASURY_PRIVATE_KEY, chain.provider), { mode: 'halting' });
    const tokenAddress = await token.getAddress();
    await (await token.getFunction('mint')(s.treasury.address, 1n)).wait();
    const refund = await requestRefund(s, { currency: { symbol: 'ODD', decimals: 18, tokenAddress } });

    await s.refundClient.approve(refund.ref, { by: 'admin-1' });
    const failed = await status(s, refund.refundId, 'failed');
    expect(failed).toMatchObject({ failureCode: 'InsufficientFunds', retryable: true });
    expect(await s.ledger.attemptsOf(refund.subscriptionId)).toEqual([]);
  }, 120_000);

  test('the native coin to a contract that refuses it fails with TransferRefused before anything is signed, instead of burning gas on a reverting transaction', async () => {
    const s = await start();
    const deployer = new ethers.Wallet(s.env.TREASURY_PRIVATE_KEY, chain.provider);
    // Runtime code PUSH1 0 PUSH1 0 REVERT: every call and every payment reverts.
    const refuser = (await (await deployer.sendTransaction({ data: '0x6005600c60003960056000f360006000fd' })).wait())!.contractAddress!;
    const refund = await requestRefund(s, { userWalletAddress: refuser });
    const fromBlock = await chain.blockNumber();

    await s.refundClient.approve(refund.ref, { by: 'admin-1' });
    const failed = await status(s, refund.refundId, 'failed');
    expect(failed).toMatchObject({ failureCode: 'TransferRefused', retryable: true });
    expect(await s.ledger.attemptsOf(refund.subscriptionId)).toEqual([]);
    expect(await chain.blockNumber()).toBe(fromBlock); // nothing was sent
  }, 120_000);

  test('a refund whose currency decimals differ from the token\'s is refused before anything is signed', async () => {
    const s = await start();
    const deployer = new ethers.Wallet(s.env.TREASURY_PRIVATE_KEY, chain.provider);
    const token = await deployTestToken(deployer, { symbol: 'USDX', decimals: 6 });
    const tokenAddress = await token.getAddress();
    await (await token.getFunction('mint')(s.treasury.address, 10n ** 12n)).wait();
    const refund = await requestRefund(s, { amountPaid: '3000000', currency: { symbol: 'USDX', decimals: 18, tokenAddress } });

    await s.refundClient.approve(refund.ref, { by: 'admin-1' });
    const failed = await status(s, refund.refundId, 'failed');
    expect(failed).toMatchObject({ failureCode: 'CurrencyMismatch', retryable: false });
    expect(failed.failureReason).toMatch(/18 decimals, but token .* has 6/);
    expect(await s.ledger.attemptsOf(refund.subscriptionId)).toEqual([]);
    expect(await tokenBalance(tokenAddress, refund.wallet, chain.provider)).toBe(0n);
  }, 120_000);

  test('above PAYOUT_MAX_AMOUNT a refund is not approved by the timer; an admin\'s approval pays it', async () => {
    const s = await start({ PAYOUT_MAX_AMOUNT: 'ETH=0.5' }, { autoApproveAfterMs: 1_500 });
    const big = await requestRefund(s); // 0.666… ETH
    const small = await requestRefund(s, { amountPaid: (ETH / 2n).toString() }); // 0.333… ETH

    await expect(s.refundClient.result(small.ref)).resolves.toMatchObject({ outcome: 'completed' });
    const waiting = await waitFor(async () => {
      const record = await s.refunds.findById(big.refundId);
      return record?.waitingReason ? record : undefined;
    }, { what: 'the big refund waiting for an admin' });
    expect(waiting).toMatchObject({ refundStatus: 'pending_approval', decidedBy: null });
    expect(waiting.waitingReason).toMatch(/above PAYOUT_MAX_AMOUNT 0\.5: an admin must approve it/);

    await s.refundClient.approve(big.ref, { by: 'admin-1' });
    await expect(s.refundClient.result(big.ref)).resolves.toMatchObject({ outcome: 'completed' });
    expect(await s.refunds.findById(big.refundId)).toMatchObject({ decidedBy: 'admin-1', waitingReason: null });
    expect(await chain.provider.getBalance(big.wallet)).toBe(big.amount);
  }, 120_000);

  test('at PAYOUT_DAILY_LIMIT payouts wait and alert instead of draining the treasury, however the currency is spelled', async () => {
    const s = await start({ PAYOUT_DAILY_LIMIT: 'ETH=1' });
    const first = await requestRefund(s);
    // The same coin, spelled otherwise by the system that wrote the subscription: the limit is one budget of the coin.
    const second = await requestRefund(s, { currency: { symbol: 'eth', decimals: 18, tokenAddress: null } });

    await s.refundClient.approve(first.ref, { by: 'admin-1' });
    await expect(s.refundClient.result(first.ref)).resolves.toMatchObject({ outcome: 'completed' });
    await s.refundClient.approve(second.ref, { by: 'admin-1' });

    const alert = await s.webhooks.waitFor((request) => (request.json as { type?: string })?.type === 'treasury.daily_limit', 20_000);
    expect((alert.json as { data: { message: string } }).data.message).toMatch(/PAYOUT_DAILY_LIMIT for eth is 1; 0\.6666\d+ was paid in the last 24 hours/);
    const waiting = await waitFor(async () => {
      const record = await s.refunds.findById(second.refundId);
      return record?.waitingReason ? record : undefined;
    }, { what: 'the second refund waiting' });
    expect(waiting).toMatchObject({ refundStatus: 'processing', transactionId: null });
    expect(await s.ledger.attemptsOf(second.subscriptionId)).toEqual([]);
    expect(await chain.provider.getBalance(second.wallet)).toBe(0n);
  }, 120_000);

  test('TREASURY_LOW_BALANCE raises one treasury.low_balance alert when a payout takes the balance under it', async () => {
    const s = await start({ TREASURY_LOW_BALANCE: 'ETH=999.5' }); // the treasury starts with 1000 ETH
    const refunds = [await requestRefund(s), await requestRefund(s)];
    for (const refund of refunds) {
      await s.refundClient.approve(refund.ref, { by: 'admin-1' });
      await expect(s.refundClient.result(refund.ref)).resolves.toMatchObject({ outcome: 'completed' });
    }
    const alerts = s.webhooks.requests.filter((request) => (request.json as { type?: string })?.type === 'treasury.low_balance');
    expect(alerts).toHaveLength(1);
    expect((alerts[0]!.json as { data: { message: string; threshold: string } }).data).toMatchObject({ threshold: (9995n * ETH / 10n).toString() });
    expect((alerts[0]!.json as { data: { message: string } }).data.message).toMatch(/under TREASURY_LOW_BALANCE 999\.5: top it up/);
  }, 120_000);

  test('a treasury that pays only tokens is told when the native coin that pays its gas runs under TREASURY_LOW_BALANCE', async () => {
    const s = await start({ TREASURY_LOW_BALANCE: 'ETH=1' });
    const token = await deployTestToken(new ethers.Wallet(s.env.TREASURY_PRIVATE_KEY, chain.provider));
    const tokenAddress = await token.getAddress();
    await (await token.getFunction('mint')(s.treasury.address, 1_000n * ETH)).wait();
    await chain.rpc('anvil_setBalance', [s.treasury.address, ethers.toQuantity(ETH / 2n)]);
    const refund = await requestRefund(s, { currency: { symbol: 'TEST', decimals: 18, tokenAddress } });

    await s.refundClient.approve(refund.ref, { by: 'admin-1' });
    await expect(s.refundClient.result(refund.ref)).resolves.toMatchObject({ outcome: 'completed' });
    const alert = await waitFor(() => s.webhooks.requests.find((request) => (request.json as { type?: string })?.type === 'treasury.low_balance'), { what: 'the low-balance alert' });
    expect((alert.json as { data: Record<string, unknown> }).data).toMatchObject({ currency: 'ETH', tokenAddress: null, threshold: ETH.toString() });
  }, 120_000);
});
