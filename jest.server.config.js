/**
 * The suite's real-server part: the same jest set-up, but the global setup starts the real
 * Temporal server (PostgreSQL persistence, 4 history shards; scripts/install-temporal-server.sh)
 * instead of the CLI dev server, and runs the files below — a settlement end to end, the
 * operator actions through the API, worker kill -9 mid-round, a PostgreSQL outage.
 * `npm test` runs it after the main run; alone: `npx jest -c jest.server.config.js`.
 */
process.env.SATMACHINE_TEST_TEMPORAL = 'server';
const base = require('./jest.config');

/** @type {import('jest').Config} */
module.exports = {
  ...base,
  testMatch: [
    '**/test/integration/settlementWorkflow.test.ts',
    '**/test/integration/api.settlements.test.ts',
    '**/test/fault/workerKills.test.ts',
    '**/test/fault/postgresOutage.test.ts',
  ],
};
