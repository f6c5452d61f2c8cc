import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { newId } from '../../src/db/ids';
import {
  eligibleLpsForMachine,
  lpBalanceDifferences,
  lpBalances,
  operatorClientBalance,
} from '../../src/db/lpBalances';
import { withTransaction, type PoolClient, type Queryable } from '../../src/db/pool';
import { expectBalancesReconciled } from '../helpers/balances';
import { mulberry32 } from '../helpers/mulberry32';
import { createLp, createMachine, createOperator, type Machine, type Operator } from '../helpers/fixtures';
import { eventually, freshDatabase, TEST_SECRET_KEY } from '../helpers/stack';

const run = promisify(execFile);
const MAIN = join(__dirname, '..', '..', 'src', 'cli', 'main.ts');
const MIGRATION = join(__dirname, '..', '..', 'src', 'db', 'migrations', '0012_lp_balances.sql');

type LegType = 'dca' | 'settlement' | 'autoforward' | 'super_fee' | 'operator_split';
type LegStatus = 'pending' | 'completed' | 'failed' | 'skipped' | 'voided';
const LEG_TYPES: LegType[] = ['dca', 'settlement', 'autoforward', 'super_fee', 'operator_split'];
const LEG_STATUSES: LegStatus[] = ['pending', 'completed', 'failed', 'skipped', 'voided'];

/** A seeded generator (mulberry32): a failing run can be replayed from its seed. */
function rng(seed: number) {
  const next = mulberry32(seed);
  return {
    int: (lo: number, hi: number) => lo + Math.floor(next() * (hi - lo + 1)),
    pick: <T>(xs: readonly T[]): T => xs[Math.floor(next() * xs.length)]!,
    chance: (p: number) => next() < p,
  };
}

const cents = (c: number) => (c / 100).toFixed(2);

/**
 * The maintained LP balance rows (migration 0012): every deposit and leg writer, whoever
 * it is, moves them in its own transaction by triggers; `satmachine reconcile-balances`
 * proves they equal the formula.
 */
