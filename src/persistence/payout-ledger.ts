import { Schema, type Connection, type Model } from 'mongoose';
import { isDuplicateKey } from './errors';

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
 * Attempt and claim statuses record what the chain said; decisions that could
 * pay twice re-read the chain instead of trusting them.
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

interface SpendBucket {
  _id: string;
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

const walletLockSchema = new Schema<WalletLockRecord>({ _id: String, owner: String, leaseUntil: Date }, { collection: 'walletlocks', versionKey: false });
const walletNonceSchema = new Schema<WalletNonceRecord>({ _id: String, next: Number }, { collection: 'walletnonces', versionKey: false });
const nonceReservationSchema = new Schema<NonceReservation>(
  { _id: String, subscriptionId: String, refundId: String, createdAt: Date },
  { collection: 'payoutnonces', versionKey: false },
);
const spendBucketSchema = new Schema<SpendBucket>({ _id: String, amount: String }, { collection: 'payoutspend', versionKey: false });

export const PAYOUT_LEDGER_INDEXES = {
  payoutattempts: [{ keys: { chainId: 1, from: 1, nonce: 1 } }, { keys: { subscriptionId: 1, attempt: 1 } }, { keys: { txHash: 1 } }],
  payouts: [{ keys: { status: 1 } }],
} as const;

/** Indexes of earlier versions that contradict the current design; `npm run migrate` drops them. */
export const OBSOLETE_PAYOUT_LEDGER_INDEXES = {
  // Replacements share their nonce; one payout per nonce is now `payoutnonces`.
  payoutattempts: [{ keys: { chainId: 1, from: 1, nonce: 1 }, unique: true }],
} as const;

export const PAYOUT_LEDGER_COLLECTIONS = ['payouts', 'payoutattempts', 'payoutnonces', 'walletlocks', 'walletnonces', 'payoutspend'] as const;

export class WalletLockTimeout extends Error {
  constructor(wallet: string, waitedMs: number) {
    super(`could not lock wallet ${wallet} for nonce allocation within ${waitedMs} ms`);
    this.name = 'WalletLockTimeout';
  }
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
  }

