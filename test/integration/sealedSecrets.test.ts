import { legacySecretCount, resealLegacySecrets } from '../../src/db/sealedSecrets';
import { KeyDirectory } from '../../src/ingest/keyDirectory';
import { sealedColumns } from '../../src/security/secretBox';
import { createOperator, secretBox } from '../helpers/fixtures';
import { sealV1 } from '../helpers/sealV1';
import { TEST_SECRET_KEY, freshDatabase, testLogger } from '../helpers/stack';

/** Sealed values in PostgreSQL: bound to their rows (v2); v1 values re-sealed at migrate/start. */
describe('sealed secrets at rest', () => {
  let db: Awaited<ReturnType<typeof freshDatabase>>;
  beforeAll(async () => {
    db = await freshDatabase();
  });
  afterAll(async () => db.close());

  const stored = async (table: string, key: string, column: string, id: string) =>
    (
      await db.pool.query<{ v: string | null }>(
        `SELECT ${column} AS v FROM satmachine.${table} WHERE ${key} = $1`,
        [id],
      )
    ).rows[0]!.v!;

  it('an operator secret copied into another operator’s row does not open there (clear error)', async () => {
    const a = await createOperator(db.pool, 'op a');
    const b = await createOperator(db.pool, 'op b');
    const sealedA = await stored('users', 'id', 'nostr_secret_enc', a.id);
    expect(sealedA).toMatch(/^v2\./);
    // someone with write access to the database (no key) copies a's secret onto b
    await db.pool.query('UPDATE satmachine.users SET nostr_secret_enc = $2 WHERE id = $1', [b.id, sealedA]);
    expect(() => secretBox.open(sealedA, sealedColumns.operatorNostrSecret(b.id))).toThrow(
      `cannot decrypt the stored secret of users:nostr_secret_enc:${b.id}: it was sealed for another row`,
    );
    // the key directory opens each operator's secret for its own row: b's is refused, a's still works
    const keys = new KeyDirectory(db.pool, secretBox, testLogger, () => undefined);
    await keys.refresh();
    expect(keys.operators.get(a.pubkey)?.secretHex).toBe(a.secretHex);
    expect(keys.operators.get(b.pubkey)).toBeUndefined();
  });

  it('v1 values still open; resealLegacySecrets rewrites them as v2 bound to their rows, once', async () => {
    const op = await createOperator(db.pool, 'legacy op');
    const v1Secret = sealV1(TEST_SECRET_KEY, op.secretHex);
    await db.pool.query('UPDATE satmachine.users SET nostr_secret_enc = $2 WHERE id = $1', [op.id, v1Secret]);
    await db.pool.query(
      `INSERT INTO satmachine.lnbits_wallets (wallet_id, owner_user_id, name, admin_key_enc, invoice_key_enc)
       VALUES ('legacyw', $1, 'legacy wallet', $2, $3)`,
      [op.id, sealV1(TEST_SECRET_KEY, 'admin-key-1'), sealV1(TEST_SECRET_KEY, 'invoice-key-1')],
    );
    // a v1 value sealed under another key cannot be re-sealed: it is left alone and reported
    const foreign = await createOperator(db.pool, 'foreign op');
    await db.pool.query('UPDATE satmachine.users SET nostr_secret_enc = $2 WHERE id = $1', [
      foreign.id,
      sealV1('33'.repeat(32), 'x'),
    ]);
    expect(secretBox.open(v1Secret, sealedColumns.operatorNostrSecret(op.id))).toBe(op.secretHex);
    expect(await legacySecretCount(db.pool)).toBe(4);

    const r = await resealLegacySecrets(db.pool, secretBox, testLogger);
    expect(r.resealed).toBe(3);
    expect(r.unopenable).toEqual([{ table: 'users', column: 'nostr_secret_enc', id: foreign.id }]);
    expect(await legacySecretCount(db.pool)).toBe(1);

    const user = await stored('users', 'id', 'nostr_secret_enc', op.id);
    const admin = await stored('lnbits_wallets', 'wallet_id', 'admin_key_enc', 'legacyw');
    const invoice = await stored('lnbits_wallets', 'wallet_id', 'invoice_key_enc', 'legacyw');
    for (const v of [user, admin, invoice]) expect(v).toMatch(/^v2\./);
    expect(secretBox.open(user, sealedColumns.operatorNostrSecret(op.id))).toBe(op.secretHex);
    expect(secretBox.open(admin, sealedColumns.lnbitsAdminKey('legacyw'))).toBe('admin-key-1');
    expect(secretBox.open(invoice, sealedColumns.lnbitsInvoiceKey('legacyw'))).toBe('invoice-key-1');
    // now bound: the admin key no longer opens as the invoice key
    expect(() => secretBox.open(admin, sealedColumns.lnbitsInvoiceKey('legacyw'))).toThrow(/another row/);

    // again: nothing left to do
    expect((await resealLegacySecrets(db.pool, secretBox)).resealed).toBe(0);
  });
});
