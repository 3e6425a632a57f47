import type { Connection, FilterQuery } from 'mongoose';
import { currencyKey, type Currency } from '../domain/currency';
import { parseAmount } from '../domain/amount';
import type { NotificationFailure, Refund } from '../domain/refund';
import { BLOCKING_STATUSES, canTransition, isTerminal, REFUND_STATUSES, type RefundStatus, type StatusChange } from '../domain/refund-status';
import { createUnlessExists, isDuplicateKey } from './errors';
import { compareOrder, RefundEventLog, type OwnerEntry, type OwnerKey, type RefundEventInput, type RefundStats } from './refund-events';
import {
  notificationFailureModel,
  refundModel,
  refundTransitionModel,
  type NotificationFailureModel,
  type RefundModel,
  type RefundRecord,
  type RefundTransitionModel,
} from './refund-model';

/** A status change the current record does not allow (it moved on, or never got there). */
export class RefundTransitionConflict extends Error {
  constructor(
    readonly refundId: string,
    readonly to: RefundStatus,
    readonly current: RefundStatus | null,
  ) {
    super(current === null ? `refund ${refundId} does not exist` : `refund ${refundId} cannot move from ${current} to ${to}`);
    this.name = 'RefundTransitionConflict';
  }
}

export interface Page<T> {
  items: T[];
  nextCursor: string | null;
}

export interface ListOptions {
  limit: number;
  /** A CURSOR_PATTERN string: the page starts after this position. */
  cursor?: string;
  status?: RefundStatus;
}

/**
 * A page cursor is a position in (createdAt, _id) order, `<createdAt in ms>.<_id>`.
 * Every string of this shape is a position, whether or not a refund sits there,
 * so the API can state the format and accept all of it.
 */
export const CURSOR_PATTERN = /^(0|[1-9][0-9]{0,14})\.([A-Za-z0-9_-]{1,64})$/;

type RecordFields = Partial<Omit<RefundRecord, '_id' | 'refundId' | 'refundStatus' | 'statusHistory' | 'createdAt' | 'updatedAt'>>;

export class RefundRepository {
  private readonly refunds: RefundModel;
  private readonly transitions: RefundTransitionModel;
  private readonly notificationFailures: NotificationFailureModel;
  /** Every change is also appended here; see refund-events.ts. */
  readonly events: RefundEventLog;
  private readonly pendingViews = new Map<string, { version: number; view: Refund; createdAt: Date }>();
  private readonly records = new Map<string, { version: number | undefined; found: { refund: Refund; runId: string | null } }>();
  private readonly queuedReads = new Map<string, Promise<RefundRecord | null>>();
  /** Owner queries in flight (see `ownerList`): a list of the same owner arriving meanwhile waits for it and reuses what it kept. */
  private readonly ownerQueries = new Map<OwnerKey, Promise<unknown>>();

  /** `stats`, when given, lets reads skip the notification-failure lookup for refunds that have none. */
  constructor(
    connection: Connection,
    private readonly stats?: RefundStats,
  ) {
    this.refunds = refundModel(connection);
    this.transitions = refundTransitionModel(connection);
    this.notificationFailures = notificationFailureModel(connection);
    this.events = new RefundEventLog(connection);
  }

  /**
   * Inserts the record once; a replayed insert by the same run is a no-op. A
   * new run of the same refund (the workflow was reset) takes the record over:
   * the record follows the run that is alive. `onlyIfAbsent` never takes a
   * record over (a writer that may be late, like the API after a start).
   */
  async create(view: Refund, runId: string | null, options: { onlyIfAbsent?: boolean } = {}): Promise<void> {
    let record: Pick<RefundRecord, 'createdAt'>;
    try {
      record = await this.refunds.create({ ...fromView(view), _id: view.refundId, runId });
    } catch (error) {
      if (!isDuplicateKey(error)) throw error;
      const existing = await this.refunds.findById(view.refundId).lean();
      if (existing?.subscriptionId !== view.subscriptionId) throw error;
      record = existing;
      if (runId && existing.runId !== runId && !options.onlyIfAbsent) await this.rebind(view, runId, existing.refundStatus, existing.createdAt);
    }
    // After the record, and again on a replay: the event's unique key keeps it single.
    await this.events.append(eventOf(view, record.createdAt, 'created', `${view.refundId}:created`, null, view.refundStatus));
    await Promise.all(view.notificationFailures.map((failure) => this.addNotificationFailure(view.refundId, failure)));
  }

