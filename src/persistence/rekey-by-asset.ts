import type { Collection, Db } from 'mongodb';
import { ADDRESS_PATTERN } from '../domain/currency';
import { isDuplicateKey } from './errors';

/** The marker of this one-time pass: the spend entries it reads cannot be narrowed by an index. */
const DONE = 'spend-and-alerts-by-asset';
const DAY_MS = 24 * 3_600_000;
/** Alerts whose key names a currency (the others name a wallet and nonce). */
const CURRENCY_ALERTS = ['treasury.low_balance', 'treasury.daily_limit'];

interface SpendEntry {
  _id: string;
  bucket: string;
  amount: string;
}

/**
 * Before `assetKey`, PAYOUT_DAILY_LIMIT's spend and the treasury's currency
 * alerts were keyed by the symbol as each subscription spelled it (`ETH`,
 * `eth`; a token as `SYMBOL:address`). Once per store, this counts the last
 * day's spend again under its coin's key, so the limit still sees what was
 * paid just before the upgrade, and moves open low-balance and daily-limit
 * alerts to their coin's key, so they clear. Every write can be made again.
 * Returns how many entries and alerts it moved.
 */
export async function rekeyByAsset(db: Db, now: Date): Promise<number> {
  const migrations = db.collection<{ _id: string; at: Date }>('migrations');
  if (await migrations.findOne({ _id: DONE })) return 0;
  const entries = db.collection<SpendEntry>('payoutspendentries');
  let moved = 0;
  const countAgain = async (oldBucket: string, spendId: string, amount: string) => {
    const legacy = legacyKey(oldBucket, { hour: true });
    if (!legacy || now.getTime() - Date.parse(`${legacy.hour}:00:00Z`) >= DAY_MS) return;
    const bucket = `${legacy.prefix}:${legacy.hour}`;
    if (await insertOnce(entries, { _id: `${bucket}/${spendId}`, bucket, amount })) moved += 1;
  };
  for await (const entry of entries.find({})) await countAgain(entry.bucket, entry._id.slice(entry.bucket.length + 1), entry.amount);
  // Hours written before spend entries existed hold one total each.
  for await (const total of db.collection<{ _id: string; amount: string }>('payoutspend').find({})) await countAgain(total._id, `total:${total._id}`, total.amount);

  const alerts = db.collection<{ _id: string; type: string; key: string }>('treasuryalerts');
  for await (const alert of alerts.find({ type: { $in: CURRENCY_ALERTS } })) {
    const legacy = legacyKey(alert.key, { hour: false });
    if (!legacy) continue;
    await insertOnce(alerts, { ...alert, _id: `${alert.type}:${legacy.prefix}`, key: legacy.prefix });
    await alerts.deleteOne({ _id: alert._id });
    moved += 1;
  }
  await insertOnce(migrations, { _id: DONE, at: now });
  return moved;
}

/**
 * `chainId:SYMBOL[:address][:hour]` as written before, with `prefix` its
 * replacement `chainId:asset`; null for a key already by asset.
 */
function legacyKey(key: string, { hour }: { hour: boolean }): { prefix: string; hour: string } | null {
  const parts = key.split(':');
  const chainId = parts[0];
  const hourText = hour ? parts.pop()! : '';
  const currency = parts.slice(1);
  const token = currency.length === 2 && ADDRESS_PATTERN.test(currency[1]!) ? currency[1]!.toLowerCase() : null;
  const native = currency.length === 1 && currency[0] !== 'native' && !ADDRESS_PATTERN.test(currency[0]!);
  if (!token && !native) return null;
  return { prefix: `${chainId}:${token ?? 'native'}`, hour: hourText };
}

async function insertOnce<T extends { _id: string }>(collection: Collection<T>, document: T): Promise<boolean> {
  try {
    await collection.insertOne(document as Parameters<Collection<T>['insertOne']>[0]);
    return true;
  } catch (error) {
    if (isDuplicateKey(error)) return false;
    throw error;
  }
}
