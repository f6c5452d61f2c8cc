import type { Config } from '../../config';
import { migrate } from '../../db/migrate';
import { resealLegacySecrets } from '../../db/sealedSecrets';
import type { Logger } from '../../logger';
import type { SecretBox } from '../../security/secretBox';
import { loadSecretBox, openPool } from '../runtime';

export async function migrateCommand(config: Config, log: Logger): Promise<void> {
  const pool = openPool(config, 'satmachine-migrate', 2);
  try {
    const r = await migrate(pool);
    log.info(
      { applied: r.applied, schema_version: r.current },
      r.applied.length ? 'migrations applied' : 'schema up to date',
    );
    // stored secrets of format v1 are re-sealed bound to their rows; that needs the key
    let box: SecretBox | null = null;
    try {
      box = loadSecretBox(config);
    } catch (err) {
      log.warn(
        { reason: (err as Error).message },
        'stored secrets not re-sealed (no secret key here); run `satmachine migrate` again with SATMACHINE_SECRET_KEY set — v1 values keep opening meanwhile',
      );
    }
    if (box) await resealLegacySecrets(pool, box, log);
  } finally {
    await pool.end();
  }
}
