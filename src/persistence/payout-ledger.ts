import { Schema, type Connection, type Model } from 'mongoose';
import crypto from 'node:crypto';
import { performance } from 'node:perf_hooks';
import { assetKey, type Currency } from '../domain/currency';
import { createUnlessExists } from './errors';

/**
 * The payout ledger is what makes "paid at most once" hold. Every guarantee
 * rests on unique inserts, the one write that is atomic on MongoDB and on
 * FerretDB v1 alike (FerretDB applies conditional updates as read-then-write):
 * - `payouts/<subscriptionId>` binds a subscription to the one refund that may
 *   pay it; a second refund of the same subscription finds it and is refused.
 * - `payoutnonces/<chainId>:<wallet>:<nonce>` gives a nonce to one payout,
 *   forever: two payouts can never share a nonce, whatever worker signs them.
 * - `payoutattempts/<subscriptionId>:<n>` is the n-th transaction signed for the
 *   payout, its raw bytes persisted before they are broadcast. The transactions
 *   signed at one nonce (the first, its fee-bumped replacements, and a zero-value
 *   filler when the nonce can no longer be sent) form a round: at most one of
 *   them can be mined. A new round, at a new nonce, is opened only once the
 *   previous round is proven unpaid by the chain at finality depth.
 * - `walletlocks/<chainId>:<wallet>` is a lease-based mutex that serialises nonce
 *   allocation and funds reservation for a wallet across all worker processes;
 *   `walletnonces/<chainId>:<wallet>` holds the next nonce it hands out.
 * - `payoutspendentries/<bucket>/<attemptId>` is what one signed payout counts
 *   against PAYOUT_DAILY_LIMIT: one insert per payout, so concurrent writers
 *   cannot lose each other's amounts and a repeated write counts once.
 * Attempt and claim statuses record what the chain said; decisions that could
 * pay twice re-read the chain instead of trusting them. A worker can die between
 * two writes here: the payout engine finishes what it finds half-written (a round
 * recorded but its claim not opened, an attempt confirmed but not its claim).
 */

/** `signed` may still reach the chain; the others are what the chain said about it. Only `confirmed` paid anything. */
export type AttemptStatus = 'signed' | 'confirmed' | 'reverted' | 'no_transfer' | 'dropped' | 'replaced' | 'mismatch';
/** A payout transaction, or a zero-value self-transfer that fills its nonce when the payout can never be sent. */
export type AttemptKind = 'payout' | 'filler';

/**
 * `in_flight`: a round is open (signed, not proven either way); `unpaid`: the last
 * round is proven unpaid and none is open; `confirmed`: paid; `review`: the chain
 * moved a different amount than asked (a person must look; never paid again).
 */
export type ClaimStatus = 'in_flight' | 'unpaid' | 'confirmed' | 'review';

export interface PayoutClaim {
  _id: string;
  refundId: string;
  chainId: number;
  from: string;
  to: string;
  amount: string;
  tokenAddress: string | null;
  status: ClaimStatus;
  /** The open round's nonce. */
  nonce: number | null;
  /** The attempt number of the last round's first transaction (see `RoundRef`); null on claims opened before rounds were told apart by it. */
  roundAttempt: number | null;
  /** Most the open round can take from the treasury: value plus gas at its highest max fee (wei), and tokens. */
  reservedWei: string;
  reservedTokens: string;
  roundStartedAt: Date | null;
  /** Since when the open round sits at the fee cap, unmined. */
  stuckSince: Date | null;
  txHash: string | null;
  blockNumber: number | null;
  confirmedAt: Date | null;
  /** What the chain delivered when it differs from `amount` (status `review`). */
  delivered: string | null;
  failure: string | null;
  createdAt?: Date;
}

export interface PayoutAttemptRecord {
  _id: string;
  subscriptionId: string;
  refundId: string;
  attempt: number;
  kind: AttemptKind;
  chainId: number;
  from: string;
  to: string;
  amount: string;
  tokenAddress: string | null;
  nonce: number;
  rawTransaction: string;
  txHash: string;
  status: AttemptStatus;
  /** Head block when it was signed: where a search for the transaction at its nonce starts. */
  signedAtBlock: number | null;
  broadcasts: number;
  lastBroadcastError: string | null;
  blockNumber: number | null;
  blockHash: string | null;
  failure: string | null;
  createdAt: Date;
}

