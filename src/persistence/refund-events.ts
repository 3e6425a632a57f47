import crypto from 'node:crypto';
import { Schema, type Connection, type Model } from 'mongoose';
import { currencyKey, type Currency } from '../domain/currency';
import { parseAmount } from '../domain/amount';
import { REFUND_STATUSES, type RefundStatus } from '../domain/refund-status';
import { isDuplicateKey } from './errors';

/**
 * `refundevents`: an append-only log of every change to the set of refunds
 * (a record created, a status changed, a notification failed for good), kept
 * so the hot reads never scan: statistics, /api/status counts and the pending
 * list are folded from it in memory (RefundStats) instead of counted, grouped
 * and sorted in the store on every request.
 *
 * Why a log with a dense sequence: the local store (FerretDB v1) serves only
 * `_id` and simple-equality filters from an index; ranges, sorts, counts and
 * `$group` read the whole collection, and its updates are read-then-write, so a
 * shared counter document would lose increments. Appends are unique inserts at
 * `_id: e:<seq>` (the next free slot; a lost race moves on to the next one) and
 * a unique `key` per change, so a retried activity appends its change once.
 * Readers fetch the log a page at a time by equality on `page`.
 * Every operation here is index-friendly on real MongoDB too.
 */
export const EVENTS_PER_PAGE = 100;
/** A reader skips a hole in the sequence that stays open this long (a writer that died between allocating and inserting cannot happen with unique inserts, but a store restored from a partial backup can). */
const GAP_GRACE_MS = 10_000;
/** A reader saves a snapshot after folding this many events, so a new process starts from it instead of from the first event. */
const SNAPSHOT_EVERY = 2_000;
/** New events a refresh reads one by one (by `_id`, one document each) before it reads whole pages. */
const SINGLE_READS = 8;
/** A refresh that finds nothing new still reads the last page this often, so a hole in the sequence is noticed. */
const PAGE_READ_EVERY_MS = 5_000;
/** Pages read at once while catching up. */
const PAGES_AHEAD = 8;
/** Refunds kept in owner orders (user and creator lists) before the least recently listed owners are dropped; only when the fold does not know every refund's owners (see `RefundStats.ownersComplete`). */
const OWNER_ENTRIES_KEPT = 400_000;
/** A snapshot's JSON is stored in parts of at most this many characters (at most 3 bytes each in UTF-8), under MongoDB's 16 MB document limit. */
const SNAPSHOT_PART_CHARS = 2 * 2 ** 20;

export type RefundEventKind = 'created' | 'status' | 'notificationFailure';

export interface RefundEventRecord {
  _id: string;
  seq: number;
  page: number;
  key: string;
  kind: RefundEventKind;
  refundId: string;
  from: RefundStatus | null;
  to: RefundStatus;
  /** The record's createdAt: the order of the lists. */
  createdAt: Date;
  requestedAt: Date;
  amount: string;
  currency: Currency;
  processingTimeMs: number | null;
  /** Whose refund it is (the user and creator lists' keys). Events appended before these existed have neither. */
  userId?: string;
  creatorId?: string;
}

export type RefundEventInput = Omit<RefundEventRecord, '_id' | 'seq' | 'page'>;

const refundEventSchema = new Schema<RefundEventRecord>(
  {
    _id: String,
    seq: { type: Number, required: true },
    page: { type: Number, required: true },
    key: { type: String, required: true },
    kind: { type: String, required: true },
    refundId: { type: String, required: true },
    from: { type: String, default: null },
    to: { type: String, required: true },
    createdAt: { type: Date, required: true },
    requestedAt: { type: Date, required: true },
    amount: { type: String, required: true },
    currency: { symbol: String, decimals: Number, tokenAddress: { type: String, default: null } },
    processingTimeMs: { type: Number, default: null },
    userId: { type: String, required: false },
    creatorId: { type: String, required: false },
  },
  { collection: 'refundevents', versionKey: false },
);

export const REFUND_EVENT_INDEXES = [{ keys: { page: 1 } }, { keys: { key: 1 }, options: { unique: true } }] as const;

interface PendingEntry {
  createdAt: number;
  requestedAt: number;
  /** Sequence number of the latest event about this refund: a copy of its record read after it is current. */
  version: number;
}

/** One refund in an owner's list order. */
export interface OwnerEntry {
  createdAt: number;
  refundId: string;
}

/** `u:<userId>` or `c:<creatorId>`: whose list. */
export type OwnerKey = `${'u' | 'c'}:${string}`;

/**
 * The refunds of one user or creator in list order, kept current by the log:
 * each refund is placed from its `created` event (or, for a fold restored from
 * a snapshot without owners, the owner's refunds are read from the store once,
 * when its list is first asked for, and later ones placed from their events).
 */
export interface OwnerOrder {
  entries: OwnerEntry[];
  ids: Set<string>;
  /** Statuses as read from the store (only for owners read so); a refund with an event since this process started takes that event's. */
  loadedStatus: Map<string, RefundStatus>;
  /** Set while the store is read: answers wait for it. */
  loading: Promise<void> | null;
}

/** Everything the hot reads need, folded from the log up to `seq`. */
export interface RefundStatsState {
  seq: number;
  counts: Record<RefundStatus, number>;
  totals: Record<string, { currency: Currency; amount: string; count: number }>;
  processingSumMs: number;
  processingCount: number;
  /** [refundId, createdAt ms, requestedAt ms] of every refund awaiting a decision. */
  pending: [string, number, number][];
  /** Refunds with at least one notification failure: only these are joined with `refundnotificationfailures`. */
  withFailures: string[];
  /** Every refund's owners, for the user and creator lists. Absent in snapshots written before it was kept: a fold restored from one reads each owner's refunds from the store instead. */
  owned?: OwnedState;
}

