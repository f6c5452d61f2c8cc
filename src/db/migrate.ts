import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Pool } from './pool';
import { withTransaction } from './pool';

const MIGRATIONS_DIR = join(__dirname, 'migrations');
// any fixed number: serialises concurrent `migrate` runs (several replicas starting)
const MIGRATION_LOCK = 7_274_001;

export interface Migration {
  version: number;
  name: string;
  sql: string;
}

export function loadMigrations(dir = MIGRATIONS_DIR): Migration[] {
  return readdirSync(dir)
    .filter((f) => /^\d{4}_[a-z0-9_]+\.sql$/.test(f))
    .sort()
    .map((file) => ({
      version: Number(file.slice(0, 4)),
      name: file.replace(/\.sql$/, ''),
      sql: readFileSync(join(dir, file), 'utf8'),
    }));
}

export interface MigrateResult {
  applied: string[];
  current: number;
}

/**
 * Applies every migration not yet recorded in `satmachine_migrations`, each in its
 * own transaction, under an advisory lock. Running it again is a no-op.
 */
export async function migrate(pool: Pool, migrations = loadMigrations()): Promise<MigrateResult> {
  return withTransaction(pool, async (client) => {
    // a migration (or the wait for another replica's) may outlast the pool's statement_timeout
    await client.query('SET LOCAL statement_timeout = 0');
    await client.query('SELECT pg_advisory_xact_lock($1)', [MIGRATION_LOCK]);
    await client.query(`
      CREATE TABLE IF NOT EXISTS public.satmachine_migrations (
        version    integer PRIMARY KEY,
        name       text NOT NULL,
        applied_at timestamptz NOT NULL DEFAULT now()
      )`);
    const done = new Set(
      (await client.query<{ version: number }>('SELECT version FROM public.satmachine_migrations')).rows.map(
        (r) => r.version,
      ),
    );
    const applied: string[] = [];
    for (const m of migrations) {
      if (done.has(m.version)) continue;
      await client.query('SAVEPOINT migration');
      try {
        await client.query(m.sql);
        await client.query('INSERT INTO public.satmachine_migrations (version, name) VALUES ($1, $2)', [
          m.version,
          m.name,
        ]);
        await client.query('RELEASE SAVEPOINT migration');
      } catch (err) {
        throw new Error(`migration ${m.name} failed: ${(err as Error).message}`, { cause: err });
      }
      applied.push(m.name);
    }
    const current = migrations.reduce((max, m) => Math.max(max, m.version), 0);
    return { applied, current };
  });
}