  /**
   * The record now mirrors `runId`, starting from that run's view of the refund
   * (the status may move back: the event log says so). A final record stays as
   * it is: a reset never reopens a refund that was paid, rejected or cancelled.
   */
  private async rebind(view: Refund, runId: string, previous: RefundStatus, createdAt: Date): Promise<void> {
    if (isTerminal(previous)) return;
    await this.refunds.updateOne({ _id: view.refundId }, { $set: { ...fromView(view), runId } });
    if (previous !== view.refundStatus) await this.events.append(eventOf(view, createdAt, 'status', `${view.refundId}:rebind:${runId}`, previous, view.refundStatus));
  }

  /**
   * Moves the record to `change.status` if the current status may lead there.
   * Exactly one of several concurrent changes wins: each change first claims
   * its position in the history by inserting `refundtransitions/<refundId>:<seq>`,
   * and a unique insert is the one write that is atomic on every MongoDB-compatible
   * store (FerretDB v1 applies conditional updates as read-then-write). The claims
   * double as an append-only audit log. Re-applying a recorded change is a no-op.
   */
  async transition(refundId: string, change: StatusChange, fields: RecordFields = {}, run?: { runId: string; base: Refund }): Promise<void> {
    let current = await this.refunds.findById(refundId).lean();
    if (!current) throw new RefundTransitionConflict(refundId, change.status, null);
    if (current.statusHistory.some((entry) => sameChange(entry, change))) return;
    if (run && current.runId !== run.runId) {
      // A reset run writes for the first time: the record follows it from its own view on.
      await this.rebind(run.base, run.runId, current.refundStatus, current.createdAt);
      current = (await this.refunds.findById(refundId).lean())!;
    }
    if (!canTransition(current.refundStatus, change.status)) throw new RefundTransitionConflict(refundId, change.status, current.refundStatus);

    const seq = current.statusHistory.length;
    // Claims are per run: a reset run numbers its changes afresh without colliding with the run it replaced.
    const claimId = current.runId ? `${refundId}:${current.runId}:${seq}` : `${refundId}:${seq}`;
    try {
      await this.transitions.create({ _id: claimId, refundId, seq, from: current.refundStatus, ...change });
    } catch (error) {
      if (!isDuplicateKey(error)) throw error;
      const claim = await this.transitions.findById(claimId).lean();
      // Someone else's change took this place first: ours lost. If the claim is
      // ours (an earlier attempt stopped before updating the record), finish it.
      if (!claim || !sameChange(claim, change)) throw new RefundTransitionConflict(refundId, change.status, claim?.status ?? current.refundStatus);
    }
    // Between the claim and the record: a retry after a crash here finds its own claim and appends again (once, by key).
    const view = toView({ ...current, ...fields } as RefundRecord);
    await this.events.append(eventOf(view, current.createdAt, 'status', claimId, current.refundStatus, change.status));
    await this.refunds.updateOne(
      { _id: refundId, refundStatus: current.refundStatus },
      { $set: { ...fields, refundStatus: change.status, statusHistory: [...current.statusHistory, change] } },
    );
  }

  /** The append-only log of status changes of one refund, in order. */
  async transitionLog(refundId: string): Promise<(StatusChange & { seq: number; from: RefundStatus })[]> {
    const claims = await this.transitions.find({ refundId }).sort({ seq: 1 }).lean();
    return claims.map(({ seq, from, status, at, by, note }) => ({ seq, from, status, at, by, ...(note ? { note } : {}) }));
  }

  async setFields(refundId: string, fields: RecordFields): Promise<void> {
    await this.refunds.updateOne({ _id: refundId }, { $set: fields });
  }

  /** Records a notification that failed for good; recording the same one again is a no-op. */
  async addNotificationFailure(refundId: string, failure: NotificationFailure): Promise<void> {
    await createUnlessExists(() => this.notificationFailures.create({ _id: `${refundId}:${failure.eventId}:${failure.channel}:${failure.recipient}`, refundId, ...failure }));
    const record = await this.refunds.findById(refundId).lean();
    if (record) await this.events.append({ ...eventOf(toView(record), record.createdAt, 'notificationFailure', `${refundId}:failure:${failure.eventId}:${failure.channel}:${failure.recipient}`, null, record.refundStatus) });
  }