/** Every refund's place in its user's and creator's lists, compactly: owner ids once, refunds by index. */
export interface OwnedState {
  /** User and creator ids, referred to by index in `refunds`. */
  owners: string[];
  /** [refundId, createdAt ms, index of its userId, index of its creatorId, status as last folded (null if unknown)] */
  refunds: [string, number, number, number, RefundStatus | null][];
  /** Refunds created by events that did not say whose they are, not yet placed (see `RefundStats.unplacedRefunds`), with their statuses. */
  unplaced: [string, RefundStatus | null][];
}

/** Where a snapshot is: its head's `_id`, and how many parts it has (the others are at `<head>:<i>`). */
interface SnapshotPlace {
  head: string;
  parts: number;
}

/**
 * A snapshot's head (`state` holds the first part of its JSON, `parts` how
 * many there are in all), one of its further parts, or the pointer to the
 * latest (`_id: latest`: `head` and `parts` name it, `previous` the one it
 * replaced, `withOwners` whether it has `owned`; pointers written before
 * `head` existed name `s:<seq>`).
 */
interface SnapshotRecord {
  _id: string;
  seq: number;
  state: string;
  at: Date;
  parts?: number;
  head?: string;
  previous?: SnapshotPlace;
  withOwners?: boolean;
}

const snapshotSchema = new Schema<SnapshotRecord>(
  { _id: String, seq: Number, state: String, at: Date, parts: Number, head: String, previous: { head: String, parts: Number }, withOwners: Boolean },
  { collection: 'refundstatsnapshots', versionKey: false },
);

export function refundEventModel(connection: Connection): Model<RefundEventRecord> {
  return (connection.models.RefundEvent as Model<RefundEventRecord> | undefined) ?? connection.model<RefundEventRecord>('RefundEvent', refundEventSchema);
}

function snapshotModel(connection: Connection): Model<SnapshotRecord> {
  return (connection.models.RefundStatsSnapshot as Model<SnapshotRecord> | undefined) ?? connection.model<SnapshotRecord>('RefundStatsSnapshot', snapshotSchema);
}

/** How often an API process refreshes its fold in the background (`keepFresh`): one `_id` read a second when nothing happens. */
export const FOLD_REFRESH_EVERY_MS = 1_000;

const LATEST = 'latest';

/** The writing side: one per process, appends one at a time (so its own appends never leave a hole). */
export class RefundEventLog {
  private readonly events: Model<RefundEventRecord>;
  private next: number | null = null;
  private queue: Promise<unknown> = Promise.resolve();

  constructor(connection: Connection) {
    this.events = refundEventModel(connection);
  }

  append(event: RefundEventInput): Promise<void> {
    const run = this.queue.then(() => this.appendNow(event));
    this.queue = run.catch(() => undefined);
    return run;
  }

  /**
   * Appends many in order, for bulk loads (the benchmark): an ordered
   * insertMany per page at the log's end. When another process appends
   * meanwhile, the insert stops at its slot; what was inserted stays and the
   * rest goes to the new end. Events must not have been appended before.
   */
  async appendMany(events: RefundEventInput[]): Promise<void> {
    const run = this.queue.then(async () => {
      let rest = events;
      while (rest.length > 0) {
        const seq = await this.tail();
        const batch = rest.slice(0, EVENTS_PER_PAGE).map((event, i) => ({ ...event, _id: eventId(seq + i), seq: seq + i, page: pageOf(seq + i) }));
        let inserted = batch.length;
        try {
          await this.events.insertMany(batch, { ordered: true });
        } catch (error) {
          if (!isDuplicateKey(error)) throw error;
          // Ordered: a prefix went in. Count it by key, which also skips an event that was already there.
          inserted = 0;
          while (inserted < batch.length && (await this.events.exists({ key: batch[inserted]!.key })) !== null) inserted += 1;
        }
        rest = rest.slice(inserted);
        this.next = seq + inserted;
      }
    });
    this.queue = run.catch(() => undefined);
    return run;
  }

  private async appendNow(event: RefundEventInput): Promise<void> {
    let seq = this.next ?? (await this.tail());
    for (let collisions = 0; ; collisions += 1) {
      try {
        await this.events.create({ ...event, _id: eventId(seq), seq, page: pageOf(seq) });
        this.next = seq + 1;
        return;
      } catch (error) {
        if (!isDuplicateKey(error)) throw error;
        if (await this.events.exists({ key: event.key })) return; // this change was appended before (a retried activity)
        // Another process took the slot. After a few in a row our position is stale: find the end again.
        seq = collisions < 3 ? seq + 1 : await this.tail();
      }
    }
  }

  /**
   * The first free sequence number: the log is dense, so "slot n is taken" is
   * monotone and a search over `_id` lookups finds the end, galloping from
   * the last known position.
   */
  async tail(): Promise<number> {
    const taken = async (seq: number) => (await this.events.exists({ _id: eventId(seq) })) !== null;
    const from = this.next ?? 0;
    if (!(await taken(from))) {
      if (from === 0 || (await taken(from - 1))) return from;
      this.next = null; // the hint is past the end (a store reset under us): search from the start
      return this.tail();
    }
    let step = 1;
    while (await taken(from + step)) step *= 2;
    let low = from + step / 2; // taken (or `from` itself)
    let high = from + step;
    if (step === 1) low = from;
    while (high - low > 1) {
      const mid = Math.floor((low + high) / 2);
      if (await taken(mid)) low = mid;
      else high = mid;
    }
    return high;
  }
}

