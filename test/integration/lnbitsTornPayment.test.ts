/**
 * LNbits (1.6.2) pays a wallet-to-wallet invoice in two separate commits of its
 * SQLite database (lnbits/core/services/payments.py, _pay_internal_invoice): first
 * the payer's outgoing payment, created as `success` (the payer is debited), then
 * the payee's invoice updated to `success` (the payee is credited). LNbits killed
 * between the two leaves a payment that left the source and never arrived; on
 * restart LNbits checks the pending invoice with its funding source and fails it
 * (FakeWallet forgets its invoices; a node says "not paid"). The source's own record
 * still says `success`.
 *
 * The kill between the two commits is made deterministic here: a trigger in LNbits'
 * database refuses the second commit (the payee's invoice to `success`), which leaves
 * exactly the rows a kill at that point leaves; then LNbits is killed and restarted
 * without the trigger.
 */
import { getLnbitsPayments } from '../../src/db/lnbits';
import { PaymentAmbiguousError, PaymentRefusedError } from '../../src/payments/backend';
import { LnbitsBackend } from '../../src/payments/lnbits';
import { createOperator, secretBox } from '../helpers/fixtures';
import { TestLnbits, type TestLnbitsWallet } from '../helpers/lnbits';
import { eventually, freshDatabase, testLogger } from '../helpers/stack';

jest.setTimeout(240_000);

interface Row {
  wallet_id: string;
  amount: number;
  status: string;
  checking_id: string;
}

describe('LNbits killed between debiting the payer and crediting the payee (a torn internal payment)', () => {
  let lnbits: TestLnbits;
  let db: Awaited<ReturnType<typeof freshDatabase>>;
  let backend: LnbitsBackend;
  let source: TestLnbitsWallet;
  let dest: TestLnbitsWallet;

  beforeAll(async () => {
    [lnbits, db] = await Promise.all([TestLnbits.start(), freshDatabase()]);
    backend = new LnbitsBackend({ pool: db.pool, logger: testLogger, url: lnbits.url, secretBox });
    const op = await createOperator(db.pool, 'torn');
    source = await lnbits.createWallet('machine');
    dest = await lnbits.createWallet('lp');
    await backend.registerWallet(op.id, {
      wallet_id: source.id,
      admin_key: source.adminKey,
      invoice_key: source.invoiceKey,
    });
    await backend.registerWallet(op.id, { wallet_id: dest.id, invoice_key: dest.invoiceKey });
    await lnbits.topUp(source.id, 100_000);
  });

  afterAll(async () => {
    await backend?.close();
    await db?.close();
    await lnbits?.close();
  });

  const rowsOf = (hash: string) =>
    lnbits.sql<Row>(
      `SELECT wallet_id, amount, status, checking_id FROM apipayments WHERE payment_hash = '${hash}' ORDER BY amount`,
    );

  it('the leg is refused with what the operator must fix in LNbits, never reported paid; nothing is paid again', async () => {
    lnbits.sql(
      `CREATE TRIGGER satmachine_tear BEFORE UPDATE ON apipayments
         WHEN OLD.amount > 0 AND OLD.status = 'pending' AND NEW.status = 'success'
         BEGIN SELECT RAISE(ABORT, 'torn by the test: LNbits killed before crediting the payee'); END`,
    );
    const req = {
      idempotencyKey: 'leg-torn-1',
      fromWalletId: source.id,
      toWalletId: dest.id,
      amountSats: 1_234,
      memo: 'satmachine dca',
    };
    // LNbits answers 500 (its second commit failed): an unknown outcome
    await expect(backend.payWallet(req)).rejects.toThrow(PaymentAmbiguousError);
    const [stored] = await getLnbitsPayments(db.pool, req.idempotencyKey);
    const hash = stored!.payment_hash;
    // the state a kill between the two commits leaves: debited, not credited
    expect(rowsOf(hash)).toEqual([
      { wallet_id: source.id, amount: -1_234_000, status: 'success', checking_id: `internal_${hash}` },
      { wallet_id: dest.id, amount: 1_234_000, status: 'pending', checking_id: hash },
    ]);
    // while LNbits still shows the payee's invoice pending, the outcome is not final
    await expect(backend.payWallet(req)).rejects.toThrow(PaymentAmbiguousError);

    await lnbits.stop('SIGKILL');
    lnbits.sql('DROP TRIGGER satmachine_tear');
    await lnbits.run();
    // LNbits' start-up check fails the payee's invoice; the payer's payment stays a success
    await eventually(async () => rowsOf(hash)[1]?.status === 'failed', 60_000, 'payee invoice failed');
    expect(rowsOf(hash)[0]!.status).toBe('success');
    expect(await lnbits.balanceSats(source)).toBe(100_000 - 1_234);
    expect(await lnbits.balanceSats(dest)).toBe(0);

    // the payer's record alone would say "paid": satmachine asks the payee's side too
    const refused = await backend.payWallet(req).then(
      () => null,
      (err: unknown) => err,
    );
    expect(refused).toBeInstanceOf(PaymentRefusedError);
    expect((refused as PaymentRefusedError).code).toBe('lnbits_lost_payment');
    expect((refused as PaymentRefusedError).message).toContain(source.id);
    expect((refused as PaymentRefusedError).message).toContain(dest.id);
    expect((refused as PaymentRefusedError).message).toContain('1234 sats');
    // a lookup does not report it paid either (the payee never got it)
    expect(await backend.lookupPayment(req.idempotencyKey)).toBeNull();
    // nothing was paid again: one outgoing payment, the balances unchanged
    expect(rowsOf(hash).filter((r) => r.amount < 0)).toHaveLength(1);
    expect(
      lnbits.sql(`SELECT count(*) AS n FROM apipayments WHERE wallet_id = '${source.id}' AND amount < 0`),
    ).toEqual([{ n: 1 }]);
    expect(await lnbits.balanceSats(source)).toBe(100_000 - 1_234);
    expect(await lnbits.balanceSats(dest)).toBe(0);
  });
});
