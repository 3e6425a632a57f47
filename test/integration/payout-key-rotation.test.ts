import { ethers } from 'ethers';
import type { PayoutAttemptRecord } from '../../src/persistence/payout-ledger';
import { startDedicatedChain, type DedicatedChain } from '../support/dedicated-chain';
import { startRefundStack, type RefundStack } from '../support/refund-stack';
import { waitFor } from '../support/wait';

const GWEI = 1_000_000_000n;

/**
 * TREASURY_PRIVATE_KEY changes while a payout signed by the old wallet is not
 * mined yet. The old wallet's signed transaction stays valid forever, so the
 * payout must be settled by it (mined, or its nonce proven taken at finality)
 * and never by anything the new key signs. Real anvil; the payout side is
 * restarted on the same store and task queue with another key.
 */
describe('payouts across a change of the treasury key', () => {
  let chain: DedicatedChain;
  let stacks: RefundStack[] = [];

  beforeEach(async () => {
    chain = await startDedicatedChain();
  }, 60_000);
  afterEach(async () => {
    for (const stack of stacks.reverse()) await stack.close();
    stacks = [];
    await chain.stop();
  });

  async function start(env: Record<string, string> = {}) {
    const stack = await startRefundStack({ chainUrl: chain.proxy.url, env });
    stacks.push(stack);
    return stack;
  }

  /** Stops the payout side, keeping its store: the refunds wait in Temporal. */
  async function stop(stack: RefundStack) {
    stacks = stacks.filter((other) => other !== stack);
    await stack.close({ keepData: true });
  }

  /** The payout side again, on the same store and task queue, with a new treasury key (funded by the stack). */
  async function restartWithNewKey(old: RefundStack, env: Record<string, string> = {}) {
    return start({ DB_URI: old.env.DB_URI, TEMPORAL_TASK_QUEUE: old.env.TEMPORAL_TASK_QUEUE, TREASURY_PRIVATE_KEY: ethers.Wallet.createRandom().privateKey, ...env });
  }

  async function requestRefund(s: RefundStack) {
    const subscription = await s.insertSubscription();
    const started = await s.refundClient.start({ subscriptionId: subscription.subscriptionId, requestedBy: String(subscription.doc.userId) });
    if (started.kind !== 'started' || started.state.phase !== 'registered') throw new Error(`not started: ${JSON.stringify(started)}`);
    return { ...subscription, refundId: started.refundId, ref: { subscriptionId: subscription.subscriptionId, refundId: started.refundId }, amount: BigInt(started.state.refund.amount) };
  }

  async function firstBroadcast(s: RefundStack, subscriptionId: string) {
    return waitFor(async () => (await s.ledger.attemptsOf(subscriptionId)).find((attempt) => attempt.broadcasts > 0), { what: 'a broadcast payout' });
  }

  async function completed(s: RefundStack, refundId: string) {
    return waitFor(async () => ((await s.refunds.findById(refundId))?.refundStatus === 'completed' ? true : undefined), { what: `refund ${refundId} completed`, timeoutMs: 90_000 });
  }

  /** Each stored transaction with the wallet that really signed it (recovered from its bytes) next to the wallet the ledger says. */
  function signers(attempts: PayoutAttemptRecord[]) {
    return attempts.map((attempt) => ({ attempt: attempt.attempt, kind: attempt.kind, from: ethers.getAddress(attempt.from), signer: ethers.Transaction.from(attempt.rawTransaction).from }));
  }

  function expectEachSignedByItsWallet(attempts: PayoutAttemptRecord[]) {
    const found = signers(attempts);
    expect(found).toEqual(found.map((entry) => ({ ...entry, signer: entry.from })));
  }

  function alertsOf(s: RefundStack, type: string) {
    return s.webhooks.requests.map((request) => request.json as { type?: string; data: Record<string, unknown> }).filter((event) => event?.type === type);
  }

  test('a payout signed by the old wallet is never re-signed with the new key: the old transaction pays it, once', async () => {
    const before = await start({ PAYOUT_STUCK_AFTER_MS: '600000' }); // the old side never replaces it itself
    const refund = await requestRefund(before);
    const fromBlock = await chain.blockNumber();
    await chain.rpc('evm_setAutomine', [false]); // the old wallet's payout waits in the pool
    await before.refundClient.approve(refund.ref, { by: 'admin-1' });
    const signed = await firstBroadcast(before, refund.subscriptionId);
    const oldWallet = before.treasury.address;
    await stop(before);

    const after = await restartWithNewKey(before, { PAYOUT_STUCK_AFTER_MS: '1000' });
    expect(after.treasury.address).not.toBe(oldWallet);
    // Past PAYOUT_STUCK_AFTER_MS the new side acts on the old round: it either signs something for it or alerts.
    await waitFor(async () => ((await after.ledger.attemptsOf(refund.subscriptionId)).length > 1 || alertsOf(after, 'treasury.old_wallet_payout').length > 0 ? true : undefined), {
      what: 'the new payout side acting on the unmined old-wallet payout',
      timeoutMs: 60_000,
    });

    await chain.rpc('evm_setAutomine', [true]);
    await chain.rpc('evm_setIntervalMining', [1]);
    await completed(after, refund.refundId);
    await chain.mine(2);

    const transfers = await chain.nativeTransfersTo(refund.wallet, fromBlock);
    expect(transfers.map((transfer) => transfer.value)).toEqual([refund.amount]);
    expect(transfers[0]!.hash).toBe(signed.txHash);
    expect(await chain.provider.getBalance(refund.wallet)).toBe(refund.amount);
    const attempts = await after.ledger.attemptsOf(refund.subscriptionId);
    expectEachSignedByItsWallet(attempts);
    expect(attempts.map((attempt) => attempt.from)).toEqual([oldWallet]);

    const [alert] = alertsOf(after, 'treasury.old_wallet_payout');
    expect(alert?.data).toMatchObject({ from: oldWallet, nonce: signed.nonce, refundId: refund.refundId, txHash: signed.txHash });
    expect((await after.treasuryStore.openAlerts()).map((open) => open.type)).not.toContain('treasury.old_wallet_payout'); // cleared by the verdict
  }, 180_000);

  test('an old-wallet payout the node refuses for funds is never filled with the new key; funding the old wallet pays it, once', async () => {
    const before = await start({ PAYOUT_STUCK_AFTER_MS: '600000' }); // the old side never replaces it itself
    const refund = await requestRefund(before);
    const fromBlock = await chain.blockNumber();
    await chain.rpc('evm_setAutomine', [false]);
    await before.refundClient.approve(refund.ref, { by: 'admin-1' });
    const signed = await firstBroadcast(before, refund.subscriptionId);
    const oldWallet = before.treasury.address;
    await stop(before);
    // The old wallet was drained to gas money after the key change, and its payout left the pool.
    await chain.rpc('anvil_dropTransaction', [signed.txHash]);
    await chain.rpc('anvil_setBalance', [oldWallet, ethers.toQuantity(GWEI * 1_000_000n)]); // 0.001 ETH

    const after = await restartWithNewKey(before, { PAYOUT_STUCK_AFTER_MS: '1000' });
    await waitFor(async () => ((await after.ledger.attemptsOf(refund.subscriptionId)).length > 1 || alertsOf(after, 'treasury.old_wallet_payout').length > 0 ? true : undefined), {
      what: 'the new payout side acting on the old-wallet payout the node refuses',
      timeoutMs: 60_000,
    });
    await chain.rpc('evm_setAutomine', [true]);
    await chain.rpc('evm_setIntervalMining', [1]);

    // Later the old wallet is funded again; its signed payout is valid and anyone may send it.
    await chain.rpc('anvil_setBalance', [oldWallet, ethers.toQuantity(10n * 10n ** 18n)]);
    await chain.rpc('eth_sendRawTransaction', [signed.rawTransaction]).catch(() => undefined);
    await completed(after, refund.refundId);
    await chain.mine(3);

    const transfers = await chain.nativeTransfersTo(refund.wallet, fromBlock);
    expect(transfers.map((transfer) => transfer.value)).toEqual([refund.amount]);
    expect(await chain.provider.getBalance(refund.wallet)).toBe(refund.amount);
    const attempts = await after.ledger.attemptsOf(refund.subscriptionId);
    expectEachSignedByItsWallet(attempts);
    expect(attempts.map((attempt) => [attempt.kind, attempt.from])).toEqual([['payout', oldWallet]]);
    const [alert] = alertsOf(after, 'treasury.old_wallet_payout');
    expect(alert?.data).toMatchObject({ from: oldWallet, nonce: signed.nonce });
    expect(String(alert?.data.message)).toMatch(/insufficient funds/);
  }, 180_000);

  test('an old-wallet payout cancelled by the old key holder is paid from the new wallet once the cancellation is final, once', async () => {
    const before = await start({ PAYOUT_STUCK_AFTER_MS: '600000' }); // the old side never replaces it itself
    const refund = await requestRefund(before);
    const fromBlock = await chain.blockNumber();
    await chain.rpc('evm_setAutomine', [false]);
    await before.refundClient.approve(refund.ref, { by: 'admin-1' });
    const signed = await firstBroadcast(before, refund.subscriptionId);
    const oldKey = new ethers.Wallet(before.env.TREASURY_PRIVATE_KEY, chain.provider);
    await stop(before);

    const after = await restartWithNewKey(before, { PAYOUT_STUCK_AFTER_MS: '1000' });
    // RUNBOOK §2.11: the old key holder cancels the payout with a 0-value transfer to itself at its nonce, at higher fees.
    const cancel = await oldKey.signTransaction({ to: oldKey.address, value: 0n, nonce: signed.nonce, gasLimit: 21_000n, chainId: 31337, type: 2, maxFeePerGas: 100n * GWEI, maxPriorityFeePerGas: 10n * GWEI });
    await chain.rpc('eth_sendRawTransaction', [cancel]);
    await chain.rpc('evm_setAutomine', [true]);
    await chain.rpc('evm_setIntervalMining', [1]);

    await completed(after, refund.refundId);
    await chain.mine(2);
    const transfers = await chain.nativeTransfersTo(refund.wallet, fromBlock);
    expect(transfers.map((transfer) => transfer.value)).toEqual([refund.amount]);
    expect((await chain.provider.getTransaction(transfers[0]!.hash))!.from).toBe(after.treasury.address);
    const attempts = await after.ledger.attemptsOf(refund.subscriptionId);
    expectEachSignedByItsWallet(attempts);
    expect(attempts[0]).toMatchObject({ from: oldKey.address, nonce: signed.nonce, status: 'dropped' });
    expect(new Set(attempts.slice(1).map((attempt) => attempt.from))).toEqual(new Set([after.treasury.address]));
    expect(attempts.filter((attempt) => attempt.status === 'confirmed').map((attempt) => attempt.txHash)).toEqual([transfers[0]!.hash]);
    expect(await after.refunds.findById(refund.refundId)).toMatchObject({ transactionId: transfers[0]!.hash });
    // The claim names the wallet of its last round: the new wallet's funds check and in-flight count read claims by wallet.
    expect(await after.ledger.findClaim(refund.subscriptionId)).toMatchObject({ status: 'confirmed', from: after.treasury.address });
  }, 180_000);
});
