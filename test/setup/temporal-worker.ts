import path from 'node:path';
import type * as TemporalWorker from '@temporalio/worker';
import { SDK_LOG_LEVEL } from '../support/logging';

/**
 * What `@temporalio/worker` resolves to under jest (package.json, jest.moduleNameMapper), for test
 * files, support code, the product and @temporalio/testing alike: the real package, with the
 * options its Runtime is created with set to the tests' logger and threshold
 * (test/support/logging.ts); core logs to the console past the same threshold.
 *
 * A mapping rather than a setup file that installs the Runtime in every test file: only the files
 * that use the SDK load it (seconds per file), and the Runtime is created when a connection or a
 * worker needs it and shut down when the last one closes. An installed Runtime that nothing used
 * was never shut down: it kept its test file's modules alive until the jest worker exited, and the
 * workers grew slow to exit ("A worker process has failed to exit gracefully").
 * Core's logs are not forwarded to the logger: forwarding holds the process open for as long as
 * the Runtime lives.
 */
// Required by path, so the mapping does not send this file to itself.
const real: typeof TemporalWorker = require(path.join(path.dirname(require.resolve('@temporalio/worker/package.json')), 'lib', 'index.js'));

real.Runtime.defaultOptions = {
  logger: new real.DefaultLogger(SDK_LOG_LEVEL),
  telemetryOptions: { logging: { filter: { core: SDK_LOG_LEVEL, other: 'ERROR' } } },
};

export = real;
