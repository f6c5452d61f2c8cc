import { loadMigrations, migrate } from '../../src/db/migrate';
import { freshDatabase } from '../helpers/stack';

describe('migrations', () => {
  let db: Awaited<ReturnType<typeof freshDatabase>>;
  beforeAll(async () => {
    db = await freshDatabase();
  });
  afterAll(async () => db.close());

  it('are applied by the template and running them again is a no-op', async () => {
    const again = await migrate(db.pool);
    expect(again.applied).toEqual([]);
    const { rows } = await db.pool.query('SELECT version FROM public.satmachine_migrations ORDER BY version');
    expect(rows.map((r) => r.version)).toEqual(loadMigrations().map((m) => m.version));
  });

  it('create every table of the seed plus users, keys and the ledger', async () => {
    const { rows } = await db.pool.query<{ table_name: string }>(
      `SELECT table_name FROM information_schema.tables WHERE table_schema = 'satmachine' ORDER BY table_name`,
    );
    const tables = rows.map((r) => r.table_name);
    for (const t of [
      'super_config',
      'dca_machines',
      'dca_clients',
      'dca_lp',
      'dca_deposits',
      'dca_settlements',
      'dca_payments',
      'dca_commission_splits',
      'dca_telemetry',
      'cassette_configs',
      'users',
      'api_keys',
      'ledger_wallets',
      'ledger_transfers',
      'ledger_entries',
      'ledger_lightning_payments',
    ]) {
      expect(tables).toContain(t);
    }
  });

  it('enforce UNIQUE payment_hash, the cassette primary key and transfer idempotency keys', async () => {
    const { rows } = await db.pool.query<{ conname: string; def: string }>(
      `SELECT conname, pg_get_constraintdef(oid) AS def FROM pg_constraint
        WHERE connamespace = 'satmachine'::regnamespace AND contype IN ('u', 'p')`,
    );
    const defs = rows.map((r) => r.def);
    expect(defs).toContain('UNIQUE (payment_hash)');
    expect(defs).toContain('PRIMARY KEY (machine_id, "position")');
    expect(defs).toContain('UNIQUE (idempotency_key)');
  });

  it('store fiat as NUMERIC(18,2) and sats as BIGINT', async () => {
    const { rows } = await db.pool.query<{
      column_name: string;
      data_type: string;
      numeric_precision: number;
      numeric_scale: number;
    }>(
      `SELECT column_name, data_type, numeric_precision, numeric_scale FROM information_schema.columns
        WHERE table_schema = 'satmachine' AND table_name = 'dca_payments' AND column_name IN ('amount_sats', 'amount_fiat')`,
    );
    const byName = Object.fromEntries(rows.map((r) => [r.column_name, r]));
    expect(byName.amount_sats!.data_type).toBe('bigint');
    expect(byName.amount_fiat!.data_type).toBe('numeric');
    expect([byName.amount_fiat!.numeric_precision, byName.amount_fiat!.numeric_scale]).toEqual([18, 2]);
  });
});
