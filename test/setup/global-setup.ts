import { startLocalServices } from '../../src/dev/services';

/**
 * Starts real services once per `jest` run: Temporal dev server, FerretDB and
 * anvil, on free ports with throw-away data. Tests read the addresses from env.
 * Set TEST_TEMPORAL_ADDRESS, TEST_MONGO_URI and TEST_CHAIN_URL to use running ones.
 */
export default async function globalSetup(): Promise<void> {
  if (process.env.TEST_TEMPORAL_ADDRESS && process.env.TEST_MONGO_URI && process.env.TEST_CHAIN_URL) return;
  const started = Date.now();
  const services = await startLocalServices({ log: (line) => process.stdout.write(`${line}\n`) });
  process.env.TEST_TEMPORAL_ADDRESS = services.temporalAddress;
  process.env.TEST_MONGO_URI = services.mongoUri;
  process.env.TEST_CHAIN_URL = services.chainUrl;
  (globalThis as { __localServices?: typeof services }).__localServices = services;
  process.stdout.write(`[test] services ready in ${Date.now() - started} ms\n`);
}
