import mongoose, { type Connection } from 'mongoose';
import { migrate } from '../../src/persistence/migrate';
import { RefundEventLog, RefundStats, emptyStatsState, refundEventModel, splitIntoParts, type RefundEventInput } from '../../src/persistence/refund-events';
import { RefundRepository, eventOf } from '../../src/persistence/refund-repository';
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
  /** A snapshot at the log's start as written before the fold kept owners: a fold restored from it reads each owner's refunds from the store. */
  const snapshotWithoutOwners = () =>
    connection.db!.collection<{ _id: string; seq: number; state: string; at: Date }>('refundstatsnapshots').insertMany([
      { _id: 's:-1', seq: -1, state: JSON.stringify(emptyStatsState()), at: new Date() },
      { _id: 'latest', seq: -1, state: '', at: new Date() },
    ]);
  /** The refunds of an owner the fold knows without reading the store (it fails if it would read them). */
  const knownOwnerRefunds = async (stats: RefundStats, key: `${'u' | 'c'}:${string}`) =>
    (await (await stats.fresh()).followOwner(key, () => Promise.reject(new Error(`${key} was read from the store`)))).entries.map((entry) => entry.refundId);
  /** A record written straight into the collection, with no event: a refund from before the log. */
  const recordOnly = (view: Refund) => refundModel(connection).create({ ...view, _id: view.refundId, runId: null, notificationFailures: undefined } as never);
  /** Counts the record reads from here on, and the ones by owner (a read of all of an owner's refunds); `stop` ends the count. */
  const countRecordReads = () => {
    const counted = { reads: 0, byOwner: 0 };
    connection.set('debug', (collection: string, _method: string, query: Record<string, unknown> | undefined) => {
      if (collection !== 'proratarefunds') return;
      counted.reads += 1;
      if (query && ('creatorId' in query || 'userId' in query)) counted.byOwner += 1;
    });
    return { counted, stop: () => connection.set('debug', false) };
  };

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

  test.each([
    ['a fold that knows every owner', false],
    ['a fold restored from a snapshot without owners (the owner is read once)', true],
  ])('user and creator lists from %s follow the log, and every page equals the store\'s', async (_name, restoredWithoutOwners) => {
    if (restoredWithoutOwners) await snapshotWithoutOwners();
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
    await recordOnly(older);
    const { userId: _u, creatorId: _c, ...ownerless } = { key: `${older.refundId}:created`, kind: 'created' as const, refundId: older.refundId, from: null, to: 'pending_approval' as const, createdAt: new Date(), requestedAt: new Date(older.requestedAt), amount: older.amount, currency: older.currency, processingTimeMs: null, userId: 'x', creatorId: 'y' };
    await fromFold.events.append(ownerless);
    await expectSameLists();
    const all = await fromFold.listByUser('fold-user', { limit: 100 });
    expect(all.items.map((item) => item.refundId)).toEqual(expect.arrayContaining([older.refundId, first[0]!.refundId]));
    expect(all.items).toHaveLength(5);
  });

  test('a creator\'s first list in a new process: one query for a creator with few refunds; only the page\'s records for one with many; later changes show', async () => {
    const writer = new RefundRepository(connection, new RefundStats(connection));
    const doc = () => subscriptionDoc({ userId: 'cold-user', creatorId: 'cold-creator' });
    const views: Refund[] = [];
    for (let i = 0; i < 160; i += 1) {
      const view = refundView({}, doc());
      await writer.create(view, null);
      views.push(view);
    }
    const few = Array.from({ length: 6 }, () => refundView({}, subscriptionDoc({ userId: 'cold-user', creatorId: 'small-creator' })));
    for (const view of few) await writer.create(view, null);
    await writer.addNotificationFailure(views[159]!.refundId, { eventId: 'evt_cold', channel: 'webhook', recipient: 'creator', error: 'down', at: new Date().toISOString() });

    await writer.transition(views[3]!.refundId, { status: 'rejected', at: new Date().toISOString(), by: 'admin-1' });
    await new RefundStats(connection).fresh().then((fold) => fold.saveSnapshot()); // an earlier process's snapshot
    await writer.create(refundView({}, doc()), null); // and one refund after it

    // Another API process: a fold of its own from that snapshot, nothing of this creator read yet.
    const stats = new RefundStats(connection);
    const reader = new RefundRepository(connection, stats);
    await stats.fresh();
    const { counted, stop } = countRecordReads();
    const first = await reader.listByCreator('cold-creator', { limit: 20 });
    const rejected = await reader.listByCreator('cold-creator', { limit: 20, status: 'rejected' });
    stop();
    const fromStore = new RefundRepository(connection);
    expect(first).toEqual(await fromStore.listByCreator('cold-creator', { limit: 20 }));
    expect(rejected).toEqual(await fromStore.listByCreator('cold-creator', { limit: 20, status: 'rejected' }));
    expect(rejected.items.map((item) => item.refundId)).toEqual([views[3]!.refundId]);
    expect(first.items[1]?.notificationFailures).toHaveLength(1);
    expect(counted.byOwner).toBe(0);
    expect(counted.reads).toBe(21 + 1); // the page's records by `_id` (and the one after it), then the rejected one

    const small = countRecordReads();
    const smallPage = await reader.listByCreator('small-creator', { limit: 20 });
    small.stop();
    expect(smallPage).toEqual(await fromStore.listByCreator('small-creator', { limit: 20 }));
    expect(small.counted).toEqual({ reads: 1, byOwner: 1 }); // all 6 in one query, not 6 reads

    await writer.transition(views[150]!.refundId, { status: 'rejected', at: new Date().toISOString(), by: 'admin-1' });
    const after = await reader.listByCreator('cold-creator', { limit: 20 });
    expect(after.items.find((item) => item.refundId === views[150]!.refundId)?.refundStatus).toBe('rejected');
    expect(after).toEqual(await new RefundRepository(connection).listByCreator('cold-creator', { limit: 20 }));
  });

  test('first lists of one owner that arrive together share one owner query, and a list asked after a change shows it', async () => {
    const writer = new RefundRepository(connection, new RefundStats(connection));
    const views = Array.from({ length: 8 }, () => refundView({}, subscriptionDoc({ userId: 'burst-list-user', creatorId: 'burst-list-creator' })));
    for (const view of views) await writer.create(view, null);

    const stats = new RefundStats(connection);
    const reader = new RefundRepository(connection, stats);
    await stats.fresh();
    const { counted, stop } = countRecordReads();
    const pages = await Promise.all(Array.from({ length: 5 }, () => reader.listByCreator('burst-list-creator', { limit: 20 })));
    stop();
    const expected = await new RefundRepository(connection).listByCreator('burst-list-creator', { limit: 20 });
    for (const page of pages) expect(page).toEqual(expected);
    expect(counted).toEqual({ reads: 1, byOwner: 1 }); // not one query per request

    // Another process, nothing kept: its first list's query may still be in flight when the second one, asked after the change, waits for it.
    const fresh = new RefundRepository(connection, await new RefundStats(connection).fresh());
    const during = fresh.listByCreator('burst-list-creator', { limit: 20 });
    await writer.transition(views[2]!.refundId, { status: 'rejected', at: new Date().toISOString(), by: 'admin-1' });
    const after = await fresh.listByCreator('burst-list-creator', { limit: 20 });
    await during;
    expect(after.items.find((item) => item.refundId === views[2]!.refundId)?.refundStatus).toBe('rejected');
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
    await snapshotWithoutOwners(); // only then are owners read, and dropped
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

  test('migrate folds records from before the log into its first snapshot, owners and statuses included', async () => {
    const owner = subscriptionDoc({ userId: 'seeded-user', creatorId: 'seeded-creator' });
    const view = refundView({}, owner);
    const rejected = refundView({ refundStatus: 'rejected' }, { ...owner, _id: subscriptionDoc()._id });
    await recordOnly(view);
    await recordOnly(rejected);
    await connection.db!.collection('refundstatsnapshots').deleteMany({});
    const report = await migrate(connection);
    expect(report.seededStats).toBe(2);
    expect((await new RefundStats(connection).fresh()).countsByStatus().pending_approval).toBe(1);
    expect(await migrate(connection)).toMatchObject({ seededStats: 0, ownersAdded: 0 });

    const stats = new RefundStats(connection); // the snapshot knows whose refunds they are, and their statuses
    expect((await knownOwnerRefunds(stats, 'c:seeded-creator')).sort()).toEqual([view.refundId, rejected.refundId].sort());
    const reader = new RefundRepository(connection, stats);
    const pending = await reader.listByCreator('seeded-creator', { limit: 10, status: 'pending_approval' });
    const rejectedList = await reader.listByUser('seeded-user', { limit: 10, status: 'rejected' });
    expect(pending.items.map((item) => item.refundId)).toEqual([view.refundId]);
    expect(rejectedList.items.map((item) => item.refundId)).toEqual([rejected.refundId]);
  });

  test('migrate adds owners to a snapshot written before snapshots kept them; the lists then read no owner from the store', async () => {
    const before = refundView({}, subscriptionDoc({ userId: 'upgrade-user', creatorId: 'upgrade-creator' }));
    await recordOnly(before); // from before the log, in the old snapshot's counts
    await snapshotWithoutOwners();
    const writer = new RefundRepository(connection, new RefundStats(connection));
    const views = Array.from({ length: 3 }, () => refundView({}, subscriptionDoc({ userId: 'upgrade-user', creatorId: 'upgrade-creator' })));
    for (const view of views) await writer.create(view, null);
    await writer.transition(views[0]!.refundId, { status: 'rejected', at: new Date().toISOString(), by: 'admin-1' });

    expect((await migrate(connection)).ownersAdded).toBe(4);
    expect((await migrate(connection)).ownersAdded).toBe(0);
    await writer.transition(views[1]!.refundId, { status: 'rejected', at: new Date().toISOString(), by: 'admin-1' }); // after the upgrade

    const stats = new RefundStats(connection);
    expect(await knownOwnerRefunds(stats, 'u:upgrade-user')).toHaveLength(4);
    const reader = new RefundRepository(connection, stats);
    const all = await reader.listByCreator('upgrade-creator', { limit: 10 });
    const rejected = await reader.listByUser('upgrade-user', { limit: 10, status: 'rejected' });
    const pending = await reader.listByUser('upgrade-user', { limit: 10, status: 'pending_approval' });
    expect(all).toEqual(await new RefundRepository(connection).listByCreator('upgrade-creator', { limit: 10 }));
    expect(all.items).toHaveLength(4);
    expect(rejected.items.map((item) => item.refundId).sort()).toEqual([views[0]!.refundId, views[1]!.refundId].sort());
    expect(pending.items.map((item) => item.refundId).sort()).toEqual([before.refundId, views[2]!.refundId].sort());
  });

  test('a refund whose event did not say whose it is stays in the snapshot, with its status, until a list places it', async () => {
    const writer = new RefundRepository(connection, new RefundStats(connection));
    const older = refundView({}, subscriptionDoc({ userId: 'ownerless-user', creatorId: 'ownerless-creator' }));
    await recordOnly(older);
    const { userId: _u, creatorId: _c, ...ownerless } = eventOf(older, new Date(), 'created', `${older.refundId}:created`, null, 'pending_approval');
    await writer.events.append(ownerless);
    await writer.transition(older.refundId, { status: 'rejected', at: new Date().toISOString(), by: 'admin-1' });
    const stats = await new RefundStats(connection).fresh();
    expect(stats.unplacedRefunds()).toEqual([older.refundId]);
    await stats.saveSnapshot();

    const restored = await new RefundStats(connection).fresh(); // from that snapshot, where the log has nothing new
    expect(restored.unplacedRefunds()).toEqual([older.refundId]);
    const reader = new RefundRepository(connection, restored);
    const rejected = await reader.listByCreator('ownerless-creator', { limit: 10, status: 'rejected' });
    expect(rejected.items.map((item) => item.refundId)).toEqual([older.refundId]);
    expect(restored.unplacedRefunds()).toEqual([]);
  });

  test('a snapshot larger than a document part is stored in parts and read back whole; a writer keeps only its last two', async () => {
    const writer = new RefundRepository(connection, new RefundStats(connection));
    const views = Array.from({ length: 12 }, (_, i) => refundView({}, subscriptionDoc({ userId: `parts-user-${i % 3}`, creatorId: 'parts-creätor-😀' })));
    const stats = new RefundStats(connection, { snapshotPartChars: 200 });
    const snapshotDocs = async () => (await connection.db!.collection<{ _id: string }>('refundstatsnapshots').find({}).toArray()).map((doc) => doc._id).filter((id) => id !== 'latest');
    const saved: string[][] = [];
    for (const chunk of [views.slice(0, 4), views.slice(4, 8), views.slice(8)]) {
      for (const view of chunk) await writer.create(view, null);
      await (await stats.fresh()).saveSnapshot();
      saved.push((await snapshotDocs()).filter((id) => !saved.flat().includes(id)));
    }
    expect(saved.every((ids) => ids.length > 3)).toBe(true); // each in several parts
    const left = await snapshotDocs();
    expect(left).toEqual(expect.arrayContaining([...saved[1]!, ...saved[2]!]));
    expect(left.filter((id) => saved[0]!.includes(id))).toEqual([]);

    const resumedStats = new RefundStats(connection);
    expect(await knownOwnerRefunds(resumedStats, 'c:parts-creätor-😀')).toHaveLength(12);
    const resumed = new RefundRepository(connection, resumedStats);
    const page = await resumed.listByCreator('parts-creätor-😀', { limit: 20 });
    const user = await resumed.listByUser('parts-user-1', { limit: 20 });
    expect(page).toEqual(await new RefundRepository(connection).listByCreator('parts-creätor-😀', { limit: 20 }));
    await writer.transition(views[4]!.refundId, { status: 'rejected', at: new Date().toISOString(), by: 'admin-1' }); // folded after the restore
    const rejected = await resumed.listByCreator('parts-creätor-😀', { limit: 20, status: 'rejected' });
    const pending = await resumed.listByCreator('parts-creätor-😀', { limit: 20, status: 'pending_approval' });
    expect(page.items).toHaveLength(12);
    expect(user.items.map((item) => item.refundId).sort()).toEqual(views.filter((_, i) => i % 3 === 1).map((view) => view.refundId).sort());
    expect(rejected.items.map((item) => item.refundId)).toEqual([views[4]!.refundId]);
    expect(pending.items).toHaveLength(11);
  });

  test('a snapshot is never cut inside a character of two UTF-16 units', () => {
    const text = `${'a'.repeat(9)}😀${'b'.repeat(9)}`;
    const parts = splitIntoParts(text, 10);
    expect(parts.join('')).toBe(text);
    expect(parts[0]).toBe('a'.repeat(9));
    for (const part of parts) expect(Buffer.from(part, 'utf8').toString('utf8')).toBe(part); // no lone half, which UTF-8 cannot carry
    expect(splitIntoParts('', 10)).toEqual(['']);
  });
});
