import type pg from 'pg';

/**
 * Catalog probes for the Temporal server's own databases (cli/temporalServer.ts sets
 * them up with Temporal's schema tool): plain pg clients, not the satmachine pool.
 */

/** Whether the cluster has a database of this name. */
export async function databaseExists(admin: pg.Client, name: string): Promise<boolean> {
  const { rowCount } = await admin.query('SELECT 1 FROM pg_database WHERE datname = $1', [name]);
  return !!rowCount;
}

/** Whether the connected database already holds Temporal's base schema (its schema_version table). */
export async function hasTemporalSchema(client: pg.Client): Promise<boolean> {
  const { rowCount } = await client.query(
    `SELECT 1 FROM information_schema.tables WHERE table_name = 'schema_version'`,
  );
  return !!rowCount;
}