export type NewAttempt = Omit<PayoutAttemptRecord, 'status' | 'broadcasts' | 'lastBroadcastError' | 'blockNumber' | 'blockHash' | 'failure' | 'createdAt'>;

interface WalletLockRecord {
  _id: string;
  owner: string;
  /** This holding of the lock (a new one each time it is taken): what every renewal and check compares. */
  token?: string;
  leaseUntil: Date;
}

interface WalletNonceRecord {
  _id: string;
  next: number;
}

interface NonceReservation {
  _id: string;
  subscriptionId: string;
  refundId: string;
  createdAt: Date;
}

/** An hour's total, as written before spend entries (read only, until it leaves the 24-hour window). */
interface SpendBucket {
  _id: string;
  amount: string;
}

interface SpendEntry {
  _id: string;
  bucket: string;
  amount: string;
}

const claimSchema = new Schema<PayoutClaim>(
  {
    _id: String,
    refundId: { type: String, required: true },
    chainId: Number,
    from: String,
    to: String,
    amount: String,
    tokenAddress: { type: String, default: null },
    status: { type: String, enum: ['in_flight', 'unpaid', 'confirmed', 'review'], required: true },
    nonce: { type: Number, default: null },
    roundAttempt: { type: Number, default: null },
    reservedWei: { type: String, default: '0' },
    reservedTokens: { type: String, default: '0' },
    roundStartedAt: { type: Date, default: null },
    stuckSince: { type: Date, default: null },
    txHash: { type: String, default: null },
    blockNumber: { type: Number, default: null },
    confirmedAt: { type: Date, default: null },
    delivered: { type: String, default: null },
    failure: { type: String, default: null },
  },
  { collection: 'payouts', timestamps: true, versionKey: false },
);

const attemptSchema = new Schema<PayoutAttemptRecord>(
  {
    _id: String,
    subscriptionId: { type: String, required: true },
    refundId: { type: String, required: true },
    attempt: { type: Number, required: true },
    kind: { type: String, enum: ['payout', 'filler'], default: 'payout' },
    chainId: { type: Number, required: true },
    from: { type: String, required: true },
    to: String,
    amount: String,
    tokenAddress: { type: String, default: null },
    nonce: { type: Number, required: true },
    rawTransaction: { type: String, required: true },
    txHash: { type: String, required: true },
    status: { type: String, enum: ['signed', 'confirmed', 'reverted', 'no_transfer', 'dropped', 'replaced', 'mismatch'], required: true },
    signedAtBlock: { type: Number, default: null },
    broadcasts: { type: Number, default: 0 },
    lastBroadcastError: { type: String, default: null },
    blockNumber: { type: Number, default: null },
    blockHash: { type: String, default: null },
    failure: { type: String, default: null },
  },
  { collection: 'payoutattempts', timestamps: true, versionKey: false },
);

const walletLockSchema = new Schema<WalletLockRecord>({ _id: String, owner: String, token: String, leaseUntil: Date }, { collection: 'walletlocks', versionKey: false });
const walletNonceSchema = new Schema<WalletNonceRecord>({ _id: String, next: Number }, { collection: 'walletnonces', versionKey: false });
const nonceReservationSchema = new Schema<NonceReservation>(
  { _id: String, subscriptionId: String, refundId: String, createdAt: Date },
  { collection: 'payoutnonces', versionKey: false },
);
/**
 * One round of a payout, named by its first transaction: the wallet and nonce
 * its transactions share, and that transaction's attempt number. A payout's
 * rounds get ever higher attempt numbers, whichever wallet signs them.
 */
export type RoundRef = Pick<PayoutAttemptRecord, 'subscriptionId' | 'from' | 'nonce' | 'attempt'>;

/**
 * The claim, while it waits on `round`: a late write about an older round, or
 * about another wallet's round at the same nonce number, changes nothing.
 * (A claim a worker of the previous version opened, by nonce alone, may name
 * an older round than the one at its nonce, or none.)
 */