function eventId(seq: number): string {
  return `e:${seq}`;
}

function pageOf(seq: number): number {
  return Math.floor(seq / EVENTS_PER_PAGE);
}

export function emptyStatsState(): RefundStatsState {
  return {
    seq: -1,
    counts: Object.fromEntries(REFUND_STATUSES.map((status) => [status, 0])) as Record<RefundStatus, number>,
    totals: {},
    processingSumMs: 0,
    processingCount: 0,
    pending: [],
    withFailures: [],
  };
}

/**
 * The reading side: the fold of the log, kept in memory and brought up to date
 * before each answer by reading the log from where it stopped (usually one
 * equality read of its last page). A new process starts from the latest
 * snapshot.
 */
export class RefundStats {
  private readonly events: Model<RefundEventRecord>;
  private readonly snapshots: Model<SnapshotRecord>;
  private seq = -1;
  private counts = emptyStatsState().counts;
  private readonly totals = new Map<string, { currency: Currency; amount: bigint; count: number }>();
  private processingSumMs = 0;
  private processingCount = 0;
  private readonly pending = new Map<string, PendingEntry>();
  /** The pending refunds ordered by (createdAt, refundId): the pending list's order. */
  private readonly pendingOrder: { createdAt: number; refundId: string }[] = [];
  private readonly withFailures = new Set<string>();
  /** Per refund seen since this process started: its latest event and the status it left. Not snapshotted. */
  private readonly latest = new Map<string, { version: number; status: RefundStatus }>();
  private recentKeys = new Set<string>();
  /**
   * Owners in list order. While `ownersComplete`, every owner with a refund
   * (kept in snapshots); otherwise only owners whose lists were asked for,
   * least recently listed first, each read from the store once.
   */
  private readonly owners = new Map<OwnerKey, OwnerOrder>();
  private ownerEntries = 0;
  /**
   * True when the fold knows every refund's owners: it started from the log's
   * beginning, or from a snapshot that has them. False after a snapshot written
   * before owners were kept: then an owner's refunds are read from the store the
   * first time its list is asked for (`followOwner`'s `load`).
   */
  private ownersComplete = true;
  /** Statuses of the refunds a snapshot placed in owner orders; a refund with an event since takes that event's (`latest`). */
  private readonly restoredStatus = new Map<string, RefundStatus>();
  /** Refunds created by events without owner fields while owners are followed: placed once their records are read. */
  private readonly unplaced = new Set<string>();
  /** The hole the fold waits at: empty slots `from`..`through` seen with an event after them, first at `at`. */
  private gap: { from: number; through: number; at: number } | null = null;
  private loaded = false;
  private running: Promise<void> | undefined;
  private queued: Promise<void> | undefined;
  private sinceSnapshot = 0;
  private pageReadAt = 0;
  /** Set while `keepFresh` runs: the page read that finds holes is then its job, not a request's. */
  private pageReadsInBackground = false;
  /** A page the background read, for the next refresh to fold in order. */
  private pageRead: { page: number; docs: RefundEventRecord[]; nextPageStarted: boolean } | null = null;
  /** The snapshot being written, off the fold's queue. */
  private snapshotting: Promise<void> | undefined;

  constructor(
    connection: Connection,
    private readonly options: { now?: () => number; ownerEntriesKept?: number; snapshotPartChars?: number } = {},
  ) {
    this.events = refundEventModel(connection);
    this.snapshots = snapshotModel(connection);
  }

  private now(): number {
    return (this.options.now ?? Date.now)();
  }

  /**
   * Brings the fold up to at least every change that was in the log when this
   * was called (read-your-writes), at the cost of one equality read of the
   * log's last page. Callers arriving while a read runs share the next one, so
   * any number of concurrent requests cause at most two reads in a row.
   */
  async fresh(): Promise<this> {
    if (!this.queued) {
      const before = this.running ?? Promise.resolve();
      const run: Promise<void> = before
        .catch(() => undefined)
        .then(() => {
          this.queued = undefined;
          this.running = run;
          return this.refresh();
        })
        .finally(() => {
          if (this.running === run) this.running = undefined;
        });
      this.queued = run;
    }
    await this.queued;
    return this;
  }

  /**
   * Refreshes the fold every `intervalMs` in the background, so that a request
   * after a burst of writes by other processes (the worker's records, a sweep's
   * starts) finds it nearly current instead of catching up on its own time.
   * While it runs, the page read that looks for holes is done here too, never
   * by a request (see `refreshInBackground`).
   * `outcome` hears how each refresh ended (an error, or undefined); returns
   * what stops it.
   */
  keepFresh(intervalMs: number, outcome: (error: unknown) => void): () => void {
    this.pageReadsInBackground = true;
    const timer = setInterval(() => {
      this.refreshInBackground().then(() => outcome(undefined), outcome);
    }, intervalMs);
    timer.unref();
    return () => {
      clearInterval(timer);
      this.pageReadsInBackground = false;
    };
  }

  /**
   * One round of `keepFresh`: new events by `_id`, as a request reads them,
   * then, when due, the read of the log's last page that finds holes. That
   * read converts up to a page of documents in the store (tens of ms on the
   * embedded one); it runs outside the fold's queue, so requests do not wait
   * for it, and its documents are folded by the next refresh, in order.
   */
  async refreshInBackground(): Promise<void> {
    await this.fresh();
    if (this.now() - this.pageReadAt < PAGE_READ_EVERY_MS) return;
    this.pageReadAt = this.now();
    const page = pageOf(this.seq + 1);
    const docs = await this.events.find({ page }).lean();
    const lastSlotEmpty = !docs.some((doc) => doc.seq % EVENTS_PER_PAGE === EVENTS_PER_PAGE - 1);
    const nextPageStarted = lastSlotEmpty && (await this.events.exists({ page: page + 1 })) !== null;
    if (!this.pageReadsInBackground) return; // stopped meanwhile: nothing more is folded in the background
    this.pageRead = { page, docs, nextPageStarted };
    await this.fresh();
  }