  async findById(refundId: string): Promise<Refund | null> {
    const record = await this.refunds.findById(refundId).lean();
    return record ? (await this.views([record]))[0]! : null;
  }

  /**
   * The record and the workflow run it belongs to, so a decision or a live read
   * addresses exactly that run. With the event log's fold, a copy is kept and
   * reused while no event about the refund followed it (see `cacheable`).
   */
  async findWithRunId(refundId: string): Promise<{ refund: Refund; runId: string | null } | null> {
    return this.currentRecord(this.stats ? await this.stats.fresh() : undefined, refundId);
  }

  private async currentRecord(stats: RefundStats | undefined, refundId: string): Promise<{ refund: Refund; runId: string | null } | null> {
    const latest = stats?.latestOf(refundId);
    const cached = this.reusable(refundId, latest);
    if (cached) return cached;
    const record = await this.readRecord(refundId);
    if (!record) return null;
    const found = { refund: (await this.views([record]))[0]!, runId: record.runId ?? null };
    if (stats) this.keepRecord(refundId, found, latest);
    return found;
  }

  /**
   * The record by `_id`, read once for every caller that asks before the read
   * is sent (it goes out on the next turn of the event loop): requests that
   * arrive together, such as a burst of polls of one refund or many lists
   * waiting on the same fold refresh, share one store read. Every sharer asked
   * before the read went out, so each sees every write that had finished when
   * it asked, as with a read of its own.
   */
  private readRecord(refundId: string): Promise<RefundRecord | null> {
    const queued = this.queuedReads.get(refundId);
    if (queued) return queued;
    const read = new Promise<void>((resolve) => setImmediate(resolve)).then(() => {
      this.queuedReads.delete(refundId);
      return this.refunds.findById(refundId).lean<RefundRecord>().exec();
    });
    this.queuedReads.set(refundId, read);
    return read;
  }

  /** The kept copy of a record, if no event about its refund followed it (`latest`: the fold's latest). */
  private reusable(refundId: string, latest: { version: number; status: RefundStatus } | undefined): { refund: Refund; runId: string | null } | undefined {
    const cached = this.records.get(refundId);
    return cached && cached.version === latest?.version && !pastAutoApproval(cached.found.refund) ? cached.found : undefined;
  }

  /** Keeps a record read while the fold's latest event about it was `latest`, if it may be reused (see `cacheable`). */
  private keepRecord(refundId: string, found: { refund: Refund; runId: string | null }, latest: { version: number; status: RefundStatus } | undefined): void {
    if (!cacheable(found.refund, latest)) return;
    this.records.delete(refundId);
    this.records.set(refundId, { version: latest?.version, found });
    if (this.records.size > RECORD_CACHE_SIZE) this.records.delete(this.records.keys().next().value!);
  }

  /** A live or completed refund of the subscription, other than `exceptRefundId`. */
  async findBlocking(subscriptionId: string, exceptRefundId?: string): Promise<Refund | null> {
    const filter: FilterQuery<RefundRecord> = { subscriptionId, refundStatus: { $in: [...BLOCKING_STATUSES] } };
    if (exceptRefundId) filter._id = { $ne: exceptRefundId };
    const record = await this.refunds.findOne(filter).sort({ createdAt: -1 }).lean();
    return record ? (await this.views([record]))[0]! : null;
  }

  listByUser(userId: string, options: ListOptions): Promise<Page<Refund>> {
    return this.ownerList(`u:${userId}`, { userId }, options);
  }

  listByCreator(creatorId: string, options: ListOptions): Promise<Page<Refund>> {
    return this.ownerList(`c:${creatorId}`, { creatorId }, options);
  }

