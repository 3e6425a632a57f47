import { ethers } from 'ethers';
import { Types } from 'mongoose';
import { createLogger } from '../../src/logger';
import { BlockedQueue } from '../../src/payout/blocked-queue';
import { TreasuryAlerts } from '../../src/payout/treasury-alerts';
import type { PayoutAttemptRecord } from '../../src/persistence/payout-ledger';
import { PASS, pruningState } from '../support/rpc-proxy';
import { startDedicatedChain, type DedicatedChain } from '../support/dedicated-chain';
import { startRefundStack, type RefundStack } from '../support/refund-stack';
import { waitFor } from '../support/wait';

const GWEI = 1_000_000_000n;
const ETH = 10n ** 18n;

/**
 * What the payout watcher does while a payout is not mined: node refusals it
 * does not know, nonce gaps, payouts queued behind an earlier nonce, fillers,
 * and the alerts it raises and clears. Real anvil behind the JSON-RPC proxy,
 * real worker and store.
 */
describe('the payout watcher', () => {
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

  async function start(env: Record<string, string> = {}) {
    stack = await startRefundStack({ chainUrl: chain.proxy.url, env });
    return stack;
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

  async function openAlertTypes(s: RefundStack) {
    return (await s.treasuryStore.openAlerts()).map((alert) => alert.type as string);
  }

  function webhookAlert(s: RefundStack, type: string, timeoutMs = 60_000) {
    return s.webhooks.waitFor((request) => (request.json as { type?: string })?.type === type, timeoutMs).then((request) => (request.json as { data: Record<string, unknown> }).data);
  }

  /**
   * A payout of another subscription, signed and persisted at the wallet's next
   * nonce but never sent: its worker died between the two, and nothing watches it.
   */
  async function signedButNeverSent(s: RefundStack, fees?: { maxFeePerGas: bigint; maxPriorityFeePerGas: bigint }) {
    const { chainId, address: from, wallet } = s.treasury;
    const nonce = Math.max(await chain.provider.getTransactionCount(from, 'pending'), await s.ledger.nextNonce(chainId, from));
    const subscriptionId = new Types.ObjectId().toHexString();
    const refundId = `rf_${subscriptionId}`;
    const to = ethers.Wallet.createRandom().address;
    const amount = ETH / 10n;
    const feeData = await chain.provider.getFeeData();
    const offered = fees ?? { maxFeePerGas: feeData.maxFeePerGas!, maxPriorityFeePerGas: feeData.maxPriorityFeePerGas! };
    const rawTransaction = await wallet.signTransaction({ to, value: amount, data: '0x', chainId, type: 2, nonce, gasLimit: 21_000n, ...offered });
    await s.ledger.claim(subscriptionId, { refundId, chainId, from, to, amount: amount.toString(), tokenAddress: null });
    expect(await s.ledger.reserveNonce(chainId, from, nonce, { subscriptionId, refundId })).toBe(true);
    const attempt = await s.ledger.recordAttempt({
      _id: `${subscriptionId}:1`,
      subscriptionId,
      refundId,
      attempt: 1,
      kind: 'payout',
      chainId,
      from,
      to,
      amount: amount.toString(),
      tokenAddress: null,
      nonce,
      rawTransaction,
      txHash: ethers.Transaction.from(rawTransaction).hash!,
      signedAtBlock: await chain.blockNumber(),
    });
    await s.ledger.raiseNextNonce(chainId, from, nonce + 1);
    await s.ledger.openRound(attempt, { reservedWei: amount + 21_000n * offered.maxFeePerGas, reservedTokens: 0n });
    return { attempt, to, amount };
  }

  /** Counts every eth_sendRawTransaction by transaction hash; `refuse` answers some of them with a node's error. */
  function watchBroadcasts(refuse: (tx: ethers.Transaction, forward: (method: string, params: unknown[]) => Promise<unknown>) => Promise<string | null> | string | null = () => null) {
    const sent = new Map<string, number>();
    chain.proxy.intercept(async (call, forward) => {
      if (call.method !== 'eth_sendRawTransaction') return PASS;
      const tx = ethers.Transaction.from(call.params[0] as string);
      sent.set(tx.hash!, (sent.get(tx.hash!) ?? 0) + 1);
      const refusal = await refuse(tx, (method, params) => forward({ method, params }));
      return refusal === null ? PASS : { error: { code: -32000, message: refusal } };
    });
    return { sentTimes: (hash: string) => sent.get(hash) ?? 0 };
  }

  test('a node that refuses nonce gaps ("nonce too high") gets the missing earlier nonce sent again, and both payouts are mined', async () => {
    // Replacements and the help given after PAYOUT_STUCK_AFTER_MS stay out of the way: only the refusal can lead to the earlier nonce.
    const s = await start({ PAYOUT_STUCK_AFTER_MS: '600000' });
    const earlier = await signedButNeverSent(s);
    // A sequencer that refuses any transaction past the sender's next nonce.
    watchBroadcasts(async (tx, forward) => {
      const next = Number(await forward('eth_getTransactionCount', [tx.from, 'pending']));
      return tx.nonce > next ? `nonce too high: address ${tx.from}, tx: ${tx.nonce} state: ${next}` : null;
    });
    const refund = await requestRefund(s);
    const fromBlock = await chain.blockNumber();

    await s.refundClient.approve(refund.ref, { by: 'admin-1' });
    const receipt = await waitFor(() => chain.provider.getTransactionReceipt(earlier.attempt.txHash).then((found) => found ?? undefined), { what: 'the earlier nonce sent and mined', timeoutMs: 60_000 });
    expect(receipt.status).toBe(1);
    await expect(s.refundClient.result(refund.ref)).resolves.toMatchObject({ outcome: 'completed' });

    expect(await chain.provider.getBalance(earlier.to)).toBe(earlier.amount);
    const transfers = await chain.nativeTransfersTo(refund.wallet, fromBlock);
    expect(transfers.map((transfer) => [transfer.value, transfer.nonce])).toEqual([[refund.amount, earlier.attempt.nonce + 1]]);
    expect(await s.ledger.attemptsOf(refund.subscriptionId)).toHaveLength(1);
  }, 180_000);

  test('a refusal the watcher cannot act on is recorded and alerted after it repeats; the payout goes out once the node accepts it', async () => {
    const s = await start();
    let refusing = true;
    watchBroadcasts(() => (refusing ? 'tx fee (1.50 ether) exceeds the configured cap (1.00 ether)' : null));
    const refund = await requestRefund(s);
    const fromBlock = await chain.blockNumber();

    await s.refundClient.approve(refund.ref, { by: 'admin-1' });
    const alert = await webhookAlert(s, 'treasury.payout_refused');
    const [attempt] = await s.ledger.attemptsOf(refund.subscriptionId);
    expect(alert).toMatchObject({ refundId: refund.refundId, nonce: attempt!.nonce, txHash: attempt!.txHash });
    expect(String(alert.message)).toMatch(/exceeds the configured cap/);
    expect(attempt!.lastBroadcastError).toMatch(/exceeds the configured cap/);

    refusing = false;
    await expect(s.refundClient.result(refund.ref)).resolves.toMatchObject({ outcome: 'completed' });
    const transfers = await chain.nativeTransfersTo(refund.wallet, fromBlock);
    expect(transfers.map((transfer) => transfer.value)).toEqual([refund.amount]);
    expect(await openAlertTypes(s)).not.toContain('treasury.payout_refused');
  }, 180_000);

  test('payouts queued behind an earlier nonce nothing moves are not replaced: one alert names that nonce, and they are mined as first signed once it goes through', async () => {
    const s = await start({ PAYOUT_STUCK_AFTER_MS: '1000' });
    const baseFee = (await chain.provider.getBlock('pending'))!.baseFeePerGas!;
    // The earlier payout offers less than the base fee: the node refuses it, and nothing watches it to replace it.
    const earlier = await signedButNeverSent(s, { maxFeePerGas: baseFee / 2n, maxPriorityFeePerGas: baseFee / 4n });
    const broadcasts = watchBroadcasts();
    const refunds = [await requestRefund(s), await requestRefund(s)];
    const fromBlock = await chain.blockNumber();

    for (const refund of refunds) await s.refundClient.approve(refund.ref, { by: 'admin-1' });
    const firsts = await Promise.all(refunds.map((refund) => firstBroadcast(s, refund.subscriptionId)));
    expect(firsts.map((first) => first.nonce).sort((a, b) => a - b)).toEqual([earlier.attempt.nonce + 1, earlier.attempt.nonce + 2]);
    // Well past PAYOUT_STUCK_AFTER_MS: the watchers have sent the earlier nonce again several times.
    await waitFor(() => (broadcasts.sentTimes(earlier.attempt.txHash) >= 3 ? true : undefined), { what: 'the earlier nonce sent again three times', timeoutMs: 60_000 });
    const alert = await webhookAlert(s, 'treasury.payout_stuck');
    expect(alert).toMatchObject({ blockedNonce: earlier.attempt.nonce, blockingRefundId: earlier.attempt.refundId, blockingTxHash: earlier.attempt.txHash });
    expect(refunds.map((refund) => refund.refundId)).toContain(alert.refundId);
    expect(String(alert.message)).toMatch(new RegExp(`wait behind nonce ${earlier.attempt.nonce}, .*refund ${earlier.attempt.refundId}`));
    // Both waiting payouts saw it; a person is told once, and neither payout is replaced.
    await new Promise((resolve) => setTimeout(resolve, 3_000));
    expect(s.webhooks.requests.filter((request) => (request.json as { type?: string })?.type === 'treasury.payout_stuck')).toHaveLength(1);
    expect((await s.treasuryStore.openAlerts()).map((open) => [open.type, open.details.blockedNonce])).toEqual([['treasury.payout_stuck', earlier.attempt.nonce]]);
    for (const [i, refund] of refunds.entries()) expect((await s.ledger.attemptsOf(refund.subscriptionId)).map((attempt) => attempt.txHash)).toEqual([firsts[i]!.txHash]);

    // Fees fall under what the earlier payout offers: it is accepted, the ones behind it follow, and the alert closes.
    await chain.rpc('anvil_setNextBlockBaseFeePerGas', [ethers.toQuantity(baseFee / 8n)]);
    await chain.mine(1);
    await chain.rpc('evm_setIntervalMining', [1]);
    for (const [i, refund] of refunds.entries()) {
      await expect(s.refundClient.result(refund.ref)).resolves.toMatchObject({ outcome: 'completed' });
      const transfers = await chain.nativeTransfersTo(refund.wallet, fromBlock);
      expect(transfers.map((transfer) => [transfer.value, transfer.hash])).toEqual([[refund.amount, firsts[i]!.txHash]]);
      expect((await s.ledger.attemptsOf(refund.subscriptionId)).map((attempt) => attempt.txHash)).toEqual([firsts[i]!.txHash]);
    }
    expect(await chain.provider.getBalance(earlier.to)).toBe(earlier.amount);
    expect(await openAlertTypes(s)).not.toContain('treasury.payout_stuck');
  }, 180_000);

  test('an alert about a blocking nonce that a stopped watcher left open closes at the next reading that finds that nonce mined, and no other alert does', async () => {
    const s = await start();
    const logger = createLogger('silent');
    const deps = { ledger: s.ledger, treasury: s.treasury, logger, store: s.treasuryStore, alerts: new TreasuryAlerts(s.treasuryStore, async () => undefined, logger) };
    const { chainId, address } = s.treasury;
    const wallet = address.toLowerCase();
    const keys = {
      minedSince: `${chainId}:${wallet}:3:blocks-queue`,
      stillBlocking: `${chainId}:${wallet}:5:blocks-queue`,
      feeCapOfThatNonce: `${chainId}:${address}:3`,
      otherWallet: `${chainId}:${ethers.Wallet.createRandom().address.toLowerCase()}:3:blocks-queue`,
    };
    for (const key of Object.values(keys)) await s.treasuryStore.raiseAlert({ type: 'treasury.payout_stuck', key, message: 'left open', details: {} });

    const waiting = { from: address, nonce: 9, refundId: 'rf_waiting', subscriptionId: 'waiting', txHash: '0x01' } as PayoutAttemptRecord;
    await new BlockedQueue(deps, waiting, () => Date.now()).observe(5);

    expect((await s.treasuryStore.openAlerts()).map((alert) => alert.key).sort()).toEqual([keys.stillBlocking, keys.feeCapOfThatNonce, keys.otherWallet].sort());
  }, 60_000);

  test('a filler replaced with higher fees is the one sent again, not the first filler', async () => {
    const s = await start({ PAYOUT_STUCK_AFTER_MS: '1000' });
    // The node refuses the payout for funds (it never reaches the pool): its nonce is filled.
    const broadcasts = watchBroadcasts((tx) => (tx.value > 0n ? 'insufficient funds for gas * price + value' : null));
    const refund = await requestRefund(s);
    const fromBlock = await chain.blockNumber();
    await chain.rpc('evm_setAutomine', [false]);

    await s.refundClient.approve(refund.ref, { by: 'admin-1' });
    const firstFiller = await waitFor(async () => (await s.ledger.attemptsOf(refund.subscriptionId)).find((attempt) => attempt.kind === 'filler' && attempt.broadcasts > 0), { what: 'a filler sent' });
    // A fee spike outbids the filler: it is replaced.
    await chain.rpc('anvil_setNextBlockBaseFeePerGas', [ethers.toQuantity(ethers.Transaction.from(firstFiller.rawTransaction).maxFeePerGas! * 10n)]);
    await chain.mine(1);
    const newest = await waitFor(async () => (await s.ledger.attemptsOf(refund.subscriptionId)).filter((attempt) => attempt.kind === 'filler').at(1), { what: 'the filler replaced' });
    expect(ethers.Transaction.from(newest.rawTransaction).maxFeePerGas!).toBeGreaterThan(ethers.Transaction.from(firstFiller.rawTransaction).maxFeePerGas!);
    await waitFor(() => (broadcasts.sentTimes(newest.txHash) >= 3 ? true : undefined), { what: 'the newest filler sent again', timeoutMs: 30_000 });

    chain.proxy.intercept(null);
    await chain.rpc('evm_setAutomine', [true]);
    await chain.rpc('evm_setIntervalMining', [1]);
    await expect(s.refundClient.result(refund.ref)).resolves.toMatchObject({ outcome: 'completed' });
    const transfers = await chain.nativeTransfersTo(refund.wallet, fromBlock);
    expect(transfers.map((transfer) => transfer.value)).toEqual([refund.amount]);
  }, 180_000);

  test('treasury.payout_stuck for a nonce that another transaction took is cleared once that is final', async () => {
    const s = await start({ PAYOUT_STUCK_AFTER_MS: '1000', PAYOUT_FEE_BUMP_PERCENT: '50', PAYOUT_MAX_FEE_PER_GAS: '20 gwei' });
    const refund = await requestRefund(s);
    const fromBlock = await chain.blockNumber();
    await chain.rpc('evm_setAutomine', [false]);
    await s.refundClient.approve(refund.ref, { by: 'admin-1' });
    const first = await firstBroadcast(s, refund.subscriptionId);
    await chain.rpc('anvil_setNextBlockBaseFeePerGas', [ethers.toQuantity(100n * GWEI)]);
    await chain.mine(1);
    expect(await webhookAlert(s, 'treasury.payout_stuck')).toMatchObject({ nonce: first.nonce });

    // The key holder takes the nonce by hand (RUNBOOK §2.6): a 0-value transfer to the treasury itself, at fees that pass.
    const key = new ethers.Wallet(s.env.TREASURY_PRIVATE_KEY, chain.provider);
    const cancel = await key.signTransaction({ to: key.address, value: 0n, nonce: first.nonce, gasLimit: 21_000n, chainId: 31337, type: 2, maxFeePerGas: 300n * GWEI, maxPriorityFeePerGas: 10n * GWEI });
    await chain.rpc('eth_sendRawTransaction', [cancel]);
    await chain.rpc('anvil_setNextBlockBaseFeePerGas', [ethers.toQuantity(GWEI)]);
    await chain.mine(1);
    await chain.rpc('evm_setAutomine', [true]);
    await chain.rpc('evm_setIntervalMining', [1]);

    await expect(s.refundClient.result(refund.ref)).resolves.toMatchObject({ outcome: 'completed' });
    expect((await s.ledger.attemptsOf(refund.subscriptionId))[0]).toMatchObject({ nonce: first.nonce, status: 'dropped' });
    const transfers = await chain.nativeTransfersTo(refund.wallet, fromBlock);
    expect(transfers.map((transfer) => transfer.value)).toEqual([refund.amount]);
    expect(await openAlertTypes(s)).not.toContain('treasury.payout_stuck');
  }, 180_000);

  test('a nonce taken by a transaction the node cannot find (it keeps no old state) is alerted, and nothing is signed again until it is found', async () => {
    const s = await start({ PAYOUT_STUCK_AFTER_MS: '1000' });
    const refund = await requestRefund(s);
    const fromBlock = await chain.blockNumber();
    await chain.rpc('evm_setAutomine', [false]);
    await s.refundClient.approve(refund.ref, { by: 'admin-1' });
    const first = await firstBroadcast(s, refund.subscriptionId);

    // The node answers nonce counts for its newest block only; the key holder takes the payout's nonce by hand.
    chain.proxy.intercept(pruningState(1));
    const key = new ethers.Wallet(s.env.TREASURY_PRIVATE_KEY, chain.provider);
    const cancel = await key.signTransaction({ to: key.address, value: 0n, nonce: first.nonce, gasLimit: 21_000n, chainId: 31337, type: 2, maxFeePerGas: 300n * GWEI, maxPriorityFeePerGas: 10n * GWEI });
    await chain.rpc('eth_sendRawTransaction', [cancel]);
    await chain.mine(3);
    const alert = await webhookAlert(s, 'treasury.payout_stuck');
    expect(alert).toMatchObject({ nonce: first.nonce, txHash: first.txHash });
    expect(String(alert.message)).toMatch(/counts nonce \d+ of 0x[0-9a-fA-F]{40} as used, yet the transaction at that nonce cannot be found/);
    expect(await s.ledger.attemptsOf(refund.subscriptionId)).toHaveLength(1);

    // An archive node behind the same URL: the transaction at the nonce is found, and the payout goes out at a new one.
    chain.proxy.intercept(null);
    await chain.rpc('evm_setAutomine', [true]);
    await chain.rpc('evm_setIntervalMining', [1]);
    await expect(s.refundClient.result(refund.ref)).resolves.toMatchObject({ outcome: 'completed' });
    expect((await s.ledger.attemptsOf(refund.subscriptionId))[0]).toMatchObject({ nonce: first.nonce, status: 'dropped' });
    expect((await chain.nativeTransfersTo(refund.wallet, fromBlock)).map((transfer) => transfer.value)).toEqual([refund.amount]);
    expect(await openAlertTypes(s)).not.toContain('treasury.payout_stuck');
  }, 180_000);

  test('treasury.low_balance raised because a nonce could not even be filled is cleared once the filler is accepted', async () => {
    const s = await start();
    // The node refuses the payout and, at first, the filler too: the treasury looks unable to pay any gas.
    watchBroadcasts(() => 'insufficient funds for gas * price + value');
    const refund = await requestRefund(s);
    const fromBlock = await chain.blockNumber();

    await s.refundClient.approve(refund.ref, { by: 'admin-1' });
    const alert = await webhookAlert(s, 'treasury.low_balance');
    expect(String(alert.message)).toMatch(/cannot even pay the gas to fill nonce/);
    expect(await openAlertTypes(s)).toContain('treasury.low_balance');

    chain.proxy.intercept(null); // topped up
    await expect(s.refundClient.result(refund.ref)).resolves.toMatchObject({ outcome: 'completed' });
    const transfers = await chain.nativeTransfersTo(refund.wallet, fromBlock);
    expect(transfers.map((transfer) => transfer.value)).toEqual([refund.amount]);
    expect(await openAlertTypes(s)).not.toContain('treasury.low_balance');
  }, 180_000);
});
