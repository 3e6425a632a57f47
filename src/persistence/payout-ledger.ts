import { Schema, type Connection, type Model } from 'mongoose';
import { isDuplicateKey } from './errors';

/**
 * The payout ledger is what makes "paid at most once" hold. It is built only on
 * unique inserts, the one write that is atomic on MongoDB and on FerretDB v1
 * alike (FerretDB applies conditional updates as read-then-write):
 * - `payouts/<subscriptionId>` binds a subscription to the one refund that may
 *   pay it; a second refund of the same subscription finds it and is refused.
 * - `payoutattempts/<subscriptionId>:<n>` is the n-th signed transaction for that
 *   payout, holding its raw bytes, persisted before they are broadcast. Attempt
 *   n+1 is only created once attempt n is proven unpaid, and a unique index on
 *   (chainId, from, nonce) makes it impossible to record one nonce twice.
 * - `walletlocks/<chainId>:<wallet>` is a lease-based mutex that serialises nonce
 *   allocation for a wallet across all worker processes.
 * Attempt statuses other than `signed` are facts read from the chain (mined,
 * reverted, nonce used by another transaction): any writer writes the same truth.
 */

/** `signed` may still reach the chain; the others are final. Only `confirmed` paid anything. */
export type AttemptStatus = 'signed' | 'confirmed' | 'reverted' | 'no_transfer' | 'dropped';
export type UnpaidFinalStatus = 'reverted' | 'no_transfer' | 'dropped';

export interface PayoutClaim {
  _id: string;
  refundId: string;
  chainId: number;
  from: string;
  to: string;
  amount: string;
  tokenAddress: string | null;
  status: 'in_flight' | 'confirmed';
  txHash: string | null;
  blockNumber: number | null;
  confirmedAt: Date | null;
}

export interface PayoutAttemptRecord {
  _id: string;
  subscriptionId: string;
  refundId: string;
  attempt: number;
  chainId: number;
  from: string;
  to: string;
  amount: string;
  tokenAddress: string | null;
  nonce: number;
  rawTransaction: string;
  txHash: string;
  status: AttemptStatus;
  broadcasts: number;
  blockNumber: number | null;
  blockHash: string | null;
  failure: string | null;
}

interface WalletLockRecord {
  _id: string;
  owner: string;
  leaseUntil: Date;
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
    status: { type: String, enum: ['in_flight', 'confirmed'], required: true },
    txHash: { type: String, default: null },
    blockNumber: { type: Number, default: null },
    confirmedAt: { type: Date, default: null },
  },
  { collection: 'payouts', timestamps: true, versionKey: false },
);

const attemptSchema = new Schema<PayoutAttemptRecord>(
  {
    _id: String,
    subscriptionId: { type: String, required: true },
    refundId: { type: String, required: true },
    attempt: { type: Number, required: true },
    chainId: { type: Number, required: true },
    from: { type: String, required: true },
    to: String,
    amount: String,
    tokenAddress: { type: String, default: null },
    nonce: { type: Number, required: true },
    rawTransaction: { type: String, required: true },
    txHash: { type: String, required: true },
    status: { type: String, enum: ['signed', 'confirmed', 'reverted', 'no_transfer', 'dropped'], required: true },
    broadcasts: { type: Number, default: 0 },
    blockNumber: { type: Number, default: null },
    blockHash: { type: String, default: null },
    failure: { type: String, default: null },
  },
  { collection: 'payoutattempts', timestamps: true, versionKey: false },
);

const walletLockSchema = new Schema<WalletLockRecord>({ _id: String, owner: String, leaseUntil: Date }, { collection: 'walletlocks', versionKey: false });

export const PAYOUT_LEDGER_INDEXES = {
  payoutattempts: [
    { keys: { chainId: 1, from: 1, nonce: 1 }, options: { unique: true } },
    { keys: { subscriptionId: 1, attempt: 1 } },
    { keys: { txHash: 1 } },
  ],
} as const;

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

export class PayoutLedger {
  private readonly claims: Model<PayoutClaim>;
  private readonly attempts: Model<PayoutAttemptRecord>;
  private readonly locks: Model<WalletLockRecord>;