  /**
   * A user's or creator's refunds, newest first. With the event log's fold
   * (`stats`), the order comes from memory: the fold places every refund in
   * its owners' orders from its `created` event and keeps them in its
   * snapshots. A page then costs only its records, by `_id`, reused while no
   * event about them followed (see `currentRecord`), or, for an owner with
   * few refunds, one query for all of them when that is cheaper
   * (`ownerQueryCheaper`): the cost does not grow with the owner's refunds,
   * which FerretDB would read and sort in full on every page. (A fold restored
   * from a snapshot written before it kept owners reads an owner's refunds
   * from the store the first time its list is asked for: `loadOwner`.) A
   * refund whose record does not (yet) show the status asked for is left out.
   * Without the fold, the store sorts (index-served on MongoDB).
   */
  private async ownerList(key: OwnerKey, filter: FilterQuery<RefundRecord>, options: ListOptions): Promise<Page<Refund>> {
    if (!this.stats) return this.page(filter, options, -1);
    const stats = await this.stats.fresh();
    await this.placeUnplaced(stats);
    const order = await stats.followOwner(key, () => this.loadOwner(stats, filter));
    const cursor = options.cursor ? decodeCursor(options.cursor) : null;
    let after = cursor ? { createdAt: cursor.createdAt.getTime(), refundId: cursor.id } : null;
    const found: { view: Refund; createdAt: number }[] = [];
    let ownerRead: Map<string, { refund: Refund; runId: string | null }> | undefined;
    for (;;) {
      const candidates = stats.ownerPage(order, after, options.status, options.limit + 1 - found.length);
      if (candidates.length === 0) break;
      const toRead = candidates.filter(({ refundId }) => !this.reusable(refundId, stats.latestOf(refundId))).length;
      if (!ownerRead && ownerQueryCheaper(order.entries.length, toRead)) ownerRead = await this.queryOwner(stats, key, filter, candidates);
      // A record the owner's query just returned is as current as one read by `_id` now.
      const records = await Promise.all(candidates.map(({ refundId }) => ownerRead?.get(refundId) ?? this.currentRecord(stats, refundId)));
      candidates.forEach(({ createdAt }, i) => {
        const view = records[i]?.refund;
        if (view && (!options.status || view.refundStatus === options.status)) found.push({ view, createdAt });
      });
      after = candidates[candidates.length - 1]!;
      if (found.length > options.limit) break;
    }
    const items = found.slice(0, options.limit);
    const last = items[items.length - 1];
    return { items: items.map(({ view }) => view), nextCursor: found.length > options.limit && last ? encodeCursor(new Date(last.createdAt), last.view.refundId) : null };
  }

  /**
   * One query for an owner's records, or, when one for the same owner is in
   * flight (a burst of requests for a list nothing of which is kept yet), a
   * wait for that one: what it kept is then reused under the usual rule
   * (`reusable`: no event about the refund since it was read), and the rest
   * is read by `_id`, so each request still sees every write that finished
   * before it asked.
   */
  private async queryOwner(stats: RefundStats, key: OwnerKey, filter: FilterQuery<RefundRecord>, candidates: OwnerEntry[]): Promise<Map<string, { refund: Refund; runId: string | null }>> {
    const inFlight = this.ownerQueries.get(key);
    if (inFlight) {
      await inFlight.catch(() => undefined);
      return new Map();
    }
    const query = this.readOwnerRecords(stats, filter, new Set(candidates.map(({ refundId }) => refundId))).then(({ found }) => found);
    this.ownerQueries.set(key, query);
    try {
      return await query;
    } finally {
      this.ownerQueries.delete(key);
    }
  }

  /**
   * Only for a fold restored from a snapshot without owners: an owner's order
   * (`_id`, createdAt and status of each of its refunds), read with its
   * records in one query, of which the newest are kept as if read by
   * `_id`: the first page of an owner's list then costs one store read, not one
   * per refund on it. (The local store reads whole documents for any equality
   * filter, projected or not, so one query is the cheapest there; on MongoDB
   * it moves the owner's documents once.) A record is kept only if no event
   * about its refund was folded after the read began (the rule
   * `currentRecord` follows: the version it is kept under is never newer than
   * the read).
   */
  private async loadOwner(stats: RefundStats, filter: FilterQuery<RefundRecord>): Promise<(OwnerEntry & { status: RefundStatus })[]> {
    const { records } = await this.readOwnerRecords(stats, filter, new Set());
    return records.map((record) => ({ refundId: record._id, createdAt: record.createdAt.getTime(), status: record.refundStatus }));
  }