  /** Binds the subscription's payout to `refundId`, once, forever. Returns the claim (new or existing). */
  async claim(subscriptionId: string, details: ClaimDetails): Promise<PayoutClaim> {
    try {
      const created = await this.claims.create({ _id: subscriptionId, ...details, status: 'unpaid' });
      return created.toObject();
    } catch (error) {
      if (!isDuplicateKey(error)) throw error;
    }
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

  /** Outgoing transactions of a wallet this service signed, for reconciliation. */
  attemptsOfWallet(chainId: number, from: string): Promise<PayoutAttemptRecord[]> {
    return this.attempts.find({ chainId, from }).lean();
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

  /** Only under the wallet lock. */
  async setNextNonce(chainId: number, from: string, next: number): Promise<void> {
    await this.walletNonces.updateOne({ _id: walletKey(chainId, from) }, { $set: { next } }, { upsert: true });
  }

  /** Gives `nonce` to the subscription's payout; false when another payout already has it. */
  async reserveNonce(chainId: number, from: string, nonce: number, owner: { subscriptionId: string; refundId: string }): Promise<boolean> {
    try {
      await this.nonceReservations.create({ _id: `${walletKey(chainId, from)}:${nonce}`, ...owner, createdAt: new Date() });
      return true;
    } catch (error) {
      if (isDuplicateKey(error)) return false;
      throw error;
    }
  }

  /**
   * Several nonces at once, `nonce` for `owner` each, in one unordered insert:
   * true where the reservation is the caller's, false where another payout had
   * the nonce already (the caller looks elsewhere for those).
   */
  async reserveNonces(chainId: number, from: string, wanted: readonly { nonce: number; owner: { subscriptionId: string; refundId: string } }[]): Promise<boolean[]> {
    if (wanted.length === 0) return [];
    const createdAt = new Date();
    try {
      await this.nonceReservations.collection.insertMany(
        wanted.map(({ nonce, owner }) => ({ _id: `${walletKey(chainId, from)}:${nonce}` as never, ...owner, createdAt })),
        { ordered: false },
      );
      return wanted.map(() => true);
    } catch (error) {
      const failed = (error as { writeErrors?: { index: number; code?: number } | { index: number; code?: number }[] }).writeErrors;
      const failures = failed === undefined ? [] : Array.isArray(failed) ? failed : [failed];
      if (failures.length === 0 || failures.some((failure) => failure.code !== 11000)) throw error;
      const taken = new Set(failures.map((failure) => failure.index));
      return wanted.map((_, i) => !taken.has(i));
    }
  }

  /** Gives a nonce back that was never signed (only under the wallet lock). */
  async releaseNonce(chainId: number, from: string, nonce: number, subscriptionId: string): Promise<void> {
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
   * Records several signed transactions in one ordered insert, before any of
   * them is broadcast. An ordered insert stops at the first failure, so what is
   * recorded is a prefix of `attempts` (read back to be sure when the insert
   * fails); `failure` is the error that stopped it.
   */
  async recordAttempts(attempts: readonly NewAttempt[]): Promise<{ recorded: PayoutAttemptRecord[]; failure: unknown }> {
    if (attempts.length === 0) return { recorded: [], failure: null };
    try {
      const created = await this.attempts.insertMany(
        attempts.map((attempt) => ({ ...attempt, status: 'signed', broadcasts: 0 })),
        { ordered: true },
      );
      return { recorded: created.map((doc) => doc.toObject() as PayoutAttemptRecord), failure: null };
    } catch (failure) {
      const found: (PayoutAttemptRecord | null)[] = await Promise.all(attempts.map((attempt) => this.attempts.findById(attempt._id).lean<PayoutAttemptRecord>()));
      const recorded = found.filter((doc, i): doc is PayoutAttemptRecord => doc !== null && doc.txHash === attempts[i]!.txHash);
      return { recorded, failure };
    }
  }

  /** Each claim now waits on a round at `nonce`, which may take up to the reserved amounts. One command for all. */
  async openRounds(rounds: readonly { subscriptionId: string; nonce: number; reservedWei: bigint; reservedTokens: bigint }[]): Promise<void> {
    if (rounds.length === 0) return;
    const roundStartedAt = new Date();
    await this.claims.bulkWrite(
      rounds.map((round) => ({
        updateOne: {
          filter: { _id: round.subscriptionId },
          update: {
            $set: {
              status: 'in_flight' as const,
              nonce: round.nonce,
              reservedWei: round.reservedWei.toString(),
              reservedTokens: round.reservedTokens.toString(),
              roundStartedAt,
              stuckSince: null,
              failure: null,
            },
          },
        },
      })),
      { ordered: false },
    );
  }

  /** A replacement may cost more than the transaction it replaces. */
  async raiseReservation(subscriptionId: string, reservedWei: bigint): Promise<void> {
    await this.claims.updateOne({ _id: subscriptionId }, { $set: { reservedWei: reservedWei.toString() } });
  }

  async setStuck(subscriptionId: string, since: Date | null): Promise<void> {
    await this.claims.updateOne({ _id: subscriptionId }, { $set: { stuckSince: since } });
  }

  async countBroadcast(attemptId: string, refusal: string | null = null): Promise<void> {
    await this.attempts.updateOne({ _id: attemptId }, { $inc: { broadcasts: refusal ? 0 : 1 }, $set: { lastBroadcastError: refusal } });
  }

  /** Annotates the transactions of a round with what the chain said of them. */
  async markRound(subscriptionId: string, nonce: number, status: Exclude<AttemptStatus, 'signed' | 'confirmed'>, failure: string): Promise<void> {
    await this.attempts.updateMany({ subscriptionId, nonce, status: 'signed' }, { $set: { status, failure } });
  }

  /** The round is proven unpaid (reverted, moved nothing, or its nonce went to another transaction at depth). */
  async closeRoundUnpaid(subscriptionId: string, nonce: number, status: 'reverted' | 'no_transfer' | 'dropped', failure: string): Promise<void> {
    await this.markRound(subscriptionId, nonce, status, failure);
    await this.claims.updateOne({ _id: subscriptionId, nonce }, { $set: { status: 'unpaid', nonce: null, reservedWei: '0', reservedTokens: '0', stuckSince: null, failure } });
  }

  /** Three independent writes, so they go together; each is idempotent, and a verdict not fully recorded is read from the chain again. */
  async markConfirmed(attempt: PayoutAttemptRecord, block: { number: number; hash: string }): Promise<void> {
    await Promise.all([
      this.attempts.updateOne({ _id: attempt._id }, { $set: { status: 'confirmed', blockNumber: block.number, blockHash: block.hash } }),
      this.attempts.updateMany(
        { subscriptionId: attempt.subscriptionId, nonce: attempt.nonce, status: 'signed', _id: { $ne: attempt._id } },
        { $set: { status: 'replaced', failure: `transaction ${attempt.txHash} at the same nonce was mined` } },
      ),
      this.claims.updateOne(
        { _id: attempt.subscriptionId },
        { $set: { status: 'confirmed', txHash: attempt.txHash, blockNumber: block.number, confirmedAt: new Date(), reservedWei: '0', reservedTokens: '0', stuckSince: null } },
      ),
    ]);
  }

  /** The chain moved `delivered` instead of the amount asked: a person must look, and nothing is sent again. */
  async markReview(attempt: PayoutAttemptRecord, block: { number: number; hash: string }, delivered: bigint, failure: string): Promise<void> {
    await this.attempts.updateOne({ _id: attempt._id }, { $set: { status: 'mismatch', blockNumber: block.number, blockHash: block.hash, failure } });
    await this.claims.updateOne(
      { _id: attempt.subscriptionId },
      { $set: { status: 'review', txHash: attempt.txHash, blockNumber: block.number, delivered: delivered.toString(), reservedWei: '0', reservedTokens: '0', stuckSince: null, failure } },
    );
  }

  /** Amount signed for payment in a currency during one hour (`bucket` = chainId:currency:hour). */
  async spentIn(buckets: string[]): Promise<bigint> {
    const found = await this.spend.find({ _id: { $in: buckets } }).lean();
    return found.reduce((sum, bucket) => sum + BigInt(bucket.amount), 0n);
  }

  /** Only under the wallet lock: the read-then-write is safe because no one else writes meanwhile. */
  async addSpend(bucket: string, amount: bigint): Promise<void> {
    const current = await this.spend.findById(bucket).lean();
    await this.spend.updateOne({ _id: bucket }, { $set: { amount: (BigInt(current?.amount ?? '0') + amount).toString() } }, { upsert: true });
  }

  /**
   * Runs `critical` while holding the wallet's lock. The lock is a unique
   * document with a lease: a crashed holder frees it when the lease ends. The
   * nonce reservations stay the last line of defence if a lease ever expires
   * under a paused holder.
   */
  withWalletLock<T>(wallet: string, owner: string, critical: () => Promise<T>, options: { leaseMs?: number; waitMs?: number } = {}): Promise<T> {
    const previous = this.localQueues.get(wallet) ?? Promise.resolve();
    const mine = previous.catch(() => undefined).then(() => this.withSharedLock(wallet, owner, critical, options));
    const settled = mine.catch(() => undefined);
    this.localQueues.set(wallet, settled);
    void settled.then(() => {
      if (this.localQueues.get(wallet) === settled) this.localQueues.delete(wallet);
    });
    return mine;
  }

  private async withSharedLock<T>(wallet: string, owner: string, critical: () => Promise<T>, { leaseMs = 30_000, waitMs = 60_000 } = {}): Promise<T> {
    const started = Date.now();
    let pause = 5;
    for (;;) {
      try {
        await this.locks.create({ _id: wallet, owner, leaseUntil: new Date(Date.now() + leaseMs) });
        break;
      } catch (error) {
        if (!isDuplicateKey(error)) throw error;
      }
      const holder = await this.locks.findById(wallet).lean();
      if (holder && holder.leaseUntil.getTime() < Date.now()) {
        await this.locks.deleteOne({ _id: wallet, owner: holder.owner }); // the holder died: take over its expired lease
        continue;
      }
      if (Date.now() - started > waitMs) throw new WalletLockTimeout(wallet, waitMs);
      await sleep(pause + Math.random() * pause);
      pause = Math.min(pause * 2, 80);
    }
    try {
      return await critical();
    } finally {
      await this.locks.deleteOne({ _id: wallet, owner });
    }
  }
}

export function walletKey(chainId: number, from: string): string {
  return `${chainId}:${from}`;
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
