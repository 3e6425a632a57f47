import { parseArgs } from 'node:util';
import { loadConfigOrExit, loadDotEnv } from '../src/config';
import { createLogger } from '../src/logger';
import { connectMongo } from '../src/persistence/mongo';
import { RefundEventLog } from '../src/persistence/refund-events';
import { bulkRefunds } from './bulk-refunds';
import { group } from './harness';

/**
 * `npx tsx bench/seed-dev.ts [--refunds 10000]`: fills the store `npm run dev`
 * uses (MONGODB_URI of ./.env) with refunds in final statuses, written as the
 * volume bench bulk-creates them (record + event-log entry), so the staging
 * check (`npm run test:load`) can run against a store of a realistic size.
 * Run it while `npm run dev` is up; the API folds the new events in by itself.
 * Never against a real store: the refunds it writes have no workflow nor payout,
 * so statistics would count them and `npm run reconcile` would flag each one.
 */
async function main(): Promise<void> {
  const { values } = parseArgs({ options: { refunds: { type: 'string', default: '10000' } } });
  const count = Number(values.refunds);
  if (!Number.isSafeInteger(count) || count < 1) throw new Error(`--refunds: "${values.refunds}" is not a positive whole number`);
  loadDotEnv();
  const config = loadConfigOrExit();
  // Bulk records have no workflow and no payout behind them: statistics would count them, reconcile would flag each one.
  if (config.nodeEnv === 'production' || config.chain.network !== 'anvil') {
    throw new Error(`refusing to write test refunds into a store configured for ${config.nodeEnv} on ${config.chain.network}: this is for the store of npm run dev (NODE_ENV development, BLOCKCHAIN_NETWORK anvil)`);
  }
  const mongo = await connectMongo(config.db.uri, createLogger('warn'));
  try {
    const offset = await mongo.db!.collection('proratarefunds').estimatedDocumentCount(); // spreads owners and statuses on from earlier runs
    const started = performance.now();
    await bulkRefunds(mongo, new RefundEventLog(mongo), count, offset, {
      onBatch: (done) => {
        if (done % 5_000 === 0 || done === count) console.log(`[seed] ${group(done)} of ${group(count)} refunds written`);
      },
    });
    console.log(`[seed] ${group(count)} refunds in final statuses added to ${config.db.uri.replace(/\/\/[^@]*@/, '//')} in ${((performance.now() - started) / 1000).toFixed(1)} s`);
  } finally {
    await mongo.close();
  }
}

main().catch((error: unknown) => {
  console.error(`[seed] ${(error as Error).message}`);
  process.exitCode = 1;
});