  /**
   * Reads the log up to its end now. The usual case, nothing or a few new
   * events, costs one `_id` lookup per event plus one that finds nothing; a
   * longer run, or a missing event while a page read is due (to see holes;
   * only without `keepFresh`), reads whole pages.
   */
  private async refresh(): Promise<void> {
    if (!this.loaded) {
      await this.loadSnapshot();
      this.loaded = true;
    }
    const pageRead = this.pageRead;
    this.pageRead = null;
    if (pageRead) await this.foldPage(pageRead.page, pageRead.docs, async () => pageRead.nextPageStarted);
    for (let i = 0; i < SINGLE_READS; i += 1) {
      const doc = await this.events.findById(eventId(this.seq + 1)).lean();
      if (!doc) {
        if (this.pageReadsInBackground || this.now() - this.pageReadAt < PAGE_READ_EVERY_MS) return this.maybeSnapshot();
        break;
      }
      this.apply(doc);
    }
    await this.readPages();
    this.maybeSnapshot();
  }

  private async readPages(): Promise<void> {
    this.pageReadAt = this.now();
    // Far behind (a new process, a bulk load): read several pages at once, fold them in order.
    const prefetched = new Map<number, Promise<RefundEventRecord[]>>();
    const pageDocs = (page: number) => {
      for (let ahead = page; ahead < page + PAGES_AHEAD; ahead += 1) {
        if (prefetched.has(ahead)) continue;
        const read: Promise<RefundEventRecord[]> = this.events.find({ page: ahead }).lean().exec(); // a promise: a query re-runs on every then
        read.catch(() => undefined); // a read ahead that is never used must not be an unhandled rejection
        prefetched.set(ahead, read);
      }
      const docs = prefetched.get(page)!;
      prefetched.delete(page);
      return docs;
    };
    let full = 0;
    for (;;) {
      const page = pageOf(this.seq + 1);
      // Only once a page came back full is the next one likely to exist: near the end, one read at a time.
      const docs = full > 0 ? await pageDocs(page) : await this.events.find({ page }).lean();
      full = docs.length === EVENTS_PER_PAGE ? full + 1 : 0;
      const stalled = await this.foldPage(page, docs, async () => (await this.events.exists({ page: page + 1 })) !== null);
      if (stalled) break;
    }
  }

  /**
   * Folds one page's documents from the fold's position on. True when it
   * stopped inside the page: at the log's end, or at a hole still within its
   * grace. A hole is a run of empty slots with an event after it (later on
   * this page, or the next page started); once it has stayed open longer than
   * the grace, its slots are skipped, each after a read of its own slot finds
   * it still empty. Documents of a page the fold has already left change
   * nothing.
   */
  private async foldPage(page: number, docs: RefundEventRecord[], nextPageStarted: () => Promise<boolean>): Promise<boolean> {
    const bySeq = new Map(docs.map((doc) => [doc.seq, doc]));
    const seqs = docs.map((doc) => doc.seq).sort((a, b) => a - b);
    while (pageOf(this.seq + 1) === page) {
      const next = this.seq + 1;
      const doc = bySeq.get(next);
      if (doc) {
        this.apply(doc);
        continue;
      }
      if (!(this.gap && this.gap.from <= next && next <= this.gap.through)) {
        const after = seqs.find((seq) => seq > next);
        const through = after !== undefined ? after - 1 : (await nextPageStarted()) ? (page + 1) * EVENTS_PER_PAGE - 1 : null;
        if (through === null) return true; // the end of the log
        this.gap = { from: next, through, at: this.now() };
      }
      if (this.now() - this.gap.at < GAP_GRACE_MS) return true;
      // The page may be older than this moment (read in the background): the slot is asked for itself before it is given up.
      const late = await this.events.findById(eventId(next)).lean();
      if (late) {
        this.apply(late);
        continue;
      }
      this.seq = next; // a hole that stayed open: skip it
    }
    return false;
  }

  private apply(doc: RefundEventRecord): void {
    this.seq = doc.seq;
    this.sinceSnapshot += 1;
    if (this.recentKeys.has(doc.key)) return; // the same change appended twice (only without the unique index)
    this.recentKeys.add(doc.key);
    if (this.recentKeys.size > 50_000) this.recentKeys = new Set([...this.recentKeys].slice(-25_000));
    const seen = this.latest.get(doc.refundId);
    this.latest.set(doc.refundId, { version: doc.seq, status: doc.kind === 'notificationFailure' ? (seen?.status ?? doc.to) : doc.to });
    if (doc.kind === 'created' && (this.ownersComplete || this.owners.size > 0)) {
      const createdAt = new Date(doc.createdAt).getTime();
      if (doc.userId !== undefined && doc.userId !== null && doc.creatorId !== undefined && doc.creatorId !== null) this.placeOwned(doc.refundId, createdAt, doc.userId, doc.creatorId);
      else this.unplaced.add(doc.refundId);
    }
    if (doc.kind === 'notificationFailure') {
      this.withFailures.add(doc.refundId);
      const entry = this.pending.get(doc.refundId);
      if (entry) entry.version = doc.seq;
      return;
    }
    if (doc.from) {
      this.counts[doc.from] -= 1;
      if (doc.from === 'pending_approval') this.removePending(doc.refundId);
    }
    this.counts[doc.to] += 1;
    if (doc.to === 'pending_approval') this.addPending(doc.refundId, { createdAt: new Date(doc.createdAt).getTime(), requestedAt: new Date(doc.requestedAt).getTime(), version: doc.seq });
    if (doc.to === 'completed') {
      const key = currencyKey(doc.currency);
      const total = this.totals.get(key) ?? { currency: currencyOf(doc.currency), amount: 0n, count: 0 };
      total.amount += parseAmount(doc.amount);
      total.count += 1;
      this.totals.set(key, total);
      if (typeof doc.processingTimeMs === 'number') {
        this.processingSumMs += doc.processingTimeMs;
        this.processingCount += 1;
      }
    }
  }