  /**
   * All of an owner's records in one query; the newest, and those in
   * `wanted`, are kept as if read by `_id` (see `loadOwner`) and returned as
   * views (`found`).
   */
  private async readOwnerRecords(
    stats: RefundStats,
    filter: FilterQuery<RefundRecord>,
    wanted: Set<string>,
  ): Promise<{ records: RefundRecord[]; found: Map<string, { refund: Refund; runId: string | null }> }> {
    const foldedBefore = stats.foldedSeq();
    const records = await this.refunds.find(filter).lean();
    const kept = records
      .map((record) => ({ record, createdAt: record.createdAt.getTime(), refundId: record._id, latest: stats.latestOf(record._id) }))
      .sort((a, b) => compareOrder(b, a))
      .filter(({ refundId }, i) => i < OWNER_RECORDS_KEPT_ON_LOAD || wanted.has(refundId));
    const views = await this.views(kept.map(({ record }) => record));
    const found = new Map<string, { refund: Refund; runId: string | null }>();
    kept.forEach(({ record, latest }, i) => {
      const view = { refund: views[i]!, runId: record.runId ?? null };
      found.set(record._id, view);
      if ((latest?.version ?? -1) <= foldedBefore) this.keepRecord(record._id, view, latest);
    });
    return { records, found };
  }

  /** Refunds whose events did not say whose they are: their records say, read by `_id`. */
  private async placeUnplaced(stats: RefundStats): Promise<void> {
    const unplaced = stats.unplacedRefunds();
    for (let start = 0; start < unplaced.length; start += 50) {
      const records = await Promise.all(unplaced.slice(start, start + 50).map((refundId) => this.refunds.findById(refundId, { userId: 1, creatorId: 1, createdAt: 1 }).lean()));
      for (const record of records) if (record) stats.placeOwned(record._id, record.createdAt.getTime(), record.userId, record.creatorId);
    }
  }

  /**
   * Refunds awaiting a decision, oldest first (the order an admin should work
   * through them). With the event log's fold (`stats`), the order comes from
   * memory and only the page's records are read, by `_id`; a record that has
   * moved on since the fold was read is left out. Without it, the store sorts.
   */
  async listPending(options: Omit<ListOptions, 'status'>): Promise<Page<Refund>> {
    if (!this.stats) return this.page({}, { ...options, status: 'pending_approval' }, 1);
    const stats = await this.stats.fresh();
    let after = options.cursor ? decodeCursor(options.cursor) : null;
    const found: { view: Refund; createdAt: Date }[] = [];
    for (;;) {
      const wanted = options.limit + 1 - found.length;
      const candidates = stats.pendingAfter(after ? { createdAt: after.createdAt.getTime(), refundId: after.id } : null, wanted);
      if (candidates.length === 0) break;
      const entries = await Promise.all(candidates.map(({ refundId }) => this.pendingView(stats, refundId)));
      found.push(...entries.filter((entry): entry is { view: Refund; createdAt: Date } => entry !== null));
      const last = candidates[candidates.length - 1]!;
      after = { createdAt: new Date(last.createdAt), id: last.refundId };
      if (found.length > options.limit) break;
    }
    if (this.pendingViews.size > 2 * stats.pendingCount() + 1_000) {
      for (const refundId of this.pendingViews.keys()) if (stats.pendingVersion(refundId) === undefined) this.pendingViews.delete(refundId);
    }
    const items = found.slice(0, options.limit);
    const last = items[items.length - 1];
    return { items: items.map(({ view }) => view), nextCursor: found.length > options.limit && last ? encodeCursor(last.createdAt, last.view.refundId) : null };
  }

  /**
   * A pending refund's view, read once per version: every change to a pending
   * refund (a status change, a notification failure) is an event, so a copy
   * read after the fold's latest event about it is current.
   */
  private async pendingView(stats: RefundStats, refundId: string): Promise<{ view: Refund; createdAt: Date } | null> {
    const version = stats.pendingVersion(refundId);
    const cached = this.pendingViews.get(refundId);
    if (cached && cached.version === version && !pastAutoApproval(cached.view)) return cached;
    const record = await this.readRecord(refundId);
    if (record?.refundStatus !== 'pending_approval' || version === undefined) return null;
    const entry = { version, view: (await this.views([record]))[0]!, createdAt: record.createdAt };
    this.pendingViews.set(refundId, entry);
    return entry;
  }

  async countsByStatus(): Promise<Record<RefundStatus, number>> {
    const counts = Object.fromEntries(REFUND_STATUSES.map((status) => [status, 0])) as Record<RefundStatus, number>;
    const rows = await this.refunds.aggregate<{ _id: RefundStatus; count: number }>([{ $group: { _id: '$refundStatus', count: { $sum: 1 } } }]);
    for (const row of rows) if (row._id in counts) counts[row._id] = row.count;
    return counts;
  }

