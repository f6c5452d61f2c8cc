import type { Config } from '../../config';
import { migrate } from '../../db/migrate';
import type { Logger } from '../../logger';
import { openPool } from '../runtime';

export async function migrateCommand(config: Config, log: Logger): Promise<void> {
  const pool = openPool(config, 'satmachine-migrate', 2);
  try {
    const r = await migrate(pool);
    log.info(
      { applied: r.applied, schema_version: r.current },
      r.applied.length ? 'migrations applied' : 'schema up to date',
    );
  } finally {
    await pool.end();
  }
}