  private addPending(refundId: string, entry: PendingEntry): void {
    if (this.pending.has(refundId)) return;
    this.pending.set(refundId, entry);
    const item = { createdAt: entry.createdAt, refundId };
    const last = this.pendingOrder[this.pendingOrder.length - 1];
    if (!last || compareOrder(last, item) < 0) this.pendingOrder.push(item); // the usual case: the newest refund
    else this.pendingOrder.splice(lowerBound(this.pendingOrder, item), 0, item);
  }

  private removePending(refundId: string): void {
    const entry = this.pending.get(refundId);
    if (!entry) return;
    this.pending.delete(refundId);
    const index = lowerBound(this.pendingOrder, { createdAt: entry.createdAt, refundId });
    if (this.pendingOrder[index]?.refundId === refundId) this.pendingOrder.splice(index, 1);
  }

  // --- answers -------------------------------------------------------------

  countsByStatus(): Record<RefundStatus, number> {
    return { ...this.counts };
  }

  completedTotals(): { currency: Currency; amount: string; count: number }[] {
    return [...this.totals.values()].map(({ currency, amount, count }) => ({ currency, amount: amount.toString(), count }));
  }

  averageProcessingTimeMs(): number | null {
    return this.processingCount > 0 ? Math.round(this.processingSumMs / this.processingCount) : null;
  }

  oldestPendingRequestedAt(): Date | null {
    let oldest: number | null = null;
    for (const { requestedAt } of this.pending.values()) if (oldest === null || requestedAt < oldest) oldest = requestedAt;
    return oldest === null ? null : new Date(oldest);
  }

  /** Pending refund ids in list order (oldest first), starting after `after`. */
  pendingAfter(after: { createdAt: number; refundId: string } | null, count: number): { createdAt: number; refundId: string }[] {
    const start = after ? upperBound(this.pendingOrder, after) : 0;
    return this.pendingOrder.slice(start, start + count);
  }

  /** The sequence number of the last event folded. */
  foldedSeq(): number {
    return this.seq;
  }

  /**
   * The latest event about a refund this process has folded (its version and
   * the status it left), if any; for a refund with no event since the
   * snapshot this fold was restored from, the status the snapshot had, as
   * version -1 (no event this process folded).
   */
  latestOf(refundId: string): { version: number; status: RefundStatus } | undefined {
    const latest = this.latest.get(refundId);
    if (latest) return latest;
    const restored = this.restoredStatus.get(refundId);
    return restored ? { version: -1, status: restored } : undefined;
  }

  /** The version of a pending refund (see PendingEntry.version); undefined when it is not pending. */
  pendingVersion(refundId: string): number | undefined {
    return this.pending.get(refundId)?.version;
  }

  pendingCount(): number {
    return this.pending.size;
  }

  mayHaveNotificationFailures(refundId: string): boolean {
    return this.withFailures.has(refundId);
  }

  // --- owner lists ---------------------------------------------------------

  /** Places a refund in its user's and creator's orders: every owner's while `ownersComplete`, otherwise where those are followed. */
  placeOwned(refundId: string, createdAt: number, userId: string, creatorId: string): void {
    this.unplaced.delete(refundId);
    for (const key of [`u:${userId}`, `c:${creatorId}`] as OwnerKey[]) {
      let order = this.owners.get(key);
      if (!order && this.ownersComplete) {
        order = emptyOrder();
        this.owners.set(key, order);
      }
      if (order) this.place(order, { createdAt, refundId });
    }
  }

  /** Refunds created by events that do not say whose they are (written before events did): each stays here until `placeOwned` places it. */
  unplacedRefunds(): string[] {
    return [...this.unplaced];
  }

  /**
   * An owner's order. While `ownersComplete`, it is in memory already (an
   * owner with no refund has an empty one), and `load` is not called.
   * Otherwise the owner is followed: `load` reads its refunds from the store,
   * once; refunds created meanwhile are placed from their events (the order is
   * followed before the read starts, so none falls between the two).
   * Concurrent callers share the read. The order returned stays readable by
   * the caller even if memory limits stop following the owner meanwhile
   * (another owner's list).
   */
  async followOwner(key: OwnerKey, load: () => Promise<(OwnerEntry & { status: RefundStatus })[]>): Promise<OwnerOrder> {
    if (this.ownersComplete) return this.owners.get(key) ?? emptyOrder();
    const known = this.owners.get(key);
    if (known) {
      this.owners.delete(key); // most recently listed last
      this.owners.set(key, known);
      if (known.loading) await known.loading;
      return known;
    }
    const order = emptyOrder();
    order.loading = (async () => {
      try {
        for (const { status, ...entry } of await load()) {
          order.loadedStatus.set(entry.refundId, status);
          this.place(order, entry);
        }
      } catch (error) {
        this.forget(key, order);
        throw error;
      } finally {
        order.loading = null;
      }
    })();
    this.owners.set(key, order);
    await order.loading;
    this.trimOwners(order);
    return order;
  }

