import type { Collection, Db } from 'mongodb';
import { ADDRESS_PATTERN, GAS_ALERT_ASSET } from '../domain/currency';
import { createUnlessExists } from './errors';

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
 * `eth`; a token as `SYMBOL:address`). This moves the last day's spend to its
 * coin's key, so the limit still sees what was paid just before the upgrade,
 * and open low-balance and daily-limit alerts likewise, so they clear. Each
 * move inserts the new document, then deletes the old one: a run that stops
 * half-way is finished by the next, and a run after workers of the previous
 * version have stopped moves what they wrote meanwhile. It reads every spend
 * entry (their keys cannot be narrowed by an index). Returns what it moved.
 */
export async function rekeyByAsset(db: Db, now: Date): Promise<number> {
  const entries = db.collection<SpendEntry>('payoutspendentries');
  let moved = 0;
  const move = async (oldBucket: string, spendId: string, amount: string, remove: () => Promise<unknown>) => {
    const legacy = legacyKey(oldBucket, { hour: true });
    if (!legacy || now.getTime() - Date.parse(`${legacy.hour}:00:00Z`) >= DAY_MS) return;
    const bucket = `${legacy.prefix}:${legacy.hour}`;
    await insertOnce(entries, { _id: `${bucket}/${spendId}`, bucket, amount });
    await remove();
    moved += 1;
  };
  for await (const entry of entries.find({})) await move(entry.bucket, entry._id.slice(entry.bucket.length + 1), entry.amount, () => entries.deleteOne({ _id: entry._id }));
  // Hours written before spend entries existed hold one total each.
  const totals = db.collection<{ _id: string; amount: string }>('payoutspend');
  for await (const total of totals.find({})) await move(total._id, `total:${total._id}`, total.amount, () => totals.deleteOne({ _id: total._id }));

  const alerts = db.collection<{ _id: string; type: string; key: string }>('treasuryalerts');
  for await (const alert of alerts.find({ type: { $in: CURRENCY_ALERTS } })) {
    if (alert.key.endsWith(`:${GAS_ALERT_ASSET}`)) continue; // names no currency
    const legacy = legacyKey(alert.key, { hour: false });
    if (!legacy) continue;
    await insertOnce(alerts, { ...alert, _id: `${alert.type}:${legacy.prefix}`, key: legacy.prefix });
    await alerts.deleteOne({ _id: alert._id });
    moved += 1;
  }
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

/** Inserts `document` unless a run before this one already did. */
async function insertOnce<T extends { _id: string }>(collection: Collection<T>, document: T): Promise<void> {
  await createUnlessExists(() => collection.insertOne(document as Parameters<Collection<T>['insertOne']>[0]));
}
