import mongoose, { type Connection } from 'mongoose';
import { migrate } from '../../src/persistence/migrate';
import { RefundEventLog, RefundStats, refundEventModel, type RefundEventInput } from '../../src/persistence/refund-events';
import { RefundRepository } from '../../src/persistence/refund-repository';
import { refundModel } from '../../src/persistence/refund-model';
import type { Refund } from '../../src/domain/refund';
import { refundView, subscriptionDoc } from '../support/fixtures';
import { uniqueMongoUri } from '../support/services';
import { waitFor } from '../support/wait';

/**
 * The event log behind statistics, status counts and the pending list, on the
 * real MongoDB-protocol server: appends from several processes stay dense and
 * single, and the fold equals a recount of the records.
 */
describe('refund event log and its fold', () => {
  let connection: Connection;

  beforeEach(async () => {
    connection = await mongoose.createConnection(uniqueMongoUri('events')).asPromise();
    await migrate(connection);
  });
  afterEach(async () => {
    await connection.db?.dropDatabase();
    await connection.close();
  });

  const event = (key: string, overrides: Partial<RefundEventInput> = {}): RefundEventInput => ({
    key,
    kind: 'created',
    refundId: key,
    from: null,
    to: 'pending_approval',
    createdAt: new Date(),
    requestedAt: new Date(),
    amount: '1',
    currency: { symbol: 'ETH', decimals: 18, tokenAddress: null },
    processingTimeMs: null,
    ...overrides,
  });
  /** The log's document at `seq`, written directly: how a test leaves holes in the sequence. */
  const doc = (seq: number) => ({ ...event(`k${seq}`), _id: `e:${seq}`, seq, page: Math.floor(seq / 100) });

  test('writers in separate processes share one dense sequence; a change appended twice is kept once', async () => {
    const writers = [new RefundEventLog(connection), new RefundEventLog(connection), new RefundEventLog(connection)];
    await Promise.all(writers.flatMap((writer, w) => Array.from({ length: 12 }, (_, i) => writer.append(event(`w${w}-${i}`)))));
    await writers[1]!.append(event('w0-3')); // a retried activity

    const docs = await refundEventModel(connection).find({}).lean();
    expect(docs).toHaveLength(36);
    expect(docs.map((doc) => doc.seq).sort((a, b) => a - b)).toEqual(Array.from({ length: 36 }, (_, i) => i));
    expect(new Set(docs.map((doc) => doc.key)).size).toBe(36);
    expect(await new RefundEventLog(connection).tail()).toBe(36);
  });

  test('the fold equals a recount of the records, and a new reader resumes from a snapshot', async () => {
    const refunds = new RefundRepository(connection);
    const views = Array.from({ length: 6 }, (_, i) => refundView({ amount: String(10 ** 18 + i) }));
    for (const view of views) await refunds.create(view, null);
    const at = (status: string, i: number) => ({ status, at: new Date(Date.now() + i).toISOString(), by: 'admin-1' }) as never;
    await refunds.transition(views[0]!.refundId, at('rejected', 1));
    await refunds.transition(views[1]!.refundId, at('approved', 2));
    await refunds.transition(views[1]!.refundId, at('processing', 3));
    const completed = at('completed', 4);
    await refunds.transition(views[1]!.refundId, completed, { processingTimeMs: 4_000 });
    await refunds.transition(views[1]!.refundId, completed, { processingTimeMs: 4_000 }); // replayed: no second event
    await refunds.addNotificationFailure(views[2]!.refundId, { eventId: 'evt_1', channel: 'email', recipient: 'finance', error: 'down', at: new Date().toISOString() });

    const stats = await new RefundStats(connection).fresh();
    const records = await refundModel(connection).find({}).lean();
    const recount = Object.fromEntries(['pending_approval', 'approved', 'processing', 'completed', 'rejected', 'cancelled', 'failed'].map((s) => [s, records.filter((r) => r.refundStatus === s).length]));
    expect(stats.countsByStatus()).toEqual(recount);
    expect(stats.completedTotals()).toEqual([{ currency: { symbol: 'ETH', decimals: 18, tokenAddress: null }, amount: String(10 ** 18 + 1), count: 1 }]);
    expect(stats.averageProcessingTimeMs()).toBe(4_000);
    const pendingIds = records
      .filter((r) => r.refundStatus === 'pending_approval')
      .sort((a, b) => a.createdAt.getTime() - b.createdAt.getTime() || (a._id < b._id ? -1 : 1))
      .map((r) => r._id);
    expect(stats.pendingAfter(null, 100).map((entry) => entry.refundId)).toEqual(pendingIds);
    expect(stats.mayHaveNotificationFailures(views[2]!.refundId)).toBe(true);
    expect(stats.mayHaveNotificationFailures(views[3]!.refundId)).toBe(false);

    await stats.saveSnapshot();
    await refunds.transition(views[3]!.refundId, at('cancelled', 5));
    const resumed = await new RefundStats(connection).fresh();
    expect(resumed.countsByStatus()).toEqual({ ...recount, pending_approval: recount.pending_approval! - 1, cancelled: 1 });
    expect((await stats.fresh()).countsByStatus()).toEqual(resumed.countsByStatus());
  });

  test('user and creator lists from the fold: the owner is read once, then follows the log, and every page equals the store\'s', async () => {
    const stats = new RefundStats(connection);
    const fromFold = new RefundRepository(connection, stats);
    const fromStore = new RefundRepository(connection);
    const doc = () => subscriptionDoc({ userId: 'fold-user', creatorId: 'fold-creator' });
    const create = async (overrides: Partial<Refund> = {}) => {
      const view = refundView(overrides, doc());
      await fromFold.create(view, null);
      return view;
    };
    /** Every page of both lists, with and without a status, from the fold and from the store. */
    const expectSameLists = async () => {
      for (const list of ['listByUser', 'listByCreator'] as const) {
        const owner = list === 'listByUser' ? 'fold-user' : 'fold-creator';
        for (const status of [undefined, 'pending_approval', 'rejected'] as const) {
          const pages = async (refunds: RefundRepository) => {
            const seen: string[][] = [];
            let cursor: string | undefined;
            do {
              const page = await refunds[list](owner, { limit: 2, cursor, status });
              seen.push(page.items.map((item) => `${item.refundId}:${item.refundStatus}`));
              cursor = page.nextCursor ?? undefined;
            } while (cursor);
            return seen;
          };
          expect(await pages(fromFold)).toEqual(await pages(fromStore));
        }
      }
    };

    const first = [await create(), await create(), await create()];
    await fromFold.create(refundView({}, subscriptionDoc({ userId: 'fold-other', creatorId: 'fold-other-creator' })), null); // in neither list
    await expectSameLists(); // loads both owners

    await create(); // placed from its event
    await fromFold.transition(first[1]!.refundId, { status: 'rejected', at: new Date().toISOString(), by: 'admin-1' });
    // A refund whose event was written before events said whose it was: placed from its record.
    const older = refundView({}, doc());
    await refundModel(connection).create({ ...older, _id: older.refundId, runId: null, notificationFailures: undefined } as never);
    const { userId: _u, creatorId: _c, ...ownerless } = { key: `${older.refundId}:created`, kind: 'created' as const, refundId: older.refundId, from: null, to: 'pending_approval' as const, createdAt: new Date(), requestedAt: new Date(older.requestedAt), amount: older.amount, currency: older.currency, processingTimeMs: null, userId: 'x', creatorId: 'y' };
    await fromFold.events.append(ownerless);
    await expectSameLists();
    const all = await fromFold.listByUser('fold-user', { limit: 100 });
    expect(all.items.map((item) => item.refundId)).toEqual(expect.arrayContaining([older.refundId, first[0]!.refundId]));
    expect(all.items).toHaveLength(5);
  });

  test('a creator\'s first list reads the store once, not once per refund on its page, and later changes still show', async () => {
    const writer = new RefundRepository(connection, new RefundStats(connection));
    const doc = () => subscriptionDoc({ userId: 'cold-user', creatorId: 'cold-creator' });
    const views: Refund[] = [];
    for (let i = 0; i < 25; i += 1) {
      const view = refundView({}, doc());
      await writer.create(view, null);
      views.push(view);
    }
    await writer.addNotificationFailure(views[24]!.refundId, { eventId: 'evt_cold', channel: 'webhook', recipient: 'creator', error: 'down', at: new Date().toISOString() });

    // Another API process: a fold of its own, nothing of this creator read yet.
    const stats = new RefundStats(connection);
    const reader = new RefundRepository(connection, stats);
    await stats.fresh();
    let reads = 0;
    connection.set('debug', (collection: string) => {
      if (collection !== 'refundevents') reads += 1; // the fold's own refresh is the same for every list
    });
    const first = await reader.listByCreator('cold-creator', { limit: 20 });
    connection.set('debug', false);
    const expected = await new RefundRepository(connection).listByCreator('cold-creator', { limit: 20 });
    expect(first).toEqual(expected);
    expect(first.items[0]?.notificationFailures).toHaveLength(1);
    expect(reads).toBeLessThanOrEqual(2); // the owner's refunds, and the notification failures of the one that has some

    await writer.transition(views[23]!.refundId, { status: 'rejected', at: new Date().toISOString(), by: 'admin-1' });
    const after = await reader.listByCreator('cold-creator', { limit: 20 });
    expect(after.items.find((item) => item.refundId === views[23]!.refundId)?.refundStatus).toBe('rejected');
    expect(after).toEqual(await new RefundRepository(connection).listByCreator('cold-creator', { limit: 20 }));
  });

  test('requests for one record that arrive together share one store read, and a later change is read anew', async () => {
    const writer = new RefundRepository(connection, new RefundStats(connection));
    const view = refundView({}, subscriptionDoc({ userId: 'burst-user', creatorId: 'burst-creator' }));
    await writer.create(view, null);

    const stats = new RefundStats(connection);
    const reader = new RefundRepository(connection, stats);
    await stats.fresh();
    let recordReads = 0;
    connection.set('debug', (collection: string) => {
      if (collection === 'proratarefunds') recordReads += 1;
    });
    // A burst of polls of one refund and of the pending list, all arriving while nothing of it is cached.
    const [gets, pages] = await Promise.all([
      Promise.all(Array.from({ length: 20 }, () => reader.findWithRunId(view.refundId))),
      Promise.all(Array.from({ length: 5 }, () => reader.listPending({ limit: 10 }))),
    ]);
    connection.set('debug', false);
    expect(recordReads).toBe(1);
    for (const found of gets) expect(found?.refund).toEqual(view);
    for (const page of pages) expect(page.items).toEqual([view]);

    await writer.transition(view.refundId, { status: 'rejected', at: new Date().toISOString(), by: 'admin-1' });
    const after = await Promise.all(Array.from({ length: 3 }, () => reader.findWithRunId(view.refundId)));
    for (const found of after) expect(found?.refund.refundStatus).toBe('rejected');
  });

  test('keepFresh folds other processes\' writes in the background, before any request asks, until stopped', async () => {
    const stats = new RefundStats(connection);
    await stats.fresh();
    const outcomes: unknown[] = [];
    const stop = stats.keepFresh(50, (error) => outcomes.push(error));
    const otherProcess = new RefundEventLog(connection);
    try {
      await otherProcess.append(event('background-1'));
      // Only the fold's own counts are read here: nothing calls fresh().
      await waitFor(() => stats.countsByStatus().pending_approval, { until: (count) => count === 1, timeoutMs: 5_000, what: 'the background refresh' });
      await waitFor(() => outcomes.length, { until: (count) => count > 0, timeoutMs: 5_000, what: 'a refresh to report how it ended' });
      expect(outcomes.every((error) => error === undefined)).toBe(true);
    } finally {
      stop();
    }
    await stats.fresh(); // after any refresh that was already under way when it stopped
    expect(stats.countsByStatus().pending_approval).toBe(1);
    await otherProcess.append(event('background-2'));
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(stats.countsByStatus().pending_approval).toBe(1);
  });

  test('a pending refund past its auto-approval time is read again: the workflow then writes waitingReason without an event', async () => {
    const stats = new RefundStats(connection);
    const refunds = new RefundRepository(connection, stats);
    const doc = subscriptionDoc({ userId: 'deadline-user', creatorId: 'deadline-creator' });
    const view = refundView({ autoApproveAt: new Date(Date.now() + 300).toISOString() }, doc);
    await refunds.create(view, null);
    // Each reader keeps its copy while no event about the refund follows.
    expect((await refunds.findWithRunId(view.refundId))?.refund.waitingReason).toBeNull();
    expect((await refunds.listByUser('deadline-user', { limit: 10 })).items[0]?.waitingReason).toBeNull();
    expect((await refunds.listPending({ limit: 10 })).items.find((item) => item.refundId === view.refundId)?.waitingReason).toBeNull();

    await new Promise((resolve) => setTimeout(resolve, 400)); // the deadline passes; the amount is above PAYOUT_MAX_AMOUNT:
    const reason = 'above PAYOUT_MAX_AMOUNT: an admin must approve it';
    await refunds.setFields(view.refundId, { waitingReason: reason }); // recordRefundProgress, which appends no event
    expect((await refunds.findWithRunId(view.refundId))?.refund.waitingReason).toBe(reason);
    expect((await refunds.listByUser('deadline-user', { limit: 10 })).items[0]?.waitingReason).toBe(reason);
    expect((await refunds.listByCreator('deadline-creator', { limit: 10 })).items[0]?.waitingReason).toBe(reason);
    expect((await refunds.listPending({ limit: 10 })).items.find((item) => item.refundId === view.refundId)?.waitingReason).toBe(reason);
  });

  test('an owner\'s order a list is paging through stays readable when listing another owner drops it from memory', async () => {
    const stats = new RefundStats(connection, { ownerEntriesKept: 2 });
    await stats.fresh();
    const entries = (prefix: string) => [1, 2].map((i) => ({ refundId: `${prefix}-${i}`, createdAt: 1_000 + i, status: 'pending_approval' as const }));
    const userA = await stats.followOwner('u:owner-a', async () => entries('a'));
    await stats.followOwner('u:owner-b', async () => entries('b')); // over the limit: owner A is no longer followed
    expect(stats.ownerPage(userA, null, undefined, 10).map((entry) => entry.refundId)).toEqual(['a-2', 'a-1']);
  });

  test('a reader far behind (a bulk load) catches up across many pages', async () => {
    const total = 7 * 100 + 37;
    await new RefundEventLog(connection).appendMany(Array.from({ length: total }, (_, i) => event(`bulk-${i}`)));
    const stats = await new RefundStats(connection).fresh();
    expect(stats.countsByStatus().pending_approval).toBe(total);
    expect(stats.pendingAfter(null, 3).map((entry) => entry.refundId)).toHaveLength(3);
    await new RefundEventLog(connection).append(event('one-more'));
    expect((await stats.fresh()).countsByStatus().pending_approval).toBe(total + 1);
  });

  test('a hole in the sequence holds the fold back, then is skipped once it stays open', async () => {
    let now = 1_000_000;
    const events = refundEventModel(connection);
    await events.insertMany([doc(0), doc(2)]);
    const stats = new RefundStats(connection, { now: () => now });
    expect((await stats.fresh()).countsByStatus().pending_approval).toBe(1);
    now += 60_000;
    expect((await stats.fresh()).countsByStatus().pending_approval).toBe(2);
  });

  test('with keepFresh running, a request never waits for the page read that looks for holes: the background does it, and a hole is still skipped once it stays open', async () => {
    let now = 1_000_000;
    const events = refundEventModel(connection);
    await events.insertMany([doc(0), doc(2)]);
    let pageReads = 0;
    connection.set('debug', (collection: string, method: string, filter: Record<string, unknown>) => {
      if (collection === 'refundevents' && (method === 'find' || method === 'findOne') && filter && 'page' in filter) pageReads += 1;
    });
    const stats = new RefundStats(connection, { now: () => now });
    const stop = stats.keepFresh(3_600_000, () => undefined); // its rounds are run by hand below
    try {
      expect((await stats.fresh()).countsByStatus().pending_approval).toBe(1);
      now += 60_000; // a page read is long due, and the hole has been there all along
      expect((await stats.fresh()).countsByStatus().pending_approval).toBe(1);
      expect(pageReads).toBe(0); // the requests read the log by `_id` only

      await stats.refreshInBackground(); // sees the hole: held back for its grace
      expect(pageReads).toBeGreaterThan(0);
      expect((await stats.fresh()).countsByStatus().pending_approval).toBe(1);
      now += 60_000;
      await stats.refreshInBackground(); // the hole stayed open: skipped
      expect(stats.countsByStatus().pending_approval).toBe(2);

      await events.create(doc(3));
      pageReads = 0;
      expect((await stats.fresh()).countsByStatus().pending_approval).toBe(3); // read-your-writes still holds
      expect(pageReads).toBe(0);
      stop();
      now += 60_000; // stopped: requests look for holes themselves again
      await stats.fresh();
      expect(pageReads).toBeGreaterThan(0);
    } finally {
      stop();
      connection.set('debug', false);
    }
  });

  test('a hole written after the background read its page, but before the fold gave it up, is folded, not skipped', async () => {
    let now = 1_000_000;
    const events = refundEventModel(connection);
    await events.insertMany([doc(0), doc(2)]);
    const stats = new RefundStats(connection, { now: () => now });
    const stop = stats.keepFresh(3_600_000, () => undefined);
    try {
      await stats.refreshInBackground(); // the hole at 1 is seen
      now += 60_000; // long past its grace
      // The next page read returns the page as it was; the late writer fills slot 1 right after.
      const find = events.find.bind(events);
      jest.spyOn(events, 'find').mockImplementationOnce(((filter: Record<string, unknown>) => ({
        lean: async () => {
          const stale = await find(filter).lean();
          await events.create(doc(1));
          return stale;
        },
      })) as never);
      await stats.refreshInBackground();
      expect(stats.countsByStatus().pending_approval).toBe(3);
    } finally {
      stop();
      jest.restoreAllMocks();
    }
  });

  test('several empty slots at the end of a page, with the next page written, are a hole: skipped together once it stays open, not the end of the log for ever', async () => {
    for (const background of [false, true]) {
      await refundEventModel(connection).deleteMany({});
      let now = 1_000_000;
      const events = refundEventModel(connection);
      // 0..94 written, 95..99 empty, the next page started.
      await events.insertMany([...Array.from({ length: 95 }, (_, seq) => doc(seq)), doc(100), doc(101)]);
      const stats = new RefundStats(connection, { now: () => now });
      const stop = background ? stats.keepFresh(3_600_000, () => undefined) : () => undefined;
      const round = () => (background ? stats.refreshInBackground() : stats.fresh().then(() => undefined));
      try {
        await round();
        expect(stats.countsByStatus().pending_approval).toBe(95);
        now += 60_000;
        await round();
        await stats.fresh();
        expect(stats.countsByStatus().pending_approval).toBe(97); // all five slots skipped after one grace
      } finally {
        stop();
      }
    }
  });

  test('the empty last slot of a page at the end of the log is not a hole: a late write there is folded', async () => {
    let now = 1_000_000;
    const events = refundEventModel(connection);
    await events.insertMany(Array.from({ length: 99 }, (_, seq) => doc(seq))); // 0..98
    const stats = new RefundStats(connection, { now: () => now });
    const stop = stats.keepFresh(3_600_000, () => undefined);
    try {
      await stats.refreshInBackground();
      now += 60_000;
      await stats.refreshInBackground();
      await events.insertMany([doc(99), doc(100)]);
      expect((await stats.fresh()).countsByStatus().pending_approval).toBe(101);
    } finally {
      stop();
    }
  });

  test('migrate folds records from before the log into its first snapshot', async () => {
    const view = refundView();
    await refundModel(connection).create({ ...view, _id: view.refundId, runId: null, notificationFailures: undefined } as never);
    await connection.db!.collection('refundstatsnapshots').deleteMany({});
    const report = await migrate(connection);
    expect(report.seededStats).toBe(1);
    expect((await new RefundStats(connection).fresh()).countsByStatus().pending_approval).toBe(1);
    expect((await migrate(connection)).seededStats).toBe(0);
  });
});