  /**
   * Refunds of a followed owner in list order (newest first) strictly after
   * `after`, at most `count`, with `status` when given (as the log last left
   * each refund).
   */
  ownerPage(order: OwnerOrder, after: OwnerEntry | null, status: RefundStatus | undefined, count: number): OwnerEntry[] {
    const page: OwnerEntry[] = [];
    for (let i = (after ? lowerBound(order.entries, after) : order.entries.length) - 1; i >= 0 && page.length < count; i -= 1) {
      const entry = order.entries[i]!;
      if (status && this.statusIn(order, entry.refundId) !== status) continue;
      page.push(entry);
    }
    return page;
  }

  /** A refund's status as the log last left it (or as its owner's refunds were read). */
  private statusIn(order: OwnerOrder, refundId: string): RefundStatus | undefined {
    return this.latestOf(refundId)?.status ?? order.loadedStatus.get(refundId);
  }

  private place(order: OwnerOrder, entry: OwnerEntry): void {
    if (order.ids.has(entry.refundId)) return;
    order.ids.add(entry.refundId);
    const last = order.entries[order.entries.length - 1];
    if (!last || compareOrder(last, entry) < 0) order.entries.push(entry);
    else order.entries.splice(lowerBound(order.entries, entry), 0, entry);
    this.ownerEntries += 1;
  }

  private forget(key: OwnerKey, order: OwnerOrder): void {
    if (this.owners.get(key) !== order) return;
    this.owners.delete(key);
    this.ownerEntries -= order.entries.length;
  }

  /** Memory stays bounded: the least recently listed owners are dropped (and read again if asked for). */
  private trimOwners(keep: OwnerOrder): void {
    const kept = this.options.ownerEntriesKept ?? OWNER_ENTRIES_KEPT;
    for (const [key, order] of this.owners) {
      if (this.ownerEntries <= kept || this.owners.size <= 1) return;
      if (!order.loading && order !== keep) this.forget(key, order);
    }
  }

  // --- snapshots -----------------------------------------------------------

  state(): RefundStatsState {
    return {
      seq: this.seq,
      counts: this.countsByStatus(),
      totals: Object.fromEntries([...this.totals].map(([key, { currency, amount, count }]) => [key, { currency, amount: amount.toString(), count }])),
      processingSumMs: this.processingSumMs,
      processingCount: this.processingCount,
      pending: [...this.pending].map(([refundId, { createdAt, requestedAt }]) => [refundId, createdAt, requestedAt]),
      withFailures: [...this.withFailures],
      ...(this.ownersComplete ? { owned: this.ownedState() } : {}),
    };
  }

  private ownedState(): OwnedState {
    const owned = new OwnedStateBuilder();
    for (const [key, order] of this.owners) {
      const ownerId = key.slice(2);
      for (const { refundId, createdAt } of order.entries) owned.add(refundId, createdAt, key.startsWith('u:') ? { userId: ownerId } : { creatorId: ownerId }, this.statusIn(order, refundId));
    }
    return owned.build([...this.unplaced].map((refundId) => [refundId, this.latestOf(refundId)?.status ?? null]));
  }

  private restore(state: RefundStatsState): void {
    this.seq = state.seq;
    this.counts = { ...emptyStatsState().counts, ...state.counts };
    this.totals.clear();
    for (const [key, { currency, amount, count }] of Object.entries(state.totals)) this.totals.set(key, { currency, amount: BigInt(amount), count });
    this.processingSumMs = state.processingSumMs;
    this.processingCount = state.processingCount;
    this.pending.clear();
    this.pendingOrder.length = 0;
    for (const [refundId, createdAt, requestedAt] of state.pending) this.pending.set(refundId, { createdAt, requestedAt, version: state.seq });
    this.pendingOrder.push(...[...this.pending].map(([refundId, { createdAt }]) => ({ createdAt, refundId })).sort(compareOrder));
    this.withFailures.clear();
    for (const refundId of state.withFailures) this.withFailures.add(refundId);
    this.restoreOwners(state.owned);
  }

  private restoreOwners(owned: OwnedState | undefined): void {
    this.owners.clear();
    this.ownerEntries = 0;
    this.restoredStatus.clear();
    this.ownersComplete = owned !== undefined;
    this.unplaced.clear();
    if (!owned) return;
    for (const [refundId, status] of owned.unplaced) {
      this.unplaced.add(refundId);
      if (status) this.restoredStatus.set(refundId, status);
    }
    this.placeEveryRefund(owned.refunds.map(([refundId, createdAt, user, creator, status]) => ({ refundId, createdAt, userId: owned.owners[user]!, creatorId: owned.owners[creator]!, status })));
  }

  /**
   * Starts knowing every owner (`ownersComplete`) from these refunds, each
   * with the status it had when read (taken unless the log changed it since
   * this process started).
   */
  private placeEveryRefund(rows: (OwnerEntry & { userId: string; creatorId: string; status: RefundStatus | null })[]): void {
    this.owners.clear();
    this.ownerEntries = 0;
    this.ownersComplete = true;
    for (const { refundId, createdAt, userId, creatorId, status } of [...rows].sort(compareOrder)) {
      // In list order: each refund is appended to its orders.
      if (status && !this.latest.has(refundId)) this.restoredStatus.set(refundId, status);
      this.placeOwned(refundId, createdAt, userId, creatorId);
    }
  }

