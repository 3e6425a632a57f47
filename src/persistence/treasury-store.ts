import { Schema, type Connection, type Model } from 'mongoose';
import type { Currency } from '../domain/currency';
import type { TreasuryEventType } from '../notifications/events';
import { createUnlessExists } from './errors';

/**
 * What operators see of the treasury, kept beside the payout ledger:
 * - `treasuryaccounts/<chainId>`: the wallet the workers pay from (the API reads
 *   it to report balances without holding the key);
 * - `treasurycurrencies/<chainId>:<token|native>`: currencies paid so far, each
 *   checked once against the chain (the token's `decimals()`);
 * - `treasuryalerts/<type>:<key>`: alerts currently open. Raising one is a unique
 *   insert, so however many workers notice, one alert (and one webhook) goes out
 *   per episode; clearing it lets the next episode alert again.
 */
export interface TreasuryAccountRecord {
  _id: string;
  chainId: number;
  address: string;
  updatedAt: Date;
}

export interface TreasuryCurrencyRecord {
  _id: string;
  chainId: number;
  symbol: string;
  decimals: number;
  tokenAddress: string | null;
  verifiedAt: Date;
}

export type TreasuryAlertType = TreasuryEventType;

export interface TreasuryAlertRecord {
  _id: string;
  type: TreasuryAlertType;
  key: string;
  message: string;
  details: Record<string, unknown>;
  since: Date;
}

const accountSchema = new Schema<TreasuryAccountRecord>({ _id: String, chainId: Number, address: String, updatedAt: Date }, { collection: 'treasuryaccounts', versionKey: false });
const currencySchema = new Schema<TreasuryCurrencyRecord>(
  { _id: String, chainId: Number, symbol: String, decimals: Number, tokenAddress: { type: String, default: null }, verifiedAt: Date },
  { collection: 'treasurycurrencies', versionKey: false },
);
const alertSchema = new Schema<TreasuryAlertRecord>(
  { _id: String, type: String, key: String, message: String, details: { type: Schema.Types.Mixed, default: {} }, since: Date },
  { collection: 'treasuryalerts', versionKey: false, minimize: false },
);

export const TREASURY_COLLECTIONS = ['treasuryaccounts', 'treasurycurrencies', 'treasuryalerts'] as const;

export class TreasuryStore {
  private readonly accounts: Model<TreasuryAccountRecord>;
  private readonly currencies: Model<TreasuryCurrencyRecord>;
  private readonly alertRecords: Model<TreasuryAlertRecord>;

  constructor(connection: Connection) {
    const model = <T>(name: string, schema: Schema<T>): Model<T> => (connection.models[name] as Model<T> | undefined) ?? connection.model<T>(name, schema);
    this.accounts = model('TreasuryAccount', accountSchema);
    this.currencies = model('TreasuryCurrency', currencySchema);
    this.alertRecords = model('TreasuryAlert', alertSchema);
  }

  async recordAccount(chainId: number, address: string): Promise<void> {
    await this.accounts.updateOne({ _id: String(chainId) }, { $set: { chainId, address, updatedAt: new Date() } }, { upsert: true });
  }

  /** The treasury wallet of the chain, as the workers last reported it. */
  account(chainId: number): Promise<TreasuryAccountRecord | null> {
    return this.accounts.findById(String(chainId)).lean();
  }

  findCurrency(chainId: number, tokenAddress: string | null): Promise<TreasuryCurrencyRecord | null> {
    return this.currencies.findById(currencyId(chainId, tokenAddress)).lean();
  }

  async recordCurrency(chainId: number, currency: Currency): Promise<void> {
    await createUnlessExists(() => this.currencies.create({ _id: currencyId(chainId, currency.tokenAddress), chainId, ...currency, verifiedAt: new Date() }));
  }

  /** Currencies paid on the chain so far (the native coin included once it was paid). */
  currenciesOf(chainId: number): Promise<TreasuryCurrencyRecord[]> {
    return this.currencies.find({ chainId }).lean();
  }

  /** Opens the alert; null when it is already open (someone else alerted this episode). */
  async raiseAlert(alert: Omit<TreasuryAlertRecord, '_id' | 'since'>): Promise<TreasuryAlertRecord | null> {
    const created = await createUnlessExists(() => this.alertRecords.create({ _id: `${alert.type}:${alert.key}`, ...alert, since: new Date() }));
    return created?.toObject() ?? null;
  }

  /** Closes the alert; true when it was open. */
  async clearAlert(type: TreasuryAlertType, key: string): Promise<boolean> {
    const result = await this.alertRecords.deleteOne({ _id: `${type}:${key}` });
    return result.deletedCount > 0;
  }

  openAlerts(): Promise<TreasuryAlertRecord[]> {
    return this.alertRecords.find({}).lean();
  }
}

function currencyId(chainId: number, tokenAddress: string | null): string {
  return `${chainId}:${tokenAddress ? tokenAddress.toLowerCase() : 'native'}`;
}
