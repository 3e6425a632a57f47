import { Schema, type Connection, type Model } from 'mongoose';
import { createUnlessExists } from './errors';

/**
 * `idempotencykeys`: the first answer to each (caller, route, Idempotency-Key),
 * replayed to every retry for 24 hours. Built only on unique inserts, the one
 * write that is atomic on MongoDB and on FerretDB v1 alike: each use of a key is
 * a generation `<scope>:<n>`, claimed by inserting it. Exactly one of several
 * concurrent requests inserts a generation; the others read it and wait or
 * replay. An expired generation, or one abandoned by a crashed process, is
 * superseded by claiming the next one (again a unique insert), never by an update.
 */

export interface StoredResponse {
  status: number;
  /** The response body as sent (JSON text), so a replay is byte-identical. */
  body: string;
  headers: Record<string, string>;
}

interface IdempotencyRecord {
  _id: string;
  scope: string;
  generation: number;
  fingerprint: string;
  state: 'in_progress' | 'completed';
  createdAt: Date;
  completedAt: Date | null;
  response: StoredResponse | null;
}

const idempotencySchema = new Schema<IdempotencyRecord>(
  {
    _id: String,
    scope: { type: String, required: true },
    generation: { type: Number, required: true },
    fingerprint: { type: String, required: true },
    state: { type: String, enum: ['in_progress', 'completed'], required: true },
    createdAt: { type: Date, required: true },
    completedAt: { type: Date, default: null },
    response: { type: Schema.Types.Mixed, default: null },
  },
  { collection: 'idempotencykeys', versionKey: false, minimize: false },
);

export interface IdempotencyClaim {
  id: string;
}

export type ClaimOutcome =
  | { kind: 'claimed'; claim: IdempotencyClaim }
  | { kind: 'replay'; response: StoredResponse }
  | { kind: 'in-progress' }
  | { kind: 'mismatch' };

export interface IdempotencyOptions {
  /** How long an answer is replayed (24 h). */
  ttlMs?: number;
  /** An unfinished claim older than this was abandoned by a crashed process and may be taken over. */
  abandonedAfterMs?: number;
  now?: () => Date;
}

const DAY_MS = 24 * 60 * 60 * 1000;
const GENERATION_DIGITS = 6;

export class IdempotencyKeys {
  private readonly keys: Model<IdempotencyRecord>;
  private readonly ttlMs: number;
  private readonly abandonedAfterMs: number;
  private readonly now: () => Date;

  constructor(connection: Connection, options: IdempotencyOptions = {}) {
    this.keys = (connection.models.IdempotencyKey as Model<IdempotencyRecord> | undefined) ?? connection.model<IdempotencyRecord>('IdempotencyKey', idempotencySchema);
    this.ttlMs = options.ttlMs ?? DAY_MS;
    this.abandonedAfterMs = options.abandonedAfterMs ?? 5 * 60 * 1000;
    this.now = options.now ?? (() => new Date());
  }

  /**
   * Claims `scope` for a request whose body hashes to `fingerprint`, or tells
   * what happened to the earlier request with the same scope.
   */
  async claim(scope: string, fingerprint: string): Promise<ClaimOutcome> {
    for (let attempt = 0; attempt < 5; attempt++) {
      const latest = await this.latest(scope);
      if (latest && this.isLive(latest)) {
        if (latest.fingerprint !== fingerprint) return { kind: 'mismatch' };
        if (latest.state === 'completed' && latest.response) return { kind: 'replay', response: latest.response };
        return { kind: 'in-progress' };
      }
      const generation = latest ? latest.generation + 1 : 0;
      const id = `${scope}:${String(generation).padStart(GENERATION_DIGITS, '0')}`;
      if (await createUnlessExists(() => this.keys.create({ _id: id, scope, generation, fingerprint, state: 'in_progress', createdAt: this.now(), completedAt: null, response: null }))) {
        return { kind: 'claimed', claim: { id } };
      }
      // another request claimed this generation first: look again
    }
    return { kind: 'in-progress' };
  }

  /** Stores the answer of a claimed request (only its claimer writes it). */
  async complete(claim: IdempotencyClaim, response: StoredResponse): Promise<void> {
    await this.keys.updateOne({ _id: claim.id }, { $set: { state: 'completed', completedAt: this.now(), response } });
  }

  /** Forgets a claim whose request did not produce an answer worth replaying (a 5xx): a retry runs again. */
  async release(claim: IdempotencyClaim): Promise<void> {
    await this.keys.deleteOne({ _id: claim.id, state: 'in_progress' });
  }

  private latest(scope: string): Promise<IdempotencyRecord | null> {
    // Generations share the scope as an _id prefix and sort by their zero-padded number.
    return this.keys
      .findOne({ _id: { $gte: `${scope}:`, $lt: `${scope};` } })
      .sort({ _id: -1 })
      .lean();
  }

  private isLive(record: IdempotencyRecord): boolean {
    const age = this.now().getTime() - record.createdAt.getTime();
    if (age >= this.ttlMs) return false;
    return record.state === 'completed' || age < this.abandonedAfterMs;
  }
}
