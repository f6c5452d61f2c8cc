import { randomBytes } from 'node:crypto';
import { createUserWithKey } from '../../src/api/userAccounts';
import { EXTERNAL_WALLET, insertWallet, ledgerInvariantViolations } from '../../src/db/ledger';
import { PaymentRefusedError } from '../../src/payments/backend';
import { startApi, type TestApi } from '../helpers/api';
import { secretBox } from '../helpers/fixtures';
import { freshDatabase, temporalClient } from '../helpers/stack';

const MAX = Number.MAX_SAFE_INTEGER;

/** No ledger balance can pass 2^53 − 1 sats (src/db/ledger.ts transfer, checked under the wallet locks). */
describe('ledger balances stay within Number.MAX_SAFE_INTEGER', () => {
  let db: Awaited<ReturnType<typeof freshDatabase>>;
  let temporal: Awaited<ReturnType<typeof temporalClient>>;
  let api: TestApi;
  let superKey: string;

  // a fresh database per test: the external wallet (the counterpart of every funding) starts at 0
  beforeAll(async () => {
    temporal = await temporalClient();
  });
  beforeEach(async () => {
    db = await freshDatabase();
    api = await startApi({ pool: db.pool, temporal: temporal.client });
    superKey = (await createUserWithKey(db.pool, secretBox, { role: 'super', name: 'root' })).api_key;
  });
  afterEach(async () => {
    await api.close();
    await db.close();
  });
  afterAll(async () => {
    await temporal.close();
  });

  const balances = async () =>
    (
      await db.pool.query<{ id: string; balance_sats: number }>(
        'SELECT id, balance_sats FROM satmachine.ledger_wallets ORDER BY id',
      )
    ).rows;

  it('funding past 2^53 − 1 is a 422 naming amount_sats; balances and entries unchanged', async () => {
    const w = await api.call('POST', '/api/v1/ledger/wallets', superKey, { name: 'big' });
    expect(w.status).toBe(201);
    const fund = (amount: number, key?: string) =>
      api.call('POST', `/api/v1/ledger/wallets/${w.body.id}/fund`, superKey, {
        amount_sats: amount,
        ...(key ? { idempotency_key: key } : {}),
      });
    expect((await fund(MAX - 10)).status).toBe(200);
    const before = await balances();
    const over = await fund(11);
    expect(over.status).toBe(422);
    expect(over.body.error.code).toBe('validation_failed');
    expect(over.body.error.details).toEqual([{ field: 'amount_sats', message: over.body.error.message }]);
    expect(over.body.error.message).toContain(String(MAX));
    expect(over.body.error.message).toContain('nothing was moved');
    expect(await balances()).toEqual(before);
    // exactly to the limit is fine
    const exact = await fund(10);
    expect(exact.status).toBe(200);
    expect(exact.body.balance_sats).toBe(MAX);
    expect((await fund(1)).status).toBe(422);
    expect(await ledgerInvariantViolations(db.pool)).toEqual([]);
    // the refused key was not consumed: nothing was recorded under it
    const { rowCount } = await db.pool.query(
      "SELECT 1 FROM satmachine.ledger_transfers WHERE idempotency_key LIKE 'fund:%' AND amount_sats IN (11, 1)",
    );
    expect(rowCount).toBe(0);
  });

  it('concurrent fundings cannot together pass the limit (checked under the wallet lock)', async () => {
    const w = await insertWallet(db.pool, null, 'race');
    await api.deps.ledger!.fund(w.id, MAX - 100, 'race-base');
    const results = await Promise.all(
      Array.from({ length: 8 }, (_, i) =>
        api.call('POST', `/api/v1/ledger/wallets/${w.id}/fund`, superKey, {
          amount_sats: 30,
          idempotency_key: `race-${i}`,
        }),
      ),
    );
    expect(results.filter((r) => r.status === 200)).toHaveLength(3);
    expect(results.filter((r) => r.status === 422)).toHaveLength(5);
    expect((await api.deps.ledger!.getWallet(w.id))!.balance_sats).toBe(MAX - 10);
    expect(await ledgerInvariantViolations(db.pool)).toEqual([]);
  });

  it('a reported incoming Lightning payment past the limit is a 422 and records nothing', async () => {
    const w = await insertWallet(db.pool, null, 'incoming');
    await api.deps.ledger!.fund(w.id, MAX - 5, 'incoming-base');
    const before = await balances();
    const hash = randomBytes(32).toString('hex');
    const r = await api.call('POST', '/api/v1/ledger/payments', superKey, {
      wallet_id: w.id,
      payment_hash: hash,
      amount_sats: 6,
      direction: 'incoming',
    });
    expect(r.status).toBe(422);
    expect(r.body.error.details[0].field).toBe('amount_sats');
    expect(await balances()).toEqual(before);
    const { rowCount } = await db.pool.query(
      'SELECT 1 FROM satmachine.ledger_lightning_payments WHERE payment_hash = $1',
      [hash],
    );
    expect(rowCount).toBe(0);
  });

  it('a payment past the limit is refused (balance_overflow), nothing moved', async () => {
    // between user wallets it cannot happen (together they hold at most what the external wallet
    // gave); a payment from the external-kind wallet, which has no floor, is where the bound bites
    const to = await insertWallet(db.pool, null, 'to');
    await api.deps.ledger!.fund(to.id, MAX - 500, 'to-base');
    const before = await balances();
    const paid = api.deps.ledger!.payWallet({
      idempotencyKey: 'overflowing-leg',
      fromWalletId: EXTERNAL_WALLET,
      toWalletId: to.id,
      amountSats: 501,
      memo: 'x',
    });
    await expect(paid).rejects.toBeInstanceOf(PaymentRefusedError);
    await expect(paid).rejects.toMatchObject({ code: 'balance_overflow' });
    await expect(paid).rejects.toThrow(new RegExp(`wallet ${to.id} holds ${MAX - 500} sats`));
    expect(await balances()).toEqual(before);
    expect(await api.deps.ledger!.lookupPayment('overflowing-leg')).toBeNull();
  });

  it('the external wallet (negative by all funding) cannot pass −(2^53 − 1) either', async () => {
    const a = await insertWallet(db.pool, null, 'a');
    const b = await insertWallet(db.pool, null, 'b');
    await api.deps.ledger!.fund(a.id, MAX - 10, 'external-a');
    const before = await balances();
    expect(before.find((w) => w.id === EXTERNAL_WALLET)!.balance_sats).toBe(-(MAX - 10));
    // b itself is far from the limit: the external wallet's balance is what would overflow
    await expect(api.deps.ledger!.fund(b.id, 11, 'external-b')).rejects.toThrow(
      /wallet external .*largest balance the ledger keeps exactly/,
    );
    expect(
      (await api.call('POST', `/api/v1/ledger/wallets/${b.id}/fund`, superKey, { amount_sats: 11 })).status,
    ).toBe(422);
    expect(await balances()).toEqual(before);
    expect(
      (await api.call('POST', `/api/v1/ledger/wallets/${b.id}/fund`, superKey, { amount_sats: 10 })).status,
    ).toBe(200);
    expect(await ledgerInvariantViolations(db.pool)).toEqual([]);
  });
});