function claimWaitingOn(round: RoundRef) {
  return { _id: round.subscriptionId, status: 'in_flight', nonce: round.nonce, $or: [{ roundAttempt: { $lte: round.attempt } }, { roundAttempt: null }] };
}

/**
 * The hour a payout's spend counts in, for PAYOUT_DAILY_LIMIT: per coin or
 * token paid (`assetKey`), never per symbol as a subscription spelled it.
 */
export function spendBucketKey(chainId: number, currency: Pick<Currency, 'tokenAddress'>, at: Date): string {
  return `${chainId}:${assetKey(currency)}:${at.toISOString().slice(0, 13)}`;
}

const spendBucketSchema = new Schema<SpendBucket>({ _id: String, amount: String }, { collection: 'payoutspend', versionKey: false });
const spendEntrySchema = new Schema<SpendEntry>({ _id: String, bucket: { type: String, required: true }, amount: { type: String, required: true } }, { collection: 'payoutspendentries', versionKey: false });

export const PAYOUT_LEDGER_INDEXES = {
  payoutattempts: [{ keys: { chainId: 1, from: 1, nonce: 1 } }, { keys: { subscriptionId: 1, attempt: 1 } }, { keys: { txHash: 1 } }],
  payouts: [{ keys: { status: 1 } }],
  payoutspendentries: [{ keys: { bucket: 1 } }],
} as const;

/** Indexes of earlier versions that contradict the current design; `npm run migrate` drops them. */
export const OBSOLETE_PAYOUT_LEDGER_INDEXES = {
  // Replacements share their nonce; one payout per nonce is now `payoutnonces`.
  payoutattempts: [{ keys: { chainId: 1, from: 1, nonce: 1 }, unique: true }],
} as const;

export const PAYOUT_LEDGER_COLLECTIONS = ['payouts', 'payoutattempts', 'payoutnonces', 'walletlocks', 'walletnonces', 'payoutspend', 'payoutspendentries'] as const;

export class WalletLockTimeout extends Error {
  constructor(wallet: string, waitedMs: number) {
    super(`could not lock wallet ${wallet} for nonce allocation within ${waitedMs} ms`);
    this.name = 'WalletLockTimeout';
  }
}

/** The holder's lease ran out (it was paused, or could not renew it) and another worker may hold the lock: it must write nothing more. */
export class WalletLockLost extends Error {
  constructor(wallet: string, why: string) {
    super(`lost the lock of wallet ${wallet} (${why}): nothing more is written under it`);
    this.name = 'WalletLockLost';
  }
}

/**
 * One holding of a wallet lock, given to the code it protects. The lease is
 * renewed while held; `confirm()` before each write says whether it still is.
 */
export interface WalletLease {
  /** Throws WalletLockLost unless this holding is still the lock's, as the store says now. */
  confirm(): Promise<void>;
}

/** The payout of this subscription belongs to another refund: paying it again is refused. */
export class PayoutClaimedByAnotherRefund extends Error {
  constructor(
    readonly subscriptionId: string,
    readonly claimedBy: string,
  ) {
    super(`subscription ${subscriptionId} is already paid out, or being paid out, by refund ${claimedBy}`);
    this.name = 'PayoutClaimedByAnotherRefund';
  }
}

export type ClaimDetails = Pick<PayoutClaim, 'refundId' | 'chainId' | 'from' | 'to' | 'amount' | 'tokenAddress'>;

export class PayoutLedger {
  private readonly claims: Model<PayoutClaim>;
  private readonly attempts: Model<PayoutAttemptRecord>;
  private readonly locks: Model<WalletLockRecord>;
  private readonly walletNonces: Model<WalletNonceRecord>;
  private readonly nonceReservations: Model<NonceReservation>;
  private readonly spend: Model<SpendBucket>;
  private readonly spendEntries: Model<SpendEntry>;
  /** Callers in this process queue here first, so only one of them at a time contends for the shared lock. */
  private readonly localQueues = new Map<string, Promise<unknown>>();

