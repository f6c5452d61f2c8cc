import { chmodSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { TestWorkflowEnvironment } from '@temporalio/testing';
import { SEARCH_ATTRIBUTES } from '../../src/contract';
import { ensureDatabase, startEmbeddedPostgres } from '../../src/db/embeddedPostgres';
import { migrate } from '../../src/db/migrate';
import { createPool } from '../../src/db/pool';
import { logger } from '../../src/logger';
import { resolveTemporalBinary } from '../../src/cli/temporalDevServer';
import { bundleWorkflows } from '../../src/worker/worker';
import { freePort, freePortBlock } from '../helpers/ports';
import { startTemporalServer } from '../../src/cli/temporalServer';

export const TEMPLATE_DB = 'satmachine_template';

/**
 * One PostgreSQL (embedded, throwaway, fsync off) and one Temporal dev server (the
 * installed binary, never a download) for the whole run; the workflow bundle is
 * built once. Test files get a fresh database each from a migrated template.
 */
export default async function globalSetup(): Promise<void> {
  const started = Date.now();
  const dir = mkdtempSync(join(tmpdir(), 'satmachine-test-'));
  chmodSync(dir, 0o755); // PostgreSQL runs as the `postgres` OS user when we are root
  const pgPort = await freePort();
  const pg = await startEmbeddedPostgres({
    dir: join(dir, 'pg'),
    port: pgPort,
    logger: logger.child({ component: 'test-postgres' }),
    persistent: false,
    flags: ['-c', 'fsync=off', '-c', 'synchronous_commit=off', '-c', 'full_page_writes=off'],
  });
  await ensureDatabase(pg.url('postgres'), TEMPLATE_DB);
  const pool = createPool({ connectionString: pg.url(TEMPLATE_DB), max: 1 });
  await migrate(pool);
  await pool.end();

  // SATMACHINE_TEST_TEMPORAL=server: the real Temporal server (PostgreSQL persistence in this
  // run's cluster, 4 shards) instead of the CLI dev server — `npm test` runs a part of the suite so
  // (jest.server.config.js)
  let temporal: { address: string; stop: () => Promise<void> };
  if (process.env.SATMACHINE_TEST_TEMPORAL === 'server') {
    const server = await startTemporalServer({
      dataDir: dir,
      postgresUrl: pg.url('postgres'),
      host: '127.0.0.1',
      port: await freePortBlock(9),
      uiPort: await freePort(),
      shards: 4,
      namespace: 'default',
      logger: logger.child({ component: 'test-temporal-server' }),
    });
    temporal = { address: server.address, stop: () => server.stop() };
  } else {
    const env = await TestWorkflowEnvironment.createLocal({
      server: {
        executable: { type: 'existing-path', path: resolveTemporalBinary() },
        searchAttributes: SEARCH_ATTRIBUTES,
        ip: '127.0.0.1',
      },
    });
    temporal = { address: env.address, stop: () => env.teardown() };
  }

  const bundle = await bundleWorkflows();
  const bundlePath = join(dir, 'workflow-bundle.js');
  writeFileSync(bundlePath, bundle.code);

  process.env.SATMACHINE_TEST_PG_URL = pg.url('postgres');
  process.env.SATMACHINE_TEST_TEMPLATE_DB = TEMPLATE_DB;
  process.env.SATMACHINE_TEST_TEMPORAL_ADDRESS = temporal.address;
  process.env.SATMACHINE_TEST_BUNDLE = bundlePath;
  process.env.SATMACHINE_TEST_DIR = dir;
  process.env.NODE_ENV = 'test';
  (globalThis as Record<string, unknown>).__satmachine = { pg, temporal };
  process.stderr.write(
    `\n[test setup] PostgreSQL :${pgPort}, Temporal ${process.env.SATMACHINE_TEST_TEMPORAL === 'server' ? 'server' : 'dev server'} ${temporal.address}, bundle ready in ${Date.now() - started} ms\n`,
  );
}
