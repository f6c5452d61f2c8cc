import { createHash } from 'node:crypto';
import { MockActivityEnvironment } from '@temporalio/testing';
import { createPaymentActivities, type PayLegResult } from '../../src/activities/payments';
import { insertWallet, ledgerInvariantViolations } from '../../src/db/ledger';
import type { PaymentBackend } from '../../src/payments/backend';
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

/**
 * A ledger leg is paid in one statement (`satmachine.pay_ledger_leg`, migration 0018).
 * Every rule of the transaction path (src/activities/payments.ts `payInTransaction`)
 * holds there too: the same outcome, the same words on a refusal, the same rows. Each
 * case runs both ways, the one-statement path and the same backend without it.
 */
describe('a ledger leg paid in one statement', () => {
  let db: Awaited<ReturnType<typeof freshDatabase>>;
  let operator: Operator;
  let ledger: LedgerBackend;

  beforeAll(async () => {
    db = await freshDatabase();
    await createSuper(db.pool);
    operator = await createOperator(db.pool);
    ledger = new LedgerBackend({ pool: db.pool, logger: testLogger });
  });
  afterAll(async () => {
    expect(await ledgerInvariantViolations(db.pool)).toEqual([]);
    await db.close();
  });

  /** The ledger as the worker has it, or the same backend made to pay in a transaction. */
  const backends: Record<string, () => PaymentBackend> = {
    'one statement': () => ledger,
    transaction: () =>
      new Proxy(ledger, {
        get: (target, prop, receiver) =>
          prop === 'payLegInDatabase' ? undefined : (Reflect.get(target, prop, receiver) as unknown),
      }),
  };

  async function payLeg(payments: PaymentBackend, legId: string) {
    const { payLeg } = createPaymentActivities({
      pool: db.pool,
      payments,
      logger: testLogger,
    } as Parameters<typeof createPaymentActivities>[0]);
    try {
      const result: PayLegResult = await new MockActivityEnvironment().run(payLeg, { leg_id: legId });
      return { result };
    } catch (err) {
      const e = err as { type?: string; message: string; nonRetryable?: boolean; details?: unknown[] };
      return {
        refused: { type: e.type, message: e.message, nonRetryable: e.nonRetryable, code: e.details?.[0] },
      };
    }
  }

  const insertLeg = (machine: Machine, leg: Parameters<typeof insertBareLeg>[3]) =>
    insertBareLeg(db.pool, machine, operator, leg);

  async function legRow(id: string) {
    const { rows } = await db.pool.query<{
      status: string;
      error_message: string | null;
      external_payment_hash: string | null;
    }>('SELECT status, error_message, external_payment_hash FROM satmachine.dca_payments WHERE id = $1', [
      id,
    ]);
    return rows[0];
  }

  async function balance(walletId: string): Promise<number> {
    return (await ledger.getWallet(walletId))!.balance_sats;
  }

  async function transfersUnder(key: string) {
    const { rows } = await db.pool.query<{ amount_sats: number; memo: string; payment_hash: string }>(
      'SELECT amount_sats, memo, payment_hash FROM satmachine.ledger_transfers WHERE idempotency_key = $1',
      [key],
    );
    return rows;
  }

  const sha256 = (s: string) => createHash('sha256').update(s).digest('hex');

  describe.each(Object.keys(backends))('%s', (way) => {
    let machine: Machine;
    let payments: PaymentBackend;
    let lpWallet: string;

    beforeAll(async () => {
      payments = backends[way]!();
      expect(payments === ledger).toBe(way === 'one statement');
      machine = await createMachine(db.pool, operator, { name: `atm ${way}`, fundSats: 100_000 });
      lpWallet = (await insertWallet(db.pool, null, 'lp')).id;
    });

    it('pays a pending leg once: transfer, entries, balances, the leg completed with the key’s hash', async () => {
      const leg = await insertLeg(machine, { type: 'dca', sats: 1_000, toWallet: lpWallet });
      expect(await payLeg(payments, leg)).toEqual({
        result: { status: 'completed', payment_hash: sha256(leg) },
      });
      expect(await legRow(leg)).toEqual({
        status: 'completed',
        error_message: null,
        external_payment_hash: sha256(leg),
      });
      expect(await transfersUnder(leg)).toEqual([
        { amount_sats: 1_000, memo: 'satmachine dca', payment_hash: sha256(leg) },
      ]);
      expect(await balance(lpWallet)).toBe(1_000);

      // again (a retried activity): the completed leg comes back, nothing moves
      expect(await payLeg(payments, leg)).toEqual({
        result: { status: 'completed', payment_hash: sha256(leg) },
      });
      // reset to pending after it was paid (an operator's force-reset): the transfer under its key is found
      await db.pool.query(`UPDATE satmachine.dca_payments SET status = 'pending' WHERE id = $1`, [leg]);
      expect(await payLeg(payments, leg)).toEqual({
        result: { status: 'completed', payment_hash: sha256(leg) },
      });
      expect(await transfersUnder(leg)).toHaveLength(1);
      expect(await balance(lpWallet)).toBe(1_000);
    });

    it('ten payLegs of one leg at once pay it once', async () => {
      const before = await balance(machine.walletId);
      const leg = await insertLeg(machine, { sats: 700, toWallet: lpWallet });
      const all = await Promise.all(Array.from({ length: 10 }, () => payLeg(payments, leg)));
      expect(new Set(all.map((r) => JSON.stringify(r)))).toEqual(
        new Set([JSON.stringify({ result: { status: 'completed', payment_hash: sha256(leg) } })]),
      );
      expect(await transfersUnder(leg)).toHaveLength(1);
      expect(await balance(machine.walletId)).toBe(before - 700);
    });

    it('pays the ledger’s own Lightning address; refuses another one in the words of any ledger payment', async () => {
      const own = await insertLeg(machine, {
        type: 'autoforward',
        sats: 300,
        toAddress: `${lpWallet}@Ledger.Satmachine.Local`,
      });
      expect(await payLeg(payments, own)).toEqual({
        result: { status: 'completed', payment_hash: sha256(own) },
      });
      expect((await transfersUnder(own))[0]!.memo).toBe('satmachine autoforward');

      const outside = await insertLeg(machine, {
        type: 'autoforward',
        sats: 300,
        toAddress: 'bob@example.com',
      });
      const r = await payLeg(payments, outside);
      expect(r.refused).toMatchObject({
        type: 'PaymentRefused',
        nonRetryable: true,
        code: 'external_address',
      });
      expect(r.refused!.message).toBe(
        'the embedded ledger pays only its own Lightning addresses (<wallet id>@ledger.satmachine.local); bob@example.com needs a real Lightning backend (PAYMENT_BACKEND=lnbits)',
      );
      expect(await legRow(outside)).toMatchObject({ status: 'failed', error_message: r.refused!.message });
    });

    it.each([
      [
        'insufficient_funds',
        { sats: 10_000_000 },
        /^insufficient funds: wallet \w+ holds \d+ sats, 10000000 needed$/,
      ],
      [
        'unknown_wallet',
        { sats: 10, toWallet: 'no-such-wallet' },
        /^destination wallet no-such-wallet does not exist$/,
      ],
      ['unknown_wallet', { sats: 10, fromWallet: 'no-source' }, /^source wallet no-source does not exist$/],
      [
        'no_destination',
        { type: 'super_fee', sats: 10 },
        /^no destination: the platform has no super_wallet_id configured/,
      ],
      ['no_destination', { sats: 10 }, /^no destination wallet or Lightning address on this leg$/],
      ['zero_amount', { sats: 0 }, /^a leg of 0 sats cannot be paid$/],
      [
        'same_wallet',
        { sats: 10, toWallet: 'MACHINE' },
        /^source and destination are the same wallet \(\w+\)$/,
      ],
    ])('refuses %s, fails the leg with the reason, moves nothing', async (code, leg, words) => {
      const before = await balance(machine.walletId);
      const id = await insertLeg(machine, {
        ...leg,
        toWallet:
          'toWallet' in leg
            ? leg.toWallet === 'MACHINE'
              ? machine.walletId
              : leg.toWallet
            : code !== 'no_destination'
              ? lpWallet
              : null,
      });
      const r = await payLeg(payments, id);
      expect(r.refused).toMatchObject({ type: 'PaymentRefused', nonRetryable: true, code });
      expect(r.refused!.message).toMatch(words);
      expect(await legRow(id)).toEqual({
        status: 'failed',
        error_message: r.refused!.message,
        external_payment_hash: null,
      });
      expect(await transfersUnder(id)).toEqual([]);
      expect(await balance(machine.walletId)).toBe(before);
    });

    it('refuses a key already used for another payment (key_conflict)', async () => {
      const id = await insertLeg(machine, { sats: 50, toWallet: lpWallet });
      await ledger.payWallet({
        idempotencyKey: id,
        fromWalletId: machine.walletId,
        toWalletId: lpWallet,
        amountSats: 49,
        memo: 'other',
      });
      const r = await payLeg(payments, id);
      expect(r.refused).toMatchObject({ code: 'key_conflict' });
      expect(r.refused!.message).toBe(`idempotency key ${id} was already used for a different payment`);
      expect(await transfersUnder(id)).toHaveLength(1);
    });

    it('two legs racing for a balance that pays one: one is paid, the other refused (after a retry at most)', async () => {
      const wallet = (await insertWallet(db.pool, null, 'small')).id;
      await ledger.fund(wallet, 1_000, `fund-${wallet}`);
      const legs = await Promise.all(
        [0, 1].map(() => insertLeg(machine, { sats: 800, fromWallet: wallet, toWallet: lpWallet })),
      );
      const first = await Promise.all(legs.map((id) => payLeg(payments, id)));
      // a retryable error (the balance moved under it) is what Temporal retries: run it again
      const final = await Promise.all(
        legs.map(async (id, i) =>
          first[i]!.refused && first[i]!.refused.type === undefined ? payLeg(payments, id) : first[i]!,
        ),
      );
      expect(final.filter((r) => r.result?.status === 'completed')).toHaveLength(1);
      const refused = final.filter((r) => r.refused);
      expect(refused).toHaveLength(1);
      expect(refused[0]!.refused).toMatchObject({ code: 'insufficient_funds', nonRetryable: true });
      expect(await balance(wallet)).toBe(200);
    });

    it('leaves a leg that is not pending alone, and says a missing one is missing', async () => {
      const voided = await insertLeg(machine, { sats: 10, toWallet: lpWallet, status: 'voided' });
      expect(await payLeg(payments, voided)).toEqual({ result: { status: 'voided' } });
      expect(await transfersUnder(voided)).toEqual([]);
      expect(await payLeg(payments, 'no-such-leg')).toEqual({ result: { status: 'missing' } });
    });
  });
});
