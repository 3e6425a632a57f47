import { loadConfigOrExit } from '../config';
import { createLogger } from '../logger';
import { describeReport, migrate } from '../persistence/migrate';
import { connectMongo } from '../persistence/mongo';

/** `npm run migrate`: indexes and backfill, idempotent; prints what it changed. */
export async function run(): Promise<number> {
  const config = loadConfigOrExit();
  const logger = createLogger(config.logLevel);
  const connection = await connectMongo(config.db.uri, logger);
  try {
    const report = await migrate(connection);
    for (const line of describeReport(report)) console.log(`[migrate] ${line}`);
    return 0;
  } finally {
    await connection.close();
  }
}