  /** Sums of completed refunds per currency. Summed as bigint here: no store can add 256-bit integers exactly. */
  async completedTotals(): Promise<{ currency: Currency; amount: string; count: number }[]> {
    const totals = new Map<string, { currency: Currency; amount: bigint; count: number }>();
    const cursor = this.refunds.find({ refundStatus: 'completed' }, { amount: 1, currency: 1 }).lean().cursor();
    for await (const record of cursor) {
      const key = currencyKey(record.currency);
      const total = totals.get(key) ?? { currency: record.currency, amount: 0n, count: 0 };
      total.amount += parseAmount(record.amount);
      total.count += 1;
      totals.set(key, total);
    }
    return [...totals.values()].map(({ currency, amount, count }) => ({ currency, amount: amount.toString(), count }));
  }

  /** Mean of processingTimeMs over completed refunds (request to completion). */
  async averageProcessingTimeMs(): Promise<number | null> {
    const timed: FilterQuery<RefundRecord> = { refundStatus: 'completed', processingTimeMs: { $type: 'number' } };
    // Two reads on purpose: FerretDB v1 answers 0 for `count: { $sum: 1 }` when a $group has a second accumulator.
    const [[row], count] = await Promise.all([
      this.refunds.aggregate<{ total: number }>([{ $match: timed }, { $group: { _id: null, total: { $sum: '$processingTimeMs' } } }]),
      this.refunds.countDocuments(timed),
    ]);
    return row && count > 0 ? Math.round(row.total / count) : null;
  }

  async oldestPendingRequestedAt(): Promise<Date | null> {
    const record = await this.refunds.findOne({ refundStatus: 'pending_approval' }, { requestedAt: 1 }).sort({ createdAt: 1 }).lean();
    return record?.requestedAt ?? null;
  }

  private async page(filter: FilterQuery<RefundRecord>, options: ListOptions, direction: 1 | -1): Promise<Page<Refund>> {
    const query: FilterQuery<RefundRecord> = { ...filter };
    if (options.status) query.refundStatus = options.status;
    if (options.cursor) {
      const { createdAt, id } = decodeCursor(options.cursor);
      const beyond = direction === -1 ? '$lt' : '$gt';
      query.$or = [{ createdAt: { [beyond]: createdAt } }, { createdAt, _id: { [beyond]: id } }];
    }
    const records = await this.refunds
      .find(query)
      .sort({ createdAt: direction, _id: direction })
      .limit(options.limit + 1)
      .lean();
    const items = records.slice(0, options.limit);
    const last = items[items.length - 1];
    return {
      items: await this.views(items),
      nextCursor: records.length > options.limit && last ? encodeCursor(last.createdAt, last._id) : null,
    };
  }

  /**
   * Views of records with their notification failures joined: one equality
   * read per record (index-served on MongoDB and on the local store, where an
   * `$in` reads the whole collection), skipped for the refunds the event log
   * says never had a failure.
   */
  private async views(records: RefundRecord[]): Promise<Refund[]> {
    return Promise.all(
      records.map(async (record) => {
        if (this.stats && !this.stats.mayHaveNotificationFailures(record._id)) return toView(record);
        const failures = await this.notificationFailures.find({ refundId: record._id }).lean();
        failures.sort((a, b) => (a.at < b.at ? -1 : a.at > b.at ? 1 : 0));
        return toView(
          record,
          failures.map(({ eventId, channel, recipient, error, at }) => ({ eventId, channel, recipient, error, at })),
        );
      }),
    );
  }
}

const RECORD_CACHE_SIZE = 20_000;

/**
 * Whether one query for all of an owner's records (`ownerRefunds` of them)
 * costs less than `toRead` reads by `_id`. Measured on the embedded store
 * (FerretDB over PostgreSQL, 2 cores, 20 000 refunds): a query about 10 ms
 * plus 0.5 ms per document it returns, a read by `_id` about 4 ms. On MongoDB
 * both are cheaper and the choice matters less.
 */
export function ownerQueryCheaper(ownerRefunds: number, toRead: number): boolean {
  return 10 + 0.5 * ownerRefunds < 4 * toRead;
}
/** An owner's newest records read with its order (a first page and more, whatever its status filter). */
const OWNER_RECORDS_KEPT_ON_LOAD = 50;