  constructor(connection: Connection) {
    this.claims = (connection.models.Payout as Model<PayoutClaim>) ?? connection.model('Payout', claimSchema);
    this.attempts = (connection.models.PayoutAttempt as Model<PayoutAttemptRecord>) ?? connection.model('PayoutAttempt', attemptSchema);
    this.locks = (connection.models.WalletLock as Model<WalletLockRecord>) ?? connection.model('WalletLock', walletLockSchema);
  }

  /** Binds the subscription's payout to `refundId`, once, forever. Returns the claim (new or existing). */
  async claim(subscriptionId: string, claim: Omit<PayoutClaim, '_id' | 'status' | 'txHash' | 'blockNumber' | 'confirmedAt'>): Promise<PayoutClaim> {
    try {
      const created = await this.claims.create({ _id: subscriptionId, ...claim, status: 'in_flight' });
      return created.toObject();
    } catch (error) {
      if (!isDuplicateKey(error)) throw error;
    }
    const existing = await this.claims.findById(subscriptionId).lean();
    if (!existing) throw new Error(`payout claim of ${subscriptionId} vanished`);
    if (existing.refundId !== claim.refundId) throw new PayoutClaimedByAnotherRefund(subscriptionId, existing.refundId);
    return existing;
  }

  findClaim(subscriptionId: string): Promise<PayoutClaim | null> {
    return this.claims.findById(subscriptionId).lean();
  }

  latestAttempt(subscriptionId: string): Promise<PayoutAttemptRecord | null> {
    return this.attempts.findOne({ subscriptionId }).sort({ attempt: -1 }).lean();
  }

  findAttempt(attemptId: string): Promise<PayoutAttemptRecord | null> {
    return this.attempts.findById(attemptId).lean();
  }

  attemptsOf(subscriptionId: string): Promise<PayoutAttemptRecord[]> {
    return this.attempts.find({ subscriptionId }).sort({ attempt: 1 }).lean();
  }

  /** The highest nonce this service ever signed for the wallet, or -1. */
  async highestNonce(chainId: number, from: string): Promise<number> {
    const latest = await this.attempts.findOne({ chainId, from }, { nonce: 1 }).sort({ nonce: -1 }).lean();
    return latest?.nonce ?? -1;
  }

  /**
   * Records a signed transaction before it is broadcast. Fails with a duplicate
   * key error when the attempt number or the nonce is already taken: the caller
   * lost a race and must look again.
   */
  async recordAttempt(attempt: Omit<PayoutAttemptRecord, 'status' | 'broadcasts' | 'blockNumber' | 'blockHash' | 'failure'>): Promise<PayoutAttemptRecord> {
    const created = await this.attempts.create({ ...attempt, status: 'signed', broadcasts: 0 });
    return created.toObject();
  }

  async countBroadcast(attemptId: string): Promise<void> {
    await this.attempts.updateOne({ _id: attemptId }, { $inc: { broadcasts: 1 } });
  }

  async markUnpaid(attemptId: string, status: UnpaidFinalStatus, failure: string, block?: { number: number; hash: string }): Promise<void> {
    await this.attempts.updateOne({ _id: attemptId }, { $set: { status, failure, blockNumber: block?.number ?? null, blockHash: block?.hash ?? null } });
  }

  async markConfirmed(attempt: PayoutAttemptRecord, block: { number: number; hash: string }): Promise<void> {
    await this.attempts.updateOne({ _id: attempt._id }, { $set: { status: 'confirmed', blockNumber: block.number, blockHash: block.hash } });
    await this.claims.updateOne(
      { _id: attempt.subscriptionId },
      { $set: { status: 'confirmed', txHash: attempt.txHash, blockNumber: block.number, confirmedAt: new Date() } },
    );
  }

  /**
   * Runs `critical` while holding the wallet's lock. The lock is a unique
   * document with a lease: a crashed holder frees it when the lease ends. The
   * unique nonce index stays the last line of defence if a lease ever expires
   * under a paused holder.
   */
  async withWalletLock<T>(wallet: string, owner: string, critical: () => Promise<T>, { leaseMs = 30_000, waitMs = 60_000 } = {}): Promise<T> {
    const started = Date.now();
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
      await sleep(20 + Math.random() * 60);
    }
    try {
      return await critical();
    } finally {
      await this.locks.deleteOne({ _id: wallet, owner });
    }
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
