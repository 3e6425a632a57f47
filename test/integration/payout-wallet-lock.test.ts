import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { createWebhookActivities } from '../../activities/webhook';
import { createLogger } from '../../src/logger';
import type { PayoutRequest } from '../../src/domain/payout';
import { PayoutPreparer, type PreparedPayout } from '../../src/payout/prepare';
import { TreasuryAlerts } from '../../src/payout/treasury-alerts';
import { PayoutLedger, spendBucketKey, walletKey } from '../../src/persistence/payout-ledger';
import { startDedicatedChain, type DedicatedChain } from '../support/dedicated-chain';
import { PASS } from '../support/rpc-proxy';
import { startRefundStack, type RefundStack } from '../support/refund-stack';
import { waitFor } from '../support/wait';

const ETH = 10n ** 18n;

/**
 * The wallet lock serialises funds checks, nonce allocation and daily spend
 * across worker processes. Its lease must not run out under a holder that is
 * still working (a slow RPC call, a paused process), and a holder that lost it
 * anyway must not write. Two workers here are two ledgers and preparers, each
 * with its own in-process queue, sharing the real store and a real anvil
 * behind a JSON-RPC proxy that can hold calls.
 */
describe('the wallet lock under slow calls', () => {
  let chain: DedicatedChain;
  let stack: RefundStack | undefined;
  const releases: (() => void)[] = [];

  beforeEach(async () => {
    chain = await startDedicatedChain();
  }, 60_000);
  afterEach(async () => {
    for (const release of releases.splice(0)) release();
    chain.proxy.intercept(null);
    await stack?.close();
    stack = undefined;
    await chain.stop();
  });

  /** Holds calls of `method` (once armed) until released. */
  function holdCalls(method: string) {
    let holding = true;
    const held: (() => void)[] = [];
    chain.proxy.intercept(async (call) => {
      if (call.method === method && holding) await new Promise<void>((resolve) => held.push(resolve));
      return PASS;
    });
    const release = () => {
      holding = false;
      for (const resume of held.splice(0)) resume();
    };
    releases.push(release);
    return {
      get count() {
        return held.length;
      },
      release,
    };
  }

  /** A worker process as the payout engine sees it: its own ledger (and in-process lock queue), the shared store and chain; every entry to and exit from its locked section is logged. */
  function worker(s: RefundStack, name: string, sections: string[], sendWebhook = createWebhookActivities(s.config.webhook, createLogger('silent')).sendAdminWebhook) {
    const logger = createLogger('silent');
    const ledger = new PayoutLedger(s.mongo);
    const withWalletLock = ledger.withWalletLock.bind(ledger);
    ledger.withWalletLock = (wallet, owner, critical, options) =>
      withWalletLock(
        wallet,
        owner,
        async (...lease: Parameters<typeof critical>) => {
          sections.push(`${name} enters`);
          try {
            return await critical(...lease);
          } finally {
            sections.push(`${name} exits`);
          }
        },
        options,
      );
    const preparer = new PayoutPreparer({
      ledger,
      treasury: s.treasury,
      logger,
      store: s.treasuryStore,
      alerts: new TreasuryAlerts(s.treasuryStore, sendWebhook, logger),
      dailyLimits: s.config.payoutLimits.dailyLimit,
      workerId: name,
    });
    return { ledger, preparer };
  }

  async function payoutRequest(s: RefundStack, amount: bigint): Promise<PayoutRequest> {
    const subscription = await s.insertSubscription();
    return { refundId: `rf_${subscription.subscriptionId}`, subscriptionId: subscription.subscriptionId, to: subscription.wallet, amount: amount.toString(), currency: { symbol: 'ETH', decimals: 18, tokenAddress: null } };
  }

  /** Prepares until it answers, as Temporal retries an activity that failed for infrastructure. */
  async function prepareUntilAnswered(preparer: PayoutPreparer, request: PayoutRequest): Promise<PreparedPayout> {
    for (;;) {
      try {
        return await preparer.prepare(request);
      } catch (error) {
        if ((error as Error).name === 'PayoutFailure') throw error;
        await new Promise((resolve) => setTimeout(resolve, 500));
      }
    }
  }

  /** The daily limit's buckets: one per hour of the last 24. */
  function lastDayBuckets(s: RefundStack, currency: PayoutRequest['currency']): string[] {
    return Array.from({ length: 24 }, (_, hoursAgo) => spendBucketKey(s.treasury.chainId, currency, new Date(Date.now() - hoursAgo * 3_600_000)));
  }

  /** The most sections open at once in the log. */
  function mostOpenAtOnce(sections: string[]): number {
    let open = 0;
    let most = 0;
    for (const entry of sections) {
      open += entry.endsWith('enters') ? 1 : -1;
      most = Math.max(most, open);
    }
    return most;
  }

  test('a 40 s freeze of eth_getBalance inside the lock: the two workers\' locked sections never overlap, and the daily spend is their sum', async () => {
    const s = (stack = await startRefundStack({ chainUrl: chain.proxy.url, worker: false, env: { PAYOUT_DAILY_LIMIT: 'ETH=100' } }));
    const sections: string[] = [];
    const [a, b] = [worker(s, 'a', sections), worker(s, 'b', sections)];
    const [first, second] = [await payoutRequest(s, ETH), await payoutRequest(s, 2n * ETH)];

    // The funds check reads the balance under the lock; the node stops answering it for 40 s.
    const frozen = holdCalls('eth_getBalance');
    const thaw = setTimeout(frozen.release, 40_000);
    releases.push(() => clearTimeout(thaw));
    const prepared = await Promise.all([prepareUntilAnswered(a.preparer, first), prepareUntilAnswered(b.preparer, second)]);

    expect(mostOpenAtOnce(sections)).toBe(1);
    expect(prepared.map((payout) => payout.kind)).toEqual(['round', 'round']);
    const nonces = prepared.map((payout) => (payout.kind === 'round' ? payout.attempt.nonce : -1));
    expect(new Set(nonces).size).toBe(2);
    expect(await a.ledger.spentIn(lastDayBuckets(s, first.currency))).toBe(3n * ETH);
  }, 240_000);

  test('a holder whose lease was taken while it was paused records nothing: two payouts never share a nonce', async () => {
    const s = (stack = await startRefundStack({ chainUrl: chain.proxy.url, worker: false }));
    const sections: string[] = [];
    const [a, b] = [worker(s, 'a', sections), worker(s, 'b', sections)];
    const [first, second] = [await payoutRequest(s, ETH), await payoutRequest(s, ETH)];

    // a reserves a nonce and signs, then waits for the head block read (a paused process, a slow node)...
    const slowHead = holdCalls('eth_blockNumber');
    const paused = prepareUntilAnswered(a.preparer, first);
    paused.catch(() => undefined);
    await waitFor(() => (slowHead.count > 0 ? true : undefined), { what: 'a signed, waiting for the head block' });
    // ...long enough for its lease to run out and b to take the lock over.
    await s.mongo.collection('walletlocks').deleteOne({ _id: walletKey(s.treasury.chainId, s.treasury.address) as never });
    const taken = prepareUntilAnswered(b.preparer, second);
    await waitFor(() => (slowHead.count > 1 ? true : undefined), { what: 'b signed too, waiting for the head block' });
    slowHead.release();
    await Promise.all([paused, taken]);

    const attempts = [...(await s.ledger.attemptsOf(first.subscriptionId)), ...(await s.ledger.attemptsOf(second.subscriptionId))];
    expect(attempts).toHaveLength(2);
    expect(new Set(attempts.map((attempt) => attempt.nonce)).size).toBe(2);
    for (const attempt of attempts) expect(await s.ledger.nonceOwner(s.treasury.chainId, s.treasury.address, attempt.nonce)).toBe(attempt.subscriptionId);
  }, 240_000);

  test('spend recorded by two workers at once is never lost', async () => {
    const s = (stack = await startRefundStack({ chainUrl: chain.proxy.url, worker: false }));
    const ledgers = [new PayoutLedger(s.mongo), new PayoutLedger(s.mongo)];
    const [bucket] = lastDayBuckets(s, { symbol: 'ETH', decimals: 18, tokenAddress: null });
    await Promise.all(Array.from({ length: 20 }, (_, i) => ledgers[i % 2]!.recordSpend(bucket!, `sub-${i}:1`, ETH)));
    expect(await ledgers[0]!.spentIn([bucket!])).toBe(20n * ETH);
    // Recording a payout's spend again (a retry after a crash) counts it once.
    await ledgers[1]!.recordSpend(bucket!, 'sub-0:1', ETH);
    expect(await ledgers[0]!.spentIn([bucket!])).toBe(20n * ETH);
  }, 60_000);

  test('the daily-limit alert is sent once the wallet lock is released, not while holding it', async () => {
    const s = (stack = await startRefundStack({ chainUrl: chain.proxy.url, worker: false, env: { PAYOUT_DAILY_LIMIT: 'ETH=1' } }));
    const lockKey = walletKey(s.treasury.chainId, s.treasury.address);
    const lockHeldWhenAlerted: boolean[] = [];
    const receiver = http.createServer((req, res) => {
      req.resume();
      req.on('end', async () => {
        lockHeldWhenAlerted.push((await s.mongo.collection('walletlocks').findOne({ _id: lockKey as never })) !== null);
        res.writeHead(200).end('{}');
      });
    });
    await new Promise<void>((resolve) => receiver.listen(0, '127.0.0.1', resolve));
    releases.push(() => receiver.close());
    const url = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}/hooks`;
    const sendWebhook = createWebhookActivities({ ...s.config.webhook, url }, createLogger('silent')).sendAdminWebhook;
    const sections: string[] = [];
    const [a, b] = [worker(s, 'a', sections, sendWebhook), worker(s, 'b', sections, sendWebhook)];
    const [first, second] = [await payoutRequest(s, (6n * ETH) / 10n), await payoutRequest(s, (6n * ETH) / 10n)];

    // Both pass the limit check before the lock (nothing spent yet); the first in the lock is held there until the other waits for it.
    const slowBalance = holdCalls('eth_getBalance');
    const results = Promise.all([a.preparer.prepare(first), b.preparer.prepare(second)]);
    await waitFor(() => (slowBalance.count > 0 && (chain.proxy.counts.get('eth_estimateGas') ?? 0) >= 2 ? true : undefined), { what: 'one in the lock, the other estimated and waiting' });
    slowBalance.release();

    expect((await results).map((prepared) => prepared.kind).sort()).toEqual(['limited', 'round']);
    await waitFor(() => (lockHeldWhenAlerted.length > 0 ? true : undefined), { what: 'the treasury.daily_limit alert' });
    expect(lockHeldWhenAlerted).toEqual([false]);
  }, 120_000);
});
