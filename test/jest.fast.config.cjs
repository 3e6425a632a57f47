// The fast tier (`npm run test:fast`): the pure domain, payout arithmetic, configuration and docs,
// and the refund workflow's policy on the time-skipping test server with in-memory activities.
// No services are started; it runs in seconds. `npm test` runs all of it too, with everything else.
const base = require('../package.json').jest;

module.exports = {
  ...base,
  rootDir: '..',
  globalSetup: undefined,
  globalTeardown: undefined,
  testMatch: ['<rootDir>/test/workflow/**/*.test.ts', '<rootDir>/test/unit/**/*.test.ts'],
  testPathIgnorePatterns: ['/node_modules/', '<rootDir>/test/unit/bootstrap-build.test.ts'],
};