  constructor(connection: Connection) {
    const model = <T>(name: string, schema: Schema<T>): Model<T> => (connection.models[name] as Model<T> | undefined) ?? connection.model<T>(name, schema);
    this.claims = model('Payout', claimSchema);
    this.attempts = model('PayoutAttempt', attemptSchema);
    this.locks = model('WalletLock', walletLockSchema);
    this.walletNonces = model('WalletNonce', walletNonceSchema);
    this.nonceReservations = model('PayoutNonce', nonceReservationSchema);
    this.spend = model('PayoutSpend', spendBucketSchema);
    this.spendEntries = model('PayoutSpendEntry', spendEntrySchema);
  }

  /** Binds the subscription's payout to `refundId`, once, forever. Returns the claim (new or existing). */
  async claim(subscriptionId: string, details: ClaimDetails): Promise<PayoutClaim> {
    const created = await createUnlessExists(() => this.claims.create({ _id: subscriptionId, ...details, status: 'unpaid' }));
    if (created) return created.toObject();
    const existing = await this.claims.findById(subscriptionId).lean();
    if (!existing) throw new Error(`payout claim of ${subscriptionId} vanished`);
    if (existing.refundId !== details.refundId) throw new PayoutClaimedByAnotherRefund(subscriptionId, existing.refundId);
    return existing;
  }

  findClaim(subscriptionId: string): Promise<PayoutClaim | null> {
    return this.claims.findById(subscriptionId).lean();
  }

  /** Claims with a round open on the wallet: what the treasury has promised but the chain may not have settled. */
  openClaims(chainId: number, from: string): Promise<PayoutClaim[]> {
    return this.claims.find({ status: 'in_flight', chainId, from }).lean();
  }

  /** Payouts at the fee cap, unmined. */
  stuckClaims(chainId: number, from: string): Promise<PayoutClaim[]> {
    return this.claims.find({ status: 'in_flight', chainId, from, stuckSince: { $ne: null } }).lean();
  }

  findAttempt(attemptId: string): Promise<PayoutAttemptRecord | null> {
    return this.attempts.findById(attemptId).lean();
  }

  attemptsOf(subscriptionId: string): Promise<PayoutAttemptRecord[]> {
    return this.attempts.find({ subscriptionId }).sort({ attempt: 1 }).lean();
  }

  /** Every transaction this ledger signed on the chain, with whichever treasury key. */
  attemptsOnChain(chainId: number): Promise<PayoutAttemptRecord[]> {
    return this.attempts.find({ chainId }).lean();
  }

  /** The highest nonce this service ever signed for the wallet, or -1. */
  async highestNonce(chainId: number, from: string): Promise<number> {
    const latest = await this.attempts.findOne({ chainId, from }, { nonce: 1 }).sort({ nonce: -1 }).lean();
    return latest?.nonce ?? -1;
  }

  /** The next nonce this service would hand out for the wallet (one past the highest it signed). */
  async nextNonce(chainId: number, from: string): Promise<number> {
    const record = await this.walletNonces.findById(walletKey(chainId, from)).lean();
    if (record) return record.next;
    return (await this.highestNonce(chainId, from)) + 1; // ledgers written before walletnonces existed
  }

  /**
   * Raises it to `next`, under the wallet lock. (FerretDB applies `$max` by
   * reading and writing back, so two writers at once may still lower it; that
   * costs nothing, for allocation walks up past every nonce already reserved.)
   */
  async raiseNextNonce(chainId: number, from: string, next: number): Promise<void> {
    await this.walletNonces.updateOne({ _id: walletKey(chainId, from) }, { $max: { next } }, { upsert: true });
  }

  /** Gives `nonce` to the subscription's payout; false when another payout already has it. */
  async reserveNonce(chainId: number, from: string, nonce: number, owner: { subscriptionId: string; refundId: string }): Promise<boolean> {
    return (await createUnlessExists(() => this.nonceReservations.create({ _id: `${walletKey(chainId, from)}:${nonce}`, ...owner, createdAt: new Date() }))) !== null;
  }