  /** Restores the snapshot the pointer names; one that is pruned while it is read (a writer moved on twice meanwhile) is replaced by the pointer's next. */
  private async loadSnapshot(): Promise<void> {
    for (let attempt = 0; attempt < 3; attempt += 1) {
      const pointer = await this.snapshots.findById(LATEST).lean();
      if (!pointer) return;
      const json = await readSnapshot(this.snapshots, placeOf(pointer).head);
      if (json !== null) return this.restore(JSON.parse(json) as RefundStatsState);
    }
    throw new Error('the statistics snapshot the latest pointer names could not be read three times in a row');
  }

  /**
   * Places every refund in its owners' orders from its record (owners never
   * change; a status the log has not changed since this process started is
   * taken from the record), so the fold knows every owner from here on, and
   * saves a snapshot that has them. For a fold restored from a snapshot
   * without owners (`addOwnersToSnapshot`); returns the refunds placed, 0 if
   * the fold knew every owner already.
   */
  async adoptOwners(records: AsyncIterable<RecordOwners>): Promise<number> {
    if (this.ownersComplete) return 0;
    await this.snapshotting; // one without owners, started by the refresh before this: it must not land after ours
    const rows: Parameters<RefundStats['placeEveryRefund']>[0] = [];
    for await (const { refundId, userId, creatorId, createdAt, refundStatus } of records) rows.push({ refundId, createdAt: createdAt.getTime(), userId, creatorId, status: refundStatus });
    this.placeEveryRefund(rows);
    await this.saveSnapshot();
    return rows.length;
  }

  /** Saves the fold as it is now; any reader may, and the latest pointer only has to be a valid snapshot, not the newest. */
  async saveSnapshot(): Promise<void> {
    const state = this.state();
    this.sinceSnapshot = 0;
    await saveStatsSnapshot(this.snapshots, state, this.options.snapshotPartChars);
  }

  /**
   * Starts a snapshot when one is due, outside the fold's queue: a large one
   * takes a while to write, and requests need not wait for it. Its cost grows
   * with the refunds it holds, so it is due every tenth of their number in
   * events (SNAPSHOT_EVERY at least): a constant cost per event.
   */
  private maybeSnapshot(): void {
    const refundsHeld = this.ownersComplete ? this.ownerEntries / 2 : 0;
    if (this.sinceSnapshot < Math.max(SNAPSHOT_EVERY, refundsHeld / 10) || this.snapshotting) return;
    this.snapshotting = this.saveSnapshot()
      .catch(() => undefined) // the next one is due after SNAPSHOT_EVERY more events
      .finally(() => {
        this.snapshotting = undefined;
      });
  }
}

/** What a refund record says about whose it is. */
export interface RecordOwners {
  refundId: string;
  userId: string;
  creatorId: string;
  createdAt: Date;
  refundStatus: RefundStatus;
}

/**
 * For `npm run migrate` on a store whose latest snapshot was written before
 * the fold kept owners: folds the log to its end, adds every refund's owners
 * from `records`, and saves a snapshot that has them, so API processes stop
 * reading owners from the store. Does nothing when the latest snapshot has
 * them, or when there is none (a fold from the log's start knows every owner).
 */
export async function addOwnersToSnapshot(connection: Connection, records: () => AsyncIterable<RecordOwners>): Promise<number> {
  const pointer = await snapshotModel(connection).findById(LATEST).lean();
  if (!pointer || pointer.withOwners) return 0;
  const stats = await new RefundStats(connection).fresh();
  return stats.adoptOwners(records());
}

function emptyOrder(): OwnerOrder {
  return { entries: [], ids: new Set(), loadedStatus: new Map(), loading: null };
}

/** Collects `OwnedState` rows from the user and creator sides of each refund. */
class OwnedStateBuilder {
  private readonly owners: string[] = [];
  private readonly ownerIndex = new Map<string, number>();
  private readonly rows = new Map<string, [string, number, number, number, RefundStatus | null]>();

  add(refundId: string, createdAt: number, owner: { userId?: string; creatorId?: string }, status: RefundStatus | undefined): void {
    let row = this.rows.get(refundId);
    if (!row) {
      row = [refundId, createdAt, -1, -1, status ?? null];
      this.rows.set(refundId, row);
    }
    if (owner.userId !== undefined) row[2] = this.indexOf(owner.userId);
    if (owner.creatorId !== undefined) row[3] = this.indexOf(owner.creatorId);
  }

  build(unplaced: OwnedState['unplaced']): OwnedState {
    const refunds = [...this.rows.values()].filter((row) => row[2] >= 0 && row[3] >= 0);
    return { owners: this.owners, refunds, unplaced };
  }

  private indexOf(ownerId: string): number {
    let index = this.ownerIndex.get(ownerId);
    if (index === undefined) {
      index = this.owners.length;
      this.owners.push(ownerId);
      this.ownerIndex.set(ownerId, index);
    }
    return index;
  }
}

/**
 * Stores a fold of the log up to `state.seq` in parts (the further parts
 * first, so a head that exists has all of its parts) and points new readers
 * at it. The snapshot the pointer named two saves ago is deleted: a reader
 * that read the pointer before then reads the pointer again (`loadSnapshot`).
 * (Two processes saving at the same moment can leave one snapshot that
 * nothing deletes; rare, and harmless.)
 */
