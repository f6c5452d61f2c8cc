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
import { freePort } from '../helpers/ports';

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

  const env = await TestWorkflowEnvironment.createLocal({
    server: {
      executable: { type: 'existing-path', path: resolveTemporalBinary() },
      searchAttributes: SEARCH_ATTRIBUTES,
      ip: '127.0.0.1',
    },
  });

  const bundle = await bundleWorkflows();
  const bundlePath = join(dir, 'workflow-bundle.js');
  writeFileSync(bundlePath, bundle.code);

  process.env.SATMACHINE_TEST_PG_URL = pg.url('postgres');
  process.env.SATMACHINE_TEST_TEMPLATE_DB = TEMPLATE_DB;
  process.env.SATMACHINE_TEST_TEMPORAL_ADDRESS = env.address;
  process.env.SATMACHINE_TEST_BUNDLE = bundlePath;
  process.env.SATMACHINE_TEST_DIR = dir;
  process.env.NODE_ENV = 'test';
  (globalThis as Record<string, unknown>).__satmachine = { pg, env };
  process.stderr.write(
    `\n[test setup] PostgreSQL :${pgPort}, Temporal ${env.address}, bundle ready in ${Date.now() - started} ms\n`,
  );
}
