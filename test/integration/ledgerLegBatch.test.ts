import { createHash } from 'node:crypto';
import {
  insertWallet,
  ledgerInvariantViolations,
  payLedgerLeg,
  payLedgerLegs,
  type LedgerLegRow,
} from '../../src/db/ledger';
import { LedgerBackend } from '../../src/payments/ledger';
import {
  createMachine,
  createOperator,
  createSuper,
  insertBareLeg,
  type Machine,
  type Operator,
} from '../helpers/fixtures';
import { freshDatabase, testLogger } from '../helpers/stack';

const DOMAIN = 'ledger.satmachine.local';
const sha256 = (s: string) => createHash('sha256').update(s).digest('hex');

/**
 * Ledger legs paid together (`satmachine.pay_ledger_legs`, migration 0020, through
 * src/payments/ledgerLegBatcher.ts): each leg decided exactly as alone, in the order
 * given, under its own key; no two payers deadlock; a batch that raises is paid leg by leg.
 */
describe('ledger legs paid together', () => {
  let db: Awaited<ReturnType<typeof freshDatabase>>;
  let operator: Operator;

  beforeAll(async () => {
    db = await freshDatabase();
    await createSuper(db.pool);
    operator = await createOperator(db.pool);
  });
  afterAll(async () => {
    expect(await ledgerInvariantViolations(db.pool)).toEqual([]);
    await db.close();
  });

  const insertLeg = (
    machine: Machine,
    leg: { sats: number; toWallet?: string; toAddress?: string; fromWallet?: string; status?: string },
  ) => insertBareLeg(db.pool, machine, operator, { type: 'dca', ...leg });

  const balance = async (id: string) =>
    Number(
      (
        await db.pool.query<{ b: string }>(
          'SELECT balance_sats AS b FROM satmachine.ledger_wallets WHERE id = $1',
          [id],
        )
      ).rows[0]!.b,
    );
  const statuses = async (ids: string[]) =>
    (
      await db.pool.query<{ id: string; status: string }>(
        'SELECT id, status FROM satmachine.dca_payments WHERE id = ANY($1::text[])',
        [ids],
      )
    ).rows.reduce<Record<string, string>>((m, r) => ({ ...m, [r.id]: r.status }), {});
  /** the transactions the legs' transfers were written in */
  const transactionsOf = async (ids: string[]) =>
    Number(
      (
        await db.pool.query<{ n: string }>(
          'SELECT count(DISTINCT xmin::text) AS n FROM satmachine.ledger_transfers WHERE idempotency_key = ANY($1::text[])',
          [ids],
        )
      ).rows[0]!.n,
    );
  const brief = (r: LedgerLegRow) => ({ outcome: r.outcome, code: r.code, hash: r.payment_hash });

  it('decides every leg as it would be decided alone, in the order given: paid, settled, refused, missing, then short', async () => {
    const machine = await createMachine(db.pool, operator, { name: 'mixed', fundSats: 5_000 });
    const lp = (await insertWallet(db.pool, null, 'lp')).id;
    const paid = await insertLeg(machine, { sats: 1_000, toWallet: lp });
    const done = await insertLeg(machine, { sats: 1_000, toWallet: lp, status: 'completed' });
    const outside = await insertLeg(machine, { sats: 100, toAddress: 'bob@example.com' });
    const own = await insertLeg(machine, { sats: 500, toAddress: `${lp}@${DOMAIN}` });
    const big = await insertLeg(machine, { sats: 3_000, toWallet: lp });
    const tooBig = await insertLeg(machine, { sats: 600, toWallet: lp });
    const rows = await payLedgerLegs(db.pool, [paid, done, outside, own, 'no-such-leg', big, tooBig], DOMAIN);
    expect(rows.map(brief)).toEqual([
      { outcome: 'paid', code: null, hash: sha256(paid) },
      { outcome: 'settled', code: null, hash: '' },
      { outcome: 'refused', code: 'external_address', hash: null },
      { outcome: 'paid', code: null, hash: sha256(own) },
      { outcome: 'missing', code: null, hash: null },
      { outcome: 'paid', code: null, hash: sha256(big) },
      // 5,000 − 1,000 − 500 − 3,000 = 500 left: the last leg is short, as it would be alone
      { outcome: 'refused', code: 'insufficient_funds', hash: null },
    ]);
    expect(rows[6]!.balance).toBe(500);
    expect(await balance(machine.walletId)).toBe(500);
    expect(await balance(lp)).toBe(4_500);
    expect(await statuses([paid, outside, own, big, tooBig])).toEqual({
      [paid]: 'completed',
      [outside]: 'pending', // a refusal leaves the leg untouched: the activity fails it
      [own]: 'completed',
      [big]: 'completed',
      [tooBig]: 'pending',
    });
    // the paid legs shared one transaction
    expect(await transactionsOf([paid, own, big])).toBe(1);

    // the same batch again (a retried activity): nothing moves, every paid leg answers its hash
    const again = await payLedgerLegs(db.pool, [paid, own, big], DOMAIN);
    expect(again.map(brief)).toEqual([
      { outcome: 'settled', code: null, hash: sha256(paid) },
      { outcome: 'settled', code: null, hash: sha256(own) },
      { outcome: 'settled', code: null, hash: sha256(big) },
    ]);
    expect(await balance(machine.walletId)).toBe(500);
  });

  it('a leg twice in one batch is paid once', async () => {
    const machine = await createMachine(db.pool, operator, { name: 'twice', fundSats: 1_000 });
    const lp = (await insertWallet(db.pool, null, 'lp twice')).id;
    const leg = await insertLeg(machine, { sats: 400, toWallet: lp });
    const rows = await payLedgerLegs(db.pool, [leg, leg], DOMAIN);
    expect(rows.map(brief)).toEqual([
      { outcome: 'paid', code: null, hash: sha256(leg) },
      { outcome: 'settled', code: null, hash: sha256(leg) },
    ]);
    expect(await balance(lp)).toBe(400);
  });

  it('never deadlocks: batches, single legs and transfers crossing the same wallets in every order, at once', async () => {
    const machines = await Promise.all(
      ['m1', 'm2', 'm3'].map((name) => createMachine(db.pool, operator, { name, fundSats: 1_000_000 })),
    );
    const lps = await Promise.all(['x', 'y', 'z', 'w'].map((n) => insertWallet(db.pool, null, `lp ${n}`)));
    const legs: string[] = [];
    for (let i = 0; i < 240; i++) {
      const m = machines[i % 3]!;
      // an LP wallet is also the source of some legs (an autoforward between ledger wallets)
      const fromLp = i % 7 === 0;
      legs.push(
        await insertLeg(m, {
          sats: 10 + (i % 5),
          toWallet: fromLp ? machines[(i + 1) % 3]!.walletId : lps[(i * 7) % 4]!.id,
          fromWallet: fromLp ? lps[i % 4]!.id : undefined,
        }),
      );
    }
    // the LP wallets pay too: fund them first
    const ledger = new LedgerBackend({ pool: db.pool, logger: testLogger });
    for (const lp of lps) await ledger.fund(lp.id, 10_000, `fund-${lp.id}`);
    const before = await Promise.all(
      [...machines.map((m) => m.walletId), ...lps.map((l) => l.id)].map(balance),
    );

    // 24 batches of 10 legs, each in a shuffled order, plus every tenth leg alone as well
    const shuffled = (xs: string[], seed: number) =>
      xs
        .map((x, i) => [((i + 1) * 7919 * (seed + 3)) % 104729, x] as const)
        .sort((a, b) => a[0] - b[0])
        .map((p) => p[1]);
    const work: Promise<unknown>[] = [];
    for (let b = 0; b < 24; b++)
      work.push(payLedgerLegs(db.pool, shuffled(legs.slice(b * 10, b * 10 + 10), b), DOMAIN));
    for (let i = 0; i < legs.length; i += 10) work.push(payLedgerLeg(db.pool, legs[i]!, DOMAIN));
    for (let i = 0; i < 20; i++) {
      work.push(
        ledger.payWallet({
          idempotencyKey: `cross-${i}`,
          fromWalletId: lps[i % 4]!.id,
          toWalletId: machines[i % 3]!.walletId,
          amountSats: 1,
          memo: 'cross',
        }),
      );
    }
    const settled = await Promise.allSettled(work);
    expect(settled.filter((s) => s.status === 'rejected').map((s) => String(s.reason))).toEqual([]);

    expect(new Set(Object.values(await statuses(legs)))).toEqual(new Set(['completed']));
    const { rows } = await db.pool.query<{ n: string }>(
      'SELECT count(*) AS n FROM satmachine.ledger_transfers WHERE idempotency_key = ANY($1::text[])',
      [legs],
    );
    expect(Number(rows[0]!.n)).toBe(legs.length);
    const after = await Promise.all(
      [...machines.map((m) => m.walletId), ...lps.map((l) => l.id)].map(balance),
    );
    expect(after.reduce((a, b) => a + b, 0)).toBe(before.reduce((a, b) => a + b, 0));
    expect(await ledgerInvariantViolations(db.pool)).toEqual([]);
  });

  it('the backend gathers the legs that wait: 40 legs asked at once take 2 transactions, each leg its own key', async () => {
    const machine = await createMachine(db.pool, operator, { name: 'gathered', fundSats: 100_000 });
    const lps = await Promise.all(
      Array.from({ length: 40 }, (_, i) => insertWallet(db.pool, null, `lp ${i}`)),
    );
    const legs = await Promise.all(
      lps.map((lp, i) => insertLeg(machine, { sats: 100 + i, toWallet: lp.id })),
    );
    const ledger = new LedgerBackend({ pool: db.pool, logger: testLogger });
    const outcomes = await Promise.all(legs.map((id) => ledger.payLegInDatabase(id)));
    expect(outcomes.map((o) => o.kind)).toEqual(legs.map(() => 'paid'));
    expect(outcomes.map((o) => (o.kind === 'paid' ? o.paymentHash : ''))).toEqual(legs.map(sha256));
    // one payment in flight: the first leg alone, the 39 that waited for it together
    expect(await transactionsOf(legs)).toBe(2);
    expect(await balance(machine.walletId)).toBe(100_000 - legs.reduce((s, _, i) => s + 100 + i, 0));
    expect(await Promise.all(lps.map((lp) => balance(lp.id)))).toEqual(lps.map((_, i) => 100 + i));

    // maxBatch 1: every leg in its own transaction, as before batching
    const lone = new LedgerBackend({ pool: db.pool, logger: testLogger, legBatch: { maxBatch: 1 } });
    const more = await Promise.all(
      lps.slice(0, 10).map((lp) => insertLeg(machine, { sats: 5, toWallet: lp.id })),
    );
    await Promise.all(more.map((id) => lone.payLegInDatabase(id)));
    expect(await transactionsOf(more)).toBe(10);
  });

  it('a leg that raises fails its batch, and each leg is then paid alone: the others are paid, it alone errs', async () => {
    const machine = await createMachine(db.pool, operator, { name: 'poisoned', fundSats: 10_000 });
    const lp = (await insertWallet(db.pool, null, 'lp poisoned')).id;
    const legs = await Promise.all(
      Array.from({ length: 6 }, () => insertLeg(machine, { sats: 100, toWallet: lp })),
    );
    const poison = legs[4]!;
    // a fault in one leg's payment (here a trigger of this test's database, on its row only)
    await db.pool.query(
      `
      CREATE FUNCTION pg_temp_poison() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN RAISE EXCEPTION 'this leg cannot be paid'; END $$`.replace('pg_temp_poison', 'public.poison_leg'),
    );
    await db.pool.query(
      `CREATE TRIGGER poison_leg BEFORE UPDATE ON satmachine.dca_payments FOR EACH ROW
         WHEN (OLD.id = '${poison}') EXECUTE FUNCTION public.poison_leg()`,
    );
    try {
      const ledger = new LedgerBackend({ pool: db.pool, logger: testLogger });
      const results = await Promise.allSettled(legs.map((id) => ledger.payLegInDatabase(id)));
      expect(results.map((r) => r.status)).toEqual(
        legs.map((id) => (id === poison ? 'rejected' : 'fulfilled')),
      );
      expect(String((results[4] as PromiseRejectedResult).reason)).toContain('this leg cannot be paid');
      const s = await statuses(legs);
      expect(legs.map((id) => s[id])).toEqual(legs.map((id) => (id === poison ? 'pending' : 'completed')));
      expect(await balance(lp)).toBe(500);
      expect(await balance(machine.walletId)).toBe(9_500);
    } finally {
      await db.pool.query('DROP TRIGGER poison_leg ON satmachine.dca_payments');
      await db.pool.query('DROP FUNCTION public.poison_leg()');
    }
  });
});
