import { randomBytes } from 'node:crypto';
import { newId } from '../../src/db/ids';
import { pendingLegsInRange } from '../../src/db/legs';
import { createMachine, createOperator, createSuper } from '../helpers/fixtures';
import { freshDatabase } from '../helpers/stack';

/** The query before it became two index range scans: the reference it must agree with. */
const REFERENCE = `SELECT l.id FROM satmachine.dca_payments l
   LEFT JOIN satmachine.dca_payments p ON p.id = l.parent_leg_id
  WHERE l.settlement_id = $1 AND l.status = 'pending'
    AND (   (p.id IS NULL OR p.status <> 'pending') AND l.sort_order BETWEEN $2 AND $3
         OR  p.status = 'pending' AND p.sort_order BETWEEN $2 AND $3)
  ORDER BY l.sort_order`;

const STATUSES = ['pending', 'pending', 'completed', 'failed', 'voided'] as const;

/**
 * A page of a settlement's legs (pendingLegsInRange): the root legs in its range and
 * the pending legs that follow a pending root of the page, wherever their own sort
 * order lies; a follower whose parent is no longer pending is a root of its own.
 */
describe('a page of legs', () => {
  let db: Awaited<ReturnType<typeof freshDatabase>>;
  beforeAll(async () => {
    db = await freshDatabase();
  });
  afterAll(async () => db.close());

  it('answers exactly what the full scan answered, for every page, in sort order', async () => {
    await createSuper(db.pool);
    const op = await createOperator(db.pool, 'pages');
    const m = await createMachine(db.pool, op, { name: 'pages' });
    const insertSettlement = async () => {
      const id = newId();
      await db.pool.query(
        `INSERT INTO satmachine.dca_settlements (id, machine_id, payment_hash, status)
         VALUES ($1, $2, $3, 'processing')`,
        [id, m.row.id, randomBytes(32).toString('hex')],
      );
      return id;
    };
    const s = await insertSettlement();
    const other = await insertSettlement(); // its legs never appear in s's pages
    // deterministic pseudo-random statuses: dca roots 0..59, autoforwards after them at 100..159
    let seed = 7;
    const rnd = () => (seed = (seed * 1103515245 + 12345) % 2 ** 31) % STATUSES.length;
    for (const settlement of [s, other]) {
      for (let i = 0; i < 60; i++) {
        const root = newId();
        const insert = (id: string, order: number, parent: string | null, type: string) =>
          db.pool.query(
            `INSERT INTO satmachine.dca_payments
               (id, settlement_id, machine_id, operator_user_id, leg_type, amount_sats, status, sort_order, parent_leg_id)
             VALUES ($1, $2, $3, $4, $5, 1, $6, $7, $8)`,
            [id, settlement, m.row.id, op.id, type, STATUSES[rnd()], order, parent],
          );
        await insert(root, i, null, 'dca');
        if (i % 3 !== 0) await insert(newId(), 100 + i, root, 'autoforward');
      }
    }
    const ranges: [number, number][] = [
      [0, 9],
      [10, 29],
      [30, 59],
      [0, 59],
      [100, 159],
      [0, 200],
      [60, 99],
    ];
    let seen = 0;
    for (const [from, to] of ranges) {
      const expected = (await db.pool.query<{ id: string }>(REFERENCE, [s, from, to])).rows.map((r) => r.id);
      const page = await pendingLegsInRange(db.pool, s, from, to);
      expect(page.map((l) => l.id)).toEqual(expected);
      seen += page.length;
    }
    expect(seen).toBeGreaterThan(0);
    // the followers of a page's pending roots come with it, though their own order is outside the range
    const first = await pendingLegsInRange(db.pool, s, 0, 59);
    expect(first.some((l) => l.sort_order >= 100)).toBe(true);
  });

  it('reads a page by index, not by scanning every leg of the settlement', async () => {
    const { rows } = await db.pool.query<{ indexname: string }>(
      `SELECT indexname FROM pg_indexes WHERE schemaname = 'satmachine' AND tablename = 'dca_payments'`,
    );
    expect(rows.map((r) => r.indexname)).toEqual(
      expect.arrayContaining(['dca_payments_settlement_idx', 'dca_payments_parent_idx']),
    );
    const c = await db.pool.connect();
    try {
      await c.query('SET enable_seqscan = off'); // the table is small here: ask whether an index path exists
      const plan = (
        await c.query<{ 'QUERY PLAN': string }>(
          `EXPLAIN WITH page AS MATERIALIZED (
             SELECT * FROM satmachine.dca_payments WHERE settlement_id = 'x' AND sort_order BETWEEN 0 AND 9)
           SELECT f.id FROM page p JOIN satmachine.dca_payments f ON f.parent_leg_id = p.id`,
        )
      ).rows
        .map((r) => r['QUERY PLAN'])
        .join('\n');
      expect(plan).toMatch(/dca_payments_settlement_idx/);
      expect(plan).toMatch(/dca_payments_parent_idx/);
    } finally {
      await c.query('RESET enable_seqscan');
      c.release();
    }
  });
});