  /** Gives a nonce back that no recorded transaction uses (only under the wallet lock): a write that failed may still have been stored. */
  async releaseNonce(chainId: number, from: string, nonce: number, subscriptionId: string): Promise<void> {
    if ((await this.attempts.exists({ chainId, from, nonce })) !== null) return;
    await this.nonceReservations.deleteOne({ _id: `${walletKey(chainId, from)}:${nonce}`, subscriptionId });
  }

  /**
   * Only under the wallet lock: a reservation with no transaction signed at its
   * nonce was left by an allocation that crashed between reserving and signing.
   * Skipping it would leave a gap no transaction ever fills, so it is taken over.
   */
  async takeOverOrphanNonce(chainId: number, from: string, nonce: number, owner: { subscriptionId: string; refundId: string }): Promise<boolean> {
    const reservation = await this.nonceReservations.findById(`${walletKey(chainId, from)}:${nonce}`).lean();
    if (!reservation) return false;
    if ((await this.attempts.exists({ chainId, from, nonce })) !== null) return false;
    if (reservation.subscriptionId === owner.subscriptionId) return true;
    await this.nonceReservations.deleteOne({ _id: reservation._id, subscriptionId: reservation.subscriptionId });
    return this.reserveNonce(chainId, from, nonce, owner);
  }

  /** The transactions signed at these nonces of the wallet (one equality read per nonce, at once). */
  async attemptsAt(chainId: number, from: string, nonces: readonly number[]): Promise<PayoutAttemptRecord[]> {
    const found = await Promise.all(nonces.map((nonce) => this.attempts.find({ chainId, from, nonce }).lean()));
    return found.flat();
  }

  async nonceOwner(chainId: number, from: string, nonce: number): Promise<string | null> {
    const reservation = await this.nonceReservations.findById(`${walletKey(chainId, from)}:${nonce}`).lean();
    return reservation?.subscriptionId ?? null;
  }

  /**
   * Records a signed transaction before it is broadcast. Fails with a duplicate
   * key error when the attempt number is already taken: the caller lost a race
   * (another execution of the same payout signed first) and must look again.
   */
  async recordAttempt(attempt: NewAttempt): Promise<PayoutAttemptRecord> {
    const created = await this.attempts.create({ ...attempt, status: 'signed', broadcasts: 0 });
    return created.toObject();
  }

  /**
   * The claim now waits on `round`, which may take up to the reserved
   * amounts. A preparation that stalled after recording an older round opens
   * nothing: the claim follows the newer round (its first transaction has a
   * higher attempt number; nonces do not tell, for a new treasury key starts
   * again from 0), the round it waits on is not opened twice, and a settled
   * claim never opens again.
   */
  async openRound(round: RoundRef, reserved: { reservedWei: bigint; reservedTokens: bigint }): Promise<void> {
    const newer = [{ roundAttempt: { $lt: round.attempt } }, { roundAttempt: null, nonce: null }, { roundAttempt: null, nonce: { $lte: round.nonce } }];
    await this.claims.updateOne(
      { _id: round.subscriptionId, status: { $in: ['unpaid', 'in_flight'] }, $or: newer },
      {
        $set: {
          status: 'in_flight',
          from: round.from,
          nonce: round.nonce,
          roundAttempt: round.attempt,
          reservedWei: reserved.reservedWei.toString(),
          reservedTokens: reserved.reservedTokens.toString(),
          roundStartedAt: new Date(),
          stuckSince: null,
          failure: null,
        },
      },
    );
  }

  /** A replacement may cost more than the transaction it replaces. */
  async raiseReservation(round: RoundRef, reservedWei: bigint): Promise<void> {
    await this.claims.updateOne(claimWaitingOn(round), { $set: { reservedWei: reservedWei.toString() } });
  }

  async setStuck(round: RoundRef, since: Date | null): Promise<void> {
    await this.claims.updateOne(claimWaitingOn(round), { $set: { stuckSince: since } });
  }

  async countBroadcast(attemptId: string, refusal: string | null = null): Promise<void> {
    await this.attempts.updateOne({ _id: attemptId }, { $inc: { broadcasts: refusal ? 0 : 1 }, $set: { lastBroadcastError: refusal } });
  }

