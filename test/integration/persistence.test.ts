import mongoose, { type Connection } from 'mongoose';
import { migrate } from '../../src/persistence/migrate';
import { PayoutClaimedByAnotherRefund, PayoutLedger, spendBucketKey } from '../../src/persistence/payout-ledger';
import { RefundRepository, RefundTransitionConflict } from '../../src/persistence/refund-repository';
import { refundView, subscriptionDoc } from '../support/fixtures';
import { uniqueMongoUri } from '../support/services';
import { sleep } from '../support/wait';

const DOCUMENTED_REFUND_INDEXES = [
  { subscriptionId: 1 },
  { userId: 1 },
  { creatorId: 1 },
  { refundStatus: 1 },
  { createdAt: 1 },
  { subscriptionId: 1, refundStatus: 1 },
  { creatorId: 1, refundStatus: 1 },
  { userId: 1, createdAt: -1 },
  { transactionId: 1 },
];

describe('MongoDB persistence (real MongoDB-protocol server)', () => {
  let connection: Connection;
  let refunds: RefundRepository;

  beforeAll(async () => {
    connection = await mongoose.createConnection(uniqueMongoUri('persistence')).asPromise();
    refunds = new RefundRepository(connection);
  });
  afterAll(async () => {
    await connection.db?.dropDatabase();
    await connection.close();
  });

  describe('migrate', () => {
    test('creates exactly the documented indexes, backfills missing fields, and changes nothing on a second run', async () => {
      const subscriptions = connection.db!.collection('subscriptions');
      const legacy = subscriptionDoc();
      delete (legacy as Record<string, unknown>).refundEligible;
      delete (legacy as Record<string, unknown>).refundWindowDays;
      delete (legacy as Record<string, unknown>).isRefundApplied;
      const notRefundable = subscriptionDoc({ refundEligible: false, refundWindowDays: 7 });
      await subscriptions.insertMany([legacy, notRefundable]);

      const first = await migrate(connection);
      expect(first.backfilled).toEqual({ refundEligible: 1, refundWindowDays: 1, isRefundApplied: 1 });
      expect(first.createdIndexes).toEqual(expect.arrayContaining(['subscriptions.refundEligible_1', 'proratarefunds.transactionId_1']));
      expect(first.createdIndexes.filter((name) => name.startsWith('proratarefunds.'))).toHaveLength(DOCUMENTED_REFUND_INDEXES.length);

      const refundIndexKeys = (await connection.db!.collection('proratarefunds').indexes()).map((index) => index.key);
      const signature = (key: object) => JSON.stringify(Object.entries(key));
      const secondary = refundIndexKeys.filter((key) => signature(key) !== signature({ _id: 1 })).map(signature);
      expect(secondary.sort()).toEqual(DOCUMENTED_REFUND_INDEXES.map(signature).sort());
      const subscriptionIndexKeys = (await subscriptions.indexes()).map((index) => index.key);
      expect(subscriptionIndexKeys).toContainEqual({ refundEligible: 1 });

      const backfilled = await subscriptions.findOne({ _id: legacy._id });
      expect(backfilled).toMatchObject({ refundEligible: true, refundWindowDays: 30 });
      expect(await subscriptions.findOne({ _id: notRefundable._id })).toMatchObject({ refundEligible: false, refundWindowDays: 7 });

      const second = await migrate(connection);
      expect(second).toEqual({ createdCollections: [], createdIndexes: [], droppedIndexes: [], backfilled: { refundEligible: 0, refundWindowDays: 0, isRefundApplied: 0 }, seededStats: 0, ownersAdded: 0, rekeyedByAsset: 0 });
    });

    test('daily-limit spend and alerts keyed by a symbol as spelled move to their coin, so the limit still sees the last day', async () => {
      const older = await mongoose.createConnection(uniqueMongoUri('rekey')).asPromise();
      try {
        const db = older.db!;
        const hour = (hoursAgo: number) => new Date(Date.now() - hoursAgo * 3_600_000).toISOString().slice(0, 13);
        const usdc = '0xA0b86991c6218b36c1D19D4a2e9Eb0cE3606eB48';
        // As the previous version wrote them: one bucket per spelling of the symbol.
        await db.collection<{ _id: string; bucket: string; amount: string }>('payoutspendentries').insertMany([
          { _id: `31337:ETH:${hour(0)}/s1:1`, bucket: `31337:ETH:${hour(0)}`, amount: '5' },
          { _id: `31337:eth:${hour(0)}/s2:1`, bucket: `31337:eth:${hour(0)}`, amount: '7' },
          { _id: `31337:USDC:${usdc.toLowerCase()}:${hour(3)}/s3:1`, bucket: `31337:USDC:${usdc.toLowerCase()}:${hour(3)}`, amount: '9' },
          { _id: `31337:ETH:${hour(30)}/s4:1`, bucket: `31337:ETH:${hour(30)}`, amount: '1000' }, // out of the window: left
        ]);
        await db.collection<{ _id: string; amount: string }>('payoutspend').insertOne({ _id: `31337:Eth:${hour(0)}`, amount: '11' });
        const alerts = db.collection<{ _id: string; [field: string]: unknown }>('treasuryalerts');
        await alerts.insertOne({ _id: 'treasury.daily_limit:31337:ETH', type: 'treasury.daily_limit', key: '31337:ETH', message: 'limit', details: {}, since: new Date() });
        // Raised when the treasury cannot pay gas: it names no currency, and keeps its key.
        await alerts.insertOne({ _id: 'treasury.low_balance:31337:gas', type: 'treasury.low_balance', key: '31337:gas', message: 'gas', details: {}, since: new Date() });

        const first = await migrate(older);
        expect(first.rekeyedByAsset).toBe(5);
        const ledger = new PayoutLedger(older);
        const native = { tokenAddress: null };
        expect(await ledger.spentIn([spendBucketKey(31337, native, new Date())])).toBe(23n);
        expect(await ledger.spentIn([spendBucketKey(31337, { tokenAddress: usdc }, new Date(Date.now() - 3 * 3_600_000))])).toBe(9n);
        expect(await ledger.spentIn([spendBucketKey(31337, native, new Date(Date.now() - 30 * 3_600_000))])).toBe(0n);
        const alertKeys = async () => (await alerts.find({}).project({ _id: 1, key: 1 }).toArray()).sort((a, b) => a._id.localeCompare(b._id));
        expect(await alertKeys()).toEqual([{ _id: 'treasury.daily_limit:31337:native', key: '31337:native' }, { _id: 'treasury.low_balance:31337:gas', key: '31337:gas' }]);
        // Moved, not copied: nothing is counted twice, and only the old hour keeps its old key.
        expect((await db.collection('payoutspendentries').find({}).toArray()).map((entry) => entry.bucket).filter((bucket) => !/:(native|0x[0-9a-f]{40}):/.test(bucket))).toEqual([`31337:ETH:${hour(30)}`]);
        expect(await db.collection('payoutspend').countDocuments()).toBe(0);

        expect((await migrate(older)).rekeyedByAsset).toBe(0);
        expect(await ledger.spentIn([spendBucketKey(31337, native, new Date())])).toBe(23n);
        // A worker of the previous version, still running during the upgrade, wrote by symbol after it: the next run moves that too.
        await db.collection<{ _id: string; bucket: string; amount: string }>('payoutspendentries').insertOne({ _id: `31337:ETH:${hour(0)}/s5:1`, bucket: `31337:ETH:${hour(0)}`, amount: '100' });
        expect((await migrate(older)).rekeyedByAsset).toBe(1);
        expect(await ledger.spentIn([spendBucketKey(31337, native, new Date())])).toBe(123n);
      } finally {
        await older.db?.dropDatabase();
        await older.close();
      }
    });
  });

  describe('refund records', () => {
    test('creating the same refund twice leaves one record', async () => {
      const view = refundView();
      await refunds.create(view, 'run-1');
      await refunds.create(view, 'run-1');
      expect(await connection.db!.collection('proratarefunds').countDocuments({ _id: view.refundId as never })).toBe(1);
      expect(await refunds.findById(view.refundId)).toEqual(view);
    });

    test('a reset run takes the record over; a late writer that only fills gaps (the API after a start) does not', async () => {
      const view = refundView();
      await refunds.create(view, 'run-1');
      await refunds.create({ ...view, refundStatus: 'approved' }, 'run-2');
      await refunds.create(view, 'run-1', { onlyIfAbsent: true });
      const record = await connection.db!.collection('proratarefunds').findOne({ _id: view.refundId as never });
      expect({ runId: record?.runId, refundStatus: record?.refundStatus }).toEqual({ runId: 'run-2', refundStatus: 'approved' });
    });

    test('a reset run never takes a final record back: rejected stays rejected', async () => {
      const view = refundView();
      await refunds.create(view, 'run-1');
      await refunds.transition(view.refundId, { status: 'rejected', at: new Date().toISOString(), by: 'admin-1', note: 'duplicate' });
      await refunds.create(view, 'run-2');
      await expect(refunds.transition(view.refundId, { status: 'approved', at: new Date().toISOString(), by: 'auto' }, {}, { runId: 'run-2', base: view })).rejects.toBeInstanceOf(RefundTransitionConflict);
      const record = await connection.db!.collection('proratarefunds').findOne({ _id: view.refundId as never });
      expect({ runId: record?.runId, refundStatus: record?.refundStatus }).toEqual({ runId: 'run-1', refundStatus: 'rejected' });
    });

    test('concurrent conflicting status changes leave exactly one winner', async () => {
      const view = refundView();
      await refunds.create(view, null);
      const attempts = Array.from({ length: 20 }, (_, i) =>
        refunds.transition(view.refundId, { status: i % 2 === 0 ? 'approved' : 'rejected', at: new Date(Date.now() + i).toISOString(), by: `admin-${i}` }),
      );
      const results = await Promise.allSettled(attempts);
      const winners = results.filter((result) => result.status === 'fulfilled');
      expect(winners).toHaveLength(1);
      for (const result of results) {
        if (result.status === 'rejected') expect(result.reason).toBeInstanceOf(RefundTransitionConflict);
      }
      const stored = await refunds.findById(view.refundId);
      expect(stored!.statusHistory).toHaveLength(2);
      expect(stored!.refundStatus).toBe(stored!.statusHistory[1]!.status);
    });

    test('a replayed status change is a no-op, an illegal one is refused, and nothing moves backwards', async () => {
      const view = refundView();
      await refunds.create(view, null);
      const approve = { status: 'approved' as const, at: new Date().toISOString(), by: 'admin-1' };
      await refunds.transition(view.refundId, approve, { decidedBy: 'admin-1' });
      await refunds.transition(view.refundId, approve, { decidedBy: 'admin-1' });
      await expect(refunds.transition(view.refundId, { status: 'completed', at: new Date().toISOString(), by: 'system' })).rejects.toThrow(
        RefundTransitionConflict,
      );
      await expect(refunds.transition(view.refundId, { status: 'pending_approval', at: new Date().toISOString(), by: 'x' })).rejects.toThrow(
        RefundTransitionConflict,
      );
      const stored = await refunds.findById(view.refundId);
      expect(stored!.refundStatus).toBe('approved');
      expect(stored!.statusHistory.map((entry) => entry.status)).toEqual(['pending_approval', 'approved']);
    });

    test('notification failures recorded during a status change lose neither', async () => {
      const view = refundView();
      await refunds.create(view, null);
      const failures = Array.from({ length: 5 }, (_, i) => ({ eventId: `evt_${i}`, channel: 'webhook' as const, recipient: 'admin webhook', error: '503', at: new Date(Date.now() + i).toISOString() }));
      await Promise.all([
        refunds.transition(view.refundId, { status: 'approved', at: new Date().toISOString(), by: 'admin-1' }),
        ...failures.map((failure) => refunds.addNotificationFailure(view.refundId, failure)),
        refunds.addNotificationFailure(view.refundId, failures[0]!),
      ]);
      const stored = await refunds.findById(view.refundId);
      expect(stored!.refundStatus).toBe('approved');
      expect(stored!.notificationFailures).toEqual(failures);
    });

    test('lists page through a user\'s refunds newest first without gaps or repeats', async () => {
      const userId = `pager-${Date.now()}`;
      const created: string[] = [];
      for (let i = 0; i < 7; i += 1) {
        const view = refundView({ userId });
        await refunds.create(view, null);
        created.push(view.refundId);
      }
      const seen: string[] = [];
      let cursor: string | undefined;
      do {
        const page = await refunds.listByUser(userId, { limit: 3, cursor });
        seen.push(...page.items.map((item) => item.refundId));
        cursor = page.nextCursor ?? undefined;
      } while (cursor);
      expect(seen).toEqual([...created].reverse());
    });
  });

  describe('payout ledger', () => {
    test('the wallet lock admits one holder at a time across separate connections', async () => {
      const connections = await Promise.all([1, 2, 3].map(() => mongoose.createConnection(uriOf(connection)).asPromise()));
      try {
        const ledgers = connections.map((c) => new PayoutLedger(c));
        const wallet = `31337:0xwallet${Date.now()}`;
        let inside = 0;
        let maxInside = 0;
        let counter = 0;
        const handedOut = await Promise.all(
          Array.from({ length: 30 }, (_, i) =>
            ledgers[i % ledgers.length]!.withWalletLock(wallet, `owner-${i}`, async () => {
              inside += 1;
              maxInside = Math.max(maxInside, inside);
              const value = counter;
              await sleep(Math.random() * 5);
              counter = value + 1;
              inside -= 1;
              return value;
            }),
          ),
        );
        expect(maxInside).toBe(1);
        expect([...handedOut].sort((a, b) => a - b)).toEqual(Array.from({ length: 30 }, (_, i) => i));
      } finally {
        await Promise.all(connections.map((c) => c.close()));
      }
    });

    test('an expired lease is taken over once it has gone unrenewed for two thirds of a lease', async () => {
      const ledger = new PayoutLedger(connection);
      const wallet = `31337:0xcrashed${Date.now()}`;
      await connection.db!.collection('walletlocks').insertOne({ _id: wallet as never, owner: 'dead-worker', token: 'dead', leaseUntil: new Date(Date.now() - 1000) });
      await expect(ledger.withWalletLock(wallet, 'live-worker', async () => 'got it', { leaseMs: 900, waitMs: 5000 })).resolves.toBe('got it');
    });

    test('one subscription can be claimed by one refund only, even under concurrency', async () => {
      const ledger = new PayoutLedger(connection);
      const subscriptionId = subscriptionDoc()._id.toHexString();
      const details = (refundId: string) => ({ refundId, chainId: 31337, from: '0xa', to: '0xb', amount: '1', tokenAddress: null });
      const results = await Promise.allSettled(Array.from({ length: 10 }, (_, i) => ledger.claim(subscriptionId, details(`refund-${i}`))));
      const winners = results.filter((result) => result.status === 'fulfilled');
      expect(winners).toHaveLength(1);
      const owner = (winners[0] as PromiseFulfilledResult<{ refundId: string }>).value.refundId;
      await expect(ledger.claim(subscriptionId, details(owner))).resolves.toMatchObject({ refundId: owner });
      await expect(ledger.claim(subscriptionId, details('another-refund'))).rejects.toThrow(PayoutClaimedByAnotherRefund);
    });

    test('a nonce is given to one payout and an attempt number recorded once, whoever races for them', async () => {
      await migrate(connection);
      const ledger = new PayoutLedger(connection);
      const from = `0xwallet${Date.now()}`;
      const reservations = await Promise.all(['s1', 's2', 's3'].map((subscriptionId) => ledger.reserveNonce(31337, from, 7, { subscriptionId, refundId: `refund-of-${subscriptionId}` })));
      expect(reservations.filter(Boolean)).toHaveLength(1);
      const owner = await ledger.nonceOwner(31337, from, 7);
      expect(['s1', 's2', 's3']).toContain(owner);

      const attempt = (n: number, nonce: number) => ({
        _id: `s4-${from}:${n}`,
        subscriptionId: `s4-${from}`,
        refundId: 'refund-of-s4',
        attempt: n,
        kind: 'payout' as const,
        chainId: 31337,
        from,
        to: '0xb',
        amount: '1',
        tokenAddress: null,
        nonce,
        rawTransaction: '0x00',
        txHash: `0xhash-s4-${n}-${nonce}`,
        signedAtBlock: 0,
      });
      const sameAttempt = await Promise.allSettled([8, 9, 10].map((nonce) => ledger.recordAttempt(attempt(1, nonce))));
      expect(sameAttempt.filter((result) => result.status === 'fulfilled')).toHaveLength(1);
      // Replacements share their nonce: the ledger takes several transactions at one nonce of one payout.
      await expect(ledger.recordAttempt(attempt(2, 8))).resolves.toMatchObject({ nonce: 8, attempt: 2 });
      expect(await ledger.highestNonce(31337, from)).toBeGreaterThanOrEqual(8);
    });

    test('a nonce reserved by an allocation that crashed before signing is taken over, never skipped', async () => {
      const ledger = new PayoutLedger(connection);
      const from = `0xorphan${Date.now()}`;
      expect(await ledger.reserveNonce(31337, from, 0, { subscriptionId: 'crashed', refundId: 'r-crashed' })).toBe(true);
      expect(await ledger.reserveNonce(31337, from, 0, { subscriptionId: 'next', refundId: 'r-next' })).toBe(false);
      expect(await ledger.takeOverOrphanNonce(31337, from, 0, { subscriptionId: 'next', refundId: 'r-next' })).toBe(true);
      expect(await ledger.nonceOwner(31337, from, 0)).toBe('next');
    });

    test('a round opened late, by a preparation that stalled after recording it, never takes the claim back from a newer round', async () => {
      const ledger = new PayoutLedger(connection);
      const subscriptionId = `late-${Date.now()}`;
      await ledger.claim(subscriptionId, { refundId: 'r-late', chainId: 31337, from: '0xa', to: '0xb', amount: '1', tokenAddress: null });
      // Round 4 was recorded, proven unpaid and closed; round 9 is open now.
      const older = { subscriptionId, from: '0xa', nonce: 4, attempt: 1 };
      const newer = { subscriptionId, from: '0xa', nonce: 9, attempt: 2 };
      await ledger.openRound(older, { reservedWei: 10n, reservedTokens: 0n });
      await ledger.closeRoundUnpaid(older, 'dropped', 'never mined');
      await ledger.openRound(newer, { reservedWei: 20n, reservedTokens: 0n });
      // The stalled preparation of round 4 wakes up and opens it.
      await ledger.openRound(older, { reservedWei: 10n, reservedTokens: 0n });
      expect(await ledger.findClaim(subscriptionId)).toMatchObject({ status: 'in_flight', nonce: 9, roundAttempt: 2, reservedWei: '20' });
      // Nor does a settled claim ever open again.
      await ledger.markConfirmed({ _id: `${subscriptionId}:2`, ...newer, txHash: '0xpaid' } as never, { number: 5, hash: '0xblock' });
      await ledger.openRound(newer, { reservedWei: 20n, reservedTokens: 0n });
      expect(await ledger.findClaim(subscriptionId)).toMatchObject({ status: 'confirmed', reservedWei: '0' });
    });

    test('after a change of treasury key the new wallet starts again at low nonces: late writes about the old wallet\'s rounds leave the new round alone', async () => {
      const ledger = new PayoutLedger(connection);
      const subscriptionId = `rekeyed-${Date.now()}`;
      await ledger.claim(subscriptionId, { refundId: 'r-rekeyed', chainId: 31337, from: '0xold', to: '0xb', amount: '1', tokenAddress: null });
      const attempt = (number: number, from: string, nonce: number) => ({
        _id: `${subscriptionId}:${number}`, subscriptionId, refundId: 'r-rekeyed', attempt: number, kind: 'payout' as const, chainId: 31337, from, to: '0xb',
        amount: '1', tokenAddress: null, nonce, rawTransaction: '0x', txHash: `0x${number}`, signedAtBlock: 1,
      });
      // The old wallet's rounds at nonces 0 and 500 were proven unpaid; the new wallet's first round, at nonce 0, is open.
      const oldAtZero = await ledger.recordAttempt(attempt(1, '0xold', 0));
      await ledger.openRound(oldAtZero, { reservedWei: 1n, reservedTokens: 0n });
      await ledger.closeRoundUnpaid(oldAtZero, 'dropped', 'cancelled by the old key holder');
      const oldAt500 = await ledger.recordAttempt(attempt(2, '0xold', 500));
      await ledger.openRound(oldAt500, { reservedWei: 5n, reservedTokens: 0n });
      await ledger.closeRoundUnpaid(oldAt500, 'dropped', 'cancelled by the old key holder');
      const fresh = await ledger.recordAttempt(attempt(3, '0xnew', 0));
      await ledger.openRound(fresh, { reservedWei: 30n, reservedTokens: 0n });

      // A preparation that judged the round at 500 open on a lagging node, then stalled, opens it late.
      await ledger.openRound(oldAt500, { reservedWei: 5n, reservedTokens: 0n });
      // A watcher of the old round at nonce 0, cut off from Temporal but not from the store, finishes late.
      await ledger.raiseReservation(oldAtZero, 99n);
      await ledger.setStuck(oldAtZero, new Date());
      await ledger.closeRoundUnpaid(oldAtZero, 'dropped', 'cancelled by the old key holder');

      expect(await ledger.findClaim(subscriptionId)).toMatchObject({ status: 'in_flight', from: '0xnew', nonce: 0, roundAttempt: 3, reservedWei: '30', stuckSince: null });
      expect((await ledger.openClaims(31337, '0xnew')).map((claim) => claim._id)).toEqual([subscriptionId]);
      expect((await ledger.attemptsOf(subscriptionId)).map(({ attempt: number, status }) => [number, status])).toEqual([[1, 'dropped'], [2, 'dropped'], [3, 'signed']]);
    });

    test('a claim a worker of the previous version moved to a newer round (by nonce alone) is still found at that round', async () => {
      const ledger = new PayoutLedger(connection);
      const subscriptionId = `mixed-${Date.now()}`;
      await ledger.claim(subscriptionId, { refundId: 'r-mixed', chainId: 31337, from: '0xa', to: '0xb', amount: '1', tokenAddress: null });
      const first = { subscriptionId, from: '0xa', nonce: 4, attempt: 1 };
      await ledger.openRound(first, { reservedWei: 10n, reservedTokens: 0n });
      // Round 4 proven unpaid by an old worker (which knew no roundAttempt), and round 9 opened by one, the same way.
      await connection.db!.collection('payouts').updateOne({ _id: subscriptionId as never }, { $set: { status: 'in_flight', nonce: 9, reservedWei: '20' } });
      const second = { subscriptionId, from: '0xa', nonce: 9, attempt: 2 };
      await ledger.raiseReservation(second, 30n);
      await ledger.setStuck(second, new Date(0));
      expect(await ledger.findClaim(subscriptionId)).toMatchObject({ status: 'in_flight', nonce: 9, reservedWei: '30', stuckSince: new Date(0) });
      await ledger.closeRoundUnpaid(second, 'reverted', 'mined, moved nothing');
      expect(await ledger.findClaim(subscriptionId)).toMatchObject({ status: 'unpaid', nonce: null, reservedWei: '0' });
    });
  });
});

function uriOf(connection: Connection): string {
  const { host, port, name } = connection;
  return `mongodb://${host}:${port}/${name}`;
}
