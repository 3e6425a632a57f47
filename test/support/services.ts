import crypto from 'node:crypto';

/** Addresses of the real services started by test/setup/global-setup.ts. */
export function testServices() {
  const temporalAddress = process.env.TEST_TEMPORAL_ADDRESS;
  const mongoUri = process.env.TEST_MONGO_URI;
  const chainUrl = process.env.TEST_CHAIN_URL;
  if (!temporalAddress || !mongoUri || !chainUrl) throw new Error('test services are not running: run the tests with `npm test`');
  return { temporalAddress, mongoUri, chainUrl };
}

/** A database of its own for one test file, so files running in parallel never see each other's data. */
export function uniqueMongoUri(prefix = 'test'): string {
  const uri = new URL(testServices().mongoUri);
  uri.pathname = `/${prefix}_${crypto.randomBytes(5).toString('hex')}`;
  return uri.toString();
}

export function uniqueName(prefix: string): string {
  return `${prefix}-${crypto.randomBytes(5).toString('hex')}`;
}