  /** Annotates the transactions of a round (one wallet's, at one nonce) with what the chain said of them. */
  async markRound(round: Pick<RoundRef, 'subscriptionId' | 'from' | 'nonce'>, status: Exclude<AttemptStatus, 'signed' | 'confirmed'>, failure: string): Promise<void> {
    await this.attempts.updateMany({ subscriptionId: round.subscriptionId, from: round.from, nonce: round.nonce, status: 'signed' }, { $set: { status, failure } });
  }

  /** The round is proven unpaid (reverted, moved nothing, or its nonce went to another transaction at depth). */
  async closeRoundUnpaid(round: RoundRef, status: 'reverted' | 'no_transfer' | 'dropped', failure: string): Promise<void> {
    await this.markRound(round, status, failure);
    await this.claims.updateOne(claimWaitingOn(round), { $set: { status: 'unpaid', nonce: null, reservedWei: '0', reservedTokens: '0', stuckSince: null, failure } });
  }

  async markConfirmed(attempt: PayoutAttemptRecord, block: { number: number; hash: string }): Promise<void> {
    await this.attempts.updateOne({ _id: attempt._id }, { $set: { status: 'confirmed', blockNumber: block.number, blockHash: block.hash } });
    await this.markRound(attempt, 'replaced', `transaction ${attempt.txHash} at the same nonce was mined`);
    await this.claims.updateOne(
      { _id: attempt.subscriptionId },
      { $set: { status: 'confirmed', txHash: attempt.txHash, blockNumber: block.number, confirmedAt: new Date(), reservedWei: '0', reservedTokens: '0', stuckSince: null } },
    );
  }

  /** The chain moved `delivered` instead of the amount asked: a person must look, and nothing is sent again. */
  async markReview(attempt: PayoutAttemptRecord, block: { number: number; hash: string }, delivered: bigint, failure: string): Promise<void> {
    await this.attempts.updateOne({ _id: attempt._id }, { $set: { status: 'mismatch', blockNumber: block.number, blockHash: block.hash, failure } });
    await this.claims.updateOne(
      { _id: attempt.subscriptionId },
      { $set: { status: 'review', txHash: attempt.txHash, blockNumber: block.number, delivered: delivered.toString(), reservedWei: '0', reservedTokens: '0', stuckSince: null, failure } },
    );
  }

  /** Amount signed for payment in a currency during these hours (`spendBucketKey`). */
  async spentIn(buckets: string[]): Promise<bigint> {
    // One equality read per hour (the local store serves those from the index); hours written before spend entries are totals.
    const [totals, ...entries] = await Promise.all([this.spend.find({ _id: { $in: buckets } }).lean(), ...buckets.map((bucket) => this.spendEntries.find({ bucket }, { amount: 1 }).lean())]);
    const sum = (amounts: { amount: string }[]) => amounts.reduce((total, entry) => total + BigInt(entry.amount), 0n);
    return sum(totals) + entries.reduce((total, hour) => total + sum(hour), 0n);
  }

  /** Counts a signed payout (`spendId`: its first transaction's attempt id) in an hour's spend, once however often it is written. */
  async recordSpend(bucket: string, spendId: string, amount: bigint): Promise<void> {
    await createUnlessExists(() => this.spendEntries.create({ _id: `${bucket}/${spendId}`, bucket, amount: amount.toString() }));
  }

  /**
   * Runs `critical` while holding the wallet's lock, a unique document with a
   * lease: renewed while held, so a slow call inside does not let another worker
   * in. A waiter takes it over only when the lease has expired and it has itself
   * watched it go unrenewed for two thirds of a lease (measured on its own clock,
   * so a clock ahead of the holder's is not enough). A holder that may have lost
   * it (gone half a lease without a renewal, or the document is no longer its
   * own) learns it from `lease.confirm()`, called before each write.
   */
  withWalletLock<T>(wallet: string, owner: string, critical: (lease: WalletLease) => Promise<T>, options: { leaseMs?: number; waitMs?: number } = {}): Promise<T> {
    const previous = this.localQueues.get(wallet) ?? Promise.resolve();
    const mine = previous.catch(() => undefined).then(() => this.withSharedLock(wallet, owner, critical, options));
    const settled = mine.catch(() => undefined);
    this.localQueues.set(wallet, settled);
    void settled.then(() => {
      if (this.localQueues.get(wallet) === settled) this.localQueues.delete(wallet);
    });
    return mine;
  }

