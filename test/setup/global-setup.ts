import { startLocalServices } from '../../src/dev/services';
import { TEST_LOG_LEVEL } from '../support/logging';

/**
 * Starts real services once per `jest` run: Temporal dev server, FerretDB and
 * anvil, on free ports with throw-away data. Tests read the addresses from env.
 * Set TEST_TEMPORAL_ADDRESS, TEST_MONGO_URI and TEST_CHAIN_URL to use running ones.
 *
 * Says one line when they are up. A first-time build of a service binary reports its
 * progress as it goes (minutes); the services' own start-up lines are printed only if
 * they fail to start, or with TEST_LOG_LEVEL set.
 */
export default async function globalSetup(): Promise<void> {
  if (process.env.TEST_TEMPORAL_ADDRESS && process.env.TEST_MONGO_URI && process.env.TEST_CHAIN_URL) return;
  const started = Date.now();
  const held: string[] = [];
  const log = (line: string) => {
    if (TEST_LOG_LEVEL !== 'silent' || line.startsWith('[provision]')) process.stdout.write(`${line}\n`);
    else held.push(line);
  };
  let services;
  try {
    services = await startLocalServices({ log });
  } catch (error) {
    process.stderr.write(held.map((line) => `${line}\n`).join(''));
    throw error;
  }
  process.env.TEST_TEMPORAL_ADDRESS = services.temporalAddress;
  process.env.TEST_MONGO_URI = services.mongoUri;
  process.env.TEST_CHAIN_URL = services.chainUrl;
  (globalThis as { __localServices?: typeof services }).__localServices = services;
  process.stdout.write(
    `[test] services ready in ${Date.now() - started} ms: Temporal ${services.temporalAddress}, store ${services.mongoUri} (FerretDB over ${services.store}), anvil ${services.chainUrl}\n`,
  );
}
