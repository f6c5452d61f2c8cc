import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { loadMigrations, migrate } from '../../src/db/migrate';
import { createPool, type Pool } from '../../src/db/pool';
import { ledgerInvariantViolations, transfer } from '../../src/db/ledger';

/**
 * Migration 0019: the ledger's entries become a view over its transfers. A database of
 * the previous version (migrations up to 0018, entries written as that version wrote
 * them) is migrated; the view shows the same rows; a previous version's worker still
 * writing entries during a rolling upgrade is accepted when its entries are its
 * transfer's, refused otherwise; a table that disagrees with its transfers stops the
 * migration and changes nothing.
 */
describe('migration 0019: ledger entries derived from the transfers', () => {
  const admin = process.env.SATMACHINE_TEST_PG_URL!;
  const dropped: string[] = [];
  const pools: Pool[] = [];

  /** An empty database migrated up to `upTo` (inclusive). */
  async function databaseAt(upTo: number): Promise<Pool> {
    const name = `t_${randomBytes(6).toString('hex')}`;
    const c = new pg.Client({ connectionString: admin });
    await c.connect();
    await c.query(`CREATE DATABASE ${name} TEMPLATE template0`);
    await c.end();
    dropped.push(name);
    const pool = createPool({ connectionString: admin.replace(/\/postgres$/, `/${name}`), max: 4 });
    pools.push(pool);
    await migrate(
      pool,
      loadMigrations().filter((m) => m.version <= upTo),
    );
    return pool;
  }
  afterAll(async () => {
    for (const p of pools) await p.end();
    const c = new pg.Client({ connectionString: admin });
    await c.connect();
    for (const n of dropped) await c.query(`DROP DATABASE IF EXISTS ${n} WITH (FORCE)`);
    await c.end();
  });

  const wallets = async (db: Pool) => {
    await db.query(
      `INSERT INTO satmachine.ledger_wallets (id, name) VALUES ('wa', 'a'), ('wb', 'b') ON CONFLICT DO NOTHING`,
    );
  };
  /** a transfer as version 0018 wrote it: the transfer, its two entries, both balances */
  const oldTransfer = (db: Pool, id: string, from: string, to: string, amount: number) =>
    db.query(
      `WITH tr AS (
         INSERT INTO satmachine.ledger_transfers (id, idempotency_key, from_wallet_id, to_wallet_id, amount_sats, payment_hash, memo)
         VALUES ($1, $1, $2, $3, $4, 'h', NULL) RETURNING *
       ), entries AS (
         INSERT INTO satmachine.ledger_entries (transfer_id, wallet_id, amount_sats)
         SELECT id, from_wallet_id, -amount_sats FROM tr UNION ALL SELECT id, to_wallet_id, amount_sats FROM tr
       ), balances AS (
         UPDATE satmachine.ledger_wallets
            SET balance_sats = balance_sats + CASE WHEN id = $2 THEN -$4::bigint ELSE $4::bigint END
          WHERE id IN ($2, $3)
       )
       SELECT * FROM tr`,
      [id, from, to, amount],
    );
  const entries = async (db: Pool) =>
    (
      await db.query<{ transfer_id: string; wallet_id: string; amount_sats: number }>(
        'SELECT transfer_id, wallet_id, amount_sats FROM satmachine.ledger_entries ORDER BY transfer_id, wallet_id',
      )
    ).rows;

  it('a database of the previous version keeps every entry, now derived, and stays balanced', async () => {
    const db = await databaseAt(18);
    await wallets(db);
    await oldTransfer(db, 't1', 'external', 'wa', 5_000);
    await oldTransfer(db, 't2', 'wa', 'wb', 1_200);
    await oldTransfer(db, 't3', 'wb', 'external', 200);
    const before = await entries(db);
    expect(before).toHaveLength(6);

    expect(
      (
        await migrate(
          db,
          loadMigrations().filter((m) => m.version <= 19),
        )
      ).applied,
    ).toEqual(['0019_ledger_entries_view']);
    const { rows } = await db.query<{ table_type: string }>(
      `SELECT table_type FROM information_schema.tables WHERE table_schema = 'satmachine' AND table_name = 'ledger_entries'`,
    );
    expect(rows[0]?.table_type).toBe('VIEW');
    expect(await entries(db)).toEqual(before);
    expect(await ledgerInvariantViolations(db)).toEqual([]);

    // this version: a transfer writes no entry and its two entries are there
    const done = await transfer(db, {
      key: 'k4',
      from: 'wa',
      to: 'wb',
      amount: 300,
      paymentHash: 'h4',
      memo: null,
    });
    expect(done.kind).toBe('done');
    const id = done.kind === 'done' ? done.transfer.id : '';
    expect((await entries(db)).filter((e) => e.transfer_id === id)).toEqual(
      [
        { transfer_id: id, wallet_id: 'wa', amount_sats: -300 },
        { transfer_id: id, wallet_id: 'wb', amount_sats: 300 },
      ].sort((a, b) => a.wallet_id.localeCompare(b.wallet_id)),
    );
    expect(await ledgerInvariantViolations(db)).toEqual([]);

    // a wallet balance changed by hand is still caught against its transfers
    await db.query(`UPDATE satmachine.ledger_wallets SET balance_sats = balance_sats + 1 WHERE id = 'wb'`);
    expect(await ledgerInvariantViolations(db)).toEqual(['wallet wb: balance 1301 ≠ entries 1300']);
  });

  it('a previous version still writing entries (rolling upgrade): its own entries are accepted, others refused', async () => {
    const db = await databaseAt(19);
    await wallets(db);
    await oldTransfer(db, 't1', 'external', 'wa', 5_000);
    expect(await entries(db)).toEqual([
      { transfer_id: 't1', wallet_id: 'external', amount_sats: -5_000 },
      { transfer_id: 't1', wallet_id: 'wa', amount_sats: 5_000 },
    ]);
    expect(await ledgerInvariantViolations(db)).toEqual([]);
    for (const [wallet, amount] of [
      ['wa', 4_999],
      ['wb', 5_000],
      ['external', 5_000],
    ] as const) {
      await expect(
        db.query(
          `INSERT INTO satmachine.ledger_entries (transfer_id, wallet_id, amount_sats) VALUES ('t1', $1, $2)`,
          [wallet, amount],
        ),
      ).rejects.toMatchObject({ code: '23514' });
    }
    await expect(
      db.query(
        `INSERT INTO satmachine.ledger_entries (transfer_id, wallet_id, amount_sats) VALUES ('nope', 'wa', 1)`,
      ),
    ).rejects.toThrow(/is not one of its transfer's two entries/);
    expect(await entries(db)).toHaveLength(2);
  });

  it('entries that disagree with their transfers stop the migration, and nothing changes', async () => {
    const db = await databaseAt(18);
    await wallets(db);
    await oldTransfer(db, 't1', 'external', 'wa', 5_000);
    await db.query(`UPDATE satmachine.ledger_entries SET amount_sats = 4_000 WHERE wallet_id = 'wa'`);
    await expect(migrate(db)).rejects.toThrow(
      /ledger_entries disagree with ledger_transfers \(rows that differ: 1, e\.g\. transfer t1\)/,
    );
    const { rows } = await db.query<{ table_type: string }>(
      `SELECT table_type FROM information_schema.tables WHERE table_schema = 'satmachine' AND table_name = 'ledger_entries'`,
    );
    expect(rows[0]?.table_type).toBe('BASE TABLE');
    const { rows: versions } = await db.query<{ v: number }>(
      'SELECT max(version) AS v FROM public.satmachine_migrations',
    );
    expect(versions[0]?.v).toBe(18);
  });
});