  private async withSharedLock<T>(wallet: string, owner: string, critical: (lease: WalletLease) => Promise<T>, { leaseMs = 30_000, waitMs = 60_000 } = {}): Promise<T> {
    const token = crypto.randomUUID();
    const started = performance.now();
    let pause = 5;
    let seen = null as { holding: string; since: number } | null;
    for (;;) {
      if (await createUnlessExists(() => this.locks.create({ _id: wallet, owner, token, leaseUntil: new Date(Date.now() + leaseMs) }))) break;
      const holder = await this.locks.findById(wallet).lean();
      if (holder) {
        const holding = `${holder.owner}/${holder.token ?? ''}/${holder.leaseUntil.getTime()}`;
        if (seen?.holding !== holding) {
          seen = { holding, since: performance.now() };
        } else if (holder.leaseUntil.getTime() < Date.now() && performance.now() - seen.since >= (2 * leaseMs) / 3) {
          // Expired, and seen unrenewed for longer than a live holder goes without renewing before it gives the lock up:
          // its holder died, or writes nothing more. Only that very holding is removed.
          await this.locks.deleteOne({ _id: wallet, owner: holder.owner, leaseUntil: holder.leaseUntil });
          seen = null;
          continue;
        }
      }
      if (performance.now() - started > waitMs) throw new WalletLockTimeout(wallet, waitMs);
      await sleep(pause + Math.random() * pause);
      pause = Math.min(pause * 2, 80);
    }
    const lease = new HeldLease(this.locks, wallet, owner, token, leaseMs);
    try {
      return await critical(lease);
    } finally {
      lease.stop();
      await this.locks.deleteOne({ _id: wallet, owner, token });
    }
  }
}

/**
 * A holding of the wallet lock: renewed every sixth of the lease; given up
 * (nothing more may be written) once it has gone half a lease without a
 * renewal, which is well before any waiter may take it over (a whole lease
 * unrenewed, as the waiter sees it).
 */
class HeldLease implements WalletLease {
  private renewedAt = performance.now();
  private lost: string | null = null;
  private renewing = false;
  private readonly timer: NodeJS.Timeout;

  constructor(
    private readonly locks: Model<WalletLockRecord>,
    private readonly wallet: string,
    private readonly owner: string,
    private readonly token: string,
    private readonly leaseMs: number,
  ) {
    this.timer = setInterval(() => void this.renew(), leaseMs / 6);
    this.timer.unref();
  }

  async confirm(): Promise<void> {
    this.checkFresh();
    const holder = await this.locks.findById(this.wallet).lean();
    if (holder?.owner !== this.owner || holder.token !== this.token) this.lost ??= holder ? `now held by ${holder.owner}` : 'no longer held';
    this.checkFresh();
  }

  stop(): void {
    clearInterval(this.timer);
  }

  private checkFresh(): void {
    const since = performance.now() - this.renewedAt;
    if (!this.lost && since >= this.leaseMs / 2) this.lost = `not renewed for ${Math.round(since)} ms of a ${this.leaseMs} ms lease`;
    if (this.lost) throw new WalletLockLost(this.wallet, this.lost);
  }

  private async renew(): Promise<void> {
    if (this.lost || this.renewing) return;
    this.renewing = true;
    const sentAt = performance.now();
    try {
      if (sentAt - this.renewedAt >= this.leaseMs / 2) return; // too late: confirm() says it is lost
      const result = await this.locks.updateOne({ _id: this.wallet, owner: this.owner, token: this.token }, { $set: { leaseUntil: new Date(Date.now() + this.leaseMs) } });
      if (result.matchedCount === 0) this.lost ??= 'its lease was taken over';
      else this.renewedAt = sentAt;
    } catch {
      // The store did not answer: the lease counts as renewed only when it does (confirm() gives it up at half the lease).
    } finally {
      this.renewing = false;
    }
  }
}

export function walletKey(chainId: number, from: string): string {
  return `${chainId}:${from}`;
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
