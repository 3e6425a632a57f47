import { Schema, type Connection, type Model } from 'mongoose';

/** What a sweep found and did. */
export interface SweepCounts {
  found: number;
  started: number;
  skipped: number;
  reconciled: number;
  errors: number;
  errorSamples: string[];
}

/** `sweepruns`: one document per sweep. */
export interface SweepRunRecord extends SweepCounts {
  _id: string;
  startedAt: Date;
  finishedAt: Date;
  durationMs: number;
}

const sweepRunSchema = new Schema<SweepRunRecord>(
  {
    _id: String,
    startedAt: Date,
    finishedAt: Date,
    durationMs: Number,
    found: Number,
    started: Number,
    skipped: Number,
    reconciled: Number,
    errors: Number,
    errorSamples: [String],
  },
  // `errors` is a plain count here, not mongoose's validation errors.
  { collection: 'sweepruns', versionKey: false, suppressReservedKeysWarning: true },
);

export function sweepRunModel(connection: Connection): Model<SweepRunRecord> {
  return (connection.models.SweepRun as Model<SweepRunRecord> | undefined) ?? connection.model<SweepRunRecord>('SweepRun', sweepRunSchema);
}

export function latestSweepRun(connection: Connection): Promise<SweepRunRecord | null> {
  return sweepRunModel(connection).findOne().sort({ finishedAt: -1 }).lean();
}
