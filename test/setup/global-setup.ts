import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { startLocalServices } from '../../src/dev/services';
import { TEST_LOG_LEVEL } from '../support/logging';
import { writeWorkflowBundle } from '../support/workflow-bundle';

/**
 * Once per `jest` run, before any test file: bundles the workflow code (test/support/workflow-bundle.ts),
 * and starts real services, the Temporal dev server, FerretDB and anvil, on free ports with
 * throw-away data. Tests read the addresses from env. Set TEST_TEMPORAL_ADDRESS, TEST_MONGO_URI
 * and TEST_CHAIN_URL to use running ones.
 *
 * Says one line when the services are up. A first-time build of a service binary reports its
 * progress as it goes (minutes); the services' own start-up lines are printed only if they fail
 * to start, or with TEST_LOG_LEVEL set.
 */
export default async function globalSetup(): Promise<void> {
  const bundleDir = fs.mkdtempSync(path.join(os.tmpdir(), 'prorata-test-workflows-'));
  process.env.TEST_WORKFLOW_BUNDLE_DIR = bundleDir;
  const bundled = writeWorkflowBundle(bundleDir);
  if (process.env.TEST_TEMPORAL_ADDRESS && process.env.TEST_MONGO_URI && process.env.TEST_CHAIN_URL) return bundled;

  const started = Date.now();
  const held: string[] = [];
  const log = (line: string) => {
    if (TEST_LOG_LEVEL !== 'silent' || line.startsWith('[provision]')) process.stdout.write(`${line}\n`);
    else held.push(line);
  };
  const [services] = await Promise.all([
    startLocalServices({ log }).catch((error: unknown) => {
      process.stderr.write(held.map((line) => `${line}\n`).join(''));
      throw error;
    }),
    bundled,
  ]);
  process.env.TEST_TEMPORAL_ADDRESS = services.temporalAddress;
  process.env.TEST_MONGO_URI = services.mongoUri;
  process.env.TEST_CHAIN_URL = services.chainUrl;
  (globalThis as { __localServices?: typeof services }).__localServices = services;
  process.stdout.write(
    `[test] services ready in ${Date.now() - started} ms: Temporal ${services.temporalAddress}, store ${services.mongoUri} (FerretDB over ${services.store}), anvil ${services.chainUrl}\n`,
  );
}