/**
 * Whether a record just read may be reused until the next event about its
 * refund. Every change of status and every notification failure is an event,
 * but a status change's event comes before its record is written, so the copy
 * must show the status the latest event left. Payout details are written
 * without an event while a refund is approved or processing: those are never
 * kept; nor a pending refund past its auto-approval time (see
 * `pastAutoApproval`). With no event seen since this process started, only a
 * final record is kept (its status cannot change any more).
 */
function cacheable(refund: Refund, latest: { version: number; status: RefundStatus } | undefined): boolean {
  const status = refund.refundStatus;
  if (status === 'approved' || status === 'processing' || pastAutoApproval(refund)) return false;
  return latest ? latest.status === status : TERMINAL.has(status);
}

/**
 * A pending refund whose auto-approval time has passed may get its
 * `waitingReason` (an amount above PAYOUT_MAX_AMOUNT) written without an
 * event: a copy of it is not reused, whenever it was read.
 */
function pastAutoApproval(refund: Refund): boolean {
  return refund.refundStatus === 'pending_approval' && Date.parse(refund.autoApproveAt) <= Date.now();
}

const TERMINAL = new Set<RefundStatus>(['completed', 'rejected', 'cancelled']);

/** The event-log entry of a change to `view` (its creation: kind 'created', key `<refundId>:created`, from null). */
export function eventOf(view: Refund, createdAt: Date, kind: RefundEventInput['kind'], key: string, from: RefundStatus | null, to: RefundStatus): RefundEventInput {
  return {
    key,
    kind,
    refundId: view.refundId,
    from,
    to,
    createdAt,
    requestedAt: new Date(view.requestedAt),
    amount: view.amount,
    currency: view.currency,
    processingTimeMs: view.processingTimeMs,
    userId: view.userId,
    creatorId: view.creatorId,
  };
}

function sameChange(entry: StatusChange, change: StatusChange): boolean {
  return entry.status === change.status && entry.at === change.at && entry.by === change.by;
}

function encodeCursor(createdAt: Date, id: string): string {
  return `${createdAt.getTime()}.${id}`;
}

function decodeCursor(cursor: string): { createdAt: Date; id: string } {
  const position = CURSOR_PATTERN.exec(cursor);
  if (!position) throw new Error(`cursor ${JSON.stringify(cursor)} is not <milliseconds>.<id>`);
  return { createdAt: new Date(Number(position[1])), id: position[2]! };
}

function fromView({ notificationFailures: _storedSeparately, ...view }: Refund): Omit<RefundRecord, '_id' | 'runId' | 'createdAt' | 'updatedAt'> {
  return {
    ...view,
    requestedAt: new Date(view.requestedAt),
    autoApproveAt: new Date(view.autoApproveAt),
    decidedAt: view.decidedAt ? new Date(view.decidedAt) : null,
    completedAt: view.completedAt ? new Date(view.completedAt) : null,
  };
}

export function toView(record: RefundRecord, notificationFailures: NotificationFailure[] = []): Refund {
  return {
    refundId: record._id,
    subscriptionId: record.subscriptionId,
    userId: record.userId,
    creatorId: record.creatorId,
    workflowId: record.workflowId,
    refundStatus: record.refundStatus,
    amount: record.amount,
    amountFormatted: record.amountFormatted,
    currency: { symbol: record.currency.symbol, decimals: record.currency.decimals, tokenAddress: record.currency.tokenAddress ?? null },
    breakdown: record.breakdown,
    reason: record.reason ?? null,
    requestedAt: record.requestedAt.toISOString(),
    requestedBy: record.requestedBy,
    autoApproveAt: record.autoApproveAt.toISOString(),
    decidedBy: record.decidedBy ?? null,
    decidedAt: record.decidedAt?.toISOString() ?? null,
    decisionNote: record.decisionNote ?? null,
    transactionId: record.transactionId ?? null,
    payout: record.payout ?? null,
    completedAt: record.completedAt?.toISOString() ?? null,
    failureReason: record.failureReason ?? null,
    failureCode: record.failureCode ?? null,
    retryable: record.retryable ?? null,
    waitingReason: record.waitingReason ?? null,
    statusHistory: record.statusHistory.map(({ status, at, by, note }) => (note ? { status, at, by, note } : { status, at, by })),
    notificationFailures,
    processingTimeMs: record.processingTimeMs ?? null,
  };
}
