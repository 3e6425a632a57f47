import { Schema, type Connection, type Model } from 'mongoose';

/** `sweepruns`: one document per sweep, what it found and did. */
export interface SweepRunRecord {
  _id: string;
  startedAt: Date;
  finishedAt: Date;
  durationMs: number;
  found: number;
  started: number;
  skipped: number;
  reconciled: number;
  errors: number;
  errorSamples: string[];
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