async function saveStatsSnapshot(snapshots: Model<SnapshotRecord>, state: RefundStatsState, partChars = SNAPSHOT_PART_CHARS): Promise<void> {
  const parts = splitIntoParts(JSON.stringify(state), partChars);
  const head = `${snapshotId(state.seq)}:${crypto.randomBytes(4).toString('hex')}`; // one per writer: parts of two writers never mix
  const at = new Date();
  for (let i = parts.length - 1; i >= 1; i -= 1) await snapshots.create({ _id: `${head}:${i}`, seq: state.seq, state: parts[i], at });
  await snapshots.create({ _id: head, seq: state.seq, state: parts[0], parts: parts.length, at });
  const pointer = await snapshots.findById(LATEST).lean();
  const replaced = pointer ? placeOf(pointer) : undefined;
  await snapshots.replaceOne({ _id: LATEST }, { _id: LATEST, seq: state.seq, state: '', head, parts: parts.length, previous: replaced, withOwners: state.owned !== undefined, at }, { upsert: true });
  const stale = pointer?.previous;
  if (stale && stale.head !== head && stale.head !== replaced?.head) {
    for (let i = 0; i < stale.parts; i += 1) await snapshots.deleteOne({ _id: i === 0 ? stale.head : `${stale.head}:${i}` });
  }
}

/** The snapshot a pointer names. */
function placeOf(pointer: SnapshotRecord): SnapshotPlace {
  return { head: pointer.head ?? snapshotId(pointer.seq), parts: pointer.parts ?? 1 };
}

/** A snapshot's JSON from its head and parts; null when any of them is gone (pruned). */
async function readSnapshot(snapshots: Model<SnapshotRecord>, headId: string): Promise<string | null> {
  const head = await snapshots.findById(headId).lean();
  if (!head) return null;
  const parts = [head.state];
  for (let i = 1; i < (head.parts ?? 1); i += 1) {
    const part = await snapshots.findById(`${headId}:${i}`).lean();
    if (!part) return null;
    parts.push(part.state);
  }
  return parts.join('');
}

/** Cuts a string into pieces of at most `size` characters, never inside a surrogate pair (stored alone, half a pair is not valid UTF-8). */
export function splitIntoParts(text: string, size: number): string[] {
  const parts: string[] = [];
  let start = 0;
  do {
    let end = Math.min(start + size, text.length);
    if (end < text.length && end - start > 1 && isHighSurrogate(text.charCodeAt(end - 1))) end -= 1;
    parts.push(text.slice(start, end));
    start = end;
  } while (start < text.length);
  return parts;
}

function isHighSurrogate(code: number): boolean {
  return code >= 0xd800 && code <= 0xdbff;
}

/**
 * For `npm run migrate` on a store that has refunds from before the log: one
 * full read of the records, saved as the snapshot the log continues from. Does
 * nothing once the log or a snapshot exists.
 */
export async function seedStatsFromRecords(
  connection: Connection,
  records: AsyncIterable<RecordOwners & { requestedAt: Date; amount: string; currency: Currency; processingTimeMs: number | null }>,
): Promise<number> {
  const snapshots = snapshotModel(connection);
  if ((await snapshots.exists({ _id: LATEST })) || (await refundEventModel(connection).exists({ _id: eventId(0) }))) return 0;
  const state = emptyStatsState();
  const totals = new Map<string, { currency: Currency; amount: bigint; count: number }>();
  const owned = new OwnedStateBuilder();
  let seeded = 0;
  for await (const record of records) {
    seeded += 1;
    owned.add(record.refundId, record.createdAt.getTime(), { userId: record.userId, creatorId: record.creatorId }, record.refundStatus);
    state.counts[record.refundStatus] += 1;
    if (record.refundStatus === 'pending_approval') state.pending.push([record.refundId, record.createdAt.getTime(), record.requestedAt.getTime()]);
    if (record.refundStatus === 'completed') {
      const key = currencyKey(record.currency);
      const total = totals.get(key) ?? { currency: currencyOf(record.currency), amount: 0n, count: 0 };
      total.amount += parseAmount(record.amount);
      total.count += 1;
      totals.set(key, total);
      if (typeof record.processingTimeMs === 'number') {
        state.processingSumMs += record.processingTimeMs;
        state.processingCount += 1;
      }
    }
  }
  if (seeded === 0) return 0;
  state.totals = Object.fromEntries([...totals].map(([key, { currency, amount, count }]) => [key, { currency, amount: amount.toString(), count }]));
  state.owned = owned.build([]);
  await saveStatsSnapshot(snapshots, state);
  return seeded;
}

function snapshotId(seq: number): string {
  return `s:${seq}`;
}

function currencyOf(currency: Currency): Currency {
  return { symbol: currency.symbol, decimals: currency.decimals, tokenAddress: currency.tokenAddress ?? null };
}

/** The order of the pending and owner lists: by createdAt, then refundId. */
export function compareOrder(a: { createdAt: number; refundId: string }, b: { createdAt: number; refundId: string }): number {
  return a.createdAt - b.createdAt || (a.refundId < b.refundId ? -1 : a.refundId > b.refundId ? 1 : 0);
}

function lowerBound(items: { createdAt: number; refundId: string }[], item: { createdAt: number; refundId: string }): number {
  let low = 0;
  let high = items.length;
  while (low < high) {
    const mid = (low + high) >> 1;
    if (compareOrder(items[mid]!, item) < 0) low = mid + 1;
    else high = mid;
  }
  return low;
}

function upperBound(items: { createdAt: number; refundId: string }[], item: { createdAt: number; refundId: string }): number {
  let low = 0;
  let high = items.length;
  while (low < high) {
    const mid = (low + high) >> 1;
    if (compareOrder(items[mid]!, item) <= 0) low = mid + 1;
    else high = mid;
  }
  return low;
}
