import { insertWallet, ledgerInvariantViolations } from '../../src/db/ledger';
import { PaymentRefusedError } from '../../src/payments/backend';
import { InsufficientFundsError, LedgerBackend, WalletNotFoundError } from '../../src/payments/ledger';
import { freshDatabase, testLogger } from '../helpers/stack';

/** The embedded ledger: double entry, idempotency keys, clear refusals, the payment outbox. */
describe('ledger payment backend', () => {
  let db: Awaited<ReturnType<typeof freshDatabase>>;
  let ledger: LedgerBackend;
  beforeAll(async () => {
    db = await freshDatabase();
    ledger = new LedgerBackend({ pool: db.pool, logger: testLogger, pollIntervalMs: 100 });
  });
  afterAll(async () => db.close());

  it('moves sats between wallets with two entries that sum to zero', async () => {
    const a = await insertWallet(db.pool, null, 'a');
    const b = await insertWallet(db.pool, null, 'b');
    await ledger.fund(a.id, 1_000, 'fund-a');
    const r = await ledger.payWallet({
      idempotencyKey: 'k1',
      fromWalletId: a.id,
      toWalletId: b.id,
      amountSats: 400,
      memo: 'test',
    });
    expect(r).toMatchObject({ amountSats: 400, feeSats: 0 });
    expect(r.paymentHash).toMatch(/^[0-9a-f]{64}$/);
    expect((await ledger.getWallet(a.id))!.balance_sats).toBe(600);
    expect((await ledger.getWallet(b.id))!.balance_sats).toBe(400);
    expect(await ledgerInvariantViolations(db.pool)).toEqual([]);
  });

  it('a second call with the same key returns the first result and moves nothing', async () => {
    const a = await insertWallet(db.pool, null, 'a');
    const b = await insertWallet(db.pool, null, 'b');
    await ledger.fund(a.id, 1_000, 'fund-a2');
    const req = {
      idempotencyKey: 'same-key',
      fromWalletId: a.id,
      toWalletId: b.id,
      amountSats: 300,
      memo: 'x',
    };
    const [r1, r2, r3] = await Promise.all([
      ledger.payWallet(req),
      ledger.payWallet(req),
      ledger.payWallet(req),
    ]);
    expect(r2).toEqual(r1);
    expect(r3).toEqual(r1);
    expect((await ledger.getWallet(a.id))!.balance_sats).toBe(700);
    expect(await ledger.lookupPayment('same-key')).toEqual(r1);
    expect(await ledger.lookupPayment('never-used')).toBeNull();
    await expect(ledger.payWallet({ ...req, amountSats: 301 })).rejects.toThrow(
      /already used for a different payment/,
    );
  });

  it('refuses insufficient funds, unknown wallets and bad amounts as non-retryable refusals', async () => {
    const a = await insertWallet(db.pool, null, 'poor');
    const b = await insertWallet(db.pool, null, 'b');
    const pay = (o: Partial<Parameters<LedgerBackend['payWallet']>[0]>) =>
      ledger.payWallet({
        idempotencyKey: `k-${Math.random()}`,
        fromWalletId: a.id,
        toWalletId: b.id,
        amountSats: 10,
        memo: '',
        ...o,
      });
    await expect(pay({})).rejects.toThrow(PaymentRefusedError);
    await expect(pay({})).rejects.toThrow(/insufficient funds: wallet .* holds 0 sats, 10 needed/);
    await expect(pay({ toWalletId: 'ghost' })).rejects.toThrow(/destination wallet ghost does not exist/);
    await expect(pay({ amountSats: 0 })).rejects.toThrow(PaymentRefusedError);
    await expect(pay({ toWalletId: a.id })).rejects.toThrow(/same wallet/);
    expect((await ledger.getWallet(a.id))!.balance_sats).toBe(0);
  });

  it('pays its own Lightning addresses internally and refuses external ones', async () => {
    const a = await insertWallet(db.pool, null, 'a');
    const b = await insertWallet(db.pool, null, 'b');
    await ledger.fund(a.id, 100, 'fund-ln');
    await ledger.payLightningAddress({
      idempotencyKey: 'ln1',
      fromWalletId: a.id,
      address: `${b.id}@${ledger.lnAddressDomain}`,
      amountSats: 60,
      comment: '',
    });
    expect((await ledger.getWallet(b.id))!.balance_sats).toBe(60);
    await expect(
      ledger.payLightningAddress({
        idempotencyKey: 'ln2',
        fromWalletId: a.id,
        address: 'alice@example.com',
        amountSats: 1,
        comment: '',
      }),
    ).rejects.toThrow(/PAYMENT_BACKEND=lnbits/);
  });

  it('records Lightning payments seen on a wallet idempotently; outgoing needs the balance', async () => {
    const w = await insertWallet(db.pool, null, 'machine');
    const p = {
      wallet_id: w.id,
      payment_hash: 'aa'.repeat(32),
      amount_sats: 500,
      direction: 'incoming' as const,
    };
    expect((await ledger.recordLightningPayment(p)).created).toBe(true);
    expect((await ledger.recordLightningPayment(p)).created).toBe(false);
    expect((await ledger.getWallet(w.id))!.balance_sats).toBe(500);
    await expect(ledger.recordLightningPayment({ ...p, amount_sats: 501 })).rejects.toThrow(
      PaymentRefusedError,
    );
    await expect(
      ledger.recordLightningPayment({
        ...p,
        payment_hash: 'bb'.repeat(32),
        direction: 'outgoing',
        amount_sats: 600,
      }),
    ).rejects.toThrow(InsufficientFundsError);
    await expect(ledger.recordLightningPayment({ ...p, wallet_id: 'ghost' })).rejects.toThrow(
      WalletNotFoundError,
    );
    await ledger.recordLightningPayment({
      ...p,
      payment_hash: 'cc'.repeat(32),
      direction: 'outgoing',
      amount_sats: 200,
    });
    expect((await ledger.getWallet(w.id))!.balance_sats).toBe(300);
    expect(await ledgerInvariantViolations(db.pool)).toEqual([]);
  });

  it('observes every recorded payment once it is handled, retrying a handler that fails', async () => {
    const w = await insertWallet(db.pool, null, 'observed');
    const seen: string[] = [];
    let failOnce = true;
    const observer = ledger.observePayments(async (p) => {
      if (p.wallet_id !== w.id) return;
      if (failOnce) {
        failOnce = false;
        throw new Error('Temporal is down');
      }
      seen.push(p.payment_hash);
    });
    try {
      await ledger.recordLightningPayment({
        wallet_id: w.id,
        payment_hash: 'dd'.repeat(32),
        amount_sats: 1,
        direction: 'incoming',
      });
      await ledger.recordLightningPayment({
        wallet_id: w.id,
        payment_hash: 'ee'.repeat(32),
        amount_sats: 1,
        direction: 'incoming',
      });
      const deadline = Date.now() + 10_000;
      while (seen.length < 2 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
      expect(seen.sort()).toEqual(['dd'.repeat(32), 'ee'.repeat(32)]);
    } finally {
      await observer.stop();
    }
  });
});