describe('LP balances: the maintained table', () => {
  let db: Awaited<ReturnType<typeof freshDatabase>>;
  let operator: Operator;
  let machine: Machine;

  beforeAll(async () => {
    db = await freshDatabase();
    operator = await createOperator(db.pool, 'op');
    machine = await createMachine(db.pool, operator);
  });
  afterAll(async () => {
    await db.close();
  });

  const enrol = async (name: string, opts: { mode?: 'flow' | 'fixed'; dailyLimit?: string } = {}) =>
    (await createLp(db.pool, machine, { name: `${name}-${newId().slice(0, 6)}`, ...opts })).clientId;

  const deposit = async (q: Queryable, clientId: string, c: number, status = 'confirmed') => {
    const id = newId();
    await q.query(
      `INSERT INTO satmachine.dca_deposits (id, client_id, machine_id, creator_user_id, amount, currency, status)
       VALUES ($1, $2, $3, $4, $5, 'USD', $6)`,
      [id, clientId, machine.row.id, operator.id, cents(c), status],
    );
    return id;
  };

  const leg = async (
    q: Queryable,
    o: {
      client: string | null;
      type?: LegType;
      status?: LegStatus;
      fiatCents: number;
      sats: number;
      createdAt?: string;
    },
  ) => {
    const id = newId();
    await q.query(
      `INSERT INTO satmachine.dca_payments (id, client_id, machine_id, operator_user_id, leg_type, amount_sats, amount_fiat,
                                            status, created_at)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8, COALESCE($9::timestamptz, now()))`,
      [
        id,
        o.client,
        machine.row.id,
        operator.id,
        o.type ?? 'dca',
        o.sats,
        cents(o.fiatCents),
        o.status ?? 'pending',
        o.createdAt ?? null,
      ],
    );
    return id;
  };

  const setLeg = (q: Queryable, id: string, set: string, params: unknown[] = []) =>
    q.query(`UPDATE satmachine.dca_payments SET ${set} WHERE id = $1`, [id, ...params]);

  const stored = async (clientId: string) => {
    const { rows } = await db.pool.query<Record<string, string | number>>(
      `SELECT confirmed_deposits, spent_fiat, pending_fiat, total_sats, pending_sats
         FROM satmachine.lp_balances WHERE client_id = $1`,
      [clientId],
    );
    return rows[0];
  };

  const expectBalance = async (
    clientId: string,
    b: { deposits: number; spent: number; pending: number; sats: number; pendingSats: number },
  ) => {
    expect(await stored(clientId)).toEqual({
      confirmed_deposits: cents(b.deposits),
      spent_fiat: cents(b.spent),
      pending_fiat: cents(b.pending),
      total_sats: b.sats,
      pending_sats: b.pendingSats,
    });
  };

  it('a new enrolment starts at zero', async () => {
    const c = await enrol('zero');
    await expectBalance(c, { deposits: 0, spent: 0, pending: 0, sats: 0, pendingSats: 0 });
  });

  it('deposits count once confirmed, and stop counting when rejected or deleted', async () => {
    const c = await enrol('deposits');
    const pending = await deposit(db.pool, c, 10_000, 'pending');
    await expectBalance(c, { deposits: 0, spent: 0, pending: 0, sats: 0, pendingSats: 0 });
    await db.pool.query(`UPDATE satmachine.dca_deposits SET status = 'confirmed' WHERE id = $1`, [pending]);
    await expectBalance(c, { deposits: 10_000, spent: 0, pending: 0, sats: 0, pendingSats: 0 });
    const second = await deposit(db.pool, c, 2_550);
    await expectBalance(c, { deposits: 12_550, spent: 0, pending: 0, sats: 0, pendingSats: 0 });
    // a confirmed amount corrected
    await db.pool.query(`UPDATE satmachine.dca_deposits SET amount = 2500.01 WHERE id = $1`, [second]);
    await expectBalance(c, { deposits: 260_001, spent: 0, pending: 0, sats: 0, pendingSats: 0 });
    await db.pool.query(`UPDATE satmachine.dca_deposits SET status = 'rejected' WHERE id = $1`, [pending]);
    await expectBalance(c, { deposits: 250_001, spent: 0, pending: 0, sats: 0, pendingSats: 0 });
    await db.pool.query(`DELETE FROM satmachine.dca_deposits WHERE id = $1`, [second]);
    await expectBalance(c, { deposits: 0, spent: 0, pending: 0, sats: 0, pendingSats: 0 });
    await expectBalancesReconciled(db.pool);
  });

  it('legs: pending holds, completed spends, a failed dca leg keeps holding, a failed settlement leg and a voided leg release', async () => {
    const c = await enrol('legs');
    await deposit(db.pool, c, 100_000);
    const dca = await leg(db.pool, { client: c, fiatCents: 10_000, sats: 20_000 });
    await expectBalance(c, { deposits: 100_000, spent: 0, pending: 10_000, sats: 0, pendingSats: 20_000 });
    await setLeg(db.pool, dca, `status = 'completed', completed_at = now()`);
    await expectBalance(c, { deposits: 100_000, spent: 10_000, pending: 0, sats: 20_000, pendingSats: 0 });

    // failed dca: the cash was dispensed, the fiat stays held until a retry or partial dispense voids it
    const failing = await leg(db.pool, { client: c, fiatCents: 5_000, sats: 9_000 });
    /** 100.00 spent (20,000 sats); 50.00 (9,000 sats) held by the failed leg or its retry */
    const tenSpentFiveHeld = {
      deposits: 100_000,
      spent: 10_000,
      pending: 5_000,
      sats: 20_000,
      pendingSats: 9_000,
    };
    await setLeg(db.pool, failing, `status = 'failed', error_message = 'refused'`);
    await expectBalance(c, tenSpentFiveHeld);
    // an unrelated column changes nothing
    await setLeg(db.pool, failing, `error_message = 'still refused'`);
    await expectBalance(c, tenSpentFiveHeld);
    // operator retry: the failed leg voided, a new pending leg with the same amounts
    await withTransaction(db.pool, async (t) => {
      await setLeg(t, failing, `status = 'voided'`);
      await leg(t, { client: c, fiatCents: 5_000, sats: 9_000 });
    });
    await expectBalance(c, tenSpentFiveHeld);

    // a settlement leg that fails releases its fiat
    const settle = await leg(db.pool, { client: c, type: 'settlement', fiatCents: 20_000, sats: 40_000 });
    await expectBalance(c, {
      deposits: 100_000,
      spent: 10_000,
      pending: 25_000,
      sats: 20_000,
      pendingSats: 49_000,
    });
    await setLeg(db.pool, settle, `status = 'failed'`);
    await expectBalance(c, tenSpentFiveHeld);

    // legs that never hold an LP's fiat: autoforward, fees, splits, skipped
    await leg(db.pool, { client: c, type: 'autoforward', fiatCents: 0, sats: 1_000 });
    await leg(db.pool, { client: null, type: 'super_fee', fiatCents: 0, sats: 500 });
    await leg(db.pool, {
      client: null,
      type: 'operator_split',
      status: 'completed',
      fiatCents: 0,
      sats: 500,
    });
    await leg(db.pool, { client: c, status: 'skipped', fiatCents: 700, sats: 700 });
    await expectBalance(c, tenSpentFiveHeld);

    const balance = (await operatorClientBalance(db.pool, operator.id, c))!;
    expect(balance).toMatchObject({
      confirmed_deposits: '1000.00',
      spent_fiat: '100.00',
      pending_fiat: '50.00',
      remaining_balance: '850.00',
      total_sats: 20_000,
      pending_sats: 9_000,
    });
    await expectBalancesReconciled(db.pool);
  });

  it('partial dispense: a pending leg shrunk and a failed one voided, in one transaction', async () => {
    const c = await enrol('partial');
    await deposit(db.pool, c, 50_000);
    const a = await leg(db.pool, { client: c, fiatCents: 30_000, sats: 60_000 });
    const b = await leg(db.pool, { client: c, fiatCents: 10_000, sats: 20_000, status: 'failed' });
    await expectBalance(c, { deposits: 50_000, spent: 0, pending: 40_000, sats: 0, pendingSats: 80_000 });
    await withTransaction(db.pool, async (t) => {
      await setLeg(t, a, 'amount_fiat = $2, amount_sats = $3', ['120.00', 24_000]);
      await setLeg(t, b, `status = 'voided'`);
    });
    await expectBalance(c, { deposits: 50_000, spent: 0, pending: 12_000, sats: 0, pendingSats: 24_000 });
    // a rolled-back change leaves nothing behind
    await expect(
      withTransaction(db.pool, async (t) => {
        await setLeg(t, a, `status = 'completed'`);
        throw new Error('rolled back');
      }),
    ).rejects.toThrow('rolled back');
    await expectBalance(c, { deposits: 50_000, spent: 0, pending: 12_000, sats: 0, pendingSats: 24_000 });
    await expectBalancesReconciled(db.pool);
  });

  it('one statement over legs of several enrolments moves each by its own delta; a leg moved between enrolments moves its fiat', async () => {
    const [c1, c2] = [await enrol('multi1'), await enrol('multi2')];
    const ids = [
      await leg(db.pool, { client: c1, fiatCents: 100, sats: 200 }),
      await leg(db.pool, { client: c2, fiatCents: 300, sats: 600 }),
      await leg(db.pool, { client: c1, fiatCents: 500, sats: 1_000 }),
    ];
    await db.pool.query(`UPDATE satmachine.dca_payments SET status = 'completed' WHERE id = ANY($1)`, [ids]);
    await expectBalance(c1, { deposits: 0, spent: 600, pending: 0, sats: 1_200, pendingSats: 0 });
    await expectBalance(c2, { deposits: 0, spent: 300, pending: 0, sats: 600, pendingSats: 0 });
    await setLeg(db.pool, ids[0]!, 'client_id = $2', [c2]);
    await expectBalance(c1, { deposits: 0, spent: 500, pending: 0, sats: 1_000, pendingSats: 0 });
    await expectBalance(c2, { deposits: 0, spent: 400, pending: 0, sats: 800, pendingSats: 0 });
    await db.pool.query(`DELETE FROM satmachine.dca_payments WHERE id = ANY($1)`, [ids]);
    await expectBalance(c1, { deposits: 0, spent: 0, pending: 0, sats: 0, pendingSats: 0 });
    await expectBalance(c2, { deposits: 0, spent: 0, pending: 0, sats: 0, pendingSats: 0 });
    await expectBalancesReconciled(db.pool);
  });

  it("a fixed-mode LP's daily limit counts only today's (UTC) dca legs; the balance reads and eligibility agree", async () => {
    const c = await enrol('fixed', { mode: 'fixed', dailyLimit: '100.00' });
    await deposit(db.pool, c, 100_000);
    const room = async () =>
      (await eligibleLpsForMachine(db.pool, machine.row.id)).find((r) => r.client_id === c)?.available_cents;
    expect(await room()).toBe(10_000);
    // yesterday's leg (an hour before today's UTC midnight) does not count against today
    const { rows } = await db.pool.query<{ t: string }>(
      `SELECT (date_trunc('day', now() AT TIME ZONE 'UTC') - interval '1 hour')::text || '+00' AS t`,
    );
    await leg(db.pool, { client: c, fiatCents: 8_000, sats: 1, status: 'completed', createdAt: rows[0]!.t });
    expect(await room()).toBe(10_000);
    const today = await leg(db.pool, { client: c, fiatCents: 2_500, sats: 1 });
    expect(await room()).toBe(7_500);
    // a settlement leg takes balance, not daily room; a voided dca leg gives its room back
    await leg(db.pool, { client: c, type: 'settlement', fiatCents: 85_000, sats: 1 });
    expect(await room()).toBe(4_500); // 1000 − 80 − 25 − 850 = 45 left in balance
    await setLeg(db.pool, today, `status = 'voided'`);
    expect(await room()).toBe(7_000); // balance 70, room 100
    const mine = (
      await lpBalances(
        db.pool,
        (await db.pool.query('SELECT user_id FROM satmachine.dca_clients WHERE id = $1', [c])).rows[0]
          .user_id,
      )
    )[0]!;
    expect(mine.remaining_balance).toBe('70.00');
    await expectBalancesReconciled(db.pool);
  });

  it('two legs of one enrolment changed at once: the second waits for the first row lock, and no update is lost', async () => {
    const c = await enrol('race');
    await deposit(db.pool, c, 100_000);
    const a = await leg(db.pool, { client: c, fiatCents: 1_000, sats: 2_000 });
    const b = await leg(db.pool, { client: c, fiatCents: 3_000, sats: 6_000 });
    const first = await db.pool.connect();
    const second = await db.pool.connect();
    try {
      await first.query('BEGIN');
      await setLeg(first, a, `status = 'completed'`);
      const secondPid = (await second.query<{ pid: number }>('SELECT pg_backend_pid() AS pid')).rows[0]!.pid;
      await second.query('BEGIN');
      const waiting = setLeg(second, b, `status = 'completed'`).then(() => second.query('COMMIT'));
      // barrier: the second transaction is waiting on a lock (the balance row the first holds)
      await eventually(
        async () => {
          const { rows } = await db.pool.query<{ wait_event_type: string | null }>(
            'SELECT wait_event_type FROM pg_stat_activity WHERE pid = $1',
            [secondPid],
          );
          return rows[0]?.wait_event_type === 'Lock' ? true : undefined;
        },
        10_000,
        'the second transaction to wait on the balance row lock',
      );
      await first.query('COMMIT');
      await waiting;
    } finally {
      first.release();
      second.release();
    }
    await expectBalance(c, { deposits: 100_000, spent: 4_000, pending: 0, sats: 8_000, pendingSats: 0 });
    await expectBalancesReconciled(db.pool);
  });

  it('many transactions at once over legs of the same enrolments: every delta lands, no deadlock', async () => {
    const clients = [await enrol('c1'), await enrol('c2'), await enrol('c3'), await enrol('c4')];
    const legs: { id: string; client: string; fiat: number; sats: number }[] = [];
    for (let i = 0; i < 96; i++) {
      const client = clients[i % clients.length]!;
      const fiat = 100 + i;
      legs.push({
        id: await leg(db.pool, { client, fiatCents: fiat, sats: fiat * 3 }),
        client,
        fiat,
        sats: fiat * 3,
      });
    }
    // 24 transactions, each one statement over 4 legs of different enrolments, in a shuffled order
    const r = rng(20261206);
    const groups: string[][] = Array.from({ length: 24 }, (_, g) =>
      [0, 1, 2, 3].map((k) => legs[g * 4 + k]!.id).sort(() => (r.chance(0.5) ? 1 : -1)),
    );
    // reconciliations run meanwhile: each sees one snapshot, in which table and formula agree
    const reconciling = Promise.all(Array.from({ length: 4 }, () => lpBalanceDifferences(db.pool)));
    const results = await Promise.allSettled(
      groups.map((ids) =>
        withTransaction(db.pool, async (t: PoolClient) => {
          await t.query(`UPDATE satmachine.dca_payments SET status = 'completed' WHERE id = ANY($1)`, [ids]);
          // the other legs' transactions run meanwhile
          await t.query('SELECT pg_sleep(0.01)');
        }),
      ),
    );
    expect(results.filter((x) => x.status === 'rejected')).toEqual([]);
    expect(await reconciling).toEqual([[], [], [], []]);
    for (const client of clients) {
      const mine = legs.filter((l) => l.client === client);
      const fiat = mine.reduce((s, l) => s + l.fiat, 0);
      await expectBalance(client, {
        deposits: 0,
        spent: fiat,
        pending: 0,
        sats: mine.reduce((s, l) => s + l.sats, 0),
        pendingSats: 0,
      });
    }
    await expectBalancesReconciled(db.pool);
  });

  it('property: after random deposit and leg activity (some of it rolled back) the table equals the formula and an independent model', async () => {
    const seed = Number(process.env.LP_BALANCE_SEED ?? 424242);
    const r = rng(seed);
    const clients = await Promise.all([0, 1, 2, 3, 4].map((i) => enrol(`prop${i}`)));
    type Model = {
      deposits: Map<string, { client: string; cents: number; status: string }>;
      legs: Map<
        string,
        { client: string | null; type: LegType; status: LegStatus; cents: number; sats: number }
      >;
    };
    let model: Model = {
      deposits: new Map<string, { client: string; cents: number; status: string }>(),
      legs: new Map<
        string,
        { client: string | null; type: LegType; status: LegStatus; cents: number; sats: number }
      >(),
    };
    for (let step = 0; step < 400; step++) {
      const commit = r.chance(0.85);
      // the transaction's view: the model as committed, plus its own changes
      const draft: Model = {
        deposits: new Map([...model.deposits].map(([k, v]) => [k, { ...v }])),
        legs: new Map([...model.legs].map(([k, v]) => [k, { ...v }])),
      };
      const ops = r.int(1, 3);
      await withTransaction(db.pool, async (t) => {
        for (let k = 0; k < ops; k++) {
          const op = r.int(0, 9);
          const depIds = [...draft.deposits.keys()];
          const legIds = [...draft.legs.keys()];
          if (op <= 1 || (op <= 3 && !depIds.length)) {
            const d = {
              client: r.pick(clients),
              cents: r.int(1, 100_000),
              status: r.pick(['pending', 'confirmed', 'rejected']),
            };
            const id = await deposit(t, d.client, d.cents, d.status);
            draft.deposits.set(id, d);
          } else if (op <= 3) {
            const id = r.pick(depIds);
            const status = r.pick(['pending', 'confirmed', 'rejected']);
            if (r.chance(0.2)) {
              await t.query('DELETE FROM satmachine.dca_deposits WHERE id = $1', [id]);
              draft.deposits.delete(id);
            } else {
              await t.query('UPDATE satmachine.dca_deposits SET status = $2 WHERE id = $1', [id, status]);
              draft.deposits.get(id)!.status = status;
            }
          } else if (op <= 5 || !legIds.length) {
            const type = r.pick(LEG_TYPES);
            const l = {
              client: type === 'super_fee' || type === 'operator_split' ? null : r.pick(clients),
              type,
              status: r.pick(LEG_STATUSES),
              cents: r.int(0, 50_000),
              sats: r.int(0, 1_000_000),
            };
            const id = await leg(t, {
              client: l.client,
              type: l.type,
              status: l.status,
              fiatCents: l.cents,
              sats: l.sats,
            });
            draft.legs.set(id, l);
          } else if (op <= 8) {
            // one statement over several legs: a new status, sometimes new amounts
            const ids = [...new Set([r.pick(legIds), r.pick(legIds), r.pick(legIds)])];
            const status = r.pick(LEG_STATUSES);
            const shrink = r.chance(0.3);
            await t.query(
              `UPDATE satmachine.dca_payments SET status = $2,
                      amount_fiat = CASE WHEN $3 THEN floor(amount_fiat * 50) / 100 ELSE amount_fiat END,
                      amount_sats = CASE WHEN $3 THEN amount_sats / 2 ELSE amount_sats END
                WHERE id = ANY($1)`,
              [ids, status, shrink],
            );
            for (const id of ids) {
              const l = draft.legs.get(id)!;
              l.status = status;
              if (shrink) {
                l.cents = Math.floor(l.cents / 2);
                l.sats = Math.floor(l.sats / 2);
              }
            }
          } else {
            const id = r.pick(legIds);
            await t.query('DELETE FROM satmachine.dca_payments WHERE id = $1', [id]);
            draft.legs.delete(id);
          }
        }
        if (!commit) throw new Error('rollback');
      }).catch((err: Error) => {
        if (err.message !== 'rollback') throw err;
      });
      if (commit) model = draft;
    }
    // the formula, reconciled over every row
    expect(await lpBalanceDifferences(db.pool)).toEqual([]);
    // and an independent model of the rule, in integers
    for (const c of clients) {
      const holds = [...model.legs.values()].filter(
        (l) =>
          l.client === c &&
          (l.type === 'dca' || l.type === 'settlement') &&
          (l.status === 'pending' || l.status === 'completed' || (l.type === 'dca' && l.status === 'failed')),
      );
      const done = holds.filter((l) => l.status === 'completed');
      const open = holds.filter((l) => l.status !== 'completed');
      const sum = (xs: { cents: number }[]) => xs.reduce((s, x) => s + x.cents, 0);
      const sumSats = (xs: { sats: number }[]) => xs.reduce((s, x) => s + x.sats, 0);
      await expectBalance(c, {
        deposits: sum([...model.deposits.values()].filter((d) => d.client === c && d.status === 'confirmed')),
        spent: sum(done),
        pending: sum(open),
        sats: sumSats(done),
        pendingSats: sumSats(open),
      });
    }
  });

  describe('reconciliation', () => {
    const env = () => ({
      ...process.env,
      DATABASE_URL: db.url,
      SATMACHINE_SECRET_KEY: TEST_SECRET_KEY,
      LOG_LEVEL: 'warn',
      NODE_ENV: 'production',
    });
    const cli = async (...args: string[]) => {
      try {
        const { stdout } = await run(
          process.execPath,
          ['--import', 'tsx', MAIN, 'reconcile-balances', ...args],
          {
            env: env(),
          },
        );
        return { code: 0, stdout };
      } catch (err) {
        const e = err as { code: number; stdout: string };
        return { code: e.code, stdout: e.stdout };
      }
    };

    it('satmachine reconcile-balances: exit 1 and the rows when one differs from the formula', async () => {
      const c = await enrol('corrupt');
      await deposit(db.pool, c, 10_000);
      // a write that bypasses the triggers (what a bug or a hand edit would do)
      await db.pool.query(
        `ALTER TABLE satmachine.dca_deposits DISABLE TRIGGER lp_balances_deposits_insert;
         INSERT INTO satmachine.dca_deposits (id, client_id, machine_id, creator_user_id, amount, currency, status)
           VALUES ('${newId()}', '${c}', '${machine.row.id}', '${operator.id}', 1.23, 'USD', 'confirmed');
         ALTER TABLE satmachine.dca_deposits ENABLE TRIGGER lp_balances_deposits_insert;`,
      );
      await leg(db.pool, { client: c, fiatCents: 1_000, sats: 2_000 });
      await db.pool.query(
        'UPDATE satmachine.lp_dca_daily SET held_fiat = held_fiat + 1 WHERE client_id = $1',
        [c],
      );
      const bad = await cli();
      expect(bad.code).toBe(1);
      expect(bad.stdout).toContain('LP balances DIFFER from the formula in 2 row(s)');
      expect(bad.stdout).toContain(`enrolment ${c}: confirmed_deposits stored 100.00 ≠ computed 101.23`);
      expect(bad.stdout).toMatch(
        new RegExp(`enrolment ${c} day \\d{4}-\\d{2}-\\d{2}: held_fiat stored 11.00 ≠ computed 10.00`),
      );
      const json = await cli('--json');
      expect(json.code).toBe(1);
      const report = JSON.parse(json.stdout.trim());
      expect(report.ok).toBe(false);
      expect(report.differences).toHaveLength(2);
      expect(report.differences[0]).toMatchObject({
        client_id: c,
        day: null,
        stored: { confirmed_deposits: '100.00' },
        computed: { confirmed_deposits: '101.23' },
      });
      // --repair rebuilds every row from the formula, shows what differed, and exits 0
      const repaired = await cli('--repair');
      expect(repaired.code).toBe(0);
      expect(repaired.stdout).toContain(`enrolment ${c}: confirmed_deposits stored 100.00 ≠ computed 101.23`);
      expect(repaired.stdout).toContain('rebuilt every LP balance row from the formula (2 differed)');
      expect(repaired.stdout).toMatch(/LP balances reconciled: \d+ enrolment rows/);
      await expectBalancesReconciled(db.pool);
      expect(await stored(c)).toMatchObject({ confirmed_deposits: '101.23', pending_fiat: '10.00' });
    }, 240_000);

    it('the migration backfills every row from the formula (run again over a database with history); reconcile-balances then exits 0', async () => {
      await db.pool.query(
        `DROP TABLE satmachine.lp_balances, satmachine.lp_dca_daily;
         DROP FUNCTION satmachine.lp_balances_on_legs, satmachine.lp_balances_on_deposits,
                       satmachine.lp_balances_on_truncate, satmachine.lp_balances_on_enrolment,
                       satmachine.lp_balances_rebuild CASCADE;
         DROP FUNCTION satmachine.lp_leg_holds;`,
      );
      await db.pool.query(readFileSync(MIGRATION, 'utf8'));
      await expectBalancesReconciled(db.pool);
      const { rows } = await db.pool.query<{ missing: number }>(
        `SELECT count(*)::int AS missing FROM satmachine.dca_clients c
          WHERE NOT EXISTS (SELECT 1 FROM satmachine.lp_balances b WHERE b.client_id = c.id)`,
      );
      expect(rows[0]!.missing).toBe(0);
      // the command agrees, exit 0
      const ok = await cli();
      expect(ok.code).toBe(0);
      expect(ok.stdout).toMatch(/LP balances reconciled: \d+ enrolment rows and \d+ daily rows/);
    }, 240_000);

    it('TRUNCATE of legs and deposits starts the maintained figures again from zero', async () => {
      const scratch = await freshDatabase();
      try {
        const op = await createOperator(scratch.pool, 'op');
        const m = await createMachine(scratch.pool, op);
        const lp = await createLp(scratch.pool, m, { name: 'lp', depositCents: 10_000 });
        await scratch.pool.query(
          `INSERT INTO satmachine.dca_payments (id, client_id, machine_id, operator_user_id, leg_type, amount_sats, amount_fiat)
           VALUES ($1, $2, $3, $4, 'dca', 10, 1)`,
          [newId(), lp.clientId, m.row.id, op.id],
        );
        await scratch.pool.query('TRUNCATE satmachine.dca_payments, satmachine.dca_deposits');
        await expectBalancesReconciled(scratch.pool);
        expect((await lpBalanceDifferences(scratch.pool)).length).toBe(0);
      } finally {
        await scratch.close();
      }
    });
  });
});
