import { randomBytes } from 'node:crypto';
import { createUserWithKey } from '../../src/api/userAccounts';
import { type TestApi } from '../helpers/api';
import { createMachine, createOperator, secretBox, type Operator } from '../helpers/fixtures';
import { startApiStack, type ApiStack } from '../helpers/testStack';

/** GET /settlements/worklist pages: limit + cursor, newest first across the buckets, nothing lost or repeated. */
describe('worklist pagination', () => {
  let stack: ApiStack;
  let db: ApiStack['db'];
  let api: TestApi;
  let operator: Operator;
  let other: Operator;
  const expected: string[] = [];

  beforeAll(async () => {
    stack = await startApiStack();
    ({ db, api } = stack);
    await createUserWithKey(db.pool, secretBox, { role: 'super', name: 'root' });
    operator = await createOperator(db.pool, 'paged op');
    other = await createOperator(db.pool, 'other op');
    const machine = await createMachine(db.pool, operator, { name: 'many' });
    const theirs = await createMachine(db.pool, other, { name: 'theirs' });
    // 23 rows in every bucket, with timestamps that share a millisecond, differ by a microsecond,
    // or are identical (then the id orders them): the edges of a keyset cursor
    const base = Date.parse('2026-01-01T00:00:00Z');
    const statuses = ['rejected', 'errored', 'pending', 'processing'] as const;
    for (let i = 0; i < 23; i++) {
      const at = new Date(base + Math.floor(i / 3) * 1000).toISOString().replace('Z', '');
      const micros = [0, 1, 999][i % 3]!; // .000000, .000001 and .000999 of the same millisecond
      const created = `${at}${String(micros).padStart(3, '0')}Z`;
      const status = statuses[i % 4]!;
      const id = `s${String(i).padStart(2, '0')}${i % 5 === 0 ? 'a' : 'b'}`;
      await db.pool.query(
        `INSERT INTO satmachine.dca_settlements
           (id, machine_id, payment_hash, tx_type, wire_sats, fiat_amount, fiat_code, status, created_at, processing_started_at)
         VALUES ($1, $2, $3, 'cash_out', 1000, 1.00, 'USD', $4, $5::timestamptz, $5::timestamptz)`,
        [id, machine.row.id, randomBytes(32).toString('hex'), status, created],
      );
      expected.push(id);
    }
    // two rows at exactly the same instant
    for (const id of ['tie1', 'tie2']) {
      await db.pool.query(
        `INSERT INTO satmachine.dca_settlements (id, machine_id, payment_hash, tx_type, wire_sats, fiat_amount, fiat_code, status, created_at)
         VALUES ($1, $2, $3, 'cash_out', 1000, 1.00, 'USD', 'errored', '2026-01-01T00:00:03.5005Z')`,
        [id, machine.row.id, randomBytes(32).toString('hex')],
      );
      expected.push(id);
    }
    // another operator's settlement never shows
    await db.pool.query(
      `INSERT INTO satmachine.dca_settlements (id, machine_id, payment_hash, status) VALUES ('foreign', $1, $2, 'errored')`,
      [theirs.row.id, randomBytes(32).toString('hex')],
    );
    // a processed one is not on the worklist
    await db.pool.query(
      `INSERT INTO satmachine.dca_settlements (id, machine_id, payment_hash, status) VALUES ('done', $1, $2, 'processed')`,
      [machine.row.id, randomBytes(32).toString('hex')],
    );
  });
  afterAll(async () => {
    await stack.stop();
  });

  const ids = (body: Record<string, { id: string; created_at: string }[]>) => [
    ...body.rejected!,
    ...body.errored!,
    ...body.stuck_pending!,
    ...body.stuck_processing!,
  ];

  async function walk(limit: number): Promise<{ pages: string[][]; all: string[] }> {
    const pages: string[][] = [];
    let cursor: string | null = null;
    do {
      const q = new URLSearchParams({ threshold_minutes: '0', limit: String(limit) });
      if (cursor) q.set('cursor', cursor);
      const r = await api.call('GET', `/api/v1/settlements/worklist?${q}`, operator.apiKey);
      expect(r.status).toBe(200);
      const rows = ids(r.body);
      expect(rows.length).toBeLessThanOrEqual(limit);
      pages.push(rows.map((x) => x.id));
      cursor = r.body.next_cursor;
      if (cursor) expect(rows.length).toBe(limit);
      expect(pages.length).toBeLessThan(100);
    } while (cursor);
    return { pages, all: pages.flat() };
  }

  it.each([1, 2, 3, 4, 7, 24, 25, 26])(
    'limit %i: every row exactly once, across pages, no foreign or finished rows',
    async (limit) => {
      const { pages, all } = await walk(limit);
      expect(new Set(all).size).toBe(all.length);
      expect([...all].sort()).toEqual([...expected].sort());
      expect(pages.length).toBe(Math.max(1, Math.ceil(expected.length / limit)));
    },
  );

  it('orders newest first across the buckets (then by id), one row per page', async () => {
    const seq: { id: string; created_at: string }[] = [];
    let cursor: string | null = null;
    do {
      const q = new URLSearchParams({ threshold_minutes: '0', limit: '1' });
      if (cursor) q.set('cursor', cursor);
      const r = await api.call('GET', `/api/v1/settlements/worklist?${q}`, operator.apiKey);
      seq.push(...ids(r.body));
      cursor = r.body.next_cursor;
    } while (cursor);
    expect(seq).toHaveLength(expected.length);
    for (let k = 1; k < seq.length; k++) {
      const [a, b] = [seq[k - 1]!, seq[k]!];
      // created_at is served at millisecond precision, the cursor's
      expect(a.created_at > b.created_at || (a.created_at === b.created_at && a.id > b.id)).toBe(true);
    }
  });

  it('defaults to 100 rows; refuses a bad limit or a forged cursor with a clear 4xx', async () => {
    const d = await api.call('GET', '/api/v1/settlements/worklist?threshold_minutes=0', operator.apiKey);
    expect(ids(d.body)).toHaveLength(expected.length);
    expect(d.body.next_cursor).toBeNull();
    for (const bad of ['0', '501', '-1', 'x'])
      expect(
        (await api.call('GET', `/api/v1/settlements/worklist?limit=${bad}`, operator.apiKey)).status,
      ).toBe(422);
    const forged = await api.call('GET', '/api/v1/settlements/worklist?cursor=not-ours', operator.apiKey);
    expect(forged.status).toBe(400);
    expect(forged.body.error.message).toMatch(/cursor/);
  });

  it('another operator sees only theirs', async () => {
    const r = await api.call('GET', '/api/v1/settlements/worklist?threshold_minutes=0', other.apiKey);
    expect(ids(r.body).map((x) => x.id)).toEqual(['foreign']);
  });
});
